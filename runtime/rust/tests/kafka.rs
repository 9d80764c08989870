//! Events through a real Kafka broker (see `support`): delivered once each, a redelivered event
//! taking effect once, and a poison event's way to the dead-letter topic. A broker keeps every
//! earlier run's topics, so each test publishes under a subject of its own
//! (`<run>.orders.ping`), which is also its topic.
#![cfg(feature = "kafka")]

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use fleetwright_runtime::db::Database;
use fleetwright_runtime::events::{self, Retry, Stream, Subscription};
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{Ping, Recorder, SCHEMA, assert_handled_once, eventually, handled, kafka, publish_as, sqlite};

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The bootstrap address in a `kafka://` URL.
fn bootstrap(url: &str) -> &str {
    url.trim_start_matches("kafka://")
}

async fn start(
    url: &str,
    database: &Database,
    name: &str,
    retry: Retry,
    recorder: &Recorder,
) -> (&'static str, Vec<tokio::task::JoinHandle<()>>) {
    let subject = leak(format!("{name}.orders.ping"));
    let stream = Stream { name: "TEST", subjects: leak(format!("{name}.>")) };
    let subscriptions: &'static [Subscription] =
        Box::leak(Box::new([Subscription::new(leak(format!("{name}-consumer")), subject).with_retry(retry)]));
    let mut tasks =
        events::start("consumer", Some(url), database, stream, false, subscriptions, recorder.clone()).await.unwrap();
    tasks.extend(events::start("relay", Some(url), database, stream, true, &[], recorder.clone()).await.unwrap());
    (subject, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_subscriber_through_kafka_and_a_redelivered_one_takes_effect_once() {
    let Some((url, name)) = kafka("flow") else { return };
    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    let recorder = Recorder::default();
    let (subject, tasks) = start(&url, &database, &name, Retry::DEFAULT, &recorder).await;

    publish_as(&database, subject, &["a", "b", "c"]).await;
    assert!(eventually(Duration::from_secs(30), || async { handled(&database).await.len() == 3 }).await);
    // The relay marks them published after Kafka's acknowledgements, which may come after the
    // consumer handled them.
    let all_published = || async {
        let sql = r#"SELECT COUNT(*) FROM "outbox" WHERE "published_at" IS NULL"#;
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&database.pool).await.unwrap() == 0
    };
    assert!(eventually(Duration::from_secs(5), all_published).await, "marked published once Kafka acknowledged them");

    // Kafka delivers an event again (as after a consumer crashed before it committed): the
    // inbox knows its id, so the handler does not run twice.
    let id: String = sqlx::query_scalar(r#"SELECT "id" FROM "outbox" ORDER BY "position" LIMIT 1"#)
        .fetch_one(&database.pool)
        .await
        .unwrap();
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", bootstrap(&url)).create().unwrap();
    let payload = Ping { note: "a".into() }.encode_to_vec();
    let headers = OwnedHeaders::new().insert(Header { key: "Fleetwright-Event-Id", value: Some(&id) });
    let again = FutureRecord::to(subject).key(subject).payload(&payload).headers(headers);
    producer.send(again, Duration::from_secs(10)).await.unwrap();
    // An event published after it is behind it on the same partition, so once it is handled,
    // the redelivery was too.
    publish_as(&database, subject, &["d"]).await;
    assert_handled_once(&database, &["a", "b", "c", "d"], Duration::from_secs(30)).await;
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_reaches_the_dead_letter_topic_after_its_attempts_and_the_rest_follow() {
    let Some((url, name)) = kafka("poison") else { return };
    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    const RETRY: Retry = Retry { max_deliveries: 3, delays: &[Duration::from_millis(300)] };
    let recorder = Recorder::default();
    let (subject, tasks) = start(&url, &database, &name, RETRY, &recorder).await;
    publish_as(&database, subject, &["poison", "after-1", "after-2", "after-3"]).await;

    // Kafka keeps a partition's order, so the events behind the poison one wait for its
    // attempts (here 3, 300 ms apart), then follow.
    assert!(eventually(Duration::from_secs(30), || async { handled(&database).await.len() == 3 }).await);
    assert_eq!(recorder.poison_attempts.load(Ordering::SeqCst), 3);

    let dead_letters: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(&url))
        .set("group.id", format!("{name}-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    dead_letters.subscribe(&[&format!("{name}.dead-letter")]).unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(30), dead_letters.recv()).await.unwrap().unwrap();
    assert_eq!(events::decode::<Ping>(letter.payload().unwrap()).unwrap().note, "poison");
    assert_eq!(letter.key(), Some(subject.as_bytes()));
    let header = |name: &str| {
        letter.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    };
    assert_eq!(header("Fleetwright-Deliveries").as_deref(), Some("3"));
    assert_eq!(header("Fleetwright-Durable"), Some(format!("{name}-consumer")));
    assert_eq!(header("Fleetwright-Subject").as_deref(), Some(subject));
    assert!(header("Fleetwright-Error").unwrap().contains("always fails"));
    assert!(header("Fleetwright-Event-Id").is_some());

    // Committed after it reached the dead letters: not consumed again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(recorder.poison_attempts.load(Ordering::SeqCst), 3);
    for task in tasks {
        task.abort();
    }
}
