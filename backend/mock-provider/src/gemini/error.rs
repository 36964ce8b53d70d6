//! Google's error shape, `{"error":{"code":…,"message":…,"status":…}}` with the canonical status name for
//! each HTTP status, and the API-key check Gemini makes before anything else.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::header::HeaderMap;
use serde::Serialize;

use crate::error;

/// The `google.rpc.Code` name Google sends with an HTTP status.
pub(crate) fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: u16,
    message: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<RetryInfo>,
}

/// `google.rpc.RetryInfo`, which Google sends with quota errors instead of relying on `retry-after`.
#[derive(Serialize)]
struct RetryInfo {
    #[serde(rename = "@type")]
    kind: &'static str,
    #[serde(rename = "retryDelay")]
    retry_delay: String,
}

fn respond(status: u16, message: &str, retry_after: Option<u64>) -> HttpResponse {
    let status = error::status_code(status);
    let details = retry_after
        .map(|secs| RetryInfo {
            kind: "type.googleapis.com/google.rpc.RetryInfo",
            retry_delay: format!("{secs}s"),
        })
        .into_iter()
        .collect();
    let body = ErrorBody {
        error: ErrorDetail {
            code: status.as_u16(),
            message,
            status: status_name(status.as_u16()),
            details,
        },
    };
    error::respond(status, &body, retry_after)
}

/// A 400 `INVALID_ARGUMENT`, Google's answer to any malformed request.
pub(crate) fn invalid_argument(message: &str) -> HttpResponse {
    respond(400, message, None)
}

/// Google's 404 for unknown methods and paths.
pub(crate) fn not_found(path: &str) -> HttpResponse {
    respond(
        404,
        &format!("The requested URL {path} was not found on this server (mock)."),
        None,
    )
}

/// An injected error with the status name Google gives that status.
pub(crate) fn injected(status: u16, retry_after: Option<u64>) -> HttpResponse {
    let message = match status {
        400 => "API key not valid. Please pass a valid API key. (mock)",
        401 => "Request had invalid authentication credentials (mock).",
        403 => "The caller does not have permission (mock).",
        404 => "models/unknown is not found for API version v1beta (mock).",
        429 => "Resource has been exhausted (e.g. check quota) (mock).",
        503 => "The model is overloaded. Please try again later. (mock)",
        500..=599 => "An internal error has occurred (mock).",
        _ => "Injected error (mock).",
    };
    respond(status, message, retry_after)
}

/// Gemini takes its key from `x-goog-api-key` or `?key=`; without either it answers 403, not 401.
pub(crate) fn refusal(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<HttpResponse> {
    let header = headers.get("x-goog-api-key").is_some_and(|v| !v.is_empty());
    let param = query.get("key").is_some_and(|v| !v.is_empty());
    if header || param {
        return None;
    }
    Some(respond(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). Please use \
         API Key or other form of API consumer identity to call this API.",
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_google_status_names() {
        let names: Vec<_> = [400, 401, 403, 404, 429, 500, 502, 503, 504]
            .into_iter()
            .map(status_name)
            .collect();
        assert_eq!(
            names,
            [
                "INVALID_ARGUMENT",
                "UNAUTHENTICATED",
                "PERMISSION_DENIED",
                "NOT_FOUND",
                "RESOURCE_EXHAUSTED",
                "INTERNAL",
                "INTERNAL",
                "UNAVAILABLE",
                "DEADLINE_EXCEEDED"
            ]
        );
    }

    #[test]
    fn key_comes_from_header_or_query() {
        let query = HashMap::from([("key".to_owned(), "k".to_owned())]);
        assert!(refusal(&HeaderMap::new(), &query).is_none());
        let refused = refusal(&HeaderMap::new(), &HashMap::new());
        assert_eq!(refused.map(|r| r.status().as_u16()), Some(403));
    }
}
