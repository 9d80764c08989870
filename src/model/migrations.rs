//! Forward-only database migrations. The lock remembers, per service, every migration ever
//! generated (as schema operations) and the tables they produce; each generation compares the
//! manifest's entities with that and appends one new migration for the difference. Old
//! migrations are never changed, so databases that applied them stay valid.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One column as the manifest typed it (`text?`, `enum(a, b)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub spec: String,
}

/// A schema change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateTable { table: String, columns: Vec<Column> },
    AddColumn { table: String, column: Column },
    DropColumn { table: String, column: String },
    DropTable { table: String },
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
            match op {
                Op::CreateTable { table, columns } => {
                    let _ = writeln!(out, "CREATE TABLE \"{table}\" (");
                    let _ = writeln!(out, "    \"id\" TEXT PRIMARY KEY NOT NULL,");
                    for column in columns {
                        let _ = writeln!(out, "    \"{}\" {},", column.name, column_type(&column.spec, false));
                    }
                    let _ = writeln!(out, "    \"created_at\" TEXT NOT NULL,");
                    let _ = writeln!(out, "    \"updated_at\" TEXT NOT NULL");
                    let _ = writeln!(out, ");");
                }
                Op::AddColumn { table, column } => {
                    let _ = writeln!(
                        out,
                        "ALTER TABLE \"{table}\" ADD COLUMN \"{}\" {};",
                        column.name,
                        column_type(&column.spec, true)
                    );
                }
                Op::DropColumn { table, column } => {
                    let _ = writeln!(out, "ALTER TABLE \"{table}\" DROP COLUMN \"{column}\";");
                }
                Op::DropTable { table } => {
                    let _ = writeln!(out, "DROP TABLE \"{table}\";");
                }
            }
        }
        out
    }
}

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

/// A service's migration history and the tables it leads to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub applied: Vec<Migration>,
    /// Table → its entity columns (without `id`, `created_at`, `updated_at`) after the last migration.
    #[serde(default)]
    pub tables: BTreeMap<String, Vec<Column>>,
}

impl History {
    /// The history after bringing the schema to `wanted` (table → columns, in entity order):
    /// unchanged when nothing differs, else one migration longer.
    ///
    /// # Errors
    /// [`Error::Usage`] when a column changes type: no portable migration does that safely.
    pub(crate) fn advance(&self, service: &str, wanted: &[(String, Vec<Column>)]) -> Result<History, Error> {
        let mut ops = Vec::new();
        for (table, columns) in wanted {
            match self.tables.get(table) {
                None => ops.push(Op::CreateTable {
                    table: table.clone(),
                    columns: columns.clone(),
                }),
                Some(existing) => {
                    for column in columns {
                        match existing.iter().find(|c| c.name == column.name) {
                            None => ops.push(Op::AddColumn {
                                table: table.clone(),
                                column: column.clone(),
                            }),
                            // A new enum variant changes the spec but not the column.
                            Some(old) if column_type(&old.spec, false) != column_type(&column.spec, false) => {
                                return Err(Error::usage(
                                    format!(
                                        "`{service}`: changing `{table}.{}` from `{}` to `{}` needs a data migration",
                                        column.name, old.spec, column.spec
                                    ),
                                    Some(
                                        "add a new field with the new type instead (and remove the old one when its data is moved)",
                                    ),
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                    for old in existing {
                        if !columns.iter().any(|c| c.name == old.name) {
                            ops.push(Op::DropColumn {
                                table: table.clone(),
                                column: old.name.clone(),
                            });
                        }
                    }
                }
            }
        }
        for table in self.tables.keys() {
            if !wanted.iter().any(|(t, _)| t == table) {
                ops.push(Op::DropTable { table: table.clone() });
            }
        }
        if ops.is_empty() {
            let mut same = self.clone();
            same.tables = wanted.iter().cloned().collect();
            return Ok(same);
        }
        let version = self.applied.last().map_or(1, |m| m.version + 1);
        let name = if version == 1 {
            "init".to_owned()
        } else {
            match ops.as_slice() {
                [Op::CreateTable { table, .. }] => format!("create_{table}"),
                [Op::AddColumn { table, column }] => format!("add_{table}_{}", column.name),
                [Op::DropColumn { table, column }] => format!("drop_{table}_{column}"),
                [Op::DropTable { table }] => format!("drop_{table}"),
                _ => "update_schema".to_owned(),
            }
        };
        let mut next = self.clone();
        next.applied.push(Migration { version, name, ops });
        next.tables = wanted.iter().cloned().collect();
        Ok(next)
    }
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
                    Op::CreateTable { .. } | Op::AddColumn { .. } => continue,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, spec: &str) -> Column {
        Column {
            name: name.into(),
            spec: spec.into(),
        }
    }

    #[test]
    fn additive_changes_append_one_migration_and_never_touch_old_ones() {
        let v1 = History::default()
            .advance("orders", &[("orders".into(), vec![col("total", "int64")])])
            .unwrap();
        assert_eq!(v1.applied.len(), 1);
        assert_eq!(v1.applied[0].file_name(), "0001_init.sql");
        assert!(v1.applied[0].sql().contains("\"total\" BIGINT NOT NULL,"));
        let same = v1
            .advance("orders", &[("orders".into(), vec![col("total", "int64")])])
            .unwrap();
        assert_eq!(same, v1);
        let v2 = v1
            .advance(
                "orders",
                &[("orders".into(), vec![col("total", "int64"), col("note", "text?")])],
            )
            .unwrap();
        assert_eq!(v2.applied[0], v1.applied[0]);
        assert_eq!(v2.applied[1].file_name(), "0002_add_orders_note.sql");
        assert_eq!(
            v2.applied[1].sql(),
            "ALTER TABLE \"orders\" ADD COLUMN \"note\" TEXT;\n"
        );
        let v3 = v2
            .advance(
                "orders",
                &[("orders".into(), vec![col("total", "int64"), col("paid", "bool")])],
            )
            .unwrap();
        assert!(
            v3.applied[2]
                .sql()
                .contains("ADD COLUMN \"paid\" INTEGER NOT NULL DEFAULT 0")
        );
        assert!(v3.applied[2].sql().contains("DROP COLUMN \"note\""));
    }

    #[test]
    fn a_new_enum_variant_needs_no_migration_but_is_remembered() {
        let v1 = History::default()
            .advance("o", &[("orders".into(), vec![col("status", "enum(a, b)")])])
            .unwrap();
        let v2 = v1
            .advance("o", &[("orders".into(), vec![col("status", "enum(a, b, c)")])])
            .unwrap();
        assert_eq!(v2.applied.len(), 1);
        assert_eq!(v2.tables["orders"][0].spec, "enum(a, b, c)");
    }

    #[test]
    fn a_type_change_is_refused() {
        let v1 = History::default()
            .advance("orders", &[("orders".into(), vec![col("total", "int64")])])
            .unwrap();
        assert!(
            v1.advance("orders", &[("orders".into(), vec![col("total", "string")])])
                .is_err()
        );
    }
}
