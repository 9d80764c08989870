//! `fleetwright validate`: the manifest only.

use super::output::Printer;
use super::{Format, GlobalArgs, Status};
use crate::diagnostic::{Located, line_column};
use crate::error::Error;
use crate::model;
use crate::source::Source;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub(crate) fn run(args: &Args, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let path = global.find_manifest(printer)?;
    let result = model::load(&path);
    if args.format == Format::Json {
        let (source, diagnostics, ok) = match &result {
            Ok(loaded) => (&loaded.source, &loaded.warnings, true),
            Err(Error::Manifest { file, diagnostics }) => (file.as_ref(), diagnostics, false),
            Err(_) => return result.map(|_| Status::Ok),
        };
        printer.data(&json_report(source, diagnostics, ok));
        return Ok(if ok { Status::Ok } else { Status::Invalid });
    }
    let loaded = result?;
    printer.diagnostics(&loaded.source, &loaded.warnings);
    printer.info(&format!(
        "ok: {} is valid ({} service{})",
        loaded.source.name,
        loaded.workspace.services.len(),
        if loaded.workspace.services.len() == 1 { "" } else { "s" }
    ));
    Ok(Status::Ok)
}

fn json_report(source: &Source, diagnostics: &crate::diagnostic::Diagnostics, ok: bool) -> String {
    let items: Vec<Located<'_>> = diagnostics
        .items
        .iter()
        .map(|d| {
            let position = d.span.as_ref().map(|s| line_column(&source.text, s.start));
            Located {
                diagnostic: d,
                file: &source.name,
                line: position.map(|p| p.0),
                column: position.map(|p| p.1),
            }
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "valid": ok, "diagnostics": items })).unwrap_or_default()
}
