//! Problems found in a manifest, as values: a stable code (from the registry in [`codes`]), a
//! message, where it is and one concrete fix. This module owns how they look on a terminal; it
//! never decides what is wrong.

pub(crate) mod codes;

pub use codes::Code;

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};
use serde::Serialize;

/// How bad a problem is: errors stop generation, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code documented in `docs/manifest.md` (`E012`, `W002`): a [`Code`]'s text.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Byte range in the manifest text; `None` when the problem is about the file as a whole.
    #[serde(skip)]
    pub span: Option<Range<usize>>,
    /// Short text printed under the caret.
    pub label: String,
    /// Further places that explain the problem (the other half of a clash).
    #[serde(skip)]
    pub related: Vec<(Range<usize>, String)>,
    /// One concrete way to fix it.
    pub help: Option<String>,
    /// Extra facts, such as the members of a call cycle.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub(crate) fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message.into())
    }

    pub(crate) fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message.into())
    }

    fn new(code: Code, severity: Severity, message: String) -> Self {
        debug_assert_eq!(code.severity(), severity, "{code:?} has the other severity");
        Self {
            code: code.as_str(),
            severity,
            message,
            span: None,
            label: String::new(),
            related: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    #[must_use]
    pub(crate) fn at(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }

    #[must_use]
    pub(crate) fn at_opt(self, span: Option<Range<usize>>, label: impl Into<String>) -> Self {
        match span {
            Some(span) => self.at(span, label),
            None => self,
        }
    }

    #[must_use]
    pub(crate) fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    #[must_use]
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub(crate) fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every problem of one source file, sorted by position so a report reads top to bottom.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub(crate) fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub(crate) fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub(crate) fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorts by position, then code, and drops exact repeats.
    pub(crate) fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            let key = |d: &Diagnostic| (d.span.as_ref().map_or(0, |s| s.start), d.code);
            key(a).cmp(&key(b))
        });
        self.items.dedup();
    }
}

/// A diagnostic with the position resolved to 1-based line and column, for `--format json`.
#[derive(Debug, Serialize)]
pub(crate) struct Located<'a> {
    #[serde(flatten)]
    pub diagnostic: &'a Diagnostic,
    pub file: &'a str,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Renders diagnostics the way rustc does (`error[E012]: …`, `--> file:line:col`, a caret
/// excerpt, `= help: …`), in plain ASCII so the output reads the same with or without color.
pub struct Renderer<'a> {
    file: SimpleFile<&'a str, &'a str>,
    source: &'a str,
    config: Config,
}

impl<'a> Renderer<'a> {
    pub fn new(file_name: &'a str, source: &'a str) -> Self {
        let config = Config {
            chars: Chars::ascii(),
            ..Config::default()
        };
        Self {
            file: SimpleFile::new(file_name, source),
            source,
            config,
        }
    }

    fn report(&self, diagnostic: &Diagnostic) -> Report<()> {
        let mut report = match diagnostic.severity {
            Severity::Error => Report::error(),
            Severity::Warning => Report::warning(),
        }
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message);
        let clamp = |span: &Range<usize>| {
            let start = span.start.min(self.source.len());
            start..span.end.clamp(start, self.source.len())
        };
        let mut labels = Vec::new();
        if let Some(span) = &diagnostic.span {
            labels.push(Label::primary((), clamp(span)).with_message(&diagnostic.label));
        }
        for (span, text) in &diagnostic.related {
            labels.push(Label::secondary((), clamp(span)).with_message(text));
        }
        report = report.with_labels(labels);
        let mut notes: Vec<String> = diagnostic.notes.clone();
        if let Some(help) = &diagnostic.help {
            notes.push(format!("help: {help}"));
        }
        report.with_notes(notes)
    }

    /// Plain text, for tests and for non-terminals.
    pub fn render_plain(&self, diagnostic: &Diagnostic) -> String {
        let report = self.report(diagnostic);
        match term::emit_into_string(&self.config, &self.file, &report) {
            Ok(text) => text,
            // Only an out-of-range span can fail here; still say what was wrong.
            Err(_) => format!(
                "{}[{}]: {}\n",
                severity_word(diagnostic.severity),
                diagnostic.code,
                diagnostic.message
            ),
        }
    }

    /// Writes with terminal colors through a termcolor writer.
    pub(crate) fn render_color(
        &self,
        diagnostic: &Diagnostic,
        out: &mut dyn term::termcolor::WriteColor,
    ) -> std::io::Result<()> {
        let report = self.report(diagnostic);
        let styles = term::Styles::default();
        let mut writer = term::StylesWriter::new(out, &styles);
        term::emit_to_write_style(&mut writer, &self.config, &self.file, &report).map_err(std::io::Error::other)
    }

    /// The closing line: `error: found 3 problems in fleet.toml (2 errors, 1 warning)`.
    pub fn summary(&self, diagnostics: &Diagnostics) -> String {
        let errors = diagnostics.error_count();
        let warnings = diagnostics.warning_count();
        let total = errors + warnings;
        let word = if errors > 0 { "error" } else { "warning" };
        format!(
            "{word}: found {total} problem{} in {} ({errors} error{}, {warnings} warning{})",
            plural(total),
            self.file.name(),
            plural(errors),
            plural(warnings)
        )
    }
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The closest candidate to `name`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters_not_bytes() {
        let text = "a = 1\né = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        let offset = text.find('"').unwrap();
        assert_eq!(line_column(text, offset), (2, 5));
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(did_you_mean("payment", ["payments", "users"]), Some("payments"));
        assert_eq!(did_you_mean("zzz", ["payments", "users"]), None);
    }
}
