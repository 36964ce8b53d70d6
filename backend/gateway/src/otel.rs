//! OpenTelemetry traces of proxied calls, exported over OTLP (HTTP/protobuf or gRPC) in batches from a task on the
//! Tokio runtime, so exporting never blocks a request. Spans are made with the OpenTelemetry API directly: one
//! SERVER span per call named `{gen_ai.operation.name} {gen_ai.request.model}`, INTERNAL children for
//! authentication, limits and routing, and one CLIENT child per upstream attempt, whose context is sent to the
//! provider as W3C `traceparent` / `tracestate` (continuing the caller's trace when it sent one). Attributes follow
//! the GenAI semantic conventions, plus `switchyard.*`.
//!
//! A full export queue or a failing collector only drops spans, counted in [`SpanStats`] and shown on `/metrics`.
//! With tracing off, a [`CallTrace`] is an empty handle and every method returns at once.

use crate::catalog::{Deployment, ProviderKind};
use crate::config::TracingSettings;
pub use crate::redact::redact;

/// Most characters of captured content per span attribute.
pub const CONTENT_LIMIT: usize = 16 * 1024;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
    SpanProcessor,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Spans waiting for export, and those dropped.
#[derive(Debug, Default)]
pub struct SpanStats {
    /// Dropped because the export queue was full.
    pub dropped_queue_full: AtomicU64,
    /// In batches the collector did not accept (or could not be reached for).
    pub dropped_export_failed: AtomicU64,
    /// Ended spans not yet exported or failed.
    pub waiting: AtomicU64,
}

/// The tracer, its provider and the propagator.
#[derive(Debug)]
pub struct Tracing {
    tracer: SdkTracer,
    provider: SdkTracerProvider,
    propagator: TraceContextPropagator,
    pub stats: Arc<SpanStats>,
    capture_content: bool,
    /// Tool calls the model asked for, by (tenant, tool-call id): the function and when the answer asking for it
    /// ended, so the call that sends the result back can show the tool's execution as a span. Per replica.
    tool_calls: moka::sync::Cache<(uuid::Uuid, String), (String, SystemTime)>,
}

/// How long a requested tool call is remembered for its `execute_tool` span.
const TOOL_CALL_MEMORY: Duration = Duration::from_secs(3600);

impl Tracing {
    /// Starts the exporter when tracing is on (the settings, else an OTLP endpoint in the environment, and not
    /// `OTEL_SDK_DISABLED=true`). Must run inside the Tokio runtime that will carry the exports.
    pub fn init(settings: &TracingSettings) -> anyhow::Result<Option<Arc<Self>>> {
        if !settings.is_enabled() {
            return Ok(None);
        }
        let stats = Arc::new(SpanStats::default());
        let protocol = settings.protocol();
        let endpoint = settings.endpoint();
        let exporter = match protocol {
            OtlpProtocol::Grpc => {
                let mut builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_timeout(settings.export_timeout);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                builder.build()?
            }
            OtlpProtocol::HttpProtobuf => {
                let mut builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_timeout(settings.export_timeout);
                if let Some(endpoint) = endpoint {
                    // A configured base URL gets the signal path, as OTEL_EXPORTER_OTLP_ENDPOINT does.
                    let url = if endpoint.ends_with("/v1/traces") {
                        endpoint
                    } else {
                        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
                    };
                    builder = builder.with_endpoint(url);
                }
                builder.build()?
            }
        };
        let exporter = CountingExporter {
            inner: exporter,
            stats: Arc::clone(&stats),
            // One attempt plus the exporter's retries; the batch processor gives up after 30 s by default.
            limit: (settings.export_timeout * 2).min(Duration::from_secs(25)),
        };
        let batch = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(settings.max_queue_size)
                .with_scheduled_delay(settings.export_interval)
                .build(),
        )
        .build();
        let processor = BoundedProcessor {
            inner: batch,
            stats: Arc::clone(&stats),
            max_queue: u64::try_from(settings.max_queue_size).unwrap_or(u64::MAX),
        };
        let mut builder = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(
                Resource::builder()
                    .with_service_name(
                        std::env::var("OTEL_SERVICE_NAME")
                            .unwrap_or_else(|_| settings.service_name.clone()),
                    )
                    .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                    .build(),
            );
        // OTEL_TRACES_SAMPLER, when set, is read by the SDK itself; the setting applies otherwise.
        if std::env::var_os("OTEL_TRACES_SAMPLER").is_none() {
            builder = builder.with_sampler(Sampler::ParentBased(Box::new(
                Sampler::TraceIdRatioBased(settings.sample_ratio),
            )));
        }
        let provider = builder.build();
        let tracer = provider.tracer_with_scope(
            InstrumentationScope::builder("switchyard")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        tracing::info!(protocol = protocol.as_str(), "exporting traces over OTLP");
        Ok(Some(Arc::new(Self {
            tracer,
            provider,
            propagator: TraceContextPropagator::new(),
            stats,
            capture_content: settings.capture_content,
            tool_calls: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOOL_CALL_MEMORY)
                .build(),
        })))
    }

    /// Exports what is queued and stops. Blocks: call it off the async workers.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!(error = %e, "trace exporter did not shut down cleanly");
        }
    }

    /// Exports what is queued now (tests and shutdown).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "trace flush failed");
        }
    }

    /// Whether prompt and completion content is recorded (redacted).
    pub fn captures_content(&self) -> bool {
        self.capture_content
    }
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    Grpc,
}

impl OtlpProtocol {
    /// Parses `http/protobuf` or `grpc` (the `OTEL_EXPORTER_OTLP_PROTOCOL` values the gateway supports).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" | "http" => Some(Self::HttpProtobuf),
            "grpc" => Some(Self::Grpc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::Grpc => "grpc",
        }
    }
}

/// Counts exported and failed spans. Each export is bounded here, well inside the batch processor's own
/// export time-out, so no batch ends uncounted (which would leave `BoundedProcessor` believing it still waits).
#[derive(Debug)]
struct CountingExporter {
    inner: opentelemetry_otlp::SpanExporter,
    stats: Arc<SpanStats>,
    limit: Duration,
}

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = match tokio::time::timeout(self.limit, self.inner.export(batch)).await {
            Ok(result) => result,
            Err(_) => Err(opentelemetry_sdk::error::OTelSdkError::Timeout(self.limit)),
        };
        let _ = self
            .stats
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                Some(w.saturating_sub(n))
            });
        if let Err(e) = &result {
            tracing::debug!(error = %e, spans = n, "trace export failed; spans dropped");
            self.stats
                .dropped_export_failed
                .fetch_add(n, Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Drops (and counts) spans once `max_queue` are waiting for export, so the batch processor's own queue (of the
/// same size) never fills unseen. A span waits from its end until its batch is exported or has failed.
#[derive(Debug)]
struct BoundedProcessor<P> {
    inner: P,
    stats: Arc<SpanStats>,
    max_queue: u64,
}

impl<P: SpanProcessor> SpanProcessor for BoundedProcessor<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        // Reserve a place atomically: concurrent ends cannot both take the last one.
        let reserved =
            self.stats
                .waiting
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                    (waiting < self.max_queue).then_some(waiting + 1)
                });
        if reserved.is_err() {
            self.stats
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut Vec<crate::upstream::ForwardedHeader>);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` (the caller sent none) is left out rather than sent empty.
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(key.as_bytes()),
            reqwest::header::HeaderValue::from_str(&value),
        ) {
            self.0.retain(|(n, _)| *n != name);
            self.0.push((name, value));
        }
    }
}

/// The GenAI `gen_ai.provider.name` of a provider kind.
pub fn genai_provider(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OpenAi => "openai",
        ProviderKind::Azure => "azure.ai.openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Gemini => "gcp.gemini",
    }
}

/// The trace of one proxied call; empty when tracing is off. Cheap to clone.
#[derive(Clone, Default)]
pub struct CallTrace(Option<Arc<CallTraceInner>>);

struct CallTraceInner {
    tracing: Arc<Tracing>,
    /// Holds the server span.
    cx: Context,
    operation: &'static str,
    started: SystemTime,
}

impl CallTrace {
    /// Starts the server span of a call, continuing the caller's `traceparent` when there is one.
    pub fn start(
        tracing: Option<&Arc<Tracing>>,
        req: &actix_web::HttpRequest,
        operation: &'static str,
    ) -> Self {
        let Some(tracing) = tracing else {
            return Self(None);
        };
        let started = SystemTime::now();
        let parent = tracing.propagator.extract(&HeaderExtractor(req.headers()));
        let span = tracing
            .tracer
            .span_builder(operation)
            .with_kind(SpanKind::Server)
            .with_start_time(started)
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", operation),
                KeyValue::new("http.request.method", req.method().to_string()),
                KeyValue::new("url.path", req.path().to_owned()),
            ])
            .start_with_context(&tracing.tracer, &parent);
        Self(Some(Arc::new(CallTraceInner {
            tracing: Arc::clone(tracing),
            cx: parent.with_span(span),
            operation,
            started,
        })))
    }

    /// Whether spans of this call are recorded (tracing on and the call sampled).
    pub fn is_recording(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|inner| inner.cx.span().is_recording())
    }

    /// Names the span after the requested model, as the GenAI conventions ask.
    pub fn set_model(&self, model: &str) {
        let Some(inner) = self.recording() else {
            return;
        };
        let span = inner.cx.span();
        span.update_name(format!("{} {model}", inner.operation));
        span.set_attribute(KeyValue::new("gen_ai.request.model", model.to_owned()));
    }

    /// Adds attributes to the server span; `attributes` runs only when the call is recorded.
    pub fn set(&self, attributes: impl FnOnce() -> Vec<KeyValue>) {
        if let Some(inner) = self.recording() {
            inner.cx.span().set_attributes(attributes());
        }
    }

    /// Records a finished phase (`authenticate`, `check_limits`, `route`) as a child span from `started` to now.
    pub fn phase(
        &self,
        name: &'static str,
        started: SystemTime,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) {
        let Some(inner) = self.recording() else {
            return;
        };
        let mut span = inner
            .tracing
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_start_time(started)
            .with_attributes(attributes())
            .start_with_context(&inner.tracing.tracer, &inner.cx);
        span.end();
    }

    /// Starts the CLIENT span of one upstream attempt and writes its `traceparent` / `tracestate` into the
    /// headers sent to the provider. With tracing off the caller's own trace headers pass through untouched
    /// (see `ProxyState::forwarded_headers`).
    pub fn attempt(
        &self,
        deployment: &Deployment,
        headers: &mut Vec<crate::upstream::ForwardedHeader>,
    ) -> AttemptTrace {
        let Some(inner) = &self.0 else {
            return AttemptTrace(None);
        };
        let tracer = &inner.tracing.tracer;
        let mut builder = tracer
            .span_builder(format!("{} {}", inner.operation, deployment.upstream_model))
            .with_kind(SpanKind::Client);
        if inner.cx.span().is_recording() {
            let host = deployment
                .urls
                .chat
                .host_str()
                .unwrap_or_default()
                .to_owned();
            builder = builder.with_attributes([
                KeyValue::new("gen_ai.operation.name", inner.operation),
                KeyValue::new(
                    "gen_ai.provider.name",
                    genai_provider(deployment.provider.kind),
                ),
                KeyValue::new("gen_ai.request.model", deployment.upstream_model.clone()),
                KeyValue::new("server.address", host),
                KeyValue::new(
                    "server.port",
                    i64::from(deployment.urls.chat.port_or_known_default().unwrap_or(0)),
                ),
                KeyValue::new("switchyard.deployment.id", deployment.id.to_string()),
                KeyValue::new("switchyard.region", deployment.region.clone()),
                KeyValue::new("switchyard.provider", deployment.provider.name.clone()),
            ]);
        }
        let span = builder.start_with_context(tracer, &inner.cx);
        // Unsampled spans still carry valid ids, so the provider's side can join the trace if it samples.
        let attempt_cx = Context::new().with_remote_span_context(span.span_context().clone());
        inner
            .tracing
            .propagator
            .inject_context(&attempt_cx, &mut HeaderInjector(headers));
        AttemptTrace(Some(span))
    }

    /// One `execute_tool {name}` span per tool result this call sends back whose tool call this replica saw
    /// asked for: from the end of the answer that asked for it to the start of this call (the time the caller
    /// spent running the tool).
    pub fn tool_results(&self, tenant: uuid::Uuid, results: &[String]) {
        let Some(inner) = self.recording() else {
            return;
        };
        for id in results {
            // Taken, not read: a result sent back again (a retried call) does not repeat the tool's span.
            let Some((name, asked_at)) = inner.tracing.tool_calls.remove(&(tenant, id.clone()))
            else {
                continue;
            };
            let tracer = &inner.tracing.tracer;
            let mut span = tracer
                .span_builder(if name.is_empty() {
                    "execute_tool".to_owned()
                } else {
                    format!("execute_tool {name}")
                })
                .with_kind(SpanKind::Internal)
                .with_start_time(asked_at.min(inner.started))
                .with_attributes([
                    KeyValue::new("gen_ai.operation.name", "execute_tool"),
                    KeyValue::new("gen_ai.tool.name", name),
                    KeyValue::new("gen_ai.tool.call.id", id.clone()),
                    KeyValue::new("gen_ai.tool.type", "function"),
                ])
                .start_with_context(tracer, &inner.cx);
            span.end_with_timestamp(inner.started);
        }
    }

    /// At the end of a call: an `invoke_agent {agent}` span over the call when it names its agent, and the tool
    /// calls its answer asked for remembered for their `execute_tool` spans.
    pub fn agent_step(
        &self,
        tenant: uuid::Uuid,
        agent: Option<&str>,
        session: Option<&str>,
        tool_calls: &[(String, String)],
    ) {
        let Some(inner) = self.recording() else {
            return;
        };
        let now = SystemTime::now();
        for (id, name) in tool_calls {
            inner
                .tracing
                .tool_calls
                .insert((tenant, id.clone()), (name.clone(), now));
        }
        let Some(agent) = agent else {
            return;
        };
        let tracer = &inner.tracing.tracer;
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.agent.id", agent.to_owned()),
            KeyValue::new("gen_ai.agent.name", agent.to_owned()),
        ];
        if let Some(session) = session {
            attributes.push(KeyValue::new("gen_ai.conversation.id", session.to_owned()));
        }
        let mut span = tracer
            .span_builder(format!("invoke_agent {agent}"))
            .with_kind(SpanKind::Internal)
            .with_start_time(inner.started)
            .with_attributes(attributes)
            .start_with_context(tracer, &inner.cx);
        span.end_with_timestamp(now);
    }

    /// Ends the server span: its outcome, and an error status for anything but a success.
    pub fn finish(&self, status: u16, error_type: Option<&str>, message: Option<&str>) {
        let Some(inner) = &self.0 else {
            return;
        };
        let span = inner.cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if let Some(kind) = error_type {
                span.set_attribute(KeyValue::new("error.type", kind.to_owned()));
                span.set_status(Status::error(message.unwrap_or(kind).to_owned()));
            }
        }
        span.end();
    }

    /// Whether prompt and completion content should be recorded on this call.
    pub fn captures_content(&self) -> bool {
        self.recording()
            .is_some_and(|inner| inner.tracing.captures_content())
    }

    fn recording(&self) -> Option<&CallTraceInner> {
        self.0
            .as_deref()
            .filter(|inner| inner.cx.span().is_recording())
    }
}

/// The span of one upstream attempt.
pub struct AttemptTrace(Option<opentelemetry_sdk::trace::Span>);

impl AttemptTrace {
    /// Ends the attempt: answered, or failed with a reason (`upstream_error`, `rate_limited` …).
    pub fn end(mut self, status: Option<u16>, failure: Option<(&str, &str)>) {
        let Some(span) = &mut self.0 else {
            return;
        };
        if span.is_recording() {
            if let Some(status) = status {
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
            }
            if let Some((reason, message)) = failure {
                span.set_attribute(KeyValue::new("error.type", reason.to_owned()));
                span.set_status(Status::error(message.to_owned()));
            }
        }
        span.end();
    }
}
