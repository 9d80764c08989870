//! The Kubernetes manifests, checked by real tools: kustomize (the Go library, through
//! pykustomize) builds the base and both overlays; kubernetes-validate holds every object of
//! the generated files and of each build to the Kubernetes 1.33 schemas, strictly (unknown
//! fields and unknown kinds fail); `k8s_refs.py` checks what schemas cannot see (selectors,
//! references, named ports, hardening). Each check also runs on a broken copy, to prove it
//! can fail. The tools come from `scripts/tools.sh` (`FLEETWRIGHT_TOOLS`); `#[ignore]`d in the
//! fast loop, required under CI.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::Yaml;

use crate::support::{ECOMMERCE, Scratch, required_under_ci, run_tool, tool};

const VALIDATORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/validators");
const OVERLAYS: [&str; 3] = ["base", "overlays/dev", "overlays/prod"];

/// The Python that has kubernetes-validate and pykustomize.
fn python() -> Option<PathBuf> {
    let python = tool("python")?;
    let ready = Command::new(&python)
        .args(["-c", "import kubernetes_validate, pykustomize"])
        .output()
        .is_ok_and(|o| o.status.success());
    required_under_ci(
        ready.then_some(python),
        "a python with kubernetes-validate and pykustomize (scripts/tools.sh)",
    )
}

/// Runs one of `scripts/validators/` in `dir`: whether it passed, stdout, stderr.
fn script(python: &Path, name: &str, args: &[&str], dir: &Path) -> (bool, String, String) {
    let output = Command::new(python)
        .arg(Path::new(VALIDATORS).join(name))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("validator runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Builds `overlay` of the tree at `k8s` into `<k8s>/../built-<name>.yaml`; returns that path.
fn build(python: &Path, k8s: &Path, overlay: &str) -> PathBuf {
    let (ok, yaml, err) = script(python, "kustomize_build.py", &[overlay], k8s);
    assert!(ok, "kustomize cannot build {overlay}:\n{err}");
    let out = k8s.with_file_name(format!("built-{}.yaml", overlay.replace('/', "-")));
    std::fs::write(&out, yaml).unwrap();
    out
}

/// Validates files strictly against the Kubernetes 1.33 schemas.
fn validate(python: &Path, files: &[String], dir: &Path) -> (bool, String) {
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (ok, out, err) = script(python, "kv_strict.py", &args, dir);
    (ok, format!("{out}{err}"))
}

/// What `k8s_refs.py` found in one build.
struct Refs {
    errors: Vec<String>,
    missing_secrets: BTreeSet<String>,
    dangling_peers: Vec<String>,
}

fn refs(python: &Path, built: &Path) -> Refs {
    let (_, out, err) = script(python, "k8s_refs.py", &[&built.to_string_lossy()], Path::new("."));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("k8s_refs.py: {e}\n{out}{err}"));
    let strings = |key: &str| -> Vec<String> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    Refs {
        errors: strings("errors"),
        missing_secrets: strings("missing_secrets").into_iter().collect(),
        dangling_peers: strings("dangling_peers"),
    }
}

/// Every generated Kubernetes object file (not kustomizations, not the Envoy config).
fn object_files(k8s: &Path) -> Vec<String> {
    let files: Vec<String> = walkdir::WalkDir::new(k8s)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        .filter(|e| !["kustomization.yaml", "envoy.yaml"].contains(&e.file_name().to_str().unwrap()))
        .map(|e| e.path().strip_prefix(k8s).unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    files
}

/// The Secrets the prod overlay's comment tells the operator to create.
fn documented_secrets(k8s: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(k8s.join("overlays/prod/kustomization.yaml"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split("create secret generic ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// Every check on the `deploy/k8s` tree of one generated workspace; returns the dev build.
fn check_tree(python: &Path, k8s: &Path) -> String {
    let (ok, out) = validate(python, &object_files(k8s), k8s);
    assert!(ok, "a generated object breaks the Kubernetes 1.33 schema:\n{out}");
    if let Some(envoy) = tool("envoy") {
        let output = Command::new(envoy)
            .args([
                "--mode",
                "validate",
                "-c",
                "base/gateway/envoy.yaml",
                "--log-level",
                "error",
            ])
            .current_dir(k8s)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "envoy rejects the cluster flavour of its config:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for overlay in OVERLAYS {
        let built = build(python, k8s, overlay);
        let (ok, out) = validate(python, &[built.to_string_lossy().into_owned()], k8s);
        assert!(ok, "{overlay} builds objects that break the schema:\n{out}");
        let found = refs(python, &built);
        assert!(found.errors.is_empty(), "{overlay}: {:#?}", found.errors);
        // deploy/k8s/release.sh applies and prunes by this label, so every object needs it.
        if overlay != "base" {
            for (kind, name, labels) in objects(&built) {
                assert!(
                    labels["app.kubernetes.io/part-of"].as_str().is_some(),
                    "{overlay}: {kind}/{name} lacks the label release.sh prunes by"
                );
            }
        }
        match overlay {
            // Development is self-contained: every Secret and every network peer is in it.
            "overlays/dev" => {
                assert!(found.missing_secrets.is_empty(), "{:?}", found.missing_secrets);
                assert!(found.dangling_peers.is_empty(), "{:?}", found.dangling_peers);
            }
            // Production reads exactly the Secrets its comment documents, and its network
            // policies name no in-cluster database or broker.
            "overlays/prod" => {
                assert_eq!(found.missing_secrets, documented_secrets(k8s));
                assert!(found.dangling_peers.is_empty(), "{:?}", found.dangling_peers);
            }
            _ => {}
        }
    }
    std::fs::read_to_string(k8s.with_file_name("built-overlays-dev.yaml")).unwrap()
}

/// `yaml` with the keys of every mapping in order, since kustomize sorts them.
fn keys_sorted(yaml: &Yaml) -> Yaml {
    match yaml {
        Yaml::Hash(map) => {
            let mut entries: Vec<(Yaml, Yaml)> = map.iter().map(|(k, v)| (k.clone(), keys_sorted(v))).collect();
            entries.sort();
            Yaml::Hash(entries.into_iter().collect())
        }
        Yaml::Array(items) => Yaml::Array(items.iter().map(keys_sorted).collect()),
        other => other.clone(),
    }
}

fn count(yaml: &str, kind: &str) -> usize {
    yaml.lines().filter(|l| *l == format!("kind: {kind}")).count()
}

#[test]
#[ignore = "needs kubernetes-validate and pykustomize from scripts/tools.sh; run by .ci/run"]
fn kubernetes_manifests_build_and_validate() {
    let Some(python) = python() else { return };
    // ecommerce: four PostgreSQL services, NATS, one autoscaled service.
    let scratch = Scratch::new();
    scratch.run(&["new", "ws", "--example", "ecommerce"]).assert_code(0);
    let dev = check_tree(&python, &scratch.join("ws/deploy/k8s"));
    assert_eq!(count(&dev, "Deployment"), 5, "four services and the gateway");
    assert_eq!(count(&dev, "StatefulSet"), 5, "four databases and NATS");
    assert_eq!(count(&dev, "HorizontalPodAutoscaler"), 1, "only products autoscales");
    assert_eq!(count(&dev, "PodDisruptionBudget"), 5);
    assert_eq!(count(&dev, "Namespace"), 1);
    // minimal: one SQLite service, no broker.
    let scratch = Scratch::new();
    scratch.run(&["new", "ws", "--example", "minimal"]).assert_code(0);
    let dev = check_tree(&python, &scratch.join("ws/deploy/k8s"));
    assert_eq!(count(&dev, "Deployment"), 2);
    assert_eq!(count(&dev, "StatefulSet"), 0);
    assert_eq!(count(&dev, "PersistentVolumeClaim"), 1, "the SQLite volume");
    assert_eq!(count(&dev, "HorizontalPodAutoscaler"), 0);
}

#[test]
#[ignore = "needs kubernetes-validate and pykustomize from scripts/tools.sh; run by .ci/run"]
fn gateway_api_routes_and_service_monitors_build() {
    let Some(python) = python() else { return };
    // Under the example's [auth], only a service whose `access` declares `grpc` has its gRPC
    // API routed: products, here.
    let example = ECOMMERCE.replace(
        "[services.products.access]\n",
        "[services.products.access]\ngrpc = \"role:admin\"\n",
    );
    let manifest = format!(
        "{example}\n[deploy.kubernetes]\nnamespace = \"shop-live\"\ngateway_api = true\nservice_monitor = true\n"
    );
    let scratch = Scratch::with_manifest(&manifest);
    scratch.run(&["generate"]).assert_code(0);
    let k8s = scratch.join("deploy/k8s");
    // Gateway API and Prometheus Operator kinds are CRDs without a schema here: kv_strict.py
    // skips them with a note and validates everything else.
    let dev = check_tree(&python, &k8s);
    assert_eq!(count(&dev, "HTTPRoute"), 1);
    assert_eq!(count(&dev, "GRPCRoute"), 1);
    assert_eq!(count(&dev, "ServiceMonitor"), 5, "four services and the gateway");
    // Each service's alerts, the very rules of deploy/compose/alerts.yml that its unit tests prove.
    assert_eq!(count(&dev, "PrometheusRule"), 4, "one per service");
    let compose = &Yaml::Array(
        yaml_rust2::YamlLoader::load_from_str(&scratch.read("deploy/compose/alerts.yml")).unwrap()[0]["groups"]
            .as_vec()
            .unwrap()
            .clone(),
    );
    let built = yaml_rust2::YamlLoader::load_from_str(&dev).unwrap();
    let rules: Vec<_> = built
        .iter()
        .filter(|d| d["kind"].as_str() == Some("PrometheusRule"))
        .collect();
    for rule in &rules {
        let groups = rule["spec"]["groups"].as_vec().unwrap();
        let name = rule["metadata"]["name"].as_str().unwrap();
        assert_eq!(groups.len(), 1, "{name}");
        let same = compose
            .as_vec()
            .unwrap()
            .iter()
            .find(|g| g["name"].as_str() == Some(name));
        assert_eq!(
            Some(keys_sorted(&groups[0])),
            same.map(keys_sorted),
            "{name}: not the rules of deploy/compose/alerts.yml"
        );
    }
    assert!(dev.contains("namespace: shop-live") && !dev.contains("namespace: shop\n"));
    assert!(
        !dev.contains("prometheus.io/scrape"),
        "annotations give way to ServiceMonitors"
    );

    // The CRD kinds against the Gateway API and Prometheus Operator schemas, in both builds.
    let Some(node) = node_with_crd_schemas() else { return };
    for built in ["built-overlays-dev.yaml", "built-overlays-prod.yaml"] {
        let (ok, out) = crd_validate(&node, &k8s.with_file_name(built));
        assert!(
            ok,
            "{built}: a Gateway API or ServiceMonitor object breaks its schema:\n{out}"
        );
        assert_eq!(
            out.lines().filter(|l| l.ends_with(": ok")).count(),
            11,
            "{built}:\n{out}"
        );
    }
    // ... and the check can fail: an unknown path match type and a non-numeric interval.
    let broken = k8s.with_file_name("broken-crds.yaml");
    let dev = dev
        .replacen("type: PathPrefix", "type: Prefix", 1)
        .replacen("interval: 30s", "interval: soon", 1);
    std::fs::write(&broken, dev).unwrap();
    let (ok, out) = crd_validate(&node, &broken);
    assert!(!ok, "broken CRD objects passed:\n{out}");
    assert!(out.contains("HTTPRoute") && out.contains("path/type"), "{out}");
    assert!(out.contains("ServiceMonitor") && out.contains("interval"), "{out}");
}

/// node, when the `@kubernetes-models` validators are installed (`FLEETWRIGHT_NODE_MODULES`).
fn node_with_crd_schemas() -> Option<PathBuf> {
    let modules = std::env::var_os("FLEETWRIGHT_NODE_MODULES").map(PathBuf::from);
    let ready = modules.is_some_and(|m| m.join("@kubernetes-models/gateway-api").exists());
    required_under_ci(
        ready.then_some(()),
        "@kubernetes-models in FLEETWRIGHT_NODE_MODULES (scripts/tools.sh)",
    )?;
    tool("node")
}

/// Runs `crd_validate.mjs` on one multi-document YAML file.
fn crd_validate(node: &Path, file: &Path) -> (bool, String) {
    let script = Path::new(VALIDATORS).join("crd_validate.mjs");
    let (code, out) = run_tool(
        node,
        &[&script.to_string_lossy(), &file.to_string_lossy()],
        Path::new("."),
    );
    (code == 0, out)
}

/// Replaces `from` with `to` in one file of a broken copy; the text must be there.
fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
#[ignore = "needs kubernetes-validate and pykustomize from scripts/tools.sh; run by .ci/run"]
fn broken_manifests_fail_each_check() {
    let Some(python) = python() else { return };
    let scratch = Scratch::new();
    scratch.run(&["new", "ws", "--example", "ecommerce"]).assert_code(0);
    let copies = std::cell::Cell::new(0);
    let fresh = || {
        copies.set(copies.get() + 1);
        let broken = scratch.join(&format!("broken-{}/k8s", copies.get()));
        crate::support::copy_tree(&scratch.join("ws/deploy/k8s"), &broken);
        broken
    };

    // An unknown field in a Deployment: the file and the build both fail the schema.
    let k8s = fresh();
    edit(
        &k8s,
        "base/users/deployment.yaml",
        "  revisionHistoryLimit:",
        "  revisionHistoryLimt:",
    );
    let (ok, out) = validate(&python, &["base/users/deployment.yaml".to_owned()], &k8s);
    assert!(
        !ok && out.contains("revisionHistoryLimt"),
        "unknown field accepted:\n{out}"
    );
    let built = build(&python, &k8s, "overlays/dev");
    let (ok, out) = validate(&python, &[built.to_string_lossy().into_owned()], &k8s);
    assert!(
        !ok && out.contains("revisionHistoryLimt"),
        "unknown field accepted after a build:\n{out}"
    );

    // A removed API version is an unknown kind, which fails rather than warns.
    let k8s = fresh();
    edit(&k8s, "base/users/scaling.yaml", "policy/v1", "policy/v1beta1");
    let (ok, out) = validate(&python, &["base/users/scaling.yaml".to_owned()], &k8s);
    assert!(!ok && out.contains("no schema"), "policy/v1beta1 accepted:\n{out}");

    // A kustomization listing a missing file does not build.
    let k8s = fresh();
    edit(
        &k8s,
        "base/users/kustomization.yaml",
        "  - networkpolicy.yaml\n",
        "  - networkpolicy.yaml\n  - missing.yaml\n",
    );
    let (ok, _, err) = script(&python, "kustomize_build.py", &["overlays/dev"], &k8s);
    assert!(
        !ok && err.contains("missing.yaml"),
        "kustomize built a missing file:\n{err}"
    );

    // The prod patches check which egress rule they replace before replacing it.
    let k8s = fresh();
    edit(
        &k8s,
        "base/orders/networkpolicy.yaml",
        "name: orders-db",
        "name: orders-database",
    );
    let (ok, _, err) = script(&python, "kustomize_build.py", &["overlays/prod"], &k8s);
    assert!(!ok, "prod replaced an egress rule it did not recognise:\n{err}");

    // What the schemas cannot see: a Service port aimed at no container port, a Secret kept
    // in a ConfigMap, and a container that may escalate privileges.
    let k8s = fresh();
    edit(&k8s, "base/users/service.yaml", "targetPort: grpc", "targetPort: grcp");
    edit(
        &k8s,
        "base/users/config.env",
        "RUST_LOG=info",
        "RUST_LOG=info\nDATABASE_URL=postgres://x",
    );
    edit(
        &k8s,
        "base/orders/deployment.yaml",
        "allowPrivilegeEscalation: false",
        "allowPrivilegeEscalation: true",
    );
    let built = build(&python, &k8s, "overlays/dev");
    let (ok, out) = validate(&python, &[built.to_string_lossy().into_owned()], &k8s);
    assert!(ok, "the schema should not be what catches these:\n{out}");
    let errors = refs(&python, &built).errors.join("\n");
    for expected in ["targetPort grcp", "holds DATABASE_URL", "orders/orders: not hardened"] {
        assert!(errors.contains(expected), "k8s_refs.py missed `{expected}`:\n{errors}");
    }
}

/// checkov: `FLEETWRIGHT_CHECKOV` (scripts/tools.sh installs it in its own virtualenv).
fn checkov() -> Option<PathBuf> {
    let checkov = std::env::var_os("FLEETWRIGHT_CHECKOV").map(PathBuf::from);
    required_under_ci(checkov, "checkov in FLEETWRIGHT_CHECKOV (scripts/tools.sh)")
}

/// Runs checkov's `framework` policies offline on `targets` (files, or `-d DIR`) in `dir`.
fn run_checkov(checkov: &Path, framework: &str, targets: &[&str], dir: &Path) -> (bool, String) {
    let mut args = vec!["--framework", framework, "--quiet", "--compact", "--skip-download"];
    args.extend_from_slice(targets);
    let (code, out) = run_tool(checkov, &args, dir);
    (code == 0, out)
}

#[test]
#[ignore = "needs checkov and pykustomize from scripts/tools.sh; run by .ci/run"]
fn checkov_finds_no_failed_check() {
    let (Some(python), Some(checkov)) = (python(), checkov()) else {
        return;
    };
    let scratch = Scratch::new();
    scratch.run(&["new", "ws", "--example", "ecommerce"]).assert_code(0);
    let root = scratch.join("ws");
    let k8s = root.join("deploy/k8s");
    // What a cluster receives: both overlays, as kustomize builds them. Each exception is an
    // annotation in the generated file, with its reason.
    for overlay in ["overlays/dev", "overlays/prod"] {
        let built = build(&python, &k8s, overlay);
        let (ok, out) = run_checkov(&checkov, "kubernetes", &["-f", &built.to_string_lossy()], &root);
        assert!(ok, "checkov fails {overlay}:\n{out}");
    }
    let (ok, out) = run_checkov(&checkov, "dockerfile", &["-d", "services"], &root);
    assert!(ok, "checkov fails a Dockerfile:\n{out}");
    let (ok, out) = run_checkov(&checkov, "github_actions", &["-d", ".github"], &root);
    assert!(ok, "checkov fails a workflow:\n{out}");

    // It can fail: a container allowed a writable root filesystem.
    let built = std::fs::read_to_string(k8s.with_file_name("built-overlays-prod.yaml")).unwrap();
    assert!(built.contains("readOnlyRootFilesystem: true"));
    let broken = k8s.with_file_name("broken-prod.yaml");
    std::fs::write(
        &broken,
        built.replacen("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", 1),
    )
    .unwrap();
    let (ok, out) = run_checkov(&checkov, "kubernetes", &["-f", &broken.to_string_lossy()], &root);
    assert!(
        !ok && out.contains("CKV_K8S_22"),
        "checkov accepted a writable root filesystem:\n{out}"
    );
}

/// Two SQLite services, so that one can be removed (issue 14, immutable releases).
const TWO_SERVICES: &str = concat!(
    include_str!("../../examples/minimal/fleet.toml"),
    "\n[services.tags]\ndescription = \"Tags notes\"\ndatabase = \"sqlite\"\nroute = \"/api/tags\"\n",
    "\n[services.tags.entities.Tag]\nname = \"string\"\n",
);

/// A `kubectl` stand-in for `release.sh`: it logs its arguments and, asked for a Deployment's
/// image, prints `KUBECTL_RUNNING` (what the cluster would run).
const FAKE_KUBECTL: &str = "#!/bin/sh\necho \"$*\" >> \"$KUBECTL_LOG\"\n\
    case \"$3\" in get) printf '%s' \"${KUBECTL_RUNNING:-}\" ;; esac\n";

/// Runs the generated `deploy/k8s/release.sh` of `root` with the fake kubectl; returns its
/// exit code, its stderr and what it asked kubectl.
pub(crate) fn release(root: &Path, args: &[&str], running: &str) -> (i32, String, String) {
    let bin = root.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("kubectl"), FAKE_KUBECTL).unwrap();
    let log = root.join("kubectl.log");
    let _ = std::fs::remove_file(&log);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("kubectl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new(root.join("deploy/k8s/release.sh"))
        .args(args)
        .env("PATH", path)
        .env("KUBECTL_LOG", &log)
        .env("KUBECTL_RUNNING", running)
        .output()
        .expect("release.sh runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

/// The objects of a kustomize build: (kind, name, its labels).
fn objects(built: &Path) -> Vec<(String, String, yaml_rust2::Yaml)> {
    let text = std::fs::read_to_string(built).unwrap();
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap()
        .into_iter()
        .filter(|doc| !doc.is_null())
        .map(|doc| {
            let kind = doc["kind"].as_str().unwrap().to_owned();
            let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
            (kind, name, doc["metadata"]["labels"].clone())
        })
        .collect()
}

/// The image and pull policy of each service Deployment of a build, by name.
fn service_images(built: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(built).unwrap();
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap()
        .into_iter()
        .filter(|doc| {
            doc["kind"].as_str() == Some("Deployment")
                && doc["metadata"]["labels"]["app.kubernetes.io/component"].as_str() == Some("service")
        })
        .map(|doc| {
            let container = &doc["spec"]["template"]["spec"]["containers"][0];
            (
                doc["metadata"]["name"].as_str().unwrap().to_owned(),
                container["image"].as_str().unwrap().to_owned(),
                container["imagePullPolicy"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs kubernetes-validate and pykustomize from scripts/tools.sh; run by .ci/run"]
fn releases_pin_images_by_digest_and_prune_removed_services() {
    let Some(python) = python() else { return };
    let scratch = Scratch::with_manifest(TWO_SERVICES);
    scratch.run(&["generate"]).assert_code(0);
    let root = scratch.path();
    let k8s = scratch.join("deploy/k8s");
    let digest = format!("sha256:{}", "0a".repeat(32));
    let notes = format!("localhost:5000/hello-notes:4b825dc642cb6eb9a060e54bf8d69288fbee4904@{digest}");
    let tags = format!("localhost:5000/hello-tags:c0ffee@{digest}");

    // Without a release, every overlay still builds and validates, on the version tag.
    for overlay in OVERLAYS {
        let built = build(&python, &k8s, overlay);
        for (name, image, policy) in service_images(&built) {
            assert_eq!(image, format!("localhost:5000/hello-{name}:0.1.0"), "{overlay}");
            assert_eq!(policy, "IfNotPresent", "{overlay}");
        }
    }

    // `notes` is named with its new build; `tags` keeps the build the cluster runs.
    let (code, err, kubectl) = release(root, &["prod", &format!("notes={notes}")], &tags);
    assert_eq!(code, 0, "{err}");
    assert!(
        kubectl.contains("get deployment tags --ignore-not-found") && !kubectl.contains("get deployment notes"),
        "{kubectl}"
    );
    let apply = kubectl
        .lines()
        .find(|l| l.starts_with("apply "))
        .expect("release.sh applies");
    assert!(
        apply.starts_with("apply -k release --prune -l app.kubernetes.io/part-of=hello "),
        "{apply}"
    );
    assert!(kubectl.contains("rollout status deployment/notes"), "{kubectl}");
    let built = build(&python, &k8s, "release");
    let (ok, out) = validate(&python, &[built.to_string_lossy().into_owned()], &k8s);
    assert!(ok, "the release breaks the schema:\n{out}");
    let mut images = service_images(&built);
    images.sort();
    assert_eq!(
        images,
        [
            ("notes".to_owned(), notes.clone(), "IfNotPresent".to_owned()),
            ("tags".to_owned(), tags.clone(), "IfNotPresent".to_owned()),
        ]
    );
    let released = std::fs::read_to_string(k8s.join("release/kustomization.yaml")).unwrap();

    // A build that is not pinned by digest, an unknown service and a service that runs
    // nowhere yet are refused, and the last release is left as it was.
    let mutable = "localhost:5000/hello-tags:0.1.0";
    for (args, running, code, says) in [
        (
            vec!["prod".to_owned(), format!("notes={notes}")],
            mutable,
            1,
            "not localhost:5000/hello-tags:COMMIT@sha256:DIGEST",
        ),
        (
            vec!["prod".to_owned(), format!("note={notes}")],
            "",
            2,
            "unknown service `note`",
        ),
        (
            vec!["prod".to_owned(), format!("notes={notes}")],
            "",
            1,
            "`tags` does not run in namespace hello yet",
        ),
        (vec!["staging".to_owned()], "", 2, "usage: release.sh dev|prod"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (got, err, kubectl) = release(root, &args, running);
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!kubectl.contains("apply"), "{args:?} applied: {kubectl}");
        assert_eq!(
            std::fs::read_to_string(k8s.join("release/kustomization.yaml")).unwrap(),
            released
        );
        assert!(!k8s.join("release/kustomization.yaml.new").exists());
    }

    assert_removed_service_is_pruned(&python, &scratch, apply);
}

/// One job of a parsed CI file.
fn job<'a>(ci: &'a yaml_rust2::Yaml, name: &str) -> &'a yaml_rust2::Yaml {
    let job = &ci[name];
    assert!(!job.is_badvalue(), "no job `{name}`");
    job
}

/// The lines of a job's `script` (GitLab) or a step's `run` (GitHub), joined.
fn script_of(job: &yaml_rust2::Yaml) -> String {
    match job {
        yaml_rust2::Yaml::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect::<Vec<_>>().join("\n"),
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn deploys_take_the_digest_from_the_push() {
    let scratch = Scratch::with_manifest(&format!("{ECOMMERCE}\n"));
    scratch.run(&["generate"]).assert_code(0);
    let load = |path: &str| {
        yaml_rust2::YamlLoader::load_from_str(&scratch.read(path))
            .unwrap()
            .remove(0)
    };

    // GitHub: the image job names its build by commit tag and the digest its push step
    // returned; the deploy job hands exactly that to the deploy workflow, which releases it.
    let users = load(".github/workflows/users.yml");
    let jobs = &users["jobs"];
    let image = job(jobs, "image");
    let push = image["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("docker/build-push-action@"))
        })
        .expect("a push step");
    let id = push["id"].as_str().expect("the push step has an id");
    assert_eq!(
        image["outputs"]["image"].as_str(),
        Some(format!("ghcr.io/acme/shop-users:${{{{ github.sha }}}}@${{{{ steps.{id}.outputs.digest }}}}").as_str())
    );
    assert!(
        push["with"]["tags"]
            .as_str()
            .unwrap()
            .contains("ghcr.io/acme/shop-users:${{ github.sha }}")
    );
    let deploy = job(jobs, "deploy");
    assert_eq!(deploy["needs"].as_str(), Some("image"));
    assert_eq!(deploy["uses"].as_str(), Some("./.github/workflows/deploy.yml"));
    assert_eq!(
        deploy["with"]["images"].as_str(),
        Some("users=${{ needs.image.outputs.image }}")
    );
    let workflow = load(".github/workflows/deploy.yml");
    assert!(!workflow["on"]["workflow_call"]["inputs"]["images"].is_badvalue());
    let steps = script_of(&Yaml::Array(
        job(&workflow["jobs"], "apply")["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|s| s["run"].clone())
            .collect(),
    ));
    assert!(
        steps.contains("deploy/k8s/release.sh \"$OVERLAY\" \"${images[@]}\""),
        "{steps}"
    );
    assert!(!steps.contains("kubectl apply"), "deploys bypass release.sh:\n{steps}");

    // GitLab, in step: the image job passes its digest on as a dotenv report to its deploy job.
    let gitlab = load(".gitlab-ci.yml");
    let image = job(&gitlab, "users:image");
    assert!(script_of(&image["script"]).contains("RELEASE_IMAGE=$IMAGE:$CI_COMMIT_SHA@${digest#*@}"));
    assert!(script_of(&image["script"]).contains("docker inspect --format '{{index .RepoDigests 0}}'"));
    let report = image["artifacts"]["reports"]["dotenv"]
        .as_str()
        .expect("a dotenv report");
    assert!(script_of(&image["script"]).contains(&format!("> {report}")));
    let deploy = job(&gitlab, "users:deploy");
    assert_eq!(deploy["needs"][0].as_str(), Some("users:image"));
    assert_eq!(
        script_of(&deploy["script"]),
        "deploy/k8s/release.sh dev \"users=$RELEASE_IMAGE\""
    );
    assert!(script_of(&job(&gitlab, "deploy")["script"]).starts_with("deploy/k8s/release.sh \"$OVERLAY\""));
}

/// Removes `tags` from the manifest of `scratch`: everything of it that the cluster would
/// keep is within the prune selector of `apply` (release.sh's kubectl command line) and its
/// allowlist, except what is kept on purpose.
fn assert_removed_service_is_pruned(python: &Path, scratch: &Scratch, apply: &str) {
    let k8s = scratch.join("deploy/k8s");
    let allowlist: Vec<&str> = apply
        .split_whitespace()
        .filter_map(|a| a.strip_prefix("--prune-allowlist="))
        .collect();
    let before = objects(&build(python, &k8s, "overlays/prod"));
    scratch.write("fleet.toml", crate::support::MINIMAL);
    scratch.run(&["generate"]).assert_code(0);
    let after = objects(&build(python, &k8s, "overlays/prod"));
    let names = |objects: &[(String, String, yaml_rust2::Yaml)]| -> BTreeSet<(String, String)> {
        objects.iter().map(|(k, n, _)| (k.clone(), n.clone())).collect()
    };
    let kept = names(&after);
    let removed: Vec<_> = before
        .iter()
        .filter(|(k, n, _)| !kept.contains(&(k.clone(), n.clone())))
        .collect();
    let removed_kinds: BTreeSet<&str> = removed.iter().map(|(k, _, _)| k.as_str()).collect();
    for kind in [
        "Deployment",
        "Service",
        "ServiceAccount",
        "NetworkPolicy",
        "PodDisruptionBudget",
    ] {
        assert!(
            removed_kinds.contains(kind),
            "removing `tags` removes no {kind}: {removed_kinds:?}"
        );
    }
    for (kind, name, labels) in &removed {
        assert_eq!(
            labels["app.kubernetes.io/part-of"].as_str(),
            Some("hello"),
            "{kind}/{name}"
        );
        let pruned = allowlist.iter().any(|a| a.rsplit('/').next() == Some(kind.as_str()));
        let kept_on_purpose = ["ConfigMap", "Secret", "PersistentVolumeClaim"].contains(&kind.as_str());
        assert!(
            pruned || kept_on_purpose,
            "{kind}/{name} of a removed service is never pruned"
        );
    }
    // `apply -l` applies only what carries the label: every object of every build does.
    for overlay in ["overlays/dev", "overlays/prod"] {
        for (kind, name, labels) in objects(&build(python, &k8s, overlay)) {
            assert_eq!(
                labels["app.kubernetes.io/part-of"].as_str(),
                Some("hello"),
                "{overlay}: {kind}/{name}"
            );
        }
    }
}
