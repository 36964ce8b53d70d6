use std::time::{Duration, Instant};

use mock_provider::MockConfig;

use crate::helpers::{chat_body, send_json, spawn};

#[tokio::test]
async fn status_header_returns_openai_error_with_retry_after() {
    let mock = spawn(MockConfig::default()).await;
    let request = mock
        .post("/chat/completions", &chat_body("hi"))
        .header("x-mock-status", "503")
        .header("x-mock-retry-after", "2");
    let (status, headers, body) = send_json(request).await;
    assert_eq!(status, 503);
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2")
    );
    assert_eq!(body["error"]["type"], "server_error");
    assert!(body["error"].get("param").is_some() && body["error"].get("code").is_some());
}

#[tokio::test]
async fn config_errors_apply_server_wide_and_a_header_can_lift_them() {
    let mock = spawn(MockConfig {
        status: Some(429),
        retry_after: Some(5),
        ..MockConfig::default()
    })
    .await;
    let (status, headers, body) = send_json(mock.post("/chat/completions", &chat_body("hi"))).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let lifted = mock
        .post("/chat/completions", &chat_body("hi"))
        .header("x-mock-status", "200");
    assert_eq!(send_json(lifted).await.0, 200);
}

#[tokio::test]
async fn error_rate_fails_every_other_request_deterministically() {
    let mock = spawn(MockConfig {
        error_rate: 0.5,
        ..MockConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            send_json(mock.post("/chat/completions", &chat_body("hi")))
                .await
                .0,
        );
    }
    assert_eq!(statuses, [500, 200, 500, 200]);
}

#[tokio::test]
async fn hang_header_delays_the_answer_and_hang_config_never_answers() {
    let mock = spawn(MockConfig::default()).await;
    let start = Instant::now();
    let delayed = mock
        .post("/chat/completions", &chat_body("hi"))
        .header("x-mock-hang-ms", "300");
    let (status, _, _) = send_json(delayed).await;
    assert_eq!(status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));

    let hanging = spawn(MockConfig {
        hang: true,
        ..MockConfig::default()
    })
    .await;
    let result = hanging
        .post("/chat/completions", &chat_body("hi"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    hanging.server.stop().await;
}
