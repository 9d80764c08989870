//! Line layout of generated Rust, decided the way rustfmt decides it under the generated
//! workspace's `rustfmt.toml` (`max_width = 120`, `use_small_heuristics = "Max"`): a list
//! (arguments, parameters, struct fields, chained calls) stays on one line when the whole line
//! fits, and otherwise takes one item per line with a trailing comma. Templates call these
//! functions for every construct whose width depends on the manifest, so `cargo fmt` leaves
//! every generated file as it is and formatting on save never turns one into a hand edit.
//! They only lay text out; what the items are is the template's business.

use std::fmt::Write as _;

use minijinja::{Environment, Error, ErrorKind};

/// `max_width` of the generated `rustfmt.toml`.
pub const MAX_WIDTH: usize = 120;
const INDENT: usize = 4;

pub fn register(env: &mut Environment<'_>) {
    env.add_function("rs_list", list);
    env.add_function("rs_fn", signature);
    env.add_function("rs_chain", chain);
    env.add_function("rs_assign", assign);
    env.add_function("rs_impl", implementation);
    env.add_function("rs_arm", arm);
    env.add_function("rs_cond", condition);
    env.add_filter("rs_sort", sorted);
}

/// The order rustfmt (style edition 2024) gives the items of a `use` list or the `use` lines of
/// a block: "version sorting", in which `_` comes before digits, a run of digits compares as a
/// number (`Ca9` before `Ca10`), and digits come before letters, uppercase before lowercase
/// (`CHsr` before `CallPolicy`). Measured with rustfmt 1.95.
pub fn rustfmt_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn rank(c: char) -> u8 {
        match c {
            '_' => 0,
            '0'..='9' => 1,
            _ => 2,
        }
    }
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        let (here, there) = match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(here), Some(there)) => (here, there),
        };
        if here.is_ascii_digit() && there.is_ascii_digit() {
            let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                let mut digits = String::new();
                while let Some(digit) = chars.next_if(char::is_ascii_digit) {
                    digits.push(digit);
                }
                digits.trim_start_matches('0').to_owned()
            };
            let (this, that) = (number(&mut a), number(&mut b));
            let order = this.len().cmp(&that.len()).then_with(|| this.cmp(&that));
            if order != Ordering::Equal {
                return order;
            }
            continue;
        }
        let order = rank(here).cmp(&rank(there)).then_with(|| here.cmp(&there));
        if order != Ordering::Equal {
            return order;
        }
        a.next();
        b.next();
    }
}

/// `items` in [`rustfmt_order`], for templates that list imports.
#[allow(clippy::needless_pass_by_value)] // minijinja hands filters owned values
fn sorted(items: Vec<String>) -> Vec<String> {
    let mut items = items;
    items.sort_by(|a, b| rustfmt_order(a, b));
    items
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
#[allow(clippy::needless_pass_by_value)] // minijinja hands functions owned values
fn list(indent: usize, prefix: &str, kind: &str, items: Vec<String>, suffix: Option<&str>) -> Result<String, Error> {
    let suffix = suffix.unwrap_or("");
    let (open, close, open_broken, close_broken) = match kind {
        "struct" if items.is_empty() => return Ok(format!("{prefix} {{}}{suffix}")),
        "struct" => (" { ", " }", " {", "}"),
        "call" => ("(", ")", "(", ")"),
        "array" => ("[", "]", "[", "]"),
        "use" => ("{", "}", "{", "}"),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("rs_list: unknown kind `{other}`"),
            ));
        }
    };
    let one_line = format!("{prefix}{open}{}{close}{suffix}", items.join(", "));
    // rustfmt keeps an import list on one line only up to two columns short of the limit (measured).
    let slack = if kind == "use" { 2 } else { 0 };
    if items.is_empty() || fits(indent + slack, &one_line) {
        return Ok(one_line);
    }
    if let Some(moved) = next_line(indent, prefix, &one_line) {
        return Ok(moved);
    }
    // A right-hand side whose first line does not fit behind the assignment starts the next
    // line; rustfmt wants that line to end short of the limit (measured: 120 columns move).
    if let Some(at) = prefix.rfind(" = ")
        && !prefix[at + 3..].contains(' ')
        && !fits(indent + 1, &format!("{prefix}{open_broken}"))
    {
        let moved = list(indent + INDENT, &prefix[at + 3..], kind, items, Some(suffix))?;
        return Ok(format!("{} =\n{}{moved}", &prefix[..at], pad(indent + INDENT)));
    }
    // A closure last overflows: the arguments before it and its head stay on the line, its
    // body takes a block (`f(a, |x| {` / body / `})`).
    if kind == "call"
        && let Some((last, before)) = items.split_last()
        && let Some((params, body)) = closure(last)
    {
        let head: String = before.iter().flat_map(|item| [item.as_str(), ", "]).collect();
        let first = format!("{prefix}({head}{params} {{");
        // rustfmt wants that line to end short of the limit (measured: 120 columns go vertical).
        if fits(indent + 1, &first) && !head.contains('\n') {
            return Ok(format!(
                "{first}\n{}{body}\n{}}}){suffix}",
                pad(indent + INDENT),
                pad(indent)
            ));
        }
    }
    // A single call or struct literal overflows: it breaks itself inside the brackets.
    if let [item] = items.as_slice()
        && matches!(kind, "call" | "array")
        && (overflows(item) || method_call_overflows(indent, prefix, item))
        && let Some(overflowed) = break_expression(indent, item)
    {
        let whole = format!("{prefix}{open}{overflowed}{close}{suffix}");
        if overflow_fits(indent, &whole) {
            return Ok(whole);
        }
    }
    let inner = pad(indent + INDENT);
    let mut out = format!("{prefix}{open_broken}\n");
    if kind == "use" {
        // Imports are packed: as many per line as fit.
        let mut line = String::new();
        for item in &items {
            let next = if line.is_empty() {
                format!("{item},")
            } else {
                format!("{line} {item},")
            };
            // A packed line ends short of the limit (measured: 120 columns move the last item).
            if !line.is_empty() && !fits(indent + INDENT + 1, &next) {
                let _ = writeln!(out, "{inner}{line}");
                line = format!("{item},");
            } else {
                line = next;
            }
        }
        let _ = writeln!(out, "{inner}{line}");
    } else {
        // Macros get no trailing comma: rustfmt cannot know that they accept one.
        let last_comma = if prefix.ends_with('!') { "" } else { "," };
        let packed = if matches!(kind, "call" | "array") {
            pack(indent + INDENT, &items).or_else(|| special_macro(indent + INDENT, prefix, &items))
        } else {
            None
        };
        if let Some(lines) = packed {
            for line in lines {
                let _ = writeln!(out, "{inner}{line}");
            }
            let _ = write!(out, "{}{close_broken}{suffix}", pad(indent));
            return Ok(out);
        }
        for (i, item) in items.iter().enumerate() {
            // Nothing follows a struct's `..base`.
            let comma = if item.starts_with("..") {
                ""
            } else if i + 1 == items.len() {
                last_comma
            } else {
                ","
            };
            let _ = writeln!(out, "{inner}{}", broken_item(indent + INDENT, item, comma));
        }
    }
    let _ = write!(out, "{}{close_broken}{suffix}", pad(indent));
    Ok(out)
}

/// One item of a broken list, itself broken when it does not fit: `field: f(a, b)?` becomes
/// `field: f(` / one argument per line / `)?`.
fn broken_item(indent: usize, item: &str, comma: &str) -> String {
    let whole = format!("{item}{comma}");
    if fits(indent, &whole) {
        return whole;
    }
    // A chain `a(x).b(y)` takes one link per line, when that takes fewer lines than breaking
    // the last call's arguments (rustfmt's choice, measured).
    let chained = split_top_level_at(item, '.')
        .filter(|links| links.len() > 2 || links.len() == 2 && links[0].chars().count() > INDENT)
        .map(|links| {
            let inner = pad(indent + INDENT);
            // A root no wider than the indentation keeps the next link (`self.0`).
            let mut out = links[0].clone();
            let mut rest = links[1..].iter();
            if out.chars().count() <= INDENT
                && let Some(link) = rest.next()
            {
                let _ = write!(out, ".{link}");
            }
            for link in rest {
                let _ = write!(out, "\n{inner}.{link}");
            }
            format!("{out}{comma}")
        });
    match (break_expression(indent, item), chained) {
        (Some(broken), Some(chained))
            if chained.lines().count() < broken.lines().count() && chained.lines().all(|line| fits(0, line)) =>
        {
            chained
        }
        (Some(broken), _) => format!("{broken}{comma}"),
        (None, Some(chained)) => chained,
        (None, None) => whole,
    }
}

/// A call `f(a, b)?` or a struct literal `Name { a, b }` starting at `indent`, with one
/// argument or field per line; None for other expressions.
fn break_expression(indent: usize, item: &str) -> Option<String> {
    let inner = pad(indent + INDENT);
    if let Some((head, fields)) = split_struct(item) {
        let mut out = format!("{head} {{\n");
        for field in &fields {
            let comma = if field.starts_with("..") { "" } else { "," };
            let _ = writeln!(out, "{inner}{field}{comma}");
        }
        let _ = write!(out, "{}}}", pad(indent));
        return Some(out);
    }
    if let Some((sigil, elements)) = split_array(item) {
        return Some(format!(
            "{sigil}[\n{}{}]",
            arguments(indent + INDENT, &elements),
            pad(indent)
        ));
    }
    let (head, args, tail) = split_call(item)?;
    // A closure last overflows, as in `list`.
    if let Some((last, before)) = args.split_last()
        && let Some((params, body)) = closure(last)
    {
        let first = format!(
            "{head}({}{params} {{",
            before.iter().flat_map(|arg| [arg.as_str(), ", "]).collect::<String>()
        );
        if fits(indent + 1, &first) {
            return Some(format!(
                "{first}\n{}{body}\n{}}}){tail}",
                pad(indent + INDENT),
                pad(indent)
            ));
        }
    }
    // A lone argument that is itself a call or an array overflows: `Some(f(` / f's arguments /
    // `))`; not a method call, whose chain rustfmt (style 2024) then keeps on one line.
    if let [arg] = args.as_slice()
        && split_struct(arg).is_none()
        && (overflows(arg) || method_call_overflows(indent, head, arg))
        && let Some(overflowed) = break_expression(indent, arg)
    {
        let whole = format!("{head}({overflowed}){tail}");
        if overflow_fits(indent, &whole) {
            return Some(whole);
        }
    }
    Some(format!(
        "{head}(\n{}{}){tail}",
        arguments(indent + INDENT, &args),
        pad(indent)
    ))
}

/// The lines of broken arguments or elements at `indent`, each ending in a comma and a newline:
/// packed when rustfmt packs them, else one per line, each broken in turn when it does not fit.
fn arguments(indent: usize, args: &[String]) -> String {
    let lines = pack(indent, args).unwrap_or_else(|| args.iter().map(|arg| broken_item(indent, arg, ",")).collect());
    let mut out = String::new();
    for line in &lines {
        let _ = writeln!(out, "{}{line}", pad(indent));
    }
    out
}

/// Whether a lone argument overflows its brackets: a struct literal, an array, or a call that
/// is not a method call. rustfmt (style 2024) overflows a method call only when the argument
/// cannot take a line of its own (measured).
fn overflows(arg: &str) -> bool {
    split_struct(arg).is_some()
        || split_array(arg).is_some()
        || split_call(arg)
            .is_some_and(|(callee, _, _)| split_top_level_at(callee, '.').is_some_and(|parts| parts.len() == 1))
}

/// Whether a lone method-call argument `arg` of the call `callee(` at `indent` overflows
/// (`Self(self.0.with(` / arguments / `))`) rather than taking lines of its own (measured with
/// rustfmt 1.95, style 2024): always behind a callee shorter than the indentation (`Ok(`);
/// else only when, on lines of its own, its arguments would break and run past 109 columns.
fn method_call_overflows(indent: usize, callee: &str, arg: &str) -> bool {
    if split_call(arg).is_none() {
        return false;
    }
    let name = callee.rsplit(['(', ' ']).next().unwrap_or(callee);
    if name.chars().count() < INDENT {
        return true;
    }
    let own = broken_item(indent + INDENT, arg, ",");
    let args_broken = own.lines().next().is_some_and(|line| line.ends_with('('));
    args_broken && !own.lines().all(|line| fits(MAX_WIDTH - 109, line))
}

/// `|x| body`: the parameters `|x|` and the body of a closure without a block.
fn closure(item: &str) -> Option<(&str, &str)> {
    let rest = item.strip_prefix('|')?;
    let end = rest.find('|')?;
    let body = rest[end + 1..].trim_start();
    (!body.is_empty() && !body.starts_with('{')).then(|| (&item[..end + 2], body))
}

/// `&[a, b]` or `[a, b]`: the sigil and the elements split at top-level commas.
fn split_array(item: &str) -> Option<(&str, Vec<String>)> {
    let sigil = if item.starts_with("&[") { "&" } else { "" };
    let inner = item[sigil.len()..].strip_prefix('[')?.strip_suffix(']')?;
    let elements = split_top_level(inner)?;
    // `[a][b]` is not one array; `[]` has nothing to break.
    if elements.iter().any(String::is_empty) || inner.contains("][") {
        return None;
    }
    Some((sigil, elements))
}

/// The lines of broken arguments (or array elements) that rustfmt packs, as many per line as
/// fit, each line ending in a comma: when every one is a simple expression (a literal, a
/// variable, a field, maybe behind `&`, `&mut `, `*`, `!` or `-`, maybe followed by `?`) of
/// at most 10 characters (`short_array_element_width_threshold`). None when they take a line each.
fn pack(indent: usize, items: &[String]) -> Option<Vec<String>> {
    if items.is_empty() || !items.iter().all(|item| item.chars().count() <= 10 && simple(item)) {
        return None;
    }
    let mut lines: Vec<String> = Vec::new();
    for item in items {
        match lines.last_mut() {
            Some(line) if fits(indent, &format!("{line} {item},")) => {
                line.push(' ');
                line.push_str(item);
                line.push(',');
            }
            _ => lines.push(format!("{item},")),
        }
    }
    Some(lines)
}

/// The lines of a broken `assert!`, `assert_eq!`, `write!`, … whose arguments before the
/// message are simple: those on the first line, the message on the next, what it formats on
/// the last, without a trailing comma (rustfmt's special macros). None for other calls.
fn special_macro(indent: usize, prefix: &str, items: &[String]) -> Option<Vec<String>> {
    const MACROS: [(&str, usize); 8] = [
        ("assert!", 1),
        ("debug_assert!", 1),
        ("write!", 1),
        ("writeln!", 1),
        ("assert_eq!", 2),
        ("assert_ne!", 2),
        ("debug_assert_eq!", 2),
        ("debug_assert_ne!", 2),
    ];
    let name = prefix.rsplit([' ', '(']).next().unwrap_or(prefix);
    let before = MACROS.iter().find(|(macro_name, _)| *macro_name == name)?.1;
    if items.len() <= before || !items[..before].iter().all(|item| simple(item)) {
        return None;
    }
    let head = format!("{},", items[..before].join(", "));
    let message = &items[before];
    let rest = items[before + 1..].join(", ");
    if !fits(indent, &head) || !fits(indent, &rest) {
        return None;
    }
    // The message on a line of its own, what it formats together on the last.
    if rest.is_empty() {
        return Some(vec![head, message.clone()]);
    }
    Some(vec![head, format!("{message},"), rest])
}

/// Whether rustfmt counts `item` as a simple expression (its `is_simple_expr`): a literal or a
/// one-segment path, through references, dereferences, negations, fields and `?`.
fn simple(item: &str) -> bool {
    let mut rest = item;
    loop {
        let stripped = rest
            .strip_prefix("&mut ")
            .or_else(|| rest.strip_prefix(['&', '*', '!', '-']));
        match stripped {
            Some(next) => rest = next,
            None => break,
        }
    }
    let rest = rest.trim_end_matches('?');
    // `a[b]`: an index of simple expressions.
    if let Some(body) = rest.strip_suffix(']')
        && let Some((base, index)) = body.split_once('[')
    {
        return simple(base) && simple(index);
    }
    if let Some(inner) = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return !inner.contains(['"', '\\']);
    }
    !rest.is_empty()
        && rest
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Whether an overflowed expression (`f(g(` … `))`) suits rustfmt: its first line must
/// leave room for the brackets its last line closes (measured: `Ok(Response::new(T {` at
/// 119 columns goes vertical, as does `field: Some(f(` at 119).
fn overflow_fits(indent: usize, text: &str) -> bool {
    let first = text.lines().next().unwrap_or_default();
    let last = text.lines().last().unwrap_or_default();
    let closers = last.chars().filter(|c| matches!(c, ')' | ']')).count();
    fits(indent + closers, first)
}

/// `Name { a, b }`: the name and the fields split at top-level commas.
fn split_struct(item: &str) -> Option<(&str, Vec<String>)> {
    let body = item.strip_suffix(" }")?;
    let (head, fields) = body.split_once(" { ")?;
    if head.contains(['(', '{', ' ']) {
        return None;
    }
    Some((head, split_top_level(fields)?))
}

/// `head(args)tail` with `tail` only `?` or empty, the arguments split at top-level commas;
/// None for anything else.
fn split_call(item: &str) -> Option<(&str, Vec<String>, &str)> {
    let tail = if item.ends_with(")?") {
        "?"
    } else if item.ends_with(')') {
        ""
    } else {
        return None;
    };
    let body = &item[..item.len() - tail.len() - 1];
    let open = body.find('(')?;
    let (head, inner) = (&body[..open], &body[open + 1..]);
    // A field's `name: ` may stand before the callee; nothing else with spaces is a call.
    if head.replacen(": ", "", 1).contains([' ', '{']) {
        return None;
    }
    let args = split_top_level(inner)?;
    // `f()` has nothing to break.
    if args.iter().all(String::is_empty) {
        return None;
    }
    Some((head, args, tail))
}

/// `text` split at the commas outside brackets and strings; None when brackets do not match.
fn split_top_level(inner: &str) -> Option<Vec<String>> {
    split_top_level_at(inner, ',')
}

/// `text` split at `separator` outside brackets and strings.
fn split_top_level_at(inner: &str, separator: char) -> Option<Vec<String>> {
    split_top_level_in(inner, separator, false)
}

/// `text` split at `separator` outside brackets (with `angles`, `<…>` too: a type) and strings.
fn split_top_level_in(inner: &str, separator: char, angles: bool) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let (mut depth, mut in_string, mut start) = (0_i32, false, 0);
    let mut previous = ' ';
    for (i, c) in inner.char_indices() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '(' | '[' | '{' if !in_string => depth += 1,
            ')' | ']' | '}' if !in_string => depth -= 1,
            '<' if angles => depth += 1,
            // `->` inside `Fn() -> T` closes nothing.
            '>' if angles && previous != '-' => depth -= 1,
            c if c == separator && !in_string && depth == 0 => {
                args.push(inner[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return None;
        }
        previous = c;
    }
    args.push(inner[start..].trim().to_owned());
    (depth == 0 && !in_string).then_some(args)
}

/// The right-hand side of an assignment (`prefix` ends with `= `, maybe followed by `&`) moves
/// to the next line when it does not fit on the first but fits whole on the next.
fn next_line(indent: usize, prefix: &str, one_line: &str) -> Option<String> {
    let at = prefix.rfind(" = ")?;
    // What follows `= ` is the start of the right-hand side: a sigil, a type or a callee.
    if prefix[at + 3..].contains(' ') {
        return None;
    }
    let rhs = &one_line[at + 3..];
    fits(indent + INDENT, rhs).then(|| format!("{} =\n{}{rhs}", &prefix[..at], pad(indent + INDENT)))
}

/// A function signature `{head}(params){ret} {`, e.g. `pub async fn get_order` with
/// `["&self", "id: Uuid"]` and ` -> Result<Order, AppError>`.
#[allow(clippy::needless_pass_by_value)] // minijinja hands functions owned values
fn signature(indent: usize, head: &str, params: Vec<String>, ret: &str) -> String {
    let one_line = format!("{head}({}){ret} {{", params.join(", "));
    if fits(indent, &one_line) {
        return one_line;
    }
    if params.is_empty() {
        // Nothing to break: the brace takes the next line, a column in when the rest does not
        // fit either (rustfmt's output, measured).
        let bare = format!("{head}(){ret}");
        let brace = if fits(indent, &bare) { "{" } else { " {" };
        return format!("{bare}\n{}{brace}", pad(indent));
    }
    let inner = pad(indent + INDENT);
    let mut out = format!("{head}(\n");
    for param in &params {
        let _ = writeln!(out, "{inner}{},", parameter(indent + INDENT, param));
    }
    let _ = write!(out, "{}){}", pad(indent), return_type(indent, ret));
    out
}

/// One parameter `name: Type` of a broken signature at `indent`, its generic type broken
/// inside its brackets when the line does not fit.
fn parameter(indent: usize, param: &str) -> String {
    if fits(indent, &format!("{param},")) {
        return param.to_owned();
    }
    param
        .split_once(": ")
        .and_then(|(name, ty)| Some(format!("{name}: {}", break_generic(indent, ty)?)))
        .unwrap_or_else(|| param.to_owned())
}

/// `{ret} {` behind the `)` that closes broken parameters at `indent`: on that line when it
/// fits, else with the brace on a line of its own when the type still fits, else with a
/// generic type broken inside its brackets (`-> Result<` / one argument per line / `> {`).
///
/// rustfmt's budgets here are its own (measured): the brace stays when the line would fit
/// with its indentation counted twice, and the type stays whole up to two columns past the limit.
fn return_type(indent: usize, ret: &str) -> String {
    if fits(2 * indent, &format!("){ret} {{")) {
        return format!("{ret} {{");
    }
    // An `impl Trait + Bound` (a list of bounds to rustfmt) is measured without the
    // indentation: at 4 columns in, `) -> impl Future<…> + Send` of 126 columns stays whole with
    // the brace below, and one of 132 breaks (both measured with rustfmt 1.95).
    let counted = if ret.starts_with(" -> impl ") { 0 } else { indent };
    if counted + format!("){ret}").chars().count() > MAX_WIDTH + 2 {
        let broken = ret.strip_prefix(" -> ").and_then(|ty| break_generic(indent, ty));
        if let Some(broken) = broken {
            // An argument that still does not fit its line makes rustfmt give up on the type:
            // it keeps it as it is and puts the brace right behind it (measured).
            let argument = pad(indent + INDENT);
            let deeper = pad(indent + 2 * INDENT);
            let gives_up = broken
                .lines()
                .any(|line| line.starts_with(&argument) && !line.starts_with(&deeper) && !fits(0, line));
            let brace = if gives_up { "{" } else { " {" };
            return format!(" -> {broken}{brace}");
        }
    }
    format!("{ret}\n{}{{", pad(indent))
}

/// A generic type `Name<A, B>` starting on a line at `indent`, as rustfmt breaks it when it
/// does not fit: `Name<`, one argument per line with a trailing comma (each broken the same
/// way when it does not fit either), `>`; None for other types (`impl Trait + Send`, tuples).
fn break_generic(indent: usize, ty: &str) -> Option<String> {
    // `impl Trait<…> + Bound`: the trait's arguments break, the bounds follow the `>`.
    if let Some(rest) = ty.strip_prefix("impl ") {
        let (head, bounds) = rest
            .find("> + ")
            .map_or((rest, ""), |at| (&rest[..=at], &rest[at + 1..]));
        return Some(format!("impl {}{bounds}", break_generic(indent, head)?));
    }
    // An associated type's binding (`Output = Result<…>`): its type breaks.
    if let Some((name, bound)) = ty.split_once(" = ")
        && !name.contains(['<', ' '])
    {
        return Some(format!("{name} = {}", break_generic(indent, bound)?));
    }
    let body = ty.strip_suffix('>')?;
    let (head, inner) = body.split_once('<')?;
    if head.is_empty() || head.contains([' ', '(', '[', '&', '+']) {
        return None;
    }
    let args = split_generic_arguments(inner)?;
    let inner_indent = indent + INDENT;
    let mut out = format!("{head}<\n");
    for arg in &args {
        let line = if fits(inner_indent, &format!("{arg},")) {
            arg.clone()
        } else {
            break_generic(inner_indent, arg).unwrap_or_else(|| arg.clone())
        };
        let _ = writeln!(out, "{}{line},", pad(inner_indent));
    }
    let _ = write!(out, "{}>", pad(indent));
    Some(out)
}

/// The arguments of a generic type, split at the commas outside any brackets (angle ones
/// included); None when the brackets do not match, as in `A<B> + C<D>`.
fn split_generic_arguments(inner: &str) -> Option<Vec<String>> {
    split_top_level_in(inner, ',', true).filter(|args| args.iter().all(|arg| !arg.is_empty()))
}

/// The header `impl {target} for {ty} {` of a trait implementation at `indent`; when it does
/// not fit, `for {ty}` takes the next line and the brace one of its own, as rustfmt puts them.
fn implementation(indent: usize, target: &str, ty: &str) -> String {
    let one_line = format!("impl {target} for {ty} {{");
    if fits(indent, &one_line) {
        return one_line;
    }
    format!("impl {target}\n{}for {ty}\n{}{{", pad(indent + INDENT), pad(indent))
}

/// The head `{pattern} => {` of a match arm with a block at `indent`; when it does not fit,
/// the brace takes a line of its own, as rustfmt puts it. With a `body` expression, the whole
/// arm `{pattern} => {body},`, its body put in a block on a line of its own when it does not fit.
///
/// rustfmt lets the head run one column past the limit (measured).
fn arm(indent: usize, pattern: &str, body: Option<&str>) -> String {
    if let Some(body) = body {
        let one_line = format!("{pattern} => {body},");
        if fits(indent, &one_line) {
            return one_line;
        }
        let inner = indent + INDENT;
        if fits(inner, body) {
            return format!("{pattern} => {{\n{}{body}\n{}}}", pad(inner), pad(indent));
        }
        // A chain too long for a block of its own stays behind the arrow, one link per line,
        // when its root fits there (measured); else it breaks inside the block.
        let Some(links) = split_top_level_at(body, '.').filter(|links| links.len() > 1) else {
            return format!("{pattern} => {{\n{}{body}\n{}}}", pad(inner), pad(indent));
        };
        let head = format!("{pattern} => ");
        if fits(indent, &format!("{head}{}", links[0])) {
            let rest = links[1..].iter().map(|link| format!(".{link}")).collect();
            return chain(indent, &head, &links[0], rest, Some(","));
        }
        let broken = chain(inner, "", body, Vec::new(), None);
        return format!("{pattern} => {{\n{}{broken}\n{}}}", pad(inner), pad(indent));
    }
    let one_line = format!("{pattern} => {{");
    if fits(indent.saturating_sub(1), &one_line) {
        return one_line;
    }
    format!("{pattern} =>\n{}{{", pad(indent))
}

/// A method chain `{prefix}{first}{links}{suffix}`, e.g. `sqlx::query(…)` with
/// `[".bind(id)", ".execute(conn)", ".await?"]`: one line, or one link per line.
#[allow(clippy::needless_pass_by_value)] // minijinja hands functions owned values
fn chain(indent: usize, prefix: &str, first: &str, links: Vec<String>, suffix: Option<&str>) -> String {
    let suffix = suffix.unwrap_or("");
    let one_line = format!("{prefix}{first}{}{suffix}", links.concat());
    // rustfmt keeps a chain that ends in `?` on one line only when it ends short of the limit
    // (measured: such a chain of exactly 120 columns is broken; any other one is kept).
    let slack = usize::from(links.last().map_or(first, String::as_str).ends_with('?'));
    if fits(indent + slack, &one_line) {
        return one_line;
    }
    if let Some(moved) = next_line(indent, prefix, &one_line)
        && moved.lines().all(|line| fits(slack, line))
    {
        return moved;
    }
    // A first element that breaks itself (`f(` / arguments / `)`) stays behind the assignment
    // when its first line fits there, unless on the next line, every line a column short of
    // the limit (measured), it takes at least two line breaks fewer (rustfmt's choice).
    let broken_first = (!fits(indent, &format!("{prefix}{first}")))
        .then(|| break_expression(indent, first))
        .flatten()
        .filter(|broken| {
            fits(
                indent,
                &format!("{prefix}{}", broken.lines().next().unwrap_or_default()),
            )
        });
    // A first element that does not fit behind an assignment starts the next line.
    if let Some(at) = prefix.rfind(" = ")
        && prefix[at + 3..].is_empty()
        && !fits(indent, &format!("{prefix}{first}"))
    {
        let moved = chain(indent + INDENT, "", first, links.clone(), Some(suffix));
        if let Some(broken) = &broken_first {
            let shorter = broken.lines().count() + links.len() > moved.lines().count() + 1;
            let moved_fits = moved
                .lines()
                .enumerate()
                .all(|(i, line)| fits(1 + if i == 0 { indent + INDENT } else { 0 }, line));
            if !(shorter && moved_fits) {
                let mut out = format!("{prefix}{broken}");
                for link in &links {
                    let _ = write!(out, "\n{}{link}", pad(indent));
                }
                out.push_str(suffix);
                return out;
            }
        }
        return format!("{} =\n{}{moved}", &prefix[..at], pad(indent + INDENT));
    }
    // A first element too long for its line breaks itself; the links follow its closing
    // bracket, one per line at its indentation.
    if !fits(indent, &format!("{prefix}{first}"))
        && let Some(broken) = break_expression(indent, first)
    {
        let mut out = format!("{prefix}{broken}");
        for link in &links {
            let _ = write!(out, "\n{}{link}", pad(indent));
        }
        out.push_str(suffix);
        return out;
    }
    // rustfmt keeps links on the line of a root no wider than the indentation left of it
    // (`self.app` on a line of its own; `let x = self` / `.app` behind an assignment).
    let mut root = first.to_owned();
    let mut rest = Vec::new();
    if let Some(parts) = split_top_level_at(first, '.')
        && parts.len() > 1
        && parts
            .iter()
            .all(|part| !part.is_empty() && !part.starts_with(|c: char| c.is_ascii_digit()))
    {
        root.clone_from(&parts[0]);
        rest = parts[1..].iter().map(|part| format!(".{part}")).collect();
    }
    rest.extend(links);
    let mut links = rest;
    let offset = prefix.rsplit('\n').next().unwrap_or_default().chars().count();
    while root.chars().count() <= INDENT.saturating_sub(offset) && links.len() > 1 {
        root.push_str(&links.remove(0));
    }
    let inner = pad(indent + INDENT);
    let mut out = format!("{prefix}{root}");
    for (i, link) in links.iter().enumerate() {
        // A link too long for its line breaks its own arguments.
        let tail = if i + 1 == links.len() { suffix } else { "" };
        let broken = match break_expression(indent + INDENT, link) {
            Some(broken) if !fits(indent + INDENT, &format!("{link}{tail}")) => broken,
            _ => link.clone(),
        };
        let _ = write!(out, "\n{inner}{broken}");
    }
    out.push_str(suffix);
    out
}

/// The head of a block whose condition is a chain, `{head}{first}{links}{opener}` with `head`
/// like `if ` or `let Some(x) = ` and `opener` like ` {` or ` else {`: on one line when it
/// fits, else the chain broken and the opener on a line of its own, as rustfmt puts it.
#[allow(clippy::needless_pass_by_value)] // minijinja hands functions owned values
fn condition(indent: usize, head: &str, first: &str, links: Vec<String>, opener: &str) -> String {
    let one_line = format!("{head}{first}{}{opener}", links.concat());
    // rustfmt wants a one-line `let … else {` to end short of the limit (measured at 120).
    let slack = usize::from(opener.contains("else"));
    if fits(indent + slack, &one_line) {
        return one_line;
    }
    let inner = indent + INDENT;
    // Behind an assignment (`let … else`), a right-hand side that fits the next line, a column
    // short of the limit (measured), moves there.
    let rhs = format!("{first}{}", links.concat());
    // Without its opener the line may fit: the opener takes the next line.
    if fits(indent, &format!("{head}{rhs}")) {
        return format!("{head}{rhs}\n{}{}", pad(indent), opener.trim_start());
    }
    if let Some(left) = head.strip_suffix(" = ")
        && fits(inner + 1, &rhs)
    {
        return format!("{left} =\n{}{rhs}\n{}{}", pad(inner), pad(indent), opener.trim_start());
    }
    // Else the chain stays behind the head, one link per line.
    let mut out = format!("{head}{first}");
    for link in &links {
        let broken = match break_expression(inner, link) {
            Some(broken) if !fits(inner, link) => broken,
            _ => link.clone(),
        };
        let _ = write!(out, "\n{}{broken}", pad(inner));
    }
    format!("{out}\n{}{}", pad(indent), opener.trim_start())
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
    fn imports_sort_as_rustfmt_sorts_them() {
        // What rustfmt 1.95 (style edition 2024) made of these two `use` lists.
        let sorted_like_rustfmt = |items: &[&str]| {
            let mut items: Vec<String> = items.iter().map(|i| (*i).to_owned()).collect();
            items.reverse();
            sorted(items)
        };
        assert_eq!(
            sorted_like_rustfmt(&["Bz", "CA9", "CHsrX", "Ca9", "Ca10", "Cab", "CallPolicy", "cz"]),
            ["Bz", "CA9", "CHsrX", "Ca9", "Ca10", "Cab", "CallPolicy", "cz"]
        );
        assert_eq!(
            sorted_like_rustfmt(&["b_x", "b2", "b10", "bX"]),
            ["b_x", "b2", "b10", "bX"]
        );
    }

    #[test]
    fn one_line_while_it_fits_else_one_item_per_line() {
        let short = list(
            4,
            "let user = User",
            "struct",
            vec!["id".into(), "name".into()],
            Some(";"),
        )
        .unwrap();
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
        let items: Vec<String> = (0..3)
            .map(|i| format!("(Self::Value{i}, \"value_{i}\", {i})"))
            .collect();
        let moved = list(
            4,
            "const VALUES: &'static [(Self, &'static str, i32)] = &",
            "array",
            items,
            Some(";"),
        );
        assert!(
            moved
                .unwrap()
                .starts_with("const VALUES: &'static [(Self, &'static str, i32)] =\n        &[(Self::Value0")
        );
        let many: Vec<String> = (0..12)
            .map(|i| format!("(Self::Value{i}, \"value_{i}\", {i})"))
            .collect();
        let broken = list(
            4,
            "const VALUES: &'static [(Self, &'static str, i32)] = &",
            "array",
            many,
            Some(";"),
        )
        .unwrap();
        assert!(
            broken.starts_with("const VALUES: &'static [(Self, &'static str, i32)] = &[\n"),
            "{broken}"
        );
    }

    #[test]
    fn an_unbreakable_right_hand_side_moves_down_only_when_that_helps() {
        assert_eq!(
            assign(0, "const A: &str", "\"short\"", Some(";")),
            "const A: &str = \"short\";"
        );
        let mid = format!("\"{}\"", "x".repeat(100));
        assert_eq!(
            assign(0, "const LONG_NAME: &str", &mid, Some(";")),
            format!("const LONG_NAME: &str =\n    {mid};")
        );
        let huge = format!("\"{}\"", "x".repeat(200));
        assert_eq!(
            assign(0, "const A: &str", &huge, Some(";")),
            format!("const A: &str = {huge};")
        );
    }

    #[test]
    fn imports_pack_and_long_items_break_as_calls() {
        let names: Vec<String> = (0..8).map(|i| format!("SomeRatherLongTypeName{i}")).collect();
        let packed = list(0, "use crate::model::", "use", names, Some(";")).unwrap();
        assert!(
            packed.starts_with("use crate::model::{\n    SomeRatherLongTypeName0, SomeRatherLongTypeName1,"),
            "{packed}"
        );
        assert_eq!(packed.lines().count(), 4, "{packed}");
        let at = |width: usize| {
            let path = format!("use a{}::", "x".repeat(width - "use a::{B, C};".len()));
            list(0, &path, "use", vec!["B".into(), "C".into()], Some(";")).unwrap()
        };
        assert_eq!(at(118).lines().count(), 1, "{}", at(118));
        assert_eq!(at(119).lines().count(), 3, "{}", at(119));
        let long = format!("field: Wire::from_pb(value.{0}, \"{0}\")?", "x".repeat(60));
        let broken = broken_item(8, &long, ",");
        assert_eq!(
            broken,
            format!(
                "field: Wire::from_pb(\n            value.{0},\n            \"{0}\",\n        )?,",
                "x".repeat(60)
            )
        );
        assert_eq!(
            split_call("f(a, g(b, c), \"d, e\")"),
            Some(("f", vec!["a".into(), "g(b, c)".into(), "\"d, e\"".into()], ""))
        );
        assert_eq!(split_call("no call"), None);
        // A lone call argument overflows rather than taking a line of its own (issue 11).
        let nested = format!("{0}: Some({0}_to_pb(&created))", "x".repeat(40));
        assert_eq!(
            broken_item(16, &nested, ","),
            format!(
                "{0}: Some({0}_to_pb(\n                    &created,\n                )),",
                "x".repeat(40)
            )
        );
        let chained = format!("get(get_{0}).put(update_{0}).delete(delete_{0})", "x".repeat(40));
        assert_eq!(
            broken_item(12, &chained, ","),
            format!(
                "get(get_{0})\n                .put(update_{0})\n                .delete(delete_{0}),",
                "x".repeat(40)
            )
        );
        let one = list(
            4,
            "Ok(Response::new",
            "call",
            vec![format!("Reply {{ {}: Some(record) }}", "x".repeat(100))],
            Some(")"),
        );
        assert_eq!(
            one.unwrap(),
            format!(
                "Ok(Response::new(Reply {{\n        {}: Some(record),\n    }}))",
                "x".repeat(100)
            )
        );
    }

    #[test]
    fn the_limit_is_inclusive() {
        let exactly = format!("f({})", "a".repeat(MAX_WIDTH - 3));
        assert_eq!(
            list(0, "f", "call", vec!["a".repeat(MAX_WIDTH - 3)], None).unwrap(),
            exactly
        );
        assert!(
            list(1, "f", "call", vec!["a".repeat(MAX_WIDTH - 3)], None)
                .unwrap()
                .contains('\n')
        );
    }

    #[test]
    fn a_lone_argument_overflows_only_when_its_first_line_fits() {
        let at = |width: usize| {
            let ty = format!("a::R{}", "x".repeat(width - 12 - "Ok(Response::new(a::R {".len()));
            list(
                12,
                "Ok(Response::new",
                "call",
                vec![format!("{ty} {{ {}: Some(record) }}", "f".repeat(60))],
                Some(")"),
            )
            .unwrap()
        };
        assert!(at(118).starts_with("Ok(Response::new(a::R"), "{}", at(118));
        assert!(at(119).starts_with("Ok(Response::new(\n"), "{}", at(119));
        let ty = format!("{}::Create{}Response", "a".repeat(40), "E".repeat(40));
        let item = format!("{ty} {{ {}: Some(record) }}", "e".repeat(40));
        let broken = list(12, "Ok(Response::new", "call", vec![item], Some(")")).unwrap();
        assert_eq!(
            broken,
            format!(
                "Ok(Response::new(\n                {ty} {{\n                    {}: Some(record),\n                }},\n            ))",
                "e".repeat(40)
            )
        );
    }

    #[test]
    fn an_assigned_struct_whose_header_reaches_the_limit_starts_the_next_line() {
        let fields = vec![
            format!("{}: true", "f".repeat(60)),
            format!("{}: Some(42)", "g".repeat(60)),
        ];
        let at = |width: usize| {
            let ty = format!("a::R{}", "x".repeat(width - 4 - "let event = a::R {".len()));
            list(4, &format!("let event = {ty}"), "struct", fields.clone(), Some(";")).unwrap()
        };
        assert!(at(119).starts_with("let event = a::R"), "{}", at(119));
        assert!(at(120).starts_with("let event =\n        a::R"), "{}", at(120));
    }

    #[test]
    fn an_impl_header_too_long_puts_its_type_and_brace_on_lines_of_their_own() {
        assert_eq!(implementation(0, "Hooks", "Logic"), "impl Hooks for Logic {");
        assert_eq!(arm(12, "\"a.b\"", None), "\"a.b\" => {");
        assert_eq!(arm(8, "Some(a)", Some("f(a)")), "Some(a) => f(a),");
        let long = format!("f({})", "a".repeat(100));
        assert_eq!(
            arm(8, "Some(a)", Some(&long)),
            format!("Some(a) => {{\n            {long}\n        }}")
        );
        let subject = format!("\"{}\"", "s".repeat(102));
        assert!(arm(12, &subject, None).ends_with("=> {"), "121 columns still fit");
        let subject = format!("\"{}\"", "s".repeat(103));
        assert_eq!(arm(12, &subject, None), format!("{subject} =>\n            {{"));
        let target = format!("pb::{}_service_server::{}Service", "a".repeat(40), "A".repeat(40));
        assert_eq!(
            implementation(0, &target, "Api"),
            format!("impl {target}\n    for Api\n{{")
        );
        assert_eq!(
            implementation(4, "Service", &"A".repeat(100)),
            format!("impl Service\n        for {}\n    {{", "A".repeat(100))
        );
    }

    /// The expected layouts are what rustfmt makes of these signatures (issue 11).
    #[test]
    fn a_return_type_too_long_for_its_line_breaks_as_rustfmt_breaks_it() {
        let params = |request: &str| vec!["&self".to_owned(), format!("request: Request<{request}>")];
        let path = format!("{}::Create{}", "a".repeat(40), "E".repeat(30));
        // `) -> T` fits, `) -> T {` does not: the brace gets a line of its own.
        let ret = format!(" -> Result<Response<{path}Response>, Status>");
        let sig = signature(4, "async fn create", params(&format!("{path}Request")), &ret);
        assert_eq!(
            sig,
            format!(
                "async fn create(\n        &self,\n        request: Request<{path}Request>,\n    ) -> Result<Response<{path}Response>, Status>\n    {{"
            )
        );
        // Three characters more: the type breaks inside its brackets.
        let ret = format!(" -> Result<Response<{path}xxxResponse>, Status>");
        let sig = signature(4, "async fn create", params(&format!("{path}Request")), &ret);
        assert!(
            sig.ends_with(&format!(
                "\n    ) -> Result<\n        Response<{path}xxxResponse>,\n        Status,\n    > {{"
            )),
            "{sig}"
        );
        // An argument too long for its own line breaks the same way.
        let ret = format!(" -> Result<Response<{path}{}Response>, Status>", "x".repeat(18));
        let sig = signature(4, "async fn create", params(&format!("{path}Request")), &ret);
        assert!(
            sig.ends_with(&format!(
                "\n    ) -> Result<\n        Response<\n            {path}{}Response,\n        >,\n        Status,\n    > {{",
                "x".repeat(18)
            )),
            "{sig}"
        );
        // The measured budgets: at indent 8 the brace stays only up to 110 columns (indentation
        // counted twice), and the type stays whole up to 122.
        let at = |width: usize| {
            let ty = "E".repeat(width - 8 - ") -> Result<, Status>".len());
            signature(8, "fn f", params("X"), &format!(" -> Result<{ty}, Status>"))
        };
        assert!(at(110).ends_with("Status> {"), "{}", at(110));
        assert!(at(111).ends_with("Status>\n        {"), "{}", at(111));
        assert!(at(122).ends_with("Status>\n        {"), "{}", at(122));
        assert!(at(123).ends_with("        Status,\n        > {"), "{}", at(123));
        // So does a parameter's type.
        let request = format!("{path}{}Request", "x".repeat(12));
        let sig = signature(8, "async fn create", params(&request), " -> Result<(), Status>");
        assert!(
            sig.contains(&format!(
                "\n            request: Request<\n                {request},\n            >,\n"
            )),
            "{sig}"
        );
        // An argument that fits its own line stays whole.
        let long = "E".repeat(100);
        let sig = signature(
            4,
            "async fn create",
            params("X"),
            &format!(" -> Result<{long}, AppError>"),
        );
        assert!(
            sig.ends_with(&format!(
                "\n    ) -> Result<\n        {long},\n        AppError,\n    > {{"
            )),
            "{sig}"
        );
        assert_eq!(
            split_generic_arguments("A<B>, C<D, E>, F"),
            Some(vec!["A<B>".into(), "C<D, E>".into(), "F".into()])
        );
        assert_eq!(split_generic_arguments("A>, B<"), None);
    }

    #[test]
    fn signatures_and_chains_break_the_same_way() {
        let sig = signature(4, "fn f", vec!["&self".into()], " -> u32");
        assert_eq!(sig, "fn f(&self) -> u32 {");
        let params: Vec<String> = (0..8).map(|i| format!("parameter_{i}: &SomeLongTypeName")).collect();
        let sig = signature(4, "fn f", params, " -> u32");
        assert!(
            sig.starts_with("fn f(\n        parameter_0: &SomeLongTypeName,\n"),
            "{sig}"
        );
        assert!(sig.ends_with("\n    ) -> u32 {"), "{sig}");
        let links: Vec<String> = (0..10).map(|i| format!(".bind(value_number_{i})")).collect();
        let long_link = format!(".on_{}(self, tx, &decode(payload)?)", "x".repeat(100));
        let broken_link = chain(16, "", "self.logic", vec![long_link, ".await?".into()], Some(";"));
        assert!(
            broken_link.starts_with("self.logic\n                    .on_"),
            "{broken_link}"
        );
        assert!(
            broken_link.contains("(\n                        self,\n"),
            "{broken_link}"
        );
        assert_eq!(
            split_call("Response::default()"),
            None,
            "an empty call has nothing to break"
        );
        let exactly = |link: &str| {
            let first = format!(
                "reply.{}",
                "x".repeat(MAX_WIDTH - 4 - ";".len() - "reply.".len() - link.len())
            );
            chain(4, "", &first, vec![link.to_owned()], Some(";"))
        };
        assert!(!exactly(".expect(\"x\")").contains('\n'), "120 columns fit");
        assert!(exactly(".await?").contains('\n'), "but not with a `?` at the end");
        let first = format!(
            "sqlx::query({})",
            "Q".repeat(MAX_WIDTH - 8 - "sqlx::query().await?;".len())
        );
        assert_eq!(
            chain(4, "let row = ", &first, vec![".await?".into()], Some(";")),
            format!("let row = {first}\n        .await?;"),
            "nor on the next line"
        );
        let call = format!(
            "store::list_{}(&mut *self.db.acquire().await?, page_size, after)",
            "x".repeat(60)
        );
        assert_eq!(
            chain(8, "", &call, vec![".await".into()], None),
            format!(
                "store::list_{}(\n            &mut *self.db.acquire().await?,\n            page_size,\n            after,\n        )\n        .await",
                "x".repeat(60)
            )
        );
        let chained = chain(4, "", "query(q)", links, Some(";"));
        assert!(
            chained.starts_with("query(q)\n        .bind(value_number_0)\n"),
            "{chained}"
        );
        assert!(chained.ends_with(".bind(value_number_9);"), "{chained}");
    }

    // The layouts below are what rustfmt 1.95 (style 2024, the generated `rustfmt.toml`) made of
    // the same code with names of 60 characters; `tests/integration/formatting.rs` checks them
    // against rustfmt itself.

    #[test]
    fn short_simple_arguments_are_packed_as_many_per_line_as_fit() {
        let method = format!("after_create_{}", "x".repeat(96));
        let args: Vec<String> = ["self", "&mut tx", "&created"].map(str::to_owned).to_vec();
        assert_eq!(
            break_expression(12, &format!(".{method}({})", args.join(", "))).unwrap(),
            format!(".{method}(\n                self, &mut tx, &created,\n            )")
        );
        // One argument that is not simple (a call) or longer than 10 characters: one per line.
        let args = vec!["tx.conn()".to_owned(), "&current".to_owned()];
        assert_eq!(pack(16, &args), None);
        assert_eq!(pack(16, &["&long_name_".to_owned()]), None);
        assert!(simple("&mut input") && simple("item[\"f\"]") && simple("-1") && !simple("a::b"));
    }

    #[test]
    fn assertions_keep_their_leading_arguments_on_the_first_line() {
        let message = format!("\"creating the {} it refers to: {{}}\"", "x".repeat(80));
        let items = vec![
            "reply.status".to_owned(),
            "201".to_owned(),
            message.clone(),
            "reply.body".to_owned(),
        ];
        assert_eq!(
            list(4, "assert_eq!", "call", items, Some(";")).unwrap(),
            format!("assert_eq!(\n        reply.status, 201,\n        {message},\n        reply.body\n    );")
        );
    }

    #[test]
    fn a_short_root_keeps_its_first_link_unless_behind_an_assignment() {
        let method = format!(".delete_{}_at(id, version)", "x".repeat(75));
        let links = vec![".app".to_owned(), method.clone(), ".await?".to_owned()];
        assert_eq!(
            chain(12, "", "self", links.clone(), Some(";")),
            format!("self.app\n                {method}\n                .await?;")
        );
        assert_eq!(
            chain(12, "let updated = ", "self", links, Some(";")),
            format!("let updated = self\n                .app\n                {method}\n                .await?;")
        );
    }

    #[test]
    fn a_call_that_breaks_itself_stays_behind_the_assignment() {
        let call = format!("store::get_{}(&mut *self.db.acquire().await?, id)", "x".repeat(80));
        let head = call.split_once('(').unwrap().0;
        assert_eq!(
            chain(8, "let record = ", &call, vec![".await?".into()], Some(";")),
            format!(
                "let record = {head}(\n            &mut *self.db.acquire().await?,\n            id,\n        )\n        .await?;"
            )
        );
    }

    #[test]
    fn an_arm_too_long_for_a_block_breaks_its_chain() {
        let call = format!("sqlx::query({})", "X".repeat(90));
        assert_eq!(
            arm(8, "Some(after)", Some(&format!("{call}.bind(after.to_sql())"))),
            format!("Some(after) => {{\n            {call}\n                .bind(after.to_sql())\n        }}")
        );
        let root = format!("{}_from_row(&row)", "x".repeat(70));
        let link = format!(".and_then(reachable_{})", "x".repeat(70));
        assert_eq!(
            arm(8, "Some(row)", Some(&format!("{root}{link}"))),
            format!("Some(row) => {root}\n            {link},")
        );
    }

    #[test]
    fn a_broken_condition_puts_the_brace_on_a_line_of_its_own() {
        let first = format!("{}_ownership()", "x".repeat(70));
        let link = format!(".admits(&record.{}.to_string())", "y".repeat(40));
        assert_eq!(
            condition(4, "if ", &first, vec![link.clone()], " {"),
            format!("if {first}\n        {link}\n    {{")
        );
        assert_eq!(condition(4, "if ", "a()", vec![".b()".into()], " {"), "if a().b() {");
        let narrow = format!(".narrow(filter.{}.take())", "y".repeat(40));
        assert_eq!(
            condition(4, "let Some(owner) = ", &first, vec![narrow.clone()], " else {"),
            format!("let Some(owner) = {first}\n        {narrow}\n    else {{")
        );
    }

    #[test]
    fn a_closure_last_overflows_into_a_block() {
        let from_row = format!("{}_from_row", "x".repeat(70));
        let items = vec![
            "&rows".to_owned(),
            "page_size".to_owned(),
            from_row.clone(),
            "|item| item.id".to_owned(),
        ];
        assert_eq!(
            list(4, "page", "call", items, None).unwrap(),
            format!("page(&rows, page_size, {from_row}, |item| {{\n        item.id\n    }})")
        );
        // Measured: a first line of 120 columns goes vertical.
        let from_row = format!("{}_from_row", "x".repeat(74));
        let items = vec![
            "&rows".to_owned(),
            "page_size".to_owned(),
            from_row,
            "|item| item.id".to_owned(),
        ];
        assert!(list(4, "page", "call", items, None).unwrap().starts_with("page(\n"));
    }

    #[test]
    fn a_lone_method_call_overflows_only_when_its_own_lines_would_run_long() {
        let call = |n: usize| format!("self.0.with(\"{}\", answer)", "a".repeat(n));
        // Measured: up to 86 characters the argument takes lines of its own, from 87 it overflows.
        assert!(
            list(12, "Self", "call", vec![call(86)], None)
                .unwrap()
                .starts_with("Self(\n")
        );
        assert!(
            list(12, "Self", "call", vec![call(87)], None)
                .unwrap()
                .starts_with("Self(self.0.with(\n")
        );
        // A callee shorter than the indentation always takes it along.
        assert!(
            list(12, "Ok", "call", vec![call(82)], None)
                .unwrap()
                .starts_with("Ok(self.0.with(\n")
        );
    }

    #[test]
    fn types_that_cannot_fit_end_as_rustfmt_leaves_them() {
        // An `impl Trait<…> + Send` that does not fit stays whole, the brace below (measured on
        // the hook of an operation answering a page, in the everything fixture).
        let ret = " -> impl Future<Output = Result<fleetwright_runtime::db::Page<crate::model::StorageLocationAssignment>, AppError>> + Send";
        let sig = signature(
            4,
            "fn find_storage_location_assignments",
            vec!["&self".into(), "_app: &App".into(), "_tx: &mut Tx".into()],
            ret,
        );
        assert!(sig.ends_with(&format!("    ){ret}\n    {{")), "{sig}");
        // Longer, it breaks inside its brackets, and so does the associated type's binding.
        let entity = "FXpSgTuOTwO94gdBUrZOIvApFyGaapMqIVHDPQdL";
        let ret = format!(
            " -> impl Future<Output = Result<fleetwright_runtime::db::Page<crate::model::{entity}>, AppError>> + Send"
        );
        let sig = signature(
            4,
            "fn f",
            vec!["&self".into(), "_app: &App".into(), "_tx: &mut Tx".into()],
            &ret,
        );
        assert!(
            sig.ends_with(&format!(
                "    ) -> impl Future<\n        Output = Result<\n            fleetwright_runtime::db::Page<crate::model::{entity}>,\n            AppError,\n        >,\n    > + Send {{"
            )),
            "{sig}"
        );
        // An argument too long for its line: rustfmt keeps the rest and glues the brace on.
        let ret = format!(" -> Result<peer::{}Response, CallError>", "A".repeat(104));
        let sig = signature(
            4,
            "pub async fn f",
            vec!["&self".into(), format!("request: {}", "B".repeat(100))],
            &ret,
        );
        assert!(sig.ends_with("        CallError,\n    >{"), "{sig}");
        // A name too long for its line: the brace below, a column in once `()` does not fit.
        assert_eq!(
            signature(0, &format!("async fn {}", "a".repeat(108)), vec![], ""),
            format!("async fn {}()\n{{", "a".repeat(108))
        );
        assert_eq!(
            signature(0, &format!("async fn {}", "a".repeat(110)), vec![], ""),
            format!("async fn {}()\n {{", "a".repeat(110))
        );
    }

    #[test]
    fn broken_items_prefer_a_chain_that_takes_fewer_lines() {
        let field = "f".repeat(60);
        let item = format!("{field}: query.filter(\"{field}\")?");
        assert_eq!(
            broken_item(8, &item, ","),
            format!("{field}: query\n            .filter(\"{field}\")?,")
        );
        // Arrays overflow their call: `Policy::AnyOf(&[` / grants / `])`.
        let grant = format!("Grant::Role(\"{}\")", "r".repeat(60));
        let item = format!("Policy::AnyOf(&[{grant}, {grant}])");
        assert_eq!(
            broken_item(8, &item, ","),
            format!("Policy::AnyOf(&[\n            {grant},\n            {grant},\n        ]),")
        );
    }
}
