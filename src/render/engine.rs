//! The template set: every embedded template, with a project's overrides layered on top by
//! path. One minijinja environment is built per run, with every template compiled up front (the
//! embedded set takes about 2 ms, so a template that does not parse is reported before any
//! file is rendered) and all filters registered.

use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, include_dir};
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};

use super::filters;
use crate::error::Error;

/// The templates compiled into the binary, so an installed `fleetwright` needs no files beside it.
pub(crate) static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Where a template's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Embedded,
    Override,
}

/// A ready template environment plus where each template came from.
pub struct Templates {
    env: Environment<'static>,
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

/// The settings every template renders with, and fleetwright's filters. Output is code:
/// nothing is HTML-escaped, a template's last newline is kept, and a misspelt variable is an
/// error rather than empty text (an `if` on one is false).
///
/// # Errors
/// [`Error::Bug`] if the syntax settings are refused.
pub fn configure(env: &mut Environment<'_>) -> Result<(), Error> {
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| Error::Bug(format!("template syntax settings: {e}")))?,
    );
    filters::register(env);
    super::rust_layout::register(env);
    Ok(())
}

impl Templates {
    /// Only the embedded templates.
    ///
    /// # Errors
    /// [`Error::Bug`] if an embedded template does not parse (caught by tests).
    pub fn embedded() -> Result<Self, Error> {
        Self::build(BTreeMap::new(), Path::new(""))
    }

    /// Embedded templates with the files of `dir` overriding those of the same relative path.
    /// Files in `dir` that match no embedded template are an error, so a typo in an override's
    /// name does not silently do nothing.
    ///
    /// # Errors
    /// [`Error::Io`] reading the directory, [`Error::Usage`] for an unknown template path or
    /// an override that does not parse (naming its file and line).
    pub(crate) fn with_overrides(dir: &Path) -> Result<Self, Error> {
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
        Self::build(overrides, dir)
    }

    /// `dir` is where the overrides came from, for naming the file of one that does not parse.
    fn build(mut overrides: BTreeMap<String, String>, dir: &Path) -> Result<Self, Error> {
        let mut env = Environment::new();
        configure(&mut env)?;
        let mut origins = BTreeMap::new();
        for (path, text) in embedded_sources() {
            let (origin, added) = match overrides.remove(&path) {
                Some(custom) => (Origin::Override, env.add_template_owned(path.clone(), custom)),
                None => (Origin::Embedded, env.add_template_owned(path.clone(), text)),
            };
            added.map_err(|e| match origin {
                Origin::Override => Error::usage(
                    format!("template override `{path}` does not parse: {}", chain(&e)),
                    Some(&format!(
                        "fix {}, or delete it to use the embedded template",
                        dir.join(&path).display()
                    )),
                ),
                Origin::Embedded => Error::Bug(format!("embedded template `{path}` does not parse: {}", chain(&e))),
            })?;
            origins.insert(path, origin);
        }
        Ok(Self { env, origins })
    }

    pub(crate) fn origins(&self) -> &BTreeMap<String, Origin> {
        &self.origins
    }

    /// Renders one template for one entity (the workspace, a service, ...).
    ///
    /// # Errors
    /// [`Error::Template`] naming both.
    pub(crate) fn render(&self, template: &str, context: &Value, entity: &str) -> Result<String, Error> {
        self.env
            .get_template(template)
            .and_then(|t| t.render(context))
            .map_err(|e| Error::Template {
                template: template.to_owned(),
                entity: entity.to_owned(),
                reason: chain(&e),
            })
    }
}

/// The error with its causes (a macro's failure inside the template that called it), each
/// naming its template and line.
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
