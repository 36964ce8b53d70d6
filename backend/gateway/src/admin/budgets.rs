//! Budgets: `/api/v1/budgets`. Stored and served here; every change is published so each replica's proxy
//! reloads them (enforcement lives in `crate::limits`). Limits are
//! exact decimal strings in the tenant's currency. A budget with a webhook gets an HMAC signing secret, shown
//! once at creation and stored encrypted.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::{Page, PageQuery};
use super::roles::Action;
use super::versioning::{check_if_match, etag_of};
use crate::limits::{Period as LimitPeriod, scope_of};
use crate::money::Picos;
use crate::state::Invalidation;
use crate::store::entities::{api_key, budget, team};
use crate::store::{Repo, Scoped};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// What a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeType {
    Tenant,
    Team,
    Key,
    Tag,
}

/// The period a budget's spend is counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Total,
}

fn name_of<T: Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A budget as the API shows it (the webhook secret never).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BudgetView {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = ScopeType)]
    pub scope_type: String,
    pub scope_id: Option<Uuid>,
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
    #[schema(value_type = Period)]
    pub period: String,
    /// Exact decimal in `currency`.
    pub limit: String,
    pub currency: String,
    pub soft_thresholds: Vec<u8>,
    pub hard_limit: bool,
    pub webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The period in progress and the spend recorded in it (on reads only; calls still queued for writing
    /// appear within a second or so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_period: Option<CurrentPeriod>,
}

/// A budget's period in progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrentPeriod {
    pub start: DateTime<Utc>,
    /// `null` for a `total` budget.
    pub end: Option<DateTime<Utc>>,
    /// Exact decimal in `currency`.
    pub spent: String,
    /// Spend as a percentage of the limit, rounded down (for progress bars).
    pub percent_used: i64,
}

/// Adds the current period's recorded spend to a view.
async fn with_spend(
    scoped: &Scoped,
    row: &budget::Model,
    mut view: BudgetView,
) -> Result<BudgetView, ApiError> {
    let (Some(scope), Some(period)) = (scope_of(row), LimitPeriod::parse(&row.period)) else {
        return Ok(view);
    };
    let (start, end) = period.bounds(Utc::now());
    let spent = Repo::new(scoped.db.clone())
        .spend_since(scoped.tenant_id, &scope, start)
        .await?;
    let percent_used = if row.limit_picos > 0 {
        i64::try_from(i128::from(spent) * 100 / i128::from(row.limit_picos)).unwrap_or(i64::MAX)
    } else {
        0
    };
    view.current_period = Some(CurrentPeriod {
        start,
        end,
        spent: Picos(spent).to_string(),
        percent_used,
    });
    Ok(view)
}

/// A webhook URL may carry a token in its path or query: roles that cannot manage budgets see its origin only.
fn masked_for(manages: bool, mut view: BudgetView) -> BudgetView {
    if !manages {
        view.webhook_url = view.webhook_url.map(|url| {
            reqwest::Url::parse(&url).map_or_else(
                |_| "…".to_owned(),
                |u| format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or_default()),
            )
        });
    }
    view
}

fn view(b: budget::Model, currency: &str) -> BudgetView {
    BudgetView {
        id: b.id,
        name: b.name,
        scope_type: b.scope_type,
        scope_id: b.scope_id,
        tag_key: b.tag_key,
        tag_value: b.tag_value,
        period: b.period,
        limit: Picos(b.limit_picos).to_string(),
        currency: currency.to_owned(),
        soft_thresholds: serde_json::from_value(b.soft_thresholds).unwrap_or_default(),
        hard_limit: b.hard_limit,
        webhook_url: b.webhook_url,
        created_at: b.created_at,
        updated_at: b.updated_at,
        current_period: None,
    }
}

/// `POST /budgets` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBudget {
    pub name: String,
    pub scope_type: ScopeType,
    pub scope_id: Option<Uuid>,
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
    pub period: Period,
    pub limit: String,
    #[serde(default)]
    pub soft_thresholds: Vec<u8>,
    #[serde(default = "default_true")]
    pub hard_limit: bool,
    pub webhook_url: Option<String>,
}

fn default_true() -> bool {
    true
}

/// `PATCH /budgets/{id}` body (the scope is fixed; create another budget for another scope).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBudget {
    pub name: Option<String>,
    pub period: Option<Period>,
    pub limit: Option<String>,
    pub soft_thresholds: Option<Vec<u8>>,
    pub hard_limit: Option<bool>,
    #[serde(default, with = "super::teams::double_option")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
}

/// `POST /budgets` and `PATCH /budgets/{id}` answer: the budget and, once, its webhook signing secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedBudget {
    #[serde(flatten)]
    pub budget: BudgetView,
    pub webhook_signing_secret: Option<String>,
}

fn validate_limit(limit: &str) -> Result<i64, ApiError> {
    let amount: Picos = limit
        .parse()
        .map_err(|e: crate::money::PriceError| ApiError::validation("limit", e.to_string()))?;
    if amount.0 == 0 {
        return Err(ApiError::validation("limit", "must be greater than 0"));
    }
    Ok(amount.0)
}

fn validate_thresholds(thresholds: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut sorted = thresholds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != thresholds.len()
        || sorted.iter().any(|t| !(1..=100).contains(t))
        || sorted.len() > 10
    {
        return Err(ApiError::validation(
            "soft_thresholds",
            "up to 10 distinct percentages between 1 and 100",
        ));
    }
    Ok(sorted)
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

/// The tenant's currency, in which budgets and reports are given.
pub(super) async fn currency(scoped: &Scoped) -> Result<String, ApiError> {
    Ok(scoped
        .tenant()
        .one(&scoped.db)
        .await?
        .map_or_else(|| "USD".to_owned(), |t| t.currency))
}

/// `GET /api/v1/budgets`.
#[utoipa::path(
    get,
    path = "/api/v1/budgets",
    operation_id = "budgets_list",
    tag = "budgets",
    summary = "List budgets",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of budgets, newest first", body = Page<BudgetView>),
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
    session.require(Action::BudgetsRead)?;
    let manages = session.require(Action::BudgetsManage).is_ok();
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let page = page.into_inner();
    let limit = page.limit()?;
    let result = admin
        .run(async move {
            let currency = currency(&scoped).await?;
            let query = scoped.budgets();
            let rows = page.fetch(query, budget::Column::Id, &scoped.db).await?;
            let mut page = Page::from_rows(rows.clone(), limit, |b| b.id, |b| view(b, &currency));
            let mut items = Vec::with_capacity(page.data.len());
            for (item, row) in page.data.drain(..).zip(rows) {
                items.push(masked_for(manages, with_spend(&scoped, &row, item).await?));
            }
            page.data = items;
            Ok(page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// `GET /api/v1/budgets/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/budgets/{id}",
    operation_id = "budgets_get",
    tag = "budgets",
    summary = "Get a budget",
    params(("id" = Uuid, Path, description = "The budget id")),
    responses(
        (status = 200, description = "The budget (with an `ETag` header)", body = BudgetView),
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
    session.require(Action::BudgetsRead)?;
    let manages = session.require(Action::BudgetsManage).is_ok();
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let (etag, view) = admin
        .run(async move {
            let row = find(&scoped, id).await?;
            let base = view(row.clone(), &currency(&scoped).await?);
            Ok((
                etag_of(row.updated_at),
                masked_for(manages, with_spend(&scoped, &row, base).await?),
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().insert_header(("etag", etag)).json(view))
}

async fn find(scoped: &Scoped, id: Uuid) -> Result<budget::Model, ApiError> {
    scoped
        .budgets()
        .filter(budget::Column::Id.eq(id))
        .one(&scoped.db)
        .await?
        .ok_or(ApiError::NotFound("budget"))
}

/// `POST /api/v1/budgets`.
#[utoipa::path(
    post,
    path = "/api/v1/budgets",
    operation_id = "budgets_create",
    tag = "budgets",
    summary = "Create a budget",
    request_body = CreateBudget,
    responses(
        (status = 201, description = "The new budget and, once, its webhook signing secret", body = CreatedBudget),
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
    body: web::Json<CreateBudget>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::BudgetsManage)?;
    let body = body.into_inner();
    let name = validate_name(&body.name)?;
    let limit = validate_limit(&body.limit)?;
    let thresholds = validate_thresholds(&body.soft_thresholds)?;
    if let Some(url) = &body.webhook_url {
        super::outbound::outbound_url("webhook_url", url, &admin.egress)?;
    }
    match body.scope_type {
        ScopeType::Tenant if body.scope_id.is_some() || body.tag_key.is_some() => {
            return Err(ApiError::validation(
                "scope_id",
                "a tenant budget has no scope_id or tag",
            ));
        }
        ScopeType::Team | ScopeType::Key if body.scope_id.is_none() => {
            return Err(ApiError::validation(
                "scope_id",
                "is required for team and key budgets",
            ));
        }
        ScopeType::Tag
            if body.tag_key.as_deref().is_none_or(str::is_empty)
                || body.tag_value.as_deref().is_none_or(str::is_empty) =>
        {
            return Err(ApiError::validation(
                "tag_key",
                "tag budgets need tag_key and tag_value",
            ));
        }
        _ => {}
    }
    let id = Uuid::now_v7();
    let (secret, sealed) = match &body.webhook_url {
        Some(_) => {
            let secret = format!(
                "whsec_{}",
                &crate::keys::generate().secret[crate::keys::KEY_PREFIX.len()..]
            );
            let sealed = admin
                .master_keys
                .encrypt(&secret, &format!("budget:{id}:webhook_secret"))
                .map_err(ApiError::internal)?;
            (Some(secret), Some(sealed))
        }
        None => (None, None),
    };
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let actor = session.user_id;
    let budget = admin
        .run(async move {
            match body.scope_type {
                ScopeType::Team => {
                    scoped
                        .teams()
                        .filter(team::Column::Id.eq(body.scope_id))
                        .one(&scoped.db)
                        .await?
                        .ok_or_else(|| ApiError::validation("scope_id", "no such team"))?;
                }
                ScopeType::Key => {
                    scoped
                        .keys()
                        .filter(api_key::Column::Id.eq(body.scope_id))
                        .one(&scoped.db)
                        .await?
                        .ok_or_else(|| ApiError::validation("scope_id", "no such key"))?;
                }
                ScopeType::Tenant | ScopeType::Tag => {}
            }
            let now = Utc::now();
            let row = budget::Model {
                id,
                tenant_id: scoped.tenant_id,
                name,
                scope_type: name_of(body.scope_type),
                scope_id: body.scope_id,
                tag_key: body.tag_key,
                tag_value: body.tag_value,
                period: name_of(body.period),
                limit_picos: limit,
                soft_thresholds: json!(thresholds),
                hard_limit: body.hard_limit,
                webhook_url: body.webhook_url,
                webhook_secret_ciphertext: sealed,
                created_at: now,
                updated_at: now,
            }
            .into_active_model()
            .insert(&scoped.db)
            .await?;
            let view = view(row, &currency(&scoped).await?);
            audit::record(
                &scoped,
                Some(actor),
                "budget.create",
                "budget",
                Some(id.to_string()),
                None,
                Some(json!(view)),
            )
            .await?;
            Ok(view)
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Budgets).await;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(CreatedBudget {
            budget,
            webhook_signing_secret: secret,
        }))
}

/// `PATCH /api/v1/budgets/{id}`; honours `If-Match`.
#[utoipa::path(
    patch,
    path = "/api/v1/budgets/{id}",
    operation_id = "budgets_update",
    tag = "budgets",
    summary = "Update a budget",
    params(("id" = Uuid, Path, description = "The budget id"), ("If-Match" = Option<String>, Header, description = "An ETag from a previous read; the edit is refused with 412 if the resource changed since")),
    request_body = UpdateBudget,
    responses(
        (status = 200, description = "The updated budget (with an `ETag` header); `webhook_signing_secret` only when this update set the first webhook URL", body = CreatedBudget),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
        (status = 412, description = "`If-Match` names an older version (`precondition_failed`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn update(
    admin: web::Data<AdminState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: web::Json<UpdateBudget>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::BudgetsManage)?;
    let body = body.into_inner();
    let name = body.name.as_deref().map(validate_name).transpose()?;
    let limit = body.limit.as_deref().map(validate_limit).transpose()?;
    let thresholds = body
        .soft_thresholds
        .as_deref()
        .map(validate_thresholds)
        .transpose()?;
    if let Some(Some(url)) = &body.webhook_url {
        super::outbound::outbound_url("webhook_url", url, &admin.egress)?;
    }
    let if_match = super::versioning::if_match(&req);
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let actor = session.user_id;
    let master_keys = std::sync::Arc::clone(&admin.master_keys);
    let (etag, view) = admin
        .run(async move {
            let row = find(&scoped, id).await?;
            check_if_match(if_match.as_deref(), row.updated_at)?;
            let currency = currency(&scoped).await?;
            let before = json!(view(row.clone(), &currency));
            let had_secret = row.webhook_secret_ciphertext.is_some();
            let mut active = row.into_active_model();
            if let Some(v) = name {
                active.name = Set(v);
            }
            if let Some(v) = body.period {
                active.period = Set(name_of(v));
            }
            if let Some(v) = limit {
                active.limit_picos = Set(v);
            }
            if let Some(v) = thresholds {
                active.soft_thresholds = Set(json!(v));
            }
            if let Some(v) = body.hard_limit {
                active.hard_limit = Set(v);
            }
            let mut new_secret = None;
            if let Some(url) = body.webhook_url {
                if url.is_some() && !had_secret {
                    // A webhook needs a signing secret: made when the URL is first set and shown in this
                    // response only, as at creation.
                    let secret = format!(
                        "whsec_{}",
                        &crate::keys::generate().secret[crate::keys::KEY_PREFIX.len()..]
                    );
                    active.webhook_secret_ciphertext = Set(Some(
                        master_keys
                            .encrypt(&secret, &format!("budget:{id}:webhook_secret"))
                            .map_err(ApiError::internal)?,
                    ));
                    new_secret = Some(secret);
                }
                active.webhook_url = Set(url);
            }
            active.updated_at = Set(Utc::now());
            let row = active.update(&scoped.db).await?;
            let view = view(row.clone(), &currency);
            audit::record(
                &scoped,
                Some(actor),
                "budget.update",
                "budget",
                Some(id.to_string()),
                Some(before),
                Some(json!(view)),
            )
            .await?;
            Ok((
                etag_of(row.updated_at),
                CreatedBudget {
                    budget: view,
                    webhook_signing_secret: new_secret,
                },
            ))
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Budgets).await;
    Ok(HttpResponse::Ok()
        .insert_header(("etag", etag))
        .insert_header(("cache-control", "no-store"))
        .json(view))
}

/// `DELETE /api/v1/budgets/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/budgets/{id}",
    operation_id = "budgets_delete",
    tag = "budgets",
    summary = "Delete a budget",
    params(("id" = Uuid, Path, description = "The budget id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "Not found (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn delete(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::BudgetsManage)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let id = path.into_inner();
    let actor = session.user_id;
    admin
        .run(async move {
            let row = find(&scoped, id).await?;
            let before = json!(view(row, &currency(&scoped).await?));
            budget::Entity::delete_by_id(id).exec(&scoped.db).await?;
            audit::record(
                &scoped,
                Some(actor),
                "budget.delete",
                "budget",
                Some(id.to_string()),
                Some(before),
                None,
            )
            .await
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Budgets).await;
    Ok(HttpResponse::NoContent().finish())
}
