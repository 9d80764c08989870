//! `fleetwright check`: does the workspace match what `generate` would write? For CI.

use super::output::Printer;
use super::{Format, GlobalArgs, Status};
use crate::error::Error;
use crate::write::{Action, Conflict, Mode, Options};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub(crate) fn run(args: &Args, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let options = Options {
        mode: Mode::Check,
        force: false,
        diffs: true,
        recover: false,
    };
    let (loaded, outcome) = crate::generate(&global.find_manifest(printer)?, options)?;
    printer.diagnostics(&loaded.source, &loaded.warnings);
    // A manifest in an older format is drift whatever else matches: `generate` rewrites it.
    let manifest_behind = loaded.migration.is_some();
    if args.format == Format::Json {
        printer.data(&serde_json::to_string_pretty(&outcome).unwrap_or_default());
        return Ok(if outcome.drift() || manifest_behind {
            Status::Failed
        } else {
            Status::Ok
        });
    }
    if let Some(migration) = &loaded.migration {
        eprintln!(
            "  out of date: {} is manifest version {}; `fleetwright generate` migrates it to {}",
            loaded.source.name, migration.from, migration.to
        );
        eprintln!("error: the workspace does not match fleet.toml");
        return Ok(Status::Failed);
    }
    if !outcome.drift() {
        printer.info(&format!("ok: {} files match fleet.toml", outcome.files.len()));
        return Ok(Status::Ok);
    }
    printer.data(&super::generate::diffs(&outcome, true));
    for file in &outcome.files {
        let what = match &file.action {
            Action::Create => "missing",
            Action::Update => "out of date",
            Action::Merge => "out of date (generate merges fleetwright's changes into your edit)",
            Action::Remove => "stale (no longer generated)",
            Action::Conflict(Conflict::Unresolved) => "has conflict markers",
            Action::Conflict(Conflict::Overlap) => "out of date (your edit overlaps fleetwright's changes)",
            Action::Edited | Action::Conflict(_) | Action::Overwrite(_) => "edited by hand",
            Action::Unchanged | Action::Keep | Action::Orphan => continue,
        };
        eprintln!("  {what}: {}", file.path);
    }
    if outcome.lock_changed && !outcome.files.iter().any(|f| f.action.changes_disk()) {
        eprintln!("  out of date: fleet.lock");
    }
    if let Some(upgrade) = &outcome.upgrade {
        printer.info(&super::output::upgrade_line(
            upgrade,
            "`fleetwright generate` upgrades it",
        ));
    }
    printer.problems(&outcome);
    if outcome.errors().next().is_some() {
        eprintln!("error: fleet.lock and the workspace disagree (see above)");
        return Ok(Status::Failed);
    }
    eprintln!("error: the workspace does not match fleet.toml");
    // `generate` refuses to write over a hand edit it cannot merge, or a file with conflict
    // markers, so "run generate" alone would not help.
    let refused = |conflict: &Conflict| !matches!(conflict, Conflict::Overlap);
    if outcome
        .conflicts()
        .any(|f| f.action == Action::Conflict(Conflict::Unresolved))
    {
        eprintln!("  help: {}", super::output::MARKERS_HELP);
    } else if outcome
        .conflicts()
        .any(|f| matches!(&f.action, Action::Conflict(c) if refused(c)))
    {
        eprintln!("  help: {}", super::output::CONFLICT_HELP);
    } else {
        eprintln!("  help: run `fleetwright generate` and commit the result");
    }
    Ok(Status::Failed)
}
