//! Reads the files whose contents `fleet.lock`'s state must agree with: each service's proto
//! file and its migration files (see `model::recover`, which makes sense of them). It only
//! reads, through the same symlink guard as every other read of the workspace.

use std::collections::BTreeMap;
use std::path::Path;

use super::filesystem::{Root, read_text};
use crate::error::Error;
use crate::plan::RelPath;

/// The texts found, by workspace-relative path.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Proto files that exist, with their text.
    pub protos: Vec<(String, String)>,
    /// Per service: its migration files (path, file name, text), in file name order.
    pub migrations: BTreeMap<String, Vec<(String, String, String)>>,
}

impl Found {
    /// Whether the workspace has any of these files: then it was generated before.
    pub(crate) fn is_empty(&self) -> bool {
        self.protos.is_empty() && self.migrations.values().all(Vec::is_empty)
    }
}

/// Reads the proto file `proto/<proto_file>` of each `(name, proto_file, has_migrations)`,
/// and its `services/<name>/migrations/*.sql` files when it has migrations.
///
/// # Errors
/// [`Error::Io`] on a failed read, [`Error::UnsafePath`] for a path through a symbolic link.
pub(crate) fn survey(root: &Path, services: &[(&str, &str, bool)]) -> Result<Found, Error> {
    let root = Root::new(root);
    let mut found = Found::default();
    for (service, proto_file, has_migrations) in services {
        let path = RelPath::new(&format!("proto/{proto_file}"))?;
        if let Some(text) = read_text(&root, &path)? {
            found.protos.push((path.to_string(), text));
        }
        if !has_migrations {
            continue;
        }
        let folder = format!("services/{service}/migrations");
        let mut files = Vec::new();
        // No folder is no migrations; any other failure must not pass for an empty history.
        let entries = match std::fs::read_dir(root.path.join(&folder)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("list", root.path.join(&folder), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", root.path.join(&folder), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !Path::new(&name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
            {
                continue;
            }
            let path = RelPath::new(&format!("{folder}/{name}"))?;
            if let Some(text) = read_text(&root, &path)? {
                files.push((path.to_string(), name, text));
            }
        }
        files.sort();
        found.migrations.insert((*service).to_owned(), files);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_migrations_folder_is_no_history_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let found = survey(dir.path(), &[("notes", "hello/notes/v1/notes.proto", true)]).unwrap();
        assert!(!found.migrations.contains_key("notes"), "{:?}", found.migrations);
        // A file where the folder should be cannot be listed: a recovery must not read it as
        // an empty migration history.
        std::fs::create_dir_all(dir.path().join("services/notes")).unwrap();
        std::fs::write(dir.path().join("services/notes/migrations"), "").unwrap();
        let failed = survey(dir.path(), &[("notes", "hello/notes/v1/notes.proto", true)]);
        assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    }
}
