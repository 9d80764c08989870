//! Applies what must stay stable across generations to a freshly resolved workspace: proto
//! field and enum numbers, and the migration history. Input: the state recorded in
//! `fleet.lock`; output: the workspace with numbers and migrations filled in, and the state to
//! record next. Deterministic: the same manifest and state always give the same result.

use super::migrations::{Column, DropRequest, Index, TableRename, Wanted};
use super::state::{Numbering, State};
use super::{Field, MigrationFile, Service, SystemNumbers, Workspace};
use crate::error::Error;

/// Fills numbers and migrations into `workspace` from `previous`, dropping the retired
/// tables and columns `drops` names; returns the new state.
///
/// # Errors
/// [`Error::Schema`] when a change needs a decision in the manifest (see
/// [`super::migrations::History::advance`]), [`Error::Usage`] for a drop of something not
/// retired.
pub fn stabilize(workspace: &mut Workspace, previous: &State, drops: &[DropRequest]) -> Result<State, Error> {
    drops_name_databases(workspace, drops)?;
    let mut next = State::default();
    let mut problems = crate::diagnostic::Diagnostics::default();
    for service in &mut workspace.services {
        let package = service.proto_package.clone();
        for entity in &mut service.entities {
            let mut names: Vec<&str> = vec!["id"];
            names.extend(entity.fields.iter().map(|f| f.name.as_str()));
            names.extend(["created_at", "updated_at", "version"]);
            let key = format!("{package}.{}", entity.name);
            // A renamed entity's message keeps the numbers of its old name (the wire carries
            // numbers, not message names), unless the new name has numbers of its own.
            let old = entity.renamed_from.as_ref().map(|r| format!("{package}.{}", r.name));
            let known = previous
                .messages
                .get(&key)
                .or_else(|| old.and_then(|old| previous.messages.get(&old)));
            let numbering = renumber(known, &names);
            entity.system_numbers = SystemNumbers {
                id: numbering.numbers["id"],
                created_at: numbering.numbers["created_at"],
                updated_at: numbering.numbers["updated_at"],
                version: numbering.numbers["version"],
            };
            let renamed = entity
                .renamed_from
                .as_ref()
                .map(|r| (entity.name.as_str(), r.name.as_str()));
            apply_fields(&mut entity.fields, &numbering, &package, renamed, previous, &mut next);
            entity.reserved_numbers = numbering.reserved_numbers.iter().copied().collect();
            entity.reserved_names = numbering.reserved_names.iter().cloned().collect();
            next.messages.insert(key, numbering);
        }
        for event in &mut service.events {
            let reserved = number_message(&event.name, &mut event.fields, &package, previous, &mut next);
            (event.reserved_numbers, event.reserved_names) = reserved;
        }
        for operation in &mut service.operations {
            number_operation(operation, &package, previous, &mut next);
        }
        if service.database.stores_data() {
            let wanted = wanted_tables(service);
            let drops: Vec<&DropRequest> = drops.iter().filter(|d| d.service == service.name).collect();
            let advanced = previous
                .migrations
                .get(&service.name)
                .cloned()
                .unwrap_or_default()
                .advance_renaming(
                    &service.name,
                    &table_renames(service),
                    &wanted,
                    &versioned_tables(service),
                    &wanted_indexes(service),
                    &drops,
                );
            // Every service's schema problems are reported together.
            let history = match advanced {
                Ok(history) => history,
                Err(Error::Schema(found)) => {
                    problems.extend(found.items);
                    continue;
                }
                Err(other) => return Err(other),
            };
            for entity in &mut service.entities {
                let fields: Vec<String> = entity.fields.iter().map(|f| f.name.clone()).collect();
                entity.sql = super::store_sql::StoreSql::new(&entity.table, &fields, &entity.filters, &history);
            }
            service.migrations = history
                .applied
                .iter()
                .map(|m| MigrationFile {
                    version: m.version,
                    name: m.name.clone(),
                    file: m.file_name(),
                    sql: m.sql(),
                })
                .collect();
            if !history.applied.is_empty() {
                next.migrations.insert(service.name.clone(), history);
            }
        }
    }
    if problems.has_errors() {
        problems.sort();
        return Err(Error::Schema(problems));
    }
    // Numbering of messages that no longer exist is kept, so a message brought back later
    // does not reuse numbers its old clients may still send.
    for (key, numbering) in &previous.messages {
        next.messages
            .entry(key.clone())
            .or_insert_with(|| numbering.assign(&[], 1));
    }
    for (key, numbering) in &previous.enums {
        next.enums
            .entry(key.clone())
            .or_insert_with(|| numbering.assign(&[], 1));
    }
    Ok(next)
}

/// Refuses a drop request for a service that is not in the manifest or has no database.
fn drops_name_databases(workspace: &Workspace, drops: &[DropRequest]) -> Result<(), Error> {
    let stores = |service: &str| {
        workspace
            .services
            .iter()
            .any(|s| s.name == service && s.database.stores_data())
    };
    match drops.iter().find(|d| !stores(&d.service)) {
        Some(drop) => Err(Error::usage(
            format!("cannot drop `{drop}`: no service `{}` with a database", drop.service),
            Some("name a service of fleet.toml that has a database: SERVICE.TABLE or SERVICE.TABLE.COLUMN"),
        )),
        None => Ok(()),
    }
}

/// The tables a service's database must have (table → columns, in entity order): its
/// entities', then its event tables.
pub(crate) fn wanted_tables(service: &Service) -> Vec<(String, Vec<Wanted>)> {
    service
        .entities
        .iter()
        .map(|e| {
            let columns = e
                .fields
                .iter()
                .map(|f| Wanted {
                    column: Column::new(&f.name, &f.spec),
                    default: f.default_sql.clone(),
                    renamed_from: f.renamed_from.clone(),
                    replaced_values: f.replaced_values.clone(),
                    unique: f.unique,
                    name_span: f.name_span.clone(),
                    type_span: f.type_span.clone(),
                    runtime: false,
                })
                .collect();
            (e.table.clone(), columns)
        })
        .chain(
            messaging_tables(service)
                .into_iter()
                .map(|(table, columns)| (table, columns.into_iter().map(Wanted::plain).collect())),
        )
        .collect()
}

/// The tables the manifest declares renamed, from their entities' `renamed_from`.
fn table_renames(service: &Service) -> Vec<TableRename> {
    service
        .entities
        .iter()
        .filter_map(|e| {
            let old = e.renamed_from.as_ref()?;
            Some(TableRename {
                from: old.table.clone(),
                to: e.table.clone(),
                entity: e.name.clone(),
                old_entity: old.name.clone(),
                span: old.span.clone(),
            })
        })
        .collect()
}

/// The tables with a `version` column: every entity's (the event tables are written once).
fn versioned_tables(service: &Service) -> std::collections::BTreeSet<String> {
    service.entities.iter().map(|e| e.table.clone()).collect()
}

/// The event tables a service needs besides its entities' (their names cannot clash with an
/// entity's table, which is always a plural): the transactional outbox of events it publishes
/// (written in the same transaction as the change, published by a relay) and the inbox of
/// events it consumed (keyed by event id, so a redelivered event is handled once).
fn messaging_tables(service: &Service) -> Vec<(String, Vec<Column>)> {
    let column = Column::new;
    let mut tables = Vec::new();
    if service.messaging && !service.publishes.is_empty() {
        tables.push((
            OUTBOX_TABLE.to_owned(),
            vec![
                column("subject", "string"),
                // The event's protobuf encoding, in hex: one text type for every database.
                column("payload", "text"),
                column("position", "int64"),
                column("published_at", "timestamp?"),
                // The W3C trace context of the code that published the event.
                column("traceparent", "string?"),
                // Who caused the event: the token subject of the request that published it,
                // or of the event whose handler did.
                column("caused_by", "string?"),
            ],
        ));
    }
    if service.messaging && !service.subscribes.is_empty() {
        tables.push((INBOX_TABLE.to_owned(), vec![column("subject", "string")]));
    }
    tables
}

/// The indexes a service's database must have besides its tables' keys and unique fields: one
/// on each column lists filter by (a unique field's index serves that already), the keys and
/// indexes entities declare over several columns, and the
/// relay's, on the outbox rows not yet published (a partial index, so it stays as small as the
/// backlog while published rows wait to be cleaned up).
pub(crate) fn wanted_indexes(service: &Service) -> Vec<Index> {
    let mut indexes: Vec<Index> = service
        .entities
        .iter()
        .flat_map(|e| {
            let filters = e.fields.iter().filter(|f| f.filter && !f.unique).map(|f| Index {
                table: e.table.clone(),
                name: super::migrations::filter_index_name(&e.table, &f.name),
                columns: vec![f.name.clone()],
                where_null: None,
                unique: false,
            });
            let keys = e.keys.iter().map(|key| Index {
                table: e.table.clone(),
                name: key.name.clone(),
                columns: key.columns.clone(),
                where_null: None,
                unique: key.unique,
            });
            filters.chain(keys)
        })
        .collect();
    // An index of one filtered field declared again in `indexes` is the same index.
    let mut names = std::collections::BTreeSet::new();
    indexes.retain(|index| names.insert(index.name.clone()));
    if service.messaging && !service.publishes.is_empty() {
        indexes.push(Index {
            table: OUTBOX_TABLE.to_owned(),
            name: format!("{OUTBOX_TABLE}_unpublished"),
            columns: vec!["position".to_owned(), "id".to_owned()],
            where_null: Some("published_at".to_owned()),
            unique: false,
        });
    }
    indexes
}

/// Table names of the event outbox and inbox.
pub(crate) const OUTBOX_TABLE: &str = "outbox";
pub(crate) const INBOX_TABLE: &str = "inbox";

/// The numbering of `names` (message fields or enum values, numbered from 1), continuing
/// what the previous generation handed out, if anything.
fn renumber(previous: Option<&Numbering>, names: &[&str]) -> Numbering {
    previous.map_or_else(
        || Numbering::default().assign(names, 1),
        |numbering| numbering.assign(names, 1),
    )
}

/// Numbers an operation's messages: its request, and its response, whether fields of its own
/// or the members of an entity, a page or an empty answer.
fn number_operation(operation: &mut super::Operation, package: &str, previous: &State, next: &mut State) {
    for message in operation.messages_mut() {
        let reserved = number_message(&message.proto, &mut message.fields, package, previous, next);
        (message.reserved_numbers, message.reserved_names) = reserved;
    }
    // A response that is not fields of its own is numbered all the same, so that an
    // output changed from fields to an entity (or back) never reuses a number.
    if operation.output.is_none() {
        let members = operation.response_members();
        let names: Vec<&str> = members.iter().map(String::as_str).collect();
        let key = format!("{package}.{}Response", operation.pascal);
        let numbering = renumber(previous.messages.get(&key), &names);
        operation.response_numbers = numbering.numbers.clone();
        operation.response_reserved_numbers = numbering.reserved_numbers.iter().copied().collect();
        operation.response_reserved_names = numbering.reserved_names.iter().cloned().collect();
        next.messages.insert(key, numbering);
    }
}

/// Numbers the fields of message `name` (an event, or an operation's request or response)
/// and records it in `next`; returns the numbers and names it reserves.
fn number_message(
    name: &str,
    fields: &mut [Field],
    package: &str,
    previous: &State,
    next: &mut State,
) -> (Vec<u32>, Vec<String>) {
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let key = format!("{package}.{name}");
    let numbering = renumber(previous.messages.get(&key), &names);
    apply_fields(fields, &numbering, package, None, previous, next);
    let reserved = (
        numbering.reserved_numbers.iter().copied().collect(),
        numbering.reserved_names.iter().cloned().collect(),
    );
    next.messages.insert(key, numbering);
    reserved
}

/// Numbers `fields` and their enums; `renamed` is (owner, previous owner) of a renamed entity,
/// whose enums keep the numbers they had under the previous owner's name.
fn apply_fields(
    fields: &mut [Field],
    numbering: &Numbering,
    package: &str,
    renamed: Option<(&str, &str)>,
    previous: &State,
    next: &mut State,
) {
    for field in fields {
        field.number = numbering.numbers[&field.name];
        if let Some(enum_name) = &field.map.enum_name {
            let key = format!("{package}.{enum_name}");
            let old = renamed.and_then(|(owner, old_owner)| {
                let rest = enum_name.strip_prefix(owner)?;
                previous.enums.get(&format!("{package}.{old_owner}{rest}"))
            });
            let names: Vec<&str> = field.enum_values.iter().map(|v| v.name.as_str()).collect();
            let values = renumber(previous.enums.get(&key).or(old), &names);
            for value in &mut field.enum_values {
                value.number = values.numbers[&value.name];
            }
            field.enum_reserved = values.reserved_numbers.iter().copied().collect();
            next.enums.insert(key, values);
        }
    }
}
