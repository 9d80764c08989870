//! A service's CPU and memory requests and limits, as Kubernetes quantities.

use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::schema::ResourcesSpec;
use crate::model::defaults::{DEFAULT_CPU, DEFAULT_CPU_LIMIT, DEFAULT_MEMORY, DEFAULT_MEMORY_LIMIT};

pub(super) fn resources(resources: &ResourcesSpec, out: &mut Diagnostics) {
    let check = |value: Option<&Spanned<String>>,
                 default: &str,
                 parse: fn(&str) -> Option<f64>,
                 what: &str,
                 help: &str,
                 out: &mut Diagnostics| {
        match value {
            None => parse(default),
            Some(v) => {
                let parsed = parse(v.get_ref()).filter(|n| *n > 0.0);
                if parsed.is_none() {
                    out.push(
                        Diagnostic::error(Code::E005, format!("invalid {what} quantity `{}`", v.get_ref()))
                            .at(v.span(), format!("not a Kubernetes {what} quantity"))
                            .help(help.to_owned()),
                    );
                }
                parsed
            }
        }
    };
    let cpu_help = "write millicores like `250m` or cores like `1` or `0.5`";
    let memory_help = "write a size like `128Mi`, `1.5Gi` or `512M`";
    let pairs = [
        (
            &resources.cpu,
            DEFAULT_CPU,
            &resources.cpu_limit,
            DEFAULT_CPU_LIMIT,
            cpu_cores as fn(&str) -> Option<f64>,
            "CPU",
            cpu_help,
        ),
        (
            &resources.memory,
            DEFAULT_MEMORY,
            &resources.memory_limit,
            DEFAULT_MEMORY_LIMIT,
            memory_bytes,
            "memory",
            memory_help,
        ),
    ];
    for (request, request_default, limit, limit_default, parse, what, help) in pairs {
        let r = check(request.as_ref(), request_default, parse, what, help, out);
        let l = check(limit.as_ref(), limit_default, parse, what, help, out);
        if let (Some(r), Some(l)) = (r, l)
            && r > l
        {
            let (request_text, limit_text) = (
                request.as_ref().map_or(request_default, |v| v.get_ref().as_str()),
                limit.as_ref().map_or(limit_default, |v| v.get_ref().as_str()),
            );
            let span = request.as_ref().or(limit.as_ref()).map(Spanned::span);
            out.push(
                    Diagnostic::error(Code::E005, format!("{what} request `{request_text}` is above its limit `{limit_text}`"))
                        .at_opt(span, "request above limit")
                        .help(format!("raise the {what} limit or lower the request (defaults: request {request_default}, limit {limit_default})")),
                );
        }
    }
}

/// Cores in a Kubernetes CPU quantity (`250m`, `1`, `0.5`).
fn cpu_cores(text: &str) -> Option<f64> {
    let (number, scale) = match text.strip_suffix('m') {
        Some(milli) => (milli, 0.001),
        None => (text, 1.0),
    };
    decimal(number).map(|n| n * scale)
}

/// Bytes in a Kubernetes memory quantity (`128Mi`, `1.5Gi`, `512M`, `1000`).
fn memory_bytes(text: &str) -> Option<f64> {
    const UNITS: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, scale) = UNITS
        .iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((text, 1.0));
    decimal(number).map(|n| n * scale)
}

/// A plain non-negative decimal: digits, optionally one `.` with digits after it.
fn decimal(text: &str) -> Option<f64> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match text.split_once('.') {
        Some((whole, frac)) => digits(whole) && digits(frac),
        None => digits(text),
    };
    if ok { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_follow_kubernetes() {
        assert_eq!(cpu_cores("250m"), Some(0.25));
        assert_eq!(cpu_cores("1"), Some(1.0));
        assert_eq!(cpu_cores("0.5"), Some(0.5));
        assert_eq!(cpu_cores("250mm"), None);
        assert_eq!(cpu_cores(""), None);
        assert_eq!(memory_bytes("128Mi"), Some(134_217_728.0));
        assert_eq!(memory_bytes("1.5Gi"), Some(1_610_612_736.0));
        assert_eq!(memory_bytes("128mb"), None);
        assert_eq!(memory_bytes("Mi"), None);
    }
}
