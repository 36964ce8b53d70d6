//! `POST /v1/embeddings`.

use super::call::{CallRecord, Outcome, UsageSource};
use super::chat::fail;
use super::client::ClientFormat;
use super::failover;
use super::{ProxyState, admission, body, route, tags};
use crate::error::ProxyError;
use crate::money::TokenCounts;
use crate::otel::CallTrace;
use crate::routing::CallShape;
use crate::usage::tokenizer;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use switchyard_types::Usage;
use tokio::time::Instant;
use uuid::Uuid;

#[derive(Deserialize)]
struct UsagePeek {
    usage: Option<Usage>,
}

/// The handler.
pub async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
) -> Result<HttpResponse, ProxyError> {
    let trace = state.start_trace(&req, "embeddings");
    super::traced(trace.clone(), embeddings_traced(req, payload, state, trace)).await
}

async fn embeddings_traced(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
    trace: CallTrace,
) -> Result<HttpResponse, ProxyError> {
    let started = Instant::now();
    let key = state.authenticate_traced(&req, &trace).await?;
    let raw = body::read_limited(&req, payload, state.settings.max_body_bytes).await?;
    let (mut request, written) = body::parse_object_as_written(&raw)?;
    let model = body::required_model(&request)?;
    trace.set_model(&model);
    match request.get("input") {
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) if !items.is_empty() => {}
        Some(Value::Array(_)) => {
            return Err(ProxyError::bad_request(
                "`input` must not be empty",
                Some("input"),
            ));
        }
        Some(_) => {
            return Err(ProxyError::bad_request(
                "`input` must be a string or an array",
                Some("input"),
            ));
        }
        None => {
            return Err(ProxyError::bad_request(
                "you must provide an input parameter",
                Some("input"),
            ));
        }
    }
    let attribution = tags::from_request(req.headers(), &mut request, &key.default_tags)?;
    let shape = CallShape {
        streamed: false,
        prompt_tokens: (raw.len() / 4) as u64,
        max_output: 0,
    };
    let routing_started = std::time::SystemTime::now();
    let plan = route::plan(&state, &key, &model, &route::route_request(&req)?, shape);
    trace.phase("route", routing_started, Vec::new);
    let refused = super::refusal::Refused {
        key: &key,
        endpoint: "embeddings",
        model: &model,
        streamed: false,
        attribution: &attribution,
        started,
    };
    let plan = plan.map_err(|e| refused.record(&state, &req, e))?;
    let priced_by = plan
        .dearest(shape)
        .cloned()
        .ok_or_else(|| ProxyError::Internal("an empty routing plan".into()))?;
    let limits_started = std::time::SystemTime::now();
    let ticket = admission::admit(&state, &key, &priced_by, &attribution, || {
        let input = request
            .get("input")
            .map(tokenizer::count_embedding_input)
            .unwrap_or(0);
        (input, 0)
    })
    .await;
    trace.phase("check_limits", limits_started, Vec::new);
    let ticket = ticket.map_err(|e| refused.record(&state, &req, e))?;
    let deadline = state.upstream.deadline_from(started);
    let forwarded = state.forwarded_headers(&req);
    // The call is identified and priced as of now, before any attempt.
    let (call_id, created_at) = (Uuid::now_v7(), chrono::Utc::now());
    let captured = key.capture_bodies.then(|| super::call::CapturedBodies {
        request: crate::redact::redact(
            &request
                .get("input")
                .map(Value::to_string)
                .unwrap_or_default(),
            super::call::BODY_LIMIT,
        ),
        response: None,
    });
    let mut call = CallRecord {
        id: call_id,
        created_at,
        started,
        key: Arc::clone(&key),
        deployment: plan.deployments.first().cloned().unwrap_or(priced_by),
        endpoint: "embeddings",
        client: ClientFormat::OpenAi,
        streamed: false,
        attribution,
        sink: state.usage.clone(),
        ticket,
        failed_attempts: Vec::new(),
        in_flight: None,
        tools: None,
        metrics: Arc::clone(&state.metrics),
        trace: trace.clone(),
        captured,
        prompt_estimate: shape.prompt_tokens,
        sent: false,
        finished: false,
        open: state.usage.open_call(),
    };
    let sent = failover::send(
        &state,
        &plan,
        &forwarded,
        deadline,
        false,
        &trace,
        &mut call,
        |deployment| {
            let Some(url) = &deployment.urls.embeddings else {
                return Err(ProxyError::Untranslatable {
                    message: format!(
                        "the model `{}` is served here by a {} provider, whose embeddings API the gateway does not speak",
                        deployment.public_model,
                        deployment.provider.kind.as_str()
                    ),
                    param: "model".into(),
                });
            };
            request.insert(
                "model".into(),
                Value::String(deployment.upstream_model.clone()),
            );
            written
                .write(&request)
                .map(|body| (url.clone(), Bytes::from(body)))
                .map_err(|e| ProxyError::Internal(e.to_string()))
        },
    )
    .await;
    let (response, call) = match failover::into_call(sent, call) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let status = response.status().as_u16();
    let bytes = match state.upstream.read_body(response, deadline).await {
        Ok(bytes) => bytes,
        Err(error) => return Ok(fail(call, error)),
    };
    let (input, source) = match serde_json::from_slice::<UsagePeek>(&bytes)
        .ok()
        .and_then(|p| p.usage)
    {
        Some(usage) => (usage.prompt_tokens, UsageSource::Provider),
        None => (
            request
                .get("input")
                .map(tokenizer::count_embedding_input)
                .unwrap_or(0),
            UsageSource::Tokenizer,
        ),
    };
    let mut builder =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    builder.content_type("application/json");
    call.decorate(&mut builder);
    let tokens = TokenCounts {
        input,
        ..TokenCounts::default()
    };
    call.finish(Outcome {
        status,
        label: "ok",
        tokens,
        source,
        ttft: None,
        error: None,
    });
    Ok(builder.body(bytes))
}
