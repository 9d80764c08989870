//! Which template renders to which path, for which entity, owned by whom. Decided here in
//! Rust rather than in template front matter so the plan's shape is typed and testable.

use super::context;
use crate::model::Workspace;
use crate::write::plan::Owner;

/// One file to render.
pub struct Job {
    pub template: &'static str,
    pub output: String,
    pub owner: Owner,
    /// What it renders for, for error messages: `workspace`, `service orders`.
    pub entity: String,
    pub context: tera::Context,
}

/// Templates rendered once per workspace: (template, output path, owner).
const WORKSPACE_FILES: &[(&str, &str, Owner)] = &[
    ("workspace/README.md.tera", "README.md", Owner::Managed),
    ("workspace/Cargo.toml.tera", "Cargo.toml", Owner::Managed),
    ("workspace/gitignore.tera", ".gitignore", Owner::Scaffold),
];

/// Templates rendered once per Rust service, output relative to `services/<name>/`.
const RUST_SERVICE_FILES: &[(&str, &str, Owner)] = &[
    ("services/rust/Cargo.toml.tera", "Cargo.toml", Owner::Managed),
    ("services/rust/src/main.rs.tera", "src/main.rs", Owner::Managed),
    ("services/rust/src/lib.rs.tera", "src/lib.rs", Owner::Managed),
    ("services/rust/src/config.rs.tera", "src/config.rs", Owner::Managed),
    ("services/rust/src/logic.rs.tera", "src/logic.rs", Owner::Scaffold),
    ("services/rust/tests/health.rs.tera", "tests/health.rs", Owner::Managed),
];

/// Every file the workspace needs, in a stable order.
pub fn jobs(workspace: &Workspace) -> Vec<Job> {
    let mut jobs = Vec::new();
    let whole = context::for_workspace(workspace);
    for (template, output, owner) in WORKSPACE_FILES {
        jobs.push(Job {
            template,
            output: (*output).to_owned(),
            owner: *owner,
            entity: "the workspace".into(),
            context: whole.clone(),
        });
    }
    let base = context::service_base(workspace);
    for service in &workspace.services {
        let context = context::for_service(&base, workspace, service);
        // `language` is validated to be `rust`; other languages get their own table here.
        for (template, output, owner) in RUST_SERVICE_FILES {
            jobs.push(Job {
                template,
                output: format!("services/{}/{output}", service.name),
                owner: *owner,
                entity: format!("service `{}`", service.name),
                context: context.clone(),
            });
        }
    }
    jobs
}

/// Every template a job can use, for `templates list` and for tests that every embedded
/// template is reachable.
pub fn template_paths() -> Vec<&'static str> {
    WORKSPACE_FILES
        .iter()
        .chain(RUST_SERVICE_FILES)
        .map(|(t, _, _)| *t)
        .collect()
}
