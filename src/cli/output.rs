//! The printer: data to stdout, progress and diagnostics to stderr, verbosity and color
//! decided once. Commands print only through it.

use std::io::{IsTerminal, Write};

use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};

use super::{ColorWhen, Status};
use crate::diagnostic::{Diagnostics, Renderer};
use crate::error::Error;
use crate::model::InconsistencyKind;
use crate::source::Source;
use crate::write::{Action, Outcome};

/// What to do about conflict markers in a file.
pub(crate) const MARKERS_HELP: &str = "resolve the conflict markers (keep what you want of both sides), then run `fleetwright generate` to record your version";
/// What to do about a hand-edited managed file that `generate` will not merge, said the same
/// way by `generate` and `check`.
pub(crate) const CONFLICT_HELP: &str = "to keep your edit, move it into a user region or a scaffold file (such as `services/NAME/src/logic.rs`) and run `fleetwright generate` again; `fleetwright generate --diff` shows the change, `fleetwright generate --force` overwrites your edit";

/// Commands print only through a printer, even the kinds of output (`data`, `warn`) that
/// no flag changes today, so one place decides where each kind goes.
pub(crate) struct Printer {
    quiet: bool,
    verbose: bool,
    color: bool,
}

impl Printer {
    pub(crate) fn new(quiet: bool, verbose: bool, when: ColorWhen) -> Self {
        let color = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
            }
        };
        Self { quiet, verbose, color }
    }

    /// Whether `--verbose` asked for the details a summary stands for.
    pub(crate) fn verbose(&self) -> bool {
        self.verbose
    }

    /// Requested output (a graph, a schema, a JSON report): always printed, to stdout.
    #[allow(clippy::unused_self)] // see the type's comment
    pub(crate) fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
    }

    /// Progress and summaries, to stderr; silenced by `--quiet`.
    pub(crate) fn info(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Warnings, to stderr, even with `--quiet`.
    #[allow(clippy::unused_self)] // see the type's comment
    pub(crate) fn warn(&self, text: &str) {
        eprintln!("warning: {text}");
    }

    /// Renders diagnostics of one manifest with excerpts and a closing count.
    pub(crate) fn diagnostics(&self, source: &Source, diagnostics: &Diagnostics) {
        if diagnostics.is_empty() {
            return;
        }
        let renderer = Renderer::new(&source.name, &source.text);
        if self.color {
            let mut stream = StandardStream::stderr(ColorChoice::Always);
            for diagnostic in &diagnostics.items {
                let _ = renderer.render_color(diagnostic, &mut stream);
            }
        } else {
            let mut err = std::io::stderr().lock();
            for diagnostic in &diagnostics.items {
                let _ = err.write_all(renderer.render_plain(diagnostic).as_bytes());
            }
        }
        eprintln!("{}", renderer.summary(diagnostics));
    }

    /// Prints an error, with its help and note, and returns the exit status it carries.
    pub(crate) fn error(&self, error: &Error) -> Status {
        match error {
            // Many problems at once, each with its own help, shown against the manifest.
            Error::Manifest { file, diagnostics } => self.diagnostics(file, diagnostics),
            _ => eprintln!("error: {error}"),
        }
        if let Some(help) = error.help() {
            eprintln!("  help: {help}");
        }
        if let Some(note) = error.note() {
            eprintln!("  note: {note}");
        }
        Status::from_exit_code(error.exit_code())
    }

    /// What reconciling `fleet.lock` with the workspace found: errors, and what was read
    /// back from the workspace into the lock.
    pub(crate) fn problems(&self, outcome: &Outcome) {
        for problem in &outcome.problems {
            if problem.kind == InconsistencyKind::Adopted {
                self.info(&format!("  recovered: {}: {}", problem.path, problem.message));
            } else {
                eprintln!("error: {}: {}", problem.path, problem.message);
                eprintln!("  help: {}", problem.help);
            }
        }
    }

    /// The per-file lines and the closing count of a generation.
    pub(crate) fn outcome(&self, outcome: &Outcome, dry_run: bool) {
        self.notices(outcome, dry_run);
        let verb = |now: &'static str, would: &'static str| if dry_run { would } else { now };
        for file in &outcome.files {
            let line = match &file.action {
                Action::Create => format!("  {} {}", verb("created  ", "would create"), file.path),
                Action::Update => format!("  {} {}", verb("updated  ", "would update"), file.path),
                Action::Merge => format!(
                    "  {} {} (your edit and fleetwright's changes)",
                    verb("merged   ", "would merge "),
                    file.path
                ),
                Action::Edited => format!(
                    "  {} {} (edited by hand; nothing new to merge, recorded in fleet.lock)",
                    verb("kept     ", "would keep  "),
                    file.path
                ),
                Action::Remove => format!("  {} {}", verb("removed  ", "would remove"), file.path),
                Action::Orphan => format!(
                    "  kept      {} (yours; no longer generated, delete it when done)",
                    file.path
                ),
                Action::Conflict(_) | Action::Overwrite(_) | Action::Unchanged | Action::Keep => continue,
            };
            self.info(&line);
        }
        for file in &outcome.files {
            let Action::Overwrite(kind) = &file.action else {
                continue;
            };
            let why = match kind {
                crate::write::Conflict::Edited | crate::write::Conflict::Overlap => "it was edited by hand".to_owned(),
                crate::write::Conflict::Unresolved => "it held unresolved conflict markers".to_owned(),
                crate::write::Conflict::NotOurs => "it was not generated by fleetwright".to_owned(),
                crate::write::Conflict::EditedStale => "edited by hand and no longer generated: deleted".to_owned(),
                crate::write::Conflict::LostRegions(names) => {
                    format!(
                        "its user region(s) {} had no place in the new version",
                        names.join(", ")
                    )
                }
            };
            let verb = verb("overwrote your edit in", "would overwrite your edit in");
            self.warn(&format!("{verb} {} ({why})", file.path));
        }
        for file in outcome.conflicts() {
            let Action::Conflict(kind) = &file.action else { continue };
            let why = match kind {
                crate::write::Conflict::Edited => "was edited by hand since it was generated, and what fleetwright generated then is not recorded, so it cannot be merged".to_owned(),
                crate::write::Conflict::NotOurs => "exists and was not generated by fleetwright".to_owned(),
                crate::write::Conflict::EditedStale => "is no longer generated, but was edited by hand".to_owned(),
                crate::write::Conflict::LostRegions(names) => format!(
                    "has user region(s) {} that the new version has no place for",
                    names.join(", ")
                ),
                crate::write::Conflict::Overlap => "was edited by hand where fleetwright's changes go".to_owned(),
                crate::write::Conflict::Unresolved => "still has conflict markers".to_owned(),
            };
            let what = match (kind, dry_run) {
                (crate::write::Conflict::Overlap, true) => "would be written with both sides between conflict markers",
                (crate::write::Conflict::Overlap, false) => {
                    "written with both sides between conflict markers (`<<<<<<< yours` … `>>>>>>> fleetwright`)"
                }
                _ => "left as it is",
            };
            self.warn(&format!("conflict: {} {why}; {what}", file.path));
        }
        let overwritten = outcome.count(|a| matches!(a, Action::Overwrite(_)));
        let conflicts = outcome.conflicts().count();
        let merged = outcome.count(|a| *a == Action::Merge);
        let summary = format!(
            "{}: {} created, {} updated, {}{} unchanged, {} removed, {} conflict{}",
            if dry_run { "dry run" } else { "generated" },
            outcome.count(|a| *a == Action::Create),
            outcome.count(|a| *a == Action::Update),
            if merged > 0 {
                format!("{merged} merged, ")
            } else {
                String::new()
            },
            outcome.count(|a| matches!(a, Action::Unchanged | Action::Keep | Action::Edited)),
            outcome.count(|a| *a == Action::Remove),
            conflicts,
            if conflicts == 1 { "" } else { "s" },
        );
        let summary = if overwritten > 0 {
            let s = if overwritten == 1 { "" } else { "s" };
            format!("{summary}, {overwritten} hand edit{s} overwritten")
        } else {
            summary
        };
        self.info(&summary);
        self.conflict_help(outcome, dry_run);
    }

    /// What a generation says before its files: the lock's problems, a kept damaged lock,
    /// the data new migrations delete, and an upgrade.
    fn notices(&self, outcome: &Outcome, dry_run: bool) {
        self.problems(outcome);
        if let Some(kept) = &outcome.damaged_lock_kept {
            self.info(&format!(
                "{} the damaged lock as {kept}; delete it once the rebuilt fleet.lock is checked",
                if dry_run { "would keep" } else { "kept" }
            ));
        }
        for warning in &outcome.warnings {
            self.warn(warning);
        }
        if let Some(upgrade) = &outcome.upgrade {
            let what = if dry_run {
                "the changes below are what upgrading would do"
            } else {
                "upgrading it"
            };
            self.info(&upgrade_line(upgrade, what));
        }
    }

    /// The one piece of advice after conflicts, if any.
    fn conflict_help(&self, outcome: &Outcome, dry_run: bool) {
        let conflicts = outcome.conflicts().count();
        let overlaps = outcome.count(|a| *a == Action::Conflict(crate::write::Conflict::Overlap));
        let unresolved = outcome.count(|a| *a == Action::Conflict(crate::write::Conflict::Unresolved));
        if dry_run && overlaps > 0 {
            self.info("  help: `fleetwright generate` writes both sides between conflict markers for you to resolve; `--force` overwrites your edit instead");
        } else if overlaps + unresolved > 0 {
            self.info(&format!("  help: {MARKERS_HELP}"));
        } else if conflicts > 0 {
            self.info(&format!("  help: {CONFLICT_HELP}"));
        }
    }
}

/// Says that another fleetwright generated the workspace, and `what` this run does about it.
pub(crate) fn upgrade_line(upgrade: &crate::write::Upgrade, what: &str) -> String {
    let (from, to) = if upgrade.from == upgrade.to {
        (
            format!("{} (fleet.lock format {})", upgrade.from, upgrade.from_format),
            format!("{} (format {})", upgrade.to, upgrade.to_format),
        )
    } else {
        (upgrade.from.clone(), upgrade.to.clone())
    };
    format!("workspace generated by fleetwright {from}; this is {to}: {what}")
}
