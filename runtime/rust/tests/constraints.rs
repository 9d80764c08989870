//! Issue 14, item 2: the constraints fleetwright's migrations declare, as a service meets
//! them. On SQLite the statements marked PostgreSQL only are left out, so the same migration
//! files apply there; on the PostgreSQL server at `FLEETWRIGHT_TEST_POSTGRES` (from
//! `scripts/postgres.sh start`; required under CI) a write that breaks a foreign key, a check
//! or a unique key is refused with a conflict (HTTP 409) naming the constraint.
#![cfg(feature = "database")]

use fleetwright_runtime::AppError;
use fleetwright_runtime::config::{Database as DatabaseConfig, Migrations};
use fleetwright_runtime::db::{Database, Migration};

/// Two tables as fleetwright writes them: orders, and lines that refer to them, with an enum
/// column, a unique key over two columns, then the constraints PostgreSQL alone adds.
const SCHEMA: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: r#"CREATE TABLE "orders" (
    "id" TEXT PRIMARY KEY NOT NULL,
    "status" TEXT NOT NULL,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL
);
CREATE TABLE "order_lines" (
    "id" TEXT PRIMARY KEY NOT NULL,
    "order_id" TEXT NOT NULL,
    "sku" TEXT NOT NULL,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL
);
CREATE UNIQUE INDEX "order_lines_order_id_sku_key" ON "order_lines" ("order_id", "sku");
ALTER TABLE "orders" ADD CONSTRAINT "orders_status_check" CHECK ("status" IN ('draft', 'paid')); -- PostgreSQL only
ALTER TABLE "order_lines" ADD CONSTRAINT "order_lines_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE RESTRICT; -- PostgreSQL only
"#,
    },
    // A migration of constraints alone is empty on SQLite, and applies all the same.
    Migration {
        version: 2,
        name: "constraints",
        sql: r#"ALTER TABLE "orders" DROP CONSTRAINT "orders_status_check"; -- PostgreSQL only
ALTER TABLE "orders" ADD CONSTRAINT "orders_status_check" CHECK ("status" IN ('draft', 'paid', 'void')) NOT VALID; -- PostgreSQL only
"#,
    },
];

/// Runs `sql` with `binds`, as a service's store does.
async fn write(db: &Database, sql: &str, binds: &[&str]) -> Result<(), AppError> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for bind in binds {
        query = query.bind((*bind).to_owned());
    }
    query.execute(&db.pool).await?;
    Ok(())
}

const ORDER: &str = r#"INSERT INTO "orders" VALUES ($1, $2, 't', 't')"#;
const LINE: &str = r#"INSERT INTO "order_lines" VALUES ($1, $2, $3, 't', 't')"#;

fn conflict(result: Result<(), AppError>) -> String {
    match result {
        Err(AppError::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_applies_the_migrations_without_the_postgresql_statements() {
    let config = DatabaseConfig { url: "sqlite::memory:".into(), max_connections: 1, migrations: Migrations::Apply };
    let db = Database::connect(&config, SCHEMA).await.unwrap();
    write(&db, ORDER, &["o1", "draft"]).await.unwrap();
    write(&db, LINE, &["l1", "o1", "sku-1"]).await.unwrap();
    // The unique key holds on SQLite too, naming its columns.
    let message = conflict(write(&db, LINE, &["l2", "o1", "sku-1"]).await);
    assert!(message.contains("order_lines.order_id, order_lines.sku"), "{message}");
}

#[tokio::test]
async fn postgresql_refuses_what_breaks_a_constraint_naming_it() {
    let Ok(server) = std::env::var("FLEETWRIGHT_TEST_POSTGRES") else {
        assert!(std::env::var_os("CI").is_none(), "CI needs FLEETWRIGHT_TEST_POSTGRES");
        return;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let url = format!("{}/constraints_{}_{nanos}", server.trim_end_matches('/'), std::process::id());
    let db = Database::connect(&DatabaseConfig { url, max_connections: 2, migrations: Migrations::Apply }, SCHEMA)
        .await
        .unwrap();
    write(&db, ORDER, &["o1", "draft"]).await.unwrap();
    write(&db, ORDER, &["o2", "void"]).await.unwrap();
    write(&db, LINE, &["l1", "o1", "sku-1"]).await.unwrap();

    let message = conflict(write(&db, LINE, &["l2", "missing", "sku-1"]).await);
    assert_eq!(message, "the record it refers to does not exist (foreign key `order_lines_order_id_fkey`)");
    let message = conflict(write(&db, r#"DELETE FROM "orders" WHERE "id" = $1"#, &["o1"]).await);
    assert_eq!(message, "other records still refer to this one (foreign key `order_lines_order_id_fkey`)");
    // A parent no line refers to goes.
    write(&db, r#"DELETE FROM "orders" WHERE "id" = $1"#, &["o2"]).await.unwrap();
    let message = conflict(write(&db, ORDER, &["o3", "shipped"]).await);
    assert_eq!(message, "a value is not one the column allows (check `orders_status_check`)");
    let message = conflict(write(&db, LINE, &["l3", "o1", "sku-1"]).await);
    assert_eq!(message, "another record already has this value (unique index `order_lines_order_id_sku_key`)");
}
