//! `fleetwright graph`: the services with their calls, events and gateway routes.

use super::output::Printer;
use super::{GlobalArgs, Status};
use crate::error::Error;
use crate::model::graph;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// A Mermaid flowchart (renders on GitHub)
    Mermaid,
    /// Graphviz: pipe into `dot -Tsvg`
    Dot,
    /// The edges as JSON
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
}

pub(crate) fn run(args: &Args, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let loaded = crate::model::load(&global.find_manifest(printer)?)?;
    printer.diagnostics(&loaded.source, &loaded.warnings);
    let workspace = &loaded.workspace;
    let text = match args.format {
        GraphFormat::Mermaid => graph::mermaid(workspace),
        GraphFormat::Dot => graph::dot(workspace),
        GraphFormat::Json => {
            serde_json::to_string_pretty(&graph::edges(workspace)).map_err(|e| Error::Bug(e.to_string()))?
        }
    };
    printer.data(&text);
    Ok(Status::Ok)
}
