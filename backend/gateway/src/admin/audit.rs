//! The audit log: every change made through the admin API, with actor, action, target and before / after
//! snapshots (secrets never included), and the endpoint that queries it.

use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::Action;
use crate::store::Scoped;
use crate::store::entities::{audit_entry, user};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Records one change. Called inside the same storage task as the change itself.
pub async fn record(
    scoped: &Scoped,
    actor_user_id: Option<Uuid>,
    action: &str,
    target_type: &str,
    target_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), ApiError> {
    let actor = match actor_user_id {
        Some(id) => user::Entity::find_by_id(id)
            .one(&scoped.db)
            .await?
            .map_or_else(|| id.to_string(), |u| u.email),
        None => "system".to_owned(),
    };
    audit_entry::Model {
        id: Uuid::now_v7(),
        tenant_id: scoped.tenant_id,
        actor_user_id,
        actor,
        action: action.to_owned(),
        target_type: target_type.to_owned(),
        target_id,
        before,
        after,
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(&scoped.db)
    .await?;
    Ok(())
}

/// An audit entry as the API returns it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub actor: String,
    pub actor_user_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// `GET /api/v1/audit`: newest first, filtered, paged by cursor.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "audit_list",
    tag = "audit",
    summary = "Query the audit log",
    params(AuditFilter, PageQuery),
    responses(
        (status = 200, description = "One page of entries, newest first", body = Page<AuditView>),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
    filter: web::Query<AuditFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::AuditRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let (filter, page) = (filter.into_inner(), page.into_inner());
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let mut query = scoped.audit();
            if let Some(action) = filter.action {
                query = query.filter(audit_entry::Column::Action.eq(action));
            }
            if let Some(target_type) = filter.target_type {
                query = query.filter(audit_entry::Column::TargetType.eq(target_type));
            }
            if let Some(target_id) = filter.target_id {
                query = query.filter(audit_entry::Column::TargetId.eq(target_id));
            }
            if let Some(actor) = filter.actor_user_id {
                query = query.filter(audit_entry::Column::ActorUserId.eq(actor));
            }
            if let Some(since) = filter.since {
                query = query.filter(audit_entry::Column::CreatedAt.gte(since));
            }
            if let Some(until) = filter.until {
                query = query.filter(audit_entry::Column::CreatedAt.lt(until));
            }
            let rows = page
                .fetch(query, audit_entry::Column::Id, &scoped.db)
                .await?;
            Ok(Page::from_rows(
                rows,
                limit,
                |r| r.id,
                |r| AuditView {
                    id: r.id,
                    actor: r.actor,
                    actor_user_id: r.actor_user_id,
                    action: r.action,
                    target_type: r.target_type,
                    target_id: r.target_id,
                    before: r.before,
                    after: r.after,
                    created_at: r.created_at,
                },
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}
