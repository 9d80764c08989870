//! Every Tera filter fleetwright registers, in one place. Case conversions, and escapers that
//! make manifest text (descriptions, names) safe inside each target syntax, so a description
//! holding quotes, `#`, newlines or `{{ }}` still yields files that parse and mean the same.

use std::collections::HashMap;

use tera::{Result, Tera, Value};

pub fn register(tera: &mut Tera) {
    tera.register_filter("snake", string_filter(heck::ToSnakeCase::to_snake_case));
    tera.register_filter("pascal", string_filter(heck::ToPascalCase::to_pascal_case));
    tera.register_filter("kebab", string_filter(heck::ToKebabCase::to_kebab_case));
    tera.register_filter("shouty", string_filter(heck::ToShoutySnakeCase::to_shouty_snake_case));
    tera.register_filter("toml_str", string_filter(toml_str));
    tera.register_filter("yaml_str", string_filter(json_str));
    tera.register_filter("json_str", string_filter(json_str));
    tera.register_filter("rust_str", string_filter(|s| format!("{s:?}")));
    tera.register_filter("comment", string_filter(one_line));
    tera.register_filter("md", string_filter(markdown_cell));
}

fn string_filter(f: impl Fn(&str) -> String + Sync + Send + 'static) -> impl tera::Filter {
    move |value: &Value, _: &HashMap<String, Value>| -> Result<Value> {
        match value {
            Value::String(s) => Ok(Value::String(f(s))),
            Value::Number(n) => Ok(Value::String(f(&n.to_string()))),
            other => Err(tera::Error::msg(format!("expected a string, got {other}"))),
        }
    }
}

/// A TOML basic string, quotes included.
pub fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A JSON string, quotes included; also a valid YAML double-quoted scalar.
pub fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Text for a line comment: no line breaks, no control characters.
pub fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .filter(|p| !p.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text for a Markdown table cell: one line, pipes and HTML escaped.
pub fn markdown_cell(s: &str) -> String {
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
}
