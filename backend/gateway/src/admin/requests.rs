//! The request log: the metadata of every proxied call of the tenant (ids, timings, tokens, cost, route, status,
//! error), read from the usage events. Developers see the calls of their own keys only.

use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::{Action, Scope};
use crate::money::Picos;
use crate::store::Scoped;
use crate::store::entities::usage_event;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, Select};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One call as the request log shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestView {
    /// The call's id: its `x-request-id`.
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `chat.completions`, `messages` or `embeddings`.
    pub endpoint: String,
    pub team_id: Uuid,
    pub api_key_id: Uuid,
    /// The owner of the key, if it has one.
    pub user_id: Option<Uuid>,
    pub model: String,
    pub provider: String,
    pub deployment_id: Option<Uuid>,
    pub upstream_model: String,
    pub region: String,
    pub status_code: i32,
    /// `ok`, `incomplete`, `upstream_error`, `client_disconnected` …
    pub outcome: String,
    pub error_message: Option<String>,
    pub streamed: bool,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    /// `provider` or `tokenizer`.
    pub usage_source: String,
    /// Exact decimal string in the tenant's currency.
    pub cost: String,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub end_user: Option<String>,
    pub tags: Value,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    pub parent_id: Option<String>,
    /// Attempts on other deployments before the one that answered (for a failed call, every attempt).
    pub attempts: Option<Value>,
    /// `{"request": …, "response": …}`, redacted, when the tenant captures bodies (`capture_bodies`); only in
    /// `GET /requests/{id}`, always `null` in the list.
    pub bodies: Option<Value>,
}

impl From<usage_event::Model> for RequestView {
    fn from(e: usage_event::Model) -> Self {
        Self {
            id: e.id,
            created_at: e.created_at,
            endpoint: e.endpoint,
            team_id: e.team_id,
            api_key_id: e.api_key_id,
            user_id: e.user_id,
            model: e.public_model,
            provider: e.provider_name,
            deployment_id: e.deployment_id,
            upstream_model: e.upstream_model,
            region: e.region,
            status_code: e.status_code,
            outcome: e.outcome,
            error_message: e.error_message,
            streamed: e.streamed,
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            cached_tokens: e.cached_tokens,
            reasoning_tokens: e.reasoning_tokens,
            usage_source: e.usage_source,
            cost: Picos(e.cost_picos).to_string(),
            latency_ms: micros_to_ms(e.latency_us),
            ttft_ms: e.ttft_us.map(micros_to_ms),
            end_user: e.end_user,
            tags: e.tags,
            session_id: e.session_id,
            agent_id: e.agent_id,
            parent_id: e.parent_id,
            attempts: e.attempts,
            bodies: e.bodies,
        }
    }
}

/// Microseconds as milliseconds with three decimals.
pub fn micros_to_ms(micros: i64) -> f64 {
    micros as f64 / 1000.0
}

/// Filters of `GET /api/v1/requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilter {
    pub model: Option<String>,
    pub team_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub outcome: Option<String>,
    pub status_code: Option<i32>,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The tenant's usage events the session may read: all of them, or for a developer the calls of their keys.
pub fn visible_events(
    scoped: &Scoped,
    session: &Session,
    scope: Scope,
) -> Select<usage_event::Entity> {
    let query = scoped.usage_events();
    match scope {
        Scope::Own => query.filter(usage_event::Column::UserId.eq(session.user_id)),
        Scope::All | Scope::None => query,
    }
}

/// `GET /api/v1/requests`: newest first, filtered, paged by cursor.
#[utoipa::path(
    get,
    path = "/api/v1/requests",
    operation_id = "requests_list",
    tag = "requests",
    summary = "Query the request log",
    params(RequestFilter, PageQuery),
    responses(
        (status = 200, description = "One page of calls, newest first", body = Page<RequestView>),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
    filter: web::Query<RequestFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::RequestsRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let (filter, page) = (filter.into_inner(), page.into_inner());
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let mut query = visible_events(&scoped, &session, scope);
            if let Some(model) = filter.model {
                query = query.filter(usage_event::Column::PublicModel.eq(model));
            }
            if let Some(team) = filter.team_id {
                query = query.filter(usage_event::Column::TeamId.eq(team));
            }
            if let Some(key) = filter.api_key_id {
                query = query.filter(usage_event::Column::ApiKeyId.eq(key));
            }
            if let Some(outcome) = filter.outcome {
                query = query.filter(usage_event::Column::Outcome.eq(outcome));
            }
            if let Some(status) = filter.status_code {
                query = query.filter(usage_event::Column::StatusCode.eq(status));
            }
            if let Some(id) = filter.session_id {
                query = query.filter(usage_event::Column::SessionId.eq(id));
            }
            if let Some(agent) = filter.agent_id {
                query = query.filter(usage_event::Column::AgentId.eq(agent));
            }
            if let Some(since) = filter.since {
                query = query.filter(usage_event::Column::CreatedAt.gte(since));
            }
            if let Some(until) = filter.until {
                query = query.filter(usage_event::Column::CreatedAt.lt(until));
            }
            let rows = page
                .fetch(query, usage_event::Column::Id, &scoped.db)
                .await?;
            // Captured bodies are shown one call at a time (`GET /requests/{id}`), not in pages of 200.
            Ok(Page::from_rows(
                rows,
                limit,
                |r| r.id,
                |r| RequestView {
                    bodies: None,
                    ..RequestView::from(r)
                },
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `GET /api/v1/requests/{id}`: one call.
#[utoipa::path(
    get,
    path = "/api/v1/requests/{id}",
    operation_id = "requests_get",
    tag = "requests",
    summary = "One call of the request log",
    params(("id" = Uuid, Path, description = "The call's id (its x-request-id)")),
    responses(
        (status = 200, description = "The call", body = RequestView),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "No such call in this tenant, or not one of your keys' (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn get(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::RequestsRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let view = admin
        .run(async move {
            visible_events(&scoped, &session, scope)
                .filter(usage_event::Column::Id.eq(id))
                .one(&scoped.db)
                .await?
                .map(RequestView::from)
                .ok_or(ApiError::NotFound("request"))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
