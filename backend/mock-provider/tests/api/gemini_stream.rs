use std::time::{Duration, Instant};

use mock_provider::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{Arrival, gemini_body, read_sse, send_json, spawn, tokens};

const SSE: &str = "gemini-2.5-flash:streamGenerateContent?alt=sse";

#[tokio::test]
async fn sse_stream_sends_response_chunks_with_cumulative_usage() {
    // Arrange
    let mock = spawn(MockConfig {
        ttft: Duration::from_millis(100),
        chunk_delay: Duration::from_millis(40),
        chunks: 4,
        ..MockConfig::default()
    })
    .await;
    // Act
    let start = Instant::now();
    let Ok(response) = mock
        .gemini(SSE, &gemini_body("stream me please"))
        .send()
        .await
    else {
        unreachable!("send failed")
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
    assert_eq!(events.len(), 4);
    let chunks: Vec<Value> = events.iter().map(Arrival::json).collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Mock reply: stream me please");
    assert!(
        chunks
            .iter()
            .all(|c| c["candidates"][0]["content"]["role"] == "model")
    );
    assert!(
        chunks
            .iter()
            .all(|c| c["modelVersion"] == "gemini-2.5-flash")
    );
    assert!(
        chunks[..3]
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
    let prompt = 3 + tokens("stream me please") + 3;
    let counts: Vec<u64> = chunks
        .iter()
        .filter_map(|c| c["usageMetadata"]["candidatesTokenCount"].as_u64())
        .collect();
    assert_eq!(counts.len(), 4);
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let output = tokens("Mock reply: stream me please");
    assert_eq!(
        chunks[3]["usageMetadata"],
        json!({"promptTokenCount": prompt, "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]})
    );
    assert!(
        events[0].at >= Duration::from_millis(100),
        "ttft {:?}",
        events[0].at
    );
    assert!(events[3].at - events[0].at >= Duration::from_millis(120));
    assert_eq!(
        mock.server.received()[0].query_param("alt").as_deref(),
        Some("sse")
    );
}

#[tokio::test]
async fn sse_events_are_framed_with_crlf_and_calls_come_whole() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = gemini_body("Paris");
    body["tools"] = json!([{"functionDeclarations": [{"name": "get_weather"}]}]);
    let Ok(response) = mock.gemini(SSE, &body).send().await else {
        unreachable!("send failed")
    };
    let raw = response.text().await.unwrap_or_default();
    assert!(
        raw.starts_with("data: {") && raw.ends_with("}\r\n\r\n"),
        "{raw:?}"
    );
    assert_eq!(raw.matches("data: ").count(), 1, "one chunk for a call");
    let chunk: Value = serde_json::from_str(raw["data: ".len()..].trim_end()).unwrap_or_default();
    assert_eq!(
        chunk["candidates"][0]["content"]["parts"][0],
        json!({"functionCall": {"name": "get_weather", "args": {"input": "Paris"}}})
    );
    assert_eq!(chunk["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn without_alt_sse_the_stream_is_one_json_array() {
    let mock = spawn(MockConfig::default()).await;
    let request = mock
        .gemini(
            "gemini-2.5-flash:streamGenerateContent",
            &gemini_body("hi there"),
        )
        .header("x-mock-chunks", "2");
    let (status, headers, chunks) = send_json(request).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let chunks = chunks.as_array().cloned().unwrap_or_default();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn disconnect_and_no_usage_apply_to_the_stream() {
    let mock = spawn(MockConfig::default()).await;
    let cut = mock
        .gemini(SSE, &gemini_body("hi"))
        .header("x-mock-disconnect-after", "2");
    let Ok(response) = cut.send().await else {
        unreachable!("send failed")
    };
    match read_sse(response, Instant::now()).await {
        Ok(events) => unreachable!("stream ended cleanly with {} events", events.len()),
        Err(events) => assert_eq!(events.len(), 2),
    }
    let bare = mock
        .gemini(SSE, &gemini_body("hi"))
        .header("x-mock-no-usage", "true");
    let Ok(response) = bare.send().await else {
        unreachable!("send failed")
    };
    let Ok(events) = read_sse(response, Instant::now()).await else {
        unreachable!("stream was cut")
    };
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| !e.data.contains("usageMetadata")));
}
