//! Operations of one service: names that clash with nothing the service already generates,
//! typed fields, a method that fits `read_only`, and a path that reaches the service and
//! shares no route with its CRUD endpoints or its other operations.

use heck::{ToKebabCase, ToPascalCase, ToSnakeCase};
use toml::Spanned;

use super::entities::{field_name, field_type};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::schema::{FieldSpec, OperationSpec, OutputSpec, ServiceSpec};
use crate::model::names;
use crate::model::resolve::{
    child_segment, collection_path, operation_method, operation_path, page_of, path_parameters, plural,
};
use crate::model::types;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A route of a service: its method, its path, and where the manifest declares it (not for
/// CRUD routes, which no line declares).
type Route = (String, String, Option<std::ops::Range<usize>>);

pub(super) fn operations(service: &ServiceSpec, out: &mut Diagnostics) {
    let entities: Vec<&str> = service.entities.keys().map(|k| k.get_ref().as_str()).collect();
    let generated = generated_names(&entities);
    let base = service.route.as_ref().map(Spanned::get_ref);
    // Every route of the service, with its method: the CRUD endpoints, then each operation's.
    let mut routes: Vec<Route> = crud_routes(service, base);
    for (name, op) in &service.operations {
        let text = name.get_ref();
        operation_name(name, &generated, service, out);
        let paged = op
            .output
            .as_ref()
            .is_some_and(|o| matches!(o.get_ref(), OutputSpec::Entity(e) if page_of(e).is_some()));
        typed_fields(&op.input, &entities, out);
        for field in op.input.keys() {
            if paged && ["page_size", "page_token"].contains(&field.get_ref().as_str()) {
                out.push(
                    Diagnostic::error(
                        Code::E022,
                        format!("`{text}` answers a page, which has its own `{}`", field.get_ref()),
                    )
                    .at(field.span(), "given with every page")
                    .help("remove it: `page_size` and `page_token` come with the page"),
                );
            }
        }
        output(name, op, &entities, out);
        let method = method(name, op, out);
        if let Some(path) = path(name, op, base, out) {
            let span = op.path.as_ref().map(Spanned::span);
            let here = span.clone().unwrap_or_else(|| name.span());
            clashes(name, &method, &path, here, &routes, out);
            path_fields(name, op, &path, out);
            routes.push((method.clone(), path, span.or_else(|| Some(name.span()))));
        }
        if method == "GET" {
            for (field, ty) in &op.input {
                if types::parse(ty.get_ref()).is_ok_and(|t| t.list) {
                    out.push(
                        Diagnostic::error(
                            Code::E030,
                            format!(
                                "`{}` of `{text}` is a list, but a `GET` reads its input from the query string",
                                field.get_ref()
                            ),
                        )
                        .at(ty.span(), "a list")
                        .help("take one value, or make the operation `POST` (not `read_only`)"),
                    );
                }
            }
        }
        if op.read_only {
            for event in &op.publishes {
                out.push(
                    Diagnostic::error(
                        Code::E030,
                        format!("read-only operation `{text}` publishes `{}`", event.get_ref()),
                    )
                    .at(event.span(), "an event is a change")
                    .help("remove `read_only = true`, or the event"),
                );
            }
        }
        for event in &op.publishes {
            let listed = service.publishes.iter().any(|e| e.get_ref() == event.get_ref());
            if !listed {
                out.push(
                    Diagnostic::error(
                        Code::E014,
                        format!(
                            "`{text}` publishes `{}`, which the service does not publish",
                            event.get_ref()
                        ),
                    )
                    .at(event.span(), "not in the service's `publishes`")
                    .help(format!(
                        "add `\"{}\"` to the service's `publishes` (and define it under `events`)",
                        event.get_ref()
                    )),
                );
            }
        }
    }
}

/// An operation's input or output fields: well named, and of types that exist.
fn typed_fields(
    fields: &indexmap::IndexMap<Spanned<String>, Spanned<String>>,
    entities: &[&str],
    out: &mut Diagnostics,
) {
    for (field, ty) in fields {
        field_name(field, false, out);
        field_type(ty, entities, out);
    }
}

/// The output names an entity of the service, and its fields are well named and typed.
fn output(name: &Spanned<String>, op: &OperationSpec, entities: &[&str], out: &mut Diagnostics) {
    let text = name.get_ref();
    match op.output.as_ref().map(|o| (o, o.get_ref())) {
        Some((_, OutputSpec::Fields(fields))) => typed_fields(fields, entities, out),
        Some((output, OutputSpec::Entity(written))) if page_of(written).is_some() && !op.read_only => {
            out.push(
                Diagnostic::error(Code::E030, format!("`{text}` answers a page but is not read-only"))
                    .at(output.span(), format!("`{written}`"))
                    .help("a page is a query: add `read_only = true`"),
            );
        }
        Some((output, OutputSpec::Entity(written)))
            if !entities.contains(&page_of(written).unwrap_or(written.as_str())) =>
        {
            let entity = page_of(written).unwrap_or(written);
            let d = Diagnostic::error(
                Code::E020,
                format!("the output of `{text}` names no entity of this service"),
            )
            .at(output.span(), format!("`{entity}`"));
            out.push(match did_you_mean(entity, entities.iter().copied()) {
                Some(close) => d.help(format!("did you mean `{close}`?")),
                None => {
                    d.help("name an entity of this service, or list fields: `output = { total_cents = \"int64\" }`")
                }
            });
        }
        _ => {}
    }
}

/// Routes of the service that `method path` would take or that the router cannot tell apart
/// from it.
fn clashes(
    name: &Spanned<String>,
    method: &str,
    path: &str,
    here: std::ops::Range<usize>,
    routes: &[Route],
    out: &mut Diagnostics,
) {
    let text = name.get_ref();
    for (other_method, other_path, other_span) in routes {
        if *other_method == *method && same_route(other_path, path) {
            let mut d = Diagnostic::error(Code::E017, format!("`{method} {path}` of `{text}` is already a route"))
                .at(here.clone(), "the same method and path")
                .help("set another `path` (or `method`) for the operation");
            if let Some(other) = other_span {
                d = d.also(other.clone(), "taken here");
            }
            out.push(d);
        } else if let Some((mine, theirs)) = parameter_mismatch(path, other_path) {
            out.push(
                Diagnostic::error(Code::E018, format!("`{{{mine}}}` in the path of `{text}` stands where `{other_path}` has `{{{theirs}}}`"))
                    .at(here.clone(), "one position, two parameter names")
                    .help(format!("routes that share a prefix name its parameters alike: write `{{{theirs}}}` and name the input field `{theirs}`")),
            );
        }
    }
}

/// The Rust and proto names the service's entities already use: the methods of its `App` and
/// hooks, and its rpcs in snake case.
fn generated_names(entities: &[&str]) -> Vec<String> {
    let mut names = vec![
        "new".to_owned(),
        "begin".to_owned(),
        "router".to_owned(),
        "routes".to_owned(),
    ];
    for entity in entities {
        let snake = entity.to_snake_case();
        let table = plural(&snake);
        for verb in ["create", "get", "update", "delete", "patch", "replace"] {
            names.push(format!("{verb}_{snake}"));
            names.push(format!("{verb}_{snake}_at"));
        }
        names.push(format!("list_{table}"));
    }
    names
}

fn operation_name(name: &Spanned<String>, generated: &[String], service: &ServiceSpec, out: &mut Diagnostics) {
    let text = name.get_ref();
    if let Some((label, help)) = names::too_long(text) {
        out.push(
            Diagnostic::error(Code::E021, format!("operation name `{text}` is too long"))
                .at(name.span(), label)
                .help(help),
        );
        return;
    }
    if !names::is_field_name(text) {
        out.push(
            Diagnostic::error(Code::E021, format!("invalid operation name `{text}`"))
                .at(name.span(), "not snake_case ASCII")
                .help(format!("write it like `{}`", text.to_snake_case())),
        );
        return;
    }
    if let Some(why) = names::reserved_field_name(text, false) {
        out.push(
            Diagnostic::error(Code::E011, format!("operation name `{text}` is reserved"))
                .at(name.span(), why.to_owned())
                .help(format!("pick another verb phrase, e.g. `{text}_now`")),
        );
    }
    let hook = ["before_", "after_", "on_"]
        .iter()
        .find(|prefix| text.starts_with(*prefix));
    if generated.contains(text) || hook.is_some() {
        let what = if hook.is_some() {
            "the hooks' names"
        } else {
            "a method the service generates for its entities"
        };
        out.push(
            Diagnostic::error(Code::E022, format!("operation `{text}` clashes with {what}"))
                .at(name.span(), "already generated")
                .help("create, read, update and delete come with each entity; name what this operation does, e.g. `place_order`"),
        );
    }
    let pascal = text.to_pascal_case();
    let types = service.entities.keys().chain(service.events.keys());
    if let Some(taken) = types.into_iter().find(|t| {
        let t = t.get_ref();
        *t == pascal || *t == format!("{pascal}Input") || *t == format!("{pascal}Output")
    }) {
        out.push(
            Diagnostic::error(
                Code::E022,
                format!("operation `{text}` clashes with `{}`", taken.get_ref()),
            )
            .at(
                name.span(),
                format!("its types are `{pascal}Input` and `{pascal}Output`"),
            )
            .also(taken.span(), "defined here")
            .help("rename the operation or the type"),
        );
    }
}

/// The method, uppercase, checked against `read_only`.
fn method(name: &Spanned<String>, op: &OperationSpec, out: &mut Diagnostics) -> String {
    let method = operation_method(op.read_only, op.method.as_ref().map(Spanned::get_ref));
    let Some(written) = &op.method else {
        return method;
    };
    if !METHODS.contains(&method.as_str()) {
        out.push(
            Diagnostic::error(
                Code::E005,
                format!("`{}` is no method an operation can take", written.get_ref()),
            )
            .at(written.span(), "unknown method")
            .help("write `GET`, `POST`, `PUT`, `PATCH` or `DELETE`"),
        );
    } else if op.read_only != (method == "GET") {
        let help = if op.read_only {
            "a read-only operation is a `GET`: remove `method`"
        } else {
            "a `GET` may be retried and cached, so it must only read: add `read_only = true`, or use `POST`"
        };
        out.push(
            Diagnostic::error(
                Code::E030,
                format!(
                    "`{}` is `{method}` but {}read-only",
                    name.get_ref(),
                    if op.read_only { "" } else { "not " }
                ),
            )
            .at(written.span(), "does not fit `read_only`")
            .help(help),
        );
    }
    method
}

/// The path, when it is well formed and the gateway's route for the service reaches it.
fn path(name: &Spanned<String>, op: &OperationSpec, base: Option<&String>, out: &mut Diagnostics) -> Option<String> {
    let Some(written) = &op.path else {
        return Some(operation_path(base.map_or("", String::as_str), name.get_ref(), None));
    };
    let text = written.get_ref();
    let well_formed = text.strip_prefix('/').is_some_and(|rest| {
        !rest.is_empty()
            && rest.split('/').all(|segment| {
                let parameter = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
                parameter.map_or_else(|| super::routes::plain_segment(segment), names::is_field_name)
            })
    });
    if !well_formed {
        out.push(
            Diagnostic::error(Code::E018, format!("invalid path `{text}` for `{}`", name.get_ref()))
                .at(written.span(), "not a path")
                .help("write a path like `/api/orders/{id}/place`: a leading `/`, lowercase segments, `{field}` for an input field"),
        );
        return None;
    }
    if let Some(base) = base
        && !(text == base || text.starts_with(&format!("{base}/")))
    {
        out.push(
            Diagnostic::error(
                Code::E018,
                format!(
                    "the path of `{}` is outside the service's route `{base}`",
                    name.get_ref()
                ),
            )
            .at(written.span(), "the gateway does not route it here")
            .help(format!("start it with `{base}/`")),
        );
        return None;
    }
    Some(text.clone())
}

/// Every `{field}` of the path names a required, single-valued input field.
fn path_fields(name: &Spanned<String>, op: &OperationSpec, path: &str, out: &mut Diagnostics) {
    let span = op.path.as_ref().map_or_else(|| name.span(), Spanned::span);
    for parameter in path_parameters(path) {
        let field = op.input.iter().find(|(f, _)| *f.get_ref() == parameter);
        let problem = match field.map(|(_, ty)| types::parse(ty.get_ref())) {
            None => Some(format!("add `{parameter} = \"uuid\"` (or its type) to `input`")),
            Some(Ok(ty)) if ty.list || ty.optional => Some(format!(
                "a path always has `{parameter}`: make it a single, required value"
            )),
            _ => None,
        };
        if let Some(help) = problem {
            out.push(
                Diagnostic::error(
                    Code::E018,
                    format!(
                        "`{{{parameter}}}` in the path of `{}` is no required input field",
                        name.get_ref()
                    ),
                )
                .at(span.clone(), format!("`{{{parameter}}}`"))
                .help(help),
            );
        }
    }
}

/// The CRUD endpoints of the service's entities, as (method, path), without spans.
fn crud_routes(service: &ServiceSpec, base: Option<&String>) -> Vec<Route> {
    let base = base.map_or("", String::as_str);
    let mut routes = Vec::new();
    for entity in service.entities.keys() {
        let collection = collection_path(base, entity.get_ref());
        let item = format!("{collection}/{{id}}");
        for method in ["GET", "POST"] {
            routes.push((method.to_owned(), collection.clone(), None));
        }
        // The lists of its children under each of its records (`/api/orders/{id}/lines`).
        for (child, child_spec) in &service.entities {
            let child_plural = plural(&child.get_ref().to_snake_case()).to_kebab_case();
            let refs: Vec<&str> = child_spec
                .fields
                .iter()
                .filter_map(|(field, spec)| {
                    let ty = types::parse(FieldSpec::type_written(spec).get_ref()).ok()?;
                    matches!(&ty.base, types::BaseType::Ref { entity: e } if e == entity.get_ref() && !ty.list)
                        .then_some(field.get_ref().as_str())
                })
                .collect();
            for field in &refs {
                let segment = child_segment(&child_plural, &entity.get_ref().to_snake_case(), field, refs.len() > 1);
                routes.push(("GET".to_owned(), format!("{item}/{segment}"), None));
            }
        }
        for method in ["GET", "PUT", "PATCH", "DELETE"] {
            routes.push((method.to_owned(), item.clone(), None));
        }
    }
    routes
}

/// Whether two paths are one route: the same segments, parameters matching any name.
fn same_route(a: &str, b: &str) -> bool {
    let shape = |p: &str| -> Vec<String> {
        p.split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    shape(a) == shape(b)
}

/// The first position where both paths have a parameter, after the same segments, under two
/// names (which the router cannot tell apart).
fn parameter_mismatch(a: &str, b: &str) -> Option<(String, String)> {
    for (x, y) in a.split('/').zip(b.split('/')) {
        let px = x.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        let py = y.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match (px, py) {
            (Some(px), Some(py)) if px != py => return Some((px.to_owned(), py.to_owned())),
            (Some(_), Some(_)) => {}
            _ if x == y => {}
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_one_when_only_parameter_names_differ() {
        assert!(same_route("/api/orders/{id}", "/api/orders/{order_id}"));
        assert!(!same_route("/api/orders/{id}/place", "/api/orders/{id}"));
        assert_eq!(
            parameter_mismatch("/api/orders/{order_id}/place", "/api/orders/{id}"),
            Some(("order_id".to_owned(), "id".to_owned()))
        );
        assert_eq!(parameter_mismatch("/api/orders/{id}/place", "/api/orders/{id}"), None);
        assert_eq!(parameter_mismatch("/api/quotes/{id}", "/api/orders/{order}"), None);
    }
}
