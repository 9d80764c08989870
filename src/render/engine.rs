//! The template set: every embedded template, with a project's overrides layered on top by
//! path. Tera is built once per run with all filters registered.

use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, include_dir};
use rayon::prelude::*;

use super::filters;
use crate::error::Error;

/// The templates compiled into the binary, so an installed `fleetwright` needs no files beside it.
pub static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Where a template's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    Override,
}

/// A ready Tera instance plus where each template came from.
pub struct Templates {
    tera: tera::Tera,
    origins: BTreeMap<String, Origin>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

/// Every embedded template as (path, text), sorted by path.
pub fn embedded_sources() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    collect(&EMBEDDED, &mut out);
    out.sort();
    out
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static str)>) {
    for file in dir.files() {
        if let Some(text) = file.contents_utf8() {
            out.push((file.path().to_string_lossy().replace('\\', "/"), text));
        }
    }
    for sub in dir.dirs() {
        collect(sub, out);
    }
}

impl Templates {
    /// Only the embedded templates.
    ///
    /// # Errors
    /// [`Error::Template`] if an embedded template does not parse (a bug caught by tests).
    pub fn embedded() -> Result<Self, Error> {
        Self::build(&BTreeMap::new())
    }

    /// Embedded templates with the files of `dir` overriding those of the same relative path.
    /// Files in `dir` that match no embedded template are an error, so a typo in an override's
    /// name does not silently do nothing.
    ///
    /// # Errors
    /// [`Error::Io`] reading the directory, [`Error::Usage`] for an unknown template path,
    /// [`Error::Template`] for a template that does not parse.
    pub fn with_overrides(dir: &Path) -> Result<Self, Error> {
        let known: Vec<String> = embedded_sources().into_iter().map(|(p, _)| p).collect();
        let mut overrides = BTreeMap::new();
        for entry in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name() {
            let entry = entry.map_err(|e| Error::io("read templates in", dir, e.into()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry
                .path()
                .strip_prefix(dir)
                .map_err(|_| Error::Bug("walkdir left its root".into()))?
                .to_string_lossy()
                .replace('\\', "/");
            if !known.contains(&relative) {
                let hint = crate::diagnostic::did_you_mean(&relative, known.iter().map(String::as_str));
                return Err(Error::usage(
                    format!(
                        "template override `{relative}` in {} matches no template",
                        dir.display()
                    ),
                    Some(&hint.map_or_else(
                        || "run `fleetwright templates list` for the valid paths".to_owned(),
                        |h| format!("did you mean `{h}`?"),
                    )),
                ));
            }
            let text = std::fs::read_to_string(entry.path()).map_err(|e| Error::io("read", entry.path(), e))?;
            overrides.insert(relative, text);
        }
        Self::build(&overrides)
    }

    fn build(overrides: &BTreeMap<String, String>) -> Result<Self, Error> {
        let mut origins = BTreeMap::new();
        let mut sources: Vec<(String, String)> = Vec::new();
        for (path, text) in embedded_sources() {
            if let Some(custom) = overrides.get(&path) {
                origins.insert(path.clone(), Origin::Override);
                sources.push((path, custom.clone()));
            } else {
                origins.insert(path.clone(), Origin::Embedded);
                sources.push((path, text.to_owned()));
            }
        }
        let mut tera = parse(&sources).map_err(|e| Error::Template {
            template: "(template set)".into(),
            entity: "all".into(),
            reason: chain(&e),
        })?;
        tera.autoescape_on(vec![]);
        filters::register(&mut tera);
        Ok(Self { tera, origins })
    }

    pub fn origins(&self) -> &BTreeMap<String, Origin> {
        &self.origins
    }

    /// Renders one template for one entity (the workspace, a service, ...).
    ///
    /// # Errors
    /// [`Error::Template`] naming both.
    pub fn render(&self, template: &str, context: &tera::Context, entity: &str) -> Result<String, Error> {
        self.tera.render(template, context).map_err(|e| Error::Template {
            template: template.to_owned(),
            entity: entity.to_owned(),
            reason: chain(&e),
        })
    }
}

/// Parses every template, in parallel: Tera's parser steps through template text one
/// character at a time, and on one core parsing the embedded set was most of the time of a
/// small generation. Each part is parsed with the macro files it imports, and the parts are
/// merged with [`tera::Tera::extend`]. When a part fails on its own (a template that does not
/// parse, or an override that imports or extends a template of another part), the whole set
/// is parsed again in one go, so errors are exactly those of a sequential parse.
fn parse(sources: &[(String, String)]) -> tera::Result<tera::Tera> {
    let sequential = || parse_part(sources.iter());
    let parts = rayon::current_num_threads().min(sources.len());
    if parts < 2 {
        return sequential();
    }
    let (macros, templates): (Vec<_>, Vec<_>) = sources.iter().partition(|(path, _)| path.starts_with("_macros/"));
    // Largest first, each to the lightest part, so the parts take about the same time.
    let mut by_size = templates;
    by_size.sort_by_key(|(path, text)| (std::cmp::Reverse(text.len()), path.as_str()));
    let mut split: Vec<(usize, Vec<&(String, String)>)> = vec![(0, macros.clone()); parts];
    for source in by_size {
        let lightest = split
            .iter_mut()
            .min_by_key(|(size, _)| *size)
            .expect("at least two parts");
        lightest.0 += source.1.len();
        lightest.1.push(source);
    }
    let parsed: tera::Result<Vec<tera::Tera>> = split
        .into_par_iter()
        .map(|(_, part)| parse_part(part.into_iter()))
        .collect();
    let Ok(parsed) = parsed else { return sequential() };
    let mut parsed = parsed.into_iter();
    let mut tera = parsed.next().expect("at least two parts");
    for part in parsed {
        tera.extend(&part)?;
    }
    Ok(tera)
}

/// One Tera instance holding `sources` (path, text).
fn parse_part<'a>(sources: impl Iterator<Item = &'a (String, String)>) -> tera::Result<tera::Tera> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(sources.map(|(path, text)| (path, text)))?;
    Ok(tera)
}

/// Tera nests the useful part of an error in its sources.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
