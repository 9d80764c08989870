//! Issue 13: events carry the identity of who caused them, against a real nats-server (see
//! `support`): the subject of the request that published an event travels in its
//! `Fleet-Caused-By` header, and the consumer's handler reads it from `events::caused_by()`.
#![cfg(all(feature = "events", feature = "auth", feature = "testing"))]

mod support;

use std::time::Duration;

use fleetwright_runtime::auth::{Issuer, Verifier};
use fleetwright_runtime::db::Database;
use fleetwright_runtime::events::{self, CAUSED_BY_HEADER, Event as _, Subscription};
use fleetwright_runtime::testing::tokens;
use futures_util::StreamExt as _;
use support::{Nats, Ping, Recorder, SCHEMA, STREAM, causes, eventually, publish, sqlite};

const ISSUER: Issuer = Issuer {
    issuer: "https://id.example.com",
    audiences: &["api"],
    jwks_uri: "https://id.example.com/certs",
    roles_claim: &["roles"],
    scopes_claim: &["scope"],
};

#[tokio::test]
async fn an_event_names_who_caused_it_from_publisher_to_consumer() {
    let Some(nats) = Nats::start() else { return };
    let database = Database::connect(&sqlite(), SCHEMA).await.unwrap();
    let client = async_nats::connect(&nats.url).await.unwrap();
    let mut seen = client.subscribe("test.>").await.unwrap();
    client.flush().await.unwrap();
    const SUBSCRIPTIONS: &[Subscription] = &[Subscription::new("test-causes", Ping::SUBJECT)];
    let tasks = events::start("causes", Some(&nats.url), &database, STREAM, true, SUBSCRIPTIONS, Recorder::default())
        .await
        .unwrap();

    let ada = Verifier::for_tests(ISSUER).verify(&tokens::token(&ISSUER, "ada", &[], &[])).unwrap();
    ada.scope(publish(&database, &["by ada".to_owned()])).await;
    // An event handler that publishes passes its own cause on; the service's own code causes none.
    events::as_caused_by(Some("bob".to_owned()), publish(&database, &["after bob".to_owned()])).await;
    publish(&database, &["by nobody".to_owned()]).await;

    let mut headers = Vec::new();
    for _ in 0..3 {
        let message = tokio::time::timeout(Duration::from_secs(10), seen.next()).await.unwrap().unwrap();
        let ping: Ping = events::decode(&message.payload).unwrap();
        let cause = message.headers.as_ref().and_then(|h| h.get(CAUSED_BY_HEADER)).map(|v| v.as_str().to_owned());
        headers.push((ping.note, cause));
    }
    headers.sort();
    let expected = [
        ("after bob".to_owned(), Some("bob".to_owned())),
        ("by ada".to_owned(), Some("ada".to_owned())),
        ("by nobody".to_owned(), None),
    ];
    assert_eq!(headers, expected, "the header names who caused each event");
    assert!(eventually(Duration::from_secs(10), || async { causes(&database).await.len() == 3 }).await);
    assert_eq!(causes(&database).await, expected, "the handler read who caused each event");
    for task in tasks {
        task.abort();
    }
}
