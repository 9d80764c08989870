//! The data flows one way through `src/` (STYLE.md section 1, issue 11): the shared leaves,
//! then manifest → model → plan → render → write → cli. This test reads every file under
//! `src/` and fails when a module names a module of a later stage, through `crate::…`,
//! `crate::{…}` or `super::` chains that climb to the crate root.

use std::path::{Path, PathBuf};

/// Where each top-level module sits. The leaves (diagnostics, the manifest source, the error
/// type, and `plan`, the contract render produces and write consumes) are used by every
/// stage and use only each other. `examples` ship with the CLI. `lib.rs` and `main.rs` tie
/// everything together and may use all of it.
const ORDER: &[(&str, u8)] = &[
    ("diagnostic", 0),
    ("source", 0),
    ("error", 0),
    ("plan", 0),
    // The development signing key: a leaf that render (the dev gateways' key set) and the
    // CLI (`dev token`) use.
    ("devkey", 0),
    ("manifest", 1),
    ("model", 2),
    ("render", 4),
    ("write", 5),
    ("cli", 6),
    ("examples", 6),
];

fn rank(module: &str) -> Option<u8> {
    ORDER.iter().find(|(name, _)| *name == module).map(|(_, rank)| *rank)
}

/// The module path of a source file relative to `src/`: `model/validate/mod.rs` → `[model, validate]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// How a file's code names another top-level module.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    /// `crate::name`: a module, or an item of the crate root.
    Crate(String),
    /// `super::…::name` climbing to the crate root (only modules count: an inline `mod
    /// tests` climbs one level less than its file suggests).
    Super(String),
}

/// The top-level modules a file's code names, with the line each is named on. Comments are
/// skipped: a doc link to a later stage is prose, not a dependency.
fn imports(module: &[String], text: &str) -> Vec<(usize, Named)> {
    let code: String = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("//") {
                ""
            } else {
                line.split(" //").next().unwrap_or(line)
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let word_before = |at: usize| code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if word_before(at) {
            continue;
        }
        let names = named_after(&code[at + "crate::".len()..]);
        found.extend(names.into_iter().map(|m| (line_of(at), Named::Crate(m))));
    }
    for (at, _) in code.match_indices("super::") {
        if word_before(at) {
            continue;
        }
        let mut rest = &code[at..];
        let mut depth = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            depth += 1;
            rest = after;
        }
        if module.len() == depth {
            found.extend(named_after(rest).into_iter().map(|m| (line_of(at), Named::Super(m))));
        }
    }
    found
}

/// The first path segment after `crate::`, or every first segment of a `{…}` group.
fn named_after(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    match rest.strip_prefix('{') {
        Some(group) => {
            let mut names = Vec::new();
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.push(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            names.retain(|n| !n.is_empty());
            names
        }
        None => Some(ident(rest)).into_iter().filter(|n| !n.is_empty()).collect(),
    }
}

/// Every way `file` (relative to `src/`, holding `text`) reaches back, as readable lines.
fn violations(relative: &Path, text: &str) -> Vec<String> {
    let module = module_path(relative);
    let Some(top) = module.first() else {
        return Vec::new(); // lib.rs and main.rs may use everything
    };
    if top == "lib" || top == "main" {
        return Vec::new();
    }
    let Some(own) = rank(top) else {
        return vec![format!(
            "src/{}: module `{top}` has no place in the layering test's ORDER",
            relative.display()
        )];
    };
    let mut out = Vec::new();
    for (line, named) in imports(&module, text) {
        let (name, through_super) = match &named {
            Named::Crate(name) => (name, false),
            Named::Super(name) => (name, true),
        };
        if name == top {
            continue;
        }
        let allowed = match rank(name) {
            Some(0) => true,
            Some(other) => own > 0 && other <= own,
            // Not a module: from a `super::` chain, an item of an inline module's parent.
            None if through_super => true,
            // Types of the crate root are the leaves' re-exports (`crate::Error`); its
            // functions (`crate::generate`) run every stage, for the CLI only.
            None => name.starts_with(char::is_uppercase) || own == rank("cli").unwrap_or(u8::MAX),
        };
        if !allowed {
            out.push(format!(
                "src/{}:{line}: `{top}` uses `{name}`, a later stage or the crate root's functions",
                relative.display()
            ));
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rs"))
        .map(walkdir::DirEntry::into_path)
        .collect()
}

#[test]
fn no_stage_imports_a_later_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    assert!(
        files.len() > 30,
        "read only {} files under {}",
        files.len(),
        src.display()
    );
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source is readable");
        let relative = file.strip_prefix(&src).expect("under src");
        problems.extend(violations(relative, &text));
    }
    assert!(
        problems.is_empty(),
        "imports against the data flow:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_every_form_of_import() {
    let render = Path::new("render/mod.rs");
    assert_eq!(
        violations(render, "use crate::model::Workspace;\n"),
        Vec::<String>::new()
    );
    for reaching_back in [
        "use crate::write::plan::Owner;",
        "    let x = crate::cli::main();",
        "use crate::{model::Workspace, write::Outcome};",
        "use crate::{\n    model::Workspace,\n    write::{Mode, Outcome},\n};",
        "    crate::generate(path, options)?;",
    ] {
        assert_eq!(violations(render, reaching_back).len(), 1, "{reaching_back}");
    }
    let validate = Path::new("model/validate/calls.rs");
    assert_eq!(violations(validate, "use super::super::super::render::Job;").len(), 1);
    assert!(violations(validate, "use super::super::graph::find_cycle;").is_empty());
    assert!(violations(Path::new("plan.rs"), "mod tests {\n    use super::RelPath;\n}").is_empty());
    assert_eq!(
        violations(Path::new("error.rs"), "use crate::manifest::Source;").len(),
        1
    );
    assert!(violations(Path::new("manifest/load.rs"), "use crate::Error;").is_empty());
    assert_eq!(violations(Path::new("plan.rs"), "use crate::model::State;").len(), 1);
    assert!(violations(Path::new("write/apply.rs"), "use crate::plan::Group;").is_empty());
    assert_eq!(violations(Path::new("newstage.rs"), "").len(), 1);
    // Comments are prose.
    assert!(violations(render, "/// see [`crate::write::apply`]").is_empty());
}
