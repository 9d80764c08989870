//! What the event tests share: a nats-server with JetStream started per test (from
//! `NATS_SERVER`, else `nats-server` on PATH), a database on the PostgreSQL server at
//! `FLEETWRIGHT_TEST_POSTGRES` (`scripts/postgres.sh start` prints it) or in memory, the
//! RabbitMQ node at `FLEETWRIGHT_TEST_RABBITMQ` (`scripts/rabbitmq.sh start`), the Kafka broker
//! at `FLEETWRIGHT_TEST_KAFKA` (`scripts/kafka.sh start`), the event
//! tables, and a handler that records what it handled. Without a server a test is skipped,
//! except under CI (`CI` set), where a missing server fails it.
#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use fleetwright_runtime::AppError;
use fleetwright_runtime::config::{Database as DatabaseConfig, Migrations};
use fleetwright_runtime::db::{Database, Migration, Tx};
use fleetwright_runtime::events::{self, Event, Handler, Stream};

pub const STREAM: Stream = Stream { name: "TEST", subjects: "test.>" };

/// The event tables as fleetwright's migrations write them, plus what the test handler writes.
pub const SCHEMA: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: r#"CREATE TABLE "outbox" (
    "id" TEXT PRIMARY KEY NOT NULL,
    "subject" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "position" BIGINT NOT NULL,
    "published_at" TEXT,
    "traceparent" TEXT,
    "caused_by" TEXT,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL
);
CREATE TABLE "inbox" (
    "id" TEXT PRIMARY KEY NOT NULL,
    "subject" TEXT NOT NULL,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL
);
CREATE INDEX "outbox_unpublished" ON "outbox" ("position", "id") WHERE "published_at" IS NULL;
CREATE TABLE "handled" ("note" TEXT NOT NULL, "trace_id" TEXT, "caused_by" TEXT);
"#,
}];

#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    #[prost(string, tag = "1")]
    pub note: String,
}

impl Event for Ping {
    const SUBJECT: &'static str = "test.orders.ping";
}

/// Records each ping it handles (with the trace it ran in and who caused it); fails every time
/// on `poison`.
#[derive(Clone, Default)]
pub struct Recorder {
    pub poison_attempts: Arc<AtomicUsize>,
}

impl Handler for Recorder {
    async fn handle(&self, tx: &mut Tx, subject: &str, payload: &[u8]) -> Result<bool, AppError> {
        // Pings of tests that need a subject of their own (`<run>.orders.ping`) too.
        if !subject.ends_with(".orders.ping") {
            return Ok(false);
        }
        let ping: Ping = events::decode(payload)?;
        if ping.note == "poison" {
            self.poison_attempts.fetch_add(1, Ordering::SeqCst);
            return Err(AppError::internal(anyhow::anyhow!("this event always fails")));
        }
        sqlx::query(r#"INSERT INTO "handled" ("note", "trace_id", "caused_by") VALUES ($1, $2, $3)"#)
            .bind(ping.note)
            .bind(current_trace_id())
            .bind(events::caused_by())
            .execute(tx.conn())
            .await?;
        Ok(true)
    }
}

pub fn current_trace_id() -> Option<String> {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let context = tracing::Span::current().context();
        let ids = context.span().span_context().clone();
        ids.is_valid().then(|| ids.trace_id().to_string())
    }
    #[cfg(not(feature = "otel"))]
    None
}

pub fn required(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{what} is required under CI");
    eprintln!("skipped: {what} is not available");
}

/// A nats-server with JetStream on a free port, stopped and its store removed on drop.
pub struct Nats {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl Nats {
    pub fn start() -> Option<Self> {
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned());
        if Command::new(&binary).arg("--version").output().is_err() {
            required("nats-server (scripts/tools.sh)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("fleetwright-runtime-nats-{}-{port}", std::process::id()));
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nats = Self { child, url: format!("nats://127.0.0.1:{port}"), dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(nats)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The RabbitMQ node at `FLEETWRIGHT_TEST_RABBITMQ` (`scripts/rabbitmq.sh start` prints it), and
/// a name no earlier run on it used, for this test's exchange and queues.
pub fn rabbitmq(name: &str) -> Option<(String, String)> {
    let Ok(url) = std::env::var("FLEETWRIGHT_TEST_RABBITMQ") else {
        required("RabbitMQ (FLEETWRIGHT_TEST_RABBITMQ, from scripts/rabbitmq.sh start)");
        return None;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    Some((url, format!("{name}-{}-{nanos}", std::process::id())))
}

/// The Kafka broker at `FLEETWRIGHT_TEST_KAFKA` (`host:port`, as `scripts/kafka.sh start`
/// prints it) as a broker URL, and a name no earlier run on it used.
pub fn kafka(name: &str) -> Option<(String, String)> {
    let Ok(address) = std::env::var("FLEETWRIGHT_TEST_KAFKA") else {
        required("Kafka (FLEETWRIGHT_TEST_KAFKA, from scripts/kafka.sh start)");
        return None;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    Some((format!("kafka://{address}"), format!("{name}-{}-{nanos}", std::process::id())))
}

/// Writes pings to the outbox under `subject` rather than [`Ping::SUBJECT`], as
/// [`Tx::publish`] would: for tests whose broker keeps every earlier run's events by subject.
pub async fn publish_as(database: &Database, subject: &str, notes: &[&str]) {
    use prost::Message as _;
    // Outbox order: microseconds, as the runtime writes it.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
    for (index, note) in notes.iter().enumerate() {
        let position = i64::try_from(now).unwrap() + i64::try_from(index).unwrap();
        let id = uuid::Uuid::now_v7().to_string();
        let payload: String =
            Ping { note: (*note).to_owned() }.encode_to_vec().iter().map(|b| format!("{b:02x}")).collect();
        let now = "2026-12-07T00:00:00Z";
        sqlx::query(
            r#"INSERT INTO "outbox" ("id", "subject", "payload", "position", "created_at", "updated_at")
            VALUES ($1, $2, $3, $4, $5, $6)"#,
        )
        .bind(id)
        .bind(subject.to_owned())
        .bind(payload)
        .bind(position)
        .bind(now)
        .bind(now)
        .execute(&database.pool)
        .await
        .unwrap();
    }
}

/// A fresh database on the test PostgreSQL server, if there is one.
pub fn postgres(name: &str) -> Option<DatabaseConfig> {
    let Ok(server) = std::env::var("FLEETWRIGHT_TEST_POSTGRES") else {
        required("PostgreSQL (FLEETWRIGHT_TEST_POSTGRES, from scripts/postgres.sh start)");
        return None;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let url = format!("{}/{name}_{}_{nanos}", server.trim_end_matches('/'), std::process::id());
    Some(DatabaseConfig { url, max_connections: 4, migrations: Migrations::Apply })
}

pub fn sqlite() -> DatabaseConfig {
    DatabaseConfig { url: "sqlite::memory:".into(), max_connections: 1, migrations: Migrations::Apply }
}

pub async fn publish(database: &Database, notes: &[String]) {
    let mut tx = database.begin().await.unwrap();
    for note in notes {
        tx.publish(&Ping { note: note.clone() }).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Waits up to `limit` for `done`, checking every 50 ms.
pub async fn eventually<F: Future<Output = bool>>(limit: Duration, mut done: impl FnMut() -> F) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub async fn handled(database: &Database) -> Vec<(String, Option<String>)> {
    sqlx::query_as(r#"SELECT "note", "trace_id" FROM "handled" ORDER BY "note""#)
        .fetch_all(&database.pool)
        .await
        .unwrap()
}

/// Waits up to `limit` until `notes` are handled, then asserts that each took effect once: the
/// handler ran once per note and the inbox holds one id per event.
pub async fn assert_handled_once(database: &Database, notes: &[&str], limit: Duration) {
    assert!(eventually(limit, || async { handled(database).await.len() >= notes.len() }).await);
    let handled: Vec<String> = handled(database).await.into_iter().map(|(note, _)| note).collect();
    assert_eq!(handled, notes, "each event took effect once");
    let inbox: i64 = sqlx::query_scalar(r#"SELECT COUNT(*) FROM "inbox""#).fetch_one(&database.pool).await.unwrap();
    assert_eq!(inbox, i64::try_from(notes.len()).unwrap());
}

/// Who caused each handled ping, by note.
pub async fn causes(database: &Database) -> Vec<(String, Option<String>)> {
    sqlx::query_as(r#"SELECT "note", "caused_by" FROM "handled" ORDER BY "note""#)
        .fetch_all(&database.pool)
        .await
        .unwrap()
}

pub async fn stream_messages(jetstream: &jetstream::Context, name: &str) -> u64 {
    match jetstream.get_stream(name).await {
        Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
        Err(_) => 0,
    }
}

/// A TCP proxy on loopback to `target` that can be taken down (every connection cut, nothing
/// listening) and brought back on the same port: the broker going away, as its clients see it.
pub struct Proxy {
    pub port: u16,
    target: String,
    accept: Option<tokio::task::JoinHandle<()>>,
    connections: Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
}

impl Proxy {
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::default();
        let mut proxy = Self { port, target: target.to_owned(), accept: None, connections };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (target, connections) = (self.target.clone(), self.connections.clone());
        self.accept = Some(tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                let target = target.clone();
                connections.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Stops listening and cuts every connection; returns once they are closed.
    pub async fn down(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        let mut connections = std::mem::take(&mut *self.connections.lock().unwrap());
        connections.shutdown().await;
    }

    /// Listens again, on the same port.
    pub async fn up(&mut self) {
        let started = Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(error) => {
                    assert!(started.elapsed() < Duration::from_secs(10), "port {} stays taken: {error}", self.port);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        self.connections.lock().unwrap().abort_all();
    }
}
