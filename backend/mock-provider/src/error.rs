//! OpenAI-shaped error responses, both the mock's own (bad requests, unknown paths) and injected ones.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;
use switchyard_types::OpenAiErrorBody;

/// A 400 `invalid_request_error`, as OpenAI sends for validation failures.
pub(crate) fn bad_request(message: &str, param: Option<&str>, code: Option<&str>) -> HttpResponse {
    respond(
        StatusCode::BAD_REQUEST,
        &OpenAiErrorBody::new(message, "invalid_request_error", param, code),
        None,
    )
}

/// The body OpenAI sends when the JSON cannot be parsed.
pub(crate) fn malformed_json() -> HttpResponse {
    bad_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your \
         HTTP library correctly. The OpenAI API expects a JSON payload.)",
        None,
        None,
    )
}

/// OpenAI answers unknown paths and wrong methods alike with a 404 naming the request line.
pub(crate) fn not_found(method: &str, path: &str) -> HttpResponse {
    let body = OpenAiErrorBody::new(
        format!("Invalid URL ({method} {path})"),
        "invalid_request_error",
        None,
        None,
    );
    respond(StatusCode::NOT_FOUND, &body, None)
}

/// The status of an injected error; values actix cannot send become a 500.
pub(crate) fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An error the test asked for (forced status or error rate), typed the way OpenAI types that status.
pub(crate) fn injected(status: u16, retry_after: Option<u64>) -> HttpResponse {
    let code = status_code(status);
    let (kind, error_code, message) = match code.as_u16() {
        401 => (
            "authentication_error",
            Some("invalid_api_key"),
            "Incorrect API key provided (mock).",
        ),
        403 => (
            "permission_error",
            None,
            "You are not allowed to sample from this model (mock).",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist (mock).",
        ),
        429 => (
            "rate_limit_exceeded",
            Some("rate_limit_exceeded"),
            "Rate limit reached (mock).",
        ),
        500..=599 => (
            "server_error",
            None,
            "The server had an error while processing your request (mock).",
        ),
        _ => ("invalid_request_error", None, "Injected error (mock)."),
    };
    respond(
        code,
        &OpenAiErrorBody::new(message, kind, None, error_code),
        retry_after,
    )
}

/// An error response in any dialect: `body` as JSON, with `retry-after` when given.
pub(crate) fn respond(
    status: StatusCode,
    body: &impl Serialize,
    retry_after: Option<u64>,
) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    if let Some(secs) = retry_after {
        builder.insert_header(("retry-after", secs.to_string()));
    }
    builder.json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_rate_limit_carries_retry_after_and_openai_type() {
        let resp = injected(429, Some(3));
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok());
        assert_eq!(retry, Some("3"));
    }

    #[test]
    fn out_of_range_status_falls_back_to_500() {
        assert_eq!(
            injected(42, None).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(injected(503, None).headers().get("retry-after").is_none());
    }
}
