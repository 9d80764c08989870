//! One invalid manifest per diagnostic under `tests/fixtures/invalid/`. Each fixture's first
//! line says what it must produce: `# expect: E012 12:28` (code, line:column of the caret),
//! possibly several codes separated by `;`. The rendered report is snapshotted too.

use std::fmt::Write as _;
use std::path::Path;

use fleetwright::Source;
use fleetwright::diagnostic::{Renderer, line_column};
use fleetwright::model::load_source;

use crate::support::{Scratch, insta_settings};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/invalid");

/// Every fixture with its bytes, sorted by name.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(FIXTURES)
        .expect("fixtures dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 20,
        "expected the fixture corpus, found {} files",
        out.len()
    );
    out
}

/// `# expect: E012 12:28; W002 3:1` → [("E012", Some((12, 28))), ...]. A fixture whose bytes
/// cannot carry a comment (binary, BOM) names its expectation in a sidecar `.expect` file.
fn expectations(name: &str, bytes: &[u8]) -> Vec<(String, Option<(usize, usize)>)> {
    let sidecar = Path::new(FIXTURES).join(name.replace(".toml", ".expect"));
    let line = match std::fs::read_to_string(&sidecar) {
        Ok(text) => text,
        Err(_) => String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    let spec = line
        .trim()
        .strip_prefix("# expect:")
        .unwrap_or_else(|| panic!("{name}: first line must be `# expect: CODE LINE:COL`"));
    spec.split(';')
        .map(|item| {
            let mut parts = item.split_whitespace();
            let code = parts.next().expect("code").to_owned();
            let at = parts.next().map(|lc| {
                let (l, c) = lc.split_once(':').expect("LINE:COL");
                (l.parse().unwrap(), c.parse().unwrap())
            });
            (code, at)
        })
        .collect()
}

#[test]
fn every_fixture_reports_its_code_at_its_position() {
    let mut reports = String::new();
    for (name, bytes) in fixtures() {
        let source = Source::from_bytes(Path::new(&name), &bytes);
        let error = load_source(source.clone()).expect_err(&format!("{name} must be invalid"));
        let fleetwright::Error::Manifest { file, diagnostics } = error else {
            panic!("{name}: not a manifest error")
        };
        let found: Vec<(String, Option<(usize, usize)>)> = diagnostics
            .items
            .iter()
            .map(|d| {
                (
                    d.code.to_owned(),
                    d.span.as_ref().map(|s| line_column(&file.text, s.start)),
                )
            })
            .collect();
        for (code, at) in expectations(&name, &bytes) {
            let hit = found
                .iter()
                .any(|(c, position)| *c == code && (at.is_none() || *position == at));
            assert!(hit, "{name}: expected {code} at {at:?}, found {found:?}");
        }
        for d in &diagnostics.items {
            assert!(d.help.is_some(), "{name}: {} `{}` has no help", d.code, d.message);
            assert!(!d.message.ends_with('.'), "{name}: message ends with a period");
        }
        let renderer = Renderer::new(&name, &file.text);
        writeln!(reports, "=== {name}").unwrap();
        for d in &diagnostics.items {
            reports.push_str(&renderer.render_plain(d));
        }
        reports.push_str(&renderer.summary(&diagnostics));
        reports.push('\n');
    }
    insta_settings().bind(|| insta::assert_snapshot!("all_reports", reports));
}

#[test]
fn an_invalid_manifest_writes_nothing_and_exits_2() {
    for (name, bytes) in fixtures() {
        let scratch = Scratch::new();
        std::fs::write(scratch.join("fleet.toml"), &bytes).unwrap();
        let before = scratch.tree();
        for command in [&["generate"][..], &["check"], &["validate"], &["generate", "--force"]] {
            let run = scratch.run(command);
            assert_eq!(
                run.code,
                2,
                "{name}: `{}` exit code\n{}",
                command.join(" "),
                run.transcript()
            );
            assert!(
                run.stderr.contains("fleet.toml:") || run.stderr.contains("error["),
                "{name}: no location\n{}",
                run.stderr
            );
        }
        assert_eq!(scratch.tree(), before, "{name}: the directory changed");
    }
}

/// The registry (`fleetwright::diagnostic::Code`) is the one list of codes: `docs/manifest.md`
/// has a section titled as the registry says and a table row for exactly its codes, every
/// code is emitted somewhere in `src/` through the registry, and no code is spelled as a
/// bare string there (rustc's tidy check of error codes does the same for rustc).
#[test]
fn the_code_registry_matches_the_docs_and_the_sources() {
    use fleetwright::diagnostic::Code;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let is_code = |s: &str| {
        s.len() == 4 && (s.starts_with('E') || s.starts_with('W')) && s[1..].bytes().all(|b| b.is_ascii_digit())
    };
    let registry: Vec<(String, String)> = Code::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.title().to_owned()))
        .collect();
    let codes: Vec<&str> = registry.iter().map(|(code, _)| code.as_str()).collect();

    let docs = std::fs::read_to_string(root.join("docs/manifest.md")).expect("docs/manifest.md");
    let mut sections: Vec<(String, String)> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("### ")?.split_once(": "))
        .filter(|(code, _)| is_code(code))
        .map(|(code, title)| (code.to_owned(), title.to_owned()))
        .collect();
    sections.sort();
    assert_eq!(sections, registry, "sections of docs/manifest.md against the registry");
    let mut rows: Vec<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| [")?.split(']').next())
        .filter(|code| is_code(code))
        .collect();
    rows.sort_unstable();
    assert_eq!(rows, codes, "the code table of docs/manifest.md against the registry");

    let mut emitted = std::collections::BTreeSet::new();
    for entry in walkdir::WalkDir::new(root.join("src"))
        .into_iter()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("diagnostic/codes.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("source is readable");
        // Tests compare codes as text; only the code before them emits.
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (at, _) in code.match_indices("Code::") {
            let name: String = code[at + 6..].chars().take(4).collect();
            if is_code(&name) {
                emitted.insert(name);
            }
        }
        for (at, _) in code.match_indices('"') {
            let literal = code[at + 1..].get(..5).unwrap_or("");
            let spelled = literal.strip_suffix('"').filter(|name| is_code(name));
            assert!(
                spelled.is_none(),
                "{}: the code {} is spelled as a string; emit it through diagnostic::Code",
                path.display(),
                spelled.unwrap_or_default()
            );
        }
    }
    assert_eq!(
        emitted.iter().map(String::as_str).collect::<Vec<_>>(),
        codes,
        "codes emitted in src/ against the registry"
    );
}
