//! The REST side every service shares: the layers around its API (a server span joining the
//! caller's trace, metrics by route template, a request timeout), the operational endpoints
//! `/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus), and the small
//! pieces its handlers use (JSON bodies whose every rejection is a 422, ids, pages).

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
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
    let api = api.layer(axum::middleware::from_fn_with_state(timeout, observe));
    let probes = Router::new()
        .route("/healthz", get(move || std::future::ready(Json(Health { status: "ok", service }))))
        .route("/readyz", get(readyz))
        .with_state((service, readiness))
        .route("/metrics", get(move || std::future::ready(crate::metrics::render(&metrics))));
    api.merge(probes)
}

/// The one layer around every API request (one layer rather than three: each layer is a boxed
/// future and a service clone per request, which load tests showed): a server span named by
/// route template that joins the caller's trace when the request carries a `traceparent`
/// header (the gateway sends one), the request's metrics, and the timeout: a request that
/// outlives `timeout` answers 503.
async fn observe(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let observed = crate::metrics::Observed::start(&request);
    let (method, route) = (observed.method, observed.route);
    // The fields a trace needs only while traces leave the process; logs need the route.
    let exporting = crate::telemetry::exporting();
    let span = if exporting {
        tracing::info_span!(
            "http request",
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "server",
            http.request.method = method,
            http.route = route,
            http.response.status_code = tracing::field::Empty,
        )
    } else {
        tracing::info_span!("http request", method, route)
    };
    crate::telemetry::set_parent(&span, request.headers());
    let response = match tokio::time::timeout(timeout, next.run(request).instrument(span.clone())).await {
        Ok(response) => response,
        Err(_) => {
            let message = format!("the request took longer than {} ms", timeout.as_millis());
            AppError::Unavailable(message).into_response()
        }
    };
    if exporting {
        span.record("http.response.status_code", response.status().as_u16());
    }
    observed.finish(&response);
    response
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
