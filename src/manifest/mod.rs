//! `fleet.toml` as written: its serde mirror ([`schema`]), reading it with syntax and type
//! checks against the JSON Schema ([`load`]), comment-preserving edits ([`edit`]) and
//! migrations of older manifest formats ([`migrate`]). What the
//! manifest means (rules, names, defaults) is the model's business: this stage imports none of
//! the later ones.

pub(crate) mod edit;
pub(crate) mod load;
pub(crate) mod migrate;
pub(crate) mod schema;

pub(crate) use load::parse;
pub use migrate::Migration;
pub(crate) use schema::Manifest;

/// The standard manifest file name.
pub(crate) const FILE_NAME: &str = "fleet.toml";
