//! Line layout of generated Rust, decided the way rustfmt decides it under the generated
//! workspace's `rustfmt.toml` (`max_width = 120`, `use_small_heuristics = "Max"`): a list
//! (arguments, parameters, struct fields, chained calls) stays on one line when the whole line
//! fits, and otherwise takes one item per line with a trailing comma. Templates call these
//! functions for every construct whose width depends on the manifest, so `cargo fmt` leaves
//! every generated file as it is and formatting on save never turns one into a hand edit.
//! They only lay text out; what the items are is the template's business.

use minijinja::{Environment, Error, ErrorKind};

/// `max_width` of the generated `rustfmt.toml`.
pub const MAX_WIDTH: usize = 120;
const INDENT: usize = 4;

pub fn register(env: &mut Environment<'_>) {
    env.add_function("rs_list", list);
    env.add_function("rs_fn", signature);
    env.add_function("rs_chain", chain);
    env.add_function("rs_assign", assign);
}

fn fits(indent: usize, line: &str) -> bool {
    indent + line.chars().count() <= MAX_WIDTH
}

fn pad(indent: usize) -> String {
    " ".repeat(indent)
}

/// `prefix` followed by `items` in brackets of `kind` (`struct`: `Name { a, b }`, `call`:
/// `f(a, b)`, `array`: `[a, b]`, `use`: `{a, b}`) and `suffix`, for a line that starts at
/// `indent` spaces (already written by the template): the text from `prefix` on.
fn list(indent: usize, prefix: &str, kind: &str, items: Vec<String>, suffix: Option<&str>) -> Result<String, Error> {
    let suffix = suffix.unwrap_or("");
    let (open, close, open_broken, close_broken) = match kind {
        "struct" if items.is_empty() => return Ok(format!("{prefix} {{}}{suffix}")),
        "struct" => (" { ", " }", " {", "}"),
        "call" => ("(", ")", "(", ")"),
        "array" => ("[", "]", "[", "]"),
        "use" => ("{", "}", "{", "}"),
        other => return Err(Error::new(ErrorKind::InvalidOperation, format!("rs_list: unknown kind `{other}`"))),
    };
    let one_line = format!("{prefix}{open}{}{close}{suffix}", items.join(", "));
    if items.is_empty() || fits(indent, &one_line) {
        return Ok(one_line);
    }
    if let Some(moved) = next_line(indent, prefix, &one_line) {
        return Ok(moved);
    }
    // Macros get no trailing comma: rustfmt cannot know that they accept one.
    let comma = if prefix.ends_with('!') { "" } else { "," };
    let inner = pad(indent + INDENT);
    let mut out = format!("{prefix}{open_broken}\n");
    for (i, item) in items.iter().enumerate() {
        let comma = if i + 1 == items.len() { comma } else { "," };
        out.push_str(&format!("{inner}{item}{comma}\n"));
    }
    out.push_str(&format!("{}{close_broken}{suffix}", pad(indent)));
    Ok(out)
}

/// The right-hand side of an assignment (`prefix` ends with `= `, maybe followed by `&`) moves
/// to the next line when it does not fit on the first but fits whole on the next.
fn next_line(indent: usize, prefix: &str, one_line: &str) -> Option<String> {
    let at = prefix.rfind(" = ")?;
    if !prefix[at + 3..].chars().all(|c| c == '&') {
        return None;
    }
    let rhs = &one_line[at + 3..];
    fits(indent + INDENT, rhs).then(|| format!("{} =\n{}{rhs}", &prefix[..at], pad(indent + INDENT)))
}


/// A function signature `{head}(params){ret} {`, e.g. `pub async fn get_order` with
/// `["&self", "id: Uuid"]` and ` -> Result<Order, AppError>`.
fn signature(indent: usize, head: &str, params: Vec<String>, ret: &str) -> String {
    let one_line = format!("{head}({}){ret} {{", params.join(", "));
    if params.is_empty() || fits(indent, &one_line) {
        return one_line;
    }
    let inner = pad(indent + INDENT);
    let mut out = format!("{head}(\n");
    for param in &params {
        out.push_str(&format!("{inner}{param},\n"));
    }
    out.push_str(&format!("{}){ret} {{", pad(indent)));
    out
}

/// A method chain `{prefix}{first}{links}{suffix}`, e.g. `sqlx::query(…)` with
/// `[".bind(id)", ".execute(conn)", ".await?"]`: one line, or one link per line.
fn chain(indent: usize, prefix: &str, first: &str, links: Vec<String>, suffix: Option<&str>) -> String {
    let suffix = suffix.unwrap_or("");
    let one_line = format!("{prefix}{first}{}{suffix}", links.concat());
    if fits(indent, &one_line) {
        return one_line;
    }
    if let Some(moved) = next_line(indent, prefix, &one_line) {
        return moved;
    }
    // A first element that does not fit behind an assignment starts the next line.
    if let Some(at) = prefix.rfind(" = ")
        && prefix[at + 3..].is_empty()
        && !fits(indent, &format!("{prefix}{first}"))
    {
        let indent = indent + INDENT;
        let broken = chain(indent, "", first, links, Some(suffix));
        return format!("{} =\n{}{broken}", &prefix[..at], pad(indent));
    }
    let inner = pad(indent + INDENT);
    let mut out = format!("{prefix}{first}");
    for link in &links {
        out.push_str(&format!("\n{inner}{link}"));
    }
    out.push_str(suffix);
    out
}

/// `{left} = {right}{suffix}` where `right` cannot be broken (a string, a path): on one line,
/// or on the next line when it fits there and not here.
fn assign(indent: usize, left: &str, right: &str, suffix: Option<&str>) -> String {
    let suffix = suffix.unwrap_or("");
    let one_line = format!("{left} = {right}{suffix}");
    let next = format!("{right}{suffix}");
    if !fits(indent, &one_line) && fits(indent + INDENT, &next) {
        return format!("{left} =\n{}{next}", pad(indent + INDENT));
    }
    one_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_while_it_fits_else_one_item_per_line() {
        let short = list(4, "let user = User", "struct", vec!["id".into(), "name".into()], Some(";")).unwrap();
        assert_eq!(short, "let user = User { id, name };");
        let items: Vec<String> = (0..12).map(|i| format!("field_number_{i}")).collect();
        let long = list(4, "User", "struct", items, None).unwrap();
        assert!(long.starts_with("User {\n        field_number_0,\n"), "{long}");
        assert!(long.ends_with("        field_number_11,\n    }"), "{long}");
        assert_eq!(list(0, "f", "call", vec![], Some(";")).unwrap(), "f();");
        assert_eq!(list(0, "Empty", "struct", vec![], None).unwrap(), "Empty {}");
    }

    #[test]
    fn an_assigned_list_moves_to_the_next_line_when_it_fits_there() {
        let items: Vec<String> = (0..3).map(|i| format!("(Self::Value{i}, \"value_{i}\", {i})")).collect();
        let moved = list(4, "const VALUES: &'static [(Self, &'static str, i32)] = &", "array", items, Some(";"));
        assert!(moved.unwrap().starts_with("const VALUES: &'static [(Self, &'static str, i32)] =\n        &[(Self::Value0"));
        let many: Vec<String> = (0..12).map(|i| format!("(Self::Value{i}, \"value_{i}\", {i})")).collect();
        let broken = list(4, "const VALUES: &'static [(Self, &'static str, i32)] = &", "array", many, Some(";")).unwrap();
        assert!(broken.starts_with("const VALUES: &'static [(Self, &'static str, i32)] = &[\n"), "{broken}");
    }

    #[test]
    fn an_unbreakable_right_hand_side_moves_down_only_when_that_helps() {
        assert_eq!(assign(0, "const A: &str", "\"short\"", Some(";")), "const A: &str = \"short\";");
        let mid = format!("\"{}\"", "x".repeat(100));
        assert_eq!(assign(0, "const LONG_NAME: &str", &mid, Some(";")), format!("const LONG_NAME: &str =\n    {mid};"));
        let huge = format!("\"{}\"", "x".repeat(200));
        assert_eq!(assign(0, "const A: &str", &huge, Some(";")), format!("const A: &str = {huge};"));
    }

    #[test]
    fn the_limit_is_inclusive() {
        let exactly = format!("f({})", "a".repeat(MAX_WIDTH - 3));
        assert_eq!(list(0, "f", "call", vec!["a".repeat(MAX_WIDTH - 3)], None).unwrap(), exactly);
        assert!(list(1, "f", "call", vec!["a".repeat(MAX_WIDTH - 3)], None).unwrap().contains('\n'));
    }

    #[test]
    fn signatures_and_chains_break_the_same_way() {
        let sig = signature(4, "fn f", vec!["&self".into()], " -> u32");
        assert_eq!(sig, "fn f(&self) -> u32 {");
        let params: Vec<String> = (0..8).map(|i| format!("parameter_{i}: &SomeLongTypeName")).collect();
        let sig = signature(4, "fn f", params, " -> u32");
        assert!(sig.starts_with("fn f(\n        parameter_0: &SomeLongTypeName,\n"), "{sig}");
        assert!(sig.ends_with("\n    ) -> u32 {"), "{sig}");
        let links: Vec<String> = (0..10).map(|i| format!(".bind(value_number_{i})")).collect();
        let chained = chain(4, "", "query(q)", links, Some(";"));
        assert!(chained.starts_with("query(q)\n        .bind(value_number_0)\n"), "{chained}");
        assert!(chained.ends_with(".bind(value_number_9);"), "{chained}");
    }
}
