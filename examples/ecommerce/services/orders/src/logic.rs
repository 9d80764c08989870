//! Business logic of `orders`, written by hand (fleetwright created this file once and never
//! rewrites it).
//!
//! An order is a `draft` while lines are added. Each line is priced by the catalogue: the
//! generated `products` client reads the product (the client's unit price is ignored), and when
//! products is down the request fails fast with 503. The total is the server's: the sum of the
//! lines. The operation `place_order` (`POST /api/orders/{id}/place`) places a draft: in the
//! same transaction an `OrderPlaced` event goes to the outbox, and payments answers with
//! `PaymentCompleted`, which marks the order `paid`. `cancel_order` cancels a draft or a pending
//! order. The state is the server's (`read_only` in fleet.toml): no replace can change it.
//!
//! Who sees what: an order belongs to its customer (`owner = "customer_id"` in fleet.toml, which
//! the generated store enforces), and its lines follow it through the read hooks below, so a
//! customer reads and changes only their own orders and lines.

use fleetwright_runtime::auth::Caller;
use fleetwright_runtime::codec::{Enumeration as _, Text as _, now};
use fleetwright_runtime::db::Sql;
use uuid::Uuid;

use crate::app::App;
use crate::grpc::{pb, peers};
use crate::hooks::Hooks;
use crate::model::{
    CancelOrderInput, Order, OrderInput, OrderLine, OrderLineFilter, OrderLineInput, OrderStatus, PlaceOrderInput,
};
use crate::{AppError, Tx, store};

/// No state of its own: the clients live in `App`.
#[derive(Debug, Default)]
pub struct Logic {}

impl Logic {
    pub fn new(_config: &crate::Config) -> Self {
        Self {}
    }
}

impl Hooks for Logic {
    /// A new order is a draft with no lines, so with a zero total, whatever the client sent.
    /// A customer ordering for themself is proved by their token; a customer someone else
    /// names (an admin) must exist, which users is asked with the caller's token.
    async fn before_create_order(&self, app: &App, input: &mut OrderInput) -> Result<(), AppError> {
        input.status = OrderStatus::Draft;
        input.total_cents = 0;
        input.placed_at = None;
        if Caller::current().subject() == Some(input.customer_id.to_string().as_str()) {
            return Ok(());
        }
        let request = peers::users::GetUserRequest { id: input.customer_id.to_string() };
        match app.clients.users.get_user(request).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => {
                Err(AppError::Invalid(format!("customer {} does not exist", input.customer_id)))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The customer of an order never changes (the state, total and time placed are the
    /// server's, kept by the generated code).
    async fn before_update_order(&self, _app: &App, current: &Order, input: &mut OrderInput) -> Result<(), AppError> {
        input.customer_id = current.customer_id;
        Ok(())
    }

    /// A draft that has lines becomes pending, and `OrderPlaced` goes to the outbox in the same
    /// transaction. Of two concurrent placings one wins; the other is refused and publishes
    /// nothing.
    async fn place_order(&self, _app: &App, tx: &mut Tx, input: PlaceOrderInput) -> Result<Order, AppError> {
        let order = store::get_order(tx.conn(), input.id).await?;
        if order.status != OrderStatus::Draft {
            let state = order.status.as_str();
            return Err(AppError::Conflict(format!("order {} is {state}: only a draft is placed", order.id)));
        }
        if count_lines(tx, order.id).await? == 0 {
            return Err(AppError::Conflict("an order without lines cannot be placed".to_owned()));
        }
        let mut placed = order.input();
        placed.status = OrderStatus::Pending;
        placed.placed_at = Some(now());
        let placed = write_over(tx, &order, placed).await?;
        tx.publish(&pb::OrderPlaced {
            order_id: placed.id.to_string(),
            customer_id: placed.customer_id.to_string(),
            total_cents: placed.total_cents,
        })
        .await?;
        Ok(placed)
    }

    /// A draft or pending order is cancelled (a payment that completes later changes nothing);
    /// cancelling again answers the cancelled order; a paid one is refused.
    async fn cancel_order(&self, _app: &App, tx: &mut Tx, input: CancelOrderInput) -> Result<Order, AppError> {
        let order = store::get_order(tx.conn(), input.id).await?;
        match order.status {
            OrderStatus::Cancelled => Ok(order),
            OrderStatus::Paid => Err(AppError::Conflict(format!("order {} is paid: refund it instead", order.id))),
            OrderStatus::Draft | OrderStatus::Pending => {
                let mut cancelled = order.input();
                cancelled.status = OrderStatus::Cancelled;
                write_over(tx, &order, cancelled).await
            }
        }
    }

    /// Only drafts and cancelled orders go away.
    async fn before_delete_order(&self, _app: &App, current: &Order) -> Result<(), AppError> {
        match current.status {
            OrderStatus::Draft | OrderStatus::Cancelled => Ok(()),
            _ => Err(AppError::Conflict("a placed order cannot be deleted; cancel it".to_owned())),
        }
    }

    /// A line is seen by whoever may see its order (the order's owner rule decides).
    async fn after_get_order_line(&self, app: &App, line: &OrderLine) -> Result<(), AppError> {
        match app.get_order(line.order_id).await {
            Ok(_) => Ok(()),
            Err(AppError::NotFound(_)) => Err(AppError::NotFound(format!("OrderLine {}", line.id))),
            Err(error) => Err(error),
        }
    }

    /// Lines are listed through their order: a caller who does not reach every order (not an
    /// admin) names one of theirs (`?order_id=`, or `GET /api/orders/{id}/lines`).
    async fn before_list_order_lines(&self, app: &App, filter: &mut OrderLineFilter) -> Result<(), AppError> {
        match (filter.order_id, Caller::in_request()) {
            (Some(order_id), _) => app.get_order(order_id).await.map(|_| ()),
            (None, Some(caller)) if !caller.has_role("admin") => {
                Err(AppError::Invalid("name the order whose lines to list (`?order_id=`)".to_owned()))
            }
            (None, _) => Ok(()),
        }
    }

    /// A line joins a draft, at the catalogue's price.
    async fn before_create_order_line(&self, app: &App, input: &mut OrderLineInput) -> Result<(), AppError> {
        if input.quantity <= 0 {
            return Err(AppError::Invalid("`quantity` must be at least 1".to_owned()));
        }
        require_draft(app, input.order_id).await?;
        input.unit_price_cents = catalogue_price(app, input.product_id).await?;
        Ok(())
    }

    async fn after_create_order_line(&self, _app: &App, tx: &mut Tx, line: &OrderLine) -> Result<(), AppError> {
        recompute_total(tx, line.order_id).await
    }

    /// Only the quantity of a line changes, and only while its order is a draft.
    async fn before_update_order_line(
        &self,
        app: &App,
        current: &OrderLine,
        input: &mut OrderLineInput,
    ) -> Result<(), AppError> {
        if input.quantity <= 0 {
            return Err(AppError::Invalid("`quantity` must be at least 1".to_owned()));
        }
        require_draft(app, current.order_id).await?;
        input.order_id = current.order_id;
        input.product_id = current.product_id;
        input.unit_price_cents = current.unit_price_cents;
        Ok(())
    }

    async fn after_update_order_line(
        &self,
        _app: &App,
        tx: &mut Tx,
        _previous: &OrderLine,
        updated: &OrderLine,
    ) -> Result<(), AppError> {
        recompute_total(tx, updated.order_id).await
    }

    async fn before_delete_order_line(&self, app: &App, current: &OrderLine) -> Result<(), AppError> {
        require_draft(app, current.order_id).await
    }

    async fn after_delete_order_line(&self, _app: &App, tx: &mut Tx, deleted: &OrderLine) -> Result<(), AppError> {
        recompute_total(tx, deleted.order_id).await
    }

    /// payments charged the order: it is paid. A payment for an order that is not pending
    /// (cancelled meanwhile, or paid already) changes nothing.
    async fn on_payments_payment_completed(
        &self,
        _app: &App,
        tx: &mut Tx,
        event: &peers::payments::PaymentCompleted,
    ) -> Result<(), AppError> {
        let order_id = Uuid::from_text(&event.order_id, "order_id")?;
        let order = match store::get_order(tx.conn(), order_id).await {
            Ok(order) => order,
            Err(AppError::NotFound(_)) => {
                tracing::warn!(%order_id, "payment completed for an unknown order");
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        if order.status == OrderStatus::Pending {
            let mut paid = order.input();
            paid.status = OrderStatus::Paid;
            // Only over the pending order just read: a cancel that commits in between makes
            // this fail, and the event is delivered again and sees the cancelled order.
            let written = store::update_order_at(tx.conn(), &order, paid).await?;
            if written.is_none() {
                return Err(AppError::Conflict(format!("order {order_id} changed while it was being paid")));
            }
            tracing::info!(%order_id, payment_id = event.payment_id, "order paid");
        }
        Ok(())
    }
}

/// The unit price of a product, from the catalogue.
async fn catalogue_price(app: &App, product_id: Uuid) -> Result<i64, AppError> {
    let request = peers::products::GetProductRequest { id: product_id.to_string() };
    match app.clients.products.get_product(request).await {
        Ok(reply) => reply
            .product
            .map(|product| product.price_cents)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("products answered without a product"))),
        Err(error) if error.is_not_found() => Err(AppError::Invalid(format!("product {product_id} does not exist"))),
        Err(error) => Err(error.into()),
    }
}

async fn require_draft(app: &App, order_id: Uuid) -> Result<(), AppError> {
    match app.get_order(order_id).await {
        Ok(order) if order.status == OrderStatus::Draft => Ok(()),
        Ok(order) => {
            Err(AppError::Conflict(format!("order {order_id} is {}: its lines are final", order.status.as_str())))
        }
        Err(AppError::NotFound(_)) => Err(AppError::Invalid(format!("order {order_id} does not exist"))),
        Err(error) => Err(error),
    }
}

// Ids are bound as text, which PostgreSQL turns into its `uuid` (see `store.rs`).
const COUNT_LINES: Sql = Sql {
    postgres: r#"SELECT COUNT(*) FROM "order_lines" WHERE "order_id" = $1::uuid"#,
    sqlite: r#"SELECT COUNT(*) FROM "order_lines" WHERE "order_id" = $1"#,
};
const SUM_LINES: Sql = Sql {
    postgres: r#"SELECT CAST(COALESCE(SUM("quantity" * "unit_price_cents"), 0) AS BIGINT) FROM "order_lines" WHERE "order_id" = $1::uuid"#,
    sqlite: r#"SELECT CAST(COALESCE(SUM("quantity" * "unit_price_cents"), 0) AS BIGINT) FROM "order_lines" WHERE "order_id" = $1"#,
};
const SET_TOTAL: Sql = Sql {
    postgres: r#"UPDATE "orders" SET "total_cents" = $1 WHERE "id" = $2::uuid"#,
    sqlite: r#"UPDATE "orders" SET "total_cents" = $1 WHERE "id" = $2"#,
};

async fn count_lines(tx: &mut Tx, order_id: Uuid) -> Result<i64, AppError> {
    let conn = tx.conn();
    Ok(sqlx::query_scalar(COUNT_LINES.on(conn)).bind(order_id.to_string()).fetch_one(conn).await?)
}

/// Writes `input` over `order` if it is still the version read, else refuses: another request
/// changed it meanwhile.
async fn write_over(tx: &mut Tx, order: &Order, input: OrderInput) -> Result<Order, AppError> {
    store::update_order_at(tx.conn(), order, input)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("order {} changed meanwhile: read it again, then retry", order.id)))
}

/// Sets an order's total to the sum of its lines, inside the transaction that changed them.
async fn recompute_total(tx: &mut Tx, order_id: Uuid) -> Result<(), AppError> {
    let conn = tx.conn();
    let total: i64 = sqlx::query_scalar(SUM_LINES.on(conn)).bind(order_id.to_string()).fetch_one(&mut *conn).await?;
    sqlx::query(SET_TOTAL.on(conn)).bind(total).bind(order_id.to_string()).execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fleetwright_runtime::events::{Handled, handle, unpublished};
    use tonic::Status;

    use crate::grpc::{pb, peers};
    use crate::model::{CancelOrderInput, OrderInput, OrderLineInput, OrderStatus, PlaceOrderInput};
    use crate::testing::{FakeProducts, FakeUsers};
    use crate::{AppError, Config};

    const PRICE: i64 = 1_250;

    /// products with one product, `PRICE` cents, and nothing else. Only what orders asks of
    /// products is answered: the generated fake answers the rest with `UNIMPLEMENTED`, and
    /// gains the methods of entities products adds later, so this test keeps compiling.
    fn catalogue(product: uuid::Uuid) -> FakeProducts {
        FakeProducts::new().on_get_product(move |request| {
            if request.id != product.to_string() {
                return Err(Status::not_found(format!("Product {} not found", request.id)));
            }
            let found = peers::products::Product { id: request.id, price_cents: PRICE, ..Default::default() };
            Ok(peers::products::GetProductResponse { product: Some(found) })
        })
    }

    /// users where everyone exists.
    fn everyone() -> FakeUsers {
        FakeUsers::new().on_get_user(|request| {
            let user = peers::users::User { id: request.id, ..Default::default() };
            Ok(peers::users::GetUserResponse { user: Some(user) })
        })
    }

    /// orders with users and products doubles; returns the app and the one product's id.
    async fn start() -> (crate::App, uuid::Uuid) {
        let product = uuid::Uuid::now_v7();
        let mut config = Config::for_tests();
        config.products_grpc_url = catalogue(product).serve().await;
        config.users_grpc_url = everyone().serve().await;
        let running = crate::start(config).await.expect("starts");
        (running.app.clone(), product)
    }

    /// The `OrderPlaced` events of one order waiting in the outbox.
    async fn placed_events_of(app: &crate::App, order_id: uuid::Uuid) -> Vec<pb::OrderPlaced> {
        let pending: Vec<pb::OrderPlaced> = unpublished(&app.db).await.expect("reads the outbox");
        pending.into_iter().filter(|event| event.order_id == order_id.to_string()).collect()
    }

    fn draft(customer_id: uuid::Uuid) -> OrderInput {
        OrderInput {
            customer_id,
            status: OrderStatus::Paid,
            total_cents: 999_999,
            note: None,
            placed_at: Some(time::OffsetDateTime::UNIX_EPOCH),
        }
    }

    #[tokio::test]
    async fn lines_are_priced_by_the_catalogue_and_placing_publishes_order_placed_once() {
        let (app, product) = start().await;
        let order = app.create_order(draft(uuid::Uuid::now_v7())).await.expect("order");
        assert_eq!((order.status, order.total_cents), (OrderStatus::Draft, 0), "status and total are the server's");
        assert_eq!(order.placed_at, None, "not placed yet");

        let line = OrderLineInput { order_id: order.id, product_id: product, quantity: 2, unit_price_cents: 1 };
        let line = app.create_order_line(line).await.expect("line");
        assert_eq!(line.unit_price_cents, PRICE, "the catalogue's price, not the client's");
        let unknown =
            OrderLineInput { order_id: order.id, product_id: uuid::Uuid::now_v7(), quantity: 1, unit_price_cents: 1 };
        assert!(matches!(app.create_order_line(unknown).await, Err(AppError::Invalid(_))));
        let none = OrderLineInput { order_id: order.id, product_id: product, quantity: 0, unit_price_cents: 1 };
        assert!(matches!(app.create_order_line(none).await, Err(AppError::Invalid(_))));
        assert_eq!(app.get_order(order.id).await.expect("order").total_cents, 2 * PRICE);

        let placed = app.place_order(PlaceOrderInput { id: order.id }).await.expect("placed");
        assert_eq!((placed.status, placed.total_cents), (OrderStatus::Pending, 2 * PRICE));
        assert!(placed.placed_at.is_some());
        // Placing again is refused and publishes nothing more; a replace cannot pay it.
        let again = app.place_order(PlaceOrderInput { id: order.id }).await;
        assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
        let mut pay = placed.input();
        pay.status = OrderStatus::Paid;
        pay.note = Some("paid, honestly".to_owned());
        let replaced = app.update_order(order.id, pay).await.expect("the note changes");
        assert_eq!(replaced.status, OrderStatus::Pending, "the state is the server's");
        let extra = OrderLineInput { order_id: order.id, product_id: product, quantity: 1, unit_price_cents: 1 };
        assert!(
            matches!(app.create_order_line(extra).await, Err(AppError::Conflict(_))),
            "a placed order's lines are final"
        );

        let placed_events = placed_events_of(&app, order.id).await;
        assert_eq!(placed_events.len(), 1, "one OrderPlaced, written with the placing: {placed_events:?}");
        assert_eq!(placed_events[0].total_cents, 2 * PRICE);
    }

    #[tokio::test]
    async fn an_empty_order_cannot_be_placed_and_a_refused_placing_publishes_nothing() {
        let (app, _) = start().await;
        let order = app.create_order(draft(uuid::Uuid::now_v7())).await.expect("order");
        let refused = app.place_order(PlaceOrderInput { id: order.id }).await;
        assert!(matches!(refused, Err(AppError::Conflict(_))), "{refused:?}");
        assert!(placed_events_of(&app, order.id).await.is_empty());
        let missing = app.place_order(PlaceOrderInput { id: uuid::Uuid::now_v7() }).await;
        assert!(matches!(missing, Err(AppError::NotFound(_))), "{missing:?}");
    }

    #[tokio::test]
    async fn drafts_and_pending_orders_are_cancelled_and_paid_ones_are_not() {
        let (app, product) = start().await;
        let order = app.create_order(draft(uuid::Uuid::now_v7())).await.expect("order");
        let cancelled = app.cancel_order(CancelOrderInput { id: order.id }).await.expect("cancelled");
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        let again = app.cancel_order(CancelOrderInput { id: order.id }).await.expect("still cancelled");
        assert_eq!(again.version, cancelled.version, "cancelling twice changes nothing");
        let refused = app.place_order(PlaceOrderInput { id: order.id }).await;
        assert!(matches!(refused, Err(AppError::Conflict(_))), "a cancelled order is not placed: {refused:?}");

        let order = app.create_order(draft(uuid::Uuid::now_v7())).await.expect("order");
        let line = OrderLineInput { order_id: order.id, product_id: product, quantity: 1, unit_price_cents: 0 };
        app.create_order_line(line).await.expect("line");
        app.place_order(PlaceOrderInput { id: order.id }).await.expect("placed");
        let cancelled = app.cancel_order(CancelOrderInput { id: order.id }).await.expect("cancelled");
        assert_eq!(cancelled.status, OrderStatus::Cancelled, "a pending order is cancelled");
    }

    #[tokio::test]
    async fn payment_completed_marks_the_order_paid_once() {
        let (app, product) = start().await;
        let order = app.create_order(draft(uuid::Uuid::now_v7())).await.expect("order");
        app.create_order_line(OrderLineInput {
            order_id: order.id,
            product_id: product,
            quantity: 1,
            unit_price_cents: 0,
        })
        .await
        .expect("line");
        app.place_order(PlaceOrderInput { id: order.id }).await.expect("placed");

        let event = peers::payments::PaymentCompleted {
            order_id: order.id.to_string(),
            payment_id: uuid::Uuid::now_v7().to_string(),
            amount_cents: PRICE,
        };
        let payload = prost::Message::encode_to_vec(&event);
        // Named by the generated code, so the test holds whatever the project is called.
        let subject = crate::events::SUBSCRIPTIONS[0].subject;
        let id = uuid::Uuid::now_v7().to_string();
        let first = handle(&app.db, &app, subject, &id, &payload).await.expect("handled");
        assert_eq!(first, Handled::Processed);
        assert_eq!(app.get_order(order.id).await.expect("order").status, OrderStatus::Paid);
        let again = handle(&app.db, &app, subject, &id, &payload).await.expect("handled");
        assert_eq!(again, Handled::Duplicate, "a redelivery is skipped");
        let garbage = handle(&app.db, &app, subject, &uuid::Uuid::now_v7().to_string(), b"\xff\xff").await;
        assert!(matches!(garbage, Err(AppError::Invalid(_))));
    }

    #[tokio::test]
    async fn creating_a_line_while_products_is_down_fails_fast_with_unavailable() {
        let (_, product) = start().await;
        let mut config = Config::for_tests();
        config.users_grpc_url = everyone().serve().await;
        let app = crate::start(config).await.expect("starts").app.clone();
        let order = app.create_order(draft(uuid::Uuid::now_v7())).await.expect("users is up");
        let started = std::time::Instant::now();
        let line = OrderLineInput { order_id: order.id, product_id: product, quantity: 1, unit_price_cents: 0 };
        match app.create_order_line(line).await {
            Err(AppError::Unavailable(message)) => assert!(message.starts_with("products is unavailable"), "{message}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    }
}
