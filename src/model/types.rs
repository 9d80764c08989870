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
    pub(crate) const ALL: [(&'static str, Scalar); 9] = [
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
pub(crate) struct TypeError {
    pub message: String,
    pub help: String,
    pub within: std::ops::Range<usize>,
}

/// Parses `base`, `base?`, `base[]`, `base[]?` where base is a scalar, `enum(a, b)` or `ref(Entity)`.
pub(crate) fn parse(text: &str) -> Result<TypeExpr, TypeError> {
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

/// How one field is represented in each target, decided here so templates only print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    /// Conversion family templates branch on: `string`, `bool`, `i32`, `i64`, `f64`, `uuid`,
    /// `timestamp`, `date`, `enum`.
    pub codec: &'static str,
    /// Rust type of one element (`i64`, `uuid::Uuid`, `OrderStatus`).
    pub rust_base: String,
    /// Rust type of the field, with `Option` / `Vec`.
    pub rust: String,
    /// Protobuf type of one element (`int64`, `google.protobuf.Timestamp`, `OrderStatus`).
    pub proto_base: String,
    /// Protobuf field type with its label (`repeated string`, `optional int64`).
    pub proto: String,
    /// SQL column type, portable between PostgreSQL and SQLite.
    pub sql: String,
    /// Literal filled into existing rows when a required column is added later.
    pub sql_default: String,
    /// The PostgreSQL type a column created since native types are used holds instead of
    /// [`Mapping::sql`]'s, when they differ; SQLite keeps [`Mapping::sql`].
    pub native: Option<Native>,
    /// Enum type name (`OrderStatus`) for enum fields.
    pub enum_name: Option<String>,
    /// How the field crosses protobuf, which picks the runtime's conversion function.
    pub wire: WireShape,
    /// The runtime's serde adapter for fields whose JSON form is their text form
    /// (timestamps and dates), e.g. `text_option`.
    pub serde_with: Option<&'static str>,
    /// Written in a path or query string, its text is the JSON it spells (numbers, booleans);
    /// for the other types, the text itself (`fleetwright_runtime::http::Lexical`).
    pub spelled_as_json: bool,
}

/// A PostgreSQL type that a column holds natively where SQLite holds text or an integer. The
/// generated store still binds and reads the SQLite form (sqlx's `Any` driver knows only text,
/// numbers and booleans), so PostgreSQL converts: [`Native::param`] after each placeholder,
/// [`Native::select`] for each column read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Native {
    Uuid,
    Timestamptz,
    Date,
    /// Bound and read as an integer, 0 or 1, as SQLite stores it.
    Boolean,
    /// A list, as a JSON array.
    Jsonb,
}

impl Native {
    /// The type's name in PostgreSQL's DDL.
    pub(crate) fn ddl(self) -> &'static str {
        match self {
            Self::Uuid => "UUID",
            Self::Timestamptz => "TIMESTAMPTZ",
            Self::Date => "DATE",
            Self::Boolean => "BOOLEAN",
            Self::Jsonb => "JSONB",
        }
    }

    /// What follows a placeholder bound with the SQLite form: `$1::uuid`.
    pub(crate) fn param(self) -> &'static str {
        match self {
            Self::Uuid => "::uuid",
            Self::Timestamptz => "::timestamptz",
            Self::Date => "::date",
            // An `i64` arrives as `bigint`, which PostgreSQL turns into a boolean only by way
            // of `integer`.
            Self::Boolean => "::integer::boolean",
            Self::Jsonb => "::jsonb",
        }
    }

    /// The expression that reads `column` back in the SQLite form, under the column's name;
    /// times and dates in one spelling whatever the session's `DateStyle` and `TimeZone`.
    pub(crate) fn select(self, column: &str) -> String {
        match self {
            Self::Uuid | Self::Jsonb => format!("\"{column}\"::text AS \"{column}\""),
            Self::Timestamptz => {
                format!("to_char(\"{column}\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS \"{column}\"")
            }
            Self::Date => format!("to_char(\"{column}\", 'YYYY-MM-DD') AS \"{column}\""),
            Self::Boolean => format!("\"{column}\"::integer AS \"{column}\""),
        }
    }

    /// `literal`, an SQL literal in the SQLite form, as this type takes it: a boolean's 0 and 1
    /// are `FALSE` and `TRUE`; text literals convert by themselves.
    pub(crate) fn literal(self, literal: &str) -> String {
        match (self, literal) {
            (Self::Boolean, "0") => "FALSE".to_owned(),
            (Self::Boolean, "1") => "TRUE".to_owned(),
            _ => literal.to_owned(),
        }
    }
}

/// How a field's value crosses protobuf: the runtime has one pair of conversion functions
/// per shape (`codec::{list_pb, from_list_pb}`, ...), whatever the field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WireShape {
    /// A plain value (`to_pb` / `from_pb`).
    One,
    /// A required message (a timestamp): `Option` in prost, refused when absent.
    Some,
    /// An optional value.
    Option,
    /// A repeated value.
    List,
}

impl TypeExpr {
    /// Maps the type for a field of `owner` (an entity or event name) called `field`.
    pub(crate) fn mapping(&self, owner: &str, field: &str) -> Mapping {
        use heck::ToPascalCase;
        let enum_name =
            matches!(self.base, BaseType::Enum { .. }).then(|| format!("{owner}{}", field.to_pascal_case()));
        let (codec, rust_base, proto_base, sql_base, default) = match &self.base {
            BaseType::Scalar { scalar } => match scalar {
                Scalar::String | Scalar::Text => ("string", "String", "string", "TEXT", "''"),
                // INTEGER 0/1 rather than BOOLEAN: SQLite has no boolean type, and sqlx's `Any`
                // driver reads SQLite booleans back as integers.
                Scalar::Bool => ("bool", "bool", "bool", "INTEGER", "0"),
                Scalar::Int32 => ("i32", "i32", "int32", "INTEGER", "0"),
                Scalar::Int64 => ("i64", "i64", "int64", "BIGINT", "0"),
                Scalar::Float64 => ("f64", "f64", "double", "DOUBLE PRECISION", "0"),
                Scalar::Uuid => (
                    "uuid",
                    "uuid::Uuid",
                    "string",
                    "TEXT",
                    "'00000000-0000-0000-0000-000000000000'",
                ),
                Scalar::Timestamp => (
                    "timestamp",
                    "time::OffsetDateTime",
                    "google.protobuf.Timestamp",
                    "TEXT",
                    "'1970-01-01T00:00:00Z'",
                ),
                Scalar::Date => ("date", "time::Date", "string", "TEXT", "'1970-01-01'"),
            },
            BaseType::Ref { .. } => (
                "uuid",
                "uuid::Uuid",
                "string",
                "TEXT",
                "'00000000-0000-0000-0000-000000000000'",
            ),
            BaseType::Enum { .. } => ("enum", "", "", "TEXT", ""),
        };
        let (rust_base, proto_base, default) = match (&self.base, &enum_name) {
            (BaseType::Enum { variants }, Some(name)) => (
                name.clone(),
                name.clone(),
                format!("'{}'", variants.first().map_or("", String::as_str)),
            ),
            _ => (rust_base.to_owned(), proto_base.to_owned(), default.to_owned()),
        };
        let rust = if self.list {
            format!("Vec<{rust_base}>")
        } else if self.optional {
            format!("Option<{rust_base}>")
        } else {
            rust_base.clone()
        };
        // Messages already have presence in proto3; scalars need `optional` for it.
        let proto = if self.list {
            format!("repeated {proto_base}")
        } else if self.optional && codec != "timestamp" {
            format!("optional {proto_base}")
        } else {
            proto_base.clone()
        };
        // Lists are stored as a JSON array in one column.
        let (sql, sql_default) = if self.list {
            ("TEXT NOT NULL".to_owned(), "'[]'".to_owned())
        } else if self.optional {
            (sql_base.to_owned(), "NULL".to_owned())
        } else {
            (format!("{sql_base} NOT NULL"), default)
        };
        let wire = if self.list {
            WireShape::List
        } else if self.optional {
            WireShape::Option
        } else if codec == "timestamp" {
            WireShape::Some
        } else {
            WireShape::One
        };
        let serde_with = matches!(codec, "timestamp" | "date").then_some(if self.list {
            "text_list"
        } else if self.optional {
            "text_option"
        } else {
            "text"
        });
        Mapping {
            codec,
            rust_base,
            rust,
            proto_base,
            proto,
            sql,
            sql_default,
            native: self.native(),
            enum_name,
            wire,
            serde_with,
            spelled_as_json: matches!(codec, "bool" | "i32" | "i64" | "f64"),
        }
    }
}

impl TypeExpr {
    /// The PostgreSQL type that holds this type natively, where SQLite holds text or an
    /// integer.
    fn native(&self) -> Option<Native> {
        if self.list {
            return Some(Native::Jsonb);
        }
        match &self.base {
            BaseType::Scalar { scalar: Scalar::Uuid } | BaseType::Ref { .. } => Some(Native::Uuid),
            BaseType::Scalar {
                scalar: Scalar::Timestamp,
            } => Some(Native::Timestamptz),
            BaseType::Scalar { scalar: Scalar::Date } => Some(Native::Date),
            BaseType::Scalar { scalar: Scalar::Bool } => Some(Native::Boolean),
            _ => None,
        }
    }

    /// The SQL literal a manifest `default` stands for in a column of this type, in the text
    /// the generated store writes and reads (`'pending'`, `0`, `'2024-01-01'`).
    ///
    /// # Errors
    /// What the value should be instead, when it does not fit the type.
    pub(crate) fn sql_literal(&self, value: &toml::Value) -> Result<String, String> {
        use toml::Value;
        let quoted = |text: &str| format!("'{}'", text.replace('\'', "''"));
        if self.list {
            return match value {
                Value::Array(items) if items.is_empty() => Ok("'[]'".to_owned()),
                _ => Err("a list field's default can only be `[]`".to_owned()),
            };
        }
        match (&self.base, value) {
            (BaseType::Enum { variants }, Value::String(text)) if variants.contains(text) => Ok(quoted(text)),
            (BaseType::Enum { variants }, _) => Err(format!("one of the enum's values: {}", variants.join(", "))),
            (BaseType::Ref { .. }, Value::String(text)) if uuid_text(text) => Ok(quoted(&text.to_lowercase())),
            (BaseType::Ref { .. }, _) => Err("a UUID string".to_owned()),
            (BaseType::Scalar { scalar }, value) => match (scalar, value) {
                (Scalar::String | Scalar::Text, Value::String(text)) => Ok(quoted(text)),
                (Scalar::Bool, Value::Boolean(flag)) => Ok(if *flag { "1" } else { "0" }.to_owned()),
                (Scalar::Int32, Value::Integer(n)) if i32::try_from(*n).is_ok() => Ok(n.to_string()),
                (Scalar::Int64 | Scalar::Float64, Value::Integer(n)) => Ok(n.to_string()),
                (Scalar::Float64, Value::Float(x)) if x.is_finite() => Ok(format!("{x:?}")),
                (Scalar::Uuid, Value::String(text)) if uuid_text(text) => Ok(quoted(&text.to_lowercase())),
                (Scalar::Date, Value::Datetime(at)) if at.date.is_some() && at.time.is_none() => {
                    Ok(quoted(&at.to_string()))
                }
                (Scalar::Timestamp, Value::Datetime(at))
                    if at.date.is_some() && at.time.is_some() && at.offset.is_some() =>
                {
                    Ok(quoted(&at.to_string()))
                }
                (Scalar::String | Scalar::Text, _) => Err("a string".to_owned()),
                (Scalar::Bool, _) => Err("`true` or `false`".to_owned()),
                (Scalar::Int32, _) => Err("an integer that fits in 32 bits".to_owned()),
                (Scalar::Int64, _) => Err("an integer".to_owned()),
                (Scalar::Float64, _) => Err("a finite number".to_owned()),
                (Scalar::Uuid, _) => Err("a UUID string".to_owned()),
                (Scalar::Date, _) => Err("a TOML date, e.g. `2024-01-31`".to_owned()),
                (Scalar::Timestamp, _) => {
                    Err("a TOML date-time with an offset, e.g. `2024-01-31T12:00:00Z`".to_owned())
                }
            },
        }
    }
}

impl TypeExpr {
    /// The Rust expression of a server-owned (`read_only`) field's starting value: the manifest's
    /// `default` (already checked by [`TypeExpr::sql_literal`]), else empty for an optional field
    /// or a list. `enum_name` is the field's Rust enum.
    ///
    /// # Errors
    /// What to write instead, for a required field without a default, or a date or timestamp
    /// default (no literal form without more of `time`'s features).
    pub(crate) fn rust_default(&self, value: Option<&toml::Value>, enum_name: Option<&str>) -> Result<String, String> {
        use heck::ToPascalCase;
        use toml::Value;
        let Some(value) = value else {
            return if self.list {
                Ok("Vec::new()".to_owned())
            } else if self.optional {
                Ok("None".to_owned())
            } else {
                Err("a read-only required field needs a `default`, the value new records start with (a hook may change it)".to_owned())
            };
        };
        if self.list {
            return Ok("Vec::new()".to_owned());
        }
        let one = match (&self.base, value) {
            (BaseType::Enum { .. }, Value::String(text)) => {
                format!("{}::{}", enum_name.unwrap_or_default(), text.to_pascal_case())
            }
            (BaseType::Ref { .. } | BaseType::Scalar { scalar: Scalar::Uuid }, Value::String(text)) => {
                format!("uuid::uuid!({:?})", text.to_lowercase())
            }
            (
                BaseType::Scalar {
                    scalar: Scalar::String | Scalar::Text,
                },
                Value::String(text),
            ) => format!("String::from({text:?})"),
            (BaseType::Scalar { scalar: Scalar::Bool }, Value::Boolean(flag)) => flag.to_string(),
            (
                BaseType::Scalar {
                    scalar: Scalar::Int32 | Scalar::Int64,
                },
                Value::Integer(n),
            ) => n.to_string(),
            (
                BaseType::Scalar {
                    scalar: Scalar::Float64,
                },
                Value::Integer(n),
            ) => format!("{n}.0"),
            (
                BaseType::Scalar {
                    scalar: Scalar::Float64,
                },
                Value::Float(x),
            ) => format!("{x:?}"),
            _ => {
                return Err(
                    "a read-only date or timestamp cannot take a `default` yet: make it optional (`?`) and set it in a hook".to_owned(),
                );
            }
        };
        Ok(if self.optional { format!("Some({one})") } else { one })
    }
}

/// `8-4-4-4-12` hex digits.
fn uuid_text(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

impl TypeExpr {
    /// A valid JSON value of this type, for generated tests and examples.
    pub(crate) fn sample_json(&self) -> String {
        let one = match &self.base {
            BaseType::Scalar { scalar } => match scalar {
                Scalar::String | Scalar::Text => "\"sample\"".to_owned(),
                Scalar::Bool => "true".to_owned(),
                Scalar::Int32 => "7".to_owned(),
                Scalar::Int64 => "42".to_owned(),
                Scalar::Float64 => "1.5".to_owned(),
                Scalar::Uuid => "\"0190b6f0-0000-7000-8000-000000000001\"".to_owned(),
                Scalar::Timestamp => "\"2026-01-02T03:04:05Z\"".to_owned(),
                Scalar::Date => "\"2026-01-02\"".to_owned(),
            },
            BaseType::Ref { .. } => "\"0190b6f0-0000-7000-8000-000000000002\"".to_owned(),
            BaseType::Enum { variants } => format!("\"{}\"", variants.first().map_or("", String::as_str)),
        };
        if self.list { format!("[{one}]") } else { one }
    }
}

#[cfg(test)]
mod mapping_tests {
    use super::parse;

    #[test]
    fn maps_each_target() {
        let m = parse("int64?").unwrap().mapping("Order", "total");
        assert_eq!(
            (m.rust.as_str(), m.proto.as_str(), m.sql.as_str()),
            ("Option<i64>", "optional int64", "BIGINT")
        );
        let m = parse("enum(pending, paid)").unwrap().mapping("Order", "status");
        assert_eq!(m.enum_name.as_deref(), Some("OrderStatus"));
        assert_eq!((m.sql.as_str(), m.sql_default.as_str()), ("TEXT NOT NULL", "'pending'"));
        let m = parse("timestamp?").unwrap().mapping("Payment", "captured_at");
        assert_eq!(m.proto, "google.protobuf.Timestamp");
        let m = parse("string[]").unwrap().mapping("Product", "tags");
        assert_eq!((m.rust.as_str(), m.proto.as_str()), ("Vec<String>", "repeated string"));
    }
}
