//! The generated workspace's first `Cargo.lock`: the registry packages fleetwright's CI builds
//! and tests generated workspaces with (`runtime/rust/workspace-dependencies.lock`, written by
//! `scripts/update-workspace-lock.sh`), plus the workspace's own crates, laid out as cargo
//! writes a lock, so that `cargo build --locked` accepts it and the first build resolves
//! nothing. It is a scaffold file: the user's from then on, updated by cargo.
//!
//! One list of registry packages serves every manifest because cargo resolves a workspace's
//! lock with every feature of every member on, and the runtime crate, a member of every
//! generated workspace, is what pulls in everything optional (database, events, tracing).
//! A member's entry lists the packages its `Cargo.toml` names; the rendered `Cargo.toml` is
//! read for that, so the service template stays the only place that says what a service uses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;

use crate::error::Error;

const REGISTRY_PACKAGES: &str = include_str!("../../runtime/rust/workspace-dependencies.lock");

/// Where the lock goes.
pub const PATH: &str = "Cargo.lock";

#[derive(Debug, Deserialize)]
struct LockText {
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Debug, Clone, Deserialize)]
struct Package {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// A crate of the workspace itself: its name, version and the packages its manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub version: String,
    pub dependencies: BTreeSet<String>,
}

impl Member {
    /// Reads a member's name, version and dependencies from its `Cargo.toml` text.
    /// `workspace_version` stands in for `version.workspace = true`.
    ///
    /// # Errors
    /// [`Error::Bug`] when the text is not a crate manifest: fleetwright rendered it.
    pub fn from_manifest(text: &str, workspace_version: &str) -> Result<Self, Error> {
        let manifest: toml::Table =
            toml::from_str(text).map_err(|e| Error::Bug(format!("a rendered Cargo.toml does not parse: {e}")))?;
        let package = manifest
            .get("package")
            .and_then(toml::Value::as_table)
            .ok_or_else(|| Error::Bug("a rendered Cargo.toml has no [package]".to_owned()))?;
        let name = package
            .get("name")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| Error::Bug("a rendered Cargo.toml has no package name".to_owned()))?
            .to_owned();
        let version = package
            .get("version")
            .and_then(toml::Value::as_str)
            .unwrap_or(workspace_version)
            .to_owned();
        let mut dependencies = BTreeSet::new();
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(entries) = manifest.get(table).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, spec) in entries {
                // `foo = { package = "bar" }` depends on `bar`.
                let package = spec.get("package").and_then(toml::Value::as_str).unwrap_or(key);
                dependencies.insert(package.to_owned());
            }
        }
        Ok(Self {
            name,
            version,
            dependencies,
        })
    }
}

/// The lock of a workspace with these members.
///
/// A dependency the pinned list does not hold (a template override that adds a crate) is left
/// out, and cargo adds it on the first build; a name the list holds in several versions is
/// pinned to the newest, which is the one a direct dependency with a current requirement gets.
///
/// # Errors
/// [`Error::Bug`] when the embedded list does not parse.
pub fn render(members: &[Member]) -> Result<String, Error> {
    let registry: LockText = toml::from_str(REGISTRY_PACKAGES)
        .map_err(|e| Error::Bug(format!("runtime/rust/workspace-dependencies.lock does not parse: {e}")))?;
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for package in &registry.package {
        versions.entry(&package.name).or_default().push(&package.version);
    }
    let member_names: BTreeSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let mut packages = registry.package.clone();
    for member in members {
        let dependencies = member
            .dependencies
            .iter()
            .filter_map(|name| {
                if member_names.contains(name.as_str()) {
                    return Some(name.clone());
                }
                match versions.get(name.as_str())?.as_slice() {
                    [_] => Some(name.clone()),
                    several => several
                        .iter()
                        .max_by(|a, b| compare_versions(a, b))
                        .map(|newest| format!("{name} {newest}")),
                }
            })
            .collect();
        packages.push(Package {
            name: member.name.clone(),
            version: member.version.clone(),
            source: None,
            checksum: None,
            dependencies,
        });
    }
    // Cargo orders packages by name, then version.
    packages.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| compare_versions(&a.version, &b.version))
    });

    let mut text = String::from(
        "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n",
    );
    for package in &packages {
        let _ = write!(
            text,
            "\n[[package]]\nname = \"{}\"\nversion = \"{}\"\n",
            package.name, package.version
        );
        if let Some(source) = &package.source {
            let _ = writeln!(text, "source = \"{source}\"");
        }
        if let Some(checksum) = &package.checksum {
            let _ = writeln!(text, "checksum = \"{checksum}\"");
        }
        if !package.dependencies.is_empty() {
            text.push_str("dependencies = [\n");
            for dependency in &package.dependencies {
                let _ = writeln!(text, " \"{dependency}\",");
            }
            text.push_str("]\n");
        }
    }
    Ok(text)
}

/// Semantic-version order, as cargo orders a lock's packages (a pre-release before its
/// release); a version that does not parse sorts as text after those that do.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, dependencies: &[&str]) -> Member {
        Member {
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            dependencies: dependencies.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    #[test]
    fn members_sit_among_the_registry_packages_in_name_order() {
        let text = render(&[
            service("orders", &["tokio", "fleetwright-runtime"]),
            service("fleetwright-runtime", &[]),
        ])
        .unwrap();
        let lock: LockText = toml::from_str(&text).unwrap();
        let names: Vec<&str> = lock.package.iter().map(|p| p.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        let orders = lock.package.iter().find(|p| p.name == "orders").unwrap();
        assert_eq!(orders.dependencies, ["fleetwright-runtime", "tokio"]);
        assert!(orders.source.is_none() && orders.checksum.is_none());
        assert!(text.starts_with("# This file is automatically @generated by Cargo."));
        assert!(text.ends_with("]\n") || text.ends_with("\"\n"));
    }

    #[test]
    fn a_name_held_in_several_versions_is_named_with_the_newest_and_an_unknown_one_is_left_to_cargo() {
        let registry: LockText = toml::from_str(REGISTRY_PACKAGES).unwrap();
        let mut seen = BTreeMap::<&str, usize>::new();
        for package in &registry.package {
            *seen.entry(&package.name).or_default() += 1;
        }
        let (twice, _) = seen
            .iter()
            .find(|(_, count)| **count > 1)
            .expect("some crate has two versions");
        let text = render(&[service("svc", &[twice, "no-such-crate-anywhere"])]).unwrap();
        let lock: LockText = toml::from_str(&text).unwrap();
        let svc = lock.package.iter().find(|p| p.name == "svc").unwrap();
        assert_eq!(svc.dependencies.len(), 1, "{:?}", svc.dependencies);
        let newest = registry
            .package
            .iter()
            .filter(|p| p.name == *twice)
            .map(|p| p.version.as_str())
            .max_by(|a, b| compare_versions(a, b))
            .unwrap();
        assert_eq!(svc.dependencies[0], format!("{twice} {newest}"));
    }

    #[test]
    fn a_manifest_gives_its_renamed_and_all_kinds_of_dependencies() {
        let member = Member::from_manifest(
            "[package]\nname = \"orders\"\nversion.workspace = true\n\
             [dependencies]\ntokio.workspace = true\nalias = { package = \"serde\", version = \"1\" }\n\
             [dev-dependencies]\nserde_json = \"1\"\n[build-dependencies]\ntonic-prost-build = \"0.14\"\n",
            "2.3.0",
        )
        .unwrap();
        assert_eq!(member.version, "2.3.0");
        assert_eq!(
            member.dependencies.iter().map(String::as_str).collect::<Vec<_>>(),
            ["serde", "serde_json", "tokio", "tonic-prost-build"]
        );
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(compare_versions("0.10.0", "0.9.9").is_gt());
        assert!(compare_versions("1.0.0", "1.0.0").is_eq());
        assert!(
            compare_versions("1.0.0-alpha", "1.0.0").is_lt(),
            "a pre-release comes before its release"
        );
    }
}
