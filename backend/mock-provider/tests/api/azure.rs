use std::time::Instant;

use mock_provider::MockConfig;
use serde_json::json;

use crate::helpers::{chat_body, read_sse, send_json, spawn};

#[tokio::test]
async fn deployment_routes_answer_in_openai_format_and_record_deployment_and_version() {
    // Arrange
    let mock = spawn(MockConfig::default()).await;
    let mut body = chat_body("hello azure");
    body.as_object_mut().map(|o| o.remove("model"));
    // Act
    let (status, _, completion) = send_json(mock.azure("prod-gpt4o/chat/completions", &body)).await;
    let (emb_status, _, embeddings) =
        send_json(mock.azure("prod-embed/embeddings", &json!({"input": "vector me"}))).await;
    // Assert
    assert_eq!(status, 200, "{completion}");
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(
        completion["model"], "prod-gpt4o",
        "the deployment names the model"
    );
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        "Mock reply: hello azure"
    );
    assert_eq!(emb_status, 200, "{embeddings}");
    assert_eq!(embeddings["data"][0]["object"], "embedding");
    let received = mock.server.received();
    assert_eq!(received[0].azure_deployment(), Some("prod-gpt4o"));
    assert_eq!(received[1].azure_deployment(), Some("prod-embed"));
    assert_eq!(
        received[0].query_param("api-version").as_deref(),
        Some("2024-10-21")
    );
    assert_eq!(received[0].header("api-key"), Some("azure-test-key"));
    assert_eq!(
        received[0].path,
        "/openai/deployments/prod-gpt4o/chat/completions"
    );
}

#[tokio::test]
async fn azure_streams_like_openai() {
    let mock = spawn(MockConfig::default()).await;
    let mut body = chat_body("stream");
    body["stream"] = json!(true);
    let Ok(response) = mock.azure("d/chat/completions", &body).send().await else {
        unreachable!("send failed")
    };
    let Ok(events) = read_sse(response, Instant::now()).await else {
        unreachable!("stream was cut")
    };
    assert_eq!(events.len(), 1 + 5 + 1 + 1);
    assert_eq!(events[7].data, "[DONE]");
}

#[tokio::test]
async fn missing_api_version_or_key_get_azure_errors() {
    let mock = spawn(MockConfig::default()).await;
    let url = mock.root_url("/openai/deployments/d/chat/completions");
    let body = chat_body("hi");
    // Azure routes by version: without one the route does not exist.
    let no_version = mock.client.post(&url).header("api-key", "k").json(&body);
    let (status, _, error) = send_json(no_version).await;
    assert_eq!(status, 404);
    assert_eq!(
        error,
        json!({"error": {"code": "404", "message": "Resource not found"}})
    );
    let no_key = mock
        .client
        .post(format!("{url}?api-version=2024-10-21"))
        .header("authorization", "Bearer sk-openai-style")
        .json(&body);
    let (status, _, error) = send_json(no_key).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["code"], "401");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Access denied"))
    );
    let (status, _, error) = send_json(mock.azure("d/completions", &body)).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("404"))
    );
}
