//! A call refused before it reached a provider (a rate limit, a budget, residency, a model the key may not use,
//! no healthy deployment) is still in the request log: a usage event with no tokens and no cost, its status and
//! reason, so a tenant admin debugging "why was I refused" finds it. Its id is the answer's `x-request-id`.

use super::ProxyState;
use super::tags::Attribution;
use crate::auth::AuthenticatedKey;
use crate::error::ProxyError;
use crate::usage::UsageEvent;
use actix_web::{HttpMessage, HttpRequest, ResponseError};
use tokio::time::Instant;
use uuid::Uuid;

/// The id of a refused call's event, for the `x-request-id` of its answer.
#[derive(Debug, Clone, Copy)]
pub struct RefusalId(pub Uuid);

/// What a refusal is recorded with.
pub(super) struct Refused<'a> {
    pub key: &'a AuthenticatedKey,
    pub endpoint: &'static str,
    pub model: &'a str,
    pub streamed: bool,
    pub attribution: &'a Attribution,
    pub started: Instant,
}

impl Refused<'_> {
    /// Records `error` as the call's event, when it is a policy's refusal, and hands it back for the caller's
    /// answer. An unknown model or a malformed request is the caller's mistake, not a refusal: not recorded.
    pub(super) fn record(
        &self,
        state: &ProxyState,
        req: &HttpRequest,
        error: ProxyError,
    ) -> ProxyError {
        if !matches!(
            error,
            ProxyError::Limited(_)
                | ProxyError::RegionNotAllowed(_)
                | ProxyError::ModelNotAllowed(_)
                | ProxyError::NoHealthyDeployment { .. }
        ) {
            return error;
        }
        let id = Uuid::now_v7();
        req.extensions_mut().insert(RefusalId(id));
        let key = self.key;
        state.usage.record(UsageEvent {
            id,
            created_at: chrono::Utc::now(),
            tenant_id: key.tenant_id,
            team_id: key.team_id,
            api_key_id: key.id,
            endpoint: self.endpoint.to_owned(),
            public_model: self.model.to_owned(),
            provider_id: None,
            provider_name: String::new(),
            deployment_id: None,
            upstream_model: String::new(),
            region: String::new(),
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            reasoning_tokens: 0,
            usage_source: "none".to_owned(),
            cost_picos: 0,
            latency_us: i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX),
            ttft_us: None,
            status_code: i32::from(error.status_code().as_u16()),
            outcome: error.outcome().to_owned(),
            streamed: self.streamed,
            end_user: self.attribution.end_user.clone(),
            tags: self.attribution.tags_json(),
            error_message: Some(error.to_string()),
            application: key.application.clone(),
            user_id: key.owner_user_id,
            session_id: self.attribution.session_id.clone(),
            agent_id: self.attribution.agent_id.clone(),
            attempts: None,
            parent_id: self.attribution.parent_id.clone(),
            tools: None,
            bodies: None,
        });
        error
    }
}
