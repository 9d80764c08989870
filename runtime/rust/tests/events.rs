//! Events against real servers (see `support`): relays sharing one PostgreSQL database, and
//! a poison event's way to the dead-letter stream.
#![cfg(feature = "events")]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream;
use fleetwright_runtime::db::Database;
use fleetwright_runtime::events::{self, Event as _, Retry, Subscription};
use futures_util::StreamExt as _;
use support::{Nats, Ping, Recorder, SCHEMA, STREAM, eventually, handled, postgres, publish, sqlite, stream_messages};

/// Issue 14: every replica ran a relay that published the same rows. Two relays on one
/// PostgreSQL database now publish each event once: counted on the broker by a plain
/// subscription, which, unlike the stream, also sees the duplicates JetStream would drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_on_one_postgres_database_publish_each_event_once() {
    let (Some(config), Some(nats)) = (postgres("relays"), Nats::start()) else { return };
    let (a, b) = (Database::connect(&config, SCHEMA).await.unwrap(), Database::connect(&config, SCHEMA).await.unwrap());
    let client = async_nats::connect(&nats.url).await.unwrap();
    let mut seen = client.subscribe("test.>").await.unwrap();
    client.flush().await.unwrap();
    let notes: Vec<String> = (0..600).map(|i| format!("{i:04}")).collect();
    for chunk in notes[..400].chunks(20) {
        publish(&a, chunk).await;
    }
    let mut tasks =
        events::start("relay-a", Some(&nats.url), &a, STREAM, true, &[], Recorder::default()).await.unwrap();
    tasks.extend(events::start("relay-b", Some(&nats.url), &b, STREAM, true, &[], Recorder::default()).await.unwrap());
    for (i, chunk) in notes[400..].chunks(10).enumerate() {
        publish(if i % 2 == 0 { &a } else { &b }, chunk).await;
    }

    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // After the last event, a second more catches a late duplicate.
    let mut quiet_until = None;
    loop {
        let until = quiet_until.unwrap_or(deadline).min(deadline);
        let Ok(Some(message)) = tokio::time::timeout_at(until, seen.next()).await else { break };
        let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).unwrap().as_str().to_owned();
        *count.entry(id).or_default() += 1;
        if count.len() == notes.len() && quiet_until.is_none() {
            quiet_until = Some(tokio::time::Instant::now() + Duration::from_secs(1));
        }
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    assert_eq!(count.len(), notes.len(), "every event is published");
    assert!(events::unpublished::<Ping>(&a).await.unwrap().is_empty());
    let jetstream = jetstream::new(client);
    assert_eq!(stream_messages(&jetstream, "TEST").await, 600);
    for task in tasks {
        task.abort();
    }
}

/// Issue 14: a poison event was retried forever. Now it is tried `max_deliveries` times,
/// with a pause between attempts during which the events behind it are handled, then it
/// moves to the dead-letter stream with who gave up, after how many deliveries and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_goes_to_the_dead_letter_stream_after_its_attempts_and_does_not_block_the_rest() {
    let Some(nats) = Nats::start() else { return };
    let metrics = fleetwright_runtime::metrics::handle();
    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    const RETRY: Retry = Retry { max_deliveries: 3, delays: &[Duration::from_millis(700)] };
    const SUBSCRIPTIONS: &[Subscription] = &[Subscription::new("test-poison", Ping::SUBJECT).with_retry(RETRY)];
    let recorder = Recorder::default();
    let tasks = events::start("poison", Some(&nats.url), &database, STREAM, true, SUBSCRIPTIONS, recorder.clone())
        .await
        .unwrap();
    let notes = ["poison", "after-1", "after-2", "after-3"].map(str::to_owned);
    publish(&database, &notes).await;

    let jetstream = jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    assert!(eventually(Duration::from_secs(10), || async { handled(&database).await.len() == 3 }).await);
    assert_eq!(
        stream_messages(&jetstream, "TEST_DEAD_LETTER").await,
        0,
        "the events behind the poison one were handled while it waited for its next attempt"
    );
    assert!(
        eventually(Duration::from_secs(10), || async { stream_messages(&jetstream, "TEST_DEAD_LETTER").await == 1 })
            .await,
        "the poison event reaches the dead-letter stream"
    );
    let dead = jetstream.get_stream("TEST_DEAD_LETTER").await.unwrap();
    let letter = dead.get_raw_message(1).await.unwrap();
    assert_eq!(letter.subject.as_str(), "dead-letter.test.orders.ping");
    assert_eq!(events::decode::<Ping>(&letter.payload).unwrap().note, "poison");
    let header = |name: &str| letter.headers.get(name).map(|v| v.as_str().to_owned());
    assert_eq!(header("Fleetwright-Deliveries").as_deref(), Some("3"));
    assert_eq!(header("Fleetwright-Durable").as_deref(), Some("test-poison"));
    assert_eq!(header("Fleetwright-Subject").as_deref(), Some(Ping::SUBJECT));
    assert!(header("Fleetwright-Error").unwrap().contains("always fails"));
    assert!(header("Fleetwright-Event-Id").is_some());

    // Terminated: not delivered again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(recorder.poison_attempts.load(Ordering::SeqCst), 3);
    let rendered = fleetwright_runtime::metrics::render(&metrics);
    for metric in ["events_dead_lettered_total{", "events_redelivered_total{", "events_outbox_backlog "] {
        assert!(rendered.contains(metric), "{metric} missing from\n{rendered}");
    }
    for task in tasks {
        task.abort();
    }
}
