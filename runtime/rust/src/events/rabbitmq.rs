//! Events through RabbitMQ (AMQP 0-9-1), for a broker URL `amqp://` or `amqps://`.
//!
//! - **One durable topic exchange per project**, `<project>.events` (`shop.events` for the
//!   subjects `shop.>`). Each event is published to it with its subject as the routing key,
//!   persistent, with the event id as `message-id`, and waited for with publisher confirms.
//! - **One durable quorum queue per subscribing service and event**,
//!   `<project>.<subscriber>.<publisher>.<event>` (`shop.payments.orders.order_placed`), bound to
//!   the exchange by the event's subject, so events wait for a service that is down. Every queue
//!   of a service starts with `<project>.<service>.`, which its permissions can name.
//!   Acknowledged by hand, after the handler's transaction committed.
//! - **Retries:** a failed event is returned to its queue after the pause [`super::Retry`]
//!   asks for; the consumer goes on with the events behind it meanwhile (it holds up to
//!   [`PREFETCH`] unacknowledged). RabbitMQ counts the returns (`x-delivery-count`).
//! - **Dead letters:** the exchange `<project>.dead-letter` and its quorum queue of the same
//!   name hold, under the routing key `dead-letter.<subject>`, what a consumer gave up on, with
//!   the same `Fleetwright-*` headers as on NATS. Each queue's `x-delivery-limit`
//!   ([`DELIVERY_LIMIT`]) is a net under the consumer's own retries: a message returned that
//!   often (a consumer that crashes on it each time) is dead-lettered by RabbitMQ itself, to the
//!   same place, with its `x-death` header saying why.
//!
//! A service declares the exchanges and its queues when they are missing, which needs the
//! `configure` permission on them. Where a deployment declares them beforehand (a definitions
//! file), the service finds them with passive declarations, which need none, and its user needs
//! only `write` on the two exchanges and `read` on its queues.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tracing::Instrument as _;

use super::{
    Acknowledgement, CAUSED_BY, CAUSED_BY_HEADER, CLEANUP_EVERY, Consume, DeadLetter, Delivery, Handler, MEASURE_EVERY,
    Outgoing, Publisher, Stream, Subscription, consume_span, forget_old_inbox_rows, keep_consuming, settle,
    without_password,
};
use crate::db::Database;

/// How many unacknowledged messages a consumer holds: events waiting for their next attempt
/// keep a place each, and the rest go on.
pub const PREFETCH: u16 = 32;

/// How often RabbitMQ returns a message to its queue before it dead-letters it itself: far above
/// any consumer's own attempts ([`super::Retry::DEFAULT`] makes five). A queue's arguments
/// cannot change once it exists, so this stays the same whatever a subscription's retries.
pub const DELIVERY_LIMIT: i64 = 20;

/// The persistent delivery mode: the message is written to disk before it is confirmed.
const PERSISTENT: u8 = 2;

/// The project's exchange and where its dead letters go.
#[derive(Debug, Clone)]
struct Exchanges {
    project: String,
    events: String,
    dead_letter: String,
}

impl Exchanges {
    fn of(stream: Stream) -> Self {
        let project = stream.subjects.trim_end_matches(".>");
        Self {
            project: project.to_owned(),
            events: format!("{project}.events"),
            dead_letter: format!("{project}.dead-letter"),
        }
    }

    /// The queue of `service` for the event of `subject` (`<project>.<publisher>.<event>`):
    /// `<project>.<service>.<publisher>.<event>`.
    fn queue(&self, service: &str, subject: &str) -> String {
        let event = subject.strip_prefix(&format!("{}.", self.project)).unwrap_or(subject);
        format!("{}.{service}.{event}", self.project)
    }
}

/// Starts the relay and the consumers (see [`super::start`]) against RabbitMQ at `url`.
///
/// # Errors
/// When `url` is not an AMQP URL.
pub(crate) fn start<H: Handler>(
    service: &'static str,
    url: &str,
    database: &Database,
    stream: Stream,
    publishes: bool,
    subscriptions: &'static [Subscription],
    handler: H,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    url.parse::<lapin::uri::AMQPUri>()
        .map_err(|error| anyhow::anyhow!("the broker URL {:?} is no AMQP URL: {error}", without_password(url)))?;
    let exchanges = Exchanges::of(stream);
    let mut tasks = Vec::new();
    if publishes {
        let relay = Relay { url: url.to_owned(), service, exchanges: exchanges.clone(), connected: None };
        tasks.push(tokio::spawn(super::relay(database.clone(), relay)));
    }
    for subscription in subscriptions {
        let consumer = Consumer {
            url: url.to_owned(),
            service,
            exchanges: exchanges.clone(),
            subscription: *subscription,
            database: database.clone(),
            handler: handler.clone(),
        };
        tasks.push(tokio::spawn(keep_consuming(subscription.durable, consumer)));
    }
    Ok(tasks)
}

/// A connection named after the service, so that the broker's connection list says who is who.
async fn connect(url: &str, service: &str) -> anyhow::Result<(Connection, Channel)> {
    let properties = ConnectionProperties::default().with_connection_name(service.into());
    let connection = Connection::connect(url, properties)
        .await
        .with_context(|| format!("connecting to RabbitMQ at {}", without_password(url)))?;
    let channel = connection.create_channel().await.context("opening a RabbitMQ channel")?;
    // Publishes on this channel (events, dead letters) are confirmed by the broker.
    channel.confirm_select(ConfirmSelectOptions::default()).await.context("turning on publisher confirms")?;
    Ok((connection, channel))
}

/// The project's exchange, its dead-letter exchange and the queue that holds dead letters, each
/// declared unless it exists.
async fn declare_exchanges(connection: &Connection, channel: &Channel, exchanges: &Exchanges) -> anyhow::Result<()> {
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    for name in [&exchanges.events, &exchanges.dead_letter] {
        if !exchange_exists(connection, name).await {
            channel
                .exchange_declare(name.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default())
                .await
                .with_context(|| format!("declaring the exchange {name}"))?;
        }
    }
    let queue = exchanges.dead_letter.as_str();
    if !queue_exists(connection, queue).await {
        let arguments = table(&[("x-queue-type", text("quorum"))]);
        channel
            .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
            .await
            .with_context(|| format!("declaring the queue {queue}"))?;
        channel
            .queue_bind(queue.into(), queue.into(), "#".into(), QueueBindOptions::default(), FieldTable::default())
            .await
            .with_context(|| format!("binding the queue {queue}"))?;
    }
    Ok(())
}

/// The quorum queue of a subscription, bound to the project's exchange by its event's subject;
/// declared unless it exists.
async fn declare_queue(
    connection: &Connection,
    channel: &Channel,
    exchanges: &Exchanges,
    queue: &str,
    subject: &str,
) -> anyhow::Result<()> {
    if queue_exists(connection, queue).await {
        return Ok(());
    }
    let arguments = table(&[
        ("x-queue-type", text("quorum")),
        ("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)),
        ("x-dead-letter-exchange", text(&exchanges.dead_letter)),
        ("x-dead-letter-routing-key", text(&Stream::dead_letter_subject(subject))),
        // Dead-lettered by the broker only once the dead-letter queue has it. RabbitMQ takes
        // `at-least-once` only with `reject-publish` (else it falls back to at-most-once and
        // merely logs it).
        ("x-dead-letter-strategy", text("at-least-once")),
        ("x-overflow", text("reject-publish")),
    ]);
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .with_context(|| format!("declaring the queue {queue}"))?;
    channel
        .queue_bind(
            queue.into(),
            exchanges.events.as_str().into(),
            subject.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("binding the queue {queue}"))?;
    Ok(())
}

/// Whether the exchange exists: a passive declaration, which needs no permission, on a channel
/// of its own (the broker closes the channel of one that fails).
async fn exchange_exists(connection: &Connection, name: &str) -> bool {
    let Ok(channel) = connection.create_channel().await else { return false };
    let passive = ExchangeDeclareOptions { passive: true, ..ExchangeDeclareOptions::default() };
    let found =
        channel.exchange_declare(name.into(), ExchangeKind::Topic, passive, FieldTable::default()).await.is_ok();
    if found {
        let _ = channel.close(200, "found".into()).await;
    }
    found
}

/// Whether the queue exists (see [`exchange_exists`]).
async fn queue_exists(connection: &Connection, name: &str) -> bool {
    let Ok(channel) = connection.create_channel().await else { return false };
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    let found = channel.queue_declare(name.into(), passive, FieldTable::default()).await.is_ok();
    if found {
        let _ = channel.close(200, "found".into()).await;
    }
    found
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in entries {
        table.insert(ShortString::from(*key), value.clone());
    }
    table
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// A header's value as text, if it is text.
fn header_text(properties: &BasicProperties, name: &str) -> Option<String> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(value) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
        _ => None,
    }
}

/// How many times the broker has returned the message to its queue (`x-delivery-count`, which
/// quorum queues set from the second delivery on).
fn returns(properties: &BasicProperties) -> Option<i64> {
    match properties.headers().as_ref()?.inner().get("x-delivery-count")? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// The outbox relay's side of RabbitMQ.
struct Relay {
    url: String,
    service: &'static str,
    exchanges: Exchanges,
    /// Dropped after a failure: the broker closes a channel on its first error.
    connected: Option<(Connection, Channel)>,
}

impl Publisher for Relay {
    const SYSTEM: &'static str = "rabbitmq";

    async fn prepare(&mut self) -> anyhow::Result<()> {
        if let Some((connection, _)) = self.connected.take() {
            let _ = connection.close(200, "reconnecting".into()).await;
        }
        let (connection, channel) = connect(&self.url, self.service).await?;
        declare_exchanges(&connection, &channel, &self.exchanges).await?;
        self.connected = Some((connection, channel));
        Ok(())
    }

    async fn send(&mut self, event: Outgoing) -> anyhow::Result<Acknowledgement> {
        let Some((_, channel)) = &self.connected else { anyhow::bail!("not connected to RabbitMQ") };
        let mut headers = Vec::new();
        if let Some(traceparent) = &event.traceparent {
            headers.push(("traceparent", text(traceparent)));
        }
        if let Some(caused_by) = &event.caused_by {
            headers.push((CAUSED_BY_HEADER, text(caused_by)));
        }
        let properties = BasicProperties::default()
            .with_message_id(event.id.as_str().into())
            .with_content_type("application/x-protobuf".into())
            .with_delivery_mode(PERSISTENT)
            .with_headers(table(&headers));
        let confirm = channel
            .basic_publish(
                self.exchanges.events.as_str().into(),
                event.subject.as_str().into(),
                BasicPublishOptions::default(),
                &event.payload,
                properties,
            )
            .await?;
        Ok(Box::pin(async move {
            match confirm.await {
                Ok(confirmation) if confirmation.is_ack() => Ok(()),
                Ok(_) => Err(anyhow::anyhow!("RabbitMQ refused it (a negative confirm)")),
                Err(error) => Err(anyhow::anyhow!("RabbitMQ did not confirm it: {error}")),
            }
        }))
    }
}

/// One subscription's consumer.
struct Consumer<H> {
    url: String,
    service: &'static str,
    exchanges: Exchanges,
    subscription: Subscription,
    database: Database,
    handler: H,
}

impl<H: Handler> Consume for Consumer<H> {
    async fn consume_until_error(&self, backoff: &mut Duration) -> anyhow::Result<()> {
        let Subscription { durable, subject, .. } = self.subscription;
        let queue = self.exchanges.queue(self.service, subject);
        let (connection, channel) = connect(&self.url, self.service).await?;
        declare_exchanges(&connection, &channel, &self.exchanges).await?;
        declare_queue(&connection, &channel, &self.exchanges, &queue, subject).await?;
        channel.basic_qos(PREFETCH, BasicQosOptions::default()).await.context("setting the prefetch")?;
        let mut deliveries = channel
            .basic_consume(
                queue.as_str().into(),
                self.service.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("consuming the queue {queue}"))?;
        // Counted from zero, so that an alert on their increase sees the first one.
        metrics::counter!("events_dead_lettered_total", "subject" => subject, "durable" => durable).increment(0);
        metrics::counter!("events_redelivered_total", "durable" => durable).increment(0);
        let mut last_cleanup = Instant::now();
        let mut measure = tokio::time::interval(MEASURE_EVERY);
        loop {
            let delivery = tokio::select! {
                delivery = deliveries.next() => delivery,
                _ = measure.tick() => {
                    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
                    if let Ok(queue) = channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await {
                        metrics::gauge!("events_consumer_pending", "durable" => durable).set(f64::from(queue.message_count()));
                    }
                    continue;
                }
            };
            let Some(delivery) = delivery else {
                let _ = connection.close(200, "consumer cancelled".into()).await;
                anyhow::bail!("RabbitMQ cancelled the consumer of {queue}");
            };
            let delivery = delivery.with_context(|| format!("consuming the queue {queue}"))?;
            *backoff = Duration::from_millis(100);
            if last_cleanup.elapsed() > CLEANUP_EVERY {
                last_cleanup = Instant::now();
                forget_old_inbox_rows(&self.database).await;
            }
            let properties = &delivery.properties;
            let id = properties
                .message_id()
                .as_ref()
                .map_or_else(|| format!("{durable}:{}", delivery.delivery_tag), |id| id.as_str().to_owned());
            let delivered = returns(properties).map_or(if delivery.redelivered { 2 } else { 1 }, |returns| returns + 1);
            let traceparent = header_text(properties, "traceparent");
            let span = consume_span(
                "rabbitmq",
                delivery.routing_key.as_str(),
                durable,
                &id,
                delivered,
                traceparent.as_deref(),
            );
            let message =
                Message { delivery: &delivery, channel: &channel, exchanges: &self.exchanges, id: &id, delivered };
            let settled = settle(&message, self.subscription, &self.database, &self.handler).instrument(span);
            CAUSED_BY.scope(header_text(properties, CAUSED_BY_HEADER), settled).await?;
        }
    }
}

/// One delivered message and what is known of it.
struct Message<'a> {
    delivery: &'a lapin::message::Delivery,
    channel: &'a Channel,
    exchanges: &'a Exchanges,
    id: &'a str,
    delivered: i64,
}

impl Delivery for Message<'_> {
    fn subject(&self) -> &str {
        self.delivery.routing_key.as_str()
    }

    fn id(&self) -> &str {
        self.id
    }

    fn payload(&self) -> &[u8] {
        &self.delivery.data
    }

    fn delivered(&self) -> i64 {
        self.delivered
    }

    async fn ack(&self) -> anyhow::Result<()> {
        let id = self.id;
        self.delivery.acker.ack(BasicAckOptions::default()).await.with_context(|| format!("acknowledging {id}"))?;
        Ok(())
    }

    /// Returns the message to its queue once `delay` has passed, without holding up the
    /// consumer meanwhile. Should the connection drop first, RabbitMQ returns it at once.
    async fn retry_after(&self, delay: Duration) -> anyhow::Result<()> {
        let acker = self.delivery.acker.clone();
        let id = self.id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let requeue = BasicNackOptions { requeue: true, ..BasicNackOptions::default() };
            if let Err(error) = acker.nack(requeue).await {
                tracing::debug!(id, %error, "returning an event to its queue failed; RabbitMQ returns it when the channel closes");
            }
        });
        Ok(())
    }

    async fn terminate(&self) -> anyhow::Result<()> {
        self.ack().await
    }

    /// Publishes the message to the dead-letter exchange with its payload and headers (the
    /// trace context included), plus `letter`'s, and waits for the broker's confirm.
    async fn dead_letter(&self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        let mut headers = self.delivery.properties.headers().clone().unwrap_or_default();
        for (name, value) in letter.headers() {
            headers.insert(name.into(), text(&value));
        }
        let properties = BasicProperties::default()
            .with_message_id(letter.letter_id().into())
            .with_content_type("application/x-protobuf".into())
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers);
        let routing_key = Stream::dead_letter_subject(self.subject());
        let confirm = self
            .channel
            .basic_publish(
                self.exchanges.dead_letter.as_str().into(),
                routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &self.delivery.data,
                properties,
            )
            .await
            .with_context(|| format!("publishing {routing_key}"))?
            .await
            .with_context(|| format!("RabbitMQ did not confirm {routing_key}"))?;
        anyhow::ensure!(confirm.is_ack(), "RabbitMQ refused {routing_key} (a negative confirm)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_has_an_exchange_for_its_events_one_for_its_dead_letters_and_a_queue_per_subscriber_and_event() {
        let exchanges = Exchanges::of(Stream { name: "SHOP", subjects: "shop.>" });
        assert_eq!(exchanges.events, "shop.events");
        assert_eq!(exchanges.dead_letter, "shop.dead-letter");
        assert_eq!(exchanges.queue("payments", "shop.orders.order_placed"), "shop.payments.orders.order_placed");
        assert_eq!(exchanges.queue("order-items", "shop.orders.order_placed"), "shop.order-items.orders.order_placed");
    }

    #[test]
    fn deliveries_are_counted_from_the_brokers_returns() {
        let with = |value: AMQPValue| BasicProperties::default().with_headers(table(&[("x-delivery-count", value)]));
        assert_eq!(returns(&BasicProperties::default()), None);
        assert_eq!(returns(&with(AMQPValue::LongLongInt(2))), Some(2));
        assert_eq!(returns(&with(AMQPValue::LongInt(3))), Some(3));
        assert_eq!(returns(&with(text("4"))), None);
        let traced = BasicProperties::default().with_headers(table(&[("traceparent", text("00-ab-cd-01"))]));
        assert_eq!(header_text(&traced, "traceparent").as_deref(), Some("00-ab-cd-01"));
    }
}
