//! `fleet.toml` as written: its serde mirror ([`schema`]), reading it with syntax and type
//! checks against the JSON Schema ([`load`]) and comment-preserving edits ([`edit`]). What the
//! manifest means (rules, names, defaults) is the model's business: this stage imports none of
//! the later ones.

pub(crate) mod edit;
pub(crate) mod load;
pub(crate) mod schema;

pub(crate) use load::parse;
pub(crate) use schema::Manifest;

/// The standard manifest file name.
pub(crate) const FILE_NAME: &str = "fleet.toml";
