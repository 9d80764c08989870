//! The trace context of an event, from publisher to consumer, against a real nats-server (see
//! `support`). Alone in its test binary: it installs a tracing subscriber for its thread, and
//! spans other tests create at the same call sites at the same time would race with it over
//! whether those call sites are enabled.
#![cfg(all(feature = "events", feature = "otel"))]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetwright_runtime::db::Database;
use fleetwright_runtime::events::{self, Event as _, Subscription};
use futures_util::StreamExt as _;
use support::{Nats, Ping, Recorder, SCHEMA, STREAM, eventually, handled, publish, sqlite};

/// Issue 14: the trace broke at the broker. The event carries the publisher's trace context
/// in its `traceparent` header, and the consumer's handler runs in the same trace.
#[tokio::test]
async fn the_trace_context_travels_from_publisher_to_consumer_in_a_header() {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing::Instrument as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let Some(nats) = Nats::start() else { return };
    // Spans recorded, exported nowhere; one thread, so this subscriber sees every task.
    // The service's JSON logs go to `logs`.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")))
        .with(tracing_subscriber::fmt::layer().json().with_current_span(true).with_writer(move || writer.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    let client = async_nats::connect(&nats.url).await.unwrap();
    let mut seen = client.subscribe("test.>").await.unwrap();
    client.flush().await.unwrap();
    const SUBSCRIPTIONS: &[Subscription] = &[Subscription::new("test-trace", Ping::SUBJECT)];
    let tasks = events::start("trace", Some(&nats.url), &database, STREAM, true, SUBSCRIPTIONS, Recorder::default())
        .await
        .unwrap();

    let request = tracing::info_span!("place order");
    let trace_id = request.context().span().span_context().trace_id().to_string();
    assert_ne!(trace_id, "00000000000000000000000000000000");
    publish(&database, &["traced".to_owned()]).instrument(request).await;

    let message = tokio::time::timeout(Duration::from_secs(10), seen.next()).await.unwrap().unwrap();
    let traceparent = message.headers.as_ref().and_then(|h| h.get("traceparent")).unwrap().as_str().to_owned();
    assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "{traceparent} is not in trace {trace_id}");
    assert!(eventually(Duration::from_secs(10), || async { handled(&database).await.len() == 1 }).await);
    assert_eq!(
        handled(&database).await,
        [("traced".to_owned(), Some(trace_id.clone()))],
        "the consumer joined the trace"
    );
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let handled_line = logs.lines().find(|line| line.contains("event handled")).unwrap_or_else(|| panic!("{logs}"));
    assert!(handled_line.contains(&format!("\"trace_id\":\"{trace_id}\"")), "{handled_line}");
    assert!(handled_line.contains("\"span_id\":\""), "{handled_line}");
    for task in tasks {
        task.abort();
    }
}

/// Log lines, kept in memory.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
