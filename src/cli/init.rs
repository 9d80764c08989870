//! `fleetwright init`: a starter `fleet.toml` in the current directory.

use super::new::Example;
use super::output::Printer;
use super::{GlobalArgs, Status};
use crate::error::Error;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Project name [default: the directory's name, made valid]
    #[arg(long)]
    pub name: Option<String>,
    /// Start from an example instead of the one-service starter
    #[arg(long, value_enum)]
    pub example: Option<Example>,
}

pub(crate) fn run(args: &Args, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let path = global.manifest_path();
    if path.exists() {
        return Err(Error::usage(
            format!("{} already exists", path.display()),
            Some("edit it, or run `fleetwright generate`"),
        ));
    }
    let text = match (args.example, &args.name) {
        (Some(example), _) => example.manifest().to_owned(),
        (None, Some(name)) => crate::examples::starter(name),
        (None, None) => crate::examples::starter(&default_name(&global.base())),
    };
    // Never write a manifest that would not validate (e.g. an invalid --name).
    crate::model::load_source(crate::source::Source::from_text(&path.display().to_string(), &text))?;
    crate::write::write_file_atomic(&path, text.as_bytes(), false)?;
    printer.info(&format!(
        "wrote {}; edit it, then run `fleetwright generate`",
        path.display()
    ));
    Ok(Status::Ok)
}

fn default_name(dir: &std::path::Path) -> String {
    let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let raw = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if crate::model::names::is_service_name(&raw) && crate::model::names::reserved_service_name(&raw).is_none() {
        return raw;
    }
    crate::model::names::suggest_service_name(&raw)
        .filter(|n| crate::model::names::reserved_service_name(n).is_none())
        .unwrap_or_else(|| "app".to_owned())
}
