//! Which names are acceptable where. A service name must work unchanged as a Rust crate, a
//! proto package segment, a DNS label, a Kubernetes object name, a YAML key and a SQL
//! identifier part, so the rules are the intersection of all of them.

/// Longest service or project name: leaves room for suffixes such as `-postgres` within the
/// 63-character DNS label limit.
pub(crate) const MAX_SERVICE_NAME: usize = 40;
/// Longest entity, event, operation or field name, or enum variant. The generated Rust built
/// from such names is checked to be what rustfmt leaves alone up to this length
/// (`tests/integration/formatting.rs`); past it, lines meet layouts the generator does not lay
/// out as rustfmt would.
pub(crate) const MAX_ITEM_NAME: usize = 40;
/// Longest name a previous version allowed for entities and fields, which `renamed_from` may
/// still name.
const MAX_PREVIOUS_ITEM_NAME: usize = 60;

/// Rust keywords (strict, reserved and 2024-edition) and the crates every program can name.
const RUST: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "union",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "std",
    "core",
    "alloc",
    "test",
    "proc_macro",
    "proc-macro",
];

/// Protobuf keywords and scalar type names.
const PROTO: &[&str] = &[
    "syntax",
    "edition",
    "import",
    "weak",
    "public",
    "package",
    "option",
    "message",
    "enum",
    "service",
    "rpc",
    "returns",
    "stream",
    "repeated",
    "optional",
    "required",
    "reserved",
    "to",
    "max",
    "oneof",
    "map",
    "extend",
    "extensions",
    "group",
    "double",
    "float",
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
    "bool",
    "string",
    "bytes",
    "true",
    "false",
    "inf",
    "nan",
    "google",
];

/// YAML 1.1 words that become booleans or null when written as a bare key or value.
const YAML: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// SQL reserved words that would need quoting as a column name in `PostgreSQL` or `SQLite`.
const SQL: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "delete",
    "desc",
    "distinct",
    "drop",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "join",
    "key",
    "left",
    "like",
    "limit",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "primary",
    "references",
    "right",
    "select",
    "session_user",
    "set",
    "table",
    "then",
    "to",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "when",
    "where",
    "with",
];

/// Names the generated workspace already uses for its own crates, folders and containers.
const WORKSPACE: &[&str] = &[
    "proto",
    "gateway",
    "deploy",
    "docs",
    "target",
    "common",
    "services",
    "envoy",
    "nats",
    "jaeger",
    "prometheus",
    "grafana",
    "postgres",
    "tests",
];

/// Crates generated services depend on: a member crate of the same name would shadow them.
const DEPENDENCIES: &[&str] = &[
    "anyhow",
    "async-nats",
    "axum",
    "bytes",
    "futures",
    "http",
    "hyper",
    "metrics",
    "opentelemetry",
    "prost",
    "reqwest",
    "serde",
    "serde-json",
    "sqlx",
    "thiserror",
    "time",
    "tokio",
    "tonic",
    "tower",
    "tracing",
    "uuid",
];

/// Columns every entity gets.
pub(crate) const ENTITY_COLUMNS: &[&str] = &["id", "created_at", "updated_at", "version"];

/// Why a service or project name is reserved, if it is.
pub(crate) fn reserved_service_name(name: &str) -> Option<&'static str> {
    if RUST.contains(&name) {
        Some("a Rust keyword or standard crate")
    } else if PROTO.contains(&name) {
        Some("a protobuf keyword")
    } else if YAML.contains(&name) {
        Some("a YAML boolean or null")
    } else if WORKSPACE.contains(&name) {
        Some("used by the generated workspace itself")
    } else if DEPENDENCIES.contains(&name) {
        Some("the name of a crate the generated services depend on")
    } else {
        None
    }
}

/// Why a field name is reserved, if it is. Entity fields also may not reuse the columns
/// every entity gets.
pub(crate) fn reserved_field_name(name: &str, entity: bool) -> Option<&'static str> {
    if entity && ENTITY_COLUMNS.contains(&name) {
        Some("a column every entity already has")
    } else if RUST.contains(&name) {
        Some("a Rust keyword")
    } else if PROTO.contains(&name) {
        Some("a protobuf keyword")
    } else if SQL.contains(&name) {
        Some("an SQL reserved word")
    } else if YAML.contains(&name) {
        Some("a YAML boolean or null")
    } else {
        None
    }
}

/// Why an entity or event name is reserved, if it is.
pub(crate) fn reserved_type_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if name.ends_with("Request") || name.ends_with("Response") {
        Some("a suffix the generated gRPC messages use")
    } else if RUST.contains(&lower.as_str()) || ["Self", "Option", "Result", "String", "Vec", "Box"].contains(&name) {
        Some("a Rust keyword or prelude type")
    } else if PROTO.contains(&lower.as_str()) {
        Some("a protobuf keyword")
    } else {
        None
    }
}

/// `orders`, `order-items`: lowercase letters and digits in hyphen-separated words.
pub(crate) fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVICE_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .split('-')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// `Order`, `OrderLine`: ASCII `PascalCase`, of any length a previous version allowed (see
/// [`too_long`] for new names).
pub(crate) fn is_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PREVIOUS_ITEM_NAME
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `total_cents`: ASCII `snake_case`, of any length a previous version allowed (see
/// [`too_long`] for new names).
pub(crate) fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PREVIOUS_ITEM_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .split('_')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// An entity, event, operation or field name, or an enum variant, longer than
/// [`MAX_ITEM_NAME`]: the caret label and the help line.
pub(crate) fn too_long(name: &str) -> Option<(String, String)> {
    (name.len() > MAX_ITEM_NAME).then(|| {
        (
            format!("{} characters; at most {MAX_ITEM_NAME}", name.len()),
            "shorten it: generated types, functions and SQL names are built from it".to_owned(),
        )
    })
}

/// Why a service-style name is invalid, as a caret label, and a concrete help line.
pub(crate) fn explain_service_name(name: &str) -> (String, String) {
    if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
        let label = format!("contains `{c}` (U+{:04X}), which is not ASCII", u32::from(c));
        let help = "retype the name in plain ASCII; some letters only look like ASCII ones".to_owned();
        return (label, help);
    }
    if name.len() > MAX_SERVICE_NAME {
        return (
            format!("{} characters; at most {MAX_SERVICE_NAME}", name.len()),
            "shorten it: it becomes part of DNS names limited to 63 characters".to_owned(),
        );
    }
    let label = "lowercase letters, digits and single hyphens only".to_owned();
    let help = match suggest_service_name(name) {
        Some(s) => format!(
            "rename it to `{s}`; the name must work as a crate, a proto package, a DNS label and a Kubernetes name"
        ),
        None => "start with a letter, e.g. `orders`".to_owned(),
    };
    (label, help)
}

/// A best-effort rewrite of an invalid name into a valid one, for the `help:` line.
pub(crate) fn suggest_service_name(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    (is_service_name(&out) && out != name).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_work_everywhere() {
        assert!(is_service_name("orders"));
        assert!(is_service_name("order-items2"));
        for bad in [
            "Orders",
            "order_items",
            "-a",
            "a-",
            "a--b",
            "../x",
            "a/b",
            "1a",
            "",
            "ørders",
        ] {
            assert!(!is_service_name(bad), "{bad}");
        }
    }

    #[test]
    fn reserved_words_are_named_with_a_reason() {
        assert!(reserved_service_name("type").is_some());
        assert!(reserved_service_name("yes").is_some());
        assert!(reserved_field_name("order", true).is_some());
        assert!(reserved_field_name("id", true).is_some() && reserved_field_name("id", false).is_none());
        assert!(reserved_type_name("CreateOrderRequest").is_some());
        assert_eq!(suggest_service_name("Order_Items").as_deref(), Some("order-items"));
    }
}
