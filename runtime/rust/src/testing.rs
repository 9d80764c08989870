//! For a service's own tests: serve a started service on its ephemeral ports in the
//! background and talk to it over real sockets, as a client would.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::server::Running;

/// A service serving in the background; stopped when dropped.
pub struct TestService<A> {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub app: A,
    /// The bearer token every request of [`Self::http`] and friends and every gRPC client made
    /// with [`Self::credentials`] sends (`[auth]`); `None` sends none.
    pub token: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// One HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        json(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A value of the same shape as `sample` that no other call returned, for a field that must be
/// unique: a new UUID for a UUID, a numbered copy of any other text and a larger integer. Dates,
/// timestamps and other values come back unchanged.
pub fn unique_like(sample: &serde_json::Value) -> serde_json::Value {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    match sample {
        serde_json::Value::String(text) if uuid::Uuid::parse_str(text).is_ok() => {
            serde_json::Value::String(uuid::Uuid::now_v7().to_string())
        }
        serde_json::Value::String(text) if !text.starts_with(|c: char| c.is_ascii_digit()) => {
            serde_json::Value::String(format!("{text}-{n}"))
        }
        serde_json::Value::Number(number) if number.is_i64() => serde_json::json!(number.as_i64().unwrap_or(0) + n),
        other => other.clone(),
    }
}

/// A JSON value as a query parameter's value: a string's text, any other value's JSON
/// (`42`, `true`), percent-encoded.
pub fn query_value(value: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `text` as JSON.
///
/// # Panics
/// When it is not JSON.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

impl<A: Clone + Send + 'static> TestService<A> {
    pub fn serve(running: Running<A>) -> Self {
        let (http, grpc, app) = (running.http_addr, running.grpc_addr, running.app.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(running.serve_until(async {
            let _ = stopped.await;
        }));
        Self { http, grpc, app, token: None, stop: Some(stop), server: Some(server) }
    }
}

impl<A> TestService<A> {
    /// One HTTP/1.1 request with a JSON body.
    ///
    /// # Panics
    /// When the service does not answer with an HTTP response.
    pub async fn http(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.http_with(method, path, body, &[]).await
    }

    /// [`Self::http`] with more request headers (`("if-match", "\"1\"")`).
    ///
    /// # Panics
    /// As [`Self::http`].
    pub async fn http_with(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        self.request(method, path, "application/json", body, headers).await
    }

    /// One HTTP/1.1 request whose body has the `Content-Type` `content_type`.
    ///
    /// # Panics
    /// When the service does not answer with an HTTP response.
    pub async fn http_as(&self, method: &str, path: &str, content_type: &str, body: Option<&str>) -> Reply {
        self.request(method, path, content_type, body, &[]).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut stream = TcpStream::connect(self.http).await.expect("connects");
        let body = body.unwrap_or("");
        let mut extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
        if let Some(token) = &self.token {
            extra.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("sends");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.expect("reads");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply { status, headers, body: body.to_owned() }
    }

    /// A gRPC channel to the service.
    ///
    /// # Panics
    /// When it does not connect.
    pub async fn channel(&self) -> tonic::transport::Channel {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc)).expect("endpoint");
        endpoint.connect().await.expect("grpc connects")
    }

    /// What a gRPC client of the service sends with every call: [`Self::token`] as
    /// `authorization` metadata (`Client::with_interceptor(service.channel().await,
    /// service.credentials())`).
    pub fn credentials(&self) -> Credentials {
        Credentials(
            self.token
                .as_ref()
                .and_then(|token| tonic::metadata::MetadataValue::try_from(format!("Bearer {token}")).ok()),
        )
    }

    /// The gRPC health status of the whole server (`""`).
    ///
    /// # Panics
    /// When the health service does not answer.
    pub async fn grpc_health(&self) -> tonic_health::pb::health_check_response::ServingStatus {
        let mut health = tonic_health::pb::health_client::HealthClient::new(self.channel().await);
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        let status = health.check(request).await.expect("health check").into_inner().status;
        tonic_health::pb::health_check_response::ServingStatus::try_from(status).expect("a known status")
    }

    /// The gRPC services the server lists through reflection (`grpc.reflection.v1`), sorted.
    ///
    /// # Panics
    /// When reflection does not answer with a list of services.
    pub async fn grpc_services(&self) -> Vec<String> {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

        let mut client = ServerReflectionClient::new(self.channel().await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let stream = tonic::codegen::tokio_stream::once(request);
        let mut replies = client.server_reflection_info(stream).await.expect("reflection answers").into_inner();
        let reply: ServerReflectionResponse = replies.message().await.expect("a reply").expect("one reply");
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("not a list of services: {reply:?}");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
        names.sort();
        names
    }

    /// Stops the service as SIGTERM would and waits for it to finish draining.
    ///
    /// # Errors
    /// When serving failed or did not stop within ten seconds.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = self.server.take().ok_or_else(|| anyhow::anyhow!("already stopped"))?;
        tokio::time::timeout(std::time::Duration::from_secs(10), server).await??
    }
}

impl<A> Drop for TestService<A> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// How a test double answers one gRPC method: the request message in, the response message or
/// an error status out.
pub trait Answer<Q, R>: Fn(Q) -> Result<R, tonic::Status> + Send + Sync + 'static {}

impl<Q, R, F: Fn(Q) -> Result<R, tonic::Status> + Send + Sync + 'static> Answer<Q, R> for F {}

type Boxed<Q, R> = Box<dyn Fn(Q) -> Result<R, tonic::Status> + Send + Sync>;

/// The answers a generated test double (`Fake<Service>` in a service's `src/testing.rs`) was
/// given, by the name of their setter (`on_get_product`); shared by the clones tonic makes of
/// the double.
#[derive(Clone, Default)]
pub struct Answers(std::collections::HashMap<&'static str, std::sync::Arc<dyn std::any::Any + Send + Sync>>);

impl Answers {
    /// These answers, with `answer` for the method whose setter is `setter`.
    #[must_use]
    pub fn with<Q: 'static, R: 'static>(mut self, setter: &'static str, answer: impl Answer<Q, R>) -> Self {
        let answer: Boxed<Q, R> = Box::new(answer);
        self.0.insert(setter, std::sync::Arc::new(answer));
        self
    }

    /// The answer set for `setter`, or `UNIMPLEMENTED` naming the setter of `fake` a test would
    /// call.
    ///
    /// # Errors
    /// The status the answer gave, or `UNIMPLEMENTED` when none was set.
    ///
    /// # Panics
    /// When `setter` was given an answer of other message types: a generated double names each
    /// method's setter once.
    pub fn answer<Q: 'static, R: 'static>(
        &self,
        request: tonic::Request<Q>,
        fake: &str,
        setter: &str,
    ) -> Result<tonic::Response<R>, tonic::Status> {
        let Some(answer) = self.0.get(setter) else {
            return Err(tonic::Status::unimplemented(format!(
                "not faked in this test: answer it with `{fake}::{setter}`"
            )));
        };
        let answer = answer.downcast_ref::<Boxed<Q, R>>().expect("each setter stores the answer of its own method");
        answer(request.into_inner()).map(tonic::Response::new)
    }
}

/// The answer of a list or a delete in a double's `echo()`: the empty response.
///
/// # Errors
/// Never.
pub fn nothing<Q, R: Default>(_: Q) -> Result<R, tonic::Status> {
    Ok(R::default())
}

/// Serves `router` (a test double) on 127.0.0.1, on a port the system picks, while the test
/// runs; returns its URL.
///
/// # Panics
/// When no local port can be bound.
pub async fn serve_double(router: tonic::transport::server::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a local port");
    let url = format!("http://{}", listener.local_addr().expect("a local address"));
    tokio::spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_double_answers_what_was_set_and_names_the_setter_of_what_was_not() {
        let answers = Answers::default().with("on_get_thing", |id: String| Ok::<_, tonic::Status>(id.len()));
        let set: tonic::Response<usize> =
            answers.answer(tonic::Request::new("four".to_owned()), "FakeThings", "on_get_thing").expect("set");
        assert_eq!(set.into_inner(), 4);
        let unset = answers
            .answer::<String, usize>(tonic::Request::new(String::new()), "FakeThings", "on_delete_thing")
            .expect_err("not set");
        assert_eq!(unset.code(), tonic::Code::Unimplemented);
        assert!(unset.message().contains("`FakeThings::on_delete_thing`"), "{unset}");
        let empty: Result<Vec<u8>, _> = nothing(());
        assert_eq!(empty.expect("nothing never fails"), Vec::<u8>::new());
    }
}

/// The `authorization` metadata of a test's gRPC calls; see [`TestService::credentials`].
#[derive(Clone)]
pub struct Credentials(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Credentials {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Tokens for a service's own tests, signed with a test key that [`crate::auth::Verifier::for_tests`]
/// trusts (and nothing else does).
#[cfg(feature = "auth")]
pub mod tokens {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use crate::auth::Issuer;

    /// A token of `issuer` for `subject` holding `roles` (in the roles claim) and `scopes`, valid
    /// for an hour.
    ///
    /// # Panics
    /// Never with the built-in test key.
    pub fn token(issuer: &Issuer, subject: &str, roles: &[&str], scopes: &[&str]) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        claims(issuer, serde_json::json!({ "sub": subject, "iat": now, "nbf": now, "exp": now + 3600 }), roles, scopes)
    }

    /// A token that expired an hour ago: the service must refuse it.
    ///
    /// # Panics
    /// Never with the built-in test key.
    pub fn expired(issuer: &Issuer, subject: &str) -> String {
        let past = time::OffsetDateTime::now_utc().unix_timestamp() - 7200;
        claims(issuer, serde_json::json!({ "sub": subject, "iat": past, "nbf": past, "exp": past + 3600 }), &[], &[])
    }

    /// Puts `value` at the claim `path` (`["realm_access", "roles"]`), making the objects on
    /// the way, where the service's verifier reads it.
    fn put(claims: &mut serde_json::Value, path: &[&str], value: serde_json::Value) {
        let Some((last, parents)) = path.split_last() else { return };
        let mut at = claims;
        for part in parents {
            at = at.as_object_mut().expect("an object").entry(*part).or_insert_with(|| serde_json::json!({}));
        }
        at[*last] = value;
    }

    fn claims(issuer: &Issuer, mut claims: serde_json::Value, roles: &[&str], scopes: &[&str]) -> String {
        claims["iss"] = issuer.issuer.into();
        claims["aud"] = issuer.audiences.first().copied().unwrap_or_default().into();
        put(&mut claims, issuer.roles_claim, serde_json::json!(roles));
        put(&mut claims, issuer.scopes_claim, scopes.join(" ").into());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(crate::auth::TEST_KEY_ID.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&crate::auth::test_key_der()))
            .expect("the test key signs")
    }
}
