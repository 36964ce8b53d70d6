//! Anthropic request → OpenAI request (Anthropic-SDK clients), and round trips through both directions.

use super::parsed;
use crate::translate::{anthropic_request_to_openai, openai_request_to_anthropic};
use serde_json::{Value, json};

fn anthropic_request() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [
            { "type": "text", "text": "You are a weather bot.", "cache_control": { "type": "ephemeral" } },
            { "type": "text", "text": "Be brief." },
        ],
        "messages": [
            { "role": "user", "content": "What is the weather like in San Francisco?" },
            { "role": "assistant", "content": [
                { "type": "thinking", "thinking": "I should call the tool.", "signature": "EqQBCgIYAhIM" },
                { "type": "text", "text": "<thinking>I need to use get_weather</thinking>" },
                { "type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": { "location": "San Francisco, CA" } },
            ]},
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees", "is_error": false },
                { "type": "text", "text": "And tomorrow?" },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } },
            ]},
        ],
        "tools": [{
            "name": "get_weather", "description": "Get the current weather in a given location",
            "input_schema": { "type": "object", "properties": { "location": { "type": "string" } }, "required": ["location"] },
            "cache_control": { "type": "ephemeral" },
        }],
        "tool_choice": { "type": "any", "disable_parallel_tool_use": true },
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.5,
        "top_p": 0.8,
        "stream": true,
        "metadata": { "user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b" },
        "thinking": { "type": "disabled" },
        "output_config": { "format": { "type": "json_schema", "schema": { "type": "object" } } },
        "service_tier": "auto",
    })
}

#[test]
fn an_anthropic_request_becomes_an_openai_request_field_by_field() {
    let out = anthropic_request_to_openai(&anthropic_request()).unwrap();

    assert_eq!(out["model"], "claude-sonnet-4-5");
    assert_eq!(out["max_completion_tokens"], 1024);
    assert_eq!(out["temperature"], 0.5);
    assert_eq!(out["top_p"], 0.8);
    assert_eq!(out["stop"], json!(["\n\nHuman:"]));
    assert_eq!(out["stream"], true);
    assert_eq!(out["stream_options"], json!({ "include_usage": true }));
    assert_eq!(out["user"], "13803d75-b4b5-4c3e-b2a2-6f21399b021b");
    assert_eq!(out["tool_choice"], "required");
    assert_eq!(out["parallel_tool_calls"], false);
    assert_eq!(
        out["response_format"],
        json!({ "type": "json_schema", "json_schema": { "name": "output", "schema": { "type": "object" }, "strict": true } })
    );
    assert_eq!(
        out["tools"],
        json!([{ "type": "function", "function": {
            "name": "get_weather", "description": "Get the current weather in a given location",
            "parameters": { "type": "object", "properties": { "location": { "type": "string" } }, "required": ["location"] },
        }}])
    );
    let messages = out["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5);
    assert_eq!(
        messages[0],
        json!({ "role": "system", "content": "You are a weather bot.\n\nBe brief." })
    );
    assert_eq!(
        messages[1],
        json!({ "role": "user", "content": "What is the weather like in San Francisco?" })
    );
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(
        messages[2]["content"],
        "<thinking>I need to use get_weather</thinking>"
    );
    assert_eq!(
        messages[2]["tool_calls"][0]["id"],
        "toolu_01A09q90qw90lq917835lq9"
    );
    assert_eq!(
        messages[2]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(
        parsed(&messages[2]["tool_calls"][0]["function"]["arguments"]),
        json!({ "location": "San Francisco, CA" })
    );
    assert_eq!(
        messages[3],
        json!({ "role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees" })
    );
    assert_eq!(
        messages[4],
        json!({ "role": "user", "content": [
            { "type": "text", "text": "And tomorrow?" },
            { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } },
        ]})
    );
    assert!(
        out.get("system").is_none()
            && out.get("metadata").is_none()
            && out.get("service_tier").is_none()
    );
}

#[test]
fn tool_results_with_text_blocks_become_tool_messages_before_the_rest_of_the_turn() {
    let request = json!({
        "model": "m", "max_tokens": 5,
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "Here are the results." },
            { "type": "tool_result", "tool_use_id": "toolu_a", "content": [{ "type": "text", "text": "one" }, { "type": "text", "text": "two" }] },
            { "type": "tool_result", "tool_use_id": "toolu_b" },
        ]}],
    });

    let out = anthropic_request_to_openai(&request).unwrap();

    assert_eq!(
        out["messages"],
        json!([
            { "role": "tool", "tool_call_id": "toolu_a", "content": [{ "type": "text", "text": "one" }, { "type": "text", "text": "two" }] },
            { "role": "tool", "tool_call_id": "toolu_b", "content": "" },
            { "role": "user", "content": "Here are the results." },
        ])
    );
}

#[test]
fn tool_choices_map_and_a_pdf_document_becomes_a_file_part() {
    let choice = |c: Value| {
        let request = json!({ "model": "m", "max_tokens": 5, "tool_choice": c, "messages": [{ "role": "user", "content": "x" }] });
        anthropic_request_to_openai(&request).unwrap()["tool_choice"].clone()
    };
    assert_eq!(choice(json!({ "type": "auto" })), "auto");
    assert_eq!(choice(json!({ "type": "none" })), "none");
    assert_eq!(
        choice(json!({ "type": "tool", "name": "get_weather" })),
        json!({ "type": "function", "function": { "name": "get_weather" } })
    );

    let request = json!({ "model": "m", "max_tokens": 5, "messages": [{ "role": "user", "content": [
        { "type": "document", "source": { "type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjc=" } },
        { "type": "image", "source": { "type": "url", "url": "https://example.com/a.png" } },
    ]}]});
    assert_eq!(
        anthropic_request_to_openai(&request).unwrap()["messages"][0]["content"],
        json!([
            { "type": "file", "file": { "file_data": "data:application/pdf;base64,JVBERi0xLjc=" } },
            { "type": "image_url", "image_url": { "url": "https://example.com/a.png" } },
        ])
    );
}

#[test]
fn an_openai_request_survives_the_round_trip_through_anthropic() {
    let schema = json!({ "type": "object", "properties": { "city": { "type": "string" } } });
    let original = json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": "Weather in Paris?" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "toolu_01", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } },
            ]},
            { "role": "tool", "tool_call_id": "toolu_01", "content": "18 C, cloudy" },
            { "role": "user", "content": [
                { "type": "text", "text": "And this photo?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } },
            ]},
        ],
        "max_tokens": 300,
        "temperature": 0.3,
        "top_p": 0.95,
        "stop": ["END", "STOP"],
        "stream": true,
        "user": "u-42",
        "tools": [{ "type": "function", "function": { "name": "get_weather", "description": "Weather by city", "parameters": schema, "strict": true } }],
        "tool_choice": { "type": "function", "function": { "name": "get_weather" } },
        "parallel_tool_calls": false,
        "response_format": { "type": "json_schema", "json_schema": { "name": "answer", "schema": schema } },
    });

    let anthropic = openai_request_to_anthropic(&original, 1024).unwrap();
    let back = anthropic_request_to_openai(&anthropic).unwrap();

    assert_eq!(back["model"], original["model"]);
    assert_eq!(back["max_completion_tokens"], original["max_tokens"]);
    for key in [
        "temperature",
        "top_p",
        "stop",
        "stream",
        "user",
        "tool_choice",
        "parallel_tool_calls",
    ] {
        assert_eq!(back[key], original[key], "{key}");
    }
    assert_eq!(back["tools"], original["tools"]);
    assert_eq!(back["response_format"]["json_schema"]["schema"], schema);
    let (sent, got) = (
        original["messages"].as_array().unwrap(),
        back["messages"].as_array().unwrap(),
    );
    assert_eq!(got.len(), sent.len());
    assert_eq!(got[0], sent[0]);
    assert_eq!(got[1], sent[1]);
    assert_eq!(got[2]["content"], json!(null));
    assert_eq!(
        got[2]["tool_calls"][0]["id"],
        sent[2]["tool_calls"][0]["id"]
    );
    assert_eq!(got[2]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        parsed(&got[2]["tool_calls"][0]["function"]["arguments"]),
        parsed(&sent[2]["tool_calls"][0]["function"]["arguments"])
    );
    assert_eq!(got[3], sent[3]);
    assert_eq!(got[4], sent[4]);
}

#[test]
fn an_anthropic_request_survives_the_round_trip_through_openai() {
    let mut original = anthropic_request();
    // Dropped on purpose by the translation (see its documentation), so left out of the comparison.
    for key in ["service_tier", "thinking"] {
        original.as_object_mut().unwrap().remove(key);
    }

    let back =
        openai_request_to_anthropic(&anthropic_request_to_openai(&original).unwrap(), 1).unwrap();

    for key in [
        "model",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "top_p",
        "stream",
        "metadata",
        "tool_choice",
        "output_config",
    ] {
        assert_eq!(back[key], original[key], "{key}");
    }
    assert_eq!(back["system"], "You are a weather bot.\n\nBe brief.");
    assert_eq!(
        back["tools"][0]["input_schema"],
        original["tools"][0]["input_schema"]
    );
    assert_eq!(back["tools"][0]["name"], "get_weather");
    let messages = back["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[0]["content"][0]["text"],
        "What is the weather like in San Francisco?"
    );
    assert_eq!(
        messages[1]["content"],
        json!([
            { "type": "text", "text": "<thinking>I need to use get_weather</thinking>" },
            { "type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": { "location": "San Francisco, CA" } },
        ])
    );
    assert_eq!(
        messages[2]["content"],
        json!([
            { "type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees" },
            { "type": "text", "text": "And tomorrow?" },
            { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } },
        ])
    );
}
