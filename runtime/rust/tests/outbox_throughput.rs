//! Outbox throughput, a benchmark rather than a test (ignored; `scripts/bench-outbox.sh` runs
//! it, in release, against PostgreSQL with one and with two relays): fills the outbox of a
//! fresh database with `BENCH_EVENTS` events (in transactions of 100), then starts
//! `BENCH_RELAYS` relays on it, each with its own pool as a replica would have, and times how
//! long they take to publish every event to NATS. Prints one line: relays, events, seconds and
//! events per second.
//!
//! Needs `DATABASE_URL` (a database name not used before: it is created) and `NATS_URL` (with
//! JetStream); the `BENCH` stream is deleted first, so its duplicate window starts empty.
#![cfg(feature = "events")]

mod support;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use fleetwright_runtime::AppError;
use fleetwright_runtime::config::{Database as DatabaseConfig, Migrations};
use fleetwright_runtime::db::{Database, Tx};
use fleetwright_runtime::events::{self, Event, Handler, Stream};
use support::SCHEMA;

const STREAM: Stream = Stream { name: "BENCH", subjects: "bench.>" };

#[derive(Clone, PartialEq, prost::Message)]
struct OrderPlaced {
    #[prost(string, tag = "1")]
    order_id: String,
    #[prost(int64, tag = "2")]
    total: i64,
}

impl Event for OrderPlaced {
    const SUBJECT: &'static str = "bench.orders.order_placed";
}

/// Relays only: consumes nothing.
#[derive(Clone)]
struct Nothing;

impl Handler for Nothing {
    async fn handle(&self, _: &mut Tx, _: &str, _: &[u8]) -> Result<bool, AppError> {
        Ok(false)
    }
}

fn setting(name: &str, default: Option<&str>) -> anyhow::Result<String> {
    std::env::var(name).ok().or_else(|| default.map(str::to_owned)).with_context(|| format!("{name} is not set"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: scripts/bench-outbox.sh runs it"]
async fn outbox_throughput() -> anyhow::Result<()> {
    let config =
        DatabaseConfig { url: setting("DATABASE_URL", None)?, max_connections: 8, migrations: Migrations::Apply };
    let nats = setting("NATS_URL", None)?;
    let relays: usize = setting("BENCH_RELAYS", Some("1"))?.parse().context("BENCH_RELAYS")?;
    let count: usize = setting("BENCH_EVENTS", Some("20000"))?.parse().context("BENCH_EVENTS")?;

    let writer = Database::connect(&config, SCHEMA).await?;
    for first in (0..count).step_by(100) {
        let mut tx = writer.begin().await?;
        for i in first..count.min(first + 100) {
            tx.publish(&OrderPlaced { order_id: format!("order-{i}"), total: 4200 }).await?;
        }
        tx.commit().await?;
    }
    let jetstream = async_nats::jetstream::new(async_nats::connect(&nats).await?);
    let _ = jetstream.delete_stream(STREAM.name).await;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for relay in 0..relays {
        let replica = Database::connect(&config, SCHEMA).await?;
        let name: &'static str = if relay == 0 { "bench-relay-a" } else { "bench-relay-b" };
        tasks.extend(events::start(name, Some(&nats), &replica, STREAM, true, &[], Nothing).await?);
    }
    let unpublished = r#"SELECT COUNT(*) FROM "outbox" WHERE "published_at" IS NULL"#;
    while sqlx::query_scalar::<_, i64>(unpublished).fetch_one(&writer.pool).await? > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    for task in tasks {
        task.abort();
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let rate = count as f64 / seconds;
    println!("relays={relays} events={count} seconds={seconds:.2} events_per_second={rate:.0}");
    Ok(())
}
