//! What a generation does to each file, decided from the rendered text, the text on disk and
//! what `fleet.lock` recorded. The rules: managed files are rewritten unless edited by hand;
//! a hand-edited one whose generated text changed is merged three ways against its base (what
//! fleetwright generated last time), and written with conflict markers when both sides changed
//! the same lines (unless `force`, which overwrites); scaffold files are created when missing
//! and otherwise left alone; files the plan no longer has are deleted only if untouched. It
//! reads the workspace (through `filesystem` and `base`) and never writes to it.

use serde::Serialize;

use super::base;
use super::filesystem::{Root, read_text};
use super::lockfile::{self, LockedFile, Lockfile};
use super::merge::{Merged, has_conflict_markers, merge};
use super::regions;
use crate::error::Error;
use crate::plan::{Owner, RelPath};

/// What happens (or would happen) to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "detail")]
pub enum Action {
    Create,
    Update,
    /// A managed file edited by hand whose generated text changed: fleetwright's change and
    /// the user's, on different lines, both applied.
    Merge,
    Unchanged,
    /// A scaffold file that exists: the user's, left alone.
    Keep,
    /// A managed file edited by hand, for which fleetwright has nothing new: kept as it is,
    /// and recorded in `fleet.lock` as the user's version (until then, `check` reports it).
    Edited,
    /// A managed file the manifest no longer produces, untouched since generated.
    Remove,
    /// A scaffold file the manifest no longer produces: the user's code, left in place.
    Orphan,
    /// Written with conflict markers, or not written because writing would lose someone's work.
    Conflict(Conflict),
    /// Written (or deleted) over someone's work, because `--force` said so: what would
    /// otherwise have been the conflict.
    Overwrite(Conflict),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// Edited by hand since fleetwright generated it, and what it generated then is not
    /// known (no base), so the changes cannot be merged: not written.
    Edited,
    /// Exists, but fleetwright did not create it: not written.
    NotOurs,
    /// Edited by hand, and no longer generated: not deleted.
    EditedStale,
    /// Its user regions have no place in the new version: not written.
    LostRegions(Vec<String>),
    /// The user and fleetwright changed the same lines: written with both sides between
    /// conflict markers, for the user to resolve.
    Overlap,
    /// Still holds conflict markers: not written until the user resolves them.
    Unresolved,
}

impl Action {
    pub fn changes_disk(&self) -> bool {
        matches!(
            self,
            Action::Create
                | Action::Update
                | Action::Merge
                | Action::Remove
                | Action::Overwrite(_)
                | Action::Conflict(Conflict::Overlap)
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: RelPath,
    pub owner: Owner,
    #[serde(flatten)]
    pub action: Action,
    /// Disk text and planned text, for diffs; only for updates, merges and conflicts. For a
    /// kept hand edit, the generated text and the disk text.
    #[serde(skip)]
    pub before_after: Option<(String, String)>,
}

/// What to do with one planned file (its report: for created, updated, merged and
/// conflicting files, the text on disk and the text that is written, the rendered text with
/// the user regions of the file on disk, or the merge), what the lock records for it, and
/// the base the mirror must be given: when the lock's hash for the file is new, or the
/// mirror is not known to be complete.
pub(super) struct Decision {
    pub(super) report: FileReport,
    pub(super) entry: Option<LockedFile>,
    pub(super) base: Option<String>,
}

/// How to decide: overwrite hand edits (`--force`), judge files the lock does not name from
/// the files themselves (a lost lock being recovered), and whether the mirror holds a base for
/// every managed file of the lock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    pub(super) force: bool,
    pub(super) recover: bool,
    pub(super) bases_complete: bool,
}

pub(super) fn decide(
    root: &Root<'_>,
    path: RelPath,
    rendered: String,
    owner: Owner,
    recorded: Option<&LockedFile>,
    rules: Rules,
) -> Result<Decision, Error> {
    let Rules {
        force,
        recover,
        bases_complete,
    } = rules;
    let on_disk = read_text(root, &path)?;
    let recovered = match recorded {
        None if recover => recovered_entry(root, &path, owner, &rendered, on_disk.as_deref())?,
        _ => None,
    };
    // A recovered entry without a base names the rendering only for want of the real base.
    let base_unknown = recovered.as_ref().is_some_and(|r| !r.mirrored);
    let recorded = recorded.or(recovered.as_ref().map(|r| &r.entry));
    let managed = match owner {
        Owner::Scaffold => {
            let action = if on_disk.is_some() {
                Action::Keep
            } else {
                Action::Create
            };
            let entry = match (&action, recorded) {
                (Action::Keep, Some(old)) => old.clone(),
                _ => generated_entry(owner, &rendered),
            };
            Managed {
                action,
                text: rendered,
                entry: Some(entry),
                base: NewBase::No,
            }
        }
        Owner::Managed => decide_managed(root, &path, rendered, on_disk.as_deref(), recorded, force, base_unknown)?,
    };
    let Managed {
        action,
        text,
        entry,
        base,
    } = managed;
    let needed = entry.as_ref().is_some_and(|new| {
        new.owner == Owner::Managed && (!bases_complete || recorded.is_none_or(|old| old.hash != new.hash))
    });
    let base = match base {
        NewBase::Text if needed => Some(base::text_of(&text).into_owned()),
        NewBase::Generated(generated) if needed => Some(generated),
        _ => None,
    };
    let before_after = match (&action, on_disk) {
        (Action::Update | Action::Merge | Action::Conflict(_) | Action::Overwrite(_), Some(disk)) => Some((disk, text)),
        // The hand edit, as a change of the generated text.
        (Action::Edited, Some(disk)) => Some((text, disk)),
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
        base,
    })
}

/// What a lost lock recorded for a file, judged from the file itself, and whether its base
/// is known.
struct Recovered {
    entry: LockedFile,
    /// The mirror holds the file's base, and the entry's hash names it.
    mirrored: bool,
}

/// What a lost lock recorded for a file, judged from the file itself: a scaffold file that
/// exists was created by fleetwright; a managed one was generated if it carries the header
/// or its text is what fleetwright renders (JSON files have no header). Its base is the
/// mirror's text when the mirror holds one (the mirror is written with the lock, so that is
/// the text the lost lock's hash named); otherwise the rendering stands in for it, and a file
/// that differs from the rendering counts as edited by hand, since the generated text it
/// started from is unknown. The edit is never recorded from a guess (`edited` is `None`).
fn recovered_entry(
    root: &Root<'_>,
    path: &RelPath,
    owner: Owner,
    rendered: &str,
    on_disk: Option<&str>,
) -> Result<Option<Recovered>, Error> {
    let Some(disk) = on_disk else {
        return Ok(None);
    };
    let ours = match owner {
        Owner::Scaffold => true,
        Owner::Managed => {
            crate::plan::has_generated_header(disk) || regions::carry_over(rendered.to_owned(), disk) == disk
        }
    };
    if !ours {
        return Ok(None);
    }
    let mirror = match owner {
        Owner::Scaffold => None,
        Owner::Managed => read_text(root, &base::path(path))?,
    };
    let mirrored = mirror.is_some();
    let hash = lockfile::hash(mirror.as_deref().unwrap_or(rendered));
    Ok(Some(Recovered {
        entry: LockedFile {
            owner,
            hash,
            edited: None,
        },
        mirrored,
    }))
}

/// A decision on one file: the text to write (or that would be written), what the lock
/// records, and the base the lock's hash then names.
struct Managed {
    action: Action,
    text: String,
    entry: Option<LockedFile>,
    base: NewBase,
}

enum NewBase {
    /// The lock keeps a hash whose text is not at hand (the old one, or none).
    No,
    /// The text written, with user regions emptied.
    Text,
    /// The generated text, user regions emptied, of a file written merged.
    Generated(String),
}

fn generated_entry(owner: Owner, text: &str) -> LockedFile {
    LockedFile {
        owner,
        hash: lockfile::hash(text),
        edited: None,
    }
}

fn decide_managed(
    root: &Root<'_>,
    path: &RelPath,
    rendered: String,
    on_disk: Option<&str>,
    recorded: Option<&LockedFile>,
    force: bool,
    base_unknown: bool,
) -> Result<Managed, Error> {
    let written = |action: Action, text: String| {
        let entry = generated_entry(Owner::Managed, &text);
        Managed {
            action,
            text,
            entry: Some(entry),
            base: NewBase::Text,
        }
    };
    let kept = |action: Action, text: String| Managed {
        action,
        text,
        entry: recorded.cloned(),
        base: NewBase::No,
    };
    let Some(disk) = on_disk else {
        return Ok(written(Action::Create, rendered));
    };
    // Asked before the rendered text moves into the merged one; cheap for the many files
    // without regions.
    let lost = regions::orphaned(&rendered, disk);
    let text = regions::carry_over(rendered, disk);
    if disk == text {
        return Ok(written(Action::Unchanged, text));
    }
    if force {
        return Ok(written(
            overwritten(disk, lost, recorded).map_or(Action::Update, Action::Overwrite),
            text,
        ));
    }
    if has_conflict_markers(disk) {
        return Ok(kept(Action::Conflict(Conflict::Unresolved), text));
    }
    if !lost.is_empty() {
        return Ok(kept(Action::Conflict(Conflict::LostRegions(lost)), text));
    }
    let Some(old) = recorded else {
        return Ok(kept(Action::Conflict(Conflict::NotOurs), text));
    };
    let disk_hash = lockfile::hash(disk);
    if disk_hash == old.hash {
        return Ok(written(Action::Update, text));
    }
    // A lost lock's file that differs from the rendering, with no base to tell the user's
    // edit from fleetwright's change: reported and kept, neither merged nor recorded as an
    // edit against a base it may not have had.
    if base_unknown {
        return Ok(kept(Action::Conflict(Conflict::Edited), text));
    }
    // Edited by hand. Nothing new from fleetwright: the user's text stands, and is recorded.
    let new_hash = lockfile::hash(&text);
    if new_hash == old.hash {
        let action = if old.edited.as_ref() == Some(&disk_hash) {
            Action::Unchanged
        } else {
            Action::Edited
        };
        let entry = LockedFile {
            edited: Some(disk_hash),
            ..old.clone()
        };
        // Its hash names the generated text, which an older lock may not have mirrored yet.
        return Ok(Managed {
            action,
            text,
            entry: Some(entry),
            base: NewBase::Text,
        });
    }
    let base = match base::read(root, path, &old.hash)? {
        Some(base) => Some(base),
        None => base::reconstruct(&regions::blank(disk), &regions::blank(&text), &old.hash),
    };
    let Some(base) = base else {
        return Ok(kept(Action::Conflict(Conflict::Edited), text));
    };
    // The user's region lines go into the base too, so that only generated lines merge.
    let base = regions::carry_over(base, disk);
    let new_entry = |edited: Option<String>| LockedFile {
        owner: Owner::Managed,
        hash: new_hash.clone(),
        edited,
    };
    // The mirror then holds the new generated text: the base of the next merge, since the
    // file on disk now holds fleetwright's change.
    let generated = || NewBase::Generated(base::text_of(&text).into_owned());
    Ok(match merge(&base, disk, &text) {
        Merged::Clean(merged) if merged == text => written(Action::Update, text),
        // The user's text already holds fleetwright's change: nothing to write, only to record.
        Merged::Clean(merged) if merged == disk => Managed {
            action: Action::Edited,
            entry: Some(new_entry(Some(disk_hash))),
            base: generated(),
            text,
        },
        Merged::Clean(merged) => Managed {
            action: Action::Merge,
            entry: Some(new_entry(Some(lockfile::hash(&merged)))),
            base: generated(),
            text: merged,
        },
        Merged::Conflicted(marked) => Managed {
            action: Action::Conflict(Conflict::Overlap),
            entry: Some(new_entry(None)),
            base: generated(),
            text: marked,
        },
    })
}

/// What would have been the conflict of writing over `disk`, had `--force` not said to.
fn overwritten(disk: &str, lost: Vec<String>, recorded: Option<&LockedFile>) -> Option<Conflict> {
    if has_conflict_markers(disk) {
        Some(Conflict::Unresolved)
    } else if !lost.is_empty() {
        Some(Conflict::LostRegions(lost))
    } else {
        match recorded {
            None => Some(Conflict::NotOurs),
            Some(old) if lockfile::hash(disk) != old.hash => Some(Conflict::Edited),
            Some(_) => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "// @generated\nfn a() {}\n\nfn b() {}\n\nfn c() {}\n";
    const PATH: &str = "src/lib.rs";

    /// A workspace holding `disk` at [`PATH`] (none when `None`) and `base` in the mirror.
    fn workspace(disk: Option<&str>, base: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = disk {
            std::fs::create_dir_all(dir.path().join("src")).unwrap();
            std::fs::write(dir.path().join(PATH), text).unwrap();
        }
        if let Some(text) = base {
            let mirror = dir.path().join(base::path(&RelPath::new(PATH).unwrap()).as_str());
            std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
            std::fs::write(mirror, text).unwrap();
        }
        dir
    }

    fn recorded(base: &str) -> LockedFile {
        LockedFile {
            owner: Owner::Managed,
            hash: lockfile::hash(base),
            edited: None,
        }
    }

    fn run(dir: &tempfile::TempDir, rendered: &str, recorded: Option<&LockedFile>) -> Decision {
        let root = Root::new(dir.path());
        let path = RelPath::new(PATH).unwrap();
        decide(
            &root,
            path,
            rendered.to_owned(),
            Owner::Managed,
            recorded,
            Rules {
                force: false,
                recover: false,
                bases_complete: true,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_clean_merge_records_the_new_base_and_the_merged_text() {
        let yours = BASE.replace("fn a() {}", "fn a() { mine() }");
        let new = BASE.replace("fn c() {}", "fn c() { new() }");
        let dir = workspace(Some(&yours), Some(BASE));
        let decision = run(&dir, &new, Some(&recorded(BASE)));
        assert_eq!(decision.report.action, Action::Merge);
        let (_, merged) = decision.report.before_after.clone().unwrap();
        assert!(merged.contains("mine()") && merged.contains("new()"), "{merged}");
        let entry = decision.entry.unwrap();
        assert_eq!(entry.hash, lockfile::hash(&new), "the base moves forward");
        assert_eq!(
            entry.edited,
            Some(lockfile::hash(&merged)),
            "the merge is the user's version"
        );
        assert_eq!(
            decision.base.as_deref(),
            Some(new.as_str()),
            "the mirror gets the new text"
        );
    }

    #[test]
    fn an_overlap_is_written_with_markers_against_the_new_base() {
        let yours = BASE.replace("fn b() {}", "fn b() { mine() }");
        let new = BASE.replace("fn b() {}", "fn b() { new() }");
        let dir = workspace(Some(&yours), Some(BASE));
        let decision = run(&dir, &new, Some(&recorded(BASE)));
        assert_eq!(decision.report.action, Action::Conflict(Conflict::Overlap));
        assert!(decision.report.action.changes_disk());
        let (_, marked) = decision.report.before_after.clone().unwrap();
        assert!(marked.contains("<<<<<<< yours\nfn b() { mine() }\n"), "{marked}");
        let entry = decision.entry.unwrap();
        assert_eq!((entry.hash, entry.edited), (lockfile::hash(&new), None));
    }

    #[test]
    fn markers_on_disk_stop_everything_but_force() {
        let marked = "<<<<<<< yours\nfn b() { mine() }\n=======\nfn b() {}\n>>>>>>> fleetwright\n";
        let dir = workspace(Some(marked), Some(BASE));
        let old = recorded(BASE);
        let decision = run(&dir, BASE, Some(&old));
        assert_eq!(decision.report.action, Action::Conflict(Conflict::Unresolved));
        assert_eq!(decision.entry, Some(old.clone()));
        assert!(decision.base.is_none());
        let root = Root::new(dir.path());
        let forced = decide(
            &root,
            RelPath::new(PATH).unwrap(),
            BASE.to_owned(),
            Owner::Managed,
            Some(&old),
            Rules {
                force: true,
                recover: false,
                bases_complete: true,
            },
        )
        .unwrap();
        assert_eq!(forced.report.action, Action::Overwrite(Conflict::Unresolved));
    }

    #[test]
    fn an_edit_with_nothing_new_is_kept_and_recorded_once() {
        let yours = format!("{BASE}// mine\n");
        let dir = workspace(Some(&yours), Some(BASE));
        let decision = run(&dir, BASE, Some(&recorded(BASE)));
        assert_eq!(decision.report.action, Action::Edited);
        let entry = decision.entry.unwrap();
        assert_eq!(entry.edited, Some(lockfile::hash(&yours)));
        // Recorded: the next run finds nothing to do.
        let again = run(&dir, BASE, Some(&entry));
        assert_eq!(again.report.action, Action::Unchanged);
        assert_eq!(again.entry, Some(entry));
    }

    #[test]
    fn an_edit_that_already_holds_the_change_is_recorded_not_rewritten() {
        let new = BASE.replace("fn c() {}", "fn c() { new() }");
        let yours = new.replace("fn a() {}", "fn a() { mine() }");
        let dir = workspace(Some(&yours), Some(BASE));
        let decision = run(&dir, &new, Some(&recorded(BASE)));
        assert_eq!(decision.report.action, Action::Edited);
        let entry = decision.entry.unwrap();
        assert_eq!(
            (entry.hash, entry.edited),
            (lockfile::hash(&new), Some(lockfile::hash(&yours)))
        );
    }

    #[test]
    fn a_file_the_user_deleted_is_created_again() {
        let dir = workspace(None, Some(BASE));
        let new = BASE.replace("fn c() {}", "fn c() { new() }");
        let decision = run(&dir, &new, Some(&recorded(BASE)));
        assert_eq!(decision.report.action, Action::Create);
        assert_eq!(decision.entry.unwrap().hash, lockfile::hash(&new));
    }

    #[test]
    fn a_mirror_that_does_not_match_the_lock_is_not_trusted() {
        // The mirror says the base was something else: the hash wins, and the edit and the
        // change touch, so the base cannot be found and nothing is written.
        let yours = BASE.replace("fn b() {}", "fn b() { mine() }");
        let new = BASE.replace("fn b() {}", "fn b() { new() }");
        let dir = workspace(Some(&yours), Some("something else\n"));
        let decision = run(&dir, &new, Some(&recorded(BASE)));
        assert_eq!(decision.report.action, Action::Conflict(Conflict::Edited));
    }

    /// A generated file (it carries the header), with the lock lost: decided by recovery.
    const OURS: &str = "// @generated by fleetwright\nfn a() {}\n\nfn b() {}\n\nfn c() {}\n";

    fn recover(dir: &tempfile::TempDir, rendered: &str) -> Decision {
        let root = Root::new(dir.path());
        let rules = Rules {
            force: false,
            recover: true,
            bases_complete: false,
        };
        decide(
            &root,
            RelPath::new(PATH).unwrap(),
            rendered.to_owned(),
            Owner::Managed,
            None,
            rules,
        )
        .unwrap()
    }

    #[test]
    fn a_recovered_edit_merges_against_the_mirrored_base() {
        let yours = OURS.replace("fn a() {}", "fn a() { mine() }");
        let new = OURS.replace("fn c() {}", "fn c() { new() }");
        let dir = workspace(Some(&yours), Some(OURS));
        let decision = recover(&dir, &new);
        assert_eq!(decision.report.action, Action::Merge);
        let (_, merged) = decision.report.before_after.clone().unwrap();
        assert!(merged.contains("mine()") && merged.contains("new()"), "{merged}");
        let entry = decision.entry.unwrap();
        assert_eq!(
            (entry.hash, entry.edited),
            (lockfile::hash(&new), Some(lockfile::hash(&merged)))
        );
    }

    #[test]
    fn a_recovered_edit_without_a_base_is_a_conflict_not_a_merge() {
        // The rendering is not the base: merging against it would pass off fleetwright's
        // unknown change as the user's edit. Reported, kept, and not recorded as an edit.
        let yours = OURS.replace("fn a() {}", "fn a() { mine() }");
        let new = OURS.replace("fn c() {}", "fn c() { new() }");
        for rendered in [OURS, new.as_str()] {
            let dir = workspace(Some(&yours), None);
            let decision = recover(&dir, rendered);
            assert_eq!(decision.report.action, Action::Conflict(Conflict::Edited));
            assert!(!decision.report.action.changes_disk());
            let entry = decision.entry.unwrap();
            assert_eq!((entry.hash, entry.edited), (lockfile::hash(rendered), None));
            assert!(decision.base.is_none(), "the rendering is not mirrored as the base");
        }
    }

    #[test]
    fn a_recovered_file_without_the_header_that_differs_is_not_ours() {
        let yours = BASE.replace("fn a() {}", "fn a() { mine() }");
        let dir = workspace(Some(&yours), None);
        let decision = recover(&dir, BASE);
        assert_eq!(decision.report.action, Action::Conflict(Conflict::NotOurs));
        assert!(decision.entry.is_none());
    }
}
