//! Manifest text → [`Loaded`]: parse (the manifest stage), then validate and resolve (this
//! one). The single way from a file to a model, for the CLI, tests and benchmarks.

use std::path::Path;

use super::{Workspace, resolve, validate};
use crate::diagnostic::Diagnostics;
use crate::error::Error;
use crate::manifest::{self, Migration};
use crate::source::Source;

/// A manifest that passed every rule, resolved, plus the warnings it produced.
#[derive(Debug)]
pub struct Loaded {
    /// The manifest as loaded: migrated to the current format when it was older.
    pub source: Source,
    pub workspace: Workspace,
    pub warnings: Diagnostics,
    /// Set when the manifest file is of an older format and `source` holds it migrated: a
    /// writing run writes the migrated text back.
    pub migration: Option<Migration>,
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
        migration: None,
    })
}

/// Reads, parses, validates and resolves a manifest file.
///
/// # Errors
/// [`Error::ManifestMissing`], [`Error::Io`] or [`Error::Manifest`].
pub fn load(path: &Path) -> Result<Loaded, Error> {
    load_migrated(path, manifest::migrate::STEPS)
}

/// [`load`], migrating a manifest of an older format with `steps` first.
fn load_migrated(path: &Path, steps: &[manifest::migrate::Step]) -> Result<Loaded, Error> {
    let mut source = read(path)?;
    let migration = manifest::migrate::migrate(&source.text, steps).map_err(|reason| {
        Error::usage(
            format!("{}: {reason}", source.name),
            Some("install the fleetwright release that wrote this manifest, or edit it to the current format by hand (see docs/manifest.md)"),
        )
    })?;
    if let Some(migration) = &migration {
        source.text.clone_from(&migration.text);
    }
    let mut loaded = load_source(source)?;
    loaded.migration = migration;
    Ok(loaded)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic version 2, whose manifests name the project under `[system]`.
    fn project_was_system(document: &mut toml_edit::DocumentMut) -> Result<(), String> {
        let system = document.remove("system").ok_or("no [system] table")?;
        document.insert("project", system);
        Ok(())
    }

    /// Loading runs the steps before parsing. This build reads only version 1, so the
    /// migrated manifest (version 2 of a synthetic format) fails validation, which proves
    /// that validation saw the migrated text, comments kept.
    #[test]
    fn an_older_manifest_is_migrated_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        std::fs::write(
            &path,
            "version = 1 # format\n\n[system] # renamed in 2\nname = \"shop\"\n\n[services.users]\ndatabase = \"none\"\n",
        )
        .unwrap();
        let error = load_migrated(&path, &[project_was_system]).unwrap_err();
        let Error::Manifest { file, .. } = error else {
            panic!("expected the migrated manifest to be validated: {error}")
        };
        assert!(file.text.contains("version = 2 # format"), "{}", file.text);
        assert!(file.text.contains("[project] # renamed in 2"), "{}", file.text);
        assert!(!file.text.contains("[system]"));
        // A step that fails is a usage error naming the file and the versions.
        std::fs::write(&path, "version = 1\n[project]\nname = \"shop\"\n").unwrap();
        let error = load_migrated(&path, &[project_was_system]).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("cannot migrate the manifest from version 1 to 2: no [system] table"),
            "{error}"
        );
    }

    #[test]
    fn a_current_manifest_is_not_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        let text = "# mine\nversion = 1\n[project]\nname = \"shop\"\n[services.users]\ndatabase = \"none\"\n";
        std::fs::write(&path, text).unwrap();
        let loaded = load(&path).unwrap();
        assert!(loaded.migration.is_none());
        assert_eq!(loaded.source.text, text);
    }
}
