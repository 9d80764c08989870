//! The SQL of each entity's generated store, one text for PostgreSQL and one for SQLite. The
//! store binds and reads every value in the form SQLite holds (text, integers), the only one
//! sqlx's `Any` driver carries for both; on PostgreSQL a column of a native type
//! ([`Native`]) converts each placeholder bound to it and each value read from it.

use serde::Serialize;

use super::migrations::{Column, History};
use super::types::Native;

/// One statement, as each database runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub postgres: String,
    pub sqlite: String,
}

/// Every statement of one entity's store, and the PostgreSQL conversions of the placeholders
/// of the columns its lists filter on (`("id", "::uuid")`), for the list query built at run
/// time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreSql {
    pub insert: Statement,
    pub get: Statement,
    /// `SELECT … FROM "table"`, which lists with filters continue at run time.
    pub select: Statement,
    pub first_page: Statement,
    pub next_page: Statement,
    pub update: Statement,
    pub update_at: Statement,
    pub delete: Statement,
    pub delete_at: Statement,
    pub casts: Vec<(String, &'static str)>,
}

/// A column the store reads or writes, with the PostgreSQL type it holds natively, if any.
struct Stored {
    name: String,
    native: Option<Native>,
}

impl Stored {
    fn select(&self, postgres: bool) -> String {
        match self.native {
            Some(native) if postgres => native.select(&self.name),
            _ => format!("\"{}\"", self.name),
        }
    }

    /// Placeholder `n` bound to this column.
    fn param(&self, n: usize, postgres: bool) -> String {
        match self.native {
            Some(native) if postgres => format!("${n}{}", native.param()),
            _ => format!("${n}"),
        }
    }
}

impl StoreSql {
    /// The statements for the entity stored in `table` with `fields` (in manifest order), lists
    /// filtering on `filters`, as `history` (after this generation) says the table's columns
    /// are stored.
    pub(crate) fn new(table: &str, fields: &[String], filters: &[String], history: &History) -> Self {
        let columns: &[Column] = history.tables.get(table).map_or(&[], Vec::as_slice);
        let native_ids = history.native.contains(table);
        let id = Stored {
            name: "id".to_owned(),
            native: native_ids.then_some(Native::Uuid),
        };
        let time = |name: &str| Stored {
            name: name.to_owned(),
            native: native_ids.then_some(Native::Timestamptz),
        };
        let fields: Vec<Stored> = fields
            .iter()
            .map(|name| Stored {
                name: name.clone(),
                native: columns.iter().find(|c| c.name == *name).and_then(Column::native_type),
            })
            .collect();
        let (created_at, updated_at) = (time("created_at"), time("updated_at"));
        let version = Stored {
            name: "version".to_owned(),
            native: None,
        };
        // Columns of removed fields keep their data (retired); an insert fills those that
        // cannot be NULL with their type's default.
        let fills: Vec<(String, String, Option<Native>)> = history
            .retired_fills(table)
            .into_iter()
            .map(|(name, literal)| {
                let native = columns.iter().find(|c| c.name == name).and_then(Column::native_type);
                (name, literal, native)
            })
            .collect();
        let mut all: Vec<&Stored> = vec![&id];
        all.extend(&fields);
        all.extend([&created_at, &updated_at, &version]);
        let statement = |build: &dyn Fn(bool) -> String| Statement {
            postgres: build(true),
            sqlite: build(false),
        };
        let select = |postgres: bool| {
            let list: Vec<String> = all.iter().map(|c| c.select(postgres)).collect();
            format!("SELECT {} FROM \"{table}\"", list.join(", "))
        };
        let n = fields.len();
        let sets = |postgres: bool| {
            let mut sets: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, field)| format!("\"{}\" = {}", field.name, field.param(i + 1, postgres)))
                .collect();
            sets.push(format!("\"updated_at\" = {}", updated_at.param(n + 1, postgres)));
            sets.push("\"version\" = \"version\" + 1".to_owned());
            format!(
                "UPDATE \"{table}\" SET {} WHERE \"id\" = {}",
                sets.join(", "),
                id.param(n + 2, postgres)
            )
        };
        let casts = std::iter::once(&id)
            .chain(fields.iter().filter(|c| filters.contains(&c.name)))
            .filter_map(|c| c.native.map(|native| (c.name.clone(), native.param())))
            .collect();
        Self {
            insert: statement(&|postgres| insert(table, &all, &fills, postgres)),
            get: statement(&|postgres| format!("{} WHERE \"id\" = {}", select(postgres), id.param(1, postgres))),
            select: statement(&select),
            first_page: statement(&|postgres| format!("{} ORDER BY \"id\" LIMIT $1", select(postgres))),
            next_page: statement(&|postgres| {
                format!(
                    "{} WHERE \"id\" > {} ORDER BY \"id\" LIMIT $2",
                    select(postgres),
                    id.param(1, postgres)
                )
            }),
            update: statement(&sets),
            update_at: statement(&|postgres| format!("{} AND \"version\" = ${}", sets(postgres), n + 3)),
            delete: statement(&|postgres| format!("DELETE FROM \"{table}\" WHERE \"id\" = {}", id.param(1, postgres))),
            delete_at: statement(&|postgres| {
                format!(
                    "DELETE FROM \"{table}\" WHERE \"id\" = {} AND \"version\" = $2",
                    id.param(1, postgres)
                )
            }),
            casts,
        }
    }
}

/// The `INSERT` of every column in `all` (the version last), then of each retired column in
/// `fills` with its literal.
fn insert(table: &str, all: &[&Stored], fills: &[(String, String, Option<Native>)], postgres: bool) -> String {
    let mut names: Vec<String> = all.iter().map(|c| format!("\"{}\"", c.name)).collect();
    names.extend(fills.iter().map(|(name, _, _)| format!("\"{name}\"")));
    let mut values: Vec<String> = all
        .iter()
        .filter(|c| c.name != "version")
        .enumerate()
        .map(|(i, c)| c.param(i + 1, postgres))
        .collect();
    values.push("1".to_owned());
    values.extend(fills.iter().map(|(_, literal, native)| match native {
        Some(native) if postgres => native.literal(literal),
        _ => literal.clone(),
    }));
    format!(
        "INSERT INTO \"{table}\" ({}) VALUES ({})",
        names.join(", "),
        values.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::migrations::Column;

    fn history(native: bool) -> History {
        let column = |name: &str, spec: &str| Column {
            native,
            ..Column::new(name, spec)
        };
        let mut history = History::default();
        history.tables.insert(
            "orders".to_owned(),
            vec![
                column("customer_id", "uuid"),
                column("paid", "bool"),
                column("total", "int64"),
                Column {
                    retired: true,
                    ..column("archived", "bool")
                },
            ],
        );
        if native {
            history.native.insert("orders".to_owned());
        }
        history
    }

    fn fields() -> Vec<String> {
        ["customer_id", "paid", "total"].map(str::to_owned).to_vec()
    }

    #[test]
    fn text_columns_are_bound_and_read_alike_on_both_databases() {
        let sql = StoreSql::new("orders", &fields(), &[], &history(false));
        assert_eq!(sql.insert.postgres, sql.insert.sqlite);
        assert_eq!(
            sql.insert.sqlite,
            r#"INSERT INTO "orders" ("id", "customer_id", "paid", "total", "created_at", "updated_at", "version", "archived") VALUES ($1, $2, $3, $4, $5, $6, 1, 0)"#
        );
        assert_eq!(sql.get.postgres, sql.get.sqlite);
        assert!(sql.casts.is_empty());
    }

    #[test]
    fn native_columns_convert_on_postgresql_only() {
        let sql = StoreSql::new(
            "orders",
            &fields(),
            &["customer_id".to_owned(), "paid".to_owned()],
            &history(true),
        );
        assert_eq!(
            sql.insert.postgres,
            r#"INSERT INTO "orders" ("id", "customer_id", "paid", "total", "created_at", "updated_at", "version", "archived") VALUES ($1::uuid, $2::uuid, $3::integer::boolean, $4, $5::timestamptz, $6::timestamptz, 1, FALSE)"#
        );
        assert_eq!(
            sql.insert.sqlite,
            r#"INSERT INTO "orders" ("id", "customer_id", "paid", "total", "created_at", "updated_at", "version", "archived") VALUES ($1, $2, $3, $4, $5, $6, 1, 0)"#
        );
        assert_eq!(
            sql.get.postgres,
            r#"SELECT "id"::text AS "id", "customer_id"::text AS "customer_id", "paid"::integer AS "paid", "total", to_char("created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "created_at", to_char("updated_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "updated_at", "version" FROM "orders" WHERE "id" = $1::uuid"#
        );
        assert_eq!(
            sql.get.sqlite,
            r#"SELECT "id", "customer_id", "paid", "total", "created_at", "updated_at", "version" FROM "orders" WHERE "id" = $1"#
        );
        assert_eq!(
            sql.update_at.postgres,
            r#"UPDATE "orders" SET "customer_id" = $1::uuid, "paid" = $2::integer::boolean, "total" = $3, "updated_at" = $4::timestamptz, "version" = "version" + 1 WHERE "id" = $5::uuid AND "version" = $6"#
        );
        assert_eq!(
            sql.casts,
            vec![
                ("id".to_owned(), "::uuid"),
                ("customer_id".to_owned(), "::uuid"),
                ("paid".to_owned(), "::integer::boolean")
            ]
        );
    }
}
