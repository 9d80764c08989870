//! Migrations once per release, on the PostgreSQL server at `FLEETWRIGHT_TEST_POSTGRES`, with
//! the two roles of a production deployment (what `deploy/postgres/<service>.sql` sets up): an
//! owner that `<service> migrate` runs as, and an application role without DDL rights that the
//! service runs as. Skipped without a server, except under CI.
#![cfg(feature = "events")]

mod support;

use std::time::Duration;

use fleetwright_runtime::config::{Database as DatabaseConfig, Migrations};
use fleetwright_runtime::db::{Database, Migration};
use sqlx::{Connection as _, Executor as _};

const FIRST: Migration = Migration {
    version: 1,
    name: "init",
    sql: r#"CREATE TABLE "things" ("id" TEXT PRIMARY KEY NOT NULL, "n" BIGINT NOT NULL)"#,
};
const SECOND: Migration =
    Migration { version: 2, name: "add_note", sql: r#"ALTER TABLE "things" ADD COLUMN "note" TEXT"# };

const VERIFY: Migrations = Migrations::Verify { wait: Duration::ZERO };

/// A fresh database with an owner role and an application role that may only use rows;
/// the URLs of both.
async fn two_roles(server: &str) -> (String, String) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("roles_{}_{nanos}", std::process::id());
    let (owner, app) = (format!("{name}_migrator"), format!("{name}_app"));
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres")).await.unwrap();
    for sql in [
        format!("CREATE ROLE {owner} LOGIN PASSWORD 'owner'"),
        format!("CREATE ROLE {app} LOGIN PASSWORD 'app'"),
        format!("CREATE DATABASE {name}"),
        format!("GRANT CONNECT ON DATABASE {name} TO {owner}, {app}"),
    ] {
        admin.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
    }
    let mut database = sqlx::AnyConnection::connect(&format!("{server}/{name}")).await.unwrap();
    for sql in [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_owned(),
        format!("GRANT USAGE, CREATE ON SCHEMA public TO {owner}"),
        format!("GRANT USAGE ON SCHEMA public TO {app}"),
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}"
        ),
    ] {
        database.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
    }
    let host = server.trim_start_matches("postgres://").rsplit('@').next().unwrap();
    (format!("postgres://{owner}:owner@{host}/{name}"), format!("postgres://{app}:app@{host}/{name}"))
}

fn config(url: &str, migrations: Migrations) -> DatabaseConfig {
    DatabaseConfig { url: url.to_owned(), max_connections: 2, migrations }
}

/// Issue 14: every pod applied migrations at startup, so the application's role needed DDL
/// rights. Now `migrate` applies them as the owner, and the service, as a role that may not
/// change the schema, starts once they are there and is refused until then.
#[tokio::test]
async fn the_service_runs_as_a_role_without_ddl_rights_once_migrate_has_run() {
    let Ok(server) = std::env::var("FLEETWRIGHT_TEST_POSTGRES") else {
        support::required("PostgreSQL (FLEETWRIGHT_TEST_POSTGRES, from scripts/postgres.sh start)");
        return;
    };
    let (owner, app) = two_roles(server.trim_end_matches('/')).await;

    // Before any release: the service refuses to start, naming what is missing; trying to
    // apply the migrations itself, its role is refused.
    let error = Database::connect(&config(&app, VERIFY), &[FIRST]).await.err().expect("nothing applied yet");
    assert!(error.to_string().contains("the database lacks migrations [1]"), "{error:#}");
    let error = Database::connect(&config(&app, Migrations::Apply), &[FIRST]).await.err().expect("no DDL rights");
    assert!(format!("{error:#}").contains("permission denied"), "{error:#}");

    // The release's `migrate`, as the owner: then the service starts and writes rows.
    assert_eq!(Database::migrate(&config(&owner, VERIFY), &[FIRST]).await.unwrap(), [1]);
    let db = Database::connect(&config(&app, VERIFY), &[FIRST]).await.unwrap();
    sqlx::query(r#"INSERT INTO "things" ("id", "n") VALUES ('a', 1)"#).execute(&db.pool).await.unwrap();
    // With nothing pending, `apply` changes nothing, so it starts as this role too.
    Database::connect(&config(&app, Migrations::Apply), &[FIRST]).await.unwrap();
    let error = sqlx::query(r#"CREATE TABLE "sneaky" ("id" TEXT)"#).execute(&db.pool).await.unwrap_err();
    assert!(error.to_string().contains("permission denied"), "{error}");

    // The next release: its pods wait for its migration, which the owner applies meanwhile;
    // the previous build keeps starting against the newer schema.
    let waiting = {
        let config = config(&app, Migrations::Verify { wait: Duration::from_secs(20) });
        tokio::spawn(async move { Database::connect(&config, &[FIRST, SECOND]).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the new build waits for its migration");
    assert_eq!(Database::migrate(&config(&owner, VERIFY), &[FIRST, SECOND]).await.unwrap(), [2]);
    tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap().unwrap();
    Database::connect(&config(&app, VERIFY), &[FIRST]).await.unwrap();
    assert_eq!(Database::migrate(&config(&owner, VERIFY), &[FIRST]).await.unwrap(), Vec::<i64>::new(), "a rollback");
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as(r#"SELECT "id", "note" FROM "things""#).fetch_all(&db.pool).await.unwrap();
    assert_eq!(rows, [("a".to_owned(), None)]);
}
