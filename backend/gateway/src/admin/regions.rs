//! Residency regions: the catalog (`GET /api/v1/regions`) and the tenant's own settings
//! (`GET`/`PATCH /api/v1/tenant`: name and allowed regions).

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::roles::Action;
use super::teams::double_option;
use super::versioning::{check_if_match, etag_of};
use crate::store::Scoped;
use crate::store::entities::{region, tenant};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// Checks that every code exists in the catalog (and is not repeated).
pub async fn validate_regions(
    scoped: &Scoped,
    codes: &[String],
    field: &str,
) -> Result<(), ApiError> {
    let known: Vec<String> = region::Entity::find()
        .all(&scoped.db)
        .await?
        .into_iter()
        .map(|r| r.code)
        .collect();
    for (i, code) in codes.iter().enumerate() {
        if !known.contains(code) {
            return Err(ApiError::validation(
                format!("{field}[{i}]"),
                format!("unknown region `{code}`; known: {}", known.join(", ")),
            ));
        }
        if codes[..i].contains(code) {
            return Err(ApiError::validation(
                format!("{field}[{i}]"),
                format!("region `{code}` is listed twice"),
            ));
        }
    }
    Ok(())
}

/// A catalog region.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegionView {
    pub code: String,
    pub name: String,
}

/// `GET /api/v1/regions`.
#[utoipa::path(
    get,
    path = "/api/v1/regions",
    operation_id = "regions_list",
    tag = "regions",
    summary = "List the catalog regions",
    responses(
        (status = 200, description = "Every region", body = super::openapi::DataList<RegionView>),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::RegionsRead)?;
    let db = admin.repo.db().clone();
    let rows = admin
        .run(async move {
            Ok(region::Entity::find()
                .order_by_asc(region::Column::Code)
                .all(&db)
                .await?)
        })
        .await?;
    let data: Vec<RegionView> = rows
        .into_iter()
        .map(|r| RegionView {
            code: r.code,
            name: r.name,
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"data": data})))
}

/// The caller's tenant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub currency: String,
    /// `null`: every region.
    pub allowed_regions: Option<Vec<String>>,
    /// Requests per minute across the whole tenant; `null`: no limit.
    pub rpm_limit: Option<i64>,
    /// Tokens per minute across the whole tenant; `null`: no limit.
    pub tpm_limit: Option<i64>,
    /// `open`: while the limit counters (Redis) are unreachable, calls are served unmetered; `closed`: they
    /// are refused with 503 `limits_unavailable`.
    pub limits_failure_mode: String,
    /// Days the raw usage events (the request log and sessions) are kept; `null`: the deployment's
    /// `usage.raw_retention_days`. Reports and chargeback keep working from the roll-ups.
    pub request_log_retention_days: Option<i32>,
    /// Capture the redacted request and answer of every call in the request log.
    pub capture_bodies: bool,
}

impl From<tenant::Model> for TenantView {
    fn from(t: tenant::Model) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            currency: t.currency,
            allowed_regions: t
                .allowed_regions
                .and_then(|v| serde_json::from_value(v).ok()),
            rpm_limit: t.rpm_limit,
            tpm_limit: t.tpm_limit,
            limits_failure_mode: t.limits_failure_mode,
            request_log_retention_days: t.request_log_retention_days,
            capture_bodies: t.capture_bodies,
        }
    }
}

/// `PATCH /api/v1/tenant` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    pub name: Option<String>,
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
    /// `open` or `closed`.
    pub limits_failure_mode: Option<String>,
    /// 35 to 3650 days; `null`: the deployment-wide retention (only a shorter one has an effect).
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub request_log_retention_days: Option<Option<i32>>,
    pub capture_bodies: Option<bool>,
}

/// `GET /api/v1/tenant`.
#[utoipa::path(
    get,
    path = "/api/v1/tenant",
    operation_id = "regions_get_tenant",
    tag = "tenant",
    summary = "The caller's tenant",
    responses(
        (status = 200, description = "The tenant (with an `ETag` header)", body = TenantView),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn get_tenant(
    admin: web::Data<AdminState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TenantRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let row = admin
        .run(async move {
            scoped
                .tenant()
                .one(&scoped.db)
                .await?
                .ok_or(ApiError::NotFound("tenant"))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("etag", etag_of(row.updated_at)))
        .json(TenantView::from(row)))
}

/// `PATCH /api/v1/tenant`; honours `If-Match`.
#[utoipa::path(
    patch,
    path = "/api/v1/tenant",
    operation_id = "regions_update_tenant",
    tag = "tenant",
    summary = "Update the tenant",
    params(("If-Match" = Option<String>, Header, description = "An ETag from a previous read; the edit is refused with 412 if the resource changed since")),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "The updated tenant (with an `ETag` header)", body = TenantView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 412, description = "`If-Match` names an older version (`precondition_failed`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn update_tenant(
    admin: web::Data<AdminState>,
    session: Session,
    req: HttpRequest,
    body: web::Json<UpdateTenant>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::TenantUpdate)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let body = body.into_inner();
    let if_match = super::versioning::if_match(&req);
    if let Some(name) = &body.name
        && (name.trim().is_empty() || name.chars().count() > 100)
    {
        return Err(ApiError::validation("name", "must be 1 to 100 characters"));
    }
    super::api_keys::validate_limit("rpm_limit", body.rpm_limit.flatten())?;
    super::api_keys::validate_limit("tpm_limit", body.tpm_limit.flatten())?;
    if let Some(mode) = &body.limits_failure_mode
        && mode != "open"
        && mode != "closed"
    {
        return Err(ApiError::validation(
            "limits_failure_mode",
            "must be `open` (serve calls unmetered while the limit counters are unreachable) or `closed` (refuse them)",
        ));
    }
    // At least 35 days: budget counters are re-seeded and reconciled from raw events of the current period,
    // so a monthly budget must never lose its own month's events.
    if let Some(Some(days)) = body.request_log_retention_days
        && !(35..=3650).contains(&days)
    {
        return Err(ApiError::validation(
            "request_log_retention_days",
            "must be between 35 and 3650 days (budgets are reconciled from the current period's raw events)",
        ));
    }
    let actor = session.user_id;
    let (etag, view) = admin
        .run(async move {
            let row = scoped
                .tenant()
                .one(&scoped.db)
                .await?
                .ok_or(ApiError::NotFound("tenant"))?;
            check_if_match(if_match.as_deref(), row.updated_at)?;
            if let Some(Some(regions)) = &body.allowed_regions {
                validate_regions(&scoped, regions, "allowed_regions").await?;
            }
            let before = json!(TenantView::from(row.clone()));
            let mut active = row.into_active_model();
            if let Some(name) = body.name {
                active.name = Set(name.trim().to_owned());
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
            if let Some(mode) = body.limits_failure_mode {
                active.limits_failure_mode = Set(mode);
            }
            if let Some(days) = body.request_log_retention_days {
                active.request_log_retention_days = Set(days);
            }
            if let Some(capture) = body.capture_bodies {
                active.capture_bodies = Set(capture);
            }
            active.updated_at = Set(Utc::now());
            let row = active.update(&scoped.db).await?;
            let view = TenantView::from(row.clone());
            audit::record(
                &scoped,
                Some(actor),
                "tenant.update",
                "tenant",
                Some(row.id.to_string()),
                Some(before),
                Some(json!(view)),
            )
            .await?;
            Ok((etag_of(row.updated_at), view))
        })
        .await?;
    super::api_keys::publish(&admin, crate::state::Invalidation::Everything).await;
    Ok(HttpResponse::Ok().insert_header(("etag", etag)).json(view))
}
