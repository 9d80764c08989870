//! Entities and events of one service: their names, their fields' names and types, and the
//! clashes between them (one proto namespace, one table per entity).

use std::collections::HashMap;
use std::ops::Range;

use heck::{ToPascalCase, ToSnakeCase};
use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::schema::ServiceSpec;
use crate::model::names;
use crate::model::types::{self, BaseType};

/// Entity and event names, field names and field types of one service.
pub(super) fn types_of_service(service: &ServiceSpec, out: &mut Diagnostics) {
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
                    Diagnostic::error(Code::E021, format!("invalid {kind} name `{text}`"))
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
                    Diagnostic::error(Code::E011, format!("{kind} name `{text}` is reserved"))
                        .at(name.span(), why.to_owned())
                        .help("pick another name"),
                );
            }
            if let Some(first) = type_names.get(text) {
                out.push(
                    Diagnostic::error(Code::E022, format!("`{text}` is both an entity and an event"))
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
                            Code::E022,
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
                    Diagnostic::warning(Code::W003, format!("entity `{text}` has no fields"))
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
            Diagnostic::error(Code::E021, format!("invalid field name `{text}`"))
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
            Diagnostic::error(Code::E011, format!("field name `{text}` is reserved"))
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
                Diagnostic::error(Code::E019, error.message)
                    .at(at, "invalid type")
                    .help(error.help),
            );
        }
        Ok(parsed) => match parsed.base {
            BaseType::Ref { entity } if !entities.contains(&entity.as_str()) => {
                let mut d = Diagnostic::error(Code::E020, format!("`ref({entity})` names no entity of this service"))
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
                            Diagnostic::error(Code::E011, format!("enum variant `{variant}` is reserved"))
                                .at(ty.span(), "clashes with generated code")
                                .help("`unspecified` is the generated zero value and `self` a Rust keyword; pick another word"),
                        );
                    } else if !names::is_field_name(variant) {
                        out.push(
                            Diagnostic::error(Code::E021, format!("invalid enum variant `{variant}`"))
                                .at(ty.span(), "variants are snake_case")
                                .help(format!("write it like `{}`", variant.to_snake_case())),
                        );
                    } else if seen.contains(&variant) {
                        out.push(
                            Diagnostic::error(Code::E022, format!("enum variant `{variant}` is listed twice"))
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
