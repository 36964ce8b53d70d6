//! Choosing where a call goes: the key's allowed models, then residency (a deployment outside the allowed
//! regions is never a candidate), then the caller's `x-switchyard-route` narrowing, then health, then the
//! group's strategy; the group's fallback models follow under the same rules. The result is the ordered list of
//! deployments the call may try.

use super::ProxyState;
use crate::auth::AuthenticatedKey;
use crate::catalog::{Deployment, Snapshot};
use crate::error::ProxyError;
use crate::routing::{CallShape, Quota, Routable, RouteRequest, strategy};
use actix_web::HttpRequest;
use std::sync::Arc;

/// The deployments one call may try, in order.
#[derive(Debug)]
pub struct Plan {
    pub deployments: Vec<Arc<Deployment>>,
}

impl Plan {
    /// The deployment whose worst case costs most: a reservation must cover whichever attempt answers.
    pub fn dearest(&self, shape: CallShape) -> Option<&Arc<Deployment>> {
        self.deployments
            .iter()
            .max_by_key(|d| d.estimated_cost(shape.prompt_tokens, shape.max_output))
    }
}

/// Reads `x-switchyard-route`.
pub fn route_request(req: &HttpRequest) -> Result<RouteRequest, ProxyError> {
    match req.headers().get("x-switchyard-route") {
        None => Ok(RouteRequest::default()),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ProxyError::bad_request("x-switchyard-route must be ASCII", None))?;
            RouteRequest::parse(text)
                .map_err(|e| ProxyError::bad_request(format!("x-switchyard-route: {e}"), None))
        }
    }
}

/// Plans a call to `model` for this key.
pub fn plan(
    state: &ProxyState,
    key: &AuthenticatedKey,
    model: &str,
    request: &RouteRequest,
    shape: CallShape,
) -> Result<Plan, ProxyError> {
    // The allow-list first: a restricted key must not learn which other model names exist.
    if !key.allows_model(model) {
        return Err(ProxyError::ModelNotAllowed(model.to_owned()));
    }
    let snapshot = state.catalog.snapshot();
    let group = snapshot.group(key.tenant_id, model);
    // When the model itself has no usable deployment for this key, its fallbacks may still serve the call;
    // only if none does is the model's own refusal returned.
    let (primary, primary_error) = match candidates(&snapshot, key, model, request) {
        Ok(list) => (list, None),
        Err(e) if group.fallbacks.is_empty() || request.no_fallbacks => return Err(e),
        Err(e) => (Vec::new(), Some(e)),
    };
    let strategy = request.strategy.unwrap_or(group.strategy);
    let now = crate::routing::health::now_ms();
    let mut rng = rand::rng();
    let mut deployments: Vec<Arc<Deployment>> = Vec::new();
    let mut unhealthy = Vec::new();
    let mut push_ordered =
        |list: Vec<Arc<Deployment>>, strategy, out: &mut Vec<Arc<Deployment>>| {
            let (healthy, sick): (Vec<_>, Vec<_>) = list.into_iter().partition(|d| {
                d.health.check(now).is_ok() && d.within_own_limits(now, shape.prompt_tokens)
            });
            unhealthy.extend(sick);
            for i in strategy::order(strategy, &healthy, shape, &mut rng) {
                out.push(Arc::clone(&healthy[i]));
            }
        };
    push_ordered(primary, strategy, &mut deployments);
    if !request.no_fallbacks {
        for fallback in &group.fallbacks {
            // Fallbacks honour the same rules: a model the key may not use, or one with no deployment in the
            // allowed regions, is skipped, never a way around them.
            if fallback == model || !key.allows_model(fallback) {
                continue;
            }
            let Ok(list) = candidates(&snapshot, key, fallback, request) else {
                continue;
            };
            let fallback_strategy = request
                .strategy
                .unwrap_or(snapshot.group(key.tenant_id, fallback).strategy);
            push_ordered(list, fallback_strategy, &mut deployments);
        }
    }
    deployments.truncate(group.max_attempts);
    if deployments.is_empty()
        && let Some(error) = primary_error
    {
        return Err(error);
    }
    if deployments.is_empty() {
        let residency = match &key.allowed_regions {
            Some(allowed) => {
                let mut allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
                allowed.sort_unstable();
                format!(
                    " in the regions this {} allows ([{}]); the call was not sent anywhere else",
                    key.region_policy.join(" and "),
                    allowed.join(", ")
                )
            }
            None => String::new(),
        };
        let reasons: Vec<String> = unhealthy
            .iter()
            .map(|d| {
                let why = match d.health.check(now) {
                    Err(why) => why.as_str(),
                    Ok(()) => "own_rate_limit_reached",
                };
                format!("{} ({}): {why}", d.id, d.region)
            })
            .collect();
        let soonest_ms = unhealthy
            .iter()
            .map(|d| match d.health.check(now) {
                Err(_) => d.health.available_in_ms(now),
                Ok(()) => Quota::next_window_in_ms(now),
            })
            .min();
        return Err(ProxyError::NoHealthyDeployment {
            message: format!(
                "no healthy deployment of `{model}`{residency}; {}",
                reasons.join("; ")
            ),
            retry_after: soonest_ms.map(|ms| ms.div_ceil(1000).max(1)),
        });
    }
    Ok(Plan { deployments })
}

/// The deployments of `model` this key may use, narrowed by the caller's request.
fn candidates(
    snapshot: &Snapshot,
    key: &AuthenticatedKey,
    model: &str,
    request: &RouteRequest,
) -> Result<Vec<Arc<Deployment>>, ProxyError> {
    let deployments = snapshot
        .deployments(key.tenant_id, model)
        .ok_or_else(|| ProxyError::ModelNotFound(model.to_owned()))?;
    let allowed: Vec<Arc<Deployment>> = deployments
        .iter()
        .filter(|d| key.allows_region(&d.region))
        .cloned()
        .collect();
    if allowed.is_empty() {
        let mut served: Vec<&str> = deployments.iter().map(|d| d.region.as_str()).collect();
        served.sort_unstable();
        served.dedup();
        let mut permitted: Vec<&str> = key
            .allowed_regions
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        permitted.sort_unstable();
        return Err(ProxyError::RegionNotAllowed(format!(
            "the model `{model}` is served only in region(s) [{}], but the residency policy of this {} allows only [{}]",
            served.join(", "),
            key.region_policy.join(" and "),
            permitted.join(", ")
        )));
    }
    let Some(region) = &request.region else {
        return Ok(allowed);
    };
    if !key.allows_region(region) {
        return Err(ProxyError::RegionNotAllowed(format!(
            "x-switchyard-route asks for region `{region}`, which the residency policy of this {} does not allow",
            key.region_policy.join(" and ")
        )));
    }
    let narrowed: Vec<Arc<Deployment>> = allowed
        .into_iter()
        .filter(|d| &d.region == region)
        .collect();
    if narrowed.is_empty() {
        return Err(ProxyError::NoHealthyDeployment {
            message: format!(
                "the model `{model}` has no deployment in region `{region}` asked for by x-switchyard-route"
            ),
            retry_after: None,
        });
    }
    Ok(narrowed)
}
