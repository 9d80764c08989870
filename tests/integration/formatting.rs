//! Property test (issue #11): every generated Rust file is what rustfmt leaves alone, under
//! the workspace's own `rustfmt.toml`, whatever valid names the manifest uses. Manifests get
//! random names, most of them at or near the longest covered length: a service that calls
//! another and subscribes to its event, entities with fields, on both databases. Each case
//! generates in-process and runs one `rustfmt --check` over the workspace's Rust files;
//! nothing is built.
//!
//! Covered: service and project names up to the naming rules' maximum (40 characters);
//! entity, event and field names up to 40 of the 60 the rules allow (their `snake_case`
//! forms run longer). Names of 41 to 60 characters still meet layouts the helpers in
//! `src/render/rust_layout.rs` do not model yet (rustfmt packing short arguments such as
//! `self, &mut tx, &created,` on one line; `field: get(row, "…")?` in `store.rs`).
//!
//! Failing cases are shrunk and their seeds kept in
//! `tests/proptest-regressions/formatting.txt`, which is committed and replayed first.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fleetwright::render::Templates;
use fleetwright::write::Mode;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// The naming rules' maximum for services and projects (`src/model/names.rs`).
const MAX_SERVICE_NAME: usize = 40;
/// The longest entity, event and field names covered; the rules allow 60 (see above).
const MAX_ITEM_NAME: usize = 40;

const TYPES: [&str; 8] = [
    "string",
    "int32",
    "int64?",
    "bool",
    "text?",
    "uuid",
    "timestamp",
    "string[]",
];

/// A length from 1 to `max`, most often at or near `max`, where lines overflow.
fn length(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![1 => 1..=max, 1 => max - 10..=max, 1 => Just(max)]
}

/// A name of `len` characters: `first`, then characters from `rest`, with `separator` (if
/// any) between some of them, never doubled and never last.
fn name(first: &'static [u8], rest: &'static [u8], separator: Option<u8>, max: usize) -> impl Strategy<Value = String> {
    length(max).prop_flat_map(move |len| {
        (
            proptest::sample::select(first),
            proptest::collection::vec((proptest::sample::select(rest), 0..8_u8), len - 1),
        )
            .prop_map(move |(head, tail)| {
                let mut out = vec![head];
                for (i, (c, roll)) in tail.iter().enumerate() {
                    let last = i + 2 == len;
                    match separator {
                        Some(sep) if *roll == 0 && !last && out.last() != Some(&sep) => {
                            out.push(sep);
                        }
                        _ => out.push(*c),
                    }
                }
                String::from_utf8(out).expect("ASCII")
            })
    })
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `kebab-case` service names; `first` keeps two of them apart.
fn service(first: &'static [u8]) -> impl Strategy<Value = String> {
    name(first, LOWER_DIGITS, Some(b'-'), MAX_SERVICE_NAME)
}

/// `PascalCase` entity and event names.
fn type_name(first: &'static [u8]) -> impl Strategy<Value = String> {
    name(first, ALNUM, None, MAX_ITEM_NAME)
}

/// `snake_case` field names.
fn field(first: &'static [u8]) -> impl Strategy<Value = String> {
    name(first, LOWER_DIGITS, Some(b'_'), MAX_ITEM_NAME)
}

#[derive(Debug, Clone)]
struct Names {
    project: String,
    /// The called service, which publishes `event`.
    callee: String,
    /// The calling service, which subscribes to `event`.
    caller: String,
    entity: String,
    other_entity: String,
    event: String,
    fields: [(String, &'static str); 2],
    postgres: bool,
}

fn names() -> impl Strategy<Value = Names> {
    (
        service(LOWER),
        (service(b"abcdefghijklm"), service(b"nopqrstuvwxyz")),
        (
            type_name(b"ABCDEFGHIJKLM"),
            type_name(b"ABCDEFGHIJKLM"),
            type_name(b"NOPQRSTUVWXYZ"),
        ),
        (field(b"abcdefghijklm"), field(b"nopqrstuvwxyz")),
        (
            proptest::sample::select(&TYPES[..]),
            proptest::sample::select(&TYPES[..]),
        ),
        any::<bool>(),
    )
        .prop_map(
            |(project, (callee, caller), (entity, other_entity, event), (a, b), (ta, tb), postgres)| Names {
                project,
                callee,
                caller,
                entity,
                other_entity,
                event,
                fields: [(a, ta), (b, tb)],
                postgres,
            },
        )
}

impl Names {
    fn manifest(&self) -> String {
        let Self {
            project,
            callee,
            caller,
            entity,
            other_entity,
            event,
            fields,
            postgres,
        } = self;
        let database = if *postgres { "postgres" } else { "sqlite" };
        let fields: String = fields
            .iter()
            .map(|(name, ty)| [name.as_str(), " = \"", ty, "\"\n"].concat())
            .collect();
        format!(
            "version = 1\n\n[project]\nname = \"{project}\"\n\n[messaging]\nbroker = \"nats\"\n\n\
             [services.{callee}]\ndatabase = \"{database}\"\nroute = \"/api/callee\"\npublishes = [\"{event}\"]\n\n\
             [services.{callee}.entities.{entity}]\n{fields}\n\
             [services.{callee}.events.{event}]\n{fields}\n\
             [services.{caller}]\ndatabase = \"sqlite\"\nroute = \"/api/caller\"\ncalls = [\"{callee}\"]\n\
             subscribes = [\"{callee}.{event}\"]\n\n\
             [services.{caller}.entities.{other_entity}]\n{fields}"
        )
    }
}

/// The workspace's Rust files; not `.fleetwright/`, whose base copies of generated files are
/// the same text, kept for three-way merges and never compiled.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.file_name().is_some_and(|name| name == ".fleetwright") {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Generates `names`' workspace and returns rustfmt's complaints, if any.
fn rustfmt_diff(names: &Names) -> Result<Option<String>, TestCaseError> {
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| Templates::embedded().expect("embedded templates build"));
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("fleet.toml");
    std::fs::write(&manifest, names.manifest()).expect("write fleet.toml");
    let loaded = match fleetwright::model::load(&manifest) {
        Ok(loaded) => loaded,
        // A random name may be a reserved word; that manifest is not valid, so not a case.
        Err(error) => {
            let message = format!("{error:?}");
            prop_assume!(!message.contains("reserved"), "reserved name");
            return Err(TestCaseError::fail(format!(
                "invalid manifest: {message}\n{}",
                names.manifest()
            )));
        }
    };
    let options = fleetwright::write::Options {
        mode: Mode::Write,
        force: false,
        diffs: false,
        recover: false,
    };
    fleetwright::generate_loaded(&loaded, dir.path(), templates, options)
        .map_err(|error| TestCaseError::fail(format!("generate: {error:?}")))?;
    let mut files = Vec::new();
    rust_files(dir.path(), &mut files);
    files.sort();
    let output = std::process::Command::new("rustfmt")
        .args(["--check", "--edition", "2024", "--color", "never", "--config-path"])
        .arg(dir.path().join("rustfmt.toml"))
        .args(&files)
        .output()
        .expect("rustfmt runs");
    if output.status.success() {
        return Ok(None);
    }
    let root = dir.path().to_string_lossy().into_owned();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Some(text.replace(&root, "<ws>")))
}

proptest! {
    #![proptest_config(Config {
        // A few seconds per dozen cases; FLEETWRIGHT_PROPTEST_CASES=500 explores further.
        cases: std::env::var("FLEETWRIGHT_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/formatting.txt"))),
        ..Config::default()
    })]

    #[test]
    fn generated_rust_is_what_rustfmt_leaves_alone(names in names()) {
        if let Some(diff) = rustfmt_diff(&names)? {
            let shown: String = diff.lines().take(60).collect::<Vec<_>>().join("\n");
            prop_assert!(false, "rustfmt would change the generated Rust of\n{}\n{shown}", names.manifest());
        }
    }
}
