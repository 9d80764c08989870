//! Who is calling, proved by the caller's own token: the service verifies every bearer token
//! itself (issuer, audience, expiry, signature against the issuer's keys), exactly as the
//! gateway did, and checks each route's policy again.
//!
//! Why the service verifies the token rather than trusting what the gateway forwards: a request
//! that reaches a service some other way (another pod, a port-forward, a misrouted load balancer)
//! then gets no identity it did not prove, with nothing to configure between the gateway and
//! the services (no shared secret, no service mesh). And since the same token travels on, a call
//! from one service to another carries the original caller, whom the callee authorises under
//! its own policy.
//!
//! A request's [`Caller`] is set by the layers here for the whole handling of the request
//! (hooks, store, outgoing calls): [`Caller::current`] reads it. Code outside a request (event
//! consumers, the outbox relay, startup) has no caller: [`Caller::in_request`] says so, and
//! the owner rules of the store then do not apply.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::MatchedPath;
use axum::response::IntoResponse;
use http::{HeaderMap, Method, Request, header};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};

use crate::error::AppError;

tokio::task_local! {
    static CALLER: Caller;
}

/// The identity a request proved: a verified token's subject, roles, scopes and claims; or
/// none (anonymous); or a token that did not verify, which no policy but `public` lets through
/// and not even that one.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    identity: Option<Arc<Identity>>,
    refused: Option<Arc<str>>,
}

#[derive(Debug)]
struct Identity {
    subject: String,
    roles: Vec<String>,
    scopes: Vec<String>,
    claims: serde_json::Value,
    token: String,
}

impl Caller {
    /// No token.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A caller whose token did not verify, for `why`.
    fn refused(why: impl Into<Arc<str>>) -> Self {
        Self { identity: None, refused: Some(why.into()) }
    }

    /// The caller of the request being handled; anonymous outside a request.
    pub fn current() -> Self {
        CALLER.try_with(Clone::clone).unwrap_or_default()
    }

    /// The caller of the request being handled, or `None` outside a request (an event
    /// consumer, a background task): code running on the service's own behalf.
    pub fn in_request() -> Option<Self> {
        CALLER.try_with(Clone::clone).ok()
    }

    /// Runs `future` as this caller: [`Caller::current`] inside it is `self`.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CALLER.scope(self, future).await
    }

    /// The token's `sub`, when it verified.
    pub fn subject(&self) -> Option<&str> {
        self.identity.as_deref().map(|identity| identity.subject.as_str())
    }

    /// Whether a valid token was presented.
    pub fn is_authenticated(&self) -> bool {
        self.identity.is_some()
    }

    /// Whether the token grants `role` (in the roles claim).
    pub fn has_role(&self, role: &str) -> bool {
        self.identity.as_deref().is_some_and(|identity| identity.roles.iter().any(|held| held == role))
    }

    /// Whether the token grants `scope` (among its space-separated scopes).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.identity.as_deref().is_some_and(|identity| identity.scopes.iter().any(|held| held == scope))
    }

    /// The roles the token grants.
    pub fn roles(&self) -> &[String] {
        self.identity.as_deref().map_or(&[], |identity| &identity.roles)
    }

    /// The verified payload of the token (`Null` without one): read your own claims here.
    pub fn claims(&self) -> &serde_json::Value {
        static NONE: serde_json::Value = serde_json::Value::Null;
        self.identity.as_deref().map_or(&NONE, |identity| &identity.claims)
    }

    /// The bearer token, to pass on to the services this one calls.
    pub(crate) fn token(&self) -> Option<&str> {
        self.identity.as_deref().map(|identity| identity.token.as_str())
    }

    /// Whether `policy` admits this caller.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] without a valid token (or with one that did not verify,
    /// whatever the policy), [`AppError::Forbidden`] when the token lacks what the policy asks.
    pub fn require(&self, policy: &Policy) -> Result<(), AppError> {
        if let Some(why) = &self.refused {
            return Err(AppError::Unauthenticated(format!("the bearer token is not valid: {why}")));
        }
        match policy {
            Policy::Public => Ok(()),
            _ if !self.is_authenticated() => {
                Err(AppError::Unauthenticated("this needs a bearer token (`Authorization: Bearer …`)".to_owned()))
            }
            Policy::Authenticated | Policy::Internal => Ok(()),
            Policy::AnyOf([]) => Err(AppError::Forbidden("no policy opens this route to anyone".to_owned())),
            Policy::AnyOf(grants) if self.holds_any(grants) => Ok(()),
            Policy::AnyOf(grants) => Err(AppError::Forbidden(format!(
                "the token grants none of {}",
                grants.iter().map(Grant::to_string).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Whether the token grants any of `grants`.
    pub fn holds_any(&self, grants: &[Grant]) -> bool {
        grants.iter().any(|grant| match grant {
            Grant::Role(role) => self.has_role(role),
            Grant::Scope(scope) => self.has_scope(scope),
        })
    }
}

/// Which records of an entity with an owner rule the current code may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Every record: code outside a request, or a caller granted every owner's records.
    Any,
    /// Only the records whose owner field holds this subject.
    Subject(String),
    /// None: an anonymous request.
    Nothing,
}

impl Ownership {
    /// What the current code may see of an entity whose owner rule exempts `any_owner`.
    pub fn current(any_owner: &[Grant]) -> Self {
        match Caller::in_request() {
            None => Self::Any,
            Some(caller) if caller.holds_any(any_owner) => Self::Any,
            Some(caller) => caller.subject().map_or(Self::Nothing, |subject| Self::Subject(subject.to_owned())),
        }
    }

    /// The owner a list is narrowed to, given the one its filter `asked` for: `Some(asked)`
    /// unchanged when every record is visible; `Some(Some(subject))` when only the caller's
    /// are (and it asked for none or the same); `None` when none is visible.
    pub fn narrow<T: std::str::FromStr + PartialEq>(&self, asked: Option<T>) -> Option<Option<T>> {
        match self {
            Self::Any => Some(asked),
            Self::Subject(subject) => {
                let own = subject.parse::<T>().ok()?;
                asked.is_none_or(|asked| asked == own).then_some(Some(own))
            }
            Self::Nothing => None,
        }
    }

    /// Whether a record whose owner field reads `owner` is visible.
    pub fn admits(&self, owner: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Subject(subject) => subject == owner,
            Self::Nothing => false,
        }
    }
}

/// Who may use one route, as `[services.X.access]` in `fleet.toml` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone; a token, if sent, must still be valid.
    Public,
    /// Any caller with a valid token.
    Authenticated,
    /// Not routed by the gateway; here, any caller with a valid token (another service passing
    /// its caller's token on). The network keeps everyone else out.
    Internal,
    /// A caller whose token grants any of these.
    AnyOf(&'static [Grant]),
}

/// A role or a scope a policy admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Role(&'static str),
    Scope(&'static str),
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Role(role) => write!(f, "role `{role}`"),
            Self::Scope(scope) => write!(f, "scope `{scope}`"),
        }
    }
}

/// What a token must say, from `[auth]` in `fleet.toml`.
#[derive(Debug, Clone, Copy)]
pub struct Issuer {
    /// `iss`.
    pub issuer: &'static str,
    /// `aud` must name one of these.
    pub audiences: &'static [&'static str],
    /// Where the issuer publishes its keys.
    pub jwks_uri: &'static str,
    /// The path to the roles claim (`["realm_access", "roles"]`).
    pub roles_claim: &'static [&'static str],
    /// The path to the space-separated scopes claim.
    pub scopes_claim: &'static [&'static str],
}

/// Verifies bearer tokens against the issuer's current keys.
#[derive(Debug)]
pub struct Verifier {
    issuer: Issuer,
    keys: RwLock<Option<JwkSet>>,
}

/// How often the issuer's keys are fetched again, so a rotated key is trusted within this.
const REFRESH: Duration = Duration::from_secs(300);
/// How long to wait before trying again when a fetch fails.
const RETRY: Duration = Duration::from_secs(5);
/// Clock skew allowed on `exp` and `nbf`, as the gateway allows.
const LEEWAY_SECS: u64 = 60;

impl Verifier {
    /// A verifier trusting exactly `keys`, a JWKS document.
    ///
    /// # Errors
    /// When `keys` is not a JWKS document.
    pub fn with_keys(issuer: Issuer, keys: &str) -> anyhow::Result<Arc<Self>> {
        let keys: JwkSet = serde_json::from_str(keys).context("not a JWKS document (`{\"keys\": [...]}`)")?;
        Ok(Arc::new(Self { issuer, keys: RwLock::new(Some(keys)) }))
    }

    /// A verifier trusting only the test key that [`crate::testing`] signs tokens with (its
    /// private half is in this crate's source, so no deployed service may trust it: only a
    /// service's `Config::for_tests` calls this).
    ///
    /// # Panics
    /// Never: the test key is well formed.
    pub fn for_tests(issuer: Issuer) -> Arc<Self> {
        let key = jsonwebtoken::EncodingKey::from_ed_der(&test_key_der());
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::EdDSA)
            .expect("the test key has a public half");
        jwk.common.key_id = Some(TEST_KEY_ID.to_owned());
        Arc::new(Self { issuer, keys: RwLock::new(Some(JwkSet { keys: vec![jwk] })) })
    }

    /// From the environment: `AUTH_JWKS`, a JWKS document to trust as it is (development,
    /// tests); otherwise the keys published at `AUTH_JWKS_URI` (default: `jwks_uri` of
    /// `[auth]`), fetched in the background now and every five minutes. Until the first
    /// fetch succeeds, every token is refused as unverifiable (503).
    ///
    /// # Errors
    /// When `AUTH_JWKS` is set and not a JWKS document.
    pub fn from_env(issuer: Issuer) -> anyhow::Result<Arc<Self>> {
        if let Some(keys) = crate::config::optional("AUTH_JWKS") {
            return Self::with_keys(issuer, &keys).context("AUTH_JWKS");
        }
        let uri = crate::config::optional("AUTH_JWKS_URI").unwrap_or_else(|| issuer.jwks_uri.to_owned());
        let verifier = Arc::new(Self { issuer, keys: RwLock::new(None) });
        tokio::spawn(refresh(Arc::downgrade(&verifier), uri));
        Ok(verifier)
    }

    /// The caller a token proves.
    ///
    /// # Errors
    /// Why the token does not verify.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| error.to_string())?;
        let guard = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(keys) = guard.as_ref() else {
            return Err("the issuer's keys have not been fetched yet".to_owned());
        };
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or("no trusted key matches the token's `kid`")?;
        // The algorithm is the key's, never only the token's say-so.
        if jwk.common.key_algorithm.is_some_and(|alg| alg.to_string() != format!("{:?}", header.alg)) {
            return Err("the token's `alg` is not its key's".to_owned());
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|error| error.to_string())?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.issuer]);
        validation.set_audience(self.issuer.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|error| error.to_string())?;
        let claims = data.claims;
        let subject = claims.get("sub").and_then(serde_json::Value::as_str).ok_or("`sub` is not a string")?.to_owned();
        let roles = match claim(&claims, self.issuer.roles_claim) {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect()
            }
            Some(serde_json::Value::String(role)) => vec![role.clone()],
            _ => Vec::new(),
        };
        let scopes = match claim(&claims, self.issuer.scopes_claim) {
            Some(serde_json::Value::String(scopes)) => scopes.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(Caller {
            identity: Some(Arc::new(Identity { subject, roles, scopes, claims, token: token.to_owned() })),
            refused: None,
        })
    }

    /// The caller `headers` prove: anonymous without `Authorization`, refused with a token that
    /// does not verify.
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Caller::anonymous();
        };
        let token = value.to_str().ok().and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        match token {
            Some(token) => self.verify(token).unwrap_or_else(Caller::refused),
            None => Caller::refused("`Authorization` is not `Bearer <token>`"),
        }
    }
}

/// The `kid` of the test key.
pub const TEST_KEY_ID: &str = "fleetwright-runtime-test-insecure";

/// The test key, PKCS #8 DER: an Ed25519 seed behind its fixed 16-byte header. Insecure on
/// purpose, for tests only; see [`Verifier::for_tests`].
pub(crate) fn test_key_der() -> Vec<u8> {
    const HEADER: [u8; 16] =
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    const SEED: [u8; 32] = *b"fleetwright runtime test key 01!";
    [HEADER.as_slice(), SEED.as_slice()].concat()
}

/// The value at a dotted claim path.
fn claim<'a>(claims: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(claims, |value, part| value.get(part))
}

/// Fetches the issuer's keys now and every [`REFRESH`], while the verifier lives.
async fn refresh(verifier: std::sync::Weak<Verifier>, uri: String) {
    loop {
        let wait = match fetch_keys(&uri).await {
            Ok(keys) => {
                let Some(verifier) = verifier.upgrade() else { return };
                *verifier.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(keys);
                REFRESH
            }
            Err(error) => {
                tracing::warn!(uri, error = format!("{error:#}"), "could not fetch the issuer's keys");
                RETRY
            }
        };
        if verifier.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// One JWKS document from `uri` (`https://`, verified against the web's root certificates, or
/// `http://`).
async fn fetch_keys(uri: &str) -> anyhow::Result<JwkSet> {
    use http_body_util::BodyExt as _;
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<bytes::Bytes>>(connector);
    let request = Request::get(uri).body(http_body_util::Empty::new())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request)).await??;
    anyhow::ensure!(response.status().is_success(), "{} answered {}", uri, response.status());
    let body = response.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

/// The layer that reads every request's token, verifies it and runs the request as its
/// [`Caller`]; with `access`, it also checks each route's [`Policy`] before the handler runs.
///
/// REST routes are found by method and route template (`/api/orders/{id}`); a route without an
/// entry is refused (a route added by hand needs its policy). gRPC methods are found by path
/// (`/shop.orders.v1.OrdersService/GetOrder`); other gRPC services (health, reflection) are
/// open, as they say nothing about records.
#[derive(Clone)]
pub struct Authenticate {
    verifier: Arc<Verifier>,
    access: Access,
}

/// The policies a layer checks.
#[derive(Clone, Copy)]
pub enum Access {
    /// REST: `(method, route template, policy)`; `GET` entries cover `HEAD`.
    Rest(&'static [(Method, &'static str, Policy)]),
    /// gRPC: `(path, policy)`.
    Grpc(&'static [(&'static str, Policy)]),
}

impl Authenticate {
    pub fn new(verifier: Arc<Verifier>, access: Access) -> Self {
        Self { verifier, access }
    }

    /// The policy of a request: `None` (nothing to check) for a gRPC path outside the table or
    /// a method its REST route does not serve; a policy nobody meets for a REST route outside
    /// the table.
    fn policy<B>(&self, request: &Request<B>) -> Option<Policy> {
        const NOBODY: Policy = Policy::AnyOf(&[]);
        match self.access {
            Access::Rest(table) => {
                let method = if request.method() == Method::HEAD { &Method::GET } else { request.method() };
                let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
                let mut served = table.iter().filter(|(_, path, _)| Some(*path) == route).peekable();
                // A route the table does not name is closed; a method the route does not serve
                // goes on to the router, which answers 405.
                if served.peek().is_none() {
                    return Some(NOBODY);
                }
                served.find(|(m, _, _)| m == method).map(|(_, _, policy)| *policy)
            }
            Access::Grpc(table) => {
                let path = request.uri().path();
                table.iter().find(|(method, _)| *method == path).map(|(_, policy)| *policy)
            }
        }
    }
}

impl<S> tower_layer::Layer<S> for Authenticate {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated { layer: self.clone(), inner }
    }
}

/// A service behind [`Authenticate`].
#[derive(Clone)]
pub struct Authenticated<S> {
    layer: Authenticate,
    inner: S,
}

impl<S, B> tower_service::Service<Request<B>> for Authenticated<S>
where
    S: tower_service::Service<Request<B>, Response = axum::response::Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let caller = self.layer.verifier.caller(request.headers());
        let refusal = self.layer.policy(&request).and_then(|policy| caller.require(&policy).err());
        if let Some(error) = refusal {
            // REST answers with a problem (401, 403); gRPC with a status (`UNAUTHENTICATED`,
            // `PERMISSION_DENIED`) in a trailers-only response.
            let response = match self.layer.access {
                Access::Rest(_) => error.into_response(),
                Access::Grpc(_) => tonic::Status::from(error).into_http(),
            };
            return Box::pin(std::future::ready(Ok(response)));
        }
        let future = self.inner.call(request);
        Box::pin(CALLER.scope(caller, future))
    }
}

/// A service's REST routes, each checked against its policy in `table` (see [`Authenticate`]).
pub fn protect_rest<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    verifier: &Arc<Verifier>,
    table: &'static [(Method, &'static str, Policy)],
) -> axum::Router<S> {
    router.route_layer(Authenticate::new(verifier.clone(), Access::Rest(table)))
}

/// A service's gRPC methods, each checked against its policy in `table` (see [`Authenticate`]).
pub fn protect_grpc(
    routes: tonic::service::Routes,
    verifier: &Arc<Verifier>,
    table: &'static [(&'static str, Policy)],
) -> tonic::service::Routes {
    tonic::service::Routes::from(
        routes.into_axum_router().layer(Authenticate::new(verifier.clone(), Access::Grpc(table))),
    )
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use axum::routing::get;

    use super::*;
    use crate::testing::tokens;

    const ISSUER: Issuer = Issuer {
        issuer: "https://id.example.com/realms/shop",
        audiences: &["shop-api"],
        jwks_uri: "https://id.example.com/certs",
        roles_claim: &["realm_access", "roles"],
        scopes_claim: &["scope"],
    };

    fn verifier() -> Arc<Verifier> {
        Verifier::for_tests(ISSUER)
    }

    #[test]
    fn a_valid_token_proves_its_subject_roles_and_scopes() {
        let caller = verifier().verify(&tokens::token(&ISSUER, "alice", &["admin"], &["orders:read"])).unwrap();
        assert_eq!(caller.subject(), Some("alice"));
        assert!(caller.has_role("admin") && !caller.has_role("clerk"));
        assert!(caller.has_scope("orders:read"));
        assert_eq!(caller.claims()["realm_access"]["roles"][0], "admin");
        // A scopes claim inside an object, as some issuers write it.
        let nested = Issuer { scopes_claim: &["ext", "scope"], ..ISSUER };
        let caller = Verifier::for_tests(nested).verify(&tokens::token(&nested, "bob", &[], &["a", "b"])).unwrap();
        assert!(caller.has_scope("a") && caller.has_scope("b") && !caller.has_scope("a b"));
    }

    #[test]
    fn tokens_that_do_not_verify_are_refused() {
        let verifier = verifier();
        let expired = tokens::expired(&ISSUER, "alice");
        assert!(verifier.verify(&expired).unwrap_err().contains("xpired"));
        let other = Issuer { issuer: "https://elsewhere", ..ISSUER };
        assert!(verifier.verify(&tokens::token(&other, "alice", &[], &[])).is_err(), "wrong issuer");
        let other = Issuer { audiences: &["another-api"], ..ISSUER };
        assert!(verifier.verify(&tokens::token(&other, "alice", &[], &[])).is_err(), "wrong audience");
        let good = tokens::token(&ISSUER, "alice", &[], &[]);
        let (signed, signature) = good.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        assert!(verifier.verify(&format!("{signed}.{flipped}{}", &signature[1..])).is_err(), "broken signature");
        let (header, rest) = good.split_once('.').unwrap();
        assert!(!header.is_empty());
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}", rest.split_once('.').unwrap().0);
        assert!(verifier.verify(&format!("{none}.")).is_err(), "alg: none");
        let unknown = Verifier::with_keys(ISSUER, r#"{"keys": []}"#).unwrap();
        assert!(unknown.verify(&good).unwrap_err().contains("kid"), "no trusted key");
    }

    #[test]
    fn policies_answer_401_then_403() {
        let anonymous = Caller::anonymous();
        let admin = verifier().verify(&tokens::token(&ISSUER, "alice", &["admin"], &[])).unwrap();
        let customer = verifier().verify(&tokens::token(&ISSUER, "bob", &[], &[])).unwrap();
        const ADMIN: Policy = Policy::AnyOf(&[Grant::Role("admin")]);
        assert!(anonymous.require(&Policy::Public).is_ok());
        assert!(matches!(anonymous.require(&Policy::Authenticated), Err(AppError::Unauthenticated(_))));
        assert!(customer.require(&Policy::Authenticated).is_ok());
        assert!(matches!(customer.require(&ADMIN), Err(AppError::Forbidden(_))));
        assert!(admin.require(&ADMIN).is_ok());
        let refused = Caller::refused("expired");
        assert!(
            matches!(refused.require(&Policy::Public), Err(AppError::Unauthenticated(_))),
            "a bad token is refused even where none is needed"
        );
    }

    #[tokio::test]
    async fn ownership_follows_the_request_caller() {
        const ADMIN: &[Grant] = &[Grant::Role("admin")];
        assert_eq!(Ownership::current(ADMIN), Ownership::Any, "outside a request, the service acts for itself");
        let bob = verifier().verify(&tokens::token(&ISSUER, "bob", &[], &[])).unwrap();
        let seen = bob.scope(async { Ownership::current(ADMIN) }).await;
        assert!(seen.admits("bob") && !seen.admits("alice"));
        let admin = verifier().verify(&tokens::token(&ISSUER, "alice", &["admin"], &[])).unwrap();
        assert_eq!(admin.scope(async { Ownership::current(ADMIN) }).await, Ownership::Any);
        assert_eq!(Caller::anonymous().scope(async { Ownership::current(ADMIN) }).await, Ownership::Nothing);
        assert_eq!(seen.narrow::<String>(None), Some(Some("bob".to_owned())), "a list shows bob his own");
        assert_eq!(seen.narrow(Some("bob".to_owned())), Some(Some("bob".to_owned())));
        assert_eq!(seen.narrow(Some("alice".to_owned())), None, "asking for alice's shows nothing");
        assert_eq!(seen.narrow::<uuid::Uuid>(None), None, "a subject that is not a UUID owns no UUID-keyed record");
        assert_eq!(Ownership::Any.narrow(Some(7)), Some(Some(7)));
        assert_eq!(Ownership::Nothing.narrow::<u8>(None), None);
    }

    #[tokio::test]
    async fn the_layer_checks_each_route_and_runs_the_handler_as_the_caller() {
        static ACCESS: &[(Method, &str, Policy)] = &[
            (Method::GET, "/open", Policy::Public),
            (Method::GET, "/mine", Policy::Authenticated),
            (Method::DELETE, "/mine", Policy::AnyOf(&[Grant::Role("admin")])),
        ];
        let whoami = || async { Caller::current().subject().unwrap_or("anonymous").to_owned() };
        let router = axum::Router::new()
            .route("/open", get(whoami))
            .route("/mine", get(whoami).delete(whoami))
            .route("/unlisted", get(whoami));
        let router = protect_rest(router, &verifier(), ACCESS);
        let call = |method: Method, path: &str, token: Option<String>| {
            let mut request = Request::builder().method(method).uri(path);
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let router = router.clone();
            let request = request.body(axum::body::Body::empty()).unwrap();
            async move {
                let response = tower_service_call(router, request).await;
                let status = response.status().as_u16();
                let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let bob = || Some(tokens::token(&ISSUER, "bob", &[], &[]));
        assert_eq!(call(Method::GET, "/open", None).await, (200, "anonymous".to_owned()));
        assert_eq!(call(Method::GET, "/mine", None).await.0, 401);
        assert_eq!(call(Method::GET, "/mine", bob()).await, (200, "bob".to_owned()));
        assert_eq!(call(Method::HEAD, "/mine", bob()).await.0, 200, "HEAD goes as GET");
        assert_eq!(call(Method::DELETE, "/mine", bob()).await.0, 403);
        assert_eq!(call(Method::GET, "/unlisted", bob()).await.0, 403, "a route without a policy is closed");
        assert_eq!(call(Method::PUT, "/mine", bob()).await.0, 405, "a method the route does not serve");
        let expired = Some(tokens::expired(&ISSUER, "bob"));
        assert_eq!(call(Method::GET, "/open", expired).await.0, 401);
        let forged = Some("not.a.token".to_owned());
        assert_eq!(call(Method::GET, "/open", forged).await.0, 401);
    }

    async fn tower_service_call(router: axum::Router, request: Request<axum::body::Body>) -> axum::response::Response {
        use tower_service::Service as _;
        let mut router = router;
        router.call(request).await.unwrap()
    }
}
