//! The REST side every service shares: the layers around its API (a server span joining the
//! caller's trace, metrics by route template, a request timeout), the operational endpoints
//! `/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus), and the small
//! pieces its handlers use (JSON bodies whose every rejection is a 422, ids, pages).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::codec::Text as _;
use crate::error::AppError;
use crate::server::Readiness;

/// `api` with its layer, plus the probes and `/metrics`. Probes sit outside the layer, so
/// scrapes and health checks are not counted as traffic.
pub fn router(
    service: &'static str,
    api: Router,
    readiness: Readiness,
    timeout: Duration,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> Router {
    let api = api.layer(Observe { timeout });
    let probes = Router::new()
        .route("/healthz", get(move || std::future::ready(Json(Health { status: "ok", service }))))
        .route("/readyz", get(readyz))
        .with_state((service, readiness))
        .route("/metrics", get(move || std::future::ready(crate::metrics::render(&metrics))));
    api.merge(probes)
}

/// The one layer around every API request: the request's metrics, the timeout (a request that
/// outlives `timeout` answers 503), and, while traces are exported, a server span named by
/// route template that joins the caller's trace when the request carries a `traceparent`
/// header (the gateway sends one).
///
/// One layer rather than three, and a `tower` layer rather than `axum::middleware::from_fn`:
/// each layer costs a boxed future and a clone of the service behind it per request, and
/// `from_fn` two more (its `Next` is boxed, and clones the route again), which profiles of
/// the generated service showed.
///
/// While no trace is exported the span is at DEBUG level, so by default it is not created at
/// all: recording a span per request in the JSON log layer was the largest cost this layer had
/// (see README, Performance). `RUST_LOG=info,fleetwright_runtime::http=debug` brings it back
/// on every log line of a request. Without it, a failed request (5xx) is logged here with its
/// method, route, status and duration, so a log still says which route failed.
#[derive(Clone, Copy)]
struct Observe {
    timeout: Duration,
}

impl<S> tower_layer::Layer<S> for Observe {
    type Service = Observing<S>;

    fn layer(&self, inner: S) -> Observing<S> {
        Observing { inner, timeout: self.timeout }
    }
}

#[derive(Clone)]
struct Observing<S> {
    inner: S,
    timeout: Duration,
}

impl<S> tower_service::Service<Request> for Observing<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let observed = crate::metrics::Observed::start(&request);
        let (method, route) = (observed.method, observed.route);
        let exporting = crate::telemetry::exporting();
        let span = if exporting {
            tracing::info_span!(
                "http request",
                otel.name = %format_args!("{method} {route}"),
                otel.kind = "server",
                http.request.method = method,
                http.route = route,
                http.response.status_code = tracing::field::Empty,
                trace_id = tracing::field::Empty,
                span_id = tracing::field::Empty,
            )
        } else {
            tracing::debug_span!("http request", method, route)
        };
        if !span.is_disabled() {
            crate::telemetry::set_parent(&span, request.headers());
        }
        let response = self.inner.call(request);
        let timeout = self.timeout;
        Box::pin(async move {
            let response = async {
                let Ok(response) = response.await;
                response
            };
            let response = if span.is_disabled() {
                within(timeout, response).await
            } else {
                let response = within(timeout, response.instrument(span.clone())).await;
                if exporting {
                    span.record("http.response.status_code", response.status().as_u16());
                }
                response
            };
            let status = response.status();
            let elapsed = observed.finish(&response);
            if status.is_server_error() && span.is_disabled() {
                let elapsed_ms = elapsed.as_secs_f64() * 1e3;
                tracing::warn!(method, route, status = status.as_u16(), elapsed_ms, "request failed");
            }
            Ok(response)
        })
    }
}

/// `response`, or a 503 once it has taken longer than `timeout`.
async fn within(timeout: Duration, response: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(timeout, response).await {
        Ok(response) => response,
        Err(_) => {
            let message = format!("the request took longer than {} ms", timeout.as_millis());
            AppError::Unavailable(message).into_response()
        }
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    service: &'static str,
}

/// Readiness: 200 when the service should get traffic, 503 once shutdown started or while a
/// dependency it needs does not answer.
async fn readyz(State((service, readiness)): State<(&'static str, Readiness)>) -> impl IntoResponse {
    if !readiness.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "shutting down", service }));
    }
    match readiness.check_dependencies().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ready", service })),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "dependency unavailable", service }))
        }
    }
}

/// `?page_size=&page_token=` of list endpoints.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    page_size: Option<u32>,
    #[serde(default)]
    page_token: Option<String>,
}

impl ListQuery {
    /// The page size asked for (0: the default) and the id to continue after.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a malformed query or page token.
    pub fn parse(query: Result<Query<Self>, QueryRejection>) -> Result<(u32, Option<uuid::Uuid>), AppError> {
        let Query(query) = query.map_err(|rejection| AppError::Invalid(rejection.body_text()))?;
        let after = query.page_token.filter(|token| !token.is_empty());
        let after = after.map(|token| uuid::Uuid::from_text(&token, "page_token")).transpose()?;
        Ok((query.page_size.unwrap_or(0), after))
    }
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub struct ListBody<T> {
    pub items: Vec<T>,
    /// Pass as `page_token` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// A JSON body, with every rejection (bad syntax, wrong type, unknown field) as a 422.
///
/// # Errors
/// [`AppError::Invalid`] with the rejection's text.
pub fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    payload.map(|Json(value)| value).map_err(|rejection| AppError::Invalid(rejection.body_text()))
}

/// An id from a path.
///
/// # Errors
/// [`AppError::Invalid`] when it is not a UUID.
pub fn id(raw: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::from_text(raw, "id")
}

/// 201 Created with the new record's `Location`.
pub fn created<T: Serialize>(location: &str, record: T) -> (StatusCode, HeaderMap, Json<T>) {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::CREATED, headers, Json(record))
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;

    use crate::error::AppError;
    use crate::server::{Parts, Readiness, Running};
    use crate::testing::TestService;

    #[tokio::test]
    async fn every_api_request_is_timed_out_counted_and_failures_answer_in_json() {
        let api = Router::new()
            .route("/api/slow/{id}", get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }))
            .route("/api/broken", get(|| async { Err::<(), _>(AppError::internal(anyhow::anyhow!("disk on fire"))) }))
            .route("/api/fine", get(|| async { "fine" }));
        let config = crate::config::Server {
            http_addr: "127.0.0.1:0".parse().unwrap(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            request_timeout: Duration::from_millis(50),
            shutdown_grace: Duration::from_secs(1),
        };
        let parts = Parts {
            http: api,
            grpc: tonic::service::Routes::default(),
            grpc_names: Vec::new(),
            background: Vec::new(),
        };
        let running = Running::bind("observed", &config, (), Readiness::new(), parts).await.unwrap();
        let service = TestService::serve(running);

        let slow = service.http("GET", "/api/slow/7", None).await;
        assert_eq!(slow.status, 503, "{slow:?}");
        assert_eq!(slow.json()["code"], "unavailable");
        let broken = service.http("GET", "/api/broken", None).await;
        assert_eq!(broken.status, 500, "{broken:?}");
        assert!(!broken.body.contains("disk on fire"), "internal details stay in the logs");
        assert_eq!(service.http("GET", "/api/fine", None).await.status, 200);

        let metrics = service.http("GET", "/metrics", None).await.body;
        for line in [
            r#"http_requests_total{method="GET",route="/api/slow/{id}",status="503"} 1"#,
            r#"http_errors_total{method="GET",route="/api/broken",status="500"} 1"#,
            r#"http_request_duration_seconds_count{method="GET",route="/api/fine"} 1"#,
        ] {
            assert!(metrics.contains(line), "no `{line}` in\n{metrics}");
        }
        assert!(!metrics.contains(r#"route="/metrics""#), "scrapes are not traffic");
        service.stop().await.unwrap();
    }
}
