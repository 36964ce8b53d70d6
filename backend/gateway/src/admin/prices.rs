//! The price catalog: `/api/v1/prices`. A tenant sees the shipped global prices and its own, and adds its own
//! (negotiated discounts, models the shipped catalog lacks). A price is never edited: a change is a new row with
//! a later `effective_from`. Only a price that has not started yet may be deleted, because deleting one that
//! already priced calls would make past costs unexplainable. Which price applies is decided in `pricing`.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::Action;
use crate::money::{PricePerMTok, Prices};
use crate::pricing::{CATALOG_KINDS, PriceBook, in_force};
use crate::state::Invalidation;
use crate::store::Scoped;
use crate::store::entities::{deployment, model_price};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// How far in the past a new price may start: room for clock skew between the caller and the gateway, not
/// for rewriting history.
const PAST_TOLERANCE: Duration = Duration::minutes(1);

/// A catalog price as the API shows it; prices are decimal strings per million tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriceView {
    pub id: Uuid,
    /// `global` (shipped with Switchyard, read-only) or `tenant` (yours).
    pub scope: String,
    pub provider_kind: String,
    pub upstream_model: String,
    pub input_price: String,
    pub output_price: String,
    /// `null`: cached input costs the input price.
    pub cached_input_price: Option<String>,
    /// `null`: reasoning tokens cost the output price.
    pub reasoning_price: Option<String>,
    pub effective_from: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub note: Option<String>,
}

impl From<model_price::Model> for PriceView {
    fn from(row: model_price::Model) -> Self {
        let text = |micros: i64| PricePerMTok(micros).to_string();
        Self {
            id: row.id,
            scope: if row.tenant_id.is_some() {
                "tenant"
            } else {
                "global"
            }
            .to_owned(),
            provider_kind: row.provider_kind,
            upstream_model: row.upstream_model,
            input_price: text(row.input_price_micros),
            output_price: text(row.output_price_micros),
            cached_input_price: row.cached_input_price_micros.map(text),
            reasoning_price: row.reasoning_price_micros.map(text),
            effective_from: row.effective_from,
            created_at: row.created_at,
            created_by: row.created_by,
            note: row.note,
        }
    }
}

/// Filters of `GET /api/v1/prices`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PriceFilter {
    /// Only this provider kind.
    pub provider_kind: Option<String>,
    /// Only this upstream model.
    pub model: Option<String>,
    /// RFC 3339: only the prices in force at that instant, one per kind and model (yours before the global one).
    pub at: Option<DateTime<Utc>>,
}

/// `POST /prices` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrice {
    /// `openai`, `anthropic`, `gemini` or `mistral`: whose price list this is.
    pub provider_kind: String,
    pub upstream_model: String,
    pub input_price: String,
    pub output_price: String,
    pub cached_input_price: Option<String>,
    pub reasoning_price: Option<String>,
    /// Default: now. May be in the future; at most one minute in the past.
    pub effective_from: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// Parses a decimal price per million tokens into micros, or a 400 naming `field`.
pub(super) fn price(field: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<PricePerMTok>()
        .map(|p| p.0)
        .map_err(|e| ApiError::validation(field, e.to_string()))
}

/// `GET /api/v1/prices`.
#[utoipa::path(
    get,
    path = "/api/v1/prices",
    operation_id = "prices_list",
    tag = "prices",
    summary = "List catalog prices",
    params(PriceFilter, PageQuery),
    responses(
        (status = 200, description = "One page of prices (global and yours), newest first", body = Page<PriceView>),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
    filter: web::Query<PriceFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::PricesRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let (filter, page) = (filter.into_inner(), page.into_inner());
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let mut query = scoped.visible_prices();
            if let Some(kind) = filter.provider_kind {
                query = query.filter(model_price::Column::ProviderKind.eq(kind));
            }
            if let Some(model) = filter.model {
                query = query.filter(model_price::Column::UpstreamModel.eq(model));
            }
            let rows = match filter.at {
                None => {
                    page.fetch(query, model_price::Column::Id, &scoped.db)
                        .await?
                }
                Some(at) => {
                    // Which row is in force needs every candidate, so this page is cut in memory; the table
                    // holds one row per price change, not per call.
                    let candidates = query
                        .filter(model_price::Column::EffectiveFrom.lte(at))
                        .all(&scoped.db)
                        .await?;
                    let cursor = page.cursor()?;
                    let mut rows: Vec<_> = in_force(candidates, scoped.tenant_id)
                        .into_iter()
                        .filter(|r| cursor.is_none_or(|c| r.id < c))
                        .collect();
                    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
                    rows.truncate(usize::try_from(limit + 1).unwrap_or(usize::MAX));
                    rows
                }
            };
            Ok(Page::from_rows(rows, limit, |r| r.id, PriceView::from))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `POST /api/v1/prices`.
#[utoipa::path(
    post,
    path = "/api/v1/prices",
    operation_id = "prices_create",
    tag = "prices",
    summary = "Add a price for your tenant",
    request_body = CreatePrice,
    responses(
        (status = 201, description = "The new price", body = PriceView),
        (status = 400, description = "Invalid input (`validation_failed`), including an `effective_from` more than a minute in the past", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 409, description = "You already have a price for this kind and model starting at that instant (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn create(
    admin: web::Data<AdminState>,
    session: Session,
    body: web::Json<CreatePrice>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::PricesManage)?;
    let body = body.into_inner();
    if !CATALOG_KINDS.contains(&body.provider_kind.as_str()) {
        return Err(ApiError::validation(
            "provider_kind",
            format!("must be one of {}", CATALOG_KINDS.join(", ")),
        ));
    }
    let model = body.upstream_model.trim().to_owned();
    if model.is_empty() || model.chars().count() > 200 {
        return Err(ApiError::validation(
            "upstream_model",
            "must be 1 to 200 characters",
        ));
    }
    let optional =
        |field: &str, value: &Option<String>| value.as_deref().map(|v| price(field, v)).transpose();
    let now = Utc::now();
    let effective_from = body.effective_from.unwrap_or(now);
    if effective_from < now - PAST_TOLERANCE {
        return Err(ApiError::validation(
            "effective_from",
            "must not be in the past: a new price applies to calls from now on and never changes what past calls cost",
        ));
    }
    let note = body
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::validation("note", "at most 500 characters"));
    }
    let row = model_price::Model {
        id: Uuid::now_v7(),
        tenant_id: Some(session.tenant_id),
        provider_kind: body.provider_kind,
        upstream_model: model,
        input_price_micros: price("input_price", &body.input_price)?,
        output_price_micros: price("output_price", &body.output_price)?,
        cached_input_price_micros: optional("cached_input_price", &body.cached_input_price)?,
        reasoning_price_micros: optional("reasoning_price", &body.reasoning_price)?,
        effective_from,
        created_at: now,
        created_by: Some(session.user_id),
        note: note.map(str::to_owned),
    };
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let actor = session.user_id;
    let view = admin
        .run(async move {
            let taken = scoped
                .own_prices()
                .filter(model_price::Column::ProviderKind.eq(&row.provider_kind))
                .filter(model_price::Column::UpstreamModel.eq(&row.upstream_model))
                .filter(model_price::Column::EffectiveFrom.eq(row.effective_from))
                .one(&scoped.db)
                .await?;
            if taken.is_some() {
                return Err(ApiError::Conflict(format!(
                    "you already have a price for {}/{} starting at {}",
                    row.provider_kind, row.upstream_model, row.effective_from
                )));
            }
            let view = PriceView::from(row.into_active_model().insert(&scoped.db).await?);
            audit::record(
                &scoped,
                Some(actor),
                "price.create",
                "price",
                Some(view.id.to_string()),
                None,
                Some(json!(view)),
            )
            .await?;
            Ok(view)
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Catalog).await;
    Ok(HttpResponse::Created().json(view))
}

/// `DELETE /api/v1/prices/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/prices/{id}",
    operation_id = "prices_delete",
    tag = "prices",
    summary = "Withdraw one of your prices that has not started yet",
    params(("id" = Uuid, Path, description = "The price id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 409, description = "The price is a shipped global one, or already in force (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn delete(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::PricesManage)?;
    let id = path.into_inner();
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let actor = session.user_id;
    admin
        .run(async move {
            let row = scoped
                .visible_prices()
                .filter(model_price::Column::Id.eq(id))
                .one(&scoped.db)
                .await?
                .ok_or(ApiError::NotFound("price"))?;
            if row.tenant_id.is_none() {
                return Err(ApiError::Conflict(
                    "shipped global prices are read-only; add your own price with POST /api/v1/prices to override it".into(),
                ));
            }
            if row.effective_from <= Utc::now() {
                return Err(ApiError::Conflict(format!(
                    "this price has been in force since {}; deleting it would change what past calls cost. Add a new price with a later effective_from instead",
                    row.effective_from
                )));
            }
            let before = json!(PriceView::from(row));
            model_price::Entity::delete_by_id(id)
                .exec(&scoped.db)
                .await?;
            audit::record(
                &scoped,
                Some(actor),
                "price.delete",
                "price",
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

/// The catalog rows a tenant may use for these upstream models.
async fn book_for(scoped: &Scoped, models: Vec<String>) -> Result<PriceBook, ApiError> {
    if models.is_empty() {
        return Ok(PriceBook::default());
    }
    let rows = scoped
        .visible_prices()
        .filter(model_price::Column::UpstreamModel.is_in(models))
        .all(&scoped.db)
        .await?;
    Ok(PriceBook::new(rows))
}

/// The price-catalog kind of a provider kind (Azure OpenAI is priced from the `openai` rows), as the proxy
/// prices it.
fn catalog_kind(provider_kind: &str) -> &str {
    match crate::catalog::ProviderKind::parse(provider_kind) {
        Some(kind) => kind.pricing_kind(),
        None => provider_kind,
    }
}

/// The prices in force now for each deployment: its own columns, or the catalog's price. `kinds` maps provider
/// ids to provider kinds.
pub(super) async fn prices_now(
    scoped: &Scoped,
    rows: &[deployment::Model],
    kinds: &HashMap<Uuid, String>,
) -> Result<Vec<Prices>, ApiError> {
    let models = rows.iter().map(|d| d.upstream_model.clone()).collect();
    let book = book_for(scoped, models).await?;
    let now = Utc::now();
    Ok(rows
        .iter()
        .map(|d| {
            let kind = kinds.get(&d.provider_id).map_or("", String::as_str);
            book.pricing_of(d, catalog_kind(kind)).at(now)
        })
        .collect())
}

/// The catalog price in force now for `upstream_model` on a provider of `provider_kind`; a 400 naming the
/// model when the catalog has none, since a deployment priced by the catalog must never go unpriced.
pub(super) async fn catalog_price_now(
    scoped: &Scoped,
    provider_kind: &str,
    upstream_model: &str,
) -> Result<Prices, ApiError> {
    book_for(scoped, vec![upstream_model.to_owned()])
        .await?
        .schedule(scoped.tenant_id, catalog_kind(provider_kind), upstream_model)
        .at(Utc::now())
        .ok_or_else(|| {
            ApiError::validation(
                "upstream_model",
                format!(
                    "the price catalog has no price in force for `{upstream_model}` (provider kind `{provider_kind}`); give input_price and output_price, or add a price with POST /api/v1/prices first"
                ),
            )
        })
}
