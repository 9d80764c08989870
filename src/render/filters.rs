//! Every filter fleetwright registers, in one place. Case conversions, and escapers that
//! make manifest text (descriptions, names) safe inside each target syntax, so a description
//! holding quotes, `#`, newlines or `{{ }}` still yields files that parse and mean the same.

use minijinja::{Environment, Error, ErrorKind, Value};

pub(crate) fn register(env: &mut Environment<'_>) {
    env.add_filter("snake", string_filter(heck::ToSnakeCase::to_snake_case));
    env.add_filter("pascal", string_filter(heck::ToPascalCase::to_pascal_case));
    env.add_filter("kebab", string_filter(heck::ToKebabCase::to_kebab_case));
    env.add_filter("shouty", string_filter(heck::ToShoutySnakeCase::to_shouty_snake_case));
    env.add_filter("toml_str", string_filter(toml_str));
    env.add_filter("yaml_str", string_filter(json_str));
    env.add_filter("json_str", string_filter(json_str));
    env.add_filter("rust_str", string_filter(|s| format!("{s:?}")));
    env.add_filter("comment", string_filter(one_line));
    env.add_filter("md", string_filter(markdown_cell));
    // A service whose proto holds messages (entities, events or operations): protoc writes code for it.
    env.add_test("has_messages", |service: &Value| {
        ["entities", "events", "operations"]
            .iter()
            .any(|key| service.get_attr(key).ok().and_then(|v| v.len()).unwrap_or(0) > 0)
    });
}

/// A filter of strings (numbers are taken as their decimal text); anything else is an error
/// naming what it got, rather than the text of a map or a list in a generated file.
fn string_filter(f: fn(&str) -> String) -> impl Fn(&Value) -> Result<String, Error> + Send + Sync + 'static {
    move |value: &Value| {
        if let Some(text) = value.as_str() {
            return Ok(f(text));
        }
        if value.is_number() {
            return Ok(f(&value.to_string()));
        }
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("expected a string, got {} `{value}`", value.kind()),
        ))
    }
}

/// A TOML basic string, quotes included.
pub fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A JSON string, quotes included; also a valid YAML double-quoted scalar.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Text for a line comment: no line breaks, no control characters.
pub(crate) fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .filter(|p| !p.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text for a Markdown table cell: one line, pipes and HTML escaped.
pub(crate) fn markdown_cell(s: &str) -> String {
    one_line(s)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapers_survive_hostile_text() {
        let hostile = "a \"quote\"\n# not a comment {{ x }} ${HOME} ---";
        let toml_doc = format!("v = {}", toml_str(hostile));
        let parsed: toml::Table = toml::from_str(&toml_doc).unwrap();
        assert_eq!(parsed["v"].as_str(), Some(hostile));
        let json: String = serde_json::from_str(&json_str(hostile)).unwrap();
        assert_eq!(json, hostile);
        assert!(!one_line(hostile).contains('\n'));
        assert_eq!(markdown_cell("a|b"), "a\\|b");
    }

    #[test]
    fn string_filters_take_numbers_and_refuse_lists() {
        let mut env = Environment::new();
        register(&mut env);
        assert_eq!(env.render_str("{{ 8080 | shouty }}", ()).unwrap(), "8080");
        let error = env.render_str("{{ [1] | shouty }}", ()).unwrap_err();
        assert!(error.to_string().contains("expected a string, got seq"), "{error}");
    }
}
