//! Streaming: byte-for-byte pass-through, chunks relayed as they come, usage from every shape of stream.

use crate::helpers::{TestApp, TestOptions, chat_body, spawn_app, spawn_app_with};
use futures_util::StreamExt;
use mock_provider::MockConfig;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn collect(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("stream body").to_vec()
}

/// Sends `body` through the gateway, then the exact request the gateway sent upstream straight to the mock;
/// returns both response bodies.
async fn through_gateway_and_direct(app: &TestApp, body: &Value) -> (Vec<u8>, Vec<u8>) {
    let via_gateway = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-fixed-id", "chatcmpl-fixed")
        .json(body)
        .send()
        .await
        .unwrap();
    let gateway_bytes = collect(via_gateway).await;
    let upstream_request = app
        .mock
        .received()
        .last()
        .cloned()
        .expect("the mock saw the call")
        .body;
    let direct = app
        .client
        .post(format!("{}/chat/completions", app.mock.base_url()))
        .header("x-mock-fixed-id", "chatcmpl-fixed")
        .json(&upstream_request)
        .send()
        .await
        .unwrap();
    (gateway_bytes, collect(direct).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reaches_the_client_byte_for_byte() {
    let app = spawn_app().await;
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});

    let (gateway, direct) = through_gateway_and_direct(&app, &body).await;

    assert!(gateway.ends_with(b"data: [DONE]\n\n"));
    assert_eq!(
        String::from_utf8_lossy(&gateway),
        String::from_utf8_lossy(&direct)
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_definitions_and_tool_calls_pass_through_streaming_and_not() {
    let app = spawn_app().await;
    let tools = json!([{"type": "function", "function": {"name": "lookup_weather", "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}}]);
    let mut body = chat_body(true);
    body["tools"] = tools.clone();
    body["stream_options"] = json!({"include_usage": true});

    let (gateway, direct) = through_gateway_and_direct(&app, &body).await;
    assert_eq!(
        String::from_utf8_lossy(&gateway),
        String::from_utf8_lossy(&direct)
    );
    assert!(String::from_utf8_lossy(&gateway).contains("lookup_weather"));
    assert_eq!(
        app.mock.received().first().unwrap().body["tools"],
        tools,
        "tools reached the provider unchanged"
    );

    let mut plain = chat_body(false);
    plain["tools"] = tools;
    let response: Value = app
        .post("/v1/chat/completions", &plain)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(response["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        response["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "lookup_weather"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_are_relayed_as_they_arrive_not_buffered() {
    let app = spawn_app_with(TestOptions {
        mock: MockConfig {
            ttft: Duration::from_millis(100),
            chunk_delay: Duration::from_millis(150),
            chunks: 5,
            ..MockConfig::default()
        },
        ..TestOptions::default()
    })
    .await;

    let started = Instant::now();
    let response = app.post("/v1/chat/completions", &chat_body(true)).await;
    let mut stream = response.bytes_stream();
    let mut arrivals = Vec::new();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.extend_from_slice(&chunk.unwrap());
        let events = buffer.windows(2).filter(|w| w == b"\n\n").count();
        while arrivals.len() < events {
            arrivals.push(started.elapsed());
        }
    }

    // role chunk + 5 content chunks + finish chunk + [DONE] (the usage chunk is stripped: not requested).
    assert_eq!(arrivals.len(), 8, "{}", String::from_utf8_lossy(&buffer));
    let first = arrivals[0];
    let last = arrivals[arrivals.len() - 1];
    assert!(
        last - first >= Duration::from_millis(600),
        "events arrived together: {arrivals:?}"
    );
    // Content chunks 1 to 5 are indices 1..=5; the finish chunk and [DONE] follow the last one at once.
    for pair in arrivals[1..6].windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(100),
            "content chunks bunched: {arrivals:?}"
        );
    }
    assert!(
        !String::from_utf8_lossy(&buffer).contains("\"usage\""),
        "usage chunk leaked to a client that did not ask"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_usage_is_billed_with_our_own_tokenizer() {
    let app = spawn_app().await;
    // What the provider would have reported, from a direct non-streaming call with the same messages.
    let truth: Value = app
        .client
        .post(format!("{}/chat/completions", app.mock.base_url()))
        .json(&json!({"model": "mock-gpt", "messages": chat_body(false)["messages"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-no-usage", "1")
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    collect(response).await;

    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(row.usage_source, "tokenizer");
    assert_eq!(
        row.input_tokens,
        truth["usage"]["prompt_tokens"].as_i64().unwrap()
    );
    assert_eq!(
        row.output_tokens,
        truth["usage"]["completion_tokens"].as_i64().unwrap()
    );
    assert!(row.streamed);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_mid_stream_is_billed_for_what_was_generated() {
    let app = spawn_app_with(TestOptions {
        mock: MockConfig {
            chunk_delay: Duration::from_millis(200),
            chunks: 10,
            ..MockConfig::default()
        },
        ..TestOptions::default()
    })
    .await;

    let response = app.post("/v1/chat/completions", &chat_body(true)).await;
    let mut stream = response.bytes_stream();
    let mut seen = Vec::new();
    while seen.windows(2).filter(|w| w == b"\n\n").count() < 3 {
        seen.extend_from_slice(&stream.next().await.unwrap().unwrap());
    }
    drop(stream);

    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(
        (row.outcome.as_str(), row.status_code),
        ("client_disconnected", 499)
    );
    assert!(row.input_tokens > 0);
    assert!(row.output_tokens > 0, "the delivered chunks are billed");
    assert!(row.cost_picos > 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_breaking_off_mid_stream_ends_with_an_error_event_and_is_recorded() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-disconnect-after", "2")
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "headers were already sent");
    let text = String::from_utf8_lossy(&collect(response).await).into_owned();

    let last_event = text.trim_end().rsplit("\n\n").next().unwrap().to_owned();
    let error: Value = serde_json::from_str(last_event.trim_start_matches("data: ")).unwrap();
    assert_eq!(error["error"]["code"], "upstream_error", "{text}");
    assert!(!text.contains("[DONE]"));
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(row.outcome, "upstream_error");
    assert!(row.output_tokens > 0);
    app.shutdown().await;
}
