//! Events between services, whatever the broker: the transactional outbox, the idempotent
//! inbox, retries and dead letters. What is particular to a broker (connecting, publishing with
//! its acknowledgements, consuming, acknowledging) lives beside this module, behind two small
//! traits: [`Publisher`] for the outbox relay and [`Delivery`] for a consumed message: NATS
//! JetStream ([`nats`]) and, with their features, RabbitMQ ([`rabbitmq`]) and Kafka ([`kafka`]).
//!
//! Publishing is reliable: [`crate::db::Tx::publish`] writes the event to the `outbox` table in
//! the transaction of the change, and the relay publishes unpublished rows in batches, oldest
//! first, marking them only after the broker acknowledged them. On PostgreSQL the relay claims
//! its batch with `FOR UPDATE SKIP LOCKED` inside the transaction that marks it, so replicas
//! share the outbox and each row has one publisher (rows another relay holds are skipped, so
//! across replicas events of different batches may leave out of order). SQLite has one writer
//! and one relay. While the broker is down rows wait and the relay retries with backoff. A row
//! published twice (a crash between the acknowledgement and the commit) carries the same event
//! id both times.
//!
//! Consuming is reliable: [`handle`] records the event id in the `inbox` table and runs the
//! service's handler in one transaction, and the message is acknowledged only after that
//! commit. A redelivered event finds its id in the inbox and is skipped, so each event takes
//! effect once. A handler that fails is retried after growing pauses ([`Retry`]) while the
//! events behind it go on; after the last attempt (at once for an event that cannot be
//! decoded) the event moves to the dead letters, with headers saying which consumer gave up,
//! after how many deliveries and why.
//!
//! Each event carries the W3C trace context of the code that published it (`traceparent`), so
//! one trace spans publisher, relay and consumer. Metrics: `events_outbox_backlog` and
//! `events_outbox_oldest_seconds` (unpublished rows and the age of the oldest),
//! `events_published_total`, `events_consumed_total`, `events_redelivered_total`,
//! `events_dead_lettered_total` and `events_consumer_pending` (what the consumer has yet to
//! receive).

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::Row as _;
use tracing::Instrument as _;

use crate::codec::Text as _;
use crate::db::{Database, Tx};
use crate::error::AppError;

#[cfg(feature = "kafka")]
pub mod kafka;
pub mod nats;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;

pub use nats::inbox_prefix;

/// An event a service publishes: a protobuf message and its subject.
pub trait Event: prost::Message {
    const SUBJECT: &'static str;
}

/// Decodes an event's payload.
///
/// # Errors
/// [`AppError::Invalid`] when it does not decode: such an event never will, and goes to the
/// dead-letter stream.
pub fn decode<E: prost::Message + Default>(payload: &[u8]) -> Result<E, AppError> {
    E::decode(payload).map_err(|error| AppError::Invalid(format!("undecodable event: {error}")))
}

/// The service's event handlers: runs the handler of `subject` inside `tx`, the transaction
/// that also records the event as handled. Returns false for a subject it does not handle.
pub trait Handler: Clone + Send + Sync + 'static {
    fn handle(&self, tx: &mut Tx, subject: &str, payload: &[u8])
    -> impl Future<Output = Result<bool, AppError>> + Send;
}

/// The project's stream and the subjects it holds.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    pub name: &'static str,
    pub subjects: &'static str,
}

impl Stream {
    /// Where events a consumer gave up on go: `<name>_DEAD_LETTER`.
    #[must_use]
    pub fn dead_letter_name(&self) -> String {
        format!("{}_DEAD_LETTER", self.name)
    }

    /// The subject an event of `subject` takes in the dead-letter stream. Outside the
    /// project's subjects: a subject belongs to one stream only.
    #[must_use]
    pub fn dead_letter_subject(subject: &str) -> String {
        format!("{DEAD_LETTER_PREFIX}.{subject}")
    }
}

/// The first token of every dead-letter subject.
pub const DEAD_LETTER_PREFIX: &str = "dead-letter";

/// How a consumer retries an event whose handler fails, before it gives up and moves the event
/// to the dead-letter stream.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Deliveries in all, the first included.
    pub max_deliveries: i64,
    /// The pause after each failed delivery (the last one repeats).
    pub delays: &'static [Duration],
}

impl Retry {
    /// Five deliveries over about a minute and a half: 1 s, 5 s, 30 s and 60 s apart.
    pub const DEFAULT: Self = Self {
        max_deliveries: 5,
        delays: &[Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30), Duration::from_secs(60)],
    };

    /// The pause before delivery `delivered + 1`.
    fn delay(&self, delivered: i64) -> Duration {
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(0);
        self.delays.get(index).or(self.delays.last()).copied().unwrap_or(Duration::from_secs(1))
    }
}

/// One subscribed event and its durable consumer.
#[derive(Debug, Clone, Copy)]
pub struct Subscription {
    pub durable: &'static str,
    pub subject: &'static str,
    pub retry: Retry,
}

impl Subscription {
    pub const fn new(durable: &'static str, subject: &'static str) -> Self {
        Self { durable, subject, retry: Retry::DEFAULT }
    }

    /// The same subscription, retrying a failing handler as `retry` says.
    #[must_use]
    pub const fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }
}

/// Longest pause between two attempts while the broker is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the broker keeps events. A consumer that is away longer misses them.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often old outbox and inbox rows are deleted, so the tables stay small.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// How many outbox rows the relay claims, publishes and marks at once.
const BATCH: i64 = 100;

/// How often the outbox backlog and a consumer's pending count are measured for metrics.
const MEASURE_EVERY: Duration = Duration::from_secs(10);

/// Connects to the broker at `url` (NATS; RabbitMQ for `amqp://` and `amqps://`; Kafka for
/// `kafka://` and `kafkas://`) and starts the outbox relay (when `publishes`) and one
/// consumer per subscription. Returns at once; the tasks reconnect on their own while the
/// broker is down, and stop when aborted (safe at any point: nothing is marked published or
/// acknowledged before it is durable). `url` unset: nothing connects, and published events
/// wait in the outbox.
///
/// # Errors
/// When `url` is not a broker address.
pub async fn start<H: Handler>(
    service: &'static str,
    url: Option<&str>,
    database: &Database,
    stream: Stream,
    publishes: bool,
    subscriptions: &'static [Subscription],
    handler: H,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let Some(url) = url else {
        tracing::info!("NATS_URL is not set: events are off; published events wait in the outbox");
        return Ok(Vec::new());
    };
    if url.starts_with("amqp://") || url.starts_with("amqps://") {
        #[cfg(feature = "rabbitmq")]
        return rabbitmq::start(service, url, database, stream, publishes, subscriptions, handler);
        #[cfg(not(feature = "rabbitmq"))]
        anyhow::bail!(
            "the broker URL {:?} is RabbitMQ's, and this service was built without the runtime's `rabbitmq` feature",
            without_password(url)
        );
    }
    if url.starts_with("kafka://") || url.starts_with("kafkas://") {
        #[cfg(feature = "kafka")]
        return kafka::start(service, url, database, stream, publishes, subscriptions, handler);
        #[cfg(not(feature = "kafka"))]
        anyhow::bail!(
            "the broker URL {:?} is Kafka's, and this service was built without the runtime's `kafka` feature",
            without_password(url)
        );
    }
    nats::start(service, url, database, stream, publishes, subscriptions, handler).await
}

/// Deletes inbox rows older than any redelivery of their event can be: the broker keeps events
/// no longer than [`RETENTION`].
pub(crate) async fn forget_old_inbox_rows(database: &Database) {
    let age = RETENTION + Duration::from_secs(24 * 3600);
    forget_old_rows(database, r#"DELETE FROM "inbox" WHERE "created_at" < $1"#, age).await;
}

/// The span of an event on its way to the broker (`system`: `nats`, `rabbitmq`, `kafka`), in the
/// trace of the code that published it.
pub(crate) fn publish_span(system: &'static str, event: &Outgoing) -> tracing::Span {
    let span = tracing::info_span!(
        "publish event",
        otel.name = %event.subject,
        otel.kind = "producer",
        messaging.system = system,
        event.id = %event.id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    crate::telemetry::join_trace(&span, event.traceparent.as_deref());
    span
}

/// The span of a delivered event being handled, in the trace of its publisher (`traceparent`).
pub(crate) fn consume_span(
    system: &'static str,
    subject: &str,
    durable: &str,
    id: &str,
    delivered: i64,
    traceparent: Option<&str>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "consume event",
        otel.name = %subject,
        otel.kind = "consumer",
        messaging.system = system,
        durable,
        event.id = %id,
        delivered,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    crate::telemetry::join_trace(&span, traceparent);
    span
}

/// What a subscription's consumer does on a broker; [`keep_consuming`] runs it.
pub(crate) trait Consume: Send + Sync {
    /// Connects, then consumes until the connection fails. Sets `backoff` back to its least
    /// once messages come again.
    fn consume_until_error(&self, backoff: &mut Duration) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Runs the consumer of the subscription `durable` forever, connecting again after each failure
/// with a backoff that doubles up to [`MAX_BACKOFF`] while the broker is unreachable.
pub(crate) async fn keep_consuming(durable: &'static str, consumer: impl Consume) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Err(error) = consumer.consume_until_error(&mut backoff).await {
            let retry_in_ms = backoff.as_millis();
            tracing::warn!(error = format!("{error:#}"), durable, retry_in_ms, "consuming events failed");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What the outbox relay needs of a broker.
pub(crate) trait Publisher: Send {
    /// The broker's name in spans (`messaging.system`).
    const SYSTEM: &'static str;

    /// Creates what publishing needs on the broker (a stream, an exchange) when it is missing.
    fn prepare(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Sends one event without waiting for the broker to take it; the returned future is the
    /// broker's acknowledgement. The event's `traceparent` is already the publishing span's.
    fn send(&mut self, event: Outgoing) -> impl Future<Output = anyhow::Result<Acknowledgement>> + Send;
}

/// A broker's acknowledgement of one sent event, still to come.
pub(crate) type Acknowledgement = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// `url` with the password of its user, if it names one, left out (for messages and logs).
pub(crate) fn without_password(url: &str) -> String {
    match credentials(url) {
        (address, Some((user, _))) => address.replacen("://", &format!("://{user}:***@"), 1),
        (address, None) => address,
    }
}

/// A broker URL (`nats://user:password@host:4222`) taken apart: the address without the user, and the user
/// and password (percent-decoded), if the URL names them. A URL that does not parse is left
/// whole, for the client to refuse with its own message.
pub(crate) fn credentials(url: &str) -> (String, Option<(String, String)>) {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return (url.to_owned(), None);
    };
    if parsed.username().is_empty() {
        return (url.to_owned(), None);
    }
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned();
    let user = (decoded(parsed.username()), decoded(parsed.password().unwrap_or_default()));
    // Both fail only for a URL that cannot have a user, which this one has.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    (parsed.to_string(), Some(user))
}

/// Outbox order: microseconds since the epoch, strictly increasing within the process, so
/// events of one transaction keep the order they were published in.
pub(crate) fn next_position() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
    let previous =
        LAST.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(now.max(last + 1))).unwrap_or(now);
    now.max(previous + 1)
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

pub(crate) fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The events of type `E` in the outbox that are not published yet, oldest first: what a test
/// checks after a change that should, or should not, publish.
///
/// # Errors
/// When the outbox cannot be read or a payload does not decode.
pub async fn unpublished<E: Event + Default>(database: &Database) -> Result<Vec<E>, AppError> {
    let pending = r#"SELECT "payload" FROM "outbox" WHERE "subject" = $1 AND "published_at" IS NULL
        ORDER BY "position", "id""#;
    let payloads: Vec<String> = sqlx::query_scalar(pending).bind(E::SUBJECT).fetch_all(&database.pool).await?;
    payloads
        .iter()
        .map(|hex| {
            from_hex(hex).ok_or_else(|| AppError::internal(anyhow::anyhow!("outbox payload {hex:?} is not hex")))
        })
        .map(|bytes| decode(&bytes?))
        .collect()
}

/// Runs a `DELETE … WHERE <timestamp column> < $1` with the time `age` ago; a failure is only
/// logged (the next round tries again).
async fn forget_old_rows(database: &Database, sql: &'static str, age: Duration) {
    let cutoff = time::OffsetDateTime::now_utc() - age;
    if let Err(error) = sqlx::query(sql).bind(cutoff.to_text()).execute(&database.pool).await {
        tracing::warn!(%error, "deleting old event rows failed");
    }
}

/// Publishes the outbox, oldest first, forever: woken by each commit that published events,
/// and every second in case another replica wrote rows.
pub(crate) async fn relay(database: Database, mut publisher: impl Publisher) {
    let mut backoff = Duration::from_millis(100);
    let mut prepared = false;
    let mut last_cleanup = Instant::now();
    let mut last_measure: Option<Instant> = None;
    loop {
        if last_cleanup.elapsed() > CLEANUP_EVERY {
            last_cleanup = Instant::now();
            let sql = r#"DELETE FROM "outbox" WHERE "published_at" IS NOT NULL AND "published_at" < $1"#;
            forget_old_rows(&database, sql, Duration::from_secs(24 * 3600)).await;
        }
        if last_measure.is_none_or(|at| at.elapsed() > MEASURE_EVERY) {
            last_measure = Some(Instant::now());
            measure_outbox(&database).await;
        }
        let attempt = async {
            if !prepared {
                publisher.prepare().await?;
                prepared = true;
            }
            publish_pending(&database, &mut publisher).await
        };
        match attempt.await {
            Ok(0) => {
                backoff = Duration::from_millis(100);
                let _ = tokio::time::timeout(Duration::from_secs(1), database.outbox.notified()).await;
            }
            Ok(_) => backoff = Duration::from_millis(100),
            Err(error) => {
                prepared = false;
                let retry_in_ms = backoff.as_millis();
                tracing::warn!(
                    error = format!("{error:#}"),
                    retry_in_ms,
                    "events wait in the outbox: publishing failed"
                );
                metrics::counter!("events_failed_total").increment(1);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Sets the outbox gauges: how many events wait, and how long the oldest has waited (its
/// position is the microsecond it was published at). A failure is only logged.
async fn measure_outbox(database: &Database) {
    let sql = r#"SELECT COUNT(*) AS "backlog", MIN("position") AS "oldest" FROM "outbox" WHERE "published_at" IS NULL"#;
    match sqlx::query(sql).fetch_one(&database.pool).await {
        Ok(row) => {
            let backlog: i64 = row.try_get("backlog").unwrap_or_default();
            let oldest: Option<i64> = row.try_get("oldest").unwrap_or_default();
            let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
            #[allow(clippy::cast_precision_loss)] // counts and microseconds far below 2^52
            let (backlog, age) = (backlog as f64, oldest.map_or(0.0, |oldest| (now - oldest).max(0) as f64 / 1e6));
            metrics::gauge!("events_outbox_backlog").set(backlog);
            metrics::gauge!("events_outbox_oldest_seconds").set(age);
        }
        Err(error) => tracing::warn!(%error, "measuring the outbox failed"),
    }
}

/// One claimed outbox row, on its way to the broker.
pub(crate) struct Outgoing {
    pub id: String,
    pub subject: String,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
    pub caused_by: Option<String>,
}

/// The oldest unpublished rows, up to [`BATCH`]; `FOR UPDATE SKIP LOCKED` on PostgreSQL, where
/// other replicas' relays read the same table.
fn claim_sql(postgres: bool) -> &'static str {
    if postgres {
        r#"SELECT "id", "subject", "payload", "traceparent", "caused_by" FROM "outbox" WHERE "published_at" IS NULL
        ORDER BY "position", "id" LIMIT $1 FOR UPDATE SKIP LOCKED"#
    } else {
        r#"SELECT "id", "subject", "payload", "traceparent", "caused_by" FROM "outbox" WHERE "published_at" IS NULL
        ORDER BY "position", "id" LIMIT $1"#
    }
}

/// Sends `batch` in order without waiting between events, then waits for the broker to
/// acknowledge each. Returns the (id, subject) of each acknowledged event, and the first failure
/// (after which nothing more is sent).
async fn publish_batch<P: Publisher>(
    publisher: &mut P,
    batch: Vec<Outgoing>,
) -> (Vec<(String, String)>, Option<anyhow::Error>) {
    let mut sent = Vec::with_capacity(batch.len());
    let mut failure = None;
    for mut event in batch {
        let span = publish_span(P::SYSTEM, &event);
        event.traceparent = crate::telemetry::traceparent(&span).or(event.traceparent);
        let (id, subject) = (event.id.clone(), event.subject.clone());
        match publisher.send(event).instrument(span).await {
            Ok(acknowledgement) => sent.push((id, subject, acknowledgement)),
            Err(error) => {
                failure = Some(anyhow::anyhow!("publishing {subject}: {error:#}"));
                break;
            }
        }
    }
    let mut published = Vec::with_capacity(sent.len());
    for (id, subject, acknowledgement) in sent {
        match acknowledgement.await {
            Ok(()) => published.push((id, subject)),
            Err(error) => {
                failure.get_or_insert_with(|| anyhow::anyhow!("publishing {subject}: {error:#}"));
            }
        }
    }
    (published, failure)
}

/// Claims a batch of unpublished outbox rows, publishes them (all sent, then every
/// acknowledgement awaited) and marks the acknowledged ones published; returns how many were
/// claimed. On PostgreSQL claim and mark are one transaction, so the rows stay locked against
/// other relays until marked. On SQLite the rows are read and marked outside a transaction:
/// holding SQLite's single writer while waiting for the broker would stall every request.
async fn publish_pending(database: &Database, publisher: &mut impl Publisher) -> anyhow::Result<usize> {
    let postgres = database.pool.connect_options().database_url.scheme().starts_with("postgres");
    let mut tx = if postgres { Some(database.pool.begin().await?) } else { None };
    let claim = sqlx::query(claim_sql(postgres)).bind(BATCH);
    let rows = match tx.as_mut() {
        Some(tx) => claim.fetch_all(&mut **tx).await?,
        None => claim.fetch_all(&database.pool).await?,
    };
    let mut batch = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let payload = from_hex(&row.try_get::<String, _>("payload")?)
            .with_context(|| format!("outbox row {id} holds no hex payload"))?;
        batch.push(Outgoing {
            subject: row.try_get("subject")?,
            payload,
            traceparent: row.try_get("traceparent")?,
            caused_by: row.try_get("caused_by")?,
            id,
        });
    }
    let (published, failure) = publish_batch(publisher, batch).await;
    if !published.is_empty() {
        let now = crate::codec::now().to_text();
        let placeholders: Vec<String> = (0..published.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            r#"UPDATE "outbox" SET "published_at" = $1, "updated_at" = $2 WHERE "id" IN ({})"#,
            placeholders.join(", ")
        );
        let mut mark = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now.clone()).bind(now);
        for (id, _) in &published {
            mark = mark.bind(id.clone());
        }
        match tx.as_mut() {
            Some(tx) => mark.execute(&mut **tx).await?,
            None => mark.execute(&database.pool).await?,
        };
    }
    if let Some(tx) = tx {
        tx.commit().await?;
    }
    for (_, subject) in published {
        metrics::counter!("events_published_total", "subject" => subject).increment(1);
    }
    failure.map_or(Ok(rows.len()), Err)
}

/// What became of a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The handler ran and its transaction committed.
    Processed,
    /// The inbox already held this event id: a redelivery, skipped.
    Duplicate,
    /// Not an event this service subscribes to.
    Ignored,
}

/// Handles one delivered event: in one transaction, records `id` in the inbox and runs the
/// handler. An id already in the inbox is a redelivery and changes nothing.
///
/// # Errors
/// [`AppError::Invalid`] when the payload does not decode or the handler refuses the event
/// (it never will take it: the consumer moves it to the dead-letter stream); any other error
/// means "try again later".
pub async fn handle<H: Handler>(
    database: &Database,
    handler: &H,
    subject: &str,
    id: &str,
    payload: &[u8],
) -> Result<Handled, AppError> {
    let mut tx = database.begin().await?;
    if !remember(&mut tx, id, subject).await? {
        return Ok(Handled::Duplicate);
    }
    if !handler.handle(&mut tx, subject, payload).await? {
        return Ok(Handled::Ignored);
    }
    tx.commit().await?;
    Ok(Handled::Processed)
}

/// The message header naming who caused an event: the subject of the token whose request
/// published it, or of whoever caused the event whose handler published it.
pub const CAUSED_BY_HEADER: &str = "Fleet-Caused-By";

tokio::task_local! {
    static CAUSED_BY: Option<String>;
}

/// Who caused the event being handled (its `Fleet-Caused-By` header): the token subject of the
/// request that published it, passed on from event to event. `None` outside a handler, or for
/// an event the service published on its own behalf. It is what the publisher recorded, not a
/// proof: authorise on it only as far as you trust the publishing service.
pub fn caused_by() -> Option<String> {
    CAUSED_BY.try_with(Clone::clone).ok().flatten()
}

/// Runs `future` as the handling of an event `caused_by` someone (tests of event handlers).
pub async fn as_caused_by<F: std::future::Future>(caused_by: Option<String>, future: F) -> F::Output {
    CAUSED_BY.scope(caused_by, future).await
}

/// Who causes an event published now: the request's caller, else whoever caused the event
/// being handled.
pub(crate) fn cause() -> Option<String> {
    #[cfg(feature = "auth")]
    if let Some(subject) = crate::auth::Caller::current().subject() {
        return Some(subject.to_owned());
    }
    caused_by()
}

/// Records an event id in the inbox; false when it was there already.
async fn remember(tx: &mut Tx, id: &str, subject: &str) -> Result<bool, AppError> {
    let now = crate::codec::now().to_text();
    let insert = r#"INSERT INTO "inbox" ("id", "subject", "created_at", "updated_at") VALUES ($1, $2, $3, $4)
        ON CONFLICT ("id") DO NOTHING"#;
    let inserted = sqlx::query(insert)
        .bind(id.to_owned())
        .bind(subject.to_owned())
        .bind(now.clone())
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A consumed message, as the broker that delivered it lets it be settled.
pub(crate) trait Delivery: Sync {
    /// The event's subject.
    fn subject(&self) -> &str;
    /// The event's id (the outbox row's), the same in every delivery of it.
    fn id(&self) -> &str;
    fn payload(&self) -> &[u8];
    /// How many times the broker has delivered the message, this time included.
    fn delivered(&self) -> i64;
    /// Done with: never deliver it again.
    fn ack(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Deliver it again after `delay`.
    fn retry_after(&self, delay: Duration) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Stores a copy in the dead letters, with `letter`'s headers.
    fn dead_letter(&self, letter: &DeadLetter<'_>) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Given up on, after it reached the dead letters: never deliver it again.
    fn terminate(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Handles a delivered event and settles the message: acknowledged; delivered again after a
/// pause; or, after the last attempt or for an event that never can be handled, moved to the
/// dead letters and terminated. An error means the broker connection failed.
pub(crate) async fn settle<H: Handler>(
    delivery: &impl Delivery,
    subscription: Subscription,
    database: &Database,
    handler: &H,
) -> anyhow::Result<()> {
    let Subscription { durable, subject, retry } = subscription;
    let (id, delivered) = (delivery.id(), delivery.delivered());
    if delivered > 1 {
        metrics::counter!("events_redelivered_total", "durable" => durable).increment(1);
    }
    let failure = if delivered > retry.max_deliveries {
        // Delivered again after its last attempt ended without an answer (a crash, or the dead
        // letters were unreachable): do not try it again.
        Some(format!("no outcome after {} deliveries", retry.max_deliveries))
    } else {
        match handle(database, handler, delivery.subject(), id, delivery.payload()).await {
            Ok(handled) => {
                tracing::debug!(durable, id, ?handled, "event handled");
                metrics::counter!("events_consumed_total", "subject" => subject).increment(1);
                None
            }
            Err(AppError::Invalid(reason)) => Some(reason),
            // The whole cause: a dead letter is read by operators, not answered to a client.
            Err(AppError::Internal(error)) if delivered >= retry.max_deliveries => Some(format!("{error:#}")),
            Err(error) if delivered >= retry.max_deliveries => Some(error.to_string()),
            Err(error) => {
                let retry_in = retry.delay(delivered);
                let retry_in_ms = retry_in.as_millis();
                tracing::warn!(durable, id, delivered, retry_in_ms, %error, "event handler failed; it will be delivered again");
                return delivery.retry_after(retry_in).await;
            }
        }
    };
    let Some(reason) = failure else {
        return delivery.ack().await;
    };
    let letter = DeadLetter { id, subject: delivery.subject(), durable, delivered, reason: &reason };
    match delivery.dead_letter(&letter).await {
        Ok(()) => {
            tracing::error!(durable, id, delivered, reason, "event moved to the dead letters");
            metrics::counter!("events_dead_lettered_total", "subject" => subject, "durable" => durable).increment(1);
            delivery.terminate().await
        }
        Err(error) => {
            let error = format!("{error:#}");
            tracing::error!(
                durable,
                id,
                reason,
                error,
                "the dead letters are unreachable; the event will be delivered again"
            );
            delivery.retry_after(retry.delay(delivered)).await
        }
    }
}

/// What a dead letter says besides the event: which event, which consumer gave up on it, after
/// how many deliveries and why. Every broker writes it as the same headers.
pub(crate) struct DeadLetter<'a> {
    pub id: &'a str,
    pub subject: &'a str,
    pub durable: &'a str,
    pub delivered: i64,
    pub reason: &'a str,
}

impl DeadLetter<'_> {
    /// The header that carries the event id, on Kafka also on the event itself.
    pub(crate) const EVENT_ID: &'static str = "Fleetwright-Event-Id";

    /// The `Fleetwright-*` headers; the reason on one line of at most 500 characters.
    pub(crate) fn headers(&self) -> [(&'static str, String); 5] {
        let reason = self.reason.chars().map(|c| if c.is_control() { ' ' } else { c }).take(500).collect();
        [
            (Self::EVENT_ID, self.id.to_owned()),
            ("Fleetwright-Subject", self.subject.to_owned()),
            ("Fleetwright-Durable", self.durable.to_owned()),
            ("Fleetwright-Deliveries", self.delivered.to_string()),
            ("Fleetwright-Error", reason),
        ]
    }

    /// The dead letter's own id, for brokers that deduplicate by id: per consumer, since two
    /// consumers giving up on one event are two dead letters.
    pub(crate) fn letter_id(&self) -> String {
        format!("{}:{}", self.durable, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_url_is_shown_without_its_password() {
        assert_eq!(without_password("nats://orders:s3cret@nats:4222"), "nats://orders:***@nats:4222");
        assert_eq!(without_password("nats://orders@nats:4222"), "nats://orders:***@nats:4222");
        let (address, user) = credentials("nats://orders:p%40ss%3Aw0rd@nats:4222");
        assert_eq!(address, "nats://nats:4222");
        assert_eq!(user, Some(("orders".to_owned(), "p@ss:w0rd".to_owned())));
        assert_eq!(credentials("nats://127.0.0.1:4222"), ("nats://127.0.0.1:4222".to_owned(), None));
        assert_eq!(without_password("nats://nats:4222"), "nats://nats:4222");
        let amqp = "amqp://payments:s3cret@rabbitmq:5672/%2f";
        assert_eq!(without_password(amqp), "amqp://payments:***@rabbitmq:5672/%2f");
    }

    #[test]
    fn a_dead_letter_says_which_event_which_consumer_how_often_and_why_on_one_line() {
        let reason = format!("first line\nsecond {}", "x".repeat(600));
        let letter =
            DeadLetter { id: "e1", subject: "shop.orders.placed", durable: "pay", delivered: 5, reason: &reason };
        let headers = letter.headers();
        let value = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(value("Fleetwright-Event-Id"), Some("e1"));
        assert_eq!(value("Fleetwright-Subject"), Some("shop.orders.placed"));
        assert_eq!(value("Fleetwright-Durable"), Some("pay"));
        assert_eq!(value("Fleetwright-Deliveries"), Some("5"));
        let error = value("Fleetwright-Error").unwrap();
        assert!(error.starts_with("first line second x") && error.chars().count() == 500, "{error:?}");
        assert_eq!(letter.letter_id(), "pay:e1");
    }

    #[test]
    fn payloads_survive_the_hex_column() {
        let bytes = [0_u8, 1, 0x7f, 0xff];
        assert_eq!(to_hex(&bytes), "00017fff");
        assert_eq!(from_hex("00017fff").unwrap(), bytes);
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn positions_strictly_increase() {
        let (a, b) = (next_position(), next_position());
        assert!(b > a);
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Ping {
        #[prost(string, tag = "1")]
        note: String,
    }

    impl Event for Ping {
        const SUBJECT: &'static str = "shop.test.ping";
    }

    #[tokio::test]
    async fn only_committed_events_wait_in_the_outbox() {
        let config = crate::config::Database {
            url: "sqlite::memory:".into(),
            max_connections: 1,
            migrations: crate::config::Migrations::Apply,
        };
        let schema = crate::db::Migration {
            version: 1,
            name: "init",
            sql: r#"CREATE TABLE "outbox" ("id" TEXT PRIMARY KEY, "subject" TEXT NOT NULL, "payload" TEXT NOT NULL,
                "position" BIGINT NOT NULL, "published_at" TEXT, "traceparent" TEXT, "caused_by" TEXT, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL)"#,
        };
        let db = Database::connect(&config, &[schema]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        tx.publish(&Ping { note: "rolled back".into() }).await.unwrap();
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        tx.publish(&Ping { note: "first".into() }).await.unwrap();
        tx.publish(&Ping { note: "second".into() }).await.unwrap();
        tx.commit().await.unwrap();
        let pending: Vec<Ping> = unpublished(&db).await.unwrap();
        let notes: Vec<&str> = pending.iter().map(|ping| ping.note.as_str()).collect();
        assert_eq!(notes, ["first", "second"], "committed events, in the order they were published");
    }

    #[derive(Clone)]
    struct Counter;

    impl Handler for Counter {
        async fn handle(&self, tx: &mut Tx, subject: &str, _: &[u8]) -> Result<bool, AppError> {
            if subject != "shop.orders.order_placed" {
                return Ok(false);
            }
            sqlx::query(r#"INSERT INTO "handled" ("subject") VALUES ($1)"#)
                .bind(subject.to_owned())
                .execute(tx.conn())
                .await?;
            Ok(true)
        }
    }

    #[tokio::test]
    async fn a_redelivered_event_takes_effect_once() {
        let config = crate::config::Database {
            url: "sqlite::memory:".into(),
            max_connections: 1,
            migrations: crate::config::Migrations::Apply,
        };
        let schema = crate::db::Migration {
            version: 1,
            name: "init",
            sql: r#"CREATE TABLE "inbox" ("id" TEXT PRIMARY KEY, "subject" TEXT NOT NULL, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL);
                    CREATE TABLE "handled" ("subject" TEXT NOT NULL);"#,
        };
        let db = Database::connect(&config, &[schema]).await.unwrap();
        let subject = "shop.orders.order_placed";
        assert_eq!(handle(&db, &Counter, subject, "e1", b"").await.unwrap(), Handled::Processed);
        assert_eq!(handle(&db, &Counter, subject, "e1", b"").await.unwrap(), Handled::Duplicate);
        assert_eq!(handle(&db, &Counter, "shop.x.y", "e2", b"").await.unwrap(), Handled::Ignored);
        let handled: i64 = sqlx::query_scalar(r#"SELECT COUNT(*) FROM "handled""#).fetch_one(&db.pool).await.unwrap();
        assert_eq!(handled, 1);
        let remembered: i64 = sqlx::query_scalar(r#"SELECT COUNT(*) FROM "inbox""#).fetch_one(&db.pool).await.unwrap();
        assert_eq!(remembered, 1, "an ignored event is not remembered: its transaction rolled back");
    }
}
