//! The REST side every service shares: the layers around its API (a server span joining the
//! caller's trace, metrics by route template, a request timeout), the operational endpoints
//! `/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus), and the small
//! pieces its handlers use (JSON bodies, ids, pages).
//!
//! Every error response of the API is an RFC 9457 problem (`application/problem+json`, see
//! [`Problem`]): those of the handlers ([`AppError`]), and those axum answers by itself, such
//! as 404 for an unknown route and 405 for a method the route does not take.

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
use serde::Serialize;
use tracing::Instrument as _;

use crate::codec::Text as _;
use crate::error::{AppError, Problem, version};
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
    // Merged into the probes, so that the API's fallback (404 for an unknown path), which
    // passed through the layer, is the one that answers: of two routers with axum's default
    // fallback, `merge` keeps the argument's.
    probes.merge(api)
}

/// The one layer around every API request: the request's metrics, the timeout (a request that
/// outlives `timeout` answers 503), error responses axum wrote by itself turned into problems
/// (see [`as_problem`]), and, while traces are exported, a server span named by route template
/// that joins the caller's trace when the request carries a `traceparent` header (the gateway
/// sends one).
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
            let response = as_problem(response).await;
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
///
/// 503 Service Unavailable, not 408 Request Timeout (which says the *client* was too slow to
/// send its request) nor 504 Gateway Timeout (which a gateway or proxy answers when the server
/// behind it did not: Envoy answers it when a service does not answer in time). Here the
/// service itself is the server and is too busy or blocked to answer now; like 503 for a
/// dependency that is down, a client may retry later.
async fn within(timeout: Duration, response: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(timeout, response).await {
        Ok(response) => response,
        Err(_) => {
            let message = format!("the request took longer than {} ms", timeout.as_millis());
            AppError::Unavailable(message).into_response()
        }
    }
}

/// An error response that is not a problem yet becomes one: the ones axum answers by itself
/// (404 for an unknown route, 405 with its `Allow` header, a path or query it could not read)
/// have an empty or plain-text body. Their headers are kept, and a short plain text becomes the
/// `detail` of a 4xx; a 5xx gets only a generic detail, so nothing internal leaks. Responses
/// that are not errors, or already problems, pass untouched and unread.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || Problem::is_in(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned());
    let detail = match text {
        Ok(text) if !text.is_empty() && status.is_client_error() => text,
        _ => match status {
            StatusCode::NOT_FOUND => "no route matches this path".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => "this route does not take this method (see `Allow`)".to_owned(),
            _ => status.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
        },
    };
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_server_error() => "internal",
        _ => "invalid_argument",
    };
    let problem = Problem::new(status, code, detail).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(problem.headers().clone());
    Response::from_parts(parts, problem.into_body())
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

/// The query of a list endpoint: `?page_size=&page_token=`, then equality filters on the fields
/// the list filters by (`?order_id=…`). Any other parameter, or one given twice, is refused: a
/// misspelt filter must not answer every record.
#[derive(Debug)]
pub struct ListQuery {
    /// The page size asked for (0: the default).
    pub page_size: u32,
    /// The id to continue after.
    pub after: Option<uuid::Uuid>,
    filters: Vec<(String, String)>,
}

impl ListQuery {
    /// Reads a list's query; `filters` names the parameters it takes besides paging.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a malformed query or page token, an unknown parameter, or one
    /// given twice.
    pub fn parse(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        filters: &[&str],
    ) -> Result<Self, AppError> {
        let Query(pairs) = query.map_err(|rejection| AppError::Invalid(rejection.body_text()))?;
        let mut seen: Vec<&str> = Vec::new();
        let mut list = Self { page_size: 0, after: None, filters: Vec::new() };
        for (name, value) in &pairs {
            if seen.contains(&name.as_str()) {
                return Err(AppError::Invalid(format!("query parameter `{name}` is given twice")));
            }
            seen.push(name);
            match name.as_str() {
                "page_size" => {
                    list.page_size = value.parse().map_err(|_| {
                        AppError::Invalid(format!("`page_size` is not a number from 0 to 4294967295: {value:?}"))
                    })?;
                }
                "page_token" if value.is_empty() => {}
                "page_token" => list.after = Some(uuid::Uuid::from_text(value, "page_token")?),
                _ if filters.contains(&name.as_str()) => list.filters.push((name.clone(), value.clone())),
                _ => {
                    let known = ["page_size", "page_token"].iter().chain(filters).map(|f| format!("`{f}`"));
                    return Err(AppError::Invalid(format!(
                        "unknown query parameter `{name}`: this list takes {}",
                        known.collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        Ok(list)
    }

    /// The value the query gives the filter on `field`, if any.
    ///
    /// # Errors
    /// [`AppError::Invalid`] naming the field when the value does not fit its type.
    pub fn filter<T: FilterValue>(&self, field: &str) -> Result<Option<T>, AppError> {
        self.filters.iter().find(|(name, _)| name == field).map(|(_, value)| T::from_query(value, field)).transpose()
    }
}

/// A value a list filters by, as a query parameter gives it.
pub trait FilterValue: Sized {
    /// # Errors
    /// [`AppError::Invalid`] naming `field` when `text` is no value of the type.
    fn from_query(text: &str, field: &str) -> Result<Self, AppError>;
}

impl FilterValue for String {
    fn from_query(text: &str, _: &str) -> Result<Self, AppError> {
        Ok(text.to_owned())
    }
}

impl FilterValue for bool {
    fn from_query(text: &str, field: &str) -> Result<Self, AppError> {
        match text {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(AppError::Invalid(format!("`{field}` is not `true` or `false`: {text:?}"))),
        }
    }
}

macro_rules! filter_by_number {
    ($($ty:ty),*) => {$(
        impl FilterValue for $ty {
            fn from_query(text: &str, field: &str) -> Result<Self, AppError> {
                text.parse().map_err(|_| {
                    AppError::Invalid(format!("`{field}` is not a whole number from {} to {}: {text:?}", <$ty>::MIN, <$ty>::MAX))
                })
            }
        }
    )*};
}
filter_by_number!(i32, i64);

/// Ids, dates and enums, in their text forms.
impl<T: crate::codec::Text> FilterValue for T {
    fn from_query(text: &str, field: &str) -> Result<Self, AppError> {
        T::from_text(text, field)
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

#[cfg(feature = "database")]
impl<T> From<crate::db::Page<T>> for ListBody<T> {
    fn from(page: crate::db::Page<T>) -> Self {
        Self { items: page.items, next_page_token: page.next.map(|id| id.to_string()) }
    }
}

/// A JSON body.
///
/// # Errors
/// [`AppError::UnsupportedMediaType`] (415) when the request does not say it is JSON,
/// [`AppError::PayloadTooLarge`] (413) when it is too large, and [`AppError::Invalid`] (422) for
/// every other rejection (bad syntax, wrong type, unknown field), each with the rejection's text.
pub fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    payload.map(|Json(value)| value).map_err(|rejection| {
        let text = rejection.body_text();
        match rejection.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(text),
            StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(text),
            _ => AppError::Invalid(text),
        }
    })
}

/// A request body that is a JSON object, read into `T`: what the API's create, replace and
/// merge patch take. Like axum's `Json`, but anything other than an object is refused (serde
/// would read an array into a struct field by field), and every refusal is a problem: 415 when
/// the request does not say it is JSON, 413 when it is too large, 422 otherwise.
pub struct Object<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Object<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        if !says_json(request.headers()) {
            return Err(AppError::UnsupportedMediaType(
                "Expected request with `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            let text = rejection.body_text();
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(text),
                _ => AppError::Invalid(text),
            }
        })?;
        if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            return Err(AppError::Invalid("the body must be a JSON object".to_owned()));
        }
        Json::<T>::from_bytes(&bytes)
            .map(|Json(value)| Self(value))
            .map_err(|rejection| AppError::Invalid(rejection.body_text()))
    }
}

/// Whether a request's `Content-Type` is JSON: `application/json`, or a `+json` type such as
/// `application/merge-patch+json` (as axum's `Json` decides).
fn says_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// An id from a path.
///
/// # Errors
/// [`AppError::Invalid`] when it is not a UUID.
pub fn id(raw: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::from_text(raw, "id")
}

/// A JSON document the service embeds, served as it is: its OpenAPI document
/// (`openapi.json` beside its `Cargo.toml`, generated from `fleet.toml`), at `GET /openapi.json`.
pub fn document(text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], text).into_response()
}

/// 201 Created with the new record's `Location` and `ETag`.
pub fn created<T: Serialize>(location: &str, version: i64, record: T) -> (StatusCode, HeaderMap, Json<T>) {
    let (mut headers, record) = tagged(version, record);
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::CREATED, headers, record)
}

/// A record with its `ETag`: its version, quoted (`"3"`).
pub fn tagged<T: Serialize>(version: i64, record: T) -> (HeaderMap, Json<T>) {
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, etag);
    }
    (headers, Json(record))
}

/// `input` with a JSON merge patch (RFC 7396) applied: the patch's fields replace the
/// input's, `null` removes one (an optional field becomes empty), nested objects merge.
///
/// # Errors
/// [`AppError::Invalid`] when the result is no valid input (a field of the wrong type, an
/// unknown field, a required field set to `null`).
pub fn merge_patch<T: Serialize + serde::de::DeserializeOwned>(
    input: &T,
    patch: serde_json::Value,
) -> Result<T, AppError> {
    let mut merged = serde_json::to_value(input).map_err(AppError::internal)?;
    merge(&mut merged, patch);
    serde_json::from_value(merged).map_err(|error| AppError::Invalid(error.to_string()))
}

fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    let serde_json::Value::Object(fields) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(object) = target {
        for (key, value) in fields {
            if value.is_null() {
                object.remove(&key);
            } else {
                merge(object.entry(key).or_insert(serde_json::Value::Null), value);
            }
        }
    }
}

/// How an operation reads a value written in its path or query string: as the text itself
/// (text, ids, timestamps, enum values), or as the JSON the text spells (numbers, booleans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexical {
    Text,
    Json,
}

/// Where an operation's input comes from: the path's parameters and the query string (each
/// field read as its [`Lexical`] says), and the JSON body's object, if the operation takes one.
#[derive(Debug, Default)]
pub struct OperationRequest {
    pub path: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<serde_json::Map<String, serde_json::Value>>,
}

impl OperationRequest {
    /// A request with nothing in it yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// With the path's parameters.
    #[must_use]
    pub fn path(mut self, path: Vec<(String, String)>) -> Self {
        self.path = path;
        self
    }

    /// With the query string's parameters.
    ///
    /// # Errors
    /// [`AppError::Invalid`] for a query string that is not `name=value` pairs.
    pub fn query(mut self, query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Self, AppError> {
        let Query(query) = query.map_err(|rejection| AppError::Invalid(rejection.body_text()))?;
        self.query = query;
        Ok(self)
    }

    /// With the JSON body, an object (read by [`Object`]).
    #[must_use]
    pub fn body(mut self, body: serde_json::Map<String, serde_json::Value>) -> Self {
        self.body = Some(body);
        self
    }

    /// The operation's input, read from the path, the query string and the body together.
    /// `fields` says how each field is spelled in a path or query string.
    ///
    /// # Errors
    /// [`AppError::Invalid`] when the body sets a field the path sets, and when the whole is no
    /// valid input (a missing or unknown field, a value of the wrong type).
    pub fn input<T: serde::de::DeserializeOwned>(self, fields: &[(&str, Lexical)]) -> Result<T, AppError> {
        let mut object = self.body.unwrap_or_default();
        for (name, raw) in &self.path {
            if object.contains_key(name) {
                return Err(AppError::Invalid(format!("`{name}` is set by the path; leave it out of the body")));
            }
            object.insert(name.clone(), spelled(fields, name, raw));
        }
        for (name, raw) in &self.query {
            if object.insert(name.clone(), spelled(fields, name, raw)).is_some() {
                return Err(AppError::Invalid(format!("`{name}` is given twice")));
            }
        }
        serde_json::from_value(serde_json::Value::Object(object)).map_err(|error| AppError::Invalid(error.to_string()))
    }
}

/// The JSON value `raw` stands for in field `name`: a number or boolean when the field is one
/// and `raw` spells one, else the text (which the field then refuses with a clear message).
fn spelled(fields: &[(&str, Lexical)], name: &str, raw: &str) -> serde_json::Value {
    let lexical = fields.iter().find(|(field, _)| *field == name).map_or(Lexical::Text, |(_, lexical)| *lexical);
    match lexical {
        Lexical::Json => serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned())),
        Lexical::Text => serde_json::Value::String(raw.to_owned()),
    }
}

/// The version an `If-Match` header names (`"3"`, as the `ETag` gave it); `None` without one
/// or for `*`; [`version::NONE_OF_OURS`] for a value that is no version of ours (a weak or
/// foreign tag never matches), which the change is refused for (412) once the record is found
/// and the input read: a request that would fail anyway is told why, not that its precondition
/// failed (RFC 9110, section 13.2.1).
///
/// # Errors
/// [`AppError::PreconditionRequired`] without one when `required`.
pub fn if_match(headers: &HeaderMap, required: bool) -> Result<Option<i64>, AppError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return if required {
            Err(AppError::PreconditionRequired(
                "send `If-Match` with the `ETag` of the version this change is based on".to_owned(),
            ))
        } else {
            Ok(None)
        };
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let named = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|version| *version > 0);
    Ok(Some(named.unwrap_or(version::NONE_OF_OURS)))
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::time::Duration;

    use axum::extract::Path;
    use axum::extract::rejection::JsonRejection;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use axum::{Json, Router};

    use super::{body, id};
    use crate::error::{AppError, PROBLEM_JSON};
    use crate::server::{Parts, Readiness, Running};
    use crate::testing::{Reply, TestService};

    /// `api` served by the runtime as a service would be, with a 50 ms request timeout.
    async fn serve(api: Router) -> TestService<()> {
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
            grpc_descriptors: &[],
            background: Vec::new(),
        };
        let running = Running::bind("observed", &config, (), Readiness::new(), parts).await.unwrap();
        TestService::serve(running)
    }

    /// An operation's body is read by `Object`: anything but a JSON object is refused.
    #[tokio::test]
    async fn an_operation_body_is_a_json_object() {
        type Body = serde_json::Map<String, serde_json::Value>;
        let api = Router::new()
            .route("/api/op", post(|super::Object(body): super::Object<Body>| async move { Json(body.len()) }));
        let service = serve(api).await;
        let array = service.http("POST", "/api/op", Some("[1]")).await;
        assert_eq!(array.status, 422, "{array:?}");
        assert!(array.body.contains("JSON object"), "{array:?}");
        let object = service.http("POST", "/api/op", Some(r#"{"a": 1}"#)).await;
        assert_eq!((object.status, object.body.as_str()), (200, "1"), "{object:?}");
        service.stop().await.unwrap();
    }

    #[tokio::test]
    async fn every_api_request_is_timed_out_counted_and_failures_answer_problems() {
        let api = Router::new()
            .route("/api/slow/{id}", get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }))
            .route("/api/broken", get(|| async { Err::<(), _>(AppError::internal(anyhow::anyhow!("disk on fire"))) }))
            .route("/api/fine", get(|| async { "fine" }));
        let service = serve(api).await;

        let slow = service.http("GET", "/api/slow/7", None).await;
        assert_eq!(slow.status, 503, "{slow:?}");
        assert_eq!(slow.header("content-type"), Some(crate::error::PROBLEM_JSON), "{slow:?}");
        assert_eq!(slow.json()["code"], "unavailable");
        assert_eq!(slow.json()["detail"], "the request took longer than 50 ms");
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

    /// Asserts that `reply` is an RFC 9457 problem with `status` and `code`; returns its detail.
    fn problem(reply: &Reply, status: u16, code: &str) -> String {
        assert_eq!(reply.status, status, "{reply:?}");
        assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON), "{reply:?}");
        let body = reply.json();
        assert_eq!(body["type"], "about:blank", "{reply:?}");
        assert_eq!(body["status"], status, "{reply:?}");
        assert!(body["title"].as_str().is_some_and(|title| !title.is_empty()), "{reply:?}");
        assert_eq!(body["code"], code, "{reply:?}");
        body["detail"].as_str().expect("a detail").to_owned()
    }

    #[tokio::test]
    async fn every_error_response_is_a_problem_even_those_axum_answers_itself() {
        async fn create(payload: Result<Json<serde_json::Value>, JsonRejection>) -> Result<StatusCode, AppError> {
            body(payload)?;
            Ok(StatusCode::CREATED)
        }
        async fn get_one(Path(raw): Path<String>) -> Result<String, AppError> {
            Ok(id(&raw)?.to_string())
        }
        let api = Router::new()
            .route("/api/things", post(create))
            .route("/api/things/{id}", get(get_one))
            .route("/api/numbered/{n}", get(|Path(n): Path<u32>| async move { n.to_string() }));
        let service = serve(api).await;

        let detail = problem(&service.http("GET", "/api/nowhere", None).await, 404, "not_found");
        assert_eq!(detail, "no route matches this path");
        let wrong_method = service.http("DELETE", "/api/things", None).await;
        problem(&wrong_method, 405, "method_not_allowed");
        assert_eq!(wrong_method.header("allow"), Some("POST"), "{wrong_method:?}");
        let not_json = service.http_as("POST", "/api/things", "text/plain", Some("{}")).await;
        let detail = problem(&not_json, 415, "unsupported_media_type");
        assert!(detail.contains("application/json"), "{detail}");
        let broken = service.http("POST", "/api/things", Some("{\"a\":")).await;
        problem(&broken, 422, "invalid_argument");
        let huge = format!("[{}0]", "0,".repeat(1_100_000));
        problem(&service.http("POST", "/api/things", Some(&huge)).await, 413, "payload_too_large");
        problem(&service.http("GET", "/api/things/not-a-uuid", None).await, 422, "invalid_argument");
        // A rejection axum writes as plain text keeps its text as the detail.
        let detail = problem(&service.http("GET", "/api/numbered/x", None).await, 400, "invalid_argument");
        assert!(detail.contains("parse"), "{detail}");

        assert_eq!(service.http("POST", "/api/things", Some("{}")).await.status, 201);
        let health = service.http("GET", "/healthz", None).await;
        assert_eq!(health.header("content-type"), Some("application/json"), "probes are not errors");
        let metrics = service.http("GET", "/metrics", None).await.body;
        let line = r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#;
        assert!(metrics.contains(line), "no `{line}` in\n{metrics}");
        service.stop().await.unwrap();
    }
}

#[cfg(test)]
mod plain_tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::{Lexical, OperationRequest, if_match};

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_merge_patch_replaces_removes_and_merges_as_rfc_7396_says() {
        use serde_json::json;
        // The examples of RFC 7396, section 3, on a map (the input types of services are structs).
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
        ];
        for (input, patch, expected) in cases {
            let input = input.as_object().cloned().expect("an object");
            let merged = super::merge_patch(&input, patch.clone()).unwrap();
            assert_eq!(serde_json::Value::Object(merged), expected, "{input:?} + {patch}");
        }
        #[derive(Debug, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Input {
            name: String,
        }
        let input = Input { name: "a".into() };
        for bad in [json!({"name": null}), json!({"name": 3}), json!({"nope": 1})] {
            let error = super::merge_patch(&input, bad.clone()).unwrap_err();
            assert_eq!(error.status().as_u16(), 422, "{bad}");
        }
    }

    #[test]
    fn if_match_names_a_version_as_the_etag_gave_it() {
        assert_eq!(if_match(&headers("\"3\""), true).unwrap(), Some(3));
        assert_eq!(if_match(&headers("*"), true).unwrap(), None);
        assert_eq!(if_match(&HeaderMap::new(), false).unwrap(), None);
        assert_eq!(if_match(&HeaderMap::new(), true).unwrap_err().status().as_u16(), 428);
        for foreign in ["W/\"3\"", "3", "\"x\"", "\"0\"", ""] {
            let version = if_match(&headers(foreign), false).unwrap();
            assert_eq!(version, Some(crate::error::version::NONE_OF_OURS), "{foreign}");
            let stale = crate::error::version::check(version, 1, "x").unwrap_err();
            assert_eq!(stale.status().as_u16(), 412, "{foreign}");
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Quote {
        id: uuid::Uuid,
        seats: i32,
        express: bool,
        #[serde(default)]
        note: Option<String>,
    }

    const QUOTE: &[(&str, Lexical)] =
        &[("id", Lexical::Text), ("seats", Lexical::Json), ("express", Lexical::Json), ("note", Lexical::Text)];

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn an_operation_reads_its_input_from_path_query_and_body_by_type() {
        let id = "0191d5c4-8a2e-7f3b-9c1d-2e4f6a8b0c1d";
        let request = OperationRequest {
            path: pairs(&[("id", id)]),
            query: pairs(&[("seats", "3"), ("note", "42")]),
            body: object(serde_json::json!({ "express": true })),
        };
        let quote: Quote = request.input(QUOTE).unwrap();
        assert_eq!(quote, Quote { id: id.parse().unwrap(), seats: 3, express: true, note: Some("42".into()) });

        let refused = |request: OperationRequest| request.input::<Quote>(QUOTE).unwrap_err();
        let typed = refused(OperationRequest {
            path: pairs(&[("id", id)]),
            query: pairs(&[("seats", "three"), ("express", "true")]),
            body: None,
        });
        assert_eq!(typed.status().as_u16(), 422);
        assert!(typed.to_string().contains("three"), "{typed}");
        let twice = OperationRequest {
            path: pairs(&[("id", id)]),
            body: object(serde_json::json!({ "id": id, "seats": 1, "express": false })),
            ..Default::default()
        };
        assert!(refused(twice).to_string().contains("set by the path"));
        let unknown = OperationRequest {
            path: pairs(&[("id", id)]),
            query: pairs(&[("seats", "1"), ("express", "false"), ("colour", "red")]),
            body: None,
        };
        assert!(refused(unknown).to_string().contains("colour"));
    }

    fn object(value: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
        value.as_object().cloned()
    }
}

#[cfg(test)]
mod list_query_tests {
    #[test]
    fn a_list_query_takes_paging_and_its_filters_only() {
        use axum::extract::Query;

        use super::ListQuery;
        use crate::error::AppError;
        let parse = |pairs: &[(&str, &str)], filters: &[&str]| {
            let pairs = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            ListQuery::parse(Ok(Query(pairs)), filters)
        };
        let id = uuid::Uuid::now_v7().to_string();
        let query =
            parse(&[("page_size", "2"), ("page_token", &id), ("order_id", &id), ("n", "7")], &["order_id", "n"])
                .expect("valid");
        assert_eq!((query.page_size, query.after.map(|a| a.to_string())), (2, Some(id.clone())));
        assert_eq!(query.filter::<uuid::Uuid>("order_id").expect("a UUID").map(|u| u.to_string()), Some(id));
        assert_eq!(query.filter::<i32>("n").expect("a number"), Some(7));
        assert_eq!(query.filter::<bool>("absent").expect("absent"), None);
        assert!(matches!(query.filter::<bool>("n"), Err(AppError::Invalid(_))), "7 is no bool");
        for (pairs, why) in [
            (&[("nope", "1")][..], "unknown parameter"),
            (&[("order_id", "a"), ("order_id", "b")][..], "given twice"),
            (&[("page_size", "-1")][..], "negative size"),
            (&[("page_token", "x")][..], "malformed token"),
        ] {
            assert!(matches!(parse(pairs, &["order_id"]), Err(AppError::Invalid(_))), "{why}");
        }
        match parse(&[("order_idd", "1")], &["order_id"]) {
            Err(AppError::Invalid(text)) => assert!(text.contains("`order_id`"), "names what it takes: {text}"),
            other => panic!("a misspelt filter is refused: {other:?}"),
        }
    }
}
