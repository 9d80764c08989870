//! Three-way merge of a managed file edited by hand: the user's text and fleetwright's new
//! text, each against the base (what fleetwright generated last time, see [`base`](super::base)).
//! Changes to different lines are both kept; changes to the same lines are written with the
//! standard conflict markers, both sides in full, so nothing is lost. The diff3 itself is the
//! `diffy` crate's; this module only labels the markers and keeps line endings. It reads and
//! writes nothing.

/// The opening marker of a conflict: the user's side follows it.
pub(crate) const YOURS: &str = "<<<<<<< yours";
/// Between the user's side and the base's (what fleetwright generated last time); `=======`
/// then separates the base's side from fleetwright's.
pub(crate) const BASE: &str = "||||||| base";
/// The closing marker: fleetwright's new side precedes it.
pub(crate) const FLEETWRIGHT: &str = ">>>>>>> fleetwright";

/// The result of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Merged {
    /// Both changes, applied: no line was changed by both sides.
    Clean(String),
    /// Both changes, with conflict markers around the lines both sides changed.
    Conflicted(String),
}

/// Merges `yours` (the file on disk) and `fleetwright` (the new text) against `base`.
///
/// A file the user's editor turned to CRLF line endings is merged as LF text (base and new
/// text are generated with LF) and written back with CRLF, so a changed line ending is not
/// taken for a change of every line. Callers first refuse a `yours` that already holds
/// conflict markers ([`has_conflict_markers`]): the markers diffy writes are relabelled by
/// matching whole lines, which is safe only while no input holds such lines.
pub(crate) fn merge(base: &str, yours: &str, fleetwright: &str) -> Merged {
    let crlf = uses_crlf(yours) && !fleetwright.contains('\r');
    let lf;
    let yours = if crlf {
        lf = yours.replace("\r\n", "\n");
        lf.as_str()
    } else {
        yours
    };
    let mut options = diffy::MergeOptions::new();
    options
        .set_conflict_style(diffy::ConflictStyle::Diff3)
        .set_incomplete_hunk_style(diffy::IncompleteHunkStyle::Git);
    let merged = match options.merge(base, yours, fleetwright) {
        Ok(text) => Merged::Clean(text),
        Err(text) => Merged::Conflicted(relabel(&text)),
    };
    if !crlf {
        return merged;
    }
    match merged {
        Merged::Clean(text) => Merged::Clean(text.replace('\n', "\r\n")),
        Merged::Conflicted(text) => Merged::Conflicted(text.replace('\n', "\r\n")),
    }
}

/// Whether every line of `text` ends with CRLF (and there is at least one).
fn uses_crlf(text: &str) -> bool {
    let lines = text.matches('\n').count();
    lines > 0 && text.matches("\r\n").count() == lines
}

/// diffy labels the sides `ours`, `original` and `theirs`; ours say whose each side is.
fn relabel(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let label = match body {
            "<<<<<<< ours" => YOURS,
            "||||||| original" => BASE,
            ">>>>>>> theirs" => FLEETWRIGHT,
            other => other,
        };
        out.push_str(label);
        out.push_str(end);
    }
    out
}

/// Whether `text` holds an unresolved conflict: a line opening one (`<<<<<<<`) and a line
/// closing one (`>>>>>>>`), as fleetwright and git write them. A file in that state is never
/// merged again nor recorded as the user's; `check` fails on it.
pub(crate) fn has_conflict_markers(text: &str) -> bool {
    let marker = |line: &str, sign: &str| {
        line.strip_prefix(sign)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\r'))
    };
    // Cheap first: most files have neither.
    text.contains("<<<<<<<") && text.lines().any(|l| marker(l, "<<<<<<<")) && text.lines().any(|l| marker(l, ">>>>>>>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE_TEXT: &str = "// @generated\nfn a() {}\n\nfn b() {}\n\nfn c() {}\n";

    #[test]
    fn changes_to_different_lines_merge_cleanly() {
        let yours = BASE_TEXT.replace("fn a() {}", "fn a() { mine() }");
        let new = BASE_TEXT.replace("fn c() {}", "fn c() {}\n\nfn d() {}");
        let Merged::Clean(text) = merge(BASE_TEXT, &yours, &new) else {
            panic!("expected a clean merge")
        };
        assert_eq!(
            text,
            "// @generated\nfn a() { mine() }\n\nfn b() {}\n\nfn c() {}\n\nfn d() {}\n"
        );
        assert!(!has_conflict_markers(&text));
    }

    #[test]
    fn changes_to_the_same_lines_keep_both_sides_between_markers() {
        let yours = BASE_TEXT.replace("fn b() {}", "fn b() { yours() }");
        let new = BASE_TEXT.replace("fn b() {}", "fn b() { generated() }");
        let Merged::Conflicted(text) = merge(BASE_TEXT, &yours, &new) else {
            panic!("expected a conflict")
        };
        assert_eq!(
            text,
            "// @generated\nfn a() {}\n\n<<<<<<< yours\nfn b() { yours() }\n||||||| base\nfn b() {}\n=======\n\
             fn b() { generated() }\n>>>>>>> fleetwright\n\nfn c() {}\n"
        );
        assert!(has_conflict_markers(&text));
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict() {
        let both = BASE_TEXT.replace("fn b() {}", "fn b() { same() }");
        assert_eq!(merge(BASE_TEXT, &both, &both), Merged::Clean(both.clone()));
    }

    #[test]
    fn crlf_edits_merge_and_keep_crlf() {
        let yours = BASE_TEXT
            .replace("fn a() {}", "fn a() { mine() }")
            .replace('\n', "\r\n");
        let new = BASE_TEXT.replace("fn c() {}", "fn c() { new() }");
        let Merged::Clean(text) = merge(BASE_TEXT, &yours, &new) else {
            panic!("a line-ending change is not a change of every line")
        };
        assert_eq!(
            text,
            "// @generated\r\nfn a() { mine() }\r\n\r\nfn b() {}\r\n\r\nfn c() { new() }\r\n"
        );
    }

    #[test]
    fn user_region_lines_are_the_users_side() {
        // Region lines are carried into base and new text before merging (see decide), so
        // they are equal on all sides and only the generated lines around them merge.
        let base = "[deps]\n# fleetwright:user-begin deps\nrand = \"0.9\"\n# fleetwright:user-end deps\nx = 1\ny = 1\n";
        let yours = format!("{base}# mine\n");
        let new = base.replace("x = 1", "x = 2");
        assert_eq!(
            merge(base, &yours, &new),
            Merged::Clean(
                "[deps]\n# fleetwright:user-begin deps\nrand = \"0.9\"\n# fleetwright:user-end deps\nx = 2\ny = 1\n# mine\n"
                    .to_owned()
            )
        );
        // Adjacent changes are a conflict, as in git.
        let next_to = base.replace("y = 1", "y = 2");
        assert!(matches!(merge(base, &yours, &next_to), Merged::Conflicted(_)));
    }

    #[test]
    fn markers_are_recognised_only_as_whole_marker_lines() {
        assert!(has_conflict_markers(
            "<<<<<<< yours\na\n=======\nb\n>>>>>>> fleetwright\n"
        ));
        assert!(has_conflict_markers(
            "<<<<<<< HEAD\r\na\r\n=======\r\nb\r\n>>>>>>> main\r\n"
        ));
        assert!(!has_conflict_markers("let s = \"<<<<<<< x\";\n"));
        assert!(!has_conflict_markers("<<<<<<< only an opener\n"));
    }
}
