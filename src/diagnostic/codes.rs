//! The registry of diagnostic codes: every code fleetwright emits, with the title
//! `docs/manifest.md` gives it. Diagnostics are made from a [`Code`], never from a bare
//! string, so a code cannot be emitted without being listed here, and a test holds the
//! documentation to exactly this list. A code's number never changes meaning; retired numbers
//! are not reused.

use super::Severity;

/// One variant per code, in code order, with its one-line title.
macro_rules! codes {
    ($($code:ident => $title:literal,)+) => {
        /// A stable diagnostic code: `E…` for errors, `W…` for warnings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($code,)+
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &[Code] = &[$(Code::$code),+];

            /// As printed: `E012`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)+
                }
            }

            /// The title of its section in `docs/manifest.md`.
            pub fn title(self) -> &'static str {
                match self {
                    $(Code::$code => $title,)+
                }
            }
        }
    };
}

codes! {
    E001 => "invalid TOML",
    E002 => "wrong type, encoding or size",
    E003 => "unknown key",
    E004 => "unsupported manifest version",
    E005 => "invalid value",
    E010 => "invalid name",
    E011 => "reserved name",
    E012 => "unknown service",
    E013 => "service calls itself",
    E014 => "event problems",
    E015 => "call cycle",
    E016 => "port used twice",
    E017 => "overlapping routes",
    E018 => "invalid route",
    E019 => "invalid field type",
    E020 => "reference to an unknown entity",
    E021 => "invalid name spelling",
    E022 => "clash within a service",
    E023 => "events without a broker",
    E024 => "entities without a database",
    E025 => "template directory outside the project",
    E026 => "no services",
    E027 => "events without a database",
    E028 => "field setting that does not fit",
    E029 => "schema change that needs a decision",
    E030 => "operation setting that does not fit",
    E031 => "invalid access policy",
    E032 => "access policy without `[auth]`",
    E033 => "invalid `[auth]` setting",
    E034 => "entity setting that does not fit",
    E035 => "invalid key or index",
    W002 => "listed twice",
    W003 => "entity without fields",
}

impl Code {
    /// Errors stop generation, warnings do not; the letter says which.
    pub(crate) fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}
