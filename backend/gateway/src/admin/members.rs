//! Tenant members and their roles: `/api/v1/members`. Adding someone who has no account yet creates it with a
//! one-time password that is returned once, for the admin to pass on.

use super::audit;
use super::auth::normalize_email;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::{Action, Role};
use crate::identity::password;
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

/// `POST /members` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// For a new account: its password. Omitted: a one-time password is generated and returned once.
    pub password: Option<String>,
}

/// `POST /members` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddedMember {
    #[serde(flatten)]
    pub member: MemberView,
    /// Present only when a new account was created without a password.
    pub one_time_password: Option<String>,
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

/// `POST /api/v1/members`.
#[utoipa::path(
    post,
    path = "/api/v1/members",
    operation_id = "members_add",
    tag = "members",
    summary = "Add a member (creating the account if needed)",
    request_body = AddMember,
    responses(
        (status = 201, description = "Added; `one_time_password` only when a new account was created without a password", body = AddedMember),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 409, description = "Conflicts with the current state (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn add(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::MembersManage)?;
    let body = body.into_inner();
    if body.role == Role::Owner && session.role != Role::Owner {
        return Err(ApiError::Forbidden);
    }
    let email = normalize_email(&body.email);
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::validation("email", "is not an email address"));
    }
    if let Some(p) = &body.password {
        password::validate_new_password(p)
            .map_err(|e| ApiError::validation("password", e.to_string()))?;
    }
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let lookup = (scoped.clone(), email.clone());
    let existing = admin
        .run(async move {
            Ok(user::Entity::find()
                .filter(user::Column::Email.eq(lookup.1))
                .one(&lookup.0.db)
                .await?)
        })
        .await?;
    let (new_hash, one_time) = match (&existing, body.password) {
        (Some(_), _) => (None, None),
        (None, Some(p)) => (Some(hash(p).await?), None),
        (None, None) => {
            let otp = password::generate_one_time_password();
            (Some(hash(otp.clone()).await?), Some(otp))
        }
    };
    let name = body
        .name
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let role = body.role;
    let actor = session.user_id;
    let member = admin
        .run(async move {
            let now = Utc::now();
            let user = match existing {
                Some(u) => u,
                None => {
                    user::Model {
                        id: Uuid::now_v7(),
                        email,
                        name,
                        password_hash: new_hash.unwrap_or_default(),
                        is_platform_admin: false,
                        created_at: now,
                        updated_at: now,
                    }
                    .into_active_model()
                    .insert(&scoped.db)
                    .await?
                }
            };
            if scoped
                .memberships()
                .filter(membership::Column::UserId.eq(user.id))
                .one(&scoped.db)
                .await?
                .is_some()
            {
                return Err(ApiError::Conflict(format!(
                    "{} is already a member",
                    user.email
                )));
            }
            let m = membership::Model {
                id: Uuid::now_v7(),
                tenant_id: scoped.tenant_id,
                user_id: user.id,
                role: role.as_str().into(),
                created_at: now,
                updated_at: now,
            }
            .into_active_model()
            .insert(&scoped.db)
            .await?;
            let member = view(m, user);
            audit::record(
                &scoped,
                Some(actor),
                "member.add",
                "user",
                Some(member.user_id.to_string()),
                None,
                Some(json!(member)),
            )
            .await?;
            Ok(member)
        })
        .await?;
    Ok(HttpResponse::Created().json(AddedMember {
        member,
        one_time_password: one_time,
    }))
}

async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
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
        (status = 204, description = "Removed (the account itself stays)"),
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
    admin
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
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
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
