//! Provider kinds and inbound formats end to end: OpenAI clients calling models served by Anthropic and Gemini,
//! Anthropic clients (`POST /v1/messages`) calling any model, streaming and not, checked field by field on both
//! sides of the gateway (what the client gets, what the provider received, what was billed).

use crate::helpers::{CLAUDE_MODEL, GEMINI_MODEL, MODEL, TestApp, spawn_app, start_mock};
use mock_provider::{MockConfig, MockServer};
use serde_json::{Value, json};
use std::time::Duration;

const WEATHER_TOOL: &str = "get_weather";

fn openai_tools() -> Value {
    json!([{"type": "function", "function": {"name": WEATHER_TOOL, "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}}}])
}

/// A gateway with `MODEL` on an OpenAI mock, `claude-test` on an Anthropic mock and `gemini-test` on a
/// Gemini mock.
pub async fn app_with_kinds() -> (TestApp, MockServer, MockServer) {
    let app = spawn_app().await;
    let anthropic = start_mock(MockConfig::default()).await;
    let gemini = start_mock(MockConfig::default()).await;
    app.add_model_of_kind(
        "anthropic",
        &format!("{}/v1", anthropic.root_url()),
        CLAUDE_MODEL,
    )
    .await;
    app.add_model_of_kind(
        "gemini",
        &format!("{}/v1beta", gemini.root_url()),
        GEMINI_MODEL,
    )
    .await;
    (app, anthropic, gemini)
}

/// Sends an Anthropic Messages request with `x-api-key`, Anthropic's own key header.
async fn post_messages(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/messages", app.address))
        .header("x-api-key", &app.key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Sends `body` to `/v1/messages` with exactly the given headers.
async fn post_messages_with(
    app: &TestApp,
    headers: &[(&str, &str)],
    body: &Value,
) -> reqwest::Response {
    let mut request = app.client.post(format!("{}/v1/messages", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.json(body).send().await.unwrap()
}

/// The `data:` payloads of an SSE body, with each event's name when it has one.
fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let mut name = None;
            let mut data = String::new();
            for line in event.lines() {
                let line = line.trim_end_matches('\r');
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, data)
        })
        .collect()
}

/// Text and usage of an OpenAI stream; panics unless it ends with `[DONE]`.
fn openai_stream_text(body: &str) -> (String, Option<Value>, Option<String>) {
    let events = sse_events(body);
    assert_eq!(
        events.last().map(|(_, d)| d.as_str()),
        Some("[DONE]"),
        "{body}"
    );
    let mut text = String::new();
    let mut usage = None;
    let mut finish = None;
    for (_, data) in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        if let Some(choice) = chunk["choices"].get(0) {
            text.push_str(choice["delta"]["content"].as_str().unwrap_or_default());
            if let Some(reason) = choice["finish_reason"].as_str() {
                finish = Some(reason.to_owned());
            }
        }
        if chunk["usage"].is_object() {
            usage = Some(chunk["usage"].clone());
        }
    }
    (text, usage, finish)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_client_calls_a_claude_model_with_system_prompt_image_and_tools() {
    let (app, anthropic, gemini) = app_with_kinds().await;
    let request = json!({
        "model": CLAUDE_MODEL.0,
        "max_tokens": 300,
        "temperature": 0.5,
        "stop": ["END"],
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ]},
        ],
        "tools": openai_tools(),
    });
    let response = app.post("/v1/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-region"], "eu");
    assert_eq!(
        response.headers()["x-switchyard-provider"],
        "anthropic-claude-test"
    );
    let answer: Value = response.json().await.unwrap();

    // What Anthropic received: its own URL, credentials and shapes.
    let received = anthropic.received();
    assert_eq!(received.len(), 1);
    let sent = &received[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("anthropic-secret-key"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["model"], CLAUDE_MODEL.1);
    assert_eq!(sent.body["max_tokens"], 300);
    assert_eq!(sent.body["temperature"], 0.5);
    assert_eq!(sent.body["stop_sequences"], json!(["END"]));
    assert_eq!(sent.body["system"], "You are terse.");
    assert_eq!(sent.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        sent.body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        ])
    );
    assert_eq!(sent.body["tools"][0]["name"], WEATHER_TOOL);
    assert_eq!(
        sent.body["tools"][0]["input_schema"],
        openai_tools()[0]["function"]["parameters"]
    );

    // What the OpenAI client got: a tool call in OpenAI's shape.
    assert_eq!(answer["object"], "chat.completion");
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["id"], "toolu_mock_0");
    assert_eq!(call["function"]["name"], WEATHER_TOOL);
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"input": "What is in this picture?"}));
    let prompt_tokens = answer["usage"]["prompt_tokens"].as_u64().unwrap();
    let completion_tokens = answer["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(prompt_tokens > 0 && completion_tokens > 0, "{answer}");

    // The tool result goes back as Anthropic's tool_result block and the final answer comes back as text.
    let followup = json!({
        "model": CLAUDE_MODEL.0,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "toolu_mock_0", "content": "sunny"},
        ],
        "tools": openai_tools(),
    });
    let final_answer =
        crate::helpers::json_of(app.post("/v1/chat/completions", &followup).await, 200).await;
    assert_eq!(final_answer["choices"][0]["finish_reason"], "stop");
    assert!(
        final_answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("Mock reply")
    );
    let second = &anthropic.received()[1].body;
    assert_eq!(
        second["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "toolu_mock_0", "name": WEATHER_TOOL, "input": {"input": "What is in this picture?"}})
    );
    assert_eq!(
        second["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_mock_0", "content": "sunny"})
    );
    // Without max_tokens, the gateway's default output bound is sent: Anthropic requires one.
    assert_eq!(second["max_tokens"], 4096);

    // Billed from Anthropic's own counts, at the deployment's prices, under the Anthropic provider.
    assert_eq!(app.wait_for_usage(2, Duration::from_secs(5)).await, 2);
    let rows = app.usage_rows().await;
    let first = rows
        .iter()
        .find(|r| r.output_tokens == completion_tokens as i64)
        .unwrap();
    assert_eq!(first.input_tokens, prompt_tokens as i64);
    assert_eq!(first.usage_source, "provider");
    assert_eq!(first.upstream_model, CLAUDE_MODEL.1);
    assert_eq!(first.provider_name, "anthropic-claude-test");
    assert_eq!(
        first.cost_picos,
        prompt_tokens as i64 * 2_500_000 + completion_tokens as i64 * 10_000_000
    );
    assert!(gemini.received().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_streams_from_claude_and_gemini_carry_the_same_text_and_usage_as_whole_answers() {
    let (app, anthropic, gemini) = app_with_kinds().await;
    for (model, mock) in [(CLAUDE_MODEL.0, &anthropic), (GEMINI_MODEL.0, &gemini)] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "Stream me a sentence about rivers"}]});
        let whole =
            crate::helpers::json_of(app.post("/v1/chat/completions", &body).await, 200).await;
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        streamed["stream_options"] = json!({"include_usage": true});
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.address))
            .bearer_auth(&app.key)
            .header("x-mock-chunks", "4")
            .json(&streamed)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{model}"
        );
        let (text, usage, finish) = openai_stream_text(&response.text().await.unwrap());
        assert_eq!(
            text,
            whole["choices"][0]["message"]["content"].as_str().unwrap(),
            "{model}"
        );
        assert_eq!(finish.as_deref(), Some("stop"), "{model}");
        let usage = usage.unwrap_or_else(|| panic!("{model}: no usage chunk"));
        assert_eq!(
            usage["prompt_tokens"], whole["usage"]["prompt_tokens"],
            "{model}"
        );
        assert_eq!(
            usage["completion_tokens"], whole["usage"]["completion_tokens"],
            "{model}"
        );

        // Without include_usage the client sees no usage chunk, and the call is still billed.
        streamed.as_object_mut().unwrap().remove("stream_options");
        let body = app
            .post("/v1/chat/completions", &streamed)
            .await
            .text()
            .await
            .unwrap();
        let (_, usage, _) = openai_stream_text(&body);
        assert_eq!(usage, None, "{model}");
        let requests = mock.received();
        assert_eq!(requests.len(), 3, "{model}");
        if model == GEMINI_MODEL.0 {
            assert_eq!(
                requests[0].path,
                format!("/v1beta/models/{}:generateContent", GEMINI_MODEL.1)
            );
            assert_eq!(
                requests[1].path,
                format!("/v1beta/models/{}:streamGenerateContent", GEMINI_MODEL.1)
            );
            assert_eq!(requests[1].query_param("alt").as_deref(), Some("sse"));
            assert_eq!(
                requests[1].header("x-goog-api-key"),
                Some("gemini-secret-key")
            );
            assert_eq!(
                requests[1].body["contents"][0]["parts"][0]["text"],
                "Stream me a sentence about rivers"
            );
        } else {
            assert_eq!(requests[1].body["stream"], true);
        }
    }
    assert_eq!(app.wait_for_usage(6, Duration::from_secs(5)).await, 6);
    let rows = app.usage_rows().await;
    assert!(
        rows.iter()
            .all(|r| r.usage_source == "provider" && r.outcome == "ok" && r.input_tokens > 0),
        "{rows:?}"
    );
    // Whole and streamed calls of one prompt bill the same tokens.
    for model in [CLAUDE_MODEL.1, GEMINI_MODEL.1] {
        let of_model: Vec<_> = rows.iter().filter(|r| r.upstream_model == model).collect();
        assert_eq!(of_model.len(), 3);
        assert!(
            of_model
                .iter()
                .all(|r| r.input_tokens == of_model[0].input_tokens
                    && r.output_tokens == of_model[0].output_tokens),
            "{of_model:?}"
        );
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gemini_tool_call_round_trips_with_its_synthesised_id() {
    let (app, _anthropic, gemini) = app_with_kinds().await;
    let ask = json!({
        "model": GEMINI_MODEL.0,
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "tools": openai_tools(),
    });
    let answer = crate::helpers::json_of(app.post("/v1/chat/completions", &ask).await, 200).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let call = answer["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], WEATHER_TOOL);
    let id = call["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("call_"), "{id}");
    let sent = &gemini.received()[0].body;
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"],
        WEATHER_TOOL
    );

    let followup = json!({
        "model": GEMINI_MODEL.0,
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": id, "content": "{\"sky\":\"clear\"}"},
        ],
        "tools": openai_tools(),
    });
    let done =
        crate::helpers::json_of(app.post("/v1/chat/completions", &followup).await, 200).await;
    assert_eq!(done["choices"][0]["finish_reason"], "stop");
    let contents = &gemini.received()[1].body["contents"];
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(
        contents[1]["parts"][0]["functionCall"]["name"],
        WEATHER_TOOL
    );
    // The function's name is recovered from the id of the call it answers.
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"]["name"],
        WEATHER_TOOL
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_a_provider_cannot_take_is_refused_with_a_400_naming_it_and_nothing_is_sent() {
    let (app, anthropic, gemini) = app_with_kinds().await;
    let mut body = json!({"model": CLAUDE_MODEL.0, "n": 2,
                          "messages": [{"role": "user", "content": "two answers please"}]});
    let error = crate::helpers::json_of(app.post("/v1/chat/completions", &body).await, 400).await;
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(error["error"]["param"], "n");
    assert_eq!(error["error"]["code"], "unsupported_by_provider");
    body["model"] = json!(GEMINI_MODEL.0);
    body["n"] = json!(1);
    body["logit_bias"] = json!({"50256": -100});
    let error = crate::helpers::json_of(app.post("/v1/chat/completions", &body).await, 400).await;
    assert_eq!(error["error"]["param"], "logit_bias", "{error}");
    // Embeddings are not spoken to these providers: a clear 400 as well.
    let embed = json!({"model": CLAUDE_MODEL.0, "input": "hello"});
    let error = crate::helpers::json_of(app.post("/v1/embeddings", &embed).await, 400).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("embeddings"),
        "{error}"
    );
    assert!(anthropic.received().is_empty() && gemini.received().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_client_gets_messages_from_openai_and_anthropic_models_field_by_field() {
    let (app, anthropic, _gemini) = app_with_kinds().await;
    for model in [MODEL, CLAUDE_MODEL.0] {
        let request = json!({
            "model": model,
            "max_tokens": 200,
            "system": [{"type": "text", "text": "Answer in one line."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Describe the sea"}]}],
            "metadata": {"user_id": "end-user-7"},
        });
        let response = post_messages(&app, &request).await;
        assert_eq!(response.status(), 200, "{model}");
        assert!(response.headers().contains_key("x-switchyard-deployment"));
        let message: Value = response.json().await.unwrap();
        assert_eq!(message["type"], "message", "{message}");
        assert_eq!(message["role"], "assistant");
        assert_eq!(
            message["content"],
            json!([{"type": "text", "text": "Mock reply: Describe the sea"}])
        );
        assert_eq!(message["stop_reason"], "end_turn");
        assert!(message["id"].as_str().is_some_and(|id| !id.is_empty()));
        let input = message["usage"]["input_tokens"].as_i64().unwrap();
        let output = message["usage"]["output_tokens"].as_i64().unwrap();
        assert!(input > 0 && output > 0);

        // Streamed: Anthropic's event order, the same text and usage.
        let mut streamed = request.clone();
        streamed["stream"] = json!(true);
        let response = post_messages(&app, &streamed).await;
        assert_eq!(response.status(), 200);
        let events = sse_events(&response.text().await.unwrap());
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        assert_eq!(
            names[..2],
            ["message_start", "content_block_start"],
            "{names:?}"
        );
        assert_eq!(
            names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"],
            "{names:?}"
        );
        let mut text = String::new();
        let mut delta_usage = Value::Null;
        for (name, data) in &events {
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"].as_str(), name.as_deref());
            match name.as_deref() {
                Some("content_block_delta") => {
                    text.push_str(data["delta"]["text"].as_str().unwrap());
                }
                Some("message_delta") => {
                    assert_eq!(data["delta"]["stop_reason"], "end_turn");
                    delta_usage = data["usage"].clone();
                }
                _ => {}
            }
        }
        assert_eq!(text, "Mock reply: Describe the sea", "{model}");
        assert_eq!(delta_usage["output_tokens"], output, "{model}");
        assert_eq!(delta_usage["input_tokens"], input, "{model}");
    }
    // The Anthropic provider received its own format, with the end user carried through.
    let sent = &anthropic.received()[0].body;
    assert_eq!(sent["system"], "Answer in one line.");
    assert_eq!(sent["metadata"], json!({"user_id": "end-user-7"}));
    assert_eq!(app.wait_for_usage(4, Duration::from_secs(5)).await, 4);
    let rows = app.usage_rows().await;
    assert!(rows.iter().all(|r| r.endpoint == "messages"), "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.end_user.as_deref() == Some("end-user-7")),
        "{rows:?}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_endpoint_answers_every_error_in_anthropic_format() {
    let (app, _anthropic, _gemini) = app_with_kinds().await;
    let valid =
        json!({"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let expect = |status: u16, kind: &'static str| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), status);
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json")
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["type"], "error", "{body}");
            assert_eq!(body["error"]["type"], kind, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
            body["error"]["message"].as_str().unwrap().to_owned()
        }
    };
    let version = ("anthropic-version", "2023-06-01");
    let key = app.key.as_str();
    // No key at all, then a wrong one.
    expect(401, "authentication_error")(post_messages_with(&app, &[version], &valid).await).await;
    let wrong = [("x-api-key", "sk-sy-wrong"), version];
    expect(401, "authentication_error")(post_messages_with(&app, &wrong, &valid).await).await;
    // Bearer works as well as x-api-key.
    let bearer = format!("Bearer {key}");
    let response = post_messages_with(&app, &[("authorization", &bearer), version], &valid).await;
    assert_eq!(response.status(), 200);
    // anthropic-version is required and checked.
    let response = post_messages_with(&app, &[("x-api-key", key)], &valid).await;
    let message = expect(400, "invalid_request_error")(response).await;
    assert!(message.contains("anthropic-version"));
    let response = post_messages_with(
        &app,
        &[("x-api-key", key), ("anthropic-version", "latest")],
        &valid,
    )
    .await;
    expect(400, "invalid_request_error")(response).await;
    // Anthropic's own validation, then a field that cannot be carried.
    let mut body = valid.clone();
    body.as_object_mut().unwrap().remove("max_tokens");
    let message = expect(400, "invalid_request_error")(post_messages(&app, &body).await).await;
    assert!(message.contains("max_tokens"), "{message}");
    let mut body = valid.clone();
    body["top_k"] = json!(5);
    let message = expect(400, "invalid_request_error")(post_messages(&app, &body).await).await;
    assert!(message.contains("top_k"), "{message}");
    let response = app
        .client
        .post(format!("{}/v1/messages", app.address))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let message = expect(400, "invalid_request_error")(response).await;
    assert!(message.contains("JSON"), "{message}");
    // Unknown and forbidden models.
    let mut body = valid.clone();
    body["model"] = json!("no-such-model");
    expect(404, "not_found_error")(post_messages(&app, &body).await).await;
    let restricted = [("x-api-key", app.restricted_key.as_str()), version];
    let claude = json!({"model": CLAUDE_MODEL.0, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    expect(403, "permission_error")(post_messages_with(&app, &restricted, &claude).await).await;
    // A provider failure: 5xx in Anthropic's shape, retryable by the SDK; a provider's 429 stays a 429.
    let failing = [("x-api-key", key), version, ("x-mock-status", "500")];
    expect(502, "api_error")(post_messages_with(&app, &failing, &valid).await).await;
    let limited = [("x-api-key", key), version, ("x-mock-status", "429")];
    expect(429, "rate_limit_error")(post_messages_with(&app, &limited, &valid).await).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_mid_way_ends_with_an_error_event_in_the_clients_format_and_is_billed()
{
    let (app, _anthropic, _gemini) = app_with_kinds().await;
    // An Anthropic client, an OpenAI provider that drops the connection after a few events.
    let response = app
        .client
        .post(format!("{}/v1/messages", app.address))
        .header("x-api-key", &app.key)
        .header("anthropic-version", "2023-06-01")
        .header("x-mock-chunks", "6")
        .header("x-mock-disconnect-after", "3")
        .json(&json!({"model": MODEL, "max_tokens": 100, "stream": true,
                      "messages": [{"role": "user", "content": "a long story about mountains and rivers"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = sse_events(&response.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"), "{events:?}");
    let data: Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(
        !events
            .iter()
            .any(|(n, _)| n.as_deref() == Some("message_stop"))
    );

    // An OpenAI client, a Claude model whose stream breaks off: OpenAI's error chunk.
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-chunks", "6")
        .header("x-mock-disconnect-after", "4")
        .json(&json!({"model": CLAUDE_MODEL.0, "stream": true,
                      "messages": [{"role": "user", "content": "a long story about mountains and rivers"}]}))
        .send()
        .await
        .unwrap();
    let events = sse_events(&response.text().await.unwrap());
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(last["error"]["type"], "server_error", "{events:?}");
    assert_eq!(app.wait_for_usage(2, Duration::from_secs(5)).await, 2);
    let rows = app.usage_rows().await;
    assert!(
        rows.iter()
            .all(|r| r.outcome == "upstream_error" && r.input_tokens > 0),
        "what was delivered is billed: {rows:?}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_fails_over_from_a_dead_openai_deployment_to_a_claude_deployment_of_the_same_group()
{
    let app = spawn_app().await;
    let anthropic = start_mock(MockConfig::default()).await;
    let broken = start_mock(MockConfig {
        status: Some(503),
        ..MockConfig::default()
    })
    .await;
    app.add_model_of_kind("openai", &broken.base_url(), ("mixed", "gpt-x"))
        .await;
    let claude = app
        .add_model_of_kind(
            "anthropic",
            &format!("{}/v1", anthropic.root_url()),
            ("mixed", CLAUDE_MODEL.1),
        )
        .await;
    for stream in [false, true] {
        for _ in 0..3 {
            let response = app
                .post(
                    "/v1/chat/completions",
                    &json!({"model": "mixed", "stream": stream,
                            "messages": [{"role": "user", "content": "hello"}]}),
                )
                .await;
            assert_eq!(response.status(), 200, "stream: {stream}");
            assert_eq!(
                response.headers()["x-switchyard-deployment"],
                claude.as_str()
            );
            let body = response.text().await.unwrap();
            let text = if stream {
                openai_stream_text(&body).0
            } else {
                serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            assert_eq!(text, "Mock reply: hello");
        }
    }
    assert_eq!(anthropic.received().len(), 6);

    // A request the Claude deployment cannot take (`n: 2`) is passed over there; the caller gets the failure of
    // the attempt that was sent (502), not the 400 of the deployment that was skipped.
    app.add_model_of_kind("openai", &broken.base_url(), ("strict", "gpt-x"))
        .await;
    app.add_model_of_kind(
        "anthropic",
        &format!("{}/v1", anthropic.root_url()),
        ("strict", CLAUDE_MODEL.1),
    )
    .await;
    let error = crate::helpers::json_of(
        app.post(
            "/v1/chat/completions",
            &json!({"model": "strict", "n": 2, "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await,
        502,
    )
    .await;
    assert_eq!(error["error"]["code"], "upstream_error", "{error}");
    assert_eq!(anthropic.received().len(), 6);
    app.shutdown().await;
}
