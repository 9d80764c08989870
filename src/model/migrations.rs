//! Forward-only database migrations that keep data. The lock remembers, per service, every
//! migration ever generated (as schema operations) and the tables they produce; each
//! generation compares the manifest's entities with that and appends one new migration for
//! the difference. Old migrations are never changed, so databases that applied them stay
//! valid.
//!
//! Nothing is dropped implicitly (expand, then contract): a field or entity that leaves the
//! manifest is *retired*, its column or table kept with its data and marked in the lock, so
//! that a release still running the old code keeps working during a rollout. Dropping it is
//! a separate, explicit request ([`DropRequest`]). A rename is declared in the manifest and
//! becomes a `RENAME COLUMN`; a new required field of a stored entity needs a default; an enum
//! value that rows may hold is removed only with the value that replaces it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::error::Error;

/// One column as the manifest typed it (`text?`, `enum(a, b)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub spec: String,
    /// No longer in the manifest: the service neither reads nor sets it (inserts fill it with
    /// its type's default), and its data stays until a drop is asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
    /// Of PostgreSQL's native type for its spec ([`super::types::Native`]): every column
    /// created since fleetwright uses them, except a reference to a table whose ids are text.
    /// Older columns keep the text or integer they were made with; SQLite's are the same
    /// either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub native: bool,
}

impl Column {
    pub(crate) fn new(name: impl Into<String>, spec: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            spec: spec.into(),
            retired: false,
            native: false,
        }
    }

    /// The PostgreSQL type this column holds natively, if it does.
    pub(crate) fn native_type(&self) -> Option<super::types::Native> {
        if !self.native {
            return None;
        }
        super::types::parse(&self.spec).ok()?.mapping("", "").native
    }
}

/// A schema change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateTable {
        table: String,
        columns: Vec<Column>,
        /// With the `version` column optimistic concurrency checks; tables created before it
        /// existed get it through [`Op::AddVersion`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        versioned: bool,
        /// `id`, `created_at` and `updated_at` of PostgreSQL's native types (`UUID`,
        /// `TIMESTAMPTZ`); the other columns say it themselves.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        native: bool,
    },
    /// The `version` column for a table created without one (existing rows start at 1).
    AddVersion {
        table: String,
    },
    /// A unique index on one column (`unique = true` in the manifest).
    AddUnique {
        table: String,
        column: String,
        index: String,
    },
    /// An index no longer wanted, by name: a unique one, or one on a column being retired
    /// (inserts fill a retired column with one value for every row), or a filter's (the name
    /// stays `drop_unique` in `fleet.lock`, which older locks hold).
    DropUnique {
        index: String,
    },
    AddColumn {
        table: String,
        column: Column,
        /// The manifest's default (an SQL literal) for existing rows; `None` in histories
        /// written before defaults existed, whose columns took their type's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<String>,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    /// An entity renamed (`renamed_from` on the entity): its table, with its rows, columns and
    /// `version`s; the indexes named after the old table are made again under the new name.
    RenameTable {
        from: String,
        to: String,
    },
    /// Stored rows holding a removed enum value take another one; `list` for an enum list
    /// (a JSON array in one column).
    ReplaceValue {
        table: String,
        column: String,
        from: String,
        to: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        list: bool,
        /// The list is a PostgreSQL `JSONB` column, which text functions take as text.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        native: bool,
    },
    DropColumn {
        table: String,
        column: String,
    },
    DropTable {
        table: String,
    },
    /// An index on `columns` of `table`; with `where_null`, only of the rows where that
    /// column is NULL (a partial index: both PostgreSQL and SQLite have them).
    CreateIndex {
        table: String,
        name: String,
        columns: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        where_null: Option<String>,
        /// A unique key over `columns` (`unique = [[...]]` on an entity).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unique: bool,
    },
    /// PostgreSQL only: `column` refers to a row of `references` (a `ref(…)` field), and a row
    /// still referred to cannot be deleted. `not_valid` when the table already had rows: they
    /// are not checked, every write from then on is.
    AddForeignKey {
        table: String,
        name: String,
        column: String,
        references: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_valid: bool,
    },
    /// PostgreSQL only: `column` holds one of `values` (an enum field) or NULL.
    AddCheck {
        table: String,
        name: String,
        column: String,
        values: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_valid: bool,
    },
    /// PostgreSQL only: a foreign key or check no longer wanted, or about to change.
    DropConstraint {
        table: String,
        name: String,
    },
}

/// What ends each statement only PostgreSQL runs: SQLite has no `ALTER TABLE … ADD
/// CONSTRAINT`, so the runtime leaves those lines out there (`fleetwright_runtime::db`), and
/// the file as written is the PostgreSQL migration.
pub(crate) const POSTGRES_ONLY: &str = "-- PostgreSQL only";

/// What ends each line only SQLite runs: the same column or statement as the line before it,
/// marked [`POSTGRES_ONLY`], with the SQLite type where PostgreSQL's is native. The runtime
/// leaves those lines out on PostgreSQL.
pub(crate) const SQLITE_ONLY: &str = "-- SQLite only";

/// `sqlite`, then (when PostgreSQL runs something else) `postgres`'s line marked for
/// PostgreSQL before `sqlite`'s marked for SQLite. Each ends with a newline.
fn per_database(out: &mut String, sqlite: &str, postgres: Option<&str>) {
    match postgres {
        Some(postgres) if postgres != sqlite => {
            let _ = writeln!(out, "{postgres} {POSTGRES_ONLY}");
            let _ = writeln!(out, "{sqlite} {SQLITE_ONLY}");
        }
        _ => {
            let _ = writeln!(out, "{sqlite}");
        }
    }
}

/// An index a service's database must have, created once by the next migration after the
/// history lacks it (so existing workspaces get it too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    pub where_null: Option<String>,
    /// No two rows may hold the same values in `columns`.
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub version: u32,
    pub name: String,
    pub ops: Vec<Op>,
}

impl Migration {
    /// `0002_add_orders_note.sql`
    pub(crate) fn file_name(&self) -> String {
        format!("{:04}_{}.sql", self.version, self.name)
    }

    /// The migration's SQL, valid for both PostgreSQL and SQLite.
    pub(crate) fn sql(&self) -> String {
        let mut out = String::new();
        for op in &self.ops {
            let _ = writeln!(out, "{}", op_sql(op).trim_end());
        }
        out
    }
}

/// One operation's SQL (both databases: SQLite has had `RENAME COLUMN` since 3.25).
fn op_sql(op: &Op) -> String {
    let mut out = String::new();
    match op {
        Op::CreateTable {
            table,
            columns,
            versioned,
            native,
        } => create_table_sql(&mut out, table, columns, *versioned, *native),
        Op::AddUnique { table, column, index } => {
            let _ = write!(out, "CREATE UNIQUE INDEX \"{index}\" ON \"{table}\" (\"{column}\");");
        }
        Op::DropUnique { index } => {
            let _ = write!(out, "DROP INDEX \"{index}\";");
        }
        Op::AddVersion { table } => {
            let _ = write!(out, "ALTER TABLE \"{table}\" ADD COLUMN \"version\" {VERSION_TYPE};");
        }
        Op::AddColumn { table, column, default } => {
            let ty = match default {
                Some(literal) => format!("{} DEFAULT {literal}", column_type(&column.spec, false)),
                None => column_type(&column.spec, true),
            };
            let postgres = match (default, column.native_type()) {
                (Some(literal), Some(native)) => {
                    native_column_type(column, false).map(|ty| format!("{ty} DEFAULT {}", native.literal(literal)))
                }
                _ => native_column_type(column, true),
            };
            let statement = |ty: &str| format!("ALTER TABLE \"{table}\" ADD COLUMN \"{}\" {ty};", column.name);
            per_database(&mut out, &statement(&ty), postgres.as_deref().map(statement).as_deref());
        }
        Op::RenameColumn { table, from, to } => {
            let _ = write!(out, "ALTER TABLE \"{table}\" RENAME COLUMN \"{from}\" TO \"{to}\";");
        }
        Op::RenameTable { from, to } => {
            let _ = write!(out, "ALTER TABLE \"{from}\" RENAME TO \"{to}\";");
        }
        Op::ReplaceValue {
            table,
            column,
            from,
            to,
            list: false,
            ..
        } => {
            let _ = write!(
                out,
                "UPDATE \"{table}\" SET \"{column}\" = '{to}' WHERE \"{column}\" = '{from}';"
            );
        }
        Op::ReplaceValue {
            table,
            column,
            from,
            to,
            list: true,
            native,
        } => {
            let sqlite = format!(
                "UPDATE \"{table}\" SET \"{column}\" = REPLACE(\"{column}\", '\"{from}\"', '\"{to}\"') WHERE \"{column}\" LIKE '%\"{from}\"%';"
            );
            let postgres = native.then(|| {
                format!(
                    "UPDATE \"{table}\" SET \"{column}\" = REPLACE(\"{column}\"::text, '\"{from}\"', '\"{to}\"')::jsonb WHERE \"{column}\"::text LIKE '%\"{from}\"%';"
                )
            });
            per_database(&mut out, &sqlite, postgres.as_deref());
        }
        Op::DropColumn { table, column } => {
            let _ = write!(out, "ALTER TABLE \"{table}\" DROP COLUMN \"{column}\";");
        }
        Op::DropTable { table } => {
            let _ = write!(out, "DROP TABLE \"{table}\";");
        }
        Op::CreateIndex {
            table,
            name,
            columns,
            where_null,
            unique,
        } => {
            let columns: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
            let unique = if *unique { "UNIQUE " } else { "" };
            let _ = write!(
                out,
                "CREATE {unique}INDEX \"{name}\" ON \"{table}\" ({})",
                columns.join(", ")
            );
            if let Some(column) = where_null {
                let _ = write!(out, " WHERE \"{column}\" IS NULL");
            }
            out.push(';');
        }
        Op::AddForeignKey { .. } | Op::AddCheck { .. } | Op::DropConstraint { .. } => out.push_str(&constraint_sql(op)),
    }
    out
}

/// A `CREATE TABLE`, with a line for each database where their column types differ.
fn create_table_sql(out: &mut String, table: &str, columns: &[Column], versioned: bool, native: bool) {
    let (id, time) = if native {
        ("UUID", "TIMESTAMPTZ")
    } else {
        ("TEXT", "TEXT")
    };
    let _ = writeln!(out, "CREATE TABLE \"{table}\" (");
    per_database(
        out,
        "    \"id\" TEXT PRIMARY KEY NOT NULL,",
        Some(&format!("    \"id\" {id} PRIMARY KEY NOT NULL,")),
    );
    for column in columns {
        let line = |ty: String| format!("    \"{}\" {ty},", column.name);
        let postgres = native_column_type(column, false).map(line);
        per_database(out, &line(column_type(&column.spec, false)), postgres.as_deref());
    }
    per_database(
        out,
        "    \"created_at\" TEXT NOT NULL,",
        Some(&format!("    \"created_at\" {time} NOT NULL,")),
    );
    let end = if versioned { "," } else { "" };
    per_database(
        out,
        &format!("    \"updated_at\" TEXT NOT NULL{end}"),
        Some(&format!("    \"updated_at\" {time} NOT NULL{end}")),
    );
    if versioned {
        let _ = writeln!(out, "    \"version\" {VERSION_TYPE}");
    }
    let _ = write!(out, ");");
}

/// A foreign key's or check's SQL, which only PostgreSQL runs (see [`POSTGRES_ONLY`]).
fn constraint_sql(op: &Op) -> String {
    let mut out = String::new();
    match op {
        Op::AddForeignKey {
            table,
            name,
            column,
            references,
            not_valid,
        } => {
            let _ = write!(
                out,
                "ALTER TABLE \"{table}\" ADD CONSTRAINT \"{name}\" FOREIGN KEY (\"{column}\") REFERENCES \"{references}\" (\"id\") ON DELETE RESTRICT{}; {POSTGRES_ONLY}",
                if *not_valid { " NOT VALID" } else { "" }
            );
        }
        Op::AddCheck {
            table,
            name,
            column,
            values,
            not_valid,
        } => {
            let values: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
            let _ = write!(
                out,
                "ALTER TABLE \"{table}\" ADD CONSTRAINT \"{name}\" CHECK (\"{column}\" IN ({})){}; {POSTGRES_ONLY}",
                values.join(", "),
                if *not_valid { " NOT VALID" } else { "" }
            );
        }
        Op::DropConstraint { table, name } => {
            let _ = write!(
                out,
                "ALTER TABLE \"{table}\" DROP CONSTRAINT \"{name}\"; {POSTGRES_ONLY}"
            );
        }
        _ => {}
    }
    out
}

/// The `version` column of entity tables: 1 when a row is created, one more at each change;
/// updates and deletes check it in the same statement (optimistic concurrency).
pub(crate) const VERSION_TYPE: &str = "BIGINT NOT NULL DEFAULT 1";

/// SQL type of a column; with `default`, required columns get a default so existing rows
/// can take the new column.
pub(crate) fn column_type(spec: &str, default: bool) -> String {
    match super::types::parse(spec) {
        Ok(ty) => {
            let m = ty.mapping("", "");
            if default && m.sql.ends_with("NOT NULL") {
                format!("{} DEFAULT {}", m.sql, m.sql_default)
            } else {
                m.sql
            }
        }
        // Specs in the lock were valid when recorded; keep the history readable regardless.
        Err(_) => "TEXT".to_owned(),
    }
}

/// PostgreSQL's native SQL type of `column` (with its type's default when `default`), when
/// the column is native and its type differs from SQLite's.
pub(crate) fn native_column_type(column: &Column, default: bool) -> Option<String> {
    let native = column.native_type()?;
    let m = super::types::parse(&column.spec).ok()?.mapping("", "");
    let required = m.sql.ends_with("NOT NULL");
    let mut ty = native.ddl().to_owned();
    if required {
        ty.push_str(" NOT NULL");
        if default {
            let _ = write!(ty, " DEFAULT {}", native.literal(&m.sql_default));
        }
    }
    Some(ty)
}

/// Whether a column of type `spec` created now is native (see [`Column::native`]): yes when
/// PostgreSQL has a native type for it, unless it refers to an entity of a table in `tables`
/// whose ids are text (a foreign key needs both sides of one type).
fn native_now(spec: &str, text_ids: &dyn Fn(&str) -> bool) -> bool {
    let Ok(ty) = super::types::parse(spec) else {
        return false;
    };
    if ty.mapping("", "").native.is_none() {
        return false;
    }
    match &ty.base {
        super::types::BaseType::Ref { entity } if !ty.list => {
            use heck::ToSnakeCase as _;
            !text_ids(&super::resolve::plural(&entity.to_snake_case()))
        }
        _ => true,
    }
}

/// What a retired column that cannot be NULL is filled with on insert: its type's default.
pub(crate) fn retired_fill(spec: &str) -> Option<String> {
    let m = super::types::parse(spec).ok()?.mapping("", "");
    m.sql.ends_with("NOT NULL").then_some(m.sql_default)
}

/// A column as the manifest wants it, with what the manifest says about reaching it.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub column: Column,
    /// The manifest's default, as an SQL literal.
    pub default: Option<String>,
    pub renamed_from: Option<String>,
    /// Removed enum value → the value rows holding it take.
    pub replaced_values: Vec<(String, String)>,
    /// No two rows may hold the same value.
    pub unique: bool,
    /// Where the manifest names the field and writes its type (empty for event tables).
    pub name_span: Range<usize>,
    pub type_span: Range<usize>,
    /// Read and written by the runtime's own SQL (the outbox and inbox), which binds text: its
    /// table keeps SQLite's types on PostgreSQL too.
    pub runtime: bool,
}

impl Wanted {
    /// A column the manifest does not describe field by field (the event tables').
    pub(crate) fn plain(column: Column) -> Self {
        Self {
            column,
            default: None,
            renamed_from: None,
            replaced_values: Vec::new(),
            unique: false,
            name_span: 0..0,
            type_span: 0..0,
            runtime: true,
        }
    }
}

/// An entity's table the manifest declares renamed (`renamed_from` on the entity).
#[derive(Debug, Clone)]
pub(crate) struct TableRename {
    /// `customers` → `clients`.
    pub from: String,
    pub to: String,
    /// The entity (`Client`) and its previous name (`Customer`), for messages.
    pub entity: String,
    pub old_entity: String,
    /// Where the manifest writes the previous name.
    pub span: Range<usize>,
}

/// An explicit request to drop a retired table or column: `orders.order_notes` or
/// `orders.orders.note` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRequest {
    pub service: String,
    pub table: String,
    pub column: Option<String>,
}

impl std::str::FromStr for DropRequest {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let (service, table, column) = match parts.as_slice() {
            [service, table] => (service, table, None),
            [service, table, column] => (service, table, Some(column)),
            _ => (&"", &"", None),
        };
        if service.is_empty() || table.is_empty() || column.is_some_and(|c| c.is_empty()) {
            return Err(format!(
                "`{text}` is not SERVICE.TABLE or SERVICE.TABLE.COLUMN (e.g. `orders.orders.note`)"
            ));
        }
        Ok(Self {
            service: (*service).to_owned(),
            table: (*table).to_owned(),
            column: column.map(|c| (*c).to_owned()),
        })
    }
}

impl std::fmt::Display for DropRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.service, self.table)?;
        match &self.column {
            Some(column) => write!(f, ".{column}"),
            None => Ok(()),
        }
    }
}

/// A service's migration history and the tables it leads to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub applied: Vec<Migration>,
    /// Table → its columns (without `id`, `created_at`, `updated_at`) after the last
    /// migration: the manifest's, in entity order, then the retired ones.
    #[serde(default)]
    pub tables: BTreeMap<String, Vec<Column>>,
    /// Tables of entities no longer in the manifest, kept with their rows until dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_tables: Vec<String>,
    /// Tables that have the `version` column.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub versioned: BTreeSet<String>,
    /// Unique indexes: `table.column` → the index's name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unique: BTreeMap<String, String>,
    /// Tables whose `id`, `created_at` and `updated_at` are of PostgreSQL's native types: those
    /// created since fleetwright uses them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub native: BTreeSet<String>,
}

/// The name of the unique index on `table.column`: PostgreSQL's convention
/// (`payments_order_id_key`).
pub(crate) fn unique_index_name(table: &str, column: &str) -> String {
    index_name(table, column, "key")
}

/// The name of the plain index on `table.column` that lists filter with: PostgreSQL's
/// convention (`order_lines_order_id_idx`).
pub(crate) fn filter_index_name(table: &str, column: &str) -> String {
    index_name(table, column, "idx")
}

/// The name of a key (`unique`) or index (`indexes`) an entity declares over `columns`:
/// `payments_order_id_kind_key`, `orders_customer_id_placed_at_idx`.
pub(crate) fn key_index_name(table: &str, columns: &[String], unique: bool) -> String {
    index_name(table, &columns.join("_"), if unique { "key" } else { "idx" })
}

/// The name of the foreign key of a `ref(…)` column: PostgreSQL's convention
/// (`order_lines_order_id_fkey`).
pub(crate) fn foreign_key_name(table: &str, column: &str) -> String {
    index_name(table, column, "fkey")
}

/// The name of the check of an enum column: PostgreSQL's convention (`orders_status_check`).
pub(crate) fn check_name(table: &str, column: &str) -> String {
    index_name(table, column, "check")
}

/// `<table>_<column>_<suffix>`, shortened with a hash past PostgreSQL's 63-byte limit, which
/// would otherwise cut it silently and make it unreachable by name.
fn index_name(table: &str, column: &str, suffix: &str) -> String {
    use sha2::Digest as _;
    let name = format!("{table}_{column}_{suffix}");
    if name.len() <= 63 {
        return name;
    }
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hash = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    format!("{}_{hash:08x}_{suffix}", &name[..50])
}

impl History {
    /// The history after bringing the schema to `wanted` (table → columns, in entity order)
    /// with `indexes` on its tables, and dropping what `drops` asks for: unchanged when
    /// nothing differs, else one migration longer. Fields and tables that left the manifest
    /// are retired, never dropped here.
    ///
    /// # Errors
    /// [`Error::Schema`] for a change that needs a decision in the manifest (a type change, a
    /// new required field without a default, a rename from a column that is not there, a
    /// removed enum value without a replacement); [`Error::Usage`] for a drop of something
    /// that is not retired.
    pub(crate) fn advance(
        &self,
        service: &str,
        wanted: &[(String, Vec<Wanted>)],
        versioned: &BTreeSet<String>,
        indexes: &[Index],
        drops: &[&DropRequest],
    ) -> Result<History, Error> {
        let mut ops = Vec::new();
        let mut now_versioned = self.versioned.clone();
        let mut problems = Diagnostics::default();
        let mut tables = BTreeMap::new();
        let mut retired_tables: Vec<String> = Vec::new();
        // Foreign keys and checks (PostgreSQL only): those that go or change go first.
        let constraints = wanted_constraints(wanted);
        let existing_constraints = self.constraints();
        drop_constraints(&existing_constraints, &constraints, &mut ops);
        // New tables have native ids; a table the history has keeps the ids it was made with.
        let mut now_native = self.native.clone();
        let text_ids = |table: &str| self.tables.contains_key(table) && !self.native.contains(table);
        for (table, columns) in wanted {
            let Some(existing) = self.tables.get(table) else {
                let native = !columns.iter().any(|w| w.runtime);
                let columns: Vec<Column> = columns
                    .iter()
                    .map(|w| Column {
                        native: native && native_now(&w.column.spec, &text_ids),
                        ..w.column.clone()
                    })
                    .collect();
                ops.push(Op::CreateTable {
                    table: table.clone(),
                    columns: columns.clone(),
                    versioned: versioned.contains(table),
                    native,
                });
                if versioned.contains(table) {
                    now_versioned.insert(table.clone());
                }
                if native {
                    now_native.insert(table.clone());
                }
                tables.insert(table.clone(), columns);
                continue;
            };
            if versioned.contains(table) && now_versioned.insert(table.clone()) {
                ops.push(Op::AddVersion { table: table.clone() });
            }
            let next = advance_table(table, existing, columns, &text_ids, &mut ops, &mut problems);
            tables.insert(table.clone(), next);
        }
        for (table, columns) in &self.tables {
            if !tables.contains_key(table) {
                tables.insert(table.clone(), columns.clone());
                retired_tables.push(table.clone());
            }
        }
        if problems.has_errors() {
            return Err(Error::Schema(problems));
        }
        let unique = self.follow_unique(wanted, &tables, &retired_tables, &mut ops);
        // An index no longer wanted on a table in use goes (an index is no data), before any
        // column it covers is dropped: SQLite refuses to drop an indexed column.
        let in_use = |table: &String| tables.contains_key(table) && !retired_tables.contains(table);
        for (table, name) in self.indexes(&ops) {
            if in_use(&table) && !indexes.iter().any(|index| index.name == name) {
                ops.push(Op::DropUnique { index: name });
            }
        }
        for drop in drops {
            drop_retired(service, drop, &mut tables, &mut retired_tables, &mut ops)?;
        }
        let existing = self.indexes(&ops);
        for index in indexes {
            let table_in_use = tables.contains_key(&index.table) && !retired_tables.contains(&index.table);
            if table_in_use && !existing.iter().any(|(_, name)| *name == index.name) {
                ops.push(Op::CreateIndex {
                    table: index.table.clone(),
                    name: index.name.clone(),
                    columns: index.columns.clone(),
                    where_null: index.where_null.clone(),
                    unique: index.unique,
                });
            }
        }
        add_constraints(&existing_constraints, constraints, &mut ops);
        now_versioned.retain(|table| tables.contains_key(table));
        now_native.retain(|table| tables.contains_key(table));
        let mut next = History {
            applied: self.applied.clone(),
            unique: unique
                .into_iter()
                .filter(|(key, _)| tables.contains_key(key.split('.').next().unwrap_or("")))
                .collect(),
            tables,
            retired_tables,
            versioned: now_versioned,
            native: now_native,
        };
        if ops.is_empty() {
            return Ok(next);
        }
        let version = self.applied.last().map_or(1, |m| m.version + 1);
        let name = migration_name(version, &ops);
        next.applied.push(Migration { version, name, ops });
        Ok(next)
    }

    /// [`History::advance`], first renaming the tables `renames` declares, all in one
    /// migration: the table keeps its rows, columns (retired ones too) and versions, and the
    /// indexes named after the old table are made again under the new name, so that every
    /// index is named after its table on PostgreSQL and SQLite alike and later migrations find
    /// it by that name. A rename already made (the table has the new name) does nothing.
    ///
    /// # Errors
    /// As [`History::advance`]; [`Error::Schema`] for a rename from a table the history does not
    /// have, or onto one it has.
    pub(crate) fn advance_renaming(
        &self,
        service: &str,
        renames: &[TableRename],
        wanted: &[(String, Vec<Wanted>)],
        versioned: &BTreeSet<String>,
        indexes: &[Index],
        drops: &[&DropRequest],
    ) -> Result<History, Error> {
        let mut base = self.clone();
        let mut ops = Vec::new();
        let mut problems = Diagnostics::default();
        for rename in renames.iter().filter(|r| r.from != r.to) {
            base.rename_table(service, rename, &mut ops, &mut problems);
        }
        if problems.has_errors() {
            return Err(Error::Schema(problems));
        }
        if ops.is_empty() {
            return self.advance(service, wanted, versioned, indexes, drops);
        }
        // The renames as a migration of their own first, so that `advance` sees the indexes
        // under their tables' new names; then one migration with everything.
        let version = self.applied.last().map_or(1, |m| m.version + 1);
        base.applied.push(Migration {
            version,
            name: String::new(),
            ops,
        });
        let mut next = base.advance(service, wanted, versioned, indexes, drops)?;
        if next.applied.len() > base.applied.len()
            && let Some(rest) = next.applied.pop()
            && let Some(migration) = next.applied.last_mut()
        {
            migration.ops.extend(rest.ops);
        }
        if let Some(migration) = next.applied.last_mut() {
            migration.name = rename_migration_name(&migration.ops);
        }
        Ok(next)
    }

    /// Moves what the history knows of `rename.from` to `rename.to`, pushing the operations.
    fn rename_table(&mut self, service: &str, rename: &TableRename, ops: &mut Vec<Op>, problems: &mut Diagnostics) {
        let TableRename { from, to, .. } = rename;
        let problem = |message: String, help: String| {
            Diagnostic::error(Code::E029, message)
                .at(rename.span.clone(), "declared a rename")
                .help(help)
        };
        match (self.tables.contains_key(from), self.tables.contains_key(to)) {
            // Renamed by an earlier generation: `renamed_from` may stay in the manifest.
            (false, true) => {}
            (false, false) => problems.push(problem(
                format!(
                    "`{}` is renamed from `{}`, but `{service}` has no table `{from}`",
                    rename.entity, rename.old_entity
                ),
                "remove `renamed_from` to create a new table, or write the name the entity had before (see the tables in fleet.lock)".to_owned(),
            )),
            (true, true) => problems.push(problem(
                format!("`{}` is renamed from `{}`, but table `{to}` is already there", rename.entity, rename.old_entity),
                if self.retired_tables.contains(to) {
                    format!("`{to}` is retired with the rows of an entity removed earlier: drop it first (`fleetwright generate --drop {service}.{to}`), or give the entity another name")
                } else {
                    format!("remove `renamed_from`: `{from}` stays retired with its rows")
                },
            )),
            (true, false) => {
                if let Some(columns) = self.tables.remove(from) {
                    self.tables.insert(to.clone(), columns);
                }
                self.retired_tables.retain(|t| t != from);
                if self.versioned.remove(from) {
                    self.versioned.insert(to.clone());
                }
                if self.native.remove(from) {
                    self.native.insert(to.clone());
                }
                ops.push(Op::RenameTable {
                    from: from.clone(),
                    to: to.clone(),
                });
                // Unique indexes are named after their table: `advance` makes the ones still
                // wanted again under the new name (plain indexes follow the table through
                // `indexes`, and go the same way).
                let prefix = format!("{from}.");
                let moved: Vec<String> = self.unique.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                for key in moved {
                    if let Some(index) = self.unique.remove(&key) {
                        ops.push(Op::DropUnique { index });
                    }
                }
            }
        }
    }

    /// The unique indexes after this generation, pushing the operations that get there: one
    /// for each column the manifest marks `unique`, none on a retired column; a retired
    /// table keeps its indexes (nothing writes to it).
    fn follow_unique(
        &self,
        wanted: &[(String, Vec<Wanted>)],
        tables: &BTreeMap<String, Vec<Column>>,
        retired_tables: &[String],
        ops: &mut Vec<Op>,
    ) -> BTreeMap<String, String> {
        let wanted_unique: BTreeSet<String> = wanted
            .iter()
            .flat_map(|(table, columns)| {
                columns
                    .iter()
                    .filter(|w| w.unique)
                    .map(move |w| format!("{table}.{}", w.column.name))
            })
            .collect();
        let mut unique = BTreeMap::new();
        for (key, index) in &self.unique {
            let table = key.split('.').next().unwrap_or_default();
            if wanted_unique.contains(key) || retired_tables.iter().any(|t| t == table) {
                unique.insert(key.clone(), index.clone());
            } else if tables.contains_key(table) {
                ops.push(Op::DropUnique { index: index.clone() });
            }
        }
        for key in wanted_unique {
            if unique.contains_key(&key) {
                continue;
            }
            let (table, column) = key.split_once('.').unwrap_or_default();
            let index = unique_index_name(table, column);
            ops.push(Op::AddUnique {
                table: table.to_owned(),
                column: column.to_owned(),
                index: index.clone(),
            });
            unique.insert(key, index);
        }
        unique
    }

    /// The foreign keys and checks (PostgreSQL only) the applied migrations leave, by name, each
    /// as the operation that would make it now.
    fn constraints(&self) -> BTreeMap<String, Op> {
        let mut found: BTreeMap<String, Op> = BTreeMap::new();
        for op in self.applied.iter().flat_map(|m| &m.ops) {
            match op {
                Op::AddForeignKey { name, .. } | Op::AddCheck { name, .. } => {
                    found.insert(name.clone(), op.clone());
                }
                Op::DropConstraint { name, .. } => {
                    found.remove(name);
                }
                // A dropped table or column takes its constraints with it.
                Op::DropTable { table } => found.retain(|_, op| constraint_table(op) != table),
                Op::DropColumn { table, column } => {
                    found.retain(|_, op| (constraint_table(op), constraint_column(op)) != (table, column));
                }
                // A renamed table keeps its constraints, under their old names, and a foreign key
                // to it follows it.
                Op::RenameTable { from, to } => {
                    for op in found.values_mut() {
                        if let Op::AddForeignKey { table, .. } | Op::AddCheck { table, .. } = op
                            && table == from
                        {
                            table.clone_from(to);
                        }
                        if let Op::AddForeignKey { references, .. } = op
                            && references == from
                        {
                            references.clone_from(to);
                        }
                    }
                }
                // A renamed column keeps its constraints, under their old names.
                Op::RenameColumn { table, from, to } => {
                    for op in found.values_mut() {
                        if let Op::AddForeignKey { table: t, column, .. } | Op::AddCheck { table: t, column, .. } = op
                            && t == table
                            && column == from
                        {
                            column.clone_from(to);
                        }
                    }
                }
                _ => {}
            }
        }
        found
    }

    /// The plain indexes (table, name) the applied migrations, then `pending`, leave in place
    /// (a dropped table takes its indexes with it).
    fn indexes(&self, pending: &[Op]) -> Vec<(String, String)> {
        let mut names: Vec<(&str, &str)> = Vec::new();
        for op in self.applied.iter().flat_map(|m| &m.ops).chain(pending) {
            match op {
                Op::CreateIndex { table, name, .. } => names.push((table, name)),
                Op::DropUnique { index } => names.retain(|(_, n)| n != index),
                Op::DropTable { table } => names.retain(|(t, _)| t != table),
                Op::RenameTable { from, to } => {
                    for (t, _) in &mut names {
                        if t == from {
                            *t = to;
                        }
                    }
                }
                _ => {}
            }
        }
        names.into_iter().map(|(t, n)| (t.to_owned(), n.to_owned())).collect()
    }

    /// The retired columns of `table` that inserts must fill (they cannot be NULL), with the
    /// literal each takes.
    pub(crate) fn retired_fills(&self, table: &str) -> Vec<(String, String)> {
        self.tables
            .get(table)
            .into_iter()
            .flatten()
            .filter(|c| c.retired)
            .filter_map(|c| retired_fill(&c.spec).map(|fill| (c.name.clone(), fill)))
            .collect()
    }

    /// Everything retired, as the drop requests that would remove it.
    pub(crate) fn retired(&self, service: &str) -> Vec<DropRequest> {
        let tables = self.retired_tables.iter().map(|table| DropRequest {
            service: service.to_owned(),
            table: table.clone(),
            column: None,
        });
        let columns = self
            .tables
            .iter()
            .filter(|(table, _)| !self.retired_tables.contains(table))
            .flat_map(|(table, columns)| {
                columns.iter().filter(|c| c.retired).map(|c| DropRequest {
                    service: service.to_owned(),
                    table: table.clone(),
                    column: Some(c.name.clone()),
                })
            });
        tables.chain(columns).collect()
    }
}

/// The foreign keys and checks the manifest's tables want (PostgreSQL only): one foreign key
/// per `ref(…)` column, to the table of the entity it names; one check per enum column, of its
/// values. Lists are one JSON text, which neither can see into.
fn wanted_constraints(wanted: &[(String, Vec<Wanted>)]) -> Vec<Op> {
    use heck::ToSnakeCase as _;
    let mut constraints = Vec::new();
    for (table, columns) in wanted {
        for want in columns {
            let Ok(ty) = super::types::parse(&want.column.spec) else {
                continue;
            };
            let column = want.column.name.clone();
            match ty.base {
                _ if ty.list => {}
                super::BaseType::Ref { entity } => constraints.push(Op::AddForeignKey {
                    table: table.clone(),
                    name: foreign_key_name(table, &column),
                    references: super::resolve::plural(&entity.to_snake_case()),
                    column,
                    not_valid: false,
                }),
                super::BaseType::Enum { variants } => constraints.push(Op::AddCheck {
                    table: table.clone(),
                    name: check_name(table, &column),
                    column,
                    values: variants,
                    not_valid: false,
                }),
                super::BaseType::Scalar { .. } => {}
            }
        }
    }
    constraints
}

/// A migration's name: what its one change does (`add_orders_note`), else `update_schema`.
fn migration_name(version: u32, ops: &[Op]) -> String {
    if version == 1 {
        "init".to_owned()
    } else {
        // A new table's indexes are part of creating it.
        let created = |t: &String| {
            ops.iter()
                .any(|op| matches!(op, Op::CreateTable { table, .. } if table == t))
        };
        let named: Vec<&Op> = ops
            .iter()
            .filter(|op| !matches!(op, Op::CreateIndex { table, .. } if created(table)))
            .filter(|op| !is_constraint(op))
            .collect();
        match named.as_slice() {
            [] => "constraints".to_owned(),
            [Op::CreateTable { table, .. }] => format!("create_{table}"),
            [Op::AddColumn { table, column, .. }] => format!("add_{table}_{}", column.name),
            [Op::RenameColumn { table, to, .. }] => format!("rename_{table}_{to}"),
            [Op::ReplaceValue { table, column, .. }, ..]
                if named.iter().all(|op| matches!(op, Op::ReplaceValue { .. })) =>
            {
                format!("replace_{table}_{column}_values")
            }
            [Op::AddUnique { table, column, .. }] => format!("unique_{table}_{column}"),
            [Op::DropColumn { table, column }] => format!("drop_{table}_{column}"),
            [Op::DropTable { table }] => format!("drop_{table}"),
            [Op::CreateIndex { name, .. }] => format!("index_{name}"),
            _ => "update_schema".to_owned(),
        }
    }
}

/// Drops each constraint the applied migrations left that is no longer wanted as it is. A
/// constraint that goes or changes goes first: before an enum value is replaced by a new one
/// the old check refuses, a column it covers is dropped, or a table it refers to (a retired
/// table's foreign keys would refuse deleting the rows they refer to).
fn drop_constraints(existing: &BTreeMap<String, Op>, wanted: &[Op], ops: &mut Vec<Op>) {
    for (name, op) in existing {
        if !wanted.iter().any(|want| same_constraint(want, op)) {
            ops.push(Op::DropConstraint {
                table: constraint_table(op).to_owned(),
                name: name.clone(),
            });
        }
    }
}

/// Adds each wanted constraint not there yet. A constraint comes last, on the columns and
/// tables as this migration leaves them; a table that had rows before is not checked again
/// (`NOT VALID`): every write from then on is.
fn add_constraints(existing: &BTreeMap<String, Op>, wanted: Vec<Op>, ops: &mut Vec<Op>) {
    for mut constraint in wanted {
        if existing.values().any(|op| same_constraint(op, &constraint)) {
            continue;
        }
        let table = constraint_table(&constraint).to_owned();
        let created = ops
            .iter()
            .any(|op| matches!(op, Op::CreateTable { table: t, .. } if *t == table));
        if let Op::AddForeignKey { not_valid, .. } | Op::AddCheck { not_valid, .. } = &mut constraint {
            *not_valid = !created;
        }
        ops.push(constraint);
    }
}

/// A foreign key or check operation.
fn is_constraint(op: &Op) -> bool {
    matches!(
        op,
        Op::AddForeignKey { .. } | Op::AddCheck { .. } | Op::DropConstraint { .. }
    )
}

/// Whether two constraint operations make the same constraint (checked or not).
fn same_constraint(a: &Op, b: &Op) -> bool {
    let checked = |op: &Op| {
        let mut op = op.clone();
        if let Op::AddForeignKey { not_valid, .. } | Op::AddCheck { not_valid, .. } = &mut op {
            *not_valid = false;
        }
        op
    };
    checked(a) == checked(b)
}

/// The table a constraint operation is on.
fn constraint_table(op: &Op) -> &str {
    match op {
        Op::AddForeignKey { table, .. } | Op::AddCheck { table, .. } | Op::DropConstraint { table, .. } => table,
        _ => "",
    }
}

/// The column a foreign key or check covers.
fn constraint_column(op: &Op) -> &str {
    match op {
        Op::AddForeignKey { column, .. } | Op::AddCheck { column, .. } => column,
        _ => "",
    }
}

/// The columns of an existing `table` after bringing it to `columns`, pushing the operations
/// that takes and the problems that need a decision. Columns the manifest no longer names
/// stay, retired, after the wanted ones.
fn advance_table(
    table: &String,
    existing: &[Column],
    columns: &[Wanted],
    text_ids: &dyn Fn(&str) -> bool,
    ops: &mut Vec<Op>,
    problems: &mut Diagnostics,
) -> Vec<Column> {
    let mut remaining: Vec<Column> = existing.to_vec();
    let mut next = Vec::new();
    for want in columns {
        let here = |name: &str, remaining: &[Column]| remaining.iter().position(|c| c.name == name);
        let found = here(&want.column.name, &remaining).map(|i| (i, false)).or_else(|| {
            want.renamed_from
                .as_deref()
                .and_then(|old| here(old, &remaining))
                .map(|i| (i, true))
        });
        match found {
            None => {
                if want.renamed_from.is_some() {
                    problems.push(
                        Diagnostic::error(
                            Code::E029,
                            format!(
                                "`{}` is renamed from `{}`, but table `{table}` has no such column",
                                want.column.name,
                                want.renamed_from.as_deref().unwrap_or_default()
                            ),
                        )
                        .at(want.name_span.clone(), "declared a rename")
                        .help("remove `renamed_from` to add a new column, or write the name the column has (see fleet.lock)"),
                    );
                }
                let required = retired_fill(&want.column.spec).is_some() && !want.column.spec.ends_with("[]");
                if required && want.default.is_none() && want.renamed_from.is_none() {
                    problems.push(
                        Diagnostic::error(
                            Code::E029,
                            format!(
                                "new required field `{}` needs a default for the rows `{table}` already has",
                                want.column.name
                            ),
                        )
                        .at(want.name_span.clone(), "added to a stored entity")
                        .help(format!(
                            "write `{} = {{ type = \"{}\", default = ... }}`, or make it optional (`{}?`)",
                            want.column.name, want.column.spec, want.column.spec
                        )),
                    );
                }
                // A default that is the type's own reads back from the SQL as none: one
                // spelling of each migration, so a lock rebuilt from the files is the same.
                let default = want.default.clone().filter(|literal| {
                    format!("{} DEFAULT {literal}", column_type(&want.column.spec, false))
                        != column_type(&want.column.spec, true)
                });
                let column = Column {
                    native: !want.runtime && native_now(&want.column.spec, text_ids),
                    ..want.column.clone()
                };
                ops.push(Op::AddColumn {
                    table: table.clone(),
                    column: column.clone(),
                    default,
                });
                next.push(column);
            }
            Some((index, renamed)) => {
                let old = remaining.remove(index);
                let column = Column {
                    native: old.native,
                    ..want.column.clone()
                };
                // A native column keeps its PostgreSQL type: the new spec must want the same.
                let same_native = column.native_type() == old.native_type()
                    && (!old.native || native_now(&want.column.spec, text_ids));
                if column_type(&old.spec, false) != column_type(&want.column.spec, false) || !same_native {
                    problems.push(
                        Diagnostic::error(
                            Code::E029,
                            format!(
                                "changing `{table}.{}` from `{}` to `{}` needs a data migration",
                                old.name, old.spec, want.column.spec
                            ),
                        )
                        .at(want.type_span.clone(), "a new column type")
                        .help(
                            "add a new field with the new type instead (and remove the old one when its data is moved)",
                        ),
                    );
                }
                if renamed {
                    ops.push(Op::RenameColumn {
                        table: table.clone(),
                        from: old.name.clone(),
                        to: want.column.name.clone(),
                    });
                }
                replace_removed_values(table, &old, want, ops, problems);
                next.push(column);
            }
        }
    }
    // What the manifest no longer names stays, retired, with its data.
    next.extend(remaining.into_iter().map(|c| Column { retired: true, ..c }));
    next
}

/// For an enum column whose values shrank: one `UPDATE` per removed value the manifest
/// replaces, and a problem for each it does not (rows may hold it, and would no longer load).
fn replace_removed_values(table: &str, old: &Column, want: &Wanted, ops: &mut Vec<Op>, problems: &mut Diagnostics) {
    let variants = |spec: &str| match super::types::parse(spec).map(|t| (t.base, t.list)) {
        Ok((super::BaseType::Enum { variants }, list)) => Some((variants, list)),
        _ => None,
    };
    let (Some((before, _)), Some((after, list))) = (variants(&old.spec), variants(&want.column.spec)) else {
        return;
    };
    for removed in before.iter().filter(|v| !after.contains(v)) {
        match want.replaced_values.iter().find(|(from, _)| from == removed) {
            Some((from, to)) => ops.push(Op::ReplaceValue {
                table: table.to_owned(),
                column: want.column.name.clone(),
                from: from.clone(),
                to: to.clone(),
                list,
                native: list && old.native,
            }),
            None => problems.push(
                Diagnostic::error(
                    Code::E029,
                    format!("`{removed}` is removed from `{}`, but stored rows may hold it", want.column.name),
                )
                .at(want.type_span.clone(), "a value is gone")
                .help(format!(
                    "say what those rows become: `{} = {{ type = \"{}\", replaced_values = {{ {removed} = \"{}\" }} }}`",
                    want.column.name,
                    want.column.spec,
                    after.first().map_or("...", String::as_str)
                )),
            ),
        }
    }
}

/// The name of a migration that renames a table: after the rename when that is all it does
/// (with the columns renamed and the indexes and constraints made again on that table), else a
/// general one.
fn rename_migration_name(ops: &[Op]) -> String {
    let renamed: Vec<(&String, &String)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::RenameTable { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    let [(from, to)] = renamed.as_slice() else {
        return "update_schema".to_owned();
    };
    let on_it = ops.iter().all(|op| match op {
        Op::RenameTable { .. } | Op::DropUnique { .. } => true,
        Op::RenameColumn { table, .. } | Op::AddUnique { table, .. } | Op::CreateIndex { table, .. } => table == *to,
        // Its constraints, named after the old table, made again under the new name.
        op => is_constraint(op),
    });
    if on_it {
        format!("rename_{from}_to_{to}")
    } else {
        "update_schema".to_owned()
    }
}

/// Drops one retired table or column, as asked.
fn drop_retired(
    service: &str,
    drop: &DropRequest,
    tables: &mut BTreeMap<String, Vec<Column>>,
    retired_tables: &mut Vec<String>,
    ops: &mut Vec<Op>,
) -> Result<(), Error> {
    let retired = History {
        applied: Vec::new(),
        tables: tables.clone(),
        retired_tables: retired_tables.clone(),
        versioned: BTreeSet::new(),
        unique: BTreeMap::new(),
        native: BTreeSet::new(),
    }
    .retired(service);
    let refused = |why: String| {
        let help = if retired.is_empty() {
            format!("`{service}` has nothing retired to drop")
        } else {
            format!(
                "what `{service}` has retired: {}",
                retired.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
            )
        };
        Error::Usage {
            message: format!("cannot drop `{drop}`: {why}"),
            help: Some(help),
        }
    };
    let Some(columns) = tables.get_mut(&drop.table) else {
        return Err(refused(format!("`{service}` has no table `{}`", drop.table)));
    };
    match &drop.column {
        None if retired_tables.contains(&drop.table) => {
            retired_tables.retain(|t| *t != drop.table);
            tables.remove(&drop.table);
            ops.push(Op::DropTable {
                table: drop.table.clone(),
            });
        }
        None => return Err(refused("its entity is still in fleet.toml".to_owned())),
        Some(_) if retired_tables.contains(&drop.table) => {
            return Err(refused("its whole table is retired; drop the table".to_owned()));
        }
        Some(column) => match columns.iter().position(|c| c.name == *column) {
            Some(index) if columns[index].retired => {
                columns.remove(index);
                ops.push(Op::DropColumn {
                    table: drop.table.clone(),
                    column: column.clone(),
                });
            }
            Some(_) => return Err(refused("its field is still in fleet.toml".to_owned())),
            None => return Err(refused(format!("table `{}` has no column `{column}`", drop.table))),
        },
    }
    Ok(())
}

#[cfg(test)]
impl History {
    /// [`History::advance`] to plain columns (required ones defaulting to their type's
    /// default, no renames or replacements), dropping nothing.
    pub(crate) fn advance_plain(&self, service: &str, wanted: &[(String, Vec<Column>)]) -> Result<History, Error> {
        self.advance(service, &plain(wanted), &BTreeSet::new(), &[], &[])
    }
}

#[cfg(test)]
pub(crate) fn plain(wanted: &[(String, Vec<Column>)]) -> Vec<(String, Vec<Wanted>)> {
    let column = |c: &Column| Wanted {
        default: retired_fill(&c.spec).filter(|_| !c.spec.ends_with("[]")),
        ..Wanted::plain(c.clone())
    };
    wanted
        .iter()
        .map(|(table, columns)| (table.clone(), columns.iter().map(column).collect()))
        .collect()
}

impl History {
    /// What the migrations after version `since` delete, one sentence per dropped table or
    /// column, so that no generation drops data without saying so.
    pub(crate) fn drops_after(&self, since: u32) -> Vec<String> {
        let mut out = Vec::new();
        for migration in self.applied.iter().filter(|m| m.version > since) {
            for op in &migration.ops {
                let what = match op {
                    Op::DropTable { table } => format!("table `{table}` and every row in it"),
                    Op::DropColumn { table, column } => format!("column `{table}.{column}` and its data"),
                    Op::CreateTable { .. }
                    | Op::AddVersion { .. }
                    | Op::AddUnique { .. }
                    | Op::DropUnique { .. }
                    | Op::AddColumn { .. }
                    | Op::RenameColumn { .. }
                    | Op::RenameTable { .. }
                    | Op::ReplaceValue { .. }
                    | Op::CreateIndex { .. }
                    | Op::AddForeignKey { .. }
                    | Op::AddCheck { .. }
                    | Op::DropConstraint { .. } => continue,
                };
                out.push(format!(
                    "migration {} drops {what} when it is applied",
                    migration.file_name()
                ));
            }
        }
        out
    }
}

impl History {
    /// What the migrations after version `since` rename, one sentence per table or column,
    /// saying that the data stays and what a release still running the old build meets.
    pub(crate) fn renames_after(&self, since: u32) -> Vec<String> {
        let mut out = Vec::new();
        for migration in self.applied.iter().filter(|m| m.version > since) {
            for op in &migration.ops {
                let what = match op {
                    Op::RenameTable { from, to } => format!(
                        "renames table `{from}` to `{to}`, keeping its rows, columns and versions (its indexes are made again under the new name)"
                    ),
                    Op::RenameColumn { table, from, to } => {
                        format!("renames column `{table}.{from}` to `{to}`, keeping its data")
                    }
                    _ => continue,
                };
                out.push(format!(
                    "migration {} {what}; a release still running the old build fails on the old name until the rollout replaces it",
                    migration.file_name()
                ));
            }
        }
        out
    }
}

impl History {
    /// The unique keys the migrations after version `since` add to tables that were there
    /// before them, one sentence each: rows already holding the same values make the migration
    /// fail when it is applied, so the sentence says how to find them first.
    pub(crate) fn keys_after(&self, since: u32) -> Vec<String> {
        let mut out = Vec::new();
        for migration in self.applied.iter().filter(|m| m.version > since) {
            let created =
                |t: &str| (migration.ops.iter()).any(|op| matches!(op, Op::CreateTable { table, .. } if table == t));
            for op in &migration.ops {
                let (table, index, columns) = match op {
                    Op::AddUnique { table, column, index } => (table, index, std::slice::from_ref(column)),
                    Op::CreateIndex {
                        table,
                        name,
                        columns,
                        unique: true,
                        ..
                    } => (table, name, &columns[..]),
                    _ => continue,
                };
                if created(table) {
                    continue;
                }
                let columns = columns
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(format!(
                    "migration {} makes `{index}` unique on `{table}`, which may hold rows already: duplicates make it fail when it is applied; find them first with `SELECT {columns}, COUNT(*) FROM \"{table}\" GROUP BY {columns} HAVING COUNT(*) > 1`",
                    migration.file_name()
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, spec: &str) -> Column {
        Column::new(name, spec)
    }

    fn orders(columns: Vec<Column>) -> Vec<(String, Vec<Column>)> {
        vec![("orders".into(), columns)]
    }

    /// `orders` (a required and an optional column) and `notes`, created.
    fn orders_and_notes() -> History {
        History::default()
            .advance_plain(
                "o",
                &[
                    ("orders".into(), vec![col("total", "int64"), col("note", "text?")]),
                    ("notes".into(), vec![col("body", "text")]),
                ],
            )
            .unwrap()
    }

    fn codes(error: &Error) -> Vec<&'static str> {
        match error {
            Error::Schema(found) => found.items.iter().map(|d| d.code).collect(),
            other => panic!("expected schema problems, got {other}"),
        }
    }

    #[test]
    fn additive_changes_append_one_migration_and_never_touch_old_ones() {
        let v1 = History::default()
            .advance_plain("orders", &orders(vec![col("total", "int64")]))
            .unwrap();
        assert_eq!(v1.applied.len(), 1);
        assert_eq!(v1.applied[0].file_name(), "0001_init.sql");
        assert!(v1.applied[0].sql().contains("\"total\" BIGINT NOT NULL,"));
        let same = v1
            .advance_plain("orders", &orders(vec![col("total", "int64")]))
            .unwrap();
        assert_eq!(same, v1);
        let v2 = v1
            .advance_plain("orders", &orders(vec![col("total", "int64"), col("note", "text?")]))
            .unwrap();
        assert_eq!(v2.applied[0], v1.applied[0]);
        assert_eq!(v2.applied[1].file_name(), "0002_add_orders_note.sql");
        assert_eq!(
            v2.applied[1].sql(),
            "ALTER TABLE \"orders\" ADD COLUMN \"note\" TEXT;\n"
        );
    }

    #[test]
    fn a_removed_field_or_entity_is_retired_with_its_data_not_dropped() {
        let v1 = orders_and_notes();
        let v2 = v1.advance_plain("o", &orders(vec![col("note", "text?")])).unwrap();
        // No migration at all: the column and the table stay, marked retired.
        assert_eq!(v2.applied, v1.applied);
        assert!(v2.tables["orders"].iter().any(|c| c.name == "total" && c.retired));
        assert_eq!(v2.retired_tables, ["notes"]);
        assert_eq!(
            v2.retired("o").iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["o.notes", "o.orders.total"]
        );
        // Inserts fill the retired NOT NULL column; the nullable one needs nothing.
        assert_eq!(v2.retired_fills("orders"), [("total".to_owned(), "0".to_owned())]);
        // Brought back with the same type: the column and its data are used again.
        let v3 = v2
            .advance_plain("o", &orders(vec![col("note", "text?"), col("total", "int64")]))
            .unwrap();
        assert_eq!(v3.applied, v1.applied);
        assert!(v3.tables["orders"].iter().all(|c| !c.retired));
        assert!(v3.retired_fills("orders").is_empty());
    }

    #[test]
    fn only_an_explicit_request_drops_a_retired_column_or_table() {
        let v1 = orders_and_notes();
        let wanted = plain(&orders(vec![col("total", "int64")]));
        let request = |text: &str| text.parse::<DropRequest>().unwrap();
        let (note, notes) = (request("o.orders.note"), request("o.notes"));
        let v2 = v1
            .advance("o", &wanted, &BTreeSet::new(), &[], &[&note, &notes])
            .unwrap();
        let last = v2.applied.last().unwrap();
        assert_eq!(
            last.sql(),
            "ALTER TABLE \"orders\" DROP COLUMN \"note\";\nDROP TABLE \"notes\";\n"
        );
        assert!(v2.retired("o").is_empty());
        assert!(!v2.tables.contains_key("notes"));
        assert_eq!(v2.drops_after(1).len(), 2);
        // A column still in the manifest, or one that does not exist, is refused by name.
        let total = request("o.orders.total");
        let error = v1.advance("o", &wanted, &BTreeSet::new(), &[], &[&total]).unwrap_err();
        assert!(
            error.to_string().contains("its field is still in fleet.toml"),
            "{error}"
        );
        assert!(
            error.help().unwrap().contains("`o.notes`, `o.orders.note`"),
            "{error:?}"
        );
        let unknown = request("o.orders.nope");
        assert!(v1.advance("o", &wanted, &BTreeSet::new(), &[], &[&unknown]).is_err());
        assert!("o".parse::<DropRequest>().is_err() && "o..x".parse::<DropRequest>().is_err());
    }

    #[test]
    fn a_new_required_field_of_a_stored_entity_needs_a_default() {
        let v1 = History::default()
            .advance_plain("o", &orders(vec![col("total", "int64")]))
            .unwrap();
        let mut wanted = plain(&orders(vec![col("total", "int64"), col("paid", "bool")]));
        wanted[0].1[1].default = None;
        assert_eq!(
            codes(&v1.advance("o", &wanted, &BTreeSet::new(), &[], &[]).unwrap_err()),
            ["E029"]
        );
        wanted[0].1[1].default = Some("1".into());
        let v2 = v1.advance("o", &wanted, &BTreeSet::new(), &[], &[]).unwrap();
        assert_eq!(
            v2.applied[1].sql(),
            "ALTER TABLE \"orders\" ADD COLUMN \"paid\" INTEGER NOT NULL DEFAULT 1;\n"
        );
        // Optional and list fields need none: NULL and `[]` are their own defaults.
        let wanted = [(
            "orders".to_owned(),
            vec![
                Wanted::plain(col("total", "int64")),
                Wanted::plain(col("note", "text?")),
                Wanted::plain(col("tags", "string[]")),
            ],
        )];
        assert!(v1.advance("o", &wanted, &BTreeSet::new(), &[], &[]).is_ok());
        // A new entity's table has no rows yet.
        let fresh = [("lines".to_owned(), vec![Wanted::plain(col("qty", "int32"))])];
        assert!(v1.advance("o", &fresh, &BTreeSet::new(), &[], &[]).is_ok());
    }

    #[test]
    fn a_declared_rename_keeps_the_column_and_its_data() {
        let v1 = History::default()
            .advance_plain("users", &[("users".into(), vec![col("display_name", "string")])])
            .unwrap();
        let renamed = |from: &str| {
            vec![(
                "users".to_owned(),
                vec![Wanted {
                    renamed_from: Some(from.to_owned()),
                    ..Wanted::plain(col("full_name", "string"))
                }],
            )]
        };
        let v2 = v1
            .advance("users", &renamed("display_name"), &BTreeSet::new(), &[], &[])
            .unwrap();
        assert_eq!(v2.applied[1].file_name(), "0002_rename_users_full_name.sql");
        assert_eq!(
            v2.applied[1].sql(),
            "ALTER TABLE \"users\" RENAME COLUMN \"display_name\" TO \"full_name\";\n"
        );
        assert_eq!(v2.tables["users"], [col("full_name", "string")]);
        // Generating again with `renamed_from` still written changes nothing.
        assert_eq!(
            v2.advance("users", &renamed("display_name"), &BTreeSet::new(), &[], &[])
                .unwrap(),
            v2
        );
        // A rename from a column that never existed needs a decision.
        assert_eq!(
            codes(
                &v1.advance("users", &renamed("nick"), &BTreeSet::new(), &[], &[])
                    .unwrap_err()
            ),
            ["E029"]
        );
    }

    fn customers_to_clients() -> TableRename {
        TableRename {
            from: "customers".into(),
            to: "clients".into(),
            entity: "Client".into(),
            old_entity: "Customer".into(),
            span: 0..0,
        }
    }

    /// `customers` (or `clients`): `email` unique, `tier` filtered, `level` (or `rank`), every
    /// table versioned.
    type Customers = (Vec<(String, Vec<Wanted>)>, BTreeSet<String>, Vec<Index>);

    fn customers(table: &str, level: &str) -> Customers {
        let mut wanted = plain(&[(
            table.into(),
            vec![col("email", "string"), col("tier", "string"), col(level, "int32")],
        )]);
        wanted[0].1[0].unique = true;
        if level != "level" {
            wanted[0].1[2].renamed_from = Some("level".into());
        }
        let index = Index {
            table: table.into(),
            name: filter_index_name(table, "tier"),
            columns: vec!["tier".into()],
            where_null: None,
            unique: false,
        };
        (wanted, [table.to_owned()].into(), vec![index])
    }

    #[test]
    fn a_unique_key_on_a_table_that_was_there_is_said_and_one_made_with_its_table_is_not() {
        let key = |table: &str| Op::CreateIndex {
            table: table.into(),
            name: format!("{table}_a_b_key"),
            columns: vec!["a".into(), "b".into()],
            where_null: None,
            unique: true,
        };
        let mut history = History::default();
        let create = |table: &str| Op::CreateTable {
            table: table.into(),
            columns: vec![col("a", "string"), col("b", "string")],
            versioned: true,
            native: false,
        };
        // `old` is made with a key; later `new` too, while `old` gets a key over (a, b) again
        // (as after the key was removed) and one on `a`.
        let add_unique = Op::AddUnique {
            table: "old".into(),
            column: "a".into(),
            index: "old_a_key".into(),
        };
        history.applied.push(Migration {
            version: 1,
            name: "init".into(),
            ops: vec![create("old"), key("old")],
        });
        history.applied.push(Migration {
            version: 2,
            name: "update_schema".into(),
            ops: vec![create("new"), key("new"), key("old"), add_unique],
        });
        let said = history.keys_after(0);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].contains("0002_update_schema.sql makes `old_a_b_key` unique on `old`"),
            "{said:?}"
        );
        assert!(said[0].contains(r#"GROUP BY "a", "b" HAVING COUNT(*) > 1"#), "{said:?}");
        assert!(said[1].contains("makes `old_a_key` unique on `old`"), "{said:?}");
        assert!(history.keys_after(2).is_empty(), "only migrations after the one asked");
    }

    #[test]
    fn a_declared_table_rename_keeps_the_table_and_names_its_indexes_after_it() {
        let (wanted, versioned, indexes) = customers("customers", "level");
        let v1 = History::default()
            .advance("o", &wanted, &versioned, &indexes, &[])
            .unwrap();
        // Renamed, with a column renamed in the same step: one migration, nothing dropped
        // but the indexes named after the old table, made again under the new name.
        let (wanted, versioned, indexes) = customers("clients", "rank");
        let rename = [customers_to_clients()];
        let v2 = v1
            .advance_renaming("o", &rename, &wanted, &versioned, &indexes, &[])
            .unwrap();
        assert_eq!(v2.applied.len(), 2);
        assert_eq!(v2.applied[1].file_name(), "0002_rename_customers_to_clients.sql");
        assert_eq!(
            v2.applied[1].sql(),
            "ALTER TABLE \"customers\" RENAME TO \"clients\";\n\
             DROP INDEX \"customers_email_key\";\n\
             ALTER TABLE \"clients\" RENAME COLUMN \"level\" TO \"rank\";\n\
             CREATE UNIQUE INDEX \"clients_email_key\" ON \"clients\" (\"email\");\n\
             DROP INDEX \"customers_tier_idx\";\n\
             CREATE INDEX \"clients_tier_idx\" ON \"clients\" (\"tier\");\n"
        );
        // The lock's state of the table moved with it: columns, version, unique index.
        assert_eq!(v2.tables.keys().collect::<Vec<_>>(), ["clients"]);
        assert_eq!(v2.tables["clients"][2], col("rank", "int32"));
        assert_eq!(v2.versioned, BTreeSet::from(["clients".to_owned()]));
        assert_eq!(
            v2.unique,
            BTreeMap::from([("clients.email".to_owned(), "clients_email_key".to_owned())])
        );
        assert!(v2.retired("o").is_empty());
        assert!(v2.renames_after(1)[0].contains("renames table `customers` to `clients`"));
        // Read back from the files (a lost lock), the migrations lead to the same state.
        let none = |_: &str, _: &str| None;
        let read = v2
            .applied
            .iter()
            .map(|m| crate::model::recover::parse_migration(&m.file_name(), &m.sql(), &none).unwrap())
            .collect();
        let replayed = crate::model::recover::replay(History::default(), read);
        assert_eq!(replayed.applied, v2.applied);
        assert_eq!(
            (&replayed.tables, &replayed.versioned, &replayed.unique),
            (&v2.tables, &v2.versioned, &v2.unique)
        );
        // Generating again with `renamed_from` still written changes nothing.
        assert_eq!(
            v2.advance_renaming("o", &rename, &wanted, &versioned, &indexes, &[])
                .unwrap(),
            v2
        );
        // A later change finds the indexes under the new name.
        let (mut plainer, versioned, _) = customers("clients", "rank");
        plainer[0].1[0].unique = false;
        let v3 = v2.advance("o", &plainer, &versioned, &[], &[]).unwrap();
        assert_eq!(
            v3.applied[2].sql(),
            "DROP INDEX \"clients_email_key\";\nDROP INDEX \"clients_tier_idx\";\n"
        );
        // Retired columns travel too, still retired.
        let (mut fewer, versioned, indexes) = customers("clients", "rank");
        fewer[0].1.truncate(2);
        let retiring = v1
            .advance_renaming("o", &rename, &fewer, &versioned, &indexes, &[])
            .unwrap();
        assert!(retiring.tables["clients"][2].retired);
        assert_eq!(
            retiring.retired_fills("clients"),
            [("level".to_owned(), "0".to_owned())]
        );
    }

    #[test]
    fn a_table_rename_from_nothing_or_onto_a_table_is_refused() {
        let (wanted, versioned, indexes) = customers("customers", "level");
        let v1 = History::default()
            .advance("o", &wanted, &versioned, &indexes, &[])
            .unwrap();
        let (wanted, versioned, indexes) = customers("clients", "level");
        let from_nothing = TableRename {
            from: "people".into(),
            ..customers_to_clients()
        };
        let error = v1
            .advance_renaming("o", &[from_nothing], &wanted, &versioned, &indexes, &[])
            .unwrap_err();
        assert_eq!(codes(&error), ["E029"]);
        assert!(error.to_string().contains("`o` has no table `people`"), "{error}");
        // `clients` retired (its entity removed), then `Customer` renamed onto it.
        let retired = History::default()
            .advance_plain("o", &[("clients".into(), vec![col("email", "string")])])
            .unwrap()
            .advance_plain("o", &[("customers".into(), vec![col("email", "string")])])
            .unwrap();
        let error = retired
            .advance_renaming("o", &[customers_to_clients()], &wanted, &versioned, &indexes, &[])
            .unwrap_err();
        assert_eq!(codes(&error), ["E029"]);
        let Error::Schema(found) = &error else { unreachable!() };
        let help = found.items[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("--drop o.clients"), "{help}");
    }

    #[test]
    fn a_removed_enum_value_needs_the_value_that_replaces_it() {
        let v1 = History::default()
            .advance_plain(
                "o",
                &orders(vec![
                    col("status", "enum(draft, held, paid)"),
                    col("flags", "enum(a, b)[]"),
                ]),
            )
            .unwrap();
        let mut wanted = plain(&orders(vec![
            col("status", "enum(draft, paid)"),
            col("flags", "enum(a)[]"),
        ]));
        assert_eq!(
            codes(&v1.advance("o", &wanted, &BTreeSet::new(), &[], &[]).unwrap_err()),
            ["E029", "E029"]
        );
        wanted[0].1[0].replaced_values = vec![("held".into(), "draft".into())];
        wanted[0].1[1].replaced_values = vec![("b".into(), "a".into())];
        let v2 = v1.advance("o", &wanted, &BTreeSet::new(), &[], &[]).unwrap();
        assert_eq!(v2.applied[1].name, "replace_orders_status_values");
        // On PostgreSQL the check goes before the rows change, and comes back with the values
        // left (a list is one JSON text: no check).
        assert_eq!(
            v2.applied[1].sql(),
            "ALTER TABLE \"orders\" DROP CONSTRAINT \"orders_status_check\"; -- PostgreSQL only\n\
             UPDATE \"orders\" SET \"status\" = 'draft' WHERE \"status\" = 'held';\n\
             UPDATE \"orders\" SET \"flags\" = REPLACE(\"flags\", '\"b\"', '\"a\"') WHERE \"flags\" LIKE '%\"b\"%';\n\
             ALTER TABLE \"orders\" ADD CONSTRAINT \"orders_status_check\" CHECK (\"status\" IN ('draft', 'paid')) NOT VALID; -- PostgreSQL only\n"
        );
        // A new value needs nothing but a new check on PostgreSQL.
        let v3 = v2
            .advance_plain(
                "o",
                &orders(vec![
                    col("status", "enum(draft, paid, void)"),
                    col("flags", "enum(a)[]"),
                ]),
            )
            .unwrap();
        assert_eq!(v3.applied[2].name, "constraints");
        assert_eq!(
            v3.applied[2].sql(),
            "ALTER TABLE \"orders\" DROP CONSTRAINT \"orders_status_check\"; -- PostgreSQL only\n\
             ALTER TABLE \"orders\" ADD CONSTRAINT \"orders_status_check\" CHECK (\"status\" IN ('draft', 'paid', 'void')) NOT VALID; -- PostgreSQL only\n"
        );
        assert_eq!(v3.tables["orders"][0].spec, "enum(draft, paid, void)");
    }

    #[test]
    fn a_unique_field_has_an_index_that_follows_it() {
        let mut wanted = plain(&orders(vec![col("total", "int64"), col("code", "string")]));
        wanted[0].1[1].unique = true;
        let v1 = History::default()
            .advance("o", &wanted, &BTreeSet::new(), &[], &[])
            .unwrap();
        assert!(
            v1.applied[0]
                .sql()
                .ends_with("CREATE UNIQUE INDEX \"orders_code_key\" ON \"orders\" (\"code\");\n"),
            "{}",
            v1.applied[0].sql()
        );
        assert_eq!(v1.advance("o", &wanted, &BTreeSet::new(), &[], &[]).unwrap(), v1);
        // A retired column loses its index: inserts fill it with one value for every row.
        let v2 = v1.advance_plain("o", &orders(vec![col("total", "int64")])).unwrap();
        assert_eq!(v2.applied[1].sql(), "DROP INDEX \"orders_code_key\";\n");
        assert!(v2.unique.is_empty());
        let long = unique_index_name(&"t".repeat(40), &"c".repeat(40));
        assert!(long.len() <= 63 && long.ends_with("_key"), "{long}");
        assert_ne!(long, unique_index_name(&"t".repeat(40), &"c".repeat(41)));
    }

    #[test]
    fn an_index_is_created_once_by_the_next_migration_and_again_with_a_recreated_table() {
        let unpublished = [Index {
            table: "outbox".into(),
            name: "outbox_unpublished".into(),
            columns: vec!["position".into(), "id".into()],
            where_null: Some("published_at".into()),
            unique: false,
        }];
        let outbox = plain(&[(
            "outbox".into(),
            vec![col("position", "int64"), col("published_at", "timestamp?")],
        )]);
        // A new workspace: in its first migration, after the table.
        let fresh = History::default()
            .advance("o", &outbox, &BTreeSet::new(), &unpublished, &[])
            .unwrap();
        assert_eq!(fresh.applied.len(), 1);
        assert!(
            fresh.applied[0].sql().ends_with(
                "CREATE INDEX \"outbox_unpublished\" ON \"outbox\" (\"position\", \"id\") WHERE \"published_at\" IS NULL;\n"
            ),
            "{}",
            fresh.applied[0].sql()
        );
        assert_eq!(
            fresh
                .advance("o", &outbox, &BTreeSet::new(), &unpublished, &[])
                .unwrap(),
            fresh
        );
        // An existing workspace without it: the next migration adds it, on its own.
        let old = History::default()
            .advance("o", &outbox, &BTreeSet::new(), &[], &[])
            .unwrap();
        let next = old.advance("o", &outbox, &BTreeSet::new(), &unpublished, &[]).unwrap();
        assert_eq!(next.applied[1].file_name(), "0002_index_outbox_unpublished.sql");
        // A retired table gets no index; dropped and created again, it gets its index again.
        let retired = old.advance("o", &[], &BTreeSet::new(), &unpublished, &[]).unwrap();
        assert_eq!(retired.applied.len(), 1);
        let drop = "o.outbox".parse::<DropRequest>().unwrap();
        let dropped = next.advance("o", &[], &BTreeSet::new(), &[], &[&drop]).unwrap();
        let again = dropped
            .advance("o", &outbox, &BTreeSet::new(), &unpublished, &[])
            .unwrap();
        assert!(again.applied.last().unwrap().sql().contains("CREATE INDEX"));
    }

    #[test]
    fn a_filter_index_follows_the_manifest() {
        let table = orders(vec![col("total", "int64"), col("code", "string")]);
        let index = |column: &str| Index {
            table: "orders".into(),
            name: filter_index_name("orders", column),
            columns: vec![column.into()],
            where_null: None,
            unique: false,
        };
        let none = BTreeSet::new();
        let v1 = History::default()
            .advance("o", &plain(&table), &none, &[], &[])
            .unwrap();
        // A filter added to an existing field: one migration creating its index, once.
        let v2 = v1.advance("o", &plain(&table), &none, &[index("code")], &[]).unwrap();
        assert_eq!(v2.applied[1].name, "index_orders_code_idx");
        assert_eq!(
            v2.applied[1].sql(),
            "CREATE INDEX \"orders_code_idx\" ON \"orders\" (\"code\");\n"
        );
        assert_eq!(
            v2.advance("o", &plain(&table), &none, &[index("code")], &[]).unwrap(),
            v2
        );
        // Removed: the index goes, and only it.
        let v3 = v2.advance("o", &plain(&table), &none, &[], &[]).unwrap();
        assert_eq!(v3.applied[2].sql(), "DROP INDEX \"orders_code_idx\";\n");
        assert_eq!(v3.advance("o", &plain(&table), &none, &[], &[]).unwrap(), v3);
        // A filtered field renamed: the old name's index goes, the new one's comes.
        let v4 = v3.advance("o", &plain(&table), &none, &[index("code")], &[]).unwrap();
        let mut renamed = plain(&orders(vec![col("total", "int64"), col("sku", "string")]));
        renamed[0].1[1].renamed_from = Some("code".into());
        let v5 = v4.advance("o", &renamed, &none, &[index("sku")], &[]).unwrap();
        assert_eq!(
            v5.applied[4].sql(),
            "ALTER TABLE \"orders\" RENAME COLUMN \"code\" TO \"sku\";\nDROP INDEX \"orders_code_idx\";\nCREATE INDEX \"orders_sku_idx\" ON \"orders\" (\"sku\");\n"
        );
        // A retired column loses its index before a drop asked for in the same generation.
        let drop: DropRequest = "o.orders.sku".parse().unwrap();
        let v6 = v5
            .advance("o", &plain(&orders(vec![col("total", "int64")])), &none, &[], &[&drop])
            .unwrap();
        assert_eq!(
            v6.applied[5].sql(),
            "DROP INDEX \"orders_sku_idx\";\nALTER TABLE \"orders\" DROP COLUMN \"sku\";\n"
        );
    }

    #[test]
    fn keys_and_indexes_over_several_columns_follow_the_manifest() {
        let table = orders(vec![col("customer", "uuid"), col("kind", "string"), col("at", "date")]);
        let key = |columns: &[&str], unique: bool| {
            let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
            Index {
                table: "orders".into(),
                name: key_index_name("orders", &columns, unique),
                columns,
                where_null: None,
                unique,
            }
        };
        let none = BTreeSet::new();
        let wanted = [key(&["customer", "kind"], true), key(&["customer", "at"], false)];
        let v1 = History::default()
            .advance("o", &plain(&table), &none, &wanted, &[])
            .unwrap();
        assert!(
            v1.applied[0].sql().ends_with(
                "CREATE UNIQUE INDEX \"orders_customer_kind_key\" ON \"orders\" (\"customer\", \"kind\");\n\
                 CREATE INDEX \"orders_customer_at_idx\" ON \"orders\" (\"customer\", \"at\");\n"
            ),
            "{}",
            v1.applied[0].sql()
        );
        assert_eq!(v1.advance("o", &plain(&table), &none, &wanted, &[]).unwrap(), v1);
        // The key changes: the old index goes, the new one comes, in one migration.
        let v2 = v1
            .advance(
                "o",
                &plain(&table),
                &none,
                &[key(&["customer", "kind", "at"], true)],
                &[],
            )
            .unwrap();
        assert_eq!(
            v2.applied[1].sql(),
            "DROP INDEX \"orders_customer_kind_key\";\nDROP INDEX \"orders_customer_at_idx\";\n\
             CREATE UNIQUE INDEX \"orders_customer_kind_at_key\" ON \"orders\" (\"customer\", \"kind\", \"at\");\n"
        );
        // A field of the key retired (so no longer in it): the key goes before the column would.
        let v3 = v2
            .advance(
                "o",
                &plain(&orders(vec![col("customer", "uuid"), col("at", "date")])),
                &none,
                &[],
                &[],
            )
            .unwrap();
        assert_eq!(v3.applied[2].sql(), "DROP INDEX \"orders_customer_kind_at_key\";\n");
        let long = key_index_name("orders", &["c".repeat(40), "d".repeat(40)], true);
        assert!(long.len() <= 63 && long.ends_with("_key"), "{long}");
    }

    #[test]
    fn a_ref_is_a_foreign_key_on_postgresql_that_never_outlives_its_field() {
        let none = BTreeSet::new();
        let tables = |lines: Vec<Column>| {
            vec![
                ("orders".to_owned(), vec![col("total", "int64")]),
                ("order_lines".to_owned(), lines),
            ]
        };
        let v1 = History::default()
            .advance_plain(
                "o",
                &tables(vec![col("order_id", "ref(Order)"), col("tags", "ref(Order)[]")]),
            )
            .unwrap();
        // Created with its table: checked from the start, after every table exists; a list of
        // refs is one JSON text, with no foreign key.
        assert!(
            v1.applied[0].sql().ends_with(
                "ALTER TABLE \"order_lines\" ADD CONSTRAINT \"order_lines_order_id_fkey\" FOREIGN KEY (\"order_id\") REFERENCES \"orders\" (\"id\") ON DELETE RESTRICT; -- PostgreSQL only\n"
            ),
            "{}",
            v1.applied[0].sql()
        );
        assert_eq!(v1.applied[0].sql().matches("FOREIGN KEY").count(), 1);
        assert_eq!(
            v1.advance_plain(
                "o",
                &tables(vec![col("order_id", "ref(Order)"), col("tags", "ref(Order)[]")])
            )
            .unwrap(),
            v1
        );
        // A ref added to a table that has rows: the rows it had are not checked.
        let v2 = v1
            .advance_plain(
                "o",
                &tables(vec![
                    col("order_id", "ref(Order)"),
                    col("tags", "ref(Order)[]"),
                    col("parent_id", "ref(Order)?"),
                ]),
            )
            .unwrap();
        assert!(
            v2.applied[1]
                .sql()
                .contains("REFERENCES \"orders\" (\"id\") ON DELETE RESTRICT NOT VALID; -- PostgreSQL only")
        );
        // The field retired: its foreign key goes (inserts fill the kept column with a value that
        // refers to nothing), and the column stays.
        let v3 = v2
            .advance_plain(
                "o",
                &tables(vec![col("tags", "ref(Order)[]"), col("parent_id", "ref(Order)?")]),
            )
            .unwrap();
        assert_eq!(
            v3.applied[2].sql(),
            "ALTER TABLE \"order_lines\" DROP CONSTRAINT \"order_lines_order_id_fkey\"; -- PostgreSQL only\n"
        );
        assert!(
            v3.tables["order_lines"]
                .iter()
                .any(|c| c.name == "order_id" && c.retired)
        );
        // The whole entity retired: no foreign key of its table is left to refuse deleting an
        // order, and dropping both tables then needs nothing more.
        let v4 = v3
            .advance(
                "o",
                &plain(&[("orders".to_owned(), vec![col("total", "int64")])]),
                &none,
                &[],
                &[],
            )
            .unwrap();
        assert_eq!(
            v4.applied[3].sql(),
            "ALTER TABLE \"order_lines\" DROP CONSTRAINT \"order_lines_parent_id_fkey\"; -- PostgreSQL only\n"
        );
        let drop: DropRequest = "o.order_lines".parse().unwrap();
        let v5 = v4
            .advance(
                "o",
                &plain(&[("orders".to_owned(), vec![col("total", "int64")])]),
                &none,
                &[],
                &[&drop],
            )
            .unwrap();
        assert_eq!(v5.applied[4].sql(), "DROP TABLE \"order_lines\";\n");
    }

    #[test]
    fn a_type_change_is_refused() {
        let v1 = History::default()
            .advance_plain("orders", &orders(vec![col("total", "int64")]))
            .unwrap();
        let error = v1
            .advance_plain("orders", &orders(vec![col("total", "string")]))
            .unwrap_err();
        assert_eq!(codes(&error), ["E029"]);
    }

    /// The manifest's columns of `tables`, as entities want them (not the runtime's).
    fn entity_tables(tables: &[(&str, Vec<Column>)]) -> Vec<(String, Vec<Wanted>)> {
        tables
            .iter()
            .map(|(table, columns)| {
                let wanted = columns
                    .iter()
                    .map(|c| Wanted {
                        runtime: false,
                        default: retired_fill(&c.spec).filter(|_| !c.spec.ends_with("[]")),
                        ..Wanted::plain(c.clone())
                    })
                    .collect();
                ((*table).to_owned(), wanted)
            })
            .collect()
    }

    #[test]
    fn new_columns_take_postgresql_native_types_and_old_ones_keep_theirs() {
        // A history from before native types: `orders` with text ids and a text uuid.
        let old = History::default()
            .advance_plain("o", &[("orders".to_owned(), vec![col("customer_id", "uuid")])])
            .unwrap();
        assert!(old.native.is_empty());
        let wanted = entity_tables(&[
            ("orders", vec![col("customer_id", "uuid"), col("paid", "bool")]),
            (
                "lines",
                vec![
                    col("order_id", "ref(Order)"),
                    col("tags", "string[]"),
                    col("at", "timestamp?"),
                ],
            ),
        ]);
        let next = old.advance("o", &wanted, &BTreeSet::new(), &[], &[]).unwrap();
        let sql = next.applied[1].sql();
        // The old table's column and ids stay text; its new column is native.
        assert_eq!(next.native, BTreeSet::from(["lines".to_owned()]));
        assert!(!next.tables["orders"][0].native && next.tables["orders"][1].native);
        assert!(
            sql.contains(
                "ALTER TABLE \"orders\" ADD COLUMN \"paid\" BOOLEAN NOT NULL DEFAULT FALSE; -- PostgreSQL only\n\
                 ALTER TABLE \"orders\" ADD COLUMN \"paid\" INTEGER NOT NULL DEFAULT 0; -- SQLite only\n"
            ),
            "{sql}"
        );
        // A new table is native, but a reference to a table with text ids stays text, so that
        // its foreign key joins columns of one type.
        assert!(
            sql.contains(
                "    \"id\" UUID PRIMARY KEY NOT NULL, -- PostgreSQL only\n    \"id\" TEXT PRIMARY KEY NOT NULL, -- SQLite only\n    \"order_id\" TEXT NOT NULL,\n    \"tags\" JSONB NOT NULL, -- PostgreSQL only\n    \"tags\" TEXT NOT NULL, -- SQLite only\n    \"at\" TIMESTAMPTZ, -- PostgreSQL only\n    \"at\" TEXT, -- SQLite only\n"
            ),
            "{sql}"
        );
        // Each file reads back into the same history (text columns need the manifest to tell a
        // uuid from a string; native ones say it themselves).
        let manifest = |_: &str, column: &str| match column {
            "customer_id" => Some("uuid".to_owned()),
            "order_id" => Some("ref(Order)".to_owned()),
            _ => None,
        };
        let parsed: Vec<Migration> = next
            .applied
            .iter()
            .map(|m| crate::model::recover::parse_migration(&m.file_name(), &m.sql(), &manifest).unwrap())
            .collect();
        assert_eq!(parsed, next.applied);
        let replayed = crate::model::recover::replay(History::default(), parsed);
        assert_eq!((&replayed.tables, &replayed.native), (&next.tables, &next.native));
    }

    #[test]
    fn a_native_column_keeps_its_type() {
        let v1 = History::default()
            .advance(
                "o",
                &entity_tables(&[("orders", vec![col("at", "uuid")])]),
                &BTreeSet::new(),
                &[],
                &[],
            )
            .unwrap();
        // `uuid` to `string` is the same text on SQLite, but not on PostgreSQL.
        let error = v1
            .advance(
                "o",
                &entity_tables(&[("orders", vec![col("at", "string")])]),
                &BTreeSet::new(),
                &[],
                &[],
            )
            .unwrap_err();
        assert_eq!(codes(&error), ["E029"]);
    }
}
