//! The `x-mock-*` faults on the Anthropic, Gemini and Azure routes, each answered in its provider's own
//! error format.

use std::time::{Duration, Instant};

use mock_provider::MockConfig;
use serde_json::json;

use crate::helpers::{anthropic_body, chat_body, gemini_body, send_json, spawn};

const GEMINI: &str = "gemini-2.5-flash:generateContent";

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers.get("retry-after").and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn anthropic_statuses_get_anthropic_error_types() {
    let mock = spawn(MockConfig::default()).await;
    let cases = [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ];
    for (status, kind) in cases {
        let request = mock
            .anthropic(&anthropic_body("hi"))
            .header("x-mock-status", status.to_string())
            .header("x-mock-retry-after", "3");
        let (got, headers, error) = send_json(request).await;
        assert_eq!(got, status);
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["error"]["type"], kind);
        assert!(error["error"]["message"].is_string());
        assert_eq!(retry_after(&headers), Some("3"));
    }
}

#[tokio::test]
async fn gemini_statuses_get_google_status_names() {
    let mock = spawn(MockConfig::default()).await;
    let cases = [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
    ];
    for (status, name) in cases {
        let request = mock
            .gemini(GEMINI, &gemini_body("hi"))
            .header("x-mock-status", status.to_string());
        let (got, _, error) = send_json(request).await;
        assert_eq!(got, status);
        assert_eq!(error["error"]["code"], status, "{error}");
        assert_eq!(error["error"]["status"], name);
        assert!(error["error"].get("details").is_none());
    }
    let limited = mock
        .gemini(GEMINI, &gemini_body("hi"))
        .header("x-mock-status", "429")
        .header("x-mock-retry-after", "7");
    let (_, headers, error) = send_json(limited).await;
    assert_eq!(retry_after(&headers), Some("7"));
    assert_eq!(
        error["error"]["details"],
        json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}])
    );
}

#[tokio::test]
async fn azure_statuses_get_azure_error_codes() {
    let mock = spawn(MockConfig::default()).await;
    for (status, code) in [
        (429, "429"),
        (404, "DeploymentNotFound"),
        (503, "ServiceUnavailable"),
    ] {
        let request = mock
            .azure("d/chat/completions", &chat_body("hi"))
            .header("x-mock-status", status.to_string())
            .header("x-mock-retry-after", "1");
        let (got, headers, error) = send_json(request).await;
        assert_eq!(got, status);
        assert_eq!(error["error"]["code"], code, "{error}");
        assert!(error["error"]["message"].is_string());
        assert!(error["error"].get("type").is_none());
        assert_eq!(retry_after(&headers), Some("1"));
    }
}

#[tokio::test]
async fn credentials_are_checked_before_server_wide_faults() {
    let mock = spawn(MockConfig {
        status: Some(500),
        ..MockConfig::default()
    })
    .await;
    let url = mock.root_url("/v1/messages");
    let keyless = mock
        .client
        .post(url)
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_body("hi"));
    assert_eq!(send_json(keyless).await.0, 401);
    let (status, _, error) = send_json(mock.anthropic(&anthropic_body("hi"))).await;
    assert_eq!(
        (status, error["error"]["type"].as_str()),
        (500, Some("api_error"))
    );
}

#[tokio::test]
async fn error_rate_is_deterministic_across_dialects() {
    let mock = spawn(MockConfig {
        error_rate: 0.5,
        ..MockConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(send_json(mock.anthropic(&anthropic_body("hi"))).await.0);
        statuses.push(send_json(mock.gemini(GEMINI, &gemini_body("hi"))).await.0);
    }
    assert_eq!(statuses, [500, 200, 500, 200]);
}

#[tokio::test]
async fn hang_ttft_and_disconnect_apply_to_non_streamed_answers() {
    let mock = spawn(MockConfig::default()).await;
    let start = Instant::now();
    let delayed = mock
        .gemini(GEMINI, &gemini_body("hi"))
        .header("x-mock-hang-ms", "150")
        .header("x-mock-ttft-ms", "100");
    assert_eq!(send_json(delayed).await.0, 200);
    assert!(start.elapsed() >= Duration::from_millis(250));

    let cut = mock
        .anthropic(&anthropic_body("hi"))
        .header("x-mock-disconnect-after", "0");
    let Ok(response) = cut.send().await else {
        unreachable!("send failed")
    };
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.bytes().await.is_err(), "body should fail mid-way");

    let (_, _, bare) = send_json(
        mock.anthropic(&anthropic_body("hi"))
            .header("x-mock-no-usage", "yes"),
    )
    .await;
    assert!(bare.get("usage").is_none() && bare["content"][0]["text"] == "Mock reply: hi");
    let (_, _, bare) = send_json(
        mock.gemini(GEMINI, &gemini_body("hi"))
            .header("x-mock-no-usage", "on"),
    )
    .await;
    assert!(bare.get("usageMetadata").is_none());
    let (_, _, fixed) = send_json(
        mock.anthropic(&anthropic_body("hi"))
            .header("x-mock-fixed-id", "msg_fixed"),
    )
    .await;
    assert_eq!(fixed["id"], "msg_fixed");
}
