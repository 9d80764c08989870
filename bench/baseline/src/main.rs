//! A minimal hand-written axum + sqlx service, the yardstick for generated ones.
//!
//! The performance goal is that a generated service serves a read by id at no less than 80 %
//! of the requests per second of the same read written by hand. This is that hand-written
//! read: `GET /api/products/{id}` with the SQL a generated `products` service runs, on the
//! `products` table its migration creates, answering the same JSON, and nothing else: a typed
//! `SqlitePool` instead of the `Any` driver, no middleware, metrics, logs, timeouts or gRPC.
//! `scripts/bench-service.sh` runs it against the generated service's own SQLite file.
//!
//! Environment: `HTTP_ADDR` (default `127.0.0.1:8090`), `DATABASE_URL` (an already migrated
//! database, default `sqlite://products.db`), `DATABASE_MAX_CONNECTIONS` (default 8, as in
//! generated services).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{FromRow, Row as _};

/// A product as the generated service returns it; ids and timestamps are stored as text
/// already in their JSON form, and tags as a JSON array.
#[derive(Serialize)]
struct Product {
    id: String,
    sku: String,
    name: String,
    description: Option<String>,
    price_cents: i64,
    tags: Vec<String>,
    created_at: String,
    updated_at: String,
    version: i64,
}

impl FromRow<'_, SqliteRow> for Product {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        let tags: String = row.try_get("tags")?;
        Ok(Self {
            id: row.try_get("id")?,
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            price_cents: row.try_get("price_cents")?,
            tags: serde_json::from_str(&tags).map_err(|e| sqlx::Error::Decode(e.into()))?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}

async fn get_product(State(pool): State<SqlitePool>, Path(id): Path<String>) -> Result<Json<Product>, StatusCode> {
    sqlx::query_as::<_, Product>(
        r#"SELECT "id", "sku", "name", "description", "price_cents", "tags", "created_at", "updated_at", "version" FROM "products" WHERE "id" = $1"#,
    )
    .bind(id)
    .fetch_optional(&pool)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
    .map(Json)
    .ok_or(StatusCode::NOT_FOUND)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    // Same pool settings as the generated service, so the comparison measures the code
    // around the query, not pool tuning.
    let pool = SqlitePoolOptions::new()
        .max_connections(var("DATABASE_MAX_CONNECTIONS", "8").parse()?)
        .test_before_acquire(false)
        .connect(&var("DATABASE_URL", "sqlite://products.db"))
        .await?;
    let app = Router::new()
        .route("/api/products/{id}", get(get_product))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(var("HTTP_ADDR", "127.0.0.1:8090")).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
