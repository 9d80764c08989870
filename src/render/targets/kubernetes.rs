//! Kubernetes: a kustomize base per workspace and per service, with `dev` and `prod` overlays.
//! The base holds everything both environments share (the namespace, default-deny network
//! policies, the Envoy gateway and one directory per service); `dev` adds in-cluster
//! PostgreSQL and NATS with throwaway credentials, `prod` expects external ones through
//! Secrets the operator creates; `release.sh` applies either with images pinned by digest. Conditions finer than a row's [`When`] (autoscaling, SQLite
//! volumes, Gateway API routes) are branches inside the templates.

use super::{GatewayFlavour, Scope, Target, When, row};
use crate::plan::Owner::Managed;

const ONCE: Scope = Scope::Workspace;
const EACH: Scope = Scope::Service;
const K8S: When = When::Kubernetes;

#[rustfmt::skip]
pub(crate) const TARGETS: &[Target] = &[
    // The base: namespace, namespace-wide network policies, and the list of everything.
    row("k8s/base/kustomization.yaml.jinja",            "deploy/k8s/base/kustomization.yaml",                     Managed, ONCE, K8S),
    row("k8s/base/namespace.yaml.jinja",                "deploy/k8s/base/namespace.yaml",                         Managed, ONCE, K8S),
    row("k8s/base/networkpolicy.yaml.jinja",            "deploy/k8s/base/networkpolicy.yaml",                     Managed, ONCE, K8S),
    // The Envoy gateway, addressing services by cluster DNS names.
    Target { flavour: Some(GatewayFlavour::Kubernetes), ..row("gateway/envoy.yaml.jinja", "deploy/k8s/base/gateway/envoy.yaml", Managed, ONCE, K8S) },
    row("k8s/gateway/kustomization.yaml.jinja",         "deploy/k8s/base/gateway/kustomization.yaml",             Managed, ONCE, K8S),
    row("k8s/gateway/deployment.yaml.jinja",            "deploy/k8s/base/gateway/deployment.yaml",                Managed, ONCE, K8S),
    row("k8s/gateway/service.yaml.jinja",               "deploy/k8s/base/gateway/service.yaml",                   Managed, ONCE, K8S),
    row("k8s/gateway/serviceaccount.yaml.jinja",        "deploy/k8s/base/gateway/serviceaccount.yaml",            Managed, ONCE, K8S),
    row("k8s/gateway/disruption.yaml.jinja",            "deploy/k8s/base/gateway/disruption.yaml",                Managed, ONCE, K8S),
    row("k8s/gateway/networkpolicy.yaml.jinja",         "deploy/k8s/base/gateway/networkpolicy.yaml",             Managed, ONCE, K8S),
    // One directory per service.
    row("k8s/service/kustomization.yaml.jinja",         "deploy/k8s/base/{service}/kustomization.yaml",           Managed, EACH, K8S),
    row("k8s/service/config.env.jinja",                 "deploy/k8s/base/{service}/config.env",                   Managed, EACH, K8S),
    row("k8s/service/deployment.yaml.jinja",            "deploy/k8s/base/{service}/deployment.yaml",              Managed, EACH, K8S),
    row("k8s/service/service.yaml.jinja",               "deploy/k8s/base/{service}/service.yaml",                 Managed, EACH, K8S),
    row("k8s/service/serviceaccount.yaml.jinja",        "deploy/k8s/base/{service}/serviceaccount.yaml",          Managed, EACH, K8S),
    row("k8s/service/scaling.yaml.jinja",               "deploy/k8s/base/{service}/scaling.yaml",                 Managed, EACH, K8S),
    row("k8s/service/networkpolicy.yaml.jinja",         "deploy/k8s/base/{service}/networkpolicy.yaml",           Managed, EACH, K8S),
    // A PostgreSQL service's migrations: a Job per release, with a role allowed to change the schema.
    row("k8s/service/migration.yaml.jinja",             "deploy/k8s/base/{service}/migration.yaml",               Managed, EACH, When::KubernetesAndPostgres),
    // Overlays.
    row("k8s/overlays/dev/kustomization.yaml.jinja",    "deploy/k8s/overlays/dev/kustomization.yaml",             Managed, ONCE, K8S),
    // Under [auth], the dev overlay's gateway trusts the development key instead of jwks_uri.
    Target { flavour: Some(GatewayFlavour::KubernetesDev), ..row("gateway/envoy.yaml.jinja", "deploy/k8s/overlays/dev/envoy.yaml", Managed, ONCE, When::KubernetesWithAuth) },
    row("k8s/overlays/dev/backing-services.yaml.jinja", "deploy/k8s/overlays/dev/backing-services.yaml",          Managed, ONCE, K8S),
    // The in-cluster NATS's users (a copy: kustomize reads files only below the overlay).
    row("nats/nats.conf.jinja",                         "deploy/k8s/overlays/dev/nats.conf",                      Managed, ONCE, When::KubernetesAndNats),
    row("k8s/overlays/prod/kustomization.yaml.jinja",   "deploy/k8s/overlays/prod/kustomization.yaml",            Managed, ONCE, K8S),
    // Deploys an overlay with every image pinned by digest, and prunes removed services.
    row("k8s/release.sh.jinja",                         "deploy/k8s/release.sh",                                  Managed, ONCE, K8S),
];
