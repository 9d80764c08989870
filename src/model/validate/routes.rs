//! Gateway routes: well-formed path prefixes that no two services share or nest.

use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::Manifest;

pub(super) fn routes(manifest: &Manifest, out: &mut Diagnostics) {
    let mut valid: Vec<(&str, &Spanned<String>)> = Vec::new();
    for (name, service) in &manifest.services {
        let Some(route) = &service.route else { continue };
        let text = route.get_ref();
        let segments_ok = text
            .strip_prefix('/')
            .is_some_and(|rest| !rest.is_empty() && rest.split('/').all(plain_segment));
        if !segments_ok {
            out.push(
                Diagnostic::error(Code::E018, format!("invalid route `{text}`"))
                    .at(route.span(), "not a path prefix")
                    .help(format!(
                        "write a prefix like `/api/{}`: a leading `/`, lowercase segments, no trailing `/`",
                        name.get_ref()
                    )),
            );
            continue;
        }
        for (other, other_route) in &valid {
            let a = text.as_str();
            let b = other_route.get_ref().as_str();
            let overlaps = a == b || is_segment_prefix(a, b) || is_segment_prefix(b, a);
            if overlaps {
                let what = if a == b { "the same route" } else { "overlapping routes" };
                out.push(
                    Diagnostic::error(Code::E017, format!("`{}` and `{other}` claim {what}", name.get_ref()))
                        .at(route.span(), format!("`{a}`"))
                        .also(other_route.span(), format!("`{b}` claimed here"))
                        .help("give each service its own prefix, such as `/api/<service>`"),
                );
            }
        }
        valid.push((name.get_ref().as_str(), route));
    }
}

/// A path segment a route may hold: lowercase ASCII letters, digits, `-`, `_` and `.`, not
/// empty, `.` or `..`.
pub(super) fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
}

fn is_segment_prefix(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(is_segment_prefix("/api", "/api/orders"));
        assert!(!is_segment_prefix("/api/order", "/api/orders"));
    }
}
