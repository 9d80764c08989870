//! `fleetwright new DIR`: a new directory with a manifest and its generated workspace.

use std::path::{Path, PathBuf};

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
    /// Directory to create (must be absent or empty); the project is named after it
    pub dir: PathBuf,
    /// Example manifest to start from
    #[arg(long, value_enum, default_value_t)]
    pub example: Example,
    /// Project name [default: the directory's name, made valid]
    #[arg(long)]
    pub name: Option<String>,
}

pub(crate) fn run(args: &Args, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    // Kept as typed when there is no -C, since the summary tells the user to `cd` there.
    let dir = match &global.directory {
        Some(base) if !args.dir.is_absolute() => base.join(&args.dir),
        _ => args.dir.clone(),
    };
    if let Ok(mut entries) = std::fs::read_dir(&dir) {
        if entries.next().is_some() {
            return Err(Error::usage(
                format!("{} is not empty", dir.display()),
                Some(
                    "choose a new or empty directory; to start a project in a directory that has files, run `fleetwright init` there",
                ),
            ));
        }
    } else if dir.exists() {
        return Err(Error::usage(
            format!("{} exists and is not a directory", dir.display()),
            None,
        ));
    }
    let name = project_name(args.name.as_deref(), &dir, printer)?;
    let text = crate::examples::named(args.example.manifest(), &name)?;
    // Validate before creating anything, so a failure leaves no directory behind.
    let manifest_path = dir.join(crate::manifest::FILE_NAME);
    crate::model::load_source(crate::source::Source::from_text(
        &manifest_path.display().to_string(),
        &text,
    ))?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    crate::write::write_file_atomic(&manifest_path, text.as_bytes(), false)?;
    for (path, text) in args.example.files() {
        crate::write::write_file_atomic(&dir.join(path), text.as_bytes(), false)?;
    }
    let (loaded, outcome) = crate::generate(&manifest_path, Options::write())?;
    if printer.verbose() {
        printer.outcome(&outcome, false);
    }
    let services: Vec<&str> = loaded.workspace.services.iter().map(|s| s.name.as_str()).collect();
    let files = outcome.files.len();
    let mut summary = format!(
        "created {}: project `{name}`, {} service{} ({}), {files} generated files",
        dir.display(),
        services.len(),
        if services.len() == 1 { "" } else { "s" },
        services.join(", "),
    );
    if !printer.verbose() {
        summary.push_str(" (`--verbose` lists them)");
    }
    printer.info(&summary);
    printer.info(&format!(
        "\nnext:\n  cd {}\n  cargo build            # build every service\n  ./dev.sh up            # run them and the gateway on this machine\n  edit fleet.toml, then `fleetwright generate`; `fleetwright check` in CI",
        dir.display()
    ));
    Ok(Status::Ok)
}

/// The project's name: `--name` as given, else the directory's name, made valid when it is
/// not (`My Shop` → `my-shop`, said on stderr). Shared by `new` and `init`.
///
/// # Errors
/// [`Error::Usage`] for an invalid `--name`, or a directory name that has no valid form.
pub(crate) fn project_name(explicit: Option<&str>, dir: &Path, printer: &Printer) -> Result<String, Error> {
    use crate::model::names::{explain_service_name, is_service_name, reserved_service_name, suggest_service_name};
    if let Some(name) = explicit {
        if !is_service_name(name) {
            let (label, help) = explain_service_name(name);
            return Err(Error::usage(
                format!("invalid project name `{name}`: {label}"),
                Some(help.as_str()),
            ));
        }
        if let Some(why) = reserved_service_name(name) {
            return Err(Error::usage(
                format!("project name `{name}` is reserved: {why}"),
                Some("pick another one with `--name NAME`"),
            ));
        }
        return Ok(name.to_owned());
    }
    // `.` and `..` have no name of their own: ask the filesystem (the directory exists then).
    let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let raw = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_service_name(&raw) && reserved_service_name(&raw).is_none() {
        return Ok(raw);
    }
    if let Some(name) = suggest_service_name(&raw).filter(|n| reserved_service_name(n).is_none()) {
        printer.info(&format!(
            "naming the project `{name}`: `{raw}` is not a valid project name (lowercase letters, digits and single hyphens)"
        ));
        return Ok(name);
    }
    let why = reserved_service_name(&raw).map_or_else(|| explain_service_name(&raw).0, str::to_owned);
    Err(Error::usage(
        format!("cannot name the project after the directory `{raw}`: {why}"),
        Some("give it a name with `--name NAME`, e.g. `--name shop`"),
    ))
}
