//! Signing in and out: `POST /api/v1/auth/login`, `/refresh`, `/logout`, `/password`, and `GET /auth/me`.
//!
//! A login creates a session (a refresh-token family). Access tokens are short-lived JWTs; refresh tokens are
//! opaque, stored hashed, and rotate on every use. Presenting an already-rotated refresh token means it was
//! copied: the whole family is revoked. Browser clients get both as HttpOnly, SameSite=Strict cookies; other
//! clients use the JSON body and bearer headers.

use super::context::{AdminState, CookieNames, Session, cross_site};
use super::error::ApiError;
use super::roles::Role;
use crate::identity::password;
use crate::identity::tokens::{hash_refresh_token, new_refresh_token};
use crate::store::entities::{membership, refresh_token, tenant, user};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Tenant slug, when the user belongs to several (default: the oldest membership).
    pub tenant: Option<String>,
}

/// `POST /auth/refresh` and `/auth/logout` body (optional for cookie clients).
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

/// `POST /auth/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Tokens handed out by login and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    pub user: UserView,
    pub tenant: TenantRef,
    pub role: Role,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

/// A tenant reference.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthenticated {
        code: "invalid_credentials",
        message: "wrong email or password".into(),
    }
}

fn refresh_rejected(code: &'static str, message: &str) -> ApiError {
    ApiError::Unauthenticated {
        code,
        message: message.to_owned(),
    }
}

/// Normalises an email for lookup and uniqueness.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `POST /api/v1/auth/login`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    operation_id = "auth_login",
    tag = "auth",
    summary = "Sign in",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; also sets the session cookies (`__Host-sy_access` and `__Host-sy_refresh`; `sy_access` and `sy_refresh` when `admin.secure_cookies` is off)", body = TokenResponse),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Wrong email or password (`invalid_credentials`), or no access to that tenant (`no_membership`)", body = super::error::ApiErrorBody),
        (status = 429, description = "Too many failed attempts (`too_many_requests`); see `Retry-After`", body = super::error::ApiErrorBody),
    ),
)]
pub async fn login(
    admin: web::Data<AdminState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = normalize_email(&body.email);
    if email.is_empty() {
        return Err(ApiError::validation("email", "is required"));
    }
    let client = admin.proxies.client_ip(&req);
    let attempt = Attempt::begin(
        &admin,
        vec![format!("login:email:{email}"), format!("login:ip:{client}")],
    )
    .await?;
    let db = admin.repo.db().clone();
    let lookup_email = email.clone();
    let found = admin
        .run(async move {
            Ok(user::Entity::find()
                .filter(user::Column::Email.eq(lookup_email))
                .one(&db)
                .await?)
        })
        .await?;
    let candidate = body.password;
    let verified = match found {
        Some(user) => {
            let hash = user.password_hash.clone();
            let ok = admin
                .hash_work(move || password::verify_password(&candidate, &hash))
                .await?
                .map_err(ApiError::internal)?;
            ok.then_some(user)
        }
        None => {
            // Same work as a real check, so response time does not reveal which emails exist.
            admin
                .hash_work(move || password::dummy_verify(&candidate))
                .await?;
            None
        }
    };
    let Some(user) = verified else {
        attempt.failed(&admin).await;
        return Err(invalid_credentials());
    };
    attempt.succeeded(&admin).await;
    let tenant_slug = body.tenant;
    let db = admin.repo.db().clone();
    let user_id = user.id;
    let (membership, tenant) = admin
        .run(async move {
            let memberships = membership::Entity::find()
                .filter(membership::Column::UserId.eq(user_id))
                .order_by_asc(membership::Column::CreatedAt)
                .all(&db)
                .await?;
            for m in memberships {
                let Some(t) = tenant::Entity::find_by_id(m.tenant_id).one(&db).await? else {
                    continue;
                };
                if tenant_slug.as_deref().is_none_or(|slug| slug == t.slug) {
                    return Ok((m, t));
                }
            }
            Err(ApiError::Unauthenticated {
                code: "no_membership",
                message: "this user has no access to that tenant".into(),
            })
        })
        .await?;
    let role = Role::parse(&membership.role)
        .ok_or_else(|| ApiError::internal("stored role is unknown"))?;
    let family = Uuid::now_v7();
    let tokens = start_session(&admin, &user, &tenant, role, family).await?;
    Ok(with_cookies(&admin, HttpResponse::Ok(), &tokens))
}

/// A throttled password attempt (sign-in, password change, accepting an invitation). It is counted before the
/// password is checked, in one atomic increment per key, so parallel attempts cannot all pass a check made
/// before any of them was counted; a success gives its count back, so only failures use up the allowance.
/// When the shared state is unreachable the limit is skipped (logged): a Redis outage must not lock every
/// administrator out.
pub(super) struct Attempt {
    counted: Vec<String>,
}

impl Attempt {
    /// Counts the attempt against every key, refusing with 429 once a key is past `login_attempts` failures in
    /// the current `login_window`.
    pub(super) async fn begin(admin: &AdminState, keys: Vec<String>) -> Result<Self, ApiError> {
        let mut attempt = Self {
            counted: Vec::with_capacity(keys.len()),
        };
        for key in keys {
            match admin
                .state
                .incr_window(&key, 1, admin.settings.login_window)
                .await
            {
                Ok(n) => {
                    attempt.counted.push(key);
                    if n > i64::from(admin.settings.login_attempts) {
                        return Err(ApiError::TooManyRequests {
                            message: "too many failed attempts; wait before trying again".into(),
                            retry_after_secs: admin.settings.login_window.as_secs(),
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sign-in limiter unavailable; not limiting this attempt");
                }
            }
        }
        Ok(attempt)
    }

    /// The password was wrong: the attempt stays counted.
    pub(super) async fn failed(self, _admin: &AdminState) {}

    /// The password was right: the attempt is given back.
    pub(super) async fn succeeded(self, admin: &AdminState) {
        for key in &self.counted {
            let _ = admin
                .state
                .incr_window(key, -1, admin.settings.login_window)
                .await;
        }
    }
}

/// Issues a refresh token in `family` and an access token for it.
pub(super) async fn start_session(
    admin: &AdminState,
    user: &user::Model,
    tenant: &tenant::Model,
    role: Role,
    family: Uuid,
) -> Result<TokenResponse, ApiError> {
    let (refresh_secret, refresh_hash) = new_refresh_token();
    let now = Utc::now();
    let refresh_expires_at = now
        + chrono::Duration::from_std(admin.settings.refresh_token_ttl)
            .map_err(ApiError::internal)?;
    let row = refresh_token::Model {
        id: Uuid::now_v7(),
        user_id: user.id,
        tenant_id: tenant.id,
        family_id: family,
        token_hash: refresh_hash,
        created_at: now,
        expires_at: refresh_expires_at,
        rotated_at: None,
        revoked_at: None,
    };
    let db = admin.repo.db().clone();
    admin
        .run(async move { Ok(row.into_active_model().insert(&db).await.map(|_| ())?) })
        .await?;
    let (access_token, expires_at) = admin
        .signer
        .issue(user.id, tenant.id, role.as_str(), family)
        .map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_at,
        // The configured lifetime, not `expires_at - now`, which loses a second to the clock read in `issue`.
        expires_in: i64::try_from(admin.settings.access_token_ttl.as_secs()).unwrap_or(i64::MAX),
        refresh_token: refresh_secret,
        refresh_expires_at,
        user: UserView {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
        },
        tenant: TenantRef {
            id: tenant.id,
            slug: tenant.slug.clone(),
            name: tenant.name.clone(),
        },
        role,
    })
}

fn cookie(
    admin: &AdminState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(admin.settings.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish()
}

pub(super) fn with_cookies(
    admin: &AdminState,
    mut builder: actix_web::HttpResponseBuilder,
    tokens: &TokenResponse,
) -> HttpResponse {
    let refresh_age = (tokens.refresh_expires_at - Utc::now()).num_seconds();
    let names = CookieNames::new(admin.settings.secure_cookies);
    builder
        .cookie(cookie(
            admin,
            names.access.0,
            tokens.access_token.clone(),
            names.access.1,
            tokens.expires_in,
        ))
        .cookie(cookie(
            admin,
            names.refresh.0,
            tokens.refresh_token.clone(),
            names.refresh.1,
            refresh_age,
        ))
        .insert_header(("cache-control", "no-store"))
        .json(tokens)
}

/// `POST /api/v1/auth/refresh`: exchanges a refresh token for a new pair.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    operation_id = "auth_refresh",
    tag = "auth",
    summary = "Exchange a refresh token for a new pair",
    request_body(content = Option<RefreshRequest>, description = "Optional for cookie clients: the refresh cookie (`__Host-sy_refresh`, or `sy_refresh` without secure cookies) is used instead"),
    responses(
        (status = 200, description = "A new token pair; the cookies are replaced", body = TokenResponse),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "The refresh token is invalid, expired or was already used (`invalid_refresh_token`, `refresh_token_expired`, `refresh_token_reused`, `no_membership`)", body = super::error::ApiErrorBody),
    ),
)]
pub async fn refresh(
    admin: web::Data<AdminState>,
    req: HttpRequest,
    body: Option<web::Json<RefreshRequest>>,
) -> Result<HttpResponse, ApiError> {
    let presented = body
        .and_then(|b| b.into_inner().refresh_token)
        .or_else(|| {
            let name = CookieNames::new(admin.settings.secure_cookies).refresh.0;
            let cookie = req.cookie(name).map(|c| c.value().to_owned());
            // A refresh through the cookie from another site would sign the attacker's page in.
            cookie.filter(|_| !cross_site(&req))
        })
        .ok_or_else(|| {
            ApiError::validation(
                "refresh_token",
                "is required (in the body or the refresh cookie)",
            )
        })?;
    let hash = hash_refresh_token(&presented);
    let db = admin.repo.db().clone();
    let (user, tenant, role, family) = admin
        .run(async move {
            let Some(token) = refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(hash)).one(&db).await? else {
                return Err(refresh_rejected("invalid_refresh_token", "the refresh token is not valid"));
            };
            if token.revoked_at.is_some() {
                return Err(refresh_rejected("invalid_refresh_token", "the session has been signed out"));
            }
            // Claim the token atomically: only one exchange can win, a second one is reuse.
            let claimed = refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RotatedAt, Expr::value(Utc::now()))
                .filter(refresh_token::Column::Id.eq(token.id))
                .filter(refresh_token::Column::RotatedAt.is_null())
                .exec(&db)
                .await?;
            if claimed.rows_affected != 1 {
                revoke_family(&db, token.family_id).await?;
                tracing::warn!(user_id = %token.user_id, family = %token.family_id, "refresh token reuse: session revoked");
                return Err(refresh_rejected("refresh_token_reused", "this refresh token was already used; the session has been revoked"));
            }
            if token.expires_at <= Utc::now() {
                return Err(refresh_rejected("refresh_token_expired", "the session has expired; sign in again"));
            }
            let user = user::Entity::find_by_id(token.user_id).one(&db).await?.ok_or_else(|| refresh_rejected("invalid_refresh_token", "the user no longer exists"))?;
            let tenant = tenant::Entity::find_by_id(token.tenant_id).one(&db).await?.ok_or_else(|| refresh_rejected("invalid_refresh_token", "the tenant no longer exists"))?;
            let membership = membership::Entity::find()
                .filter(membership::Column::UserId.eq(user.id))
                .filter(membership::Column::TenantId.eq(tenant.id))
                .one(&db)
                .await?
                .ok_or_else(|| refresh_rejected("no_membership", "this user no longer has access to the tenant"))?;
            let role = Role::parse(&membership.role).ok_or_else(|| ApiError::internal("stored role is unknown"))?;
            Ok((user, tenant, role, token.family_id))
        })
        .await?;
    let tokens = start_session(&admin, &user, &tenant, role, family).await?;
    Ok(with_cookies(&admin, HttpResponse::Ok(), &tokens))
}

/// Revokes every token of a session.
pub async fn revoke_family(db: &DatabaseConnection, family: Uuid) -> Result<(), ApiError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// `POST /api/v1/auth/logout`: ends the caller's session and clears the cookies.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "auth_logout",
    tag = "auth",
    summary = "Sign out (ends the session, clears the cookies)",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn logout(
    admin: web::Data<AdminState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    let db = admin.repo.db().clone();
    admin
        .run(async move { revoke_family(&db, session.session_id).await })
        .await?;
    let mut response = HttpResponse::NoContent();
    let names = CookieNames::new(admin.settings.secure_cookies);
    for (name, path) in [names.access, names.refresh] {
        let mut expired = cookie(&admin, name, String::new(), path, 0);
        expired.make_removal();
        response.cookie(expired);
    }
    Ok(response.finish())
}

/// `POST /api/v1/auth/password`: changes the caller's password and signs out every other session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    operation_id = "auth_change_password",
    tag = "auth",
    summary = "Change the caller's password",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session is signed out"),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn change_password(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    password::validate_new_password(&body.new_password)
        .map_err(|e| ApiError::validation("new_password", e.to_string()))?;
    let db = admin.repo.db().clone();
    let user_id = session.user_id;
    let user = admin
        .run(async move { Ok(user::Entity::find_by_id(user_id).one(&db).await?) })
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    // Guessing the current password through a stolen session is throttled like a sign-in.
    let attempt =
        Attempt::begin(&admin, vec![format!("password:user:{}", session.user_id)]).await?;
    let (current, hash) = (body.current_password, user.password_hash.clone());
    let ok = admin
        .hash_work(move || password::verify_password(&current, &hash))
        .await?
        .map_err(ApiError::internal)?;
    if !ok {
        attempt.failed(&admin).await;
        return Err(ApiError::validation(
            "current_password",
            "is not your current password",
        ));
    }
    attempt.succeeded(&admin).await;
    let new_password = body.new_password;
    let new_hash = admin
        .hash_work(move || password::hash_password(&new_password))
        .await?
        .map_err(ApiError::internal)?;
    let db = admin.repo.db().clone();
    admin
        .run(async move {
            let mut active = user.into_active_model();
            active.password_hash = Set(new_hash);
            active.updated_at = Set(Utc::now());
            active.update(&db).await?;
            refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
                .filter(refresh_token::Column::UserId.eq(session.user_id))
                .filter(refresh_token::Column::FamilyId.ne(session.session_id))
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&db)
                .await?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What `GET /auth/me` returns.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: UserView,
    pub tenant: TenantRef,
    pub role: Role,
}

/// `GET /api/v1/auth/me`.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    operation_id = "auth_me",
    tag = "auth",
    summary = "Who am I",
    responses(
        (status = 200, description = "The caller, their tenant and role", body = Me),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn me(admin: web::Data<AdminState>, session: Session) -> Result<HttpResponse, ApiError> {
    let db = admin.repo.db().clone();
    let me = admin
        .run(async move {
            let user = user::Entity::find_by_id(session.user_id)
                .one(&db)
                .await?
                .ok_or(ApiError::NotFound("user"))?;
            let tenant = tenant::Entity::find_by_id(session.tenant_id)
                .one(&db)
                .await?
                .ok_or(ApiError::NotFound("tenant"))?;
            Ok(Me {
                user: UserView {
                    id: user.id,
                    email: user.email,
                    name: user.name,
                },
                tenant: TenantRef {
                    id: tenant.id,
                    slug: tenant.slug,
                    name: tenant.name,
                },
                role: session.role,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(me))
}
