//! Calls to other services: every call has a deadline (retries included) and carries the W3C
//! trace context; reads are retried with exponential backoff while the callee is unavailable,
//! writes never are (a retried Create could create twice). Channels connect lazily, so a
//! service starts while its callees are down.

use std::future::Future;
use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tracing::Instrument as _;

use crate::error::AppError;

/// How outgoing calls behave.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    /// The whole call, retries included, ends within this.
    pub deadline: Duration,
    /// Attempts of an idempotent call, the first included.
    pub max_attempts: u32,
    /// Pause before the first retry; doubled before each next one.
    pub first_backoff: Duration,
}

impl CallPolicy {
    pub fn new(deadline: Duration) -> Self {
        Self { deadline, max_attempts: 4, first_backoff: Duration::from_millis(50) }
    }
}

/// A failed call: which service and method, and the gRPC status.
#[derive(Debug, thiserror::Error)]
#[error("{service} {method}: {}", status.message())]
pub struct CallError {
    pub service: &'static str,
    pub method: &'static str,
    pub status: tonic::Status,
}

impl CallError {
    pub fn code(&self) -> Code {
        self.status.code()
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Code::NotFound
    }
}

/// A callee that is down or too slow is this service's 503: the client gets a clear answer
/// instead of a hang. Its refusals keep their meaning; anything else is internal.
impl From<CallError> for AppError {
    fn from(error: CallError) -> Self {
        let message = error.status.message().to_owned();
        match error.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
                AppError::Unavailable(format!("{} is unavailable: {message}", error.service))
            }
            Code::NotFound => AppError::NotFound(format!("{} says: {message}", error.service)),
            Code::InvalidArgument => AppError::Invalid(format!("{} refused the request: {message}", error.service)),
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => {
                AppError::Conflict(format!("{} refused the request: {message}", error.service))
            }
            // The caller's token travels with the call: the callee's policy refused that caller.
            Code::PermissionDenied => {
                AppError::Forbidden(format!("{} does not let this caller do that: {message}", error.service))
            }
            Code::Unauthenticated => {
                AppError::Unauthenticated(format!("{} needs a caller with a valid token: {message}", error.service))
            }
            _ => AppError::internal(error),
        }
    }
}

/// A channel to `url` (`http://host:port`) that connects on first use.
///
/// # Errors
/// When `url` is not a valid URI.
pub fn lazy_channel(url: &str, policy: CallPolicy) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| anyhow::anyhow!("invalid gRPC address {url:?}: {error}"))?
        .connect_timeout(policy.deadline)
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}

/// Sends one call under `policy`, inside a client span whose trace context goes out in the
/// request metadata. `idempotent` calls are retried while the callee is unavailable.
///
/// # Errors
/// The callee's status, or `DEADLINE_EXCEEDED` when no answer came within the deadline.
pub async fn call<Req, Res, F, Fut>(
    service: &'static str,
    method: &'static str,
    policy: CallPolicy,
    idempotent: bool,
    message: Req,
    send: F,
) -> Result<Res, CallError>
where
    Req: Clone,
    F: Fn(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Res>, tonic::Status>>,
{
    let span = tracing::info_span!(
        "grpc client",
        otel.name = format!("{service}/{method}"),
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
    );
    // The caller of the request being handled, passed on: the callee authorises them under
    // its own policy.
    #[cfg(feature = "auth")]
    let authorization = crate::auth::Caller::current()
        .token()
        .and_then(|token| tonic::metadata::MetadataValue::try_from(format!("Bearer {token}")).ok());
    async move {
        let started = Instant::now();
        let mut backoff = policy.first_backoff;
        let mut attempt = 1;
        loop {
            let remaining = policy.deadline.saturating_sub(started.elapsed());
            let mut request = tonic::Request::new(message.clone());
            request.set_timeout(remaining);
            crate::telemetry::inject_context(request.metadata_mut());
            #[cfg(feature = "auth")]
            if let Some(authorization) = &authorization {
                request.metadata_mut().insert("authorization", authorization.clone());
            }
            let expired = || tonic::Status::deadline_exceeded(format!("no answer within {} ms", policy.deadline.as_millis()));
            let status = match tokio::time::timeout(remaining, send(request)).await {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                // tonic enforces the grpc-timeout itself and reports it as CANCELLED.
                Ok(Err(status)) if status.code() == Code::Cancelled && started.elapsed() >= policy.deadline => expired(),
                Ok(Err(status)) => status,
                Err(_) => expired(),
            };
            let retry = idempotent
                && status.code() == Code::Unavailable
                && attempt < policy.max_attempts
                && started.elapsed() + backoff < policy.deadline;
            if !retry {
                tracing::warn!(service, method, attempt, code = ?status.code(), message = status.message(), "call failed");
                return Err(CallError { service, method, status });
            }
            tracing::debug!(service, method, attempt, "callee unavailable; retrying");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        }
    }
    .instrument(span)
    .await
}

/// A client of one service's gRPC API (`package.Service`), calling its unary methods under
/// one policy with prost messages: the generated typed clients are thin wrappers around it.
#[derive(Debug, Clone)]
pub struct Peer {
    service: &'static str,
    api: &'static str,
    channel: Channel,
    policy: CallPolicy,
}

impl Peer {
    /// A client of `service` (its name in the manifest) whose API is `api`
    /// (`shop.products.v1.ProductsService`), at `url`; connects on first use.
    ///
    /// # Errors
    /// When `url` is not a valid URI.
    pub fn new(service: &'static str, api: &'static str, url: &str, policy: CallPolicy) -> anyhow::Result<Self> {
        Ok(Self { service, api, channel: lazy_channel(url, policy)?, policy })
    }

    /// Calls `method` (see [`call`]); `idempotent` methods are retried while the service is
    /// unavailable.
    ///
    /// # Errors
    /// As [`call`].
    pub async fn call<Req, Res>(&self, method: &'static str, idempotent: bool, request: Req) -> Result<Res, CallError>
    where
        Req: prost::Message + Clone + 'static,
        Res: prost::Message + Default + 'static,
    {
        let path = format!("/{}/{method}", self.api);
        call(self.service, method, self.policy, idempotent, request, |request| {
            let mut grpc = tonic::client::Grpc::new(self.channel.clone());
            let path = path.clone();
            async move {
                grpc.ready().await.map_err(|error| tonic::Status::unavailable(error.to_string()))?;
                let path = http::uri::PathAndQuery::try_from(path)
                    .map_err(|error| tonic::Status::internal(format!("invalid method path: {error}")))?;
                grpc.unary(request, path, tonic_prost::ProstCodec::default()).await
            }
        })
        .await
    }
}

/// The `CALL_TIMEOUT_MS` setting: deadline of one outgoing call, retries included. Default 2000.
///
/// # Errors
/// When it is set but not a number.
pub fn policy_from_env() -> anyhow::Result<CallPolicy> {
    Ok(CallPolicy::new(Duration::from_millis(crate::config::var("CALL_TIMEOUT_MS", "2000")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(channel: Channel, policy: CallPolicy) -> Result<(), CallError> {
        let client = tonic_health::pb::health_client::HealthClient::new(channel);
        call("inventory", "Check", policy, true, tonic_health::pb::HealthCheckRequest::default(), move |request| {
            let mut client = client.clone();
            async move { client.check(request).await }
        })
        .await
        .map(|_| ())
    }

    #[tokio::test]
    async fn a_callee_that_is_down_fails_fast_as_unavailable() {
        // Nothing listens on port 9 (discard): refused, retried with backoff, then UNAVAILABLE.
        let policy = CallPolicy::new(Duration::from_secs(1));
        let started = Instant::now();
        let error = get(lazy_channel("http://127.0.0.1:9", policy).unwrap(), policy).await.unwrap_err();
        assert_eq!(error.code(), Code::Unavailable, "{error}");
        assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
        match AppError::from(error) {
            AppError::Unavailable(message) => assert!(message.starts_with("inventory is unavailable"), "{message}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_callee_that_never_answers_is_cut_off_at_the_deadline() {
        let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", black_hole.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = black_hole.accept().await {
                open.push(socket);
            }
        });
        let deadline = Duration::from_millis(300);
        let policy = CallPolicy::new(deadline);
        let started = Instant::now();
        let error = get(lazy_channel(&url, policy).unwrap(), policy).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
        assert!(took >= deadline && took < deadline * 3, "took {took:?} for a {deadline:?} deadline");
        assert!(matches!(AppError::from(error), AppError::Unavailable(_)));
        held.abort();
    }

    #[tokio::test]
    async fn a_peer_calls_a_method_by_its_path() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (_reporter, health) = tonic_health::server::health_reporter();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let server =
            tokio::spawn(tonic::transport::Server::builder().add_service(health).serve_with_incoming(incoming));
        let peer = Peer::new("health", "grpc.health.v1.Health", &url, CallPolicy::new(Duration::from_secs(2))).unwrap();
        let reply: tonic_health::pb::HealthCheckResponse =
            peer.call("Check", true, tonic_health::pb::HealthCheckRequest::default()).await.unwrap();
        assert_eq!(reply.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
        let request = tonic_health::pb::HealthCheckRequest::default();
        let missing = peer.call::<_, tonic_health::pb::HealthCheckResponse>("Nope", true, request).await;
        assert_eq!(missing.unwrap_err().code(), Code::Unimplemented);
        server.abort();
    }

    #[test]
    fn refusals_keep_their_meaning() {
        let refused = |code| {
            AppError::from(CallError { service: "users", method: "Get", status: tonic::Status::new(code, "no") })
        };
        assert!(matches!(refused(Code::NotFound), AppError::NotFound(_)));
        assert!(matches!(refused(Code::InvalidArgument), AppError::Invalid(_)));
        assert!(matches!(refused(Code::FailedPrecondition), AppError::Conflict(_)));
        assert!(
            matches!(refused(Code::PermissionDenied), AppError::Forbidden(_)),
            "the callee's policy refused the caller"
        );
        assert!(matches!(refused(Code::Unauthenticated), AppError::Unauthenticated(_)));
        assert!(matches!(refused(Code::DataLoss), AppError::Internal(_)));
    }
}
