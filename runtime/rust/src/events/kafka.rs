//! Events through Kafka, for a broker URL `kafka://host:port` (several brokers separated by
//! commas; `user:password@` before them logs in with SCRAM-SHA-512; `kafkas://` over TLS).
//!
//! - **A topic per event**, named as its subject (`shop.orders.order_placed`), with
//!   [`PARTITIONS`] partitions, created when missing. Events are published by an idempotent
//!   producer (`enable.idempotence`, `acks=all`) and marked published once Kafka acknowledged
//!   them. The event id travels in the header `Fleetwright-Event-Id`, with `traceparent` and
//!   `Fleet-Caused-By`.
//! - **The partition key is the event's subject** for now, so every event of a type keeps its
//!   order (an aggregate's included). The outbox does not record an aggregate id yet, which
//!   would keep the order per aggregate and spread a type's events over the partitions.
//! - **A consumer group per subscribing service and event** (the subscription's durable name),
//!   committing a message's offset only after its handler's transaction committed.
//! - **Retries:** Kafka delivers a partition in order and cannot return one message for later,
//!   so a failed event is tried again in place after the pause [`super::Retry`] asks for; the
//!   events behind it on its partition wait meanwhile (at most about a minute and a half with
//!   the default pauses). The attempts are counted by this consumer: after a restart an event
//!   starts again from its first attempt.
//! - **Metrics:** as on the other brokers; `events_consumer_pending` is the consumer's lag.
//! - **Dead letters:** the topic `<project>.dead-letter` holds what a consumer gave up on, keyed
//!   by the event's subject, with the same `Fleetwright-*` headers as on NATS.
//!
//! Creating topics needs the `Create` permission; where a deployment creates them beforehand,
//! a service needs only `Write` on the topics it publishes and the dead-letter topic, and
//! `Read` on the topics and groups it consumes.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tracing::Instrument as _;

use super::{
    Acknowledgement, CAUSED_BY, CAUSED_BY_HEADER, CLEANUP_EVERY, Consume, DeadLetter, Delivery, Handler, MEASURE_EVERY,
    Outgoing, Publisher, Stream, Subscription, consume_span, credentials, forget_old_inbox_rows, keep_consuming,
    settle, without_password,
};
use crate::db::Database;

/// Partitions of a topic fleetwright creates.
pub const PARTITIONS: i32 = 3;

/// The header that carries the event id (Kafka messages have none of their own).
pub const EVENT_ID_HEADER: &str = DeadLetter::EVENT_ID;

/// How long the producer keeps trying to deliver an event before the relay hears of the
/// failure (and tries again later: the event stays in the outbox).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the brokers: their addresses and the client settings that log in.
#[derive(Debug, Clone)]
struct Brokers {
    settings: Vec<(&'static str, String)>,
}

impl Brokers {
    /// `kafka://[user:password@]host:port[,host:port…]`, or `kafkas://` for TLS.
    fn parse(url: &str) -> anyhow::Result<Self> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("kafkas://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("kafka://") {
            (false, rest)
        } else {
            anyhow::bail!("the broker URL {:?} is no Kafka URL (kafka://host:port)", without_password(url));
        };
        // The user, if any, is read the same way as from a NATS or AMQP URL (percent-decoded);
        // the brokers are what follows the last `@`.
        let user = credentials(&format!("kafka://{}", rest.split(',').next().unwrap_or_default())).1;
        let brokers = rest.rsplit_once('@').map_or(rest, |(_, brokers)| brokers).trim_end_matches('/');
        anyhow::ensure!(!brokers.is_empty(), "the broker URL {:?} names no broker", without_password(url));
        let mut settings = vec![("bootstrap.servers", brokers.to_owned())];
        let protocol = match (&user, tls) {
            (None, false) => "plaintext",
            (None, true) => "ssl",
            (Some(_), false) => "sasl_plaintext",
            (Some(_), true) => "sasl_ssl",
        };
        settings.push(("security.protocol", protocol.to_owned()));
        if let Some((user, password)) = user {
            settings.push(("sasl.mechanism", "SCRAM-SHA-512".to_owned()));
            settings.push(("sasl.username", user));
            settings.push(("sasl.password", password));
        }
        Ok(Self { settings })
    }

    fn config(&self, service: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.settings {
            config.set(*key, value);
        }
        config.set("client.id", service);
        config
    }
}

/// Starts the relay and the consumers (see [`super::start`]) against the Kafka brokers at `url`.
///
/// # Errors
/// When `url` is not a Kafka URL.
pub(crate) fn start<H: Handler>(
    service: &'static str,
    url: &str,
    database: &Database,
    stream: Stream,
    publishes: bool,
    subscriptions: &'static [Subscription],
    handler: H,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let brokers = Brokers::parse(url)?;
    let dead_letter = format!("{}.dead-letter", stream.subjects.trim_end_matches(".>"));
    let mut tasks = Vec::new();
    if publishes {
        let relay = Relay { brokers: brokers.clone(), service, connected: None, topics: HashSet::new() };
        tasks.push(tokio::spawn(super::relay(database.clone(), relay)));
    }
    for subscription in subscriptions {
        let consumer = Consumer {
            brokers: brokers.clone(),
            service,
            dead_letter: dead_letter.clone(),
            subscription: *subscription,
            database: database.clone(),
            handler: handler.clone(),
        };
        tasks.push(tokio::spawn(keep_consuming(subscription.durable, consumer)));
    }
    Ok(tasks)
}

/// An idempotent producer: each event once per partition and in order, whatever the retries.
fn producer(brokers: &Brokers, service: &str) -> anyhow::Result<FutureProducer> {
    let timeout = DELIVERY_TIMEOUT.as_millis().to_string();
    brokers
        .config(service)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // The partition of a key is the one Java clients choose for it.
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", timeout)
        .create()
        .context("creating the Kafka producer")
}

/// Creates `topic` unless it exists.
async fn ensure_topic(admin: &AdminClient<DefaultClientContext>, topic: &str) -> anyhow::Result<()> {
    // The broker's default replication factor.
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(-1));
    let results = admin.create_topics(&[new], &AdminOptions::new()).await.context("creating a topic")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating the topic {topic}: {code}"),
        }
    }
    Ok(())
}

fn admin(brokers: &Brokers, service: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    brokers.config(service).create().context("creating the Kafka admin client")
}

/// The outbox relay's side of Kafka.
struct Relay {
    brokers: Brokers,
    service: &'static str,
    connected: Option<(FutureProducer, AdminClient<DefaultClientContext>)>,
    /// Topics known to exist.
    topics: HashSet<String>,
}

impl Publisher for Relay {
    const SYSTEM: &'static str = "kafka";

    async fn prepare(&mut self) -> anyhow::Result<()> {
        if self.connected.is_none() {
            self.connected = Some((producer(&self.brokers, self.service)?, admin(&self.brokers, self.service)?));
        }
        Ok(())
    }

    async fn send(&mut self, event: Outgoing) -> anyhow::Result<Acknowledgement> {
        let Some((producer, admin)) = &self.connected else { anyhow::bail!("no Kafka producer") };
        if !self.topics.contains(&event.subject) {
            ensure_topic(admin, &event.subject).await?;
            self.topics.insert(event.subject.clone());
        }
        let mut headers = OwnedHeaders::new().insert(Header { key: EVENT_ID_HEADER, value: Some(&event.id) });
        if let Some(traceparent) = &event.traceparent {
            headers = headers.insert(Header { key: "traceparent", value: Some(traceparent) });
        }
        if let Some(caused_by) = &event.caused_by {
            headers = headers.insert(Header { key: CAUSED_BY_HEADER, value: Some(caused_by) });
        }
        let record = FutureRecord::to(&event.subject).key(&event.subject).payload(&event.payload).headers(headers);
        let delivery = producer.send_result(record).map_err(|(error, _)| anyhow::anyhow!("{error}"))?;
        Ok(Box::pin(async move {
            match delivery.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((error, _))) => Err(anyhow::anyhow!("Kafka did not take it: {error}")),
                Err(_) => Err(anyhow::anyhow!("the Kafka producer stopped first")),
            }
        }))
    }
}

/// One subscription's consumer.
struct Consumer<H> {
    brokers: Brokers,
    service: &'static str,
    dead_letter: String,
    subscription: Subscription,
    database: Database,
    handler: H,
}

impl<H: Handler> Consume for Consumer<H> {
    async fn consume_until_error(&self, backoff: &mut Duration) -> anyhow::Result<()> {
        let Subscription { durable, subject, .. } = self.subscription;
        let admin = admin(&self.brokers, self.service)?;
        ensure_topic(&admin, subject).await?;
        ensure_topic(&admin, &self.dead_letter).await?;
        let producer = producer(&self.brokers, self.service)?;
        let consumer: Arc<StreamConsumer> = self
            .brokers
            .config(self.service)
            .set("group.id", durable)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .map(Arc::new)
            .context("creating the Kafka consumer")?;
        consumer.subscribe(&[subject]).with_context(|| format!("subscribing to {subject}"))?;
        // Counted from zero, so that an alert on their increase sees the first one.
        metrics::counter!("events_dead_lettered_total", "subject" => subject, "durable" => durable).increment(0);
        metrics::counter!("events_redelivered_total", "durable" => durable).increment(0);
        let mut last_cleanup = Instant::now();
        let mut measure = tokio::time::interval(MEASURE_EVERY);
        loop {
            let message = tokio::select! {
                message = consumer.recv() => message,
                _ = measure.tick() => {
                    let consumer = Arc::clone(&consumer);
                    // librdkafka asks the brokers for the watermarks synchronously.
                    tokio::task::spawn_blocking(move || measure_lag(&consumer, durable));
                    continue;
                }
            };
            let message = message.with_context(|| format!("consuming {subject}"))?;
            *backoff = Duration::from_millis(100);
            if last_cleanup.elapsed() > CLEANUP_EVERY {
                last_cleanup = Instant::now();
                forget_old_inbox_rows(&self.database).await;
            }
            let id = header(&message, EVENT_ID_HEADER)
                .unwrap_or_else(|| format!("{}:{}:{}", message.topic(), message.partition(), message.offset()));
            let mut delivered = 1;
            loop {
                let traceparent = header(&message, "traceparent");
                let span = consume_span("kafka", message.topic(), durable, &id, delivered, traceparent.as_deref());
                let delivery = Message {
                    message: &message,
                    consumer: &consumer,
                    producer: &producer,
                    dead_letter: &self.dead_letter,
                    id: &id,
                    delivered,
                    again: AtomicBool::new(false),
                };
                let settled = settle(&delivery, self.subscription, &self.database, &self.handler).instrument(span);
                CAUSED_BY.scope(header(&message, CAUSED_BY_HEADER), settled).await?;
                if !delivery.again.load(Ordering::Relaxed) {
                    break;
                }
                delivered += 1;
            }
        }
    }
}

/// Sets `events_consumer_pending`: the messages of the consumer's partitions it has not reached
/// yet (each partition's high watermark less the consumer's position). A failure leaves the
/// gauge as it was.
fn measure_lag(consumer: &StreamConsumer, durable: &'static str) {
    let Ok(positions) = consumer.position() else { return };
    let mut pending = 0_i64;
    for partition in positions.elements() {
        let Ok((low, high)) =
            consumer.fetch_watermarks(partition.topic(), partition.partition(), Duration::from_secs(1))
        else {
            return;
        };
        // Before its first message a partition has no position: all of it is pending.
        let position = partition.offset().to_raw().filter(|offset| *offset >= 0).unwrap_or(low);
        pending += (high - position).max(0);
    }
    #[allow(clippy::cast_precision_loss)] // a count far below 2^52
    metrics::gauge!("events_consumer_pending", "durable" => durable).set(pending as f64);
}

/// A header's value as text.
fn header(message: &BorrowedMessage<'_>, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == name)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// One consumed message and what is known of it.
struct Message<'a> {
    message: &'a BorrowedMessage<'a>,
    consumer: &'a StreamConsumer,
    producer: &'a FutureProducer,
    dead_letter: &'a str,
    id: &'a str,
    delivered: i64,
    /// Set by [`Delivery::retry_after`]: the consumer tries the message again.
    again: AtomicBool,
}

impl Delivery for Message<'_> {
    fn subject(&self) -> &str {
        self.message.topic()
    }

    fn id(&self) -> &str {
        self.id
    }

    fn payload(&self) -> &[u8] {
        self.message.payload().unwrap_or_default()
    }

    fn delivered(&self) -> i64 {
        self.delivered
    }

    /// Commits the offset after this message.
    async fn ack(&self) -> anyhow::Result<()> {
        let id = self.id;
        self.consumer.commit_message(self.message, CommitMode::Async).with_context(|| format!("committing {id}"))
    }

    /// Waits `delay`, then has the consumer try the message again: Kafka cannot return one
    /// message of a partition for later.
    async fn retry_after(&self, delay: Duration) -> anyhow::Result<()> {
        tokio::time::sleep(delay).await;
        self.again.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn terminate(&self) -> anyhow::Result<()> {
        self.ack().await
    }

    /// Publishes the message to the dead-letter topic with its payload and headers (the trace
    /// context included), plus `letter`'s.
    async fn dead_letter(&self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        let mut headers = OwnedHeaders::new();
        if let Some(original) = self.message.headers() {
            for header in original.iter().filter(|header| header.key != EVENT_ID_HEADER) {
                headers = headers.insert(Header { key: header.key, value: header.value });
            }
        }
        for (key, value) in letter.headers() {
            headers = headers.insert(Header { key, value: Some(&value) });
        }
        let record = FutureRecord::to(self.dead_letter).key(self.subject()).payload(self.payload()).headers(headers);
        let topic = self.dead_letter;
        match self.producer.send(record, DELIVERY_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err((error, _)) => Err(anyhow::anyhow!("publishing to {topic}: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(brokers: &Brokers, key: &str) -> Option<String> {
        brokers.settings.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_kafka_url_names_the_brokers_and_how_to_log_in() {
        let plain = Brokers::parse("kafka://kafka-1:9092,kafka-2:9092").unwrap();
        assert_eq!(setting(&plain, "bootstrap.servers").as_deref(), Some("kafka-1:9092,kafka-2:9092"));
        assert_eq!(setting(&plain, "security.protocol").as_deref(), Some("plaintext"));
        assert_eq!(setting(&plain, "sasl.username"), None);
        let login = Brokers::parse("kafkas://orders:p%40ss@kafka:9093").unwrap();
        assert_eq!(setting(&login, "bootstrap.servers").as_deref(), Some("kafka:9093"));
        assert_eq!(setting(&login, "security.protocol").as_deref(), Some("sasl_ssl"));
        assert_eq!(setting(&login, "sasl.mechanism").as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(setting(&login, "sasl.username").as_deref(), Some("orders"));
        assert_eq!(setting(&login, "sasl.password").as_deref(), Some("p@ss"));
        assert!(Brokers::parse("nats://x:4222").is_err());
        assert!(Brokers::parse("kafka://").is_err());
    }
}
