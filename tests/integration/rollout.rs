//! Issue 14, item 3: migrations run once per rollout, with a role that may change the schema,
//! and the service runs as one that may not. The generated `deploy/postgres/<service>.sql` is
//! applied to a real PostgreSQL server (CI's), the generated migrations run as its migrator
//! role, and the application role is shown to read and write rows, to use a table the migrator
//! creates later, and to be refused every schema change. The Kubernetes Job and the compose
//! one-shot that run `<service> migrate` are checked for what they wire together; the
//! validators of `k8s.rs` and `validate.rs` check them against their schemas.

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{ECOMMERCE, Scratch, required_under_ci, tool};

/// One PostgreSQL service, named per run: roles are global to the server, which other test
/// runs share.
fn manifest(service: &str) -> String {
    format!(
        "version = 1\n[project]\nname = \"vault\"\n\n\
         [services.{service}]\ndatabase = \"postgres\"\n\n\
         [services.{service}.entities.Account]\nowner = \"string\"\nbalance = \"int64\"\n\n\
         [services.{service}.entities.Entry]\naccount = \"ref(Account)\"\namount = \"int64\"\n"
    )
}

/// Runs `psql` on `url` with `sql` on standard input (or the file in `args`), errors in full
/// (`VERBOSITY=verbose`, so each carries its SQLSTATE); its output, or why it failed.
fn psql(url: &str, args: &[&str], sql: &str) -> Result<String, String> {
    let mut command = Command::new("psql");
    command
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
            "-d",
            url,
        ])
        .args(args);
    crate::schema::run(&mut command, sql)
}

fn ok(url: &str, sql: &str) -> String {
    psql(url, &[], sql).unwrap_or_else(|why| panic!("{sql}: {why}"))
}

/// The error PostgreSQL gives `sql`, which must be refused for want of a privilege.
fn refused(url: &str, sql: &str) -> String {
    let error = psql(url, &[], sql)
        .err()
        .unwrap_or_else(|| panic!("the app role may run {sql}"));
    assert!(
        error.contains("42501"),
        "{sql} failed otherwise than insufficient_privilege:\n{error}"
    );
    error
}

#[test]
fn the_app_role_reads_and_writes_rows_but_cannot_change_the_schema() {
    let server = std::env::var("FLEETWRIGHT_TEST_POSTGRES").ok();
    let Some(server) = required_under_ci(
        server.filter(|_| tool("psql").is_some()),
        "psql and a PostgreSQL server in FLEETWRIGHT_TEST_POSTGRES (scripts/ci.sh)",
    ) else {
        return;
    };
    let server = server.trim_end_matches('/');
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let service = format!("ledger{}n{nanos}", std::process::id());
    let scratch = Scratch::generated(&manifest(&service));
    let roles = scratch.join(&format!("deploy/postgres/{service}.sql"));
    let script = std::fs::read_to_string(&roles).unwrap();
    assert!(
        !script.to_uppercase().contains("PASSWORD '"),
        "a password is written down:\n{script}"
    );
    let admin = format!("{server}/postgres");
    let file = roles.to_string_lossy().into_owned();

    // Without the passwords it stops before doing anything.
    let error = psql(&admin, &["-v", "migrator_password=m", "-f", &file], "").unwrap_err();
    assert!(error.contains("set app_password"), "{error}");
    let exists = format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{service}\\_%'");
    assert_eq!(ok(&admin, &exists), "0");

    let passwords = [
        "-v",
        "migrator_password=migrator-secret",
        "-v",
        "app_password=app-secret",
        "-f",
        &file,
    ];
    psql(&admin, &passwords, "").unwrap_or_else(|why| panic!("the roles script fails:\n{why}"));
    // Run again (a password change, or a database moved over): the same end state.
    psql(&admin, &passwords, "").unwrap_or_else(|why| panic!("the roles script is not re-runnable:\n{why}"));
    let host = server.trim_start_matches("postgres://").rsplit('@').next().unwrap();
    let migrator = format!("postgres://{service}_migrator:migrator-secret@{host}/{service}");
    let app = format!("postgres://{service}_app:app-secret@{host}/{service}");

    // The migrator applies every generated migration, as `<service> migrate` would.
    let mut migrations: Vec<_> = std::fs::read_dir(scratch.join(&format!("services/{service}/migrations")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    migrations.sort();
    assert!(!migrations.is_empty());
    for migration in &migrations {
        let text = std::fs::read_to_string(migration).unwrap();
        let postgres = crate::schema::Database::postgres(&migrator);
        ok(&migrator, &crate::schema::for_database(&postgres, &text));
    }

    // The app: rows, yes (values that are valid whichever column types the schema uses).
    let (account, entry, at) = (
        "'0190a000-0000-7000-8000-000000000001'",
        "'0190a000-0000-7000-8000-000000000002'",
        "'2026-12-06T18:00:00Z'",
    );
    ok(
        &app,
        &format!(
            "INSERT INTO accounts (id, owner, balance, created_at, updated_at) VALUES ({account}, 'ann', 10, {at}, {at});\n\
             INSERT INTO entries (id, account, amount, created_at, updated_at) VALUES ({entry}, {account}, 5, {at}, {at});\n\
             UPDATE accounts SET balance = balance - 5 WHERE id = {account};\n\
             DELETE FROM entries WHERE id = {entry};"
        ),
    );
    assert_eq!(ok(&app, "SELECT owner, balance FROM accounts"), "ann|5");
    // Schema, no.
    let error = refused(&app, "CREATE TABLE sneaky (id TEXT)");
    assert!(error.contains("permission denied for schema public"), "{error}");
    refused(&app, "ALTER TABLE accounts ADD COLUMN sneaky TEXT");
    refused(&app, "ALTER TABLE accounts DROP COLUMN owner");
    refused(&app, "DROP TABLE entries");
    refused(&app, "TRUNCATE accounts");
    refused(&app, "CREATE INDEX sneaky ON accounts (owner)");
    assert_eq!(
        ok(&app, "SELECT count(*) FROM accounts"),
        "1",
        "nothing was lost on the way"
    );

    // A table the migrator creates later, as the next release or sqlx's history table: the app
    // may use its rows at once, through the default privileges.
    ok(
        &migrator,
        "CREATE TABLE later (id TEXT PRIMARY KEY, n BIGINT GENERATED BY DEFAULT AS IDENTITY)",
    );
    ok(&app, "INSERT INTO later (id) VALUES ('x'); UPDATE later SET id = 'y'");
    assert_eq!(ok(&app, "SELECT id, n FROM later"), "y|1");
    refused(&app, "DROP TABLE later");
    // And the migrator may not do more than its database.
    let error = psql(&migrator, &[], "CREATE DATABASE sneaky").unwrap_err();
    assert!(error.contains("42501"), "{error}");
}

fn documents(path: &Path) -> Vec<Yaml> {
    YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn env<'a>(container: &'a Yaml, name: &str) -> &'a Yaml {
    container["env"]
        .as_vec()
        .and_then(|vars| vars.iter().find(|v| v["name"].as_str() == Some(name)))
        .unwrap_or(&Yaml::BadValue)
}

/// The e-commerce example: four PostgreSQL services, each with its Job and its one-shot.
#[test]
fn each_database_gets_a_migration_job_and_a_compose_one_shot_before_its_service() {
    let scratch = Scratch::new();
    scratch.run(&["new", "ws", "--example", "ecommerce"]).assert_code(0);
    let root = scratch.join("ws");
    let services = ["users", "products", "orders", "payments"];
    assert!(ECOMMERCE.matches("database = \"postgres\"").count() >= services.len());

    for service in services {
        let base = root.join(format!("deploy/k8s/base/{service}"));
        let job = &documents(&base.join("migration.yaml"))[0];
        assert_eq!(job["kind"].as_str(), Some("Job"));
        assert_eq!(
            job["metadata"]["name"].as_str(),
            Some(format!("{service}-migrate").as_str())
        );
        let pod = &job["spec"]["template"];
        assert_eq!(pod["spec"]["restartPolicy"].as_str(), Some("Never"));
        // Not selected by the service's Service, PDB or policies: a Job's pod would take traffic.
        assert_eq!(
            pod["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
            Some(format!("{service}-migrate").as_str())
        );
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["args"][0].as_str(), Some("migrate"));
        let deployment = &documents(&base.join("deployment.yaml"))[0];
        let app = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["image"], app["image"],
            "the Job migrates for the build the Deployment runs"
        );
        let secret = |c: &Yaml| {
            env(c, "DATABASE_URL")["valueFrom"]["secretKeyRef"]["name"]
                .as_str()
                .map(str::to_owned)
        };
        assert_eq!(secret(container), Some(format!("{service}-db-migrate")));
        assert_eq!(secret(app), Some(format!("{service}-database")));
        let config = std::fs::read_to_string(base.join("config.env")).unwrap();
        assert!(config.contains("\nDATABASE_MIGRATIONS=verify\n"), "{config}");
        let kustomization = std::fs::read_to_string(base.join("kustomization.yaml")).unwrap();
        assert!(kustomization.contains("  - migration.yaml\n"), "{kustomization}");
    }
    let prod = std::fs::read_to_string(root.join("deploy/k8s/overlays/prod/kustomization.yaml")).unwrap();
    assert!(prod.contains("create secret generic users-db-migrate"), "{prod}");
    let compose = &documents(&root.join("deploy/compose/compose.yaml"))[0]["services"];
    for service in services {
        let one_shot = &compose[format!("{service}-migrate").as_str()];
        assert_eq!(one_shot["command"][0].as_str(), Some("migrate"));
        assert_eq!(one_shot["restart"].as_str(), Some("no"));
        assert_eq!(one_shot["image"], compose[service]["image"]);
        assert_eq!(
            one_shot["environment"]["DATABASE_URL"],
            compose[service]["environment"]["DATABASE_URL"]
        );
        assert_eq!(
            one_shot["depends_on"][format!("{service}-db").as_str()]["condition"].as_str(),
            Some("service_healthy")
        );
        let after = &compose[service]["depends_on"][format!("{service}-migrate").as_str()]["condition"];
        assert_eq!(after.as_str(), Some("service_completed_successfully"));
        assert_eq!(
            compose[service]["environment"]["DATABASE_MIGRATIONS"].as_str(),
            Some("verify")
        );
    }
}

/// `release.sh` against a stand-in kubectl: the last release's Jobs go, then the apply (which
/// prunes Jobs too), then every Job is waited for, then the rollouts.
#[test]
fn a_release_replaces_the_migration_jobs_and_waits_for_them_before_the_rollouts() {
    let scratch = Scratch::new();
    scratch.run(&["new", "ws", "--example", "ecommerce"]).assert_code(0);
    let root = scratch.join("ws");
    let services = ["users", "products", "orders", "payments"];
    let release = std::fs::read_to_string(root.join("deploy/k8s/release.sh")).unwrap();
    let (delete, apply, wait, rollout) = (
        release
            .find("delete job --ignore-not-found")
            .expect("release.sh deletes the last Jobs"),
        release.find("kubectl apply -k release").unwrap(),
        release
            .find("wait \"job/$job\" --for=condition=complete")
            .expect("release.sh waits for the Jobs"),
        release.find("rollout status").unwrap(),
    );
    assert!(delete < apply && apply < wait && wait < rollout, "{release}");

    // Run against a stand-in kubectl: the old Jobs go, then the apply, then every Job is
    // waited for, then the rollouts.
    let digest = format!("sha256:{}", "0a".repeat(32));
    let images: Vec<String> = services
        .iter()
        .map(|s| format!("{s}=ghcr.io/acme/ws-{s}:c0ffee@{digest}"))
        .collect();
    let mut args = vec!["prod"];
    args.extend(images.iter().map(String::as_str));
    let (code, err, kubectl) = crate::k8s::release(&root, &args, "");
    assert_eq!(code, 0, "{err}");
    let calls: Vec<&str> = kubectl.lines().collect();
    let at = |prefix: &str| {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{kubectl}"))
    };
    let delete =
        at("-n ws delete job --ignore-not-found -l app.kubernetes.io/component=migration,app.kubernetes.io/part-of=ws");
    let apply = at("apply -k release");
    for service in services {
        let wait = at(&format!("-n ws wait job/{service}-migrate --for=condition=complete"));
        assert!(
            delete < apply && apply < wait && wait < at("-n ws rollout status"),
            "{kubectl}"
        );
    }
    assert!(calls[apply].contains("--prune-allowlist=batch/v1/Job"), "{kubectl}");
}

/// A SQLite service keeps applying its migrations at startup on Kubernetes (one pod owns the
/// volume), while compose still runs its one-shot first; `dev.sh` applies them at startup.
#[test]
fn a_sqlite_service_migrates_at_startup_on_kubernetes() {
    let scratch = Scratch::new();
    scratch.run(&["new", "ws", "--example", "minimal"]).assert_code(0);
    let root = scratch.join("ws");
    assert!(!root.join("deploy/k8s/base/notes/migration.yaml").exists());
    assert!(!root.join("deploy/postgres").exists());
    let config = std::fs::read_to_string(root.join("deploy/k8s/base/notes/config.env")).unwrap();
    assert!(config.contains("\nDATABASE_MIGRATIONS=apply\n"), "{config}");
    let release = std::fs::read_to_string(root.join("deploy/k8s/release.sh")).unwrap();
    assert!(!release.contains("delete job"), "{release}");
    let compose = &documents(&root.join("deploy/compose/compose.yaml"))[0]["services"];
    assert_eq!(compose["notes-migrate"]["volumes"], compose["notes"]["volumes"]);
    let dev = std::fs::read_to_string(root.join("dev.sh")).unwrap();
    assert!(
        !dev.contains("DATABASE_MIGRATIONS"),
        "dev.sh relies on the default, apply"
    );
}
