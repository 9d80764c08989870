//! What templates see. Every template gets the same top-level keys: `workspace` (project,
//! gateway, broker, deploy and CI settings), `tool` (name and version), and `service` when it
//! renders one service. Workspace-wide templates also get `workspace.services` and `mermaid`;
//! per-service templates get `peers` and `proto_peers`, the services this one calls or
//! listens to, instead of the whole list, so rendering stays linear in the number of services
//! (`tests/integration/scale.rs` holds it to that). Migration files also get `migration`, and
//! the gateway, rendered once per deploy flavour, `gateway_target`.

use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Serialize;

use crate::model::{Broker, CiProvider, Database, Deploy, Gateway, Project, Service, Workspace};

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

const TOOL: Tool = Tool {
    name: "fleetwright",
    version: env!("CARGO_PKG_VERSION"),
};

/// The workspace without its services.
#[derive(Serialize)]
struct Settings<'a> {
    project: &'a Project,
    gateway: &'a Gateway,
    broker: Broker,
    deploy: &'a Deploy,
    ci: &'a [CiProvider],
}

fn settings(workspace: &Workspace) -> Settings<'_> {
    Settings {
        project: &workspace.project,
        gateway: &workspace.gateway,
        broker: workspace.broker,
        deploy: &workspace.deploy,
        ci: &workspace.ci,
    }
}

/// The whole workspace, plus facts about its services that workspace-wide templates branch
/// on, answered once here rather than by filtering `workspace.services` in every template.
#[derive(Serialize)]
struct WholeWorkspace<'a> {
    #[serde(flatten)]
    workspace: &'a Workspace,
    /// Some service keeps its data in PostgreSQL.
    uses_postgres: bool,
    /// Some service has a gateway route.
    has_routes: bool,
    /// Some service with a gateway route has entities, so a gRPC API behind the gateway.
    has_grpc_routes: bool,
    /// Each service's gRPC port by name, for addressing the services another one calls
    /// without a loop over every service per call.
    grpc_ports: std::collections::BTreeMap<&'a str, u16>,
}

fn whole(workspace: &Workspace) -> WholeWorkspace<'_> {
    let services = &workspace.services;
    WholeWorkspace {
        workspace,
        uses_postgres: services.iter().any(|s| s.database == Database::Postgres),
        has_routes: services.iter().any(|s| s.route.is_some()),
        has_grpc_routes: services.iter().any(|s| s.route.is_some() && !s.entities.is_empty()),
        grpc_ports: services.iter().map(|s| (s.name.as_str(), s.grpc_port)).collect(),
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
        service => Serde(service),
        rust => Serde(RustService::new(service)),
        peers => Serde(peers),
        proto_peers => Serde(proto_peers),
        ..base.clone()
    }
}

/// What a Rust service crate's templates branch on, decided once here.
#[derive(Serialize)]
#[allow(clippy::struct_excessive_bools)] // independent facts a template branches on, not a state machine
struct RustService<'a> {
    has_database: bool,
    has_entities: bool,
    /// It writes events to its outbox (and runs the relay).
    publishes: bool,
    /// It consumes events (and records them in its inbox).
    subscribes: bool,
    /// Features of the runtime crate it needs.
    runtime_features: Vec<&'static str>,
    /// Every enum type its entities and events use, each once.
    enums: Vec<EnumType<'a>>,
    /// `Order, OrderInput, ...`: what `use crate::model::{...}` imports, sorted as rustfmt sorts.
    model_imports: Vec<String>,
    /// The protobuf shapes its entities' fields take, each once (which conversions to import).
    wires: std::collections::BTreeSet<crate::model::types::WireShape>,
}

#[derive(Serialize)]
struct EnumType<'a> {
    name: &'a str,
    /// `Order.status`
    owner: String,
    values: &'a [crate::model::EnumValue],
}

impl<'a> RustService<'a> {
    fn new(service: &'a Service) -> Self {
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
        let holders = service
            .entities
            .iter()
            .map(|e| (e.name.as_str(), &e.fields))
            .chain(service.events.iter().map(|e| (e.name.as_str(), &e.fields)));
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
        let wires = service
            .entities
            .iter()
            .flat_map(|e| &e.fields)
            .map(|f| f.map.wire)
            .collect();
        let mut model_imports: Vec<String> = service
            .entities
            .iter()
            .flat_map(|e| [e.name.clone(), format!("{}Input", e.name)])
            .collect();
        model_imports.sort_unstable();
        Self {
            model_imports,
            wires,
            has_database,
            has_entities: !service.entities.is_empty(),
            publishes,
            subscribes,
            runtime_features,
            enums,
        }
    }
}
