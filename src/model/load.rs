//! Manifest text → [`Loaded`]: parse (the manifest stage), then validate and resolve (this
//! one). The single way from a file to a model, for the CLI, tests and benchmarks.

use std::path::Path;

use super::{Workspace, resolve, validate};
use crate::diagnostic::Diagnostics;
use crate::error::Error;
use crate::manifest;
use crate::source::Source;

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
    let manifest = match manifest::parse(&source) {
        Ok(manifest) => manifest,
        Err(diagnostics) => {
            return Err(Error::Manifest {
                file: Box::new(source),
                diagnostics,
            });
        }
    };
    let validated = validate(&manifest);
    if validated.diagnostics.has_errors() {
        return Err(Error::Manifest {
            file: Box::new(source),
            diagnostics: validated.diagnostics,
        });
    }
    let workspace = resolve(&manifest, &validated.choices)?;
    Ok(Loaded {
        source,
        workspace,
        warnings: validated.diagnostics,
    })
}

/// Reads, parses, validates and resolves a manifest file.
///
/// # Errors
/// [`Error::ManifestMissing`], [`Error::Io`] or [`Error::Manifest`].
pub fn load(path: &Path) -> Result<Loaded, Error> {
    load_source(read(path)?)
}

/// Reads a manifest file, saying which error a missing one is.
///
/// # Errors
/// [`Error::ManifestMissing`] or [`Error::Io`].
pub(crate) fn read(path: &Path) -> Result<Source, Error> {
    Source::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Error::ManifestMissing(path.to_owned()),
        _ => Error::io("read", path, error),
    })
}
