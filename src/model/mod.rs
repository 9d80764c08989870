//! The meaning of a parsed manifest: its rules ([`validate`], with the name rules in
//! [`names`]), then the resolved [`Workspace`] with every default applied, every name derived,
//! every port assigned ([`resolve`]); [`load`] runs the manifest stage and both. It never
//! renders or writes. Templates read only this (through `render::context`), so all decisions
//! are made here, in Rust, where they can be tested.

pub(crate) mod access;
pub(crate) mod choices;
pub(crate) mod defaults;
pub(crate) mod gateway;
pub(crate) mod graph;
pub(crate) mod load;
pub(crate) mod migrations;
pub(crate) mod names;
pub(crate) mod recover;
pub(crate) mod resolve;
pub(crate) mod stabilize;
pub(crate) mod state;
pub(crate) mod store_sql;
pub(crate) mod types;
pub(crate) mod validate;

use serde::Serialize;

pub use access::{Access, Auth, Grant, JwksUri};
pub(crate) use choices::{Broker, CiProvider, Closed, Database, DeployTarget, Language};
pub use load::{Loaded, load, load_source};
pub use migrations::DropRequest;
pub use recover::{Inconsistency, InconsistencyKind};
pub(crate) use resolve::resolve;
pub use stabilize::stabilize;
pub use state::State;
pub(crate) use types::{BaseType, Mapping, TypeExpr};
pub(crate) use validate::validate;

/// A whole system.
#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub project: Project,
    pub gateway: Gateway,
    /// The token issuer the gateway trusts, when the manifest has `[auth]`.
    pub auth: Option<Auth>,
    pub broker: Broker,
    pub deploy: Deploy,
    /// CI providers, in manifest order.
    pub ci: Vec<CiProvider>,
    /// Services in manifest order.
    pub services: Vec<Service>,
}

impl Workspace {
    pub(crate) fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

impl Service {
    /// Its gRPC API is reachable through the gateway: it has a route and rpcs (entities or
    /// operations), and under `[auth]` its `access` declares `grpc`.
    pub(crate) fn exposes_grpc(&self) -> bool {
        self.route.is_some()
            && (!self.entities.is_empty() || !self.operations.is_empty())
            && self.access.as_ref().is_none_or(|a| a.grpc.is_some())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub name: String,
    /// `snake_case` form, for Rust and proto identifiers.
    pub snake: String,
    /// The project's NATS JetStream stream (`SHOP`): upper snake case, holding `<name>.>`.
    pub stream: String,
    pub version: String,
    pub description: String,
    /// Image registry prefix without a trailing slash, e.g. `ghcr.io/acme`.
    pub registry: String,
    /// Template override directory, relative to the manifest.
    pub templates: Option<String>,
    /// Changes must name the version they are based on (`If-Match`, gRPC `version`).
    pub require_if_match: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gateway {
    pub port: u16,
    pub admin_port: u16,
    /// Port of the listener that serves the gateway's Prometheus metrics: see
    /// [`defaults::metrics_port`].
    pub metrics_port: u16,
    pub request_timeout_ms: u32,
    pub connect_timeout_ms: u32,
    /// The same durations as protobuf `Duration` text (`15s`, `0.500s`), as Envoy wants them.
    pub durations: GatewayDurations,
    pub cors_origins: Vec<String>,
    /// Requests per second each route accepts per gateway replica.
    pub rate_limit: u32,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: u32,
    /// Proxies in front of the gateway trusted to append to `X-Forwarded-For`.
    pub trusted_proxy_hops: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayDurations {
    pub request: String,
    /// Budget of one retried attempt: a third of the request timeout.
    pub per_try: String,
    pub connect: String,
    /// Whole-stream limit: twice the route timeout, so route timeouts fire first.
    pub stream: String,
}

/// Deploy switches, each read by its own templates.
#[derive(Debug, Clone, Serialize)]
#[allow(clippy::struct_excessive_bools)]
pub struct Deploy {
    pub compose: bool,
    pub kubernetes: bool,
    pub namespace: String,
    pub gateway_api: bool,
    pub service_monitor: bool,
}

/// One microservice.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// Kebab-case name as written: crate, DNS and Kubernetes name.
    pub name: String,
    /// `order_items`: Rust module and SQL identifier form.
    pub snake: String,
    /// `OrderItems`: Rust and proto type form.
    pub pascal: String,
    /// `ORDER_ITEMS`: environment variable prefix form.
    pub upper: String,
    pub description: String,
    pub language: Language,
    pub database: Database,
    /// Gateway route prefix, if exposed.
    pub route: Option<String>,
    /// Requests per second each of its gateway routes accepts per gateway replica: its own
    /// `rate_limit`, else the gateway's.
    pub rate_limit: u32,
    /// Who may use it through the gateway, when the workspace has `[auth]` and it a route.
    pub access: Option<ServiceAccess>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub replicas: u32,
    pub autoscale: Option<Autoscale>,
    pub resources: Resources,
    /// Names of the services this one calls, in manifest order.
    pub calls: Vec<String>,
    /// Services that call this one (derived), sorted.
    pub called_by: Vec<String>,
    /// Events this service publishes.
    pub publishes: Vec<EventRef>,
    /// Events this service consumes.
    pub subscribes: Vec<EventRef>,
    /// Whether it talks to the broker: it publishes or consumes events, the workspace has a
    /// broker and the service a database (for its outbox and inbox tables).
    pub messaging: bool,
    pub entities: Vec<Entity>,
    pub events: Vec<Event>,
    /// Operations beyond CRUD, in manifest order.
    pub operations: Vec<Operation>,
    /// Every migration of the service's database, oldest first (filled by `stabilize`).
    pub migrations: Vec<MigrationFile>,
    /// Proto package, e.g. `shop.orders.v1`.
    pub proto_package: String,
    /// Proto file path under `proto/`, e.g. `shop/orders/v1/orders.proto`.
    pub proto_file: String,
    /// Container image without tag, e.g. `ghcr.io/acme/shop-orders`.
    pub image: String,
}

/// The policies of a routed service under `[auth]`, every default applied.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceAccess {
    /// Paths under the route that are no entity's (and methods no action names).
    pub default: Access,
    /// The gRPC API through the gateway; `None`: not routed.
    pub grpc: Option<Access>,
    /// Per entity, in the order of `Service::entities`.
    pub entities: Vec<Actions>,
    /// Per operation, in the order of `Service::operations`.
    pub operations: Vec<Access>,
}

/// The policies of one entity's REST actions.
#[derive(Debug, Clone, Serialize)]
pub struct Actions {
    /// `GET`, `HEAD`
    pub read: Access,
    /// `POST`
    pub create: Access,
    /// `PUT`, `PATCH`
    pub update: Access,
    /// `DELETE`
    pub delete: Access,
    /// Who owns each record, when a caller may reach only their own.
    pub owner: Option<Owner>,
}

/// An entity's owner rule (`owner = "customer_id"`): a caller reaches only the records whose
/// `field` holds their token's subject, unless their token grants one of `any_owner`.
#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    pub field: String,
    pub any_owner: Vec<access::Grant>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    pub cpu_percent: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub cpu: String,
    pub memory: String,
    pub cpu_limit: String,
    pub memory_limit: String,
}

/// An event by its owner: `payments.PaymentCompleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRef {
    pub service: String,
    pub event: String,
    /// NATS subject: `<project>.<service>.<event snake>`.
    pub subject: String,
    /// `order_placed`
    pub snake: String,
    /// The consuming hook, for subscriptions: `on_orders_order_placed`.
    pub handler: String,
    /// Rust module of the owning service: `orders`.
    pub owner_snake: String,
    /// For subscriptions, the JetStream durable consumer: `<subscriber>-<owner>-<event kebab>`
    /// (`payments-orders-order-placed`), one per event because NATS 2.9 takes a single filter
    /// subject per consumer. Empty for published events.
    pub durable: String,
}

/// One migration file of a service.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationFile {
    pub version: u32,
    pub name: String,
    /// `0001_init.sql`
    pub file: String,
    pub sql: String,
}

/// Proto numbers of the columns every entity has.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemNumbers {
    pub id: u32,
    pub created_at: u32,
    pub updated_at: u32,
    /// The optimistic concurrency version.
    pub version: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entity {
    pub name: String,
    pub snake: String,
    /// Proto numbers of `id`, `created_at`, `updated_at`.
    pub system_numbers: SystemNumbers,
    /// Field numbers and names of removed fields, reserved in the proto message.
    pub reserved_numbers: Vec<u32>,
    pub reserved_names: Vec<String>,
    /// SQL table name (snake plural): `order_lines`.
    pub table: String,
    /// Plural kebab for REST paths: `order-lines`.
    pub plural_kebab: String,
    /// Plural, Pascal-cased, for RPC names: `OrderLines`.
    pub plural_pascal: String,
    /// REST collection path: the service's route when the entity is named after it
    /// (`/api/orders` for `Order`), else `<route>/<plural>` (`/api/orders/order-lines`).
    pub http_path: String,
    pub fields: Vec<Field>,
    /// The entity's previous name, when the manifest declares a rename of its table.
    pub renamed_from: Option<EntityRename>,
    /// Names of the fields lists filter by, in field order.
    pub filters: Vec<String>,
    /// The lists of this entity under each entity its `ref(…)` fields name
    /// (`GET /api/orders/{id}/lines`).
    pub parent_lists: Vec<ParentList>,
    /// Its store's SQL for each database (filled by `stabilize`, which knows how each column
    /// is stored).
    pub sql: store_sql::StoreSql,
    /// Its unique keys and indexes over several columns (`unique` and `indexes`), in manifest
    /// order.
    pub keys: Vec<Key>,
    /// The fields generated tests give a fresh value in each sample, so that no two samples
    /// break a unique field or key.
    pub sample_unique: Vec<String>,
}

/// A unique key or an index the manifest declares on an entity.
#[derive(Debug, Clone, Serialize)]
pub struct Key {
    /// The index's name, after PostgreSQL's convention (`payments_order_id_kind_key`,
    /// `orders_customer_id_placed_at_idx`): what a refused write names.
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// An entity's previous name and the table it had (`renamed_from = "Customer"`: `customers`).
#[derive(Debug, Clone, Serialize)]
pub struct EntityRename {
    pub name: String,
    pub table: String,
    /// Where the manifest writes the old name, for schema diagnostics.
    #[serde(skip)]
    pub span: std::ops::Range<usize>,
}

/// The records of an entity whose `ref(Parent)` field names one parent, listed under that
/// parent's item path.
#[derive(Debug, Clone, Serialize)]
pub struct ParentList {
    /// The `ref` field: `order_id`.
    pub field: String,
    /// The parent entity: `Order`.
    pub parent: String,
    /// The parent's snake form, for its `get_…` use case: `order`.
    pub parent_snake: String,
    /// The route: the parent's item path, then the child's plural without the parent's name in
    /// front (`/api/orders/{id}/lines` for `OrderLine` under `Order`); with `-by-<field>` after
    /// it when the child names the same parent in several fields.
    pub path: String,
    /// The last segment of `path`: `lines`.
    pub segment: String,
    /// The handler's and use case's name: `list_order_lines_by_order_id`.
    pub function: String,
    /// The foreign key of the `ref` field on PostgreSQL: `order_lines_order_id_fkey`.
    pub foreign_key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub name: String,
    pub snake: String,
    pub reserved_numbers: Vec<u32>,
    pub reserved_names: Vec<String>,
    pub fields: Vec<Field>,
    /// Who publishes it (the owning service when listed in its `publishes`).
    pub published: bool,
    /// Services subscribed to it, sorted.
    pub subscribers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub ty: TypeExpr,
    /// The type as written in the manifest, normalised (`text?`).
    pub spec: String,
    /// Representation in Rust, protobuf and SQL.
    pub map: Mapping,
    /// A valid JSON value, for generated tests.
    pub sample: String,
    /// Protobuf field number, stable across generations (filled by `stabilize`).
    pub number: u32,
    /// For enum fields: the values with their stable proto numbers.
    pub enum_values: Vec<EnumValue>,
    /// Enum value numbers of removed variants, reserved in the proto enum.
    pub enum_reserved: Vec<u32>,
    /// The manifest's `default`, as an SQL literal: what existing rows take when the column
    /// is added.
    pub default_sql: Option<String>,
    /// The field's previous name, when the manifest declares a rename.
    pub renamed_from: Option<String>,
    /// No two rows may hold the same value (a unique index).
    pub unique: bool,
    /// Lists filter by it (`filter = true`, or a `ref(…)` field): its column has an index.
    pub filter: bool,
    /// Owned by the server: the Rust expression new records start with, when `read_only`.
    pub read_only: Option<String>,
    /// A client may leave it out: the Rust expression of its `default`, which it then takes
    /// (required, single-valued fields a client sets, whose default has a Rust form).
    pub api_default: Option<String>,
    /// Removed enum values and the value stored rows holding them take, in manifest order.
    pub replaced_values: Vec<(String, String)>,
    /// Where the manifest names the field and writes its type, for schema diagnostics.
    #[serde(skip)]
    pub name_span: std::ops::Range<usize>,
    #[serde(skip)]
    pub type_span: std::ops::Range<usize>,
}

/// A use case beyond CRUD (`place_order`): one gRPC rpc and one REST endpoint, whose handler
/// the user writes (a hook with a default that answers "not implemented").
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// As written: `place_order`; the hook and the Rust method.
    pub name: String,
    /// `PlaceOrder`: the rpc, and the stem of its messages and Rust types.
    pub pascal: String,
    pub description: String,
    /// What the caller sends: the `<Pascal>Request` message and the `<Pascal>Input` struct.
    pub input: Message,
    /// What it answers, when it answers fields of its own: `<Pascal>Response` and `<Pascal>Output`.
    pub output: Option<Message>,
    /// The entity it answers (`Order`), when it answers one or a page of them.
    pub output_entity: Option<EntityRef>,
    /// It answers a page of `output_entity` (its input then has `page_size` and `page_token`).
    pub output_page: bool,
    pub read_only: bool,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The route, `{field}` segments included: `/api/orders/{id}/place`.
    pub http_path: String,
    /// Input fields the path names, in path order.
    pub path_fields: Vec<String>,
    /// Where the input fields its path does not name come from.
    pub rest_of_input: RestOfInput,
    /// The Rust type its hook answers: `crate::model::Order`,
    /// `Page<crate::model::Order>` (`fleetwright_runtime::db::Page`), `crate::model::QuoteOutput`
    /// or `()`.
    pub rust_output: String,
    /// Events of the service it publishes.
    pub publishes: Vec<String>,
    /// When it answers an entity, a page of them or nothing (not fields of its own, which
    /// `output` numbers): the numbers of its response message's members (`order`; `items`,
    /// `next_page_token`), kept in `fleet.lock` like a message's fields (filled by `stabilize`).
    pub response_numbers: std::collections::BTreeMap<String, u32>,
    /// Numbers and names that response message reserves: those of members it no longer has.
    pub response_reserved_numbers: Vec<u32>,
    pub response_reserved_names: Vec<String>,
}

/// Where an operation reads the input fields its path does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RestOfInput {
    /// There are none.
    Nowhere,
    /// A JSON object body (every method but `GET`).
    Body,
    /// The query string (`GET`).
    Query,
}

impl Operation {
    /// Its request message, then its response message when it answers fields of its own: the
    /// messages whose field numbers `fleet.lock` keeps.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        std::iter::once(&self.input).chain(&self.output)
    }

    pub(crate) fn messages_mut(&mut self) -> impl Iterator<Item = &mut Message> {
        std::iter::once(&mut self.input).chain(self.output.as_mut())
    }

    /// The proto messages of its rpc, request then response: both numbered in `fleet.lock`.
    pub fn rpc_messages(&self) -> [String; 2] {
        [format!("{}Request", self.pascal), format!("{}Response", self.pascal)]
    }

    /// The members of its response message when it does not answer fields of its own: the
    /// entity (by its snake name), a page's `items` and `next_page_token`, or none.
    pub(crate) fn response_members(&self) -> Vec<String> {
        match (&self.output, &self.output_entity) {
            (Some(_), _) | (None, None) => Vec::new(),
            (None, Some(_)) if self.output_page => vec!["items".to_owned(), "next_page_token".to_owned()],
            (None, Some(entity)) => vec![entity.snake.clone()],
        }
    }
}

/// The fields of an operation's request or response, numbered like an entity's.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The proto message: `PlaceOrderRequest`.
    pub proto: String,
    /// The Rust struct: `PlaceOrderInput`.
    pub rust: String,
    pub fields: Vec<Field>,
    pub reserved_numbers: Vec<u32>,
    pub reserved_names: Vec<String>,
}

/// An entity of the same service, by its names.
#[derive(Debug, Clone, Serialize)]
pub struct EntityRef {
    pub name: String,
    pub snake: String,
}

/// One value of an enum field.
#[derive(Debug, Clone, Serialize)]
pub struct EnumValue {
    /// As written: `pending`.
    pub name: String,
    /// Rust variant: `Pending`.
    pub pascal: String,
    /// Proto value: `ORDER_STATUS_PENDING`.
    pub proto: String,
    pub number: u32,
}
