//! Deployments: `/api/v1/deployments`. A deployment serves a public model with a provider's upstream model in a
//! region, at exact prices. Every change reloads the proxies' catalogs.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::Action;
use super::versioning::{check_if_match, etag_of};
use crate::money::PricePerMTok;
use crate::pricing::PriceSource;
use crate::state::Invalidation;
use crate::store::entities::{deployment, provider, region};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// A deployment: a public model served by a provider's upstream model in a region, with exact prices
/// (decimal strings, per million tokens).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeploymentView {
    pub id: Uuid,
    pub model: String,
    pub provider_id: Uuid,
    pub upstream_model: String,
    pub region: String,
    pub input_price: String,
    pub output_price: String,
    pub cached_input_price: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<deployment::Model> for DeploymentView {
    fn from(d: deployment::Model) -> Self {
        Self {
            id: d.id,
            model: d.public_model,
            provider_id: d.provider_id,
            upstream_model: d.upstream_model,
            region: d.region,
            input_price: PricePerMTok(d.input_price_micros).to_string(),
            output_price: PricePerMTok(d.output_price_micros).to_string(),
            cached_input_price: d
                .cached_input_price_micros
                .map(|p| PricePerMTok(p).to_string()),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// `POST /deployments` body; prices are decimal strings per million tokens (at most 6 decimals).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    pub model: String,
    pub provider_id: Uuid,
    pub upstream_model: String,
    pub region: String,
    pub input_price: String,
    pub output_price: String,
    pub cached_input_price: Option<String>,
}

/// `PATCH /deployments/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeployment {
    pub upstream_model: Option<String>,
    pub region: Option<String>,
    pub input_price: Option<String>,
    pub output_price: Option<String>,
    #[serde(default, with = "super::teams::double_option")]
    #[schema(value_type = Option<String>)]
    pub cached_input_price: Option<Option<String>>,
}

fn price(field: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<PricePerMTok>()
        .map(|p| p.0)
        .map_err(|e| ApiError::validation(field, e.to_string()))
}

fn non_empty(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 200 {
        return Err(ApiError::validation(field, "must be 1 to 200 characters"));
    }
    Ok(value.to_owned())
}

async fn check_region(db: &DatabaseConnection, code: &str) -> Result<(), ApiError> {
    if region::Entity::find_by_id(code.to_owned())
        .one(db)
        .await?
        .is_none()
    {
        return Err(ApiError::validation(
            "region",
            format!("unknown region `{code}` (see GET /api/v1/regions)"),
        ));
    }
    Ok(())
}

/// `GET /api/v1/deployments`.
#[utoipa::path(
    get,
    path = "/api/v1/deployments",
    operation_id = "providers_list_deployments",
    tag = "deployments",
    summary = "List deployments",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of deployments, newest first", body = Page<DeploymentView>),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list_deployments(
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
            let query = crate::store::Scoped::new(db.clone(), session.tenant_id).deployments();
            let rows = page.fetch(query, deployment::Column::Id, &db).await?;
            Ok(Page::from_rows(rows, limit, |d| d.id, DeploymentView::from))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `POST /api/v1/deployments`.
#[utoipa::path(
    post,
    path = "/api/v1/deployments",
    operation_id = "providers_create_deployment",
    tag = "deployments",
    summary = "Create a deployment",
    request_body = CreateDeployment,
    responses(
        (status = 201, description = "The new deployment", body = DeploymentView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 409, description = "Conflicts with the current state (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn create_deployment(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<CreateDeployment>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersManage)?;
    let body = body.into_inner();
    let model = non_empty("model", &body.model)?;
    let upstream_model = non_empty("upstream_model", &body.upstream_model)?;
    let (input, output) = (
        price("input_price", &body.input_price)?,
        price("output_price", &body.output_price)?,
    );
    let cached = body
        .cached_input_price
        .as_deref()
        .map(|p| price("cached_input_price", p))
        .transpose()?;
    let db = admin.repo.db().clone();
    let tenant_id = session.tenant_id;
    let actor = session.user_id;
    let view = admin
        .run(async move {
            crate::store::Scoped::new(db.clone(), tenant_id)
                .providers()
                .filter(provider::Column::Id.eq(body.provider_id))
                .one(&db)
                .await?
                .ok_or_else(|| ApiError::validation("provider_id", "no such provider"))?;
            check_region(&db, &body.region).await?;
            let now = Utc::now();
            let row = deployment::Model {
                id: Uuid::now_v7(),
                tenant_id,
                public_model: model,
                provider_id: body.provider_id,
                upstream_model,
                region: body.region,
                input_price_micros: input,
                output_price_micros: output,
                cached_input_price_micros: cached,
                created_at: now,
                updated_at: now,
                price_source: PriceSource::Deployment.as_str().into(),
            }
            .into_active_model()
            .insert(&db)
            .await?;
            let view = DeploymentView::from(row);
            let scoped = crate::store::Scoped::new(db, tenant_id);
            audit::record(
                &scoped,
                Some(actor),
                "deployment.create",
                "deployment",
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

/// `PATCH /api/v1/deployments/{id}`. A price change applies to calls from now on; past usage keeps its cost.
#[utoipa::path(
    patch,
    path = "/api/v1/deployments/{id}",
    operation_id = "providers_update_deployment",
    tag = "deployments",
    summary = "Update a deployment",
    params(("id" = Uuid, Path, description = "The deployment id"), ("If-Match" = Option<String>, Header, description = "An ETag from a previous read; the edit is refused with 412 if the resource changed since")),
    request_body = UpdateDeployment,
    responses(
        (status = 200, description = "The updated deployment", body = DeploymentView),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "Conflicts with the current state (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn update_deployment(
    admin: web::Data<AdminState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: web::Json<UpdateDeployment>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersManage)?;
    let (id, body) = (path.into_inner(), body.into_inner());
    let if_match = super::versioning::if_match(&req);
    let upstream_model = body
        .upstream_model
        .as_deref()
        .map(|m| non_empty("upstream_model", m))
        .transpose()?;
    let input = body
        .input_price
        .as_deref()
        .map(|p| price("input_price", p))
        .transpose()?;
    let output = body
        .output_price
        .as_deref()
        .map(|p| price("output_price", p))
        .transpose()?;
    let cached = match &body.cached_input_price {
        Some(Some(p)) => Some(Some(price("cached_input_price", p)?)),
        Some(None) => Some(None),
        None => None,
    };
    let db = admin.repo.db().clone();
    let tenant_id = session.tenant_id;
    let actor = session.user_id;
    let view = admin
        .run(async move {
            let row = crate::store::Scoped::new(db.clone(), tenant_id)
                .deployments()
                .filter(deployment::Column::Id.eq(id))
                .one(&db)
                .await?
                .ok_or(ApiError::NotFound("deployment"))?;
            check_if_match(if_match.as_deref(), row.updated_at)?;
            if let Some(region) = &body.region {
                check_region(&db, region).await?;
            }
            let before = json!(DeploymentView::from(row.clone()));
            let mut active = row.into_active_model();
            if let Some(v) = upstream_model {
                active.upstream_model = Set(v);
            }
            if let Some(v) = body.region {
                active.region = Set(v);
            }
            if let Some(v) = input {
                active.input_price_micros = Set(v);
            }
            if let Some(v) = output {
                active.output_price_micros = Set(v);
            }
            if let Some(v) = cached {
                active.cached_input_price_micros = Set(v);
            }
            active.updated_at = Set(Utc::now());
            let view = DeploymentView::from(active.update(&db).await?);
            let scoped = crate::store::Scoped::new(db, tenant_id);
            audit::record(
                &scoped,
                Some(actor),
                "deployment.update",
                "deployment",
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

/// `DELETE /api/v1/deployments/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/deployments/{id}",
    operation_id = "providers_delete_deployment",
    tag = "deployments",
    summary = "Delete a deployment",
    params(("id" = Uuid, Path, description = "The deployment id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn delete_deployment(
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
                .deployments()
                .filter(deployment::Column::Id.eq(id))
                .one(&db)
                .await?
                .ok_or(ApiError::NotFound("deployment"))?;
            let before = json!(DeploymentView::from(row));
            deployment::Entity::delete_by_id(id).exec(&db).await?;
            let scoped = crate::store::Scoped::new(db, tenant_id);
            audit::record(
                &scoped,
                Some(actor),
                "deployment.delete",
                "deployment",
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
