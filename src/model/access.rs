//! Who may call what: the issuer the gateway trusts ([`Auth`]) and the policy of one route
//! ([`Access`]). A policy is one typed value, parsed once from its manifest text by
//! [`Access::parse`], so any route (an entity action, a service's gRPC API, and whatever gets
//! a route later) carries the same thing and the gateway lays it out the same way. Which
//! routes exist and which policy each takes is `model::gateway`.

use serde::Serialize;

use crate::manifest::schema::PolicySpec;

/// The token issuer of a workspace with `[auth]`.
#[derive(Debug, Clone, Serialize)]
pub struct Auth {
    /// `iss` every token must carry.
    pub issuer: String,
    /// A token must name one of these in `aud`.
    pub audiences: Vec<String>,
    /// The issuer's key set, fetched by the production gateway.
    pub jwks: JwksUri,
    /// The path to the roles claim inside the token's payload (`["realm_access", "roles"]`).
    pub roles_claim: Vec<String>,
    /// The path to the space-separated scopes claim.
    pub scopes_claim: Vec<String>,
}

/// A JWKS address, taken apart for Envoy's cluster.
#[derive(Debug, Clone, Serialize)]
pub struct JwksUri {
    pub uri: String,
    pub host: String,
    pub port: u16,
    /// `https`: the fetch goes over TLS, verified against the system's CA bundle.
    pub tls: bool,
}

impl JwksUri {
    /// An absolute `http` or `https` URL with a host, or why not.
    pub(crate) fn parse(uri: &str) -> Result<Self, &'static str> {
        let (tls, rest) = if let Some(rest) = uri.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = uri.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("not an `http://` or `https://` URL");
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("credentials do not belong in the URL");
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                (host, port.parse::<u16>().map_err(|_| "the port is not a number")?)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
        if !host_ok || port == 0 {
            return Err("no valid host");
        }
        Ok(Self {
            uri: uri.to_owned(),
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

/// The claim path of a dotted claim name.
pub(crate) fn claim_path(name: &str) -> Vec<String> {
    name.split('.').map(str::to_owned).collect()
}

/// Whether a claim name is well formed: dot-separated parts of letters, digits, `_`, `:`, `-`.
pub(crate) fn is_claim(name: &str) -> bool {
    name.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
    })
}

/// Who may use one route. Serialised as the manifest writes it (`"role:admin"`, a list as
/// `"role:admin or scope:x"`), for the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a token, if sent, must still be valid.
    Public,
    /// Any caller with a valid token.
    Authenticated,
    /// Nobody through the gateway (services still call each other directly).
    Internal,
    /// A caller with a valid token holding any of these roles or scopes (never empty).
    AnyOf(Vec<Grant>),
}

/// One role or scope a policy admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Role(String),
    Scope(String),
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Public => f.write_str("public"),
            Self::Authenticated => f.write_str("authenticated"),
            Self::Internal => f.write_str("internal"),
            Self::AnyOf(grants) => {
                for (i, grant) in grants.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    match grant {
                        Grant::Role(name) => write!(f, "role:{name}")?,
                        Grant::Scope(name) => write!(f, "scope:{name}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl Serialize for Grant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Role(name) => serializer.collect_str(&format_args!("role:{name}")),
            Self::Scope(name) => serializer.collect_str(&format_args!("scope:{name}")),
        }
    }
}

impl Serialize for Access {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why a policy does not parse: the message and the help of its diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyError {
    pub(crate) message: String,
    pub(crate) help: String,
}

impl Access {
    /// The policy a manifest value names.
    pub(crate) fn parse(spec: &PolicySpec) -> Result<Self, PolicyError> {
        match spec {
            PolicySpec::One(text) => match text.as_str() {
                "public" => Ok(Self::Public),
                "authenticated" => Ok(Self::Authenticated),
                "internal" => Ok(Self::Internal),
                other => Ok(Self::AnyOf(vec![Grant::parse(other)?])),
            },
            PolicySpec::AnyOf(items) if items.is_empty() => Err(PolicyError {
                message: "an empty list admits nobody".to_owned(),
                help: "name at least one role or scope, or write `\"internal\"` to close the route".to_owned(),
            }),
            PolicySpec::AnyOf(items) => {
                let mut grants = Vec::with_capacity(items.len());
                for item in items {
                    let grant = Grant::parse(item)?;
                    if !grants.contains(&grant) {
                        grants.push(grant);
                    }
                }
                Ok(Self::AnyOf(grants))
            }
        }
    }
}

impl Grant {
    fn parse(text: &str) -> Result<Self, PolicyError> {
        if matches!(text, "public" | "authenticated" | "internal") {
            return Err(PolicyError {
                message: format!("`{text}` cannot be combined with roles or scopes in a list"),
                help: format!("write `\"{text}\"` alone, or list only `role:` and `scope:` entries"),
            });
        }
        let (kind, name) = text.split_once(':').ok_or_else(|| PolicyError {
            message: format!("unknown policy `{text}`"),
            help: format!(
                "use `\"public\"`, `\"authenticated\"`, `\"internal\"`, `\"role:{text}\"` or `\"scope:{text}\"`"
            ),
        })?;
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-'));
        if !name_ok {
            return Err(PolicyError {
                message: format!("invalid {kind} name `{name}` in `{text}`"),
                help: "role and scope names are letters, digits and `. _ : / -`".to_owned(),
            });
        }
        match kind {
            "role" => Ok(Self::Role(name.to_owned())),
            "scope" => Ok(Self::Scope(name.to_owned())),
            _ => Err(PolicyError {
                message: format!("unknown policy kind `{kind}` in `{text}`"),
                help: format!("write `role:{name}` or `scope:{name}`"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Access, PolicyError> {
        Access::parse(&PolicySpec::One(text.to_owned()))
    }

    fn list(items: &[&str]) -> Result<Access, PolicyError> {
        Access::parse(&PolicySpec::AnyOf(items.iter().map(|s| (*s).to_owned()).collect()))
    }

    #[test]
    fn keywords_roles_and_scopes_parse() {
        assert_eq!(one("public"), Ok(Access::Public));
        assert_eq!(one("authenticated"), Ok(Access::Authenticated));
        assert_eq!(one("internal"), Ok(Access::Internal));
        assert_eq!(one("role:admin"), Ok(Access::AnyOf(vec![Grant::Role("admin".into())])));
        assert_eq!(
            list(&["role:admin", "scope:catalog:write", "role:admin"]),
            Ok(Access::AnyOf(vec![
                Grant::Role("admin".into()),
                Grant::Scope("catalog:write".into())
            ])),
            "a repeat is kept once"
        );
    }

    #[test]
    fn bad_policies_are_refused_with_help() {
        for bad in ["admin", "role:", "role:ad min", "group:admin", "role:a\"b"] {
            let error = one(bad).expect_err(bad);
            assert!(!error.help.is_empty(), "{bad}");
        }
        assert!(list(&[]).is_err());
        assert!(list(&["public", "role:admin"]).is_err());
        assert!(one("admin").unwrap_err().help.contains("role:admin"));
    }

    #[test]
    fn policies_read_as_written() {
        assert_eq!(one("public").unwrap().to_string(), "public");
        assert_eq!(
            list(&["role:admin", "scope:a.b"]).unwrap().to_string(),
            "role:admin or scope:a.b"
        );
    }

    #[test]
    fn jwks_uris_are_taken_apart() {
        let uri = JwksUri::parse("https://id.example.com/realms/shop/certs").unwrap();
        assert_eq!((uri.host.as_str(), uri.port, uri.tls), ("id.example.com", 443, true));
        let uri = JwksUri::parse("http://keycloak:8180/certs").unwrap();
        assert_eq!((uri.host.as_str(), uri.port, uri.tls), ("keycloak", 8180, false));
        for bad in [
            "id.example.com/certs",
            "ftp://x/y",
            "https:///certs",
            "https://u:p@x/y",
            "https://x:http/",
        ] {
            assert!(JwksUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn claims_are_dotted_paths() {
        assert!(is_claim("roles") && is_claim("realm_access.roles") && is_claim("cognito:groups"));
        assert!(!is_claim("") && !is_claim("a..b") && !is_claim("a b"));
        assert_eq!(claim_path("realm_access.roles"), ["realm_access", "roles"]);
    }
}
