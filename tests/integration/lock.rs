//! `fleet.lock` against the workspace (issue #15, items 1-3): `check` is never green on a
//! workspace whose lock, files and manifest disagree; a lost or damaged lock is rebuilt from
//! the workspace without renumbering a proto field, replacing a migration or losing a hand
//! edit; a removed and re-added service or entity continues its migration history.

use crate::support::{MINIMAL, Scratch};

const PROTO: &str = "proto/hello/notes/v1/notes.proto";
const LIB: &str = "services/notes/src/lib.rs";

/// `fleet.lock` without the line naming the fleetwright version that wrote it.
pub(crate) fn lock_state(scratch: &Scratch) -> String {
    scratch
        .read("fleet.lock")
        .lines()
        .filter(|l| !l.starts_with("tool = "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `= N;` lines of a proto message, as written.
fn message(proto: &str, name: &str) -> String {
    let start = proto
        .find(&format!("\nmessage {name} {{"))
        .unwrap_or_else(|| panic!("no message {name}"));
    let end = proto[start..].find("\n}").expect("closed") + start;
    proto[start..end].to_owned()
}

/// MINIMAL with `body` removed (its number 3 reserved) and `pinned` added (number 7, after
/// `version`'s 6).
fn with_body_removed(scratch: &Scratch) {
    scratch.write(
        "fleet.toml",
        &MINIMAL.replace("body = \"text?\"", "pinned = { type = \"bool\", default = false }"),
    );
    scratch.run(&["generate"]).assert_code(0);
}

#[test]
fn without_its_lock_check_and_generate_fail_and_say_how_to_recover() {
    let scratch = Scratch::generated(MINIMAL);
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    let before = scratch.tree();
    for args in [&["check"][..], &["generate"], &["generate", "--dry-run"]] {
        let run = scratch.run(args);
        run.assert_code(1)
            .assert_stderr_contains("fleet.lock is missing, but this workspace was generated before")
            .assert_stderr_contains("fleetwright generate --recover-lock");
        assert!(!run.stderr.contains("--force"), "{}", run.transcript());
    }
    // Nor does add edit fleet.toml: a lock recovered after the edit could not tell the
    // files it changes from hand edits.
    scratch
        .run(&["add", "entity", "notes", "Tag", "label:string"])
        .assert_code(1)
        .assert_stderr_contains("fleet.lock is missing");
    assert_eq!(scratch.tree(), before, "a refused run wrote something");
}

#[test]
fn a_lost_lock_is_rebuilt_from_the_workspace_as_it_was() {
    let scratch = Scratch::generated(MINIMAL);
    with_body_removed(&scratch);
    let original = lock_state(&scratch);
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    let before = scratch.tree();
    let run = scratch.run(&["generate", "--recover-lock"]);
    run.assert_code(0).assert_stderr_contains("0 created, 0 updated");
    // SQL cannot tell `text?` from `string?` (both a nullable TEXT column): the removed
    // column's type reads back as the simplest of them, which renders the same SQL.
    let original = original.replace("type = \"text?\"", "type = \"string?\"");
    assert_eq!(
        lock_state(&scratch),
        original,
        "the rebuilt lock remembers something else"
    );
    let mut after = scratch.tree();
    after.remove("fleet.lock");
    let mut expected = before;
    expected.remove("fleet.lock");
    assert_eq!(after, expected, "recovery changed a file");
    scratch.run(&["check"]).assert_code(0);
    // A readable lock is not rebuilt.
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(2)
        .assert_stderr_contains("there is nothing to recover");
}

/// MINIMAL generated, then [`LIB`] edited by hand (the edited text returned) and the lock lost.
fn edited_and_lock_lost() -> (Scratch, String) {
    let scratch = Scratch::generated(MINIMAL);
    let edited = format!("{}// my fix\n", scratch.read(LIB));
    scratch.write(LIB, &edited);
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    (scratch, edited)
}

#[test]
fn recovery_reports_a_hand_edit_instead_of_overwriting_it() {
    let (scratch, edited) = edited_and_lock_lost();
    // Without the mirror, what fleetwright generated for the file is unknown.
    std::fs::remove_dir_all(scratch.join(".fleetwright")).unwrap();
    let run = scratch.run(&["generate", "--recover-lock"]);
    run.assert_code(1)
        .assert_stderr_contains("conflict: services/notes/src/lib.rs was edited by hand");
    assert_eq!(scratch.read(LIB), edited, "the hand edit was lost");
    assert!(scratch.exists("fleet.lock"));
    // From now on it is an ordinary hand edit: reported by check, kept and recorded by
    // generate.
    scratch
        .run(&["check"])
        .assert_code(1)
        .assert_stderr_contains("edited by hand: services/notes/src/lib.rs");
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("services/notes/src/lib.rs (edited by hand");
    assert_eq!(scratch.read(LIB), edited);
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn recovery_takes_a_hand_edits_base_from_the_mirror() {
    let (scratch, edited) = edited_and_lock_lost();
    // The mirror still holds what fleetwright generated: an ordinary hand edit, kept and
    // recorded.
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(0)
        .assert_stderr_contains("services/notes/src/lib.rs (edited by hand");
    assert_eq!(scratch.read(LIB), edited, "the hand edit was lost");
    scratch.run(&["check"]).assert_code(0);
    assert_eq!(scratch.read(LIB), edited);
}

#[test]
fn force_without_a_lock_never_renumbers_a_field_or_drops_a_migration() {
    let scratch = Scratch::generated(MINIMAL);
    with_body_removed(&scratch);
    let migrations = ["0001_init.sql", "0002_add_notes_pinned.sql"];
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    // A new field after the lock is lost: on main it took number 3, the removed `body`'s.
    scratch.write(
        "fleet.toml",
        &MINIMAL.replace(
            "body = \"text?\"",
            "pinned = { type = \"bool\", default = false }\nrank = { type = \"int32\", default = 0 }",
        ),
    );
    scratch.run(&["generate", "--force"]).assert_code(0);
    let note = message(&scratch.read(PROTO), "Note");
    for line in [
        "reserved 3;",
        "reserved \"body\";",
        "string title = 2;",
        "bool pinned = 7;",
        "int32 rank = 8;",
        "created_at = 4;",
    ] {
        assert!(note.contains(line), "`{line}` missing from\n{note}");
    }
    let lib = scratch.read(LIB);
    for file in migrations.iter().chain(&["0003_add_notes_rank.sql"]) {
        assert!(lib.contains(file), "{file} is not applied:\n{lib}");
        assert!(scratch.exists(&format!("services/notes/migrations/{file}")));
    }
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn a_damaged_lock_is_named_and_recovered() {
    let scratch = Scratch::generated(MINIMAL);
    let original = lock_state(&scratch);
    scratch.write("fleet.lock", &scratch.read("fleet.lock").replace("[files.", "[files"));
    for args in [&["check"][..], &["generate"]] {
        scratch
            .run(args)
            .assert_code(1)
            .assert_stderr_contains("fleet.lock is damaged and cannot be read")
            .assert_stderr_contains("--recover-lock");
    }
    let damaged = scratch.read("fleet.lock");
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(0)
        .assert_stderr_contains("kept the damaged lock as fleet.lock.damaged");
    assert_eq!(lock_state(&scratch), original, "the rebuilt lock differs");
    assert_eq!(
        scratch.read("fleet.lock.damaged"),
        damaged,
        "the damaged lock was not kept"
    );
    scratch.run(&["check"]).assert_code(0);

    // Damaged again: the first kept lock stays, the second is kept beside it.
    scratch.write("fleet.lock", "not a lock");
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(0)
        .assert_stderr_contains("kept the damaged lock as fleet.lock.damaged.2");
    assert_eq!(
        scratch.read("fleet.lock.damaged"),
        damaged,
        "the first kept lock was replaced"
    );
    assert_eq!(scratch.read("fleet.lock.damaged.2"), "not a lock");
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn a_proto_numbered_otherwise_than_the_lock_stops_every_run() {
    let scratch = Scratch::generated(MINIMAL);
    let proto = scratch.read(PROTO);
    // As if a past `generate --force` without the lock had renumbered it and was deployed.
    scratch.write(PROTO, &proto.replace("string title = 2;", "string title = 9;"));
    let before = scratch.tree();
    for args in [&["check"][..], &["generate"], &["generate", "--force"]] {
        scratch
            .run(args)
            .assert_code(1)
            .assert_stderr_contains("fleet.lock and the workspace disagree; nothing was written")
            .assert_stderr_contains(&format!(
                "{PROTO}: `title` of message `hello.notes.v1.Note` is 9 here, but 2 in fleet.lock"
            ));
    }
    assert_eq!(scratch.tree(), before);
}

#[test]
fn numbers_only_the_proto_remembers_are_taken_back_into_the_lock() {
    let scratch = Scratch::generated(MINIMAL);
    let stale = scratch.read("fleet.lock");
    with_body_removed(&scratch);
    // An older lock comes back (a bad merge): it does not know `pinned` = 6.
    scratch.write("fleet.lock", &stale);
    let check = scratch.run(&["check"]);
    check.assert_code(1).assert_stderr_contains("out of date: fleet.lock");
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("recovered: proto/hello/notes/v1/notes.proto");
    assert!(message(&scratch.read(PROTO), "Note").contains("bool pinned = 7;"));
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn check_fails_on_an_edited_or_unknown_migration() {
    let scratch = Scratch::generated(MINIMAL);
    let init = "services/notes/migrations/0001_init.sql";
    let original = scratch.read(init);
    scratch.write(init, &original.replace("\"title\" TEXT NOT NULL", "\"title\" TEXT"));
    scratch
        .run(&["check"])
        .assert_code(1)
        .assert_stderr_contains(&format!("error: {init}: migration 1 of `notes` was edited"));
    // generate keeps the file (it may be what a database applied) and fails too.
    scratch.run(&["generate"]).assert_code(1);
    scratch.write(init, &original);
    scratch.run(&["check"]).assert_code(0);
    let custom = "services/notes/migrations/0002_my_index.sql";
    scratch.write(custom, "CREATE INDEX notes_title ON notes (title);\n");
    scratch.run(&["check"]).assert_code(1).assert_stderr_contains(&format!(
        "error: {custom}: `0002_my_index.sql` is not in the migration history"
    ));
}

const TWO: &str = "[project]\nname = \"two\"\n\n[services.alpha]\ndatabase = \"sqlite\"\n\n[services.beta]\ndatabase = \"sqlite\"\n\n[services.beta.entities.Item]\ntitle = \"string\"\n";

/// `TWO` generated, `beta` removed (its migration files stay), then added back with another
/// entity, through the CLI.
fn beta_removed_and_added_back() -> Scratch {
    let scratch = Scratch::generated(TWO);
    scratch.run(&["remove", "service", "beta"]).assert_code(0);
    assert!(
        scratch.exists("services/beta/migrations/0001_init.sql"),
        "kept on removal"
    );
    scratch
        .run(&["add", "service", "beta", "--database", "sqlite"])
        .assert_code(0);
    scratch
        .run(&["add", "entity", "beta", "Widget", "size:int32"])
        .assert_code(0);
    scratch
}

#[test]
fn a_removed_and_re_added_service_continues_its_migration_history() {
    let scratch = beta_removed_and_added_back();
    let lib = "services/beta/src/lib.rs";
    // On main, beta reused its old 0001_init.sql (table `items`) and never created `widgets`.
    // Now its old table is retired (kept with its rows) and the new one created.
    let migrations: Vec<String> = (1..=2)
        .map(|v| {
            let name = std::fs::read_dir(scratch.join("services/beta/migrations"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(&format!("{v:04}_")))
                .unwrap_or_else(|| panic!("no migration {v}"));
            assert!(scratch.read(lib).contains(&name), "{name} is not applied");
            scratch.read(&format!("services/beta/migrations/{name}"))
        })
        .collect();
    assert!(migrations[0].contains("CREATE TABLE \"items\""));
    assert!(migrations[1].contains("CREATE TABLE \"widgets\""));
    assert!(!migrations[1].contains("DROP"), "{}", migrations[1]);
    assert!(scratch.read("fleet.lock").contains("retired_tables = [\"items\"]"));
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn remove_entity_retires_its_table_and_re_adding_uses_it_again() {
    let scratch = Scratch::generated(TWO);
    let manifest = scratch.read("fleet.toml");
    let run = scratch.run(&["remove", "entity", "beta", "Item"]);
    run.assert_code(0).assert_stderr_contains(
        "warning: `beta`: table `items` has no entity in fleet.toml any more: it is retired, its data kept; once no running release reads it, drop it with `fleetwright generate --drop beta.items`",
    );
    assert_eq!(
        scratch.read("fleet.toml"),
        manifest.replace("\n[services.beta.entities.Item]\ntitle = \"string\"\n", "")
    );
    assert!(!scratch.read("proto/two/beta/v1/beta.proto").contains("message Item"));
    // No migration: the table and its rows stay.
    assert!(!scratch.exists("services/beta/migrations/0002_drop_items.sql"));
    scratch.run(&["check"]).assert_code(0);
    scratch
        .run(&["add", "entity", "beta", "Item", "title:string"])
        .assert_code(0);
    // Added back with the same columns, the entity uses its kept table again.
    let lib = scratch.read("services/beta/src/lib.rs");
    assert!(lib.contains("0001_init.sql") && !lib.contains("0002_"), "{lib}");
    assert!(!scratch.read("fleet.lock").contains("retired"));
    // The re-added message does not reuse the numbers of the old one's fields.
    let item = message(&scratch.read("proto/two/beta/v1/beta.proto"), "Item");
    assert!(
        item.contains("reserved 1, 2, 3, 4, 5;") && item.contains("string title = 7;"),
        "{item}"
    );
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn remove_entity_refuses_while_a_reference_names_it() {
    let manifest = format!("{TWO}\n[services.beta.entities.Tag]\nitem = \"ref(Item)\"\n");
    let scratch = Scratch::generated(&manifest);
    let before = scratch.tree();
    scratch
        .run(&["remove", "entity", "beta", "Item"])
        .assert_code(2)
        .assert_stderr_contains("cannot remove `Item` from `beta`: entity `Tag` has `item = \"ref(Item)\"`")
        .assert_stderr_contains("help: remove those fields from fleet.toml first");
    assert_eq!(scratch.tree(), before);
    scratch
        .run(&["remove", "entity", "beta", "Itme"])
        .assert_code(2)
        .assert_stderr_contains("`beta` has no entity `Itme`");
}

/// The story of issue #15 to the end: the re-added service's own generated tests pass (on
/// main they failed, its table never being created). Builds a generated workspace: slow.
#[test]
#[ignore = "builds a generated workspace; run by .ci/run"]
fn a_re_added_service_passes_its_generated_tests() {
    let scratch = beta_removed_and_added_back();
    crate::support::cargo(scratch.path(), &["test", "-p", "beta"], &[]);
}

#[test]
fn the_ecommerce_lock_with_a_removed_enum_value_is_rebuilt_from_the_workspace() {
    let scratch = Scratch::generated(crate::support::ECOMMERCE);
    let without_draft = crate::support::ECOMMERCE.replace(
        "type = \"enum(draft, pending, paid, cancelled)\", read_only = true, default = \"draft\"",
        "type = \"enum(pending, paid, cancelled, refunded)\", replaced_values = { draft = \"pending\" }, read_only = true, default = \"pending\"",
    );
    scratch.write("fleet.toml", &without_draft);
    scratch.run(&["generate"]).assert_code(0);
    let proto = scratch.read("proto/shop/orders/v1/orders.proto");
    assert!(
        proto.contains("reserved 1;\n  ORDER_STATUS_UNSPECIFIED = 0;"),
        "{proto}"
    );
    let original = lock_state(&scratch);
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(0)
        .assert_stderr_contains(" 0 updated,");
    // Protos reserve a removed enum value's number, not its name: the name is what is lost.
    // The first migration's record of the column's type (as SQL, the same `TEXT`) is read
    // back from the check it made of the values (issue 14, item 2).
    let expected = original.replace(
        "[state.enums.\"shop.orders.v1.OrderStatus\"]\nreserved_numbers = [1]\nreserved_names = [\"draft\"]\n",
        "[state.enums.\"shop.orders.v1.OrderStatus\"]\nreserved_numbers = [1]\n",
    );
    assert!(original.contains("type = \"enum(draft, pending, paid, cancelled)\""));
    assert!(expected != original, "the lock no longer records the name");
    assert_eq!(lock_state(&scratch), expected, "the rebuilt lock differs");
    scratch.run(&["check"]).assert_code(0);
    // Adding the value back gives it a new number.
    // (`replaced_values` goes: `draft` is a value again.)
    let with_draft = without_draft
        .replace("refunded)", "refunded, draft)")
        .replace(", replaced_values = { draft = \"pending\" }", "");
    scratch.write("fleet.toml", &with_draft);
    scratch.run(&["generate"]).assert_code(0);
    assert!(
        scratch
            .read("proto/shop/orders/v1/orders.proto")
            .contains("ORDER_STATUS_DRAFT = 6;")
    );
}
