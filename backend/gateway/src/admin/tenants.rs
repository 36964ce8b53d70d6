//! Tenants in SaaS mode: self-service sign-up (`POST /api/v1/auth/signup`) creates a tenant with its owner,
//! and platform operators create and list tenants (`/api/v1/platform/tenants`). In self-hosted mode there is
//! one tenant, created at first start, and these endpoints answer 404.

use super::audit;
use super::auth::{Attempt, UserView, normalize_email, start_session, with_cookies};
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::roles::Role;
use crate::config::TenancyMode;
use crate::identity::password;
use crate::store::Scoped;
use crate::store::entities::{membership, team, tenant, user};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// `POST /auth/signup` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
    pub organisation: String,
    /// URL-friendly tenant name; derived from `organisation` when absent.
    pub slug: Option<String>,
}

/// `POST /platform/tenants` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
    pub slug: String,
    pub owner_email: String,
    #[serde(default = "usd")]
    pub currency: String,
}

fn usd() -> String {
    "USD".into()
}

/// A tenant as platform operators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlatformTenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /platform/tenants` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedTenant {
    pub tenant: PlatformTenantView,
    pub owner: UserView,
    /// Present when the owner's account was created now: their one-time password, shown once.
    pub owner_one_time_password: Option<String>,
}

fn saas_only(admin: &AdminState) -> Result<(), ApiError> {
    match admin.settings.mode {
        TenancyMode::Saas => Ok(()),
        TenancyMode::SelfHosted => Err(ApiError::NotFound("endpoint")),
    }
}

fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(48).collect()
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

/// Creates a tenant with its default team; fails with 409 when the slug is taken.
async fn insert_tenant(
    db: &DatabaseConnection,
    name: String,
    slug: String,
    currency: String,
) -> Result<tenant::Model, ApiError> {
    if tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(&slug))
        .one(db)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "the tenant slug `{slug}` is taken"
        )));
    }
    let now = Utc::now();
    let tenant = tenant::Model {
        id: Uuid::now_v7(),
        slug,
        name,
        currency,
        created_at: now,
        updated_at: now,
        allowed_regions: None,
        rpm_limit: None,
        tpm_limit: None,
        limits_failure_mode: "open".into(),
        request_log_retention_days: None,
        capture_bodies: false,
    }
    .into_active_model()
    .insert(db)
    .await?;
    team::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        slug: "default".into(),
        name: "Default".into(),
        created_at: now,
        updated_at: now,
        allowed_regions: None,
        rpm_limit: None,
        tpm_limit: None,
    }
    .into_active_model()
    .insert(db)
    .await?;
    Ok(tenant)
}

async fn add_owner(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let now = Utc::now();
    membership::Model {
        id: Uuid::now_v7(),
        tenant_id,
        user_id,
        role: Role::Owner.as_str().into(),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await?;
    Ok(())
}

async fn hash(secret: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash_password(&secret))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `POST /api/v1/auth/signup` (SaaS mode): a new organisation and its owner, signed in at once.
#[utoipa::path(
    post,
    path = "/api/v1/auth/signup",
    operation_id = "tenants_sign_up",
    tag = "auth",
    summary = "Sign up: a new tenant and its owner (SaaS mode)",
    request_body = SignUp,
    responses(
        (status = 201, description = "Tenant created and its owner signed in; also sets the session cookies", body = super::auth::TokenResponse),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Self-hosted mode: no sign-up", body = super::error::ApiErrorBody),
        (status = 409, description = "Email or slug not available (`conflict`)", body = super::error::ApiErrorBody),
        (status = 429, description = "Too many attempts from this address (`too_many_requests`)", body = super::error::ApiErrorBody),
    ),
)]
pub async fn sign_up(
    admin: web::Data<AdminState>,
    req: HttpRequest,
    body: web::Json<SignUp>,
) -> Result<HttpResponse, ApiError> {
    saas_only(&admin)?;
    let body = body.into_inner();
    // Every sign-up counts (the attempt is never given back): it creates a tenant.
    let client = admin.proxies.client_ip(&req);
    Attempt::begin(&admin, vec![format!("signup:ip:{client}")]).await?;
    let email = normalize_email(&body.email);
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::validation("email", "is not an email address"));
    }
    password::validate_new_password(&body.password)
        .map_err(|e| ApiError::validation("password", e.to_string()))?;
    let organisation = body.organisation.trim().to_owned();
    if organisation.is_empty() || organisation.chars().count() > 100 {
        return Err(ApiError::validation(
            "organisation",
            "must be 1 to 100 characters",
        ));
    }
    let slug = body.slug.unwrap_or_else(|| slugify(&organisation));
    validate_slug(&slug)?;
    let candidate = body.password;
    let password_hash = admin
        .hash_work(move || password::hash_password(&candidate))
        .await?
        .map_err(ApiError::internal)?;
    let name = body
        .name
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let db = admin.repo.db().clone();
    let (user, tenant) = admin
        .run(async move {
            // One response for a taken email, whoever owns it, so sign-up does not confirm who has an account.
            if user::Entity::find()
                .filter(user::Column::Email.eq(&email))
                .one(&db)
                .await?
                .is_some()
            {
                return Err(ApiError::Conflict(
                    "this email cannot be used to sign up; sign in instead".into(),
                ));
            }
            let tenant = insert_tenant(&db, organisation, slug, usd()).await?;
            let now = Utc::now();
            let user = user::Model {
                id: Uuid::now_v7(),
                email,
                name,
                password_hash,
                is_platform_admin: false,
                created_at: now,
                updated_at: now,
            }
            .into_active_model()
            .insert(&db)
            .await?;
            add_owner(&db, tenant.id, user.id).await?;
            let scoped = Scoped::new(db, tenant.id);
            audit::record(
                &scoped,
                Some(user.id),
                "tenant.sign_up",
                "tenant",
                Some(tenant.id.to_string()),
                None,
                Some(json!({"slug": tenant.slug, "owner": user.email})),
            )
            .await?;
            Ok((user, tenant))
        })
        .await?;
    let tokens = start_session(&admin, &user, &tenant, Role::Owner, Uuid::now_v7()).await?;
    Ok(with_cookies(&admin, HttpResponse::Created(), &tokens))
}

async fn require_platform_admin(admin: &AdminState, session: &Session) -> Result<(), ApiError> {
    let db = admin.repo.db().clone();
    let user_id = session.user_id;
    let is_admin = admin
        .run(async move {
            Ok(user::Entity::find_by_id(user_id)
                .one(&db)
                .await?
                .is_some_and(|u| u.is_platform_admin))
        })
        .await?;
    if is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `GET /api/v1/platform/tenants` (SaaS mode, platform operators).
#[utoipa::path(
    get,
    path = "/api/v1/platform/tenants",
    operation_id = "tenants_list",
    tag = "tenant",
    summary = "List every tenant (SaaS mode, platform operators)",
    responses(
        (status = 200, description = "All tenants", body = super::openapi::DataList<PlatformTenantView>),
        (status = 401, description = "No valid session", body = super::error::ApiErrorBody),
        (status = 403, description = "Not a platform operator (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Self-hosted mode", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    saas_only(&admin)?;
    require_platform_admin(&admin, &session).await?;
    let db = admin.repo.db().clone();
    let rows = admin
        .run(async move {
            Ok(tenant::Entity::find()
                .order_by_asc(tenant::Column::CreatedAt)
                .all(&db)
                .await?)
        })
        .await?;
    let data: Vec<PlatformTenantView> = rows
        .into_iter()
        .map(|t| PlatformTenantView {
            id: t.id,
            slug: t.slug,
            name: t.name,
            currency: t.currency,
            created_at: t.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"data": data})))
}

/// `POST /api/v1/platform/tenants` (SaaS mode, platform operators): a tenant and its owner.
#[utoipa::path(
    post,
    path = "/api/v1/platform/tenants",
    operation_id = "tenants_create",
    tag = "tenant",
    summary = "Create a tenant with its owner (SaaS mode, platform operators)",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created; a new owner's one-time password is returned once", body = CreatedTenant),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "No valid session", body = super::error::ApiErrorBody),
        (status = 403, description = "Not a platform operator (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Self-hosted mode", body = super::error::ApiErrorBody),
        (status = 409, description = "Slug taken (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn create(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    saas_only(&admin)?;
    require_platform_admin(&admin, &session).await?;
    let body = body.into_inner();
    validate_slug(&body.slug)?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name", "must be 1 to 100 characters"));
    }
    if body.currency.len() != 3 || !body.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::validation(
            "currency",
            "an ISO 4217 code such as USD or EUR",
        ));
    }
    let email = normalize_email(&body.owner_email);
    if !email.contains('@') {
        return Err(ApiError::validation(
            "owner_email",
            "is not an email address",
        ));
    }
    let one_time = password::generate_one_time_password();
    let one_time_hash = hash(one_time.clone()).await?;
    let db = admin.repo.db().clone();
    let actor = session.user_id;
    let created = admin
        .run(async move {
            let tenant = insert_tenant(&db, name, body.slug, body.currency).await?;
            let existing = user::Entity::find()
                .filter(user::Column::Email.eq(&email))
                .one(&db)
                .await?;
            let (owner, otp) = match existing {
                Some(u) => (u, None),
                None => {
                    let now = Utc::now();
                    let name = email.split('@').next().unwrap_or_default().to_owned();
                    let u = user::Model {
                        id: Uuid::now_v7(),
                        email,
                        name,
                        password_hash: one_time_hash,
                        is_platform_admin: false,
                        created_at: now,
                        updated_at: now,
                    }
                    .into_active_model()
                    .insert(&db)
                    .await?;
                    (u, Some(one_time))
                }
            };
            add_owner(&db, tenant.id, owner.id).await?;
            let scoped = Scoped::new(db, tenant.id);
            audit::record(
                &scoped,
                Some(actor),
                "tenant.create",
                "tenant",
                Some(tenant.id.to_string()),
                None,
                Some(json!({"slug": tenant.slug, "owner": owner.email})),
            )
            .await?;
            Ok(CreatedTenant {
                tenant: PlatformTenantView {
                    id: tenant.id,
                    slug: tenant.slug,
                    name: tenant.name,
                    currency: tenant.currency,
                    created_at: tenant.created_at,
                },
                owner: UserView {
                    id: owner.id,
                    email: owner.email,
                    name: owner.name,
                },
                owner_one_time_password: otp,
            })
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(created))
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn organisation_names_become_slugs() {
        assert_eq!(slugify("  Acme Corp, Inc. "), "acme-corp-inc");
        assert_eq!(slugify("Über AI"), "ber-ai");
    }
}
