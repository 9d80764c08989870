//! A service's database: a connection pool through sqlx's `Any` driver, so the same binary runs
//! on SQLite (the default) or PostgreSQL (`DATABASE_URL=postgres://…`); the migrations written
//! from `fleet.toml`, applied at startup; transactions ([`Tx`]) that carry the events a change
//! publishes into the outbox; and how each field type is stored ([`Column`]).

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::{MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Connection as _, Row as _, SqlSafeStr as _, SqlStr};
use time::{Date, OffsetDateTime};
use tokio::sync::{Mutex, Notify};

use crate::codec::{Enumeration, Text};
use crate::error::AppError;

/// One migration file, embedded in the service's binary. Files are never changed once written;
/// a manifest change adds a new one.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A connected, migrated pool. Cheap to clone. For an in-memory SQLite database a first
/// connection stays open for the life of the pool: without it the database would vanish
/// whenever the pool recycles its connections.
#[derive(Clone)]
pub struct Database {
    pub pool: AnyPool,
    /// Woken when a transaction that published events commits, so the relay sends them at once.
    pub outbox: Arc<Notify>,
    _anchor: Option<Arc<Mutex<sqlx::AnyConnection>>>,
}

impl Database {
    /// Connects and applies `migrations` in order.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn connect(config: &crate::config::Database, migrations: &[Migration]) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let url = config.url.as_str();
        let (url, anchor, max_connections) = if is_in_memory(url) {
            // A named shared-cache memory database, unique to this pool.
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!("memory_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            let url = format!("sqlite:file:{name}?mode=memory&cache=shared");
            let anchor = sqlx::AnyConnection::connect(&url).await.context("opening the in-memory database")?;
            (url, Some(Arc::new(Mutex::new(anchor))), 1)
        } else {
            if url.starts_with("postgres") {
                create_database_if_missing(url).await?;
            }
            (url.to_owned(), None, config.max_connections)
        };
        let options: AnyConnectOptions = url.parse().context("DATABASE_URL is not a database URL")?;
        let sqlite_file = url.starts_with("sqlite") && anchor.is_none();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            // A pooled SQLite connection cannot go stale the way a network one can; skipping the
            // ping before each use saves a round trip to SQLite's worker thread per query.
            .test_before_acquire(!url.starts_with("sqlite"))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                        if sqlite_file {
                            // Readers no longer block the writer, and commits stay durable at the
                            // checkpoint rather than on every transaction.
                            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("connecting to the database")?;
        let postgres = !url.starts_with("sqlite");
        migrator(migrations, postgres).run(&pool).await.context("applying migrations")?;
        Ok(Self { pool, outbox: Arc::new(Notify::new()), _anchor: anchor })
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// The database's error.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    /// A connection from the pool, for a read outside any transaction.
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, AppError> {
        Ok(self.pool.acquire().await?)
    }

    /// Starts a transaction.
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn begin(&self) -> Result<Tx, AppError> {
        Ok(Tx { inner: self.pool.begin().await?, published: false, outbox: self.outbox.clone() })
    }
}

/// Marks the end of each statement only PostgreSQL runs: foreign keys and checks, which SQLite
/// cannot add to a table it has (it has no `ALTER TABLE … ADD CONSTRAINT`).
pub const POSTGRES_ONLY: &str = "-- PostgreSQL only";

/// The migrations as `postgres` or SQLite runs them: a file as written on PostgreSQL, without
/// the statements marked [`POSTGRES_ONLY`] on SQLite. Each database sees one text per
/// migration, so the checksum sqlx records for it stays the same from run to run.
fn migrator(migrations: &[Migration], postgres: bool) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|m| {
                let sql = for_database(m.sql, postgres);
                sqlx::migrate::Migration::new(m.version, Cow::Borrowed(m.name), MigrationType::Simple, sql, false)
            })
            .collect(),
    )
}

/// One migration's SQL for PostgreSQL (`postgres`) or SQLite.
pub fn for_database(sql: &'static str, postgres: bool) -> SqlStr {
    if postgres || !sql.contains(POSTGRES_ONLY) {
        return SqlStr::from_static(sql);
    }
    let mut kept = String::with_capacity(sql.len());
    for line in sql.lines().filter(|line| !line.trim_end().ends_with(POSTGRES_ONLY)) {
        kept.push_str(line);
        kept.push('\n');
    }
    AssertSqlSafe(kept).into_sql_str()
}

fn is_in_memory(url: &str) -> bool {
    url == "sqlite::memory:" || url == "sqlite://:memory:" || url.contains("mode=memory")
}

/// PostgreSQL refuses connections to a database that does not exist; create it first so a
/// fresh server works with no manual step.
async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let Some((server, name)) = url.split('?').next().and_then(|u| u.rsplit_once('/')) else {
        return Ok(());
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Ok(());
    }
    let Ok(mut admin) = sqlx::AnyConnection::connect(&format!("{server}/postgres")).await else {
        return Ok(());
    };
    let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name.to_owned())
        .fetch_optional(&mut admin)
        .await?
        .is_some();
    if !exists {
        // Two processes may race to create it; the loser's error is harmless.
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut admin).await;
    }
    let _ = admin.close().await;
    Ok(())
}

/// A database transaction: a use case's change and what the service's hooks do inside it
/// commit or roll back together, events included ([`Tx::publish`]). Dropped without
/// [`Tx::commit`], it rolls back.
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    published: bool,
    outbox: Arc<Notify>,
}

impl Tx {
    /// The connection inside the transaction, for your own queries:
    /// `sqlx::query("…").execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.inner
    }

    /// Commits, then wakes the relay if events were published.
    ///
    /// # Errors
    /// When the commit fails; nothing of the transaction is kept then.
    pub async fn commit(self) -> Result<(), AppError> {
        self.inner.commit().await?;
        if self.published {
            self.outbox.notify_one();
        }
        Ok(())
    }

    /// Publishes `event` when this transaction commits, and never if it rolls back: the event
    /// is written to the outbox table here, and the relay sends it to the broker after the
    /// commit (retrying while the broker is down). Returns the event's id, which the broker
    /// uses to drop a duplicate publish. The event carries the current span's trace context.
    ///
    /// # Errors
    /// When the outbox row cannot be written.
    #[cfg(feature = "events")]
    pub async fn publish<E: crate::events::Event>(&mut self, event: &E) -> Result<uuid::Uuid, AppError> {
        let id = uuid::Uuid::now_v7();
        let now = crate::codec::now().to_text();
        let insert = r#"INSERT INTO "outbox" ("id", "subject", "payload", "position", "traceparent", "created_at", "updated_at")
            VALUES ($1, $2, $3, $4, $5, $6, $7)"#;
        sqlx::query(insert)
            .bind(id.to_string())
            .bind(E::SUBJECT)
            .bind(crate::events::to_hex(&prost::Message::encode_to_vec(event)))
            .bind(crate::events::next_position())
            .bind(crate::telemetry::traceparent(&tracing::Span::current()))
            .bind(now.clone())
            .bind(now)
            .execute(&mut *self.inner)
            .await?;
        self.published = true;
        Ok(id)
    }
}

/// How a field's Rust type is stored in its column, in the form both PostgreSQL and SQLite
/// hold through sqlx's `Any` driver. Bind with `.bind(value.to_sql())`, read with [`get`].
pub trait Column: Sized {
    type Sql: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any> + Send;
    fn to_sql(&self) -> Self::Sql;
    /// # Errors
    /// [`AppError`] when the stored value is not a valid value (a corrupt row).
    fn from_sql(sql: Self::Sql, column: &str) -> Result<Self, AppError>;
}

/// The value of `column` in `row`.
///
/// # Errors
/// When the column is missing or holds no valid value.
pub fn get<T: Column>(row: &AnyRow, column: &str) -> Result<T, AppError> {
    T::from_sql(row.try_get::<T::Sql, _>(column)?, column)
}

macro_rules! stored_as_is {
    ($($ty:ty),*) => {$(
        impl Column for $ty {
            type Sql = $ty;
            fn to_sql(&self) -> $ty {
                self.clone()
            }
            fn from_sql(sql: $ty, _: &str) -> Result<Self, AppError> {
                Ok(sql)
            }
        }
    )*};
}
stored_as_is!(String, i32, i64, f64);

/// INTEGER 0/1 rather than BOOLEAN: SQLite has no boolean type, and the `Any` driver reads
/// SQLite booleans back as integers.
impl Column for bool {
    type Sql = i64;
    fn to_sql(&self) -> i64 {
        i64::from(*self)
    }
    fn from_sql(sql: i64, _: &str) -> Result<Self, AppError> {
        Ok(sql != 0)
    }
}

macro_rules! stored_as_text {
    ($($ty:ty),*) => {$(
        impl Column for $ty {
            type Sql = String;
            fn to_sql(&self) -> String {
                self.to_text()
            }
            fn from_sql(sql: String, column: &str) -> Result<Self, AppError> {
                Self::from_text(&sql, column)
            }
        }
    )*};
}
stored_as_text!(uuid::Uuid, OffsetDateTime, Date);

impl<T: Enumeration> Column for T {
    type Sql = String;
    fn to_sql(&self) -> String {
        self.as_str().to_owned()
    }
    fn from_sql(sql: String, column: &str) -> Result<Self, AppError> {
        Self::from_text(&sql, column)
    }
}

impl<T: Column> Column for Option<T>
where
    Option<T::Sql>: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    type Sql = Option<T::Sql>;
    fn to_sql(&self) -> Option<T::Sql> {
        self.as_ref().map(Column::to_sql)
    }
    fn from_sql(sql: Option<T::Sql>, column: &str) -> Result<Self, AppError> {
        sql.map(|sql| T::from_sql(sql, column)).transpose()
    }
}

/// Lists are stored as a JSON array in one TEXT column; ids, times, dates and enums as their
/// text forms inside it.
impl<T: ListItem> Column for Vec<T> {
    type Sql = String;
    fn to_sql(&self) -> String {
        serde_json::Value::Array(self.iter().map(ListItem::to_json).collect()).to_string()
    }
    fn from_sql(sql: String, column: &str) -> Result<Self, AppError> {
        let corrupt = || AppError::internal(anyhow::anyhow!("column `{column}` holds no JSON array: {sql:?}"));
        let values: Vec<serde_json::Value> = serde_json::from_str(&sql).map_err(|_| corrupt())?;
        values.into_iter().map(|value| T::from_json(value, column)).collect()
    }
}

/// One item of a list column.
pub trait ListItem: Sized {
    fn to_json(&self) -> serde_json::Value;
    /// # Errors
    /// When the item is not a valid value.
    fn from_json(value: serde_json::Value, column: &str) -> Result<Self, AppError>;
}

macro_rules! json_item {
    ($($ty:ty),*) => {$(
        impl ListItem for $ty {
            fn to_json(&self) -> serde_json::Value {
                serde_json::json!(self)
            }
            fn from_json(value: serde_json::Value, column: &str) -> Result<Self, AppError> {
                serde_json::from_value(value)
                    .map_err(|error| AppError::internal(anyhow::anyhow!("column `{column}`: {error}")))
            }
        }
    )*};
}
json_item!(String, bool, i32, i64, f64);

fn text_item<T: Text>(value: &serde_json::Value, column: &str) -> Result<T, AppError> {
    match value.as_str() {
        Some(text) => T::from_text(text, column),
        None => Err(AppError::internal(anyhow::anyhow!("column `{column}` holds a non-text item: {value}"))),
    }
}

macro_rules! text_item {
    ($($ty:ty),*) => {$(
        impl ListItem for $ty {
            fn to_json(&self) -> serde_json::Value {
                serde_json::Value::String(self.to_text())
            }
            fn from_json(value: serde_json::Value, column: &str) -> Result<Self, AppError> {
                text_item(&value, column)
            }
        }
    )*};
}
text_item!(uuid::Uuid, OffsetDateTime, Date);

impl<T: Enumeration> ListItem for T {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.as_str().to_owned())
    }
    fn from_json(value: serde_json::Value, column: &str) -> Result<Self, AppError> {
        text_item(&value, column)
    }
}

/// One page of a list, plus the cursor of the next page when there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<uuid::Uuid>,
}

/// Page sizes clients may ask for; 0 or absent means the default.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// How many rows a list query fetches for `page_size`: the page, plus one that tells whether
/// another page follows.
pub fn rows_to_fetch(page_size: u32) -> i64 {
    i64::from(page_limit(page_size)) + 1
}

fn page_limit(page_size: u32) -> u32 {
    if page_size == 0 { DEFAULT_PAGE_SIZE } else { page_size.min(MAX_PAGE_SIZE) }
}

/// The query of one page of a list: `select` (`SELECT … FROM "table"`) with an equality
/// condition on each column of `filters` (`"order_id" = $1`), then `"id" > $n` when continuing
/// `after` a page, in id order, limited by the last placeholder. Only the placeholders vary:
/// bind each filter's value in the order given, then the id to continue after (if any), then
/// [`rows_to_fetch`]. Column names come from the generated code, never from a request.
pub fn list_sql(select: &str, filters: &[&str], after: bool) -> String {
    use std::fmt::Write as _;
    let mut sql = select.to_owned();
    let mut n = 0;
    let conditions = filters.iter().map(|c| (*c, "=")).chain(after.then_some(("id", ">")));
    for (column, op) in conditions {
        n += 1;
        let _ = write!(sql, " {} \"{column}\" {op} ${n}", if n == 1 { "WHERE" } else { "AND" });
    }
    let _ = write!(sql, " ORDER BY \"id\" LIMIT ${}", n + 1);
    sql
}

/// The page of `rows` (fetched with [`rows_to_fetch`], in id order) for `page_size`.
///
/// # Errors
/// When a row does not decode.
pub fn page<T>(
    rows: &[AnyRow],
    page_size: u32,
    decode: impl Fn(&AnyRow) -> Result<T, AppError>,
    id: impl Fn(&T) -> uuid::Uuid,
) -> Result<Page<T>, AppError> {
    let limit = page_limit(page_size) as usize;
    let mut items = rows.iter().take(limit).map(decode).collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit { items.last().map(&id) } else { None };
    items.truncate(limit);
    Ok(Page { items, next })
}

#[cfg(test)]
mod list_tests {
    use super::list_sql;

    #[test]
    fn a_list_query_binds_every_value() {
        let select = r#"SELECT "id" FROM "lines""#;
        assert_eq!(list_sql(select, &[], false), r#"SELECT "id" FROM "lines" ORDER BY "id" LIMIT $1"#);
        assert_eq!(list_sql(select, &[], true), r#"SELECT "id" FROM "lines" WHERE "id" > $1 ORDER BY "id" LIMIT $2"#);
        assert_eq!(
            list_sql(select, &["order_id", "sku"], true),
            r#"SELECT "id" FROM "lines" WHERE "order_id" = $1 AND "sku" = $2 AND "id" > $3 ORDER BY "id" LIMIT $4"#
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Color {
        Red,
        Blue,
    }

    impl Enumeration for Color {
        const VALUES: &'static [(Self, &'static str, i32)] = &[(Self::Red, "red", 1), (Self::Blue, "blue", 2)];
    }

    fn memory() -> crate::config::Database {
        crate::config::Database { url: "sqlite::memory:".into(), max_connections: 4 }
    }

    const TABLE: Migration = Migration {
        version: 1,
        name: "init",
        sql: r#"CREATE TABLE "things" ("id" TEXT PRIMARY KEY, "flag" INTEGER NOT NULL, "at" TEXT, "colors" TEXT NOT NULL, "n" BIGINT)"#,
    };

    #[tokio::test]
    async fn every_shape_of_column_round_trips() {
        let db = Database::connect(&memory(), &[TABLE]).await.unwrap();
        let id = uuid::Uuid::now_v7();
        let at = Some(crate::codec::now());
        let colors = vec![Color::Blue, Color::Red];
        let mut tx = db.begin().await.unwrap();
        sqlx::query(r#"INSERT INTO "things" VALUES ($1, $2, $3, $4, $5)"#)
            .bind(id.to_sql())
            .bind(true.to_sql())
            .bind(at.to_sql())
            .bind(colors.to_sql())
            .bind(None::<i64>.to_sql())
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let row = sqlx::query(r#"SELECT * FROM "things""#).fetch_one(&db.pool).await.unwrap();
        assert_eq!(get::<uuid::Uuid>(&row, "id").unwrap(), id);
        assert!(get::<bool>(&row, "flag").unwrap());
        assert_eq!(get::<Option<OffsetDateTime>>(&row, "at").unwrap(), at);
        assert_eq!(get::<Vec<Color>>(&row, "colors").unwrap(), colors);
        assert_eq!(get::<Option<i64>>(&row, "n").unwrap(), None);
        assert!(get::<Vec<Color>>(&row, "id").is_err(), "a corrupt column is an error, not a panic");
    }

    #[tokio::test]
    async fn a_dropped_transaction_rolls_back_and_in_memory_data_outlives_connections() {
        let db = Database::connect(&memory(), &[TABLE]).await.unwrap();
        let insert = r#"INSERT INTO "things" ("id", "flag", "colors") VALUES ($1, 0, '[]')"#;
        let mut tx = db.begin().await.unwrap();
        sqlx::query(insert).bind("rolled-back").execute(tx.conn()).await.unwrap();
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        sqlx::query(insert).bind("kept").execute(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
        let ids: Vec<String> = sqlx::query_scalar(r#"SELECT "id" FROM "things""#).fetch_all(&db.pool).await.unwrap();
        assert_eq!(ids, vec!["kept".to_owned()]);
        assert!(db.ping().await.is_ok());
        db.pool.close().await;
        assert!(db.ping().await.is_err(), "readiness sees a closed pool");
    }

    #[test]
    fn pages_are_bounded_and_know_whether_more_follow() {
        assert_eq!(rows_to_fetch(0), i64::from(DEFAULT_PAGE_SIZE) + 1);
        assert_eq!(rows_to_fetch(5000), i64::from(MAX_PAGE_SIZE) + 1);
    }
}
