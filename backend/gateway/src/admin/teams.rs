//! Teams and their members: `/api/v1/teams`.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::regions::validate_regions;
use super::roles::Action;
use super::versioning::{check_if_match, etag_of};
use crate::store::Scoped;
use crate::store::entities::{api_key, membership, team, team_member};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// A team as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub allowed_regions: Option<Vec<String>>,
    /// Requests per minute across all the team's keys; `null`: no limit.
    pub rpm_limit: Option<i64>,
    /// Tokens per minute across all the team's keys; `null`: no limit.
    pub tpm_limit: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<team::Model> for TeamView {
    fn from(t: team::Model) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            allowed_regions: t
                .allowed_regions
                .and_then(|v| serde_json::from_value(v).ok()),
            rpm_limit: t.rpm_limit,
            tpm_limit: t.tpm_limit,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `POST /teams` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub slug: String,
    pub name: String,
    pub allowed_regions: Option<Vec<String>>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
}

/// `PATCH /teams/{id}` body; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    pub name: Option<String>,
    /// `null` clears the restriction (the tenant's regions apply).
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_regions: Option<Option<Vec<String>>>,
    /// `null` removes the limit.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub rpm_limit: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub tpm_limit: Option<Option<i64>>,
}

/// Distinguishes an absent field from an explicit `null` (`#[serde(default, with = "double_option")]`).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

fn validate_slug(slug: &str) -> Result<(), ApiError> {
    let ok = (2..=48).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "slug",
            "2 to 48 lower-case letters, digits and inner hyphens",
        ))
    }
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

fn scoped(admin: &AdminState, session: &Session) -> Scoped {
    Scoped::new(admin.repo.db().clone(), session.tenant_id)
}

/// `GET /api/v1/teams`.
#[utoipa::path(
    get,
    path = "/api/v1/teams",
    operation_id = "teams_list",
    tag = "teams",
    summary = "List teams",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of teams, newest first", body = Page<TeamView>),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsRead)?;
    let scoped = scoped(&admin, &session);
    let page = page.into_inner();
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let query = scoped.teams();
            let rows = page.fetch(query, team::Column::Id, &scoped.db).await?;
            Ok(Page::from_rows(rows, limit, |t| t.id, TeamView::from))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `POST /api/v1/teams`.
#[utoipa::path(
    post,
    path = "/api/v1/teams",
    operation_id = "teams_create",
    tag = "teams",
    summary = "Create a team",
    request_body = CreateTeam,
    responses(
        (status = 201, description = "The new team (with an `ETag` header)", body = TeamView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 409, description = "Conflicts with the current state (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn create(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<CreateTeam>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsManage)?;
    let body = body.into_inner();
    validate_slug(&body.slug)?;
    let name = validate_name(&body.name)?;
    let scoped = scoped(&admin, &session);
    let actor = session.user_id;
    let created = admin
        .run(async move {
            if let Some(regions) = &body.allowed_regions {
                validate_regions(&scoped, regions, "allowed_regions").await?;
            }
            if scoped
                .teams()
                .filter(team::Column::Slug.eq(&body.slug))
                .one(&scoped.db)
                .await?
                .is_some()
            {
                return Err(ApiError::Conflict(format!(
                    "a team with the slug `{}` already exists",
                    body.slug
                )));
            }
            let now = Utc::now();
            let row = team::Model {
                id: Uuid::now_v7(),
                tenant_id: scoped.tenant_id,
                slug: body.slug,
                name,
                created_at: now,
                updated_at: now,
                allowed_regions: body.allowed_regions.map(|r| json!(r)),
                rpm_limit: body.rpm_limit,
                tpm_limit: body.tpm_limit,
            }
            .into_active_model()
            .insert(&scoped.db)
            .await?;
            let view = TeamView::from(row.clone());
            audit::record(
                &scoped,
                Some(actor),
                "team.create",
                "team",
                Some(row.id.to_string()),
                None,
                Some(json!(view)),
            )
            .await?;
            Ok((etag_of(row.updated_at), view))
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("etag", created.0))
        .json(created.1))
}

/// `GET /api/v1/teams/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{id}",
    operation_id = "teams_get",
    tag = "teams",
    summary = "Get a team",
    params(("id" = Uuid, Path, description = "The team id")),
    responses(
        (status = 200, description = "The team (with an `ETag` header)", body = TeamView),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn get(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsRead)?;
    let scoped = scoped(&admin, &session);
    let id = path.into_inner();
    let row = admin.run(async move { find(&scoped, id).await }).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("etag", etag_of(row.updated_at)))
        .json(TeamView::from(row)))
}

async fn find(scoped: &Scoped, id: Uuid) -> Result<team::Model, ApiError> {
    scoped
        .teams()
        .filter(team::Column::Id.eq(id))
        .one(&scoped.db)
        .await?
        .ok_or(ApiError::NotFound("team"))
}

/// `PATCH /api/v1/teams/{id}`; honours `If-Match`.
#[utoipa::path(
    patch,
    path = "/api/v1/teams/{id}",
    operation_id = "teams_update",
    tag = "teams",
    summary = "Update a team",
    params(("id" = Uuid, Path, description = "The team id"), ("If-Match" = Option<String>, Header, description = "An ETag from a previous read; the edit is refused with 412 if the resource changed since")),
    request_body = UpdateTeam,
    responses(
        (status = 200, description = "The updated team (with an `ETag` header)", body = TeamView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 412, description = "`If-Match` names an older version (`precondition_failed`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn update(
    admin: web::Data<AdminState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: web::Json<UpdateTeam>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsManage)?;
    let scoped = scoped(&admin, &session);
    let (id, body) = (path.into_inner(), body.into_inner());
    let if_match = super::versioning::if_match(&req);
    let name = body.name.as_deref().map(validate_name).transpose()?;
    super::api_keys::validate_limit("rpm_limit", body.rpm_limit.flatten())?;
    super::api_keys::validate_limit("tpm_limit", body.tpm_limit.flatten())?;
    let actor = session.user_id;
    let (etag, view) = admin
        .run(async move {
            let row = find(&scoped, id).await?;
            check_if_match(if_match.as_deref(), row.updated_at)?;
            if let Some(Some(regions)) = &body.allowed_regions {
                validate_regions(&scoped, regions, "allowed_regions").await?;
            }
            let before = json!(TeamView::from(row.clone()));
            let mut active = row.into_active_model();
            if let Some(name) = name {
                active.name = Set(name);
            }
            if let Some(regions) = body.allowed_regions {
                active.allowed_regions = Set(regions.map(|r| json!(r)));
            }
            if let Some(limit) = body.rpm_limit {
                active.rpm_limit = Set(limit);
            }
            if let Some(limit) = body.tpm_limit {
                active.tpm_limit = Set(limit);
            }
            active.updated_at = Set(Utc::now());
            let row = active.update(&scoped.db).await?;
            let view = TeamView::from(row.clone());
            audit::record(
                &scoped,
                Some(actor),
                "team.update",
                "team",
                Some(id.to_string()),
                Some(before),
                Some(json!(view)),
            )
            .await?;
            Ok((etag_of(row.updated_at), view))
        })
        .await?;
    // Cached keys carry their team's regions and limits.
    super::api_keys::publish(&admin, crate::state::Invalidation::Everything).await;
    Ok(HttpResponse::Ok().insert_header(("etag", etag)).json(view))
}

/// `DELETE /api/v1/teams/{id}`: refused while the team still has active keys.
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{id}",
    operation_id = "teams_delete",
    tag = "teams",
    summary = "Delete a team (refused while it has active keys)",
    params(("id" = Uuid, Path, description = "The team id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "Conflicts with the current state (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn delete(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsManage)?;
    let scoped = scoped(&admin, &session);
    let id = path.into_inner();
    let actor = session.user_id;
    admin
        .run(async move {
            let row = find(&scoped, id).await?;
            let active_keys = scoped
                .keys()
                .filter(api_key::Column::TeamId.eq(id))
                .filter(api_key::Column::RevokedAt.is_null())
                .count(&scoped.db)
                .await?;
            if active_keys > 0 {
                return Err(ApiError::Conflict(format!(
                    "the team still has {active_keys} active API keys; revoke them first"
                )));
            }
            let before = json!(TeamView::from(row.clone()));
            team::Entity::delete_by_id(row.id).exec(&scoped.db).await?;
            audit::record(
                &scoped,
                Some(actor),
                "team.delete",
                "team",
                Some(id.to_string()),
                Some(before),
                None,
            )
            .await?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A team member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamMemberView {
    pub user_id: Uuid,
    pub added_at: DateTime<Utc>,
}

/// `GET /api/v1/teams/{id}/members`.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{id}/members",
    operation_id = "teams_members",
    tag = "teams",
    summary = "List a team's members",
    params(("id" = Uuid, Path, description = "The team id")),
    responses(
        (status = 200, description = "The team's members", body = super::openapi::DataList<TeamMemberView>),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn members(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsRead)?;
    let scoped = scoped(&admin, &session);
    let id = path.into_inner();
    let rows = admin
        .run(async move {
            find(&scoped, id).await?;
            Ok(scoped
                .team_members()
                .filter(team_member::Column::TeamId.eq(id))
                .all(&scoped.db)
                .await?)
        })
        .await?;
    let views: Vec<TeamMemberView> = rows
        .into_iter()
        .map(|m| TeamMemberView {
            user_id: m.user_id,
            added_at: m.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"data": views})))
}

/// `PUT /api/v1/teams/{id}/members/{user_id}`: the user must be a member of the tenant.
#[utoipa::path(
    put,
    path = "/api/v1/teams/{id}/members/{user_id}",
    operation_id = "teams_add_member",
    tag = "teams",
    summary = "Add a tenant member to a team (idempotent)",
    params(("id" = Uuid, Path, description = "The team id"), ("user_id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 204, description = "The user is in the team"),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn add_member(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsManage)?;
    let scoped = scoped(&admin, &session);
    let (team_id, user_id) = path.into_inner();
    let actor = session.user_id;
    admin
        .run(async move {
            find(&scoped, team_id).await?;
            if scoped
                .memberships()
                .filter(membership::Column::UserId.eq(user_id))
                .one(&scoped.db)
                .await?
                .is_none()
            {
                return Err(ApiError::NotFound("member"));
            }
            let existing = scoped
                .team_members()
                .filter(team_member::Column::TeamId.eq(team_id))
                .filter(team_member::Column::UserId.eq(user_id))
                .one(&scoped.db)
                .await?;
            if existing.is_none() {
                team_member::Model {
                    id: Uuid::now_v7(),
                    tenant_id: scoped.tenant_id,
                    team_id,
                    user_id,
                    created_at: Utc::now(),
                }
                .into_active_model()
                .insert(&scoped.db)
                .await?;
                audit::record(
                    &scoped,
                    Some(actor),
                    "team.member_add",
                    "team",
                    Some(team_id.to_string()),
                    None,
                    Some(json!({"user_id": user_id})),
                )
                .await?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/teams/{id}/members/{user_id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{id}/members/{user_id}",
    operation_id = "teams_remove_member",
    tag = "teams",
    summary = "Remove a user from a team",
    params(("id" = Uuid, Path, description = "The team id"), ("user_id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "Removed; the member's API keys in this team are revoked and listed", body = super::owned_keys::Removal),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn remove_member(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TeamsManage)?;
    let scoped = scoped(&admin, &session);
    let (team_id, user_id) = path.into_inner();
    let actor = session.user_id;
    let (revoked, hashes) = admin
        .run(async move {
            find(&scoped, team_id).await?;
            let row = scoped
                .team_members()
                .filter(team_member::Column::TeamId.eq(team_id))
                .filter(team_member::Column::UserId.eq(user_id))
                .one(&scoped.db)
                .await?
                .ok_or(ApiError::NotFound("team member"))?;
            team_member::Entity::delete_by_id(row.id)
                .exec(&scoped.db)
                .await?;
            audit::record(
                &scoped,
                Some(actor),
                "team.member_remove",
                "team",
                Some(team_id.to_string()),
                Some(json!({"user_id": user_id})),
                None,
            )
            .await?;
            super::owned_keys::revoke_owned(
                &scoped,
                user_id,
                Some(team_id),
                actor,
                "removed from the team",
            )
            .await
        })
        .await?;
    super::owned_keys::invalidate(&admin, hashes).await;
    Ok(HttpResponse::Ok().json(super::owned_keys::Removal {
        user_id,
        revoked_keys: revoked,
    }))
}
