//! The contract between `render` and `write`: what render produces (every output path with
//! its bytes and owner, in groups or one [`Plan`]) and write consumes, and the content hash
//! both record. Paths are checked on construction so nothing outside the workspace can ever
//! be planned. A shared leaf: it knows no stage, only the error type.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Who owns a generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// Regenerated every time; hand edits are detected and never silently overwritten.
    Managed,
    /// Created once, then the user's: never rewritten.
    Scaffold,
}

/// A normalised relative path with `/` separators that cannot leave the workspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

impl RelPath {
    /// # Errors
    /// [`Error::UnsafePath`] for absolute paths, `..`, empty segments or odd characters.
    pub(crate) fn new(path: &str) -> Result<Self, Error> {
        let ok = !path.is_empty()
            && !path.starts_with('/')
            && !path.contains('\\')
            && !path.contains('\0')
            && !path.contains(':')
            && path.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..");
        if ok {
            Ok(Self(path.to_owned()))
        } else {
            Err(Error::UnsafePath(path.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RelPath {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(&value)
    }
}

impl From<RelPath> for String {
    fn from(value: RelPath) -> Self {
        value.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One file the generator wants to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub contents: String,
    pub owner: Owner,
}

/// The files of one entity (the workspace, or one service), as rendered together.
pub(crate) type Group = Vec<(RelPath, PlannedFile)>;

/// Everything one generation produces, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub files: BTreeMap<RelPath, PlannedFile>,
    /// Hash of the resolved model the plan was rendered from, recorded in `fleet.lock`.
    pub fingerprint: String,
}

/// `sha256:<hex>` of bytes: how `fleet.lock` names a file's text and the model's fingerprint.
pub(crate) fn hash_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::RelPath;

    #[test]
    fn paths_cannot_escape() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "C:/x", "./a"] {
            assert!(RelPath::new(bad).is_err(), "{bad}");
        }
        assert!(RelPath::new("services/orders/src/lib.rs").is_ok());
    }
}
