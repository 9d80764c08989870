//! `fleetwright check`: does the workspace match what `generate` would write? For CI.

use super::output::Printer;
use super::{Format, GlobalArgs, Status};
use crate::error::Error;
use crate::write::{Action, Mode, Options};

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
    if args.format == Format::Json {
        printer.data(&serde_json::to_string_pretty(&outcome).unwrap_or_default());
        return Ok(if outcome.drift() { Status::Failed } else { Status::Ok });
    }
    if !outcome.drift() {
        printer.info(&format!("ok: {} files match fleet.toml", outcome.files.len()));
        return Ok(Status::Ok);
    }
    printer.data(&super::generate::diffs(&outcome));
    for file in &outcome.files {
        let what = match &file.action {
            Action::Create => "missing",
            Action::Update => "out of date",
            Action::Remove => "stale (no longer generated)",
            Action::Conflict(_) | Action::Overwrite(_) => "edited by hand",
            Action::Unchanged | Action::Keep | Action::Orphan => continue,
        };
        eprintln!("  {what}: {}", file.path);
    }
    if outcome.lock_changed && !outcome.files.iter().any(|f| f.action.changes_disk()) {
        eprintln!("  out of date: fleet.lock");
    }
    printer.problems(&outcome);
    if outcome.errors().next().is_some() {
        eprintln!("error: fleet.lock and the workspace disagree (see above)");
    } else {
        eprintln!("error: the workspace does not match fleet.toml");
        if outcome.conflicts().next().is_some() {
            // `generate` refuses to write over a hand edit, so "run generate" alone would not help.
            eprintln!("  help: {}", super::output::CONFLICT_HELP);
        } else {
            eprintln!("  help: run `fleetwright generate` and commit the result");
        }
    }
    Ok(Status::Failed)
}
