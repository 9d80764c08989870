//! Applies a generation to the workspace in one of three modes: files arrive in groups (the
//! workspace's, then each service's) while they are rendered, each is decided at once (see
//! [`decide`](super::decide)), and a file to write goes to a temporary file beside its place
//! while its text is dropped, so memory holds a few services' files, not the workspace (200 MB
//! at a thousand services). The temporary files are renamed into place only after every file
//! is rendered and decided, so a template that fails halfway still writes nothing; `fleet.lock`
//! is written last, so an interrupted run leaves every file old or new and the next run
//! finishes the job. Which file gets what is `decide`'s; how bytes reach the disk is
//! `filesystem`'s; keeping two runs apart is `flock`'s.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::decide::{Action, Decision, FileReport, decide, stale_files};
use super::filesystem::{Root, Staged, remove, remove_leftover_temporaries, stage, write_atomic};
use super::lockfile::{LOCK_FILE, LockedFile, Lockfile};
use crate::error::Error;
use crate::model::{Inconsistency, InconsistencyKind};
use crate::plan::{Group, RelPath};

/// What to do with the decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write files and `fleet.lock`.
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
    /// Rebuild a missing or damaged `fleet.lock` from the workspace: numbers and migrations
    /// from the proto and migration files, ownership from the files themselves (a managed
    /// file that differs from its rendering but carries fleetwright's header counts as edited
    /// by hand).
    pub recover: bool,
}

impl Options {
    /// Write, keep hand edits, no diffs: what `new` and `add` do.
    pub(crate) fn write() -> Self {
        Self {
            mode: Mode::Write,
            force: false,
            diffs: false,
            recover: false,
        }
    }
}

/// What the lock records besides the files: see [`Lockfile`].
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// Hash of the resolved model the files are rendered from.
    pub fingerprint: String,
    /// The stable numbering and migration state.
    pub state: crate::model::State,
    /// What reconciling the lock with the workspace found, short of blocking.
    pub problems: Vec<Inconsistency>,
    /// Data the new migrations delete, one sentence each.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub files: Vec<FileReport>,
    /// Whether `fleet.lock` changes (or would).
    pub lock_changed: bool,
    /// Disagreements between `fleet.lock` and the workspace: errors the run cannot repair,
    /// and what it read back from the workspace into the lock.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Inconsistency>,
    /// Data the new migrations delete (a removed entity's table, a removed field's column).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A recovery that replaces a damaged `fleet.lock` keeps it as `fleet.lock.damaged`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub damaged_lock_kept: bool,
}

impl Outcome {
    pub(crate) fn count(&self, wanted: fn(&Action) -> bool) -> usize {
        self.files.iter().filter(|f| wanted(&f.action)).count()
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| matches!(f.action, Action::Conflict(_)))
    }

    /// Inconsistencies no generation repairs: the run fails (exit 1) until they are resolved.
    pub fn errors(&self) -> impl Iterator<Item = &Inconsistency> {
        self.problems.iter().filter(|p| p.kind == InconsistencyKind::Error)
    }

    /// True when the workspace differs from what `generate` would write.
    pub fn drift(&self) -> bool {
        self.errors().next().is_some()
            || self.lock_changed
            || self
                .files
                .iter()
                .any(|f| f.action.changes_disk() || matches!(f.action, Action::Conflict(_)))
    }
}

/// What [`apply`] hands its `render` argument: decides one group of rendered files.
pub(crate) type DecideGroup<'a> = dyn Fn(Group) -> Result<Vec<Decided>, Error> + Sync + 'a;

/// Decides each group of planned files as `render` hands it over (see the module comment),
/// then applies the decisions to the workspace at `root`. `render` is called once, with the
/// function that decides one group; it returns the decided groups in a stable order.
///
/// # Errors
/// Whatever `render` returns, [`Error::Io`] on a failed read or write (no file is replaced
/// before every file is decided, and the lock is only written after all of them),
/// [`Error::UnsafePath`] when a path would go through a symbolic link.
/// Callers that write hold a [`Flock`](super::Flock) while they read the lockfile and apply.
pub(crate) fn apply<R>(
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
    // A managed file with fleetwright's header while there is no lock: the lock was lost.
    let lock_lost = std::sync::atomic::AtomicBool::new(false);
    let recover = old_lock.is_none() && options.recover;
    // Recovery refuses a readable lock, so a lock file there now is a damaged one.
    let damaged_lock = recover && root.path.join(LOCK_FILE).is_file();
    let decide_group = |group: Group| -> Result<Vec<Decided>, Error> {
        group
            .into_iter()
            .map(|(path, planned)| {
                let recorded = old_files.get(&path);
                let Decision { mut report, entry } = decide(
                    root,
                    path,
                    planned.contents,
                    planned.owner,
                    recorded,
                    options.force,
                    recover,
                )?;
                if old_lock.is_none() && report.action == Action::Conflict(super::decide::Conflict::NotOurs) {
                    let generated = report
                        .before_after
                        .as_ref()
                        .is_some_and(|(disk, _)| has_our_header(disk));
                    if generated {
                        lock_lost.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                let staged = match (&report.action, &report.before_after) {
                    (Action::Create | Action::Update | Action::Overwrite(_), Some((_, text)))
                        if options.mode == Mode::Write =>
                    {
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
    if lock_lost.into_inner() && !options.force {
        return Err(Error::LockMissing(root.path.join(LOCK_FILE)));
    }
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
        if damaged_lock {
            keep_damaged_lock(root)?;
        }
        commit(root, staged, &removals, &reports, lock_changed.then_some(&new_lock)).map_err(Error::interrupted)?;
    }
    Ok(Outcome {
        files: reports,
        lock_changed,
        problems: header.problems,
        warnings: header.warnings,
        damaged_lock_kept: damaged_lock,
    })
}

/// Moves a damaged `fleet.lock` that a recovery replaces to `fleet.lock.damaged`, so what it
/// still holds is not lost.
fn keep_damaged_lock(root: &Root<'_>) -> Result<(), Error> {
    let lock = root.path.join(LOCK_FILE);
    let kept = root.path.join(format!("{LOCK_FILE}.damaged"));
    std::fs::rename(&lock, &kept).map_err(|e| Error::io("move aside", lock, e))
}

/// Whether a file's first lines carry the `@generated by fleetwright` header.
fn has_our_header(text: &str) -> bool {
    text.lines()
        .take(2)
        .any(|line| line.contains("@generated by fleetwright"))
}

/// Puts the decided files in place: renames the staged ones, deletes the removed ones, then
/// writes `fleet.lock` when it changed. From the first rename on, files are written, so its
/// errors say so (see [`Error::Interrupted`]).
fn commit(
    root: &Root<'_>,
    staged: Vec<Staged>,
    removals: &[RelPath],
    reports: &[FileReport],
    new_lock: Option<&Lockfile>,
) -> Result<(), Error> {
    let renamed: Vec<Result<(), Error>> = staged.into_par_iter().map(Staged::commit).collect();
    renamed.into_iter().collect::<Result<(), Error>>()?;
    for path in removals {
        remove(root, path)?;
    }
    remove_leftover_temporaries(root.path, reports.iter().map(|r| &r.path));
    if let Some(lock) = new_lock {
        write_atomic(root, &RelPath::new(LOCK_FILE)?, lock.to_text().as_bytes(), false)?;
    }
    Ok(())
}

/// One planned file, decided, and its new text waiting beside its place when it is written.
pub(crate) struct Decided {
    report: FileReport,
    entry: Option<LockedFile>,
    staged: Option<Staged>,
}
