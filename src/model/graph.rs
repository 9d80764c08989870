//! The call graph between services: its edges and diagrams (`fleetwright graph`, the README
//! of a generated workspace) and cycle detection for validation.

use std::fmt::Write as _;

use indexmap::IndexMap;

use super::Workspace;

/// One edge of the system graph, shared by every diagram format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// The route prefix, `gRPC`, or the event name.
    pub label: String,
}

/// What an edge stands for; serialised lowercase (`route`, `call`, `event`) for
/// `graph --format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EdgeKind {
    /// The gateway routes to a service.
    Route,
    /// A service calls another over gRPC.
    Call,
    /// A service's event reaches a subscriber.
    Event,
}

/// The gateway's node name in diagrams.
pub(crate) const GATEWAY: &str = "gateway";

/// Every edge: gateway routes, synchronous calls, then events, each in manifest order.
pub(crate) fn edges(workspace: &Workspace) -> Vec<Edge> {
    let mut edges = Vec::new();
    for service in &workspace.services {
        if let Some(route) = &service.route {
            edges.push(Edge {
                from: GATEWAY.into(),
                to: service.name.clone(),
                kind: EdgeKind::Route,
                label: route.clone(),
            });
        }
    }
    for service in &workspace.services {
        for callee in &service.calls {
            edges.push(Edge {
                from: service.name.clone(),
                to: callee.clone(),
                kind: EdgeKind::Call,
                label: "gRPC".into(),
            });
        }
    }
    for service in &workspace.services {
        for event in service.events.iter().filter(|e| e.published) {
            for subscriber in &event.subscribers {
                edges.push(Edge {
                    from: service.name.clone(),
                    to: subscriber.clone(),
                    kind: EdgeKind::Event,
                    label: event.name.clone(),
                });
            }
        }
    }
    edges
}

fn node_id(name: &str) -> String {
    format!("svc_{}", name.replace('-', "_"))
}

/// A Mermaid flowchart of the system (GitHub renders it in Markdown).
pub(crate) fn mermaid(workspace: &Workspace) -> String {
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(out, "  {GATEWAY}([\"gateway :{}\"])", workspace.gateway.port);
    for service in &workspace.services {
        let shape = if service.route.is_some() {
            ("[", "]")
        } else {
            ("[[", "]]")
        };
        let _ = writeln!(
            out,
            "  {}{}\"{}\"{}",
            node_id(&service.name),
            shape.0,
            service.name,
            shape.1
        );
    }
    for edge in edges(workspace) {
        let from = if edge.from == GATEWAY {
            GATEWAY.to_owned()
        } else {
            node_id(&edge.from)
        };
        let arrow = if edge.kind == EdgeKind::Event { "-.->" } else { "-->" };
        let _ = writeln!(out, "  {from} {arrow}|\"{}\"| {}", edge.label, node_id(&edge.to));
    }
    out
}

/// A Graphviz digraph of the system.
pub(crate) fn dot(workspace: &Workspace) -> String {
    let mut out = format!("digraph {:?} {{\n  rankdir=LR;\n", workspace.project.name);
    let _ = writeln!(
        out,
        "  {GATEWAY:?} [shape=box, label=\"gateway :{}\"];",
        workspace.gateway.port
    );
    for service in &workspace.services {
        let style = if service.route.is_some() { "" } else { ", style=dashed" };
        let _ = writeln!(out, "  {:?} [shape=ellipse{style}];", service.name);
    }
    for edge in edges(workspace) {
        let style = if edge.kind == EdgeKind::Event {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:?} -> {:?} [label={:?}{style}];",
            edge.from, edge.to, edge.label
        );
    }
    out.push_str("}\n");
    out
}

/// Finds one cycle of calls, if any, as the list of services along it with the first repeated
/// at the end (`a -> b -> a`). Visits services and calls in manifest order, so the cycle
/// reported is deterministic.
pub(crate) fn find_cycle<'a>(calls: &IndexMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        calls: &IndexMap<&'a str, Vec<&'a str>>,
        marks: &mut IndexMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        stack.push(node);
        for next in calls.get(node).into_iter().flatten() {
            if calls.contains_key(next)
                && let Some(cycle) = visit(next, calls, marks, stack)
            {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = IndexMap::new();
    for node in calls.keys() {
        if let Some(cycle) = visit(node, calls, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(edges: &[(&'a str, &[&'a str])]) -> IndexMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, c)| (*n, c.to_vec())).collect()
    }

    #[test]
    fn reports_the_cycle_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(find_cycle(&g), Some(vec!["a", "b", "c", "a"]));
        let g = graph(&[("orders", &["users", "products"]), ("users", &[]), ("products", &[])]);
        assert_eq!(find_cycle(&g), None);
    }

    #[test]
    fn edge_kinds_serialise_as_graph_json_always_spelled_them() {
        let kinds = [EdgeKind::Route, EdgeKind::Call, EdgeKind::Event].map(|k| serde_json::to_value(k).unwrap());
        assert_eq!(kinds, ["route", "call", "event"]);
    }
}
