//! Which template renders to which path, for which entity, owned by whom. Decided here in
//! Rust rather than in template front matter so the plan's shape is typed and testable.

use super::context;
use crate::model::{Service, Workspace};
use crate::write::plan::Owner;

/// One file to render.
pub struct Job {
    pub template: &'static str,
    pub output: String,
    pub owner: Owner,
    /// What it renders for, for error messages ("the workspace", "service `orders`").
    pub entity: String,
    pub context: tera::Context,
}

/// When a per-service template applies.
#[derive(Clone, Copy)]
enum When {
    Always,
    HasDatabase,
}

impl When {
    fn holds(self, service: &Service) -> bool {
        match self {
            When::Always => true,
            When::HasDatabase => service.database != "none",
        }
    }
}

/// When a workspace template applies.
#[derive(Clone, Copy)]
enum WhenWorkspace {
    Always,
    Compose,
}

impl WhenWorkspace {
    fn holds(self, workspace: &Workspace) -> bool {
        match self {
            WhenWorkspace::Always => true,
            WhenWorkspace::Compose => workspace.deploy.compose,
        }
    }
}

/// Templates rendered once per workspace: (template, output path, owner, when, and the
/// deploy flavour for templates rendered once per flavour).
#[rustfmt::skip]
const WORKSPACE_FILES: &[(&str, &str, Owner, WhenWorkspace, Option<&str>)] = &[
    ("workspace/README.md.tera",    "README.md",                     Owner::Managed,  WhenWorkspace::Always,  None),
    ("workspace/Cargo.toml.tera",   "Cargo.toml",                    Owner::Managed,  WhenWorkspace::Always,  None),
    ("workspace/gitignore.tera",    ".gitignore",                    Owner::Scaffold, WhenWorkspace::Always,  None),
    ("docker/dockerignore.tera",    ".dockerignore",                 Owner::Managed,  WhenWorkspace::Always,  None),
    ("proto/buf.yaml.tera",         "proto/buf.yaml",                Owner::Managed,  WhenWorkspace::Always,  None),
    ("gateway/envoy.yaml.tera",     "gateway/envoy.yaml",            Owner::Managed,  WhenWorkspace::Always,  Some("compose")),
    ("compose/compose.yaml.tera",   "deploy/compose/compose.yaml",   Owner::Managed,  WhenWorkspace::Compose, None),
    ("compose/prometheus.yml.tera", "deploy/compose/prometheus.yml", Owner::Managed,  WhenWorkspace::Compose, None),
];

/// Templates rendered once per Rust service, output relative to `services/<name>/`.
#[rustfmt::skip]
const RUST_SERVICE_FILES: &[(&str, &str, Owner, When)] = &[
    ("services/rust/Cargo.toml.tera",       "Cargo.toml",       Owner::Managed,  When::Always),
    ("docker/Dockerfile.tera",              "Dockerfile",       Owner::Managed,  When::Always),
    ("services/rust/build.rs.tera",         "build.rs",         Owner::Managed,  When::Always),
    ("services/rust/src/main.rs.tera",      "src/main.rs",      Owner::Managed,  When::Always),
    ("services/rust/src/lib.rs.tera",       "src/lib.rs",       Owner::Managed,  When::Always),
    ("services/rust/src/app.rs.tera",       "src/app.rs",       Owner::Managed,  When::Always),
    ("services/rust/src/config.rs.tera",    "src/config.rs",    Owner::Managed,  When::Always),
    ("services/rust/src/db.rs.tera",        "src/db.rs",        Owner::Managed,  When::HasDatabase),
    ("services/rust/src/error.rs.tera",     "src/error.rs",     Owner::Managed,  When::Always),
    ("services/rust/src/grpc.rs.tera",      "src/grpc.rs",      Owner::Managed,  When::Always),
    ("services/rust/src/hooks.rs.tera",     "src/hooks.rs",     Owner::Managed,  When::Always),
    ("services/rust/src/http.rs.tera",      "src/http.rs",      Owner::Managed,  When::Always),
    ("services/rust/src/metrics.rs.tera",   "src/metrics.rs",   Owner::Managed,  When::Always),
    ("services/rust/src/model.rs.tera",     "src/model.rs",     Owner::Managed,  When::Always),
    ("services/rust/src/store.rs.tera",     "src/store.rs",     Owner::Managed,  When::HasDatabase),
    ("services/rust/src/telemetry.rs.tera", "src/telemetry.rs", Owner::Managed,  When::Always),
    ("services/rust/src/types.rs.tera",     "src/types.rs",     Owner::Managed,  When::Always),
    ("services/rust/src/logic.rs.tera",     "src/logic.rs",     Owner::Scaffold, When::Always),
    ("services/rust/tests/api.rs.tera",     "tests/api.rs",     Owner::Managed,  When::Always),
];

/// The proto contract of each service.
const PROTO_TEMPLATE: &str = "proto/service.proto.tera";
/// One file per migration; scaffold-owned because an applied migration must never change,
/// even if a later fleetwright renders the same operations differently.
const MIGRATION_TEMPLATE: &str = "services/rust/migration.sql.tera";

/// Every file the workspace needs, in a stable order.
pub fn jobs(workspace: &Workspace) -> Vec<Job> {
    let mut jobs = Vec::new();
    let whole = context::for_workspace(workspace);
    for (template, output, owner, when, flavour) in WORKSPACE_FILES {
        if !when.holds(workspace) {
            continue;
        }
        let mut context = whole.clone();
        if let Some(flavour) = flavour {
            context.insert("gateway_target", flavour);
        }
        jobs.push(Job {
            template,
            output: (*output).to_owned(),
            owner: *owner,
            entity: "the workspace".into(),
            context,
        });
    }
    let base = context::service_base(workspace);
    for service in &workspace.services {
        let context = context::for_service(&base, workspace, service);
        let entity = format!("service `{}`", service.name);
        jobs.push(Job {
            template: PROTO_TEMPLATE,
            output: format!("proto/{}", service.proto_file),
            owner: Owner::Managed,
            entity: entity.clone(),
            context: context.clone(),
        });
        // `language` is validated to be `rust`; other languages get their own table here.
        for (template, output, owner, when) in RUST_SERVICE_FILES {
            if when.holds(service) {
                jobs.push(Job {
                    template,
                    output: format!("services/{}/{output}", service.name),
                    owner: *owner,
                    entity: entity.clone(),
                    context: context.clone(),
                });
            }
        }
        for migration in &service.migrations {
            let mut context = context.clone();
            context.insert("migration", migration);
            jobs.push(Job {
                template: MIGRATION_TEMPLATE,
                output: format!("services/{}/migrations/{}", service.name, migration.file),
                owner: Owner::Scaffold,
                entity: format!("migration {} of service `{}`", migration.file, service.name),
                context,
            });
        }
    }
    jobs
}

/// Every template a job can use, for tests that every embedded template is reachable.
pub fn template_paths() -> Vec<&'static str> {
    WORKSPACE_FILES
        .iter()
        .map(|(t, _, _, _, _)| *t)
        .chain(RUST_SERVICE_FILES.iter().map(|(t, _, _, _)| *t))
        .chain([PROTO_TEMPLATE, MIGRATION_TEMPLATE])
        .collect()
}
