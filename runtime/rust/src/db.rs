//! A service's database: a connection pool through sqlx's `Any` driver, so the same binary runs
//! on SQLite (the default) or PostgreSQL (`DATABASE_URL=postgres://…`); the migrations written
//! from `fleet.toml`, applied at startup or by `<service> migrate` and then only verified at
//! startup ([`crate::config::Migrations`]); transactions ([`Tx`]) that carry the events a change
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
    /// Connects, then deals with `migrations` as `config.migrations` says: applies the pending
    /// ones, or only verifies that none is pending.
    ///
    /// # Errors
    /// When the database cannot be reached, a migration fails, or (verifying) the database
    /// lacks a migration of this build.
    pub async fn connect(config: &crate::config::Database, migrations: &[Migration]) -> anyhow::Result<Self> {
        use crate::config::Migrations;
        let database = Self::open(config, config.migrations == Migrations::Apply).await?;
        match config.migrations {
            Migrations::Apply => {
                database.apply(migrations).await?;
            }
            Migrations::Verify { wait } => database.verify(migrations, wait).await?,
        }
        Ok(database)
    }

    /// What `<service> migrate` does: connects, applies the pending migrations and returns the
    /// versions it applied (none when the database was up to date). Run it with a role that
    /// may change the schema; the service itself then needs none.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails (nothing of that migration
    /// is kept).
    pub async fn migrate(config: &crate::config::Database, migrations: &[Migration]) -> anyhow::Result<Vec<i64>> {
        let database = Self::open(config, true).await?;
        let applied = database.apply(migrations).await;
        database.pool.close().await;
        applied
    }

    /// The pool, without touching the schema. `create` creates a missing PostgreSQL database.
    async fn open(config: &crate::config::Database, create: bool) -> anyhow::Result<Self> {
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
            if create && url.starts_with("postgres") {
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
                    if !is_postgres(conn) {
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
        Ok(Self { pool, outbox: Arc::new(Notify::new()), _anchor: anchor })
    }

    /// Applies the pending migrations; returns their versions. With none pending it changes
    /// nothing at all (not even the history table), so a role without DDL rights gets here.
    async fn apply(&self, migrations: &[Migration]) -> anyhow::Result<Vec<i64>> {
        let pending = self.schema().await?.pending(migrations, self.is_postgres())?;
        if pending.is_empty() {
            return Ok(pending);
        }
        migrator(migrations, self.is_postgres()).run(&self.pool).await.with_context(|| {
            format!("applying migrations {pending:?} (the role in DATABASE_URL must be allowed to change the schema)")
        })?;
        Ok(pending)
    }

    /// Succeeds once every migration of `migrations` is applied, checking every second for up
    /// to `wait`; applies nothing.
    async fn verify(&self, migrations: &[Migration], wait: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let pending = self.schema().await?.pending(migrations, self.is_postgres())?;
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let latest = migrations.last().map_or(0, |m| m.version);
                anyhow::bail!(
                    "the database lacks migrations {pending:?} of this build (which needs version {latest}); \
                     DATABASE_MIGRATIONS=verify applies none: run this binary with `migrate` (the \
                     release's migration Job or one-shot does) with a role that may change the schema"
                );
            }
            tracing::info!(?pending, "waiting for the migrations of this build to be applied");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Whether the database is PostgreSQL (else SQLite).
    fn is_postgres(&self) -> bool {
        self.pool.connect_options().database_url.scheme().starts_with("postgres")
    }

    /// The migration history as the database holds it, read without changing anything.
    async fn schema(&self) -> anyhow::Result<Schema> {
        use sqlx::migrate::Migrate as _;
        let mut conn = self.pool.acquire().await.context("connecting to the database")?;
        let exists = if is_postgres(&conn) {
            "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = '_sqlx_migrations' \
             AND schemaname = ANY(current_schemas(false))"
        } else {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        };
        let tables: i64 = sqlx::query_scalar(exists).fetch_one(&mut *conn).await.context("reading the schema")?;
        if tables == 0 {
            return Ok(Schema::default());
        }
        let read = "reading the migration history (_sqlx_migrations)";
        let dirty = conn.dirty_version(HISTORY).await.context(read)?;
        let applied = conn.list_applied_migrations(HISTORY).await.context(read)?;
        Ok(Schema { dirty, applied: applied.into_iter().map(|m| (m.version, m.checksum.into_owned())).collect() })
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

/// The table where sqlx records the applied migrations.
const HISTORY: &str = "_sqlx_migrations";

/// The migrations a database holds: each version with the checksum of its SQL, and the version
/// of one that failed part way (only where DDL is not transactional).
#[derive(Debug, Default)]
struct Schema {
    applied: std::collections::BTreeMap<i64, Vec<u8>>,
    dirty: Option<i64>,
}

impl Schema {
    /// The versions of `migrations` not yet applied, oldest first.
    ///
    /// # Errors
    /// When a migration was applied with other SQL than this build's, or failed part way.
    fn pending(&self, migrations: &[Migration], postgres: bool) -> anyhow::Result<Vec<i64>> {
        if let Some(version) = self.dirty {
            anyhow::bail!(
                "migration {version} failed part way: repair the schema by hand and remove its row from _sqlx_migrations"
            );
        }
        let mut pending = Vec::new();
        for migration in migrator(migrations, postgres).iter() {
            match self.applied.get(&migration.version) {
                Some(checksum) if *checksum != *migration.checksum => anyhow::bail!(
                    "migration {} was applied with other SQL than this build's (`{}`): migrations are never edited once applied",
                    migration.version,
                    migration.description
                ),
                Some(_) => {}
                None => pending.push(migration.version),
            }
        }
        Ok(pending)
    }
}

/// Marks the end of each statement only PostgreSQL runs: foreign keys and checks, which SQLite
/// cannot add to a table it has (it has no `ALTER TABLE … ADD CONSTRAINT`), and columns of
/// PostgreSQL's native types (`UUID`, `TIMESTAMPTZ`, …), each followed by its SQLite form.
pub const POSTGRES_ONLY: &str = "-- PostgreSQL only";

/// Marks the end of each line only SQLite runs: a column or statement in SQLite's types,
/// after the same marked [`POSTGRES_ONLY`] in PostgreSQL's.
pub const SQLITE_ONLY: &str = "-- SQLite only";

/// One statement as each database runs it: the generated store binds and reads values in the
/// form SQLite holds (text and integers, which sqlx's `Any` driver carries for both), and on
/// PostgreSQL converts those of columns of a native type (`$1::uuid`, `"id"::text`).
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

impl Sql {
    /// The text `conn`'s database runs.
    pub fn on(&self, conn: &sqlx::AnyConnection) -> &'static str {
        if is_postgres(conn) { self.postgres } else { self.sqlite }
    }
}

/// Whether `conn` is to PostgreSQL (else SQLite).
pub fn is_postgres(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// The migrator of this build's migrations, as `postgres` or SQLite runs them: a file without
/// the lines marked [`SQLITE_ONLY`] on PostgreSQL, without those marked [`POSTGRES_ONLY`] on
/// SQLite. Each
/// database sees one text per migration, so the checksum sqlx records for it stays the same
/// from run to run. A database may hold newer migrations, applied by a newer build during a
/// rollout (or before a rollback): they only expand the schema, so this build starts and
/// serves as before instead of refusing them.
fn migrator(migrations: &[Migration], postgres: bool) -> Migrator {
    let mut migrator = Migrator::with_migrations(
        migrations
            .iter()
            .map(|m| {
                let sql = for_database(m.sql, postgres);
                sqlx::migrate::Migration::new(m.version, Cow::Borrowed(m.name), MigrationType::Simple, sql, false)
            })
            .collect(),
    );
    migrator.set_ignore_missing(true);
    migrator
}

/// One migration's SQL for PostgreSQL (`postgres`) or SQLite.
pub fn for_database(sql: &'static str, postgres: bool) -> SqlStr {
    let other = if postgres { SQLITE_ONLY } else { POSTGRES_ONLY };
    if !sql.contains(other) {
        return SqlStr::from_static(sql);
    }
    let mut kept = String::with_capacity(sql.len());
    for line in sql.lines().filter(|line| !line.trim_end().ends_with(other)) {
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
    /// uses to drop a duplicate publish. The event carries the current span's trace context, and
    /// who caused it (see [`crate::events::caused_by`]).
    ///
    /// # Errors
    /// When the outbox row cannot be written.
    #[cfg(feature = "events")]
    pub async fn publish<E: crate::events::Event>(&mut self, event: &E) -> Result<uuid::Uuid, AppError> {
        let id = uuid::Uuid::now_v7();
        let now = crate::codec::now().to_text();
        let insert = r#"INSERT INTO "outbox" ("id", "subject", "payload", "position", "traceparent", "caused_by", "created_at", "updated_at")
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#;
        sqlx::query(insert)
            .bind(id.to_string())
            .bind(E::SUBJECT)
            .bind(crate::events::to_hex(&prost::Message::encode_to_vec(event)))
            .bind(crate::events::next_position())
            .bind(crate::telemetry::traceparent(&tracing::Span::current()))
            .bind(crate::events::cause())
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

impl<T> Page<T> {
    /// No items and no next page.
    pub fn empty() -> Self {
        Self { items: Vec::new(), next: None }
    }
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

/// The query of one page of a list on `conn`'s database: `select` (`SELECT … FROM "table"`)
/// with an equality condition on each column of `filters` (`"order_id" = $1`), then
/// `"id" > $n` when continuing `after` a page, in id order, limited by the last placeholder.
/// On PostgreSQL a column in `casts` converts its placeholder (`$1::uuid`, see [`Sql`]). Only
/// the placeholders vary: bind each filter's value in the order given, then the id to continue
/// after (if any), then [`rows_to_fetch`]. Column names come from the generated code, never
/// from a request.
pub fn list_sql(
    conn: &sqlx::AnyConnection,
    select: &Sql,
    casts: &[(&str, &str)],
    filters: &[&str],
    after: bool,
) -> String {
    list_sql_for(is_postgres(conn), select, casts, filters, after)
}

fn list_sql_for(postgres: bool, select: &Sql, casts: &[(&str, &str)], filters: &[&str], after: bool) -> String {
    use std::fmt::Write as _;
    let mut sql = (if postgres { select.postgres } else { select.sqlite }).to_owned();
    let mut n = 0;
    let conditions = filters.iter().map(|c| (*c, "=")).chain(after.then_some(("id", ">")));
    for (column, op) in conditions {
        n += 1;
        let cast = casts.iter().find(|(name, _)| postgres && *name == column).map_or("", |(_, cast)| *cast);
        let _ = write!(sql, " {} \"{column}\" {op} ${n}{cast}", if n == 1 { "WHERE" } else { "AND" });
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
mod migration_text_tests {
    use super::for_database;

    #[test]
    fn each_database_runs_its_own_lines() {
        let sql = "CREATE TABLE \"t\" (\n    \"id\" UUID PRIMARY KEY NOT NULL -- PostgreSQL only\n    \"id\" TEXT PRIMARY KEY NOT NULL -- SQLite only\n);\nALTER TABLE \"t\" ADD CONSTRAINT \"c\" CHECK (1 = 1); -- PostgreSQL only\n";
        assert_eq!(
            for_database(sql, true).as_str(),
            "CREATE TABLE \"t\" (\n    \"id\" UUID PRIMARY KEY NOT NULL -- PostgreSQL only\n);\nALTER TABLE \"t\" ADD CONSTRAINT \"c\" CHECK (1 = 1); -- PostgreSQL only\n"
        );
        assert_eq!(
            for_database(sql, false).as_str(),
            "CREATE TABLE \"t\" (\n    \"id\" TEXT PRIMARY KEY NOT NULL -- SQLite only\n);\n"
        );
        let plain = "CREATE INDEX \"i\" ON \"t\" (\"a\");\n";
        assert_eq!(for_database(plain, true).as_str(), plain);
        assert_eq!(for_database(plain, false).as_str(), plain);
    }
}

#[cfg(test)]
mod list_tests {
    use super::{Sql, list_sql_for};

    const SELECT: Sql =
        Sql { postgres: r#"SELECT "id"::text AS "id" FROM "lines""#, sqlite: r#"SELECT "id" FROM "lines""# };
    const CASTS: &[(&str, &str)] = &[("id", "::uuid"), ("order_id", "::uuid")];

    #[test]
    fn a_list_query_binds_every_value() {
        let sqlite = |filters: &[&str], after| list_sql_for(false, &SELECT, CASTS, filters, after);
        assert_eq!(sqlite(&[], false), r#"SELECT "id" FROM "lines" ORDER BY "id" LIMIT $1"#);
        assert_eq!(sqlite(&[], true), r#"SELECT "id" FROM "lines" WHERE "id" > $1 ORDER BY "id" LIMIT $2"#);
        assert_eq!(
            sqlite(&["order_id", "sku"], true),
            r#"SELECT "id" FROM "lines" WHERE "order_id" = $1 AND "sku" = $2 AND "id" > $3 ORDER BY "id" LIMIT $4"#
        );
    }

    #[test]
    fn postgresql_converts_the_placeholders_of_native_columns() {
        assert_eq!(
            list_sql_for(true, &SELECT, CASTS, &["order_id", "sku"], true),
            r#"SELECT "id"::text AS "id" FROM "lines" WHERE "order_id" = $1::uuid AND "sku" = $2 AND "id" > $3::uuid ORDER BY "id" LIMIT $4"#
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
        crate::config::Database {
            url: "sqlite::memory:".into(),
            max_connections: 4,
            migrations: crate::config::Migrations::Apply,
        }
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

    /// A SQLite file of its own, removed when dropped, as `DATABASE_MIGRATIONS` says.
    struct File(std::path::PathBuf);

    impl File {
        fn new() -> Self {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name =
                format!("fleetwright-migrations-{}-{}.db", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            Self(std::env::temp_dir().join(name))
        }

        fn config(&self, migrations: crate::config::Migrations) -> crate::config::Database {
            crate::config::Database {
                url: format!("sqlite://{}?mode=rwc", self.0.display()),
                max_connections: 2,
                migrations,
            }
        }
    }

    impl Drop for File {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    const SECOND: Migration =
        Migration { version: 2, name: "add_note", sql: r#"ALTER TABLE "things" ADD COLUMN "note" TEXT"# };

    const VERIFY: crate::config::Migrations = crate::config::Migrations::Verify { wait: Duration::ZERO };

    #[tokio::test]
    async fn verify_applies_nothing_and_refuses_a_database_behind_the_build() {
        let file = File::new();
        let error = Database::connect(&file.config(VERIFY), &[TABLE]).await.err().expect("an empty database");
        assert!(error.to_string().contains("the database lacks migrations [1] of this build"), "{error:#}");
        assert!(error.to_string().contains("run this binary with `migrate`"), "{error:#}");

        // `migrate` applies what is pending, once.
        assert_eq!(Database::migrate(&file.config(VERIFY), &[TABLE]).await.unwrap(), [1]);
        assert_eq!(Database::migrate(&file.config(VERIFY), &[TABLE]).await.unwrap(), Vec::<i64>::new());
        let db = Database::connect(&file.config(VERIFY), &[TABLE]).await.unwrap();
        assert!(db.ping().await.is_ok());

        // A newer build's migration is pending: verify refuses it and leaves the schema alone.
        let error = Database::connect(&file.config(VERIFY), &[TABLE, SECOND]).await.err().expect("behind");
        assert!(error.to_string().contains("lacks migrations [2]"), "{error:#}");
        assert!(sqlx::query("SELECT note FROM things").fetch_all(&db.pool).await.is_err());
        assert_eq!(Database::migrate(&file.config(VERIFY), &[TABLE, SECOND]).await.unwrap(), [2]);

        // The old build keeps starting against the newer schema, in either mode.
        Database::connect(&file.config(VERIFY), &[TABLE]).await.unwrap();
        Database::connect(&file.config(crate::config::Migrations::Apply), &[TABLE]).await.unwrap();
        assert_eq!(
            Database::migrate(&file.config(VERIFY), &[TABLE]).await.unwrap(),
            Vec::<i64>::new(),
            "a rollback's migrate"
        );
    }

    #[tokio::test]
    async fn verify_waits_for_the_migrations_and_catches_an_edited_one() {
        let file = File::new();
        let waiting = {
            let config = file.config(crate::config::Migrations::Verify { wait: Duration::from_secs(20) });
            tokio::spawn(async move { Database::connect(&config, &[TABLE]).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "verify waits while the migrations are missing");
        Database::migrate(&file.config(VERIFY), &[TABLE]).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap().unwrap();

        let edited = Migration { sql: r#"CREATE TABLE "things" ("id" TEXT PRIMARY KEY)"#, ..TABLE };
        for migrations in [VERIFY, crate::config::Migrations::Apply] {
            let error = Database::connect(&file.config(migrations), &[edited]).await.err().expect("edited");
            assert!(
                error.to_string().contains("migration 1 was applied with other SQL than this build's"),
                "{error:#}"
            );
        }
    }

    #[tokio::test]
    async fn apply_at_startup_migrates_and_then_changes_nothing() {
        let file = File::new();
        let db = Database::connect(&file.config(crate::config::Migrations::Apply), &[TABLE, SECOND]).await.unwrap();
        sqlx::query("SELECT note FROM things").fetch_all(&db.pool).await.unwrap();
        let history: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&db.pool).await.unwrap();
        assert_eq!(history, 2);
        // Up to date: nothing is written, so a read-only connection starts.
        let read_only = crate::config::Database {
            url: format!("sqlite://{}?mode=ro", file.0.display()),
            ..file.config(crate::config::Migrations::Apply)
        };
        Database::connect(&read_only, &[TABLE, SECOND]).await.unwrap();
        let third = Migration { version: 3, name: "more", sql: r#"CREATE TABLE "more" ("id" TEXT)"# };
        let error = Database::connect(&read_only, &[TABLE, SECOND, third]).await.err().expect("read only");
        assert!(error.to_string().contains("applying migrations [3]"), "{error:#}");
    }

    #[test]
    fn pages_are_bounded_and_know_whether_more_follow() {
        assert_eq!(rows_to_fetch(0), i64::from(DEFAULT_PAGE_SIZE) + 1);
        assert_eq!(rows_to_fetch(5000), i64::from(MAX_PAGE_SIZE) + 1);
    }
}
