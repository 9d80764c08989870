//! `fleetwright templates list|eject`: see the templates, and copy them out to customise.

use std::path::PathBuf;

use clap::Subcommand;

use super::output::Printer;
use super::{Format, GlobalArgs, Status};
use crate::error::Error;
use crate::render::engine::{Origin, embedded_sources};

#[derive(Debug, Subcommand)]
pub(crate) enum TemplatesCommand {
    /// List every template path, whether this project overrides it, and the files it renders to
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Copy embedded templates into DIR and point `[project] templates` at it
    Eject {
        /// Directory to copy into (relative to the manifest)
        dir: PathBuf,
        /// Only these template paths (default: all)
        templates: Vec<String>,
    },
}

pub(crate) fn run(command: &TemplatesCommand, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    match command {
        TemplatesCommand::List { format } => list(*format, global, printer),
        TemplatesCommand::Eject { dir, templates } => eject(dir, templates, global, printer),
    }
}

fn list(format: Format, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    // Overrides only show up when there is a manifest naming them.
    let templates = match global.find_manifest_if_any(printer)? {
        Some(path) => {
            let loaded = crate::model::load(&path)?;
            crate::templates_for(&loaded, &crate::workspace_root(&path))?
        }
        None => crate::render::Templates::embedded()?,
    };
    let outputs = crate::render::targets::outputs_by_template();
    let rows: Vec<(&String, &str, &[String])> = templates
        .origins()
        .iter()
        .map(|(path, origin)| {
            let origin = if *origin == Origin::Override {
                "override"
            } else {
                "embedded"
            };
            (path, origin, outputs.get(path.as_str()).map_or(&[][..], Vec::as_slice))
        })
        .collect();
    if format == Format::Json {
        let json: Vec<_> = rows
            .iter()
            .map(|(p, o, out)| serde_json::json!({ "path": p, "origin": o, "outputs": out }))
            .collect();
        printer.data(&serde_json::to_string_pretty(&json).unwrap_or_default());
    } else {
        let text = rows.iter().fold(String::new(), |mut text, (p, o, out)| {
            use std::fmt::Write as _;
            let out = if out.is_empty() {
                "(macros only, not a file)".to_owned()
            } else {
                out.join(", ")
            };
            let _ = writeln!(text, "{p}\t{o}\t{out}");
            text
        });
        printer.data(&text);
    }
    Ok(Status::Ok)
}

fn eject(dir: &std::path::Path, only: &[String], global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let manifest_path = global
        .find_manifest_if_any(printer)?
        .unwrap_or_else(|| global.manifest_path());
    let root = crate::workspace_root(&manifest_path);
    let relative = dir.to_string_lossy().replace('\\', "/");
    let relative = relative.trim_start_matches("./").trim_end_matches('/').to_owned();
    crate::plan::RelPath::new(&relative).map_err(|_| {
        Error::usage(
            format!("`{relative}` is not a directory inside the project"),
            Some("give a relative path such as `templates`"),
        )
    })?;
    let sources = embedded_sources();
    for wanted in only {
        if !sources.iter().any(|(p, _)| p == wanted) {
            return Err(Error::usage(
                format!("no template `{wanted}`"),
                Some("run `fleetwright templates list`"),
            ));
        }
    }
    let target = root.join(dir);
    let mut written = 0;
    for (path, text) in sources.iter().filter(|(p, _)| only.is_empty() || only.contains(p)) {
        let out = target.join(path);
        if out.exists() {
            printer.warn(&format!("{} exists; left as it is", out.display()));
            continue;
        }
        crate::write::write_file_atomic(&out, text.as_bytes(), false)?;
        written += 1;
    }
    printer.info(&format!("ejected {written} template(s) into {}", target.display()));
    if manifest_path.exists() {
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| Error::io("read", &manifest_path, e))?;
        match crate::manifest::edit::set_templates(&text, &relative)? {
            Ok(edited) => {
                crate::write::write_file_atomic(&manifest_path, edited.as_bytes(), false)?;
                printer.info(&format!(
                    "set `templates = \"{relative}\"` in [project]; edit the copies, then run `fleetwright generate`"
                ));
            }
            Err(existing) if existing.trim_start_matches("./").trim_end_matches('/') == relative => {}
            Err(existing) => printer.warn(&format!(
                "[project] templates is `{existing}`, so the copies in `{relative}` are not used until you point it there"
            )),
        }
    }
    Ok(Status::Ok)
}
