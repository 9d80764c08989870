//! Manifest → [`Workspace`]: applies defaults, derives names and assigns ports. Runs only on a
//! manifest that passed `model::validate`, and reads the closed-set values validation
//! converted ([`Choices`]) rather than their strings; anything it cannot resolve is a bug.

use std::collections::BTreeSet;

use heck::{ToKebabCase, ToPascalCase, ToShoutySnakeCase, ToSnakeCase};

use super::access::{Access, Auth, JwksUri, claim_path};
use super::choices::{Broker, Database, DeployTarget, Language};
use super::defaults::{
    DEFAULT_ADMIN_PORT, DEFAULT_CI_PROVIDERS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_CPU, DEFAULT_CPU_LIMIT,
    DEFAULT_CPU_PERCENT, DEFAULT_DEPLOY_TARGETS, DEFAULT_GATEWAY_PORT, DEFAULT_LANGUAGE, DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MEMORY, DEFAULT_MEMORY_LIMIT, DEFAULT_RATE_LIMIT, DEFAULT_REGISTRY, DEFAULT_REPLICAS,
    DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_ROLES_CLAIM, DEFAULT_SCOPES_CLAIM, DEFAULT_TRUSTED_PROXY_HOPS, DEFAULT_VERSION,
    FIRST_GRPC_PORT, FIRST_HTTP_PORT, metrics_port,
};
use super::types;
use super::validate::Choices;
use super::{Actions, Owner, ServiceAccess};
use super::{
    Autoscale, Deploy, Entity, EntityRef, Event, EventRef, Field, Gateway, Message, Operation, Project, Resources,
    RestOfInput, Service, Workspace,
};
use crate::error::Error;
use crate::manifest::schema::{AuthSpec, FieldSpec, Manifest, OperationSpec, OutputSpec, PolicySpec, ServiceSpec};

/// Resolves a validated manifest.
///
/// # Errors
/// [`Error::Bug`] if the manifest was not validated first.
#[allow(clippy::too_many_lines)] // one straight sequence of defaults; splitting it would scatter them
pub(crate) fn resolve(manifest: &Manifest, choices: &Choices) -> Result<Workspace, Error> {
    let name = manifest.project.name.get_ref().clone();
    let admin_port = port(manifest.gateway.admin_port.as_ref(), DEFAULT_ADMIN_PORT)?;
    let request_timeout_ms = number(manifest.gateway.request_timeout_ms.as_ref(), DEFAULT_REQUEST_TIMEOUT_MS)?;
    let connect_timeout_ms = number(manifest.gateway.connect_timeout_ms.as_ref(), DEFAULT_CONNECT_TIMEOUT_MS)?;
    let gateway = Gateway {
        durations: super::GatewayDurations {
            request: duration_text(request_timeout_ms),
            per_try: duration_text((request_timeout_ms / 3).max(1)),
            connect: duration_text(connect_timeout_ms),
            stream: duration_text(request_timeout_ms.saturating_mul(2)),
        },
        port: port(manifest.gateway.port.as_ref(), DEFAULT_GATEWAY_PORT)?,
        admin_port,
        metrics_port: metrics_port(admin_port).ok_or_else(|| bug("admin port 65535 leaves no metrics port"))?,
        request_timeout_ms,
        connect_timeout_ms,
        cors_origins: manifest.gateway.cors_origins.clone(),
        rate_limit: number(manifest.gateway.rate_limit.as_ref(), DEFAULT_RATE_LIMIT)?,
        max_request_bytes: number(manifest.gateway.max_request_bytes.as_ref(), DEFAULT_MAX_REQUEST_BYTES)?,
        trusted_proxy_hops: number(manifest.gateway.trusted_proxy_hops.as_ref(), DEFAULT_TRUSTED_PROXY_HOPS)?,
    };
    let auth = manifest.auth.as_ref().map(auth).transpose()?;
    let uses_events = manifest
        .services
        .values()
        .any(|s| !s.publishes.is_empty() || !s.subscribes.is_empty());
    let broker = match choices.broker {
        Some(broker) => broker,
        None if uses_events => Broker::Nats,
        None => Broker::None,
    };
    let targets = choices
        .deploy_targets
        .clone()
        .unwrap_or_else(|| DEFAULT_DEPLOY_TARGETS.to_vec());
    let deploy = Deploy {
        compose: targets.contains(&DeployTarget::Compose),
        kubernetes: targets.contains(&DeployTarget::Kubernetes),
        namespace: manifest
            .deploy
            .kubernetes
            .namespace
            .as_ref()
            .map_or_else(|| name.clone(), |n| n.get_ref().clone()),
        gateway_api: manifest.deploy.kubernetes.gateway_api,
        service_monitor: manifest.deploy.kubernetes.service_monitor,
    };
    let mut ci = choices
        .ci_providers
        .clone()
        .unwrap_or_else(|| DEFAULT_CI_PROVIDERS.to_vec());
    dedup_keep_order(&mut ci);
    let project = Project {
        snake: name.to_snake_case(),
        stream: name.to_shouty_snake_case(),
        version: manifest
            .project
            .version
            .as_ref()
            .map_or_else(|| DEFAULT_VERSION.to_owned(), |v| v.get_ref().clone()),
        description: manifest.project.description.clone().unwrap_or_default(),
        registry: manifest
            .project
            .registry
            .as_ref()
            .map_or_else(|| DEFAULT_REGISTRY.to_owned(), |r| r.get_ref().clone()),
        templates: manifest.project.templates.as_ref().map(|t| t.get_ref().clone()),
        require_if_match: manifest.project.require_if_match,
        name,
    };

    let mut taken: BTreeSet<u16> = [gateway.port, gateway.admin_port, gateway.metrics_port].into();
    for spec in manifest.services.values() {
        for p in [&spec.ports.http, &spec.ports.grpc].into_iter().flatten() {
            taken.insert(u16::try_from(*p.get_ref()).map_err(|_| bug("port out of range"))?);
        }
    }
    let mut next_http = FIRST_HTTP_PORT;
    let mut next_grpc = FIRST_GRPC_PORT;
    let mut services = Vec::with_capacity(manifest.services.len());
    if choices.services.len() != manifest.services.len() {
        return Err(bug("validation saw other services"));
    }
    for ((name, spec), service_choices) in manifest.services.iter().zip(&choices.services) {
        let http_port = match &spec.ports.http {
            Some(p) => port(Some(p), 0)?,
            None => next_free(&mut next_http, &mut taken)?,
        };
        let grpc_port = match &spec.ports.grpc {
            Some(p) => port(Some(p), 0)?,
            None => next_free(&mut next_grpc, &mut taken)?,
        };
        let database = service_choices.database.ok_or_else(|| bug("unknown database"))?;
        let language = service_choices.language.unwrap_or(DEFAULT_LANGUAGE);
        let ports = (http_port, grpc_port);
        let authorised = manifest.auth.is_some();
        let mut service = service(&project, name.get_ref(), spec, (language, database, authorised), ports)?;
        service.rate_limit = number(spec.rate_limit.as_ref(), gateway.rate_limit)?;
        services.push(service);
    }
    // Derived, cross-service facts.
    let callers: Vec<(String, String)> = services
        .iter()
        .flat_map(|s| s.calls.iter().map(move |callee| (callee.clone(), s.name.clone())))
        .collect();
    let subscriptions: Vec<(EventRef, String)> = services
        .iter()
        .flat_map(|s| s.subscribes.iter().map(move |e| (e.clone(), s.name.clone())))
        .collect();
    for service in &mut services {
        service.messaging = broker == Broker::Nats
            && service.database.stores_data()
            && !(service.publishes.is_empty() && service.subscribes.is_empty());
        service.called_by = callers
            .iter()
            .filter(|(callee, _)| *callee == service.name)
            .map(|(_, c)| c.clone())
            .collect();
        service.called_by.sort();
        for event in &mut service.events {
            event.subscribers = subscriptions
                .iter()
                .filter(|(e, _)| e.service == service.name && e.event == event.name)
                .map(|(_, s)| s.clone())
                .collect();
            event.subscribers.sort();
            event.subscribers.dedup();
        }
    }
    Ok(Workspace {
        project,
        gateway,
        auth,
        broker,
        deploy,
        ci,
        services,
    })
}

#[allow(clippy::too_many_lines)] // one field after another; splitting would scatter the defaults
fn service(
    project: &Project,
    name: &str,
    spec: &ServiceSpec,
    (language, database, authorised): (Language, Database, bool),
    (http_port, grpc_port): (u16, u16),
) -> Result<Service, Error> {
    let snake = name.to_snake_case();
    let entities = spec
        .entities
        .iter()
        .map(|(entity, entity_spec)| {
            let entity = entity.get_ref();
            let snake = entity.to_snake_case();
            let plural_kebab = plural(&snake).to_kebab_case();
            let base = spec.route.as_ref().map_or("", |r| r.get_ref().as_str());
            let http_path = collection_path(base, entity);
            let fields = entity_fields(entity, &entity_spec.fields)?;
            let keys = entity_keys(&plural(&snake), entity_spec);
            Ok(Entity {
                http_path,
                system_numbers: super::SystemNumbers::default(),
                reserved_numbers: Vec::new(),
                reserved_names: Vec::new(),
                sample_unique: sample_unique(&fields, &keys),
                fields,
                renamed_from: entity_spec.renamed_from.as_ref().map(|old| super::EntityRename {
                    table: plural(&old.get_ref().to_snake_case()),
                    name: old.get_ref().clone(),
                    span: old.span(),
                }),
                filters: Vec::new(),
                parent_lists: Vec::new(),
                sql: super::store_sql::StoreSql::default(),
                keys,
                table: plural(&snake),
                plural_pascal: plural(&snake).to_pascal_case(),
                plural_kebab,
                snake,
                name: entity.clone(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let entities = with_queries(entities);
    let publishes: Vec<String> = spec.publishes.iter().map(|e| e.get_ref().clone()).collect();
    let events = spec
        .events
        .iter()
        .map(|(event, fields)| {
            let event = event.get_ref();
            Ok(Event {
                reserved_numbers: Vec::new(),
                reserved_names: Vec::new(),
                fields: fields_of(event, fields)?,
                snake: event.to_snake_case(),
                published: publishes.contains(event),
                subscribers: Vec::new(),
                name: event.clone(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let event_ref = |service: &str, event: &str| EventRef {
        subject: format!("{}.{}.{}", project.name, service, event.to_snake_case()),
        snake: event.to_snake_case(),
        handler: format!("on_{}_{}", service.to_snake_case(), event.to_snake_case()),
        owner_snake: service.to_snake_case(),
        durable: String::new(),
        service: service.to_owned(),
        event: event.to_owned(),
    };
    let mut calls: Vec<String> = spec.calls.iter().map(|c| c.get_ref().clone()).collect();
    dedup_keep_order(&mut calls);
    let mut subscribes = Vec::new();
    for s in &spec.subscribes {
        let (owner, event) = s
            .get_ref()
            .split_once('.')
            .ok_or_else(|| bug("subscription without a service"))?;
        let mut r = event_ref(owner, event);
        r.durable = format!("{name}-{owner}-{}", event.to_kebab_case());
        if !subscribes.contains(&r) {
            subscribes.push(r);
        }
    }
    let mut publishes_refs = Vec::new();
    for e in &publishes {
        let r = event_ref(name, e);
        if !publishes_refs.contains(&r) {
            publishes_refs.push(r);
        }
    }
    let count = |v: Option<&toml::Spanned<i64>>, default: u32| number(v, default);
    let autoscale = match &spec.autoscale {
        Some(a) => Some(Autoscale {
            min: count(Some(&a.min), 1)?,
            max: count(Some(&a.max), 1)?,
            cpu_percent: count(a.cpu_percent.as_ref(), DEFAULT_CPU_PERCENT)?,
        }),
        None => None,
    };
    let text = |v: &Option<toml::Spanned<String>>, default: &str| {
        v.as_ref().map_or_else(|| default.to_owned(), |s| s.get_ref().clone())
    };
    Ok(Service {
        pascal: name.to_pascal_case(),
        upper: name.to_shouty_snake_case(),
        description: spec.description.clone().unwrap_or_default(),
        language,
        database,
        route: spec.route.as_ref().map(|r| r.get_ref().clone()),
        // The gateway's, unless the service sets its own (filled in by `resolve`).
        rate_limit: 0,
        access: match (authorised, &spec.route) {
            (true, Some(_)) => Some(service_access(spec)?),
            _ => None,
        },
        http_port,
        grpc_port,
        replicas: count(spec.replicas.as_ref(), DEFAULT_REPLICAS)?,
        autoscale,
        resources: Resources {
            cpu: text(&spec.resources.cpu, DEFAULT_CPU),
            memory: text(&spec.resources.memory, DEFAULT_MEMORY),
            cpu_limit: text(&spec.resources.cpu_limit, DEFAULT_CPU_LIMIT),
            memory_limit: text(&spec.resources.memory_limit, DEFAULT_MEMORY_LIMIT),
        },
        calls,
        called_by: Vec::new(),
        messaging: false,
        publishes: publishes_refs,
        subscribes,
        entities,
        events,
        operations: operations(spec)?,
        migrations: Vec::new(),
        proto_package: format!("{}.{}.v1", project.snake, snake),
        proto_file: format!("{}/{}/v1/{}.proto", project.snake, snake, snake),
        image: format!("{}/{}-{}", project.registry, project.name, name),
        snake,
        name: name.to_owned(),
    })
}

/// A service's operations, with their methods and paths defaulted (see [`OperationSpec`]).
fn operations(spec: &ServiceSpec) -> Result<Vec<Operation>, Error> {
    let base = spec.route.as_ref().map_or("", |r| r.get_ref().as_str());
    spec.operations
        .iter()
        .map(|(name, op)| operation(base, name.get_ref(), op))
        .collect()
}

fn operation(base: &str, name: &str, spec: &OperationSpec) -> Result<Operation, Error> {
    let pascal = name.to_pascal_case();
    let message = |suffix: &str, rust: &str, fields| {
        let proto = format!("{pascal}{suffix}");
        Ok::<_, Error>(Message {
            fields: fields_of(&proto, fields)?,
            rust: format!("{pascal}{rust}"),
            proto,
            reserved_numbers: Vec::new(),
            reserved_names: Vec::new(),
        })
    };
    let mut input = message("Request", "Input", &spec.input)?;
    let (output, output_entity, output_page) = match spec.output.as_ref().map(toml::Spanned::get_ref) {
        None => (None, None, false),
        Some(OutputSpec::Entity(written)) => {
            let entity = page_of(written).unwrap_or(written);
            let entity = EntityRef {
                snake: entity.to_snake_case(),
                name: entity.to_owned(),
            };
            (None, Some(entity), page_of(written).is_some())
        }
        Some(OutputSpec::Fields(fields)) => (Some(message("Response", "Output", fields)?), None, false),
    };
    let rust_output = match (&output_entity, &output) {
        // `Page` is imported where the type is written (`app.rs`, `hooks.rs`): the whole path
        // made signatures too long for one line, whose layout rustfmt decides case by case.
        (Some(entity), _) if output_page => format!("Page<crate::model::{}>", entity.name),
        (Some(entity), _) => format!("crate::model::{}", entity.name),
        (None, Some(fields)) => format!("crate::model::{}", fields.rust),
        (None, None) => "()".to_owned(),
    };
    if output_page {
        // Keyset paging, as the entity's list: the size asked for and where the last page ended.
        for (name, ty) in [("page_size", "int32?"), ("page_token", "text?")] {
            let name = toml::Spanned::new(0..0, name.to_owned());
            input
                .fields
                .push(field(&input.proto, &name, &toml::Spanned::new(0..0, ty.to_owned()))?);
        }
    }
    let method = operation_method(spec.read_only, spec.method.as_ref().map(toml::Spanned::get_ref));
    let http_path = operation_path(base, name, spec.path.as_ref().map(toml::Spanned::get_ref));
    let path_fields = path_parameters(&http_path);
    let rest_of_input = match input.fields.iter().any(|f| !path_fields.contains(&f.name)) {
        false => RestOfInput::Nowhere,
        true if method == "GET" => RestOfInput::Query,
        true => RestOfInput::Body,
    };
    Ok(Operation {
        name: name.to_owned(),
        // Templates end the sentence it is put in.
        description: spec
            .description
            .as_deref()
            .unwrap_or_default()
            .trim()
            .trim_end_matches('.')
            .to_owned(),
        input,
        output,
        output_entity,
        output_page,
        read_only: spec.read_only,
        method,
        http_path,
        path_fields,
        rest_of_input,
        rust_output,
        response_numbers: std::collections::BTreeMap::new(),
        response_reserved_numbers: Vec::new(),
        response_reserved_names: Vec::new(),
        publishes: spec.publishes.iter().map(|e| e.get_ref().clone()).collect(),
        pascal,
    })
}

/// An entity's REST collection: the service's route when the entity is named after it
/// (`/api/orders` for `Order`), else `<route>/<plural>` (`/api/orders/order-lines`).
pub(crate) fn collection_path(base: &str, entity: &str) -> String {
    let plural_kebab = plural(&entity.to_snake_case()).to_kebab_case();
    if base.rsplit('/').next() == Some(plural_kebab.as_str()) {
        base.to_owned()
    } else {
        format!("{base}/{plural_kebab}")
    }
}

/// An operation's method: as written (uppercase), else `GET` when it is read-only, `POST` when not.
pub(crate) fn operation_method(read_only: bool, written: Option<&String>) -> String {
    written.map_or_else(
        || if read_only { "GET" } else { "POST" }.to_owned(),
        |m| m.to_uppercase(),
    )
}

/// An operation's path: as written, else the service's route then its name in kebab case.
pub(crate) fn operation_path(base: &str, name: &str, written: Option<&String>) -> String {
    written.map_or_else(|| format!("{base}/{}", name.to_kebab_case()), Clone::clone)
}

/// `Order` of `page(Order)`.
pub(crate) fn page_of(output: &str) -> Option<&str> {
    output.strip_prefix("page(")?.strip_suffix(')').map(str::trim)
}

/// The `{name}` segments of a path, in order.
pub(crate) fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

/// The last segment of a child list under its parent (`lines` for `order-lines` under
/// `order`), with `-by-<field>` when the child refers to that parent in several fields.
pub(crate) fn child_segment(child_plural_kebab: &str, parent_snake: &str, field: &str, several: bool) -> String {
    let prefix = format!("{}-", parent_snake.to_kebab_case());
    let segment = child_plural_kebab.strip_prefix(&prefix).unwrap_or(child_plural_kebab);
    if several {
        format!("{segment}-by-{}", field.to_kebab_case())
    } else {
        segment.to_owned()
    }
}

/// The entities with their filters and the lists under their parents filled in.
fn with_queries(mut entities: Vec<Entity>) -> Vec<Entity> {
    let parents: Vec<(String, String, String, String)> = entities
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.snake.clone(),
                e.http_path.clone(),
                e.plural_kebab.clone(),
            )
        })
        .collect();
    for entity in &mut entities {
        entity.filters = entity
            .fields
            .iter()
            .filter(|f| f.filter)
            .map(|f| f.name.clone())
            .collect();
        let refs: Vec<(String, String)> = entity
            .fields
            .iter()
            .filter(|f| f.filter)
            .filter_map(|f| match &f.ty.base {
                super::BaseType::Ref { entity } => Some((f.name.clone(), entity.clone())),
                _ => None,
            })
            .collect();
        for (field, parent) in &refs {
            let Some((_, parent_snake, parent_path, _)) = parents.iter().find(|(name, ..)| name == parent) else {
                continue;
            };
            let several = refs.iter().filter(|(_, p)| p == parent).count() > 1;
            let segment = child_segment(&entity.plural_kebab, parent_snake, field, several);
            entity.parent_lists.push(super::ParentList {
                field: field.clone(),
                parent: parent.clone(),
                parent_snake: parent_snake.clone(),
                path: format!("{parent_path}/{{id}}/{segment}"),
                segment,
                function: format!("list_{}_by_{field}", entity.table),
                foreign_key: super::migrations::foreign_key_name(&entity.table, field),
            });
        }
    }
    entities
}

/// An entity's fields, with what the long form says about migrating them.
/// The fields a generated test's sample gives values no other sample has, so that samples never
/// clash: every unique field, and one field of each unique key that has none, the first whose
/// type takes a fresh value (a text, a UUID that is no reference, an integer). A key of
/// references alone differs already: each sample refers to records created for it.
fn sample_unique(fields: &[Field], keys: &[super::Key]) -> Vec<String> {
    use super::types::Scalar;
    let mut varied: Vec<String> = fields.iter().filter(|f| f.unique).map(|f| f.name.clone()).collect();
    for key in keys.iter().filter(|k| k.unique) {
        if key.columns.iter().any(|c| varied.contains(c)) {
            continue;
        }
        let fresh = key.columns.iter().find(|column| {
            fields.iter().any(|f| {
                f.name == **column
                    && !f.ty.list
                    && matches!(
                        f.ty.base,
                        super::BaseType::Scalar {
                            scalar: Scalar::String | Scalar::Text | Scalar::Uuid | Scalar::Int32 | Scalar::Int64
                        }
                    )
            })
        });
        if let Some(column) = fresh {
            varied.push(column.clone());
        }
    }
    varied
}

/// The unique keys, then the indexes, an entity declares over its columns.
fn entity_keys(table: &str, spec: &crate::manifest::schema::EntitySpec) -> Vec<super::Key> {
    let lists = spec
        .unique
        .iter()
        .map(|list| (true, list))
        .chain(spec.indexes.iter().map(|list| (false, list)));
    lists
        .map(|(unique, list)| {
            let columns: Vec<String> = list.get_ref().iter().map(|c| c.get_ref().clone()).collect();
            super::Key {
                name: super::migrations::key_index_name(table, &columns, unique),
                columns,
                unique,
            }
        })
        .collect()
}

fn entity_fields(
    owner: &str,
    fields: &indexmap::IndexMap<toml::Spanned<String>, toml::Spanned<FieldSpec>>,
) -> Result<Vec<Field>, Error> {
    fields
        .iter()
        .map(|(name, spec)| {
            let mut field = field(owner, name, &FieldSpec::type_written(spec))?;
            // A reference lists children under their parent, so it is always filterable.
            field.filter = matches!(field.ty.base, super::BaseType::Ref { .. }) && !field.ty.list;
            if let Some(table) = spec.get_ref().table() {
                if let Some(default) = &table.default {
                    field.default_sql = Some(field.ty.sql_literal(default.get_ref()).map_err(|e| bug(&e))?);
                }
                field.renamed_from = table.renamed_from.as_ref().map(|old| old.get_ref().clone());
                field.unique = table.unique;
                if let Some(default) = table.default.as_ref().filter(|_| !table.read_only)
                    && !field.ty.list
                    && !field.ty.optional
                {
                    // Dates and timestamps have no Rust form of a default yet: still required.
                    field.api_default = field
                        .ty
                        .rust_default(Some(default.get_ref()), field.map.enum_name.as_deref())
                        .ok();
                }
                field.filter |= table.filter;
                if table.read_only {
                    let default = table.default.as_ref().map(toml::Spanned::get_ref);
                    let start = field
                        .ty
                        .rust_default(default, field.map.enum_name.as_deref())
                        .map_err(|e| bug(&e))?;
                    field.read_only = Some(start);
                }
                field.replaced_values = table
                    .replaced_values
                    .iter()
                    .map(|(old, new)| (old.get_ref().clone(), new.get_ref().clone()))
                    .collect();
            }
            Ok(field)
        })
        .collect()
}

fn fields_of(
    owner: &str,
    fields: &indexmap::IndexMap<toml::Spanned<String>, toml::Spanned<String>>,
) -> Result<Vec<Field>, Error> {
    fields.iter().map(|(name, ty)| field(owner, name, ty)).collect()
}

fn field(owner: &str, name: &toml::Spanned<String>, ty: &toml::Spanned<String>) -> Result<Field, Error> {
    let parsed = types::parse(ty.get_ref()).map_err(|e| bug(&e.message))?;
    let spans = (name.span(), ty.span());
    let name = name.get_ref().clone();
    let enum_name = format!("{owner}{}", name.to_pascal_case()).to_shouty_snake_case();
    let enum_values = match &parsed.base {
        super::BaseType::Enum { variants } => variants
            .iter()
            .map(|v| super::EnumValue {
                pascal: v.to_pascal_case(),
                proto: format!("{enum_name}_{}", v.to_shouty_snake_case()),
                name: v.clone(),
                number: 0,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Field {
        map: parsed.mapping(owner, &name),
        sample: parsed.sample_json(),
        spec: normalise(ty.get_ref()),
        ty: parsed,
        number: 0,
        enum_values,
        enum_reserved: Vec::new(),
        default_sql: None,
        renamed_from: None,
        unique: false,
        filter: false,
        read_only: None,
        api_default: None,
        replaced_values: Vec::new(),
        name_span: spans.0,
        type_span: spans.1,
        name,
    })
}

/// `enum( a,b )` → `enum(a, b)`: one spelling of each type, for stable output.
fn normalise(spec: &str) -> String {
    let compact: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    compact.replace(',', ", ")
}

/// English plural of a `snake_case` name, for table and path names.
pub(crate) fn plural(snake: &str) -> String {
    let (head, last) = match snake.rsplit_once('_') {
        Some((head, last)) => (format!("{head}_"), last),
        None => (String::new(), snake),
    };
    let word = if last.ends_with('s')
        || last.ends_with('x')
        || last.ends_with("ch")
        || last.ends_with("sh")
        || last.ends_with('z')
    {
        format!("{last}es")
    } else if last.ends_with('y')
        && !last.ends_with("ay")
        && !last.ends_with("ey")
        && !last.ends_with("oy")
        && !last.ends_with("uy")
    {
        format!("{}ies", &last[..last.len() - 1])
    } else {
        format!("{last}s")
    };
    format!("{head}{word}")
}

/// Milliseconds as protobuf `Duration` JSON text: `15s`, `1.500s`.
fn duration_text(ms: u32) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}

fn next_free(next: &mut u16, taken: &mut BTreeSet<u16>) -> Result<u16, Error> {
    while taken.contains(next) {
        *next = next.checked_add(1).ok_or_else(|| bug("ran out of ports"))?;
    }
    taken.insert(*next);
    Ok(*next)
}

fn port(value: Option<&toml::Spanned<i64>>, default: u16) -> Result<u16, Error> {
    value.map_or(Ok(default), |v| {
        u16::try_from(*v.get_ref()).map_err(|_| bug("port out of range"))
    })
}

fn number(value: Option<&toml::Spanned<i64>>, default: u32) -> Result<u32, Error> {
    value.map_or(Ok(default), |v| {
        u32::try_from(*v.get_ref()).map_err(|_| bug("number out of range"))
    })
}

fn dedup_keep_order<T: Ord + Clone>(items: &mut Vec<T>) {
    let mut seen = BTreeSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

fn bug(what: &str) -> Error {
    Error::Bug(format!("resolving an unvalidated manifest: {what}"))
}

/// The issuer of `[auth]`, validated.
fn auth(spec: &AuthSpec) -> Result<Auth, Error> {
    let claim = |c: &Option<toml::Spanned<String>>, default: &str| {
        claim_path(c.as_ref().map_or(default, |c| c.get_ref().as_str()))
    };
    Ok(Auth {
        issuer: spec.issuer.get_ref().clone(),
        audiences: spec.audiences.get_ref().iter().map(|a| a.get_ref().clone()).collect(),
        jwks: JwksUri::parse(spec.jwks_uri.get_ref()).map_err(|_| bug("invalid jwks_uri"))?,
        roles_claim: claim(&spec.roles_claim, DEFAULT_ROLES_CLAIM),
        scopes_claim: claim(&spec.scopes_claim, DEFAULT_SCOPES_CLAIM),
    })
}

/// The policies of a routed service under `[auth]`: an entity's action takes the entity's
/// own policy, else the service's for that action, else the service's `default`, else
/// `authenticated`; an operation its own, else (read-only) the service's `read`, else the same.
fn service_access(spec: &ServiceSpec) -> Result<ServiceAccess, Error> {
    let empty = crate::manifest::schema::AccessSpec::default();
    let access = spec.access.as_ref().map_or(&empty, |a| a.get_ref());
    let policy = |p: Option<&toml::Spanned<PolicySpec>>| -> Result<Option<Access>, Error> {
        p.map(|p| Access::parse(p.get_ref()).map_err(|e| bug(&format!("invalid policy: {}", e.message))))
            .transpose()
    };
    let default = policy(access.default.as_ref())?.unwrap_or(Access::Authenticated);
    let pick = |own: Option<&toml::Spanned<PolicySpec>>, service: Option<&toml::Spanned<PolicySpec>>| {
        Ok::<_, Error>(match policy(own)? {
            Some(p) => p,
            None => policy(service)?.unwrap_or_else(|| default.clone()),
        })
    };
    let mut entities = Vec::with_capacity(spec.entities.len());
    for name in spec.entities.keys() {
        let own = access
            .entities
            .iter()
            .find(|(e, _)| e.get_ref() == name.get_ref())
            .map(|(_, a)| a);
        entities.push(Actions {
            read: pick(own.and_then(|o| o.read.as_ref()), access.read.as_ref())?,
            create: pick(own.and_then(|o| o.create.as_ref()), access.create.as_ref())?,
            update: pick(own.and_then(|o| o.update.as_ref()), access.update.as_ref())?,
            delete: pick(own.and_then(|o| o.delete.as_ref()), access.delete.as_ref())?,
            owner: match own.and_then(|o| o.owner.as_ref()) {
                Some(field) => Some(Owner {
                    field: field.get_ref().clone(),
                    any_owner: match policy(own.and_then(|o| o.any_owner.as_ref()))? {
                        Some(Access::AnyOf(grants)) => grants,
                        _ => Vec::new(),
                    },
                }),
                None => None,
            },
        });
    }
    let mut operations = Vec::with_capacity(spec.operations.len());
    for (name, operation) in &spec.operations {
        let own = access
            .operations
            .iter()
            .find(|(o, _)| o.get_ref() == name.get_ref())
            .map(|(_, p)| p);
        let service = if operation.read_only {
            access.read.as_ref()
        } else {
            None
        };
        operations.push(pick(own, service)?);
    }
    Ok(ServiceAccess {
        grpc: policy(access.grpc.as_ref())?.filter(|p| *p != Access::Internal),
        default,
        entities,
        operations,
    })
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn plurals_of_common_entity_names() {
        assert_eq!(plural("order"), "orders");
        assert_eq!(plural("order_line"), "order_lines");
        assert_eq!(plural("category"), "categories");
        assert_eq!(plural("address"), "addresses");
        assert_eq!(plural("day"), "days");
    }
}
