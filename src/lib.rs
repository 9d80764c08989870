//! fleetwright turns one declarative manifest (`fleet.toml`) into a complete microservice
//! workspace, and keeps it in step with the manifest for the life of the project.
//!
//! The data flows one way through four stages, one module each:
//! `manifest` (what the user wrote) → [`model`] (what it means) → [`render`] (what we would
//! write) → [`write`] (what changed on disk). Render hands write a [`plan`], the contract
//! between them; it is a leaf every stage may use, as are [`diagnostic`], `source` and
//! `error`. No
//! module imports a later one (`tests/integration/layering.rs` keeps it so); only this file
//! strings the stages together. The command line in [`cli`] is one client of it.

pub mod cli;
pub mod devkey;
pub mod diagnostic;
pub(crate) mod error;
pub mod examples;
pub(crate) mod manifest;
pub mod model;
pub mod plan;
pub mod render;
pub(crate) mod source;
pub mod write;

pub use error::{Error, Result};
pub use source::Source;

use std::path::Path;

/// Loads the manifest at `manifest_path`, renders it and applies the plan to its directory.
///
/// # Errors
/// Any stage's error; see [`Error`].
pub fn generate(manifest_path: &Path, options: write::Options) -> Result<(model::Loaded, write::Outcome)> {
    generate_dropping(manifest_path, options, &[])
}

/// [`generate`], also dropping the retired tables and columns `drops` names (the contract
/// step of a schema change; see [`model::DropRequest`]).
///
/// # Errors
/// As [`generate`]; [`Error::Usage`] for a drop of something that is not retired.
pub fn generate_dropping(
    manifest_path: &Path,
    options: write::Options,
    drops: &[model::DropRequest],
) -> Result<(model::Loaded, write::Outcome)> {
    let root = workspace_root(manifest_path);
    // Without the folder there is no manifest either, and loading says so.
    let _guard = if root.is_dir() {
        write_guard(&root, options)?
    } else {
        None
    };
    // The lock of a large workspace takes as long to parse as the manifest: side by side.
    let (loaded, previous) = rayon::join(
        || -> Result<_> {
            let loaded = model::load(manifest_path)?;
            let templates = templates_for(&loaded, &root)?;
            Ok((loaded, templates))
        },
        || read_lock(&root, options),
    );
    let (loaded, templates) = loaded?;
    let outcome = apply_loaded(&loaded, &root, &templates, previous?.as_ref(), options, drops)?;
    // A manifest of an older format was read migrated (see `manifest::migrate`); a writing
    // run leaves it migrated on disk too, after the files generated from it.
    if let (write::Mode::Write, Some(migration)) = (options.mode, &loaded.migration) {
        write::write_file_atomic(manifest_path, migration.text.as_bytes(), false).map_err(Error::interrupted)?;
    }
    Ok((loaded, outcome))
}

/// [`generate`] for a manifest already loaded, with templates already built: for callers
/// that generate many times in one process (tests, benchmarks).
///
/// # Errors
/// As [`generate`], less the manifest's.
pub fn generate_loaded(
    loaded: &model::Loaded,
    root: &Path,
    templates: &render::Templates,
    options: write::Options,
) -> Result<write::Outcome> {
    let _guard = write_guard(root, options)?;
    let previous = read_lock(root, options)?;
    apply_loaded(loaded, root, templates, previous.as_ref(), options, &[])
}

/// The previous generation's lock. Recovering rebuilds a missing or damaged one, so the
/// damaged one is not read; a readable one is not replaced.
fn read_lock(root: &Path, options: write::Options) -> Result<Option<write::Lockfile>> {
    match (write::Lockfile::read(root), options.recover) {
        (Err(Error::LockDamaged { .. }) | Ok(None), true) => Ok(None),
        (Ok(Some(_)), true) => Err(Error::usage(
            format!(
                "{} is readable: there is nothing to recover",
                root.join("fleet.lock").display()
            ),
            Some(
                "run `fleetwright generate`; to rebuild a lock you distrust, move it away first and keep it until the result is checked",
            ),
        )),
        (read, false) => read,
        (Err(other), true) => Err(other),
    }
}

/// The flock a writing run holds from reading `fleet.lock` to writing it, so concurrent runs
/// cannot interleave; runs that only read need none.
fn write_guard(root: &Path, options: write::Options) -> Result<Option<write::Flock>> {
    match options.mode {
        write::Mode::Write => Ok(Some(write::Flock::acquire(root)?)),
        write::Mode::Check | write::Mode::DryRun => Ok(None),
    }
}

/// Stabilises the model against the previous generation's state, then renders it group by
/// group straight into [`write::apply`].
fn apply_loaded(
    loaded: &model::Loaded,
    root: &Path,
    templates: &render::Templates,
    previous: Option<&write::Lockfile>,
    options: write::Options,
    drops: &[model::DropRequest],
) -> Result<write::Outcome> {
    let mut workspace = loaded.workspace.clone();
    let (previous_state, problems) = reconcile_with_disk(&workspace, root, previous, options)?;
    let state = model::stabilize(&mut workspace, &previous_state, drops).map_err(|e| e.with_source(&loaded.source))?;
    let mut warnings = model::recover::dropped_data(&previous_state, &state);
    warnings.extend(model::recover::renamed_data(&previous_state, &state));
    warnings.extend(model::recover::new_keys(&previous_state, &state));
    warnings.extend(model::recover::retired_data(&previous_state, &state));
    let header = write::Header {
        fingerprint: render::fingerprint(&workspace)?,
        state,
        problems,
        warnings,
    };
    write::apply(
        root,
        header,
        |decide| render::render_groups(&workspace, templates, decide),
        previous,
        options,
    )
}

/// The state to number and migrate from: the lock's, reconciled with the proto and migration
/// files on disk (see [`model::recover`]), so that neither a lost lock nor `--force` ever
/// renumbers a field or replaces a migration.
///
/// # Errors
/// [`Error::LockMissing`] when there is no lock but generated files are there (unless
/// recovering or forcing), [`Error::Inconsistent`] when lock and disk disagree on what is
/// deployed.
fn reconcile_with_disk(
    workspace: &model::Workspace,
    root: &Path,
    previous: Option<&write::Lockfile>,
    options: write::Options,
) -> Result<(model::State, Vec<model::Inconsistency>)> {
    // A service without a database keeps the migration files of one it had, but no history.
    let services: Vec<(&str, &str, bool)> = workspace
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.proto_file.as_str(), s.database.stores_data()))
        .collect();
    let found = write::survey(root, &services)?;
    if previous.is_none() && !found.is_empty() && !options.recover && !options.force {
        return Err(Error::LockMissing(root.join("fleet.lock")));
    }
    let operation_messages: std::collections::BTreeSet<String> = workspace
        .services
        .iter()
        .flat_map(|s| {
            s.operations
                .iter()
                .flat_map(move |op| op.rpc_messages().map(|m| format!("{}.{m}", s.proto_package)))
        })
        .collect();
    let numbered = |key: &str| operation_messages.contains(key);
    let on_disk = model::recover::OnDisk {
        protos: found
            .protos
            .iter()
            .map(|(path, text)| {
                let numbers = model::recover::parse_proto(text).keep_operation_messages(&numbered);
                (path.clone(), numbers)
            })
            .collect(),
        migrations: found.migrations,
    };
    let spec_of =
        |service: &str, table: &str, column: &str| model::recover::manifest_type(workspace, service, table, column);
    let (state, problems) = model::recover::reconcile(previous.map(|l| &l.state), &on_disk, &spec_of);
    let (blocking, problems): (Vec<_>, Vec<_>) = problems
        .into_iter()
        .partition(|p| p.kind == model::InconsistencyKind::Blocking);
    if !blocking.is_empty() {
        return Err(Error::Inconsistent(blocking));
    }
    Ok((state, problems))
}

/// Renders a resolved workspace against the stable state of its previous generation, in
/// memory; returns the plan and the state `fleet.lock` would record beside it (what the next
/// generation is numbered against).
///
/// # Errors
/// [`Error::Usage`] for a change that cannot be migrated, [`Error::Template`] for a template
/// that fails.
pub fn plan(
    workspace: &model::Workspace,
    templates: &render::Templates,
    previous: &model::State,
) -> Result<(plan::Plan, model::State)> {
    let mut workspace = workspace.clone();
    let state = model::stabilize(&mut workspace, previous, &[])?;
    let plan = render::render(&workspace, templates)?;
    Ok((plan, state))
}

/// The directory a manifest governs: the one it sits in.
pub(crate) fn workspace_root(manifest_path: &Path) -> std::path::PathBuf {
    match manifest_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// The template set for a workspace: embedded, plus the project's overrides if it names any.
///
/// # Errors
/// [`Error::Usage`] when the override directory is missing or holds an unknown template.
pub(crate) fn templates_for(loaded: &model::Loaded, root: &Path) -> Result<render::Templates> {
    match &loaded.workspace.project.templates {
        Some(dir) => {
            let dir = root.join(dir);
            if !dir.is_dir() {
                return Err(Error::usage(
                    format!("template directory {} does not exist", dir.display()),
                    Some("create it with `fleetwright templates eject`, or remove `templates` from [project]"),
                ));
            }
            render::Templates::with_overrides(&dir)
        }
        None => render::Templates::embedded(),
    }
}
