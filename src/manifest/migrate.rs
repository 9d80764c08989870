//! Manifest format versions (the top-level `version` key) and the migrations between them.
//! When the manifest's format changes, a step is added here that rewrites a manifest of the
//! previous version into the new one, through `toml_edit`, so the user's comments, order and
//! layout survive; `generate` then migrates an older manifest on its own and says so. There is
//! one version so far, so there is no real step yet: the tests drive the machinery with a
//! synthetic one. It reads and writes no file: the caller decides where the text goes.

use toml_edit::DocumentMut;

/// One step: rewrites, in place, a manifest of version `n` into version `n + 1` (all but the
/// `version` key, which [`migrate`] sets). Its error says what it could not migrate.
pub(crate) type Step = fn(&mut DocumentMut) -> Result<(), String>;

/// `STEPS[n - 1]` migrates version `n` to `n + 1`; version `STEPS.len() + 1` is
/// `schema::MANIFEST_VERSION` (a test keeps the two in step).
pub(crate) const STEPS: &[Step] = &[];

/// A manifest migrated to a newer format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub from: i64,
    pub to: i64,
    /// The migrated manifest text.
    pub text: String,
}

/// Migrates manifest text of an older format to the newest one `steps` know (version
/// `steps.len() + 1`); `None` when there is nothing to migrate: the manifest is current, has
/// no version (read as version 1, and left without one while 1 is current), is not valid
/// TOML, or names a version no step starts from (validation reports those).
///
/// # Errors
/// The failing step's reason, with the versions it was migrating between.
pub(crate) fn migrate(text: &str, steps: &[Step]) -> Result<Option<Migration>, String> {
    let latest = i64::try_from(steps.len()).map_or(i64::MAX, |n| n + 1);
    let Ok(mut document) = text.parse::<DocumentMut>() else {
        return Ok(None);
    };
    let from = match document.get("version") {
        None => 1,
        Some(item) => match item.as_integer() {
            Some(version) => version,
            None => return Ok(None),
        },
    };
    if from < 1 || from >= latest {
        return Ok(None);
    }
    for version in from..latest {
        let index = usize::try_from(version - 1).expect("versions from 1 are indexes from 0");
        steps[index](&mut document).map_err(|reason| {
            format!(
                "cannot migrate the manifest from version {version} to {}: {reason}",
                version + 1
            )
        })?;
    }
    set_version(&mut document, latest);
    Ok(Some(Migration {
        from,
        to: latest,
        text: document.to_string(),
    }))
}

/// Sets `version`, keeping the comments around the old value, or adds it first.
fn set_version(document: &mut DocumentMut, version: i64) {
    if let Some(value) = document.get_mut("version").and_then(toml_edit::Item::as_value_mut) {
        let decor = value.decor().clone();
        *value = toml_edit::Value::from(version);
        *value.decor_mut() = decor;
    } else {
        document.insert("version", toml_edit::value(version));
        document.sort_values_by(|a, _, b, _| (b.get() == "version").cmp(&(a.get() == "version")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::schema::MANIFEST_VERSION;

    /// A synthetic version 2: `[project] description` is renamed `summary`.
    fn rename_description(document: &mut DocumentMut) -> Result<(), String> {
        let project = document
            .get_mut("project")
            .and_then(toml_edit::Item::as_table_mut)
            .ok_or("no [project] table")?;
        if let Some((key, item)) = project.remove_entry("description") {
            let mut summary = toml_edit::Key::new("summary");
            *summary.leaf_decor_mut() = key.leaf_decor().clone();
            project.insert_formatted(&summary, item);
        }
        Ok(())
    }

    /// A synthetic version 3: services' `database = "none"` is written as a missing key.
    #[allow(clippy::unnecessary_wraps)] // the shape of every step
    fn drop_database_none(document: &mut DocumentMut) -> Result<(), String> {
        let Some(services) = document.get_mut("services").and_then(toml_edit::Item::as_table_mut) else {
            return Ok(());
        };
        for (_, service) in services.iter_mut() {
            if let Some(service) = service.as_table_mut()
                && service.get("database").and_then(toml_edit::Item::as_str) == Some("none")
            {
                service.remove("database");
            }
        }
        Ok(())
    }

    const V1: &str = "# my system\nversion = 1 # the format\n\n[project]\nname = \"shop\"\n# what it is\ndescription = \"A shop\" # short\n\n[services.users]\ndatabase = \"none\" # for now\n";

    #[test]
    fn steps_run_in_order_and_keep_comments() {
        let steps: &[Step] = &[rename_description, drop_database_none];
        let migrated = migrate(V1, steps).unwrap().expect("version 1 is older than 3");
        assert_eq!((migrated.from, migrated.to), (1, 3));
        assert_eq!(
            migrated.text,
            "# my system\nversion = 3 # the format\n\n[project]\nname = \"shop\"\n# what it is\nsummary = \"A shop\" # short\n\n[services.users]\n"
        );
        // Migrating again finds nothing to do.
        assert_eq!(migrate(&migrated.text, steps).unwrap(), None);
    }

    #[test]
    fn a_manifest_part_way_starts_from_its_own_version() {
        let v2 = V1.replace("version = 1", "version = 2");
        let steps: &[Step] = &[|_| Err("step 1 must not run".to_owned()), drop_database_none];
        let migrated = migrate(&v2, steps).unwrap().expect("version 2 is older than 3");
        assert_eq!(migrated.from, 2);
        assert!(migrated.text.contains("description = \"A shop\""));
    }

    #[test]
    fn a_manifest_without_version_is_version_1_and_gets_the_key() {
        let text = "[project]\nname = \"shop\"\ndescription = \"A shop\"\n";
        let migrated = migrate(text, &[rename_description]).unwrap().expect("migrates");
        assert_eq!(
            migrated.text,
            "version = 2\n[project]\nname = \"shop\"\nsummary = \"A shop\"\n"
        );
    }

    #[test]
    fn a_failing_step_names_the_versions() {
        let error = migrate("version = 1\n", &[rename_description]).unwrap_err();
        assert_eq!(
            error,
            "cannot migrate the manifest from version 1 to 2: no [project] table"
        );
    }

    #[test]
    fn current_newer_and_broken_manifests_are_left_to_validation() {
        assert_eq!(migrate(V1, STEPS).unwrap(), None, "version 1 is current");
        assert_eq!(migrate("version = 7\n", &[rename_description]).unwrap(), None);
        assert_eq!(migrate("version = \"1\"\n", &[rename_description]).unwrap(), None);
        assert_eq!(migrate("[project\n", &[rename_description]).unwrap(), None);
    }

    #[test]
    fn the_steps_lead_to_the_current_version() {
        assert_eq!(i64::try_from(STEPS.len()).unwrap() + 1, MANIFEST_VERSION);
    }
}
