//! What a manifest means where it says nothing: every default value and derived port, in one
//! place, read by both validation (which checks what the defaults will collide with) and
//! resolution (which applies them).

/// The gateway's ports when the manifest does not set them.
pub(crate) const DEFAULT_GATEWAY_PORT: u16 = 8080;
pub(crate) const DEFAULT_ADMIN_PORT: u16 = 9901;

/// How far above the admin port the gateway's metrics listener sits.
pub(crate) const METRICS_PORT_OFFSET: u16 = 1;

/// The port of the listener that serves the gateway's Prometheus metrics, next to the admin
/// port (the admin interface itself stays on localhost); `None` when there is no next port.
pub(crate) fn metrics_port(admin_port: u16) -> Option<u16> {
    admin_port.checked_add(METRICS_PORT_OFFSET)
}

/// Resource requests and limits when the manifest does not set them.
pub(crate) const DEFAULT_CPU: &str = "100m";
pub(crate) const DEFAULT_MEMORY: &str = "128Mi";
pub(crate) const DEFAULT_CPU_LIMIT: &str = "500m";
pub(crate) const DEFAULT_MEMORY_LIMIT: &str = "256Mi";
