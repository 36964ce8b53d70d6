//! `POST /v1/chat/completions`, streaming and not, and the chat pipeline `POST /v1/messages` shares: route,
//! admit, send (translated for Anthropic and Gemini providers), relay, record. Tool definitions and tool calls
//! pass through untouched to OpenAI-compatible providers.

use super::call::{
    BODY_LIMIT, CallRecord, CapturedBodies, Outcome, ToolLinks, UsageSource, counts_from_usage,
};
use super::client::ClientFormat;
use super::failover;
use super::relay::StreamFormats;
use super::wire::{self, StreamTranslator};
use super::{ProxyState, admission, body, relay, route, tags};
use crate::auth::AuthenticatedKey;
use crate::error::ProxyError;
use crate::money::TokenCounts;
use crate::otel::{CallTrace, redact};
use crate::routing::CallShape;
use crate::translate::{self, OpenAiStreamToAnthropic, ResponseContext};
use crate::usage::tokenizer;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bytes::Bytes;
use opentelemetry::KeyValue;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::SystemTime;
use switchyard_types::Usage;
use tokio::time::Instant;
use uuid::Uuid;

/// The handler.
pub async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
) -> Result<HttpResponse, ProxyError> {
    let trace = state.start_trace(&req, "chat");
    super::traced(
        trace.clone(),
        chat_completions_traced(req, payload, state, trace),
    )
    .await
}

async fn chat_completions_traced(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
    trace: CallTrace,
) -> Result<HttpResponse, ProxyError> {
    let started = Instant::now();
    let key = state.authenticate_traced(&req, &trace).await?;
    let raw = body::read_limited(&req, payload, state.settings.max_body_bytes).await?;
    let (request, written) = body::parse_object_as_written(&raw)?;
    body::required_model(&request)?;
    match request.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => {}
        Some(Value::Array(_)) => {
            return Err(ProxyError::bad_request(
                "`messages` must not be empty",
                Some("messages"),
            ));
        }
        Some(_) => {
            return Err(ProxyError::bad_request(
                "`messages` must be an array",
                Some("messages"),
            ));
        }
        None => {
            return Err(ProxyError::bad_request(
                "you must provide a messages parameter",
                Some("messages"),
            ));
        }
    }
    let call = ChatCall {
        started,
        key,
        request,
        raw_len: raw.len(),
        written: Some(written),
        client: ClientFormat::OpenAi,
        trace,
    };
    run(&req, &state, call).await
}

/// A chat call, authenticated and parsed into OpenAI's format, from either inbound endpoint.
pub(super) struct ChatCall {
    pub started: Instant,
    pub key: Arc<AuthenticatedKey>,
    /// The request in OpenAI's format (an Anthropic request already translated).
    pub request: Map<String, Value>,
    /// Size of the body as received, for a cheap token estimate.
    pub raw_len: usize,
    /// The caller's fields as written, when the caller speaks OpenAI's format (forwarded as written to
    /// providers that do too).
    pub written: Option<super::forward::RawRequest>,
    pub client: ClientFormat,
    pub trace: CallTrace,
}

/// Routes, admits, sends and relays a chat call; answers in the caller's format. Errors returned here (before
/// routing) are rendered by the caller's handler.
pub(super) async fn run(
    req: &HttpRequest,
    state: &ProxyState,
    call: ChatCall,
) -> Result<HttpResponse, ProxyError> {
    let ChatCall {
        started,
        key,
        mut request,
        raw_len,
        written,
        client,
        trace,
    } = call;
    let model = body::required_model(&request)?;
    trace.set_model(&model);
    let stream = body::optional_bool(&request, "stream")?;
    let attribution = tags::from_request(req.headers(), &mut request, &key.default_tags)?;
    trace.set(|| call_attributes(stream, &attribution, &request, trace.captures_content()));
    let max_output =
        admission::max_output_tokens(&request, state.settings.default_max_output_tokens)?;
    let shape = CallShape {
        streamed: stream,
        // A cheap estimate is enough to order deployments by cost; admission counts exactly when it must.
        prompt_tokens: (raw_len / 4) as u64,
        max_output,
    };
    let routing_started = SystemTime::now();
    let plan = route::plan(state, &key, &model, &route::route_request(req)?, shape);
    trace.phase("route", routing_started, || route_attributes(&plan));
    let refused = super::refusal::Refused {
        key: &key,
        endpoint: match client {
            ClientFormat::OpenAi => "chat.completions",
            ClientFormat::Anthropic => "messages",
        },
        model: &model,
        streamed: stream,
        attribution: &attribution,
        started,
    };
    let plan = plan.map_err(|e| refused.record(state, req, e))?;
    let priced_by = plan
        .dearest(shape)
        .cloned()
        .ok_or_else(|| ProxyError::Internal("an empty routing plan".into()))?;
    let limits_started = SystemTime::now();
    let ticket = admission::admit(state, &key, &priced_by, &attribution, || {
        (admission::chat_prompt_tokens(&request), max_output)
    })
    .await;
    trace.phase("check_limits", limits_started, Vec::new);
    let ticket = ticket.map_err(|e| refused.record(state, req, e))?;
    if ticket.bounded_output {
        admission::bound_output(&mut request, state.settings.default_max_output_tokens);
    }
    let client_wants_usage = stream && include_usage_requested(&request)?;
    if stream {
        // Always ask for usage so streams are billed from the provider's own count; the extra chunk is removed
        // again for a client that did not ask for it.
        request.insert(
            "stream_options".into(),
            stream_options_with_usage(request.get("stream_options")),
        );
    }

    let deadline = state.upstream.deadline_from(started);
    let forwarded = state.forwarded_headers(req);
    // The call is identified and priced as of now, before any attempt.
    let (call_id, created_at) = (Uuid::now_v7(), chrono::Utc::now());
    // Calls in an agent session keep their tool links (for the session graph); traced calls use them for their
    // tool spans. Other calls skip the work.
    let tools = (attribution.session_id.is_some() || trace.is_recording())
        .then(|| ToolLinks::from_request(request.get("messages")));
    if let Some(tools) = &tools {
        trace.tool_results(key.tenant_id, &tools.results);
    }
    let captured = key.capture_bodies.then(|| CapturedBodies {
        request: redact(
            &request
                .get("messages")
                .map(Value::to_string)
                .unwrap_or_default(),
            BODY_LIMIT,
        ),
        response: None,
    });
    // The record exists before the first attempt, so a call dropped while its provider works is still recorded.
    let mut call = CallRecord {
        id: call_id,
        created_at,
        started,
        key: Arc::clone(&key),
        deployment: plan.deployments.first().cloned().unwrap_or(priced_by),
        endpoint: match client {
            ClientFormat::OpenAi => "chat.completions",
            ClientFormat::Anthropic => "messages",
        },
        client,
        streamed: stream,
        attribution,
        sink: state.usage.clone(),
        ticket,
        failed_attempts: Vec::new(),
        in_flight: None,
        tools,
        metrics: Arc::clone(&state.metrics),
        trace: trace.clone(),
        captured,
        prompt_estimate: shape.prompt_tokens,
        sent: false,
        finished: false,
        open: state.usage.open_call(),
    };
    let default_max_tokens = state.settings.default_max_output_tokens;
    let sent = failover::send(
        state,
        &plan,
        &forwarded,
        deadline,
        stream,
        &trace,
        &mut call,
        |deployment| {
            wire::chat_request(
                deployment,
                &mut request,
                written.as_ref(),
                stream,
                default_max_tokens,
            )
        },
    )
    .await;
    let (response, call) = match failover::into_call(sent, call) {
        Ok(sent) => sent,
        Err(answer) => return *answer,
    };
    let ctx = ResponseContext {
        created: created_at.timestamp(),
        model: call.deployment.upstream_model.clone(),
        request_id: call_id.to_string(),
    };

    if stream {
        let formats = StreamFormats {
            upstream: StreamTranslator::for_deployment(&call.deployment, ctx.clone()),
            client: (client == ClientFormat::Anthropic).then(|| OpenAiStreamToAnthropic::new(ctx)),
        };
        let prompt_tokens = PromptCounter::Chat(request.remove("messages").unwrap_or(Value::Null));
        // An Anthropic client's usage travels in its own events, which are built from the usage chunk.
        let strip_usage_chunk = client == ClientFormat::OpenAi && !client_wants_usage;
        return Ok(relay::relay_sse(
            call,
            response,
            prompt_tokens,
            strip_usage_chunk,
            deadline,
            formats,
            relay::StreamCaps {
                max_event_bytes: state.upstream.max_event_bytes(),
                max_total_bytes: state.upstream.max_response_bytes(),
            },
        ));
    }
    let status = response.status().as_u16();
    let bytes = match state.upstream.read_body(response, deadline).await {
        Ok(bytes) => bytes,
        Err(error @ ProxyError::UpstreamTooLarge(cap)) => {
            // The provider produced (and bills) an answer we refused to hold: billed as the prompt and as much
            // output as the bytes read, at four bytes a token.
            let tokens = TokenCounts {
                input: admission::chat_prompt_tokens(&request),
                output: (cap / 4) as u64,
                cached: 0,
                reasoning: 0,
            };
            return Ok(fail_billed(call, error, tokens, UsageSource::Tokenizer));
        }
        Err(error) => return Ok(fail(call, error)),
    };
    let bytes = match wire::chat_response(&call.deployment, bytes.clone(), &ctx) {
        Ok(bytes) => bytes,
        Err(error) => {
            // The provider answered (and bills the call) in a shape we could not translate: the caller gets a
            // 502, and the call is billed by our own count of what the provider produced.
            let tokens = TokenCounts {
                input: admission::chat_prompt_tokens(&request),
                output: tokenizer::count_text(&String::from_utf8_lossy(&bytes)),
                cached: 0,
                reasoning: 0,
            };
            return Ok(fail_billed(call, error, tokens, UsageSource::Tokenizer));
        }
    };
    let (tokens, source) = match serde_json::from_slice::<UsagePeek>(&bytes)
        .ok()
        .and_then(|p| p.usage)
    {
        Some(usage) => (counts_from_usage(&usage), UsageSource::Provider),
        None => (
            count_completion_ourselves(request.get("messages"), &bytes),
            UsageSource::Tokenizer,
        ),
    };
    let mut call = call;
    if let Some(tools) = &mut call.tools {
        tools.add_calls_from_response(&bytes);
    }
    call.capture_answer(|| choices_of(&bytes));
    let bytes = match client {
        ClientFormat::OpenAi => bytes,
        ClientFormat::Anthropic => match to_anthropic(&bytes) {
            Ok(bytes) => bytes,
            // Answered and billed upstream: the call keeps its tokens though the caller gets a 502.
            Err(error) => return Ok(fail_billed(call, error, tokens, source)),
        },
    };
    let mut builder =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    builder.content_type("application/json");
    call.decorate(&mut builder);
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

/// The call's own attributes on its span (GenAI and `switchyard.*`), and its prompt when content is captured.
fn call_attributes(
    stream: bool,
    attribution: &tags::Attribution,
    request: &Map<String, Value>,
    capture_content: bool,
) -> Vec<KeyValue> {
    let mut attributes = vec![KeyValue::new("gen_ai.request.stream", stream)];
    if let Some(max) = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"))
        .and_then(Value::as_i64)
    {
        attributes.push(KeyValue::new("gen_ai.request.max_tokens", max));
    }
    if let Some(temperature) = request.get("temperature").and_then(Value::as_f64) {
        attributes.push(KeyValue::new("gen_ai.request.temperature", temperature));
    }
    if let Some(session) = &attribution.session_id {
        attributes.push(KeyValue::new("gen_ai.conversation.id", session.clone()));
        attributes.push(KeyValue::new("switchyard.session.id", session.clone()));
    }
    if let Some(agent) = &attribution.agent_id {
        attributes.push(KeyValue::new("gen_ai.agent.id", agent.clone()));
    }
    if let Some(parent) = &attribution.parent_id {
        attributes.push(KeyValue::new("switchyard.parent.id", parent.clone()));
    }
    if capture_content && let Some(messages) = request.get("messages") {
        attributes.push(KeyValue::new(
            "gen_ai.input.messages",
            redact(&messages.to_string(), crate::otel::CONTENT_LIMIT),
        ));
    }
    attributes
}

/// What routing decided, for its span.
fn route_attributes(plan: &Result<route::Plan, ProxyError>) -> Vec<KeyValue> {
    match plan {
        Ok(plan) => vec![
            KeyValue::new("switchyard.route.candidates", plan.deployments.len() as i64),
            KeyValue::new(
                "switchyard.route.first",
                plan.deployments
                    .first()
                    .map(|d| d.id.to_string())
                    .unwrap_or_default(),
            ),
        ],
        Err(error) => vec![KeyValue::new("error.type", error.outcome())],
    }
}

/// The `choices` of a whole OpenAI answer as JSON text.
fn choices_of(openai: &[u8]) -> String {
    serde_json::from_slice::<Value>(openai)
        .ok()
        .and_then(|v| v.get("choices").cloned())
        .unwrap_or(Value::Null)
        .to_string()
}

/// An answer in OpenAI's format as an Anthropic Messages answer.
fn to_anthropic(openai: &[u8]) -> Result<Bytes, ProxyError> {
    let value: Value = serde_json::from_slice(openai).map_err(|e| {
        ProxyError::UpstreamFailed(format!("the provider answered with invalid JSON: {e}"))
    })?;
    let translated = translate::openai_response_to_anthropic(&value).map_err(|e| {
        ProxyError::UpstreamFailed(format!(
            "the provider's answer could not be translated to Anthropic's format: {e}"
        ))
    })?;
    serde_json::to_vec(&translated)
        .map(Bytes::from)
        .map_err(|e| ProxyError::Internal(e.to_string()))
}

/// Records a call that failed after routing and answers with its error, carrying the routing headers so the
/// caller can match the failure to its usage event.
pub(super) fn fail(call: CallRecord, error: ProxyError) -> HttpResponse {
    fail_billed(call, error, TokenCounts::default(), UsageSource::Provider)
}

/// Like [`fail`], for a call the provider answered (and bills) although the caller gets an error: its tokens are
/// recorded and charged.
fn fail_billed(
    call: CallRecord,
    error: ProxyError,
    tokens: TokenCounts,
    source: UsageSource,
) -> HttpResponse {
    let mut response = call.client.error_response(&error);
    for (name, value) in call.routing_headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    call.finish(Outcome {
        status: error.status_code().as_u16(),
        label: error.outcome(),
        tokens,
        source,
        ttft: None,
        error: Some(error.to_string()),
    });
    response
}

/// What to count prompt tokens from when the provider does not say.
pub enum PromptCounter {
    Chat(Value),
}

impl PromptCounter {
    /// Prompt tokens by our tokenizer.
    pub fn count(&self) -> u64 {
        match self {
            Self::Chat(messages) => tokenizer::count_chat_messages(messages),
        }
    }
}

#[derive(Deserialize)]
struct UsagePeek {
    usage: Option<Usage>,
}

fn include_usage_requested(request: &Map<String, Value>) -> Result<bool, ProxyError> {
    match request.get("stream_options") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(options)) => match options.get("include_usage") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ProxyError::bad_request(
                "`stream_options.include_usage` must be a boolean",
                Some("stream_options"),
            )),
        },
        Some(_) => Err(ProxyError::bad_request(
            "`stream_options` must be an object",
            Some("stream_options"),
        )),
    }
}

fn stream_options_with_usage(existing: Option<&Value>) -> Value {
    let mut options = existing
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    options.insert("include_usage".into(), Value::Bool(true));
    Value::Object(options)
}

/// Prompt and completion tokens of a non-streamed answer that came without `usage`.
fn count_completion_ourselves(messages: Option<&Value>, response: &[u8]) -> TokenCounts {
    let input = messages.map(tokenizer::count_chat_messages).unwrap_or(0);
    let mut text = String::new();
    if let Ok(value) = serde_json::from_slice::<Value>(response) {
        for choice in value
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(message) = choice.get("message") else {
                continue;
            };
            text.push_str(
                message
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            );
            for call in message
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                text.push_str(
                    call.pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                );
                text.push_str(
                    call.pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                );
            }
        }
    }
    TokenCounts {
        input,
        output: tokenizer::count_text(&text),
        cached: 0,
        reasoning: 0,
    }
}
