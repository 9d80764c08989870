//! `fleet.toml`: its serde mirror ([`schema`]), reading and type checks ([`load`]), rules of
//! meaning ([`validate`]), name rules ([`names`]) and comment-preserving edits ([`edit`]).

pub mod edit;
pub mod load;
pub mod names;
pub mod schema;
pub mod validate;

use std::path::Path;

pub use load::parse;
pub use schema::Manifest;
pub use validate::validate;

use crate::diagnostic::Diagnostics;
use crate::error::Error;
use crate::model::{self, Workspace};
use crate::source::Source;

/// The standard manifest file name.
pub const FILE_NAME: &str = "fleet.toml";

/// A manifest that passed every rule, resolved, plus the warnings it produced.
#[derive(Debug)]
pub struct Loaded {
    pub source: Source,
    pub workspace: Workspace,
    pub warnings: Diagnostics,
}

/// Parses, validates and resolves manifest text.
///
/// # Errors
/// [`Error::Manifest`] with every diagnostic when any is an error.
pub fn load_source(source: Source) -> Result<Loaded, Error> {
    let manifest = match parse(&source) {
        Ok(manifest) => manifest,
        Err(diagnostics) => {
            return Err(Error::Manifest {
                file: Box::new(source),
                diagnostics,
            });
        }
    };
    let diagnostics = validate(&manifest);
    if diagnostics.has_errors() {
        return Err(Error::Manifest {
            file: Box::new(source),
            diagnostics,
        });
    }
    let workspace = model::resolve(&manifest)?;
    Ok(Loaded {
        source,
        workspace,
        warnings: diagnostics,
    })
}

/// Reads, parses, validates and resolves a manifest file.
///
/// # Errors
/// [`Error::ManifestMissing`], [`Error::Io`] or [`Error::Manifest`].
pub fn load(path: &Path) -> Result<Loaded, Error> {
    let source = Source::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Error::ManifestMissing(path.to_owned()),
        _ => Error::io("read", path, error),
    })?;
    load_source(source)
}
