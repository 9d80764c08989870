//! What a manifest means where it says nothing: every default value and derived port, in one
//! place, read by both validation (which checks what the defaults will collide with) and
//! resolution (which applies them). The default database depends on the service:
//! [`Database::default_for`](super::Database::default_for).

use super::{CiProvider, DeployTarget, Language};

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

/// The gateway's timeouts when the manifest does not set them.
pub(crate) const DEFAULT_REQUEST_TIMEOUT_MS: u32 = 15_000;
pub(crate) const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 1_000;

/// The gateway's edge limits when the manifest does not set them.
pub(crate) const DEFAULT_RATE_LIMIT: u32 = 1_000;
pub(crate) const DEFAULT_MAX_REQUEST_BYTES: u32 = 1_048_576;
pub(crate) const DEFAULT_TRUSTED_PROXY_HOPS: u32 = 0;

/// The claims holding roles and scopes when `[auth]` does not name them.
pub(crate) const DEFAULT_ROLES_CLAIM: &str = "roles";
pub(crate) const DEFAULT_SCOPES_CLAIM: &str = "scope";

/// The project's version and image registry when the manifest does not set them.
pub(crate) const DEFAULT_VERSION: &str = "0.1.0";
pub(crate) const DEFAULT_REGISTRY: &str = "localhost:5000";

/// Replicas of a service without autoscaling, and the CPU use autoscaling aims at.
pub(crate) const DEFAULT_REPLICAS: u32 = 2;
pub(crate) const DEFAULT_CPU_PERCENT: u32 = 70;

/// First ports handed out to services without explicit ones.
pub(crate) const FIRST_HTTP_PORT: u16 = 8081;
pub(crate) const FIRST_GRPC_PORT: u16 = 50051;

/// Where a manifest that names no target deploys, and which CI it gets.
pub(crate) const DEFAULT_DEPLOY_TARGETS: &[DeployTarget] = &[DeployTarget::Compose, DeployTarget::Kubernetes];
pub(crate) const DEFAULT_CI_PROVIDERS: &[CiProvider] = &[CiProvider::GitHub];
pub(crate) const DEFAULT_LANGUAGE: Language = Language::Rust;
