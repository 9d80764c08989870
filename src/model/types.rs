//! Field types: the small type language of entity and event fields (`"uuid"`, `"text?"`,
//! `"string[]"`, `"enum(pending, paid)"`, `"ref(Product)"`) and what each maps to in Rust,
//! protobuf and SQL. Parsing lives here so validation and resolution share one grammar.

use serde::Serialize;

/// The scalar kinds a field can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scalar {
    String,
    Text,
    Bool,
    Int32,
    Int64,
    Float64,
    Uuid,
    Timestamp,
    Date,
}

impl Scalar {
    pub const ALL: [(&'static str, Scalar); 9] = [
        ("string", Scalar::String),
        ("text", Scalar::Text),
        ("bool", Scalar::Bool),
        ("int32", Scalar::Int32),
        ("int64", Scalar::Int64),
        ("float64", Scalar::Float64),
        ("uuid", Scalar::Uuid),
        ("timestamp", Scalar::Timestamp),
        ("date", Scalar::Date),
    ];
}

/// What a field holds, before optional/list modifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BaseType {
    Scalar {
        scalar: Scalar,
    },
    Enum {
        variants: Vec<String>,
    },
    /// A reference to another entity of the same service (stored as its id).
    Ref {
        entity: String,
    },
}

/// A parsed field type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeExpr {
    pub base: BaseType,
    pub list: bool,
    pub optional: bool,
}

/// Why a type string does not parse: a message, an optional help, and the byte range inside
/// the string that is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub message: String,
    pub help: String,
    pub within: std::ops::Range<usize>,
}

/// Parses `base`, `base?`, `base[]`, `base[]?` where base is a scalar, `enum(a, b)` or `ref(Entity)`.
pub fn parse(text: &str) -> Result<TypeExpr, TypeError> {
    let whole = 0..text.len();
    let mut rest = text.trim();
    let optional = rest.ends_with('?');
    if optional {
        rest = rest[..rest.len() - 1].trim_end();
    }
    let list = rest.ends_with("[]");
    if list {
        rest = rest[..rest.len() - 2].trim_end();
    }
    let lead = text.len() - text.trim_start().len();
    let base = if let Some(inner) = call(rest, "enum") {
        let variants: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
        if variants.iter().any(String::is_empty) {
            return Err(TypeError {
                message: "enum needs at least one variant and no empty ones".into(),
                help: "write variants like `enum(pending, paid, cancelled)`".into(),
                within: whole,
            });
        }
        BaseType::Enum { variants }
    } else if let Some(inner) = call(rest, "ref") {
        BaseType::Ref {
            entity: inner.trim().to_owned(),
        }
    } else if let Some((_, scalar)) = Scalar::ALL.iter().find(|(name, _)| *name == rest) {
        BaseType::Scalar { scalar: *scalar }
    } else if rest.is_empty() {
        return Err(TypeError {
            message: "field type is empty".into(),
            help: "write a type such as `string`, `int64?` or `enum(a, b)`".into(),
            within: whole,
        });
    } else {
        // Names other schema languages use, mapped to ours.
        let alias = match rest {
            "datetime" | "time" | "instant" => Some("timestamp"),
            "str" | "varchar" => Some("string"),
            "int" | "integer" | "i32" => Some("int32"),
            "long" | "i64" | "bigint" => Some("int64"),
            "float" | "double" | "f64" | "number" => Some("float64"),
            "boolean" => Some("bool"),
            _ => None,
        };
        let suggestion = alias.or_else(|| crate::diagnostic::did_you_mean(rest, Scalar::ALL.iter().map(|(n, _)| *n)));
        let help = match suggestion {
            Some(name) => format!("did you mean `{name}`?"),
            None => "use one of string, text, bool, int32, int64, float64, uuid, timestamp, date, \
                     enum(a, b), ref(Entity); add `[]` for a list and `?` for optional"
                .into(),
        };
        return Err(TypeError {
            message: format!("unknown field type `{rest}`"),
            help,
            within: lead..lead + rest.len(),
        });
    };
    if list && optional {
        return Err(TypeError {
            message: "a list cannot also be optional".into(),
            help: "drop the `?`: an empty list already means \"none\"".into(),
            within: whole,
        });
    }
    Ok(TypeExpr { base, list, optional })
}

fn call<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modifiers_and_compound_types() {
        let t = parse("text?").unwrap();
        assert!(t.optional && !t.list);
        assert_eq!(t.base, BaseType::Scalar { scalar: Scalar::Text });
        let t = parse("uuid[]").unwrap();
        assert!(t.list && !t.optional);
        let t = parse("enum(pending, paid)").unwrap();
        assert_eq!(
            t.base,
            BaseType::Enum {
                variants: vec!["pending".into(), "paid".into()]
            }
        );
        let t = parse("ref(Product)?").unwrap();
        assert_eq!(
            t.base,
            BaseType::Ref {
                entity: "Product".into()
            }
        );
    }

    #[test]
    fn rejects_unknown_and_contradictory_types() {
        let e = parse("strng").unwrap_err();
        assert_eq!(e.help, "did you mean `string`?");
        assert!(parse("int64[]?").is_err());
        assert!(parse("enum(a,,b)").is_err());
    }
}
