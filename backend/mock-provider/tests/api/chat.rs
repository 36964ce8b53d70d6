use mock_provider::MockConfig;
use serde_json::json;

use crate::helpers::{chat_body, send_json, spawn};

#[tokio::test]
async fn non_streamed_chat_echoes_the_user_and_reports_usage() {
    // Arrange
    let mock = spawn(MockConfig::default()).await;
    // Act
    let request = mock
        .post("/chat/completions", &chat_body("hello world"))
        .header("Authorization", "Bearer sk-test")
        .header("x-mock-cached-tokens", "4");
    let (status, _, body) = send_json(request).await;
    // Assert
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "mock-gpt");
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-mock-"))
    );
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply: hello world"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // 3 per message + 2 content tokens + 3 reply overhead.
    assert_eq!(body["usage"]["prompt_tokens"], 8);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    let received = mock.server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        (received[0].method.as_str(), received[0].path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(received[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(received[0].body["messages"][0]["content"], "hello world");
    mock.server.stop().await;
}

#[tokio::test]
async fn tools_yield_a_deterministic_tool_call() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = chat_body("Paris");
    body["tools"] =
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
    let (status, _, body) = send_json(mock.post("/chat/completions", &body)).await;
    assert_eq!(status, 200, "{body}");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert!(
        call["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("call_mock_")),
        "{call}"
    );
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"input":"Paris"}"#);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        serde_json::Value::Null
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn bad_requests_unknown_paths_and_models_answer_like_openai() {
    let mock = spawn(MockConfig::default()).await;
    let (status, _, body) =
        send_json(mock.post("/chat/completions", &json!({"messages": []}))).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let malformed = mock
        .client
        .post(mock.url("/chat/completions"))
        .body("{not json");
    let (status, _, body) = send_json(malformed).await;
    assert_eq!((status, body["error"]["param"].is_null()), (400, true));
    let (status, _, body) = send_json(mock.client.get(mock.url("/nope"))).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "Invalid URL (GET /v1/nope)");
    let (status, _, body) = send_json(mock.client.get(mock.url("/models"))).await;
    assert_eq!(
        (status, body["data"][0]["id"].as_str()),
        (200, Some("mock-gpt"))
    );
    assert_eq!(mock.server.received().len(), 4);
}
