//! Model groups: `/api/v1/model-groups`. A public model's routing settings: the strategy that orders its
//! deployments, the fallback models tried when all of them fail, and the most attempts per call. A model with
//! no group routes `weighted` with no fallbacks and at most three attempts.

use super::audit;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::roles::Action;
use crate::routing::{DEFAULT_MAX_ATTEMPTS, Strategy};
use crate::state::Invalidation;
use crate::store::Scoped;
use crate::store::entities::model_group;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// A model group as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelGroupView {
    pub model: String,
    /// `latency`, `cost`, `weighted` or `priority`.
    pub strategy: String,
    /// Public models tried in order when every deployment of this one failed or is unavailable.
    pub fallbacks: Vec<String>,
    pub max_attempts: i32,
    pub updated_at: DateTime<Utc>,
}

impl From<model_group::Model> for ModelGroupView {
    fn from(g: model_group::Model) -> Self {
        Self {
            model: g.public_model,
            strategy: g.strategy,
            fallbacks: g
                .fallbacks
                .and_then(|f| serde_json::from_value(f).ok())
                .unwrap_or_default(),
            max_attempts: g
                .max_attempts
                .unwrap_or(i32::try_from(DEFAULT_MAX_ATTEMPTS).unwrap_or(3)),
            updated_at: g.updated_at,
        }
    }
}

/// `PUT /model-groups/{model}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutModelGroup {
    pub strategy: String,
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// 1 to 10; default 3.
    pub max_attempts: Option<i32>,
}

/// `GET /api/v1/model-groups`.
#[utoipa::path(
    get,
    path = "/api/v1/model-groups",
    operation_id = "model_groups_list",
    tag = "routing",
    summary = "Routing settings of the tenant's models",
    responses(
        (status = 200, description = "Every model group with settings", body = Vec<ModelGroupView>),
        (status = 401, description = "Not signed in", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersRead)?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let groups = admin
        .run(async move {
            Ok(scoped
                .model_groups()
                .order_by_asc(model_group::Column::PublicModel)
                .all(&scoped.db)
                .await?
                .into_iter()
                .map(ModelGroupView::from)
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "data": groups })))
}

/// `PUT /api/v1/model-groups/{model}`.
#[utoipa::path(
    put,
    path = "/api/v1/model-groups/{model}",
    operation_id = "model_groups_put",
    tag = "routing",
    summary = "Set a model's strategy, fallbacks and attempts",
    params(("model" = String, Path, description = "The public model name")),
    request_body = PutModelGroup,
    responses(
        (status = 200, description = "The settings now in force", body = ModelGroupView),
        (status = 400, description = "Invalid (`validation_failed`, naming the field)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "The tenant has no deployment of this model (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn put(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<String>,
    body: web::Json<PutModelGroup>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersManage)?;
    let model = path.into_inner();
    let body = body.into_inner();
    if Strategy::parse(&body.strategy).is_none() {
        return Err(ApiError::validation(
            "strategy",
            "must be `latency`, `cost`, `weighted` or `priority`",
        ));
    }
    if let Some(n) = body.max_attempts
        && !(1..=10).contains(&n)
    {
        return Err(ApiError::validation(
            "max_attempts",
            "must be between 1 and 10",
        ));
    }
    let distinct: std::collections::HashSet<&String> = body.fallbacks.iter().collect();
    if body.fallbacks.len() > 5
        || distinct.len() != body.fallbacks.len()
        || body.fallbacks.iter().any(|f| f == &model || f.is_empty())
    {
        return Err(ApiError::validation(
            "fallbacks",
            "at most 5 other models, each once, none of them this model itself",
        ));
    }
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let actor = session.user_id;
    let view = admin
        .run(async move {
            let served = |name: String| {
                let scoped = &scoped;
                async move {
                    Ok::<bool, ApiError>(
                        scoped
                            .deployments()
                            .filter(
                                crate::store::entities::deployment::Column::PublicModel.eq(name),
                            )
                            .one(&scoped.db)
                            .await?
                            .is_some(),
                    )
                }
            };
            if !served(model.clone()).await? {
                return Err(ApiError::NotFound("model"));
            }
            for fallback in &body.fallbacks {
                if !served(fallback.clone()).await? {
                    return Err(ApiError::validation(
                        "fallbacks",
                        format!("the tenant has no deployment of `{fallback}`"),
                    ));
                }
            }
            let existing = scoped
                .model_groups()
                .filter(model_group::Column::PublicModel.eq(model.clone()))
                .one(&scoped.db)
                .await?;
            let now = Utc::now();
            let before = existing.clone().map(|g| json!(ModelGroupView::from(g)));
            let row = match existing {
                Some(row) => {
                    let mut active = row.into_active_model();
                    active.strategy = Set(body.strategy);
                    active.fallbacks = Set(Some(json!(body.fallbacks)));
                    active.max_attempts = Set(body.max_attempts);
                    active.updated_at = Set(now);
                    active.update(&scoped.db).await?
                }
                None => {
                    model_group::Model {
                        id: Uuid::now_v7(),
                        tenant_id: scoped.tenant_id,
                        public_model: model.clone(),
                        strategy: body.strategy,
                        fallbacks: Some(json!(body.fallbacks)),
                        max_attempts: body.max_attempts,
                        created_at: now,
                        updated_at: now,
                    }
                    .into_active_model()
                    .insert(&scoped.db)
                    .await?
                }
            };
            let view = ModelGroupView::from(row);
            audit::record(
                &scoped,
                Some(actor),
                "model_group.put",
                "model_group",
                Some(model),
                before,
                Some(json!(view)),
            )
            .await?;
            Ok(view)
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Catalog).await;
    Ok(HttpResponse::Ok().json(view))
}

/// `DELETE /api/v1/model-groups/{model}`: back to the defaults.
#[utoipa::path(
    delete,
    path = "/api/v1/model-groups/{model}",
    operation_id = "model_groups_delete",
    tag = "routing",
    summary = "Reset a model's routing to the defaults",
    params(("model" = String, Path, description = "The public model name")),
    responses(
        (status = 204, description = "Reset"),
        (status = 401, description = "Not signed in", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "No settings for this model (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn delete(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ProvidersManage)?;
    let model = path.into_inner();
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let actor = session.user_id;
    admin
        .run(async move {
            let row = scoped
                .model_groups()
                .filter(model_group::Column::PublicModel.eq(model.clone()))
                .one(&scoped.db)
                .await?
                .ok_or(ApiError::NotFound("model group"))?;
            let before = json!(ModelGroupView::from(row.clone()));
            model_group::Entity::delete_by_id(row.id)
                .exec(&scoped.db)
                .await?;
            audit::record(
                &scoped,
                Some(actor),
                "model_group.delete",
                "model_group",
                Some(model),
                Some(before),
                None,
            )
            .await
        })
        .await?;
    super::api_keys::publish(&admin, Invalidation::Catalog).await;
    Ok(HttpResponse::NoContent().finish())
}
