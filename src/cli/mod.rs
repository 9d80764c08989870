//! The command line: clap lives here and nowhere else. Each subcommand file owns its `Args`
//! and its `run`; this file holds the global flags, dispatch and exit codes.

mod add;
mod check;
mod dev;
mod generate;
mod graph;
mod init;
mod new;
pub(crate) mod output;
mod schema;
mod templates;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::Error;
use output::Printer;

/// Exit codes, as documented in `--help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// 0: success.
    Ok,
    /// 1: `check` found drift, or a conflict (or I/O failure) stopped a write.
    Failed,
    /// 2: invalid manifest, arguments or usage.
    Invalid,
}

impl Status {
    /// The status of a library error's exit code (see [`Error::exit_code`]).
    pub(crate) fn from_exit_code(code: u8) -> Self {
        match code {
            0 => Status::Ok,
            crate::error::EXIT_FAILED => Status::Failed,
            _ => Status::Invalid,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(match status {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::Invalid => 2,
        })
    }
}

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 `check` found drift, or a conflict stopped a write; 2 invalid input or usage.

Start with `fleetwright new shop --example ecommerce`, then edit shop/fleet.toml and run
`fleetwright generate` anywhere in shop/: commands use the nearest fleet.toml in the current
directory or above. Docs: docs/manifest.md describes every manifest key.";

/// Generate and grow a microservice system from one declarative manifest (fleet.toml).
#[derive(Debug, Parser)]
#[command(name = "fleetwright", version, about, long_about = None, after_help = AFTER_HELP, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Run as if fleetwright was started in DIR
    #[arg(
        short = 'C',
        long = "directory",
        value_name = "DIR",
        global = true,
        help_heading = "Global options"
    )]
    pub directory: Option<PathBuf>,
    /// The manifest to use [default: the nearest fleet.toml in DIR or a folder above it];
    /// the workspace is its directory
    #[arg(long, value_name = "PATH", global = true, help_heading = "Global options")]
    pub manifest: Option<PathBuf>,
    /// Print only errors and requested data
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,
    /// Print more: every file a command wrote, not only the summary
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub verbose: bool,
    /// When to color diagnostics (`NO_COLOR` is respected)
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true, help_heading = "Global options")]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Output format of commands that report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Format {
    #[default]
    Text,
    Json,
}

impl GlobalArgs {
    /// The base directory commands work in.
    pub(crate) fn base(&self) -> PathBuf {
        self.directory.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// The manifest a command works on: `--manifest` as given (relative to `-C`), else the
    /// nearest `fleet.toml` in DIR or a folder above it, as cargo and git find theirs, so a
    /// command run in a subfolder of a workspace works on that workspace. A manifest found
    /// above DIR is named on stderr, since it is not the one the user might expect.
    ///
    /// # Errors
    /// [`Error::NoManifest`] when no folder up to the root holds one.
    pub(crate) fn find_manifest(&self, printer: &Printer) -> Result<PathBuf, Error> {
        let here = self.manifest_path();
        if self.manifest.is_some() || here.is_file() {
            return Ok(here);
        }
        if let Some(found) = self.manifest_above()? {
            printer.info(&format!("using {}", found.display()));
            return Ok(found);
        }
        let base = self.base();
        Err(Error::NoManifest(std::fs::canonicalize(&base).unwrap_or(base)))
    }

    /// [`Self::find_manifest`], for commands that also work without a manifest.
    ///
    /// # Errors
    /// [`Error::Io`] when DIR does not exist.
    pub(crate) fn find_manifest_if_any(&self, printer: &Printer) -> Result<Option<PathBuf>, Error> {
        match self.find_manifest(printer) {
            Ok(path) => Ok(Some(path)),
            Err(Error::NoManifest(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The nearest `fleet.toml` in a folder above DIR, as a path through `..` from DIR so
    /// messages stay relative the way the user typed them.
    ///
    /// # Errors
    /// [`Error::Io`] when DIR does not exist.
    pub(crate) fn manifest_above(&self) -> Result<Option<PathBuf>, Error> {
        let base = self.base();
        // The physical path: the kernel resolves `..` from where a symbolic link points, so
        // counting folders on the canonical path lands on the same ones.
        let start = std::fs::canonicalize(&base).map_err(|e| Error::io("open directory", &base, e))?;
        let mut up = self.directory.clone().unwrap_or_default();
        for dir in start.ancestors().skip(1) {
            up.push("..");
            if dir.join(crate::manifest::FILE_NAME).is_file() {
                return Ok(Some(up.join(crate::manifest::FILE_NAME)));
            }
        }
        Ok(None)
    }

    /// Where the manifest of DIR is or would be: `--manifest` (relative to `-C`), else
    /// `DIR/fleet.toml`; no search.
    pub(crate) fn manifest_path(&self) -> PathBuf {
        let relative = self
            .manifest
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::manifest::FILE_NAME));
        match &self.directory {
            // Without -C, keep the path as typed so messages name it the way the user does.
            Some(dir) if !relative.is_absolute() => dir.join(relative),
            _ => relative,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a directory with a fleet.toml and generate its workspace; the project is named after it
    New(new::Args),
    /// Write a starter fleet.toml in the current directory (not inside an existing project)
    Init(init::Args),
    /// Render the manifest and write the workspace; hand edits of generated files are merged
    Generate(generate::Args),
    /// Exit 1 if the workspace differs from what `generate` would write or disagrees with fleet.lock (for CI)
    Check(check::Args),
    /// Check the manifest only; write nothing
    Validate(validate::Args),
    /// Add a service or an entity to fleet.toml, then regenerate
    #[command(subcommand)]
    Add(add::AddCommand),
    /// Remove something from fleet.toml, then regenerate
    #[command(subcommand)]
    Remove(add::RemoveCommand),
    /// Print the services with their calls, events and gateway routes
    Graph(graph::Args),
    /// List or eject the templates
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Print the JSON Schema of fleet.toml (for editor completion)
    Schema,
    /// Development helpers: `dev token` mints a token the development gateways trust
    #[command(subcommand)]
    Dev(dev::DevCommand),
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

/// Parses arguments, runs the command, prints errors, returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => Status::Invalid.into(),
            };
        }
    };
    let printer = Printer::new(cli.global.quiet, cli.global.verbose, cli.global.color);
    match run(cli, &printer) {
        Ok(status) => status.into(),
        Err(error) => printer.error(&error).into(),
    }
}

/// Runs one parsed command.
///
/// # Errors
/// Whatever the command fails with; the caller prints it.
pub(crate) fn run(cli: Cli, printer: &Printer) -> Result<Status, Error> {
    let global = &cli.global;
    match cli.command {
        Command::New(args) => new::run(&args, global, printer),
        Command::Init(args) => init::run(&args, global, printer),
        Command::Generate(args) => generate::run(&args, global, printer),
        Command::Check(args) => check::run(&args, global, printer),
        Command::Validate(args) => validate::run(&args, global, printer),
        Command::Add(command) => add::run_add(&command, global, printer),
        Command::Remove(command) => add::run_remove(&command, global, printer),
        Command::Graph(args) => graph::run(&args, global, printer),
        Command::Templates(command) => templates::run(&command, global, printer),
        Command::Schema => schema::run(printer),
        Command::Dev(command) => dev::run(&command, global, printer),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut command, "fleetwright", &mut buffer);
            printer.data(&String::from_utf8_lossy(&buffer));
            Ok(Status::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
