//! The library's error type: one variant per failure family. Manifest problems are
//! [`Diagnostics`] (many at once, with spans); everything else is a single error. Each error
//! knows its exit status, its help and what it left behind, so printers only print.

use std::path::PathBuf;

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
            | Self::ManifestMissing(_)
            | Self::NoManifest(_)
            | Self::Usage { .. }
            | Self::UnsafePath(_)
            | Self::Template { .. }
            | Self::Lockfile { .. } => EXIT_INVALID,
            Self::Io { .. } | Self::Busy(_) | Self::Bug(_) => EXIT_FAILED,
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
