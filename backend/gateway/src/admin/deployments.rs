//! Deployments: `/api/v1/deployments`. A deployment serves a public model with a provider's upstream model in a
//! region, priced by its own prices or by the price catalog (`price_source`, see `pricing`). Every change
//! reloads the proxies' catalogs.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::Action;
use super::versioning::{check_if_match, etag_of};
use crate::money::{PricePerMTok, Prices};
use crate::pricing::PriceSource;
use crate::state::Invalidation;
use crate::store::Scoped;
use crate::store::entities::{deployment, provider, region};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// A deployment: a public model served by a provider's upstream model in a region. It is priced by its own
/// prices or by the price catalog (`price_source`); the view shows the prices in force now (decimal strings per
/// million tokens).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeploymentView {
    pub id: Uuid,
    pub model: String,
    pub provider_id: Uuid,
    pub upstream_model: String,
    pub region: String,
    /// `deployment` (its own prices) or `catalog` (the price catalog's, which change over time).
    pub price_source: String,
    pub input_price: String,
    pub output_price: String,
    pub cached_input_price: Option<String>,
    /// `null`: reasoning tokens cost the output price.
    pub reasoning_price: Option<String>,
    /// Share of traffic under the `weighted` strategy (and among equal priorities).
    pub weight: i32,
    /// Lower first under the `priority` strategy.
    pub priority: i32,
    /// The deployment's own requests per minute, counted on each replica; `null`: unlimited.
    pub rpm_limit: Option<i32>,
    /// The deployment's own tokens per minute, counted on each replica; `null`: unlimited.
    pub tpm_limit: Option<i64>,
    /// Passive health as this replica sees it, in the list only; `null` until the replica has loaded the
    /// deployment (within `proxy.catalog_refresh` of a change) and in the answers of changes.
    pub health: Option<HealthView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A deployment's health on the replica that answered (health is learned per replica from its own calls).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// `closed` (taking calls), `open` (refusing after failures) or `half_open` (one probe call allowed).
    pub circuit: &'static str,
    /// Milliseconds until it may be tried again (open circuit or a 429 cooldown); 0: now.
    pub available_in_ms: u64,
    pub in_flight: u64,
    /// Latency and time-to-first-token moving averages in milliseconds; `null` before the first success.
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
}

impl HealthView {
    fn of(health: &crate::routing::DeploymentHealth) -> Self {
        let ms = |us: Option<f64>| us.map(|us| (us / 10.0).round() / 100.0);
        Self {
            circuit: health.circuit().as_str(),
            available_in_ms: health.available_in_ms(crate::routing::health::now_ms()),
            in_flight: health.in_flight(),
            latency_ms: ms(health.latency_us()),
            ttft_ms: ms(health.ttft_us()),
        }
    }
}

impl DeploymentView {
    /// The view of a row with the prices in force now.
    fn new(d: deployment::Model, prices: Prices) -> Self {
        Self {
            id: d.id,
            model: d.public_model,
            provider_id: d.provider_id,
            upstream_model: d.upstream_model,
            region: d.region,
            price_source: d.price_source,
            input_price: prices.input.to_string(),
            output_price: prices.output.to_string(),
            cached_input_price: prices.cached_input.map(|p| p.to_string()),
            reasoning_price: prices.reasoning.map(|p| p.to_string()),
            weight: d.weight,
            priority: d.priority,
            rpm_limit: d.rpm_limit,
            tpm_limit: d.tpm_limit,
            health: None,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// Views of deployments, each with the prices in force now (which for catalog-priced ones needs the catalog).
async fn views(
    scoped: &Scoped,
    rows: Vec<deployment::Model>,
) -> Result<Vec<DeploymentView>, ApiError> {
    let kinds: HashMap<Uuid, String> = scoped
        .providers()
        .all(&scoped.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.kind))
        .collect();
    let prices = super::prices::prices_now(scoped, &rows, &kinds).await?;
    Ok(rows
        .into_iter()
        .zip(prices)
        .map(|(d, p)| DeploymentView::new(d, p))
        .collect())
}

async fn view(scoped: &Scoped, row: deployment::Model) -> Result<DeploymentView, ApiError> {
    views(scoped, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("a deployment view went missing"))
}

/// `POST /deployments` body; prices are decimal strings per million tokens (at most 6 decimals).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    pub model: String,
    pub provider_id: Uuid,
    pub upstream_model: String,
    pub region: String,
    /// With `output_price`: the deployment's own price. Leave out every price to price it from the catalog.
    pub input_price: Option<String>,
    pub output_price: Option<String>,
    pub cached_input_price: Option<String>,
    /// 0 to 1000; default 1.
    pub weight: Option<i32>,
    /// Default 0.
    pub priority: Option<i32>,
    /// The deployment's own requests per minute (≥ 1); routing passes over it while its minute is full.
    pub rpm_limit: Option<i32>,
    /// The deployment's own tokens per minute (≥ 1).
    pub tpm_limit: Option<i64>,
}

/// `PATCH /deployments/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeployment {
    pub upstream_model: Option<String>,
    pub region: Option<String>,
    /// `catalog` prices the deployment from the price catalog (give no prices then); `deployment` with
    /// `input_price` and `output_price` gives it its own prices again. Giving prices implies `deployment`.
    pub price_source: Option<String>,
    pub input_price: Option<String>,
    pub output_price: Option<String>,
    #[serde(default, with = "super::teams::double_option")]
    #[schema(value_type = Option<String>)]
    pub cached_input_price: Option<Option<String>>,
    pub weight: Option<i32>,
    pub priority: Option<i32>,
    /// `null` removes the limit.
    #[serde(default, with = "super::teams::double_option")]
    #[schema(value_type = Option<i32>)]
    pub rpm_limit: Option<Option<i32>>,
    /// `null` removes the limit.
    #[serde(default, with = "super::teams::double_option")]
    #[schema(value_type = Option<i64>)]
    pub tpm_limit: Option<Option<i64>>,
}

/// A deployment's own limit must be at least 1 when set.
fn check_own_limit(field: &str, limit: Option<i64>) -> Result<(), ApiError> {
    match limit {
        Some(n) if n < 1 => Err(ApiError::validation(field, "must be at least 1")),
        _ => Ok(()),
    }
}

fn check_weight(weight: Option<i32>) -> Result<(), ApiError> {
    match weight {
        Some(w) if !(0..=1000).contains(&w) => {
            Err(ApiError::validation("weight", "must be between 0 and 1000"))
        }
        _ => Ok(()),
    }
}

/// A deployment's own prices from the request, or `None` to price it from the catalog.
fn own_prices(
    input: Option<&str>,
    output: Option<&str>,
    cached: Option<&str>,
) -> Result<Option<Prices>, ApiError> {
    let both = "give both input_price and output_price, or no price at all to price the deployment from the catalog";
    let per_mtok = |field: &str, value: &str| super::prices::price(field, value).map(PricePerMTok);
    match (input, output) {
        (Some(input), Some(output)) => Ok(Some(Prices {
            input: per_mtok("input_price", input)?,
            output: per_mtok("output_price", output)?,
            cached_input: cached
                .map(|c| per_mtok("cached_input_price", c))
                .transpose()?,
            reasoning: None,
        })),
        (None, None) if cached.is_none() => Ok(None),
        (None, None) => Err(ApiError::validation("cached_input_price", both)),
        (None, Some(_)) => Err(ApiError::validation("input_price", both)),
        (Some(_), None) => Err(ApiError::validation("output_price", both)),
    }
}

/// Writes prices into a deployment's price columns. For a catalog-priced deployment they are the catalog
/// price of its last pricing change, used only if no catalog price is in force (see `pricing`).
fn set_columns(active: &mut deployment::ActiveModel, prices: Prices, source: PriceSource) {
    active.input_price_micros = Set(prices.input.0);
    active.output_price_micros = Set(prices.output.0);
    active.cached_input_price_micros = Set(prices.cached_input.map(|p| p.0));
    active.price_source = Set(source.as_str().to_owned());
}

/// The pricing part of a `PATCH /deployments/{id}`, validated.
struct PriceChange {
    requested: Option<PriceSource>,
    input: Option<PricePerMTok>,
    output: Option<PricePerMTok>,
    /// `Some(None)`: clear the cached-input price.
    cached: Option<Option<PricePerMTok>>,
}

impl PriceChange {
    fn from_request(body: &UpdateDeployment) -> Result<Self, ApiError> {
        let per_mtok =
            |field: &str, value: &str| super::prices::price(field, value).map(PricePerMTok);
        let optional =
            |field: &str, value: Option<&str>| value.map(|v| per_mtok(field, v)).transpose();
        let cached = match &body.cached_input_price {
            Some(value) => Some(optional("cached_input_price", value.as_deref())?),
            None => None,
        };
        let requested = body
            .price_source
            .as_deref()
            .map(|s| {
                PriceSource::parse(s).ok_or_else(|| {
                    ApiError::validation("price_source", "must be `deployment` or `catalog`")
                })
            })
            .transpose()?;
        let change = Self {
            requested,
            input: optional("input_price", body.input_price.as_deref())?,
            output: optional("output_price", body.output_price.as_deref())?,
            cached,
        };
        if requested == Some(PriceSource::Catalog) && change.gives_prices() {
            return Err(ApiError::validation(
                "price_source",
                "a deployment priced by the catalog takes no prices of its own; leave them out",
            ));
        }
        Ok(change)
    }

    fn gives_prices(&self) -> bool {
        self.input.is_some() || self.output.is_some() || self.cached.is_some()
    }

    /// Writes the change into `active`. Giving prices means `deployment`; a deployment that leaves the catalog
    /// needs a full price; one that joins it, or changes its upstream model while on it, needs a catalog price.
    async fn apply(
        &self,
        scoped: &Scoped,
        row: &deployment::Model,
        new_upstream_model: Option<&str>,
        active: &mut deployment::ActiveModel,
    ) -> Result<(), ApiError> {
        let current = PriceSource::parse(&row.price_source).unwrap_or(PriceSource::Deployment);
        let fallback = if self.gives_prices() {
            PriceSource::Deployment
        } else {
            current
        };
        match (current, self.requested.unwrap_or(fallback)) {
            (PriceSource::Deployment, PriceSource::Deployment) => {
                if let Some(v) = self.input {
                    active.input_price_micros = Set(v.0);
                }
                if let Some(v) = self.output {
                    active.output_price_micros = Set(v.0);
                }
                if let Some(v) = self.cached {
                    active.cached_input_price_micros = Set(v.map(|p| p.0));
                }
                Ok(())
            }
            (PriceSource::Catalog, PriceSource::Deployment) => {
                let message = "to leave the catalog, give input_price and output_price";
                let input = self
                    .input
                    .ok_or_else(|| ApiError::validation("input_price", message))?;
                let output = self
                    .output
                    .ok_or_else(|| ApiError::validation("output_price", message))?;
                let prices = Prices {
                    input,
                    output,
                    cached_input: self.cached.flatten(),
                    reasoning: None,
                };
                set_columns(active, prices, PriceSource::Deployment);
                Ok(())
            }
            (PriceSource::Catalog, PriceSource::Catalog) if new_upstream_model.is_none() => Ok(()),
            (_, PriceSource::Catalog) => {
                let provider = scoped
                    .providers()
                    .filter(provider::Column::Id.eq(row.provider_id))
                    .one(&scoped.db)
                    .await?
                    .ok_or(ApiError::NotFound("provider"))?;
                let model = new_upstream_model.unwrap_or(&row.upstream_model);
                let prices =
                    super::prices::catalog_price_now(scoped, &provider.kind, model).await?;
                set_columns(active, prices, PriceSource::Catalog);
                Ok(())
            }
        }
    }
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
    catalog: web::Data<crate::catalog::Catalog>,
    session: Session,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersRead)?;
    let db = admin.repo.db().clone();
    let page = page.into_inner();
    let limit = page.limit()?;
    let tenant_id = session.tenant_id;
    let mut result = admin
        .run(async move {
            let scoped = Scoped::new(db.clone(), session.tenant_id);
            let rows = page
                .fetch(scoped.deployments(), deployment::Column::Id, &db)
                .await?;
            let page = Page::from_rows(rows, limit, |d| d.id, |d| d);
            Ok(Page {
                data: views(&scoped, page.data).await?,
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    let snapshot = catalog.snapshot();
    let mut live: HashMap<Uuid, HealthView> = snapshot
        .tenant_deployments(tenant_id)
        .map(|d| (d.id, HealthView::of(&d.health)))
        .collect();
    for view in &mut result.data {
        view.health = live.remove(&view.id);
    }
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
    check_weight(body.weight)?;
    check_own_limit("rpm_limit", body.rpm_limit.map(i64::from))?;
    check_own_limit("tpm_limit", body.tpm_limit)?;
    let own = own_prices(
        body.input_price.as_deref(),
        body.output_price.as_deref(),
        body.cached_input_price.as_deref(),
    )?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let tenant_id = session.tenant_id;
    let actor = session.user_id;
    let view = admin
        .run(async move {
            let provider = scoped
                .providers()
                .filter(provider::Column::Id.eq(body.provider_id))
                .one(&scoped.db)
                .await?
                .ok_or_else(|| ApiError::validation("provider_id", "no such provider"))?;
            check_region(&scoped.db, &body.region).await?;
            let (prices, source) = match own {
                Some(prices) => (prices, PriceSource::Deployment),
                None => (
                    super::prices::catalog_price_now(&scoped, &provider.kind, &upstream_model)
                        .await?,
                    PriceSource::Catalog,
                ),
            };
            let now = Utc::now();
            let mut active = deployment::Model {
                id: Uuid::now_v7(),
                tenant_id,
                public_model: model,
                provider_id: body.provider_id,
                upstream_model,
                region: body.region,
                input_price_micros: 0,
                output_price_micros: 0,
                cached_input_price_micros: None,
                created_at: now,
                updated_at: now,
                price_source: String::new(),
                weight: body.weight.unwrap_or(1),
                priority: body.priority.unwrap_or(0),
                rpm_limit: body.rpm_limit,
                tpm_limit: body.tpm_limit,
            }
            .into_active_model();
            set_columns(&mut active, prices, source);
            let view = DeploymentView::new(active.insert(&scoped.db).await?, prices);
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

/// `PATCH /api/v1/deployments/{id}`. A price change (including switching `price_source`) applies to calls from
/// now on; past usage keeps its cost.
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
    let change = PriceChange::from_request(&body)?;
    check_weight(body.weight)?;
    check_own_limit("rpm_limit", body.rpm_limit.flatten().map(i64::from))?;
    check_own_limit("tpm_limit", body.tpm_limit.flatten())?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let actor = session.user_id;
    let view = admin
        .run(async move {
            let row = scoped
                .deployments()
                .filter(deployment::Column::Id.eq(id))
                .one(&scoped.db)
                .await?
                .ok_or(ApiError::NotFound("deployment"))?;
            check_if_match(if_match.as_deref(), row.updated_at)?;
            if let Some(region) = &body.region {
                check_region(&scoped.db, region).await?;
            }
            let before = json!(view(&scoped, row.clone()).await?);
            let mut active = row.clone().into_active_model();
            change
                .apply(&scoped, &row, upstream_model.as_deref(), &mut active)
                .await?;
            if let Some(v) = upstream_model {
                active.upstream_model = Set(v);
            }
            if let Some(v) = body.region {
                active.region = Set(v);
            }
            if let Some(v) = body.weight {
                active.weight = Set(v);
            }
            if let Some(v) = body.priority {
                active.priority = Set(v);
            }
            if let Some(v) = body.rpm_limit {
                active.rpm_limit = Set(v);
            }
            if let Some(v) = body.tpm_limit {
                active.tpm_limit = Set(v);
            }
            active.updated_at = Set(Utc::now());
            let view = view(&scoped, active.update(&scoped.db).await?).await?;
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
            let before = json!(view(&Scoped::new(db.clone(), tenant_id), row).await?);
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
