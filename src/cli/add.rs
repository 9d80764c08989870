//! `fleetwright add …` and `fleetwright remove …`: edit `fleet.toml` keeping its comments and
//! layout, validate the result, write it, then regenerate. An edit that would make the
//! manifest invalid is reported and nothing is written.

use clap::Subcommand;

use super::output::Printer;
use super::{GlobalArgs, Status};
use crate::error::Error;
use crate::manifest::edit::{self, NewService};
use crate::model::{self, Closed, Database};
use crate::source::Source;
use crate::write::Options;

#[derive(Debug, Subcommand)]
pub(crate) enum AddCommand {
    /// Add a service
    Service {
        /// Service name: lowercase letters, digits and hyphens
        name: String,
        /// Its database
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Database::NAMES), default_value = "postgres")]
        database: String,
        /// Gateway route prefix, e.g. /api/inventory (leave out for an internal service)
        #[arg(long)]
        route: Option<String>,
        /// Services it calls, comma-separated
        #[arg(long, value_delimiter = ',')]
        calls: Vec<String>,
        /// One-line description
        #[arg(long)]
        description: Option<String>,
        /// Edit fleet.toml only; do not regenerate
        #[arg(long)]
        no_generate: bool,
    },
    /// Add an entity to a service, e.g. `add entity orders Invoice number:string total:int64`
    Entity {
        /// The service that owns it
        service: String,
        /// Entity name, `PascalCase`
        name: String,
        /// Fields as NAME:TYPE (types: string, text, bool, int32, int64, float64, uuid,
        /// timestamp, date, enum(a|b), ref(Entity); suffix [] for a list, ? for optional)
        #[arg(value_name = "FIELD:TYPE", required = true)]
        fields: Vec<String>,
        /// Edit fleet.toml only; do not regenerate
        #[arg(long)]
        no_generate: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RemoveCommand {
    /// Remove a service; its untouched generated files are deleted, its own code is kept
    Service {
        /// Service name
        name: String,
        /// Edit fleet.toml only; do not regenerate
        #[arg(long)]
        no_generate: bool,
    },
}

pub(crate) fn run_add(command: &AddCommand, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    match command {
        AddCommand::Service {
            name,
            database,
            route,
            calls,
            description,
            no_generate,
        } => {
            let service = NewService {
                name: name.clone(),
                description: description.clone(),
                database: Some(database.clone()),
                route: route.clone(),
                calls: calls.clone(),
            };
            let what = format!("adding service `{name}`");
            edit_then_generate(global, printer, *no_generate, &what, |text| {
                edit::add_service(text, &service)
            })
        }
        AddCommand::Entity {
            service,
            name,
            fields,
            no_generate,
        } => {
            let fields = fields.iter().map(|f| parse_field(f)).collect::<Result<Vec<_>, _>>()?;
            let what = format!("adding entity `{name}` to `{service}`");
            edit_then_generate(global, printer, *no_generate, &what, |text| {
                edit::add_entity(text, service, name, &fields)
            })
        }
    }
}

pub(crate) fn run_remove(command: &RemoveCommand, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    match command {
        RemoveCommand::Service { name, no_generate } => {
            let what = format!("removing service `{name}`");
            edit_then_generate(global, printer, *no_generate, &what, |text| {
                edit::remove_service(text, name)
            })
        }
    }
}

/// `name:type`; in enum types `|` may stand for `,` so no shell quoting is needed.
fn parse_field(raw: &str) -> Result<(String, String), Error> {
    match raw.split_once(':') {
        Some((name, ty)) if !name.is_empty() && !ty.is_empty() => Ok((name.to_owned(), ty.replace('|', ", "))),
        _ => Err(Error::usage(
            format!("field `{raw}` is not NAME:TYPE"),
            Some("write fields like `total:int64` or `note:text?`"),
        )),
    }
}

/// Applies `change` (described by `what`, e.g. "adding entity `Invoice` to `orders`") to the
/// manifest, validates and writes it, then regenerates.
fn edit_then_generate(
    global: &GlobalArgs,
    printer: &Printer,
    no_generate: bool,
    what: &str,
    change: impl FnOnce(&str) -> Result<String, Error>,
) -> Result<Status, Error> {
    let path = global.find_manifest(printer)?;
    let source = model::load::read(&path)?;
    // The manifest must be valid before the edit too, or we could not tell whose error it is.
    model::load_source(source.clone())?;
    let edited = change(&source.text)?;
    // Problems are shown in the text the edit would have written, which is not on disk, so
    // its name says so: its line numbers are that text's, not the file's.
    let proposed = format!("{} (after {what}; not written)", source.name);
    model::load_source(Source::from_text(&proposed, &edited))?;
    crate::write::write_file_atomic(&path, edited.as_bytes(), false)?;
    printer.info(&format!("updated {}", path.display()));
    if no_generate {
        return Ok(Status::Ok);
    }
    let (_, outcome) = crate::generate(&path, Options::write())?;
    printer.outcome(&outcome, false);
    Ok(if outcome.conflicts().next().is_some() {
        Status::Failed
    } else {
        Status::Ok
    })
}
