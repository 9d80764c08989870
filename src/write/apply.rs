//! Decides, per file, what a generation does, then does it in one of three modes. The rules:
//! managed files are rewritten unless edited by hand (a conflict, unless `force`); scaffold
//! files are created when missing and otherwise left alone; files the plan no longer has are
//! deleted only if untouched. Writes are atomic and happen only when bytes change, and
//! `fleet.lock` is written last, so an interrupted run leaves every file old or new and the
//! next run finishes the job.
//!
//! Files arrive in groups (the workspace's, then each service's) while they are rendered, and
//! each is decided at once: a file to write goes to a temporary file beside its place and its
//! text is dropped, so memory holds a few services' files, not the workspace (200 MB at a
//! thousand services). The temporary files are renamed into place only after every file is
//! rendered and decided: a template that fails halfway still writes nothing.

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use serde::Serialize;

use super::lockfile::{self, LOCK_FILE, LockedFile, Lockfile};
use super::regions;
use crate::error::Error;
use crate::plan::{Group, Owner, RelPath};

/// What to do with the decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write files and the lock.
    Write,
    /// Write nothing; the outcome says whether anything would change (`fleetwright check`).
    Check,
    /// Write nothing; report what `Write` would do.
    DryRun,
}

/// How to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    /// Overwrite hand-edited managed files and delete stale ones.
    pub force: bool,
    /// Keep the text before and after of each changed file in the outcome, for diffs. Always
    /// kept in [`Mode::Check`], whose failure report is the diff.
    pub diffs: bool,
}

impl Options {
    /// Write, keep hand edits, no diffs: what `new` and `add` do.
    pub fn write() -> Self {
        Self {
            mode: Mode::Write,
            force: false,
            diffs: false,
        }
    }
}

/// What the lock records besides the files: see [`Lockfile`].
#[derive(Debug, Clone)]
pub struct Header {
    /// Hash of the resolved model the files are rendered from.
    pub fingerprint: String,
    /// The stable numbering and migration state.
    pub state: crate::model::State,
}

/// What happens (or would happen) to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "detail")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    /// A scaffold file that exists: the user's, left alone.
    Keep,
    /// A managed file the manifest no longer produces, untouched since generated.
    Remove,
    /// A scaffold file the manifest no longer produces: the user's code, left in place.
    Orphan,
    /// Not written, because writing would lose someone's work.
    Conflict(Conflict),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// Edited by hand since fleetwright generated it.
    Edited,
    /// Exists, but fleetwright did not create it.
    NotOurs,
    /// Edited by hand, and no longer generated.
    EditedStale,
    /// Its user regions have no place in the new version.
    LostRegions(Vec<String>),
}

impl Action {
    pub fn changes_disk(&self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Remove)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: RelPath,
    pub owner: Owner,
    #[serde(flatten)]
    pub action: Action,
    /// Disk text and planned text, for diffs; only for updates and conflicts.
    #[serde(skip)]
    pub before_after: Option<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub files: Vec<FileReport>,
    /// Whether `fleet.lock` changes (or would).
    pub lock_changed: bool,
}

impl Outcome {
    pub fn count(&self, wanted: fn(&Action) -> bool) -> usize {
        self.files.iter().filter(|f| wanted(&f.action)).count()
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| matches!(f.action, Action::Conflict(_)))
    }

    /// True when the workspace differs from what `generate` would write.
    pub fn drift(&self) -> bool {
        self.lock_changed
            || self
                .files
                .iter()
                .any(|f| f.action.changes_disk() || matches!(f.action, Action::Conflict(_)))
    }
}

/// What [`apply`] hands its `render` argument: decides one group of rendered files.
pub type DecideGroup<'a> = dyn Fn(Group) -> Result<Vec<Decided>, Error> + Sync + 'a;

/// Decides each group of planned files as `render` hands it over (see the module comment),
/// then applies the decisions to the workspace at `root`. `render` is called once, with the
/// function that decides one group; it returns the decided groups in a stable order.
///
/// # Errors
/// Whatever `render` returns, [`Error::Io`] on a failed read or write (no file is replaced
/// before every file is decided, and the lock is only written after all of them),
/// [`Error::UnsafePath`] when a path would go through a symbolic link.
/// Callers that write hold a [`WorkspaceLock`] while they read the lock and apply.
pub fn apply<R>(
    root: &Path,
    header: Header,
    render: R,
    old_lock: Option<&Lockfile>,
    options: Options,
) -> Result<Outcome, Error>
where
    R: FnOnce(&DecideGroup<'_>) -> Result<Vec<Vec<Decided>>, Error>,
{
    let root = Root::new(root);
    let outcome = apply_in(&root, header, render, old_lock, options);
    if outcome.is_err() {
        // The temporary files went with the decisions that held them; the folders made for
        // them go too. A folder a renamed file already fills is not empty, and stays.
        root.remove_created_folders();
    }
    outcome
}

fn apply_in<R>(
    root: &Root<'_>,
    header: Header,
    render: R,
    old_lock: Option<&Lockfile>,
    options: Options,
) -> Result<Outcome, Error>
where
    R: FnOnce(&DecideGroup<'_>) -> Result<Vec<Vec<Decided>>, Error>,
{
    let empty = std::collections::BTreeMap::new();
    let old_files = old_lock.map_or(&empty, |l| &l.files);
    let keep_texts = options.diffs || options.mode == Mode::Check;
    let decide_group = |group: Group| -> Result<Vec<Decided>, Error> {
        group
            .into_iter()
            .map(|(path, planned)| {
                let recorded = old_files.get(&path);
                let Decision { mut report, entry } =
                    decide(root, path, planned.contents, planned.owner, recorded, options.force)?;
                let staged = match (&report.action, &report.before_after) {
                    (Action::Create | Action::Update, Some((_, text))) if options.mode == Mode::Write => {
                        Some(stage(root, &report.path, text)?)
                    }
                    _ => None,
                };
                if !keep_texts {
                    report.before_after = None;
                }
                Ok(Decided { report, entry, staged })
            })
            .collect()
    };
    let mut decided: Vec<Decided> = render(&decide_group)?.into_iter().flatten().collect();
    // Sorted for the reports, and for finding a path among them below.
    decided.sort_by(|a, b| a.report.path.cmp(&b.report.path));

    let mut new_lock = Lockfile::new(header.fingerprint, header.state);
    let mut reports = Vec::with_capacity(decided.len());
    let mut staged = Vec::new();
    for Decided {
        report,
        entry,
        staged: file,
    } in decided
    {
        if let Some(entry) = entry {
            new_lock.files.insert(report.path.clone(), entry);
        }
        staged.extend(file);
        reports.push(report);
    }
    let planned = |path: &RelPath| reports.binary_search_by(|r| r.path.cmp(path)).is_ok();

    let (stale, removals) = stale_files(root, old_files, &planned, options.force, keep_texts, &mut new_lock)?;
    reports.extend(stale);
    reports.sort_by(|a, b| a.path.cmp(&b.path));

    // Only the hashes and ownership decide whether the lock changed: a new fleetwright
    // version alone is not drift.
    let lock_changed = match old_lock {
        Some(old) => old.files != new_lock.files || old.manifest != new_lock.manifest || old.state != new_lock.state,
        None => true,
    };
    if options.mode == Mode::Write {
        // Each rename is atomic and the lock comes last, so an interrupted or failed run
        // still leaves every file old or new.
        let renamed: Vec<Result<(), Error>> = staged.into_par_iter().map(Staged::commit).collect();
        renamed.into_iter().collect::<Result<(), Error>>()?;
        for path in &removals {
            remove(root, path)?;
        }
        remove_leftover_temporaries(root.path, reports.iter().map(|r| &r.path));
        if lock_changed {
            write_atomic(root, &RelPath::new(LOCK_FILE)?, new_lock.to_text().as_bytes(), false)?;
        }
    }
    Ok(Outcome {
        files: reports,
        lock_changed,
    })
}

/// Reports on the files of the old lock that the plan no longer has, and which of them to
/// delete; conflicting ones stay in the new lock.
fn stale_files(
    root: &Root<'_>,
    old_files: &std::collections::BTreeMap<RelPath, LockedFile>,
    planned: &dyn Fn(&RelPath) -> bool,
    force: bool,
    keep_texts: bool,
    new_lock: &mut Lockfile,
) -> Result<(Vec<FileReport>, Vec<RelPath>), Error> {
    let mut removals = Vec::new();
    let mut stale = Vec::new();
    for (path, old) in old_files {
        if planned(path) {
            continue;
        }
        let on_disk = read_text(root, path)?;
        let action = match (old.owner, &on_disk) {
            (_, None) => continue,
            (Owner::Scaffold, Some(_)) => Action::Orphan,
            // Untouched means the same hash and nothing in its user regions either: the
            // regions are the user's lines, and deleting the file would lose them.
            (Owner::Managed, Some(text))
                if force || (lockfile::hash(text) == old.hash && !regions::has_user_lines(text)) =>
            {
                Action::Remove
            }
            (Owner::Managed, Some(_)) => Action::Conflict(Conflict::EditedStale),
        };
        if matches!(action, Action::Conflict(_)) {
            new_lock.files.insert(path.clone(), old.clone());
        }
        if action == Action::Remove {
            removals.push(path.clone());
        }
        let before_after = on_disk.filter(|_| keep_texts).map(|text| (text, String::new()));
        stale.push(FileReport {
            path: path.clone(),
            owner: old.owner,
            action,
            before_after,
        });
    }
    Ok((stale, removals))
}

/// One planned file, decided, and its new text waiting beside its place when it is written.
pub struct Decided {
    report: FileReport,
    entry: Option<LockedFile>,
    staged: Option<Staged>,
}

/// A complete temporary file, renamed over its target by [`Staged::commit`]; deleted if the
/// run stops before that.
struct Staged {
    temp: tempfile::TempPath,
    target: PathBuf,
}

impl Staged {
    fn commit(self) -> Result<(), Error> {
        self.temp
            .persist(&self.target)
            .map_err(|e| Error::io("replace", &self.target, e.error))
    }
}

/// Writes `text` to a temporary file in the folder of `path`; scripts (a shebang first line)
/// are made executable. The folders it creates are remembered by `root`, so a run that fails
/// before renaming anything can leave the workspace as it found it.
fn stage(root: &Root<'_>, path: &RelPath, text: &str) -> Result<Staged, Error> {
    let target = root.checked(path)?;
    root.remember_created_folders(&target);
    let temp = temporary_beside(&target, text.as_bytes(), text.starts_with("#!"))?;
    Ok(Staged { temp, target })
}

/// What to do with one planned file (its report: for created, updated and conflicting
/// files, the text on disk and the text that is written, the rendered text with the user
/// regions of the file on disk), and what the lock records for it.
struct Decision {
    report: FileReport,
    entry: Option<LockedFile>,
}

fn decide(
    root: &Root<'_>,
    path: RelPath,
    rendered: String,
    owner: Owner,
    recorded: Option<&LockedFile>,
    force: bool,
) -> Result<Decision, Error> {
    let on_disk = read_text(root, &path)?;
    let (action, text) = match owner {
        Owner::Scaffold => match on_disk {
            None => (Action::Create, rendered),
            Some(_) => (Action::Keep, rendered),
        },
        Owner::Managed => decide_managed(rendered, on_disk.as_deref(), recorded, force),
    };
    let entry = match (&action, recorded) {
        (Action::Conflict(_) | Action::Keep, Some(old)) => Some(old.clone()),
        (Action::Conflict(_), None) => None,
        _ => Some(LockedFile {
            owner,
            hash: lockfile::hash(&text),
        }),
    };
    let before_after = match (&action, on_disk) {
        (Action::Update | Action::Conflict(_), Some(disk)) => Some((disk, text)),
        (Action::Create, None) => Some((String::new(), text)),
        _ => None,
    };
    Ok(Decision {
        report: FileReport {
            path,
            owner,
            action,
            before_after,
        },
        entry,
    })
}

fn decide_managed(
    rendered: String,
    on_disk: Option<&str>,
    recorded: Option<&LockedFile>,
    force: bool,
) -> (Action, String) {
    let Some(disk) = on_disk else {
        return (Action::Create, rendered);
    };
    // Asked before the rendered text moves into the merged one; cheap for the many files
    // without regions.
    let lost = regions::orphaned(&rendered, disk);
    let text = regions::carry_over(rendered, disk);
    if disk == text {
        return (Action::Unchanged, text);
    }
    if force {
        return (Action::Update, text);
    }
    if !lost.is_empty() {
        return (Action::Conflict(Conflict::LostRegions(lost)), text);
    }
    match recorded {
        None => (Action::Conflict(Conflict::NotOurs), text),
        Some(old) if lockfile::hash(disk) != old.hash => (Action::Conflict(Conflict::Edited), text),
        Some(_) => (Action::Update, text),
    }
}

/// Reads a workspace file as text, refusing to follow symbolic links out of the workspace.
fn read_text(root: &Root<'_>, path: &RelPath) -> Result<Option<String>, Error> {
    let full = root.checked(path)?;
    match fs::read(&full) {
        // Generated files are UTF-8; only a file that is not is copied into a lossy version.
        Ok(bytes) => {
            Ok(Some(String::from_utf8(bytes).unwrap_or_else(|e| {
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            })))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Err(Error::io(
            "read",
            full,
            std::io::Error::other("a directory stands where a file is generated"),
        )),
        Err(e) => Err(Error::io("read", full, e)),
    }
}

/// The workspace folder, with what this run learnt about the folders below it: those seen to
/// be folders and not symbolic links, so each is examined once rather than once for every file
/// in it (a thousand services have 32,000 files), and those it created.
struct Root<'a> {
    path: &'a Path,
    folders: Mutex<HashSet<PathBuf>>,
    created: Mutex<Vec<PathBuf>>,
}

impl<'a> Root<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            folders: Mutex::default(),
            created: Mutex::default(),
        }
    }

    /// Notes the folders of `target` that do not exist yet: writing it will create them.
    fn remember_created_folders(&self, target: &Path) {
        let missing: Vec<PathBuf> = target
            .ancestors()
            .skip(1)
            .take_while(|folder| *folder != self.path && !self.known_folder(folder) && !folder.exists())
            .map(Path::to_path_buf)
            .collect();
        if !missing.is_empty() {
            self.created
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(missing);
        }
    }

    /// Removes the folders this run created that are empty, deepest first.
    fn remove_created_folders(&self) {
        let mut created = std::mem::take(&mut *self.created.lock().unwrap_or_else(PoisonError::into_inner));
        created.sort_by_key(|folder| std::cmp::Reverse(folder.components().count()));
        for folder in created {
            let _ = fs::remove_dir(folder);
        }
    }

    fn known_folder(&self, folder: &Path) -> bool {
        self.folders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(folder)
    }

    /// The absolute path of a workspace file, after checking that no existing component
    /// below the root is a symbolic link, so no write or delete can land outside the workspace.
    fn checked(&self, path: &RelPath) -> Result<PathBuf, Error> {
        let full = path
            .as_str()
            .split('/')
            .fold(self.path.to_path_buf(), |acc, seg| acc.join(seg));
        let mut current = self.path.to_path_buf();
        for segment in path.as_str().split('/') {
            current.push(segment);
            let folder = current != full;
            if folder && self.known_folder(&current) {
                continue;
            }
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(Error::UnsafePath(format!(
                        "{path} (`{}` is a symbolic link)",
                        current.display()
                    )));
                }
                Ok(meta) if folder && meta.is_dir() => {
                    self.folders
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(current.clone());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(full)
    }
}

/// Writes through a temporary file in the same directory and a rename, so readers and
/// interrupted runs only ever see the old or the new bytes.
fn write_atomic(root: &Root<'_>, path: &RelPath, bytes: &[u8], executable: bool) -> Result<(), Error> {
    let full = root.checked(path)?;
    write_file_atomic(&full, bytes, executable)
}

/// Replaces one file atomically: a temporary file beside it, renamed over it.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_file_atomic(full: &Path, bytes: &[u8], executable: bool) -> Result<(), Error> {
    let temp = temporary_beside(full, bytes, executable)?;
    temp.persist(full).map_err(|e| Error::io("replace", full, e.error))?;
    Ok(())
}

/// A complete temporary file in the folder of `full` (created if missing), holding `bytes`,
/// closed, and deleted when dropped unless it is persisted.
fn temporary_beside(full: &Path, bytes: &[u8], executable: bool) -> Result<tempfile::TempPath, Error> {
    let dir = match full.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".fleetwright-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("write", full, without_temporary_name(e)))?;
    // Through the file itself: the temporary's own writer names the temporary in its errors.
    temp.as_file_mut()
        .write_all(bytes)
        .map_err(|e| Error::io("write", full, e))?;
    // No fsync: the rename already guarantees old-or-new against interrupted runs, and a
    // per-file fsync made a 100-service generation ten times slower. Power-loss durability
    // is the filesystem's job, as it is for cargo and every other code generator.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("set permissions of", full, e))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    // Closed now: a thousand services stage tens of thousands of files before any is renamed.
    Ok(temp.into_temp_path())
}

/// tempfile appends the temporary file's name to its errors (`... at path "..."`); the user
/// knows the file being written, not that name, which is gone by the time they read it.
/// tempfile keeps the error's kind but not its OS code, so the text is cut instead.
fn without_temporary_name(error: std::io::Error) -> std::io::Error {
    let text = error.to_string();
    match text.split_once(" at path ") {
        Some((reason, _)) => std::io::Error::new(error.kind(), reason.to_owned()),
        None => error,
    }
}

/// Temporary files a killed run left behind (it had no chance to clean up), in the folders
/// this run wrote to; called after this run's own temporary files are renamed. Best effort:
/// a leftover that cannot be removed is harmless.
fn remove_leftover_temporaries<'a>(root: &Path, paths: impl Iterator<Item = &'a RelPath>) {
    let folders: std::collections::BTreeSet<&str> = paths
        .map(|p| p.as_str().rsplit_once('/').map_or("", |(dir, _)| dir))
        .collect();
    for folder in folders {
        let dir = if folder.is_empty() {
            root.to_path_buf()
        } else {
            root.join(folder)
        };
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".fleetwright-") && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Deletes a file, then any directories it leaves empty, up to the workspace root.
fn remove(root: &Root<'_>, path: &RelPath) -> Result<(), Error> {
    let full = root.checked(path)?;
    match fs::remove_file(&full) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", full, e)),
    }
    let mut dir = full.parent();
    while let Some(d) = dir {
        if d == root.path || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// An exclusive lock on the workspace directory for the length of a run, so two runs never
/// interleave their writes. A second run waits briefly, then gives up with [`Error::Busy`].
pub struct WorkspaceLock {
    _dir: fs::File,
}

impl WorkspaceLock {
    /// Takes the lock, waiting up to ten seconds for another run to finish.
    ///
    /// # Errors
    /// [`Error::Busy`] when another run keeps it, [`Error::Io`] when the directory cannot be opened.
    pub fn acquire(root: &Path) -> Result<Self, Error> {
        fs::create_dir_all(root).map_err(|e| Error::io("create directory", root, e))?;
        let dir = fs::File::open(root).map_err(|e| Error::io("open", root, e))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match dir.try_lock() {
                // Filesystems without locking support: proceed unlocked rather than refuse.
                Ok(()) | Err(fs::TryLockError::Error(_)) => return Ok(Self { _dir: dir }),
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(Error::Busy(root.to_owned())),
            }
        }
    }
}
