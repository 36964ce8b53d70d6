//! Prometheus metrics (`GET /metrics`): what every call cost and how it went, per tenant, model and provider;
//! latency and time-to-first-token histograms; upstream attempts per deployment; and, read at scrape time, the
//! circuit state and in-flight calls of every deployment and the usage pipeline's queue and spool.
//!
//! Cardinality is bounded: per-call series are keyed by (tenant, model, provider) and at most
//! `metrics.max_label_sets` such triples get their own series; later ones are counted under
//! `tenant="other", model="other"` (with their provider) and in `switchyard_metrics_label_overflow_total`.
//! Latency histograms carry no tenant label, attempts are keyed by deployment (bounded by the catalog).

use crate::catalog::Catalog;
use crate::usage::{UsageSink, WriterStats};
use prometheus::{
    CounterVec, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Latency buckets in seconds (the GenAI semantic conventions' advice for operation duration).
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Time-to-first-token buckets in seconds.
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The label value of folded series.
const OTHER: &str = "other";

/// One finished call, as the metrics see it.
pub struct CallSample<'a> {
    pub tenant: Uuid,
    pub model: &'a str,
    pub provider: &'a str,
    pub endpoint: &'a str,
    pub status: u16,
    pub outcome: &'a str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// In currency units.
    pub cost: f64,
    pub seconds: f64,
    pub ttft_seconds: Option<f64>,
}

/// The gateway's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    tokens: IntCounterVec,
    cost: CounterVec,
    duration: HistogramVec,
    ttft: HistogramVec,
    attempts: IntCounterVec,
    overflow: IntCounter,
    circuit: IntGaugeVec,
    in_flight: IntGaugeVec,
    queue_depth: Gauge,
    spool_files: Gauge,
    written: Gauge,
    spooled: Gauge,
    dropped_spans: GaugeVec,
    budget_spend: GaugeVec,
    budget_limit: GaugeVec,
    budget_utilisation: GaugeVec,
    /// Hashes of the (tenant, model, provider) sets with their own series (a hash, so checking one allocates
    /// nothing on the call path).
    label_sets: Mutex<HashSet<u64>>,
    max_label_sets: usize,
    /// With `/metrics` off, calls record nothing.
    enabled: bool,
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new(max_label_sets: usize, enabled: bool) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let requests = counter(
            "switchyard_requests_total",
            "Proxied calls that were routed, by tenant, model, provider, endpoint, HTTP status and outcome.",
            &[
                "tenant", "model", "provider", "endpoint", "status", "outcome",
            ],
        )?;
        let tokens = counter(
            "switchyard_tokens_total",
            "Tokens of proxied calls by tenant, model, provider and kind (input, output, cached, reasoning).",
            &["tenant", "model", "provider", "kind"],
        )?;
        let attempts = counter(
            "switchyard_upstream_attempts_total",
            "Upstream attempts by deployment and result (ok, upstream_error, upstream_timeout, rate_limited, rejected, circuit_open, unsupported).",
            &["deployment", "provider", "result"],
        )?;
        let cost = CounterVec::new(
            Opts::new(
                "switchyard_cost_total",
                "Cost of proxied calls in the tenant's currency units, by tenant, model and provider.",
            ),
            &["tenant", "model", "provider"],
        )?;
        registry.register(Box::new(cost.clone()))?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "switchyard_request_duration_seconds",
                "Whole duration of proxied calls, by model, provider and endpoint.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["model", "provider", "endpoint"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        let ttft = HistogramVec::new(
            HistogramOpts::new(
                "switchyard_time_to_first_token_seconds",
                "Time to the first byte of streamed answers, by model and provider.",
            )
            .buckets(TTFT_BUCKETS.to_vec()),
            &["model", "provider"],
        )?;
        registry.register(Box::new(ttft.clone()))?;
        let overflow = IntCounter::new(
            "switchyard_metrics_label_overflow_total",
            "Calls counted under tenant=\"other\", model=\"other\" because metrics.max_label_sets was reached.",
        )?;
        registry.register(Box::new(overflow.clone()))?;
        let circuit = IntGaugeVec::new(
            Opts::new(
                "switchyard_deployment_circuit_state",
                "Circuit breaker of each deployment on this replica: 0 closed, 1 half-open, 2 open.",
            ),
            &["deployment", "provider", "model", "region"],
        )?;
        registry.register(Box::new(circuit.clone()))?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "switchyard_deployment_in_flight",
                "Calls in flight on each deployment on this replica.",
            ),
            &["deployment", "provider", "model", "region"],
        )?;
        registry.register(Box::new(in_flight.clone()))?;
        let gauge = |name: &str, help: &str| {
            let metric = Gauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let queue_depth = gauge(
            "switchyard_usage_queue_depth",
            "Usage events queued in memory for the database writer.",
        )?;
        let spool_files = gauge(
            "switchyard_usage_spool_files",
            "Spool files of usage events waiting for the database.",
        )?;
        let written = gauge(
            "switchyard_usage_events_written",
            "Usage events written to the database since start.",
        )?;
        let spooled = gauge(
            "switchyard_usage_events_spooled",
            "Usage events spooled to disk since start (database unavailable).",
        )?;
        let dropped_spans = GaugeVec::new(
            Opts::new(
                "switchyard_trace_spans_dropped",
                "Spans dropped since start because the export queue was full or the collector failed, by reason.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(dropped_spans.clone()))?;
        let budget_gauge = |name: &str, help: &str| {
            let metric = GaugeVec::new(Opts::new(name, help), &["tenant", "budget", "name"])?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let budget_spend = budget_gauge(
            "switchyard_budget_spend",
            "Spend recorded in each budget's current period, in currency units, as of the last reconciliation (every minute).",
        )?;
        let budget_limit = budget_gauge(
            "switchyard_budget_limit",
            "Each budget's limit per period, in currency units.",
        )?;
        let budget_utilisation = budget_gauge(
            "switchyard_budget_utilisation_ratio",
            "Recorded spend over the limit for each budget's current period (1 = the whole budget).",
        )?;
        Ok(Self {
            registry,
            requests,
            tokens,
            cost,
            duration,
            ttft,
            attempts,
            overflow,
            circuit,
            in_flight,
            queue_depth,
            spool_files,
            written,
            spooled,
            dropped_spans,
            budget_spend,
            budget_limit,
            budget_utilisation,
            label_sets: Mutex::new(HashSet::new()),
            max_label_sets,
            enabled,
        })
    }

    /// Counts one finished call.
    pub fn observe_call(&self, call: &CallSample<'_>) {
        if !self.enabled {
            return;
        }
        let (tenant, model) = self.bounded(call.tenant, call.model, call.provider);
        let status = status_label(call.status);
        self.requests
            .with_label_values(&[
                tenant.as_str(),
                model,
                call.provider,
                call.endpoint,
                status,
                call.outcome,
            ])
            .inc();
        for (kind, n) in [
            ("input", call.input_tokens),
            ("output", call.output_tokens),
            ("cached", call.cached_tokens),
            ("reasoning", call.reasoning_tokens),
        ] {
            if n > 0 {
                self.tokens
                    .with_label_values(&[tenant.as_str(), model, call.provider, kind])
                    .inc_by(n);
            }
        }
        if call.cost > 0.0 {
            self.cost
                .with_label_values(&[tenant.as_str(), model, call.provider])
                .inc_by(call.cost);
        }
        self.duration
            .with_label_values(&[model, call.provider, call.endpoint])
            .observe(call.seconds);
        if let Some(ttft) = call.ttft_seconds {
            self.ttft
                .with_label_values(&[model, call.provider])
                .observe(ttft);
        }
    }

    /// Counts one upstream attempt on a deployment.
    pub fn observe_attempt(&self, deployment: Uuid, provider: &str, result: &str) {
        if !self.enabled {
            return;
        }
        self.attempts
            .with_label_values(&[deployment.to_string().as_str(), provider, result])
            .inc();
    }

    /// Sets the number of spans dropped so far for `reason`.
    pub fn set_dropped_spans(&self, reason: &str, total: u64) {
        self.dropped_spans
            .with_label_values(&[reason])
            .set(total as f64);
    }

    /// The labels a call is counted under: its own, or `other` once the bound is reached.
    fn bounded<'a>(&self, tenant: Uuid, model: &'a str, provider: &str) -> (String, &'a str) {
        let mut sets = self
            .label_sets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (tenant, model, provider).hash(&mut hasher);
            hasher.finish()
        };
        if sets.contains(&key) || sets.len() < self.max_label_sets {
            sets.insert(key);
            return (tenant.to_string(), model);
        }
        drop(sets);
        self.overflow.inc();
        (OTHER.to_owned(), OTHER)
    }

    /// Sets the budget gauges from the last reconciliation's recorded spend.
    pub fn set_budgets(&self, spends: &[crate::limits::BudgetSpend]) {
        for gauge in [
            &self.budget_spend,
            &self.budget_limit,
            &self.budget_utilisation,
        ] {
            gauge.reset();
        }
        let units = |picos: i64| picos as f64 / crate::money::Picos::PER_UNIT as f64;
        for spend in spends {
            let labels = [
                spend.tenant_id.to_string(),
                spend.budget_id.to_string(),
                spend.name.clone(),
            ];
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            self.budget_spend
                .with_label_values(&labels)
                .set(units(spend.spent_picos));
            self.budget_limit
                .with_label_values(&labels)
                .set(units(spend.limit_picos));
            if spend.limit_picos > 0 {
                self.budget_utilisation
                    .with_label_values(&labels)
                    .set(spend.spent_picos as f64 / spend.limit_picos as f64);
            }
        }
    }

    /// The text exposition, with the scrape-time gauges refreshed first.
    pub fn render(&self, catalog: &Catalog, usage: &UsageSink, stats: &WriterStats) -> String {
        self.circuit.reset();
        self.in_flight.reset();
        for deployment in catalog.snapshot().all_deployments() {
            let labels = [
                deployment.id.to_string(),
                deployment.provider.name.clone(),
                deployment.public_model.clone(),
                deployment.region.clone(),
            ];
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            let state = match deployment.health.circuit() {
                crate::routing::Circuit::Closed => 0,
                crate::routing::Circuit::HalfOpen => 1,
                crate::routing::Circuit::Open => 2,
            };
            self.circuit.with_label_values(&labels).set(state);
            self.in_flight
                .with_label_values(&labels)
                .set(i64::try_from(deployment.health.in_flight()).unwrap_or(i64::MAX));
        }
        self.queue_depth.set(usage.queue_depth() as f64);
        self.spool_files
            .set(stats.spool_files.load(Ordering::Relaxed) as f64);
        self.written
            .set(stats.written.load(Ordering::Relaxed) as f64);
        self.spooled
            .set(stats.spooled.load(Ordering::Relaxed) as f64);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The status as a label: the exact code for the statuses the gateway answers with, else its class (so the set
/// of values stays bounded whatever a provider sends).
fn status_label(status: u16) -> &'static str {
    const EXACT: &[(u16, &str)] = &[
        (200, "200"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (413, "413"),
        (422, "422"),
        (429, "429"),
        (499, "499"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    match EXACT.iter().find(|(code, _)| *code == status) {
        Some((_, label)) => label,
        None => match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

/// Why a scrape is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ScrapeRefusal {
    /// SaaS mode without a configured token.
    TokenRequired,
    /// No token configured and the scraper is not on this host.
    NotLocal,
    /// A token is configured and the scrape did not send it.
    WrongToken,
}

impl ScrapeRefusal {
    fn response(&self) -> actix_web::HttpResponse {
        let (mut builder, code, message) = match self {
            Self::TokenRequired => (
                actix_web::HttpResponse::Forbidden(),
                "forbidden",
                "in SaaS mode GET /metrics is served only with metrics.bearer_token set",
            ),
            Self::NotLocal => (
                actix_web::HttpResponse::Forbidden(),
                "forbidden",
                "GET /metrics without metrics.bearer_token is served only to loopback addresses",
            ),
            Self::WrongToken => {
                let mut builder = actix_web::HttpResponse::Unauthorized();
                builder.insert_header(("www-authenticate", "Bearer"));
                (
                    builder,
                    "unauthorized",
                    "GET /metrics needs the metrics bearer token",
                )
            }
        };
        builder.json(serde_json::json!({"error": {"code": code, "message": message}}))
    }
}

/// Who may scrape: with a token, whoever sends it; without one, only a scraper on this host (a local agent or
/// sidecar), and in SaaS mode nobody.
pub fn scrape_allowed(
    token_required: bool,
    configured: Option<&str>,
    given: Option<&str>,
    peer_is_loopback: bool,
) -> Result<(), ScrapeRefusal> {
    match configured {
        None if token_required => Err(ScrapeRefusal::TokenRequired),
        None if !peer_is_loopback => Err(ScrapeRefusal::NotLocal),
        None => Ok(()),
        Some(token) => {
            // Digests are compared, so the comparison's timing says nothing about the token.
            let digest = |text: &str| {
                use sha2::Digest;
                sha2::Sha256::digest(text.as_bytes())
            };
            if given.is_some_and(|given| digest(given) == digest(token)) {
                Ok(())
            } else {
                Err(ScrapeRefusal::WrongToken)
            }
        }
    }
}

/// `GET /metrics` and what it reads.
pub struct MetricsEndpoint {
    pub metrics: Arc<Metrics>,
    pub catalog: Arc<Catalog>,
    pub usage: UsageSink,
    pub stats: Arc<WriterStats>,
    /// When set, scrapes must send `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// The trace exporter's counts, when traces are on.
    pub spans: Option<Arc<crate::otel::SpanStats>>,
    /// In SaaS mode the metrics name every tenant: without a token they are not served at all.
    pub token_required: bool,
    pub limits: Arc<crate::limits::Limits>,
    /// Decides whether a token-less scrape comes from this host (a local reverse proxy does not count).
    pub proxies: crate::client_address::TrustedProxies,
}

/// The handler.
pub async fn scrape(
    req: actix_web::HttpRequest,
    endpoint: actix_web::web::Data<MetricsEndpoint>,
) -> actix_web::HttpResponse {
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let local = endpoint.proxies.is_local(&req);
    if let Err(refusal) = scrape_allowed(
        endpoint.token_required,
        endpoint.bearer_token.as_deref(),
        given,
        local,
    ) {
        return refusal.response();
    }
    if let Some(spans) = &endpoint.spans {
        endpoint.metrics.set_dropped_spans(
            "queue_full",
            spans.dropped_queue_full.load(Ordering::Relaxed),
        );
        endpoint.metrics.set_dropped_spans(
            "export_failed",
            spans.dropped_export_failed.load(Ordering::Relaxed),
        );
    }
    endpoint
        .metrics
        .set_budgets(&endpoint.limits.recorded_spend());
    let body = endpoint
        .metrics
        .render(&endpoint.catalog, &endpoint.usage, &endpoint.stats);
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(tenant: Uuid, model: &str) -> CallSample<'_> {
        CallSample {
            tenant,
            model,
            provider: "p",
            endpoint: "chat.completions",
            status: 200,
            outcome: "ok",
            input_tokens: 10,
            output_tokens: 5,
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost: 0.5,
            seconds: 0.1,
            ttft_seconds: None,
        }
    }

    #[test]
    fn scrapes_need_the_token_or_a_loopback_peer_and_saas_always_needs_a_token() {
        assert_eq!(scrape_allowed(false, None, None, true), Ok(()));
        assert_eq!(
            scrape_allowed(false, None, None, false),
            Err(ScrapeRefusal::NotLocal)
        );
        assert_eq!(
            scrape_allowed(true, None, None, true),
            Err(ScrapeRefusal::TokenRequired)
        );
        assert_eq!(scrape_allowed(true, Some("t"), Some("t"), false), Ok(()));
        assert_eq!(
            scrape_allowed(false, Some("t"), Some("u"), true),
            Err(ScrapeRefusal::WrongToken)
        );
        assert_eq!(
            scrape_allowed(false, Some("t"), None, true),
            Err(ScrapeRefusal::WrongToken)
        );
    }

    #[test]
    fn label_sets_beyond_the_bound_fold_into_other() {
        let metrics = Metrics::new(2, true).expect("registry");
        let tenant = Uuid::now_v7();
        for model in ["a", "b", "c", "a", "d"] {
            metrics.observe_call(&sample(tenant, model));
        }
        assert_eq!(metrics.overflow.get(), 2);
        let other = metrics
            .requests
            .with_label_values(&["other", "other", "p", "chat.completions", "200", "ok"])
            .get();
        assert_eq!(other, 2);
        let a = metrics
            .requests
            .with_label_values(&[
                tenant.to_string().as_str(),
                "a",
                "p",
                "chat.completions",
                "200",
                "ok",
            ])
            .get();
        assert_eq!(a, 2);
    }
}
