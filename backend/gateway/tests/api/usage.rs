//! Usage events: correct tokens, exact cost, attribution, and none lost under concurrency.

use crate::helpers::{CACHED_MICROS, INPUT_MICROS, MODEL, OUTPUT_MICROS, chat_body, spawn_app};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::time::Duration;

fn expected_cost(input: i64, cached: i64, output: i64) -> i64 {
    (input - cached) * INPUT_MICROS + cached * CACHED_MICROS + output * OUTPUT_MICROS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_recorded_with_the_provider_tokens_exact_cost_and_attribution() {
    let app = spawn_app().await;
    let mut body = chat_body(false);
    body["user"] = json!("end-user-42");
    body["metadata"] = json!({"feature": "search", "env": "staging"});

    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-switchyard-tags", "env=prod, app=checkout")
        .header("x-mock-cached-tokens", "4")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["x-switchyard-region"], "eu");
    let reply: Value = response.json().await.unwrap();
    let usage = &reply["usage"];

    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(row.id.to_string(), request_id);
    assert_eq!(row.input_tokens, usage["prompt_tokens"].as_i64().unwrap());
    assert_eq!(
        row.output_tokens,
        usage["completion_tokens"].as_i64().unwrap()
    );
    assert_eq!(row.cached_tokens, 4);
    assert_eq!(
        row.cost_picos,
        expected_cost(row.input_tokens, 4, row.output_tokens)
    );
    assert_eq!(row.usage_source, "provider");
    assert_eq!(
        (
            row.public_model.as_str(),
            row.upstream_model.as_str(),
            row.region.as_str()
        ),
        (MODEL, "mock-gpt", "eu")
    );
    assert_eq!(row.provider_name, "mock");
    assert_eq!(row.tenant_id, app.services.default_tenant.id);
    assert_eq!(row.team_id, app.services.default_team.id);
    assert_eq!(row.end_user.as_deref(), Some("end-user-42"));
    assert_eq!(
        row.tags,
        json!({"app": "checkout", "env": "prod", "feature": "search"})
    );
    assert_eq!(
        (row.status_code, row.outcome.as_str(), row.streamed),
        (200, "ok", false)
    );
    assert!(row.latency_us > 0);
    // `metadata` is for the gateway; the provider never saw it.
    assert!(app.mock.received()[0].body.get("metadata").is_none());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_call_is_billed_from_the_usage_chunk_with_reasoning_tokens() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-reasoning-tokens", "7")
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "think"}], "stream": true, "stream_options": {"include_usage": true}}))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let usage_line = text
        .lines()
        .find(|l| l.contains("\"usage\"") && l.contains("\"choices\":[]"))
        .expect("usage chunk");
    let usage: Value = serde_json::from_str(usage_line.trim_start_matches("data: ")).unwrap();

    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(
        row.output_tokens,
        usage["usage"]["completion_tokens"].as_i64().unwrap()
    );
    assert_eq!(row.reasoning_tokens, 7);
    assert_eq!(
        row.cost_picos,
        expected_cost(row.input_tokens, 0, row.output_tokens)
    );
    assert!(row.streamed && row.ttft_us.is_some());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_proxied_and_billed_for_input_tokens() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/embeddings",
            &json!({"model": MODEL, "input": ["hello world", "second input"]}),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);

    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(row.endpoint, "embeddings");
    assert_eq!(
        row.input_tokens,
        body["usage"]["prompt_tokens"].as_i64().unwrap()
    );
    assert_eq!(
        (row.output_tokens, row.cost_picos),
        (0, row.input_tokens * INPUT_MICROS)
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_yield_a_thousand_usage_rows() {
    let app = spawn_app().await;
    let calls = (0..1000).map(|i| {
        let app = &app;
        async move {
            let stream = i % 2 == 0;
            let response = app.post("/v1/chat/completions", &chat_body(stream)).await;
            let status = response.status().as_u16();
            let id = response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response.text().await.unwrap_or_default();
            (status, if status == 200 { id } else { body })
        }
    });

    let results = join_all(calls).await;

    let failures: Vec<&(u16, String)> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failures.is_empty(),
        "{} calls failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(
        app.wait_for_usage(1000, Duration::from_secs(30)).await,
        1000
    );
    let rows = app.usage_rows().await;
    // Each call's own event, and no other: the rows' ids are exactly the answers' request ids.
    let recorded: std::collections::BTreeSet<String> =
        rows.iter().map(|r| r.id.to_string()).collect();
    let answered: std::collections::BTreeSet<String> =
        results.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(answered.len(), 1000, "every answer has its own request id");
    assert_eq!(
        recorded, answered,
        "one event per call, under the call's id"
    );
    assert!(rows.iter().all(|r| r.input_tokens > 0 && r.cost_picos > 0));
    app.shutdown().await;
}
