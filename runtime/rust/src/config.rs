//! Settings read from environment variables. Every variable has a default that works on a
//! developer machine with nothing else installed; a variable that is set but does not parse
//! stops the service at startup with its name and value.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;

/// Where and how a service listens.
#[derive(Debug, Clone)]
pub struct Server {
    /// `HTTP_ADDR`: REST API, `/healthz`, `/readyz` and `/metrics`.
    pub http_addr: SocketAddr,
    /// `GRPC_ADDR`: the gRPC API and `grpc.health.v1.Health`.
    pub grpc_addr: SocketAddr,
    /// `REQUEST_TIMEOUT_SECS`: longest a REST request may take. Default 30.
    pub request_timeout: Duration,
    /// `SHUTDOWN_GRACE_SECS`: how long in-flight requests may drain after SIGTERM. Default 20.
    pub shutdown_grace: Duration,
}

impl Server {
    /// # Errors
    /// When a variable is set but does not parse.
    pub fn from_env(http_port: u16, grpc_port: u16) -> anyhow::Result<Self> {
        Ok(Self {
            http_addr: var("HTTP_ADDR", &format!("0.0.0.0:{http_port}"))?,
            grpc_addr: var("GRPC_ADDR", &format!("0.0.0.0:{grpc_port}"))?,
            request_timeout: Duration::from_secs(var("REQUEST_TIMEOUT_SECS", "30")?),
            shutdown_grace: Duration::from_secs(var("SHUTDOWN_GRACE_SECS", "20")?),
        })
    }

    /// Ephemeral ports on loopback, for tests.
    pub fn for_tests() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            http_addr: loopback,
            grpc_addr: loopback,
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The service's own database.
#[cfg(feature = "database")]
#[derive(Debug, Clone)]
pub struct Database {
    /// `DATABASE_URL`: `postgres://…`, `sqlite://file.db?mode=rwc` or `sqlite::memory:`.
    /// Default `sqlite://<service>.db?mode=rwc`.
    pub url: String,
    /// `DATABASE_MAX_CONNECTIONS`: pool size. Default 8.
    pub max_connections: u32,
    /// `DATABASE_MIGRATIONS` (`apply` or `verify`) and `DATABASE_MIGRATIONS_WAIT_SECS`: what
    /// the service does with its migrations when it starts. Default `apply`.
    pub migrations: Migrations,
}

/// What a service does with its migrations when it starts. `<service> migrate` applies them
/// whatever this says.
#[cfg(feature = "database")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// `DATABASE_MIGRATIONS=apply`: applies the pending ones; with none pending it changes
    /// nothing, so a role without DDL rights starts against an up-to-date database. The
    /// default, for development, tests and a single SQLite pod.
    Apply,
    /// `DATABASE_MIGRATIONS=verify`: applies nothing, and starts only once every migration of
    /// this build is applied (by `<service> migrate`, a Kubernetes Job or a compose one-shot),
    /// checking again every second for up to `wait` (`DATABASE_MIGRATIONS_WAIT_SECS`, default
    /// 0) before it stops, naming what is missing. Migrations a newer build applied are fine:
    /// they only add, so this build keeps working during a rollout and after a rollback.
    Verify { wait: Duration },
}

#[cfg(feature = "database")]
impl Migrations {
    /// # Errors
    /// When a variable is set but does not parse.
    pub fn from_env() -> anyhow::Result<Self> {
        let wait = Duration::from_secs(var("DATABASE_MIGRATIONS_WAIT_SECS", "0")?);
        Self::parse(optional("DATABASE_MIGRATIONS").as_deref(), wait)
    }

    fn parse(value: Option<&str>, wait: Duration) -> anyhow::Result<Self> {
        match value {
            None | Some("apply") => Ok(Self::Apply),
            Some("verify") => Ok(Self::Verify { wait }),
            Some(other) => {
                anyhow::bail!("environment variable DATABASE_MIGRATIONS={other:?} is invalid: `apply` or `verify`")
            }
        }
    }
}

#[cfg(feature = "database")]
impl Database {
    /// `name` is the service's snake-case name, which names the default SQLite file.
    ///
    /// # Errors
    /// When a variable is set but does not parse.
    pub fn from_env(name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            url: var("DATABASE_URL", &format!("sqlite://{name}.db?mode=rwc"))?,
            max_connections: var("DATABASE_MAX_CONNECTIONS", "8")?,
            migrations: Migrations::from_env()?,
        })
    }

    /// A private in-memory database, or on the PostgreSQL server named by `TEST_DATABASE_URL`
    /// a database `<name>_test` (created when missing).
    pub fn for_tests(name: &str) -> Self {
        let url = std::env::var("TEST_DATABASE_URL").map_or_else(
            |_| "sqlite::memory:".to_owned(),
            |server| format!("{}/{name}_test", server.trim_end_matches('/')),
        );
        Self { url, max_connections: 4, migrations: Migrations::Apply }
    }
}

/// The variable `name` parsed, or `default` when it is unset.
///
/// # Errors
/// When the value does not parse, naming the variable.
pub fn var<T>(name: &str, default: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let raw = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    raw.parse().with_context(|| format!("environment variable {name}={raw:?} is invalid"))
}

/// The variable `name` when it is set and not empty.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values() {
        let port: u16 = var("FLEETWRIGHT_RUNTIME_TEST_UNSET", "8080").unwrap();
        assert_eq!(port, 8080);
        let error = var::<u16>("FLEETWRIGHT_RUNTIME_TEST_UNSET", "eighty").unwrap_err();
        assert_eq!(error.to_string(), "environment variable FLEETWRIGHT_RUNTIME_TEST_UNSET=\"eighty\" is invalid");
        assert_eq!(optional("FLEETWRIGHT_RUNTIME_TEST_UNSET"), None);
    }

    #[cfg(feature = "database")]
    #[test]
    fn migrations_are_applied_unless_verify_is_asked_for() {
        let wait = Duration::from_secs(3);
        assert_eq!(Migrations::parse(None, wait).unwrap(), Migrations::Apply);
        assert_eq!(Migrations::parse(Some("apply"), wait).unwrap(), Migrations::Apply);
        assert_eq!(Migrations::parse(Some("verify"), wait).unwrap(), Migrations::Verify { wait });
        let error = Migrations::parse(Some("skip"), wait).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable DATABASE_MIGRATIONS=\"skip\" is invalid: `apply` or `verify`"
        );
    }
}
