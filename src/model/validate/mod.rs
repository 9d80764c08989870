//! Rules of meaning over a parsed manifest, one function per rule, each adding diagnostics:
//! what the names, values and references mean together, where the manifest stage only
//! checked syntax and types. Every rule runs even when an earlier one failed, so one run
//! reports every problem. The rules live in one file per area; this file runs them all and
//! holds the checks they share. It reads the manifest and never resolves it.

mod access;
mod calls;
mod entities;
mod events;
mod keys;
mod operations;
mod ports;
mod project;
mod resources;
mod routes;
mod services;
mod settings;

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::Manifest;
use crate::model::{Broker, CiProvider, Closed, Database, DeployTarget, Language};

/// What validation found: every problem, and the closed-set values the manifest names,
/// converted while they were checked, for resolution to read instead of the strings.
#[derive(Debug)]
pub(crate) struct Validated {
    pub(crate) diagnostics: Diagnostics,
    pub(crate) choices: Choices,
}

/// The closed-set values of a manifest. Complete when the diagnostics hold no error: `None`
/// then means the manifest does not say, and resolution applies the default.
#[derive(Debug, Default)]
pub(crate) struct Choices {
    pub(crate) broker: Option<Broker>,
    pub(crate) deploy_targets: Option<Vec<DeployTarget>>,
    pub(crate) ci_providers: Option<Vec<CiProvider>>,
    /// Per service, in manifest order.
    pub(crate) services: Vec<ServiceChoices>,
}

/// One service's closed-set values.
#[derive(Debug)]
pub(crate) struct ServiceChoices {
    pub(crate) language: Option<Language>,
    /// With the default applied (see [`Database::default_for`]).
    pub(crate) database: Option<Database>,
}

/// Runs every rule over a parsed manifest.
pub(crate) fn validate(manifest: &Manifest) -> Validated {
    let mut out = Diagnostics::default();
    project::version(manifest, &mut out);
    project::project(manifest, &mut out);
    let mut choices = settings::settings(manifest, &mut out);
    if manifest.services.is_empty() {
        out.push(
            Diagnostic::error(Code::E026, "the manifest defines no services")
                .at(manifest.project.name.span(), "in this project")
                .help("add one, e.g. `fleetwright add service users`, or a `[services.users]` table"),
        );
    }
    for (name, service) in &manifest.services {
        services::service_name(name, &mut out);
        choices
            .services
            .push(services::service_settings(name, service, &mut out));
        entities::types_of_service(service, &mut out);
        operations::operations(service, &mut out);
    }
    calls::calls(manifest, &mut out);
    events::events(manifest, choices.broker, &mut out);
    ports::ports(manifest, &mut out);
    routes::routes(manifest, &mut out);
    access::access(manifest, &mut out);
    out.sort();
    Validated {
        diagnostics: out,
        choices,
    }
}

/// The value of a closed set a manifest string names, or an error listing the values.
fn one_of<T: Closed>(value: &Spanned<String>, out: &mut Diagnostics) -> Option<T> {
    if let Some(known) = T::parse(value.get_ref()) {
        return Some(known);
    }
    let (allowed, what) = (T::NAMES, T::WHAT);
    let help = match did_you_mean(value.get_ref(), allowed.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "use one of {}",
            allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    out.push(
        Diagnostic::error(Code::E005, format!("unknown {what} `{}`", value.get_ref()))
            .at(value.span(), format!("not a {what}"))
            .help(help),
    );
    None
}

fn in_range(value: &Spanned<i64>, range: std::ops::RangeInclusive<i64>, what: &str, out: &mut Diagnostics) {
    if !range.contains(value.get_ref()) {
        out.push(
            Diagnostic::error(Code::E005, format!("{what} {} is out of range", value.get_ref()))
                .at(value.span(), format!("must be {} to {}", range.start(), range.end()))
                .help(format!("choose a {what} from {} to {}", range.start(), range.end())),
        );
    }
}

/// Ports a listener may take: above the privileged ones.
const PORTS: std::ops::RangeInclusive<i64> = 1024..=65535;

fn duplicate(item: &Spanned<String>, seen: &mut HashMap<String, Range<usize>>, what: &str, out: &mut Diagnostics) {
    if let Some(first) = seen.get(item.get_ref()) {
        out.push(
            Diagnostic::warning(Code::W002, format!("{what} `{}` is listed twice", item.get_ref()))
                .at(item.span(), "repeated here")
                .also(first.clone(), "first listed here")
                .help("remove the repeat"),
        );
    } else {
        seen.insert(item.get_ref().clone(), item.span());
    }
}
