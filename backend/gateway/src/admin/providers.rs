//! Providers: `/api/v1/providers`. A provider's API key is encrypted with AES-256-GCM under the master key
//! before it is stored, bound to the provider's id, and never returned: responses carry a masked hint only.
//! Every change reloads the proxies' catalogs. Deployments are in `deployments`.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::outbound;
use super::pagination::{Page, PageQuery};
use super::roles::Action;
use super::versioning::{check_if_match, etag_of};
use crate::catalog::{ProviderKind, provider_key_context};
use crate::crypto::mask;
use crate::state::Invalidation;
use crate::store::entities::{deployment, provider};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// A provider as the API shows it: the credential only as a hint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub base_url: String,
    /// Masked stored key (e.g. `sk-…abcd`), when one is stored.
    pub api_key_hint: Option<String>,
    /// Environment variable the key is read from instead, when set.
    pub api_key_env: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<provider::Model> for ProviderView {
    fn from(p: provider::Model) -> Self {
        Self {
            id: p.id,
            name: p.name,
            kind: p.kind,
            base_url: p.base_url,
            api_key_hint: p.api_key_hint,
            api_key_env: p.api_key_env,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// `POST /providers` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    pub name: String,
    /// `openai` (OpenAI and every OpenAI-compatible server) or `azure` (Azure OpenAI: the base URL is
    /// `https://<resource>.openai.azure.com/openai`, optionally with `?api-version=…`).
    pub kind: String,
    pub base_url: String,
    /// Stored encrypted; never returned.
    pub api_key: Option<String>,
    /// Alternatively, the environment variable the gateway reads the key from.
    pub api_key_env: Option<String>,
}

/// `PATCH /providers/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    pub name: Option<String>,
    pub base_url: Option<String>,
    /// Replaces the stored key; `null` removes it.
    #[serde(default, with = "super::teams::double_option")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<Option<String>>,
    #[serde(default, with = "super::teams::double_option")]
    #[schema(value_type = Option<String>)]
    pub api_key_env: Option<Option<String>>,
}

/// Scheme, host and port of a URL: where a credential sent to it goes.
fn origin_of(url: &str) -> Option<(String, String, Option<u16>)> {
    let url = reqwest::Url::parse(url).ok()?;
    Some((
        url.scheme().to_owned(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default(),
    ))
}

fn validate_provider_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_whitespace) {
        return Err(ApiError::validation(
            "name",
            "1 to 64 characters without spaces",
        ));
    }
    Ok(name.to_owned())
}

fn validate_api_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 4096 || key.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "api_key",
            "must be 1 to 4096 printable characters",
        ));
    }
    Ok(())
}

/// `GET /api/v1/providers`.
#[utoipa::path(
    get,
    path = "/api/v1/providers",
    operation_id = "providers_list",
    tag = "providers",
    summary = "List providers",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of providers, newest first", body = Page<ProviderView>),
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
    session.require(Action::ProvidersRead)?;
    let db = admin.repo.db().clone();
    let page = page.into_inner();
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let query = crate::store::Scoped::new(db.clone(), session.tenant_id).providers();
            let rows = page.fetch(query, provider::Column::Id, &db).await?;
            Ok(Page::from_rows(rows, limit, |p| p.id, ProviderView::from))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `POST /api/v1/providers`.
#[utoipa::path(
    post,
    path = "/api/v1/providers",
    operation_id = "providers_create",
    tag = "providers",
    summary = "Create a provider",
    request_body = CreateProvider,
    responses(
        (status = 201, description = "The new provider (the key only as a hint)", body = ProviderView),
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
    body: web::Json<CreateProvider>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersManage)?;
    let body = body.into_inner();
    let name = validate_provider_name(&body.name)?;
    if ProviderKind::parse(&body.kind).is_none() {
        return Err(ApiError::validation(
            "kind",
            format!(
                "unknown provider kind; supported: {}",
                ProviderKind::NAMES.join(", ")
            ),
        ));
    }
    let base_url = outbound::outbound_url("base_url", &body.base_url, &admin.egress)?
        .trim_end_matches('/')
        .to_owned();
    if let Some(key) = &body.api_key {
        validate_api_key(key)?;
    }
    let api_key_env = body
        .api_key_env
        .as_deref()
        .map(|name| {
            outbound::provider_key_env(admin.saas(), &admin.settings.provider_key_env, name)
        })
        .transpose()?;
    let id = Uuid::now_v7();
    let sealed = body
        .api_key
        .as_deref()
        .map(|k| admin.master_keys.encrypt(k, &provider_key_context(id)))
        .transpose()
        .map_err(ApiError::internal)?;
    let hint = body.api_key.as_deref().map(mask);
    let db = admin.repo.db().clone();
    let tenant_id = session.tenant_id;
    let actor = session.user_id;
    let view = admin
        .run(async move {
            if crate::store::Scoped::new(db.clone(), tenant_id)
                .providers()
                .filter(provider::Column::Name.eq(&name))
                .one(&db)
                .await?
                .is_some()
            {
                return Err(ApiError::Conflict(format!(
                    "a provider named `{name}` already exists"
                )));
            }
            let now = Utc::now();
            let row = provider::Model {
                id,
                tenant_id,
                name,
                kind: body.kind,
                base_url,
                api_key_env,
                created_at: now,
                updated_at: now,
                api_key_ciphertext: sealed,
                api_key_hint: hint,
            }
            .into_active_model()
            .insert(&db)
            .await?;
            let view = ProviderView::from(row);
            let scoped = crate::store::Scoped::new(db, tenant_id);
            audit::record(
                &scoped,
                Some(actor),
                "provider.create",
                "provider",
                Some(view.id.to_string()),
                None,
                Some(json!(view)),
            )
            .await?;
            Ok(view)
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Catalog).await;
    Ok(HttpResponse::Created()
        .insert_header(("etag", etag_of(view.updated_at)))
        .json(view))
}

/// `PATCH /api/v1/providers/{id}`.
#[utoipa::path(
    patch,
    path = "/api/v1/providers/{id}",
    operation_id = "providers_update",
    tag = "providers",
    summary = "Update a provider",
    params(("id" = Uuid, Path, description = "The provider id"), ("If-Match" = Option<String>, Header, description = "An ETag from a previous read; the edit is refused with 412 if the resource changed since")),
    request_body = UpdateProvider,
    responses(
        (status = 200, description = "The updated provider", body = ProviderView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "Conflicts with the current state (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn update(
    admin: web::Data<AdminState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: web::Json<UpdateProvider>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersManage)?;
    let (id, body) = (path.into_inner(), body.into_inner());
    let if_match = super::versioning::if_match(&req);
    let name = body
        .name
        .as_deref()
        .map(validate_provider_name)
        .transpose()?;
    let base_url = body
        .base_url
        .as_deref()
        .map(|url| {
            outbound::outbound_url("base_url", url, &admin.egress)
                .map(|url| url.trim_end_matches('/').to_owned())
        })
        .transpose()?;
    let api_key_env = match &body.api_key_env {
        Some(Some(name)) => Some(Some(outbound::provider_key_env(
            admin.saas(),
            &admin.settings.provider_key_env,
            name,
        )?)),
        Some(None) => Some(None),
        None => None,
    };
    let key_given = body.api_key.is_some() || body.api_key_env.is_some();
    let new_key = match &body.api_key {
        Some(Some(key)) => {
            validate_api_key(key)?;
            Some(Some((
                admin
                    .master_keys
                    .encrypt(key, &provider_key_context(id))
                    .map_err(ApiError::internal)?,
                mask(key),
            )))
        }
        Some(None) => Some(None),
        None => None,
    };
    let db = admin.repo.db().clone();
    let tenant_id = session.tenant_id;
    let actor = session.user_id;
    let view = admin
        .run(async move {
            let row = crate::store::Scoped::new(db.clone(), tenant_id)
                .providers()
                .filter(provider::Column::Id.eq(id))
                .one(&db)
                .await?
                .ok_or(ApiError::NotFound("provider"))?;
            check_if_match(if_match.as_deref(), row.updated_at)?;
            // A stored credential was given for one host: moving the provider to another host without giving
            // the credential again would hand it to whoever runs that host.
            if let Some(url) = &base_url
                && origin_of(url) != origin_of(&row.base_url)
                && (row.api_key_ciphertext.is_some() || row.api_key_env.is_some())
                && !key_given
            {
                return Err(ApiError::validation(
                    "api_key",
                    "the base URL moves to another host: send the credential again (api_key, or null for none)",
                ));
            }
            let before = json!(ProviderView::from(row.clone()));
            let mut active = row.into_active_model();
            if let Some(name) = name {
                active.name = Set(name);
            }
            if let Some(url) = base_url {
                active.base_url = Set(url);
            }
            if let Some(key) = new_key {
                let (sealed, hint) = key.map_or((None, None), |(s, h)| (Some(s), Some(h)));
                active.api_key_ciphertext = Set(sealed);
                active.api_key_hint = Set(hint);
            }
            if let Some(env) = api_key_env {
                active.api_key_env = Set(env);
            }
            active.updated_at = Set(Utc::now());
            let view = ProviderView::from(active.update(&db).await?);
            let scoped = crate::store::Scoped::new(db, tenant_id);
            audit::record(
                &scoped,
                Some(actor),
                "provider.update",
                "provider",
                Some(id.to_string()),
                Some(before),
                Some(json!(view)),
            )
            .await?;
            Ok(view)
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Catalog).await;
    Ok(HttpResponse::Ok()
        .insert_header(("etag", etag_of(view.updated_at)))
        .json(view))
}

/// `DELETE /api/v1/providers/{id}`: refused while deployments use it.
#[utoipa::path(
    delete,
    path = "/api/v1/providers/{id}",
    operation_id = "providers_delete",
    tag = "providers",
    summary = "Delete a provider (refused while deployments use it)",
    params(("id" = Uuid, Path, description = "The provider id")),
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
    session.require(Action::ProvidersManage)?;
    let id = path.into_inner();
    let db = admin.repo.db().clone();
    let tenant_id = session.tenant_id;
    let actor = session.user_id;
    admin
        .run(async move {
            let row = crate::store::Scoped::new(db.clone(), tenant_id)
                .providers()
                .filter(provider::Column::Id.eq(id))
                .one(&db)
                .await?
                .ok_or(ApiError::NotFound("provider"))?;
            let used = crate::store::Scoped::new(db.clone(), tenant_id)
                .deployments()
                .filter(deployment::Column::ProviderId.eq(id))
                .count(&db)
                .await?;
            if used > 0 {
                return Err(ApiError::Conflict(format!(
                    "{used} deployments use this provider; delete them first"
                )));
            }
            let before = json!(ProviderView::from(row));
            provider::Entity::delete_by_id(id).exec(&db).await?;
            let scoped = crate::store::Scoped::new(db, tenant_id);
            audit::record(
                &scoped,
                Some(actor),
                "provider.delete",
                "provider",
                Some(id.to_string()),
                Some(before),
                None,
            )
            .await
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Catalog).await;
    Ok(HttpResponse::NoContent().finish())
}
