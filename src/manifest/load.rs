//! Turns manifest bytes into a [`Manifest`]: encoding checks, TOML syntax, unknown keys and
//! value types. Every problem becomes a [`Diagnostic`] with a span; meaning is checked later
//! by `validate`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value as Json;
use toml::de::{DeTable, DeValue};

use super::schema::Manifest;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};

/// Largest manifest we read: far above any real system, small enough to reject a wrong file fast.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

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
    /// Only I/O errors; encoding problems are reported by [`parse`].
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(Self::from_bytes(path, &bytes))
    }

    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Self {
        let mut decode_problems = Vec::new();
        let name = path.display().to_string();
        if bytes.len() > MAX_MANIFEST_BYTES {
            decode_problems.push(
                Diagnostic::error(
                    "E002",
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
                    Diagnostic::error("E002", "manifest is not valid UTF-8")
                        .at(at..at + 1, "this byte is not UTF-8")
                        .help("save the file as UTF-8"),
                );
                String::from_utf8_lossy(bytes).into_owned()
            }
        };
        if text.starts_with('\u{feff}') {
            decode_problems.push(
                Diagnostic::error("E002", "manifest starts with a byte-order mark")
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
}

/// Parses and type-checks a manifest, reporting every problem found at this level.
///
/// # Errors
/// All diagnostics when any of them is an error.
pub fn parse(source: &Source) -> Result<Manifest, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    diagnostics.extend(source.decode_problems.iter().cloned());
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let text = source.text.as_str();
    let (table, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            diagnostics.push(toml_error("E001", "invalid TOML", &error, text));
        }
        diagnostics.sort();
        return Err(diagnostics);
    }
    unknown_keys(manifest_schema(), manifest_schema(), table.get_ref(), &mut diagnostics);

    let deserializer = toml::Deserializer::from(table);
    match serde::Deserialize::deserialize(deserializer) {
        Ok(manifest) if !diagnostics.has_errors() => Ok(manifest),
        Ok(_) => {
            diagnostics.sort();
            Err(diagnostics)
        }
        Err(error) => {
            diagnostics.push(toml_error("E002", "wrong type or value", &error, text));
            diagnostics.sort();
            Err(diagnostics)
        }
    }
}

fn toml_error(code: &'static str, headline: &str, error: &toml::de::Error, text: &str) -> Diagnostic {
    // toml's messages are full sentences; keep the first line, lowercase, as our message.
    let detail = error
        .message()
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.');
    let message = if detail.is_empty() {
        headline.to_owned()
    } else {
        format!("{headline}: {detail}")
    };
    let span = error.span().map(|span| widen_empty(span, text));
    let help = if code == "E001" {
        "see https://toml.io for the syntax; strings need quotes, tables need `[name]` headers"
    } else {
        "`fleetwright schema` prints the expected type of every key"
    };
    Diagnostic::error(code, message).at_opt(span, "here").help(help)
}

fn widen_empty(span: Range<usize>, text: &str) -> Range<usize> {
    if span.is_empty() && span.start < text.len() {
        span.start..span.start + 1
    } else {
        span
    }
}

/// The JSON Schema of the manifest, built once: the single source of which keys exist.
pub fn manifest_schema() -> &'static Json {
    static SCHEMA: OnceLock<Json> = OnceLock::new();
    SCHEMA.get_or_init(|| schemars::schema_for!(Manifest).to_value())
}

/// Reports every key the schema does not know, with a suggestion from the keys it does.
fn unknown_keys(root: &Json, schema: &Json, table: &DeTable<'_>, out: &mut Diagnostics) {
    let schema = resolve(root, schema);
    let properties = schema.get("properties").and_then(Json::as_object);
    let additional = schema.get("additionalProperties").filter(|v| v.is_object());
    for (key, value) in table {
        let name = key.get_ref().as_ref();
        let Some(child) = properties.and_then(|p| p.get(name)).or(additional) else {
            let Some(properties) = properties else { continue };
            let mut diagnostic =
                Diagnostic::error("E003", format!("unknown key `{name}`")).at(key.span(), "not a key here");
            diagnostic = match did_you_mean(name, properties.keys().map(String::as_str)) {
                Some(known) => diagnostic.help(format!("did you mean `{known}`?")),
                None => diagnostic.help(format!(
                    "expected one of {}",
                    properties
                        .keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            out.push(diagnostic);
            continue;
        };
        match value.get_ref() {
            DeValue::Table(inner) => unknown_keys(root, child, inner, out),
            DeValue::Array(items) => {
                let item_schema = resolve(root, child).get("items").cloned();
                if let Some(item_schema) = item_schema {
                    for item in items {
                        if let DeValue::Table(inner) = item.get_ref() {
                            unknown_keys(root, &item_schema, inner, out);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Follows `$ref` and picks the object branch of `Option<T>` (`anyOf: [T, null]`).
fn resolve<'a>(root: &'a Json, mut schema: &'a Json) -> &'a Json {
    for _ in 0..8 {
        if let Some(reference) = schema.get("$ref").and_then(Json::as_str) {
            let name = reference.rsplit('/').next().unwrap_or_default();
            match root.get("$defs").and_then(|defs| defs.get(name)) {
                Some(target) => schema = target,
                None => return schema,
            }
        } else if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Json::as_array)
        {
            match branches
                .iter()
                .find(|b| b.get("type").and_then(Json::as_str) != Some("null"))
            {
                Some(branch) => schema = branch,
                None => return schema,
            }
        } else {
            return schema;
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        match parse(&Source::from_text("fleet.toml", text)) {
            Ok(_) => vec![],
            Err(d) => d.items.iter().map(|d| d.code).collect(),
        }
    }

    #[test]
    fn reports_every_unknown_key_in_one_run() {
        let text = "[project]\nname = \"shop\"\nnam = 1\n[services.a]\ndatabse = \"sqlite\"\n";
        assert_eq!(codes(text), vec!["E003", "E003"]);
    }

    #[test]
    fn entity_field_names_are_free_form() {
        let text = "[project]\nname = \"shop\"\n[services.a.entities.Order]\nanything = \"string\"\n";
        assert_eq!(codes(text), Vec::<&str>::new());
    }

    #[test]
    fn syntax_errors_stop_before_types() {
        assert_eq!(codes("[project\nname = 1"), vec!["E001"]);
    }
}
