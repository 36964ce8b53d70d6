//! Invitations to join a tenant: `POST /api/v1/members` invites, `/api/v1/invitations` lists and revokes, and
//! `POST /api/v1/invitations/accept` is the invitee's. Users are global across tenants, so an admin never sets
//! an account's password nor attaches an existing account: the invitee accepts with the single-use, expiring
//! token, setting the password of a new account or proving an existing one with its own. The inviting admin's
//! answer is the same whether or not the address has an account anywhere (no "already registered" oracle).

use super::audit;
use super::auth::{normalize_email, start_session, with_cookies};
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::{Action, Role};
use crate::identity::password;
use crate::identity::tokens::hash_refresh_token;
use crate::store::Scoped;
use crate::store::entities::{invitation, membership, tenant, user};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// `POST /members` body: who is invited, with which role.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    pub role: Role,
}

/// An invitation as the API shows it (never its token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    #[schema(value_type = Role)]
    pub role: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `POST /members` answer: the invitation and, once, its token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedInvitation {
    #[serde(flatten)]
    pub invitation: InvitationView,
    /// The secret the invitee accepts with; shown only here. Whoever holds it can accept the invitation, so it
    /// goes to the invitee only.
    pub token: String,
    /// The console's page that accepts it (the token in the fragment, which browsers never send to a server).
    pub accept_path: String,
}

/// `POST /invitations/accept` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    /// The password of the account with the invited address: a new one for a new account (at least 12
    /// characters), or the account's own for an existing one.
    pub password: String,
    /// A new account's display name (default: the address's local part).
    pub name: Option<String>,
}

fn status_of(row: &invitation::Model, now: DateTime<Utc>) -> &'static str {
    if row.accepted_at.is_some() {
        "accepted"
    } else if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at <= now {
        "expired"
    } else {
        "pending"
    }
}

fn view(row: invitation::Model) -> InvitationView {
    InvitationView {
        status: status_of(&row, Utc::now()),
        id: row.id,
        email: row.email,
        role: row.role,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

/// A new `syi_` token and its stored hash.
fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("syi_{}", hex::encode(bytes));
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// `POST /api/v1/members`: invites someone (owners only may invite owners).
#[utoipa::path(
    post,
    path = "/api/v1/members",
    operation_id = "members_invite",
    tag = "members",
    summary = "Invite someone to the tenant",
    request_body = Invite,
    responses(
        (status = 201, description = "The invitation, and once its token", body = CreatedInvitation),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 409, description = "Already a member of this tenant (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn invite(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<Invite>,
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
    let ttl =
        chrono::Duration::from_std(admin.settings.invitation_ttl).map_err(ApiError::internal)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let actor = session.user_id;
    let (token, token_hash) = new_token();
    let created = admin
        .run(async move {
            // Only this tenant's own members are looked at: whether the address has an account elsewhere is
            // never consulted, so the answer cannot reveal it.
            let member = scoped.membership_by_email(&email).one(&scoped.db).await?;
            if member.is_some() {
                return Err(ApiError::Conflict(format!("{email} is already a member")));
            }
            let now = Utc::now();
            let row = invitation::Model {
                id: Uuid::now_v7(),
                tenant_id: scoped.tenant_id,
                email,
                role: body.role.as_str().into(),
                token_hash,
                invited_by: Some(actor),
                created_at: now,
                expires_at: now + ttl,
                accepted_at: None,
                accepted_by: None,
                revoked_at: None,
            }
            .into_active_model()
            .insert(&scoped.db)
            .await?;
            let view = view(row);
            audit::record(
                &scoped,
                Some(actor),
                "member.invite",
                "invitation",
                Some(view.id.to_string()),
                None,
                Some(json!(view)),
            )
            .await?;
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(CreatedInvitation {
            invitation: created,
            accept_path: format!("/invite#{token}"),
            token,
        }))
}

/// `GET /api/v1/invitations`.
#[utoipa::path(
    get,
    path = "/api/v1/invitations",
    operation_id = "invitations_list",
    tag = "members",
    summary = "List the tenant's invitations",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of invitations, newest first", body = Page<InvitationView>),
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
            let rows = page
                .fetch(scoped.invitations(), invitation::Column::Id, &scoped.db)
                .await?;
            Ok(Page::from_rows(rows, limit, |r| r.id, view))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `DELETE /api/v1/invitations/{id}`: the token stops working.
#[utoipa::path(
    delete,
    path = "/api/v1/invitations/{id}",
    operation_id = "invitations_revoke",
    tag = "members",
    summary = "Revoke a pending invitation",
    params(("id" = Uuid, Path, description = "The invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found, or no longer pending (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn revoke(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::MembersManage)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let actor = session.user_id;
    admin
        .run(async move {
            let revoked = invitation::Entity::update_many()
                .col_expr(invitation::Column::RevokedAt, Expr::value(Utc::now()))
                .filter(invitation::Column::Id.eq(id))
                .filter(invitation::Column::TenantId.eq(scoped.tenant_id))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .exec(&scoped.db)
                .await?;
            if revoked.rows_affected != 1 {
                return Err(ApiError::NotFound("invitation"));
            }
            audit::record(
                &scoped,
                Some(actor),
                "member.invite_revoke",
                "invitation",
                Some(id.to_string()),
                None,
                None,
            )
            .await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn invalid_invitation() -> ApiError {
    ApiError::Unauthenticated {
        code: "invalid_invitation",
        message: "this invitation is not valid: it may have expired, been revoked or been used"
            .into(),
    }
}

/// `POST /api/v1/invitations/accept`: the invitee joins, and is signed in to the tenant.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/accept",
    operation_id = "invitations_accept",
    tag = "members",
    summary = "Accept an invitation (new account: set its password; existing account: give its password)",
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "Joined and signed in; also sets the session cookies", body = super::auth::TokenResponse),
        (status = 400, description = "Invalid input, e.g. a new password that is too short (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "The invitation is not valid (`invalid_invitation`), or the existing account's password is wrong (`invalid_credentials`)", body = super::error::ApiErrorBody),
        (status = 429, description = "Too many failed attempts (`too_many_requests`)", body = super::error::ApiErrorBody),
    ),
)]
pub async fn accept(
    admin: web::Data<AdminState>,
    req: HttpRequest,
    body: web::Json<AcceptInvitation>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let throttle = format!("invite:ip:{}", admin.proxies.client_ip(&req));
    let attempt = super::auth::Attempt::begin(&admin, vec![throttle]).await?;
    let db = admin.repo.db().clone();
    let token_hash = hash_refresh_token(body.token.trim());
    let found = admin
        .run(async move {
            let Some(row) = invitation::Entity::find()
                .filter(invitation::Column::TokenHash.eq(token_hash))
                .one(&db)
                .await?
            else {
                return Ok(None);
            };
            let account = user::Entity::find()
                .filter(user::Column::Email.eq(&row.email))
                .one(&db)
                .await?;
            Ok(Some((row, account)))
        })
        .await?;
    let Some((row, account)) = found.filter(|(row, _)| status_of(row, Utc::now()) == "pending")
    else {
        attempt.failed(&admin).await;
        return Err(invalid_invitation());
    };
    // A new account's password is the invitee's choice; an existing account's must be its own.
    let new_hash = match &account {
        Some(existing) => {
            let (candidate, hash) = (body.password.clone(), existing.password_hash.clone());
            let ok = admin
                .hash_work(move || password::verify_password(&candidate, &hash))
                .await?
                .map_err(ApiError::internal)?;
            if !ok {
                attempt.failed(&admin).await;
                return Err(ApiError::Unauthenticated {
                    code: "invalid_credentials",
                    message: "wrong password for the invited account".into(),
                });
            }
            None
        }
        None => {
            password::validate_new_password(&body.password)
                .map_err(|e| ApiError::validation("password", e.to_string()))?;
            let candidate = body.password.clone();
            Some(
                admin
                    .hash_work(move || password::hash_password(&candidate))
                    .await?
                    .map_err(ApiError::internal)?,
            )
        }
    };
    attempt.succeeded(&admin).await;
    let role =
        Role::parse(&row.role).ok_or_else(|| ApiError::internal("stored role is unknown"))?;
    let name = body
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty() && n.chars().count() <= 100)
        .unwrap_or_else(|| row.email.split('@').next().unwrap_or_default().to_owned());
    let db = admin.repo.db().clone();
    let (user, tenant) = admin
        .run(async move {
            let txn = db.begin().await?;
            // Claimed once: a second acceptance (or a revocation that won the race) finds nothing to claim.
            let now = Utc::now();
            let claimed = invitation::Entity::update_many()
                .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
                .filter(invitation::Column::Id.eq(row.id))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            if claimed.rows_affected != 1 {
                return Err(invalid_invitation());
            }
            let user = match (account, new_hash) {
                (Some(existing), _) => existing,
                (None, hash) => {
                    user::Model {
                        id: Uuid::now_v7(),
                        email: row.email.clone(),
                        name,
                        password_hash: hash.unwrap_or_default(),
                        is_platform_admin: false,
                        created_at: now,
                        updated_at: now,
                    }
                    .into_active_model()
                    .insert(&txn)
                    .await?
                }
            };
            invitation::Entity::update_many()
                .col_expr(invitation::Column::AcceptedBy, Expr::value(user.id))
                .filter(invitation::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
            let already = membership::Entity::find()
                .filter(membership::Column::TenantId.eq(row.tenant_id))
                .filter(membership::Column::UserId.eq(user.id))
                .one(&txn)
                .await?;
            if already.is_none() {
                membership::Model {
                    id: Uuid::now_v7(),
                    tenant_id: row.tenant_id,
                    user_id: user.id,
                    role: row.role.clone(),
                    created_at: now,
                    updated_at: now,
                }
                .into_active_model()
                .insert(&txn)
                .await?;
            }
            let tenant = tenant::Entity::find_by_id(row.tenant_id)
                .one(&txn)
                .await?
                .ok_or_else(invalid_invitation)?;
            txn.commit().await?;
            let scoped = Scoped::new(db, row.tenant_id);
            audit::record(
                &scoped,
                Some(user.id),
                "member.join",
                "user",
                Some(user.id.to_string()),
                None,
                Some(json!({"email": user.email, "role": row.role, "invitation_id": row.id})),
            )
            .await?;
            Ok((user, tenant))
        })
        .await?;
    let tokens = start_session(&admin, &user, &tenant, role, Uuid::now_v7()).await?;
    Ok(with_cookies(&admin, HttpResponse::Ok(), &tokens))
}
