//! Decides, per file, what a generation does, then does it in one of three modes. The rules:
//! managed files are rewritten unless edited by hand (a conflict, unless `force`); scaffold
//! files are created when missing and otherwise left alone; files the plan no longer has are
//! deleted only if untouched. Writes are atomic and happen only when bytes change, and
//! `fleet.lock` is written last, so an interrupted run leaves every file old or new and the
//! next run finishes the job.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::lockfile::{self, LOCK_FILE, LockedFile, Lockfile};
use super::plan::{Owner, Plan, PlannedFile, RelPath};
use super::regions;
use crate::error::Error;

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

/// Applies a plan to the workspace at `root`.
///
/// # Errors
/// [`Error::Io`] on a failed read or write (files already written stay consistent: each is
/// complete, and the lock is only written after all of them), [`Error::UnsafePath`] when a
/// path would go through a symbolic link, [`Error::Lockfile`] for a damaged lock,
/// Callers that write hold a [`WorkspaceLock`] while they read the lock and apply.
pub fn apply(root: &Path, plan: &Plan, old_lock: Option<&Lockfile>, mode: Mode, force: bool) -> Result<Outcome, Error> {
    let old_files = old_lock.map(|l| l.files.clone()).unwrap_or_default();
    let mut new_lock = Lockfile::new(plan.fingerprint.clone(), plan.state.clone());
    let mut reports = Vec::with_capacity(plan.files.len());

    // Reading, comparing and hashing each file is independent of the others: done in
    // parallel, then gathered in path order, so the outcome and the first error reported
    // are those of a sequential run.
    let decisions: Vec<Result<Decision, Error>> = plan
        .files
        .par_iter()
        .map(|(path, planned)| decide(root, path, planned, old_files.get(path), force))
        .collect();
    for decision in decisions {
        let Decision {
            path,
            owner,
            action,
            entry,
            before_after,
        } = decision?;
        if let Some(entry) = entry {
            new_lock.files.insert(path.clone(), entry);
        }
        reports.push(FileReport {
            path,
            owner,
            action,
            before_after,
        });
    }

    let mut removals = Vec::new();
    for (path, old) in &old_files {
        if plan.files.contains_key(path) {
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
        let before_after = on_disk.map(|text| (text, String::new()));
        reports.push(FileReport {
            path: path.clone(),
            owner: old.owner,
            action,
            before_after,
        });
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));

    // Only the hashes and ownership decide whether the lock changed: a new fleetwright
    // version alone is not drift.
    let lock_changed = match old_lock {
        Some(old) => old.files != new_lock.files || old.manifest != new_lock.manifest || old.state != new_lock.state,
        None => true,
    };
    if mode == Mode::Write {
        remove_leftover_temporaries(root, plan);
        // Independent files, written in parallel; each write is atomic and the lock comes
        // last, so an interrupted or failed run still leaves every file old or new.
        let written: Vec<Result<(), Error>> = reports
            .par_iter()
            .filter(|file| matches!(file.action, Action::Create | Action::Update))
            .filter_map(|file| Some((&file.path, &file.before_after.as_ref()?.1)))
            .map(|(path, text)| {
                let executable = plan.files.get(path).is_some_and(PlannedFile::executable);
                write_atomic(root, path, text.as_bytes(), executable)
            })
            .collect();
        written.into_iter().collect::<Result<(), Error>>()?;
        for path in &removals {
            remove(root, path)?;
        }
        if lock_changed {
            write_atomic(root, &RelPath::new(LOCK_FILE)?, new_lock.to_text().as_bytes(), false)?;
        }
    }
    Ok(Outcome {
        files: reports,
        lock_changed,
    })
}

/// What to do with one planned file, and what the lock records for it.
struct Decision {
    path: RelPath,
    owner: Owner,
    action: Action,
    entry: Option<LockedFile>,
    /// The file on disk and the text generation wants there (for created and updated files,
    /// the text that is written: the rendered text with the user regions of the file on disk).
    before_after: Option<(String, String)>,
}

fn decide(
    root: &Path,
    path: &RelPath,
    planned: &PlannedFile,
    recorded: Option<&LockedFile>,
    force: bool,
) -> Result<Decision, Error> {
    let on_disk = read_text(root, path)?;
    let (action, text) = match planned.owner {
        Owner::Scaffold => match on_disk {
            None => (Action::Create, planned.contents.clone()),
            Some(_) => (Action::Keep, planned.contents.clone()),
        },
        Owner::Managed => decide_managed(&planned.contents, on_disk.as_deref(), recorded, force),
    };
    let entry = match (&action, recorded) {
        (Action::Conflict(_) | Action::Keep, Some(old)) => Some(old.clone()),
        (Action::Conflict(_), None) => None,
        _ => Some(LockedFile {
            owner: planned.owner,
            hash: lockfile::hash(&text),
        }),
    };
    // Moved, not copied: every decision is held until all files are decided, and a copy of
    // each text would hold the workspace twice more (hundreds of MB at a thousand services).
    let before_after = match (&action, on_disk) {
        (Action::Update | Action::Conflict(_), Some(disk)) => Some((disk, text)),
        (Action::Create, None) => Some((String::new(), text)),
        _ => None,
    };
    Ok(Decision {
        path: path.clone(),
        owner: planned.owner,
        action,
        entry,
        before_after,
    })
}

fn decide_managed(
    rendered: &str,
    on_disk: Option<&str>,
    recorded: Option<&LockedFile>,
    force: bool,
) -> (Action, String) {
    let Some(disk) = on_disk else {
        return (Action::Create, rendered.to_owned());
    };
    let text = regions::carry_over(rendered, disk);
    if disk == text {
        return (Action::Unchanged, text);
    }
    if force {
        return (Action::Update, text);
    }
    let lost = regions::orphaned(rendered, disk);
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
fn read_text(root: &Path, path: &RelPath) -> Result<Option<String>, Error> {
    let full = checked_path(root, path)?;
    match fs::read(&full) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Err(Error::io(
            "read",
            full,
            std::io::Error::other("a directory stands where a file is generated"),
        )),
        Err(e) => Err(Error::io("read", full, e)),
    }
}

/// The absolute path of a workspace file, after checking that no existing component below
/// the root is a symbolic link, so no write or delete can land outside the workspace.
fn checked_path(root: &Path, path: &RelPath) -> Result<PathBuf, Error> {
    let mut current = root.to_path_buf();
    for segment in path.as_str().split('/') {
        current.push(segment);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::UnsafePath(format!(
                    "{path} (`{}` is a symbolic link)",
                    current.display()
                )));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(path
        .as_str()
        .split('/')
        .fold(root.to_path_buf(), |acc, seg| acc.join(seg)))
}

/// Writes through a temporary file in the same directory and a rename, so readers and
/// interrupted runs only ever see the old or the new bytes.
fn write_atomic(root: &Path, path: &RelPath, bytes: &[u8], executable: bool) -> Result<(), Error> {
    let full = checked_path(root, path)?;
    write_file_atomic(&full, bytes, executable)
}

/// Replaces one file atomically: a temporary file beside it, renamed over it.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_file_atomic(full: &Path, bytes: &[u8], executable: bool) -> Result<(), Error> {
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
    temp.persist(full).map_err(|e| Error::io("replace", full, e.error))?;
    Ok(())
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
/// this plan writes to. Best effort: a leftover that cannot be removed is harmless.
fn remove_leftover_temporaries(root: &Path, plan: &Plan) {
    let folders: std::collections::BTreeSet<&str> = plan
        .files
        .keys()
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
fn remove(root: &Path, path: &RelPath) -> Result<(), Error> {
    let full = checked_path(root, path)?;
    match fs::remove_file(&full) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", full, e)),
    }
    let mut dir = full.parent();
    while let Some(d) = dir {
        if d == root || fs::remove_dir(d).is_err() {
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
