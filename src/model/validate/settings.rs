//! The workspace-wide settings: `[gateway]` values, the broker, deploy targets, CI providers
//! and the Kubernetes namespace.

use std::collections::HashMap;

use super::{PORTS, duplicate, in_range, one_of};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::manifest::Manifest;
use crate::model::names;

pub(super) fn settings(manifest: &Manifest, out: &mut Diagnostics) {
    let gateway = &manifest.gateway;
    if let Some(port) = &gateway.port {
        in_range(port, PORTS, "port", out);
    }
    if let Some(port) = &gateway.admin_port {
        // The metrics listener takes the next port.
        in_range(port, 1024..=65534, "port", out);
    }
    for value in [&gateway.request_timeout_ms, &gateway.connect_timeout_ms]
        .into_iter()
        .flatten()
    {
        in_range(value, 1..=3_600_000, "timeout", out);
    }
    if let Some(broker) = &manifest.messaging.broker {
        one_of(broker, &["nats", "none"], "broker", out);
    }
    let mut seen = HashMap::new();
    for target in manifest.deploy.targets.iter().flatten() {
        if one_of(target, &["compose", "kubernetes"], "deploy target", out) {
            duplicate(target, &mut seen, "deploy target", out);
        }
    }
    let mut seen = HashMap::new();
    for provider in manifest.ci.providers.iter().flatten() {
        if one_of(provider, &["github", "gitlab"], "CI provider", out) {
            duplicate(provider, &mut seen, "CI provider", out);
        }
    }
    if let Some(namespace) = &manifest.deploy.kubernetes.namespace
        && !names::is_service_name(namespace.get_ref())
    {
        out.push(
            Diagnostic::error("E010", format!("invalid namespace `{}`", namespace.get_ref()))
                .at(namespace.span(), "not a DNS label")
                .help("use lowercase letters, digits and hyphens, e.g. `shop`"),
        );
    }
}
