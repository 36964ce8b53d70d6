//! Every error the proxy can return, each in OpenAI's error JSON with the right status.

use crate::helpers::{MODEL, OTHER_MODEL, TestOptions, chat_body, spawn_app, spawn_app_with};
use mock_provider::MockConfig;
use serde_json::{Value, json};
use std::time::Duration;

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let body: Value = response.json().await.expect("error body is JSON");
    assert!(
        content_type
            .unwrap_or_default()
            .starts_with("application/json")
    );
    let error = body.get("error").expect("an `error` object");
    for field in ["message", "type", "param", "code"] {
        assert!(error.get(field).is_some(), "error lacks `{field}`: {body}");
    }
    (status, error.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unknown_key_is_a_401_in_openai_format() {
    // Arrange
    let app = spawn_app().await;
    let url = format!("{}/v1/chat/completions", app.address);

    // Act
    let missing = app
        .client
        .post(&url)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    let malformed = app
        .post_as("not-a-key", "/v1/chat/completions", &chat_body(false))
        .await;
    let unknown = app
        .post_as(
            &switchyard::keys::generate().secret,
            "/v1/chat/completions",
            &chat_body(false),
        )
        .await;

    // Assert
    let (status, error) = error_of(missing).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("missing_api_key"))
    );
    for response in [malformed, unknown] {
        let (status, error) = error_of(response).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (401, Some("invalid_api_key"))
        );
    }
    assert_eq!(app.mock.received().len(), 0, "nothing reached the provider");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_outside_the_key_allow_list_is_a_403_and_an_unknown_model_a_404() {
    let app = spawn_app().await;
    let mut body = chat_body(false);
    body["model"] = json!(OTHER_MODEL);

    let forbidden = app
        .post_as(&app.restricted_key, "/v1/chat/completions", &body)
        .await;
    body["model"] = json!("no-such-model");
    let unknown = app.post("/v1/chat/completions", &body).await;

    let (status, error) = error_of(forbidden).await;
    assert_eq!(
        (status, error["code"].as_str(), error["param"].as_str()),
        (403, Some("model_not_allowed"), Some("model"))
    );
    let (status, error) = error_of(unknown).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (404, Some("model_not_found"))
    );
    assert!(error["message"].as_str().unwrap().contains("no-such-model"));
    // A restricted key cannot probe which other model names exist.
    let probe = app
        .post_as(&app.restricted_key, "/v1/chat/completions", &body)
        .await;
    assert_eq!(error_of(probe).await.0, 403);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_a_400_that_says_what_is_wrong() {
    let app = spawn_app().await;
    let url = format!("{}/v1/chat/completions", app.address);
    let send_raw = |raw: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .body(raw)
            .send()
    };

    let cases = vec![
        (send_raw("{\"model\": ").await.unwrap(), "not valid JSON", None),
        (send_raw("[]").await.unwrap(), "JSON object", None),
        (app.post("/v1/chat/completions", &json!({"model": MODEL})).await, "messages", Some("messages")),
        (app.post("/v1/chat/completions", &json!({"messages": []})).await, "model", Some("model")),
        (app.post("/v1/chat/completions", &json!({"model": MODEL, "messages": [{"role":"user","content":"x"}], "stream": "yes"})).await, "boolean", Some("stream")),
        (app.post("/v1/embeddings", &json!({"model": MODEL})).await, "input", Some("input")),
        (
            app.client.post(&url).bearer_auth(&app.key).header("x-switchyard-tags", "team").json(&chat_body(false)).send().await.unwrap(),
            "key=value",
            None,
        ),
    ];
    for (response, needle, param) in cases {
        let (status, error) = error_of(response).await;
        assert_eq!(status, 400, "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(needle),
            "{error} should mention {needle}"
        );
        assert_eq!(error["param"].as_str(), param);
        assert_eq!(error["type"], "invalid_request_error");
    }
    assert_eq!(app.mock.received().len(), 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_a_413() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.proxy.max_body_bytes = 1024),
        ..TestOptions::default()
    })
    .await;
    let mut body = chat_body(false);
    body["messages"][0]["content"] = json!("x".repeat(4096));

    let response = app.post("/v1/chat/completions", &body).await;

    let (status, error) = error_of(response).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (413, Some("request_too_large"))
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_are_502_and_its_client_errors_keep_their_status() {
    let app = spawn_app().await;
    let call = |status: &'static str| {
        app.client
            .post(format!("{}/v1/chat/completions", app.address))
            .bearer_auth(&app.key)
            .header("x-mock-status", status)
            .header("x-mock-retry-after", "7")
            .json(&chat_body(false))
            .send()
    };

    let bad_request = call("400").await.unwrap();
    let server_error = call("500").await.unwrap();
    let request_id = server_error
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    // Last: a 429 puts the only deployment in cooldown for its Retry-After.
    let rate_limited = call("429").await.unwrap();
    let retry_after = rate_limited
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());

    let (status, error) = error_of(server_error).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (502, Some("upstream_error"))
    );
    assert_eq!(retry_after.as_deref(), Some("7"));
    assert_eq!(error_of(rate_limited).await.0, 429);
    assert_eq!(error_of(bad_request).await.0, 400);
    // Failed calls are still recorded, with their outcome.
    assert_eq!(app.wait_for_usage(3, Duration::from_secs(5)).await, 3);
    let rows = app.usage_rows().await;
    let request_id = request_id.expect("failed calls carry their x-request-id");
    assert!(
        rows.iter()
            .any(|r| r.id.to_string() == request_id && r.outcome == "upstream_error")
    );
    let mut outcomes: Vec<(String, i32)> = rows
        .into_iter()
        .map(|r| (r.outcome, r.status_code))
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![
            ("upstream_error".into(), 502),
            ("upstream_rejected".into(), 400),
            ("upstream_rejected".into(), 429)
        ]
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_a_502_and_a_silent_one_a_504() {
    let app = spawn_app_with(TestOptions {
        mock: MockConfig::default(),
        tweak: Box::new(|s| {
            s.upstream.first_byte_timeout = Duration::from_millis(300);
            s.upstream.total_timeout = Duration::from_secs(2);
        }),
        ..TestOptions::default()
    })
    .await;

    let hanging = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-hang-ms", "5000")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(hanging).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (504, Some("upstream_timeout"))
    );

    // Point the model at a port nobody listens on as well: calls that try it first fail over to the mock,
    // so the client sees no failure, and the usage event says what happened.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!(
        "http://127.0.0.1:{}/v1",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    crate::helpers::add_provider_and_models(&app.services, "dead", &dead_url).await;
    app.services.catalog.reload().await.unwrap();
    // Each call tries the dead deployment first with probability 1/2: with 20 calls, the chance that none does
    // (a false failure here) is below one in a million.
    for _ in 0..20 {
        let response = app.post("/v1/chat/completions", &chat_body(false)).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.wait_for_usage(21, Duration::from_secs(5)).await, 21);
    let failed_over: Vec<_> = app
        .usage_rows()
        .await
        .into_iter()
        .filter(|r| r.status_code == 200)
        .filter_map(|r| r.attempts)
        .collect();
    assert!(
        !failed_over.is_empty(),
        "no call ever tried the dead provider first"
    );
    let attempt = &failed_over[0][0];
    assert_eq!(attempt["reason"], "upstream_error");
    assert!(
        attempt["message"]
            .as_str()
            .unwrap()
            .contains("could not reach the provider `dead`"),
        "{attempt}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_answer_json_not_html() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/v1/nothing-here", app.address))
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!((status, error["code"].as_str()), (404, Some("unknown_url")));
    let wrong_method = app
        .client
        .get(format!("{}/v1/chat/completions", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(wrong_method).await.0, 404);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_key_never_reaches_the_provider_even_if_configured_to_forward() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| {
            s.proxy.forward_headers = vec!["authorization".into(), "x-*".into(), "host".into()]
        }),
        ..TestOptions::default()
    })
    .await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-trace-me", "yes")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let seen = app.mock.received().remove(0);
    assert_eq!(
        seen.header("x-trace-me"),
        Some("yes"),
        "configured headers are forwarded"
    );
    assert!(
        seen.headers.values().all(|v| !v.contains(&app.key)),
        "the caller's key leaked upstream: {:?}",
        seen.headers
    );
    app.shutdown().await;
}
