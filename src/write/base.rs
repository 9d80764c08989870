//! The base of each managed file: the text fleetwright generated for it last time, with user
//! regions emptied, which is the common ancestor of a three-way merge (see [`merge`](super::merge)).
//!
//! Where it lives, and why there: `.fleetwright/base/<path>`, a mirror of every managed file,
//! committed with the workspace. `fleet.lock` alone records only a hash, and a base has to
//! survive a fresh clone, a CI checkout without history, and an upgrade of fleetwright (whose
//! templates can no longer render the old text). The mirror's text is exactly what the lock's
//! hash names (a mirror file whose hash differs is ignored, never trusted), so it is
//! deterministic and checkable. Its cost is small where it matters: git stores a file by its
//! content, so the mirror of an untouched file is the very blob of the file itself; only the
//! bases of hand-edited files take space. To keep it out of reviews, the write stage puts a
//! `.gitattributes` beside it that marks it generated and not for diffing.
//!
//! A workspace written before the mirror existed (fleet.lock format 1) has hashes but no
//! texts. For a file edited by hand since, the base is searched for: it differs from the
//! file on disk only where the user edited, and from the new text only where fleetwright
//! changed, so when those places do not touch, it is one choice, per differing block, of the
//! disk's or the new lines, and the lock's hash says which choice it is ([`reconstruct`]).

use super::filesystem::{Root, read_text};
use super::regions;
use crate::error::Error;
use crate::plan::{RelPath, hash_bytes};

/// The folder of the mirror, relative to the workspace.
pub(crate) const DIR: &str = ".fleetwright/base";
/// Written beside the mirror: GitHub folds it away as generated, and `git diff` does not
/// print it (a regeneration would otherwise show every change twice).
pub(crate) const ATTRIBUTES: &str = ".fleetwright/.gitattributes";
pub(crate) const ATTRIBUTES_TEXT: &str = "# Written by fleetwright: base/ holds what fleetwright generated last time for each managed\n\
# file, the base of its three-way merges. Commit it; do not edit it.\n\
base/** linguist-generated=true -diff\n";

/// Where the base of `path` is kept.
pub(crate) fn path(file: &RelPath) -> RelPath {
    RelPath::new(&format!("{DIR}/{file}")).expect("a path below a fixed folder stays a workspace path")
}

/// The text the mirror holds for a generated text: its user regions emptied.
pub(crate) fn text_of(rendered: &str) -> std::borrow::Cow<'_, str> {
    regions::blank(rendered)
}

/// The recorded base of `file`, when the mirror holds the text whose hash the lock records.
///
/// # Errors
/// [`Error::Io`] when the mirror exists but cannot be read.
pub(super) fn read(root: &Root<'_>, file: &RelPath, hash: &str) -> Result<Option<String>, Error> {
    let Some(text) = read_text(root, &path(file))? else {
        return Ok(None);
    };
    Ok((hash_bytes(text.as_bytes()) == hash).then_some(text))
}

/// At most this many differing blocks are tried (2^12 candidate texts): beyond that the
/// search costs more than it is likely to find.
const MAX_BLOCKS: usize = 12;

/// Finds the base whose hash is `hash` among the texts that take, for each block where
/// `disk` and `rendered` (both with regions emptied) differ, the lines of one or the other;
/// `None` when no such text has that hash (the user's and fleetwright's changes touch, or
/// there are too many blocks).
pub(crate) fn reconstruct(disk: &str, rendered: &str, hash: &str) -> Option<String> {
    let old: Vec<&str> = rendered.split_inclusive('\n').collect();
    let new: Vec<&str> = disk.split_inclusive('\n').collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new);
    // Equal runs and differing blocks, in order; adjacent changes form one block.
    let mut pieces: Vec<(std::ops::Range<usize>, Option<std::ops::Range<usize>>)> = Vec::new();
    for op in ops {
        let (_, old_range, new_range) = op.as_tag_tuple();
        if matches!(op.tag(), similar::DiffTag::Equal) {
            pieces.push((old_range, None));
        } else if let Some((last_old, Some(last_new))) = pieces.last_mut() {
            last_old.end = old_range.end;
            last_new.end = new_range.end;
        } else {
            pieces.push((old_range, Some(new_range)));
        }
    }
    let blocks = pieces.iter().filter(|(_, new)| new.is_some()).count();
    if blocks == 0 || blocks > MAX_BLOCKS {
        return None;
    }
    // Neither all-rendered nor all-disk: those are the texts the caller already compared.
    (1..(1u32 << blocks) - 1).find_map(|choice| {
        let mut text = String::with_capacity(disk.len().max(rendered.len()));
        let mut block = 0;
        for (old_range, new_range) in &pieces {
            match new_range {
                Some(new_range) if choice & (1 << block) != 0 => {
                    new[new_range.clone()].iter().for_each(|l| text.push_str(l));
                }
                _ => old[old_range.clone()].iter().for_each(|l| text.push_str(l)),
            }
            if new_range.is_some() {
                block += 1;
            }
        }
        (hash_bytes(text.as_bytes()) == hash).then_some(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_between_an_edit_and_a_change_is_found_by_its_hash() {
        let base = "a\nb\nc\nd\ne\n";
        let disk = "a\nmine\nb\nc\nd\ne\n"; // the user inserted a line
        let rendered = "a\nb\nc\nd\nE\n"; // fleetwright changed the last one
        assert_eq!(
            reconstruct(disk, rendered, &hash_bytes(base.as_bytes())).as_deref(),
            Some(base)
        );
    }

    #[test]
    fn touching_changes_leave_the_base_unknown() {
        let base = "a\nb\nc\n";
        let disk = "a\nmine\nc\n";
        let rendered = "a\nB\nc\n";
        assert_eq!(reconstruct(disk, rendered, &hash_bytes(base.as_bytes())), None);
    }

    #[test]
    fn mirror_paths_sit_below_the_base_folder() {
        let file = RelPath::new("services/notes/src/lib.rs").unwrap();
        assert_eq!(path(&file).as_str(), ".fleetwright/base/services/notes/src/lib.rs");
    }
}
