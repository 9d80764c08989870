//! CI pipelines of the generated project: GitHub Actions and GitLab CI.

use super::Target;

/// Rows are added as the CI templates land.
#[rustfmt::skip]
pub(crate) const TARGETS: &[Target] = &[];
