//! Anthropic's error shape, `{"type":"error","error":{"type":…,"message":…},"request_id":…}`, with the
//! error type Anthropic documents for each status, and the header checks it makes before anything else.

use actix_web::HttpResponse;
use actix_web::http::header::HeaderMap;
use serde::Serialize;

use crate::error;

/// Anthropic's documented error `type` for a status; other 4xx are `invalid_request_error` and other
/// 5xx `api_error`, as its docs say.
pub(crate) fn kind(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        // Anthropic's own status for "overloaded", which no other provider uses.
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorDetail<'a>,
    request_id: &'static str,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

fn body(status: u16, message: &str) -> Vec<u8> {
    let body = ErrorBody {
        kind: "error",
        error: ErrorDetail {
            kind: kind(status),
            message,
        },
        request_id: "req_mock",
    };
    // Serialising borrowed strings into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

fn respond(status: u16, message: &str, retry_after: Option<u64>) -> HttpResponse {
    let mut builder = HttpResponse::build(error::status_code(status));
    if let Some(secs) = retry_after {
        builder.insert_header(("retry-after", secs.to_string()));
    }
    builder
        .content_type("application/json")
        .body(body(status, message))
}

/// A 400 `invalid_request_error`.
pub(crate) fn invalid_request(message: &str) -> HttpResponse {
    respond(400, message, None)
}

/// Anthropic's 404 for unknown paths.
pub(crate) fn not_found() -> HttpResponse {
    respond(404, "Not Found", None)
}

/// An injected error typed as Anthropic types its status.
pub(crate) fn injected(status: u16, retry_after: Option<u64>) -> HttpResponse {
    let message = match status {
        401 => "invalid x-api-key (mock)",
        403 => "Your API key does not have permission to use the specified resource (mock).",
        404 => "model: not found (mock)",
        429 => "Number of request tokens has exceeded your per-minute rate limit (mock).",
        529 => "Overloaded (mock)",
        500..=599 => "Internal server error (mock)",
        _ => "Injected error (mock)",
    };
    respond(status, message, retry_after)
}

/// Anthropic requires `x-api-key` (else a 401) and `anthropic-version` (else a 400) on every request.
pub(crate) fn refusal(headers: &HeaderMap) -> Option<HttpResponse> {
    let present = |name: &str| headers.get(name).is_some_and(|v| !v.is_empty());
    if !present("x-api-key") {
        return Some(respond(401, "x-api-key header is required", None));
    }
    if !present("anthropic-version") {
        return Some(invalid_request("anthropic-version: header is required"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_anthropic_error_types() {
        let kinds: Vec<_> = [400, 401, 403, 404, 413, 418, 429, 500, 503, 529]
            .into_iter()
            .map(kind)
            .collect();
        assert_eq!(
            kinds,
            [
                "invalid_request_error",
                "authentication_error",
                "permission_error",
                "not_found_error",
                "request_too_large",
                "invalid_request_error",
                "rate_limit_error",
                "api_error",
                "api_error",
                "overloaded_error"
            ]
        );
    }

    #[test]
    fn error_body_has_anthropic_shape() {
        let json: serde_json::Value =
            serde_json::from_slice(&body(529, "Overloaded")).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"type": "error", "request_id": "req_mock",
                "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
        assert_eq!(injected(529, Some(1)).status().as_u16(), 529);
    }
}
