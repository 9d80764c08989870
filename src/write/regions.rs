//! User regions: blocks inside managed files that belong to the user, such as the extra
//! dependencies of a service's `Cargo.toml`. A block runs from a line containing
//! `fleetwright:user-begin NAME` to one containing `fleetwright:user-end NAME`; regeneration
//! carries its lines over from the file on disk, and hashes ignore them, so editing inside a
//! block is never a conflict.

use std::borrow::Cow;

const BEGIN: &str = "fleetwright:user-begin ";
const END: &str = "fleetwright:user-end ";
/// Common to both markers: one search for it tells that a text has no regions at all, which
/// is most files, so they skip the line-by-line scan.
const ANY: &str = "fleetwright:user-";

fn has_markers(text: &str) -> bool {
    text.contains(ANY)
}

/// One region's name and inner lines.
#[derive(Debug, PartialEq, Eq)]
struct Region<'a> {
    name: &'a str,
    inner: Vec<&'a str>,
}

/// The region's name when `line` is a marker of `kind`: the marker alone on its line, in a
/// comment or bare (`# fleetwright:user-begin deps`, `<!-- fleetwright:user-end deps -->`).
/// Text that only mentions a marker, such as the generated README's advice, is not one:
/// taking it for one left a region open to the end of the file, and hand edits below it
/// went unnoticed and were overwritten.
fn marker<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    let at = line.find(kind)?;
    let comment_opener = line[..at].trim();
    if !comment_opener
        .chars()
        .all(|c| matches!(c, '#' | '/' | '-' | ';' | '<' | '!' | '*'))
    {
        return None;
    }
    let mut rest = line[at + kind.len()..].split_whitespace();
    let name = rest.next()?;
    match rest.next() {
        None | Some("-->" | "*/") if rest.next().is_none() => Some(name),
        _ => None,
    }
}

/// The regions of a text, or `None` when its markers are unbalanced.
fn regions(text: &str) -> Option<Vec<Region<'_>>> {
    let mut out = Vec::new();
    let mut open: Option<Region<'_>> = None;
    for line in text.split_inclusive('\n') {
        match (&mut open, marker(line, BEGIN), marker(line, END)) {
            (None, Some(name), None) => {
                open = Some(Region {
                    name,
                    inner: Vec::new(),
                });
            }
            (Some(region), None, Some(name)) if region.name == name => out.push(open.take()?),
            (Some(region), None, None) => region.inner.push(line),
            (None, None, None) => {}
            _ => return None,
        }
    }
    open.is_none().then_some(out)
}

/// The text with every region emptied: what hashes and drift checks compare. A text whose
/// markers are unbalanced is kept whole, so damaging a marker counts as an edit of the file.
pub(crate) fn blank(text: &str) -> Cow<'_, str> {
    if !has_markers(text) || regions(text).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if marker(line, END).is_some() {
            inside = false;
        }
        if !inside {
            out.push_str(line);
        }
        if marker(line, BEGIN).is_some() {
            inside = true;
        }
    }
    Cow::Owned(out)
}

/// The freshly rendered text with each region's lines taken from the file on disk. When the
/// disk file's markers are damaged the rendered text is returned unchanged, and the caller's
/// hash comparison reports the file as edited.
pub(crate) fn carry_over(rendered: String, on_disk: &str) -> String {
    if !has_markers(&rendered) || !has_markers(on_disk) {
        return rendered;
    }
    let Some(kept) = regions(on_disk) else {
        return rendered;
    };
    if kept.iter().all(|r| r.inner.is_empty()) {
        return rendered;
    }
    let mut out = String::with_capacity(rendered.len() + on_disk.len());
    let mut skipping = false;
    for line in rendered.split_inclusive('\n') {
        if marker(line, END).is_some() {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
        }
        if let Some(name) = marker(line, BEGIN)
            && let Some(region) = kept.iter().find(|r| r.name == name)
        {
            region.inner.iter().for_each(|l| out.push_str(l));
            skipping = true;
        }
    }
    out
}

/// Whether the user wrote anything inside the text's regions: such a file is not untouched,
/// even though its hash (regions blanked) says so.
pub(crate) fn has_user_lines(text: &str) -> bool {
    has_markers(text) && regions(text).is_some_and(|found| found.iter().any(|r| !r.inner.is_empty()))
}

/// Names of non-empty regions on disk that the rendered text no longer has a place for:
/// writing it would drop the user's lines, so the caller must treat that as a conflict.
pub(crate) fn orphaned(rendered: &str, on_disk: &str) -> Vec<String> {
    if !has_markers(on_disk) {
        return Vec::new();
    }
    let Some(kept) = regions(on_disk) else {
        return Vec::new();
    };
    let places = regions(rendered).unwrap_or_default();
    kept.iter()
        .filter(|r| !r.inner.is_empty() && !places.iter().any(|p| p.name == r.name))
        .map(|r| r.name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str =
        "[dependencies]\naxum = \"0.8\"\n# fleetwright:user-begin deps\n# fleetwright:user-end deps\n";

    #[test]
    fn user_lines_survive_regeneration() {
        let disk = "[dependencies]\naxum = \"0.7\"\n# fleetwright:user-begin deps\nrand = \"0.9\"\n# fleetwright:user-end deps\n";
        let merged = carry_over(RENDERED.to_owned(), disk);
        assert_eq!(
            merged,
            "[dependencies]\naxum = \"0.8\"\n# fleetwright:user-begin deps\nrand = \"0.9\"\n# fleetwright:user-end deps\n"
        );
        assert_eq!(blank(&merged), RENDERED);
    }

    #[test]
    fn a_region_the_template_dropped_is_reported() {
        let disk = "# fleetwright:user-begin extra\nx\n# fleetwright:user-end extra\n";
        assert_eq!(orphaned(RENDERED, disk), vec!["extra".to_owned()]);
        assert!(orphaned(RENDERED, RENDERED).is_empty());
    }

    #[test]
    fn user_lines_are_told_apart_from_empty_regions() {
        assert!(!has_user_lines(RENDERED));
        assert!(has_user_lines(&RENDERED.replace("deps\n#", "deps\nrand = \"0.9\"\n#")));
    }

    #[test]
    fn a_marker_mentioned_in_prose_is_not_a_marker() {
        let readme = "Add dependencies between the `fleetwright:user-begin dependencies` markers\nmy notes\n";
        assert_eq!(blank(readme), readme, "the lines below the mention must count");
        assert_eq!(marker("    # fleetwright:user-begin members\n", BEGIN), Some("members"));
        assert_eq!(marker("<!-- fleetwright:user-end notes -->\n", END), Some("notes"));
        assert_eq!(marker("// fleetwright:user-begin a b\n", BEGIN), None);
    }

    #[test]
    fn an_unbalanced_text_is_hashed_whole() {
        let open = "# fleetwright:user-begin deps\nrand = \"0.9\"\n";
        assert_eq!(blank(open), open);
    }

    #[test]
    fn damaged_markers_change_nothing() {
        let disk = "# fleetwright:user-begin deps\nrand = \"0.9\"\n";
        assert_eq!(carry_over(RENDERED.to_owned(), disk), RENDERED);
        assert_ne!(blank(disk), blank(RENDERED));
    }
}
