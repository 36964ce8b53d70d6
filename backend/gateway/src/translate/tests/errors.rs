//! Error bodies and statuses across formats.

use crate::translate::{
    anthropic_error_to_openai, gemini_error_to_openai, openai_error_to_anthropic,
};
use serde_json::json;
use switchyard_types::OpenAiErrorBody;

fn body(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn anthropic_errors_become_openai_errors_with_529_as_503() {
    let overloaded = body(
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" },
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy" }),
    );
    assert_eq!(
        anthropic_error_to_openai(529, &overloaded),
        (
            503,
            OpenAiErrorBody::new("Overloaded", "server_error", None, Some("overloaded"))
        )
    );

    for (status, kind, openai_kind, code) in [
        (400, "invalid_request_error", "invalid_request_error", None),
        (
            401,
            "authentication_error",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        (403, "permission_error", "permission_error", None),
        (
            404,
            "not_found_error",
            "invalid_request_error",
            Some("not_found"),
        ),
        (
            413,
            "request_too_large",
            "invalid_request_error",
            Some("request_too_large"),
        ),
        (
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
            Some("rate_limit_exceeded"),
        ),
        (500, "api_error", "server_error", Some("api_error")),
    ] {
        let error = body(json!({ "type": "error", "error": { "type": kind, "message": "m" } }));
        assert_eq!(
            anthropic_error_to_openai(status, &error),
            (status, OpenAiErrorBody::new("m", openai_kind, None, code)),
            "{kind}"
        );
    }
}

#[test]
fn an_unreadable_error_body_is_never_quoted_and_gets_a_kind_from_the_status() {
    let (status, error) = anthropic_error_to_openai(502, b"<html>Bad gateway</html>");
    assert_eq!((status, error.error.kind.as_str()), (502, "server_error"));
    assert!(
        !error.error.message.contains("html"),
        "{}",
        error.error.message
    );

    let (status, error) = gemini_error_to_openai(429, b"");
    assert_eq!(
        (status, error.error.kind.as_str()),
        (429, "rate_limit_exceeded")
    );
}

#[test]
fn gemini_errors_keep_their_status_and_name_the_rpc_status() {
    let invalid = body(
        json!({ "error": { "code": 400, "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT", "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID" }] } }),
    );
    assert_eq!(
        gemini_error_to_openai(400, &invalid),
        (
            400,
            OpenAiErrorBody::new(
                "API key not valid. Please pass a valid API key.",
                "invalid_request_error",
                None,
                Some("invalid_argument")
            )
        )
    );

    let exhausted = body(
        json!([{ "error": { "code": 429, "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED" } }]),
    );
    assert_eq!(
        gemini_error_to_openai(429, &exhausted),
        (
            429,
            OpenAiErrorBody::new(
                "Resource has been exhausted (e.g. check quota).",
                "rate_limit_exceeded",
                None,
                Some("resource_exhausted")
            )
        )
    );

    let denied = body(
        json!({ "error": { "code": 403, "message": "denied", "status": "PERMISSION_DENIED" } }),
    );
    assert_eq!(
        gemini_error_to_openai(403, &denied).1.error.kind,
        "permission_error"
    );
    let unavailable =
        body(json!({ "error": { "code": 503, "message": "overloaded", "status": "UNAVAILABLE" } }));
    assert_eq!(
        gemini_error_to_openai(503, &unavailable).1.error.kind,
        "server_error"
    );
}

#[test]
fn openai_errors_become_anthropic_errors_with_the_statuses_its_sdk_maps() {
    let error = body(
        json!({ "error": { "message": "Rate limit reached", "type": "rate_limit_exceeded", "param": null, "code": "rate_limit_exceeded" } }),
    );
    for (status, expected_status, kind) in [
        (400, 400, "invalid_request_error"),
        (401, 401, "authentication_error"),
        (403, 403, "permission_error"),
        (404, 404, "not_found_error"),
        (413, 413, "request_too_large"),
        (429, 429, "rate_limit_error"),
        (500, 500, "api_error"),
        (503, 529, "overloaded_error"),
        (529, 529, "overloaded_error"),
        (502, 502, "api_error"),
        (504, 504, "api_error"),
        (422, 422, "invalid_request_error"),
    ] {
        assert_eq!(
            openai_error_to_anthropic(status, &error),
            (
                expected_status,
                json!({ "type": "error", "error": { "type": kind, "message": "Rate limit reached" } })
            ),
            "{status}"
        );
    }
    assert_eq!(
        openai_error_to_anthropic(500, b"oops").1["error"]["message"],
        "oops"
    );
}
