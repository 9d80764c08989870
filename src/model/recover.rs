//! What `fleet.lock`'s state must agree with in the workspace itself: the proto files say
//! which field and enum numbers clients already use, and the migration files say which
//! migrations databases already applied. This module reads those texts back into a
//! [`State`] ([`parse_proto`], [`parse_migration`]) and reconciles it with the lock's
//! ([`reconcile`]): numbers and migrations found only on disk are adopted (so a lost or stale
//! lock never leads to a reused number or a replaced migration), and a disagreement no
//! generation can settle is an [`Inconsistency`]. Pure: the caller reads the files.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::error::{Inconsistency, InconsistencyKind};

use super::migrations::{Column, History, Migration, Op};
use super::state::{Numbering, State};

const RECOVER_HELP: &str = "restore fleet.lock from version control; if it is lost, delete it and rebuild it from the workspace with `fleetwright generate --recover-lock`";

/// The numbering one proto file declares, by fully qualified message and enum name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtoNumbers {
    pub messages: BTreeMap<String, Numbering>,
    pub enums: BTreeMap<String, Numbering>,
    /// The request and response messages of rpcs: only those of operations carry numbers
    /// the model keeps (see [`ProtoNumbers::keep_operation_messages`]).
    pub rpc_messages: BTreeMap<String, Numbering>,
}

impl ProtoNumbers {
    /// Moves the rpc messages `numbered` says the model numbers (those of operations) among
    /// the messages, and forgets the others (CRUD requests, numbered by the templates).
    #[must_use]
    pub fn keep_operation_messages(mut self, numbered: &dyn Fn(&str) -> bool) -> Self {
        for (key, numbering) in std::mem::take(&mut self.rpc_messages) {
            if numbered(&key) {
                self.messages.insert(key, numbering);
            }
        }
        self
    }
}

/// Reads the field numbers of a proto file fleetwright generated: its entity and event
/// messages (not the request and response messages of its RPCs, which are numbered by the
/// templates) with their `reserved` numbers and names, and its enums, with value names
/// turned back into the manifest's variants (`ORDER_STATUS_PAID` of `OrderStatus` → `paid`).
/// Lines it does not understand are skipped: the numbers it does read are what matters.
#[must_use]
pub fn parse_proto(text: &str) -> ProtoNumbers {
    let mut package = String::new();
    let mut rpc_types = BTreeSet::new();
    let mut blocks: Vec<(bool, String, Numbering)> = Vec::new();
    let mut open: Option<(bool, String, Numbering)> = None;
    let mut depth = 0usize;
    for raw in text.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("package ") {
            rest.trim_end_matches(';').trim().clone_into(&mut package);
            continue;
        }
        if let Some(rest) = line.strip_prefix("rpc ") {
            for part in rest.split(['(', ')']).skip(1).step_by(2) {
                rpc_types.insert(part.trim().trim_start_matches("stream ").trim().to_owned());
            }
            continue;
        }
        if depth == 0 {
            let header = line
                .strip_prefix("message ")
                .map(|r| (false, r))
                .or_else(|| line.strip_prefix("enum ").map(|r| (true, r)));
            if let Some((is_enum, rest)) = header {
                let name = rest
                    .split(|c: char| c == '{' || c.is_whitespace())
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if line.ends_with('}') {
                    blocks.push((is_enum, name, Numbering::default()));
                } else {
                    open = Some((is_enum, name, Numbering::default()));
                    depth = 1;
                }
                continue;
            }
            if line.ends_with('{') {
                depth = 1;
            }
            continue;
        }
        if line.starts_with('}') {
            depth -= 1;
            if depth == 0
                && let Some(block) = open.take()
            {
                blocks.push(block);
            }
            continue;
        }
        if line.ends_with('{') {
            depth += 1;
            continue;
        }
        let Some((_, _, numbering)) = open.as_mut().filter(|_| depth == 1) else {
            continue;
        };
        read_member(line, numbering);
    }
    let mut out = ProtoNumbers::default();
    for (is_enum, name, mut numbering) in blocks {
        let key = format!("{package}.{name}");
        if is_enum {
            use heck::ToShoutySnakeCase;
            let prefix = format!("{}_", name.to_shouty_snake_case());
            numbering.numbers = numbering
                .numbers
                .into_iter()
                .filter(|(_, number)| *number != 0)
                .map(|(value, number)| (value.strip_prefix(&prefix).unwrap_or(&value).to_lowercase(), number))
                .collect();
            // The UNSPECIFIED value is not a variant.
            numbering.reserved_numbers.remove(&0);
            out.enums.insert(key, numbering);
        } else if rpc_types.contains(&name) {
            out.rpc_messages.insert(key, numbering);
        } else {
            out.messages.insert(key, numbering);
        }
    }
    out
}

/// One line inside a message or enum: a `reserved` list, or a field or value with its number.
fn read_member(line: &str, numbering: &mut Numbering) {
    if let Some(rest) = line.strip_prefix("reserved ") {
        for item in rest.trim_end_matches(';').split(',') {
            let item = item.trim();
            if let Some(name) = item.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
                numbering.reserved_names.insert(name.to_owned());
            } else if let Some((low, high)) = item.split_once(" to ") {
                if let (Ok(low), Ok(high)) = (low.trim().parse::<u32>(), high.trim().parse::<u32>()) {
                    numbering
                        .reserved_numbers
                        .extend(low..=high.min(low.saturating_add(10_000)));
                }
            } else if let Ok(number) = item.parse() {
                numbering.reserved_numbers.insert(number);
            }
        }
        return;
    }
    let Some((left, right)) = line.trim_end_matches(';').split_once('=') else {
        return;
    };
    let (Some(name), Ok(number)) = (left.split_whitespace().last(), right.trim().parse::<u32>()) else {
        return;
    };
    numbering.numbers.insert(name.to_owned(), number);
}

/// The header every migration file starts with, then its SQL.
const MIGRATION_HEADER_LINES: usize = 2;

/// Reads a migration file fleetwright wrote (`0002_add_orders_note.sql`) back into the
/// schema operations it records. `spec_of(table, column)` names the manifest type of a
/// column when the manifest still has it; SQL alone does not tell `string` from `uuid`.
/// Only an exact reading is accepted: the operations must render to the file's SQL again.
///
/// # Errors
/// A sentence saying why the file is not a migration fleetwright wrote.
pub fn parse_migration(
    file_name: &str,
    text: &str,
    spec_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Migration, String> {
    use super::migrations::{POSTGRES_ONLY, SQLITE_ONLY};
    let (version, name) = migration_file_name(file_name).ok_or("its name is not `NNNN_name.sql`")?;
    let body = migration_body(text);
    let mut ops = Vec::new();
    let mut lines = body.lines().peekable();
    // PostgreSQL's form of the statement on the next line, which is SQLite's.
    let mut postgres_form: Option<&str> = None;
    while let Some(line) = lines.next() {
        // A statement PostgreSQL runs in its own way (a native type) comes before SQLite's,
        // which says what it does.
        let next_is_sqlite = lines.peek().is_some_and(|next| next.ends_with(SQLITE_ONLY));
        if let Some(postgres) = line.strip_suffix(POSTGRES_ONLY).filter(|_| next_is_sqlite) {
            postgres_form = Some(postgres.trim_end());
            continue;
        }
        let (line, postgres) = match line.strip_suffix(SQLITE_ONLY) {
            Some(statement) => (statement.trim_end(), postgres_form.take()),
            None => (line, None),
        };
        let native = postgres.is_some();
        if let Some(table) = line.strip_prefix("CREATE TABLE ").and_then(|r| r.strip_suffix(" (")) {
            ops.push(created_table(table, &mut lines, spec_of)?);
        } else if let Some(statement) = line.strip_suffix(POSTGRES_ONLY) {
            ops.push(
                constraint(statement.trim_end())
                    .ok_or_else(|| format!("`{line}` is not a constraint fleetwright makes"))?,
            );
        } else if let Some(rest) = line.strip_prefix("ALTER TABLE ") {
            // `ALTER TABLE "t" ADD COLUMN "c" ` is the same in both forms: the types follow.
            let postgres_type = postgres
                .and_then(|p| p.split_once(" ADD COLUMN "))
                .and_then(|(_, column)| column.split_once(' '))
                .map(|(_, ty)| ty.trim_end_matches(';'));
            ops.push(altered_table(line, rest, postgres_type, spec_of)?);
        } else if let Some(rest) = line
            .strip_prefix("CREATE UNIQUE INDEX ")
            .and_then(|r| r.strip_suffix(';'))
        {
            ops.push(created_unique_index(rest).ok_or_else(|| format!("`{line}` is not an index fleetwright makes"))?);
        } else if let Some(index) = line.strip_prefix("DROP INDEX ").and_then(|r| r.strip_suffix(';')) {
            ops.push(Op::DropUnique { index: unquote(index)? });
        } else if let Some(rest) = line.strip_prefix("UPDATE ") {
            let mut op = replaced_value(rest).ok_or_else(|| format!("`{line}` is not a change fleetwright makes"))?;
            if let Op::ReplaceValue {
                native: list_native, ..
            } = &mut op
            {
                *list_native = native;
            }
            ops.push(op);
        } else if let Some(table) = line.strip_prefix("DROP TABLE ").and_then(|r| r.strip_suffix(';')) {
            ops.push(Op::DropTable { table: unquote(table)? });
        } else if let Some(rest) = line.strip_prefix("CREATE INDEX ").and_then(|r| r.strip_suffix(';')) {
            ops.push(created_index(rest).ok_or_else(|| format!("`{line}` is not an index fleetwright makes"))?);
        } else if !line.trim().is_empty() {
            return Err(format!("`{line}` is not a statement fleetwright writes"));
        }
    }
    enum_values_from_checks(&mut ops);
    let migration = Migration { version, name, ops };
    if migration.sql().trim_end() == body.trim_end() {
        Ok(migration)
    } else {
        Err("its SQL differs from what fleetwright writes (was it edited?)".to_owned())
    }
}

/// The table a `CREATE TABLE "table" (` line and the column lines after it (consumed from
/// `lines`, up to the closing `);`) create.
fn created_table<'a>(
    table: &str,
    lines: &mut impl Iterator<Item = &'a str>,
    spec_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Op, String> {
    use super::migrations::{POSTGRES_ONLY, SQLITE_ONLY};
    let table = unquote(table)?;
    let mut columns = Vec::new();
    let mut versioned = false;
    let mut native_ids = false;
    // The column the line before declared in PostgreSQL's native type, and that type.
    let mut native_column: Option<(String, String)> = None;
    for column in lines.by_ref() {
        if column == ");" {
            break;
        }
        if let Some(postgres) = column.strip_suffix(POSTGRES_ONLY) {
            let postgres = postgres.trim().trim_end_matches(',');
            let (name, sql) = postgres.split_once(' ').ok_or("a column has no type")?;
            native_column = Some((unquote(name)?, sql.to_owned()));
            continue;
        }
        let column = column.strip_suffix(SQLITE_ONLY).unwrap_or(column);
        let column = column.trim().trim_end_matches(',');
        let (name, sql) = column.split_once(' ').ok_or("a column has no type")?;
        let name = unquote(name)?;
        let postgres = native_column
            .take()
            .filter(|(native, _)| *native == name)
            .map(|(_, sql)| sql);
        let native = postgres.is_some();
        if name == "id" {
            native_ids = native;
        }
        if matches!(name.as_str(), "id" | "created_at" | "updated_at") {
            continue;
        }
        if name == "version" {
            versioned = true;
            continue;
        }
        let spec = spec_for(&table, &name, (sql, postgres.as_deref()), false, spec_of)?;
        columns.push(Column {
            native,
            ..Column::new(name, spec)
        });
    }
    Ok(Op::CreateTable {
        table,
        columns,
        versioned,
        native: native_ids,
    })
}

/// The change an `ALTER TABLE` statement (`line`; `rest` after `ALTER TABLE `) makes.
/// `postgres_type` is the added column's type (and default) in PostgreSQL's form, when it is
/// native.
fn altered_table(
    line: &str,
    rest: &str,
    postgres_type: Option<&str>,
    spec_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Op, String> {
    let (table, change) = rest.split_once(' ').ok_or("an ALTER TABLE names no change")?;
    let table = unquote(table)?;
    let change = change.strip_suffix(';').ok_or("an ALTER TABLE does not end with `;`")?;
    if change.starts_with("ADD COLUMN \"version\" ") {
        // `version` is no field name: it is always the concurrency column.
        Ok(Op::AddVersion { table })
    } else if let Some(column) = change.strip_prefix("ADD COLUMN ") {
        added_column(table, column, postgres_type, spec_of)
    } else if let Some(to) = change.strip_prefix("RENAME TO ") {
        Ok(Op::RenameTable {
            from: table,
            to: unquote(to)?,
        })
    } else if let Some(names) = change.strip_prefix("RENAME COLUMN ") {
        let (from, to) = names.split_once(" TO ").ok_or("a RENAME COLUMN names no new name")?;
        Ok(Op::RenameColumn {
            table,
            from: unquote(from)?,
            to: unquote(to)?,
        })
    } else if let Some(column) = change.strip_prefix("DROP COLUMN ") {
        Ok(Op::DropColumn {
            table,
            column: unquote(column)?,
        })
    } else {
        Err(format!("`{line}` is not a change fleetwright makes"))
    }
}

/// The column an `ADD COLUMN` (after `ADD COLUMN `, without `;`) of `table` adds.
fn added_column(
    table: String,
    column: &str,
    postgres: Option<&str>,
    spec_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Op, String> {
    let (name, sql) = column.split_once(' ').ok_or("an added column has no type")?;
    let name = unquote(name)?;
    let native = postgres.is_some();
    // The type's own default (older histories), else the manifest's. The manifest's type comes
    // first: an enum added with its first value as default and since changed is the
    // manifest's enum, not one of that value alone.
    let manifest_with_default = sql.rsplit_once(" DEFAULT ").and_then(|(bare, literal)| {
        let spec = spec_of(&table, &name)?;
        let own = super::migrations::column_type(&spec, true) == sql;
        let same = super::migrations::column_type(&spec, false) == bare
            && postgres.is_none_or(|postgres| native_form(&spec, false, Some(literal)).as_deref() == Some(postgres));
        (!own && same).then(|| (spec, Some(literal.to_owned())))
    });
    let (spec, default) = match manifest_with_default {
        Some(found) => found,
        None => match spec_for(&table, &name, (sql, postgres), true, spec_of) {
            Ok(spec) => (spec, None),
            Err(why) => {
                let (sql, literal) = sql.rsplit_once(" DEFAULT ").ok_or(why)?;
                let postgres = postgres.and_then(|p| p.rsplit_once(" DEFAULT ")).map(|(bare, _)| bare);
                (
                    spec_for(&table, &name, (sql, postgres), false, spec_of)?,
                    Some(literal.to_owned()),
                )
            }
        },
    };
    Ok(Op::AddColumn {
        table,
        column: Column {
            native,
            ..Column::new(name, spec)
        },
        default,
    })
}

/// PostgreSQL's native form of a column of type `spec` (with its type's default, or the
/// SQLite-form `literal`), as fleetwright writes it; None when the type has none.
fn native_form(spec: &str, with_default: bool, literal: Option<&str>) -> Option<String> {
    let column = Column {
        native: true,
        ..Column::new("", spec)
    };
    match literal {
        Some(literal) => {
            let native = column.native_type()?;
            let bare = super::migrations::native_column_type(&column, false)?;
            Some(format!("{bare} DEFAULT {}", native.literal(literal)))
        }
        None => super::migrations::native_column_type(&column, with_default),
    }
}

/// An enum column's SQL type does not tell its values; the check made with the column, in the
/// same migration, does: the column's spec takes them, so the history reads back exactly.
fn enum_values_from_checks(ops: &mut [Op]) {
    let checks: Vec<(String, String, Vec<String>)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::AddCheck {
                table, column, values, ..
            } => Some((table.clone(), column.clone(), values.clone())),
            _ => None,
        })
        .collect();
    for (table, column, values) in checks {
        let spec = ops.iter_mut().find_map(|op| match op {
            Op::CreateTable { table: t, columns, .. } if *t == table => {
                columns.iter_mut().find(|c| c.name == column).map(|c| &mut c.spec)
            }
            Op::AddColumn {
                table: t, column: c, ..
            } if *t == table && c.name == column => Some(&mut c.spec),
            _ => None,
        });
        if let Some(spec) = spec {
            *spec = with_values(spec, &values);
        }
    }
}

/// An enum column's spec with `values` (optional if it was); any other spec as it is.
fn with_values(spec: &str, values: &[String]) -> String {
    match super::types::parse(spec) {
        Ok(ty) if matches!(ty.base, super::BaseType::Enum { .. }) && !ty.list => {
            format!("enum({}){}", values.join(", "), if ty.optional { "?" } else { "" })
        }
        _ => spec.to_owned(),
    }
}

/// The index a `CREATE UNIQUE INDEX` statement (between `CREATE UNIQUE INDEX ` and `;`) makes:
/// on one column a unique field's, on several an entity's unique key.
fn created_unique_index(rest: &str) -> Option<Op> {
    let Some(Op::CreateIndex {
        table,
        name,
        mut columns,
        where_null: None,
        ..
    }) = created_index(rest)
    else {
        return None;
    };
    Some(match columns.len() {
        1 => Op::AddUnique {
            table,
            column: columns.remove(0),
            index: name,
        },
        _ => Op::CreateIndex {
            table,
            name,
            columns,
            where_null: None,
            unique: true,
        },
    })
}

/// The index a `CREATE INDEX` statement (between `CREATE INDEX ` and `;`) makes:
/// `"name" ON "table" ("a", "b")`, optionally followed by ` WHERE "c" IS NULL`.
fn created_index(rest: &str) -> Option<Op> {
    let (name, rest) = rest.split_once(" ON ")?;
    let (table, rest) = rest.split_once(" (")?;
    let (columns, rest) = rest.split_once(')')?;
    let where_null = match rest {
        "" => None,
        condition => Some(unquote(condition.strip_prefix(" WHERE ")?.strip_suffix(" IS NULL")?).ok()?),
    };
    Some(Op::CreateIndex {
        table: unquote(table).ok()?,
        name: unquote(name).ok()?,
        columns: columns.split(", ").map(unquote).collect::<Result<_, _>>().ok()?,
        where_null,
        unique: false,
    })
}

/// The foreign key or check a PostgreSQL-only `ALTER TABLE` statement (without its marker)
/// adds or drops; the caller's re-rendering proves the reading exact.
fn constraint(statement: &str) -> Option<Op> {
    let rest = statement.strip_prefix("ALTER TABLE ")?.strip_suffix(';')?;
    let (table, change) = rest.split_once(' ')?;
    let table = unquote(table).ok()?;
    if let Some(name) = change.strip_prefix("DROP CONSTRAINT ") {
        return Some(Op::DropConstraint {
            table,
            name: unquote(name).ok()?,
        });
    }
    let (name, definition) = change.strip_prefix("ADD CONSTRAINT ")?.split_once(' ')?;
    let name = unquote(name).ok()?;
    let (definition, not_valid) = match definition.strip_suffix(" NOT VALID") {
        Some(definition) => (definition, true),
        None => (definition, false),
    };
    if let Some(rest) = definition.strip_prefix("FOREIGN KEY (") {
        let (column, rest) = rest.split_once(") REFERENCES ")?;
        let references = rest.strip_suffix(" (\"id\") ON DELETE RESTRICT")?;
        return Some(Op::AddForeignKey {
            table,
            name,
            column: unquote(column).ok()?,
            references: unquote(references).ok()?,
            not_valid,
        });
    }
    let (column, values) = definition
        .strip_prefix("CHECK (")?
        .strip_suffix("))")?
        .split_once(" IN (")?;
    Some(Op::AddCheck {
        table,
        name,
        column: unquote(column).ok()?,
        values: values
            .split(", ")
            .map(|v| v.strip_prefix('\'')?.strip_suffix('\'').map(str::to_owned))
            .collect::<Option<_>>()?,
        not_valid,
    })
}

/// The enum value replacement an `UPDATE` statement (after `UPDATE `) makes, in either of
/// the two shapes fleetwright writes; the caller's re-rendering proves the reading exact.
fn replaced_value(rest: &str) -> Option<Op> {
    let (table, rest) = rest.split_once(" SET ")?;
    let (column, rest) = rest.split_once(" = ")?;
    let (table, column) = (unquote(table).ok()?, unquote(column).ok()?);
    if let Some(rest) = rest.strip_prefix("REPLACE(") {
        // REPLACE("c", '"from"', '"to"') WHERE ...
        let mut quoted = rest.split('\'').skip(1).step_by(2);
        let from = quoted.next()?.strip_prefix('"')?.strip_suffix('"')?.to_owned();
        let to = quoted.next()?.strip_prefix('"')?.strip_suffix('"')?.to_owned();
        return Some(Op::ReplaceValue {
            table,
            column,
            from,
            to,
            list: true,
            native: false,
        });
    }
    // 'to' WHERE "c" = 'from';
    let (to, rest) = rest.strip_prefix('\'')?.split_once('\'')?;
    let from = rest.rsplit_once(" = '")?.1.strip_suffix("';")?;
    Some(Op::ReplaceValue {
        table,
        column,
        from: from.to_owned(),
        to: to.to_owned(),
        list: false,
        native: false,
    })
}

/// `0002_add_orders_note.sql` → (2, `add_orders_note`).
#[must_use]
pub fn migration_file_name(file_name: &str) -> Option<(u32, String)> {
    let stem = file_name.strip_suffix(".sql")?;
    let (number, name) = stem.split_once('_')?;
    let valid = number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty();
    Some((number.parse().ok()?, name.to_owned())).filter(|_| valid)
}

/// A migration file's SQL, without the comment fleetwright puts above it (compare it with
/// [`Migration::sql`] without trailing whitespace: the template ends with a blank line).
#[must_use]
pub fn migration_body(text: &str) -> &str {
    let mut rest = text;
    for _ in 0..MIGRATION_HEADER_LINES {
        if rest.starts_with("--") {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        }
    }
    rest
}

fn unquote(name: &str) -> Result<String, String> {
    name.strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .filter(|n| !n.contains('"'))
        .map(str::to_owned)
        .ok_or_else(|| format!("`{name}` is not a quoted name"))
}

/// A manifest type whose SQL is `sql`: the manifest's own when it still matches, else the
/// simplest type with that SQL (the specs differ only in what SQL cannot tell apart).
/// `sql` is the column's type in SQLite's form, with its PostgreSQL form when that differs (a
/// native column).
fn spec_for(
    table: &str,
    column: &str,
    (sql, postgres): (&str, Option<&str>),
    with_default: bool,
    spec_of: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<String, String> {
    let mut candidates: Vec<String> = spec_of(table, column).into_iter().collect();
    candidates.extend(
        [
            "string",
            "string?",
            "int32",
            "int32?",
            "int64",
            "int64?",
            "float64",
            "float64?",
            "uuid",
            "uuid?",
            "timestamp",
            "timestamp?",
            "date",
            "date?",
            "bool",
            "bool?",
            "string[]",
        ]
        .map(str::to_owned),
    );
    // An enum column added later defaults to its first variant.
    if let Some(first) = sql.split(" DEFAULT '").nth(1).and_then(|d| d.strip_suffix('\'')) {
        candidates.push(format!("enum({first})"));
    }
    candidates
        .into_iter()
        .find(|spec| {
            super::migrations::column_type(spec, with_default) == sql
                && postgres.is_none_or(|postgres| native_form(spec, with_default, None).as_deref() == Some(postgres))
        })
        .ok_or_else(|| format!("column `{table}.{column}` has a type fleetwright does not write: `{sql}`"))
}

/// The history a list of migrations (oldest first) leads to, replayed onto `start`.
#[must_use]
pub fn replay(mut start: History, migrations: Vec<Migration>) -> History {
    for migration in migrations {
        for op in &migration.ops {
            match op {
                Op::CreateTable {
                    table,
                    columns,
                    versioned,
                    native,
                } => {
                    start.tables.insert(table.clone(), columns.clone());
                    if *versioned {
                        start.versioned.insert(table.clone());
                    }
                    if *native {
                        start.native.insert(table.clone());
                    }
                }
                Op::AddVersion { table } => {
                    start.versioned.insert(table.clone());
                }
                Op::AddUnique { table, column, index } => {
                    start.unique.insert(format!("{table}.{column}"), index.clone());
                }
                Op::DropUnique { index } => start.unique.retain(|_, name| name != index),
                Op::AddColumn { table, column, .. } => {
                    start.tables.entry(table.clone()).or_default().push(column.clone());
                }
                Op::RenameColumn { table, from, to } => {
                    if let Some(column) = start
                        .tables
                        .get_mut(table)
                        .into_iter()
                        .flatten()
                        .find(|c| c.name == *from)
                    {
                        column.name.clone_from(to);
                    }
                }
                Op::RenameTable { from, to } => {
                    if let Some(columns) = start.tables.remove(from) {
                        start.tables.insert(to.clone(), columns);
                    }
                    if start.versioned.remove(from) {
                        start.versioned.insert(to.clone());
                    }
                    if start.native.remove(from) {
                        start.native.insert(to.clone());
                    }
                    let prefix = format!("{from}.");
                    start.unique = std::mem::take(&mut start.unique)
                        .into_iter()
                        .map(|(key, index)| match key.strip_prefix(&prefix) {
                            Some(column) => (format!("{to}.{column}"), index),
                            None => (key, index),
                        })
                        .collect();
                }
                // The latest check of an enum column says its values (its SQL type does not).
                Op::AddCheck {
                    table, column, values, ..
                } => {
                    if let Some(found) = start
                        .tables
                        .get_mut(table)
                        .into_iter()
                        .flatten()
                        .find(|c| c.name == *column)
                    {
                        found.spec = with_values(&found.spec, values);
                    }
                }
                Op::ReplaceValue { .. }
                | Op::CreateIndex { .. }
                | Op::AddForeignKey { .. }
                | Op::DropConstraint { .. } => {}
                Op::DropColumn { table, column } => {
                    if let Some(columns) = start.tables.get_mut(table) {
                        columns.retain(|c| c.name != *column);
                    }
                }
                Op::DropTable { table } => {
                    start.tables.remove(table);
                    start.versioned.remove(table);
                    start.native.remove(table);
                    start
                        .unique
                        .retain(|key, _| key.split('.').next() != Some(table.as_str()));
                }
            }
        }
        start.applied.push(migration);
    }
    start
}

/// The manifest's type of a column of a service's table, if the manifest still has it.
#[must_use]
pub fn manifest_type(workspace: &super::Workspace, service: &str, table: &str, column: &str) -> Option<String> {
    let service = workspace.service(service)?;
    // A table the manifest renamed is read under its entity's name now.
    let table = service
        .entities
        .iter()
        .find(|e| e.renamed_from.as_ref().is_some_and(|r| r.table == table))
        .map_or(table, |e| e.table.as_str());
    super::stabilize::wanted_tables(service)
        .into_iter()
        .find(|(t, _)| t == table)?
        .1
        .into_iter()
        .find(|w| w.column.name == column)
        .map(|w| w.column.spec)
}

/// What the migrations that `next` adds to `previous` delete, one sentence each
/// (`` `orders`: migration 0004_drop_notes.sql drops table `notes` ... ``), so no generation
/// drops data without saying so.
#[must_use]
pub fn dropped_data(previous: &State, next: &State) -> Vec<String> {
    new_migrations(previous, next, super::migrations::History::drops_after)
        .map(|(service, drop)| format!("`{service}`: {drop}; review it, and back up that data, before it is deployed"))
        .collect()
}

/// What `said(history, since)` says of the migrations each service's history in `next` has
/// beyond the one in `previous`, with the service's name.
fn new_migrations<'a>(
    previous: &'a State,
    next: &'a State,
    said: fn(&super::migrations::History, u32) -> Vec<String>,
) -> impl Iterator<Item = (&'a String, String)> {
    next.migrations.iter().flat_map(move |(service, history)| {
        let since = previous
            .migrations
            .get(service)
            .and_then(|h| h.applied.last())
            .map_or(0, |m| m.version);
        said(history, since)
            .into_iter()
            .map(move |sentence| (service, sentence))
    })
}

/// What the migrations that `next` adds to `previous` rename, one sentence each, so that a
/// rename is never a surprise at deploy time.
#[must_use]
pub fn renamed_data(previous: &State, next: &State) -> Vec<String> {
    new_migrations(previous, next, super::migrations::History::renames_after)
        .map(|(service, rename)| format!("`{service}`: {rename}"))
        .collect()
}

/// The unique keys the migrations that `next` adds to `previous` put on tables that may hold
/// rows, one sentence each, so that duplicates are found before a deploy fails on them.
#[must_use]
pub fn new_keys(previous: &State, next: &State) -> Vec<String> {
    new_migrations(previous, next, super::migrations::History::keys_after)
        .map(|(service, key)| format!("`{service}`: {key}"))
        .collect()
}

/// What `next` retires that `previous` did not, one sentence each, saying that the data
/// stays and how to drop it once no release reads it.
#[must_use]
pub fn retired_data(previous: &State, next: &State) -> Vec<String> {
    next.migrations
        .iter()
        .flat_map(|(service, history)| {
            let before = previous
                .migrations
                .get(service)
                .map(|h| h.retired(service))
                .unwrap_or_default();
            history
                .retired(service)
                .into_iter()
                .filter(move |drop| !before.contains(drop))
                .map(|drop| {
                    let what = match &drop.column {
                        Some(column) => format!("column `{}.{column}` is no longer in fleet.toml", drop.table),
                        None => format!("table `{}` has no entity in fleet.toml any more", drop.table),
                    };
                    format!(
                        "`{}`: {what}: it is retired, its data kept; once no running release reads it, drop it with `fleetwright generate --drop {drop}`",
                        drop.service
                    )
                })
        })
        .collect()
}

/// What the workspace's files say, for [`reconcile`].
#[derive(Debug, Default)]
pub struct OnDisk {
    /// Per proto file (its path): the numbers it declares.
    pub protos: Vec<(String, ProtoNumbers)>,
    /// Per service: its migration files (path, file name, text), in file name order.
    pub migrations: BTreeMap<String, Vec<(String, String, String)>>,
}

/// The state to generate from: the lock's (`None` when there is no lock), with whatever only
/// the disk remembers adopted, and the inconsistencies found on the way. `spec_of(service,
/// table, column)` gives the manifest's type of a column, to read migrations exactly.
#[must_use]
pub fn reconcile(
    lock: Option<&State>,
    disk: &OnDisk,
    spec_of: &dyn Fn(&str, &str, &str) -> Option<String>,
) -> (State, Vec<Inconsistency>) {
    let mut state = lock.cloned().unwrap_or_default();
    let mut found = Vec::new();
    let lock_file = if lock.is_some() { "fleet.lock" } else { "the workspace" };
    for (path, numbers) in &disk.protos {
        for (kind, on_disk, known) in [
            ("message", &numbers.messages, &mut state.messages),
            ("enum", &numbers.enums, &mut state.enums),
        ] {
            for (key, disk_numbering) in on_disk {
                let numbering = known.entry(key.clone()).or_default();
                adopt_numbering(kind, key, path, numbering, disk_numbering, lock.is_some(), &mut found);
            }
        }
    }
    for (service, files) in &disk.migrations {
        let mut history = state.migrations.get(service).cloned().unwrap_or_default();
        let mut adopted = Vec::new();
        for (path, file_name, text) in files {
            let Some((version, _)) = migration_file_name(file_name) else {
                continue;
            };
            let spec = |table: &str, column: &str| spec_of(service, table, column);
            let known = history.applied.iter().find(|m| m.version == version);
            match known {
                // Two branches that each added a migration, merged: both files are here, and the
                // lock (as the merge resolved it) names one of them.
                Some(m) if m.file_name() != *file_name && files.iter().any(|(_, other, _)| *other == m.file_name()) => {
                    found.push(Inconsistency {
                        path: path.clone(),
                        message: format!(
                            "two migrations of `{service}` are numbered {version}: `{}` (in {lock_file}) and this one, as when two branches each added one",
                            m.file_name()
                        ),
                        help: format!(
                            "if this one was never applied to a database you keep, delete it and run `fleetwright generate`: fleet.toml still has its change, which is written again as the next migration; if it was applied, keep it instead and take fleet.lock from its branch, then do the same with `{}`",
                            m.file_name()
                        ),
                        kind: InconsistencyKind::Blocking,
                    });
                }
                Some(m) if m.file_name() != *file_name => found.push(Inconsistency {
                    path: path.clone(),
                    message: format!(
                        "migration {version} of `{service}` is `{}` in {lock_file}, but this file holds another migration {version}",
                        m.file_name()
                    ),
                    help: format!(
                        "databases may have applied either one; keep the one that was deployed, then {RECOVER_HELP}"
                    ),
                    kind: InconsistencyKind::Blocking,
                }),
                Some(m) if migration_body(text).trim_end() != m.sql().trim_end() => found.push(Inconsistency {
                    path: path.clone(),
                    message: format!(
                        "migration {version} of `{service}` was edited: databases that applied it refuse the changed file (its checksum differs)"
                    ),
                    help: "restore it from version control, or delete it and run `fleetwright generate` to write it again; change the schema in fleet.toml instead".to_owned(),
                    kind: InconsistencyKind::Error,
                }),
                Some(_) => {}
                None => {
                    let next = history.applied.last().map_or(1, |m| m.version + 1) + u32::try_from(adopted.len()).unwrap_or(u32::MAX);
                    match parse_migration(file_name, text, &spec) {
                        Ok(migration) if version == next => {
                            if lock.is_some() {
                                found.push(Inconsistency {
                                path: path.clone(),
                                message: format!("migration {version} of `{service}` was missing from {lock_file}; read back from this file"),
                                help: "fleet.lock records it again after `fleetwright generate`".to_owned(),
                                kind: InconsistencyKind::Adopted,
                                });
                            }
                            adopted.push(migration);
                        }
                        Ok(_) => found.push(Inconsistency {
                            path: path.clone(),
                            message: format!(
                                "migration {version} of `{service}` does not follow its history (the next one is {next}), so it is never applied"
                            ),
                            help: format!("if it was deployed, {RECOVER_HELP}; if not, delete it"),
                            kind: InconsistencyKind::Error,
                        }),
                        Err(why) => found.push(Inconsistency {
                            path: path.clone(),
                            message: format!(
                                "`{file_name}` is not in the migration history of `{service}` and cannot be read back: {why}"
                            ),
                            help: "fleetwright applies only the migrations it generated: restore this one from version control, or move your SQL out of the migrations folder".to_owned(),
                            kind: InconsistencyKind::Error,
                        }),
                    }
                }
            }
        }
        if !adopted.is_empty() {
            history = replay(history, adopted);
            state.migrations.insert(service.clone(), history);
        }
    }
    (state, found)
}

/// Adds to `known` what the proto on disk numbers and the lock does not; a number the two
/// disagree on is a blocking inconsistency (generating would renumber a field).
fn adopt_numbering(
    kind: &str,
    key: &str,
    path: &str,
    known: &mut Numbering,
    on_disk: &Numbering,
    has_lock: bool,
    found: &mut Vec<Inconsistency>,
) {
    let mut adopted = false;
    for (name, number) in &on_disk.numbers {
        let owner = known.numbers.iter().find(|(_, n)| *n == number).map(|(n, _)| n.clone());
        let problem = match (known.numbers.get(name), owner) {
            (Some(n), _) if n == number => continue,
            (Some(n), _) => format!("`{name}` of {kind} `{key}` is {number} here, but {n} in fleet.lock"),
            (None, Some(other)) => format!("{number} of {kind} `{key}` is `{name}` here, but `{other}` in fleet.lock"),
            // The removed name itself, still on disk (a stale file kept for its hand edits).
            (None, None) if known.reserved_names.contains(name) => continue,
            (None, None) if known.reserved_numbers.contains(number) => {
                format!("`{name}` of {kind} `{key}` uses {number}, which fleet.lock reserved for a removed name")
            }
            (None, None) => {
                known.numbers.insert(name.clone(), *number);
                known.reserved_names.remove(name);
                adopted = true;
                continue;
            }
        };
        found.push(Inconsistency {
            path: path.to_owned(),
            message: format!("{problem}: generating would renumber it, which breaks clients that use the old number"),
            help: format!("keep the numbering that is deployed: if this file's is, {RECOVER_HELP}; if fleet.lock's is, restore this file"),
            kind: InconsistencyKind::Blocking,
        });
    }
    for number in &on_disk.reserved_numbers {
        if !known.numbers.values().any(|n| n == number) && known.reserved_numbers.insert(*number) {
            adopted = true;
        }
    }
    for name in &on_disk.reserved_names {
        if !known.numbers.contains_key(name) && known.reserved_names.insert(name.clone()) {
            adopted = true;
        }
    }
    if adopted && has_lock {
        found.push(Inconsistency {
            path: path.to_owned(),
            message: format!("numbers of {kind} `{key}` were missing from fleet.lock; read back from this file"),
            help: "fleet.lock records them again after `fleetwright generate`".to_owned(),
            kind: InconsistencyKind::Adopted,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::migrations::Wanted;

    const PROTO: &str = r#"syntax = "proto3";

// orders
package shop.orders.v1;

service OrdersService {
  rpc CreateOrder(CreateOrderRequest) returns (CreateOrderResponse);
}

// A stored Order.
message Order {
  reserved 3, 9;
  reserved "old_note";
  string id = 1;
  repeated string tags = 2; // trailing comment
  optional int64 total = 4;
  google.protobuf.Timestamp created_at = 5;
}

message CreateOrderRequest {
  Order order = 1;
}

message CreateOrderResponse {
  Order order = 1;
}

message DeleteOrderResponse {}

enum OrderStatus {
  reserved 2;
  ORDER_STATUS_UNSPECIFIED = 0;
  ORDER_STATUS_DRAFT = 1;
  ORDER_STATUS_IN_REVIEW = 3;
}
"#;

    #[test]
    fn a_proto_reads_back_into_its_numbers() {
        let numbers = parse_proto(PROTO);
        assert_eq!(
            numbers.messages.keys().collect::<Vec<_>>(),
            ["shop.orders.v1.DeleteOrderResponse", "shop.orders.v1.Order"]
        );
        let order = &numbers.messages["shop.orders.v1.Order"];
        assert_eq!(order.numbers["tags"], 2);
        assert_eq!(order.numbers["total"], 4);
        assert_eq!(order.numbers["created_at"], 5);
        assert_eq!(order.reserved_numbers, BTreeSet::from([3, 9]));
        assert_eq!(order.reserved_names, BTreeSet::from(["old_note".to_owned()]));
        let status = &numbers.enums["shop.orders.v1.OrderStatus"];
        assert_eq!(
            status.numbers,
            BTreeMap::from([("draft".to_owned(), 1), ("in_review".to_owned(), 3)])
        );
        assert_eq!(status.reserved_numbers, BTreeSet::from([2]));
    }

    fn col(name: &str, spec: &str) -> Column {
        Column::new(name, spec)
    }

    fn file(migration: &Migration) -> String {
        format!(
            "-- Migration {}\n-- never edit it\n{}",
            migration.version,
            migration.sql()
        )
    }

    /// Indexes, plain, partial (as the outbox relay's) and unique over two columns (an
    /// entity's key), on the `lines` table.
    fn line_indexes() -> [crate::model::migrations::Index; 3] {
        [
            crate::model::migrations::Index {
                table: "lines".into(),
                name: "lines_placed_at_label_key".into(),
                columns: vec!["placed_at".into(), "label".into()],
                where_null: None,
                unique: true,
            },
            crate::model::migrations::Index {
                table: "lines".into(),
                name: "lines_unpaid".into(),
                columns: vec!["placed_at".into(), "id".into()],
                where_null: Some("label".into()),
                unique: false,
            },
            crate::model::migrations::Index {
                table: "lines".into(),
                name: "lines_kind".into(),
                columns: vec!["kind".into()],
                where_null: None,
                unique: false,
            },
        ]
    }

    /// A history through every operation fleetwright writes: tables created (with and without
    /// `version`), columns added (with the type's and the manifest's default), renamed, dropped,
    /// enum values replaced, a table dropped.
    fn every_operation() -> History {
        let v1 = History::default()
            .advance_plain(
                "o",
                &[(
                    "orders".into(),
                    vec![col("total", "int64"), col("note", "text?"), col("tags", "string[]")],
                )],
            )
            .unwrap();
        let v2 = v1
            .advance_plain(
                "o",
                &[
                    (
                        "orders".into(),
                        vec![col("total", "int64"), col("status", "enum(draft, paid)")],
                    ),
                    ("lines".into(), vec![col("at", "timestamp"), col("paid", "bool")]),
                ],
            )
            .unwrap();
        let drops: Vec<crate::model::DropRequest> = ["o.orders", "o.lines.paid"].map(|d| d.parse().unwrap()).into();
        let v3 = v2
            .advance(
                "o",
                &crate::model::migrations::plain(&[("lines".into(), vec![col("at", "timestamp")])]),
                &std::collections::BTreeSet::new(),
                &[],
                &drops.iter().collect::<Vec<_>>(),
            )
            .unwrap();
        // A rename, a replaced enum value and a column added with the manifest's default.
        let v4 = v3
            .advance(
                "o",
                &[(
                    "lines".into(),
                    vec![
                        Wanted {
                            renamed_from: Some("at".into()),
                            ..Wanted::plain(col("placed_at", "timestamp"))
                        },
                        Wanted {
                            default: Some("'a''b'".into()),
                            ..Wanted::plain(col("label", "string"))
                        },
                    ],
                )],
                &std::collections::BTreeSet::new(),
                &[],
                &[],
            )
            .unwrap();
        let v5 = v4
            .advance_plain(
                "o",
                &[(
                    "lines".into(),
                    vec![
                        col("placed_at", "timestamp"),
                        col("label", "string"),
                        col("kind", "enum(x, y)"),
                    ],
                )],
            )
            .unwrap();
        let mut wanted = crate::model::migrations::plain(&[(
            "lines".into(),
            vec![
                col("placed_at", "timestamp"),
                col("label", "string"),
                col("kind", "enum(y)"),
            ],
        )]);
        wanted[0].1[2].replaced_values = vec![("x".into(), "y".into())];
        // Optimistic concurrency reaches an existing table, and a new one is created with it.
        let versioned: std::collections::BTreeSet<String> = ["lines".to_owned(), "tags".to_owned()].into();
        wanted.push((
            "tags".into(),
            vec![
                Wanted::plain(col("label", "string")),
                Wanted::plain(col("line_id", "ref(Line)")),
            ],
        ));
        wanted[0].1[1].unique = true;
        let v6 = v5.advance("o", &wanted, &versioned, &[], &[]).unwrap();
        assert_eq!(
            v6.applied[5]
                .sql()
                .lines()
                .filter(|l| l.contains("\"version\" BIGINT NOT NULL DEFAULT 1"))
                .count(),
            2,
            "{}",
            v6.applied[5].sql()
        );
        // The unique index goes again.
        wanted[0].1[1].unique = false;
        let v7 = v6.advance("o", &wanted, &versioned, &[], &[]).unwrap();
        // Indexes, plain and partial, and a filter's, which goes again when no longer wanted.
        let v8 = v7.advance("o", &wanted, &versioned, &with_filter(), &[]).unwrap();
        let v9 = v8.advance("o", &wanted, &versioned, &line_indexes(), &[]).unwrap();
        assert_eq!(v9.applied[8].sql(), "DROP INDEX \"lines_label_idx\";\n");
        v9
    }

    /// [`line_indexes`] and a filter's index on `lines.label`.
    fn with_filter() -> Vec<crate::model::migrations::Index> {
        let mut indexes = line_indexes().to_vec();
        indexes.push(crate::model::migrations::Index {
            table: "lines".into(),
            name: crate::model::migrations::filter_index_name("lines", "label"),
            columns: vec!["label".into()],
            where_null: None,
            unique: false,
        });
        indexes
    }

    #[test]
    fn every_migration_fleetwright_writes_reads_back_exactly() {
        let none = |_: &str, _: &str| None;
        let v3 = every_operation();
        assert_eq!(v3.applied.len(), 9);
        assert!(
            v3.applied[5].sql().contains(
                "ADD CONSTRAINT \"tags_line_id_fkey\" FOREIGN KEY (\"line_id\") REFERENCES \"lines\" (\"id\") ON DELETE RESTRICT; -- PostgreSQL only"
            ),
            "{}",
            v3.applied[5].sql()
        );
        for migration in &v3.applied {
            let read = parse_migration(&migration.file_name(), &file(migration), &none).unwrap();
            assert_eq!(read.sql(), migration.sql());
            assert_eq!((read.version, &read.name), (migration.version, &migration.name));
        }
        // The manifest's spec wins when it has the same SQL, so the replayed tables match.
        // (SQL alone does not tell an enum's values: the manifest's type says them.)
        let spec = |_: &str, column: &str| match column {
            "tags" => Some("string[]".to_owned()),
            "kind" => Some("enum(y)".to_owned()),
            "label" => Some("string".to_owned()),
            _ => None,
        };
        let read: Vec<Migration> = v3
            .applied
            .iter()
            .map(|m| parse_migration(&m.file_name(), &file(m), &spec).unwrap())
            .collect();
        let replayed = replay(History::default(), read);
        assert_eq!(replayed.tables.keys().collect::<Vec<_>>(), ["lines", "tags"]);
        assert_eq!(
            replayed.tables["lines"]
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["placed_at", "label", "kind"]
        );
        assert_eq!(replayed.applied.len(), 9);
        assert_eq!(replayed.versioned, v3.versioned);
        assert!(replayed.unique.is_empty() && v3.applied[5].sql().contains("CREATE UNIQUE INDEX"));
        // The replayed history knows its indexes: generating again adds none.
        // (The manifest's types, which SQL alone does not tell apart: an enum's values.)
        let same = crate::model::migrations::plain(&[(
            "lines".into(),
            vec![
                col("placed_at", "timestamp"),
                col("label", "string"),
                col("kind", "enum(y)"),
            ],
        )]);
        let mut same = same;
        same.extend(crate::model::migrations::plain(&[(
            "tags".into(),
            vec![col("label", "string"), col("line_id", "ref(Line)")],
        )]));
        let versioned: std::collections::BTreeSet<String> = ["lines".to_owned(), "tags".to_owned()].into();
        let again = replayed.advance("o", &same, &versioned, &line_indexes(), &[]).unwrap();
        assert_eq!(again.applied.len(), 9, "{:?}", again.applied.last());
    }

    #[test]
    fn an_edited_or_foreign_migration_is_not_read_back() {
        let none = |_: &str, _: &str| None;
        let v1 = History::default()
            .advance_plain("o", &[("orders".into(), vec![col("total", "int64")])])
            .unwrap();
        let text = file(&v1.applied[0]);
        assert!(parse_migration("0001_init.sql", &text.replace("BIGINT", "INTEGER"), &none).is_ok());
        assert!(parse_migration("0001_init.sql", &text.replace("BIGINT", "NUMERIC"), &none).is_err());
        assert!(
            parse_migration(
                "0001_init.sql",
                &format!("{text}CREATE INDEX x ON orders (total);\n"),
                &none
            )
            .is_err()
        );
        assert!(parse_migration("init.sql", &text, &none).is_err());
    }

    fn lock_with_order() -> State {
        let mut state = State::default();
        state.messages.insert(
            "shop.orders.v1.Order".into(),
            Numbering::default().assign(&["id", "tags", "total", "created_at"], 1),
        );
        state
    }

    fn on_disk(proto: &str) -> OnDisk {
        OnDisk {
            protos: vec![("proto/orders.proto".into(), parse_proto(proto))],
            migrations: BTreeMap::new(),
        }
    }

    #[test]
    fn without_a_lock_the_numbers_on_disk_are_the_state() {
        let (state, found) = reconcile(None, &on_disk(PROTO), &|_, _, _| None);
        assert!(found.is_empty(), "{found:?}");
        let order = &state.messages["shop.orders.v1.Order"];
        assert_eq!(order.numbers["total"], 4);
        // A new field is numbered above every number used or reserved.
        let next = order.assign(&["id", "tags", "total", "created_at", "extra"], 1);
        assert_eq!(next.numbers["extra"], 10);
    }

    #[test]
    fn a_lock_that_numbers_differently_blocks_and_a_missing_number_is_adopted() {
        let lock = lock_with_order();
        let (_, found) = reconcile(Some(&lock), &on_disk(PROTO), &|_, _, _| None);
        // tags is 2 in both; total is 3 in the lock but 4 here; created_at 4 vs 5.
        let blocking: Vec<_> = found.iter().filter(|f| f.kind == InconsistencyKind::Blocking).collect();
        assert!(blocking.iter().any(|f| f.message.contains("`total`")), "{found:?}");
        let mut lock = State::default();
        lock.messages.insert(
            "shop.orders.v1.Order".into(),
            Numbering::default().assign(&["id", "tags"], 1),
        );
        let (state, found) = reconcile(Some(&lock), &on_disk(PROTO), &|_, _, _| None);
        assert!(found.iter().all(|f| f.kind == InconsistencyKind::Adopted), "{found:?}");
        let order = &state.messages["shop.orders.v1.Order"];
        assert_eq!((order.numbers["total"], order.reserved_numbers.contains(&9)), (4, true));
    }

    #[test]
    fn migrations_only_on_disk_continue_the_history() {
        let v2 = History::default()
            .advance_plain("o", &[("orders".into(), vec![col("total", "int64")])])
            .unwrap()
            .advance_plain(
                "o",
                &[("orders".into(), vec![col("total", "int64"), col("note", "text?")])],
            )
            .unwrap();
        let files: Vec<(String, String, String)> = v2
            .applied
            .iter()
            .map(|m| {
                (
                    format!("services/o/migrations/{}", m.file_name()),
                    m.file_name(),
                    file(m),
                )
            })
            .collect();
        let disk = OnDisk {
            protos: Vec::new(),
            migrations: BTreeMap::from([("o".to_owned(), files.clone())]),
        };
        let (state, found) = reconcile(None, &disk, &|_, _, _| None);
        // Read back to the same SQL; `text?` reads as `string?`, which has the same column.
        let sql = |h: &History| h.applied.iter().map(|m| (m.file_name(), m.sql())).collect::<Vec<_>>();
        assert_eq!(sql(&state.migrations["o"]), sql(&v2));
        assert_eq!(state.migrations["o"].tables["orders"].len(), 2);
        assert!(found.iter().all(|f| f.kind == InconsistencyKind::Adopted));
        // An edited migration the lock knows is an error; a renamed one blocks.
        let mut edited = files.clone();
        edited[0].2 = edited[0].2.replace("BIGINT", "INTEGER");
        edited[1].1 = "0002_other.sql".into();
        let disk = OnDisk {
            protos: Vec::new(),
            migrations: BTreeMap::from([("o".to_owned(), edited)]),
        };
        let lock = State {
            migrations: BTreeMap::from([("o".to_owned(), v2)]),
            ..State::default()
        };
        let (_, found) = reconcile(Some(&lock), &disk, &|_, _, _| None);
        let kinds: Vec<_> = found.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [InconsistencyKind::Error, InconsistencyKind::Blocking],
            "{found:?}"
        );
    }
}
