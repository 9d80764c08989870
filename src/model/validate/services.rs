//! One service's own settings: its name, language, database, ports, replicas and
//! autoscaling (its resources are in `resources`).

use toml::Spanned;

use super::{PORTS, ServiceChoices, in_range, one_of};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::schema::ServiceSpec;
use crate::model::names;
use crate::model::{Database, Language};

pub(super) fn service_name(name: &Spanned<String>, out: &mut Diagnostics) {
    let text = name.get_ref();
    if !names::is_service_name(text) {
        let (label, help) = names::explain_service_name(text);
        out.push(
            Diagnostic::error(Code::E010, format!("invalid service name `{text}`"))
                .at(name.span(), label)
                .help(help),
        );
    } else if let Some(why) = names::reserved_service_name(text) {
        out.push(
            Diagnostic::error(Code::E011, format!("service name `{text}` is reserved"))
                .at(name.span(), why.to_owned())
                .help(format!("rename it, e.g. `{text}-svc`")),
        );
    }
}

/// Checks one service's settings and returns its closed-set values.
pub(super) fn service_settings(name: &Spanned<String>, service: &ServiceSpec, out: &mut Diagnostics) -> ServiceChoices {
    if let Some(value) = &service.rate_limit {
        super::in_range(value, 1..=1_000_000, "rate limit", out);
    }
    let language = service.language.as_ref().and_then(|l| one_of::<Language>(l, out));
    let database = match &service.database {
        Some(db) => one_of::<Database>(db, out),
        None => Some(Database::default_for(!service.entities.is_empty())),
    };
    // Only a service that says `database = "none"` can have entities and no database.
    let no_database = database == Some(Database::None);
    if no_database && let Some((entity, _)) = service.entities.first() {
        out.push(
            Diagnostic::error(
                Code::E024,
                format!(
                    "service `{}` stores entities but has `database = \"none\"`",
                    name.get_ref()
                ),
            )
            .at(entity.span(), "needs a database")
            .help("set `database = \"postgres\"` or `\"sqlite\"`, or move the entity to a service with one"),
        );
    }
    // Without entities the database defaults to none; events still need one, for the outbox
    // of what the service publishes and the inbox of what it consumed.
    if no_database && let Some(event) = service.publishes.first().or(service.subscribes.first()) {
        out.push(
            Diagnostic::error(
                Code::E027,
                format!("service `{}` uses events but has no database", name.get_ref()),
            )
            .at(event.span(), "needs a database for its event outbox and inbox")
            .help("set `database = \"postgres\"` or `\"sqlite\"`"),
        );
    }
    for port in [&service.ports.http, &service.ports.grpc].into_iter().flatten() {
        in_range(port, PORTS, "port", out);
    }
    if let Some(replicas) = &service.replicas {
        in_range(replicas, 1..=1000, "replica count", out);
    }
    if let Some(autoscale) = &service.autoscale {
        in_range(&autoscale.min, 1..=1000, "replica count", out);
        in_range(&autoscale.max, 1..=1000, "replica count", out);
        if autoscale.max.get_ref() < autoscale.min.get_ref() {
            out.push(
                Diagnostic::error(Code::E005, "autoscale `max` is below `min`")
                    .at(autoscale.max.span(), "smaller than min")
                    .also(autoscale.min.span(), "min")
                    .help("make `max` at least `min`"),
            );
        }
        if let Some(cpu) = &autoscale.cpu_percent {
            in_range(cpu, 1..=100, "CPU percentage", out);
        }
    }
    super::resources::resources(&service.resources, out);
    ServiceChoices { language, database }
}
