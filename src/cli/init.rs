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
    // A manifest above makes this folder part of that project: another one here would nest
    // a second workspace inside the first.
    if global.manifest.is_none()
        && let Some(above) = global.manifest_above()?
    {
        let help = format!(
            "fleetwright commands run here use {}; to start a separate project, run `fleetwright new DIR` outside it",
            above.display()
        );
        return Err(Error::usage(
            format!("this folder is already inside the project of {}", above.display()),
            Some(help.as_str()),
        ));
    }
    let name = super::new::project_name(args.name.as_deref(), &global.base(), printer)?;
    let text = crate::examples::named(args.example.unwrap_or_default().manifest(), &name)?;
    // Never write a manifest that would not validate.
    crate::model::load_source(crate::source::Source::from_text(&path.display().to_string(), &text))?;
    crate::write::write_file_atomic(&path, text.as_bytes(), false)?;
    printer.info(&format!(
        "wrote {} (project `{name}`); edit it, then run `fleetwright generate`",
        path.display()
    ));
    Ok(Status::Ok)
}
