//! One proxied call from the moment it is routed until its usage event is queued.

use super::client::ClientFormat;
use super::failover::Attempt;
use super::tags::Attribution;
use crate::auth::AuthenticatedKey;
use crate::catalog::Deployment;
use crate::limits::Ticket;
use crate::metrics::{CallSample, Metrics};
use crate::money::TokenCounts;
use crate::otel::{CallTrace, genai_provider};
use crate::routing::InFlight;
use crate::usage::{UsageEvent, UsageSink};
use actix_web::HttpResponseBuilder;
use chrono::{DateTime, Utc};
use opentelemetry::KeyValue;
use std::sync::Arc;
use std::time::Duration;
use switchyard_types::Usage;
use tokio::time::Instant;
use uuid::Uuid;

/// Where the token counts of an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSource {
    /// The provider's `usage`.
    Provider,
    /// Our own tokenizer, because the provider reported none.
    Tokenizer,
    /// Neither: the call was interrupted before an answer could be counted; its prompt is estimated from the
    /// request's size.
    Estimate,
}

impl UsageSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Tokenizer => "tokenizer",
            Self::Estimate => "estimate",
        }
    }
}

/// Token counts from a provider `usage` object.
pub fn counts_from_usage(usage: &Usage) -> TokenCounts {
    TokenCounts {
        input: usage.prompt_tokens,
        output: usage.completion_tokens,
        cached: usage.cached_tokens(),
        reasoning: usage.reasoning_tokens(),
    }
}

/// How a call links to tool invocations: the tool calls the model asked for in its answer and the tool results
/// the request sent back (by tool-call id). Stored for calls in an agent session, used for traced calls' spans.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ToolLinks {
    /// (tool-call id, function name).
    pub calls: Vec<(String, String)>,
    pub results: Vec<String>,
}

impl ToolLinks {
    /// The tool results an OpenAI-format request sends back: the `tool_call_id` of each `tool` message after the
    /// last assistant turn (clients resend the whole conversation; earlier results were linked by earlier calls).
    pub fn from_request(messages: Option<&serde_json::Value>) -> Self {
        let messages: &[serde_json::Value] = messages
            .and_then(serde_json::Value::as_array)
            .map_or(&[], Vec::as_slice);
        fn role(message: &serde_json::Value) -> Option<&str> {
            message.get("role").and_then(serde_json::Value::as_str)
        }
        let after_assistant = messages
            .iter()
            .rposition(|m| role(m) == Some("assistant"))
            .map_or(0, |i| i + 1);
        let results = messages[after_assistant..]
            .iter()
            .filter(|m| role(m) == Some("tool"))
            .filter_map(|m| m.get("tool_call_id").and_then(serde_json::Value::as_str))
            .map(str::to_owned)
            .collect();
        Self {
            calls: Vec::new(),
            results,
        }
    }

    /// Adds one tool call the model asked for, once.
    pub fn add_call(&mut self, id: &str, name: &str) {
        if !self.calls.iter().any(|(known, _)| known == id) {
            self.calls.push((id.to_owned(), name.to_owned()));
        }
    }

    /// The tool calls of a whole OpenAI-format answer.
    pub fn add_calls_from_response(&mut self, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            choices: Vec<Choice>,
        }
        #[derive(serde::Deserialize)]
        struct Choice {
            message: Option<Message>,
        }
        #[derive(serde::Deserialize)]
        struct Message {
            #[serde(default)]
            tool_calls: Option<Vec<Call>>,
        }
        #[derive(serde::Deserialize)]
        struct Call {
            id: Option<String>,
            function: Option<Function>,
        }
        #[derive(serde::Deserialize)]
        struct Function {
            name: Option<String>,
        }
        let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
            return;
        };
        for call in answer
            .choices
            .into_iter()
            .filter_map(|c| c.message)
            .filter_map(|m| m.tool_calls)
            .flatten()
        {
            if let Some(id) = call.id {
                let name = call.function.and_then(|f| f.name).unwrap_or_default();
                self.add_call(&id, &name);
            }
        }
    }

    /// As stored on the usage event.
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "calls": self.calls.iter().map(|(id, name)| serde_json::json!({"id": id, "name": name})).collect::<Vec<_>>(),
            "results": self.results,
        })
    }
}

/// How a call ended, for its usage event.
pub struct Outcome {
    pub status: u16,
    pub label: &'static str,
    pub tokens: TokenCounts,
    pub source: UsageSource,
    pub ttft: Option<Duration>,
    pub error: Option<String>,
}

/// A routed call; `finish` turns it into exactly one usage event. It exists from before the first attempt, and
/// a record dropped unfinished (the handler's future dropped: the gateway shut down with the call running, a
/// panic unwinding through it; a non-streamed call whose client hangs up keeps running and ends normally)
/// records its event as `interrupted` on the way out, billed for the prompt it sent if an attempt was sent: the
/// provider bills it either way.
pub struct CallRecord {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub started: Instant,
    pub key: Arc<AuthenticatedKey>,
    pub deployment: Arc<Deployment>,
    pub endpoint: &'static str,
    /// The caller's format, for the error answers of a call that fails after routing.
    pub client: ClientFormat,
    pub streamed: bool,
    pub attribution: Attribution,
    pub sink: UsageSink,
    /// The call's claim on rate limits and budgets, settled with its real cost in `finish`.
    pub ticket: Ticket,
    /// Attempts on other deployments before this one (or, for a failed call, every attempt).
    pub failed_attempts: Vec<Attempt>,
    /// Counts the call in flight on its deployment until the call is finished.
    pub in_flight: Option<InFlight>,
    /// Tool links, collected for calls in an agent session (stored) and for traced calls (their tool spans).
    pub tools: Option<ToolLinks>,
    pub metrics: Arc<Metrics>,
    /// Ended with the call's outcome in `finish`.
    pub trace: CallTrace,
    /// When the tenant captures bodies: the redacted request, and the redacted answer once it is known.
    pub captured: Option<CapturedBodies>,
    /// The prompt's size in tokens as estimated from the body (bytes / 4), for an interrupted call.
    pub prompt_estimate: u64,
    /// Whether a request went to a provider (the failover loop sets it before each attempt).
    pub sent: bool,
    /// Set once the event is recorded (false when built).
    pub(super) finished: bool,
    /// Holds the call open for shutdown until this record (and its event) is done; dropped after `Drop::drop`.
    #[expect(dead_code, reason = "held for its own drop, which closes the call")]
    pub(super) open: crate::usage::OpenCall,
}

/// The redacted bodies of a call, for a tenant that captures them.
#[derive(Debug, Default)]
pub struct CapturedBodies {
    pub request: String,
    pub response: Option<String>,
}

/// Most characters of a captured body.
pub const BODY_LIMIT: usize = 32 * 1024;

impl CallRecord {
    /// Records the answer's content where it is captured: on the trace when content capture is on, in the
    /// request log when the tenant captures bodies. `answer` is only built when one of them wants it.
    pub fn capture_answer(&mut self, answer: impl FnOnce() -> String) {
        let on_trace = self.trace.captures_content();
        if !on_trace && self.captured.is_none() {
            return;
        }
        let answer = answer();
        if on_trace {
            self.trace.set(|| {
                vec![KeyValue::new(
                    "gen_ai.output.messages",
                    crate::redact::redact(&answer, crate::otel::CONTENT_LIMIT),
                )]
            });
        }
        if let Some(captured) = &mut self.captured {
            captured.response = Some(crate::redact::redact(&answer, BODY_LIMIT));
        }
    }

    /// Adds the routing headers every proxied response carries.
    pub fn decorate(&self, response: &mut HttpResponseBuilder) {
        for (name, value) in self.routing_headers() {
            response.insert_header((name, value));
        }
        for (name, value) in self.ticket.headers.pairs() {
            response.insert_header((name, value));
        }
    }

    /// The routing headers, for responses built elsewhere (errors).
    pub fn routing_headers(&self) -> [(&'static str, String); 5] {
        [
            ("x-request-id", self.id.to_string()),
            (
                "x-switchyard-attempts",
                (self.failed_attempts.len() + usize::from(self.in_flight.is_some())).to_string(),
            ),
            ("x-switchyard-deployment", self.deployment.id.to_string()),
            (
                "x-switchyard-provider",
                self.deployment.provider.name.clone(),
            ),
            ("x-switchyard-region", self.deployment.region.clone()),
        ]
    }

    /// Prices the call and queues its usage event.
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    /// Records the event once; later calls (the drop guard after `finish`) do nothing.
    fn record(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let cost = self
            .deployment
            .prices_at(self.created_at)
            .cost(outcome.tokens);
        let total_tokens = outcome.tokens.input.saturating_add(outcome.tokens.output);
        if self.deployment.own_limits.any() {
            self.deployment
                .health
                .quota()
                .count_tokens(crate::routing::health::now_ms(), total_tokens);
        }
        std::mem::replace(&mut self.ticket, Ticket::unmetered())
            .settle(i64::try_from(total_tokens).unwrap_or(i64::MAX), cost);
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let event = UsageEvent {
            id: self.id,
            created_at: self.created_at,
            tenant_id: self.key.tenant_id,
            team_id: self.key.team_id,
            api_key_id: self.key.id,
            endpoint: self.endpoint.to_owned(),
            public_model: self.deployment.public_model.clone(),
            provider_id: Some(self.deployment.provider.id),
            provider_name: self.deployment.provider.name.clone(),
            deployment_id: Some(self.deployment.id),
            upstream_model: self.deployment.upstream_model.clone(),
            region: self.deployment.region.clone(),
            input_tokens: as_i64(outcome.tokens.input),
            output_tokens: as_i64(outcome.tokens.output),
            cached_tokens: as_i64(outcome.tokens.cached),
            reasoning_tokens: as_i64(outcome.tokens.reasoning),
            usage_source: outcome.source.as_str().to_owned(),
            cost_picos: cost.0,
            latency_us: micros(self.started.elapsed()),
            ttft_us: outcome.ttft.map(micros),
            status_code: i32::from(outcome.status),
            outcome: outcome.label.to_owned(),
            streamed: self.streamed,
            end_user: self.attribution.end_user.clone(),
            tags: self.attribution.tags_json(),
            error_message: outcome.error,
            application: self.key.application.clone(),
            user_id: self.key.owner_user_id,
            session_id: self.attribution.session_id.clone(),
            agent_id: self.attribution.agent_id.clone(),
            attempts: (!self.failed_attempts.is_empty())
                .then(|| serde_json::to_value(&self.failed_attempts).ok())
                .flatten(),
            parent_id: self.attribution.parent_id.clone(),
            // Tool links are kept for sessions; a traced call outside one collects them for its spans only.
            tools: self
                .tools
                .as_ref()
                .filter(|_| self.attribution.session_id.is_some())
                .map(ToolLinks::to_json),
            bodies: self
                .captured
                .as_ref()
                .map(|c| serde_json::json!({"request": c.request, "response": c.response})),
        };
        self.metrics.observe_call(&CallSample {
            tenant: event.tenant_id,
            model: &event.public_model,
            provider: &event.provider_name,
            endpoint: self.endpoint,
            status: outcome.status,
            outcome: outcome.label,
            input_tokens: outcome.tokens.input,
            output_tokens: outcome.tokens.output,
            cached_tokens: outcome.tokens.cached,
            reasoning_tokens: outcome.tokens.reasoning,
            cost: cost.0 as f64 / crate::money::Picos::PER_UNIT as f64,
            seconds: event.latency_us as f64 / 1e6,
            ttft_seconds: outcome.ttft.map(|d| d.as_secs_f64()),
        });
        self.trace.set(|| {
            let mut attributes = vec![
                KeyValue::new(
                    "gen_ai.provider.name",
                    genai_provider(self.deployment.provider.kind),
                ),
                KeyValue::new("gen_ai.response.model", event.upstream_model.clone()),
                KeyValue::new("gen_ai.usage.input_tokens", event.input_tokens),
                KeyValue::new("gen_ai.usage.output_tokens", event.output_tokens),
                KeyValue::new("gen_ai.usage.cache_read.input_tokens", event.cached_tokens),
                KeyValue::new(
                    "gen_ai.usage.reasoning.output_tokens",
                    event.reasoning_tokens,
                ),
                KeyValue::new("switchyard.request.id", event.id.to_string()),
                KeyValue::new("switchyard.deployment.id", self.deployment.id.to_string()),
                KeyValue::new("switchyard.provider", event.provider_name.clone()),
                KeyValue::new("switchyard.region", event.region.clone()),
                KeyValue::new(
                    "switchyard.cost",
                    crate::money::Picos(event.cost_picos).to_string(),
                ),
                KeyValue::new("switchyard.usage.source", event.usage_source.clone()),
                KeyValue::new(
                    "switchyard.attempts",
                    (self.failed_attempts.len() + usize::from(self.in_flight.is_some())) as i64,
                ),
            ];
            if let Some(ttft) = outcome.ttft {
                attributes.push(KeyValue::new(
                    "gen_ai.response.time_to_first_chunk",
                    ttft.as_secs_f64(),
                ));
            }
            attributes
        });
        self.trace.agent_step(
            self.key.tenant_id,
            self.attribution.agent_id.as_deref(),
            self.attribution.session_id.as_deref(),
            self.tools.as_ref().map_or(&[], |t| t.calls.as_slice()),
        );
        let failed = outcome.label != "ok";
        self.trace.finish(
            outcome.status,
            failed.then_some(outcome.label),
            event.error_message.as_deref(),
        );
        self.sink.record(event);
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The handler was dropped before the call ended. What the provider bills is unknown; what is known is
        // whether it was sent the prompt.
        let tokens = TokenCounts {
            input: if self.sent { self.prompt_estimate } else { 0 },
            ..TokenCounts::default()
        };
        tracing::info!(request_id = %self.id, sent = self.sent, "call interrupted before its answer was complete");
        self.record(Outcome {
            status: 499,
            label: "interrupted",
            tokens,
            source: UsageSource::Estimate,
            ttft: None,
            error: Some(
                "the call ended before its answer was complete: the client went away or the gateway shut down"
                    .into(),
            ),
        });
    }
}
