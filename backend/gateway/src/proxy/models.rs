//! `GET /v1/models` and `GET /v1/models/{model}`: the public models this key may use, in OpenAI's list shape.

use super::ProxyState;
use crate::error::ProxyError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "switchyard"})
}

/// Lists the models the key may call.
pub async fn list_models(
    req: HttpRequest,
    state: web::Data<ProxyState>,
) -> Result<HttpResponse, ProxyError> {
    let key = state.authenticate(&req).await?;
    let snapshot = state.catalog.snapshot();
    let data: Vec<Value> = snapshot
        .models(key.tenant_id)
        .into_iter()
        .filter(|m| key.allows_model(m))
        .map(model_object)
        .collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}

/// One model, if the key may call it.
pub async fn retrieve_model(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ProxyState>,
) -> Result<HttpResponse, ProxyError> {
    let key = state.authenticate(&req).await?;
    let model = path.into_inner();
    if !key.allows_model(&model) {
        return Err(ProxyError::ModelNotAllowed(model));
    }
    if state
        .catalog
        .snapshot()
        .deployments(key.tenant_id, &model)
        .is_none()
    {
        return Err(ProxyError::ModelNotFound(model));
    }
    Ok(HttpResponse::Ok().json(model_object(&model)))
}
