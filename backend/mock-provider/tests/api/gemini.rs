use mock_provider::MockConfig;
use serde_json::{Value, json};

use crate::helpers::{gemini_body, send_json, spawn, tokens};

#[tokio::test]
async fn generate_content_answers_with_candidates_and_usage_metadata() {
    // Arrange
    let mock = spawn(MockConfig::default()).await;
    let mut body = gemini_body("hello world");
    body["systemInstruction"] = json!({"parts": [{"text": "Be brief."}]});
    body["generationConfig"] = json!({"temperature": 0.2, "maxOutputTokens": 100});
    // Act
    let (status, _, response) =
        send_json(mock.gemini("gemini-2.5-flash:generateContent", &body)).await;
    // Assert
    assert_eq!(status, 200, "{response}");
    let candidate = &response["candidates"][0];
    assert_eq!(
        candidate["content"],
        json!({"parts": [{"text": "Mock reply: hello world"}], "role": "model"})
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["index"], 0);
    let prompt = 3 + tokens("Be brief.") + 3 + tokens("hello world") + 3;
    let output = tokens("Mock reply: hello world");
    assert_eq!(
        response["usageMetadata"],
        json!({"promptTokenCount": prompt, "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]})
    );
    assert_eq!(response["modelVersion"], "gemini-2.5-flash");
    assert!(
        response["responseId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let received = mock.server.received();
    assert_eq!(
        received[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        received[0].header("x-goog-api-key"),
        Some("gemini-test-key")
    );
}

#[tokio::test]
async fn the_key_may_come_as_a_query_parameter_and_is_required() {
    let mock = spawn(MockConfig::default()).await;
    let url = mock.root_url("/v1beta/models/gemini-2.5-flash:generateContent");
    let body = gemini_body("hi");
    let (status, _, _) = send_json(mock.client.post(format!("{url}?key=abc")).json(&body)).await;
    assert_eq!(status, 200);
    assert_eq!(
        mock.server.received()[0].query_param("key").as_deref(),
        Some("abc")
    );

    let (status, _, error) = send_json(mock.client.post(&url).json(&body)).await;
    assert_eq!(status, 403);
    assert_eq!(error["error"]["code"], 403);
    assert_eq!(error["error"]["status"], "PERMISSION_DENIED");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unregistered callers"))
    );
}

#[tokio::test]
async fn function_calls_round_trip_through_function_responses() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = gemini_body("Paris");
    body["tools"] = json!([{"functionDeclarations": [{"name": "get_weather",
        "description": "Weather by city", "parameters": {"type": "OBJECT"}}]}]);

    let (status, _, first) =
        send_json(mock.gemini("gemini-2.5-flash:generateContent", &body)).await;
    assert_eq!(status, 200, "{first}");
    let content = &first["candidates"][0]["content"];
    assert_eq!(
        content["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {"input": "Paris"}}}])
    );
    assert_eq!(first["candidates"][0]["finishReason"], "STOP");

    let contents = body["contents"].as_array_mut();
    assert!(contents.is_some());
    if let Some(contents) = contents {
        contents.push(content.clone());
        contents.push(json!({"role": "user", "parts": [{"functionResponse": {
            "name": "get_weather", "response": {"sky": "sunny"}}}]}));
    }
    let (status, _, second) =
        send_json(mock.gemini("gemini-2.5-flash:generateContent", &body)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        second["candidates"][0]["content"]["parts"][0]["text"],
        "Mock reply: Paris"
    );
}

#[tokio::test]
async fn max_output_tokens_truncates_and_usage_reports_cache_and_thoughts() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = gemini_body("a fairly long question for the budget tests");
    body["generationConfig"] = json!({"maxOutputTokens": 10});
    let request = mock
        .gemini("gemini-2.5-pro:generateContent", &body)
        .header("x-mock-reasoning-tokens", "6")
        .header("x-mock-cached-tokens", "5");
    let (status, _, response) = send_json(request).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["candidates"][0]["finishReason"], "MAX_TOKENS");
    let usage = &response["usageMetadata"];
    assert_eq!(usage["thoughtsTokenCount"], 6);
    assert_eq!(usage["candidatesTokenCount"], 4);
    assert_eq!(usage["cachedContentTokenCount"], 5);
    let prompt = 3 + tokens("a fairly long question for the budget tests") + 3;
    assert_eq!(usage["promptTokenCount"], prompt);
    assert_eq!(usage["totalTokenCount"], prompt + 10);
    let text = response["candidates"][0]["content"]["parts"][0]["text"].as_str();
    assert!(text.is_some_and(|t| tokens(t) <= 4), "{text:?}");

    body["generationConfig"] = json!({"stopSequences": ["long"]});
    let (_, _, stopped) = send_json(mock.gemini("gemini-2.5-pro:generateContent", &body)).await;
    assert_eq!(
        stopped["candidates"][0]["content"]["parts"][0]["text"],
        "Mock reply: a fairly "
    );
    assert_eq!(stopped["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn invalid_requests_get_google_errors() {
    let mock = spawn(MockConfig::default()).await;
    let (status, _, error) =
        send_json(mock.gemini("gemini-2.5-flash:generateContent", &json!({"contents": []}))).await;
    assert_eq!(status, 400);
    assert_eq!(
        (&error["error"]["code"], &error["error"]["status"]),
        (&json!(400), &json!("INVALID_ARGUMENT"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("contents"))
    );
    let malformed = mock
        .client
        .post(mock.root_url("/v1beta/models/g:generateContent"))
        .header("x-goog-api-key", "k")
        .body("{not json");
    let (status, _, error) = send_json(malformed).await;
    assert_eq!(
        (status, error["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (status, _, error) = send_json(mock.gemini("g:countTokens", &Value::Null)).await;
    assert_eq!(
        (status, error["error"]["status"].as_str()),
        (404, Some("NOT_FOUND"))
    );
}
