//! Prometheus metrics: `http_requests_total` and `http_request_duration_seconds` by method,
//! route template (never the raw path, so ids do not explode the label set) and status;
//! `http_errors_total` for 5xx; `grpc_requests_total` by method and code.
//!
//! The request histogram is this module's own: fixed buckets of atomic counters, so recording
//! a request is three relaxed atomic adds. (The exporter's histograms keep every sample until
//! the next scrape or upkeep, which load tests showed as most of the per-request cost.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide recorder, installed once (a second install would fail, and tests start
/// the service many times in one process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("duration_seconds".to_owned()), LATENCY_BUCKETS)
                    .unwrap_or_else(|_| PrometheusBuilder::new())
            };
            builder().install_recorder().unwrap_or_else(|error| {
                tracing::warn!(%error, "another metrics recorder is installed; /metrics will be empty");
                builder().build_recorder().handle()
            })
        })
        .clone()
}

/// Keeps histograms from growing without bound; run in the background.
pub async fn upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// Metric handles per worker thread: looking a metric up in the registry hashes its name and
/// labels, which showed up in load tests; a cached handle is one atomic add. Labels are
/// `&'static str`, so nothing is allocated per request.
type Counters = HashMap<(&'static str, &'static str, &'static str), metrics::Counter>;
type Histograms = HashMap<(&'static str, &'static str), Arc<Histogram>>;

thread_local! {
    static COUNTERS: RefCell<Counters> = RefCell::new(HashMap::new());
    static HISTOGRAMS: RefCell<Histograms> = RefCell::new(HashMap::new());
    static ROUTES: RefCell<HashMap<Box<str>, &'static str>> = RefCell::new(HashMap::new());
}

/// Every request histogram, by (method, route), for rendering.
static ALL_HISTOGRAMS: Mutex<Vec<(&'static str, &'static str, Arc<Histogram>)>> = Mutex::new(Vec::new());

/// Request durations in fixed buckets ([`LATENCY_BUCKETS`] and +Inf), each a plain count.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The histogram in Prometheus's text format, buckets cumulative.
    fn render(&self, method: &str, route: &str, out: &mut String) {
        let labels = format!("method=\"{method}\",route=\"{}\"", route.replace('\\', "\\\\").replace('"', "\\\""));
        let mut cumulative = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = LATENCY_BUCKETS.get(i).map_or_else(|| "+Inf".to_owned(), ToString::to_string);
            let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        #[allow(clippy::cast_precision_loss)]
        // nanoseconds summed; f64 keeps them to well under a microsecond for years
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "http_request_duration_seconds_count{{{labels}}} {cumulative}");
    }
}

fn histogram(method: &'static str, route: &'static str) -> Arc<Histogram> {
    HISTOGRAMS.with(|local| {
        local
            .borrow_mut()
            .entry((method, route))
            .or_insert_with(|| {
                let mut all = ALL_HISTOGRAMS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some((.., shared)) = all.iter().find(|(m, r, _)| *m == method && *r == route) {
                    return shared.clone();
                }
                let shared = Arc::new(Histogram::default());
                all.push((method, route, shared.clone()));
                shared
            })
            .clone()
    })
}

/// Everything `/metrics` serves: the exporter's metrics and the request histograms.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut out = handle.render();
    let all = ALL_HISTOGRAMS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !all.is_empty() {
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (method, route, histogram) in all.iter() {
            histogram.render(method, route, &mut out);
        }
    }
    out
}

/// What one request costs to observe, measured once: its route and method as labels, then
/// after the response its status, duration and (for 5xx) an error count.
pub(crate) struct Observed {
    start: Instant,
    pub(crate) method: &'static str,
    pub(crate) route: &'static str,
}

impl Observed {
    pub(crate) fn start(request: &Request) -> Self {
        let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |path| route_label(path.as_str()));
        Self { start: Instant::now(), method: method_label(request.method()), route }
    }

    /// Records the response; returns how long the request took.
    pub(crate) fn finish(self, response: &Response) -> Duration {
        let elapsed = self.start.elapsed();
        let status = response.status();
        let key = (self.method, self.route, status_label(status));
        COUNTERS.with(|counters| {
            let mut counters = counters.borrow_mut();
            let requests = counters.entry(key).or_insert_with(|| {
                let labels = [("method", key.0), ("route", key.1), ("status", key.2)];
                metrics::counter!("http_requests_total", &labels)
            });
            requests.increment(1);
        });
        histogram(self.method, self.route).record(elapsed);
        if status.is_server_error() {
            let labels = [("method", key.0), ("route", key.1), ("status", key.2)];
            metrics::counter!("http_errors_total", &labels).increment(1);
        }
        elapsed
    }
}

/// A route template as a static label. A service has a fixed, small set of routes, so each
/// is leaked once for the life of the process (shared by every thread) and then found in a
/// per-thread map without locking or allocating.
fn route_label(template: &str) -> &'static str {
    if let Some(label) = ROUTES.with(|routes| routes.borrow().get(template).copied()) {
        return label;
    }
    static INTERNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let label = {
        let mut interned = INTERNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match interned.iter().find(|label| **label == template) {
            Some(label) => *label,
            None => {
                let label: &'static str = Box::leak(template.into());
                interned.push(label);
                label
            }
        }
    };
    ROUTES.with(|routes| routes.borrow_mut().insert(template.into(), label));
    label
}

fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

fn status_label(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        500 => "500",
        503 => "503",
        100..=199 => "1xx",
        202..=203 | 205..=299 => "2xx",
        300..=399 => "3xx",
        401..=403 | 406..=408 | 410..=412 | 414 | 416..=421 | 423..=499 => "4xx",
        _ => "5xx",
    }
}

/// Records one gRPC call.
pub fn grpc<T>(method: &'static str, result: &Result<T, tonic::Status>) {
    let code = match result {
        Ok(_) => "OK",
        Err(status) => grpc_code_label(status.code()),
    };
    metrics::counter!("grpc_requests_total", "method" => method, "code" => code).increment(1);
}

fn grpc_code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_a_small_fixed_set() {
        assert_eq!(status_label(axum::http::StatusCode::IM_A_TEAPOT), "4xx");
        assert_eq!(status_label(axum::http::StatusCode::NOT_FOUND), "404");
        assert_eq!(status_label(axum::http::StatusCode::BAD_GATEWAY), "5xx");
        assert_eq!(method_label(&axum::http::Method::CONNECT), "other");
        let first = route_label("/api/orders/{id}");
        let again = route_label(&String::from("/api/orders/{id}"));
        assert!(std::ptr::eq(first, again), "a route is interned once");
        assert_eq!(format!("{:?}", tonic::Code::FailedPrecondition), grpc_code_label(tonic::Code::FailedPrecondition));
    }

    #[test]
    fn request_durations_render_as_a_cumulative_prometheus_histogram() {
        let histogram = Histogram::default();
        histogram.record(Duration::from_micros(500));
        histogram.record(Duration::from_millis(3));
        histogram.record(Duration::from_secs(60));
        let mut out = String::new();
        histogram.render("GET", "/api/orders/{id}", &mut out);
        let labels = r#"method="GET",route="/api/orders/{id}""#;
        assert!(out.contains(&format!("http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 1\n")), "{out}");
        assert!(out.contains(&format!("http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 2\n")), "{out}");
        assert!(out.contains(&format!("http_request_duration_seconds_bucket{{{labels},le=\"10\"}} 2\n")), "{out}");
        assert!(out.contains(&format!("http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3\n")), "{out}");
        assert!(out.contains(&format!("http_request_duration_seconds_count{{{labels}}} 3\n")), "{out}");
        assert!(out.contains(&format!("http_request_duration_seconds_sum{{{labels}}} 60.0035\n")), "{out}");
    }
}
