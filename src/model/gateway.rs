//! The gateway's routes, in the order Envoy tries them, each with its policy: which paths
//! and methods reach which service, which are retried, and who may use them. Without
//! `[auth]` a routed service gets a gRPC prefix and one REST prefix, open to anyone; with it,
//! each entity's actions get their own routes (most specific path first) with the policy the
//! manifest gives them, gRPC only where declared. Another kind of endpoint joins by pushing
//! one more [`Route`] with its [`Access`]. The template only lays these out.

use serde::Serialize;

use super::access::{Access, Auth, Grant};
use super::{Service, Workspace};

/// One Envoy route.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// A comment line above it, if any.
    pub comment: Option<String>,
    /// A gRPC route (`prefix` matched with `grpc: {}`); otherwise REST, where `prefix` is
    /// matched as whole path segments.
    pub grpc: bool,
    pub prefix: String,
    /// Matched instead of `prefix` when set: an RE2 pattern of the whole path (an operation's
    /// path with its `{field}` segments, or one gRPC method).
    pub regex: Option<String>,
    /// The methods it takes, as an RE2 alternation (`GET|HEAD`); `None`: any.
    pub methods: Option<String>,
    pub cluster: String,
    /// Requests per second it accepts per gateway replica (the service's `rate_limit`).
    pub rate_limit: u32,
    /// Envoy `retry_on` for routes safe to retry.
    pub retry_on: Option<&'static str>,
    /// Who may use it; `None` without `[auth]`.
    pub access: Option<RouteAccess>,
}

/// A route's policy, as the gateway checks it.
#[derive(Debug, Clone, Serialize)]
pub struct RouteAccess {
    /// The `jwt_authn` requirement: `public` (a token is optional, but checked if sent) or
    /// `authenticated`; `None` turns token checks off (the route is closed anyway).
    pub requirement: Option<&'static str>,
    /// RBAC: `None` lets every caller the requirement lets through; `Some` admits only
    /// callers matching one of the principals (none: nobody, 403).
    pub principals: Option<Vec<Principal>>,
}

/// A caller the RBAC filter admits: a claim of the verified token matching a value.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    /// The claim's path in the token payload.
    pub claim: Vec<String>,
    /// How its value must look.
    pub matches: ClaimMatch,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ClaimMatch {
    /// A list holding this string.
    ListHas(String),
    /// This exact string.
    Is(String),
    /// A string matching this RE2 pattern whole.
    Regex(String),
}

/// Retried on failure: reads are idempotent, writes never retried.
const REST_RETRY: &str = "5xx,reset,connect-failure";
const GRPC_RETRY: &str = "unavailable,reset,connect-failure";

/// Every route of the gateway, in match order.
pub(crate) fn routes(workspace: &Workspace) -> Vec<Route> {
    let mut routes = Vec::new();
    for service in &workspace.services {
        let Some(prefix) = &service.route else { continue };
        let guard = |access: &Access| workspace.auth.as_ref().map(|auth| route_access(auth, access));
        let grpc_access = match &service.access {
            Some(access) => access.grpc.clone(),
            None => Some(Access::Public),
        };
        if let Some(grpc) = grpc_access.filter(|_| !service.entities.is_empty() || !service.operations.is_empty()) {
            // An operation's rpc under its own policy (with `[auth]`) and retried when it only
            // reads, before the service's catch-all.
            for (i, operation) in service.operations.iter().enumerate() {
                let policy = service.access.as_ref().map_or(&grpc, |a| &a.operations[i]);
                routes.push(Route {
                    comment: None,
                    grpc: true,
                    prefix: String::new(),
                    regex: Some(format!(
                        "/{}/{}",
                        regex_escape(&format!("{}.{}Service", service.proto_package, service.pascal)),
                        operation.pascal
                    )),
                    methods: None,
                    cluster: format!("{}_grpc", service.snake),
                    rate_limit: service.rate_limit,
                    retry_on: operation.read_only.then_some(GRPC_RETRY),
                    access: guard(policy),
                });
            }
            routes.extend(grpc_routes(service, guard(&grpc).as_ref()));
        }
        let Some(access) = &service.access else {
            routes.extend(open_rest_routes(service, prefix));
            continue;
        };
        // Operations and child lists first: their paths sit under entities'.
        routes.extend(templated_routes(service, access, &guard));
        let mut entities: Vec<_> = service.entities.iter().zip(&access.entities).collect();
        // A nested collection (`/api/orders/order-lines`) before the one it sits under.
        entities.sort_by_key(|(entity, _)| std::cmp::Reverse(entity.http_path.len()));
        let cluster = format!("{}_http", service.snake);
        for (entity, actions) in entities {
            let actions = [
                ("GET|HEAD", &actions.read, Some(REST_RETRY)),
                ("POST", &actions.create, None),
                ("PUT|PATCH", &actions.update, None),
                ("DELETE", &actions.delete, None),
            ];
            for (i, (methods, policy, retry_on)) in actions.into_iter().enumerate() {
                routes.push(Route {
                    comment: (i == 0).then(|| {
                        format!(
                            "{} {}: REST under {}, per action. Reads are retried.",
                            service.name, entity.name, entity.http_path
                        )
                    }),
                    grpc: false,
                    prefix: entity.http_path.clone(),
                    regex: None,
                    methods: Some(methods.to_owned()),
                    cluster: cluster.clone(),
                    rate_limit: service.rate_limit,
                    retry_on,
                    access: guard(policy),
                });
            }
        }
        routes.push(Route {
            comment: Some(format!("{}: anything else under {prefix}.", service.name)),
            grpc: false,
            prefix: prefix.clone(),
            regex: None,
            methods: None,
            cluster,
            rate_limit: service.rate_limit,
            retry_on: None,
            access: guard(&access.default),
        });
    }
    routes
}

/// The routes of a service's paths with `{field}` segments, each under its own policy: its
/// operations' (`POST /api/orders/{id}/place`), and its children's lists under their parents
/// (`GET /api/orders/{id}/lines`, which reads the child).
fn templated_routes(
    service: &Service,
    access: &super::ServiceAccess,
    guard: &dyn Fn(&Access) -> Option<RouteAccess>,
) -> Vec<Route> {
    let route = |comment: String, path: &str, methods: String, retry_on, policy: &Access| Route {
        comment: Some(comment),
        grpc: false,
        prefix: String::new(),
        regex: Some(path_pattern(path)),
        methods: Some(methods),
        cluster: format!("{}_http", service.snake),
        rate_limit: service.rate_limit,
        retry_on,
        access: guard(policy),
    };
    let mut routes = Vec::new();
    for (operation, policy) in service.operations.iter().zip(&access.operations) {
        let methods = if operation.method == "GET" {
            "GET|HEAD".to_owned()
        } else {
            operation.method.clone()
        };
        let comment = format!(
            "{} {}: {} {}",
            service.name, operation.name, operation.method, operation.http_path
        );
        let retry_on = operation.read_only.then_some(REST_RETRY);
        routes.push(route(comment, &operation.http_path, methods, retry_on, policy));
    }
    for (entity, actions) in service.entities.iter().zip(&access.entities) {
        for list in &entity.parent_lists {
            let comment = format!("{} {}: GET {}", service.name, entity.name, list.path);
            routes.push(route(
                comment,
                &list.path,
                "GET|HEAD".to_owned(),
                Some(REST_RETRY),
                &actions.read,
            ));
        }
    }
    routes
}

/// A service's gRPC API: reads (`Get*`, `List*`) retried, the rest not.
fn grpc_routes(service: &Service, access: Option<&RouteAccess>) -> Vec<Route> {
    let base = format!("/{}.{}Service/", service.proto_package, service.pascal);
    let cluster = format!("{}_grpc", service.snake);
    let route = |suffix: &str, retry_on, comment: Option<String>| Route {
        comment,
        grpc: true,
        prefix: format!("{base}{suffix}"),
        regex: None,
        methods: None,
        cluster: cluster.clone(),
        rate_limit: service.rate_limit,
        retry_on,
        access: access.cloned(),
    };
    vec![
        route(
            "Get",
            Some(GRPC_RETRY),
            Some(format!(
                "{}: gRPC. Reads (Get*, List*) are retried; writes never are.",
                service.name
            )),
        ),
        route("List", Some(GRPC_RETRY), None),
        route("", None, None),
    ]
}

/// A service's REST API without `[auth]`: reads retried, everything open.
fn open_rest_routes(service: &Service, prefix: &str) -> [Route; 2] {
    let cluster = format!("{}_http", service.snake);
    [
        Route {
            comment: Some(format!(
                "{}: REST under {prefix}. GET and HEAD are retried.",
                service.name
            )),
            grpc: false,
            prefix: prefix.to_owned(),
            regex: None,
            methods: Some("GET|HEAD".to_owned()),
            cluster: cluster.clone(),
            rate_limit: service.rate_limit,
            retry_on: Some(REST_RETRY),
            access: None,
        },
        Route {
            comment: None,
            grpc: false,
            prefix: prefix.to_owned(),
            regex: None,
            methods: None,
            cluster,
            rate_limit: service.rate_limit,
            retry_on: None,
            access: None,
        },
    ]
}

/// How the gateway checks one policy.
fn route_access(auth: &Auth, access: &Access) -> RouteAccess {
    match access {
        Access::Public => RouteAccess {
            requirement: Some("public"),
            principals: None,
        },
        Access::Authenticated => RouteAccess {
            requirement: Some("authenticated"),
            principals: None,
        },
        Access::Internal => RouteAccess {
            requirement: None,
            principals: Some(Vec::new()),
        },
        Access::AnyOf(grants) => RouteAccess {
            requirement: Some("authenticated"),
            principals: Some(grants.iter().flat_map(|grant| principals(auth, grant)).collect()),
        },
    }
}

/// The claim values that show a grant: a role in the roles list (or the roles claim as one
/// string), a scope among the space-separated scopes.
fn principals(auth: &Auth, grant: &Grant) -> Vec<Principal> {
    match grant {
        Grant::Role(role) => vec![
            Principal {
                claim: auth.roles_claim.clone(),
                matches: ClaimMatch::ListHas(role.clone()),
            },
            Principal {
                claim: auth.roles_claim.clone(),
                matches: ClaimMatch::Is(role.clone()),
            },
        ],
        Grant::Scope(scope) => vec![Principal {
            claim: auth.scopes_claim.clone(),
            matches: ClaimMatch::Regex(format!("(.* )?{}( .*)?", regex_escape(scope))),
        }],
    }
}

/// The RE2 pattern of a route with `{field}` segments: each matches one segment.
fn path_pattern(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "[^/]+".to_owned()
            } else {
                regex_escape(segment)
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A literal for an RE2 pattern.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth {
            issuer: "https://id.example.com".into(),
            audiences: vec!["shop".into()],
            jwks: super::super::JwksUri::parse("https://id.example.com/certs").unwrap(),
            roles_claim: vec!["realm_access".into(), "roles".into()],
            scopes_claim: vec!["scope".into()],
        }
    }

    #[test]
    fn an_operation_path_matches_one_segment_per_field() {
        assert_eq!(path_pattern("/api/orders/{id}/place"), "/api/orders/[^/]+/place");
        assert_eq!(path_pattern("/api/v1.0/quote-price"), r"/api/v1\.0/quote-price");
    }

    #[test]
    fn policies_become_requirements_and_principals() {
        let public = route_access(&auth(), &Access::Public);
        assert_eq!(
            (public.requirement, public.principals.is_none()),
            (Some("public"), true)
        );
        let internal = route_access(&auth(), &Access::Internal);
        assert_eq!(internal.requirement, None);
        assert!(internal.principals.is_some_and(|p| p.is_empty()), "nobody is admitted");
        let admin = route_access(
            &auth(),
            &Access::AnyOf(vec![Grant::Role("admin".into()), Grant::Scope("catalog.write".into())]),
        );
        assert_eq!(admin.requirement, Some("authenticated"));
        let principals = admin.principals.unwrap();
        assert_eq!(principals.len(), 3);
        assert_eq!(principals[0].claim, ["realm_access", "roles"]);
        assert!(matches!(&principals[2].matches, ClaimMatch::Regex(r) if r == r"(.* )?catalog\.write( .*)?"));
    }
}
