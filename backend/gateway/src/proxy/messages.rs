//! Anthropic's Messages API, `POST /v1/messages` (streaming and not) and `POST /v1/messages/count_tokens`, so the
//! official Anthropic SDKs work against the gateway unchanged. The request is translated into OpenAI's format
//! and takes the same path as a chat completion (routing, limits, any provider kind, usage); the answer, the
//! stream and every error come back in Anthropic's format with the statuses its SDK maps to its exceptions.

use super::chat::{self, ChatCall};
use super::client::ClientFormat;
use super::{ProxyState, body};
use crate::error::ProxyError;
use crate::otel::CallTrace;
use crate::translate;
use crate::usage::tokenizer;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

/// The first version of the Messages API; every `anthropic-version` is a date on or after it.
const FIRST_ANTHROPIC_VERSION: &str = "2023-01-01";

/// `POST /v1/messages`.
pub async fn messages(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
) -> Result<HttpResponse, ProxyError> {
    let trace = state.start_trace(&req, "chat");
    let handled = async {
        let started = Instant::now();
        let (key, request, raw_len) = read_request(&req, payload, &state, &trace).await?;
        let call = ChatCall {
            started,
            key,
            request,
            raw_len,
            // Translated from Anthropic's format: there is no OpenAI text to keep.
            written: None,
            client: ClientFormat::Anthropic,
            trace: trace.clone(),
        };
        chat::run(&req, &state, call).await
    };
    super::traced(trace.clone(), handled).await
}

/// `POST /v1/messages/count_tokens`: the prompt's input tokens by the gateway's tokenizer (`o200k_base`), the
/// same count the gateway bills with when a provider reports none. For a model the key may use.
pub async fn count_tokens(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
) -> Result<HttpResponse, ProxyError> {
    let (key, request, _) = read_request(&req, payload, &state, &CallTrace::default()).await?;
    let model = body::required_model(&request)?;
    if !key.allows_model(&model) {
        return Err(ProxyError::ModelNotAllowed(model));
    }
    let snapshot = state.catalog.snapshot();
    let Some(deployments) = snapshot.deployments(key.tenant_id, &model) else {
        return Err(ProxyError::ModelNotFound(model));
    };
    // Residency applies as for a call: a model this key could never reach is not counted for it either.
    if !deployments.iter().any(|d| key.allows_region(&d.region)) {
        return Err(ProxyError::RegionNotAllowed(format!(
            "the model `{model}` is not served in any region the residency policy of this {} allows",
            key.region_policy.join(" and ")
        )));
    }
    let mut tokens = request
        .get("messages")
        .map(tokenizer::count_chat_messages)
        .unwrap_or(0);
    if let Some(tools) = request.get("tools") {
        tokens += tokenizer::count_text(&tools.to_string());
    }
    Ok(HttpResponse::Ok().json(json!({ "input_tokens": tokens })))
}

/// Authenticates, checks `anthropic-version`, validates the body as Anthropic does and translates it.
async fn read_request(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ProxyState,
    trace: &CallTrace,
) -> Result<
    (
        std::sync::Arc<crate::auth::AuthenticatedKey>,
        Map<String, Value>,
        usize,
    ),
    ProxyError,
> {
    let key = state.authenticate_traced(req, trace).await?;
    anthropic_version(req)?;
    let raw = body::read_limited(req, payload, state.settings.max_body_bytes).await?;
    let request = body::parse_object(&raw)?;
    validate(&request, req.path().ends_with("/count_tokens"))?;
    let translated = match translate::anthropic_request_to_openai(&Value::Object(request)) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(ProxyError::Internal(
                "a translated request is not an object".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((key, translated, raw.len()))
}

/// The `anthropic-version` header is required, as Anthropic requires it, and must be a version date. Anthropic
/// dates its API versions and its SDKs send their own (`2023-06-01`, and newer dates from newer SDKs); the
/// gateway serves every version with the same Messages shape, so any date from the first version on is taken.
fn anthropic_version(req: &HttpRequest) -> Result<(), ProxyError> {
    let Some(value) = req.headers().get("anthropic-version") else {
        return Err(ProxyError::bad_request(
            "anthropic-version: header is required",
            None,
        ));
    };
    let version = value.to_str().unwrap_or("");
    match chrono::NaiveDate::parse_from_str(version, "%Y-%m-%d") {
        Ok(_) if version.len() == 10 && version >= FIRST_ANTHROPIC_VERSION => Ok(()),
        _ => Err(ProxyError::bad_request(
            format!(
                "anthropic-version: `{version}` is not a valid version (a date such as 2023-06-01)"
            ),
            None,
        )),
    }
}

/// The checks Anthropic makes before anything else, with messages in its style.
fn validate(request: &Map<String, Value>, counting: bool) -> Result<(), ProxyError> {
    body::required_model(request)?;
    match request.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => {}
        Some(Value::Array(_)) => {
            return Err(ProxyError::bad_request(
                "messages: at least one message is required",
                Some("messages"),
            ));
        }
        Some(_) => {
            return Err(ProxyError::bad_request(
                "messages: Input should be a valid list",
                Some("messages"),
            ));
        }
        None => {
            return Err(ProxyError::bad_request(
                "messages: Field required",
                Some("messages"),
            ));
        }
    }
    if counting {
        return Ok(());
    }
    match request.get("max_tokens") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => Ok(()),
        None => Err(ProxyError::bad_request(
            "max_tokens: Field required",
            Some("max_tokens"),
        )),
        Some(_) => Err(ProxyError::bad_request(
            "max_tokens: Input should be an integer greater than or equal to 1",
            Some("max_tokens"),
        )),
    }
}
