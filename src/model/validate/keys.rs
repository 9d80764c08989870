//! An entity's keys and indexes over several fields (`unique = [["order_id", "kind"]]`,
//! `indexes = [["customer_id", "placed_at"]]`): each names fields the entity has, once, none
//! of them a list, and no two say the same thing.

use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::schema::{EntitySpec, FieldSpec};
use crate::model::types;

/// The columns every entity has that a key or an index may name besides its fields.
const SYSTEM_COLUMNS: [&str; 3] = ["id", "created_at", "updated_at"];

pub(super) fn keys_of_entity(name: &Spanned<String>, entity: &EntitySpec, out: &mut Diagnostics) {
    let entity_name = name.get_ref();
    let mut seen: Vec<(&str, Vec<&str>, std::ops::Range<usize>)> = Vec::new();
    let lists = entity
        .unique
        .iter()
        .map(|list| ("unique", list))
        .chain(entity.indexes.iter().map(|list| ("indexes", list)));
    for (kind, list) in lists {
        let names: Vec<&str> = list.get_ref().iter().map(|n| n.get_ref().as_str()).collect();
        if names.is_empty() {
            out.push(
                Diagnostic::error(Code::E035, format!("an empty list in `{kind}` of `{entity_name}`"))
                    .at(list.span(), "no fields")
                    .help("name the fields, e.g. `[\"order_id\", \"kind\"]`, or remove the list"),
            );
            continue;
        }
        let mut fine = true;
        for (index, field) in list.get_ref().iter().enumerate() {
            fine &= field_fits(entity_name, entity, field, out);
            if names[..index].contains(&field.get_ref().as_str()) {
                fine = false;
                out.push(
                    Diagnostic::error(
                        Code::E035,
                        format!("`{}` is named twice in one list of `{kind}`", field.get_ref()),
                    )
                    .at(field.span(), "again")
                    .help("name each field once"),
                );
            }
        }
        if kind == "unique" && names.len() == 1 {
            let ty = entity
                .fields
                .get(names[0])
                .map_or_else(|| "...".to_owned(), |spec| FieldSpec::type_written(spec).into_inner());
            out.push(
                Diagnostic::error(Code::E035, format!("a key of one field in `unique` of `{entity_name}`"))
                    .at(list.span(), "one field")
                    .help(format!(
                        "write `{} = {{ type = \"{ty}\", unique = true }}` on the field instead",
                        names[0]
                    )),
            );
            continue;
        }
        if !fine {
            continue;
        }
        // A unique key is the same key in any order; an index serves queries in its order, and
        // a unique key's index already serves those an index of the same order would.
        let same = |(other_kind, other, _): &&(&str, Vec<&str>, std::ops::Range<usize>)| match (kind, *other_kind) {
            ("unique", "unique") => sorted(other) == sorted(&names),
            _ => *other == names,
        };
        if let Some((other_kind, _, first)) = seen.iter().find(same) {
            let help = if *other_kind == "unique" && kind == "indexes" {
                "remove it: the unique key's index serves the same queries"
            } else {
                "remove the repeat"
            };
            out.push(
                Diagnostic::error(Code::E035, format!("`{kind}` of `{entity_name}` repeats a list"))
                    .at(list.span(), "the same fields")
                    .also(first.clone(), "already here")
                    .help(help),
            );
            continue;
        }
        seen.push((kind, names, list.span()));
    }
}

fn sorted<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names
}

/// Whether `field` names a field of the entity (or a column every entity has) that a key can
/// hold: one value, not a list (a list is one JSON text).
fn field_fits(entity_name: &str, entity: &EntitySpec, field: &Spanned<String>, out: &mut Diagnostics) -> bool {
    let text = field.get_ref().as_str();
    if SYSTEM_COLUMNS.contains(&text) {
        return true;
    }
    let Some(spec) = entity.fields.get(text) else {
        let candidates = entity.fields.keys().map(|k| k.get_ref().as_str()).chain(SYSTEM_COLUMNS);
        let help = match did_you_mean(text, candidates) {
            Some(known) => format!("did you mean `{known}`?"),
            None => format!(
                "name fields of `{entity_name}` as fleet.toml has them now (a removed field is retired, and no key may hold it)"
            ),
        };
        out.push(
            Diagnostic::error(Code::E035, format!("`{entity_name}` has no field `{text}`"))
                .at(field.span(), "unknown field")
                .help(help),
        );
        return false;
    };
    // An unparsable type is reported where it is written.
    let list = types::parse(FieldSpec::type_written(spec).get_ref()).is_ok_and(|t| t.list);
    if list {
        out.push(
            Diagnostic::error(
                Code::E035,
                format!("list field `{text}` cannot be in a key or an index"),
            )
            .at(field.span(), "a list")
            .help("leave it out: its values are stored as one JSON text"),
        );
    }
    !list
}
