//! Any bytes as `fleet.toml`: loading (decoding, TOML, schema, every validation rule,
//! resolution) must end in a model or in diagnostics, never a panic, and the diagnostics
//! must render the way `validate` prints them (text excerpts and JSON line/column). A
//! manifest that loads is also rendered, as `generate --dry-run` would.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use fleetwright::diagnostic::{Renderer, line_column};
use fleetwright::Source;
use fleetwright::model::load_source;
use fleetwright::render::Templates;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let source = Source::from_bytes(Path::new("fleet.toml"), bytes);
    match load_source(source) {
        Ok(loaded) => {
            show(&loaded.source, &loaded.warnings);
            static TEMPLATES: OnceLock<Templates> = OnceLock::new();
            let templates = TEMPLATES.get_or_init(|| Templates::embedded().expect("embedded templates build"));
            // Errors are values (an impossible migration, say); only a panic is a finding.
            let _ = fleetwright::plan(&loaded.workspace, templates, &fleetwright::model::State::default());
        }
        Err(fleetwright::Error::Manifest { file, diagnostics }) => show(&file, &diagnostics),
        Err(_) => {}
    }
});

fn show(source: &Source, diagnostics: &fleetwright::diagnostic::Diagnostics) {
    let renderer = Renderer::new(&source.name, &source.text);
    for diagnostic in &diagnostics.items {
        let _ = renderer.render_plain(diagnostic);
        for span in diagnostic
            .span
            .iter()
            .chain(diagnostic.related.iter().map(|(span, _)| span))
        {
            let _ = line_column(&source.text, span.start);
        }
    }
    let _ = renderer.summary(diagnostics);
}
