//! `[auth]` and the services' `access` policies: a well-formed issuer, policies that parse,
//! name entities the service has, and only where a gateway checks them (with `[auth]`, on a
//! service with a route).

use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::Manifest;
use crate::manifest::schema::{AccessSpec, AuthSpec, PolicySpec};
use crate::model::access::{Access, JwksUri, is_claim};

pub(super) fn access(manifest: &Manifest, out: &mut Diagnostics) {
    if let Some(auth) = &manifest.auth {
        issuer(auth, out);
    }
    for (name, service) in &manifest.services {
        let Some(access) = &service.access else { continue };
        if manifest.auth.is_none() {
            out.push(
                Diagnostic::error(
                    Code::E032,
                    format!(
                        "service `{}` has `access` but the manifest has no `[auth]`",
                        name.get_ref()
                    ),
                )
                .at(access.span(), "nothing would check these policies")
                .help("add an `[auth]` table with the `issuer`, `audiences` and `jwks_uri` of your identity provider"),
            );
        } else if service.route.is_none() {
            out.push(
                Diagnostic::error(
                    Code::E031,
                    format!("service `{}` has `access` but no `route`", name.get_ref()),
                )
                .at(access.span(), "the gateway does not reach this service")
                .help(format!(
                    "give it a route (`route = \"/api/{}\"`) or remove `access`",
                    name.get_ref()
                )),
            );
        }
        policies(access.get_ref(), out);
        let operations: Vec<&str> = service.operations.keys().map(|o| o.get_ref().as_str()).collect();
        let entities: Vec<&str> = service.entities.keys().map(|e| e.get_ref().as_str()).collect();
        let service_name = name.get_ref();
        let operation = (
            Code::E031,
            "operation",
            "name an operation of this service (`[services.<name>.operations.<operation>]`)",
        );
        unknown_names(
            access.get_ref().operations.keys(),
            &operations,
            operation,
            service_name,
            out,
        );
        let entity = (Code::E020, "entity", "name an entity of this service");
        unknown_names(access.get_ref().entities.keys(), &entities, entity, service_name, out);
    }
}

fn issuer(auth: &AuthSpec, out: &mut Diagnostics) {
    let bad = |value: &Spanned<String>, message: String, why: &str, help: &str, out: &mut Diagnostics| {
        out.push(
            Diagnostic::error(Code::E033, message)
                .at(value.span(), why.to_owned())
                .help(help.to_owned()),
        );
    };
    if let Err(why) = JwksUri::parse(auth.issuer.get_ref()) {
        bad(
            &auth.issuer,
            format!("invalid issuer `{}`", auth.issuer.get_ref()),
            why,
            "write the issuer URL exactly as tokens carry it in `iss`, e.g. `https://id.example.com/realms/shop`",
            out,
        );
    }
    if let Err(why) = JwksUri::parse(auth.jwks_uri.get_ref()) {
        bad(
            &auth.jwks_uri,
            format!("invalid jwks_uri `{}`", auth.jwks_uri.get_ref()),
            why,
            "write the URL of the issuer's key set (`jwks_uri` in its /.well-known/openid-configuration)",
            out,
        );
    }
    if auth.audiences.get_ref().is_empty() {
        out.push(
            Diagnostic::error(Code::E033, "`audiences` is empty")
                .at(auth.audiences.span(), "every token would be refused")
                .help("name the audience your issuer puts in `aud`, e.g. `audiences = [\"shop-api\"]`"),
        );
    }
    for audience in auth.audiences.get_ref() {
        if audience.get_ref().trim().is_empty() || audience.get_ref().chars().any(char::is_control) {
            bad(
                audience,
                "invalid audience".to_owned(),
                "empty or with control characters",
                "write the audience as your issuer puts it in `aud`",
                out,
            );
        }
    }
    for claim in [&auth.roles_claim, &auth.scopes_claim].into_iter().flatten() {
        if !is_claim(claim.get_ref()) {
            bad(
                claim,
                format!("invalid claim name `{}`", claim.get_ref()),
                "not a claim name",
                "use letters, digits, `_`, `:` and `-`, with `.` between nested names (`realm_access.roles`)",
                out,
            );
        }
    }
}

fn policies(access: &AccessSpec, out: &mut Diagnostics) {
    let own = [
        &access.default,
        &access.read,
        &access.create,
        &access.update,
        &access.delete,
        &access.grpc,
    ];
    let entities = access
        .entities
        .values()
        .flat_map(|e| [&e.read, &e.create, &e.update, &e.delete]);
    for policy in own.into_iter().chain(entities).flatten() {
        check(policy, out);
    }
    for policy in access.operations.values() {
        check(policy, out);
    }
}

/// Each of `named` that is none of `known`: `(code, kind, help when nothing is close)` say how to
/// report one (`access` naming an entity or operation the service does not have).
fn unknown_names<'a>(
    named: impl Iterator<Item = &'a Spanned<String>>,
    known: &[&str],
    (code, kind, fallback): (Code, &str, &str),
    service: &str,
    out: &mut Diagnostics,
) {
    for item in named.filter(|item| !known.contains(&item.get_ref().as_str())) {
        let help = match did_you_mean(item.get_ref(), known.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => fallback.to_owned(),
        };
        out.push(
            Diagnostic::error(code, format!("`access` names unknown {kind} `{}`", item.get_ref()))
                .at(item.span(), format!("not an {kind} of `{service}`"))
                .help(help),
        );
    }
}

fn check(policy: &Spanned<PolicySpec>, out: &mut Diagnostics) {
    if let Err(error) = Access::parse(policy.get_ref()) {
        out.push(
            Diagnostic::error(Code::E031, error.message)
                .at(policy.span(), "not a policy")
                .help(error.help),
        );
    }
}
