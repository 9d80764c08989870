//! Events through NATS JetStream: one stream per project, each event on
//! `<project>.<service>.<event>` as its protobuf message, a durable pull consumer per
//! subscribed event, and the project's dead-letter stream (`<STREAM>_DEAD_LETTER`, subject
//! `dead-letter.<event subject>`). The event id is the `Nats-Msg-Id`, so a row the relay
//! publishes twice is dropped by JetStream's duplicate window. What the outbox and the inbox do
//! is the same for every broker (see [`super`]).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use futures_util::StreamExt as _;
use tracing::Instrument as _;

use super::{
    Acknowledgement, CAUSED_BY, CAUSED_BY_HEADER, CLEANUP_EVERY, Consume, DeadLetter, Delivery, Handler, MEASURE_EVERY,
    Outgoing, Publisher, RETENTION, Stream, Subscription, consume_span, credentials, forget_old_inbox_rows,
    keep_consuming, settle, without_password,
};
use crate::db::Database;

/// How long the dead-letter stream keeps events: long enough to notice and replay them.
const DEAD_LETTER_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Connects to NATS at `url` and starts the relay and the consumers (see [`super::start`]).
///
/// # Errors
/// When `url` is not a NATS address.
pub(crate) async fn start<H: Handler>(
    service: &'static str,
    url: &str,
    database: &Database,
    stream: Stream,
    publishes: bool,
    subscriptions: &'static [Subscription],
    handler: H,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    // The client does not read a user from the URL itself: it connects as the one named there.
    let (address, user) = credentials(url);
    let options = match user {
        Some((user, password)) => async_nats::ConnectOptions::with_user_and_password(user, password),
        None => async_nats::ConnectOptions::new(),
    };
    // Replies (publish acknowledgements, pulled messages) come to this service's own inbox
    // prefix, the only subjects the broker lets it subscribe to.
    let client = options
        .name(service)
        .custom_inbox_prefix(inbox_prefix(service))
        .retry_on_initial_connect()
        .connect(address.as_str())
        .await
        .with_context(|| format!("NATS_URL={:?}", without_password(url)))?;
    let jetstream = jetstream::new(client);
    let mut tasks = Vec::new();
    if publishes {
        tasks.push(tokio::spawn(super::relay(database.clone(), Relay { jetstream: jetstream.clone(), stream })));
    }
    for subscription in subscriptions {
        let consumer = Consumer {
            database: database.clone(),
            handler: handler.clone(),
            jetstream: jetstream.clone(),
            stream,
            subscription: *subscription,
        };
        tasks.push(tokio::spawn(keep_consuming(subscription.durable, consumer)));
    }
    Ok(tasks)
}

/// The subjects replies to `service` come on: `_INBOX_<service>.…`. The broker's permissions
/// (`deploy/nats/nats.conf`) let each service subscribe to its own prefix only, so no service
/// reads what another one pulls.
pub fn inbox_prefix(service: &str) -> String {
    format!("_INBOX_{service}")
}

/// The project's stream, created on first use. Only settings NATS 2.9 knows are set.
async fn ensure_stream(jetstream: &jetstream::Context, stream: Stream) -> anyhow::Result<jetstream::stream::Stream> {
    jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: stream.name.to_owned(),
            subjects: vec![stream.subjects.to_owned()],
            duplicate_window: Duration::from_secs(120),
            max_age: RETENTION,
            ..Default::default()
        })
        .await
        .map_err(|error| anyhow::anyhow!("stream {}: {error}", stream.name))
}

/// The project's dead-letter stream, created on first use.
async fn ensure_dead_letter_stream(jetstream: &jetstream::Context, stream: Stream) -> anyhow::Result<()> {
    let name = stream.dead_letter_name();
    jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![Stream::dead_letter_subject(stream.subjects)],
            duplicate_window: Duration::from_secs(120),
            max_age: DEAD_LETTER_MAX_AGE,
            ..Default::default()
        })
        .await
        .map_err(|error| anyhow::anyhow!("stream {name}: {error}"))?;
    Ok(())
}

/// The outbox relay's side of JetStream.
struct Relay {
    jetstream: jetstream::Context,
    stream: Stream,
}

impl Publisher for Relay {
    const SYSTEM: &'static str = "nats";

    async fn prepare(&mut self) -> anyhow::Result<()> {
        ensure_stream(&self.jetstream, self.stream).await.map(|_| ())
    }

    /// The event id is the `Nats-Msg-Id`, so JetStream drops a second copy within its duplicate
    /// window.
    async fn send(&mut self, event: Outgoing) -> anyhow::Result<Acknowledgement> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.as_str());
        if let Some(traceparent) = &event.traceparent {
            headers.insert("traceparent", traceparent.as_str());
        }
        if let Some(caused_by) = &event.caused_by {
            headers.insert(CAUSED_BY_HEADER, caused_by.as_str());
        }
        let ack = self.jetstream.publish_with_headers(event.subject, headers, event.payload.into()).await?;
        Ok(Box::pin(async move {
            ack.await.map(|_| ()).map_err(|error| anyhow::anyhow!("JetStream did not acknowledge it: {error}"))
        }))
    }
}

/// One subscription's durable pull consumer.
struct Consumer<H> {
    database: Database,
    handler: H,
    jetstream: jetstream::Context,
    stream: Stream,
    subscription: Subscription,
}

impl<H: Handler> Consume for Consumer<H> {
    async fn consume_until_error(&self, backoff: &mut Duration) -> anyhow::Result<()> {
        let Self { database, handler, jetstream, stream, subscription } = self;
        let (stream, subscription) = (*stream, *subscription);
        let durable = subscription.durable;
        ensure_dead_letter_stream(jetstream, stream).await?;
        let consumer: jetstream::consumer::PullConsumer = ensure_stream(jetstream, stream)
            .await?
            .get_or_create_consumer(
                durable,
                jetstream::consumer::pull::Config {
                    durable_name: Some(durable.to_owned()),
                    filter_subject: subscription.subject.to_owned(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| anyhow::anyhow!("consumer {durable}: {error}"))?;
        let mut messages = consumer.messages().await.map_err(|error| anyhow::anyhow!("consumer {durable}: {error}"))?;
        // Counted from zero, so that an alert on their increase sees the first one.
        metrics::counter!("events_dead_lettered_total", "subject" => subscription.subject, "durable" => durable)
            .increment(0);
        metrics::counter!("events_redelivered_total", "durable" => durable).increment(0);
        let mut last_cleanup = Instant::now();
        let mut measure = tokio::time::interval(MEASURE_EVERY);
        loop {
            let message = tokio::select! {
                message = messages.next() => message,
                _ = measure.tick() => {
                    if let Ok(info) = consumer.get_info().await {
                        #[allow(clippy::cast_precision_loss)] // a count far below 2^52
                        metrics::gauge!("events_consumer_pending", "durable" => durable).set(info.num_pending as f64);
                    }
                    continue;
                }
            };
            let Some(message) = message else { return Ok(()) };
            if last_cleanup.elapsed() > CLEANUP_EVERY {
                last_cleanup = Instant::now();
                forget_old_inbox_rows(database).await;
            }
            let message = message.map_err(|error| anyhow::anyhow!("consumer {durable}: {error}"))?;
            *backoff = Duration::from_millis(100);
            let header = |name: &str| {
                message.headers.as_ref().and_then(|headers| headers.get(name)).map(|value| value.as_str().to_owned())
            };
            let info = message.info().ok();
            let delivered = info.as_ref().map_or(1, |info| info.delivered);
            let id = header("Nats-Msg-Id")
                .or_else(|| info.as_ref().map(|info| format!("{}:{}", info.stream, info.stream_sequence)))
                .unwrap_or_default();
            let traceparent = header("traceparent");
            let span = consume_span("nats", &message.subject, durable, &id, delivered, traceparent.as_deref());
            let delivery = Message { message: &message, jetstream, id: &id, delivered };
            let settled = settle(&delivery, subscription, database, handler).instrument(span);
            CAUSED_BY.scope(header(CAUSED_BY_HEADER), settled).await?;
        }
    }
}

/// One delivered JetStream message and what is known of it.
struct Message<'a> {
    message: &'a jetstream::Message,
    jetstream: &'a jetstream::Context,
    id: &'a str,
    delivered: i64,
}

impl Message<'_> {
    async fn ack_with(&self, kind: jetstream::AckKind) -> anyhow::Result<()> {
        let id = self.id;
        self.message.ack_with(kind).await.map_err(|error| anyhow::anyhow!("acknowledging {id}: {error}"))
    }
}

impl Delivery for Message<'_> {
    fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    fn id(&self) -> &str {
        self.id
    }

    fn payload(&self) -> &[u8] {
        &self.message.payload
    }

    fn delivered(&self) -> i64 {
        self.delivered
    }

    async fn ack(&self) -> anyhow::Result<()> {
        self.ack_with(jetstream::AckKind::Ack).await
    }

    async fn retry_after(&self, delay: Duration) -> anyhow::Result<()> {
        self.ack_with(jetstream::AckKind::Nak(Some(delay))).await
    }

    async fn terminate(&self) -> anyhow::Result<()> {
        self.ack_with(jetstream::AckKind::Term).await
    }

    /// Publishes the message to the dead-letter stream with its payload and headers (the trace
    /// context included), plus `letter`'s.
    async fn dead_letter(&self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        let mut headers = self.message.headers.clone().unwrap_or_default();
        headers.insert("Nats-Msg-Id", letter.letter_id().as_str());
        for (name, value) in letter.headers() {
            headers.insert(name, value.as_str());
        }
        let subject = Stream::dead_letter_subject(self.message.subject.as_str());
        let ack = self
            .jetstream
            .publish_with_headers(subject.clone(), headers, self.message.payload.clone())
            .await
            .map_err(|error| anyhow::anyhow!("publishing {subject}: {error}"))?;
        ack.await.map_err(|error| anyhow::anyhow!("JetStream did not acknowledge {subject}: {error}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_come_to_the_services_own_inbox_prefix() {
        assert_eq!(inbox_prefix("order-items"), "_INBOX_order-items");
    }
}
