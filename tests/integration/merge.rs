//! Three-way merges of hand-edited managed files (issue #15, item 4), through the real binary:
//! a clean merge is written and reported as merged, overlapping changes are written with
//! conflict markers and exit 1, `--dry-run` and `--diff` show the merge result and write
//! nothing, `check` fails on conflict markers and passes on a hand edit fleetwright kept.

use crate::support::{MINIMAL, Scratch};

const LIB: &str = "services/notes/src/lib.rs";

fn generated() -> Scratch {
    Scratch::generated(MINIMAL)
}

/// A manifest change that rewrites the second line of `services/notes/src/lib.rs`.
fn change_the_description(scratch: &Scratch) {
    scratch.write("fleet.toml", &MINIMAL.replace("Keeps notes", "Keeps short notes"));
}

/// Appends a line to the end of lib.rs, far from the description line; returns the text.
fn edit_the_end(scratch: &Scratch) -> String {
    let edited = format!("{}\n// a hand edit\n", scratch.read(LIB));
    scratch.write(LIB, &edited);
    edited
}

/// Runs `generate`, which must merge lib.rs: the hand edit of [`edit_the_end`] and the new
/// `description` both end up in it. Returns its text.
fn generate_merges(scratch: &Scratch, description: &str) -> String {
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("merged    services/notes/src/lib.rs (your edit and fleetwright's changes)")
        .assert_stderr_contains("1 merged");
    let text = scratch.read(LIB);
    assert!(text.contains("// a hand edit") && text.contains(description), "{text}");
    text
}

#[test]
fn a_hand_edit_and_a_generated_change_on_other_lines_merge() {
    let scratch = generated();
    edit_the_end(&scratch);
    change_the_description(&scratch);
    let text = generate_merges(&scratch, "Keeps short notes.");
    // The merged file is the user's recorded version: no drift, nothing more to do.
    scratch.run(&["check"]).assert_code(0);
    let again = scratch.run(&["generate"]);
    again.assert_code(0).assert_stderr_contains("0 created, 0 updated,");
    assert!(!again.stderr.contains("merged"), "{}", again.stderr);
    assert_eq!(scratch.read(LIB), text);
    // The base moved forward: the next change merges against the text generated now.
    scratch.write("fleet.toml", &MINIMAL.replace("Keeps notes", "Keeps long notes"));
    let text = generate_merges(&scratch, "Keeps long notes.");
    assert!(!text.contains("Keeps short notes"), "{text}");
}

#[test]
fn overlapping_changes_are_written_between_conflict_markers() {
    let scratch = generated();
    let generated_line = "//! The `notes` service: Keeps notes.";
    let mine = scratch
        .read(LIB)
        .replace(generated_line, "//! The `notes` service: my own words.");
    scratch.write(LIB, &mine);
    change_the_description(&scratch);
    let run = scratch.run(&["generate"]);
    run.assert_code(1)
        .assert_stderr_contains("conflict: services/notes/src/lib.rs was edited by hand where fleetwright's changes go; written with both sides between conflict markers")
        .assert_stderr_contains("resolve the conflict markers");
    let text = scratch.read(LIB);
    // Both sides, and the base, in full: nothing is lost.
    let block = "<<<<<<< yours\n//! The `notes` service: my own words.\n||||||| base\n//! The `notes` service: Keeps notes.\n=======\n//! The `notes` service: Keeps short notes.\n>>>>>>> fleetwright\n";
    assert!(text.contains(block), "{text}");
    // Unresolved markers: check fails, and generate neither merges nor records the file again.
    let check = scratch.run(&["check"]);
    check
        .assert_code(1)
        .assert_stderr_contains("has conflict markers: services/notes/src/lib.rs");
    scratch
        .run(&["generate"])
        .assert_code(1)
        .assert_stderr_contains("services/notes/src/lib.rs still has conflict markers; left as it is");
    assert_eq!(scratch.read(LIB), text);
    // Resolved by the user: generate keeps and records it, and check passes.
    scratch.write(
        LIB,
        &text.replace(block, "//! The `notes` service: my own, shorter words.\n"),
    );
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("kept      services/notes/src/lib.rs (edited by hand");
    scratch.run(&["check"]).assert_code(0);
    assert!(scratch.read(LIB).contains("my own, shorter words"));
}

#[test]
fn dry_run_and_diff_show_the_merge_and_write_nothing() {
    let scratch = generated();
    edit_the_end(&scratch);
    change_the_description(&scratch);
    let before = scratch.tree();
    let run = scratch.run(&["generate", "--dry-run", "--diff"]);
    run.assert_code(0)
        .assert_stderr_contains("would merge  services/notes/src/lib.rs");
    // The diff is from the file on disk to the merge: the hand edit stays, the change comes in.
    assert!(
        run.stdout
            .contains("-//! The `notes` service: Keeps notes.\n+//! The `notes` service: Keeps short notes.\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("-// a hand edit"), "{}", run.stdout);
    assert_eq!(scratch.tree(), before, "a dry run wrote to the workspace");
    // The same through a writing run with --diff: it shows what it writes.
    let run = scratch.run(&["generate", "--diff"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("+//! The `notes` service: Keeps short notes."),
        "{}",
        run.stdout
    );
}

#[test]
fn json_reports_merges_and_overlaps() {
    let scratch = generated();
    edit_the_end(&scratch);
    change_the_description(&scratch);
    let run = scratch.run(&["generate", "--dry-run", "--format", "json"]);
    run.assert_code(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == LIB)
        .expect("lib.rs is reported");
    assert_eq!(file["action"], "merge", "{file}");

    let mine = scratch.read(LIB).replace("Keeps notes.", "Keeps my notes.");
    scratch.write(LIB, &mine);
    let run = scratch.run(&["generate", "--format", "json"]);
    run.assert_code(1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == LIB)
        .expect("lib.rs is reported");
    assert_eq!(
        (&file["action"], &file["detail"]),
        (&"conflict".into(), &"overlap".into()),
        "{file}"
    );
}

#[test]
fn a_hand_edit_with_nothing_new_to_merge_is_kept_and_recorded() {
    let scratch = generated();
    let edited = edit_the_end(&scratch);
    // Not yet seen by generate: check reports it, with the edit as a diff.
    let check = scratch.run(&["check"]);
    check
        .assert_code(1)
        .assert_stderr_contains("edited by hand: services/notes/src/lib.rs");
    assert!(check.stdout.contains("+// a hand edit"), "{}", check.stdout);
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("kept      services/notes/src/lib.rs (edited by hand; nothing new to merge");
    assert_eq!(scratch.read(LIB), edited);
    scratch.run(&["check"]).assert_code(0);
    // Editing it again is a new, unrecorded edit.
    scratch.write(LIB, &format!("{edited}// and another\n"));
    scratch.run(&["check"]).assert_code(1);
}

#[test]
fn force_still_overwrites_a_merged_file() {
    let scratch = generated();
    edit_the_end(&scratch);
    change_the_description(&scratch);
    generate_merges(&scratch, "Keeps short notes");
    scratch.run(&["generate", "--force"]).assert_code(0);
    assert!(!scratch.read(LIB).contains("// a hand edit"));
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn the_base_mirror_follows_the_managed_files() {
    let scratch = generated();
    let base = ".fleetwright/base/services/notes/src/lib.rs";
    assert_eq!(
        scratch.read(base),
        scratch.read(LIB),
        "an untouched file is its own base"
    );
    assert!(
        scratch
            .read(".fleetwright/.gitattributes")
            .contains("base/** linguist-generated=true -diff")
    );
    assert!(
        !scratch.exists(".fleetwright/base/services/notes/src/logic.rs"),
        "scaffold files have no base"
    );
    // A user region's lines are the user's, not part of the base.
    let cargo = "services/notes/Cargo.toml";
    let with_dependency = scratch.read(cargo).replace(
        "# fleetwright:user-begin dependencies\n",
        "# fleetwright:user-begin dependencies\nrand = \"0.9\"\n",
    );
    scratch.write(cargo, &with_dependency);
    change_the_description(&scratch);
    scratch.run(&["generate"]).assert_code(0);
    assert!(scratch.read(cargo).contains("rand = \"0.9\""));
    assert!(!scratch.read(&format!(".fleetwright/base/{cargo}")).contains("rand"));
    assert!(
        scratch
            .read(&format!(".fleetwright/base/{cargo}"))
            .contains("Keeps short notes")
    );
}

#[test]
fn a_deleted_base_falls_back_to_finding_it_by_its_hash() {
    let scratch = generated();
    edit_the_end(&scratch);
    std::fs::remove_dir_all(scratch.join(".fleetwright")).unwrap();
    change_the_description(&scratch);
    generate_merges(&scratch, "Keeps short notes.");
}

#[test]
fn a_deleted_managed_file_is_created_again_not_merged() {
    let scratch = generated();
    edit_the_end(&scratch);
    std::fs::remove_file(scratch.join(LIB)).unwrap();
    change_the_description(&scratch);
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("created   services/notes/src/lib.rs");
    assert!(!scratch.read(LIB).contains("// a hand edit"));
    scratch.run(&["check"]).assert_code(0);
}
