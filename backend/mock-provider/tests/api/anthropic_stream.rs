use std::time::{Duration, Instant};

use mock_provider::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{Arrival, anthropic_body, read_sse, spawn, tokens};

async fn stream(
    request: reqwest::RequestBuilder,
) -> (Option<String>, Result<Vec<Arrival>, Vec<Arrival>>) {
    let start = Instant::now();
    let Ok(response) = request.send().await else {
        unreachable!("send failed")
    };
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (content_type, read_sse(response, start).await)
}

fn streaming(text: &str) -> Value {
    let mut body = anthropic_body(text);
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn text_stream_sends_anthropics_event_sequence_field_by_field() {
    // Arrange
    let mock = spawn(MockConfig {
        ttft: Duration::from_millis(120),
        chunk_delay: Duration::from_millis(40),
        chunks: 3,
        ..MockConfig::default()
    })
    .await;
    // Act
    let (content_type, events) = stream(mock.anthropic(&streaming("stream me please"))).await;
    // Assert
    assert_eq!(content_type.as_deref(), Some("text/event-stream"));
    let Ok(events) = events else {
        unreachable!("stream was cut")
    };
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data: Vec<Value> = events.iter().map(Arrival::json).collect();
    assert!(data.iter().zip(&names).all(|(d, n)| d["type"] == *n));
    let prompt = 3 + tokens("stream me please") + 3;
    let output = tokens("Mock reply: stream me please");
    let message = &data[0]["message"];
    assert!(
        message["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_mock_"))
    );
    assert_eq!(
        (&message["type"], &message["role"], &message["model"]),
        (
            &json!("message"),
            &json!("assistant"),
            &json!("claude-test")
        )
    );
    assert_eq!(message["content"], json!([]));
    assert_eq!(
        (&message["stop_reason"], &message["stop_sequence"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        message["usage"],
        json!({"input_tokens": prompt, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": 1})
    );
    assert_eq!(
        data[1],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(data[2], json!({"type": "ping"}));
    let text: String = data[3..6]
        .iter()
        .inspect(|d| {
            assert_eq!(
                (&d["index"], &d["delta"]["type"]),
                (&json!(0), &json!("text_delta"))
            )
        })
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Mock reply: stream me please");
    assert_eq!(data[6], json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(
        data[7]["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(data[7]["usage"]["output_tokens"], output);
    assert_eq!(data[8], json!({"type": "message_stop"}));
    assert!(
        events[0].at >= Duration::from_millis(120),
        "ttft {:?}",
        events[0].at
    );
    let spread = events[5].at - events[3].at;
    assert!(
        spread >= Duration::from_millis(80),
        "chunks together: {spread:?}"
    );
}

#[tokio::test]
async fn tool_use_streams_its_input_as_json_deltas() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = streaming("Paris");
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let (_, events) = stream(mock.anthropic(&body).header("x-mock-chunks", "2")).await;
    let Ok(events) = events else {
        unreachable!("stream was cut")
    };
    let data: Vec<Value> = events.iter().map(Arrival::json).collect();
    assert_eq!(
        data[1]["content_block"],
        json!({"type": "tool_use", "id": "toolu_mock_0", "name": "get_weather", "input": {}})
    );
    let input: String = data[3..5]
        .iter()
        .inspect(|d| assert_eq!(d["delta"]["type"], "input_json_delta"))
        .filter_map(|d| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(input, r#"{"input":"Paris"}"#);
    assert_eq!(data[6]["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn streamed_max_tokens_and_no_usage_are_honoured() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = streaming("a fairly long question for the budget tests");
    body["max_tokens"] = json!(3);
    let (_, events) = stream(mock.anthropic(&body)).await;
    let Ok(events) = events else {
        unreachable!("stream was cut")
    };
    let delta = events
        .iter()
        .find(|e| e.event == "message_delta")
        .map(Arrival::json);
    let delta = delta.unwrap_or_default();
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(delta["usage"]["output_tokens"], 3);

    let (_, events) = stream(
        mock.anthropic(&streaming("hi"))
            .header("x-mock-no-usage", "1"),
    )
    .await;
    let Ok(events) = events else {
        unreachable!("stream was cut")
    };
    assert!(events.iter().all(|e| !e.data.contains("\"usage\"")));
    assert_eq!(events.len(), 6 + 5);
}

#[tokio::test]
async fn disconnect_after_cuts_the_event_stream() {
    let mock = spawn(MockConfig::default()).await;
    let request = mock
        .anthropic(&streaming("hi"))
        .header("x-mock-disconnect-after", "4");
    match stream(request).await.1 {
        Ok(events) => unreachable!("stream ended cleanly with {} events", events.len()),
        Err(events) => {
            assert_eq!(events.len(), 4);
            assert!(events.iter().all(|e| e.event != "message_stop"));
        }
    }
}
