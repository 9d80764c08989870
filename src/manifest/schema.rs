//! The serde mirror of `fleet.toml`: exactly what the user wrote, with spans on every value a
//! diagnostic may point at. Nothing here applies defaults or checks meaning; that is
//! `model::validate` and `model::resolve`. Every field's doc comment feeds `fleetwright schema`.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The manifest format this build understands.
pub(crate) const MANIFEST_VERSION: i64 = 1;

// Patterns the JSON Schema gives names and values, so editors flag what `validate` rejects.
// `model::validate` holds the full rules (reserved words, cross-field checks) and messages;
// `tests/integration/cli.rs` checks the two agree on every fixture and example.
/// Service, project and namespace names: lowercase words joined by single hyphens.
const KEBAB_NAME: &str = "^[a-z][a-z0-9]*(-[a-z0-9]+)*$";
/// Entity and event names.
const PASCAL_NAME: &str = "^[A-Z][A-Za-z0-9]*$";
/// Field names.
const SNAKE_NAME: &str = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$";
/// Field types: a scalar, `enum(…)` with no empty variant or `ref(…)`, then `[]` or `?`
/// (see `model::types`).
const FIELD_TYPE: &str = r"^\s*(string|text|bool|int32|int64|float64|uuid|timestamp|date|enum\s*\(\s*[^,()\s][^,()]*(,\s*[^,()\s][^,()]*)*\)|ref\s*\(.*\))\s*(\[\]|\?)?\s*$";
/// `MAJOR.MINOR.PATCH`, then optionally `-pre` or `+build`.
const SEMVER: &str = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([-+].*[^+-])?$";
/// An image name prefix such as `ghcr.io/acme`: no leading `/`, `.` or `-`, no empty segment.
const REGISTRY: &str = "^[a-z0-9_:][a-z0-9._:-]*(/[a-z0-9._:-]+)*$";
/// A JWT claim name, dots reaching into objects.
const CLAIM: &str = r"^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$";
/// One policy value (see `model::Access`).
const POLICY: &str = r"^(public|authenticated|internal|(role|scope):[A-Za-z0-9._:/-]+)$";
/// One role or scope of a policy list.
const GRANT: &str = r"^(role|scope):[A-Za-z0-9._:/-]+$";
/// Kubernetes CPU quantities: `250m`, `1`, `0.5`.
const CPU: &str = r"^[0-9]+(\.[0-9]+)?m?$";
/// Kubernetes memory quantities: `128Mi`, `1.5Gi`, `512M`, `1000`.
const MEMORY: &str = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$";
/// Ports a listener may take (above the privileged ones).
const PORT_MIN: u16 = 1024;
/// The highest port.
const PORT_MAX: u16 = 65535;

/// A fleetwright manifest: one declarative description of a whole microservice system.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(title = "fleetwright manifest (fleet.toml)")]
pub(crate) struct Manifest {
    /// Manifest format version. Always `1` for now; bumped only with a migration path.
    #[schemars(with = "Option<i64>", range(min = MANIFEST_VERSION, max = MANIFEST_VERSION))]
    pub version: Option<Spanned<i64>>,
    /// The system as a whole: its name, version and where its images go.
    pub project: ProjectSpec,
    /// The API gateway (Envoy) in front of every service that has a `route`.
    #[serde(default)]
    pub gateway: GatewaySpec,
    /// Who may call what through the gateway: the token issuer the gateway trusts. Without
    /// it nothing is checked and every route is open, as before; with it nothing is public
    /// unless a service's `access` says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// The event broker used for `publishes` / `subscribes`.
    #[serde(default)]
    pub messaging: MessagingSpec,
    /// Where the system is deployed.
    #[serde(default)]
    pub deploy: DeploySpec,
    /// Which CI systems get pipelines.
    #[serde(default)]
    pub ci: CiSpec,
    /// The services, one table each, keyed by the service name (`[services.orders]`).
    /// A name is lowercase letters, digits and single hyphens, starting with a letter.
    #[serde(default)]
    #[schemars(schema_with = "services_schema")]
    pub services: IndexMap<Spanned<String>, ServiceSpec>,
}

/// `[project]`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ProjectSpec {
    /// Project name: used for the proto package root, the Kubernetes namespace, the NATS
    /// stream and image names. Lowercase letters, digits and single hyphens.
    #[schemars(with = "String", regex(pattern = KEBAB_NAME), length(max = 40))]
    pub name: Spanned<String>,
    /// The system's version (semver), stamped into every crate and image label.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = SEMVER))]
    pub version: Option<Spanned<String>>,
    /// One line saying what the system is for; shown in the generated README.
    #[serde(default)]
    pub description: Option<String>,
    /// Container registry prefix for images, e.g. `ghcr.io/acme`; images are
    /// `<registry>/<project>-<service>`.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = REGISTRY))]
    pub registry: Option<Spanned<String>>,
    /// Whether a request that replaces or deletes a record must name the version it is based
    /// on (REST `If-Match` with the record's `ETag`, gRPC `version`); without one it is refused
    /// (428 / `FAILED_PRECONDITION`). Default false: such a request changes whichever version
    /// is current, still never over a change made after it was read.
    #[serde(default)]
    pub require_if_match: bool,
    /// A directory (relative to `fleet.toml`) whose files override the embedded templates
    /// of the same path. See `fleetwright templates list` and `templates eject`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub templates: Option<Spanned<String>>,
}

/// `[gateway]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct GatewaySpec {
    /// Port the gateway listens on. Default 8080.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = PORT_MIN, max = PORT_MAX))]
    pub port: Option<Spanned<i64>>,
    /// Port of the Envoy admin interface, bound to localhost only. Default 9901.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = PORT_MIN, max = PORT_MAX))]
    pub admin_port: Option<Spanned<i64>>,
    /// Whole-request timeout per route, in milliseconds. Default 15000.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 3_600_000))]
    pub request_timeout_ms: Option<Spanned<i64>>,
    /// Upstream connect timeout, in milliseconds. Default 1000.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 3_600_000))]
    pub connect_timeout_ms: Option<Spanned<i64>>,
    /// Origins allowed by CORS, e.g. `["https://shop.example.com"]`. Default: none.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Requests per second each route accepts per gateway replica (a token bucket of that
    /// size, refilled every second); past it the gateway answers 429. Default 1000.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 1_000_000))]
    pub rate_limit: Option<Spanned<i64>>,
    /// Largest request body the gateway accepts, in bytes; a larger one is answered 413.
    /// Default 1048576 (1 MiB).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1024, max = 1_073_741_824))]
    pub max_request_bytes: Option<Spanned<i64>>,
    /// How many proxies in front of the gateway append to `X-Forwarded-For` and are trusted
    /// to: the client address is read that many entries from the right. Default 0 (the
    /// gateway faces clients directly).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 0, max = 10))]
    pub trusted_proxy_hops: Option<Spanned<i64>>,
}

/// `[auth]`: the `OpenID Connect` / OAuth 2.0 issuer whose JSON Web Tokens the gateway verifies.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct AuthSpec {
    /// The issuer URL, exactly as tokens carry it in `iss`, e.g.
    /// `https://id.example.com/realms/shop`.
    #[schemars(with = "String")]
    pub issuer: Spanned<String>,
    /// Audiences a token must name one of in `aud`, e.g. `["shop-api"]`.
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub audiences: Spanned<Vec<Spanned<String>>>,
    /// Where the issuer publishes its signing keys (JWKS), e.g.
    /// `https://id.example.com/realms/shop/protocol/openid-connect/certs`. The production
    /// gateway fetches and caches them; the development gateways trust the development key
    /// of `fleetwright dev token` instead.
    #[schemars(with = "String")]
    pub jwks_uri: Spanned<String>,
    /// The claim holding the caller's roles, a list of strings (or one string). A dotted
    /// name reaches into objects: `realm_access.roles` for Keycloak. Default `roles`.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = CLAIM))]
    pub roles_claim: Option<Spanned<String>>,
    /// The claim holding the OAuth 2.0 scopes granted to the token, space separated. Default
    /// `scope`.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = CLAIM))]
    pub scopes_claim: Option<Spanned<String>>,
}

/// `[services.<name>.access]`: who may use the service through the gateway, per action. Each
/// value is a [`PolicySpec`]. Only with `[auth]`; an action left out takes `default`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct AccessSpec {
    /// The policy of every action not named here or per entity. Default `"authenticated"`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub default: Option<Spanned<PolicySpec>>,
    /// Reading records: REST `GET` and `HEAD` (get one, list).
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub read: Option<Spanned<PolicySpec>>,
    /// Creating records: REST `POST`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub create: Option<Spanned<PolicySpec>>,
    /// Changing records: REST `PUT` and `PATCH`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub update: Option<Spanned<PolicySpec>>,
    /// Deleting records: REST `DELETE`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub delete: Option<Spanned<PolicySpec>>,
    /// The service's whole gRPC API through the gateway. Left out, the gateway does not
    /// route gRPC to the service (other services still call it directly).
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub grpc: Option<Spanned<PolicySpec>>,
    /// Per entity (`[services.orders.access.entities.OrderLine]`): `read`, `create`, `update`,
    /// `delete` for that entity's routes, over the service's.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, EntityAccessSpec>")]
    pub entities: IndexMap<Spanned<String>, EntityAccessSpec>,
    /// Per operation (`operations = { place_order = "authenticated" }`). An operation left out
    /// takes `read` when it is read-only, else `default`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, PolicySpec>")]
    pub operations: IndexMap<Spanned<String>, Spanned<PolicySpec>>,
}

/// `[services.<name>.access.entities.<Entity>]`: the actions of one entity, and who owns
/// each record.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct EntityAccessSpec {
    /// The field naming each record's owner, a `uuid` or `string` field (`owner =
    /// "customer_id"`): a caller gets, lists, changes and deletes only the records whose field
    /// holds their token's `sub`, and creates records only for themselves. The service's
    /// store enforces it for every request; code handling events acts for the service.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub owner: Option<Spanned<String>>,
    /// Roles or scopes whose callers act on every record whatever its owner (`any_owner =
    /// "role:admin"`). Needs `owner`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub any_owner: Option<Spanned<PolicySpec>>,
    /// Reading records: REST `GET` and `HEAD`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub read: Option<Spanned<PolicySpec>>,
    /// Creating records: REST `POST`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub create: Option<Spanned<PolicySpec>>,
    /// Changing records: REST `PUT` and `PATCH`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub update: Option<Spanned<PolicySpec>>,
    /// Deleting records: REST `DELETE`.
    #[serde(default)]
    #[schemars(with = "Option<PolicySpec>")]
    pub delete: Option<Spanned<PolicySpec>>,
}

/// Who may do something: `"public"` (anyone, no token needed), `"authenticated"` (any valid
/// token), `"internal"` (nobody through the gateway), or `"role:<name>"` / `"scope:<name>"`;
/// a list of roles and scopes admits a caller holding any one of them
/// (`["role:admin", "scope:catalog:write"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum PolicySpec {
    One(String),
    AnyOf(Vec<String>),
}

impl JsonSchema for PolicySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PolicySpec".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`public`, `authenticated`, `internal`, `role:<name>` or `scope:<name>`; or a list of roles and scopes, any of which admits.",
            "anyOf": [
                { "type": "string", "pattern": POLICY },
                { "type": "array", "minItems": 1, "items": { "type": "string", "pattern": GRANT } },
            ],
        })
    }
}

impl<'de> Deserialize<'de> for PolicySpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PolicySpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a policy (`public`, `authenticated`, `role:admin`, ...) or a list of roles and scopes")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<PolicySpec, E> {
                Ok(PolicySpec::One(value.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<PolicySpec, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(PolicySpec::AnyOf(items))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[messaging]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct MessagingSpec {
    /// `nats` (NATS `JetStream`) or `none`. Default `nats` when any service publishes or
    /// subscribes, else `none`.
    #[serde(default)]
    #[schemars(with = "Option<Broker>")]
    pub broker: Option<Spanned<String>>,
}

/// The event brokers fleetwright can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Broker {
    Nats,
    None,
}

/// `[deploy]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct DeploySpec {
    /// Deploy targets to generate: any of `compose`, `kubernetes`. Default both.
    #[serde(default)]
    #[schemars(with = "Option<Vec<DeployTarget>>")]
    pub targets: Option<Vec<Spanned<String>>>,
    /// Kubernetes options.
    #[serde(default)]
    pub kubernetes: KubernetesSpec,
}

/// Deploy targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DeployTarget {
    Compose,
    Kubernetes,
}

/// `[deploy.kubernetes]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct KubernetesSpec {
    /// Namespace for every object. Default: the project name.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = KEBAB_NAME))]
    pub namespace: Option<Spanned<String>>,
    /// Also emit Gateway API `HTTPRoute` / `GRPCRoute` objects. Default false.
    #[serde(default)]
    pub gateway_api: bool,
    /// Emit Prometheus Operator `ServiceMonitor` objects instead of scrape annotations.
    /// Default false.
    #[serde(default)]
    pub service_monitor: bool,
}

/// `[ci]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct CiSpec {
    /// CI providers to generate pipelines for: any of `github`, `gitlab`. Default `["github"]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<CiProvider>>")]
    pub providers: Option<Vec<Spanned<String>>>,
}

/// CI providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CiProvider {
    Github,
    Gitlab,
}

/// `[services.<name>]`: one microservice.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ServiceSpec {
    /// What the service is responsible for, in one line.
    #[serde(default)]
    pub description: Option<String>,
    /// Implementation language. Only `rust` today; the key exists so others can follow.
    #[serde(default)]
    #[schemars(with = "Option<Language>")]
    pub language: Option<Spanned<String>>,
    /// The service's own database: `postgres`, `sqlite` or `none`. Default `postgres` when
    /// the service has entities, else `none`.
    #[serde(default)]
    #[schemars(with = "Option<Database>")]
    pub database: Option<Spanned<String>>,
    /// HTTP path prefix exposed through the gateway, e.g. `/api/orders`. Leave it out for an
    /// internal-only service that the gateway does not reach.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub route: Option<Spanned<String>>,
    /// Who may use the service through the gateway, per action (needs `[auth]`). Without it,
    /// under `[auth]`, every REST action needs a valid token and gRPC is not routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<AccessSpec>")]
    pub access: Option<Spanned<AccessSpec>>,
    /// Requests per second each of this service's gateway routes accepts per gateway replica
    /// (past it, 429). Default: the gateway's `rate_limit`.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 1_000_000))]
    pub rate_limit: Option<Spanned<i64>>,
    /// Ports the service listens on. Assigned from the service's position in this file when
    /// absent (HTTP from 8081, gRPC from 50051), skipping ports that are taken.
    #[serde(default)]
    pub ports: PortsSpec,
    /// Fixed replica count when `autoscale` is absent. Default 2.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub replicas: Option<Spanned<i64>>,
    /// Horizontal autoscaling bounds.
    #[serde(default)]
    pub autoscale: Option<AutoscaleSpec>,
    /// CPU and memory requests and limits (Kubernetes quantities).
    #[serde(default)]
    pub resources: ResourcesSpec,
    /// Services this one calls synchronously over gRPC. Calls must not form a cycle.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub calls: Vec<Spanned<String>>,
    /// Events this service publishes: names of events defined under `[services.<this>.events]`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub publishes: Vec<Spanned<String>>,
    /// Events this service consumes, as `<service>.<Event>`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub subscribes: Vec<Spanned<String>>,
    /// Entities this service owns and stores, keyed by `PascalCase` name. Each maps field
    /// names to types (see the manifest reference), or to a table with the type and how
    /// stored rows reach it (`{ type = "int32", default = 0 }`); `renamed_from` names the
    /// entity's previous name, `unique` and `indexes` list keys and indexes over several fields.
    #[serde(default)]
    #[schemars(schema_with = "entities_schema")]
    pub entities: IndexMap<Spanned<String>, EntitySpec>,
    /// Event payloads this service defines, keyed by `PascalCase` name, with the same field
    /// types as entities.
    #[serde(default)]
    #[schemars(schema_with = "types_schema")]
    pub events: IndexMap<Spanned<String>, IndexMap<Spanned<String>, Spanned<String>>>,
    /// Use cases beyond create, read, update and delete (`place_order`, `quote_fare`), keyed by
    /// `snake_case` name: each is a gRPC rpc and a REST endpoint, written by you in `logic.rs`.
    #[serde(default)]
    #[schemars(schema_with = "operations_schema")]
    pub operations: IndexMap<Spanned<String>, OperationSpec>,
}

/// `[services.<name>.operations.<name>]`: one operation.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct OperationSpec {
    /// What it does, in one line.
    #[serde(default)]
    pub description: Option<String>,
    /// The fields a caller sends, with the field types of entities (`{ id = "uuid" }`).
    #[serde(default)]
    #[schemars(schema_with = "fields_schema")]
    pub input: IndexMap<Spanned<String>, Spanned<String>>,
    /// What it answers: an entity of this service by name (`"Order"`), a page of them
    /// (`"page(Order)"`, read-only operations), or fields (`{ total_cents = "int64" }`).
    /// Nothing (HTTP 204) when absent.
    #[serde(default)]
    #[schemars(with = "Option<OutputSchema>")]
    pub output: Option<Spanned<OutputSpec>>,
    /// It only reads: served as `GET` (input from the path and query string), retried by
    /// clients and the gateway, and it may not publish events. Default false.
    #[serde(default)]
    pub read_only: bool,
    /// HTTP method: `GET`, `POST`, `PUT`, `PATCH` or `DELETE`. Default `GET` when read-only,
    /// else `POST`.
    #[serde(default)]
    #[schemars(with = "Option<HttpMethod>")]
    pub method: Option<Spanned<String>>,
    /// REST path; `{field}` segments are input fields read from the path
    /// (`/api/orders/{id}/place`). Default: the service's route, then the name in kebab case
    /// (`/api/orders/place-order`).
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^/"))]
    pub path: Option<Spanned<String>>,
    /// Events of this service it publishes (each also in the service's `publishes`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub publishes: Vec<Spanned<String>>,
}

/// HTTP methods an operation can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// An operation's `output`, as written.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum OutputSpec {
    /// An entity of the service, by name, or a page of them (`page(Order)`).
    Entity(String),
    /// Fields, like an input.
    Fields(IndexMap<Spanned<String>, Spanned<String>>),
}

/// An operation's output: an entity of the service by name, or a table of field names to
/// field types. (The JSON Schema of `OutputSpec`.)
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum OutputSchema {
    Entity(#[schemars(regex(pattern = r"^([A-Z][A-Za-z0-9]*|page\([A-Z][A-Za-z0-9]*\))$"))] String),
    Fields(#[schemars(schema_with = "fields_schema")] BTreeMap<String, String>),
}

impl<'de> Deserialize<'de> for OutputSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OutputSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an entity name or a table of fields")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<OutputSpec, E> {
                Ok(OutputSpec::Entity(value.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<OutputSpec, A::Error> {
                IndexMap::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(OutputSpec::Fields)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Implementation languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Language {
    Rust,
}

/// Databases a service can own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Database {
    Postgres,
    Sqlite,
    None,
}

/// `ports = { http = 8081, grpc = 50051 }`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct PortsSpec {
    /// HTTP port (REST API, `/healthz`, `/readyz`, `/metrics`).
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = PORT_MIN, max = PORT_MAX))]
    pub http: Option<Spanned<i64>>,
    /// gRPC port.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = PORT_MIN, max = PORT_MAX))]
    pub grpc: Option<Spanned<i64>>,
}

/// `autoscale = { min = 2, max = 10, cpu_percent = 70 }`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct AutoscaleSpec {
    /// Fewest replicas.
    #[schemars(with = "u32", range(min = 1, max = 1000))]
    pub min: Spanned<i64>,
    /// Most replicas.
    #[schemars(with = "u32", range(min = 1, max = 1000))]
    pub max: Spanned<i64>,
    /// Target average CPU utilisation, percent of the request. Default 70.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    pub cpu_percent: Option<Spanned<i64>>,
}

/// `[services.<name>.resources]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ResourcesSpec {
    /// CPU request, e.g. `100m`. Default `100m`.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = CPU))]
    pub cpu: Option<Spanned<String>>,
    /// Memory request, e.g. `128Mi`. Default `128Mi`.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = MEMORY))]
    pub memory: Option<Spanned<String>>,
    /// CPU limit. Default `500m`.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = CPU))]
    pub cpu_limit: Option<Spanned<String>>,
    /// Memory limit. Default `256Mi`.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = MEMORY))]
    pub memory_limit: Option<Spanned<String>>,
}

/// `[services]`: any service name (a key the user chooses) mapping to a service table.
fn services_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": KEBAB_NAME, "maxLength": 40 },
        "additionalProperties": generator.subschema_for::<ServiceSpec>(),
    })
}

/// `entities`: `PascalCase` names (keys the user chooses), each mapping `snake_case` field
/// names to a field type or a [`FieldTable`], besides the entity's own settings (see
/// [`EntitySpec`]). The table comes first: the manifest checker reads a table against
/// the first branch that is not `null`.
fn entities_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let field = serde_json::json!({
        "anyOf": [
            generator.subschema_for::<FieldTable>(),
            { "type": "string", "pattern": FIELD_TYPE },
        ],
    });
    let key_lists = |what: &str| {
        serde_json::json!({
            "description": what,
            "type": "array",
            "items": {
                "type": "array",
                "minItems": 1,
                "items": { "type": "string", "pattern": SNAKE_NAME },
            },
        })
    };
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": PASCAL_NAME, "maxLength": 40 },
        "additionalProperties": {
            "type": "object",
            "properties": {
                "renamed_from": {
                    "description": "The entity's previous name: its table is renamed (`ALTER TABLE … RENAME TO …`), keeping its rows, instead of a new table being created and the old one retired.",
                    "type": "string",
                    "pattern": PASCAL_NAME,
                },
                "unique": key_lists(UNIQUE_DOC),
                "indexes": key_lists(INDEXES_DOC),
            },
            "propertyNames": { "pattern": SNAKE_NAME, "maxLength": 40 },
            "additionalProperties": field,
        },
    })
}

/// `operations`: `snake_case` names (keys the user chooses), each mapping to an operation.
fn operations_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": SNAKE_NAME, "maxLength": 40 },
        "additionalProperties": generator.subschema_for::<OperationSpec>(),
    })
}

/// An operation's fields: `snake_case` names mapping to field types.
fn fields_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": SNAKE_NAME, "maxLength": 40 },
        "additionalProperties": { "type": "string", "pattern": FIELD_TYPE },
    })
}

/// `events`: `PascalCase` names (keys the user chooses), each mapping `snake_case` field
/// names to field types.
fn types_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    types_by_name(&serde_json::json!({ "type": "string", "pattern": FIELD_TYPE }))
}

/// `PascalCase` type names, each mapping `snake_case` field names to a `field`.
fn types_by_name(field: &serde_json::Value) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": PASCAL_NAME, "maxLength": 40 },
        "additionalProperties": {
            "type": "object",
            "propertyNames": { "pattern": SNAKE_NAME, "maxLength": 40 },
            "additionalProperties": field,
        },
    })
}

/// What `unique` on an entity says (also the JSON Schema's description).
const UNIQUE_DOC: &str = "Keys over several fields, each a list of field names (`[[\"order_id\", \"kind\"]]`): no two records may hold the same values in all of them (a unique index; a request that would store a second one is refused with 409, naming it). One field alone takes `unique = true` instead.";
/// What `indexes` on an entity says.
const INDEXES_DOC: &str = "Indexes over one or more fields, each a list of field names in index order (`[[\"customer_id\", \"placed_at\"]]`), for the queries you write by hand.";

/// `[services.<name>.entities.<Entity>]`: the fields of one entity, by name, in manifest
/// order, and its own settings, whose keys (`renamed_from`, `unique`, `indexes`) no field may
/// take.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntitySpec {
    /// The entity's previous name: its table is renamed, keeping its rows, instead of a new
    /// table being created and the old one retired.
    pub renamed_from: Option<Spanned<String>>,
    pub fields: IndexMap<Spanned<String>, Spanned<FieldSpec>>,
    /// See [`UNIQUE_DOC`]; the span is the whole key list's.
    pub unique: Vec<Spanned<Vec<Spanned<String>>>>,
    /// See [`INDEXES_DOC`].
    pub indexes: Vec<Spanned<Vec<Spanned<String>>>>,
}

impl Serialize for EntitySpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        if let Some(old) = &self.renamed_from {
            map.serialize_entry("renamed_from", old)?;
        }
        for (name, field) in &self.fields {
            map.serialize_entry(name, field)?;
        }
        if !self.unique.is_empty() {
            map.serialize_entry("unique", &self.unique)?;
        }
        if !self.indexes.is_empty() {
            map.serialize_entry("indexes", &self.indexes)?;
        }
        map.end()
    }
}

/// The settings are read by key (`unique` and `indexes` hold lists of field lists; reading
/// each value as its key says keeps toml's spans inside it); every other key is a field.
impl<'de> Deserialize<'de> for EntitySpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EntitySpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of fields")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<EntitySpec, A::Error> {
                let mut entity = EntitySpec::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.get_ref().as_str() {
                        "renamed_from" => entity.renamed_from = Some(map.next_value()?),
                        "unique" => entity.unique = map.next_value()?,
                        "indexes" => entity.indexes = map.next_value()?,
                        // TOML itself refuses a key written twice.
                        _ => {
                            let field = map.next_value()?;
                            entity.fields.insert(key, field);
                        }
                    }
                }
                Ok(entity)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// One entity field as written: its type alone (`"int32"`), or a [`FieldTable`].
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum FieldSpec {
    Type(String),
    Table(Box<FieldTable>),
}

/// `score = { type = "int32", default = 0, renamed_from = "points" }`: a field with what
/// its column needs when the manifest changes under stored rows.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct FieldTable {
    /// The field type, as in the short form (`"int32"`, `"enum(a, b)"`, `"text?"`).
    #[serde(rename = "type")]
    #[schemars(with = "String", regex(pattern = FIELD_TYPE))]
    pub ty: Spanned<String>,
    /// The value rows that exist before the field was added take. A required field added to
    /// an entity that already has a table needs one.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<Spanned<toml::Value>>,
    /// The field's previous name: its column is renamed, keeping its data, instead of a new
    /// column being added and the old one retired.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = SNAKE_NAME))]
    pub renamed_from: Option<Spanned<String>>,
    /// Owned by the server: never accepted from clients (REST refuses it with 422, gRPC
    /// ignores it), kept on update, set by the `default` on create and by hooks. A required one
    /// needs a `default`.
    #[serde(default)]
    pub read_only: bool,
    /// No two rows may hold the same value: a unique index, and a request that would store a
    /// second one is refused (409, naming the index). Not for lists.
    #[serde(default)]
    pub unique: bool,
    /// Lists filter by this field: an index on its column, `?<field>=<value>` on the REST list
    /// and an optional field of the gRPC list request, matching records that hold exactly that
    /// value. A `ref(…)` field is filterable without it. Not for lists, `float64` or
    /// `timestamp`.
    #[serde(default)]
    pub filter: bool,
    /// For an enum field: removed values, each with the value stored rows that hold it take
    /// instead (`replaced_values = { on_hold = "pending" }`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub replaced_values: IndexMap<Spanned<String>, Spanned<String>>,
}

impl FieldSpec {
    /// The type as written, with the span of its text: the whole value in the short form,
    /// the `type` value in the table form.
    pub(crate) fn type_written(field: &Spanned<FieldSpec>) -> Spanned<String> {
        match field.get_ref() {
            FieldSpec::Type(ty) => Spanned::new(field.span(), ty.clone()),
            FieldSpec::Table(table) => table.ty.clone(),
        }
    }

    /// The table form's settings, if written that way.
    pub(crate) fn table(&self) -> Option<&FieldTable> {
        match self {
            FieldSpec::Type(_) => None,
            FieldSpec::Table(table) => Some(table),
        }
    }
}

/// A string is the short form, a table the long one; toml keeps the spans inside the table
/// because its values are read straight from toml's own map, not buffered as `untagged`
/// would.
impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FieldSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field type or a table with `type`")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<FieldSpec, E> {
                Ok(FieldSpec::Type(value.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<FieldSpec, A::Error> {
                Err(serde::de::Error::custom(
                    "a field is a type or a table with `type`, not a list; an entity's lists are `unique` and `indexes`",
                ))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<FieldSpec, A::Error> {
                FieldTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|t| FieldSpec::Table(Box::new(t)))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
