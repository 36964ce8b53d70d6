//! Azure OpenAI's route shape: `/openai/deployments/{deployment}/chat/completions` and `/embeddings` with
//! an `api-version` query parameter and an `api-key` header. Bodies and answers are OpenAI's (the handlers
//! are shared); only Azure's own gateway errors differ, as `{"error":{"code":…,"message":…}}`.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use crate::error;

#[derive(Serialize)]
struct AzureErrorBody<'a> {
    error: AzureError<'a>,
}

#[derive(Serialize)]
struct AzureError<'a> {
    code: &'a str,
    message: &'a str,
}

fn respond(status: u16, code: &str, message: &str, retry_after: Option<u64>) -> HttpResponse {
    let body = AzureErrorBody {
        error: AzureError { code, message },
    };
    error::respond(error::status_code(status), &body, retry_after)
}

/// Azure answers a request without `api-version` with a 404 (not a 400): the version is part of the
/// route. A request without `api-key` gets its 401.
pub(crate) fn refusal(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<HttpResponse> {
    if query.get("api-version").is_none_or(|v| v.is_empty()) {
        return Some(not_found());
    }
    let key = headers.get("api-key").filter(|v| !v.is_empty());
    if key.is_none() {
        return Some(respond(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a \
             valid key for an active subscription and use a correct regional API endpoint for your \
             resource.",
            None,
        ));
    }
    None
}

/// Unknown operations and missing `api-version` alike.
pub(crate) fn not_found() -> HttpResponse {
    respond(404, "404", "Resource not found", None)
}

/// An injected error in Azure's gateway shape.
pub(crate) fn injected(status: u16, retry_after: Option<u64>) -> HttpResponse {
    let (code, message) = match status {
        401 => (
            "401",
            "Access denied due to invalid subscription key (mock).",
        ),
        403 => ("403", "Public access is disabled for this resource (mock)."),
        404 => (
            "DeploymentNotFound",
            "The API deployment for this resource does not exist (mock).",
        ),
        429 => (
            "429",
            "Requests to the ChatCompletions_Create Operation have exceeded the rate limit of your \
             current pricing tier (mock).",
        ),
        503 => (
            "ServiceUnavailable",
            "The service is temporarily unable to process your request (mock).",
        ),
        500..=599 => (
            "InternalServerError",
            "The service encountered an internal error (mock).",
        ),
        _ => ("InvalidRequest", "Injected error (mock)."),
    };
    respond(status, code, message, retry_after)
}

/// The body with `model` set to the deployment when the client left it out, as Azure's SDKs do: the
/// deployment names the model there.
pub(crate) fn with_model(mut body: Value, deployment: &str) -> Value {
    if let Some(object) = body.as_object_mut() {
        let missing = object
            .get("model")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            object.insert("model".to_owned(), Value::String(deployment.to_owned()));
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use serde_json::json;

    #[test]
    fn api_version_is_checked_before_the_key() {
        let mut headers = HeaderMap::new();
        let version = HashMap::from([("api-version".to_owned(), "2024-10-21".to_owned())]);
        let refused = refusal(&headers, &HashMap::new()).map(|r| r.status().as_u16());
        assert_eq!(refused, Some(404));
        let refused = refusal(&headers, &version).map(|r| r.status().as_u16());
        assert_eq!(refused, Some(401));
        headers.insert(
            HeaderName::from_static("api-key"),
            HeaderValue::from_static("k"),
        );
        assert!(refusal(&headers, &version).is_none());
    }

    #[test]
    fn the_deployment_fills_a_missing_model_only() {
        let filled = with_model(json!({"messages": []}), "prod");
        assert_eq!(filled["model"], "prod");
        let kept = with_model(json!({"model": "gpt-4o"}), "prod");
        assert_eq!(kept["model"], "gpt-4o");
    }
}
