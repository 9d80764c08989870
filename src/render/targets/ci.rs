//! CI pipelines of the generated project: GitHub Actions (a workflow per service, one for the
//! whole fleet, one to deploy) and GitLab CI (one file, jobs per service).

use super::{Scope, Target, When, row};
use crate::plan::Owner::Managed;

#[rustfmt::skip]
pub(crate) const TARGETS: &[Target] = &[
    row("ci/github/service.yml.jinja", ".github/workflows/{service}.yml", Managed, Scope::Service,   When::GitHub),
    row("ci/github/fleet.yml.jinja",   ".github/workflows/fleet.yml",     Managed, Scope::Workspace, When::GitHub),
    row("ci/github/deploy.yml.jinja",  ".github/workflows/deploy.yml",    Managed, Scope::Workspace, When::GitHubAndKubernetes),
    row("ci/gitlab/gitlab-ci.yml.jinja", ".gitlab-ci.yml",                Managed, Scope::Workspace, When::GitLab),
];
