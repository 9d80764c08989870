//! Entities and events of one service: their names, their fields' names and types, and the
//! clashes between them (one proto namespace, one table per entity).

use std::collections::HashMap;
use std::ops::Range;

use heck::{ToPascalCase, ToSnakeCase};
use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use indexmap::IndexMap;

use crate::manifest::schema::{FieldSpec, FieldTable, ServiceSpec};
use crate::model::names;
use crate::model::types::{self, BaseType};

/// An entity's or event's fields: each name with its type as written.
type FieldTypes<'a> = Vec<(&'a Spanned<String>, Spanned<String>)>;

/// Entity and event names, field names and field types of one service.
pub(super) fn types_of_service(service: &ServiceSpec, out: &mut Diagnostics) {
    // Entities and events share one proto namespace, so one map catches clashes across both.
    let mut type_names: HashMap<String, Range<usize>> = HashMap::new();
    let mut tables: HashMap<String, Range<usize>> = HashMap::new();
    let entity_names: Vec<&str> = service.entities.keys().map(|k| k.get_ref().as_str()).collect();
    let entities = service.entities.iter().map(|(name, entity)| {
        let typed = entity
            .fields
            .iter()
            .map(|(field, spec)| (field, FieldSpec::type_written(spec)))
            .collect();
        ("entity", name, typed)
    });
    let events = service
        .events
        .iter()
        .map(|(name, fields)| ("event", name, fields.iter().map(|(f, ty)| (f, ty.clone())).collect()));
    let groups: Vec<(&str, &Spanned<String>, FieldTypes<'_>)> = entities.chain(events).collect();
    for (kind, name, fields) in groups {
        {
            let text = name.get_ref();
            if let Some((label, help)) = names::too_long(text) {
                out.push(
                    Diagnostic::error(Code::E021, format!("{kind} name `{text}` is too long"))
                        .at(name.span(), label)
                        .help(help),
                );
            } else if !names::is_type_name(text) {
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
            for (field, ty) in &fields {
                field_name(field, kind == "entity", out);
                field_type(ty, &entity_names, out);
            }
        }
    }
    for (name, entity) in &service.entities {
        for (field, spec) in &entity.fields {
            if let Some(table) = spec.get_ref().table() {
                field_settings(field, table, &entity.fields, out);
            }
        }
        super::keys::keys_of_entity(name, entity, out);
    }
    entity_renames(service, out);
}

/// Each entity's `renamed_from`: a `PascalCase` name, not its own, not an entity (or a table)
/// the service still has, and not claimed by another entity too. Whether the database has
/// that table is the migration's to check, against `fleet.lock`.
fn entity_renames(service: &ServiceSpec, out: &mut Diagnostics) {
    let table_of = |name: &str| crate::model::resolve::plural(&name.to_snake_case());
    let mut claimed: HashMap<&str, Range<usize>> = HashMap::new();
    for (name, entity) in &service.entities {
        let Some(old) = &entity.renamed_from else {
            continue;
        };
        let text = old.get_ref();
        if text == name.get_ref() {
            out.push(
                Diagnostic::error(Code::E034, format!("entity `{text}` is renamed from itself"))
                    .at(old.span(), "its current name")
                    .help("remove `renamed_from`, or write the name the entity had before"),
            );
            continue;
        }
        if !names::is_type_name(text) {
            out.push(
                Diagnostic::error(Code::E021, format!("invalid entity name `{text}`"))
                    .at(old.span(), "not PascalCase ASCII")
                    .help("write the entity's previous name exactly as it was, like `Customer`"),
            );
            continue;
        }
        let current = service
            .entities
            .keys()
            .find(|other| *other != name && table_of(other.get_ref()) == table_of(text));
        if let Some(current) = current {
            out.push(
                Diagnostic::error(
                    Code::E034,
                    format!("`{}` is renamed from an entity that still exists", name.get_ref()),
                )
                .at(old.span(), format!("table `{}`", table_of(text)))
                .also(current.span(), "still here")
                .help("remove the old entity, or `renamed_from` if both are meant to stay"),
            );
        } else if let Some(first) = claimed.get(text.as_str()) {
            out.push(
                Diagnostic::error(Code::E034, format!("two entities are renamed from `{text}`"))
                    .at(old.span(), "second rename")
                    .also(first.clone(), "first rename")
                    .help("one table can become one entity: keep `renamed_from` on one of them"),
            );
        } else {
            claimed.insert(text.as_str(), old.span());
        }
    }
}

/// The long form's settings: a default that fits the type, a previous name that is not a
/// current one, replaced enum values that are gone and replaced by one that is not.
/// The settings that index a column on a type an index serves: `unique` on one value (a list is
/// a JSON text), `filter = true` on a type lists can match by equality (one value, and not one
/// whose equality is unreliable: a float, a timestamp that clients write in many forms).
fn index_fits(field: &Spanned<String>, table: &FieldTable, parsed: &types::TypeExpr, out: &mut Diagnostics) {
    if table.unique && parsed.list {
        out.push(
            Diagnostic::error(Code::E028, format!("list field `{}` cannot be unique", field.get_ref()))
                .at(table.ty.span(), "a list")
                .help("remove `unique`, or make the values an entity of their own with a unique field"),
        );
    }
    if !table.filter {
        return;
    }
    let unfit = if parsed.list {
        Some((
            "a list",
            "filter by a field of an entity of its own that holds one value per record",
        ))
    } else {
        match parsed.base {
            BaseType::Scalar {
                scalar: types::Scalar::Float64,
            } => Some((
                "a float",
                "filter by an integer field (cents rather than a float amount)",
            )),
            BaseType::Scalar {
                scalar: types::Scalar::Timestamp,
            } => Some(("a timestamp", "filter by a `date` field, or remove `filter`")),
            _ => None,
        }
    };
    if let Some((what, help)) = unfit {
        out.push(
            Diagnostic::error(Code::E028, format!("lists cannot filter by `{}`", field.get_ref()))
                .at(table.ty.span(), what)
                .help(help),
        );
    }
}

fn field_settings(
    field: &Spanned<String>,
    table: &FieldTable,
    fields: &IndexMap<Spanned<String>, Spanned<FieldSpec>>,
    out: &mut Diagnostics,
) {
    // An unparsable type is reported by `field_type`.
    let Ok(parsed) = types::parse(table.ty.get_ref()) else {
        return;
    };
    if let Some(default) = &table.default
        && let Err(expected) = parsed.sql_literal(default.get_ref())
    {
        out.push(
            Diagnostic::error(
                Code::E028,
                format!("default of `{}` does not fit its type", field.get_ref()),
            )
            .at(default.span(), format!("not a `{}`", table.ty.get_ref().trim()))
            .help(format!("write {expected}")),
        );
    }
    if let Some(old) = &table.renamed_from {
        if old.get_ref() == field.get_ref() {
            out.push(
                Diagnostic::error(Code::E028, format!("`{}` is renamed from itself", field.get_ref()))
                    .at(old.span(), "its current name")
                    .help("remove `renamed_from`, or write the name the field had before"),
            );
        } else if let Some((current, _)) = fields.get_key_value(old.get_ref().as_str()) {
            out.push(
                Diagnostic::error(
                    Code::E028,
                    format!("`{}` is renamed from a field that still exists", field.get_ref()),
                )
                .at(old.span(), "a current field")
                .also(current.span(), "still here")
                .help("remove the old field, or `renamed_from` if both are meant to stay"),
            );
        } else if !names::is_field_name(old.get_ref()) {
            out.push(
                Diagnostic::error(Code::E021, format!("invalid field name `{}`", old.get_ref()))
                    .at(old.span(), "not snake_case ASCII")
                    .help("write the field's previous name exactly as it was"),
            );
        }
    }
    // A default that does not fit the type is reported above.
    let default_fits = table
        .default
        .as_ref()
        .is_none_or(|d| parsed.sql_literal(d.get_ref()).is_ok());
    if table.read_only
        && default_fits
        && let Err(expected) = parsed.rust_default(table.default.as_ref().map(Spanned::get_ref), Some(""))
    {
        out.push(
            Diagnostic::error(
                Code::E028,
                format!("read-only field `{}` has no starting value", field.get_ref()),
            )
            .at(table.ty.span(), "read_only = true")
            .help(expected),
        );
    }
    index_fits(field, table, &parsed, out);
    if table.replaced_values.is_empty() {
        return;
    }
    let BaseType::Enum { variants } = &parsed.base else {
        let first = table.replaced_values.first().map(|(old, _)| old);
        out.push(
            Diagnostic::error(Code::E028, format!("`{}` is not an enum", field.get_ref()))
                .at_opt(first.map(Spanned::span), "only enum fields replace values")
                .help("remove `replaced_values`"),
        );
        return;
    };
    for (old, new) in &table.replaced_values {
        if variants.contains(old.get_ref()) {
            out.push(
                Diagnostic::error(
                    Code::E028,
                    format!("`{}` is still a value of `{}`", old.get_ref(), field.get_ref()),
                )
                .at(old.span(), "not removed")
                .help("list only values removed from the enum"),
            );
        }
        if !variants.contains(new.get_ref()) {
            let mut d = Diagnostic::error(
                Code::E028,
                format!("`{}` is not a value of `{}`", new.get_ref(), field.get_ref()),
            )
            .at(new.span(), "unknown value");
            d = match did_you_mean(new.get_ref(), variants.iter().map(String::as_str)) {
                Some(known) => d.help(format!("did you mean `{known}`?")),
                None => d.help(format!("replace it with one of: {}", variants.join(", "))),
            };
            out.push(d);
        }
    }
}

pub(super) fn field_name(field: &Spanned<String>, entity: bool, out: &mut Diagnostics) {
    let text = field.get_ref();
    if let Some((label, help)) = names::too_long(text) {
        out.push(
            Diagnostic::error(Code::E021, format!("field name `{text}` is too long"))
                .at(field.span(), label)
                .help(help),
        );
    } else if !names::is_field_name(text) {
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

pub(super) fn field_type(ty: &Spanned<String>, entities: &[&str], out: &mut Diagnostics) {
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
                    } else if let Some((label, help)) = names::too_long(variant) {
                        out.push(
                            Diagnostic::error(Code::E021, format!("enum variant `{variant}` is too long"))
                                .at(ty.span(), label)
                                .help(help),
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
