//! Business logic of `orders`, written by hand (fleetwright created this file once and never
//! rewrites it). An order's total is the server's to compute: the sum of its lines, each a
//! quantity at a unit price.

use uuid::Uuid;

use crate::app::App;
use crate::error::AppError;
use crate::hooks::Hooks;
use crate::model::{Order, OrderInput, OrderLine, OrderLineInput};

/// No state of its own yet.
#[derive(Debug, Default)]
pub struct Logic {}

impl Logic {
    pub fn new(_config: &crate::Config) -> Self {
        Self {}
    }
}

impl Hooks for Logic {
    /// A new order starts with no lines, so with a zero total, whatever the client sent.
    async fn before_create_order(&self, _app: &App, input: &mut OrderInput) -> Result<(), AppError> {
        input.total_cents = 0;
        Ok(())
    }

    /// Clients cannot overwrite the computed total.
    async fn before_update_order(&self, _app: &App, current: &Order, input: &mut OrderInput) -> Result<(), AppError> {
        input.total_cents = current.total_cents;
        Ok(())
    }

    async fn before_create_order_line(&self, _app: &App, input: &mut OrderLineInput) -> Result<(), AppError> {
        check_line(input)
    }

    async fn after_create_order_line(&self, app: &App, line: &OrderLine) -> Result<(), AppError> {
        recompute_total(app, line.order_id).await
    }

    async fn before_update_order_line(&self, _app: &App, _current: &OrderLine, input: &mut OrderLineInput) -> Result<(), AppError> {
        check_line(input)
    }
}

fn check_line(line: &OrderLineInput) -> Result<(), AppError> {
    if line.quantity <= 0 {
        return Err(AppError::Invalid("`quantity` must be at least 1".to_owned()));
    }
    if line.unit_price_cents < 0 {
        return Err(AppError::Invalid("`unit_price_cents` must not be negative".to_owned()));
    }
    Ok(())
}

/// Sets an order's total to the sum of its lines.
async fn recompute_total(app: &App, order_id: Uuid) -> Result<(), AppError> {
    let total: i64 = sqlx::query_scalar(
        r#"SELECT CAST(COALESCE(SUM("quantity" * "unit_price_cents"), 0) AS BIGINT) FROM "order_lines" WHERE "order_id" = $1"#,
    )
    .bind(order_id.to_string())
    .fetch_one(&app.pool)
    .await?;
    sqlx::query(r#"UPDATE "orders" SET "total_cents" = $1 WHERE "id" = $2"#)
        .bind(total)
        .bind(order_id.to_string())
        .execute(&app.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::model::{OrderInput, OrderLineInput, OrderStatus};

    #[tokio::test]
    async fn the_total_is_the_sum_of_the_lines() {
        let running = crate::start(crate::Config::for_tests()).await.expect("starts");
        let app = running.app.clone();
        let order = app
            .create_order(OrderInput {
                customer_id: uuid::Uuid::now_v7(),
                status: OrderStatus::Pending,
                total_cents: 999_999,
                note: None,
                placed_at: time::OffsetDateTime::UNIX_EPOCH,
            })
            .await
            .expect("order");
        assert_eq!(order.total_cents, 0, "the client's total is ignored");
        for (quantity, unit_price_cents) in [(2, 1_250), (1, 500)] {
            let line = OrderLineInput { order_id: order.id, product_id: uuid::Uuid::now_v7(), quantity, unit_price_cents };
            app.create_order_line(line).await.expect("line");
        }
        assert_eq!(app.get_order(order.id).await.expect("order").total_cents, 3_000);
        let bad = OrderLineInput { order_id: order.id, product_id: uuid::Uuid::now_v7(), quantity: 0, unit_price_cents: 1 };
        assert!(matches!(app.create_order_line(bad).await, Err(crate::AppError::Invalid(_))));
    }
}
