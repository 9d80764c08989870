//! Which template renders to which path, for which entity, owned by whom. Decided here in
//! Rust rather than in template front matter so the plan's shape is typed and testable.
//! Each target (workspace, proto, service crate, docker, gateway, compose, kubernetes, CI)
//! is a few rows of a table; [`FAMILIES`] lists the tables.

mod ci;
mod kubernetes;

use minijinja::value::Serde;
use minijinja::{Value, context};

use super::context;
use super::context::GatewayFlavour;
use crate::model::{CiProvider, Service, Workspace};
use crate::plan::Owner;

/// One file to render.
pub struct Job {
    pub template: &'static str,
    pub output: String,
    pub owner: Owner,
    /// What it renders for, for error messages ("the workspace", "service `orders`").
    pub entity: String,
    /// Shared by every job of the same entity (a template value is reference counted).
    pub context: Value,
}

/// What a template is rendered for: the workspace once, or every service.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Workspace,
    Service,
}

/// When a row applies.
#[derive(Clone, Copy)]
#[allow(dead_code)] // some variants wait for the tables that use them
pub(crate) enum When {
    Always,
    /// Services with a database.
    HasDatabase,
    /// Services that call others.
    HasCalls,
    /// Services that call others with a gRPC API (entities), so get test doubles of them.
    HasFakes,
    /// Services that publish or consume events (see `Service::messaging`).
    Messaging,
    /// `compose` is a deploy target.
    Compose,
    /// `kubernetes` is a deploy target.
    Kubernetes,
    /// `kubernetes` is a deploy target and the manifest has `[auth]`.
    KubernetesWithAuth,
    /// Services that store their data in PostgreSQL.
    Postgres,
    /// `kubernetes` is a deploy target and the service stores its data in PostgreSQL.
    KubernetesAndPostgres,
    /// `github` is a CI provider.
    GitHub,
    /// `gitlab` is a CI provider.
    GitLab,
    /// GitHub Actions deploying to Kubernetes.
    GitHubAndKubernetes,
    /// The broker is NATS.
    Nats,
    /// The broker is NATS and `kubernetes` is a deploy target (its dev overlay runs NATS).
    KubernetesAndNats,
}

impl When {
    fn holds(self, workspace: &Workspace, service: Option<&Service>) -> bool {
        match self {
            When::Always => true,
            When::HasDatabase => service.is_some_and(|s| s.database.stores_data()),
            When::HasCalls => service.is_some_and(|s| !s.calls.is_empty()),
            When::HasFakes => service.is_some_and(|s| context::has_fakes(workspace, s)),
            When::Messaging => service.is_some_and(|s| s.messaging),
            When::Compose => workspace.deploy.compose,
            When::Kubernetes => workspace.deploy.kubernetes,
            When::KubernetesWithAuth => workspace.deploy.kubernetes && workspace.auth.is_some(),
            When::Postgres => service.is_some_and(|s| s.database == crate::model::Database::Postgres),
            When::KubernetesAndPostgres => workspace.deploy.kubernetes && When::Postgres.holds(workspace, service),
            When::GitHub => workspace.ci.contains(&CiProvider::GitHub),
            When::GitLab => workspace.ci.contains(&CiProvider::GitLab),
            When::GitHubAndKubernetes => When::GitHub.holds(workspace, service) && workspace.deploy.kubernetes,
            When::Nats => workspace.broker == crate::model::Broker::Nats,
            When::KubernetesAndNats => When::Nats.holds(workspace, service) && workspace.deploy.kubernetes,
        }
    }
}

/// A template, where it goes (`{service}` stands for the service name) and who owns it.
pub(crate) struct Target {
    template: &'static str,
    output: &'static str,
    owner: Owner,
    scope: Scope,
    when: When,
    /// For the gateway config, rendered once per deploy flavour: the flavour, which gives the
    /// template its `gateway`.
    flavour: Option<GatewayFlavour>,
}

pub(crate) const fn row(
    template: &'static str,
    output: &'static str,
    owner: Owner,
    scope: Scope,
    when: When,
) -> Target {
    Target {
        template,
        output,
        owner,
        scope,
        when,
        flavour: None,
    }
}

use Owner::{Managed, Scaffold};
use Scope::{Service as Each, Workspace as Once};

/// Every table of targets, in a stable order.
const FAMILIES: &[&[Target]] = &[CORE, kubernetes::TARGETS, ci::TARGETS];

/// The workspace, its protos, the service crates, containers, gateway and compose.
#[rustfmt::skip]
const CORE: &[Target] = &[
    // The workspace.
    row("workspace/README.md.jinja",            "README.md",                           Managed,  Once, When::Always),
    row("workspace/Cargo.toml.jinja",           "Cargo.toml",                          Managed,  Once, When::Always),
    row("workspace/rustfmt.toml.jinja",         "rustfmt.toml",                        Managed,  Once, When::Always),
    row("workspace/gitignore.jinja",            ".gitignore",                          Scaffold, Once, When::Always),
    row("docker/dockerignore.jinja",            ".dockerignore",                       Managed,  Once, When::Always),
    // gRPC contracts.
    row("proto/buf.yaml.jinja",                 "proto/buf.yaml",                      Managed,  Once, When::Always),
    // The gateway, addressed by compose service names.
    Target { flavour: Some(GatewayFlavour::Compose), ..row("gateway/envoy.yaml.jinja", "gateway/envoy.yaml", Managed, Once, When::Always) },
    // The same gateway on a developer machine (upstreams on 127.0.0.1), and the runner that starts it all.
    Target { flavour: Some(GatewayFlavour::Local), ..row("gateway/envoy.yaml.jinja", "gateway/envoy.local.yaml", Managed, Once, When::Always) },
    row("workspace/dev.sh.jinja",               "dev.sh",                              Managed,  Once, When::Always),
    // The NATS server's users and their permissions, one per service.
    row("nats/nats.conf.jinja",                 "deploy/nats/nats.conf",               Managed,  Once, When::Nats),
    // A PostgreSQL service's database and roles: one to migrate, one without DDL rights to serve.
    row("postgres/roles.sql.jinja",             "deploy/postgres/{service}.sql",       Managed,  Each, When::Postgres),
    // docker compose.
    row("compose/compose.yaml.jinja",           "deploy/compose/compose.yaml",         Managed,  Once, When::Compose),
    row("compose/prometheus.yml.jinja",         "deploy/compose/prometheus.yml",       Managed,  Once, When::Compose),
    row("observability/alerts.yml.jinja",       "deploy/compose/alerts.yml",           Managed,  Once, When::Compose),
    row("observability/alerts.test.yml.jinja",  "deploy/compose/alerts.test.yml",      Managed,  Once, When::Compose),
    row("observability/grafana-datasources.yaml.jinja", "deploy/compose/grafana/datasources.yaml", Managed, Once, When::Compose),
    row("observability/grafana-dashboards.yaml.jinja",  "deploy/compose/grafana/dashboards.yaml",  Managed, Once, When::Compose),
    row("observability/dashboard.json.jinja",   "deploy/compose/grafana/dashboards/{service}.json", Managed, Each, When::Compose),
    // Each Rust service crate (`language` is validated to be `rust`).
    row("services/rust/Cargo.toml.jinja",       "services/{service}/Cargo.toml",       Managed,  Each, When::Always),
    row("docker/Dockerfile.jinja",              "services/{service}/Dockerfile",       Managed,  Each, When::Always),
    row("services/rust/build.rs.jinja",         "services/{service}/build.rs",         Managed,  Each, When::Always),
    row("services/rust/src/main.rs.jinja",      "services/{service}/src/main.rs",      Managed,  Each, When::Always),
    row("services/rust/src/lib.rs.jinja",       "services/{service}/src/lib.rs",       Managed,  Each, When::Always),
    row("services/rust/src/app.rs.jinja",       "services/{service}/src/app.rs",       Managed,  Each, When::Always),
    row("services/rust/src/clients.rs.jinja",   "services/{service}/src/clients.rs",   Managed,  Each, When::HasCalls),
    row("services/rust/src/config.rs.jinja",    "services/{service}/src/config.rs",    Managed,  Each, When::Always),
    row("services/rust/src/events.rs.jinja",    "services/{service}/src/events.rs",    Managed,  Each, When::Messaging),
    row("services/rust/src/grpc.rs.jinja",      "services/{service}/src/grpc.rs",      Managed,  Each, When::Always),
    row("services/rust/src/hooks.rs.jinja",     "services/{service}/src/hooks.rs",     Managed,  Each, When::Always),
    row("services/rust/src/http.rs.jinja",      "services/{service}/src/http.rs",      Managed,  Each, When::Always),
    row("services/rust/src/model.rs.jinja",     "services/{service}/src/model.rs",     Managed,  Each, When::Always),
    row("services/rust/src/store.rs.jinja",     "services/{service}/src/store.rs",     Managed,  Each, When::HasDatabase),
    row("services/rust/src/testing.rs.jinja",   "services/{service}/src/testing.rs",   Managed,  Each, When::HasFakes),
    row("services/rust/src/logic.rs.jinja",     "services/{service}/src/logic.rs",     Scaffold, Each, When::Always),
    row("services/rust/tests/api.rs.jinja",     "services/{service}/tests/api.rs",     Managed,  Each, When::Always),
];

/// The proto contract of each service, at its package path.
const PROTO_TEMPLATE: &str = "proto/service.proto.jinja";
/// One file per migration; scaffold-owned because an applied migration must never change,
/// even if a later fleetwright renders the same operations differently.
const MIGRATION_TEMPLATE: &str = "services/rust/migration.sql.jinja";

fn job(target: &Target, output: String, entity: &str, context: Value) -> Job {
    Job {
        template: target.template,
        output,
        owner: target.owner,
        entity: entity.to_owned(),
        context,
    }
}

/// The files rendered once for the whole workspace, in a stable order.
pub fn workspace_jobs(workspace: &Workspace) -> Vec<Job> {
    let whole = context::for_workspace(workspace);
    targets()
        .filter(|t| t.scope == Scope::Workspace && t.when.holds(workspace, None))
        .map(|target| {
            let context = match target.flavour {
                Some(flavour) => context::for_gateway(&whole, workspace, flavour),
                None => whole.clone(),
            };
            job(target, target.output.to_owned(), "the workspace", context)
        })
        .collect()
}

/// The files of one service, in a stable order. `base` is [`context::service_base`], built
/// once and shared by every service.
pub fn service_jobs(workspace: &Workspace, base: &Value, service: &Service) -> Vec<Job> {
    let mut jobs = Vec::new();
    let context = context::for_service(base, workspace, service);
    let entity = format!("service `{}`", service.name);
    jobs.push(Job {
        template: PROTO_TEMPLATE,
        output: format!("proto/{}", service.proto_file),
        owner: Owner::Managed,
        entity: entity.clone(),
        context: context.clone(),
    });
    for target in targets().filter(|t| t.scope == Scope::Service && t.when.holds(workspace, Some(service))) {
        jobs.push(job(
            target,
            target.output.replace("{service}", &service.name),
            &entity,
            context.clone(),
        ));
    }
    for migration in &service.migrations {
        let context = context! { migration => Serde(migration), ..context.clone() };
        jobs.push(Job {
            template: MIGRATION_TEMPLATE,
            output: format!("services/{}/migrations/{}", service.name, migration.file),
            owner: Owner::Scaffold,
            entity: format!("migration {} of service `{}`", migration.file, service.name),
            context,
        });
    }
    jobs
}

fn targets() -> impl Iterator<Item = &'static Target> {
    FAMILIES.iter().flat_map(|family| family.iter())
}

/// The output paths each template renders to, as patterns (`{service}` stands for each
/// service's name), for `templates list`; templates that only hold macros have none.
pub fn outputs_by_template() -> std::collections::BTreeMap<&'static str, Vec<String>> {
    let mut outputs: std::collections::BTreeMap<&'static str, Vec<String>> = std::collections::BTreeMap::new();
    for target in targets() {
        outputs
            .entry(target.template)
            .or_default()
            .push(target.output.to_owned());
    }
    outputs
        .entry(PROTO_TEMPLATE)
        .or_default()
        .push("proto/{project}/{service}/v1/{service}.proto".to_owned());
    outputs
        .entry(MIGRATION_TEMPLATE)
        .or_default()
        .push("services/{service}/migrations/NNNN_<change>.sql".to_owned());
    outputs
}

/// Every template a job can use, for tests that every embedded template is reachable.
pub fn template_paths() -> Vec<&'static str> {
    FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .map(|t| t.template)
        .chain([PROTO_TEMPLATE, MIGRATION_TEMPLATE])
        .collect()
}
