//! Events through a real RabbitMQ node (see `support`): delivered once each, a redelivered
//! event taking effect once, and a poison event's way to the dead letters without holding up the
//! events behind it. Each test has an exchange and queues of its own, named for the run.
#![cfg(feature = "rabbitmq")]

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use fleetwright_runtime::db::Database;
use fleetwright_runtime::events::{self, Retry, Stream, Subscription};
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use prost::Message as _;
use support::{Ping, Recorder, SCHEMA, assert_handled_once, eventually, handled, publish, rabbitmq, sqlite};

/// A project of its own for one test: its exchanges are `<name>.events` and
/// `<name>.dead-letter`, and the consumer's queue `<name>.consumer.test.orders.ping`.
fn stream(name: &str) -> Stream {
    Stream { name: "TEST", subjects: Box::leak(format!("{name}.>").into_boxed_str()) }
}

fn subscriptions(durable: String, retry: Retry) -> &'static [Subscription] {
    let durable = Box::leak(durable.into_boxed_str());
    Box::leak(Box::new([Subscription::new(durable, <Ping as events::Event>::SUBJECT).with_retry(retry)]))
}

async fn channel(url: &str) -> (Connection, Channel) {
    let connection = Connection::connect(url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

/// Whether the queue exists yet (a passive declare on a channel of its own, which the broker
/// closes when it does not).
async fn queue_exists(url: &str, queue: &str) -> bool {
    let (_connection, channel) = channel(url).await;
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.into(), passive, FieldTable::default()).await.is_ok()
}

/// Starts the consumers, then (once their queues are bound, so that no event is published to
/// an exchange no queue listens to yet) the relay.
async fn start(
    url: &str,
    database: &Database,
    stream: Stream,
    subscriptions: &'static [Subscription],
    recorder: &Recorder,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks =
        events::start("consumer", Some(url), database, stream, false, subscriptions, recorder.clone()).await.unwrap();
    let project = stream.subjects.trim_end_matches(".>");
    for subscription in subscriptions {
        let queue = format!("{project}.consumer.{}", subscription.subject);
        assert!(eventually(Duration::from_secs(10), || queue_exists(url, &queue)).await, "{queue} declared");
    }
    tasks.extend(events::start("relay", Some(url), database, stream, true, &[], recorder.clone()).await.unwrap());
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_subscriber_through_rabbitmq_and_a_redelivered_one_takes_effect_once() {
    let Some((url, name)) = rabbitmq("flow") else { return };
    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    let stream = stream(&name);
    let recorder = Recorder::default();
    let tasks =
        start(&url, &database, stream, subscriptions(format!("{name}-orders"), Retry::DEFAULT), &recorder).await;

    let notes = ["a", "b", "c"].map(str::to_owned);
    publish(&database, &notes).await;
    assert!(eventually(Duration::from_secs(10), || async { handled(&database).await.len() == 3 }).await);
    // The relay marks them published after the broker's confirms, which may come after the
    // consumer handled them.
    let all_published = || async { events::unpublished::<Ping>(&database).await.unwrap().is_empty() };
    assert!(eventually(Duration::from_secs(5), all_published).await, "marked published once confirmed");

    // The broker delivers an event again (as after a consumer crashed before its ack): the
    // inbox knows its id, so the handler does not run twice.
    let id: String = sqlx::query_scalar(r#"SELECT "id" FROM "outbox" ORDER BY "position" LIMIT 1"#)
        .fetch_one(&database.pool)
        .await
        .unwrap();
    let (_connection, channel) = channel(&url).await;
    channel.confirm_select(lapin::options::ConfirmSelectOptions::default()).await.unwrap();
    let payload = Ping { note: "a".into() }.encode_to_vec();
    let again = BasicProperties::default().with_message_id(id.as_str().into());
    let subject = <Ping as events::Event>::SUBJECT;
    let exchange = format!("{name}.events");
    let confirm = channel
        .basic_publish(exchange.as_str().into(), subject.into(), BasicPublishOptions::default(), &payload, again)
        .await
        .unwrap();
    assert!(confirm.await.unwrap().is_ack());
    // An event published after it reaches the consumer after it (one queue, in order), so once
    // it is handled, the redelivery was too.
    publish(&database, &["d".to_owned()]).await;
    assert_handled_once(&database, &["a", "b", "c", "d"], Duration::from_secs(10)).await;
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_reaches_the_dead_letters_after_its_attempts_and_does_not_block_the_rest() {
    let Some((url, name)) = rabbitmq("poison") else { return };
    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    let durable = format!("{name}-poison");
    const RETRY: Retry = Retry { max_deliveries: 3, delays: &[Duration::from_millis(700)] };
    let recorder = Recorder::default();
    let tasks = start(&url, &database, stream(&name), subscriptions(durable.clone(), RETRY), &recorder).await;
    let notes = ["poison", "after-1", "after-2", "after-3"].map(str::to_owned);
    publish(&database, &notes).await;

    let (_connection, channel) = channel(&url).await;
    let dead_letters = format!("{name}.dead-letter");
    let dead_letter_count = || async {
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let queue = channel.queue_declare(dead_letters.as_str().into(), passive, FieldTable::default()).await;
        queue.map_or(0, |queue| queue.message_count())
    };
    assert!(eventually(Duration::from_secs(10), || async { handled(&database).await.len() == 3 }).await);
    assert_eq!(
        dead_letter_count().await,
        0,
        "the events behind the poison one were handled while it waited for its next attempt"
    );
    assert!(
        eventually(Duration::from_secs(10), || async { dead_letter_count().await == 1 }).await,
        "the poison event reaches the dead letters"
    );
    let letter = channel
        .basic_get(dead_letters.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("a dead letter");
    assert_eq!(letter.delivery.routing_key.as_str(), "dead-letter.test.orders.ping");
    assert_eq!(events::decode::<Ping>(&letter.delivery.data).unwrap().note, "poison");
    let headers = letter.delivery.properties.headers().clone().unwrap_or_default();
    let header = |name: &str| match headers.inner().get(name) {
        Some(AMQPValue::LongString(value)) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        _ => None,
    };
    assert_eq!(header("Fleetwright-Deliveries").as_deref(), Some("3"));
    assert_eq!(header("Fleetwright-Durable"), Some(durable));
    assert_eq!(header("Fleetwright-Subject").as_deref(), Some("test.orders.ping"));
    assert!(header("Fleetwright-Error").unwrap().contains("always fails"));
    assert!(header("Fleetwright-Event-Id").is_some());

    // Acknowledged after it reached the dead letters: not delivered again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(recorder.poison_attempts.load(Ordering::SeqCst), 3);
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_rabbitmq_is_away_wait_in_the_outbox_and_arrive_once_it_is_back() {
    let Some((url, name)) = rabbitmq("outage") else { return };
    let mut broker = url::Url::parse(&url).unwrap();
    let target = format!("{}:{}", broker.host_str().unwrap(), broker.port().unwrap());
    let mut proxy = support::Proxy::start(&target).await;
    broker.set_port(Some(proxy.port)).unwrap();
    let through_proxy = broker.to_string();
    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    let recorder = Recorder::default();
    let subscriptions = subscriptions(format!("{name}-orders"), Retry::DEFAULT);
    let tasks = start(&through_proxy, &database, stream(&name), subscriptions, &recorder).await;
    publish(&database, &["before".to_owned()]).await;
    assert!(eventually(Duration::from_secs(10), || async { handled(&database).await.len() == 1 }).await);

    proxy.down().await;
    publish(&database, &["during-1".to_owned(), "during-2".to_owned()]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(handled(&database).await.len(), 1, "nothing reaches the subscriber while the broker is away");
    assert_eq!(events::unpublished::<Ping>(&database).await.unwrap().len(), 2, "the events wait in the outbox");

    proxy.up().await;
    assert!(
        eventually(Duration::from_secs(30), || async { handled(&database).await.len() == 3 }).await,
        "relay and consumer reconnect by themselves"
    );
    let all_published = || async { events::unpublished::<Ping>(&database).await.unwrap().is_empty() };
    assert!(eventually(Duration::from_secs(5), all_published).await, "marked published once confirmed");
    let notes: Vec<String> = handled(&database).await.into_iter().map(|(note, _)| note).collect();
    assert_eq!(notes, ["before", "during-1", "during-2"]);
    for task in tasks {
        task.abort();
    }
}
