//! Tenant members and their roles: `/api/v1/members`. People join by invitation (`invitations`): an admin never
//! creates an account or sets its password.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::owned_keys;
use super::pagination::{Page, PageQuery};
use super::roles::{Action, Role};
use crate::store::Scoped;
use crate::store::entities::{membership, user};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// A member as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    #[schema(value_type = Role)]
    pub role: String,
    pub joined_at: DateTime<Utc>,
    /// When the role last changed; the membership's ETag is derived from it.
    pub updated_at: DateTime<Utc>,
}

/// `PATCH /members/{user_id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: Role,
}

fn view(m: membership::Model, u: user::Model) -> MemberView {
    MemberView {
        user_id: u.id,
        email: u.email,
        name: u.name,
        role: m.role,
        joined_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// `GET /api/v1/members`.
#[utoipa::path(
    get,
    path = "/api/v1/members",
    operation_id = "members_list",
    tag = "members",
    summary = "List the tenant's members",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of members, newest first", body = Page<MemberView>),
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
    session.require(Action::MembersRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let page = page.into_inner();
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let query = scoped.memberships();
            let rows = page
                .fetch(query, membership::Column::Id, &scoped.db)
                .await?;
            let mut with_users = Vec::with_capacity(rows.len());
            for m in rows {
                let u = user::Entity::find_by_id(m.user_id)
                    .one(&scoped.db)
                    .await?
                    .ok_or(ApiError::NotFound("member"))?;
                with_users.push((m, u));
            }
            Ok(Page::from_rows(
                with_users,
                limit,
                |(m, _)| m.id,
                |(m, u)| view(m, u),
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `PATCH /api/v1/members/{user_id}`: changes a role (owner changes only by an owner; never the last owner).
#[utoipa::path(
    patch,
    path = "/api/v1/members/{user_id}",
    operation_id = "members_change_role",
    tag = "members",
    summary = "Change a member's role",
    params(("user_id" = Uuid, Path, description = "The user id"), ("If-Match" = Option<String>, Header, description = "An ETag from a previous read (computed from the membership's `updated_at`); the edit is refused with 412 if the membership changed since")),
    request_body = ChangeRole,
    responses(
        (status = 200, description = "The member with the new role", body = MemberView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "The tenant would lose its last owner (`conflict`)", body = super::error::ApiErrorBody),
        (status = 412, description = "`If-Match` did not match (`precondition_failed`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn change_role(
    admin: web::Data<AdminState>,
    session: Session,
    req: actix_web::HttpRequest,
    path: web::Path<Uuid>,
    body: web::Json<ChangeRole>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::MembersManage)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let (user_id, role) = (path.into_inner(), body.into_inner().role);
    let if_match = super::versioning::if_match(&req);
    let caller = session.clone();
    let member = admin
        .run(async move {
            let m = find(&scoped, user_id).await?;
            super::versioning::check_if_match(if_match.as_deref(), m.updated_at)?;
            let current =
                Role::parse(&m.role).ok_or_else(|| ApiError::internal("stored role is unknown"))?;
            if (current == Role::Owner || role == Role::Owner) && caller.role != Role::Owner {
                return Err(ApiError::Forbidden);
            }
            if current == Role::Owner && role != Role::Owner {
                ensure_not_last_owner(&scoped).await?;
            }
            let before = json!({"role": m.role});
            let mut active = m.into_active_model();
            active.role = Set(role.as_str().into());
            active.updated_at = Set(Utc::now());
            let m = active.update(&scoped.db).await?;
            let u = user::Entity::find_by_id(user_id)
                .one(&scoped.db)
                .await?
                .ok_or(ApiError::NotFound("member"))?;
            audit::record(
                &scoped,
                Some(caller.user_id),
                "member.role_change",
                "user",
                Some(user_id.to_string()),
                Some(before),
                Some(json!({"role": m.role})),
            )
            .await?;
            Ok(view(m, u))
        })
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

/// `DELETE /api/v1/members/{user_id}`: removes the user from the tenant (the account itself stays).
#[utoipa::path(
    delete,
    path = "/api/v1/members/{user_id}",
    operation_id = "members_remove",
    tag = "members",
    summary = "Remove a member from the tenant",
    params(("user_id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 200, description = "Removed (the account itself stays); the member's API keys in the tenant are revoked and listed", body = super::owned_keys::Removal),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "The tenant would lose its last owner (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn remove(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::MembersManage)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let user_id = path.into_inner();
    let caller = session.clone();
    let (revoked, hashes) = admin
        .run(async move {
            let m = find(&scoped, user_id).await?;
            if m.role == Role::Owner.as_str() {
                if caller.role != Role::Owner {
                    return Err(ApiError::Forbidden);
                }
                ensure_not_last_owner(&scoped).await?;
            }
            membership::Entity::delete_by_id(m.id)
                .exec(&scoped.db)
                .await?;
            audit::record(
                &scoped,
                Some(caller.user_id),
                "member.remove",
                "user",
                Some(user_id.to_string()),
                Some(json!({"role": m.role})),
                None,
            )
            .await?;
            owned_keys::revoke_owned(&scoped, user_id, None, caller.user_id, "member removed").await
        })
        .await?;
    owned_keys::invalidate(&admin, hashes).await;
    Ok(HttpResponse::Ok().json(owned_keys::Removal {
        user_id,
        revoked_keys: revoked,
    }))
}

async fn find(scoped: &Scoped, user_id: Uuid) -> Result<membership::Model, ApiError> {
    scoped
        .memberships()
        .filter(membership::Column::UserId.eq(user_id))
        .one(&scoped.db)
        .await?
        .ok_or(ApiError::NotFound("member"))
}

async fn ensure_not_last_owner(scoped: &Scoped) -> Result<(), ApiError> {
    let owners = scoped
        .memberships()
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .count(&scoped.db)
        .await?;
    if owners <= 1 {
        return Err(ApiError::Conflict(
            "a tenant must keep at least one owner".into(),
        ));
    }
    Ok(())
}
