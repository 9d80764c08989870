//! The golden tree: every file of the generated examples, rendered in memory, snapshotted one
//! by one plus an index of paths, owners and hashes, so added, removed and changed files all
//! show up in review.

use std::fmt::Write as _;

use fleetwright::manifest::{Source, load_source};
use fleetwright::model::State;
use fleetwright::render::Templates;
use fleetwright::write::Plan;

use crate::support::{ECOMMERCE, MINIMAL, insta_settings};

fn plan_of(name: &str, manifest: &str) -> Plan {
    let loaded = load_source(Source::from_text(name, manifest)).expect("example is valid");
    fleetwright::plan(
        &loaded.workspace,
        &Templates::embedded().expect("templates parse"),
        &State::default(),
    )
    .expect("renders")
}

fn snapshot_tree(example: &str, manifest: &str) {
    let plan = plan_of("fleet.toml", manifest);
    let mut index = String::new();
    for (path, file) in &plan.files {
        let hash = fleetwright::write::lockfile::hash(&file.contents);
        writeln!(index, "{path}  {:?}  {hash}", file.owner).unwrap();
    }
    insta_settings().bind(|| {
        insta::assert_snapshot!(format!("{example}__index"), index);
        for (path, file) in &plan.files {
            insta::assert_snapshot!(
                format!("{example}__{}", path.as_str().replace('/', "__")),
                file.contents
            );
        }
    });
}

#[test]
fn ecommerce_tree() {
    snapshot_tree("ecommerce", ECOMMERCE);
}

#[test]
fn minimal_tree() {
    snapshot_tree("minimal", MINIMAL);
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(plan_of("fleet.toml", ECOMMERCE), plan_of("fleet.toml", ECOMMERCE));
}

#[test]
fn comments_and_layout_of_the_manifest_do_not_change_the_output() {
    let mut reformatted = String::new();
    for line in ECOMMERCE.lines().filter(|l| !l.trim_start().starts_with('#')) {
        writeln!(reformatted, "{}", line.trim()).unwrap();
    }
    assert_eq!(plan_of("fleet.toml", ECOMMERCE), plan_of("fleet.toml", &reformatted));
}

#[test]
fn every_service_gets_a_crate_that_serves_healthz() {
    let plan = plan_of("fleet.toml", ECOMMERCE);
    let members = &plan
        .files
        .keys()
        .find(|p| p.as_str() == "Cargo.toml")
        .map(|p| &plan.files[p].contents)
        .unwrap();
    for service in ["users", "products", "orders", "payments"] {
        assert!(
            members.contains(&format!("\"services/{service}\"")),
            "{service} missing from workspace members"
        );
        let lib = plan
            .files
            .iter()
            .find(|(p, _)| p.as_str() == format!("services/{service}/src/http.rs"))
            .unwrap()
            .1;
        assert!(
            lib.contents.contains(".route(\"/healthz\""),
            "{service} has no /healthz"
        );
    }
}

#[test]
fn every_embedded_template_is_used() {
    let used = fleetwright::render::targets::template_paths();
    for (path, _) in fleetwright::render::engine::embedded_sources() {
        if !path.starts_with("_macros/") {
            assert!(
                used.contains(&path.as_str()),
                "template {path} is embedded but never rendered"
            );
        }
    }
}
