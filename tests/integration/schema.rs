//! Issue 14: no manifest change deletes stored data by itself. The migrations a manifest's
//! evolution writes are applied, with rows in the tables, to a real SQLite database and (under
//! CI) a real PostgreSQL server, and the rows are read back: a rename keeps the data, a removed
//! field or entity keeps its column or table until an explicit `--drop`, a new required field
//! takes the manifest's default, a removed enum value becomes its replacement, and the insert
//! the generated store runs still works against the migrated schema.

use std::path::Path;
use std::process::Command;

use crate::support::{Scratch, required_under_ci, tool};

const BEFORE: &str = r#"version = 1
[project]
name = "club"

[services.members]
database = "sqlite"

[services.members.entities.Member]
email = "string"
display_name = "string"
tier = "enum(basic, silver, gold)"
note = "text?"

[services.members.entities.Badge]
label = "string"
"#;

/// `display_name` renamed, `email` (required) and `note` removed, `silver` folded into
/// `gold`, a required `points` added with a default, and `Badge` removed.
const AFTER: &str = r#"version = 1
[project]
name = "club"

[services.members]
database = "sqlite"

[services.members.entities.Member]
full_name = { type = "string", renamed_from = "display_name" }
tier = { type = "enum(basic, gold)", replaced_values = { silver = "gold" } }
points = { type = "int32", default = 7 }
"#;

const MIGRATIONS: &str = "services/members/migrations";

/// A database the test applies migrations to and queries, through its command-line client
/// (`sqlite3` or `psql`), which reads SQL on standard input.
pub(crate) struct Database {
    client: Vec<String>,
}

impl Database {
    pub(crate) fn sqlite(file: &Path) -> Self {
        let client = ["sqlite3", "-bail", "-batch", "-noheader", "-list"].map(str::to_owned);
        Self {
            client: client
                .into_iter()
                .chain([file.to_string_lossy().into_owned()])
                .collect(),
        }
    }

    pub(crate) fn postgres(url: &str) -> Self {
        let client = [
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "-",
            "-d",
            url,
        ];
        Self {
            client: client.map(str::to_owned).into(),
        }
    }

    /// Runs `sql`, which must succeed; returns rows as `a|b` lines.
    pub(crate) fn execute(&self, sql: &str) -> String {
        self.run(sql).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Whether `sql` is refused.
    fn fails(&self, sql: &str) -> bool {
        self.run(sql).is_err()
    }

    /// Runs `sql` with the tests' stand-in values made real (see [`FIXTURE_ID`]), and reads
    /// them back as the tests wrote them.
    fn run(&self, sql: &str) -> Result<String, String> {
        let sql = fixture_values(sql);
        run(Command::new(&self.client[0]).args(&self.client[1..]), &sql).map(|out| short_ids(&out))
    }

    /// Whether this is the PostgreSQL database (the other is SQLite).
    fn is_postgres(&self) -> bool {
        self.client[0] == "psql"
    }
}

/// What the tests write as ids (`'m1'`: a letter and a digit) and times (`'t'`) go to the
/// databases as a uuid starting with this (then the letter and the digit in hex) and as one
/// timestamp, which PostgreSQL's native columns take.
const FIXTURE_ID: &str = "00000000-0000-7000-8000-00000000";
const FIXTURE_TIME: &str = "'2026-12-06T18:00:00Z'";

fn fixture_values(sql: &str) -> String {
    let mut out = sql.replace("'t'", FIXTURE_TIME);
    for letter in 'a'..='z' {
        for digit in '0'..='9' {
            let id = format!("{FIXTURE_ID}{:02x}0{digit}", letter as u32);
            out = out.replace(&format!("'{letter}{digit}'"), &format!("'{id}'"));
        }
    }
    out
}

/// `out` with the uuids of [`fixture_values`] written as the tests wrote them.
fn short_ids(out: &str) -> String {
    let mut out = out.to_owned();
    while let Some(start) = out.find(FIXTURE_ID) {
        let code = &out[start + FIXTURE_ID.len()..start + FIXTURE_ID.len() + 4];
        let letter = u8::from_str_radix(&code[..2], 16).map_or('?', char::from);
        let short = format!("{letter}{}", &code[3..]);
        out.replace_range(start..start + FIXTURE_ID.len() + 4, &short);
    }
    out
}

/// A migration file as the service's runtime applies it to `db`: without the lines marked
/// for the other database (SQLite leaves out foreign keys, checks and columns in PostgreSQL's
/// native types; PostgreSQL the same columns in SQLite's types).
pub(crate) fn for_database(db: &Database, sql: &str) -> String {
    let other = if db.is_postgres() {
        "-- SQLite only"
    } else {
        "-- PostgreSQL only"
    };
    let mut kept = String::new();
    for line in sql.lines().filter(|line| !line.ends_with(other)) {
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// Runs a database client with `sql` on its standard input; its output, or why it failed.
pub(crate) fn run(command: &mut Command, sql: &str) -> Result<String, String> {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("database client runs");
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{command:?} failed on\n{sql}\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The migration files in `dir`, in order, skipping the first `applied`.
fn new_migrations(dir: &Path, applied: usize) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .skip(applied)
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The INSERT the generated store runs for members on `db`, with its `$n` placeholders.
fn store_insert(scratch: &Scratch, db: &Database) -> String {
    let store = scratch.read("services/members/src/store.rs");
    let form = if db.is_postgres() {
        "postgres: r#\""
    } else {
        "sqlite: r#\""
    };
    let start = store
        .find(&format!("{form}INSERT INTO \"members\""))
        .expect("the members insert")
        + form.len();
    let end = store[start..].find("\"#").unwrap();
    store[start..start + end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The databases to migrate: SQLite in `dir`, and a fresh database on the PostgreSQL server
/// CI starts.
fn databases(dir: &Path) -> Vec<Database> {
    let mut databases = Vec::new();
    if tool("sqlite3").is_some() {
        databases.push(Database::sqlite(&dir.join("members.db")));
    }
    let server = std::env::var("FLEETWRIGHT_TEST_POSTGRES").ok();
    if let Some(server) = required_under_ci(
        server,
        "a PostgreSQL server in FLEETWRIGHT_TEST_POSTGRES (scripts/ci.sh)",
    ) {
        // One database per test: the tests of this binary run side by side.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("schema_{}_{next}", std::process::id());
        let create = format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};");
        Database::postgres(&server).execute(&create);
        databases.push(Database::postgres(&format!("{server}/{name}")));
    }
    databases
}

#[test]
fn schema_changes_keep_stored_data_on_sqlite_and_postgresql() {
    let scratch = Scratch::generated(BEFORE);
    let dir = tempfile::tempdir().unwrap();
    let databases = databases(dir.path());

    let first = new_migrations(&scratch.join(MIGRATIONS), 0);
    assert_eq!(first.len(), 1);
    for db in &databases {
        db.execute(&for_database(db, &first[0]));
        db.execute(
            "INSERT INTO members (id, email, display_name, tier, note, created_at, updated_at) \
             VALUES ('m1', 'ann@example.com', 'Ann', 'silver', 'likes tea', 't', 't'); \
             INSERT INTO badges (id, label, created_at, updated_at) VALUES ('b1', 'founder', 't', 't');",
        );
    }

    // The evolved manifest: one migration, no DROP, and a warning naming what is retired.
    scratch.write("fleet.toml", AFTER);
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("column `members.email` is no longer in fleet.toml")
        .assert_stderr_contains("fleetwright generate --drop members.members.note")
        .assert_stderr_contains("table `badges` has no entity in fleet.toml any more");
    let second = new_migrations(&scratch.join(MIGRATIONS), 1);
    assert_eq!(second.len(), 1, "one migration for the whole change");
    assert!(
        !second[0].contains("DROP COLUMN") && !second[0].contains("DROP TABLE"),
        "{}",
        second[0]
    );
    assert!(
        second[0].contains("RENAME COLUMN \"display_name\" TO \"full_name\""),
        "{}",
        second[0]
    );
    let lock = scratch.read("fleet.lock");
    assert!(lock.contains("retired = true"), "{lock}");

    // The retired required column is filled by the store's insert, which must run as it is.
    let sqlite = Database::sqlite(Path::new("unused"));
    let insert = store_insert(&scratch, &sqlite);
    assert!(
        insert.contains("\"version\", \"email\") VALUES ($1, $2, $3, $4, $5, $6, 1, '')"),
        "{insert}"
    );
    for db in &databases {
        db.execute(&for_database(db, &second[0]));
        assert_eq!(
            db.execute("SELECT full_name, tier, points, note, email FROM members"),
            "Ann|gold|7|likes tea|ann@example.com",
            "the rename, the replaced value and the default kept or made the data, and the \
             retired columns still hold theirs"
        );
        assert_eq!(db.execute("SELECT label FROM badges"), "founder");
    }
    // The store's insert against the migrated schema, parameters inlined as the driver binds.
    let values = ["'m2'", "'Bob'", "'basic'", "3", "'t'", "'t'"];
    for db in &databases {
        let mut sql = store_insert(&scratch, db);
        for (index, value) in values.iter().enumerate().rev() {
            sql = sql.replace(&format!("${}", index + 1), value);
        }
        db.execute(&sql);
        assert_eq!(
            db.execute("SELECT full_name, email, COALESCE(note, 'none') FROM members WHERE id = 'm2'"),
            "Bob||none"
        );
    }

    // Dropping is a separate, explicit step, refused for anything not retired.
    scratch
        .run(&["generate", "--drop", "members.members.full_name"])
        .assert_code(2)
        .assert_stderr_contains("its field is still in fleet.toml");
    scratch
        .run(&["generate", "--drop", "members.members.note", "--drop", "members.badges"])
        .assert_code(0)
        .assert_stderr_contains("drops column `members.note` and its data");
    let third = new_migrations(&scratch.join(MIGRATIONS), 2);
    assert_eq!(third.len(), 1);
    assert!(third[0].contains("DROP COLUMN \"note\"") && third[0].contains("DROP TABLE \"badges\""));
    for db in &databases {
        db.execute(&for_database(db, &third[0]));
        assert!(db.fails("SELECT note FROM members"), "the dropped column is gone");
        assert!(db.fails("SELECT label FROM badges"), "the dropped table is gone");
        assert_eq!(
            db.execute("SELECT email FROM members WHERE id = 'm1'"),
            "ann@example.com"
        );
    }
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn a_schema_change_that_needs_a_decision_writes_nothing() {
    let scratch = Scratch::generated(BEFORE);
    // A change that needs a decision stops before anything is written, pointing at the field.
    scratch.write(
        "fleet.toml",
        &BEFORE.replace("note = \"text?\"\n", "note = \"text?\"\nlevel = \"int32\"\n"),
    );
    let manifest_written = scratch.tree();
    scratch
        .run(&["generate"])
        .assert_code(2)
        .assert_stderr_contains(
            "error[E029]: new required field `level` needs a default for the rows `members` already has",
        )
        .assert_stderr_contains("--> fleet.toml:13:1");
    assert_eq!(scratch.tree(), manifest_written, "a refused generate wrote something");
}

/// Two branches each add a field, so each writes its own migration 2; merged, fleet.lock (as the
/// merge resolved it) names one of them. `check` stops and says which file to delete; doing
/// that, `generate` writes the other branch's change again as migration 3.
#[test]
fn migrations_added_on_two_branches_are_caught_and_renumbered() {
    let with = |field: &str| {
        BEFORE.replace(
            "note = \"text?\"\n",
            &format!("note = \"text?\"\n{field} = \"text?\"\n"),
        )
    };
    // Branch a and branch b, from the same generated base (generation is deterministic).
    let a = Scratch::generated(BEFORE);
    a.write("fleet.toml", &with("nickname"));
    a.run(&["generate"]).assert_code(0);
    let a_file = "services/members/migrations/0002_add_members_nickname.sql";
    let a_migration = a.read(a_file);
    let scratch = Scratch::generated(BEFORE);
    scratch.write("fleet.toml", &with("pronouns"));
    scratch.run(&["generate"]).assert_code(0);
    assert!(scratch.exists("services/members/migrations/0002_add_members_pronouns.sql"));
    // The merge: both fields, both files, b's lock.
    scratch.write(
        "fleet.toml",
        &BEFORE.replace(
            "note = \"text?\"\n",
            "note = \"text?\"\nnickname = \"text?\"\npronouns = \"text?\"\n",
        ),
    );
    scratch.write(a_file, &a_migration);

    scratch
        .run(&["check"])
        .assert_code(1)
        .assert_stderr_contains(
            "two migrations of `members` are numbered 2: `0002_add_members_pronouns.sql` (in fleet.lock) and this one",
        )
        .assert_stderr_contains("delete it and run `fleetwright generate`");
    std::fs::remove_file(scratch.join(a_file)).unwrap();
    scratch.run(&["generate"]).assert_code(0);
    let third = scratch.read("services/members/migrations/0003_add_members_nickname.sql");
    assert!(third.contains("ADD COLUMN \"nickname\" TEXT;"), "{third}");
    scratch.run(&["check"]).assert_code(0);
}

/// Issue 12 (queries) and 14 (an index per reference): a `ref(…)` field has an index from the
/// start; `filter = true` added to a stored field writes one migration creating its index, and
/// removing it one dropping the index, each applied to real databases holding rows; a lost lock
/// reads both back exactly.
#[test]
fn a_filter_adds_its_index_and_removing_it_drops_the_index() {
    const VISITS: &str = r#"version = 1
[project]
name = "club"

[services.members]
database = "sqlite"

[services.members.entities.Member]
email = "string"

[services.members.entities.Visit]
member_id = "ref(Member)"
"#;
    let scratch = Scratch::generated(VISITS);
    let dir = tempfile::tempdir().unwrap();
    let databases = databases(dir.path());
    let first = new_migrations(&scratch.join(MIGRATIONS), 0);
    assert!(
        first[0].contains("CREATE INDEX \"visits_member_id_idx\" ON \"visits\" (\"member_id\");"),
        "{}",
        first[0]
    );
    for db in &databases {
        db.execute(&for_database(db, &first[0]));
        db.execute(
            "INSERT INTO members (id, email, created_at, updated_at) VALUES ('m1', 'ann@example.com', 't', 't');",
        );
    }

    scratch.write(
        "fleet.toml",
        &VISITS.replace("email = \"string\"", "email = { type = \"string\", filter = true }"),
    );
    scratch.run(&["generate"]).assert_code(0);
    let added = new_migrations(&scratch.join(MIGRATIONS), 1);
    assert_eq!(added.len(), 1, "one migration for the filter");
    assert!(
        added[0]
            .trim_end()
            .ends_with("\nCREATE INDEX \"members_email_idx\" ON \"members\" (\"email\");"),
        "{}",
        added[0]
    );
    assert!(scratch.exists("services/members/migrations/0002_index_members_email_idx.sql"));
    for db in &databases {
        db.execute(&for_database(db, &added[0]));
    }
    scratch.run(&["check"]).assert_code(0);

    scratch.write("fleet.toml", VISITS);
    scratch.run(&["generate"]).assert_code(0);
    let removed = new_migrations(&scratch.join(MIGRATIONS), 2);
    assert_eq!(removed.len(), 1, "one migration dropping the index");
    assert!(
        removed[0].trim_end().ends_with("\nDROP INDEX \"members_email_idx\";"),
        "{}",
        removed[0]
    );
    for db in &databases {
        // Only an index that exists can be dropped: the one the migration before created.
        db.execute(&for_database(db, &removed[0]));
        assert_eq!(
            db.execute("SELECT email FROM members"),
            "ann@example.com",
            "an index is no data"
        );
    }
    scratch.run(&["check"]).assert_code(0);

    recovers_the_lock_exactly(&scratch);
}

/// Without the lock, the migrations read back exactly: the rebuilt lock is the same, and
/// there is nothing to write.
fn recovers_the_lock_exactly(scratch: &Scratch) {
    let lock = crate::lock::lock_state(scratch);
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(0)
        .assert_stderr_contains("0 created, 0 updated");
    assert_eq!(
        crate::lock::lock_state(scratch),
        lock,
        "the rebuilt lock remembers something else"
    );
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("0 created, 0 updated");
}

/// `Member` as it is stored before the rename: a unique `email`, a filtered `tier`.
const MEMBERS: &str = r#"version = 1
[project]
name = "club"

[services.members]
database = "sqlite"

[services.members.entities.Member]
email = { type = "string", unique = true }
display_name = "string"
tier = { type = "enum(basic, gold)", filter = true }
"#;

/// `Member` renamed `Patron`, `display_name` renamed `full_name` in the same step.
const PEOPLE: &str = r#"version = 1
[project]
name = "club"

[services.members]
database = "sqlite"

[services.members.entities.Patron]
renamed_from = "Member"
email = { type = "string", unique = true }
full_name = { type = "string", renamed_from = "display_name" }
tier = { type = "enum(basic, gold)", filter = true }
"#;

/// The indexes of `table` the migrations made (not the primary key's), by name.
fn indexes(db: &Database, table: &str) -> String {
    let sql = if db.is_postgres() {
        format!(
            "SELECT indexname FROM pg_indexes WHERE tablename = '{table}' AND indexname NOT LIKE '%pkey' ORDER BY 1;"
        )
    } else {
        format!(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY 1;"
        )
    };
    db.execute(&sql).replace('\n', ",")
}

/// Issue 14: an entity renamed with `renamed_from` keeps its table's rows (a field renamed in
/// the same step keeps its column's), on real SQLite and PostgreSQL; its indexes carry the new
/// table's name, so a later migration finds them; generating again writes nothing, and a lost
/// lock reads the rename back.
#[test]
fn an_entity_rename_keeps_its_rows_on_sqlite_and_postgresql() {
    let scratch = Scratch::generated(MEMBERS);
    let dir = tempfile::tempdir().unwrap();
    let databases = databases(dir.path());
    let first = new_migrations(&scratch.join(MIGRATIONS), 0);
    for db in &databases {
        db.execute(&for_database(db, &first[0]));
        db.execute(
            "INSERT INTO members (id, email, display_name, tier, created_at, updated_at, version) \
             VALUES ('m1', 'ann@example.com', 'Ann', 'gold', 't', 't', 3);",
        );
    }

    scratch.write("fleet.toml", PEOPLE);
    scratch
        .run(&["generate", "--dry-run"])
        .assert_code(0)
        .assert_stderr_contains("renames table `members` to `patrons`, keeping its rows");
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains(
            "`members`: migration 0002_rename_members_to_patrons.sql renames table `members` to `patrons`, keeping its rows, columns and versions",
        )
        .assert_stderr_contains("renames column `patrons.display_name` to `full_name`, keeping its data")
        .assert_stderr_contains("a release still running the old build fails on the old name");
    let second = new_migrations(&scratch.join(MIGRATIONS), 1);
    assert_eq!(second.len(), 1, "one migration for the whole rename");
    assert!(
        !second[0].contains("DROP TABLE") && !second[0].contains("CREATE TABLE"),
        "{}",
        second[0]
    );
    assert!(
        second[0].contains("ALTER TABLE \"members\" RENAME TO \"patrons\";"),
        "{}",
        second[0]
    );
    let lock = scratch.read("fleet.lock");
    assert!(!lock.contains("retired"), "nothing is retired by a rename\n{lock}");
    assert!(
        scratch
            .read("services/members/src/store.rs")
            .contains("INSERT INTO \"patrons\"")
    );
    // The message keeps its numbers under its new name (the renamed field's old one reserved,
    // as for any field rename), and its enum its values'.
    let proto = scratch.read("proto/club/members/v1/members.proto");
    for line in [
        "string email = 2;",
        "reserved \"display_name\";",
        "PatronTier tier = 4;",
        "PATRON_TIER_GOLD = 2;",
    ] {
        assert!(proto.contains(line), "{line}\n{proto}");
    }
    for db in &databases {
        db.execute(&for_database(db, &second[0]));
        assert_eq!(
            db.execute("SELECT id, email, full_name, tier, version FROM patrons"),
            "m1|ann@example.com|Ann|gold|3",
            "the rows, the renamed column and the versions are kept"
        );
        assert!(db.fails("SELECT id FROM members"), "the old name is gone");
        assert_eq!(indexes(db, "patrons"), "patrons_email_key,patrons_tier_idx");
        assert!(
            db.fails(
                "INSERT INTO patrons (id, email, full_name, tier, created_at, updated_at) \
                 VALUES ('m2', 'ann@example.com', 'Another Ann', 'basic', 't', 't');"
            ),
            "the unique index holds under its new name"
        );
    }

    stable_after_the_rename(&scratch);
    // A later change finds the indexes under the new name: dropping them works on both.
    scratch.write(
        "fleet.toml",
        &PEOPLE
            .replace("{ type = \"string\", unique = true }", "\"string\"")
            .replace(
                "{ type = \"enum(basic, gold)\", filter = true }",
                "\"enum(basic, gold)\"",
            ),
    );
    scratch.run(&["generate"]).assert_code(0);
    let third = new_migrations(&scratch.join(MIGRATIONS), 2);
    assert_eq!(
        third[0]
            .lines()
            .filter(|l| l.starts_with("DROP INDEX"))
            .collect::<Vec<_>>(),
        ["DROP INDEX \"patrons_email_key\";", "DROP INDEX \"patrons_tier_idx\";"]
    );
    for db in &databases {
        db.execute(&for_database(db, &third[0]));
        assert_eq!(indexes(db, "patrons"), "");
        assert_eq!(db.execute("SELECT full_name FROM patrons"), "Ann");
    }
    scratch.run(&["check"]).assert_code(0);
}

/// After a rename, generating again (with `renamed_from` still written) writes nothing, and a
/// lost lock is rebuilt from the files, rename included, to the same history.
fn stable_after_the_rename(scratch: &Scratch) {
    let lock = scratch.read("fleet.lock");
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("0 created, 0 updated");
    assert_eq!(scratch.read("fleet.lock"), lock, "the lock after the rename is stable");
    scratch.run(&["check"]).assert_code(0);

    // A lost lock is rebuilt from the files, rename included: nothing to write.
    let history = |lock: &str| {
        let sections: Vec<&str> = lock
            .split("\n[")
            .filter(|s| s.starts_with("state.migrations"))
            .collect();
        assert!(!sections.is_empty(), "{lock}");
        sections.join("\n[")
    };
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(0)
        .assert_stderr_contains("0 created, 0 updated");
    assert_eq!(history(&scratch.read("fleet.lock")), history(&lock));
}

/// Issue 14, item 2: a unique key and an index over several fields, declared on the entity,
/// are created by the next migration on databases holding rows; the key then refuses a second
/// record with the same values in all its fields (and only then), and removing the key drops
/// its index; a lost lock reads both back exactly.
#[test]
fn a_unique_key_over_several_fields_refuses_a_duplicate_and_follows_the_manifest() {
    const PAYMENTS: &str = r#"version = 1
[project]
name = "club"

[services.members]
database = "sqlite"

[services.members.entities.Payment]
order_id = "uuid"
kind = "enum(charge, refund)"
amount_cents = "int64"
"#;
    let keyed = format!("{PAYMENTS}unique = [[\"order_id\", \"kind\"]]\nindexes = [[\"order_id\", \"created_at\"]]\n");
    let scratch = Scratch::generated(PAYMENTS);
    let dir = tempfile::tempdir().unwrap();
    let databases = databases(dir.path());
    let insert = |id: &str, order: &str, kind: &str| {
        format!(
            "INSERT INTO payments (id, order_id, kind, amount_cents, created_at, updated_at) \
             VALUES ('{id}', '{order}', '{kind}', 100, 't', 't');"
        )
    };
    let first = new_migrations(&scratch.join(MIGRATIONS), 0);
    for db in &databases {
        db.execute(&for_database(db, &first[0]));
        db.execute(&insert("p1", "o1", "charge"));
        db.execute(&insert("p2", "o1", "refund"));
    }

    scratch.write("fleet.toml", &keyed);
    // The key goes on a table that holds rows: `generate` says so before a deploy fails on
    // duplicates, with the query that finds them, which both databases run (and find none).
    let duplicates =
        r#"SELECT "order_id", "kind", COUNT(*) FROM "payments" GROUP BY "order_id", "kind" HAVING COUNT(*) > 1"#;
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("makes `payments_order_id_kind_key` unique on `payments`, which may hold rows already")
        .assert_stderr_contains(duplicates);
    for db in &databases {
        assert_eq!(db.execute(&format!("{duplicates};")), "");
    }
    let added = new_migrations(&scratch.join(MIGRATIONS), 1);
    assert_eq!(added.len(), 1, "one migration for the key and the index");
    assert!(
        added[0].contains(
            "CREATE UNIQUE INDEX \"payments_order_id_kind_key\" ON \"payments\" (\"order_id\", \"kind\");\n\
             CREATE INDEX \"payments_order_id_created_at_idx\" ON \"payments\" (\"order_id\", \"created_at\");"
        ),
        "{}",
        added[0]
    );
    for db in &databases {
        db.execute(&for_database(db, &added[0]));
        assert!(
            db.fails(&insert("p3", "o1", "charge")),
            "a second charge of one order is refused"
        );
        db.execute(&insert("p4", "o2", "charge"));
        assert_eq!(db.execute("SELECT COUNT(*) FROM payments"), "3");
    }
    scratch.run(&["check"]).assert_code(0);

    recovers_the_lock_exactly(&scratch);

    // The key removed: its index goes, and the duplicate is stored.
    scratch.write(
        "fleet.toml",
        &format!("{PAYMENTS}indexes = [[\"order_id\", \"created_at\"]]\n"),
    );
    scratch.run(&["generate"]).assert_code(0);
    let removed = new_migrations(&scratch.join(MIGRATIONS), 2);
    assert_eq!(
        removed[0]
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            .collect::<Vec<_>>(),
        ["DROP INDEX \"payments_order_id_kind_key\";"]
    );
    for db in &databases {
        db.execute(&for_database(db, &removed[0]));
        db.execute(&insert("p3", "o1", "charge"));
    }
    scratch.run(&["check"]).assert_code(0);
}

/// Issue 14, item 2: on PostgreSQL a `ref(…)` field is a foreign key and an enum field has a
/// check of its values, both following the manifest on a database holding rows: a visit of a
/// member that does not exist, deleting a member a visit refers to, and a kind outside the enum
/// are refused; a new enum value is accepted once its migration ran; a retired ref field leaves
/// no foreign key to refuse a delete; a lost lock reads them all back. SQLite, which cannot add
/// a constraint to a table it has, applies the same files without them.
#[test]
fn references_and_enum_values_are_constraints_on_postgresql() {
    const VISITS: &str = r#"version = 1
[project]
name = "club"

[services.members]
database = "sqlite"

[services.members.entities.Member]
email = "string"

[services.members.entities.Visit]
member_id = "ref(Member)"
kind = "enum(walk, run)"
"#;
    let scratch = Scratch::generated(VISITS);
    let dir = tempfile::tempdir().unwrap();
    let databases = databases(dir.path());
    let visit = |id: &str, member: &str, kind: &str| {
        format!(
            "INSERT INTO visits (id, member_id, kind, created_at, updated_at) \
             VALUES ('{id}', '{member}', '{kind}', 't', 't');"
        )
    };
    let first = new_migrations(&scratch.join(MIGRATIONS), 0);
    assert!(
        first[0].contains(
            "ALTER TABLE \"visits\" ADD CONSTRAINT \"visits_member_id_fkey\" FOREIGN KEY (\"member_id\") REFERENCES \"members\" (\"id\") ON DELETE RESTRICT; -- PostgreSQL only\n\
             ALTER TABLE \"visits\" ADD CONSTRAINT \"visits_kind_check\" CHECK (\"kind\" IN ('walk', 'run')); -- PostgreSQL only"
        ),
        "{}",
        first[0]
    );
    for db in &databases {
        db.execute(&for_database(db, &first[0]));
        db.execute(
            "INSERT INTO members (id, email, created_at, updated_at) VALUES ('m1', 'ann@example.com', 't', 't'), \
             ('m2', 'bob@example.com', 't', 't');",
        );
        db.execute(&visit("v1", "m1", "walk"));
        if db.is_postgres() {
            assert!(db.fails(&visit("v2", "nobody", "walk")), "a visit of no member");
            assert!(
                db.fails("DELETE FROM members WHERE id = 'm1'"),
                "a member a visit refers to"
            );
            assert!(db.fails(&visit("v2", "m1", "swim")), "a kind outside the enum");
            db.execute("DELETE FROM members WHERE id = 'm2'");
        }
    }

    // A new value: the check is replaced (on PostgreSQL only, the rest has nothing to do).
    scratch.write(
        "fleet.toml",
        &VISITS.replace("enum(walk, run)", "enum(walk, run, swim)"),
    );
    scratch.run(&["generate"]).assert_code(0);
    let swim = new_migrations(&scratch.join(MIGRATIONS), 1);
    assert!(scratch.exists("services/members/migrations/0002_constraints.sql"));
    for db in &databases {
        db.execute(&for_database(db, &swim[0]));
        db.execute(&visit("v2", "m1", "swim"));
    }
    scratch.run(&["check"]).assert_code(0);
    recovers_the_lock_exactly(&scratch);

    // The ref field removed: its column stays with its data, its foreign key goes.
    let retired = VISITS
        .replace("member_id = \"ref(Member)\"\n", "")
        .replace("enum(walk, run)", "enum(walk, run, swim)");
    scratch.write("fleet.toml", &retired);
    scratch.run(&["generate"]).assert_code(0);
    let dropped = new_migrations(&scratch.join(MIGRATIONS), 2);
    assert!(
        dropped[0].contains("ALTER TABLE \"visits\" DROP CONSTRAINT \"visits_member_id_fkey\"; -- PostgreSQL only"),
        "{}",
        dropped[0]
    );
    for db in &databases {
        db.execute(&for_database(db, &dropped[0]));
        db.execute("DELETE FROM members WHERE id = 'm1'");
        assert_eq!(db.execute("SELECT member_id FROM visits WHERE id = 'v1'"), "m1");
    }
    scratch.run(&["check"]).assert_code(0);
}
