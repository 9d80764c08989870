//! `fleet.lock`: what the last generation wrote. Users commit it. It records, per managed file,
//! the hash of the generated text (user regions blanked), so a later run can tell "unchanged
//! since we wrote it" from "edited by hand", and the text of that hash is kept in the base
//! mirror (see [`base`](super::base)) for three-way merges. A hand edit fleetwright has seen
//! and kept (merged, or nothing new to merge) is recorded too, so `check` passes on it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::regions;
use crate::error::Error;
use crate::plan::{Owner, RelPath, hash_bytes};

pub(crate) const LOCK_FILE: &str = "fleet.lock";
/// Bumped when the lock's shape changes incompatibly. 2: the base of every managed file is
/// kept in `.fleetwright/base` (an older fleetwright would not keep it in step), and kept hand
/// edits are recorded.
pub(crate) const LOCK_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// Lock format version.
    pub format: u32,
    /// fleetwright version that wrote it.
    pub tool: String,
    /// Hash of the resolved manifest (comments and layout do not count).
    pub manifest: String,
    /// Every file fleetwright owns or created, by path.
    #[serde(default)]
    pub files: BTreeMap<RelPath, LockedFile>,
    /// Proto numbers and migration history: what must stay stable across generations.
    #[serde(default)]
    pub state: crate::model::State,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedFile {
    pub owner: Owner,
    /// `sha256:<hex>` of the generated text with user regions blanked; for scaffold files,
    /// of the text first created. For a managed file, the hash of its base.
    pub hash: String,
    /// A managed file edited by hand that fleetwright kept: the hash (user regions blanked)
    /// of the text it left on disk, after merging or finding nothing new to merge. The same
    /// text on disk is the user's recorded version, not drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<String>,
}

impl Lockfile {
    pub(crate) fn new(manifest_hash: String, state: crate::model::State) -> Self {
        Self {
            format: LOCK_FORMAT,
            tool: env!("CARGO_PKG_VERSION").to_owned(),
            manifest: manifest_hash,
            files: BTreeMap::new(),
            state,
        }
    }

    /// Reads the lock of a workspace; `None` when there is none yet.
    ///
    /// # Errors
    /// [`Error::LockDamaged`] when it exists but does not parse, [`Error::Lockfile`] when it
    /// is from a newer format.
    pub fn read(root: &Path) -> Result<Option<Self>, Error> {
        let path = root.join(LOCK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let lock: Self = toml::from_str(&text).map_err(|e| Error::LockDamaged {
            path: path.clone(),
            reason: e.message().trim_end().to_owned(),
        })?;
        if lock.format > LOCK_FORMAT {
            return Err(Error::Lockfile {
                path,
                reason: format!("written by a newer fleetwright ({}); upgrade fleetwright", lock.tool),
            });
        }
        Ok(Some(lock))
    }

    /// The lock's file text: stable, sorted, with a header explaining it.
    pub(crate) fn to_text(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# fleet.lock: written by fleetwright; commit it. It records what was generated, so\n\
             # hand edits to generated files are detected instead of overwritten. Do not edit.\n{body}"
        )
    }
}

/// `sha256:<hex>` of text with user regions blanked.
pub fn hash(text: &str) -> String {
    hash_bytes(regions::blank(text).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_sorted() {
        let mut lock = Lockfile::new(hash("m"), crate::model::State::default());
        lock.files.insert(
            RelPath::new("b.rs").unwrap(),
            LockedFile {
                owner: Owner::Managed,
                hash: hash("b"),
                edited: Some(hash("b, edited")),
            },
        );
        lock.files.insert(
            RelPath::new("a.rs").unwrap(),
            LockedFile {
                owner: Owner::Scaffold,
                hash: hash("a"),
                edited: None,
            },
        );
        let text = lock.to_text();
        assert!(text.find("a.rs").unwrap() < text.find("b.rs").unwrap());
        let back: Lockfile = toml::from_str(&text).unwrap();
        assert_eq!(back, lock);
    }
}
