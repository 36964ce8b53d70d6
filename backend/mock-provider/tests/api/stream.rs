use std::time::{Duration, Instant};

use mock_provider::MockConfig;
use serde_json::Value;

use crate::helpers::{chat_body, read_sse, spawn};

fn streaming_body(include_usage: bool) -> Value {
    let mut body = chat_body("stream me please");
    body["stream"] = Value::Bool(true);
    body["stream_options"] = serde_json::json!({"include_usage": include_usage});
    body
}

#[tokio::test]
async fn stream_ends_with_usage_then_done_and_chunks_arrive_spread_over_time() {
    // Arrange
    let config = MockConfig {
        ttft: Duration::from_millis(150),
        chunk_delay: Duration::from_millis(60),
        chunks: 4,
        ..MockConfig::default()
    };
    let mock = spawn(config).await;
    // Act
    let start = Instant::now();
    let response = mock
        .post("/chat/completions", &streaming_body(true))
        .send()
        .await;
    let Ok(response) = response else {
        unreachable!("send: {response:?}")
    };
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let events = read_sse(response, start).await;
    // Assert
    assert_eq!(content_type.as_deref(), Some("text/event-stream"));
    let Ok(events) = events else {
        unreachable!("stream was cut")
    };
    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap_or_default())
        .collect();
    assert_eq!(
        events.len(),
        1 + 4 + 1 + 1 + 1,
        "{:?}",
        events.iter().map(|e| &e.data).collect::<Vec<_>>()
    );
    assert_eq!(data[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = data[1..5]
        .iter()
        .filter_map(|d| d["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Mock reply: stream me please");
    assert_eq!(data[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(data[6]["choices"], serde_json::json!([]));
    assert!(
        data[6]["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|t| t > 0)
    );
    assert_eq!(events[7].data, "[DONE]");
    assert!(
        events[0].at >= Duration::from_millis(150),
        "first chunk after ttft, got {:?}",
        events[0].at
    );
    let spread = events[4].at - events[1].at;
    assert!(
        spread >= Duration::from_millis(150),
        "content chunks arrived together: spread {spread:?}"
    );
}

#[tokio::test]
async fn usage_chunk_is_absent_without_include_usage_or_with_no_usage() {
    let mock = spawn(MockConfig::default()).await;
    for (include, no_usage) in [(false, "0"), (true, "1")] {
        let request = mock
            .post("/chat/completions", &streaming_body(include))
            .header("x-mock-no-usage", no_usage);
        let Ok(response) = request.send().await else {
            unreachable!("send failed")
        };
        let Ok(events) = read_sse(response, Instant::now()).await else {
            unreachable!("stream was cut")
        };
        assert_eq!(events.len(), 1 + 5 + 1 + 1);
        assert!(events.iter().all(|e| !e.data.contains("\"usage\"")));
    }
}

#[tokio::test]
async fn disconnect_after_cuts_the_stream_without_done() {
    let mock = spawn(MockConfig::default()).await;
    let request = mock
        .post("/chat/completions", &streaming_body(true))
        .header("x-mock-disconnect-after", "2");
    let Ok(response) = request.send().await else {
        unreachable!("send failed")
    };
    assert_eq!(response.status().as_u16(), 200);
    match read_sse(response, Instant::now()).await {
        Ok(events) => unreachable!("stream ended cleanly with {} events", events.len()),
        Err(events) => {
            assert_eq!(events.len(), 2);
            assert!(events.iter().all(|e| e.data != "[DONE]"));
        }
    }
}

#[tokio::test]
async fn disconnect_after_cuts_a_non_streamed_body_midway() {
    let mock = spawn(MockConfig {
        disconnect_after: Some(0),
        ..MockConfig::default()
    })
    .await;
    let Ok(response) = mock
        .post("/chat/completions", &chat_body("hi"))
        .send()
        .await
    else {
        unreachable!("send failed")
    };
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.bytes().await.is_err(), "body should fail mid-way");
}
