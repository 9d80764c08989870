//! The golden tree: every file of the generated examples, rendered in memory, snapshotted one
//! by one plus an index of paths, owners and hashes, so added, removed and changed files all
//! show up in review.

use std::fmt::Write as _;

use fleetwright::Source;
use fleetwright::model::State;
use fleetwright::model::load_source;
use fleetwright::plan::Plan;
use fleetwright::render::Templates;

use crate::support::{ECOMMERCE, MINIMAL, NO_ENTITIES, insta_settings};

fn plan_of(name: &str, manifest: &str) -> Plan {
    let loaded = load_source(Source::from_text(name, manifest)).expect("example is valid");
    fleetwright::plan(
        &loaded.workspace,
        &Templates::embedded().expect("templates parse"),
        &State::default(),
    )
    .expect("renders")
    .0
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
            // The runtime crate is this repository's own code, written verbatim behind the header:
            // compared with its source here, reviewed as code rather than as snapshots.
            if let Some(source) = path.as_str().strip_prefix("runtime/rust/") {
                let original = std::fs::read_to_string(format!("runtime/rust/{source}")).unwrap();
                let (header, body) = file.contents.split_once('\n').unwrap();
                assert!(header.contains("@generated"), "{path}: {header}");
                assert_eq!(body, original, "{path} is not the runtime crate's file");
                continue;
            }
            // The lock's registry packages are the pinned list, compared with it here; what
            // varies by manifest is the workspace's own crates, snapshotted.
            let contents = if path.as_str() == "Cargo.lock" {
                own_crates_of_lock(&file.contents)
            } else {
                file.contents.clone()
            };
            insta::assert_snapshot!(format!("{example}__{}", path.as_str().replace('/', "__")), contents);
        }
    });
}

/// The `[[package]]` entries of a Cargo.lock text without a `source` (the workspace's own
/// crates); asserts that the others are exactly the pinned registry packages.
fn own_crates_of_lock(lock: &str) -> String {
    let pinned = std::fs::read_to_string("runtime/rust/workspace-dependencies.lock").unwrap();
    let blocks = |text: &str| -> Vec<String> {
        text.split("\n[[package]]\n")
            .skip(1)
            .map(|block| block.trim_end().to_owned())
            .collect()
    };
    let (registry, own): (Vec<String>, Vec<String>) = blocks(lock)
        .into_iter()
        .partition(|block| block.contains("\nsource = "));
    assert_eq!(
        registry,
        blocks(&pinned),
        "the lock's registry packages are not the pinned list"
    );
    own.iter()
        .map(|block| format!("[[package]]\n{block}\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pinned packages of generated workspaces are the versions this repository builds and tests
/// the runtime crate with: every package in both locks has the same version in both.
#[test]
fn generated_workspaces_pin_the_versions_the_runtime_is_tested_with() {
    #[derive(serde::Deserialize)]
    struct Lock {
        package: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let read = |path: &str| -> Lock { toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap() };
    let ours = read("Cargo.lock");
    let pinned = read("runtime/rust/workspace-dependencies.lock");
    let versions_of = |lock: &Lock, name: &str| -> Vec<String> {
        let mut versions: Vec<String> = lock
            .package
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.version.clone())
            .collect();
        versions.sort();
        versions
    };
    // Versions cargo would unify: the same major, or the same minor below 1.0. Two crates may
    // need incompatible versions of one package (hashbrown 0.15 and 0.16); those may differ.
    let compatible = |a: &str, b: &str| -> bool {
        let key = |v: &str| -> Vec<String> {
            let parts: Vec<String> = v.split(['.', '-', '+']).take(3).map(str::to_owned).collect();
            let significant = parts.iter().position(|p| p != "0").unwrap_or(parts.len() - 1);
            parts[..=significant].to_vec()
        };
        key(a) == key(b)
    };
    let mut differ = Vec::new();
    for package in &pinned.package {
        let here = versions_of(&ours, &package.name);
        let same_line = here
            .iter()
            .filter(|v| compatible(v, &package.version))
            .collect::<Vec<_>>();
        if !same_line.is_empty() && !same_line.contains(&&package.version) {
            differ.push(format!("{} {} (here {here:?})", package.name, package.version));
        }
    }
    assert!(
        differ.is_empty(),
        "pinned versions differ from Cargo.lock; run scripts/update-workspace-lock.sh: {differ:?}"
    );
}

#[test]
fn ecommerce_tree() {
    snapshot_tree("ecommerce", ECOMMERCE);
}

#[test]
fn minimal_tree() {
    snapshot_tree("minimal", MINIMAL);
}

/// Services without entities (with and without a database) and their caller: the files that
/// differ from those of a service with entities, the protos, and the caller's build script.
#[test]
fn services_without_entities_tree() {
    let plan = plan_of("fleet.toml", NO_ENTITIES);
    let shown = |path: &str| {
        let of_entityless = ["pricing", "ledger"].iter().any(|service| {
            ["src/grpc.rs", "src/http.rs", "src/app.rs", "tests/api.rs"]
                .iter()
                .any(|file| path == format!("services/{service}/{file}"))
        });
        of_entityless || path.starts_with("proto/calc/") || path == "services/shop/build.rs"
    };
    let files: Vec<_> = plan.files.iter().filter(|(path, _)| shown(path.as_str())).collect();
    let paths: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths.len(), 12, "{paths:?}");
    insta_settings().bind(|| {
        for (path, file) in files {
            let name = format!("no_entities__{}", path.as_str().replace('/', "__"));
            insta::assert_snapshot!(name, file.contents);
        }
    });
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
            .find(|(p, _)| p.as_str() == format!("services/{service}/src/lib.rs"))
            .unwrap()
            .1;
        assert!(
            lib.contents.contains("Running::bind(SERVICE, &config.server"),
            "{service} is not served by the runtime"
        );
    }
    // The probes live once, in the runtime crate every service serves through.
    let runtime_http = &plan
        .files
        .iter()
        .find(|(p, _)| p.as_str() == "runtime/rust/src/http.rs")
        .unwrap()
        .1
        .contents;
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert!(
            runtime_http.contains(&format!(".route(\"{probe}\"")),
            "the runtime serves {probe}"
        );
    }
    assert!(
        members.contains("\"runtime/rust\""),
        "the runtime crate is a workspace member"
    );
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

/// The proto text of one service in a plan.
fn proto(plan: &Plan, service: &str) -> String {
    plan.files
        .iter()
        .find(|(p, _)| p.as_str() == format!("proto/shop/{service}/v1/{service}.proto"))
        .map(|(_, f)| f.contents.clone())
        .expect("proto rendered")
}

/// A plan, and the state the next generation is numbered against.
fn plan_with(manifest: &str, previous: &State) -> (Plan, State) {
    let loaded = load_source(Source::from_text("fleet.toml", manifest)).expect("valid");
    fleetwright::plan(&loaded.workspace, &Templates::embedded().expect("templates"), previous).expect("renders")
}

#[test]
fn field_numbers_survive_reordering_and_removed_ones_are_reserved() {
    let (first, first_state) = plan_with(ECOMMERCE, &State::default());
    let original = proto(&first, "products");
    assert!(original.contains("int64 price_cents = 5;"), "{original}");

    // Reordered fields keep their numbers.
    let reordered = ECOMMERCE.replace(
        "sku = \"string\"\nname = \"string\"\n",
        "name = \"string\"\nsku = \"string\"\n",
    );
    assert_ne!(reordered, ECOMMERCE);
    let (second, second_state) = plan_with(&reordered, &first_state);
    let text = proto(&second, "products");
    assert!(
        text.contains("string sku = 2;") && text.contains("string name = 3;"),
        "{text}"
    );

    // A new field gets a fresh number; a removed one is reserved, number and name.
    let changed = reordered.replace("tags = \"string[]\"\n", "weight_grams = \"int32?\"\n");
    let third = plan_with(&changed, &second_state);
    let text = proto(&third.0, "products");
    assert!(text.contains("optional int32 weight_grams = 10;"), "{text}");
    assert!(
        text.contains("reserved 6;") && text.contains("reserved \"tags\";"),
        "{text}"
    );

    // The same manifest and state always give the same plan.
    assert_eq!(plan_with(&changed, &second_state), third);
}

#[test]
fn enum_values_keep_their_numbers() {
    let (_, first_state) = plan_with(ECOMMERCE, &State::default());
    let changed = ECOMMERCE.replace(
        "enum(draft, pending, paid, cancelled)",
        "enum(cancelled, refunded, pending, paid, draft)",
    );
    assert_ne!(changed, ECOMMERCE, "the order status enum was not found in the example");
    let text = proto(&plan_with(&changed, &first_state).0, "orders");
    assert!(text.contains("ORDER_STATUS_DRAFT = 1;"), "{text}");
    assert!(text.contains("ORDER_STATUS_PENDING = 2;"), "{text}");
    assert!(text.contains("ORDER_STATUS_CANCELLED = 4;"), "{text}");
    assert!(text.contains("ORDER_STATUS_REFUNDED = 5;"), "{text}");
}

#[test]
fn only_services_with_a_route_are_behind_the_gateway() {
    let plan = plan_of("fleet.toml", ECOMMERCE);
    let envoy = &plan
        .files
        .iter()
        .find(|(p, _)| p.as_str() == "gateway/envoy.yaml")
        .expect("gateway config")
        .1
        .contents;
    for exposed in ["users", "products", "orders"] {
        assert!(
            envoy.contains(&format!("cluster: {exposed}_http")),
            "{exposed} not routed"
        );
    }
    // `payments` has no route: no route, no cluster, no address.
    assert!(!envoy.contains("payments"), "{envoy}");
}

/// Text that breaks naive templating in every format we emit.
const HOSTILE: &str = "It's \"quoted\" # not a comment\n--- {{ not tera }} ${HOME} `ticks` | pipe: colon\\";

#[test]
fn hostile_descriptions_leave_every_file_parseable_and_meaning_the_same() {
    let manifest = format!(
        "[project]\nname = \"shop\"\ndescription = {hostile}\n[gateway]\ncors_origins = [{hostile}]\n\
         [services.users]\ndescription = {hostile}\ndatabase = \"sqlite\"\nroute = \"/api/users\"\n\
         [services.users.entities.User]\nemail = \"string\"\n",
        hostile = fleetwright::render::filters::toml_str(HOSTILE)
    );
    let plan = plan_of("fleet.toml", &manifest);
    let mut checked = 0;
    for (path, file) in &plan.files {
        let path = path.as_str();
        let text = &file.contents;
        let extension = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        if extension == "toml" {
            let value: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            if path.ends_with("services/users/Cargo.toml") {
                assert_eq!(value["package"]["description"].as_str(), Some(HOSTILE));
            }
        } else if extension == "json" {
            let value: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            if path.ends_with("openapi.json") {
                // The description opens the document's own, which says more.
                let description = value["info"]["description"].as_str().unwrap_or_default();
                assert!(description.starts_with(HOSTILE), "{path}: {description}");
            } else {
                assert_eq!(value["description"].as_str(), Some(HOSTILE), "{path}");
            }
        } else if extension == "yaml" || extension == "yml" {
            let docs = yaml_rust2::YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            if path == "gateway/envoy.yaml" {
                let origins = &docs[0]["static_resources"]["listeners"][1]["filter_chains"][0]["filters"][0]["typed_config"]
                    ["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]["envoy.filters.http.cors"]["allow_origin_string_match"]
                    [0]["exact"];
                assert_eq!(
                    origins.as_str(),
                    Some(HOSTILE),
                    "the CORS origin must survive as written"
                );
            }
        } else if extension == "proto" || extension == "rs" {
            // Line comments only: no line of the description may escape its comment.
            assert!(!text.contains("\n--- {{"), "{path}: text escaped a comment");
        } else {
            continue;
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} files checked");
}

#[test]
fn a_service_that_starts_publishing_gets_an_outbox_migration_and_its_first_one_stays() {
    let (first, first_state) = plan_with(MINIMAL, &State::default());
    let file = |plan: &Plan, path: &str| {
        plan.files
            .iter()
            .find(|(p, _)| p.as_str() == path)
            .map(|(_, f)| f.contents.clone())
    };
    let init = file(&first, "services/notes/migrations/0001_init.sql").expect("first migration");
    assert!(!init.contains("outbox"), "{init}");
    assert!(
        file(&first, "services/notes/src/events.rs").is_none(),
        "no events, no messaging code"
    );

    let publishing = MINIMAL.replace(
        "route = \"/api/notes\"\n",
        "route = \"/api/notes\"\npublishes = [\"NoteAdded\"]\n\n[services.notes.events.NoteAdded]\nnote_id = \"uuid\"\n",
    );
    let (second, _) = plan_with(&publishing, &first_state);
    assert_eq!(
        file(&second, "services/notes/migrations/0001_init.sql").as_deref(),
        Some(init.as_str())
    );
    let outbox = file(&second, "services/notes/migrations/0002_create_outbox.sql").expect("an outbox migration");
    assert!(outbox.contains("CREATE TABLE \"outbox\""), "{outbox}");
    assert!(outbox.contains("\"published_at\" TEXT,"), "{outbox}");
    assert!(
        outbox.contains(
            "CREATE INDEX \"outbox_unpublished\" ON \"outbox\" (\"position\", \"id\") WHERE \"published_at\" IS NULL;"
        ),
        "the relay's partial index comes with the table: {outbox}"
    );
    assert!(!outbox.contains("inbox"), "only subscribers keep an inbox: {outbox}");
    let events = file(&second, "services/notes/src/events.rs").expect("messaging code");
    assert!(
        events.contains("const SUBJECT: &'static str = \"hello.notes.note_added\";"),
        "{events}"
    );
    assert!(
        events.contains("pub const STREAM: Stream = Stream { name: \"HELLO\", subjects: \"hello.>\" };"),
        "{events}"
    );
}
