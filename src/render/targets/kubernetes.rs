//! Kubernetes: a kustomize base per workspace and per service, with `dev` and `prod` overlays.

use super::Target;

/// Rows are added as the Kubernetes templates land.
#[rustfmt::skip]
pub(crate) const TARGETS: &[Target] = &[];
