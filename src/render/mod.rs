//! Workspace → rendered files: which files exist and what bytes each holds, one group per
//! entity (the workspace, each service) handed on as it is rendered ([`render_groups`]), or
//! gathered into one [`Plan`]. Pure: reads templates (embedded, or a project's override
//! directory read up front) and never touches the workspace on disk.

pub mod cargo_lock;
pub mod context;
pub mod engine;
pub mod filters;
pub(crate) mod openapi;
pub mod runtime;
pub mod rust_layout;
pub mod targets;

pub use engine::Templates;

use crate::error::Error;
use rayon::prelude::*;

use crate::model::{Service, Workspace};
use crate::plan::{GENERATED_MARK, Group, Owner, Plan, PlannedFile, RelPath, hash_bytes};

/// Renders every target of a workspace into one in-memory plan (tests, benchmarks, the
/// fuzz target). Generation itself uses [`render_groups`], which never holds every file.
///
/// # Errors
/// [`Error::Template`] naming the template and entity, or [`Error::UnsafePath`].
pub(crate) fn render(workspace: &Workspace, templates: &Templates) -> Result<Plan, Error> {
    let mut plan = Plan {
        files: std::collections::BTreeMap::new(),
        fingerprint: fingerprint(workspace)?,
    };
    plan.files = render_groups(workspace, templates, &Ok)?
        .into_iter()
        .flatten()
        .collect();
    Ok(plan)
}

/// Hash of the resolved model, recorded in `fleet.lock`.
///
/// # Errors
/// [`Error::Bug`] if the model does not serialise.
pub(crate) fn fingerprint(workspace: &Workspace) -> Result<String, Error> {
    let model = serde_json::to_vec(workspace).map_err(|e| Error::Bug(format!("model does not serialise: {e}")))?;
    Ok(hash_bytes(&model))
}

/// Renders the workspace-wide files and each service's files as one group each, in
/// parallel, and hands every group to `each` as soon as it is rendered, so only the groups in
/// flight are held. Results come back in group order (the workspace, then the services in
/// manifest order), and the first error in that order is the one returned, as in a
/// sequential run. No two files have the same path.
///
/// # Errors
/// [`Error::Template`] naming the template and entity, [`Error::UnsafePath`], the first
/// error of `each`, or [`Error::Bug`] when two templates render to the same path.
pub(crate) fn render_groups<T: Send>(
    workspace: &Workspace,
    templates: &Templates,
    each: &(dyn Fn(Group) -> Result<T, Error> + Sync),
) -> Result<Vec<T>, Error> {
    let base = context::service_base(workspace);
    let entities: Vec<Option<&Service>> = std::iter::once(None)
        .chain(workspace.services.iter().map(Some))
        .collect();
    let version = &workspace.project.version;
    let results: Vec<Result<RenderedGroup<T>, Error>> = entities
        .into_par_iter()
        .map(|service| {
            let jobs = match service {
                None => targets::workspace_jobs(workspace),
                Some(service) => targets::service_jobs(workspace, &base, service),
            };
            let mut files = jobs
                .into_iter()
                .map(|job| render_job(templates, &job))
                .collect::<Result<Group, Error>>()?;
            // The OpenAPI documents are built in Rust, not from a template.
            files.push(openapi::file(workspace, service)?);
            let member = match service {
                // The runtime crate is a member of every workspace.
                None => {
                    for (path, text) in runtime::files() {
                        let contents = with_header(&path, Owner::Managed, &path, text.to_owned());
                        files.push((
                            RelPath::new(&path)?,
                            PlannedFile {
                                contents,
                                owner: Owner::Managed,
                            },
                        ));
                    }
                    Some(cargo_lock::Member::from_manifest(runtime::MANIFEST, version)?)
                }
                Some(service) => {
                    let manifest = format!("services/{}/Cargo.toml", service.name);
                    files
                        .iter()
                        .find(|(path, _)| path.as_str() == manifest)
                        // An override template whose manifest cargo would not read either: its
                        // crate is left for cargo to add to the lock.
                        .and_then(|(_, file)| cargo_lock::Member::from_manifest(&file.contents, version).ok())
                }
            };
            let paths = files.iter().map(|(path, _)| path.clone()).collect();
            Ok((paths, member, each(files)?))
        })
        .collect();
    let mut paths = Vec::new();
    let mut members = Vec::new();
    let mut groups = Vec::new();
    for result in results {
        let (group_paths, member, group) = result?;
        paths.extend(group_paths);
        members.extend(member);
        groups.push(group);
    }
    // The lock comes last: it lists every crate of the workspace.
    let lock: Group = vec![(
        RelPath::new(cargo_lock::PATH)?,
        PlannedFile {
            contents: cargo_lock::render(&members)?,
            owner: Owner::Scaffold,
        },
    )];
    paths.push(RelPath::new(cargo_lock::PATH)?);
    groups.push(each(lock)?);
    paths.sort_unstable();
    if let Some([twice, _]) = paths.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::Bug(format!("two templates render to `{twice}`")));
    }
    Ok(groups)
}

/// One group's paths, the crate it adds to the workspace's lock (if any), and what `each` made of it.
type RenderedGroup<T> = (Vec<RelPath>, Option<cargo_lock::Member>, T);

fn render_job(templates: &Templates, job: &targets::Job) -> Result<(RelPath, PlannedFile), Error> {
    let contents = templates.render(job.template, &job.context, &job.entity)?;
    let path = RelPath::new(&job.output)?;
    let contents = with_header(path.as_str(), job.owner, job.template, contents);
    let file = PlannedFile {
        contents,
        owner: job.owner,
    };
    Ok((path, file))
}

/// Marks who owns a file, in the comment syntax of its format. Formats without comments
/// (JSON) are recorded only in `fleet.lock`, and so are SQL migrations (scaffold files whose
/// template explains their own rule: never edited once applied); managed SQL gets `--`.
/// `source` is the template (or runtime file) it came from, so a reader knows where to look.
fn with_header(path: &str, owner: Owner, source: &str, contents: String) -> String {
    let text = match owner {
        Owner::Managed => format!(
            "{GENERATED_MARK} from fleet.toml ({source}); `fleetwright generate` rewrites it and merges hand edits into the new text"
        ),
        Owner::Scaffold => format!(
            "created by fleetwright once ({source}); this file is yours to edit, and `fleetwright generate` never rewrites it"
        ),
    };
    let file = path.rsplit('/').next().unwrap_or(path);
    let extension = file.rsplit_once('.').map_or("", |(_, ext)| ext);
    let line = match (file, extension) {
        (_, "rs" | "proto") => format!("// {text}\n"),
        ("Dockerfile" | ".gitignore" | ".dockerignore" | "justfile" | ".gitlab-ci.yml", _)
        | (_, "toml" | "yaml" | "yml" | "sh" | "conf" | "env") => format!("# {text}\n"),
        (_, "md") => format!("<!-- {text} -->\n"),
        (_, "sql") if owner == Owner::Managed => format!("-- {text}\n"),
        _ => return contents,
    };
    match contents.strip_prefix("#!") {
        Some(rest) => {
            let (shebang, body) = rest.split_once('\n').unwrap_or((rest, ""));
            format!("#!{shebang}\n{line}{body}")
        }
        None => format!("{line}{contents}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_follows_the_format_and_keeps_shebangs_first() {
        let rs = with_header("a/b.rs", Owner::Managed, "t/b.rs.jinja", "fn main() {}\n".into());
        assert!(
            rs.starts_with("// @generated by fleetwright from fleet.toml (t/b.rs.jinja);"),
            "{rs}"
        );
        let sh = with_header(
            "dev.sh",
            Owner::Managed,
            "t/dev.sh.jinja",
            "#!/usr/bin/env bash\necho hi\n".into(),
        );
        assert!(sh.starts_with("#!/usr/bin/env bash\n# @generated"));
        assert_eq!(with_header("d.json", Owner::Managed, "t", "{}".into()), "{}");
        assert!(with_header("src/logic.rs", Owner::Scaffold, "t", String::new()).contains("yours to edit"));
    }
}
