//! Business logic of `payments`, written by hand (fleetwright created this file once and never
//! rewrites it). payments has no route behind the gateway: it is driven by events. Each
//! `OrderPlaced` is charged once (captured at once: this example has no payment provider), and
//! `PaymentCompleted` goes out in the same transaction that records the payment.

use fleetwright_runtime::codec::{Text as _, now};
use fleetwright_runtime::db::Sql;

use crate::app::App;
use crate::grpc::{pb, peers};
use crate::hooks::Hooks;
use crate::model::{PaymentInput, PaymentStatus};
use crate::{AppError, Tx, store};

/// No state of its own.
#[derive(Debug, Default)]
pub struct Logic {}

/// The payment of an order, if any; ids are bound as text, which PostgreSQL turns into its
/// `uuid` and back (see `store.rs`).
const PAYMENT_OF_ORDER: Sql = Sql {
    postgres: r#"SELECT "id"::text FROM "payments" WHERE "order_id" = $1::uuid"#,
    sqlite: r#"SELECT "id" FROM "payments" WHERE "order_id" = $1"#,
};

impl Logic {
    pub fn new(_config: &crate::Config) -> Self {
        Self {}
    }
}

impl Hooks for Logic {
    /// One payment per order, whatever the broker delivers: the inbox already drops a
    /// redelivered event; this check also ignores a second `OrderPlaced` for the same order.
    /// Two replicas handling the same order at once both pass the check, but `order_id` is
    /// unique (fleet.toml): the second insert is refused (409), its transaction rolls back and
    /// the event comes again, to find the payment made.
    async fn on_orders_order_placed(
        &self,
        _app: &App,
        tx: &mut Tx,
        event: &peers::orders::OrderPlaced,
    ) -> Result<(), AppError> {
        let order_id = uuid::Uuid::from_text(&event.order_id, "order_id")?;
        let conn = tx.conn();
        let existing: Option<String> =
            sqlx::query_scalar(PAYMENT_OF_ORDER.on(conn)).bind(order_id.to_string()).fetch_optional(&mut *conn).await?;
        if let Some(payment_id) = existing {
            tracing::info!(%order_id, payment_id, "order already charged");
            return Ok(());
        }
        let payment = store::create_payment(
            tx.conn(),
            PaymentInput {
                order_id,
                amount_cents: event.total_cents,
                status: PaymentStatus::Captured,
                captured_at: Some(now()),
            },
        )
        .await?;
        tx.publish(&pb::PaymentCompleted {
            order_id: event.order_id.clone(),
            payment_id: payment.id.to_string(),
            amount_cents: payment.amount_cents,
        })
        .await?;
        tracing::info!(%order_id, payment_id = %payment.id, amount_cents = payment.amount_cents, "order charged");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use fleetwright_runtime::events::{Handled, handle, unpublished};

    use crate::AppError;
    use crate::grpc::peers;

    /// Named by the generated code, so the test holds whatever the project is called.
    const SUBJECT: &str = crate::events::SUBSCRIPTIONS[0].subject;

    /// Replicas of payments handling OrderPlaced events for the same order at once (a burst of
    /// different events, so the inbox cannot tell them apart): on PostgreSQL they really run
    /// side by side and all pass the "already charged?" check. The unique `order_id` refuses
    /// every insert but one; each refused event rolls back and, delivered again, finds the
    /// payment. One payment, one PaymentCompleted.
    #[tokio::test]
    async fn a_burst_of_events_for_one_order_charges_it_once() {
        let app = crate::start(crate::Config::for_tests()).await.expect("starts").app.clone();
        let order_id = uuid::Uuid::now_v7().to_string();
        let placed = peers::orders::OrderPlaced {
            order_id: order_id.clone(),
            customer_id: uuid::Uuid::now_v7().to_string(),
            total_cents: 900,
        };
        let payload = prost::Message::encode_to_vec(&placed);
        let mut handlers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (app, payload, id) = (app.clone(), payload.clone(), uuid::Uuid::now_v7().to_string());
            handlers.spawn(async move {
                let outcome = handle(&app.db, &app, SUBJECT, &id, &payload).await;
                (id, outcome)
            });
        }
        let mut refused = Vec::new();
        while let Some(joined) = handlers.join_next().await {
            let (id, outcome) = joined.expect("the handler ran");
            match outcome {
                Ok(handled) => assert_eq!(handled, Handled::Processed),
                Err(error) => {
                    assert!(matches!(error, AppError::Conflict(_)), "{error}");
                    refused.push(id);
                }
            }
        }
        for id in refused {
            assert_eq!(handle(&app.db, &app, SUBJECT, &id, &payload).await.expect("redelivered"), Handled::Processed);
        }
        let payments = app.list_payments(1000, None).await.expect("payments").items;
        let charged = payments.iter().filter(|p| p.order_id.to_string() == order_id).count();
        assert_eq!(charged, 1, "{payments:?}");
        let completed: Vec<crate::grpc::pb::PaymentCompleted> = unpublished(&app.db).await.expect("reads the outbox");
        assert_eq!(completed.iter().filter(|event| event.order_id == order_id).count(), 1, "one PaymentCompleted");
    }

    #[tokio::test]
    async fn each_order_is_charged_once_and_reported_once() {
        let app = crate::start(crate::Config::for_tests()).await.expect("starts").app.clone();
        let order_id = uuid::Uuid::now_v7().to_string();
        let placed = peers::orders::OrderPlaced {
            order_id: order_id.clone(),
            customer_id: uuid::Uuid::now_v7().to_string(),
            total_cents: 2_500,
        };
        let payload = prost::Message::encode_to_vec(&placed);

        let (first, second) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
        assert_eq!(handle(&app.db, &app, SUBJECT, &first, &payload).await.expect("handled"), Handled::Processed);
        // The broker delivers the same event again (no ack reached it), then a second
        // OrderPlaced for the same order arrives: still one payment, one PaymentCompleted.
        assert_eq!(handle(&app.db, &app, SUBJECT, &first, &payload).await.expect("handled"), Handled::Duplicate);
        assert_eq!(handle(&app.db, &app, SUBJECT, &second, &payload).await.expect("handled"), Handled::Processed);

        let payments = app.list_payments(1000, None).await.expect("payments").items;
        let charged: Vec<_> = payments.iter().filter(|p| p.order_id.to_string() == order_id).collect();
        assert_eq!(charged.len(), 1, "{payments:?}");
        assert_eq!(charged[0].amount_cents, 2_500);
        let completed: Vec<crate::grpc::pb::PaymentCompleted> = unpublished(&app.db).await.expect("reads the outbox");
        let reported = completed.iter().filter(|event| event.order_id == order_id).count();
        assert_eq!(reported, 1, "one PaymentCompleted");
        let remembered: i64 = sqlx::query_scalar(r#"SELECT COUNT(*) FROM "inbox" WHERE "id" IN ($1, $2)"#)
            .bind(first)
            .bind(second)
            .fetch_one(&app.db.pool)
            .await
            .expect("count");
        assert_eq!(remembered, 2);
    }
}
