//! One proxied call from the moment it is routed until its usage event is queued.

use super::client::ClientFormat;
use super::failover::Attempt;
use super::tags::Attribution;
use crate::auth::AuthenticatedKey;
use crate::catalog::Deployment;
use crate::limits::Ticket;
use crate::money::TokenCounts;
use crate::routing::InFlight;
use crate::usage::{UsageEvent, UsageSink};
use actix_web::HttpResponseBuilder;
use chrono::{DateTime, Utc};
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
}

impl UsageSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Tokenizer => "tokenizer",
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

/// How a call ended, for its usage event.
pub struct Outcome {
    pub status: u16,
    pub label: &'static str,
    pub tokens: TokenCounts,
    pub source: UsageSource,
    pub ttft: Option<Duration>,
    pub error: Option<String>,
}

/// A routed call; `finish` turns it into exactly one usage event.
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
}

impl CallRecord {
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
    pub fn finish(self, outcome: Outcome) {
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
        self.ticket
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
            session_id: self.attribution.session_id,
            agent_id: self.attribution.agent_id,
            attempts: (!self.failed_attempts.is_empty())
                .then(|| serde_json::to_value(&self.failed_attempts).ok())
                .flatten(),
        };
        self.sink.record(event);
    }
}
