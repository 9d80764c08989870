//! Every listener on its own port: the gateway's (explicit or default) and the services'.

use std::collections::HashMap;
use std::ops::Range;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::manifest::Manifest;
use crate::model::defaults::{DEFAULT_ADMIN_PORT, DEFAULT_GATEWAY_PORT, METRICS_PORT_OFFSET};

pub(super) fn ports(manifest: &Manifest, out: &mut Diagnostics) {
    // Explicit ports have a span; the gateway's defaults are claimed without one.
    let mut taken: HashMap<i64, (Option<Range<usize>>, String)> = HashMap::new();
    let mut claim = |port: i64, span: Option<Range<usize>>, owner: String, out: &mut Diagnostics| {
        if let Some((first, first_owner)) = taken.get(&port) {
            let mut d = Diagnostic::error(Code::E016, format!("port {port} is used twice"))
                .at_opt(span, owner)
                .help("give each listener its own port, or leave `ports` out to have them assigned");
            d = match first {
                Some(first) => d.also(first.clone(), format!("already used by {first_owner}")),
                None => d.note(format!("{first_owner} uses port {port}")),
            };
            out.push(d);
        } else {
            taken.insert(port, (span, owner));
        }
    };
    let gateway = &manifest.gateway;
    match &gateway.port {
        Some(port) => claim(*port.get_ref(), Some(port.span()), "the gateway".into(), out),
        None => claim(
            i64::from(DEFAULT_GATEWAY_PORT),
            None,
            "the gateway (by default)".into(),
            out,
        ),
    }
    // The metrics listener takes a port above the admin port (see `defaults::metrics_port`).
    let (admin, span, how) = match &gateway.admin_port {
        Some(port) => (*port.get_ref(), Some(port.span()), ""),
        None => (i64::from(DEFAULT_ADMIN_PORT), None, " (by default)"),
    };
    claim(admin, span.clone(), format!("the gateway admin{how}"), out);
    let metrics = admin + i64::from(METRICS_PORT_OFFSET);
    claim(metrics, span, format!("the gateway metrics{how}"), out);
    for (name, service) in &manifest.services {
        if let Some(port) = &service.ports.http {
            claim(
                *port.get_ref(),
                Some(port.span()),
                format!("`{}` HTTP", name.get_ref()),
                out,
            );
        }
        if let Some(port) = &service.ports.grpc {
            claim(
                *port.get_ref(),
                Some(port.span()),
                format!("`{}` gRPC", name.get_ref()),
                out,
            );
        }
    }
}
