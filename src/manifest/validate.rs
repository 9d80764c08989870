//! Checks what a parsed manifest means, one function per rule, each adding diagnostics.
//! Every rule runs even when an earlier one failed, so one run reports every problem.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use heck::{ToPascalCase, ToSnakeCase};
use indexmap::IndexMap;
use toml::Spanned;

use super::names;
use super::schema::{MANIFEST_VERSION, Manifest, ResourcesSpec, ServiceSpec};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::model::graph::find_cycle;
use crate::model::types::{self, BaseType};

/// Runs every rule over a parsed manifest.
pub fn validate(manifest: &Manifest) -> Diagnostics {
    let mut out = Diagnostics::default();
    version(manifest, &mut out);
    project(manifest, &mut out);
    settings(manifest, &mut out);
    if manifest.services.is_empty() {
        out.push(
            Diagnostic::error("E026", "the manifest defines no services")
                .at(manifest.project.name.span(), "in this project")
                .help("add one, e.g. `fleetwright add service users`, or a `[services.users]` table"),
        );
    }
    for (name, service) in &manifest.services {
        service_name(name, &mut out);
        service_settings(name, service, &mut out);
        types_of_service(service, &mut out);
    }
    calls(manifest, &mut out);
    events(manifest, &mut out);
    ports(manifest, &mut out);
    routes(manifest, &mut out);
    out.sort();
    out
}

fn version(manifest: &Manifest, out: &mut Diagnostics) {
    if let Some(version) = &manifest.version
        && *version.get_ref() != MANIFEST_VERSION
    {
        out.push(
            Diagnostic::error("E004", format!("unsupported manifest version {}", version.get_ref()))
                .at(version.span(), "this fleetwright understands version 1")
                .help("set `version = 1`, or install the fleetwright release that wrote this manifest"),
        );
    }
}

fn project(manifest: &Manifest, out: &mut Diagnostics) {
    let project = &manifest.project;
    let name = &project.name;
    if !names::is_service_name(name.get_ref()) {
        let (label, help) = names::explain_service_name(name.get_ref());
        out.push(
            Diagnostic::error("E010", format!("invalid project name `{}`", name.get_ref()))
                .at(name.span(), label)
                .help(help),
        );
    } else if let Some(why) = names::reserved_service_name(name.get_ref()) {
        out.push(
            Diagnostic::error("E011", format!("project name `{}` is reserved", name.get_ref()))
                .at(name.span(), why.to_string())
                .help("pick another name"),
        );
    }
    if let Some(version) = &project.version
        && !is_semver(version.get_ref())
    {
        out.push(
            Diagnostic::error("E005", format!("invalid version `{}`", version.get_ref()))
                .at(version.span(), "not MAJOR.MINOR.PATCH")
                .help("write a semantic version such as `0.1.0`"),
        );
    }
    if let Some(registry) = &project.registry {
        let r = registry.get_ref();
        let ok = !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"./-_:".contains(&b))
            && !r.starts_with(['/', '.', '-'])
            && !r.ends_with('/')
            && !r.contains("//");
        if !ok {
            out.push(
                Diagnostic::error("E005", format!("invalid registry `{r}`"))
                    .at(registry.span(), "not an image name prefix")
                    .help("use a lowercase registry path such as `ghcr.io/acme`, without a trailing slash"),
            );
        }
    }
    if let Some(templates) = &project.templates {
        let path = std::path::Path::new(templates.get_ref());
        let escapes = path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        let empty = path.components().all(|c| matches!(c, std::path::Component::CurDir));
        if escapes || empty {
            out.push(
                Diagnostic::error("E025", "template directory must stay inside the project")
                    .at(templates.span(), "absolute, the project root itself, or uses `..`")
                    .help("give a relative path below `fleet.toml`, e.g. `templates`"),
            );
        }
    }
}

fn is_semver(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let numbers_ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')));
    // A `-` or `+` must be followed by something.
    numbers_ok && !text.ends_with(['-', '+'])
}

fn one_of(value: &Spanned<String>, allowed: &[&str], what: &str, out: &mut Diagnostics) -> bool {
    if allowed.contains(&value.get_ref().as_str()) {
        return true;
    }
    let help = match did_you_mean(value.get_ref(), allowed.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "use one of {}",
            allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    out.push(
        Diagnostic::error("E005", format!("unknown {what} `{}`", value.get_ref()))
            .at(value.span(), format!("not a {what}"))
            .help(help),
    );
    false
}

fn in_range(value: &Spanned<i64>, range: std::ops::RangeInclusive<i64>, what: &str, out: &mut Diagnostics) {
    if !range.contains(value.get_ref()) {
        out.push(
            Diagnostic::error("E005", format!("{what} {} is out of range", value.get_ref()))
                .at(value.span(), format!("must be {} to {}", range.start(), range.end()))
                .help(format!("choose a {what} from {} to {}", range.start(), range.end())),
        );
    }
}

const PORTS: std::ops::RangeInclusive<i64> = 1024..=65535;

fn settings(manifest: &Manifest, out: &mut Diagnostics) {
    let gateway = &manifest.gateway;
    if let Some(port) = &gateway.port {
        in_range(port, PORTS, "port", out);
    }
    if let Some(port) = &gateway.admin_port {
        // The metrics listener takes the next port.
        in_range(port, 1024..=65534, "port", out);
    }
    for value in [&gateway.request_timeout_ms, &gateway.connect_timeout_ms]
        .into_iter()
        .flatten()
    {
        in_range(value, 1..=3_600_000, "timeout", out);
    }
    if let Some(broker) = &manifest.messaging.broker {
        one_of(broker, &["nats", "none"], "broker", out);
    }
    let mut seen = HashMap::new();
    for target in manifest.deploy.targets.iter().flatten() {
        if one_of(target, &["compose", "kubernetes"], "deploy target", out) {
            duplicate(target, &mut seen, "deploy target", out);
        }
    }
    let mut seen = HashMap::new();
    for provider in manifest.ci.providers.iter().flatten() {
        if one_of(provider, &["github", "gitlab"], "CI provider", out) {
            duplicate(provider, &mut seen, "CI provider", out);
        }
    }
    if let Some(namespace) = &manifest.deploy.kubernetes.namespace
        && !names::is_service_name(namespace.get_ref())
    {
        out.push(
            Diagnostic::error("E010", format!("invalid namespace `{}`", namespace.get_ref()))
                .at(namespace.span(), "not a DNS label")
                .help("use lowercase letters, digits and hyphens, e.g. `shop`"),
        );
    }
}

fn duplicate(item: &Spanned<String>, seen: &mut HashMap<String, Range<usize>>, what: &str, out: &mut Diagnostics) {
    if let Some(first) = seen.get(item.get_ref()) {
        out.push(
            Diagnostic::warning("W002", format!("{what} `{}` is listed twice", item.get_ref()))
                .at(item.span(), "repeated here")
                .also(first.clone(), "first listed here")
                .help("remove the repeat"),
        );
    } else {
        seen.insert(item.get_ref().clone(), item.span());
    }
}

fn service_name(name: &Spanned<String>, out: &mut Diagnostics) {
    let text = name.get_ref();
    if !names::is_service_name(text) {
        let (label, help) = names::explain_service_name(text);
        out.push(
            Diagnostic::error("E010", format!("invalid service name `{text}`"))
                .at(name.span(), label)
                .help(help),
        );
    } else if let Some(why) = names::reserved_service_name(text) {
        out.push(
            Diagnostic::error("E011", format!("service name `{text}` is reserved"))
                .at(name.span(), why.to_owned())
                .help(format!("rename it, e.g. `{text}-svc`")),
        );
    }
}

fn service_settings(name: &Spanned<String>, service: &ServiceSpec, out: &mut Diagnostics) {
    if let Some(language) = &service.language {
        one_of(language, &["rust"], "language", out);
    }
    let database_none = match &service.database {
        Some(db) => one_of(db, &["postgres", "sqlite", "none"], "database", out) && db.get_ref() == "none",
        None => false,
    };
    if database_none && let Some((entity, _)) = service.entities.first() {
        out.push(
            Diagnostic::error(
                "E024",
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
    let no_database = database_none || (service.database.is_none() && service.entities.is_empty());
    if no_database && let Some(event) = service.publishes.first().or(service.subscribes.first()) {
        out.push(
            Diagnostic::error(
                "E027",
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
                Diagnostic::error("E005", "autoscale `max` is below `min`")
                    .at(autoscale.max.span(), "smaller than min")
                    .also(autoscale.min.span(), "min")
                    .help("make `max` at least `min`"),
            );
        }
        if let Some(cpu) = &autoscale.cpu_percent {
            in_range(cpu, 1..=100, "CPU percentage", out);
        }
    }
    resources(&service.resources, out);
}

fn resources(resources: &ResourcesSpec, out: &mut Diagnostics) {
    use crate::model::resolve::{DEFAULT_CPU, DEFAULT_CPU_LIMIT, DEFAULT_MEMORY, DEFAULT_MEMORY_LIMIT};
    let check = |value: Option<&Spanned<String>>,
                 default: &str,
                 parse: fn(&str) -> Option<f64>,
                 what: &str,
                 help: &str,
                 out: &mut Diagnostics| {
        match value {
            None => parse(default),
            Some(v) => {
                let parsed = parse(v.get_ref()).filter(|n| *n > 0.0);
                if parsed.is_none() {
                    out.push(
                        Diagnostic::error("E005", format!("invalid {what} quantity `{}`", v.get_ref()))
                            .at(v.span(), format!("not a Kubernetes {what} quantity"))
                            .help(help.to_owned()),
                    );
                }
                parsed
            }
        }
    };
    let cpu_help = "write millicores like `250m` or cores like `1` or `0.5`";
    let memory_help = "write a size like `128Mi`, `1.5Gi` or `512M`";
    let pairs = [
        (
            &resources.cpu,
            DEFAULT_CPU,
            &resources.cpu_limit,
            DEFAULT_CPU_LIMIT,
            cpu_cores as fn(&str) -> Option<f64>,
            "CPU",
            cpu_help,
        ),
        (
            &resources.memory,
            DEFAULT_MEMORY,
            &resources.memory_limit,
            DEFAULT_MEMORY_LIMIT,
            memory_bytes,
            "memory",
            memory_help,
        ),
    ];
    for (request, request_default, limit, limit_default, parse, what, help) in pairs {
        let r = check(request.as_ref(), request_default, parse, what, help, out);
        let l = check(limit.as_ref(), limit_default, parse, what, help, out);
        if let (Some(r), Some(l)) = (r, l)
            && r > l
        {
            let (request_text, limit_text) = (
                request.as_ref().map_or(request_default, |v| v.get_ref().as_str()),
                limit.as_ref().map_or(limit_default, |v| v.get_ref().as_str()),
            );
            let span = request.as_ref().or(limit.as_ref()).map(Spanned::span);
            out.push(
                    Diagnostic::error("E005", format!("{what} request `{request_text}` is above its limit `{limit_text}`"))
                        .at_opt(span, "request above limit")
                        .help(format!("raise the {what} limit or lower the request (defaults: request {request_default}, limit {limit_default})")),
                );
        }
    }
}

/// Cores in a Kubernetes CPU quantity (`250m`, `1`, `0.5`).
fn cpu_cores(text: &str) -> Option<f64> {
    let (number, scale) = match text.strip_suffix('m') {
        Some(milli) => (milli, 0.001),
        None => (text, 1.0),
    };
    decimal(number).map(|n| n * scale)
}

/// Bytes in a Kubernetes memory quantity (`128Mi`, `1.5Gi`, `512M`, `1000`).
fn memory_bytes(text: &str) -> Option<f64> {
    const UNITS: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, scale) = UNITS
        .iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((text, 1.0));
    decimal(number).map(|n| n * scale)
}

/// A plain non-negative decimal: digits, optionally one `.` with digits after it.
fn decimal(text: &str) -> Option<f64> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match text.split_once('.') {
        Some((whole, frac)) => digits(whole) && digits(frac),
        None => digits(text),
    };
    if ok { text.parse().ok() } else { None }
}

/// Entity and event names, field names and field types of one service.
fn types_of_service(service: &ServiceSpec, out: &mut Diagnostics) {
    // Entities and events share one proto namespace, so one map catches clashes across both.
    let mut type_names: HashMap<String, Range<usize>> = HashMap::new();
    let mut tables: HashMap<String, Range<usize>> = HashMap::new();
    let entity_names: Vec<&str> = service.entities.keys().map(|k| k.get_ref().as_str()).collect();
    let groups = [("entity", &service.entities), ("event", &service.events)];
    for (kind, items) in groups {
        for (name, fields) in items {
            let text = name.get_ref();
            if !names::is_type_name(text) {
                out.push(
                    Diagnostic::error("E021", format!("invalid {kind} name `{text}`"))
                        .at(name.span(), "not PascalCase ASCII")
                        .help(match text.to_pascal_case() {
                            pascal if names::is_type_name(&pascal) => format!("write it as `{pascal}`"),
                            _ => {
                                "write it like `OrderLine`: a capital letter, then ASCII letters and digits".to_owned()
                            }
                        }),
                );
            } else if let Some(why) = names::reserved_type_name(text) {
                out.push(
                    Diagnostic::error("E011", format!("{kind} name `{text}` is reserved"))
                        .at(name.span(), why.to_owned())
                        .help("pick another name"),
                );
            }
            if let Some(first) = type_names.get(text) {
                out.push(
                    Diagnostic::error("E022", format!("`{text}` is both an entity and an event"))
                        .at(name.span(), "second definition")
                        .also(first.clone(), "first defined here")
                        .help("give the event a past-tense name, e.g. `OrderPlaced`"),
                );
            } else {
                type_names.insert(text.clone(), name.span());
            }
            if kind == "entity" {
                let table = crate::model::resolve::plural(&text.to_snake_case());
                if let Some(first) = tables.get(&table) {
                    out.push(
                        Diagnostic::error(
                            "E022",
                            format!("entity `{text}` has the same table name as another entity"),
                        )
                        .at(name.span(), format!("table `{table}`"))
                        .also(first.clone(), "already used here")
                        .help("rename one of the entities"),
                    );
                } else {
                    tables.insert(table, name.span());
                }
            }
            if kind == "entity" && fields.is_empty() {
                out.push(
                    Diagnostic::warning("W003", format!("entity `{text}` has no fields"))
                        .at(name.span(), "only `id`, `created_at` and `updated_at`")
                        .help("add fields, e.g. `name = \"string\"`"),
                );
            }
            for (field, ty) in fields {
                field_name(field, kind == "entity", out);
                field_type(ty, &entity_names, out);
            }
        }
    }
}

fn field_name(field: &Spanned<String>, entity: bool, out: &mut Diagnostics) {
    let text = field.get_ref();
    if !names::is_field_name(text) {
        out.push(
            Diagnostic::error("E021", format!("invalid field name `{text}`"))
                .at(field.span(), "not snake_case ASCII")
                .help(format!("write it like `{}`", text.to_snake_case())),
        );
    } else if let Some(why) = names::reserved_field_name(text, entity) {
        let help = if entity && names::ENTITY_COLUMNS.contains(&text.as_str()) {
            format!("every entity already has `{text}`; remove this line")
        } else {
            format!("rename it, e.g. `{text}_value`")
        };
        out.push(
            Diagnostic::error("E011", format!("field name `{text}` is reserved"))
                .at(field.span(), why.to_owned())
                .help(help),
        );
    }
}

fn field_type(ty: &Spanned<String>, entities: &[&str], out: &mut Diagnostics) {
    // Point inside the quotes when the string is written plainly (`"uuid"`); with escapes or
    // another quoting style offsets in the value do not map to the text, so mark it whole.
    let span = ty.span();
    let plain = span.len() == ty.get_ref().len() + 2;
    match types::parse(ty.get_ref()) {
        Err(error) => {
            let at = if plain {
                let inner = span.start + 1;
                inner + error.within.start..inner + error.within.end.max(error.within.start + 1)
            } else {
                span
            };
            out.push(
                Diagnostic::error("E019", error.message)
                    .at(at, "invalid type")
                    .help(error.help),
            );
        }
        Ok(parsed) => match parsed.base {
            BaseType::Ref { entity } if !entities.contains(&entity.as_str()) => {
                let mut d = Diagnostic::error("E020", format!("`ref({entity})` names no entity of this service"))
                    .at(ty.span(), "unknown entity");
                d = match did_you_mean(&entity, entities.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `ref({s})`?")),
                    None => {
                        d.help("a reference must name an entity of the same service; across services, store a `uuid`")
                    }
                };
                out.push(d);
            }
            BaseType::Enum { variants } => {
                let mut seen = Vec::new();
                for variant in &variants {
                    if variant == "unspecified" || variant == "self" {
                        out.push(
                            Diagnostic::error("E011", format!("enum variant `{variant}` is reserved"))
                                .at(ty.span(), "clashes with generated code")
                                .help("`unspecified` is the generated zero value and `self` a Rust keyword; pick another word"),
                        );
                    } else if !names::is_field_name(variant) {
                        out.push(
                            Diagnostic::error("E021", format!("invalid enum variant `{variant}`"))
                                .at(ty.span(), "variants are snake_case")
                                .help(format!("write it like `{}`", variant.to_snake_case())),
                        );
                    } else if seen.contains(&variant) {
                        out.push(
                            Diagnostic::error("E022", format!("enum variant `{variant}` is listed twice"))
                                .at(ty.span(), "repeated variant")
                                .help("remove the repeat"),
                        );
                    }
                    seen.push(variant);
                }
            }
            _ => {}
        },
    }
}

fn calls(manifest: &Manifest, out: &mut Diagnostics) {
    let known: Vec<&str> = manifest.services.keys().map(|k| k.get_ref().as_str()).collect();
    let mut graph: IndexMap<&str, Vec<&str>> = IndexMap::new();
    let mut edge_spans: HashMap<(&str, &str), Range<usize>> = HashMap::new();
    for (name, service) in &manifest.services {
        let mut seen = HashMap::new();
        let mut callees = Vec::new();
        for callee in &service.calls {
            let text = callee.get_ref().as_str();
            if text == name.get_ref() {
                out.push(
                    Diagnostic::error("E013", format!("service `{text}` calls itself"))
                        .at(callee.span(), "a service cannot call itself")
                        .help("call the logic directly inside the service; remove it from `calls`"),
                );
            } else if !known.contains(&text) {
                let mut d = Diagnostic::error("E012", format!("unknown service `{text}` in `calls`"))
                    .at(callee.span(), "not defined in this manifest");
                d = match did_you_mean(text, known.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("define it with a `[services.{text}]` table, or remove it")),
                };
                out.push(d);
            } else {
                duplicate(callee, &mut seen, "call", out);
                callees.push(text);
                edge_spans.insert((name.get_ref().as_str(), text), callee.span());
            }
        }
        graph.insert(name.get_ref().as_str(), callees);
    }
    if let Some(cycle) = find_cycle(&graph) {
        let first = edge_spans.get(&(cycle[0], cycle[1])).cloned();
        let mut d = Diagnostic::error("E015", "services call each other in a cycle")
            .at_opt(first, "this call closes a cycle")
            .note(format!("cycle: {}", cycle.join(" -> ")))
            .help("break the cycle with an event: have one side publish and the other subscribe");
        for pair in cycle.windows(2).skip(1) {
            if let Some(span) = edge_spans.get(&(pair[0], pair[1])) {
                d = d.also(span.clone(), format!("`{}` calls `{}`", pair[0], pair[1]));
            }
        }
        out.push(d);
    }
}

fn events(manifest: &Manifest, out: &mut Diagnostics) {
    let mut uses_events = None;
    // Published events by owning service, so subscriptions can be checked.
    let mut published: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (name, service) in &manifest.services {
        let defined: Vec<&str> = service.events.keys().map(|k| k.get_ref().as_str()).collect();
        let mut seen = HashMap::new();
        for event in &service.publishes {
            uses_events.get_or_insert(event.span());
            let text = event.get_ref().as_str();
            if defined.contains(&text) {
                duplicate(event, &mut seen, "event", out);
                published.insert((name.get_ref().as_str(), text));
            } else {
                let mut d = Diagnostic::error(
                    "E014",
                    format!("`{}` publishes `{text}`, which it does not define", name.get_ref()),
                )
                .at(event.span(), "no such event in this service");
                d = match did_you_mean(text, defined.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "define its payload in `[services.{}.events.{text}]`",
                        name.get_ref()
                    )),
                };
                out.push(d);
            }
        }
    }
    for service in manifest.services.values() {
        let mut seen = HashMap::new();
        for subscription in &service.subscribes {
            uses_events.get_or_insert(subscription.span());
            let text = subscription.get_ref().as_str();
            let Some((owner, event)) = text.split_once('.') else {
                let definer = manifest
                    .services
                    .iter()
                    .find(|(_, s)| s.events.contains_key(text))
                    .map(|(n, _)| n.get_ref());
                let help = match definer {
                    Some(owner) => format!("write it as `{owner}.{text}`"),
                    None => format!("write it as `<service>.{text}`, naming the service that publishes it"),
                };
                out.push(
                    Diagnostic::error("E014", format!("subscription `{text}` does not name its publisher"))
                        .at(subscription.span(), "expected `<service>.<Event>`")
                        .help(help),
                );
                continue;
            };
            let Some(owner_spec) = manifest.services.get(owner) else {
                let mut d = Diagnostic::error("E012", format!("unknown service `{owner}` in `subscribes`"))
                    .at(subscription.span(), "not defined in this manifest");
                let known = manifest.services.keys().map(|k| k.get_ref().as_str());
                d = match did_you_mean(owner, known) {
                    Some(s) => d.help(format!("did you mean `{s}.{event}`?")),
                    None => d.help(format!(
                        "define `[services.{owner}]`, or name the service that publishes `{event}`"
                    )),
                };
                out.push(d);
                continue;
            };
            if published.contains(&(owner, event)) {
                duplicate(subscription, &mut seen, "subscription", out);
            } else if owner_spec.events.contains_key(event) {
                out.push(
                    Diagnostic::error("E014", format!("`{owner}` defines `{event}` but does not publish it"))
                        .at(subscription.span(), "never published")
                        .help(format!("add `\"{event}\"` to `publishes` of `{owner}`")),
                );
            } else {
                let mut d = Diagnostic::error("E014", format!("unknown event `{event}` of `{owner}` in `subscribes`"))
                    .at(subscription.span(), "no such event");
                let known = owner_spec.events.keys().map(|k| k.get_ref().as_str());
                d = match did_you_mean(event, known) {
                    Some(s) => d.help(format!("did you mean `{owner}.{s}`?")),
                    None => d.help(format!(
                        "define it in `[services.{owner}.events.{event}]` and publish it"
                    )),
                };
                out.push(d);
            }
        }
    }
    if let (Some(first_use), Some(broker)) = (uses_events, &manifest.messaging.broker)
        && broker.get_ref() == "none"
    {
        out.push(
            Diagnostic::error("E023", "events are used but `messaging.broker` is \"none\"")
                .at(broker.span(), "no broker")
                .also(first_use, "event used here")
                .help("set `broker = \"nats\"`, or remove `publishes` and `subscribes`"),
        );
    }
}

fn ports(manifest: &Manifest, out: &mut Diagnostics) {
    use crate::model::resolve::{DEFAULT_ADMIN_PORT, DEFAULT_GATEWAY_PORT};
    // Explicit ports have a span; the gateway's defaults are claimed without one.
    let mut taken: HashMap<i64, (Option<Range<usize>>, String)> = HashMap::new();
    let mut claim = |port: i64, span: Option<Range<usize>>, owner: String, out: &mut Diagnostics| {
        if let Some((first, first_owner)) = taken.get(&port) {
            let mut d = Diagnostic::error("E016", format!("port {port} is used twice"))
                .at_opt(span, owner)
                .help("give each listener its own port, or leave `ports` out to have them assigned");
            d = match first {
                Some(first) => d.also(first.clone(), format!("already used by {first_owner}")),
                None => d.note(format!("{first_owner} uses port {port}")),
            };
            out.push(d);
        } else {
            taken.insert(port, (span, owner));
        }
    };
    let gateway = &manifest.gateway;
    match &gateway.port {
        Some(port) => claim(*port.get_ref(), Some(port.span()), "the gateway".into(), out),
        None => claim(
            i64::from(DEFAULT_GATEWAY_PORT),
            None,
            "the gateway (by default)".into(),
            out,
        ),
    }
    // The metrics listener takes the port after the admin port.
    let (admin, span, how) = match &gateway.admin_port {
        Some(port) => (*port.get_ref(), Some(port.span()), ""),
        None => (i64::from(DEFAULT_ADMIN_PORT), None, " (by default)"),
    };
    claim(admin, span.clone(), format!("the gateway admin{how}"), out);
    claim(admin + 1, span, format!("the gateway metrics{how}"), out);
    for (name, service) in &manifest.services {
        if let Some(port) = &service.ports.http {
            claim(
                *port.get_ref(),
                Some(port.span()),
                format!("`{}` HTTP", name.get_ref()),
                out,
            );
        }
        if let Some(port) = &service.ports.grpc {
            claim(
                *port.get_ref(),
                Some(port.span()),
                format!("`{}` gRPC", name.get_ref()),
                out,
            );
        }
    }
}

fn routes(manifest: &Manifest, out: &mut Diagnostics) {
    let mut valid: Vec<(&str, &Spanned<String>)> = Vec::new();
    for (name, service) in &manifest.services {
        let Some(route) = &service.route else { continue };
        let text = route.get_ref();
        let segments_ok = text.strip_prefix('/').is_some_and(|rest| {
            !rest.is_empty()
                && rest.split('/').all(|seg| {
                    !seg.is_empty()
                        && seg != "."
                        && seg != ".."
                        && seg.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
                        })
                })
        });
        if !segments_ok {
            out.push(
                Diagnostic::error("E018", format!("invalid route `{text}`"))
                    .at(route.span(), "not a path prefix")
                    .help(format!(
                        "write a prefix like `/api/{}`: a leading `/`, lowercase segments, no trailing `/`",
                        name.get_ref()
                    )),
            );
            continue;
        }
        for (other, other_route) in &valid {
            let a = text.as_str();
            let b = other_route.get_ref().as_str();
            let overlaps = a == b || is_segment_prefix(a, b) || is_segment_prefix(b, a);
            if overlaps {
                let what = if a == b { "the same route" } else { "overlapping routes" };
                out.push(
                    Diagnostic::error("E017", format!("`{}` and `{other}` claim {what}", name.get_ref()))
                        .at(route.span(), format!("`{a}`"))
                        .also(other_route.span(), format!("`{b}` claimed here"))
                        .help("give each service its own prefix, such as `/api/<service>`"),
                );
            }
        }
        valid.push((name.get_ref().as_str(), route));
    }
}

fn is_segment_prefix(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_follow_kubernetes() {
        assert_eq!(cpu_cores("250m"), Some(0.25));
        assert_eq!(cpu_cores("1"), Some(1.0));
        assert_eq!(cpu_cores("0.5"), Some(0.5));
        assert_eq!(cpu_cores("250mm"), None);
        assert_eq!(cpu_cores(""), None);
        assert_eq!(memory_bytes("128Mi"), Some(134_217_728.0));
        assert_eq!(memory_bytes("1.5Gi"), Some(1_610_612_736.0));
        assert_eq!(memory_bytes("128mb"), None);
        assert_eq!(memory_bytes("Mi"), None);
    }

    #[test]
    fn semver_needs_three_plain_numbers() {
        assert!(is_semver("0.1.0") && is_semver("1.2.3-rc.1"));
        assert!(!is_semver("01.2.3") && !is_semver("1.2") && !is_semver("1.2.3-"));
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(is_segment_prefix("/api", "/api/orders"));
        assert!(!is_segment_prefix("/api/order", "/api/orders"));
    }
}
