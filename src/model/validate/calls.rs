//! `calls` between services: known callees, no self-calls, no repeats and no cycles.

use std::collections::HashMap;
use std::ops::Range;

use indexmap::IndexMap;

use super::duplicate;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::Manifest;
use crate::model::graph::find_cycle;

pub(super) fn calls(manifest: &Manifest, out: &mut Diagnostics) {
    let known: Vec<&str> = manifest.services.keys().map(|k| k.get_ref().as_str()).collect();
    let mut graph: IndexMap<&str, Vec<&str>> = IndexMap::new();
    let mut edge_spans: HashMap<(&str, &str), Range<usize>> = HashMap::new();
    for (name, service) in &manifest.services {
        let mut seen = HashMap::new();
        let mut callees = Vec::new();
        for callee in &service.calls {
            let text = callee.get_ref().as_str();
            if text == name.get_ref() {
                out.push(
                    Diagnostic::error(Code::E013, format!("service `{text}` calls itself"))
                        .at(callee.span(), "a service cannot call itself")
                        .help("call the logic directly inside the service; remove it from `calls`"),
                );
            } else if !known.contains(&text) {
                let mut d = Diagnostic::error(Code::E012, format!("unknown service `{text}` in `calls`"))
                    .at(callee.span(), "not defined in this manifest");
                d = match did_you_mean(text, known.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("define it with a `[services.{text}]` table, or remove it")),
                };
                out.push(d);
            } else {
                duplicate(callee, &mut seen, "call", out);
                callees.push(text);
                edge_spans.insert((name.get_ref().as_str(), text), callee.span());
            }
        }
        graph.insert(name.get_ref().as_str(), callees);
    }
    if let Some(cycle) = find_cycle(&graph) {
        let first = edge_spans.get(&(cycle[0], cycle[1])).cloned();
        let mut d = Diagnostic::error(Code::E015, "services call each other in a cycle")
            .at_opt(first, "this call closes a cycle")
            .note(format!("cycle: {}", cycle.join(" -> ")))
            .help("break the cycle with an event: have one side publish and the other subscribe");
        for pair in cycle.windows(2).skip(1) {
            if let Some(span) = edge_spans.get(&(pair[0], pair[1])) {
                d = d.also(span.clone(), format!("`{}` calls `{}`", pair[0], pair[1]));
            }
        }
        out.push(d);
    }
}
