use mock_provider::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{anthropic_body, send_json, spawn, tokens};

#[tokio::test]
async fn messages_answer_with_an_anthropic_message_and_record_the_headers() {
    // Arrange
    let mock = spawn(MockConfig::default()).await;
    let mut body = anthropic_body("hello world");
    body["system"] = json!([{"type": "text", "text": "Be brief."}]);
    // Act
    let (status, headers, message) = send_json(mock.anthropic(&body)).await;
    // Assert
    assert_eq!(status, 200, "{message}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert!(
        message["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_mock_"))
    );
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-test");
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "Mock reply: hello world"}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["stop_sequence"], Value::Null);
    // System and user message: 3 overhead each plus their tokens, and 3 for the reply.
    let input = 3 + tokens("Be brief.") + 3 + tokens("hello world") + 3;
    assert_eq!(
        message["usage"],
        json!({"input_tokens": input, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": tokens("Mock reply: hello world")})
    );
    let received = mock.server.received();
    assert_eq!(received[0].path, "/v1/messages");
    assert_eq!(received[0].header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(received[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(received[0].body["system"][0]["text"], "Be brief.");
}

#[tokio::test]
async fn tools_round_trip_through_tool_use_and_tool_result() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = anthropic_body("Paris");
    body["tools"] = json!([{"name": "get_weather", "description": "Weather by city",
        "input_schema": {"type": "object", "properties": {"input": {"type": "string"}}}}]);
    body["tool_choice"] = json!({"type": "auto"});

    let (status, _, first) = send_json(mock.anthropic(&body)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["stop_reason"], "tool_use");
    let call = &first["content"][0];
    assert_eq!(
        call,
        &json!({"type": "tool_use", "id": "toolu_mock_0", "name": "get_weather",
            "input": {"input": "Paris"}})
    );
    assert_eq!(
        first["usage"]["output_tokens"],
        tokens(r#"{"input":"Paris"}"#)
    );

    let messages = body["messages"].as_array_mut();
    assert!(messages.is_some());
    if let Some(messages) = messages {
        messages.push(json!({"role": "assistant", "content": first["content"].clone()}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_mock_0", "content": "sunny"}]}));
    }
    let (status, _, second) = send_json(mock.anthropic(&body)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["stop_reason"], "end_turn");
    assert_eq!(second["content"][0]["text"], "Mock reply: Paris");
}

#[tokio::test]
async fn max_tokens_truncates_the_reply_and_stop_sequences_end_it() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = anthropic_body("a fairly long question for the budget tests");
    body["max_tokens"] = json!(4);
    let (status, _, cut) = send_json(mock.anthropic(&body)).await;
    assert_eq!(status, 200, "{cut}");
    assert_eq!(cut["stop_reason"], "max_tokens");
    assert_eq!(cut["usage"]["output_tokens"], 4);
    let text = cut["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        "Mock reply: a fairly long question".starts_with(text) && tokens(text) <= 4,
        "{text:?}"
    );

    body["max_tokens"] = json!(1024);
    body["stop_sequences"] = json!(["long", "fairly"]);
    let (_, _, stopped) = send_json(mock.anthropic(&body)).await;
    assert_eq!(stopped["stop_reason"], "stop_sequence");
    assert_eq!(stopped["stop_sequence"], "fairly");
    assert_eq!(stopped["content"][0]["text"], "Mock reply: a ");
    assert_eq!(stopped["usage"]["output_tokens"], tokens("Mock reply: a "));
}

#[tokio::test]
async fn cache_and_reasoning_headers_shape_the_usage() {
    let mock = spawn(MockConfig::default()).await;
    let request = mock
        .anthropic(&anthropic_body("hello world"))
        .header("x-mock-cached-tokens", "3")
        .header("x-mock-cache-creation-tokens", "2")
        .header("x-mock-reasoning-tokens", "7");
    let (_, _, message) = send_json(request).await;
    let prompt = 3 + tokens("hello world") + 3;
    let usage = &message["usage"];
    assert_eq!(usage["cache_read_input_tokens"], 3);
    assert_eq!(usage["cache_creation_input_tokens"], 2);
    assert_eq!(usage["input_tokens"], prompt - 3 - 2);
    assert_eq!(
        usage["output_tokens"],
        tokens("Mock reply: hello world") + 7
    );
}

#[tokio::test]
async fn requests_without_key_version_or_max_tokens_get_anthropic_errors() {
    let mock = spawn(MockConfig::default()).await;
    let url = mock.root_url("/v1/messages");
    let body = anthropic_body("hi");

    let no_key = mock
        .client
        .post(&url)
        .header("anthropic-version", "2023-06-01");
    let (status, _, error) = send_json(no_key.json(&body)).await;
    assert_eq!(status, 401);
    assert_eq!(
        (error["type"].as_str(), error["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error"))
    );
    assert_eq!(error["error"]["message"], "x-api-key header is required");

    let no_version = mock.client.post(&url).header("x-api-key", "k");
    let (status, _, error) = send_json(no_version.json(&body)).await;
    assert_eq!(
        (status, error["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );

    let mut no_max = body.clone();
    no_max.as_object_mut().map(|o| o.remove("max_tokens"));
    let (status, _, error) = send_json(mock.anthropic(&no_max)).await;
    assert_eq!(status, 400);
    assert_eq!(
        error,
        json!({"type": "error", "request_id": "req_mock", "error": {
            "type": "invalid_request_error", "message": "max_tokens: Field required"}})
    );

    let malformed = mock
        .client
        .post(&url)
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .body("{not json");
    let (status, _, error) = send_json(malformed).await;
    assert_eq!(
        (status, error["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let (status, _, error) = send_json(mock.client.get(&url)).await;
    assert_eq!(
        (status, error["error"]["type"].as_str()),
        (404, Some("not_found_error"))
    );
    assert_eq!(mock.server.received().len(), 5);
}
