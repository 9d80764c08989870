//! What templates see. Every template gets the same top-level keys: `workspace` (project,
//! gateway, broker, deploy and CI settings), `tool` (name and version), and `service` when it
//! renders one service. Workspace-wide templates also get `workspace.services` and `mermaid`;
//! per-service templates get `peers` and `proto_peers`, the services this one calls or
//! listens to, instead of the whole list, so rendering stays linear in the number of services
//! (`tests/integration/scale.rs` holds it to that). Migration files also get `migration`, and
//! the gateway, rendered once per deploy flavour, `gateway` ([`GatewayView`]).
//!
//! Every choice a template makes is answered here, once, as a boolean or a ready string
//! (`service.uses_postgres`, `workspace.uses_nats`, `gateway.is_local`, ...): templates
//! loop and branch on these and never compare the manifest's strings themselves.

use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Serialize;

use crate::model::access::{Access, Grant};
use crate::model::types::Scalar;
use crate::model::{Auth, BaseType, Broker, CiProvider, Database, Deploy, Field, Gateway, Project, Service, Workspace};

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

const TOOL: Tool = Tool {
    name: "fleetwright",
    version: env!("CARGO_PKG_VERSION"),
};

/// The workspace without its services, with the facts about its settings templates branch on.
#[derive(Serialize)]
struct Settings<'a> {
    project: &'a Project,
    gateway: &'a Gateway,
    /// The token issuer, under `[auth]`.
    auth: Option<&'a Auth>,
    broker: Broker,
    deploy: &'a Deploy,
    ci: &'a [CiProvider],
    /// Under `[auth]`: the development key set on one line, which services run by `dev.sh` and
    /// compose trust (`AUTH_JWKS`), as their gateways do.
    dev_jwks: Option<String>,
    /// NATS carries events: every service gets `NATS_URL`, and compose, Kubernetes (dev) and
    /// `dev.sh` run a NATS server.
    uses_nats: bool,
    /// The host of `project.registry` (`ghcr.io`, `registry.example.com:5000`), which CI logs
    /// in to.
    registry_host: &'a str,
    /// The registry is GitHub's (`project.registry` starts with `ghcr.io`): CI pushes with the
    /// workflow's own token instead of registry secrets.
    registry_is_ghcr: bool,
}

fn settings(workspace: &Workspace) -> Settings<'_> {
    let registry = workspace.project.registry.as_str();
    Settings {
        project: &workspace.project,
        gateway: &workspace.gateway,
        auth: workspace.auth.as_ref(),
        dev_jwks: workspace.auth.as_ref().map(|_| crate::devkey::jwks_line()),
        broker: workspace.broker,
        deploy: &workspace.deploy,
        ci: &workspace.ci,
        uses_nats: workspace.broker == Broker::Nats,
        registry_host: registry.split('/').next().unwrap_or(registry),
        registry_is_ghcr: registry.starts_with("ghcr.io"),
    }
}

/// A service as templates see it: the model's service, plus the facts about it that
/// templates branch on.
#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)] // independent facts a template branches on, not a state machine
struct ServiceView<'a> {
    #[serde(flatten)]
    service: &'a Service,
    /// It has a database of either kind (`DATABASE_URL` is set).
    has_database: bool,
    /// Its database is PostgreSQL (a database server runs beside it).
    uses_postgres: bool,
    /// Its database is SQLite: one file on one volume, so a single pod in Kubernetes.
    uses_sqlite: bool,
    /// It has entities (CRUD endpoints and a store).
    has_entities: bool,
    /// It has entities or operations, so rpcs in its proto and a REST API of its own.
    has_api: bool,
    /// Its gRPC API is reachable through the gateway: it has a route and entities.
    exposes_grpc: bool,
    /// Its Kubernetes network policy allows ingress: it has a route (the gateway calls it) or
    /// other services call it.
    has_ingress: bool,
    /// It has `autoscale` and can use it (not SQLite): a Kubernetes autoscaler owns its
    /// replica count.
    autoscaled: bool,
    /// Its Kubernetes network policy allows egress: it calls services, has its own PostgreSQL
    /// or uses NATS.
    has_egress: bool,
    /// Index of the egress rule to its PostgreSQL in its network policy (after one per call).
    postgres_egress_rule: usize,
    /// Index of the egress rule to NATS in its network policy (after PostgreSQL's, if any).
    nats_egress_rule: usize,
    /// Its proto imports `google/protobuf/timestamp.proto`: its entities carry timestamps, or
    /// one of its events has a timestamp field.
    proto_imports_timestamp: bool,
    /// The fields of its entities, then of its events, that declare a proto enum, in order.
    proto_enums: Vec<&'a Field>,
    /// What its NATS user may publish (`deploy/nats/nats.conf`), see [`nats_publishes`].
    nats_publishes: Vec<String>,
}

impl<'a> ServiceView<'a> {
    fn new(service: &'a Service, uses_nats: bool, stream: &str) -> Self {
        let uses_postgres = service.database == Database::Postgres;
        let uses_sqlite = service.database == Database::Sqlite;
        let event_fields = || {
            service
                .events
                .iter()
                .flat_map(|e| &e.fields)
                .chain(service.operations.iter().flat_map(operation_fields))
        };
        let postgres_egress_rule = service.calls.len();
        let has_entities = !service.entities.is_empty();
        let has_api = has_entities || !service.operations.is_empty();
        Self {
            has_api,
            has_database: service.database.stores_data(),
            has_entities,
            exposes_grpc: service.exposes_grpc(),
            has_ingress: service.route.is_some() || !service.called_by.is_empty(),
            uses_postgres,
            uses_sqlite,
            autoscaled: service.autoscale.is_some() && !uses_sqlite,
            has_egress: !service.calls.is_empty() || uses_postgres || uses_nats,
            postgres_egress_rule,
            nats_egress_rule: postgres_egress_rule + usize::from(uses_postgres),
            proto_imports_timestamp: has_entities
                || event_fields().any(|f| {
                    matches!(
                        f.ty.base,
                        BaseType::Scalar {
                            scalar: Scalar::Timestamp
                        }
                    )
                }),
            proto_enums: service
                .entities
                .iter()
                .flat_map(|e| &e.fields)
                .chain(event_fields())
                .filter(|f| f.map.enum_name.is_some())
                .collect(),
            nats_publishes: nats_publishes(service, stream),
            service,
        }
    }
}

/// The subjects a service's NATS user may publish to: its own events, and the JetStream API
/// calls of its relay (the stream) and of each of its durable consumers (their dead letters,
/// creation, pulls and acknowledgements), nothing else. Empty for a service without events.
/// The names follow the runtime's (`fleetwright_runtime::events`): the brokers' tests run them.
fn nats_publishes(service: &Service, stream: &str) -> Vec<String> {
    let mut subjects: Vec<String> = service.publishes.iter().map(|e| e.subject.clone()).collect();
    if !service.publishes.is_empty() || !service.subscribes.is_empty() {
        subjects.extend([
            format!("$JS.API.STREAM.INFO.{stream}"),
            format!("$JS.API.STREAM.CREATE.{stream}"),
        ]);
    }
    if !service.subscribes.is_empty() {
        subjects.extend([
            format!("$JS.API.STREAM.INFO.{stream}_DEAD_LETTER"),
            format!("$JS.API.STREAM.CREATE.{stream}_DEAD_LETTER"),
        ]);
    }
    for event in &service.subscribes {
        let durable = &event.durable;
        subjects.extend([
            format!("dead-letter.{}", event.subject),
            format!("$JS.API.CONSUMER.INFO.{stream}.{durable}"),
            format!("$JS.API.CONSUMER.CREATE.{stream}.{durable}"),
            format!("$JS.API.CONSUMER.CREATE.{stream}.{durable}.>"),
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"),
            format!("$JS.ACK.{stream}.{durable}.>"),
        ]);
    }
    subjects
}

/// The fields of an operation's input and output messages.
fn operation_fields(operation: &crate::model::Operation) -> impl Iterator<Item = &Field> {
    operation.messages().flat_map(|m| &m.fields)
}

/// The whole workspace, plus facts about its services that workspace-wide templates branch
/// on, answered once here rather than by filtering `workspace.services` in every template.
#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)] // independent facts a template branches on, not a state machine
struct WholeWorkspace<'a> {
    #[serde(flatten)]
    settings: Settings<'a>,
    /// Services in manifest order.
    services: Vec<ServiceView<'a>>,
    /// Some service keeps its data in PostgreSQL.
    uses_postgres: bool,
    /// Something runs beside the services, with credentials of its own: a PostgreSQL or NATS.
    has_backing_services: bool,
    /// Some service has a gateway route.
    has_routes: bool,
    /// Some service with a gateway route has entities, so a gRPC API behind the gateway.
    has_grpc_routes: bool,
    /// Each service's gRPC port by name, for addressing the services another one calls
    /// without a loop over every service per call.
    grpc_ports: std::collections::BTreeMap<&'a str, u16>,
    /// The first service with test doubles of a callee, for the README's example of a test
    /// that uses one.
    fake_example: Option<FakeExample<'a>>,
}

/// A service, a service it calls with entities, and that callee's first entity.
#[derive(Serialize)]
struct FakeExample<'a> {
    caller: &'a Service,
    callee: &'a Service,
    entity: &'a crate::model::Entity,
}

fn fake_example(workspace: &Workspace) -> Option<FakeExample<'_>> {
    workspace.services.iter().find_map(|caller| {
        let callee = grpc_peers(workspace, caller).next()?;
        Some(FakeExample {
            caller,
            callee,
            entity: callee.entities.first()?,
        })
    })
}

fn whole(workspace: &Workspace) -> WholeWorkspace<'_> {
    let settings = settings(workspace);
    let services = &workspace.services;
    let uses_postgres = services.iter().any(|s| s.database == Database::Postgres);
    WholeWorkspace {
        services: services
            .iter()
            .map(|s| ServiceView::new(s, settings.uses_nats, &workspace.project.stream))
            .collect(),
        has_backing_services: uses_postgres || settings.uses_nats,
        settings,
        uses_postgres,
        has_routes: services.iter().any(|s| s.route.is_some()),
        has_grpc_routes: services.iter().any(Service::exposes_grpc),
        grpc_ports: services.iter().map(|s| (s.name.as_str(), s.grpc_port)).collect(),
        fake_example: fake_example(workspace),
    }
}

/// Context for a workspace-wide template.
pub fn for_workspace(workspace: &Workspace) -> Value {
    context! {
        workspace => Serde(whole(workspace)),
        tool => Serde(TOOL),
        mermaid => crate::model::graph::mermaid(workspace),
    }
}

/// The part of a per-service context shared by all services: built once, and shared by
/// reference count (a template value is never copied).
pub fn service_base(workspace: &Workspace) -> Value {
    context! {
        workspace => Serde(settings(workspace)),
        tool => Serde(TOOL),
    }
}

/// Context for a per-service template: `peers` are the services it calls (it gets a gRPC
/// client for each), `proto_peers` every other service whose proto it compiles: the ones it
/// calls and the ones whose events it consumes.
pub fn for_service(base: &Value, workspace: &Workspace, service: &Service) -> Value {
    let peers: Vec<&Service> = service
        .calls
        .iter()
        .filter_map(|name| workspace.service(name))
        .collect();
    let mut proto_peers: Vec<&Service> = peers.clone();
    for event in &service.subscribes {
        if event.service != service.name && !proto_peers.iter().any(|p| p.name == event.service) {
            proto_peers.extend(workspace.service(&event.service));
        }
    }
    context! {
        service => Serde(ServiceView::new(service, workspace.broker == Broker::Nats, &workspace.project.stream)),
        rust => Serde(RustService::new(service, has_fakes(workspace, service), workspace.auth.is_some())),
        peers => Serde(peers),
        grpc_peers => Serde(grpc_peers(workspace, service).collect::<Vec<_>>()),
        proto_peers => Serde(proto_peers),
        ..base.clone()
    }
}

/// The services `service` calls that have a gRPC API (entities or operations): it gets a client of each
/// (`src/clients.rs`) and, for its tests, a double (`src/testing.rs`). Templates see them as
/// `grpc_peers`.
fn grpc_peers<'a>(workspace: &'a Workspace, service: &'a Service) -> impl Iterator<Item = &'a Service> {
    service
        .calls
        .iter()
        .filter_map(|name| workspace.service(name))
        .filter(|callee| !callee.entities.is_empty() || !callee.operations.is_empty())
}

/// Some service it calls has a gRPC API, so it gets a test double of that service
/// (`src/testing.rs`, behind its `testing` feature).
pub(crate) fn has_fakes(workspace: &Workspace, service: &Service) -> bool {
    grpc_peers(workspace, service).next().is_some()
}

/// What a Rust service crate's templates branch on beyond what every template sees on
/// `service`, decided once here.
#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)] // independent facts the templates branch on
struct RustService<'a> {
    /// It writes events to its outbox (and runs the relay).
    publishes: bool,
    /// It consumes events (and records them in its inbox).
    subscribes: bool,
    /// It has test doubles of the services it calls ([`has_fakes`]).
    has_fakes: bool,
    /// Some entity field is `unique`: its tests need samples that differ.
    has_unique_fields: bool,
    /// Some entity has a filter its tests can set (not unique, not read-only): they use
    /// `testing::query_value`.
    has_filter_tests: bool,
    /// Some entity's filter test makes a fresh value with `testing::unique_like` (its first
    /// settable filter is no reference).
    filter_tests_unique_like: bool,
    /// Features of the runtime crate it needs.
    runtime_features: Vec<&'static str>,
    /// Every enum type its entities and events use, each once.
    enums: Vec<EnumType<'a>>,
    /// `Order, OrderInput, ...`: what `use crate::model::{...}` imports, sorted as rustfmt sorts.
    model_imports: Vec<String>,
    /// `Text as _, Wire, ...`: what `grpc.rs` imports from the runtime's codec.
    grpc_codec: Vec<String>,
    /// `model_imports` and the filter of each entity that has one (`OrderLineFilter`): what
    /// the list paths (`app.rs`, `store.rs`, `http.rs`) import.
    list_imports: Vec<String>,
    /// Some entity filters its lists: the gRPC list requests have optional fields.
    has_filters: bool,
    /// Under `[auth]`, the policy of each of its REST routes and gRPC methods, which the
    /// service checks itself ([`AccessTables`]).
    access: Option<AccessTables>,
    /// Per entity, in order: its owner rule, which its store enforces.
    owners: Vec<Option<OwnerView>>,
    /// Some owner rule exempts roles or scopes (the store uses `Grant`).
    owners_grant: bool,
}

/// An entity's owner rule as its store applies it.
#[derive(Serialize)]
struct OwnerView {
    /// The owner field: `customer_id`.
    field: String,
    /// What is exempt, as a Rust slice of `auth::Grant`: `&[Grant::Role("admin")]`.
    any_owner: String,
    /// How the field's value reads as a subject: `.to_string()` after a UUID, nothing after a
    /// string.
    as_subject: &'static str,
    /// What is exempt, in words for the docs (``role `admin` ``); empty when nothing is.
    exempt: String,
    /// The roles, then the scopes, of the service's policies that `any_owner` does not exempt:
    /// what a caller holds in its tests who reaches every route but only their own records.
    member_roles: Vec<String>,
    member_scopes: Vec<String>,
}

impl OwnerView {
    /// The owner rule of the `i`th entity of `service`, if it has one; `access` gives the roles
    /// and scopes its tests' callers hold.
    fn new(service: &Service, i: usize, access: Option<&AccessTables>) -> Option<Self> {
        let owner = service.access.as_ref()?.entities[i].owner.as_ref()?;
        let field = service.entities[i].fields.iter().find(|f| f.name == owner.field)?;
        let uuid = matches!(field.ty.base, BaseType::Scalar { scalar: Scalar::Uuid });
        let grants: Vec<String> = owner.any_owner.iter().map(grant_expression).collect();
        let exempt: Vec<String> = (owner.any_owner.iter())
            .map(|grant| match grant {
                Grant::Role(role) => format!("role `{role}`"),
                Grant::Scope(scope) => format!("scope `{scope}`"),
            })
            .collect();
        let (roles, scopes) = access.map(|a| (&a.roles[..], &a.scopes[..])).unwrap_or_default();
        let held = |grant: Grant| !owner.any_owner.contains(&grant);
        Some(Self {
            field: owner.field.clone(),
            any_owner: format!("&[{}]", grants.join(", ")),
            as_subject: if uuid { ".to_string()" } else { "" },
            exempt: exempt.join(" or "),
            member_roles: roles
                .iter()
                .filter(|r| held(Grant::Role((*r).clone())))
                .cloned()
                .collect(),
            member_scopes: scopes
                .iter()
                .filter(|s| held(Grant::Scope((*s).clone())))
                .cloned()
                .collect(),
        })
    }
}

/// The policy of every REST route and gRPC method of a service under `[auth]`, as Rust
/// expressions of the runtime's `auth::Policy`: the same policies the gateway checks, so a
/// request that reaches the service without passing the gateway meets them too. A service the
/// gateway does not route takes `Internal` everywhere (any caller with a valid token: another
/// service passing its caller on).
#[derive(Serialize)]
struct AccessTables {
    /// `(method, route template, policy)`.
    rest: Vec<(String, String, String)>,
    /// `(path, policy)`: `/shop.orders.v1.OrdersService/GetOrder`.
    grpc: Vec<(String, String)>,
    /// Every role, then every scope, any of its policies or owner rules names: what its own
    /// tests' token holds.
    roles: Vec<String>,
    scopes: Vec<String>,
    /// Some policy names a role or a scope (the tables use `Grant`).
    grants: bool,
    /// A REST route that needs a token, and one that needs a role or scope, with a UUID for
    /// each `{field}`: what its own tests call without them.
    protected: Option<(String, String)>,
    role_guarded: Option<(String, String)>,
}

impl AccessTables {
    fn new(service: &Service) -> Self {
        let internal = crate::model::Actions {
            read: Access::Internal,
            create: Access::Internal,
            update: Access::Internal,
            delete: Access::Internal,
            owner: None,
        };
        let actions = |i: usize| service.access.as_ref().map_or(&internal, |a| &a.entities[i]);
        let operation = |i: usize| service.access.as_ref().map_or(&Access::Internal, |a| &a.operations[i]);
        let api = format!("/{}.{}Service", service.proto_package, service.pascal);
        // (method, route template, policy) and (rpc path, policy), as the model has them.
        let mut rest: Vec<(&str, String, &Access)> = vec![("GET", "/openapi.json".to_owned(), &Access::Public)];
        let mut grpc: Vec<(String, &Access)> = Vec::new();
        let mut named: Vec<&Grant> = Vec::new();
        for (i, entity) in service.entities.iter().enumerate() {
            let actions = actions(i);
            let item = format!("{}/{{id}}", entity.http_path);
            rest.extend([
                ("GET", entity.http_path.clone(), &actions.read),
                ("POST", entity.http_path.clone(), &actions.create),
                ("GET", item.clone(), &actions.read),
                ("PUT", item.clone(), &actions.update),
                ("PATCH", item.clone(), &actions.update),
                ("DELETE", item, &actions.delete),
            ]);
            rest.extend(
                entity
                    .parent_lists
                    .iter()
                    .map(|list| ("GET", list.path.clone(), &actions.read)),
            );
            grpc.extend([
                (format!("{api}/Create{}", entity.name), &actions.create),
                (format!("{api}/Get{}", entity.name), &actions.read),
                (format!("{api}/List{}", entity.plural_pascal), &actions.read),
                (format!("{api}/Update{}", entity.name), &actions.update),
                (format!("{api}/Delete{}", entity.name), &actions.delete),
            ]);
            named.extend(actions.owner.iter().flat_map(|owner| &owner.any_owner));
        }
        for (i, op) in service.operations.iter().enumerate() {
            rest.push((op.method.as_str(), op.http_path.clone(), operation(i)));
            grpc.push((format!("{api}/{}", op.pascal), operation(i)));
        }
        named.extend(rest.iter().flat_map(|(_, _, access)| grants_of(access)));
        let (mut roles, mut scopes) = (Vec::new(), Vec::new());
        for grant in named {
            let (list, name) = match grant {
                Grant::Role(role) => (&mut roles, role),
                Grant::Scope(scope) => (&mut scopes, scope),
            };
            if !list.contains(name) {
                list.push(name.clone());
            }
        }
        // A route with a `{field}` segment is called with a UUID there.
        let example = |(method, path, _): &(&str, String, &Access)| {
            let path: Vec<&str> = (path.split('/'))
                .map(|segment| {
                    if segment.starts_with('{') {
                        "0190a6c4-0000-7000-8000-000000000001"
                    } else {
                        segment
                    }
                })
                .collect();
            ((*method).to_owned(), path.join("/"))
        };
        Self {
            grants: rest.iter().any(|(_, _, access)| !grants_of(access).is_empty()),
            protected: rest
                .iter()
                .find(|(_, _, access)| **access != Access::Public)
                .map(example),
            role_guarded: rest
                .iter()
                .find(|(_, _, access)| !grants_of(access).is_empty())
                .map(example),
            rest: (rest.iter())
                .map(|(method, path, access)| ((*method).to_owned(), path.clone(), policy_expression(access)))
                .collect(),
            grpc: grpc
                .iter()
                .map(|(path, access)| (path.clone(), policy_expression(access)))
                .collect(),
            roles,
            scopes,
        }
    }
}

/// The roles and scopes a policy names.
fn grants_of(access: &Access) -> &[Grant] {
    match access {
        Access::AnyOf(grants) => grants,
        Access::Public | Access::Authenticated | Access::Internal => &[],
    }
}

/// A policy as a Rust expression of `fleetwright_runtime::auth::Policy`.
fn policy_expression(access: &Access) -> String {
    match access {
        Access::Public => "Policy::Public".to_owned(),
        Access::Authenticated => "Policy::Authenticated".to_owned(),
        Access::Internal => "Policy::Internal".to_owned(),
        Access::AnyOf(grants) => {
            let grants: Vec<String> = grants.iter().map(grant_expression).collect();
            format!("Policy::AnyOf(&[{}])", grants.join(", "))
        }
    }
}

/// A grant as a Rust expression of `fleetwright_runtime::auth::Grant`.
fn grant_expression(grant: &Grant) -> String {
    match grant {
        Grant::Role(role) => format!("Grant::Role({role:?})"),
        Grant::Scope(scope) => format!("Grant::Scope({scope:?})"),
    }
}

#[derive(Serialize)]
struct EnumType<'a> {
    name: &'a str,
    /// `Order.status`
    owner: String,
    values: &'a [crate::model::EnumValue],
}

impl<'a> RustService<'a> {
    fn new(service: &'a Service, has_fakes: bool, authorised: bool) -> Self {
        let has_database = service.database.stores_data();
        let publishes = service.messaging && !service.publishes.is_empty();
        let subscribes = service.messaging && !service.subscribes.is_empty();
        let mut runtime_features = vec!["otel"];
        if has_database {
            runtime_features.push("database");
        }
        if service.messaging {
            runtime_features.push("events");
        }
        let has_api = !service.entities.is_empty() || !service.operations.is_empty();
        let access = (authorised && has_api).then(|| AccessTables::new(service));
        let owners: Vec<Option<OwnerView>> = (0..service.entities.len())
            .map(|i| OwnerView::new(service, i, access.as_ref()))
            .collect();
        if access.is_some() {
            runtime_features.push("auth");
        }
        let operation_messages = service.operations.iter().flat_map(crate::model::Operation::messages);
        let holders = service
            .entities
            .iter()
            .map(|e| (e.name.as_str(), &e.fields))
            .chain(service.events.iter().map(|e| (e.name.as_str(), &e.fields)))
            .chain(operation_messages.map(|m| (m.proto.as_str(), &m.fields)));
        let mut enums: Vec<EnumType<'a>> = Vec::new();
        for (holder, fields) in holders {
            for field in fields {
                if let Some(name) = &field.map.enum_name
                    && !enums.iter().any(|e| e.name == name)
                {
                    enums.push(EnumType {
                        name,
                        owner: format!("{holder}.{}", field.name),
                        values: &field.enum_values,
                    });
                }
            }
        }
        let mut model_imports: Vec<String> = service
            .entities
            .iter()
            .flat_map(|e| [e.name.clone(), format!("{}Input", e.name)])
            .collect();
        let mut list_imports = model_imports.clone();
        list_imports.extend(
            service
                .entities
                .iter()
                .filter(|e| !e.filters.is_empty())
                .map(|e| format!("{}Filter", e.name)),
        );
        model_imports.sort_by(|a, b| super::rust_layout::rustfmt_order(a, b));
        list_imports.sort_by(|a, b| super::rust_layout::rustfmt_order(a, b));
        Self {
            list_imports,
            has_filters: service.entities.iter().any(|e| !e.filters.is_empty()),
            publishes,
            subscribes,
            has_fakes,
            has_unique_fields: service.entities.iter().any(|e| !e.sample_unique.is_empty()),
            has_filter_tests: service
                .entities
                .iter()
                .flat_map(|e| &e.fields)
                .any(|f| f.filter && !f.unique && f.read_only.is_none()),
            filter_tests_unique_like: service.entities.iter().any(|e| {
                e.fields
                    .iter()
                    .find(|f| f.filter && !f.unique && f.read_only.is_none())
                    .is_some_and(|f| !matches!(f.ty.base, crate::model::BaseType::Ref { .. }))
            }),
            runtime_features,
            enums,
            model_imports,
            grpc_codec: grpc_codec(service),
            access,
            owners_grant: owners.iter().flatten().any(|owner| owner.any_owner != "&[]"),
            owners,
        }
    }
}

/// What `grpc.rs` imports from `fleetwright_runtime::codec`, in rustfmt's order: the
/// conversions its entities need both ways, its operations' inputs from protobuf and their
/// outputs to it.
fn grpc_codec(service: &Service) -> Vec<String> {
    use crate::model::types::WireShape;
    let mut names = std::collections::BTreeSet::new();
    let from = |wire| match wire {
        WireShape::One => "Wire",
        WireShape::Some => "from_some_pb",
        WireShape::Option => "from_option_pb",
        WireShape::List => "from_list_pb",
    };
    let to = |wire| match wire {
        WireShape::One => "Wire",
        WireShape::Some => "some_pb",
        WireShape::Option => "option_pb",
        WireShape::List => "list_pb",
    };
    if !service.entities.is_empty() {
        names.extend(["Text as _", "Wire", "some_pb"]);
        // A list request's filters are optional fields.
        if service.entities.iter().any(|e| !e.filters.is_empty()) {
            names.insert("from_option_pb");
        }
        for field in service.entities.iter().flat_map(|e| &e.fields) {
            names.extend([from(field.map.wire), to(field.map.wire)]);
        }
    }
    for operation in &service.operations {
        names.extend(operation.input.fields.iter().map(|f| from(f.map.wire)));
        names.extend(operation.output.iter().flat_map(|m| &m.fields).map(|f| to(f.map.wire)));
    }
    let mut names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    names.sort_by(|a, b| super::rust_layout::rustfmt_order(a, b));
    names
}

/// How the gateway reaches the services: the gateway config is rendered once per flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum GatewayFlavour {
    /// In docker compose: upstreams by their compose service names.
    Compose,
    /// On a developer machine (`dev.sh`): upstreams on 127.0.0.1.
    Local,
    /// In Kubernetes: upstreams by their cluster DNS names.
    Kubernetes,
    /// The Kubernetes `dev` overlay's replacement of it under `[auth]`: the same, trusting the
    /// development key instead of the issuer's key set.
    #[serde(rename = "kubernetes dev")]
    KubernetesDev,
}

impl GatewayFlavour {
    /// Whether its gateway trusts the development key of `fleetwright dev token` rather than
    /// the issuer's `jwks_uri`: every flavour but the Kubernetes base (which `prod` uses).
    pub(crate) fn trusts_dev_key(self) -> bool {
        self != GatewayFlavour::Kubernetes
    }
}

/// The gateway configuration of one flavour, as `gateway`.
#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)] // independent facts a template branches on, not a state machine
struct GatewayView {
    flavour: GatewayFlavour,
    is_local: bool,
    is_kubernetes: bool,
    /// Envoy exports traces over OTLP/HTTP (to Jaeger in compose, to 127.0.0.1:4318
    /// locally); in Kubernetes it has no collector to send them to.
    traces: bool,
    /// The address Envoy's listeners bind: loopback on a developer machine, every interface
    /// in a container.
    listen: &'static str,
    /// Where the OTLP/HTTP trace receiver is.
    otlp_host: &'static str,
    /// Envoy's discovery type for upstream hosts: `STATIC` for addresses, `STRICT_DNS` for names.
    cluster_type: &'static str,
    /// One upstream cluster per routed service and protocol, in manifest order.
    clusters: Vec<Cluster>,
    /// Every route, in match order, with its policy.
    routes: Vec<crate::model::gateway::Route>,
    /// Token checks, under `[auth]`.
    jwt: Option<JwtView>,
}

/// How the gateway verifies tokens.
#[derive(Serialize)]
struct JwtView {
    /// The key set inline (the development key's, as JSON), when this flavour trusts it.
    local_jwks: Option<String>,
    /// Otherwise the issuer's key set, fetched through the `jwks` cluster.
    remote: Option<crate::model::JwksUri>,
}

/// An Envoy upstream cluster: one service's REST or gRPC port.
#[derive(Serialize)]
struct Cluster {
    /// `orders_http`, `orders_grpc`
    name: String,
    /// It speaks gRPC (HTTP/2, gRPC health checks); otherwise REST.
    grpc: bool,
    /// The service's address as this flavour reaches it.
    host: String,
    port: u16,
}

impl GatewayView {
    fn new(workspace: &Workspace, flavour: GatewayFlavour) -> Self {
        let is_local = flavour == GatewayFlavour::Local;
        let is_kubernetes = matches!(flavour, GatewayFlavour::Kubernetes | GatewayFlavour::KubernetesDev);
        let host = |service: &Service| match flavour {
            GatewayFlavour::Local => "127.0.0.1".to_owned(),
            GatewayFlavour::Kubernetes | GatewayFlavour::KubernetesDev => {
                format!("{}.{}.svc.cluster.local", service.name, workspace.deploy.namespace)
            }
            GatewayFlavour::Compose => service.name.clone(),
        };
        let mut clusters = Vec::new();
        for service in workspace.services.iter().filter(|s| s.route.is_some()) {
            clusters.push(Cluster {
                name: format!("{}_http", service.snake),
                grpc: false,
                host: host(service),
                port: service.http_port,
            });
            if service.exposes_grpc() {
                clusters.push(Cluster {
                    name: format!("{}_grpc", service.snake),
                    grpc: true,
                    host: host(service),
                    port: service.grpc_port,
                });
            }
        }
        Self {
            flavour,
            is_local,
            is_kubernetes,
            traces: !is_kubernetes,
            listen: if is_local { "127.0.0.1" } else { "0.0.0.0" },
            otlp_host: if is_local { "127.0.0.1" } else { "jaeger" },
            cluster_type: if is_local { "STATIC" } else { "STRICT_DNS" },
            clusters,
            routes: crate::model::gateway::routes(workspace),
            jwt: workspace.auth.as_ref().map(|auth| {
                if flavour.trusts_dev_key() {
                    JwtView {
                        local_jwks: Some(crate::devkey::jwks()),
                        remote: None,
                    }
                } else {
                    JwtView {
                        local_jwks: None,
                        remote: Some(auth.jwks.clone()),
                    }
                }
            }),
        }
    }
}

/// Context for the gateway config of one flavour: the workspace-wide context plus `gateway`.
pub(crate) fn for_gateway(whole: &Value, workspace: &Workspace, flavour: GatewayFlavour) -> Value {
    context! { gateway => Serde(GatewayView::new(workspace, flavour)), ..whole.clone() }
}
