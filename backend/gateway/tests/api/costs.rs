//! Cost is right for every shape of call: a table of provider × streaming × cached input × reasoning output,
//! each priced exactly from the usage the provider reported to the client (the same figures the client sees).
//! The providers wired so far are OpenAI-compatible and Azure OpenAI; Anthropic and Gemini rows join the table
//! with their upstreams.

use crate::helpers::{
    CACHED_MICROS, INPUT_MICROS, MODEL, OUTPUT_MICROS, TestApp, chat_body, spawn_app, start_mock,
};
use mock_provider::MockConfig;
use serde_json::{Value, json};
use std::time::Duration;

/// (streamed, cached input tokens, reasoning tokens)
const SHAPES: [(bool, u64, u64); 8] = [
    (false, 0, 0),
    (false, 5, 0),
    (false, 0, 7),
    (false, 5, 7),
    (true, 0, 0),
    (true, 5, 0),
    (true, 0, 7),
    (true, 5, 7),
];

/// The usage object the client received, from a JSON body or the last usage chunk of a stream.
fn reported_usage(streamed: bool, body: &str) -> Value {
    if !streamed {
        let value: Value = serde_json::from_str(body).unwrap();
        return value["usage"].clone();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|chunk| chunk.get("usage").filter(|u| !u.is_null()).cloned())
        .next_back()
        .expect("a usage chunk")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_of_call_is_priced_exactly() {
    let app = spawn_app().await;
    let azure = start_mock(MockConfig::default()).await;
    add_azure_model(&app, &azure.root_url()).await;
    let mut expected = Vec::new();
    for (model, (streamed, cached, reasoning)) in [MODEL, "azure-test"]
        .into_iter()
        .flat_map(|m| SHAPES.map(|shape| (m, shape)))
    {
        let mut body = chat_body(streamed);
        body["model"] = json!(model);
        if streamed {
            body["stream_options"] = json!({"include_usage": true});
        }
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.address))
            .bearer_auth(&app.key)
            .header("x-mock-cached-tokens", cached.to_string())
            .header("x-mock-reasoning-tokens", reasoning.to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let usage = reported_usage(streamed, &response.text().await.unwrap());
        let input = usage["prompt_tokens"].as_i64().unwrap();
        let output = usage["completion_tokens"].as_i64().unwrap();
        let cached = usage["prompt_tokens_details"]["cached_tokens"]
            .as_i64()
            .unwrap();
        let reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
            .as_i64()
            .unwrap();
        // Cached input at the cached price, the rest at the input price; output (reasoning included, as the
        // provider bills it) at the output price.
        let cost =
            (input - cached) * INPUT_MICROS + cached * CACHED_MICROS + output * OUTPUT_MICROS;
        expected.push((id, streamed, input, output, cached, reasoning, cost));
    }
    assert_eq!(
        azure.received().len(),
        8,
        "the Azure rows went to the Azure deployment"
    );
    assert_eq!(app.wait_for_usage(16, Duration::from_secs(5)).await, 16);
    let rows = app.usage_rows().await;
    for (id, streamed, input, output, cached, reasoning, cost) in expected {
        let row = rows
            .iter()
            .find(|r| r.id.to_string() == id)
            .unwrap_or_else(|| panic!("no usage row for {id}"));
        let shape = format!("streamed={streamed} cached={cached} reasoning={reasoning}");
        assert_eq!(row.streamed, streamed, "{shape}");
        assert_eq!(
            (
                row.input_tokens,
                row.output_tokens,
                row.cached_tokens,
                row.reasoning_tokens
            ),
            (input, output, cached, reasoning),
            "{shape}"
        );
        assert_eq!(row.cost_picos, cost, "{shape}");
        assert_eq!(row.usage_source, "provider", "{shape}");
    }
    azure.stop().await;
    app.shutdown().await;
}

/// An Azure OpenAI provider with the model `azure-test` at `MODEL`'s prices.
async fn add_azure_model(app: &TestApp, root_url: &str) {
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let provider: Value = app
        .admin(
            &token,
            reqwest::Method::POST,
            "/providers",
            Some(json!({"name": "azure", "kind": "azure", "base_url": format!("{root_url}/openai"), "api_key": "k"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .admin(
            &token,
            reqwest::Method::POST,
            "/deployments",
            Some(json!({"model": "azure-test", "provider_id": provider["id"], "upstream_model": "gpt-test-deploy",
                        "region": "eu", "input_price": "2.5", "output_price": "10", "cached_input_price": "1.25"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    app.services.catalog.reload().await.unwrap();
}
