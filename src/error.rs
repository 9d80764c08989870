//! The library's error type: one variant per failure family. Manifest problems are
//! [`Diagnostics`] (many at once, with spans); everything else is a single error. Each error
//! knows its exit status, its help and what it left behind, so printers only print.

use std::path::PathBuf;

use serde::Serialize;

use crate::diagnostic::Diagnostics;
use crate::source::Source;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest is invalid; the source travels along so the CLI can show excerpts.
    #[error("invalid manifest {}", .file.name)]
    Manifest {
        file: Box<Source>,
        diagnostics: Diagnostics,
    },

    /// The manifest changes stored data in a way that needs a decision written in it (a
    /// default, a rename, a replaced enum value); [`Error::with_source`] turns it into
    /// [`Error::Manifest`] once the manifest's text is at hand.
    #[error("the manifest changes stored data in a way that needs a decision:{}", schema_messages(.0))]
    Schema(Diagnostics),

    #[error("no manifest at {}", .0.display())]
    ManifestMissing(PathBuf),

    /// No `fleet.toml` in the folder a command ran in, nor in any folder above it.
    #[error("no fleet.toml in {} or any folder above it", .0.display())]
    NoManifest(PathBuf),

    #[error("cannot {action} {}: {error}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },

    /// A template failed to render: names the template and the entity it was rendering for.
    #[error("template `{template}` failed for {entity}: {reason}")]
    Template {
        template: String,
        entity: String,
        reason: String,
    },

    /// The lockfile (`fleet.lock`) is unreadable.
    #[error("{} is damaged: {reason}", .path.display())]
    Lockfile { path: PathBuf, reason: String },

    /// `fleet.lock` does not parse.
    #[error("{} is damaged and cannot be read: {reason}", .path.display())]
    LockDamaged { path: PathBuf, reason: String },

    /// `fleet.lock` is missing from a workspace that was generated before: without it, hand
    /// edits cannot be told from generated text.
    #[error("{} is missing, but this workspace was generated before (it has generated files)", .0.display())]
    LockMissing(PathBuf),

    /// `fleet.lock` and the workspace's files disagree in a way no generation can settle
    /// (generating would renumber a proto field or replace an applied migration).
    #[error("fleet.lock and the workspace disagree; nothing was written{}", inconsistencies(.0))]
    Inconsistent(Vec<Inconsistency>),

    /// A path produced by a template or override would land outside the workspace.
    #[error("refusing to write outside the workspace: {0}")]
    UnsafePath(String),

    /// Another fleetwright run holds the workspace.
    #[error("another fleetwright run is working in {}; wait for it to finish", .0.display())]
    Busy(PathBuf),

    /// The user asked for something that does not apply (e.g. `new` into a non-empty dir).
    #[error("{message}")]
    Usage { message: String, help: Option<String> },

    #[error("this is a bug in fleetwright, please report it: {0}")]
    Bug(String),

    /// A failure after some generated files were already in place: they are complete, and
    /// `fleet.lock` (written last) still describes the previous run.
    #[error(transparent)]
    Interrupted(Box<Error>),
}

/// Exit status of a run that failed: `check` found drift, a conflict stopped a write, or the
/// system refused (I/O, another run, a bug).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status of invalid input or usage: nothing was attempted.
pub(crate) const EXIT_INVALID: u8 = 2;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            error,
        }
    }

    pub(crate) fn usage(message: impl Into<String>, help: Option<&str>) -> Self {
        Self::Usage {
            message: message.into(),
            help: help.map(str::to_owned),
        }
    }

    /// Schema problems pointed at `source`, the manifest they were found in.
    #[must_use]
    pub(crate) fn with_source(self, source: &Source) -> Self {
        match self {
            Self::Schema(diagnostics) => Self::Manifest {
                file: Box::new(source.clone()),
                diagnostics,
            },
            other => other,
        }
    }

    /// Marks an error that struck after generated files were written.
    #[must_use]
    pub(crate) fn interrupted(self) -> Self {
        match self {
            Self::Interrupted(_) => self,
            other => Self::Interrupted(Box::new(other)),
        }
    }

    /// The exit status this error means ([`EXIT_INVALID`] or [`EXIT_FAILED`]).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Manifest { .. }
            | Self::Schema(_)
            | Self::ManifestMissing(_)
            | Self::NoManifest(_)
            | Self::Usage { .. }
            | Self::UnsafePath(_)
            | Self::Template { .. }
            | Self::Lockfile { .. } => EXIT_INVALID,
            Self::Io { .. }
            | Self::Busy(_)
            | Self::Bug(_)
            | Self::LockDamaged { .. }
            | Self::LockMissing(_)
            | Self::Inconsistent(_) => EXIT_FAILED,
            Self::Interrupted(error) => error.exit_code(),
        }
    }

    /// One concrete way out, if there is one to give.
    pub(crate) fn help(&self) -> Option<&str> {
        match self {
            Self::Usage { help, .. } => help.as_deref(),
            Self::ManifestMissing(_) => Some("check the path, or run `fleetwright init` there to write one"),
            Self::NoManifest(_) => Some(
                "run this inside a project, or pass `-C DIR` / `--manifest PATH`; start one with `fleetwright new DIR` or `fleetwright init`",
            ),
            Self::Interrupted(error) => error.help(),
            Self::LockDamaged { .. } | Self::LockMissing(_) => Some(LOCK_RECOVERY),
            _ => None,
        }
    }

    /// What the error left behind in the workspace, when the user needs to know.
    pub(crate) fn note(&self) -> Option<&'static str> {
        match self {
            Self::Interrupted(_) => Some(
                "files written before this error are complete; fleet.lock was not updated, so the next `fleetwright generate` finishes the job",
            ),
            _ => None,
        }
    }
}

/// What to do when `fleet.lock` is missing or damaged; never `--force`, which cannot tell
/// hand edits from generated text without it.
pub(crate) const LOCK_RECOVERY: &str = "restore it from version control (`git checkout fleet.lock`); if it is lost, rebuild it from the workspace with `fleetwright generate --recover-lock`, which keeps proto numbers, migrations and hand edits";

fn schema_messages(diagnostics: &Diagnostics) -> String {
    use std::fmt::Write as _;
    diagnostics.items.iter().fold(String::new(), |mut out, d| {
        let _ = write!(out, "\n  {}", d.message);
        out
    })
}

fn inconsistencies(found: &[Inconsistency]) -> String {
    use std::fmt::Write as _;
    found.iter().fold(String::new(), |mut out, f| {
        let _ = write!(out, "\n  {}: {}\n    help: {}", f.path, f.message, f.help);
        out
    })
}

/// One problem found between the lock, the manifest and the files on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inconsistency {
    /// The file it is about, relative to the workspace.
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub help: String,
    pub kind: InconsistencyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InconsistencyKind {
    /// Generating would break what is deployed (renumber a field, replace a migration):
    /// nothing is generated until it is resolved.
    Blocking,
    /// The workspace is not what fleetwright generated and it cannot repair it; generation
    /// goes on, leaves the file alone, and reports it (exit 1).
    Error,
    /// Something only the disk remembered, now recorded in `fleet.lock` again.
    Adopted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_after_writing_say_that_files_were_written() {
        let io = || Error::io("replace", "a.rs", std::io::Error::other("disk full"));
        for before in [io(), Error::Busy(PathBuf::from(".")), Error::Bug("x".into())] {
            assert_eq!(before.note(), None, "{before}");
            assert_eq!(before.exit_code(), EXIT_FAILED);
        }
        let after = io().interrupted().interrupted();
        assert!(
            after
                .note()
                .is_some_and(|n| n.starts_with("files written before this error"))
        );
        assert_eq!((after.exit_code(), after.to_string()), (EXIT_FAILED, io().to_string()));
        assert!(matches!(&after, Error::Interrupted(inner) if !matches!(**inner, Error::Interrupted(_))));
    }

    #[test]
    fn usage_errors_carry_their_help_and_status() {
        let usage = Error::usage("no", Some("do this"));
        assert_eq!((usage.help(), usage.exit_code()), (Some("do this"), EXIT_INVALID));
        assert!(Error::ManifestMissing(PathBuf::from("fleet.toml")).help().is_some());
        assert_eq!(Error::NoManifest(PathBuf::from(".")).exit_code(), EXIT_INVALID);
    }
}
