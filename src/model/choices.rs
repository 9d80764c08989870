//! The closed sets a manifest chooses from (database, broker, deploy target, CI provider,
//! language), as enums. Each is converted from its manifest string once, by
//! [`Closed::parse`], and serialises back to exactly that string, so templates, the
//! fingerprint in `fleet.lock` and every snapshot see what the user wrote. Which values are
//! allowed is written here and nowhere else: validation lists [`Closed::NAMES`] in its help.

use serde::Serialize;

/// A closed set of manifest values.
pub(crate) trait Closed: Sized + Copy + 'static {
    /// What one value is, in messages (`unknown broker ...`).
    const WHAT: &'static str;
    /// Every value as written in the manifest, in the order help lists them.
    const NAMES: &'static [&'static str];
    /// The value a manifest string names, if any.
    fn parse(text: &str) -> Option<Self>;
}

/// One enum per set: its variants with their manifest strings (also their serde names).
macro_rules! closed {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl Closed for $name {
            const WHAT: &'static str = $what;
            const NAMES: &'static [&'static str] = &[$($text),+];

            fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

closed! {
    /// Where a service keeps its entities.
    Database, "database" {
        Postgres = "postgres",
        Sqlite = "sqlite",
        /// No database: a service without entities or events.
        None = "none",
    }
}

impl Database {
    /// The database of a service that does not name one: PostgreSQL when it stores
    /// entities, none otherwise.
    pub(crate) fn default_for(has_entities: bool) -> Self {
        if has_entities { Self::Postgres } else { Self::None }
    }

    /// Whether the service has a database at all.
    pub(crate) fn stores_data(self) -> bool {
        self != Self::None
    }
}

closed! {
    /// What carries events between services.
    Broker, "broker" {
        /// NATS JetStream.
        Nats = "nats",
        None = "none",
    }
}

closed! {
    /// Where the system is deployed.
    DeployTarget, "deploy target" {
        Compose = "compose",
        Kubernetes = "kubernetes",
    }
}

closed! {
    /// A CI system that gets pipelines.
    CiProvider, "CI provider" {
        GitHub = "github",
        GitLab = "gitlab",
    }
}

closed! {
    /// The language a service is generated in.
    Language, "language" {
        Rust = "rust",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Closed + Serialize + PartialEq + std::fmt::Debug>() {
        for name in T::NAMES {
            let value = T::parse(name).expect("every name parses");
            assert_eq!(serde_json::to_value(value).expect("serialises"), *name);
        }
        assert_eq!(T::parse("Nope"), None);
    }

    #[test]
    fn every_value_serialises_as_written_in_the_manifest() {
        round_trips::<Database>();
        round_trips::<Broker>();
        round_trips::<DeployTarget>();
        round_trips::<CiProvider>();
        round_trips::<Language>();
    }
}
