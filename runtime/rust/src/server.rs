//! A service's life: bind both listeners, serve REST and gRPC, report readiness, and on
//! SIGTERM stop taking traffic, drain in-flight requests within a grace period, stop the
//! background work and close the database. Also the `healthcheck` subcommand that container
//! health checks run in images without curl.

use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config;

/// Whether the service should get traffic: false once shutdown starts, or while its database
/// does not answer. Cheap to clone.
#[derive(Clone)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    #[cfg(feature = "database")]
    database: Option<crate::db::Database>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    pub fn new() -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(true)),
            #[cfg(feature = "database")]
            database: None,
        }
    }

    /// Readiness that also follows `database`, which is closed when serving ends.
    #[cfg(feature = "database")]
    #[must_use]
    pub fn with_database(mut self, database: crate::db::Database) -> Self {
        self.database = Some(database);
        self
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn stop_taking_traffic(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }

    /// # Errors
    /// When the database does not answer.
    pub async fn check_dependencies(&self) -> Result<(), String> {
        #[cfg(feature = "database")]
        if let Some(database) = &self.database {
            return database.ping().await.map_err(|error| error.to_string());
        }
        Ok(())
    }
}

/// What a service serves: its REST API (state applied, without the shared layers), its gRPC
/// services with their names (for `grpc.health.v1` and reflection) and the encoded
/// `FileDescriptorSet` of its protos (for reflection; empty for none), and background tasks
/// (event relays and consumers) that stop with it.
pub struct Parts {
    pub http: axum::Router,
    pub grpc: tonic::service::Routes,
    pub grpc_names: Vec<&'static str>,
    pub grpc_descriptors: &'static [u8],
    pub background: Vec<JoinHandle<()>>,
}

/// A started service: its listeners are bound, so the addresses are real even when the
/// configuration asked for port 0. `app` is the service's own state, for tests.
pub struct Running<A> {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub app: A,
    name: &'static str,
    http: TcpListener,
    grpc: TcpListener,
    config: config::Server,
    readiness: Readiness,
    http_api: axum::Router,
    grpc_api: tonic::service::Routes,
    grpc_names: Vec<&'static str>,
    grpc_descriptors: &'static [u8],
    background: Background,
}

/// Background tasks, aborted when dropped: a service started and never served (a test that
/// only needed it started) leaves none behind.
struct Background(Vec<JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl<A> Running<A> {
    /// Binds both listeners.
    ///
    /// # Errors
    /// When a port is taken or the address is not local.
    pub async fn bind(
        name: &'static str,
        config: &config::Server,
        app: A,
        readiness: Readiness,
        parts: Parts,
    ) -> anyhow::Result<Self> {
        let http = TcpListener::bind(config.http_addr).await?;
        let grpc = TcpListener::bind(config.grpc_addr).await?;
        Ok(Self {
            http_addr: http.local_addr()?,
            grpc_addr: grpc.local_addr()?,
            app,
            name,
            http,
            grpc,
            config: config.clone(),
            readiness,
            http_api: parts.http,
            grpc_api: parts.grpc,
            grpc_names: parts.grpc_names,
            grpc_descriptors: parts.grpc_descriptors,
            background: Background(parts.background),
        })
    }

    /// Serves REST and gRPC until `shutdown` resolves; then readiness and gRPC health turn
    /// "not serving", both servers stop accepting and in-flight requests drain (bounded by
    /// `SHUTDOWN_GRACE_SECS`), background tasks stop and the database pool closes.
    ///
    /// # Errors
    /// When a server fails.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let metrics = crate::metrics::handle();
        let upkeep = tokio::spawn(crate::metrics::upkeep(metrics.clone()));
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        for name in &self.grpc_names {
            health_reporter.set_service_status(name, tonic_health::ServingStatus::Serving).await;
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut stop_rx = stop_rx.clone();
            async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            }
        };

        let router =
            crate::http::router(self.name, self.http_api, self.readiness.clone(), self.config.request_timeout, metrics);
        let http_server = axum::serve(self.http, router).with_graceful_shutdown(stopped());
        let reflection = Reflection { names: &self.grpc_names, descriptors: self.grpc_descriptors };
        let grpc_server = tonic::transport::Server::builder()
            .trace_fn(grpc_span)
            .add_routes(self.grpc_api)
            .add_service(health_service)
            .add_service(reflection.builder().build_v1()?)
            .add_service(reflection.builder().build_v1alpha()?)
            .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(self.grpc), stopped());

        let readiness = self.readiness.clone();
        let grace = self.config.shutdown_grace;
        let signal = async move {
            shutdown.await;
            readiness.stop_taking_traffic();
            health_reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            let _ = stop_tx.send(true);
        };
        let servers = async {
            let (http, grpc) = tokio::join!(http_server.into_future(), grpc_server);
            http?;
            grpc?;
            anyhow::Ok(())
        };
        tokio::pin!(servers);
        let result = tokio::select! {
            result = &mut servers => result,
            () = signal => match tokio::time::timeout(grace, &mut servers).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time");
                    Ok(())
                }
            },
        };
        upkeep.abort();
        drop(self.background);
        #[cfg(feature = "database")]
        if let Some(database) = &self.readiness.database {
            database.pool.close().await;
        }
        result
    }
}

/// What gRPC server reflection (`grpc.reflection.v1`, and `v1alpha` for older clients) tells
/// grpcurl, `buf curl` or Postman: the service's own gRPC services and `grpc.health.v1.Health`,
/// with every message they use, so they are listed and called without the proto files. The
/// services it calls are compiled into the same descriptors but not listed.
struct Reflection<'a> {
    names: &'a [&'static str],
    descriptors: &'static [u8],
}

impl Reflection<'_> {
    fn builder(&self) -> tonic_reflection::server::Builder<'static> {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        if !self.descriptors.is_empty() {
            builder = builder.register_encoded_file_descriptor_set(self.descriptors);
        }
        for name in self.names {
            builder = builder.with_service_name(*name);
        }
        builder
    }
}

/// One server span per gRPC call, joining the caller's trace (`traceparent` metadata).
fn grpc_span(request: &axum::http::Request<()>) -> tracing::Span {
    let method = request.uri().path().trim_start_matches('/');
    let span = tracing::info_span!(
        "grpc request",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    crate::telemetry::set_parent(&span, request.headers());
    span
}

/// A service's `main`: `<service> healthcheck` checks the running container's readiness on
/// `http_port`, `<service> help` says what the binary does; otherwise logs (and traces when
/// configured) are set up, the service started by `start` serves until SIGTERM or Ctrl-C, and
/// spans not yet exported are flushed. An unknown argument stops it with exit status 2.
///
/// # Errors
/// When the service cannot start or a server fails.
pub async fn main<A>(
    name: &'static str,
    http_port: u16,
    start: impl Future<Output = anyhow::Result<Running<A>>>,
) -> anyhow::Result<()> {
    run(name, http_port, None, start).await
}

/// [`main`] for a service with a database, which also runs `<service> migrate`: apply the
/// pending `migrations` to `database` and exit, once per release, with a role allowed to
/// change the schema (the service itself may then run with `DATABASE_MIGRATIONS=verify`).
///
/// # Errors
/// When the service cannot start, a server fails, or a migration fails.
#[cfg(feature = "database")]
pub async fn main_with_database<A>(
    name: &'static str,
    http_port: u16,
    database: &config::Database,
    migrations: &[crate::db::Migration],
    start: impl Future<Output = anyhow::Result<Running<A>>>,
) -> anyhow::Result<()> {
    let migrate = async move {
        let applied = crate::db::Database::migrate(database, migrations).await?;
        let latest = migrations.last().map_or(0, |m| m.version);
        if applied.is_empty() {
            tracing::info!(version = latest, "{name}: the database is up to date; nothing to apply");
        } else {
            tracing::info!(version = latest, ?applied, "{name}: applied migrations");
        }
        anyhow::Ok(())
    };
    run(name, http_port, Some(Box::pin(migrate)), start).await
}

/// What the binary was asked to do: its first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Serve,
    Migrate,
    Healthcheck,
    Help,
}

impl Command {
    /// # Errors
    /// An argument it does not know, or more than one.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let command = match args.next().as_deref() {
            None => Self::Serve,
            Some("migrate") => Self::Migrate,
            Some("healthcheck") => Self::Healthcheck,
            Some("help" | "--help" | "-h") => Self::Help,
            Some(other) => return Err(format!("unknown command `{other}`")),
        };
        match args.next() {
            Some(extra) => Err(format!("unexpected argument `{extra}`")),
            None => Ok(command),
        }
    }
}

/// The text of `<service> help`.
fn usage(name: &str, has_database: bool) -> String {
    let migrate = if has_database {
        "\n  migrate       apply the pending database migrations to DATABASE_URL, then exit; run it\n\
         \x20               once per release with a role that may change the schema (the\n\
         \x20               Kubernetes Job `<service>-migrate`, the compose one-shot)"
    } else {
        ""
    };
    let settings = if has_database {
        "\n\nDATABASE_MIGRATIONS=apply (the default) applies pending migrations at startup;\n\
         DATABASE_MIGRATIONS=verify applies none and starts only once `migrate` has applied\n\
         every migration of this build (waiting up to DATABASE_MIGRATIONS_WAIT_SECS)."
    } else {
        ""
    };
    format!(
        "{name}: serves its REST and gRPC APIs until SIGTERM or Ctrl-C. Settings are environment\n\
         variables (src/config.rs).\n\n\
         usage: {name} [COMMAND]\n\n\
         commands:\n  \
         (none)        serve{migrate}\n  \
         healthcheck   exit 0 when the service on this host answers /readyz (the container\n\
         \x20               health check)\n  \
         help          print this help{settings}\n"
    )
}

type Migrate<'a> = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

async fn run<A>(
    name: &'static str,
    http_port: u16,
    migrate: Option<Migrate<'_>>,
    start: impl Future<Output = anyhow::Result<Running<A>>>,
) -> anyhow::Result<()> {
    let command = Command::parse(std::env::args().skip(1)).unwrap_or_else(|error| {
        eprintln!("{name}: {error}\n\n{}", usage(name, migrate.is_some()));
        std::process::exit(2);
    });
    match (command, migrate) {
        (Command::Help, migrate) => {
            print!("{}", usage(name, migrate.is_some()));
            Ok(())
        }
        (Command::Healthcheck, _) => healthcheck(http_port).await,
        (Command::Migrate, None) => anyhow::bail!("`{name}` has no database, so no migrations to apply"),
        (Command::Migrate, Some(migrate)) => {
            let telemetry = crate::telemetry::init(name);
            let result = migrate.await;
            telemetry.shutdown().await;
            result
        }
        (Command::Serve, _) => {
            let telemetry = crate::telemetry::init(name);
            let running = start.await?;
            tracing::info!(http = %running.http_addr, grpc = %running.grpc_addr, "{name} listening");
            let result = running.serve_until(shutdown_signal()).await;
            telemetry.shutdown().await;
            result
        }
    }
}

/// Succeeds when the service on this host answers `GET /readyz` with 200.
async fn healthcheck(port: u16) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut head = [0_u8; 12];
        stream.read_exact(&mut head).await?;
        anyhow::ensure!(head.ends_with(b" 200"), "not ready: {}", String::from_utf8_lossy(&head));
        anyhow::Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(3), check).await?
}

/// Resolves on SIGTERM (what Kubernetes and docker send) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}

#[cfg(test)]
mod command_tests {
    use super::{Command, usage};

    fn parse(args: &[&str]) -> Result<Command, String> {
        Command::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn the_first_argument_names_the_command() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["migrate"]), Ok(Command::Migrate));
        assert_eq!(parse(&["healthcheck"]), Ok(Command::Healthcheck));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["migrtae"]), Err("unknown command `migrtae`".to_owned()));
        assert_eq!(parse(&["migrate", "now"]), Err("unexpected argument `now`".to_owned()));
    }

    #[test]
    fn help_offers_migrate_only_with_a_database() {
        assert!(usage("orders", true).contains("\n  migrate       apply the pending database migrations"));
        assert!(usage("orders", true).contains("DATABASE_MIGRATIONS=verify"));
        assert!(!usage("gateway-less", false).contains("migrate"));
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::time::Duration;

    use super::{Parts, Readiness, Running};
    use crate::testing::TestService;

    async fn serve(grpc_names: Vec<&'static str>, grpc_descriptors: &'static [u8]) -> TestService<()> {
        let config = crate::config::Server {
            http_addr: "127.0.0.1:0".parse().unwrap(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            request_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
        };
        let http = axum::Router::new();
        let parts = Parts {
            http,
            grpc: tonic::service::Routes::default(),
            grpc_names,
            grpc_descriptors,
            background: Vec::new(),
        };
        TestService::serve(Running::bind("reflected", &config, (), Readiness::new(), parts).await.unwrap())
    }

    #[tokio::test]
    async fn reflection_lists_the_services_own_grpc_apis_and_health() {
        // Reflection's own descriptors stand in for a service's: a service named in them.
        let name = "grpc.reflection.v1.ServerReflection";
        let service = serve(vec![name], tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET).await;
        assert_eq!(service.grpc_services().await, ["grpc.health.v1.Health", name]);
        service.stop().await.unwrap();

        let service = serve(Vec::new(), &[]).await;
        assert_eq!(service.grpc_services().await, ["grpc.health.v1.Health"]);
        service.stop().await.unwrap();
    }
}
