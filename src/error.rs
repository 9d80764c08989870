//! The library's error type: one variant per failure family. Manifest problems are
//! [`Diagnostics`] (many at once, with spans); everything else is a single error.

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
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            error,
        }
    }

    pub fn usage(message: impl Into<String>, help: Option<&str>) -> Self {
        Self::Usage {
            message: message.into(),
            help: help.map(str::to_owned),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
