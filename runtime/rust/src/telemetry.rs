//! Logs and traces. Logs are JSON lines on stdout, filtered by `RUST_LOG` (default `info`).
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the OpenTelemetry standard variable, e.g.
//! `http://127.0.0.1:4318`), spans are also exported over OTLP/HTTP (protobuf, to
//! `<endpoint>/v1/traces`), named by `OTEL_SERVICE_NAME` (default: the service name).
//! While spans are exported, every server span joins the trace of a W3C `traceparent` header in
//! the request, and every outgoing gRPC call carries one, so a trace follows a request across
//! services. A service that exports nothing neither reads nor passes on trace context, which
//! saves a look-up in OpenTelemetry's global propagator per request. Events carry the trace
//! context in their `traceparent` header the same way ([`traceparent`], [`join_trace`]). Server
//! and event spans record their `trace_id` and `span_id`, so every log line inside names them.

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Keeps the trace exporter alive; call [`Telemetry::shutdown`] to flush it.
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Installs logging (and tracing export when configured). Call once, inside the runtime.
/// Whether spans leave the process: only then is the caller's trace context worth reading and
/// passing on (a lookup in OpenTelemetry's global propagator per request otherwise).
#[cfg(feature = "otel")]
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether spans are exported (OTLP configured and the `otel` feature on).
pub(crate) fn exporting() -> bool {
    #[cfg(feature = "otel")]
    return EXPORTING.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(feature = "otel"))]
    false
}

pub fn init(service: &'static str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().json().with_current_span(true).boxed();
    #[cfg(feature = "otel")]
    {
        let provider = otlp_provider(service);
        let traces = provider.as_ref().map(|provider| {
            use opentelemetry::trace::TracerProvider as _;
            tracing_opentelemetry::layer().with_tracer(provider.tracer(service))
        });
        let _ = tracing_subscriber::registry().with(filter).with(logs).with(traces).try_init();
        Telemetry { provider }
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = service;
        let _ = tracing_subscriber::registry().with(filter).with(logs).try_init();
        Telemetry {}
    }
}

#[cfg(feature = "otel")]
fn otlp_provider(service: &'static str) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig as _;
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty())?;
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(std::time::Duration::from_secs(5))
        .build();
    let exporter = match exporter {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("OTLP export disabled: {error}");
            return None;
        }
    };
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(name).build();
    // The batch processor on the Tokio runtime: the HTTP client is async, and the SDK's default
    // processor would call it from a thread without a runtime.
    let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
        exporter,
        opentelemetry_sdk::runtime::Tokio,
    )
    .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
    Some(provider)
}

impl Telemetry {
    /// Flushes spans not yet exported. Blocking in the SDK, so run off the async threads.
    pub async fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// Makes `span` a child of the trace context in `headers` (`traceparent`), if there is one,
/// and records its ids in its `trace_id` and `span_id` fields (see [`join_trace`]).
pub fn set_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    #[cfg(feature = "otel")]
    if exporting() {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let parent =
            opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
        let _ = span.set_parent(parent);
        record_ids(span);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, headers);
}

/// Writes the current span's trace context (`traceparent`) into outgoing gRPC metadata.
pub fn inject_context(metadata: &mut tonic::metadata::MetadataMap) {
    #[cfg(feature = "otel")]
    if exporting() {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let context = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut MetadataInjector(metadata));
        });
    }
    #[cfg(not(feature = "otel"))]
    let _ = metadata;
}

/// The W3C trace context (`traceparent`) of `span`, when it is part of a trace: what an event
/// published inside it carries, so the trace continues in the consumer. Unlike requests, events
/// carry it whether or not spans are exported here (another service may export them).
#[must_use]
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::propagation::TextMapPropagator as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let mut carrier = std::collections::HashMap::new();
        opentelemetry_sdk::propagation::TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
        carrier.remove("traceparent")
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = span;
        None
    }
}

/// Makes `span` a child of the trace context `traceparent` (an event's), if there is one, and
/// records the trace and span ids in its `trace_id` and `span_id` fields, so every log line
/// inside it names them.
pub fn join_trace(span: &tracing::Span, traceparent: Option<&str>) {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::propagation::TextMapPropagator as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        if let Some(traceparent) = traceparent {
            let carrier = std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
            let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
            let _ = span.set_parent(parent);
        }
        record_ids(span);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, traceparent);
}

/// Records the trace and span ids of `span` in its `trace_id` and `span_id` fields (a span
/// without them ignores this), so the JSON log lines inside it name them.
#[cfg(feature = "otel")]
fn record_ids(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    let ids = context.span().span_context().clone();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
}

#[cfg(feature = "otel")]
struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

#[cfg(feature = "otel")]
impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

#[cfg(feature = "otel")]
struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

#[cfg(feature = "otel")]
impl opentelemetry::propagation::Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}
