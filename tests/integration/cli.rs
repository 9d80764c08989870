//! Every command through the real binary: exit codes, what goes to stdout and stderr.

use crate::support::{ECOMMERCE, MINIMAL, Scratch, insta_settings};

#[test]
fn new_creates_and_generates_then_refuses_a_non_empty_dir() {
    let scratch = Scratch::new();
    let run = scratch.run(&["new", "shop", "--example", "ecommerce"]);
    run.assert_code(0);
    assert!(scratch.exists("shop/fleet.toml") && scratch.exists("shop/fleet.lock"));
    assert!(scratch.exists("shop/services/orders/src/main.rs"));
    assert_eq!(scratch.read("shop/fleet.toml"), ECOMMERCE);
    scratch.run(&["-C", "shop", "check"]).assert_code(0);
    let again = scratch.run(&["new", "shop"]);
    again.assert_code(2).assert_stderr_contains("is not empty");
}

#[test]
fn init_writes_a_valid_starter_and_never_overwrites() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.join("My Shop")).unwrap();
    scratch.run(&["-C", "My Shop", "init"]).assert_code(0);
    let text = scratch.read("My Shop/fleet.toml");
    assert!(text.contains("name = \"my-shop\""), "{text}");
    scratch.run(&["-C", "My Shop", "validate"]).assert_code(0);
    let again = scratch.run(&["-C", "My Shop", "init"]);
    again.assert_code(2);
    assert_eq!(scratch.read("My Shop/fleet.toml"), text);
    let bad = scratch.run(&["init", "--name", "Bad Name"]);
    bad.assert_code(2);
    assert!(!scratch.exists("fleet.toml"));
}

#[test]
fn validate_reports_ok_or_every_problem() {
    let scratch = Scratch::with_manifest(ECOMMERCE);
    let run = scratch.run(&["validate"]);
    run.assert_code(0).assert_stderr_contains("is valid (4 services)");
    scratch.write(
        "fleet.toml",
        "[project]\nname = \"x\"\n[services.a]\ncalls = [\"b\", \"a\"]\n",
    );
    let run = scratch.run(&["validate"]);
    run.assert_code(2);
    insta_settings().bind(|| insta::assert_snapshot!("validate_two_errors", run.transcript()));
}

#[test]
fn validate_json_gives_positions() {
    let scratch = Scratch::with_manifest("[project]\nname = \"x\"\n[services.a]\ncalls = [\"zz\"]\n");
    let run = scratch.run(&["validate", "--format", "json"]);
    run.assert_code(2);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["valid"], false);
    assert_eq!(json["diagnostics"][0]["code"], "E012");
    assert_eq!(json["diagnostics"][0]["line"], 4);
    assert_eq!(json["diagnostics"][0]["column"], 10);
}

#[test]
fn missing_manifest_is_a_usage_error() {
    let scratch = Scratch::new();
    let run = scratch.run(&["generate"]);
    run.assert_code(2)
        .assert_stderr_contains("no fleet.toml in")
        .assert_stderr_contains("fleetwright init");
    let run = scratch.run(&["--manifest", "elsewhere.toml", "generate"]);
    run.assert_code(2)
        .assert_stderr_contains("no manifest at elsewhere.toml");
}

#[test]
fn manifest_flag_points_anywhere() {
    let scratch = Scratch::new();
    scratch.write("conf/system.toml", MINIMAL);
    scratch
        .run(&["--manifest", "conf/system.toml", "generate"])
        .assert_code(0);
    assert!(scratch.exists("conf/services/notes/Cargo.toml"));
}

#[test]
fn generate_json_report_lists_actions() {
    let scratch = Scratch::with_manifest(MINIMAL);
    let run = scratch.run(&["generate", "--format", "json"]);
    run.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let files = json["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "services/notes/src/lib.rs" && f["action"] == "create")
    );
}

#[test]
fn add_service_and_entity_keep_comments_and_regenerate() {
    let scratch = Scratch::with_manifest(MINIMAL);
    scratch.run(&["generate"]).assert_code(0);
    scratch
        .run(&["add", "service", "tags", "--database", "sqlite", "--route", "/api/tags"])
        .assert_code(0);
    scratch
        .run(&[
            "add",
            "entity",
            "tags",
            "Tag",
            "label:string",
            "kind:enum(plain|special)",
        ])
        .assert_code(0);
    let manifest = scratch.read("fleet.toml");
    assert!(
        manifest.starts_with(MINIMAL.lines().next().unwrap()),
        "leading comment lost"
    );
    assert!(
        manifest.contains("[services.tags.entities.Tag]\nlabel = \"string\"\nkind = \"enum(plain, special)\""),
        "{manifest}"
    );
    assert!(scratch.exists("services/tags/src/lib.rs"));
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn an_add_that_would_invalidate_the_manifest_writes_nothing() {
    let scratch = Scratch::with_manifest(MINIMAL);
    let before = scratch.tree();
    let run = scratch.run(&["add", "service", "Bad_Name"]);
    run.assert_code(2).assert_stderr_contains("E010");
    let run = scratch.run(&["add", "service", "other", "--route", "/api/notes"]);
    run.assert_code(2).assert_stderr_contains("E017");
    assert_eq!(scratch.tree(), before);
}

#[test]
fn remove_service_refuses_while_referenced_then_removes() {
    let scratch = Scratch::with_manifest(ECOMMERCE);
    scratch.run(&["generate"]).assert_code(0);
    let run = scratch.run(&["remove", "service", "users"]);
    run.assert_code(2).assert_stderr_contains("`orders` calls it");
    let without_calls = scratch
        .read("fleet.toml")
        .replace("calls = [\"users\", \"products\"]", "calls = [\"products\"]");
    scratch.write("fleet.toml", &without_calls);
    scratch.run(&["generate"]).assert_code(0);
    scratch.run(&["remove", "service", "users"]).assert_code(0);
    assert!(!scratch.read("fleet.toml").contains("[services.users"));
    assert!(!scratch.exists("services/users/src/lib.rs"));
    scratch.run(&["check"]).assert_code(0);
}

#[test]
fn graph_prints_mermaid_dot_and_json() {
    let scratch = Scratch::with_manifest(ECOMMERCE);
    let mermaid = scratch.run(&["graph"]);
    mermaid.assert_code(0);
    assert!(
        mermaid.stdout.contains("svc_orders -->|\"gRPC\"| svc_users"),
        "{}",
        mermaid.stdout
    );
    let dot = scratch.run(&["graph", "--format", "dot"]);
    assert!(
        dot.stdout
            .contains("\"orders\" -> \"payments\" [label=\"OrderPlaced\", style=dashed];"),
        "{}",
        dot.stdout
    );
    let json = scratch.run(&["graph", "--format", "json"]);
    let edges: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        edges
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == "gateway" && e["to"] == "orders" && e["label"] == "/api/orders")
    );
    // An internal service has no gateway edge.
    assert!(
        !edges
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == "gateway" && e["to"] == "payments")
    );
}

#[test]
fn templates_list_and_eject_and_override() {
    let scratch = Scratch::with_manifest(MINIMAL);
    let list = scratch.run(&["templates", "list"]);
    list.assert_code(0);
    assert!(
        list.stdout
            .contains("services/rust/src/lib.rs.jinja\tembedded\tservices/{service}/src/lib.rs\n"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("_macros/rust.jinja\tembedded\t(macros only"),
        "{}",
        list.stdout
    );
    scratch
        .run(&["templates", "eject", "tpl", "workspace/README.md.jinja"])
        .assert_code(0);
    assert!(scratch.read("fleet.toml").contains("templates = \"tpl\""));
    scratch.write(
        "tpl/workspace/README.md.jinja",
        "# {{ workspace.project.name }} (custom)\n",
    );
    let list = scratch.run(&["templates", "list"]);
    assert!(
        list.stdout.contains("workspace/README.md.jinja\toverride\tREADME.md\n"),
        "{}",
        list.stdout
    );
    scratch.run(&["generate"]).assert_code(0);
    assert!(scratch.read("README.md").contains("# hello (custom)"));
    scratch.write("tpl/workspace/READMY.md.jinja", "x");
    let typo = scratch.run(&["generate"]);
    typo.assert_code(2)
        .assert_stderr_contains("matches no template")
        .assert_stderr_contains("README.md.jinja");
}

#[test]
fn schema_is_json_with_every_table() {
    let run = Scratch::new().run(&["schema"]);
    run.assert_code(0);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for key in ["project", "gateway", "auth", "messaging", "deploy", "ci", "services"] {
        assert!(schema["properties"][key].is_object(), "{key} missing");
    }
    let operation = &schema["definitions"]["OperationSpec"]["properties"];
    for key in [
        "description",
        "input",
        "output",
        "read_only",
        "method",
        "path",
        "publishes",
    ] {
        assert!(operation[key].is_object(), "operations.{key} missing");
    }
    let methods = &schema["definitions"]["HttpMethod"]["enum"];
    assert_eq!(methods, &serde_json::json!(["GET", "POST", "PUT", "PATCH", "DELETE"]));
}

#[test]
fn completions_and_help() {
    let scratch = Scratch::new();
    let bash = scratch.run(&["completions", "bash"]);
    bash.assert_code(0);
    assert!(bash.stdout.contains("fleetwright"));
    let help = scratch.run(&["--help"]);
    help.assert_code(0);
    assert!(help.stdout.contains("Exit codes: 0 success"));
    scratch.run(&["no-such-command"]).assert_code(2);
}

#[test]
fn a_template_error_names_the_template_and_the_service() {
    let scratch = Scratch::with_manifest(&MINIMAL.replace(
        "description = \"A single",
        "templates = \"tpl\"\ndescription = \"A single",
    ));
    scratch.write("tpl/services/rust/src/lib.rs.jinja", "{{ service.nope }}");
    let run = scratch.run(&["generate"]);
    run.assert_code(2)
        .assert_stderr_contains("services/rust/src/lib.rs.jinja")
        .assert_stderr_contains("service `notes`");
    let mut left: Vec<String> = walkdir::WalkDir::new(scratch.path())
        .min_depth(1)
        .into_iter()
        .map(|entry| {
            entry
                .expect("walks")
                .path()
                .strip_prefix(scratch.path())
                .expect("inside")
                .display()
                .to_string()
        })
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "fleet.toml",
            "tpl",
            "tpl/services",
            "tpl/services/rust",
            "tpl/services/rust/src",
            "tpl/services/rust/src/lib.rs.jinja"
        ],
        "nothing may be written when rendering fails, not even a folder or a temporary file"
    );
}

#[test]
fn an_override_that_does_not_parse_names_its_file_and_line() {
    let scratch = Scratch::with_manifest(&MINIMAL.replace(
        "description = \"A single",
        "templates = \"tpl\"\ndescription = \"A single",
    ));
    scratch.write(
        "tpl/services/rust/src/lib.rs.jinja",
        "ok\n{% if service.name %}\nnever closed\n",
    );
    let run = scratch.run(&["generate"]);
    run.assert_code(2)
        .assert_stderr_contains("template override `services/rust/src/lib.rs.jinja` does not parse")
        .assert_stderr_contains("lib.rs.jinja:2)")
        .assert_stderr_contains("help: fix ./tpl/services/rust/src/lib.rs.jinja, or delete it");
    assert!(
        !scratch.exists("fleet.lock") && !scratch.exists("services"),
        "nothing may be written"
    );
}
