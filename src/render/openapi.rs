//! The OpenAPI 3.1 documents of the HTTP contract: one per service (`services/<name>/openapi.json`,
//! which the service also serves at `GET /openapi.json`) and one for the gateway's public API
//! (`gateway/openapi.json`: the paths of every service with a `route`, as the gateway routes
//! them). Built here, in Rust, as typed values from the resolved model and serialised with
//! `serde_json`; no template lays out their JSON.
//!
//! A document describes exactly what the generated service answers, so it follows three
//! sources and changes with them: `templates/services/rust/src/http.rs.jinja` (routes, status
//! codes, headers), `model.rs.jinja` (the JSON of records and inputs) and the runtime's
//! `http.rs` and `error.rs` (paging, `ETag`/`If-Match`, RFC 9457 problems for every error).
//!
//! Each kind of endpoint adds its paths through one function ([`paths_for_entity`], and later
//! ones for operations and child lists), all into one [`Api`]; the components they name
//! (schemas, shared parameters, responses) are added once, by name, so the gateway's document
//! is the union of its services' and names every schema as they do.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::model::types::Scalar;
use crate::model::{BaseType, Entity, Field, Service, Workspace};
use crate::plan::{Owner, PlannedFile, RelPath};

/// Where a service's document is written, relative to the workspace (`{service}`: its name);
/// its `src/http.rs` embeds it from there.
pub(crate) const SERVICE_DOCUMENT: &str = "services/{service}/openapi.json";
/// Where the gateway's document is written.
pub(crate) const GATEWAY_DOCUMENT: &str = "gateway/openapi.json";

const JSON: &str = "application/json";
const MERGE_PATCH: &str = "application/merge-patch+json";
const PROBLEM_JSON: &str = "application/problem+json";
/// The schema of every error body; entity schemas are qualified by a proto package (they
/// contain dots), so no entity can take this name.
const PROBLEM: &str = "Problem";
const HEALTH: &str = "Health";
/// Tag of the endpoints every service has beside its API.
const OPERATIONAL: &str = "operational";
/// The tag of a service's operations beyond CRUD.
const OPERATIONS: &str = "operations";

/// The runtime's page sizes (`runtime/rust/src/db.rs`).
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

/// An OpenAPI 3.1 document.
#[derive(Debug, Serialize)]
pub(crate) struct Document {
    openapi: &'static str,
    info: Info,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    servers: Vec<Server>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Tag>,
    paths: IndexMap<String, PathItem>,
    components: Components,
}

#[derive(Debug, Serialize)]
struct Info {
    title: String,
    version: String,
    description: String,
}

#[derive(Debug, Serialize)]
struct Server {
    url: String,
    description: String,
}

#[derive(Debug, Clone, Serialize)]
struct Tag {
    name: String,
    description: String,
}

/// The operations of one path, by method.
#[derive(Debug, Default, Serialize)]
struct PathItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    get: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    put: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete: Option<Operation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<Operation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
}

impl PathItem {
    fn slot(&mut self, method: Method) -> &mut Option<Operation> {
        match method {
            Method::Get => &mut self.get,
            Method::Put => &mut self.put,
            Method::Post => &mut self.post,
            Method::Delete => &mut self.delete,
            Method::Patch => &mut self.patch,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    /// `<service snake>.<handler>`: the function of `src/http.rs` that answers it.
    #[serde(rename = "operationId")]
    id: String,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parameters: Vec<Ref<Parameter>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body: Option<RequestBody>,
    responses: IndexMap<String, Ref<Response>>,
}

/// A component by reference, or a value in place.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Ref<T> {
    To {
        #[serde(rename = "$ref")]
        target: String,
    },
    Inline(T),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Parameter {
    name: String,
    #[serde(rename = "in")]
    location: &'static str,
    description: String,
    required: bool,
    schema: Schema,
}

#[derive(Debug, Serialize)]
struct RequestBody {
    description: String,
    required: bool,
    content: IndexMap<&'static str, MediaType>,
}

#[derive(Debug, Clone, Serialize)]
struct MediaType {
    schema: Schema,
}

#[derive(Debug, Clone, Serialize)]
struct Response {
    description: String,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    headers: IndexMap<&'static str, Ref<Header>>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    content: IndexMap<&'static str, MediaType>,
}

#[derive(Debug, Clone, Serialize)]
struct Header {
    description: String,
    required: bool,
    schema: Schema,
}

/// The JSON Schema subset the documents use (OpenAPI 3.1 schemas are JSON Schema 2020-12).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Schema {
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    ty: Option<Types>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    values: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Box<Schema>>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    properties: IndexMap<String, Schema>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    required: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_properties: Option<bool>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
}

/// `"string"`, or `["string", "null"]`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Types {
    One(&'static str),
    Many(Vec<&'static str>),
}

impl Schema {
    fn of(ty: &'static str) -> Self {
        Self {
            ty: Some(Types::One(ty)),
            ..Self::default()
        }
    }

    fn formatted(ty: &'static str, format: &'static str) -> Self {
        Self {
            format: Some(format),
            ..Self::of(ty)
        }
    }

    fn to(name: &str) -> Self {
        Self {
            reference: Some(format!("#/components/schemas/{name}")),
            ..Self::default()
        }
    }

    fn array(items: Schema) -> Self {
        Self {
            items: Some(Box::new(items)),
            ..Self::of("array")
        }
    }

    fn object(properties: IndexMap<String, Schema>, required: Vec<String>) -> Self {
        Self {
            properties,
            required,
            ..Self::of("object")
        }
    }

    fn described(self, description: impl Into<String>) -> Self {
        Self {
            description: Some(description.into()),
            ..self
        }
    }

    /// The same, or `null` (an optional field: JSON `null` when empty).
    fn nullable(mut self) -> Self {
        if let Some(Types::One(ty)) = self.ty {
            self.ty = Some(Types::Many(vec![ty, "null"]));
        }
        if let Some(values) = &mut self.values {
            values.push(Value::Null);
        }
        self
    }
}

#[derive(Debug, Default, Serialize)]
struct Components {
    schemas: IndexMap<String, Schema>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    parameters: IndexMap<&'static str, Parameter>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    responses: IndexMap<&'static str, Response>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    headers: IndexMap<&'static str, Header>,
}

/// A document's paths and components while they are added.
#[derive(Default)]
struct Api {
    paths: IndexMap<String, PathItem>,
    components: Components,
    tags: Vec<Tag>,
}

impl Api {
    /// Adds `operation` at `method path`.
    ///
    /// # Errors
    /// [`Error::Bug`] when the path already has an operation for the method: the manifest's
    /// validation keeps routes apart, so two would be a fleetwright bug.
    fn add(&mut self, path: &str, method: Method, operation: Operation) -> Result<(), Error> {
        let slot = self.paths.entry(path.to_owned()).or_default().slot(method);
        if slot.is_some() {
            return Err(Error::Bug(format!(
                "two OpenAPI operations for {method:?} {path} (`{}`)",
                operation.id
            )));
        }
        *slot = Some(operation);
        Ok(())
    }

    fn tag(&mut self, name: &str, description: String) {
        if !self.tags.iter().any(|t| t.name == name) {
            self.tags.push(Tag {
                name: name.to_owned(),
                description,
            });
        }
    }

    fn schema(&mut self, name: String, schema: Schema) {
        self.components.schemas.entry(name).or_insert(schema);
    }

    /// A shared parameter, by reference.
    fn parameter(&mut self, name: &'static str, parameter: Parameter) -> Ref<Parameter> {
        self.components.parameters.entry(name).or_insert(parameter);
        Ref::To {
            target: format!("#/components/parameters/{name}"),
        }
    }

    /// A shared header, by reference.
    fn header(&mut self, name: &'static str, header: Header) -> Ref<Header> {
        self.components.headers.entry(name).or_insert(header);
        Ref::To {
            target: format!("#/components/headers/{name}"),
        }
    }

    /// The problem response of `refusal`, by reference, with the `Problem` schema it names.
    fn refusal(&mut self, refusal: Refusal) -> (String, Ref<Response>) {
        self.schema(PROBLEM.to_owned(), problem_schema());
        let (status, name, description) = refusal.describe();
        self.components.responses.entry(name).or_insert_with(|| Response {
            description: description.to_owned(),
            headers: IndexMap::new(),
            content: IndexMap::from([(
                PROBLEM_JSON,
                MediaType {
                    schema: Schema::to(PROBLEM),
                },
            )]),
        });
        (
            status.to_string(),
            Ref::To {
                target: format!("#/components/responses/{name}"),
            },
        )
    }

    fn into_document(self, info: Info, servers: Vec<Server>) -> Document {
        Document {
            openapi: "3.1.0",
            info,
            servers,
            tags: self.tags,
            paths: self.paths,
            components: self.components,
        }
    }
}

/// Why a request is refused: each is one status the service answers with a problem body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    NotFound,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Invalid,
    PreconditionRequired,
    Internal,
    NotImplemented,
    Unavailable,
}

impl Refusal {
    /// Status, component name, and when the service answers it.
    fn describe(self) -> (u16, &'static str, &'static str) {
        match self {
            Refusal::BadRequest => (
                400,
                "BadRequest",
                "The request cannot be read: a path segment is not valid UTF-8 once percent-decoded.",
            ),
            Refusal::NotFound => (404, "NotFound", "No record has this id."),
            Refusal::Conflict => (
                409,
                "Conflict",
                "The change conflicts with the current state: another record holds a value of a unique \
                 field or key, the record was changed or deleted meanwhile (by a request without \
                 `If-Match`), the service's rules refuse it, or (on PostgreSQL) a record it refers to \
                 does not exist or other records still refer to it; `detail` names the constraint.",
            ),
            Refusal::PreconditionFailed => (
                412,
                "PreconditionFailed",
                "`If-Match` names a version other than the record's current one, or no version this \
                 service gave: read the record again, then retry.",
            ),
            Refusal::PayloadTooLarge => (413, "PayloadTooLarge", "The body is larger than the service accepts."),
            Refusal::UnsupportedMediaType => (
                415,
                "UnsupportedMediaType",
                "The body is not JSON by its `Content-Type`.",
            ),
            Refusal::Invalid => (
                422,
                "Invalid",
                "The input is malformed or breaks a rule: JSON that does not parse, a field of the wrong \
                 type, a missing or unknown field (fields the server owns included), an id or page token \
                 that is not one.",
            ),
            Refusal::PreconditionRequired => (
                428,
                "PreconditionRequired",
                "A change must name the version it is based on: send `If-Match` with the record's `ETag`.",
            ),
            Refusal::Internal => (
                500,
                "Internal",
                "An unexpected error; its details are in the service's log, never in the response.",
            ),
            Refusal::NotImplemented => (
                501,
                "NotImplemented",
                "The operation is declared in `fleet.toml` but its handler is not written yet; the \
                 problem names the operation and the file to write it in.",
            ),
            Refusal::Unavailable => (
                503,
                "Unavailable",
                "A dependency (the database) is unavailable, or the request took longer than the \
                 service's request timeout: retry later.",
            ),
        }
    }
}

/// The RFC 9457 problem details object every error response of a service carries
/// (`fleetwright_runtime::error::Problem`).
fn problem_schema() -> Schema {
    let codes = [
        "invalid_argument",
        "not_found",
        "method_not_allowed",
        "conflict",
        "precondition_failed",
        "precondition_required",
        "payload_too_large",
        "unsupported_media_type",
        "unavailable",
        "not_implemented",
        "internal",
    ];
    let properties = IndexMap::from([
        (
            "type".to_owned(),
            Schema::formatted("string", "uri-reference")
                .described("`about:blank`: the status says what kind of problem it is."),
        ),
        (
            "title".to_owned(),
            Schema::of("string").described("The status's reason phrase."),
        ),
        ("status".to_owned(), Schema::of("integer").described("The HTTP status.")),
        (
            "detail".to_owned(),
            Schema::of("string").described("What went wrong with this request, for people."),
        ),
        (
            "code".to_owned(),
            Schema {
                values: Some(codes.iter().map(|c| Value::from(*c)).collect()),
                ..Schema::of("string")
            }
            .described("The stable name of the error's kind, for programs (the same for REST and gRPC)."),
        ),
    ]);
    let required = properties.keys().cloned().collect();
    Schema::object(properties, required).described("An RFC 9457 problem details object.")
}

/// `a Note`, `an Order`: a type name with its indefinite article (by its first letter).
fn a(name: &str) -> String {
    let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

/// The names of one entity's schemas, qualified by the service's proto package as its gRPC
/// messages are, so they are unique in the gateway's document too.
struct Names {
    record: String,
    input: String,
    patch: String,
    page: String,
}

impl Names {
    fn new(service: &Service, entity: &Entity) -> Self {
        let qualified = format!("{}.{}", service.proto_package, entity.name);
        Self {
            input: format!("{qualified}Input"),
            patch: format!("{qualified}Patch"),
            page: format!("{qualified}Page"),
            record: qualified,
        }
    }
}

/// The schema of one value of a field (a list's item, before `null` is allowed).
fn value_schema(base: &BaseType) -> Schema {
    match base {
        BaseType::Scalar { scalar } => match scalar {
            Scalar::String | Scalar::Text => Schema::of("string"),
            Scalar::Bool => Schema::of("boolean"),
            Scalar::Int32 => Schema {
                minimum: Some(i64::from(i32::MIN)),
                maximum: Some(i64::from(i32::MAX)),
                ..Schema::formatted("integer", "int32")
            },
            // A JSON number, as serde writes an `i64`.
            Scalar::Int64 => Schema {
                minimum: Some(i64::MIN),
                maximum: Some(i64::MAX),
                ..Schema::formatted("integer", "int64")
            },
            Scalar::Float64 => Schema::formatted("number", "double"),
            Scalar::Uuid => Schema::formatted("string", "uuid"),
            Scalar::Timestamp => Schema::formatted("string", "date-time"),
            Scalar::Date => Schema::formatted("string", "date"),
        },
        BaseType::Ref { entity } => Schema::formatted("string", "uuid").described(format!("The id of {}.", a(entity))),
        BaseType::Enum { variants } => Schema {
            values: Some(variants.iter().map(|v| Value::from(v.as_str())).collect()),
            ..Schema::of("string")
        },
    }
}

/// A field's schema as records carry it: a list is an array (never `null`), an optional
/// field is `null` when empty.
fn field_schema(field: &Field) -> Schema {
    let one = value_schema(&field.ty.base);
    let schema = if field.ty.list {
        Schema::array(one)
    } else if field.ty.optional {
        one.nullable()
    } else {
        one
    };
    if field.read_only.is_some() {
        schema.described("Owned by the server: set when the record is created, and by the service's rules.")
    } else {
        schema
    }
}

/// Whether a client must send a field when it creates or replaces a record: a required value
/// (an optional field may be left out or `null`, a list left out).
fn input_requires(field: &Field) -> bool {
    !field.ty.list && !field.ty.optional && field.api_default.is_none()
}

/// The record as the service returns it (`model::<Entity>`): every field, always present.
fn record_schema(entity: &Entity) -> Schema {
    let system = |name: &str, schema: Schema, description: &str| {
        (
            name.to_owned(),
            Schema {
                read_only: true,
                ..schema.described(description)
            },
        )
    };
    let mut properties = IndexMap::from([system(
        "id",
        Schema::formatted("string", "uuid"),
        "Assigned by the server when the record is created.",
    )]);
    for field in &entity.fields {
        let schema = field_schema(field);
        let schema = Schema {
            read_only: field.read_only.is_some(),
            ..schema
        };
        properties.insert(field.name.clone(), schema);
    }
    properties.extend([
        system(
            "created_at",
            Schema::formatted("string", "date-time"),
            "When it was created.",
        ),
        system(
            "updated_at",
            Schema::formatted("string", "date-time"),
            "When it last changed.",
        ),
        system(
            "version",
            Schema {
                minimum: Some(1),
                ..Schema::formatted("integer", "int64")
            },
            "1 when created, one more at each change: the `ETag`, and what `If-Match` names.",
        ),
    ]);
    let required = properties.keys().cloned().collect();
    Schema::object(properties, required).described(format!("A stored {}.", entity.name))
}

/// What a client sends to create or replace a record (`model::<Entity>Input`): the fields it
/// owns, nothing else (unknown fields and the server's own are refused).
fn input_schema(entity: &Entity) -> Schema {
    let owned = || entity.fields.iter().filter(|f| f.read_only.is_none());
    let properties = owned().map(|f| (f.name.clone(), field_schema(f))).collect();
    let required = owned().filter(|f| input_requires(f)).map(|f| f.name.clone()).collect();
    Schema {
        additional_properties: Some(false),
        ..Schema::object(properties, required).described(format!(
            "The fields of {} a client sends to create or replace one.",
            a(&entity.name)
        ))
    }
}

/// A JSON merge patch (RFC 7396) of a record: any of the input's fields; `null` empties an
/// optional field or a list, and is refused for a required one.
fn patch_schema(entity: &Entity) -> Schema {
    let properties = entity
        .fields
        .iter()
        .filter(|f| f.read_only.is_none())
        .map(|f| {
            let schema = field_schema(f);
            let schema = if f.api_default.is_some() {
                // `null` takes the field back to its default.
                schema.nullable()
            } else if input_requires(f) {
                schema
            } else {
                schema_or_null(schema)
            };
            (f.name.clone(), schema)
        })
        .collect();
    Schema {
        additional_properties: Some(false),
        ..Schema::object(properties, Vec::new()).described(format!(
            "A JSON merge patch (RFC 7396) of {}: the fields it names replace the record's, `null` empties \
             an optional field or a list.",
            a(&entity.name)
        ))
    }
}

/// `schema`, or `null` (a list a merge patch may empty).
fn schema_or_null(schema: Schema) -> Schema {
    match schema.ty {
        Some(Types::One("array")) => Schema {
            ty: Some(Types::Many(vec!["array", "null"])),
            ..schema
        },
        _ => schema,
    }
}

/// A page of a list (`fleetwright_runtime::http::ListBody`).
fn page_schema(entity: &Entity, record: &str) -> Schema {
    let properties = IndexMap::from([
        ("items".to_owned(), Schema::array(Schema::to(record))),
        (
            "next_page_token".to_owned(),
            Schema::of("string").described("Pass as `page_token` for the next page; absent on the last page."),
        ),
    ]);
    Schema::object(properties, vec!["items".to_owned()])
        .described(format!("A page of {}, in id order.", entity.plural_pascal))
}

fn json_content(schema: Schema) -> IndexMap<&'static str, MediaType> {
    IndexMap::from([(JSON, MediaType { schema })])
}

/// The decisions every operation of one service shares.
struct Scope<'a> {
    service: &'a Service,
    /// `[project] require_if_match`: changes must send `If-Match` (428 without).
    require_if_match: bool,
}

impl Scope<'_> {
    fn operation_id(&self, handler: &str) -> String {
        format!("{}.{handler}", self.service.snake)
    }
}

/// The responses of one operation: its success, then a problem for each refusal, in status order.
fn responses(api: &mut Api, success: (u16, Response), refusals: &[Refusal]) -> IndexMap<String, Ref<Response>> {
    let mut refusals = refusals.to_vec();
    refusals.sort_by_key(|r| r.describe().0);
    let mut out = IndexMap::from([(success.0.to_string(), Ref::Inline(success.1))]);
    out.extend(refusals.into_iter().map(|r| api.refusal(r)));
    out
}

/// The record's `ETag`: its version, quoted.
fn etag(api: &mut Api) -> (&'static str, Ref<Header>) {
    let header = api.header(
        "ETag",
        Header {
            description: "The record's version, quoted (`\"3\"`): send it back as `If-Match`.".to_owned(),
            required: true,
            schema: Schema::of("string"),
        },
    );
    ("ETag", header)
}

/// The parameters every entity's operations share (components, added once), and what a
/// version-checked change may be refused for beyond its other refusals.
struct Shared {
    id: Ref<Parameter>,
    if_match: Ref<Parameter>,
    page_size: Ref<Parameter>,
    page_token: Ref<Parameter>,
    changes: Vec<Refusal>,
}

fn shared(api: &mut Api, require_if_match: bool) -> Shared {
    use Refusal::{PreconditionFailed, PreconditionRequired};
    let id = api.parameter(
        "Id",
        Parameter {
            name: "id".to_owned(),
            location: "path",
            description: "The record's id.".to_owned(),
            required: true,
            schema: Schema::formatted("string", "uuid"),
        },
    );
    let (if_match_name, if_match) = if require_if_match {
        ("IfMatchRequired", "Required (`[project] require_if_match`). ")
    } else {
        (
            "IfMatch",
            "Optional: without it the change applies to whichever version is current. ",
        )
    };
    let if_match = api.parameter(
        if_match_name,
        Parameter {
            name: "If-Match".to_owned(),
            location: "header",
            description: format!(
                "{if_match}The `ETag` of the version this change is based on (`\"3\"`), or `*` for any; \
                 another version is refused with 412."
            ),
            required: require_if_match,
            schema: Schema::of("string"),
        },
    );
    let changes = if require_if_match {
        vec![PreconditionFailed, PreconditionRequired]
    } else {
        vec![PreconditionFailed]
    };
    let page_size = api.parameter(
        "PageSize",
        Parameter {
            name: "page_size".to_owned(),
            location: "query",
            description: format!(
                "How many records a page holds: {DEFAULT_PAGE_SIZE} when absent or 0, at most {MAX_PAGE_SIZE} \
                 (larger sizes are cut to it)."
            ),
            required: false,
            schema: Schema {
                minimum: Some(0),
                maximum: Some(i64::from(u32::MAX)),
                ..Schema::formatted("integer", "int64")
            },
        },
    );
    let page_token = api.parameter(
        "PageToken",
        Parameter {
            name: "page_token".to_owned(),
            location: "query",
            description: "The `next_page_token` of the page before; absent or empty for the first page.".to_owned(),
            required: false,
            schema: Schema::of("string"),
        },
    );

    Shared {
        id,
        if_match,
        page_size,
        page_token,
        changes,
    }
}

/// A record in a response, with its `ETag`.
fn record_response(api: &mut Api, names: &Names, description: String) -> Response {
    Response {
        description,
        headers: IndexMap::from([etag(api)]),
        content: json_content(Schema::to(&names.record)),
    }
}

/// An entity's input as a request body.
fn input_body(names: &Names, description: String) -> RequestBody {
    RequestBody {
        description,
        required: true,
        content: json_content(Schema::to(&names.input)),
    }
}

/// The paths of one entity: its collection (list, create) and its records (get, replace,
/// merge patch, delete), as `src/http.rs` routes them.
fn paths_for_entity(api: &mut Api, scope: &Scope<'_>, entity: &Entity) -> Result<(), Error> {
    let names = Names::new(scope.service, entity);
    api.schema(names.record.clone(), record_schema(entity));
    api.schema(names.input.clone(), input_schema(entity));
    api.schema(names.patch.clone(), patch_schema(entity));
    api.schema(names.page.clone(), page_schema(entity, &names.record));
    api.tag(
        &entity.name,
        format!("{} records of the `{}` service.", entity.name, scope.service.name),
    );
    let shared = shared(api, scope.require_if_match);
    collection_paths(api, scope, entity, &names, &shared)?;
    record_paths(api, scope, entity, &names, &shared)
}

/// `GET` (a page) and `POST` (create) on an entity's collection.
fn collection_paths(
    api: &mut Api,
    scope: &Scope<'_>,
    entity: &Entity,
    names: &Names,
    shared: &Shared,
) -> Result<(), Error> {
    use Refusal::{Conflict, Internal, Invalid, PayloadTooLarge, Unavailable, UnsupportedMediaType};
    let (name, table, snake) = (&entity.name, &entity.table, &entity.snake);
    let collection = entity.http_path.as_str();
    let tag = entity.name.clone();
    // GET collection: one page.
    let page = Response {
        description: format!("A page of {}.", entity.plural_pascal),
        headers: IndexMap::new(),
        content: json_content(Schema::to(&names.page)),
    };
    let operation = Operation {
        id: scope.operation_id(&format!("list_{table}")),
        summary: format!("List {}, a page at a time", entity.plural_pascal),
        description: Some("Keyset paging in id order: pass each page's `next_page_token` to get the next.".to_owned()),
        tags: vec![tag.clone()],
        parameters: [shared.page_size.clone(), shared.page_token.clone()]
            .into_iter()
            .chain(filter_parameters(entity, None))
            .collect(),
        request_body: None,
        responses: responses(api, (200, page), &[Invalid, Internal, Unavailable]),
    };
    api.add(collection, Method::Get, operation)?;
    child_list_paths(api, scope, entity, names, shared)?;

    // POST collection: create.
    let created = {
        let location = api.header(
            "Location",
            Header {
                description: "The path of the new record.".to_owned(),
                required: true,
                schema: Schema::formatted("string", "uri-reference"),
            },
        );
        let mut response = record_response(api, names, format!("The {name} as stored."));
        response.headers.insert("Location", location);
        response
    };
    let operation = Operation {
        id: scope.operation_id(&format!("create_{snake}")),
        summary: format!("Create {}", a(name)),
        description: None,
        tags: vec![tag.clone()],
        parameters: Vec::new(),
        request_body: Some(input_body(names, format!("The {name} to create."))),
        responses: responses(
            api,
            (201, created),
            &[
                Conflict,
                PayloadTooLarge,
                UnsupportedMediaType,
                Invalid,
                Internal,
                Unavailable,
            ],
        ),
    };
    api.add(collection, Method::Post, operation)?;

    Ok(())
}

/// The equality filters of an entity's list (`?order_id=…`), as optional query parameters;
/// `except` is the field a child list under its parent takes from its path instead.
fn filter_parameters(entity: &Entity, except: Option<&str>) -> Vec<Ref<Parameter>> {
    entity
        .fields
        .iter()
        .filter(|f| entity.filters.contains(&f.name) && Some(f.name.as_str()) != except)
        .map(|f| {
            Ref::Inline(Parameter {
                name: f.name.clone(),
                location: "query",
                description: format!("Only the {} whose `{}` is this value.", entity.plural_pascal, f.name),
                required: false,
                schema: value_schema(&f.ty.base),
            })
        })
        .collect()
}

/// `GET` on the lists of an entity under each record of its parents (`/api/orders/{id}/lines`).
fn child_list_paths(
    api: &mut Api,
    scope: &Scope<'_>,
    entity: &Entity,
    names: &Names,
    shared: &Shared,
) -> Result<(), Error> {
    use Refusal::{BadRequest, Internal, Invalid, NotFound, Unavailable};
    for list in &entity.parent_lists {
        let page = Response {
            description: format!("A page of the {} of one {}.", entity.plural_pascal, list.parent),
            headers: IndexMap::new(),
            content: json_content(Schema::to(&names.page)),
        };
        let parameters = [shared.id.clone(), shared.page_size.clone(), shared.page_token.clone()]
            .into_iter()
            .chain(filter_parameters(entity, Some(&list.field)))
            .collect();
        let operation = Operation {
            id: scope.operation_id(&list.function),
            summary: format!(
                "List the {} of {}, a page at a time",
                entity.plural_pascal,
                a(&list.parent)
            ),
            description: Some(format!(
                "Those whose `{}` is the {}; 404 when there is no such {}.",
                list.field, list.parent, list.parent
            )),
            tags: vec![entity.name.clone()],
            parameters,
            request_body: None,
            responses: responses(
                api,
                (200, page),
                &[BadRequest, NotFound, Invalid, Internal, Unavailable],
            ),
        };
        api.add(&list.path, Method::Get, operation)?;
    }
    Ok(())
}

/// An operation's input: its path fields and (for `GET`) query fields as parameters, the rest
/// as a JSON body.
fn operation_input(
    api: &mut Api,
    qualified: &dyn Fn(&str) -> String,
    operation: &crate::model::Operation,
) -> (Vec<Ref<Parameter>>, Option<RequestBody>) {
    let from_query = operation.method == "GET";
    let mut parameters = Vec::new();
    let mut body_fields = IndexMap::new();
    let mut body_required = Vec::new();
    for field in &operation.input.fields {
        let in_path = operation.path_fields.contains(&field.name);
        if in_path || from_query {
            parameters.push(Ref::Inline(Parameter {
                name: field.name.clone(),
                location: if in_path { "path" } else { "query" },
                description: format!("`{}` of the operation's input.", field.name),
                required: in_path || input_requires(field),
                schema: value_schema(&field.ty.base),
            }));
        } else {
            if input_requires(field) {
                body_required.push(field.name.clone());
            }
            body_fields.insert(field.name.clone(), field_schema(field));
        }
    }
    let request_body = (operation.rest_of_input == crate::model::RestOfInput::Body).then(|| {
        let input = qualified(&operation.input.rust);
        let schema = Schema {
            additional_properties: Some(false),
            ..Schema::object(body_fields, body_required).described(format!("What `{}` takes.", operation.name))
        };
        api.schema(input.clone(), schema);
        RequestBody {
            description: format!("The input of `{}`.", operation.name),
            required: true,
            content: json_content(Schema::to(&input)),
        }
    });
    (parameters, request_body)
}

/// What an operation answers when it succeeds: an entity with its `ETag`, a page of them, its
/// own fields, or nothing (204).
fn operation_success(
    api: &mut Api,
    service: &Service,
    qualified: &dyn Fn(&str) -> String,
    operation: &crate::model::Operation,
) -> Result<(u16, Response), Error> {
    let success = if let Some(entity) = &operation.output_entity {
        let record = qualified(&entity.name);
        if operation.output_page {
            let page = Response {
                description: format!("A page of what `{}` finds.", operation.name),
                headers: IndexMap::new(),
                content: json_content(Schema::to(&format!("{record}Page"))),
            };
            (200, page)
        } else {
            let names =
                Names::new(
                    service,
                    service.entities.iter().find(|e| e.name == entity.name).ok_or_else(|| {
                        Error::Bug(format!("operation `{}` answers an unknown entity", operation.name))
                    })?,
                );
            (
                200,
                record_response(
                    api,
                    &names,
                    format!("The {} as `{}` leaves it.", entity.name, operation.name),
                ),
            )
        }
    } else if let Some(output) = &operation.output {
        let name = qualified(&output.rust);
        let properties: IndexMap<String, Schema> = output
            .fields
            .iter()
            .map(|f| (f.name.clone(), field_schema(f)))
            .collect();
        let required = properties.keys().cloned().collect();
        api.schema(
            name.clone(),
            Schema::object(properties, required).described(format!("What `{}` answers.", operation.name)),
        );
        let response = Response {
            description: format!("What `{}` answers.", operation.name),
            headers: IndexMap::new(),
            content: json_content(Schema::to(&name)),
        };
        (200, response)
    } else {
        let response = Response {
            description: format!("`{}` is done.", operation.name),
            headers: IndexMap::new(),
            content: IndexMap::new(),
        };
        (204, response)
    };
    Ok(success)
}

/// The path, method, parameters, body and answers of one operation (`POST
/// /api/orders/{id}/place`), as `src/http.rs` reads and answers it.
fn paths_for_operation(api: &mut Api, scope: &Scope<'_>, operation: &crate::model::Operation) -> Result<(), Error> {
    use Refusal::{
        BadRequest, Conflict, Internal, Invalid, NotFound, NotImplemented, PayloadTooLarge, Unavailable,
        UnsupportedMediaType,
    };
    let service = scope.service;
    let qualified = |name: &str| format!("{}.{name}", service.proto_package);
    let (parameters, request_body) = operation_input(api, &qualified, operation);
    let success = operation_success(api, service, &qualified, operation)?;
    let mut refusals = vec![NotFound, Conflict, Invalid, Internal, NotImplemented, Unavailable];
    if !operation.path_fields.is_empty() {
        refusals.push(BadRequest);
    }
    if operation.rest_of_input == crate::model::RestOfInput::Body {
        refusals.extend([PayloadTooLarge, UnsupportedMediaType]);
    }
    let method = match operation.method.as_str() {
        "GET" => Method::Get,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => Method::Post,
    };
    api.tag(
        OPERATIONS,
        format!(
            "The operations of the `{}` service beyond create, read, update and delete.",
            service.name
        ),
    );
    let summary = if operation.description.is_empty() {
        format!("The operation `{}`", operation.name)
    } else {
        operation.description.clone()
    };
    let entry = Operation {
        id: scope.operation_id(&operation.name),
        summary,
        description: operation
            .read_only
            .then(|| "Read-only: it changes nothing, and may be retried.".to_owned()),
        tags: vec![OPERATIONS.to_owned()],
        parameters,
        request_body,
        responses: responses(api, success, &refusals),
    };
    api.add(&operation.http_path, method, entry)
}

/// `GET`, `PUT` (replace), `PATCH` (merge patch) and `DELETE` on one record of an entity.
fn record_paths(
    api: &mut Api,
    scope: &Scope<'_>,
    entity: &Entity,
    names: &Names,
    shared: &Shared,
) -> Result<(), Error> {
    use Refusal::{
        BadRequest, Conflict, Internal, Invalid, NotFound, PayloadTooLarge, Unavailable, UnsupportedMediaType,
    };
    let (name, snake) = (&entity.name, &entity.snake);
    let item = format!("{}/{{id}}", entity.http_path);
    let tag = entity.name.clone();
    // GET record.
    let found = record_response(api, names, format!("The {name}."));
    let operation = Operation {
        id: scope.operation_id(&format!("get_{snake}")),
        summary: format!("Get {}", a(name)),
        description: None,
        tags: vec![tag.clone()],
        parameters: vec![shared.id.clone()],
        request_body: None,
        responses: responses(
            api,
            (200, found),
            &[BadRequest, NotFound, Invalid, Internal, Unavailable],
        ),
    };
    api.add(&item, Method::Get, operation)?;

    // PUT record: replace; PATCH record: merge patch. Both are version checked.
    let writes = [
        BadRequest,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        Invalid,
        Internal,
        Unavailable,
    ];
    let refusals: Vec<Refusal> = writes.iter().chain(&shared.changes).copied().collect();
    let replaced = record_response(api, names, format!("The {name} as stored now."));
    let operation = Operation {
        id: scope.operation_id(&format!("update_{snake}")),
        summary: format!("Replace {}", a(name)),
        description: Some("Every field a client owns is replaced; the server's own fields are kept.".to_owned()),
        tags: vec![tag.clone()],
        parameters: vec![shared.id.clone(), shared.if_match.clone()],
        request_body: Some(input_body(names, format!("The {name} as it should be."))),
        responses: responses(api, (200, replaced), &refusals),
    };
    api.add(&item, Method::Put, operation)?;

    let patched = record_response(api, names, format!("The {name} as stored now."));
    let patch = MediaType {
        schema: Schema::to(&names.patch),
    };
    let operation = Operation {
        id: scope.operation_id(&format!("patch_{snake}")),
        summary: format!("Change some fields of {}", a(name)),
        description: Some(
            "A JSON merge patch (RFC 7396); `application/json` is taken as one too. The result must be a valid input."
                .to_owned(),
        ),
        tags: vec![tag.clone()],
        parameters: vec![shared.id.clone(), shared.if_match.clone()],
        request_body: Some(RequestBody {
            description: "The fields to change.".to_owned(),
            required: true,
            content: IndexMap::from([(MERGE_PATCH, patch.clone()), (JSON, patch)]),
        }),
        responses: responses(api, (200, patched), &refusals),
    };
    api.add(&item, Method::Patch, operation)?;

    // DELETE record.
    let deleted = Response {
        description: format!("The {name} is deleted."),
        headers: IndexMap::new(),
        content: IndexMap::new(),
    };
    let refused = [BadRequest, NotFound, Conflict, Invalid, Internal, Unavailable];
    let refusals: Vec<Refusal> = refused.iter().chain(&shared.changes).copied().collect();
    let operation = Operation {
        id: scope.operation_id(&format!("delete_{snake}")),
        summary: format!("Delete {}", a(name)),
        description: None,
        tags: vec![tag],
        parameters: vec![shared.id.clone(), shared.if_match.clone()],
        request_body: None,
        responses: responses(api, (204, deleted), &refusals),
    };
    api.add(&item, Method::Delete, operation)
}

/// Every path of one service's API (what the gateway routes to it), without the operational ones.
fn paths_for_service(api: &mut Api, workspace: &Workspace, service: &Service) -> Result<(), Error> {
    let scope = Scope {
        service,
        require_if_match: workspace.project.require_if_match,
    };
    for entity in &service.entities {
        paths_for_entity(api, &scope, entity)?;
    }
    // Each kind of endpoint adds its paths through `api.add`, which reports a second operation
    // on one method and path as a bug.
    for operation in &service.operations {
        paths_for_operation(api, &scope, operation)?;
    }
    Ok(())
}

/// The endpoints every service serves beside its API (the runtime's probes and metrics, and
/// this document), which the gateway does not route.
fn operational_paths(api: &mut Api, service: &Service) -> Result<(), Error> {
    api.tag(
        OPERATIONAL,
        "Probes, metrics and this document: served by every service, not routed by the gateway.".to_owned(),
    );
    let health = Schema::object(
        IndexMap::from([
            (
                "status".to_owned(),
                Schema::of("string").described("`ok`, `ready`, `shutting down` or `dependency unavailable`."),
            ),
            (
                "service".to_owned(),
                Schema::of("string").described("The service's name."),
            ),
        ]),
        vec!["status".to_owned(), "service".to_owned()],
    );
    api.schema(HEALTH.to_owned(), health);
    let plain = |description: &str, content: IndexMap<&'static str, MediaType>| Response {
        description: description.to_owned(),
        headers: IndexMap::new(),
        content,
    };
    let health_content = || json_content(Schema::to(HEALTH));
    let operation = |id: &str, summary: &str, responses: IndexMap<String, Ref<Response>>| Operation {
        id: format!("{}.{id}", service.snake),
        summary: summary.to_owned(),
        description: None,
        tags: vec![OPERATIONAL.to_owned()],
        parameters: Vec::new(),
        request_body: None,
        responses,
    };
    let alive = IndexMap::from([(
        "200".to_owned(),
        Ref::Inline(plain("The process is alive.", health_content())),
    )]);
    api.add("/healthz", Method::Get, operation("healthz", "Liveness", alive))?;
    let ready = IndexMap::from([
        (
            "200".to_owned(),
            Ref::Inline(plain("Ready for traffic.", health_content())),
        ),
        (
            "503".to_owned(),
            Ref::Inline(plain(
                "Shutting down, or a dependency it needs (the database) does not answer.",
                health_content(),
            )),
        ),
    ]);
    api.add("/readyz", Method::Get, operation("readyz", "Readiness", ready))?;
    let text = IndexMap::from([(
        "text/plain",
        MediaType {
            schema: Schema::of("string"),
        },
    )]);
    let metrics = IndexMap::from([(
        "200".to_owned(),
        Ref::Inline(plain("Prometheus metrics, in its text format.", text)),
    )]);
    api.add("/metrics", Method::Get, operation("metrics", "Metrics", metrics))?;
    let document = IndexMap::from([(
        "200".to_owned(),
        Ref::Inline(plain("This OpenAPI document.", json_content(Schema::of("object")))),
    )]);
    api.add(
        "/openapi.json",
        Method::Get,
        operation("openapi", "This service's OpenAPI document", document),
    )
}

/// What the errors of every document are.
const ERRORS: &str = "Every error response is an RFC 9457 problem details object (`application/problem+json`) \
    whose `code` names the kind of error. A path no route matches answers 404, and a method a route does \
    not take 405 (with `Allow`), as problems too.";

/// A description from the manifest as the first paragraph of a document's, if there is one.
fn about(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!("{}\n\n", description.trim_end())
    }
}

/// The document of one service's REST API, as the service serves it.
///
/// # Errors
/// [`Error::Bug`] when two operations would share a method and path.
pub(crate) fn service_document(workspace: &Workspace, service: &Service) -> Result<Document, Error> {
    let mut api = Api::default();
    paths_for_service(&mut api, workspace, service)?;
    operational_paths(&mut api, service)?;
    let about = about(&service.description);
    let info = Info {
        title: format!("{} {}", workspace.project.name, service.name),
        version: workspace.project.version.clone(),
        description: format!(
            "{about}The REST API of the `{}` service, generated by fleetwright from `fleet.toml`. {ERRORS}",
            service.name
        ),
    };
    Ok(api.into_document(info, Vec::new()))
}

/// The document of the gateway's public API: the paths of every service with a `route`, at
/// the same paths (the gateway does not rewrite them).
///
/// # Errors
/// [`Error::Bug`] when two operations would share a method and path.
pub(crate) fn gateway_document(workspace: &Workspace) -> Result<Document, Error> {
    let mut api = Api::default();
    let routed: Vec<&Service> = workspace.services.iter().filter(|s| s.route.is_some()).collect();
    for service in &routed {
        paths_for_service(&mut api, workspace, service)?;
    }
    let names: Vec<String> = routed.iter().map(|s| format!("`{}`", s.name)).collect();
    let services = if names.is_empty() {
        "No service has a `route` yet, so the gateway exposes no path.".to_owned()
    } else {
        format!("It routes to {}.", names.join(", "))
    };
    let info = Info {
        title: format!("{} API", workspace.project.name),
        version: workspace.project.version.clone(),
        description: format!(
            "{}The public API of `{}` behind its gateway, generated by fleetwright from `fleet.toml`. {services} \
             {ERRORS} The gateway itself answers 404 for a path outside every route, and 502, 503 or 504 when a \
             service cannot be reached or does not answer in time.",
            about(&workspace.project.description),
            workspace.project.name
        ),
    };
    let servers = vec![Server {
        url: format!("http://localhost:{}", workspace.gateway.port),
        description: "The gateway on a developer machine (`./dev.sh up`, or docker compose).".to_owned(),
    }];
    Ok(api.into_document(info, servers))
}

/// A document as the file holds it: pretty JSON, ending in a newline.
///
/// # Errors
/// [`Error::Bug`] if it does not serialise.
pub(crate) fn to_text(document: &Document) -> Result<String, Error> {
    let mut text = serde_json::to_string_pretty(document).map_err(|e| Error::Bug(format!("OpenAPI document: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// The document of `service`, or the gateway's for `None`, as the managed file it is written to.
///
/// # Errors
/// [`Error::Bug`] when two operations would share a method and path, or a path is unsafe.
pub(crate) fn file(workspace: &Workspace, service: Option<&Service>) -> Result<(RelPath, PlannedFile), Error> {
    let (path, document) = match service {
        Some(service) => (
            SERVICE_DOCUMENT.replace("{service}", &service.name),
            service_document(workspace, service)?,
        ),
        None => (GATEWAY_DOCUMENT.to_owned(), gateway_document(workspace)?),
    };
    let file = PlannedFile {
        contents: to_text(&document)?,
        owner: Owner::Managed,
    };
    Ok((RelPath::new(&path)?, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(manifest: &str) -> Workspace {
        crate::model::load_source(crate::source::Source::from_text("fleet.toml", manifest))
            .expect("a valid manifest")
            .workspace
    }

    const MANIFEST: &str = r#"
version = 1
[project]
name = "shop"
require_if_match = true
[services.orders]
database = "sqlite"
route = "/api/orders"
[services.orders.entities.Order]
status = "enum(draft, placed)"
note = "text?"
total_cents = { type = "int64", read_only = true, default = 0 }
tags = "string[]"
placed_at = "timestamp?"
[services.orders.entities.OrderLine]
order_id = "ref(Order)"
quantity = "int32"
[services.orders.operations.place_order]
input = { id = "uuid" }
output = "Order"
path = "/api/orders/{id}/place"
[services.orders.operations.quote_order]
read_only = true
input = { id = "uuid", coupon = "string?" }
output = { total_cents = "int64" }
path = "/api/orders/{id}/quote"
[services.audit]
database = "sqlite"
[services.audit.entities.Entry]
what = "string"
"#;

    /// The paths of the orders service's entities (and the lines under an order) and
    /// operations, sorted.
    const ORDERS_PATHS: [&str; 7] = [
        "/api/orders",
        "/api/orders/order-lines",
        "/api/orders/order-lines/{id}",
        "/api/orders/{id}",
        "/api/orders/{id}/lines",
        "/api/orders/{id}/place",
        "/api/orders/{id}/quote",
    ];

    /// The keys of a JSON object, sorted (`Value` sorts them; the file keeps the order they
    /// were added in, as the snapshots show).
    fn keys(object: &Value) -> Vec<&str> {
        object.as_object().unwrap().keys().map(String::as_str).collect()
    }

    fn json(document: &Document) -> Value {
        serde_json::to_value(document).unwrap()
    }

    #[test]
    fn a_service_document_has_each_entity_s_paths_and_the_operational_ones() {
        let workspace = workspace(MANIFEST);
        let doc = json(&service_document(&workspace, &workspace.services[0]).unwrap());
        assert_eq!(doc["openapi"], "3.1.0");
        let operational = ["/healthz", "/metrics", "/openapi.json", "/readyz"];
        assert_eq!(keys(&doc["paths"]), [&ORDERS_PATHS[..], &operational].concat());
        let item = &doc["paths"]["/api/orders/{id}"];
        assert_eq!(keys(item), ["delete", "get", "patch", "put"]);
        assert_eq!(item["patch"]["operationId"], "orders.patch_order");
        assert_eq!(keys(&item["patch"]["requestBody"]["content"]), [JSON, MERGE_PATCH]);
        // require_if_match: 428, and the header is required.
        assert!(item["put"]["responses"]["428"].is_object());
        assert_eq!(doc["components"]["parameters"]["IfMatchRequired"]["required"], true);
        let created = &doc["paths"]["/api/orders"]["post"]["responses"]["201"];
        assert!(created["headers"]["Location"].is_object() && created["headers"]["ETag"].is_object());
        let errors = &doc["components"]["responses"]["NotFound"]["content"];
        assert_eq!(errors[PROBLEM_JSON]["schema"]["$ref"], "#/components/schemas/Problem");
    }

    #[test]
    fn lists_take_their_filters_and_operations_their_inputs() {
        let workspace = workspace(MANIFEST);
        let doc = json(&service_document(&workspace, &workspace.services[0]).unwrap());
        let paths = &doc["paths"];
        let names = |operation: &Value| -> Vec<String> {
            operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        };
        // A ref is a filter of its entity's list, and the lines of one order are listed under it.
        assert!(names(&paths["/api/orders/order-lines"]["get"]).contains(&"order_id".to_owned()));
        let lines = &paths["/api/orders/{id}/lines"]["get"];
        assert_eq!(lines["operationId"], "orders.list_order_lines_by_order_id");
        assert!(lines["responses"]["404"].is_object());
        // An operation: its path field, its answer with the ETag, 501 until it is written.
        let place = &paths["/api/orders/{id}/place"]["post"];
        assert_eq!(place["operationId"], "orders.place_order");
        assert!(place.get("requestBody").is_none(), "its only field is in the path");
        assert!(place["responses"]["200"]["headers"]["ETag"].is_object());
        assert!(place["responses"]["501"].is_object());
        // A read-only one is a GET, its other fields in the query string; its own output.
        let quote = &paths["/api/orders/{id}/quote"]["get"];
        assert_eq!(names(quote), ["id", "coupon"]);
        assert_eq!(quote["parameters"][1]["required"], false);
        let output = &doc["components"]["schemas"]["shop.orders.v1.QuoteOrderOutput"];
        assert_eq!(output["properties"]["total_cents"]["format"], "int64");
    }

    #[test]
    fn schemas_say_what_the_service_reads_and_writes() {
        let workspace = workspace(MANIFEST);
        let doc = json(&service_document(&workspace, &workspace.services[0]).unwrap());
        let schemas = &doc["components"]["schemas"];
        let order = &schemas["shop.orders.v1.Order"];
        assert_eq!(order["properties"]["total_cents"]["readOnly"], true);
        assert_eq!(order["properties"]["total_cents"]["type"], "integer");
        assert_eq!(order["properties"]["id"]["format"], "uuid");
        assert_eq!(
            order["properties"]["note"]["type"],
            serde_json::json!(["string", "null"])
        );
        assert_eq!(order["properties"]["placed_at"]["format"], "date-time");
        assert_eq!(
            order["properties"]["status"]["enum"],
            serde_json::json!(["draft", "placed"])
        );
        let input = &schemas["shop.orders.v1.OrderInput"];
        assert_eq!(input["additionalProperties"], false);
        assert!(
            input["properties"].get("total_cents").is_none(),
            "the server's field is not input"
        );
        assert_eq!(input["required"], serde_json::json!(["status"]));
        let patch = &schemas["shop.orders.v1.OrderPatch"];
        assert!(patch.get("required").is_none());
        assert_eq!(
            patch["properties"]["tags"]["type"],
            serde_json::json!(["array", "null"])
        );
        assert_eq!(patch["properties"]["status"]["type"], "string");
        let line = &schemas["shop.orders.v1.OrderLineInput"];
        assert_eq!(line["properties"]["quantity"]["maximum"], i32::MAX);
        assert_eq!(line["properties"]["order_id"]["format"], "uuid");
    }

    #[test]
    fn the_gateway_document_holds_only_routed_services_without_probes() {
        let workspace = workspace(MANIFEST);
        let doc = json(&gateway_document(&workspace).unwrap());
        assert_eq!(keys(&doc["paths"]), ORDERS_PATHS);
        assert!(doc["components"]["schemas"].get("shop.audit.v1.Entry").is_none());
        assert_eq!(doc["servers"][0]["url"], "http://localhost:8080");
    }

    #[test]
    fn two_operations_on_one_method_and_path_are_a_bug() {
        let mut api = Api::default();
        let operation = || Operation {
            id: "x".into(),
            summary: String::new(),
            description: None,
            tags: Vec::new(),
            parameters: Vec::new(),
            request_body: None,
            responses: IndexMap::new(),
        };
        api.add("/a", Method::Get, operation()).unwrap();
        api.add("/a", Method::Post, operation()).unwrap();
        assert!(matches!(api.add("/a", Method::Get, operation()), Err(Error::Bug(_))));
    }
}
