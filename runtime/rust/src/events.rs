//! Events through NATS JetStream: one stream per project, each event on
//! `<project>.<service>.<event>` as its protobuf message.
//!
//! Publishing is reliable: [`crate::db::Tx::publish`] writes the event to the `outbox` table in
//! the transaction of the change, and the relay publishes unpublished rows in order, marking
//! each only after JetStream acknowledged it. While NATS is down rows wait and the relay
//! retries with backoff; the event id is the `Nats-Msg-Id`, so a row published twice (a crash
//! between the ack and the mark) is dropped by JetStream's duplicate window.
//!
//! Consuming is reliable: a durable pull consumer per subscribed event; [`handle`] records the
//! event id in the `inbox` table and runs the service's handler in one transaction, and the
//! message is acknowledged only after that commit. A redelivered event finds its id in the
//! inbox and is skipped, so each event takes effect once.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use futures_util::StreamExt as _;
use sqlx::Row as _;

use crate::codec::Text as _;
use crate::db::{Database, Tx};
use crate::error::AppError;

/// An event a service publishes: a protobuf message and its subject.
pub trait Event: prost::Message {
    const SUBJECT: &'static str;
}

/// Decodes an event's payload.
///
/// # Errors
/// [`AppError::Invalid`] when it does not decode: such an event never will, and is dropped.
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

/// One subscribed event and its durable consumer.
#[derive(Debug, Clone, Copy)]
pub struct Subscription {
    pub durable: &'static str,
    pub subject: &'static str,
}

impl Subscription {
    pub const fn new(durable: &'static str, subject: &'static str) -> Self {
        Self { durable, subject }
    }
}

/// Longest pause between two attempts while NATS is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the stream keeps events. A consumer that is away longer misses them.
const STREAM_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often old outbox and inbox rows are deleted, so the tables stay small.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Connects to NATS at `url` and starts the outbox relay (when `publishes`) and one consumer
/// per subscription. Returns at once; the tasks reconnect on their own while NATS is down, and
/// stop when aborted (safe at any point: nothing is marked published or acknowledged before it
/// is durable). `url` unset: nothing connects, and published events wait in the outbox.
///
/// # Errors
/// When `url` is not a NATS address.
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
    let client = async_nats::ConnectOptions::new()
        .name(service)
        .retry_on_initial_connect()
        .connect(url)
        .await
        .with_context(|| format!("NATS_URL={url:?}"))?;
    let jetstream = jetstream::new(client);
    let mut tasks = Vec::new();
    if publishes {
        tasks.push(tokio::spawn(relay(database.clone(), jetstream.clone(), stream)));
    }
    for subscription in subscriptions {
        let consumer = consume(database.clone(), handler.clone(), jetstream.clone(), stream, *subscription);
        tasks.push(tokio::spawn(consumer));
    }
    Ok(tasks)
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

fn from_hex(text: &str) -> Option<Vec<u8>> {
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

/// The project's stream, created on first use. Only settings NATS 2.9 knows are set.
async fn ensure_stream(jetstream: &jetstream::Context, stream: Stream) -> anyhow::Result<jetstream::stream::Stream> {
    jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: stream.name.to_owned(),
            subjects: vec![stream.subjects.to_owned()],
            duplicate_window: Duration::from_secs(120),
            max_age: STREAM_MAX_AGE,
            ..Default::default()
        })
        .await
        .map_err(|error| anyhow::anyhow!("stream {}: {error}", stream.name))
}

/// Publishes the outbox, oldest first, forever: woken by each commit that published events,
/// and every second in case another replica wrote rows.
async fn relay(database: Database, jetstream: jetstream::Context, stream: Stream) {
    let mut backoff = Duration::from_millis(100);
    let mut stream_ready = false;
    let mut last_cleanup = Instant::now();
    loop {
        if last_cleanup.elapsed() > CLEANUP_EVERY {
            last_cleanup = Instant::now();
            let sql = r#"DELETE FROM "outbox" WHERE "published_at" IS NOT NULL AND "published_at" < $1"#;
            forget_old_rows(&database, sql, Duration::from_secs(24 * 3600)).await;
        }
        let attempt = async {
            if !stream_ready {
                ensure_stream(&jetstream, stream).await?;
                stream_ready = true;
            }
            publish_pending(&database, &jetstream).await
        };
        match attempt.await {
            Ok(0) => {
                backoff = Duration::from_millis(100);
                let _ = tokio::time::timeout(Duration::from_secs(1), database.outbox.notified()).await;
            }
            Ok(_) => backoff = Duration::from_millis(100),
            Err(error) => {
                stream_ready = false;
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

/// Publishes up to 100 unpublished outbox rows in order; returns how many.
async fn publish_pending(database: &Database, jetstream: &jetstream::Context) -> anyhow::Result<usize> {
    let pending = r#"SELECT "id", "subject", "payload" FROM "outbox" WHERE "published_at" IS NULL
        ORDER BY "position", "id" LIMIT 100"#;
    let rows = sqlx::query(pending).fetch_all(&database.pool).await?;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let subject: String = row.try_get("subject")?;
        let payload = from_hex(&row.try_get::<String, _>("payload")?)
            .with_context(|| format!("outbox row {id} holds no hex payload"))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        let ack = jetstream
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|error| anyhow::anyhow!("publishing {subject}: {error}"))?;
        ack.await.map_err(|error| anyhow::anyhow!("JetStream did not acknowledge {subject}: {error}"))?;
        let now = crate::codec::now().to_text();
        sqlx::query(r#"UPDATE "outbox" SET "published_at" = $1, "updated_at" = $2 WHERE "id" = $3"#)
            .bind(now.clone())
            .bind(now)
            .bind(id)
            .execute(&database.pool)
            .await?;
        metrics::counter!("events_published_total", "subject" => subject).increment(1);
    }
    Ok(rows.len())
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
/// [`AppError::Invalid`] when the payload does not decode (it never will: drop it); any other
/// error means "try again later".
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

/// Consumes one subscription forever through its durable pull consumer, reconnecting with
/// backoff while NATS is unreachable.
async fn consume<H: Handler>(
    database: Database,
    handler: H,
    jetstream: jetstream::Context,
    stream: Stream,
    subscription: Subscription,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let consumed = consume_until_error(&database, &handler, &jetstream, stream, subscription, &mut backoff);
        if let Err(error) = consumed.await {
            let retry_in_ms = backoff.as_millis();
            let durable = subscription.durable;
            tracing::warn!(error = format!("{error:#}"), durable, retry_in_ms, "consuming events failed");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn consume_until_error<H: Handler>(
    database: &Database,
    handler: &H,
    jetstream: &jetstream::Context,
    stream: Stream,
    Subscription { durable, subject }: Subscription,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let consumer: jetstream::consumer::PullConsumer = ensure_stream(jetstream, stream)
        .await?
        .get_or_create_consumer(
            durable,
            jetstream::consumer::pull::Config {
                durable_name: Some(durable.to_owned()),
                filter_subject: subject.to_owned(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .map_err(|error| anyhow::anyhow!("consumer {durable}: {error}"))?;
    let mut messages = consumer.messages().await.map_err(|error| anyhow::anyhow!("consumer {durable}: {error}"))?;
    let mut last_cleanup = Instant::now();
    while let Some(message) = messages.next().await {
        if last_cleanup.elapsed() > CLEANUP_EVERY {
            last_cleanup = Instant::now();
            // An id must outlive every redelivery of its event: the stream keeps events no longer.
            let age = STREAM_MAX_AGE + Duration::from_secs(24 * 3600);
            forget_old_rows(database, r#"DELETE FROM "inbox" WHERE "created_at" < $1"#, age).await;
        }
        let message = message.map_err(|error| anyhow::anyhow!("consumer {durable}: {error}"))?;
        *backoff = Duration::from_millis(100);
        let id = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("Nats-Msg-Id"))
            .map(|value| value.as_str().to_owned())
            .or_else(|| message.info().ok().map(|info| format!("{}:{}", info.stream, info.stream_sequence)))
            .unwrap_or_default();
        let outcome = handle(database, handler, message.subject.as_str(), &id, &message.payload).await;
        let ack = match &outcome {
            Ok(handled) => {
                tracing::debug!(durable, id, ?handled, "event handled");
                metrics::counter!("events_consumed_total", "subject" => subject).increment(1);
                message.ack().await
            }
            Err(AppError::Invalid(reason)) => {
                tracing::error!(durable, id, reason, "dropping an event that cannot be handled");
                message.ack_with(jetstream::AckKind::Term).await
            }
            Err(error) => {
                tracing::warn!(durable, id, %error, "event handler failed; it will be delivered again");
                message.ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1)))).await
            }
        };
        ack.map_err(|error| anyhow::anyhow!("acknowledging {id}: {error}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let config = crate::config::Database { url: "sqlite::memory:".into(), max_connections: 1 };
        let schema = crate::db::Migration {
            version: 1,
            name: "init",
            sql: r#"CREATE TABLE "outbox" ("id" TEXT PRIMARY KEY, "subject" TEXT NOT NULL, "payload" TEXT NOT NULL,
                "position" BIGINT NOT NULL, "published_at" TEXT, "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL)"#,
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
        let config = crate::config::Database { url: "sqlite::memory:".into(), max_connections: 1 };
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
