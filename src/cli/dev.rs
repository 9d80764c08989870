//! `fleetwright dev token`: a signed JWT for the development gateways, with the issuer and
//! audience of the manifest's `[auth]`, signed with the development key ([`crate::devkey`]).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::output::Printer;
use super::{GlobalArgs, Status};
use crate::error::Error;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum DevCommand {
    /// Print a token signed with the development key, which the gateways of `./dev.sh`,
    /// compose and the Kubernetes dev overlay trust (never production's)
    #[command(
        after_help = "Example:\n  curl -H \"Authorization: Bearer $(fleetwright dev token --sub alice --role admin)\" \\\n    localhost:8080/api/products\n\nThe development key is public (it ships inside fleetwright): such a token proves nothing\noutside a development gateway."
    )]
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {
    /// The caller's subject (`sub`), e.g. a user id
    #[arg(long, value_name = "SUBJECT")]
    pub sub: String,
    /// A role to grant, in the manifest's roles claim; repeat for more
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// An OAuth 2.0 scope to grant, in the scopes claim; repeat for more
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// How long the token is valid: seconds, or a number with `s`, `m`, `h` or `d`
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
    pub ttl: u64,
    /// The audience (`aud`) [default: the first of `[auth] audiences`]
    #[arg(long, value_name = "AUDIENCE")]
    pub aud: Option<String>,
    /// The issuer (`iss`) [default: `[auth] issuer`]
    #[arg(long, value_name = "URL")]
    pub iss: Option<String>,
}

fn parse_ttl(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit `{unit}`: use s, m, h or d")),
    };
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration"))?;
    match number.checked_mul(scale) {
        Some(0) | None => Err("give a duration above zero and below a few centuries".to_owned()),
        Some(seconds) => Ok(seconds),
    }
}

pub(crate) fn run(command: &DevCommand, global: &GlobalArgs, printer: &Printer) -> Result<Status, Error> {
    let DevCommand::Token(args) = command;
    let loaded = crate::model::load(&global.find_manifest(printer)?)?;
    printer.diagnostics(&loaded.source, &loaded.warnings);
    let Some(auth) = &loaded.workspace.auth else {
        return Err(Error::usage(
            "the manifest has no `[auth]`, so its gateway checks no tokens",
            Some("add an `[auth]` table (docs/manifest.md describes it), then `fleetwright generate`"),
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| Error::Bug(format!("the clock is before 1970: {e}")))?
        .as_secs();
    let mut claims = json!({
        "iss": args.iss.clone().unwrap_or_else(|| auth.issuer.clone()),
        "aud": args.aud.clone().or_else(|| auth.audiences.first().cloned()),
        "sub": args.sub,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(args.ttl),
    });
    if !args.roles.is_empty() {
        insert(&mut claims, &auth.roles_claim, json!(args.roles));
    }
    if !args.scopes.is_empty() {
        insert(&mut claims, &auth.scopes_claim, json!(args.scopes.join(" ")));
    }
    printer.data(&crate::devkey::sign(&claims));
    Ok(Status::Ok)
}

/// Sets a claim at its path, making the objects on the way (`realm_access.roles`).
fn insert(claims: &mut Value, path: &[String], value: Value) {
    let mut at = claims;
    for key in &path[..path.len().saturating_sub(1)] {
        at = &mut at[key.as_str()];
    }
    if let Some(last) = path.last() {
        at[last.as_str()] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("15m"), Ok(900));
        assert_eq!(parse_ttl("2h"), Ok(7200));
        assert!(parse_ttl("0").is_err() && parse_ttl("1w").is_err() && parse_ttl("-5").is_err());
    }

    #[test]
    fn nested_claims_are_made() {
        let mut claims = json!({ "sub": "a" });
        insert(&mut claims, &["realm_access".into(), "roles".into()], json!(["admin"]));
        assert_eq!(claims["realm_access"]["roles"][0], "admin");
    }
}
