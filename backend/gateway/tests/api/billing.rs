//! Every admitted call is billed exactly once, whatever ends it, and budgets hold: the holes the money path had,
//! each performed against a running gateway.

use crate::helpers::{TestOptions, chat_body, json_of, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_streamed_call_whose_client_hangs_up_is_recorded_exactly_once() {
    let app = spawn_app().await;
    // The provider takes 1.5 s; the client gives up after 300 ms, while the provider is working.
    let hung_up = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-ttft-ms", "1500")
        .timeout(Duration::from_millis(300))
        .json(&chat_body(false))
        .send()
        .await;
    assert!(hung_up.is_err(), "the client timed out");
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(10)).await, 1);
    // The sleep is the thing tested: once the provider has answered, no second event may appear.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let rows = app.usage_rows().await;
    assert_eq!(rows.len(), 1, "exactly one event");
    // The server keeps the call going after the hang-up and bills the provider's own count; were it dropped,
    // the record would be `interrupted` with the prompt it sent.
    let row = &rows[0];
    match row.outcome.as_str() {
        "ok" => assert_eq!(row.usage_source, "provider"),
        "interrupted" => assert!(row.input_tokens > 0 && row.usage_source == "estimate"),
        other => panic!("unexpected outcome {other}"),
    }
    assert!(row.cost_picos > 0, "the call is billed: {row:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_running_at_shutdown_is_recorded_before_the_gateway_exits() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.proxy.shutdown_grace = Duration::from_millis(500)),
        ..TestOptions::default()
    })
    .await;
    let client = app.client.clone();
    let (url, key) = (
        format!("{}/v1/chat/completions", app.address),
        app.key.clone(),
    );
    let slow = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(key)
            .header("x-mock-ttft-ms", "8000")
            .json(&chat_body(false))
            .send()
            .await
    });
    // Shut down once the provider has the request.
    for _ in 0..200 {
        if !app.mock.received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !app.mock.received().is_empty(),
        "the call reached the provider"
    );
    let rows = app.shutdown_and_read_usage().await;
    slow.abort();
    assert_eq!(rows.len(), 1, "the interrupted call has its event");
    let row = &rows[0];
    assert_eq!(
        (row.outcome.as_str(), row.status_code),
        ("interrupted", 499)
    );
    assert_eq!(row.usage_source, "estimate");
    assert!(
        row.input_tokens > 0 && row.cost_picos > 0,
        "the prompt it sent is billed: {row:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_budget_remembers_spend_whose_raw_events_retention_deleted() {
    let app = spawn_app().await;
    for _ in 0..3 {
        assert_eq!(
            app.post("/v1/chat/completions", &chat_body(false))
                .await
                .status(),
            200
        );
    }
    assert_eq!(app.wait_for_usage(3, Duration::from_secs(10)).await, 3);
    let rows = app.usage_rows().await;
    let total: i64 = rows.iter().map(|r| r.cost_picos).sum();
    // Retention deletes the raw events; the roll-ups stay.
    use sea_orm::EntityTrait;
    switchyard::store::entities::usage_event::Entity::delete_many()
        .exec(app.services.repo.db())
        .await
        .unwrap();
    assert_eq!(app.usage_count().await, 0);
    let since = chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).unwrap();
    let tenant = app.services.default_tenant.id;
    let seeded = app
        .services
        .repo
        .spend_since(tenant, &switchyard::store::SpendScope::Tenant, since)
        .await
        .unwrap();
    assert_eq!(
        seeded, total,
        "a counter re-seeded after a restart starts from every call ever made"
    );
    let team = app
        .services
        .repo
        .spend_since(
            tenant,
            &switchyard::store::SpendScope::Team(app.services.default_team.id),
            since,
        )
        .await
        .unwrap();
    assert_eq!(team, total);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_s_tag_cannot_be_replaced_by_the_caller_to_leave_a_tag_budget() {
    let app = spawn_app().await;
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    let team = app.services.default_team.id;
    let key = json_of(
        app.admin(
            &owner,
            Method::POST,
            "/keys",
            Some(json!({"name": "tagged", "team_id": team, "metadata": {"project": "alpha"}})),
        )
        .await,
        201,
    )
    .await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    let escaping = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&secret)
        .header("x-switchyard-tags", "project=beta, env=dev")
        .json(&json!({"model": crate::helpers::MODEL, "messages": [{"role": "user", "content": "hi"}], "metadata": {"project": "gamma"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(escaping.status(), 200);
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(10)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(
        row.tags["project"].as_str(),
        Some("alpha"),
        "{:?}",
        row.tags
    );
    assert_eq!(row.tags["env"].as_str(), Some("dev"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v1_answer_carries_a_request_id_refusals_and_errors_included() {
    let app = spawn_app().await;
    let answers = [
        app.client.post(format!("{}/v1/chat/completions", app.address)).json(&chat_body(false)).send().await.unwrap(),
        app.client.post(format!("{}/v1/chat/completions", app.address)).bearer_auth(&app.key).body("{not json").send().await.unwrap(),
        app.client.post(format!("{}/v1/chat/completions", app.address)).bearer_auth(&app.restricted_key).json(&json!({"model": crate::helpers::OTHER_MODEL, "messages": [{"role": "user", "content": "hi"}]})).send().await.unwrap(),
        app.client.get(format!("{}/v1/no-such-route", app.address)).bearer_auth(&app.key).send().await.unwrap(),
        app.client.get(format!("{}/v1/models", app.address)).bearer_auth(&app.key).send().await.unwrap(),
    ];
    for answer in answers {
        let id = answer
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert!(
            id.as_deref()
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
            "{} {:?}",
            answer.status(),
            answer.headers()
        );
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_is_in_the_request_log_with_its_reason_and_no_cost() {
    let app = spawn_app().await;
    let refused = app
        .post_as(
            &app.restricted_key,
            "/v1/chat/completions",
            &json!({"model": crate::helpers::OTHER_MODEL, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(10)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(
        row.id.to_string(),
        id,
        "the answer's x-request-id finds the log entry"
    );
    assert_eq!(
        (row.status_code, row.outcome.as_str()),
        (403, "model_not_allowed")
    );
    assert_eq!(
        (row.input_tokens, row.output_tokens, row.cost_picos),
        (0, 0, 0)
    );
    assert!(
        row.error_message
            .is_some_and(|m| m.contains(crate::helpers::OTHER_MODEL))
    );
    // The admin API's request log lists it.
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    let log = json_of(app.admin(&owner, Method::GET, "/requests", None).await, 200).await;
    assert_eq!(log["data"][0]["id"], id, "{log}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_receives_the_callers_json_as_written_but_for_the_model() {
    let (port, bodies) = capture_server().await;
    let app = spawn_app().await;
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    let provider = json_of(
        app.admin(&owner, Method::POST, "/providers", Some(json!({"name": "echo", "kind": "openai", "base_url": format!("http://127.0.0.1:{port}/v1")}))).await,
        201,
    )
    .await;
    json_of(
        app.admin(&owner, Method::POST, "/deployments", Some(json!({"model": "echo-model", "provider_id": provider["id"], "upstream_model": "upstream-echo", "region": "eu", "input_price": "1", "output_price": "1"}))).await,
        201,
    )
    .await;
    app.services.catalog.reload().await.unwrap();
    // Keys out of alphabetical order, a schema whose property order is the generation order, number texts that
    // a round trip through floats would change, and fields the gateway does not know.
    let sent = r#"{"messages":[{"role":"user","content":"Plan a trip","name":"u1"}],"model":"echo-model","temperature":1.0,"response_format":{"type":"json_schema","json_schema":{"name":"plan","strict":true,"schema":{"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}},"required":["reasoning","answer"]}}},"top_p":1e-7,"seed":12345678901234567890,"x_vendor_option":{"b":1,"a":2}}"#;
    let answer = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body(sent)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.text().await.unwrap_or_default()
    );
    let received = bodies
        .lock()
        .unwrap()
        .pop()
        .expect("the provider got the call");
    let expected = sent.replace(r#""model":"echo-model""#, r#""model":"upstream-echo""#);
    assert_eq!(String::from_utf8(received).unwrap(), expected);
    app.shutdown().await;
}

/// A provider that records every request body byte for byte and answers a fixed chat completion.
async fn capture_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = std::sync::Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 8192];
                // Headers, then Content-Length bytes of body.
                let (head_end, length) = loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..at]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (at + 4, length);
                    }
                };
                while buffer.len() < head_end + length {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                }
                store
                    .lock()
                    .unwrap()
                    .push(buffer[head_end..head_end + length].to_vec());
                let body = r#"{"id":"c1","object":"chat.completion","created":1,"model":"upstream-echo","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, bodies)
}
