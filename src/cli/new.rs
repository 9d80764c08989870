//! `fleetwright new DIR`: a new directory with a manifest and its generated workspace.

use std::path::PathBuf;

use super::output::Printer;
use super::{GlobalArgs, Status};
use crate::error::Error;
use crate::write::Options;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Example {
    /// One service with one entity
    #[default]
    Minimal,
    /// The e-commerce platform: users, products, orders, payments behind one gateway
    Ecommerce,
}

impl Example {
    pub(crate) fn manifest(self) -> &'static str {
        match self {
            Example::Minimal => crate::examples::MINIMAL,
            Example::Ecommerce => crate::examples::ECOMMERCE,
        }
    }

    /// Hand-written files the example ships (paths relative to the workspace).
    pub(crate) fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Example::Minimal => &[],
            Example::Ecommerce => crate::examples::ECOMMERCE_FILES,
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to create (must be absent or empty)
    pub dir: PathBuf,
    /// Example manifest to start from
    #[arg(long, value_enum, default_value_t)]
    pub example: Example,
}

pub(crate) fn run(args: &Args, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let dir = if args.dir.is_absolute() {
        args.dir.clone()
    } else {
        global.base().join(&args.dir)
    };
    if let Ok(mut entries) = std::fs::read_dir(&dir) {
        if entries.next().is_some() {
            return Err(Error::usage(
                format!("{} is not empty", dir.display()),
                Some("choose a new directory, or run `fleetwright init` inside an existing project"),
            ));
        }
    } else if dir.exists() {
        return Err(Error::usage(
            format!("{} exists and is not a directory", dir.display()),
            None,
        ));
    }
    // Validate before creating anything, so a failure leaves no directory behind.
    let manifest_path = dir.join(crate::manifest::FILE_NAME);
    crate::model::load_source(crate::source::Source::from_text(
        &manifest_path.display().to_string(),
        args.example.manifest(),
    ))?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    crate::write::write_file_atomic(&manifest_path, args.example.manifest().as_bytes(), false)?;
    for (path, text) in args.example.files() {
        crate::write::write_file_atomic(&dir.join(path), text.as_bytes(), false)?;
    }
    let (_, outcome) = crate::generate(&manifest_path, Options::write())?;
    printer.outcome(&outcome, false);
    printer.info(&format!(
        "\ncreated {}: edit fleet.toml there, then run `fleetwright generate`; build with `cargo build`",
        dir.display()
    ));
    Ok(Status::Ok)
}
