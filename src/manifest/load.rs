//! Turns manifest bytes into a [`Manifest`]: encoding checks, TOML syntax, unknown keys and
//! value types. Every problem becomes a [`Diagnostic`] with a span; meaning is checked later
//! by `model::validate`.

use std::ops::Range;
use std::sync::OnceLock;

use serde_json::Value as Json;
use toml::de::{DeTable, DeValue};

use super::schema::Manifest;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::source::Source;

/// Parses and type-checks a manifest, reporting every problem found at this level.
///
/// # Errors
/// All diagnostics when any of them is an error.
pub(crate) fn parse(source: &Source) -> Result<Manifest, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    diagnostics.extend(source.decode_problems().iter().cloned());
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let text = source.text.as_str();
    let (table, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            diagnostics.push(toml_error(Code::E001, "invalid TOML", &error, text));
        }
        diagnostics.sort();
        return Err(diagnostics);
    }
    check_table(
        manifest_schema(),
        manifest_schema(),
        table.get_ref(),
        None,
        &mut diagnostics,
    );
    if diagnostics.has_errors() {
        // Every unknown key, wrong type and missing key is already reported: the
        // deserializer would only repeat the first of them.
        diagnostics.sort();
        return Err(diagnostics);
    }

    let deserializer = toml::Deserializer::from(table);
    match serde::Deserialize::deserialize(deserializer) {
        Ok(manifest) if !diagnostics.has_errors() => Ok(manifest),
        Ok(_) => {
            diagnostics.sort();
            Err(diagnostics)
        }
        Err(error) => {
            diagnostics.push(toml_error(Code::E002, "wrong type or value", &error, text));
            diagnostics.sort();
            Err(diagnostics)
        }
    }
}

fn toml_error(code: Code, headline: &str, error: &toml::de::Error, text: &str) -> Diagnostic {
    // toml's messages are full sentences in Rust terms; keep the first line, in user terms.
    let detail = error
        .message()
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.');
    let detail = plain_types(detail);
    let message = if detail.is_empty() {
        headline.to_owned()
    } else {
        format!("{headline}: {detail}")
    };
    let missing = detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    // A missing key is reported on the table that lacks it; a missing top-level table has no
    // useful position at all.
    let span = error
        .span()
        .filter(|s| !(missing.is_some() && s.start == 0))
        .map(|span| on_one_line(span, text));
    let help = match (code, missing) {
        (Code::E001, _) => {
            "see https://toml.io for the syntax; strings need quotes, tables need `[name]` headers".to_owned()
        }
        (_, Some("project")) => "add a `[project]` table with `name = \"...\"`".to_owned(),
        (_, Some(key)) => format!("add `{key} = ...` to this table"),
        _ => "`fleetwright schema` prints the expected type of every key".to_owned(),
    };
    Diagnostic::error(code, message).at_opt(span, "here").help(help)
}

/// Rust type names in serde messages, in the words of the manifest reference.
fn plain_types(detail: &str) -> String {
    // toml reads integers as i128 first; "as i128, expected i64" means "too large".
    if let Some(rest) = detail.strip_prefix("invalid type: integer `")
        && let Some((number, tail)) = rest.split_once("` as i128")
        && tail.starts_with(", expected")
    {
        return format!("integer `{number}` is too large");
    }
    let mut out = detail.to_owned();
    for (rust, plain) in [
        ("i128", "an integer"),
        ("u64", "an integer"),
        ("i64", "an integer"),
        ("u32", "an integer"),
        ("u16", "an integer"),
        ("a string", "a string"),
        ("a boolean", "true or false"),
    ] {
        out = out.replace(&format!("expected {rust}"), &format!("expected {plain}"));
        out = out.replace(&format!("as {rust}"), "as an integer");
    }
    out
}

/// Keeps a caret on the line it starts on: an error at a line end would otherwise underline
/// the line break and draw a two-line marker.
fn on_one_line(span: Range<usize>, text: &str) -> Range<usize> {
    let start = span.start.min(text.len());
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    if start == line_end {
        // At the end of the line (or file): point at the last character before it.
        let back = text[..start].chars().next_back().map_or(0, char::len_utf8);
        return start - back..start;
    }
    start..span.end.clamp(start + 1, line_end.max(start + 1))
}

/// The JSON Schema of the manifest, built once: the single source of which keys exist.
pub(crate) fn manifest_schema() -> &'static Json {
    static SCHEMA: OnceLock<Json> = OnceLock::new();
    // Draft 7, the newest dialect editors such as Taplo and VS Code validate with.
    SCHEMA.get_or_init(|| {
        schemars::generate::SchemaSettings::draft07()
            .into_generator()
            .into_root_schema_for::<Manifest>()
            .to_value()
    })
}

/// Checks a table against its schema and reports every problem, not the first: keys the
/// schema does not know (with a suggestion from the keys it does), values of the wrong type,
/// and required keys that are missing. `at` is where the table is written (its header or
/// its inline braces), for the missing keys; the top-level table has no such place.
fn check_table(root: &Json, schema: &Json, table: &DeTable<'_>, at: Option<&Range<usize>>, out: &mut Diagnostics) {
    let schema = resolve(root, schema);
    let properties = schema.get("properties").and_then(Json::as_object);
    let additional = schema.get("additionalProperties").filter(|v| v.is_object());
    for (key, value) in table {
        let name = key.get_ref().as_ref();
        let Some(child) = properties.and_then(|p| p.get(name)).or(additional) else {
            let Some(properties) = properties else { continue };
            let mut diagnostic =
                Diagnostic::error(Code::E003, format!("unknown key `{name}`")).at(key.span(), "not a key here");
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
        check_value(root, child, name, value.get_ref(), value.span(), out);
    }
    let required = schema.get("required").and_then(Json::as_array).into_iter().flatten();
    for key in required.filter_map(Json::as_str) {
        if table.get(key).is_none() {
            let help = if at.is_none() && key == "project" {
                "add a `[project]` table with `name = \"...\"`".to_owned()
            } else {
                format!("add `{key} = ...` to this table")
            };
            out.push(
                Diagnostic::error(Code::E002, format!("missing key `{key}`"))
                    .at_opt(at.cloned(), "this table")
                    .help(help),
            );
        }
    }
}

/// Checks one value (of key `name`) against its schema, then what it holds.
fn check_value(root: &Json, schema: &Json, name: &str, value: &DeValue<'_>, span: Range<usize>, out: &mut Diagnostics) {
    let found = match value {
        DeValue::String(_) => "string",
        DeValue::Integer(_) => "integer",
        DeValue::Float(_) => "number",
        DeValue::Boolean(_) => "boolean",
        DeValue::Datetime(_) => "datetime",
        DeValue::Array(_) => "array",
        DeValue::Table(_) => "object",
    };
    if let Some(expected) = json_types(root, schema, 0) {
        let fits = |t: &str| t == found || (t == "number" && found == "integer");
        if !expected.iter().any(|t| fits(t)) {
            let wanted: Vec<&str> = expected.into_iter().filter(|t| *t != "null").map(type_words).collect();
            out.push(
                Diagnostic::error(
                    Code::E002,
                    format!(
                        "wrong type: `{name}` must be {}, not {}",
                        wanted.join(" or "),
                        type_words(found)
                    ),
                )
                .at(span, "here")
                .help("`fleetwright schema` prints the expected type of every key"),
            );
            return;
        }
    }
    match value {
        DeValue::Table(inner) => check_table(root, schema, inner, Some(&span), out),
        DeValue::Array(items) => {
            if let Some(item_schema) = resolve(root, schema).get("items") {
                for (index, item) in items.iter().enumerate() {
                    let item_name = format!("{name}[{index}]");
                    check_value(root, item_schema, &item_name, item.get_ref(), item.span(), out);
                }
            }
        }
        _ => {}
    }
}

/// The JSON types a schema allows, following `$ref` and the branches of `anyOf`, `oneOf` and
/// `allOf` (which schemars only uses to wrap one `$ref`, so a union is right for it too);
/// `None` when it does not say (anything goes).
fn json_types<'a>(root: &'a Json, schema: &'a Json, depth: u8) -> Option<Vec<&'a str>> {
    if depth > 8 {
        return None;
    }
    if schema.get("$ref").is_some() {
        return json_types(root, referenced(root, schema)?, depth + 1);
    }
    match schema.get("type") {
        Some(Json::String(one)) => return Some(vec![one.as_str()]),
        Some(Json::Array(many)) => return Some(many.iter().filter_map(Json::as_str).collect()),
        _ => {}
    }
    let mut all = Vec::new();
    for branch in branches(schema)? {
        all.extend(json_types(root, branch, depth + 1)?);
    }
    Some(all)
}

/// A JSON type in the words of the manifest reference.
fn type_words(json_type: &str) -> &'static str {
    match json_type {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean (true or false)",
        "array" => "a list (`[...]`)",
        "object" => "a table",
        "datetime" => "a date-time",
        _ => "a value",
    }
}

/// Follows `$ref`, draft 7's `allOf: [$ref]` wrapper, and picks the object branch of
/// `Option<T>` (`anyOf: [T, null]`).
fn resolve<'a>(root: &'a Json, mut schema: &'a Json) -> &'a Json {
    for _ in 0..8 {
        let next = if schema.get("$ref").is_some() {
            referenced(root, schema)
        } else if let Some(branches) = branches(schema) {
            branches
                .iter()
                .find(|b| b.get("type").and_then(Json::as_str) != Some("null"))
        } else {
            return schema;
        };
        match next {
            Some(next) => schema = next,
            None => return schema,
        }
    }
    schema
}

/// The definition a schema's `$ref` names (`#/$defs/Name` or draft 7's `#/definitions/Name`).
fn referenced<'a>(root: &'a Json, schema: &Json) -> Option<&'a Json> {
    let name = schema.get("$ref")?.as_str()?.rsplit('/').next()?;
    root.get("$defs").or_else(|| root.get("definitions"))?.get(name)
}

/// The alternatives of a schema's `anyOf`, `oneOf` or `allOf`, whichever it has.
fn branches(schema: &Json) -> Option<&Vec<Json>> {
    ["anyOf", "oneOf", "allOf"]
        .iter()
        .find_map(|k| schema.get(*k))
        .and_then(Json::as_array)
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
    fn reports_every_wrong_type_and_missing_key_in_one_run() {
        let text = "version = \"1\"\n[project]\ndescription = 2\n[services.a]\nreplicas = \"two\"\ncalls = [1]\n";
        let Err(found) = parse(&Source::from_text("fleet.toml", text)) else {
            panic!("accepted")
        };
        let messages: Vec<&str> = found.items.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "wrong type: `version` must be an integer, not a string",
                "missing key `name`",
                "wrong type: `description` must be a string, not an integer",
                "wrong type: `replicas` must be an integer, not a string",
                "wrong type: `calls[0]` must be a string, not an integer",
            ]
        );
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
