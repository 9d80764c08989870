//! What a generation does to each file, decided from the rendered text, the text on disk and
//! what `fleet.lock` recorded. The rules: managed files are rewritten unless edited by hand (a
//! conflict, unless `force`); scaffold files are created when missing and otherwise left
//! alone; files the plan no longer has are deleted only if untouched. It reads the workspace
//! (through `filesystem`) and never writes to it.

use serde::Serialize;

use super::filesystem::{Root, read_text};
use super::lockfile::{self, LockedFile, Lockfile};
use super::regions;
use crate::error::Error;
use crate::plan::{Owner, RelPath};

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
    /// Written (or deleted) over someone's work, because `--force` said so: what would
    /// otherwise have been the conflict.
    Overwrite(Conflict),
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
        matches!(
            self,
            Action::Create | Action::Update | Action::Remove | Action::Overwrite(_)
        )
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

/// What to do with one planned file (its report: for created, updated and conflicting
/// files, the text on disk and the text that is written, the rendered text with the user
/// regions of the file on disk), and what the lock records for it.
pub(super) struct Decision {
    pub(super) report: FileReport,
    pub(super) entry: Option<LockedFile>,
}

pub(super) fn decide(
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
        (Action::Update | Action::Conflict(_) | Action::Overwrite(_), Some(disk)) => Some((disk, text)),
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
    let conflict = if lost.is_empty() {
        match recorded {
            None => Some(Conflict::NotOurs),
            Some(old) if lockfile::hash(disk) != old.hash => Some(Conflict::Edited),
            Some(_) => None,
        }
    } else {
        Some(Conflict::LostRegions(lost))
    };
    match conflict {
        None => (Action::Update, text),
        Some(conflict) if force => (Action::Overwrite(conflict), text),
        Some(conflict) => (Action::Conflict(conflict), text),
    }
}

/// Reports on the files of the old lock that the plan no longer has, and which of them to
/// delete; conflicting ones stay in the new lock.
pub(super) fn stale_files(
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
            (Owner::Managed, Some(text)) if lockfile::hash(text) == old.hash && !regions::has_user_lines(text) => {
                Action::Remove
            }
            (Owner::Managed, Some(_)) if force => Action::Overwrite(Conflict::EditedStale),
            (Owner::Managed, Some(_)) => Action::Conflict(Conflict::EditedStale),
        };
        if matches!(action, Action::Conflict(_)) {
            new_lock.files.insert(path.clone(), old.clone());
        }
        if matches!(action, Action::Remove | Action::Overwrite(_)) {
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
