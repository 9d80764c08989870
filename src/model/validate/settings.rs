//! The workspace-wide settings: `[gateway]` values, the broker, deploy targets, CI providers
//! and the Kubernetes namespace.

use std::collections::HashMap;

use toml::Spanned;

use super::{Choices, PORTS, duplicate, in_range, one_of};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::Manifest;
use crate::model::defaults::METRICS_PORT_OFFSET;
use crate::model::names;
use crate::model::{Broker, Closed};

/// Checks the workspace-wide settings and returns the closed-set values among them.
pub(super) fn settings(manifest: &Manifest, out: &mut Diagnostics) -> Choices {
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
    if let Some(value) = &gateway.rate_limit {
        in_range(value, 1..=1_000_000, "rate limit", out);
    }
    if let Some(value) = &gateway.max_request_bytes {
        in_range(value, 1024..=1_073_741_824, "request size", out);
    }
    if let Some(value) = &gateway.trusted_proxy_hops {
        in_range(value, 0..=10, "number of proxy hops", out);
    }
    let broker = manifest
        .messaging
        .broker
        .as_ref()
        .and_then(|b| one_of::<Broker>(b, out));
    let deploy_targets = manifest.deploy.targets.as_ref().map(|list| listed(list, out));
    let ci_providers = manifest.ci.providers.as_ref().map(|list| listed(list, out));
    if let Some(namespace) = &manifest.deploy.kubernetes.namespace
        && !names::is_service_name(namespace.get_ref())
    {
        out.push(
            Diagnostic::error(Code::E010, format!("invalid namespace `{}`", namespace.get_ref()))
                .at(namespace.span(), "not a DNS label")
                .help("use lowercase letters, digits and hyphens, e.g. `shop`"),
        );
    }
    Choices {
        broker,
        deploy_targets,
        ci_providers,
        services: Vec::new(),
    }
}

/// The known values of a list, in order, each repeat warned about once.
fn listed<T: Closed>(list: &[Spanned<String>], out: &mut Diagnostics) -> Vec<T> {
    let mut seen = HashMap::new();
    let mut values = Vec::new();
    for item in list {
        if let Some(value) = one_of::<T>(item, out) {
            duplicate(item, &mut seen, T::WHAT, out);
            values.push(value);
        }
    }
    values
}
