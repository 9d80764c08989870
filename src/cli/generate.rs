//! `fleetwright generate`: render the manifest and write the workspace, merging the changes
//! into managed files edited by hand.

use super::output::Printer;
use super::{Format, GlobalArgs, Status};
use crate::error::Error;
use crate::write::{Action, Conflict, Mode, Options, Outcome};

#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // independent command-line flags
pub(crate) struct Args {
    /// Show what would change without writing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Print a unified diff of every file that changes (for a file edited by hand, from your
    /// text to the merge that is written)
    #[arg(long)]
    pub diff: bool,
    /// Overwrite managed files even if they were edited by hand (instead of merging), and
    /// delete stale ones (proto numbers and migrations are kept, with or without fleet.lock)
    #[arg(long)]
    pub force: bool,
    /// Rebuild a missing or damaged fleet.lock from the workspace: proto numbers from the
    /// .proto files, migration history from the migration files, ownership from the files
    /// (a generated file that differs from fleet.toml's rendering is a hand edit: merged
    /// against its base in .fleetwright/base, or without one reported, never overwritten)
    #[arg(long, conflicts_with = "force")]
    pub recover_lock: bool,
    /// Drop a retired table or column (SERVICE.TABLE or SERVICE.TABLE.COLUMN, as
    /// `generate` named it when it was retired): writes the migration that deletes it and its
    /// data. Only once no running release reads it. Repeatable
    #[arg(long = "drop", value_name = "SERVICE.TABLE[.COLUMN]")]
    pub drops: Vec<crate::model::DropRequest>,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub(crate) fn run(args: &Args, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let manifest = global.find_manifest(printer)?;
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Write };
    let options = Options {
        mode,
        force: args.force,
        diffs: args.diff,
        recover: args.recover_lock,
    };
    let (loaded, outcome) = crate::generate_dropping(&manifest, options, &args.drops)?;
    printer.diagnostics(&loaded.source, &loaded.warnings);
    if let Some(migration) = &loaded.migration {
        printer.info(&format!(
            "{} {} from manifest version {} to {} (comments and layout kept)",
            if args.dry_run { "would migrate" } else { "migrated" },
            loaded.source.name,
            migration.from,
            migration.to
        ));
    }
    report(&outcome, args.diff, args.format, args.dry_run, printer);
    Ok(
        if outcome.conflicts().next().is_some() || outcome.errors().next().is_some() {
            Status::Failed
        } else {
            Status::Ok
        },
    )
}

/// Prints an outcome as text (with optional diffs) or JSON.
pub(crate) fn report(outcome: &Outcome, diff: bool, format: Format, dry_run: bool, printer: &Printer) {
    if format == Format::Json {
        printer.data(&serde_json::to_string_pretty(outcome).unwrap_or_default());
        return;
    }
    if diff {
        printer.data(&diffs(outcome, false));
    }
    printer.outcome(outcome, dry_run);
}

/// Unified diffs of every file that differs between disk and plan (for merges and conflicts,
/// the merge result, which is what gets written), and with `edits` the hand edits kept as they
/// are, as changes of the generated text.
pub(crate) fn diffs(outcome: &Outcome, edits: bool) -> String {
    let mut out = String::new();
    for file in &outcome.files {
        let Some((before, after)) = &file.before_after else {
            continue;
        };
        if matches!(file.action, Action::Unchanged | Action::Keep) || (file.action == Action::Edited && !edits) {
            continue;
        }
        let path = file.path.as_str();
        let (old, new) = match file.action {
            Action::Create => ("/dev/null".to_owned(), format!("b/{path}")),
            Action::Remove | Action::Overwrite(Conflict::EditedStale) => (format!("a/{path}"), "/dev/null".to_owned()),
            _ => (format!("a/{path}"), format!("b/{path}")),
        };
        let text = similar::TextDiff::from_lines(before.as_str(), after.as_str());
        out.push_str(&text.unified_diff().context_radius(3).header(&old, &new).to_string());
    }
    out
}
