//! Property test of the regeneration rules (issue #6): random sequences of manifest changes,
//! hand edits (to managed files, to scaffold files, inside user regions), deletions,
//! generations with and without `--force`, and checks, driven through the library in-process.
//! After every step it checks the promises the README makes:
//!
//! - no hand edit is lost without `--force`: an edited managed file stays byte-identical and
//!   is reported as a conflict, and lines inside user regions are carried over;
//! - scaffold files are never rewritten, not even with `--force` or after their service goes;
//! - every file `fleet.lock` lists exists, or `check` reports it;
//! - a second generation writes nothing (same bytes, same modification time, same inode);
//! - `check` agrees with `generate --dry-run`, and both with what `generate` then does;
//! - a failed generation (invalid manifest, impossible migration) writes nothing;
//! - (issue #15) after `fleet.lock` is deleted, `check` and `generate` refuse until it is
//!   rebuilt with `--recover-lock` (or a `--force` run), which loses no hand edit and reuses
//!   no proto field or enum number: a number never names two fields of one message.
//!
//! Failing cases are shrunk to a minimal sequence and their seeds kept in
//! `tests/proptest-regressions/properties.txt`, which is committed and replayed first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use fleetwright::plan::Owner;
use fleetwright::render::Templates;
use fleetwright::write::{Action, Lockfile, Mode, Outcome};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};

const SERVICES: [&str; 3] = ["alpha", "beta", "gamma"];
const DATABASES: [&str; 2] = ["sqlite", "postgres"];
const ENTITIES: [&str; 2] = ["Item", "Order"];
const FIELDS: [&str; 3] = ["title", "count", "note"];
const TYPES: [&str; 4] = ["string", "int32", "text?", "bool"];
const EVENTS: [&str; 2] = ["Created", "Shipped"];

/// The manifest under test, as a value the operations change and [`Manifest::text`] writes out.
#[derive(Debug, Clone, Default)]
struct Manifest {
    services: BTreeMap<&'static str, Service>,
}

#[derive(Debug, Clone, Default)]
struct Service {
    database: &'static str,
    /// Services this one calls; only earlier ones in [`SERVICES`], so calls never form a cycle.
    calls: BTreeSet<&'static str>,
    entities: BTreeMap<&'static str, BTreeMap<&'static str, &'static str>>,
    events: BTreeSet<&'static str>,
}

impl Manifest {
    fn text(&self) -> String {
        use std::fmt::Write as _;
        let quoted = |items: &BTreeSet<&str>| items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");
        let mut out = String::from("version = 1\n\n[project]\nname = \"prop\"\n");
        for (name, service) in &self.services {
            let _ = write!(
                out,
                "\n[services.{name}]\ndatabase = \"{}\"\nroute = \"/api/{name}\"\ncalls = [{}]\npublishes = [{}]\n",
                service.database,
                quoted(&service.calls),
                quoted(&service.events)
            );
            for (entity, fields) in &service.entities {
                let _ = writeln!(out, "\n[services.{name}.entities.{entity}]");
                for (field, ty) in fields {
                    let _ = writeln!(out, "{field} = \"{ty}\"");
                }
            }
            for event in &service.events {
                let _ = write!(out, "\n[services.{name}.events.{event}]\nid = \"uuid\"\n");
            }
        }
        out
    }
}

/// One step of a user's life with a workspace.
#[derive(Debug, Clone)]
enum Op {
    /// Adds the service, or changes its database.
    SetService(usize, usize),
    /// Removes the service and every call to it, as a user fixing the references would.
    RemoveService(usize),
    /// Adds or retypes one field (adding the entity when it is new).
    SetField(usize, usize, usize, usize),
    RemoveField(usize, usize, usize),
    RemoveEntity(usize, usize),
    ToggleEvent(usize, usize),
    ToggleCall(usize, usize),
    /// Appends a line to a managed file (picked among those on disk).
    EditManaged(Index),
    /// Rewrites a service's `src/logic.rs`, whether or not it was generated yet.
    EditScaffold(usize),
    /// Adds a line inside a user region of a managed file (picked among those with regions).
    EditRegion(Index),
    /// Deletes a generated file.
    Delete(Index),
    Generate {
        force: bool,
    },
    Check,
    /// Deletes `fleet.lock`.
    DeleteLock,
    /// Breaks the agreement of a proto or migration file with `fleet.lock` for one step (see
    /// [`World::break_agreement`]), then undoes it.
    BreakAgreement(Index, bool),
    /// `generate --recover-lock`.
    Recover,
}

fn op() -> impl Strategy<Value = Op> {
    let service = 0..SERVICES.len();
    prop_oneof![
        3 => (service.clone(), 0..DATABASES.len()).prop_map(|(s, d)| Op::SetService(s, d)),
        2 => service.clone().prop_map(Op::RemoveService),
        3 => (service.clone(), 0..ENTITIES.len(), 0..FIELDS.len(), 0..TYPES.len())
            .prop_map(|(s, e, f, t)| Op::SetField(s, e, f, t)),
        1 => (service.clone(), 0..ENTITIES.len(), 0..FIELDS.len()).prop_map(|(s, e, f)| Op::RemoveField(s, e, f)),
        1 => (service.clone(), 0..ENTITIES.len()).prop_map(|(s, e)| Op::RemoveEntity(s, e)),
        1 => (service.clone(), 0..EVENTS.len()).prop_map(|(s, e)| Op::ToggleEvent(s, e)),
        1 => (service.clone(), service.clone()).prop_map(|(a, b)| Op::ToggleCall(a, b)),
        2 => any::<Index>().prop_map(Op::EditManaged),
        1 => service.clone().prop_map(Op::EditScaffold),
        2 => any::<Index>().prop_map(Op::EditRegion),
        1 => any::<Index>().prop_map(Op::Delete),
        4 => any::<bool>().prop_map(|force| Op::Generate { force }),
        2 => Just(Op::Check),
        1 => Just(Op::DeleteLock),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, proto)| Op::BreakAgreement(i, proto)),
        1 => Just(Op::Recover),
    ]
}

/// A file's bytes and identity: a rewrite with the same bytes still changes the inode.
type Tree = BTreeMap<String, (Vec<u8>, std::time::SystemTime, u64)>;

fn tree(root: &Path) -> Tree {
    use std::os::unix::fs::MetadataExt;
    let mut out = Tree::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk the workspace");
        if entry.file_type().is_file() {
            let meta = entry.metadata().expect("metadata");
            let relative = entry.path().strip_prefix(root).expect("below root");
            out.insert(
                relative.to_string_lossy().into_owned(),
                (
                    std::fs::read(entry.path()).expect("read"),
                    meta.modified().expect("mtime"),
                    meta.ino(),
                ),
            );
        }
    }
    out
}

fn actions(outcome: &Outcome) -> Vec<(String, Action)> {
    outcome
        .files
        .iter()
        .map(|f| (f.path.to_string(), f.action.clone()))
        .collect()
}

fn reported(outcome: &Outcome, path: &str) -> Option<Action> {
    outcome
        .files
        .iter()
        .find(|f| f.path.as_str() == path)
        .map(|f| f.action.clone())
}

/// The workspace under test and what the user did to it, which the invariants are checked against.
struct World {
    dir: tempfile::TempDir,
    manifest: Manifest,
    /// Managed files edited by hand and not yet overwritten by `--force`, with their bytes.
    edited: BTreeMap<String, Vec<u8>>,
    /// Every scaffold file seen, with the bytes it must keep.
    scaffold: BTreeMap<String, Vec<u8>>,
    /// Lines the user put inside user regions: (file, region name, line).
    region_lines: Vec<(String, String, String)>,
    edits: usize,
    /// Every proto number ever handed out: (message or enum, number) → the name it numbers.
    numbers: BTreeMap<(String, u32), String>,
}

impl World {
    /// A workspace with two services, one with an entity, not generated yet.
    fn new() -> Self {
        let mut manifest = Manifest::default();
        let alpha = manifest.services.entry("alpha").or_default();
        alpha.database = "sqlite";
        alpha.entities.entry("Item").or_default().insert("title", "string");
        manifest.services.entry("beta").or_default().database = "postgres";
        let world = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            manifest,
            edited: BTreeMap::new(),
            scaffold: BTreeMap::new(),
            region_lines: Vec::new(),
            edits: 0,
            numbers: BTreeMap::new(),
        };
        world.write_manifest();
        world
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn manifest_path(&self) -> std::path::PathBuf {
        self.root().join("fleet.toml")
    }

    fn write_manifest(&self) {
        std::fs::write(self.manifest_path(), self.manifest.text()).expect("write fleet.toml");
    }

    fn lock(&self) -> Option<Lockfile> {
        Lockfile::read(self.root()).expect("fleet.lock parses")
    }

    /// Files of the lock with the given owner that are on disk, sorted.
    fn locked_on_disk(&self, owner: Owner) -> Vec<String> {
        self.lock()
            .map(|lock| {
                lock.files
                    .iter()
                    .filter(|(path, file)| file.owner == owner && self.root().join(path.as_str()).is_file())
                    .map(|(path, _)| path.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `fleetwright::generate`, with the embedded templates built once for the whole test.
    fn run(&self, mode: Mode, force: bool) -> fleetwright::Result<Outcome> {
        self.run_with(mode, force, false)
    }

    fn run_with(&self, mode: Mode, force: bool, recover: bool) -> fleetwright::Result<Outcome> {
        static TEMPLATES: OnceLock<Templates> = OnceLock::new();
        let templates = TEMPLATES.get_or_init(|| Templates::embedded().expect("embedded templates build"));
        let loaded = fleetwright::model::load(&self.manifest_path())?;
        let options = fleetwright::write::Options {
            mode,
            force,
            diffs: false,
            recover,
        };
        fleetwright::generate_loaded(&loaded, self.root(), templates, options)
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::SetService(s, d) => {
                self.manifest.services.entry(SERVICES[s]).or_default().database = DATABASES[d];
                self.write_manifest();
            }
            Op::RemoveService(s) => {
                self.manifest.services.remove(SERVICES[s]);
                for service in self.manifest.services.values_mut() {
                    service.calls.remove(SERVICES[s]);
                }
                self.write_manifest();
            }
            Op::SetField(s, e, f, t) => {
                if let Some(service) = self.manifest.services.get_mut(SERVICES[s]) {
                    let entity = service.entities.entry(ENTITIES[e]).or_default();
                    entity.insert(FIELDS[f], TYPES[t]);
                    self.write_manifest();
                }
            }
            Op::RemoveField(s, e, f) => {
                let entity = self
                    .manifest
                    .services
                    .get_mut(SERVICES[s])
                    .and_then(|service| service.entities.get_mut(ENTITIES[e]));
                if let Some(entity) = entity {
                    entity.remove(FIELDS[f]);
                    self.write_manifest();
                }
            }
            Op::RemoveEntity(s, e) => {
                if let Some(service) = self.manifest.services.get_mut(SERVICES[s]) {
                    service.entities.remove(ENTITIES[e]);
                    self.write_manifest();
                }
            }
            Op::ToggleEvent(s, e) => {
                if let Some(service) = self.manifest.services.get_mut(SERVICES[s])
                    && !service.events.remove(EVENTS[e])
                {
                    service.events.insert(EVENTS[e]);
                }
                self.write_manifest();
            }
            Op::ToggleCall(a, b) => {
                let (later, earlier) = (a.max(b), a.min(b));
                if later != earlier
                    && self.manifest.services.contains_key(SERVICES[earlier])
                    && let Some(service) = self.manifest.services.get_mut(SERVICES[later])
                    && !service.calls.remove(SERVICES[earlier])
                {
                    service.calls.insert(SERVICES[earlier]);
                }
                self.write_manifest();
            }
            Op::EditManaged(_) | Op::EditScaffold(_) | Op::EditRegion(_) | Op::Delete(_) => self.edit_by_hand(op),
            Op::Generate { force } => self.generate(force)?,
            Op::Check => self.check()?,
            Op::DeleteLock => {
                let _ = std::fs::remove_file(self.root().join("fleet.lock"));
            }
            Op::Recover => self.recover()?,
            Op::BreakAgreement(pick, proto) => self.break_agreement(pick, proto)?,
        }
        self.scaffold_files_are_intact()
    }

    /// The user's own changes to the workspace's files.
    fn edit_by_hand(&mut self, op: &Op) {
        match *op {
            Op::EditManaged(pick) => {
                let files = self.locked_on_disk(Owner::Managed);
                if !files.is_empty() {
                    let path = pick.get(&files).clone();
                    self.edits += 1;
                    let mut bytes = std::fs::read(self.root().join(&path)).expect("read");
                    bytes.extend_from_slice(format!("\n# hand edit {}\n", self.edits).as_bytes());
                    std::fs::write(self.root().join(&path), &bytes).expect("write");
                    self.edited.insert(path, bytes);
                }
            }
            Op::EditScaffold(s) => {
                let path = format!("services/{}/src/logic.rs", SERVICES[s]);
                self.edits += 1;
                let text = format!("// my business logic, edit {}\npub struct Logic;\n", self.edits);
                let full = self.root().join(&path);
                std::fs::create_dir_all(full.parent().expect("has a parent")).expect("mkdir");
                std::fs::write(&full, &text).expect("write");
                self.scaffold.insert(path, text.into_bytes());
            }
            Op::EditRegion(pick) => {
                let regions: Vec<(String, usize, String)> = self
                    .locked_on_disk(Owner::Managed)
                    .into_iter()
                    .flat_map(|path| {
                        let text = std::fs::read_to_string(self.root().join(&path)).unwrap_or_default();
                        region_starts(&text)
                            .into_iter()
                            .map(move |(at, name)| (path.clone(), at, name))
                    })
                    .collect();
                if !regions.is_empty() {
                    let (path, at, region) = pick.get(&regions).clone();
                    let full = self.root().join(&path);
                    let text = std::fs::read_to_string(&full).expect("read");
                    self.edits += 1;
                    let line = format!("# user line {}", self.edits);
                    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
                    let inserted = format!("{line}\n");
                    lines.insert(at + 1, &inserted);
                    let new_text = lines.concat();
                    std::fs::write(&full, &new_text).expect("write");
                    if let Some(edited) = self.edited.get_mut(&path) {
                        *edited = new_text.into_bytes();
                    }
                    self.region_lines.push((path, region, line));
                }
            }
            Op::Delete(pick) => {
                let mut files = self.locked_on_disk(Owner::Managed);
                files.extend(self.locked_on_disk(Owner::Scaffold));
                if !files.is_empty() {
                    let path = pick.get(&files).clone();
                    std::fs::remove_file(self.root().join(&path)).expect("delete");
                    self.edited.remove(&path);
                    self.scaffold.remove(&path);
                    self.region_lines.retain(|(p, _, _)| *p != path);
                }
            }
            _ => unreachable!("not a hand edit: {op:?}"),
        }
    }

    /// `check` and `generate --dry-run` report the same, write nothing, and every file of the
    /// lock exists or is reported.
    fn check(&self) -> Result<(), TestCaseError> {
        let before = tree(self.root());
        let check = self.run(Mode::Check, false);
        if !self.root().join("fleet.lock").exists() && self.was_generated() {
            prop_assert!(
                matches!(
                    check,
                    Err(fleetwright::Error::LockMissing(_) | fleetwright::Error::Manifest { .. })
                ),
                "check without fleet.lock does not say it is missing: {:?}",
                check.map(|o| o.drift())
            );
        }
        let dry_run = self.run(Mode::DryRun, false);
        prop_assert_eq!(tree(self.root()), before, "check or dry-run wrote to the workspace");
        let (check, dry_run) = match (check, dry_run) {
            (Ok(check), Ok(dry_run)) => (check, dry_run),
            (Err(check), Err(dry_run)) => {
                prop_assert_eq!(check.to_string(), dry_run.to_string());
                return expected_failure(&check);
            }
            (check, dry_run) => {
                return Err(TestCaseError::fail(format!(
                    "check and dry-run disagree: {check:?} vs {dry_run:?}"
                )));
            }
        };
        prop_assert_eq!(actions(&check), actions(&dry_run));
        prop_assert_eq!(check.lock_changed, dry_run.lock_changed);
        if let Some(lock) = self.lock() {
            for path in lock.files.keys() {
                if !self.root().join(path.as_str()).exists() {
                    let action = reported(&check, path.as_str());
                    prop_assert!(
                        action == Some(Action::Create) || (action.is_none() && check.lock_changed),
                        "{path} is in fleet.lock, missing, and check reports {action:?}"
                    );
                    prop_assert!(check.drift(), "{path} is missing but check passes");
                }
            }
        }
        Ok(())
    }

    fn generate(&mut self, force: bool) -> Result<(), TestCaseError> {
        let before = tree(self.root());
        let lock_lost = !self.root().join("fleet.lock").exists() && self.was_generated();
        if lock_lost && force {
            // Check refuses (see `check`); a forced run goes on, numbering from the protos.
            self.forget_numbers_not_on_disk();
            return self.write_and_verify(force, false, &before);
        }
        let check = self.run(Mode::Check, false);
        let dry_run = self.run(Mode::DryRun, force);
        let written = self.run(Mode::Write, force);
        let after = tree(self.root());
        let outcome = match (check, dry_run, written) {
            (Ok(check), Ok(dry_run), Ok(written)) => {
                prop_assert_eq!(actions(&dry_run), actions(&written), "dry-run predicted something else");
                prop_assert_eq!(dry_run.lock_changed, written.lock_changed);
                let changed = after != before;
                let would_change = written.files.iter().any(|f| f.action.changes_disk()) || written.lock_changed;
                prop_assert_eq!(changed, would_change, "the report does not match what changed on disk");
                if !force {
                    prop_assert_eq!(
                        check.drift(),
                        changed || written.conflicts().next().is_some() || written.errors().next().is_some(),
                        "check disagrees with what generate did"
                    );
                }
                written
            }
            (Err(a), Err(b), Err(c)) => {
                prop_assert_eq!(tree(self.root()), before, "a failed generate wrote to the workspace");
                prop_assert!(a.to_string() == b.to_string() && b.to_string() == c.to_string());
                return expected_failure(&c);
            }
            (check, dry_run, written) => {
                return Err(TestCaseError::fail(format!(
                    "modes disagree: check {:?}, dry-run {:?}, write {:?}",
                    check.err(),
                    dry_run.err(),
                    written.err()
                )));
            }
        };

        self.verify_written(&outcome, force)
    }

    /// `generate --recover-lock`, when the lock is gone: rebuilds it, losing no hand edit.
    fn recover(&mut self) -> Result<(), TestCaseError> {
        let before = tree(self.root());
        if self.root().join("fleet.lock").exists() {
            let refused = self.run_with(Mode::Write, false, true);
            prop_assert!(
                matches!(
                    &refused,
                    Err(fleetwright::Error::Usage { .. } | fleetwright::Error::Manifest { .. })
                ),
                "a readable lock was rebuilt"
            );
            prop_assert_eq!(tree(self.root()), before, "a refused recovery wrote something");
            return Ok(());
        }
        self.forget_numbers_not_on_disk();
        self.write_and_verify(false, true, &before)
    }

    /// Writes (forced, or recovering a lost lock) and checks the promises of a write.
    fn write_and_verify(&mut self, force: bool, recover: bool, before: &Tree) -> Result<(), TestCaseError> {
        let dry_run = self.run_with(Mode::DryRun, force, recover);
        let written = self.run_with(Mode::Write, force, recover);
        match (dry_run, written) {
            (Ok(dry_run), Ok(written)) => {
                prop_assert_eq!(actions(&dry_run), actions(&written), "dry-run predicted something else");
                self.verify_written(&written, force)
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(&tree(self.root()), before, "a failed generate wrote to the workspace");
                prop_assert_eq!(a.to_string(), b.to_string());
                expected_failure(&b)
            }
            (a, b) => Err(TestCaseError::fail(format!(
                "dry-run and write disagree: {:?} vs {:?}",
                a.err(),
                b.err()
            ))),
        }
    }

    /// `check` is never green on a workspace that disagrees with its lock. A proto that numbers
    /// a field otherwise than the lock stops every run, `--force` included, before anything is
    /// written; an edited migration fails `check` and `generate` and is left alone. The file is
    /// restored afterwards.
    fn break_agreement(&self, pick: Index, proto: bool) -> Result<(), TestCaseError> {
        let Some(lock) = self.lock() else { return Ok(()) };
        let files: Vec<String> = lock
            .files
            .keys()
            .map(ToString::to_string)
            .filter(|p| p.rsplit('.').next() == Some(if proto { "proto" } else { "sql" }))
            // A removed service's files are on their way out: what its kept migrations say
            // matters when it comes back (and is checked then).
            .filter(|p| {
                self.manifest
                    .services
                    .keys()
                    .any(|name| p.starts_with(&format!("services/{name}/")) || p.contains(&format!("/{name}/v1/")))
            })
            .filter(|p| self.root().join(p).is_file())
            .collect();
        if files.is_empty() {
            return Ok(());
        }
        let path = pick.get(&files).clone();
        let full = self.root().join(&path);
        let original = std::fs::read_to_string(&full).expect("read");
        let broken = if proto {
            // Only entity messages have `created_at`; the lock numbers each.
            let Some(line) = original.lines().find(|l| l.contains(" created_at = ")) else {
                return Ok(());
            };
            original.replacen(line, &line.replace(" = ", " = 10"), 1)
        } else {
            format!("{original}-- a hand edit\n")
        };
        std::fs::write(&full, &broken).expect("write");
        let before = tree(self.root());
        let manifest_error = |e: &fleetwright::Error| matches!(e, fleetwright::Error::Manifest { .. });
        if proto {
            for (mode, force) in [(Mode::Check, false), (Mode::Write, false), (Mode::Write, true)] {
                match self.run(mode, force) {
                    Err(fleetwright::Error::Inconsistent(found)) => {
                        prop_assert!(found.iter().any(|f| f.path == path), "{path} is not named: {found:?}");
                    }
                    Err(e) if manifest_error(&e) => {}
                    other => {
                        return Err(TestCaseError::fail(format!(
                            "a renumbered {path} did not stop {mode:?} (force {force}): {:?}",
                            other.map(|o| o.drift())
                        )));
                    }
                }
            }
        } else {
            for mode in [Mode::Check, Mode::DryRun] {
                match self.run(mode, false) {
                    Ok(outcome) => prop_assert!(
                        outcome.errors().any(|f| f.path == path) && (mode != Mode::Check || outcome.drift()),
                        "an edited {path} passes {mode:?}"
                    ),
                    Err(e) if manifest_error(&e) || matches!(e, fleetwright::Error::Usage { .. }) => {}
                    Err(e) => return Err(TestCaseError::fail(format!("{mode:?} failed: {e}"))),
                }
            }
        }
        prop_assert_eq!(
            tree(self.root()),
            before,
            "a run wrote to a workspace that disagrees with its lock"
        );
        std::fs::write(&full, &original).expect("restore");
        Ok(())
    }

    /// Whether the workspace holds anything a generation wrote (besides `fleet.toml`).
    fn was_generated(&self) -> bool {
        walkdir::WalkDir::new(self.root())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .any(|e| {
                let path = e.path().to_string_lossy();
                (path.contains("/proto/") && path.ends_with(".proto"))
                    || (path.contains("/migrations/") && path.ends_with(".sql"))
                    || std::fs::read_to_string(e.path())
                        .is_ok_and(|t| t.lines().take(2).any(|l| l.contains("@generated by fleetwright")))
            })
    }

    /// Before the lock is rebuilt: numbers only the lock knew (a message no proto holds any
    /// more, a deleted proto) are lost with it, and may be handed out again.
    fn forget_numbers_not_on_disk(&mut self) {
        let mut on_disk = BTreeSet::new();
        for entry in walkdir::WalkDir::new(self.root().join("proto"))
            .into_iter()
            .filter_map(Result::ok)
        {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let package = text
                .lines()
                .find_map(|l| l.strip_prefix("package "))
                .map(|p| p.trim_end_matches(';').to_owned())
                .unwrap_or_default();
            for line in text.lines() {
                let name = line.strip_prefix("message ").or_else(|| line.strip_prefix("enum "));
                if let Some(name) = name.and_then(|n| n.split_whitespace().next()) {
                    on_disk.insert(format!("{package}.{name}"));
                }
            }
        }
        self.numbers.retain(|(key, _), _| on_disk.contains(key));
    }

    /// No number names two different fields (or values) of one message (or enum), ever.
    fn numbers_are_never_reused(&mut self) -> Result<(), TestCaseError> {
        let Some(lock) = self.lock() else { return Ok(()) };
        for (key, numbering) in lock.state.messages.iter().chain(&lock.state.enums) {
            for (name, number) in &numbering.numbers {
                let known = self
                    .numbers
                    .entry((key.clone(), *number))
                    .or_insert_with(|| name.clone());
                prop_assert_eq!(
                    &*known,
                    name,
                    "{} number {} was `{}` and is now reused",
                    key,
                    number,
                    known
                );
            }
        }
        Ok(())
    }

    /// The promises of a successful write: hand edits kept, the lock complete, scaffold files
    /// intact, numbers never reused, and a second run writing nothing.
    fn verify_written(&mut self, outcome: &Outcome, force: bool) -> Result<(), TestCaseError> {
        let after = tree(self.root());
        // Hand edits: kept byte for byte and reported, unless forced.
        for (path, bytes) in &self.edited {
            if force {
                continue;
            }
            prop_assert_eq!(
                after.get(path).map(|(b, _, _)| b),
                Some(bytes),
                "the hand edit of {} was lost",
                path
            );
            // A stale edited file that only the lost lock tracked is untracked after a
            // recovery: still kept byte for byte (above), but no longer reported.
            let untracked = reported(outcome, path).is_none()
                && self
                    .lock()
                    .is_some_and(|lock| !lock.files.keys().any(|p| p.as_str() == path));
            prop_assert!(
                untracked || matches!(reported(outcome, path), Some(Action::Conflict(_))),
                "the hand edit of {path} is not reported as a conflict: {:?}",
                reported(outcome, path)
            );
        }
        if force {
            self.edited.clear();
            self.region_lines.retain(|(path, _, _)| after.contains_key(path));
        }
        for (path, region, line) in &self.region_lines {
            let Some((bytes, _, _)) = after.get(path) else {
                prop_assert!(
                    force,
                    "{path}, with `{line}` in its region {region}, was deleted without --force"
                );
                continue;
            };
            let text = String::from_utf8_lossy(bytes);
            if !force || text.contains(&format!("fleetwright:user-begin {region}")) {
                prop_assert!(
                    text.contains(line.as_str()),
                    "{path} lost `{line}` from its region {region}"
                );
            }
        }
        self.numbers_are_never_reused()?;

        // Every file of the lock is on disk after a write.
        let lock = self.lock().expect("a successful generate writes fleet.lock");
        for (path, file) in &lock.files {
            prop_assert!(
                after.contains_key(path.as_str()),
                "{path} is in fleet.lock but not on disk"
            );
            if file.owner == Owner::Scaffold {
                self.scaffold
                    .entry(path.to_string())
                    .or_insert_with(|| after[path.as_str()].0.clone());
            }
        }
        self.scaffold_files_are_intact()?;

        // Regenerating at once writes nothing: no bytes, no modification time, no inode.
        let again = self
            .run(Mode::Write, force)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(tree(self.root()), after, "a second generate changed files");
        prop_assert!(!again.lock_changed, "a second generate changed fleet.lock");
        prop_assert!(
            !again.files.iter().any(|f| f.action.changes_disk()),
            "a second generate wants to change {:?}",
            again
                .files
                .iter()
                .filter(|f| f.action.changes_disk())
                .collect::<Vec<_>>()
        );
        Ok(())
    }

    fn scaffold_files_are_intact(&self) -> Result<(), TestCaseError> {
        for (path, bytes) in &self.scaffold {
            let on_disk = std::fs::read(self.root().join(path)).ok();
            prop_assert_eq!(
                on_disk.as_ref(),
                Some(bytes),
                "scaffold file {} was rewritten or deleted",
                path
            );
        }
        Ok(())
    }
}

/// The line number and name of each region's start: a `# fleetwright:user-begin NAME` line.
fn region_starts(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let name = line.trim_start().strip_prefix("# fleetwright:user-begin ")?;
            (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| (i, name.to_owned()))
        })
        .collect()
}

/// Generation may refuse a manifest or a change, but only for the user's reasons.
fn expected_failure(error: &fleetwright::Error) -> Result<(), TestCaseError> {
    match error {
        fleetwright::Error::Manifest { .. }
        | fleetwright::Error::Usage { .. }
        // Until the lost lock is rebuilt.
        | fleetwright::Error::LockMissing(_) => Ok(()),
        other => Err(TestCaseError::fail(format!("unexpected failure: {other}"))),
    }
}

proptest! {
    #![proptest_config(Config {
        // Bounded for CI (about ten seconds on an idle machine); FLEETWRIGHT_PROPTEST_CASES=500 explores further.
        cases: std::env::var("FLEETWRIGHT_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(32),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/properties.txt"))),
        ..Config::default()
    })]

    #[test]
    fn regeneration_never_loses_work(ops in proptest::collection::vec(op(), 1..16)) {
        let mut world = World::new();
        world.apply(&Op::Generate { force: false })?;
        for op in &ops {
            world.apply(op)?;
        }
        // Whatever happened, a forced generation and a check end in agreement.
        world.apply(&Op::Generate { force: true })?;
        world.apply(&Op::Check)?;
    }
}
