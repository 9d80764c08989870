//! Comment- and layout-preserving edits of `fleet.toml` for `add` and `remove`. Each function
//! takes the manifest text and returns the new text; the caller validates it before writing.

use toml_edit::{Array, DocumentMut, Item, Table, value};

use crate::error::Error;

/// What `fleetwright add service` sets.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewService {
    pub name: String,
    pub description: Option<String>,
    pub database: Option<String>,
    pub route: Option<String>,
    pub calls: Vec<String>,
}

fn parse(text: &str) -> Result<DocumentMut, Error> {
    text.parse::<DocumentMut>().map_err(|e| {
        Error::usage(
            format!("fleet.toml does not parse: {}", e.message()),
            Some("run `fleetwright validate` to see where"),
        )
    })
}

fn services(doc: &mut DocumentMut) -> Result<&mut Table, Error> {
    let item = doc.entry("services").or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    item.as_table_mut().ok_or_else(|| {
        Error::usage(
            "`services` in fleet.toml is not a table",
            Some("write services as `[services.NAME]` tables"),
        )
    })
}

/// Appends a `[services.NAME]` table.
///
/// # Errors
/// [`Error::Usage`] when the service exists or the manifest does not parse.
pub(crate) fn add_service(text: &str, service: &NewService) -> Result<String, Error> {
    let mut doc = parse(text)?;
    let services = services(&mut doc)?;
    if services.contains_key(&service.name) {
        return Err(Error::usage(
            format!("service `{}` already exists", service.name),
            Some("pick another name, or edit its table in fleet.toml"),
        ));
    }
    let mut table = Table::new();
    if let Some(description) = &service.description {
        table.insert("description", value(description.as_str()));
    }
    table.insert("database", value(service.database.as_deref().unwrap_or("postgres")));
    if let Some(route) = &service.route {
        table.insert("route", value(route.as_str()));
    }
    if !service.calls.is_empty() {
        table.insert(
            "calls",
            value(service.calls.iter().map(String::as_str).collect::<Array>()),
        );
    }
    table.decor_mut().set_prefix("\n");
    services.insert(&service.name, Item::Table(table));
    Ok(doc.to_string())
}

/// Appends `[services.SERVICE.entities.NAME]` with the given fields.
///
/// # Errors
/// [`Error::Usage`] when the service is missing or the entity exists.
pub(crate) fn add_entity(
    text: &str,
    service: &str,
    entity: &str,
    fields: &[(String, String)],
) -> Result<String, Error> {
    let mut doc = parse(text)?;
    let services = services(&mut doc)?;
    let Some(table) = services.get_mut(service).and_then(Item::as_table_mut) else {
        return Err(Error::usage(
            format!("no service `{service}` in fleet.toml"),
            Some("add it first with `fleetwright add service`"),
        ));
    };
    let entities = table.entry("entities").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(entities) = entities.as_table_mut() else {
        return Err(Error::usage(format!("`entities` of `{service}` is not a table"), None));
    };
    if entities.contains_key(entity) {
        return Err(Error::usage(
            format!("entity `{entity}` already exists in `{service}`"),
            Some("edit its table in fleet.toml to change its fields"),
        ));
    }
    let mut fields_table = Table::new();
    for (name, ty) in fields {
        fields_table.insert(name, value(ty.as_str()));
    }
    fields_table.decor_mut().set_prefix("\n");
    entities.insert(entity, Item::Table(fields_table));
    Ok(doc.to_string())
}

/// Removes `[services.NAME]` and everything nested under it, with the comments above it.
///
/// # Errors
/// [`Error::Usage`] when the service is missing or other services still refer to it.
pub(crate) fn remove_service(text: &str, name: &str) -> Result<String, Error> {
    let mut doc = parse(text)?;
    let services = services(&mut doc)?;
    if !services.contains_key(name) {
        return Err(Error::usage(format!("no service `{name}` in fleet.toml"), None));
    }
    let prefix = format!("{name}.");
    let mut users = Vec::new();
    for (other, item) in services.iter() {
        if other == name {
            continue;
        }
        let refers = |key: &str, matches: &dyn Fn(&str) -> bool| {
            item.get(key)
                .and_then(Item::as_array)
                .is_some_and(|a| a.iter().any(|v| v.as_str().is_some_and(matches)))
        };
        if refers("calls", &|v| v == name) {
            users.push(format!("`{other}` calls it"));
        }
        if refers("subscribes", &|v| v.starts_with(&prefix)) {
            users.push(format!("`{other}` subscribes to its events"));
        }
    }
    if !users.is_empty() {
        return Err(Error::usage(
            format!("cannot remove `{name}`: {}", users.join(", ")),
            Some("remove those references from fleet.toml first"),
        ));
    }
    services.remove(name);
    Ok(doc.to_string())
}

/// Sets `[project] name`, keeping the comments around it: `new` and `init` name the example
/// they start from after the project.
///
/// # Errors
/// [`Error::Usage`] when the manifest does not parse or has no `[project]`.
pub(crate) fn set_project_name(text: &str, name: &str) -> Result<String, Error> {
    let mut doc = parse(text)?;
    let Some(project) = doc.get_mut("project").and_then(Item::as_table_mut) else {
        return Err(Error::usage("fleet.toml has no [project] table", None));
    };
    let decor = project.get("name").and_then(Item::as_value).map(|v| v.decor().clone());
    project.insert("name", value(name));
    if let (Some(decor), Some(new)) = (decor, project.get_mut("name").and_then(Item::as_value_mut)) {
        *new.decor_mut() = decor;
    }
    Ok(doc.to_string())
}

/// Sets `[project] templates = DIR`: the new text, or `Err(current)` when it is already set.
///
/// # Errors
/// [`Error::Usage`] when the manifest does not parse or has no `[project]`.
pub(crate) fn set_templates(text: &str, dir: &str) -> Result<Result<String, String>, Error> {
    let mut doc = parse(text)?;
    let Some(project) = doc.get_mut("project").and_then(Item::as_table_mut) else {
        return Err(Error::usage("fleet.toml has no [project] table", None));
    };
    if let Some(current) = project.get("templates") {
        return Ok(Err(current.as_str().unwrap_or_default().to_owned()));
    }
    project.insert("templates", value(dir));
    Ok(Ok(doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# my system\n[project]\nname = \"shop\" # keep me\n\n# the users\n[services.users]\ndatabase = \"sqlite\"\n\n[services.orders]\ncalls = [\"users\"]\n";

    #[test]
    fn renaming_the_project_keeps_its_comment() {
        let renamed = set_project_name(TEXT, "acme-store").unwrap();
        assert_eq!(renamed, TEXT.replace("\"shop\" # keep me", "\"acme-store\" # keep me"));
    }

    #[test]
    fn adding_keeps_comments() {
        let out = add_service(
            TEXT,
            &NewService {
                name: "payments".into(),
                route: Some("/api/payments".into()),
                ..NewService::default()
            },
        )
        .unwrap();
        assert!(out.starts_with("# my system\n[project]\nname = \"shop\" # keep me\n"));
        assert!(
            out.ends_with("\n[services.payments]\ndatabase = \"postgres\"\nroute = \"/api/payments\"\n"),
            "{out}"
        );
    }

    #[test]
    fn removing_a_called_service_is_refused() {
        let e = remove_service(TEXT, "users").unwrap_err();
        assert!(e.to_string().contains("`orders` calls it"));
        let out = remove_service(TEXT, "orders").unwrap();
        assert!(!out.contains("orders") && out.contains("# the users"));
    }

    #[test]
    fn entity_goes_under_its_service() {
        let out = add_entity(TEXT, "users", "User", &[("email".into(), "string".into())]).unwrap();
        assert!(
            out.contains("[services.users.entities.User]\nemail = \"string\"\n"),
            "{out}"
        );
    }
}
