//! A manifest file as read: its name, its text and what was wrong with its bytes. It sits
//! beside the diagnostic renderer, which shows excerpts of it, so errors can carry it without
//! depending on any stage; it never parses or judges the text.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic};

/// Largest manifest we read: far above any real system, small enough to reject a wrong file fast.
pub(crate) const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// A manifest file as read from disk.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it was read from.
    pub path: PathBuf,
    /// How diagnostics name it (the path as the user gave it).
    pub name: String,
    /// The text; invalid UTF-8 is replaced so it can still be shown.
    pub text: String,
    /// Problems found while decoding the bytes.
    decode_problems: Vec<Diagnostic>,
}

impl Source {
    /// Reads a manifest file.
    ///
    /// # Errors
    /// Only I/O errors; encoding problems are reported by `manifest::parse`.
    pub(crate) fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(Self::from_bytes(path, &bytes))
    }

    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Self {
        let mut decode_problems = Vec::new();
        let name = path.display().to_string();
        if bytes.len() > MAX_MANIFEST_BYTES {
            decode_problems.push(
                Diagnostic::error(
                    Code::E002,
                    format!("manifest is {} bytes, more than the 1 MiB limit", bytes.len()),
                )
                .help("check that this is the right file; a manifest for even 1,000 services is far smaller"),
            );
            return Self {
                path: path.to_owned(),
                name,
                text: String::new(),
                decode_problems,
            };
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(error) => {
                let at = error.valid_up_to();
                decode_problems.push(
                    Diagnostic::error(Code::E002, "manifest is not valid UTF-8")
                        .at(at..at + 1, "this byte is not UTF-8")
                        .help("save the file as UTF-8"),
                );
                String::from_utf8_lossy(bytes).into_owned()
            }
        };
        if text.starts_with('\u{feff}') {
            decode_problems.push(
                Diagnostic::error(Code::E002, "manifest starts with a byte-order mark")
                    .at(0..3, "byte-order mark")
                    .help("save the file as UTF-8 without a BOM"),
            );
        }
        Self {
            path: path.to_owned(),
            name,
            text,
            decode_problems,
        }
    }

    pub fn from_text(name: &str, text: &str) -> Self {
        Self::from_bytes(Path::new(name), text.as_bytes())
    }

    /// Problems found while decoding the bytes (size, UTF-8, byte-order mark), reported
    /// first by the manifest parser.
    pub(crate) fn decode_problems(&self) -> &[Diagnostic] {
        &self.decode_problems
    }
}
