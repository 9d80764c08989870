//! The workspace-wide settings: `[gateway]` values, the broker, deploy targets, CI providers
//! and the Kubernetes namespace.

use std::collections::HashMap;

use super::{PORTS, duplicate, in_range, one_of};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::Manifest;
use crate::model::defaults::METRICS_PORT_OFFSET;
use crate::model::names;
use crate::model::{Broker, CiProvider, Closed, DeployTarget};

pub(super) fn settings(manifest: &Manifest, out: &mut Diagnostics) {
    let gateway = &manifest.gateway;
    if let Some(port) = &gateway.port {
        in_range(port, PORTS, "port", out);
    }
    if let Some(port) = &gateway.admin_port {
        // The metrics listener takes a port above it.
        let highest = PORTS.end() - i64::from(METRICS_PORT_OFFSET);
        in_range(port, *PORTS.start()..=highest, "port", out);
    }
    for value in [&gateway.request_timeout_ms, &gateway.connect_timeout_ms]
        .into_iter()
        .flatten()
    {
        in_range(value, 1..=3_600_000, "timeout", out);
    }
    if let Some(broker) = &manifest.messaging.broker {
        one_of::<Broker>(broker, out);
    }
    let mut seen = HashMap::new();
    for target in manifest.deploy.targets.iter().flatten() {
        if one_of::<DeployTarget>(target, out).is_some() {
            duplicate(target, &mut seen, DeployTarget::WHAT, out);
        }
    }
    let mut seen = HashMap::new();
    for provider in manifest.ci.providers.iter().flatten() {
        if one_of::<CiProvider>(provider, out).is_some() {
            duplicate(provider, &mut seen, CiProvider::WHAT, out);
        }
    }
    if let Some(namespace) = &manifest.deploy.kubernetes.namespace
        && !names::is_service_name(namespace.get_ref())
    {
        out.push(
            Diagnostic::error(Code::E010, format!("invalid namespace `{}`", namespace.get_ref()))
                .at(namespace.span(), "not a DNS label")
                .help("use lowercase letters, digits and hyphens, e.g. `shop`"),
        );
    }
}
