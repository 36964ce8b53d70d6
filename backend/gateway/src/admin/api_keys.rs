//! API keys: `/api/v1/keys`. The secret is returned once, at creation or rotation; lists show the display
//! prefix only. A developer sees and manages only keys they own, in teams they belong to. Every change is
//! published to the proxies' key caches at once.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::regions::validate_regions;
use super::roles::{Action, Scope};
use super::teams::double_option;
use super::versioning::{check_if_match, etag_of};
use crate::keys;
use crate::state::Invalidation;
use crate::store::Scoped;
use crate::store::entities::{api_key, membership, team, team_member};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter, Select, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Longest accepted rotation grace period (7 days).
const MAX_GRACE_SECONDS: u64 = 7 * 24 * 3600;

/// A key as the API shows it: never the secret or its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub team_id: Uuid,
    pub owner_user_id: Option<Uuid>,
    pub application: Option<String>,
    pub allowed_models: Option<Vec<String>>,
    pub allowed_regions: Option<Vec<String>>,
    pub allowed_tools: Option<Vec<String>>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    /// Most calls in flight at once; `null`: no limit.
    pub max_concurrency: Option<i64>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<Uuid>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn list_of(value: Option<Value>) -> Option<Vec<String>> {
    value.and_then(|v| serde_json::from_value(v).ok())
}

impl From<api_key::Model> for KeyView {
    fn from(k: api_key::Model) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            team_id: k.team_id,
            owner_user_id: k.owner_user_id,
            application: k.application,
            allowed_models: list_of(k.allowed_models),
            allowed_regions: list_of(k.allowed_regions),
            allowed_tools: list_of(k.allowed_tools),
            rpm_limit: k.rpm_limit,
            tpm_limit: k.tpm_limit,
            max_concurrency: k.max_concurrency,
            metadata: k.metadata.and_then(|v| serde_json::from_value(v).ok()),
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            replaced_by: k.replaced_by,
            last_used_at: k.last_used_at,
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }
}

/// A new key with its secret (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyView,
    /// The secret. It is not stored and cannot be shown again.
    pub secret: String,
}

/// `POST /keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub team_id: Uuid,
    pub application: Option<String>,
    /// Owner; default the caller. Developers always own their keys.
    pub owner_user_id: Option<Uuid>,
    pub allowed_models: Option<Vec<String>>,
    pub allowed_regions: Option<Vec<String>>,
    pub allowed_tools: Option<Vec<String>>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_concurrency: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `PATCH /keys/{id}` body; absent fields stay, `null` clears.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    pub name: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub application: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_models: Option<Option<Vec<String>>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_regions: Option<Option<Vec<String>>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_tools: Option<Option<Vec<String>>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub rpm_limit: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub tpm_limit: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub max_concurrency: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<Option<BTreeMap<String, String>>>,
}

/// `POST /keys/{id}/rotate` body.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old secret keeps working (default 0: it stops at once).
    #[serde(default)]
    pub grace_seconds: u64,
}

/// `GET /keys` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyFilter {
    pub team_id: Option<Uuid>,
    /// Include revoked keys (default false).
    #[serde(default)]
    pub include_revoked: bool,
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

fn validate_names(field: &str, values: &[String]) -> Result<(), ApiError> {
    if values.len() > 100 {
        return Err(ApiError::validation(field, "at most 100 entries"));
    }
    for (i, v) in values.iter().enumerate() {
        if v.trim().is_empty() || v.len() > 200 {
            return Err(ApiError::validation(
                format!("{field}[{i}]"),
                "must be 1 to 200 characters",
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_limit(field: &str, value: Option<i64>) -> Result<(), ApiError> {
    match value {
        Some(n) if n <= 0 => Err(ApiError::validation(
            field,
            "must be greater than 0 (or null for no limit)",
        )),
        _ => Ok(()),
    }
}

fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if metadata.len() > 16 {
        return Err(ApiError::validation("metadata", "at most 16 entries"));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.chars().count() > 64 || v.len() > 512 {
            return Err(ApiError::validation(
                format!("metadata.{k}"),
                "keys 1 to 64 characters, values at most 512 bytes",
            ));
        }
    }
    Ok(())
}

/// The keys a session may see: all of the tenant's, or only those it owns in teams it still belongs to.
async fn visible(
    scoped: &Scoped,
    session: &Session,
    scope: Scope,
) -> Result<Select<api_key::Entity>, ApiError> {
    Ok(match scope {
        Scope::Own => {
            let teams: Vec<Uuid> = scoped
                .team_members()
                .filter(team_member::Column::UserId.eq(session.user_id))
                .all(&scoped.db)
                .await?
                .into_iter()
                .map(|m| m.team_id)
                .collect();
            scoped
                .keys()
                .filter(api_key::Column::OwnerUserId.eq(session.user_id))
                .filter(api_key::Column::TeamId.is_in(teams))
        }
        Scope::All | Scope::None => scoped.keys(),
    })
}

async fn find(
    scoped: &Scoped,
    session: &Session,
    scope: Scope,
    id: Uuid,
) -> Result<api_key::Model, ApiError> {
    visible(scoped, session, scope)
        .await?
        .filter(api_key::Column::Id.eq(id))
        .one(&scoped.db)
        .await?
        .ok_or(ApiError::NotFound("key"))
}

async fn is_team_member(scoped: &Scoped, team_id: Uuid, user_id: Uuid) -> Result<bool, ApiError> {
    Ok(scoped
        .team_members()
        .filter(team_member::Column::TeamId.eq(team_id))
        .filter(team_member::Column::UserId.eq(user_id))
        .one(&scoped.db)
        .await?
        .is_some())
}

/// `GET /api/v1/keys`.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    operation_id = "api_keys_list",
    tag = "keys",
    summary = "List API keys (developers: only their own)",
    params(KeyFilter, PageQuery),
    responses(
        (status = 200, description = "One page of keys, newest first", body = Page<KeyView>),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
    filter: web::Query<KeyFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::KeysRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let (filter, page) = (filter.into_inner(), page.into_inner());
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let mut query = visible(&scoped, &session, scope).await?;
            if let Some(team_id) = filter.team_id {
                query = query.filter(api_key::Column::TeamId.eq(team_id));
            }
            if !filter.include_revoked {
                query = query.filter(api_key::Column::RevokedAt.is_null());
            }
            let rows = page.fetch(query, api_key::Column::Id, &scoped.db).await?;
            Ok(Page::from_rows(rows, limit, |k| k.id, KeyView::from))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `POST /api/v1/keys`.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    operation_id = "api_keys_create",
    tag = "keys",
    summary = "Create an API key",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The new key with its secret, shown only this once", body = CreatedKey),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn create(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::KeysManage)?;
    let body = body.into_inner();
    let name = validate_name(&body.name)?;
    for (field, values) in [
        ("allowed_models", &body.allowed_models),
        ("allowed_tools", &body.allowed_tools),
    ] {
        if let Some(values) = values {
            validate_names(field, values)?;
        }
    }
    validate_limit("rpm_limit", body.rpm_limit)?;
    validate_limit("tpm_limit", body.tpm_limit)?;
    validate_limit("max_concurrency", body.max_concurrency)?;
    if let Some(metadata) = &body.metadata {
        validate_metadata(metadata)?;
    }
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    let owner = match (scope, body.owner_user_id) {
        (Scope::Own, Some(owner)) if owner != session.user_id => {
            return Err(ApiError::validation(
                "owner_user_id",
                "developers create keys for themselves only",
            ));
        }
        (_, owner) => owner.unwrap_or(session.user_id),
    };
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let new_key = keys::generate();
    let secret = new_key.secret.clone();
    let actor = session.user_id;
    let view = admin
        .run(async move {
            scoped
                .teams()
                .filter(team::Column::Id.eq(body.team_id))
                .one(&scoped.db)
                .await?
                .ok_or_else(|| ApiError::validation("team_id", "no such team"))?;
            if scope == Scope::Own && !is_team_member(&scoped, body.team_id, actor).await? {
                return Err(ApiError::Forbidden);
            }
            if let Some(regions) = &body.allowed_regions {
                validate_regions(&scoped, regions, "allowed_regions").await?;
            }
            if scoped
                .memberships()
                .filter(membership::Column::UserId.eq(owner))
                .one(&scoped.db)
                .await?
                .is_none()
            {
                return Err(ApiError::validation(
                    "owner_user_id",
                    "is not a member of this tenant",
                ));
            }
            let mut row = keys::new_row(
                scoped.tenant_id,
                body.team_id,
                name,
                &new_key,
                body.allowed_models,
            );
            row.application = body.application;
            row.owner_user_id = Some(owner);
            row.allowed_regions = body.allowed_regions.map(|r| json!(r));
            row.allowed_tools = body.allowed_tools.map(|t| json!(t));
            row.rpm_limit = body.rpm_limit;
            row.tpm_limit = body.tpm_limit;
            row.max_concurrency = body.max_concurrency;
            row.expires_at = body.expires_at;
            row.metadata = body.metadata.map(|m| json!(m));
            let row = row.into_active_model().insert(&scoped.db).await?;
            let view = KeyView::from(row);
            audit::record(
                &scoped,
                Some(actor),
                "api_key.create",
                "api_key",
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
        .json(CreatedKey { key: view, secret }))
}

/// `GET /api/v1/keys/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{id}",
    operation_id = "api_keys_get",
    tag = "keys",
    summary = "Get an API key",
    params(("id" = Uuid, Path, description = "The key id")),
    responses(
        (status = 200, description = "The key (with an `ETag` header)", body = KeyView),
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
    let scope = session.require(Action::KeysRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let row = admin
        .run(async move { find(&scoped, &session, scope, id).await })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("etag", etag_of(row.updated_at)))
        .json(KeyView::from(row)))
}

/// `PATCH /api/v1/keys/{id}`; honours `If-Match`.
#[utoipa::path(
    patch,
    path = "/api/v1/keys/{id}",
    operation_id = "api_keys_update",
    tag = "keys",
    summary = "Update an API key",
    params(("id" = Uuid, Path, description = "The key id"), ("If-Match" = Option<String>, Header, description = "An ETag from a previous read; the edit is refused with 412 if the resource changed since")),
    request_body = UpdateKey,
    responses(
        (status = 200, description = "The updated key (with an `ETag` header)", body = KeyView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "The key is revoked or rotated (`conflict`)", body = super::error::ApiErrorBody),
        (status = 412, description = "`If-Match` names an older version (`precondition_failed`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn update(
    admin: web::Data<AdminState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: web::Json<UpdateKey>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::KeysManage)?;
    let body = body.into_inner();
    let name = body.name.as_deref().map(validate_name).transpose()?;
    for (field, values) in [
        ("allowed_models", &body.allowed_models),
        ("allowed_tools", &body.allowed_tools),
    ] {
        if let Some(Some(values)) = values {
            validate_names(field, values)?;
        }
    }
    validate_limit("rpm_limit", body.rpm_limit.flatten())?;
    validate_limit("tpm_limit", body.tpm_limit.flatten())?;
    validate_limit("max_concurrency", body.max_concurrency.flatten())?;
    if let Some(Some(metadata)) = &body.metadata {
        validate_metadata(metadata)?;
    }
    if body.expires_at.flatten().is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    let if_match = super::versioning::if_match(&req);
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let actor = session.user_id;
    let (row, hash) = admin
        .run(async move {
            let row = find(&scoped, &session, scope, id).await?;
            check_if_match(if_match.as_deref(), row.updated_at)?;
            if row.revoked_at.is_some() || row.replaced_by.is_some() {
                return Err(ApiError::Conflict(
                    "a revoked or rotated key cannot be edited".into(),
                ));
            }
            if scope == Scope::Own {
                super::key_restrictions::check_narrowing(&row, &body)?;
            }
            if let Some(Some(regions)) = &body.allowed_regions {
                validate_regions(&scoped, regions, "allowed_regions").await?;
            }
            let before = json!(KeyView::from(row.clone()));
            let hash = row.key_hash.clone();
            let mut active = row.into_active_model();
            if let Some(name) = name {
                active.name = Set(name);
            }
            if let Some(v) = body.application {
                active.application = Set(v);
            }
            if let Some(v) = body.allowed_models {
                active.allowed_models = Set(v.map(|m| json!(m)));
            }
            if let Some(v) = body.allowed_regions {
                active.allowed_regions = Set(v.map(|m| json!(m)));
            }
            if let Some(v) = body.allowed_tools {
                active.allowed_tools = Set(v.map(|m| json!(m)));
            }
            if let Some(v) = body.rpm_limit {
                active.rpm_limit = Set(v);
            }
            if let Some(v) = body.max_concurrency {
                active.max_concurrency = Set(v);
            }
            if let Some(v) = body.tpm_limit {
                active.tpm_limit = Set(v);
            }
            if let Some(v) = body.expires_at {
                active.expires_at = Set(v);
            }
            if let Some(v) = body.metadata {
                active.metadata = Set(v.map(|m| json!(m)));
            }
            active.updated_at = Set(Utc::now());
            let row = active.update(&scoped.db).await?;
            audit::record(
                &scoped,
                Some(actor),
                "api_key.update",
                "api_key",
                Some(id.to_string()),
                Some(before),
                Some(json!(KeyView::from(row.clone()))),
            )
            .await?;
            Ok((row, hash))
        })
        .await?;
    invalidate(&admin, hash).await;
    Ok(HttpResponse::Ok()
        .insert_header(("etag", etag_of(row.updated_at)))
        .json(KeyView::from(row)))
}

/// `POST /api/v1/keys/{id}/revoke`: the key stops working on every replica at once.
#[utoipa::path(
    post,
    path = "/api/v1/keys/{id}/revoke",
    operation_id = "api_keys_revoke",
    tag = "keys",
    summary = "Revoke an API key",
    params(("id" = Uuid, Path, description = "The key id")),
    responses(
        (status = 200, description = "The revoked key", body = KeyView),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn revoke(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::KeysManage)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let actor = session.user_id;
    let row = admin
        .run(async move {
            let row = find(&scoped, &session, scope, id).await?;
            if row.revoked_at.is_some() {
                return Ok(row);
            }
            let before = json!(KeyView::from(row.clone()));
            let mut active = row.into_active_model();
            let now = Utc::now();
            active.revoked_at = Set(Some(now));
            active.updated_at = Set(now);
            let row = active.update(&scoped.db).await?;
            audit::record(
                &scoped,
                Some(actor),
                "api_key.revoke",
                "api_key",
                Some(id.to_string()),
                Some(before),
                Some(json!(KeyView::from(row.clone()))),
            )
            .await?;
            Ok(row)
        })
        .await?;
    invalidate(&admin, row.key_hash.clone()).await;
    Ok(HttpResponse::Ok().json(KeyView::from(row)))
}

/// `POST /api/v1/keys/{id}/rotate`: a new secret with the same attributes; the old one keeps working for
/// `grace_seconds`, then expires.
#[utoipa::path(
    post,
    path = "/api/v1/keys/{id}/rotate",
    operation_id = "api_keys_rotate",
    tag = "keys",
    summary = "Rotate an API key",
    params(("id" = Uuid, Path, description = "The key id")),
    request_body(content = Option<RotateKey>, description = "Optional; an empty body means no grace period"),
    responses(
        (status = 201, description = "The replacement key with its secret, shown only this once", body = CreatedKey),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "The key is revoked, already rotated or expired (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn rotate(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::KeysManage)?;
    // An empty body means "no grace"; anything else must parse, so a misspelt field is an error, not a 0.
    let grace = if body.iter().all(u8::is_ascii_whitespace) {
        0
    } else {
        serde_json::from_slice::<RotateKey>(&body)
            .map_err(|e| ApiError::validation("body", e.to_string()))?
            .grace_seconds
    };
    if grace > MAX_GRACE_SECONDS {
        return Err(ApiError::validation(
            "grace_seconds",
            format!("at most {MAX_GRACE_SECONDS} (7 days)"),
        ));
    }
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let actor = session.user_id;
    let new_key = keys::generate();
    let secret = new_key.secret.clone();
    let (view, old_hash) = admin
        .run(async move {
            let old = find(&scoped, &session, scope, id).await?;
            if old.revoked_at.is_some() || old.replaced_by.is_some() {
                return Err(ApiError::Conflict(
                    "this key is revoked or already rotated".into(),
                ));
            }
            if old.expires_at.is_some_and(|at| at <= Utc::now()) {
                return Err(ApiError::Conflict(
                    "this key has expired; create a new one".into(),
                ));
            }
            let mut row = keys::new_row(
                scoped.tenant_id,
                old.team_id,
                old.name.clone(),
                &new_key,
                None,
            );
            row.allowed_models = old.allowed_models.clone();
            row.application = old.application.clone();
            row.owner_user_id = old.owner_user_id;
            row.allowed_regions = old.allowed_regions.clone();
            row.allowed_tools = old.allowed_tools.clone();
            row.rpm_limit = old.rpm_limit;
            row.tpm_limit = old.tpm_limit;
            row.max_concurrency = old.max_concurrency;
            // The new key inherits the old one's budgets and rate-limit counters.
            row.lineage_id = Some(old.lineage_id.unwrap_or(old.id));
            row.expires_at = old.expires_at;
            row.metadata = old.metadata.clone();
            let new_row = row.into_active_model().insert(&scoped.db).await?;
            let now = Utc::now();
            // A rotation never extends the old secret's life past the expiry it already had.
            let grace_end = (now + chrono::Duration::seconds(i64::try_from(grace).unwrap_or(0)))
                .min(old.expires_at.unwrap_or(chrono::DateTime::<Utc>::MAX_UTC));
            let old_hash = old.key_hash.clone();
            let mut active = old.into_active_model();
            active.replaced_by = Set(Some(new_row.id));
            active.expires_at = Set(Some(grace_end));
            active.updated_at = Set(now);
            active.update(&scoped.db).await?;
            let view = KeyView::from(new_row);
            audit::record(
                &scoped,
                Some(actor),
                "api_key.rotate",
                "api_key",
                Some(id.to_string()),
                None,
                Some(json!({"replaced_by": view.id, "old_key_expires_at": grace_end})),
            )
            .await?;
            Ok((view, old_hash))
        })
        .await?;
    invalidate(&admin, old_hash).await;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(CreatedKey { key: view, secret }))
}

async fn invalidate(admin: &AdminState, key_hash: String) {
    publish(admin, Invalidation::ApiKey { key_hash }).await;
}

/// Tells every replica to drop what it cached; a failure only delays the change by the cache TTL.
pub(crate) async fn publish(admin: &AdminState, message: Invalidation) {
    if let Err(e) = admin.state.publish(&message).await {
        tracing::warn!(error = %e, "change not published; replicas notice it within their cache TTL");
    }
}
