//! The regeneration rules that protect users' work, through the real binary.

use crate::support::{MINIMAL, Scratch};

#[test]
fn a_second_generate_touches_no_file() {
    let scratch = Scratch::generated(MINIMAL);
    let before = scratch.tree();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = scratch.run(&["generate"]);
    run.assert_code(0).assert_stderr_contains("0 created, 0 updated");
    assert_eq!(scratch.tree(), before, "bytes or modification times changed");
    scratch.run(&["check"]).assert_code(0);
}

/// Without a base (the mirror deleted, and the user's edit touching the line fleetwright
/// changes, so it cannot be found by its hash), the edit cannot be merged: it is kept and
/// reported. Merges with a base are in `merge.rs`.
#[test]
fn a_hand_edited_managed_file_without_a_base_survives_and_is_reported() {
    let scratch = Scratch::generated(MINIMAL);
    let lib = "services/notes/src/lib.rs";
    let edited = scratch
        .read(lib)
        .replace("Keeps notes.", "Keeps notes. Edited by hand.");
    scratch.write(lib, &edited);
    std::fs::remove_dir_all(scratch.join(".fleetwright")).unwrap();
    // A manifest change that rewrites the same line.
    scratch.write("fleet.toml", &MINIMAL.replace("Keeps notes", "Keeps short notes"));
    let run = scratch.run(&["generate"]);
    run.assert_code(1)
        .assert_stderr_contains("conflict: services/notes/src/lib.rs was edited by hand since it was generated, and what fleetwright generated then is not recorded");
    assert_eq!(scratch.read(lib), edited, "the edit was lost");
    // Every other file was still brought up to date.
    assert!(scratch.read("services/notes/Cargo.toml").contains("Keeps short notes"));
    // check reports the conflict as drift; --force overwrites.
    scratch.run(&["check"]).assert_code(1);
    scratch.run(&["generate", "--force"]).assert_code(0);
    assert!(scratch.read(lib).contains("Keeps short notes"));
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn check_fails_after_a_manual_edit_and_shows_a_diff() {
    let scratch = Scratch::generated(MINIMAL);
    let path = "services/notes/src/config.rs";
    scratch.write(path, &format!("{}// extra\n", scratch.read(path)));
    let run = scratch.run(&["check"]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("+// extra") || run.stdout.contains("-// extra"),
        "{}",
        run.stdout
    );
    run.assert_stderr_contains("edited by hand: services/notes/src/config.rs");
}

#[test]
fn scaffold_files_are_never_rewritten() {
    let scratch = Scratch::generated(MINIMAL);
    let logic = "services/notes/src/logic.rs";
    scratch.write(logic, "// my business logic\npub struct Logic;\n");
    scratch.write(
        "fleet.toml",
        &MINIMAL.replace(
            "title = \"string\"",
            "title = \"string\"\npinned = { type = \"bool\", default = false }",
        ),
    );
    scratch.run(&["generate"]).assert_code(0);
    scratch.run(&["generate", "--force"]).assert_code(0);
    assert_eq!(scratch.read(logic), "// my business logic\npub struct Logic;\n");
}

#[test]
fn a_deleted_scaffold_file_is_created_again() {
    let scratch = Scratch::generated(MINIMAL);
    std::fs::remove_file(scratch.join("services/notes/src/logic.rs")).unwrap();
    scratch.run(&["check"]).assert_code(1);
    scratch.run(&["generate"]).assert_code(0);
    assert!(scratch.exists("services/notes/src/logic.rs"));
}

const TWO: &str =
    "[project]\nname = \"two\"\n[services.alpha]\ndatabase = \"sqlite\"\n[services.beta]\ndatabase = \"none\"\n";
/// `TWO` after `beta` was removed from the manifest.
const TWO_WITHOUT_BETA: &str = "[project]\nname = \"two\"\n[services.alpha]\ndatabase = \"sqlite\"\n";

/// A service's `Cargo.toml` with a dependency the user added inside its dependencies region.
fn with_user_dependency(cargo_toml: &str) -> String {
    cargo_toml.replace(
        "# fleetwright:user-begin dependencies\n",
        "# fleetwright:user-begin dependencies\nrand = \"0.9\"\n",
    )
}

#[test]
fn removing_a_service_deletes_its_untouched_files_and_keeps_user_code() {
    let scratch = Scratch::generated(TWO);
    scratch.write("services/beta/src/logic.rs", "// mine\n");
    scratch.write("fleet.toml", TWO_WITHOUT_BETA);
    let run = scratch.run(&["generate"]);
    run.assert_code(0);
    assert!(!scratch.exists("services/beta/src/lib.rs"));
    assert!(!scratch.exists("services/beta/Cargo.toml"));
    assert_eq!(scratch.read("services/beta/src/logic.rs"), "// mine\n");
    run.assert_stderr_contains("kept      services/beta/src/logic.rs");
    assert!(!scratch.read("Cargo.toml").contains("services/beta"));
    assert!(!scratch.read("fleet.lock").contains("services/beta"));
    assert!(
        !scratch.exists(".fleetwright/base/services/beta"),
        "the bases go with their files"
    );
    assert!(scratch.exists(".fleetwright/base/services/alpha/src/lib.rs"));
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn removing_a_service_reports_its_edited_files() {
    let scratch = Scratch::generated(TWO);
    let lib = "services/beta/src/lib.rs";
    scratch.write(lib, &format!("{}// edited\n", scratch.read(lib)));
    scratch.write("fleet.toml", TWO_WITHOUT_BETA);
    let run = scratch.run(&["generate"]);
    run.assert_code(1)
        .assert_stderr_contains("services/beta/src/lib.rs is no longer generated, but was edited by hand");
    assert!(scratch.exists(lib));
    assert!(!scratch.exists("services/beta/Cargo.toml"), "untouched files still go");
    scratch.run(&["generate", "--force"]).assert_code(0);
    assert!(!scratch.exists(lib));
}

/// Issue #6 (found while writing the property test): a removed service's `Cargo.toml` whose
/// only edit was inside its dependencies region hashed as untouched and was deleted.
#[test]
fn removing_a_service_keeps_a_file_with_lines_in_its_user_regions() {
    let scratch = Scratch::generated(TWO);
    let cargo = "services/beta/Cargo.toml";
    let text = with_user_dependency(&scratch.read(cargo));
    scratch.write(cargo, &text);
    scratch.write("fleet.toml", TWO_WITHOUT_BETA);
    let run = scratch.run(&["generate"]);
    run.assert_code(1)
        .assert_stderr_contains("services/beta/Cargo.toml is no longer generated, but was edited by hand");
    assert_eq!(scratch.read(cargo), text);
    assert!(!scratch.exists("services/beta/src/lib.rs"), "untouched files still go");
    scratch.run(&["generate", "--force"]).assert_code(0);
    assert!(!scratch.exists(cargo));
}

#[test]
fn user_regions_survive_regeneration() {
    let scratch = Scratch::generated(MINIMAL);
    let cargo = "services/notes/Cargo.toml";
    let text = with_user_dependency(&scratch.read(cargo));
    scratch.write(cargo, &text);
    scratch.run(&["check"]).assert_code(0);
    scratch.write("fleet.toml", &MINIMAL.replace("Keeps notes", "Keeps all notes"));
    scratch.run(&["generate"]).assert_code(0);
    let after = scratch.read(cargo);
    assert!(
        after.contains("rand = \"0.9\"") && after.contains("Keeps all notes"),
        "{after}"
    );
}

/// Issue #6 (found by the property test): the generated README mentions the region markers
/// in its prose, which was taken for a region left open to the end of the file, so a hand
/// edit below it was invisible to the hash and silently overwritten.
#[test]
fn a_hand_edit_below_a_mentioned_marker_is_kept() {
    let scratch = Scratch::generated(MINIMAL);
    assert!(
        scratch
            .read("README.md")
            .contains("`fleetwright:user-begin dependencies`")
    );
    let edited = format!("{}my notes\n", scratch.read("README.md"));
    scratch.write("README.md", &edited);
    scratch.write("fleet.toml", &MINIMAL.replace("Keeps notes", "Keeps short notes"));
    let run = scratch.run(&["generate"]);
    run.assert_code(0).assert_stderr_contains("merged    README.md");
    let readme = scratch.read("README.md");
    assert!(
        readme.ends_with("my notes\n") && readme.contains("Keeps short notes"),
        "{readme}"
    );
}

#[test]
fn a_file_fleetwright_did_not_write_is_not_overwritten() {
    let scratch = Scratch::with_manifest(MINIMAL);
    scratch.write("README.md", "# my own readme\n");
    let run = scratch.run(&["generate"]);
    run.assert_code(1)
        .assert_stderr_contains("conflict: README.md exists and was not generated by fleetwright");
    assert_eq!(scratch.read("README.md"), "# my own readme\n");
    assert!(scratch.exists("services/notes/src/lib.rs"));
}

#[test]
fn dry_run_writes_nothing() {
    let scratch = Scratch::with_manifest(MINIMAL);
    let before = scratch.tree();
    let run = scratch.run(&["generate", "--dry-run", "--diff"]);
    run.assert_code(0)
        .assert_stderr_contains("would create services/notes/src/lib.rs");
    assert!(run.stdout.contains("+++ b/services/notes/src/lib.rs"), "{}", run.stdout);
    assert_eq!(scratch.tree(), before);
}

#[test]
fn generated_scripts_and_files_have_no_temporary_leftovers() {
    let scratch = Scratch::generated(MINIMAL);
    let leftovers: Vec<String> = scratch
        .tree()
        .into_keys()
        .filter(|p| p.contains(".fleetwright-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn concurrent_runs_do_not_interleave() {
    let scratch = Scratch::with_manifest(crate::support::ECOMMERCE);
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("fleetwright"))
            .arg("generate")
            .arg("-q")
            .current_dir(scratch.path())
            .spawn()
            .expect("starts")
    };
    let mut runs: Vec<_> = (0..4).map(|_| spawn()).collect();
    for run in &mut runs {
        // Each run either waits for the flock and finds nothing (left) to do, or
        // writes everything: never a failure, never a half-written workspace.
        assert!(run.wait().expect("finishes").success());
    }
    scratch.run(&["check"]).assert_code(0);
    let leftovers: Vec<String> = scratch
        .tree()
        .into_keys()
        .filter(|p| p.contains(".fleetwright-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Every file below `root` with its bytes, without the workspace's own lock.
fn contents(scratch: &Scratch) -> std::collections::BTreeMap<String, Vec<u8>> {
    scratch
        .tree()
        .into_iter()
        .map(|(path, (bytes, _))| (path, bytes))
        .collect()
}

#[test]
fn a_killed_generate_leaves_old_or_new_files_and_the_next_run_finishes() {
    let old_manifest = crate::support::ECOMMERCE;
    let new_manifest = old_manifest
        .replace("E-commerce platform", "E-commerce platform, renamed")
        .replace(
            "description = \"Customer accounts\"",
            "description = \"Customer accounts and profiles\"",
        );
    // What the workspace looks like before and after a complete run.
    let before = Scratch::with_manifest(old_manifest);
    before.run(&["generate", "-q"]).assert_code(0);
    let after = Scratch::with_manifest(old_manifest);
    after.run(&["generate", "-q"]).assert_code(0);
    after.write("fleet.toml", &new_manifest);
    after.run(&["generate", "-q"]).assert_code(0);
    let (old, new) = (contents(&before), contents(&after));

    for delay_ms in [0, 2, 5, 10, 20, 35, 50, 80] {
        let scratch = Scratch::with_manifest(old_manifest);
        scratch.run(&["generate", "-q"]).assert_code(0);
        scratch.write("fleet.toml", &new_manifest);
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("fleetwright"))
            .args(["generate", "-q"])
            .current_dir(scratch.path())
            .spawn()
            .expect("starts");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no cleanup runs
        let _ = child.wait();
        for (path, bytes) in contents(&scratch) {
            // The manifest is the input; a temporary file is what a write in progress leaves.
            if path == "fleet.toml" || path.contains("/.fleetwright-") || path.starts_with(".fleetwright-") {
                continue;
            }
            let is_old = old.get(&path) == Some(&bytes);
            let is_new = new.get(&path) == Some(&bytes);
            assert!(
                is_old || is_new,
                "after a kill at {delay_ms} ms, {path} is neither its old nor its new content"
            );
        }
        let run = scratch.run(&["generate"]);
        run.assert_code(0);
        scratch.run(&["check"]).assert_code(0);
        let mut finished = contents(&scratch);
        finished.remove("fleet.toml");
        let mut expected = new.clone();
        expected.remove("fleet.toml");
        assert_eq!(finished.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
        assert!(
            finished == expected,
            "after a kill at {delay_ms} ms the next run did not finish the job"
        );
    }
}

/// An operation's response keeps its numbers across a change of output, like any message:
/// fields become an entity, the entity gets a new number and the fields' stay reserved; and a
/// lost lock reads them back from the proto.
#[test]
fn an_operation_output_changed_never_reuses_a_response_number() {
    const FIELDS: &str = r#"version = 1
[project]
name = "shop"

[services.orders]
database = "sqlite"
route = "/api/orders"

[services.orders.entities.Order]
note = "text?"

[services.orders.operations.quote_order]
read_only = true
input = { id = "uuid" }
output = { total_cents = "int64", currency = "string" }
"#;
    let scratch = Scratch::generated(FIELDS);
    let proto = || scratch.read("proto/shop/orders/v1/orders.proto");
    assert!(
        proto().contains("int64 total_cents = 1;\n  string currency = 2;"),
        "{}",
        proto()
    );
    scratch.write(
        "fleet.toml",
        &FIELDS.replace(r#"{ total_cents = "int64", currency = "string" }"#, r#""Order""#),
    );
    scratch.run(&["generate"]).assert_code(0);
    let entity = proto();
    assert!(
        entity.contains("message QuoteOrderResponse {\n  reserved 1, 2;\n  reserved \"currency\", \"total_cents\";\n  Order order = 3;\n}"),
        "{entity}"
    );
    std::fs::remove_file(scratch.join("fleet.lock")).unwrap();
    scratch
        .run(&["generate", "--recover-lock"])
        .assert_code(0)
        .assert_stderr_contains(" 0 updated,");
    assert_eq!(proto(), entity, "the numbers read back from the proto");
}
