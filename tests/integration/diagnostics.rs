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
