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
        for (entity, rules) in &access.get_ref().entities {
            let declared = service
                .entities
                .iter()
                .find(|(name, _)| name.get_ref() == entity.get_ref());
            if let Some((_, fields)) = declared {
                owner(entity.get_ref(), rules, &fields.fields, out);
            }
        }
    }
}

/// An owner rule names a `uuid` or `string` field of the entity that holds one value; those
/// its `any_owner` admits are roles and scopes.
fn owner(
    entity: &str,
    rules: &crate::manifest::schema::EntityAccessSpec,
    fields: &indexmap::IndexMap<Spanned<String>, Spanned<crate::manifest::schema::FieldSpec>>,
    out: &mut Diagnostics,
) {
    use crate::manifest::schema::FieldSpec;
    use crate::model::types::{BaseType, Scalar};
    if let (Some(any_owner), None) = (&rules.any_owner, &rules.owner) {
        out.push(
            Diagnostic::error(Code::E031, format!("`any_owner` of `{entity}` without an `owner`"))
                .at(any_owner.span(), "exempts callers from a rule that is not there")
                .help(
                    "name the field that holds each record's owner (`owner = \"customer_id\"`), or remove `any_owner`",
                ),
        );
    }
    if let Some(any_owner) = &rules.any_owner {
        match Access::parse(any_owner.get_ref()) {
            Ok(Access::AnyOf(_)) => {}
            Ok(other) => out.push(
                Diagnostic::error(Code::E031, format!("`any_owner` cannot be `{other}`"))
                    .at(any_owner.span(), "not a role or scope")
                    .help("name the roles or scopes that act on every record (`any_owner = \"role:admin\"`)"),
            ),
            Err(_) => check(any_owner, out),
        }
    }
    let Some(field) = &rules.owner else { return };
    let Some((_, spec)) = fields.iter().find(|(name, _)| name.get_ref() == field.get_ref()) else {
        let names = fields.keys().map(|name| name.get_ref().as_str());
        let help = match did_you_mean(field.get_ref(), names) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("name a `uuid` or `string` field of `{entity}` that holds its owner's subject"),
        };
        out.push(
            Diagnostic::error(Code::E031, format!("`owner` names unknown field `{}`", field.get_ref()))
                .at(field.span(), format!("not a field of `{entity}`"))
                .help(help),
        );
        return;
    };
    let fits = crate::model::types::parse(FieldSpec::type_written(spec).get_ref()).is_ok_and(|ty| {
        !ty.list
            && !ty.optional
            && matches!(
                ty.base,
                BaseType::Scalar {
                    scalar: Scalar::Uuid | Scalar::String
                }
            )
    });
    if fits && !spec.get_ref().table().is_some_and(|table| table.filter) {
        out.push(
            Diagnostic::error(Code::E031, format!("owner field `{}` is not a filter", field.get_ref()))
                .at(
                    field.span(),
                    "lists are narrowed to the caller's records through this filter",
                )
                .help(format!(
                    "write the field as `{} = {{ type = \"{}\", filter = true }}`",
                    field.get_ref(),
                    FieldSpec::type_written(spec).get_ref()
                )),
        );
    }
    if !fits {
        out.push(
            Diagnostic::error(
                Code::E031,
                format!("owner field `{}` is not a `uuid` or `string`", field.get_ref()),
            )
            .at(field.span(), "cannot hold a token's subject")
            .help("make the owner field a required `uuid` or `string` (tokens name their subject in `sub`)"),
        );
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
