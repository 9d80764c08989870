//! `fleetwright schema`: the manifest's JSON Schema, for editors (Taplo, VS Code).

use super::Status;
use super::output::Printer;
use crate::error::Error;

pub(crate) fn run(printer: &Printer) -> Result<Status, Error> {
    let schema = crate::manifest::load::manifest_schema();
    printer.data(&serde_json::to_string_pretty(schema).map_err(|e| Error::Bug(e.to_string()))?);
    Ok(Status::Ok)
}
