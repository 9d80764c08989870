//! The manifest version and `[project]`: its name, version, registry and template folder.

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::Manifest;
use crate::manifest::schema::MANIFEST_VERSION;
use crate::model::names;

pub(super) fn version(manifest: &Manifest, out: &mut Diagnostics) {
    if let Some(version) = &manifest.version
        && *version.get_ref() != MANIFEST_VERSION
    {
        out.push(
            Diagnostic::error(
                Code::E004,
                format!("unsupported manifest version {}", version.get_ref()),
            )
            .at(version.span(), "this fleetwright understands version 1")
            .help("set `version = 1`, or install the fleetwright release that wrote this manifest"),
        );
    }
}

pub(super) fn project(manifest: &Manifest, out: &mut Diagnostics) {
    let project = &manifest.project;
    let name = &project.name;
    if !names::is_service_name(name.get_ref()) {
        let (label, help) = names::explain_service_name(name.get_ref());
        out.push(
            Diagnostic::error(Code::E010, format!("invalid project name `{}`", name.get_ref()))
                .at(name.span(), label)
                .help(help),
        );
    } else if let Some(why) = names::reserved_service_name(name.get_ref()) {
        out.push(
            Diagnostic::error(Code::E011, format!("project name `{}` is reserved", name.get_ref()))
                .at(name.span(), why.to_string())
                .help("pick another name"),
        );
    }
    if let Some(version) = &project.version
        && !is_semver(version.get_ref())
    {
        out.push(
            Diagnostic::error(Code::E005, format!("invalid version `{}`", version.get_ref()))
                .at(version.span(), "not MAJOR.MINOR.PATCH")
                .help("write a semantic version such as `0.1.0`"),
        );
    }
    if let Some(registry) = &project.registry {
        let r = registry.get_ref();
        let ok = !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"./-_:".contains(&b))
            && !r.starts_with(['/', '.', '-'])
            && !r.ends_with('/')
            && !r.contains("//");
        if !ok {
            out.push(
                Diagnostic::error(Code::E005, format!("invalid registry `{r}`"))
                    .at(registry.span(), "not an image name prefix")
                    .help("use a lowercase registry path such as `ghcr.io/acme`, without a trailing slash"),
            );
        }
    }
    if let Some(templates) = &project.templates {
        let path = std::path::Path::new(templates.get_ref());
        let escapes = path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        let empty = path.components().all(|c| matches!(c, std::path::Component::CurDir));
        if escapes || empty {
            out.push(
                Diagnostic::error(Code::E025, "template directory must stay inside the project")
                    .at(templates.span(), "absolute, the project root itself, or uses `..`")
                    .help("give a relative path below `fleet.toml`, e.g. `templates`"),
            );
        }
    }
}

fn is_semver(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let numbers_ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')));
    // A `-` or `+` must be followed by something.
    numbers_ok && !text.ends_with(['-', '+'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_needs_three_plain_numbers() {
        assert!(is_semver("0.1.0") && is_semver("1.2.3-rc.1"));
        assert!(!is_semver("01.2.3") && !is_semver("1.2") && !is_semver("1.2.3-"));
    }
}
