//! The OpenAPI documents of generated workspaces: one per service, which it serves at
//! `/openapi.json`, and one for the gateway's public API. Here: the gateway's is the union of its
//! routed services' APIs, and every document of the examples and fixtures passes
//! `openapi-spec-validator` (scripts/tools.sh; `#[ignore]`d in the fast loop). `build.rs` runs
//! schemathesis against live generated services.

use std::collections::BTreeSet;

use fleetwright::Source;
use fleetwright::model::{State, load_source};
use fleetwright::render::Templates;

use crate::support::{ECOMMERCE, MINIMAL, NO_ENTITIES, run_tool, tool};

const EVERYTHING: &str = include_str!("../fixtures/everything/fleet.toml");

/// The OpenAPI documents `manifest` generates: (path, text), in path order.
fn documents(manifest: &str) -> Vec<(String, String)> {
    let loaded = load_source(Source::from_text("fleet.toml", manifest)).expect("a valid manifest");
    let (plan, _) = fleetwright::plan(
        &loaded.workspace,
        &Templates::embedded().expect("templates parse"),
        &State::default(),
    )
    .expect("renders");
    plan.files
        .into_iter()
        .filter(|(path, _)| path.as_str().ends_with("/openapi.json"))
        .map(|(path, file)| (path.as_str().to_owned(), file.contents))
        .collect()
}

fn paths(document: &str) -> BTreeSet<String> {
    let value: serde_json::Value = serde_json::from_str(document).expect("a document is JSON");
    assert_eq!(value["openapi"], "3.1.0");
    value["paths"].as_object().expect("paths").keys().cloned().collect()
}

#[test]
fn the_gateway_document_is_the_union_of_the_routed_services_apis() {
    let documents = documents(ECOMMERCE);
    let names: Vec<&str> = documents.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        names,
        [
            "gateway/openapi.json",
            "services/orders/openapi.json",
            "services/payments/openapi.json",
            "services/products/openapi.json",
            "services/users/openapi.json",
        ]
    );
    let operational = ["/healthz", "/readyz", "/metrics", "/openapi.json"];
    let mut routed = BTreeSet::new();
    for (path, text) in &documents[1..] {
        let paths = paths(text);
        for probe in operational {
            assert!(paths.contains(probe), "{path} lacks {probe}");
        }
        // payments has no route: the gateway does not reach it.
        if !path.contains("payments") {
            routed.extend(paths.into_iter().filter(|p| !operational.contains(&p.as_str())));
        }
    }
    assert_eq!(paths(&documents[0].1), routed);
}

#[test]
#[ignore = "needs openapi-spec-validator from scripts/tools.sh; run by .ci/run"]
fn every_generated_openapi_document_passes_the_validator() {
    let Some(validator) = tool("openapi-spec-validator") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (example, manifest) in [
        ("ecommerce", ECOMMERCE),
        ("minimal", MINIMAL),
        ("everything", EVERYTHING),
        ("no-entities", NO_ENTITIES),
    ] {
        for (path, text) in documents(manifest) {
            let file = format!("{example}__{}", path.replace('/', "__"));
            std::fs::write(dir.path().join(&file), text).unwrap();
            files.push(file);
        }
    }
    assert_eq!(files.len(), 5 + 2 + 4 + 4, "{files:?}");
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (code, out) = run_tool(&validator, &args, dir.path());
    assert_eq!(code, 0, "openapi-spec-validator:\n{out}");

    // A broken copy fails, so the check is known to bite: a response without its description.
    let text = std::fs::read_to_string(dir.path().join(&files[0])).unwrap();
    let broken = text.replacen("\"description\": \"A page of", "\"summary\": \"A page of", 1);
    assert_ne!(broken, text);
    std::fs::write(dir.path().join("broken.json"), broken).unwrap();
    let (code, out) = run_tool(&validator, &["broken.json"], dir.path());
    assert_ne!(
        code, 0,
        "openapi-spec-validator accepted a response without a description:\n{out}"
    );
}
