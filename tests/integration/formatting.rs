//! Property test (issue #11): every generated Rust file is what rustfmt leaves alone, under
//! the workspace's own `rustfmt.toml`, whatever valid names the manifest uses. Manifests get
//! random names, most of them at or near the longest the naming rules allow (40 characters
//! for services, projects, entities, events, operations and fields; roles, which have no
//! maximum, up to 40 too). The manifest has a service that calls another and subscribes to
//! its event, under `[auth]` with role and scope policies and an owner rule, an entity with a
//! filtered field, a second entity referring to it, operations (one publishing, one
//! read-only answering fields, one a page of entities), on both databases. Each case generates in-process and runs one
//! `rustfmt --check` over the workspace's Rust files; nothing is built.
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
/// The naming rules' maximum for entities, events, operations and fields; the longest roles
/// covered.
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

/// A role name of the access policies.
fn role() -> impl Strategy<Value = String> {
    name(LOWER, LOWER_DIGITS, Some(b'-'), MAX_ITEM_NAME)
}

#[derive(Debug, Clone)]
struct Names {
    project: String,
    /// The called service, which publishes `event`.
    callee: String,
    /// The calling service, which subscribes to `event`.
    caller: String,
    /// The callee's entity, owned by the caller whose token's subject is in `owner` unless
    /// their token grants `role`.
    entity: String,
    /// The callee's second entity, which refers to `entity` by `reference`.
    child: String,
    other_entity: String,
    event: String,
    fields: [(String, &'static str); 2],
    /// `entity`'s owner field (a filtered `uuid`) and `child`'s reference to `entity`.
    owner: String,
    reference: String,
    /// The callee's operations: one answering `entity` from a path parameter and publishing
    /// `event`, one read-only answering fields, one read-only answering a page of `entity`.
    operations: [String; 3],
    role: String,
    postgres: bool,
}

fn names() -> impl Strategy<Value = Names> {
    (
        service(LOWER),
        (service(b"abcdefghijklm"), service(b"nopqrstuvwxyz")),
        (
            type_name(b"ABCDEF"),
            type_name(b"GHIJKLM"),
            type_name(b"ABCDEFGHIJKLM"),
            type_name(b"NOPQRSTUVWXYZ"),
        ),
        (field(b"abcdefghijklm"), field(b"nopqrstuvwxyz")),
        (
            proptest::sample::select(&TYPES[..]),
            proptest::sample::select(&TYPES[..]),
        ),
        (field(b"nopqrstuvwxyz"), field(b"abcdefghijklm")),
        (field(b"abcdefghi"), field(b"nopqrstuvwxyz"), field(b"jklm")),
        role(),
        any::<bool>(),
    )
        .prop_map(
            |(
                project,
                (callee, caller),
                (entity, child, other_entity, event),
                (a, b),
                (ta, tb),
                (owner, reference),
                (write, read, page),
                role,
                postgres,
            )| Names {
                project,
                callee,
                caller,
                entity,
                child,
                other_entity,
                event,
                fields: [(a, ta), (b, tb)],
                owner,
                reference,
                operations: [write, read, page],
                role,
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
            child,
            other_entity,
            event,
            fields,
            owner,
            reference,
            operations: [write, read, page],
            role,
            postgres,
        } = self;
        let database = if *postgres { "postgres" } else { "sqlite" };
        let fields: String = fields
            .iter()
            .map(|(name, ty)| [name.as_str(), " = \"", ty, "\"\n"].concat())
            .collect();
        // A field named like one of `fields` would be a duplicate key: not a case.
        let owner = if fields.contains(&format!("{owner} =")) {
            "owner_id"
        } else {
            owner.as_str()
        };
        let reference = if fields.contains(&format!("{reference} =")) {
            "parent_id"
        } else {
            reference.as_str()
        };
        format!(
            "version = 1\n\n[project]\nname = \"{project}\"\n\n\
             [auth]\nissuer = \"https://id.example.com\"\naudiences = [\"api\"]\n\
             jwks_uri = \"https://id.example.com/certs\"\n\n\
             [messaging]\nbroker = \"nats\"\n\n\
             [services.{callee}]\ndatabase = \"{database}\"\nroute = \"/api/callee\"\npublishes = [\"{event}\"]\n\n\
             [services.{callee}.access]\ndefault = \"authenticated\"\nread = [\"role:{role}\", \"scope:{role}\"]\n\
             delete = \"role:{role}\"\ngrpc = [\"role:{role}\"]\noperations = {{ {read} = \"public\" }}\n\n\
             [services.{callee}.access.entities.{entity}]\nowner = \"{owner}\"\nany_owner = \"role:{role}\"\n\n\
             [services.{callee}.access.entities.{child}]\nupdate = \"role:{role}\"\n\n\
             [services.{callee}.entities.{entity}]\n{fields}{owner} = {{ type = \"uuid\", filter = true }}\n\n\
             [services.{callee}.entities.{child}]\n{fields}{reference} = \"ref({entity})\"\n\n\
             [services.{callee}.events.{event}]\n{fields}\n\
             [services.{callee}.operations.{write}]\ninput = {{ id = \"uuid\", {owner} = \"int64\" }}\n\
             output = \"{entity}\"\npath = \"/api/callee/{{id}}/act\"\npublishes = [\"{event}\"]\n\n\
             [services.{callee}.operations.{read}]\nread_only = true\ninput = {{ {owner} = \"string\" }}\n\
             output = {{ {reference} = \"int64\", {owner} = \"uuid[]\" }}\n\n\
             [services.{callee}.operations.{page}]\nread_only = true\ninput = {{ {reference} = \"string\" }}\n\
             output = \"page({entity})\"\n\n\
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
