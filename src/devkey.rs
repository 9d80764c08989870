//! The development signing key: what `fleetwright dev token` signs with and what the
//! development gateways (`dev.sh`, compose, the Kubernetes `dev` overlay) trust, so a system
//! with `[auth]` runs on a laptop without an identity provider.
//!
//! **Insecure by design.** The private key is below, in the open, the same in every copy of
//! fleetwright: anyone can mint any token for it. That is the point (every developer and
//! every CI run mints tokens without sharing a secret), and the reason the production gateway
//! (the Kubernetes base and `prod` overlay) never trusts it and fetches the issuer's
//! `jwks_uri` instead; a test holds that line. The key is Ed25519 (JWS `EdDSA`), which Envoy's
//! `jwt_authn` verifies, and which signs deterministically, so generated files stay stable.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

/// The `kid` of the development key in tokens and the key set.
pub const KEY_ID: &str = "fleetwright-dev-insecure";

/// The development key's private seed. Public on purpose: see the module docs.
const SEED: [u8; 32] = [
    0x3e, 0xc3, 0xd3, 0x91, 0xd0, 0x18, 0xe7, 0x50, 0xba, 0x10, 0xaf, 0x46, 0x50, 0xd5, 0x77, 0xa8, 0xf0, 0x14, 0x04,
    0x07, 0x2a, 0xb8, 0xcf, 0x58, 0xb2, 0xee, 0x6a, 0x20, 0xba, 0x37, 0x22, 0x36,
];

fn key() -> SigningKey {
    SigningKey::from_bytes(&SEED)
}

/// The development key set (JWKS) as indented JSON: the public key only.
#[must_use]
pub fn jwks() -> String {
    let x = URL_SAFE_NO_PAD.encode(key().verifying_key().as_bytes());
    let set =
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": KEY_ID, "x": x }] });
    serde_json::to_string_pretty(&set).unwrap_or_else(|_| set.to_string())
}

/// The development key set on one line (for an environment variable).
#[must_use]
pub fn jwks_line() -> String {
    let set: Value = serde_json::from_str(&jwks()).unwrap_or_default();
    set.to_string()
}

/// A compact JWS of `claims` with the standard header, signed with the development key.
#[must_use]
pub fn sign(claims: &Value) -> String {
    sign_with_header(&json!({ "alg": "EdDSA", "typ": "JWT", "kid": KEY_ID }), claims)
}

/// A compact JWS with any header, signed with the development key: for tests that need a
/// token the gateway must refuse.
#[must_use]
pub fn sign_with_header(header: &Value, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key().sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

    #[test]
    fn tokens_verify_against_the_published_key() {
        let token = sign(&json!({ "sub": "alice" }));
        let (input, signature) = token.rsplit_once('.').expect("three parts");
        let set: Value = serde_json::from_str(&jwks()).expect("json");
        let x = URL_SAFE_NO_PAD
            .decode(set["keys"][0]["x"].as_str().expect("x"))
            .expect("base64url");
        let public = VerifyingKey::from_bytes(&x.try_into().expect("32 bytes")).expect("a key");
        let signature =
            Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).expect("base64url")).expect("64 bytes");
        public.verify(input.as_bytes(), &signature).expect("valid signature");
        assert_eq!(
            token,
            sign(&json!({ "sub": "alice" })),
            "Ed25519 signs deterministically"
        );
        assert!(
            !jwks().contains(&URL_SAFE_NO_PAD.encode(SEED)),
            "the key set holds no private part"
        );
    }
}
