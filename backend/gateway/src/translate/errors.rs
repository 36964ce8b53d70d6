//! Provider error bodies in OpenAI's error format, and OpenAI errors in Anthropic's, with the HTTP status each
//! side's SDK expects.

use serde_json::{Value, json};
use switchyard_types::OpenAiErrorBody;

/// The message for an error body that is not the provider's error JSON. The body itself is never quoted: a
/// base URL may name any host, and its page (an internal service's, a proxy's) is not the caller's to read.
fn raw_message(body: &[u8]) -> String {
    if body.iter().all(u8::is_ascii_whitespace) {
        "the provider returned an error without a body".to_owned()
    } else {
        "the provider returned an error that is not in its error format".to_owned()
    }
}

/// The OpenAI `type` for a status when the provider's body says nothing usable.
fn kind_for_status(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_exceeded",
        500.. => "server_error",
        _ => "invalid_request_error",
    }
}

/// Anthropic's `error` object (`{"type","message"}`) as an OpenAI error body.
pub(crate) fn anthropic_error_object_to_openai(error: &Value) -> OpenAiErrorBody {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the provider returned an error");
    let anthropic_type = error
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("api_error");
    let (kind, code) = match anthropic_type {
        "invalid_request_error" => ("invalid_request_error", None),
        "authentication_error" => ("invalid_request_error", Some("invalid_api_key")),
        "permission_error" => ("permission_error", None),
        "not_found_error" => ("invalid_request_error", Some("not_found")),
        "request_too_large" => ("invalid_request_error", Some("request_too_large")),
        "rate_limit_error" => ("rate_limit_exceeded", Some("rate_limit_exceeded")),
        "billing_error" => ("insufficient_quota", Some("billing_error")),
        "overloaded_error" => ("server_error", Some("overloaded")),
        // api_error, timeout and types added later.
        _ => ("server_error", Some(anthropic_type)),
    };
    OpenAiErrorBody::new(message, kind, None, code)
}

/// An Anthropic error answer (`{"type":"error","error":{"type","message"}}`) as the status and body an OpenAI
/// client expects. Anthropic's 529 `overloaded_error` becomes 503, the status OpenAI clients know as "retry
/// later"; every other status is kept.
pub fn anthropic_error_to_openai(status: u16, body: &[u8]) -> (u16, OpenAiErrorBody) {
    let status_out = if status == 529 { 503 } else { status };
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .filter(|e| e.is_object())
    {
        Some(error) => (status_out, anthropic_error_object_to_openai(error)),
        None => (
            status_out,
            OpenAiErrorBody::new(raw_message(body), kind_for_status(status_out), None, None),
        ),
    }
}

/// Gemini's `error` object (`{"code","message","status"}`, Google's RPC error) as an OpenAI error body. The
/// OpenAI `code` is the RPC status in lower case, e.g. `resource_exhausted`.
pub(crate) fn gemini_error_object_to_openai(error: &Value, http_status: u16) -> OpenAiErrorBody {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the provider returned an error");
    let rpc_status = error.get("status").and_then(Value::as_str);
    let kind = match rpc_status {
        Some(
            "INVALID_ARGUMENT"
            | "FAILED_PRECONDITION"
            | "OUT_OF_RANGE"
            | "UNAUTHENTICATED"
            | "NOT_FOUND",
        ) => "invalid_request_error",
        Some("PERMISSION_DENIED") => "permission_error",
        Some("RESOURCE_EXHAUSTED") => "rate_limit_exceeded",
        Some(_) => "server_error",
        None => kind_for_status(http_status),
    };
    let code = rpc_status.map(str::to_ascii_lowercase);
    OpenAiErrorBody::new(message, kind, None, code.as_deref())
}

/// A Gemini error answer as the status and body an OpenAI client expects. The status is kept: Google's statuses
/// (400, 403, 404, 429, 500, 503, 504) already mean what OpenAI's do. The streaming endpoint wraps the error in a
/// one-element array; both shapes are read.
pub fn gemini_error_to_openai(status: u16, body: &[u8]) -> (u16, OpenAiErrorBody) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let root = match &parsed {
        Some(Value::Array(items)) => items.first(),
        other => other.as_ref(),
    };
    match root.and_then(|v| v.get("error")).filter(|e| e.is_object()) {
        Some(error) => (status, gemini_error_object_to_openai(error, status)),
        None => (
            status,
            OpenAiErrorBody::new(raw_message(body), kind_for_status(status), None, None),
        ),
    }
}

/// The Anthropic error `type` for a status, and the status the Anthropic SDK maps to the matching exception.
/// A 503 (ours or the provider's) becomes 529 `overloaded_error`, Anthropic's "temporarily unavailable"; other
/// 5xx keep their status as `api_error`; unlisted 4xx keep theirs as `invalid_request_error`, as Anthropic does.
fn anthropic_type_for_status(status: u16) -> (u16, &'static str) {
    match status {
        400 => (400, "invalid_request_error"),
        401 => (401, "authentication_error"),
        403 => (403, "permission_error"),
        404 => (404, "not_found_error"),
        413 => (413, "request_too_large"),
        429 => (429, "rate_limit_error"),
        503 | 529 => (529, "overloaded_error"),
        500.. => (status, "api_error"),
        _ => (status, "invalid_request_error"),
    }
}

/// An OpenAI error (the gateway's own or a provider's) as the status and body an Anthropic SDK client expects:
/// `{"type":"error","error":{"type","message"}}`.
pub fn openai_error_to_anthropic(status: u16, body: &[u8]) -> (u16, Value) {
    let (status, kind) = anthropic_type_for_status(status);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        // The gateway's own answer (an OpenAI error it made, or a plain-text one of actix's): quoted, cut.
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            if text.trim().is_empty() {
                raw_message(body)
            } else {
                text
            }
        });
    (status, anthropic_error_body(kind, &message))
}

fn anthropic_error_body(kind: &str, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}

/// An OpenAI error met inside a stream (`{"error":{…}}`, no HTTP status any more) as the data of Anthropic's
/// `error` event. The type is read from OpenAI's `type`.
pub(crate) fn openai_stream_error_to_anthropic(error: &Value) -> Value {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the upstream stream failed");
    let kind = match error.get("type").and_then(Value::as_str) {
        Some("invalid_request_error") => "invalid_request_error",
        Some("rate_limit_exceeded" | "insufficient_quota" | "tokens" | "requests") => {
            "rate_limit_error"
        }
        Some("permission_error") => "permission_error",
        _ => "api_error",
    };
    anthropic_error_body(kind, message)
}
