//! Helpers shared by the integration tests: a scratch workspace and a way to run the binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// Snapshot settings shared by every test: snapshots live in `tests/snapshots/`.
pub fn insta_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
    settings.set_prepend_module_to_snapshot(true);
    settings
}

/// A temporary directory holding one workspace (possibly a folder inside it).
pub struct Scratch {
    pub dir: tempfile::TempDir,
    sub: Option<PathBuf>,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            sub: None,
        }
    }

    /// The same scratch space, rooted at its folder `relative`.
    pub fn sub(self, relative: &str) -> Self {
        let sub = self.dir.path().join(relative);
        Self {
            dir: self.dir,
            sub: Some(sub),
        }
    }

    /// A scratch dir with `fleet.toml` holding `manifest`.
    pub fn with_manifest(manifest: &str) -> Self {
        let scratch = Self::new();
        scratch.write("fleet.toml", manifest);
        scratch
    }

    /// A workspace generated from `manifest`; panics unless `generate` succeeds.
    pub fn generated(manifest: &str) -> Self {
        let scratch = Self::with_manifest(manifest);
        scratch.run(&["generate"]).assert_code(0);
        scratch
    }

    pub fn path(&self) -> &Path {
        self.sub.as_deref().unwrap_or(self.dir.path())
    }

    pub fn join(&self, relative: &str) -> PathBuf {
        self.path().join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.join(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.join(relative).exists()
    }

    /// Runs `fleetwright ARGS` in this directory.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::cargo_bin("fleetwright")
            .expect("binary built")
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("runs");
        Run::from_output(&output, self.path())
    }

    /// Every file below the root (relative path → bytes), to prove a run changed nothing.
    pub fn tree(&self) -> std::collections::BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
        walkdir(self.path())
    }
}

fn walkdir(root: &Path) -> std::collections::BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                let meta = std::fs::metadata(&path).unwrap();
                out.insert(rel, (std::fs::read(&path).unwrap(), meta.modified().unwrap()));
            }
        }
    }
    out
}

/// The result of one run, with the scratch path replaced by `[ROOT]`.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: &Output, root: &Path) -> Self {
        let clean = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let root = root.to_string_lossy();
            text.replace(root.as_ref(), "[ROOT]")
        };
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: clean(&output.stdout),
            stderr: clean(&output.stderr),
        }
    }

    /// Exit code, stdout and stderr in one text, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.transcript());
        self
    }

    /// Asserts that standard error holds `text`, showing the whole run if not.
    #[track_caller]
    pub fn assert_stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n{}",
            self.transcript()
        );
        self
    }
}

/// Copies the folder `from` into `to`, recursively.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk the folder");
        let target = to.join(entry.path().strip_prefix(from).expect("below the folder"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create a folder");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

pub const ECOMMERCE: &str = include_str!("../../examples/ecommerce/fleet.toml");
pub const MINIMAL: &str = include_str!("../../examples/minimal/fleet.toml");
/// Services without entities, with and without a database, and a caller of both.
pub const NO_ENTITIES: &str = include_str!("../fixtures/no-entities/fleet.toml");

/// What a slow test needs from outside this repository (a tool, a server, a capability): under
/// `CI` its absence fails the test, elsewhere that part is skipped with a note. `what` names it
/// and where it comes from, e.g. "`buf` (scripts/tools.sh)".
pub fn required_under_ci<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide {what}");
        eprintln!("skipping checks that need {what}");
    }
    found
}

/// A validator binary: from `FLEETWRIGHT_TOOLS` when it is there, else from PATH. Required
/// under CI, skipped with a note elsewhere.
pub fn tool(name: &str) -> Option<PathBuf> {
    let bundled = std::env::var_os("FLEETWRIGHT_TOOLS")
        .map(|dir| PathBuf::from(dir).join(name))
        .filter(|p| p.exists());
    let on_path = || {
        std::process::Command::new("which")
            .arg(name)
            .output()
            .is_ok_and(|o| o.status.success())
            .then(|| PathBuf::from(name))
    };
    required_under_ci(bundled.or_else(on_path), &format!("`{name}` (scripts/tools.sh)"))
}

/// Runs an external tool in `dir`; returns its exit code and its stdout and stderr together.
pub fn run_tool(tool: &Path, args: &[&str], dir: &Path) -> (i32, String) {
    let output = std::process::Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// The cargo target directory shared by every generated workspace the tests build:
/// `FLEETWRIGHT_TARGET_DIR` (scripts/ci.sh points it at a cache), else one under `target/`.
pub fn generated_target_dir() -> String {
    std::env::var("FLEETWRIGHT_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/generated").to_owned())
}

/// A command that runs like from a user's shell: without the variables cargo sets for this
/// test (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, ...), which would otherwise reach the build scripts of
/// a generated workspace and defeat the shared build cache.
pub fn shell_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME") || key.starts_with("RUSTC") || key == "RUSTFLAGS" {
            command.env_remove(key.as_ref());
        }
    }
    command.env("CARGO_TARGET_DIR", generated_target_dir());
    // Each generated workspace is built once: incremental state would only fill the shared
    // target directory (over 10 GB in a full run) and slow the first build.
    command.env("CARGO_INCREMENTAL", "0");
    command
}

/// Gives every file of a workspace the current time as its modification time.
///
/// Cargo judges a workspace crate fresh when its files are older than its artifacts, and names
/// those artifacts by the crate's path inside the workspace, so in the shared target directory
/// a workspace written before another one of the same layout was built would look fresh and
/// get the other's build (a build script naming the other's protos, seen in CI). Stamped when
/// the target directory changes hands, the next workspace's own crates are rebuilt; the
/// dependencies, which most of a build is, are not.
fn stamp_as_new(root: &Path) {
    let now = std::time::SystemTime::now();
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !matches!(e.file_name().to_str(), Some("target" | ".git" | ".dev")))
    {
        let entry = entry.expect("walk the workspace");
        if entry.file_type().is_file() {
            let file = std::fs::File::options()
                .write(true)
                .open(entry.path())
                .expect("open to stamp");
            file.set_modified(now).expect("stamp the modification time");
        }
    }
}

/// Runs cargo in a generated workspace, with the shared target directory; panics on failure.
///
/// One cargo at a time across the tests of this binary: every generated workspace has a
/// `runtime/rust` crate, which cargo names the same in each (its hash is taken from the path
/// inside the workspace), so two workspaces building at once in the shared target directory
/// rebuild the same artifact under each other (seen as a doctest whose rlib vanished). Moving
/// from one workspace to another stamps the next one's files as new (see [`stamp_as_new`]).
pub fn cargo(dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    static LAST_WORKSPACE: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut last = LAST_WORKSPACE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.as_deref() != Some(dir) {
        stamp_as_new(dir);
        *last = Some(dir.to_owned());
    }
    let mut command = shell_command(env!("CARGO"));
    command.args(args).current_dir(dir).envs(env.iter().copied());
    let status = command.status().expect("cargo runs");
    assert!(
        status.success(),
        "`cargo {}` failed in the generated workspace",
        args.join(" ")
    );
}
