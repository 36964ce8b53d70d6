//! Every field that cannot be translated faithfully is refused with a `TranslateError` naming it.

use crate::translate::{
    TranslateError, anthropic_request_to_openai, openai_request_to_anthropic,
    openai_request_to_gemini,
};
use serde_json::{Value, json};

/// A valid OpenAI request with `patch` merged in at the top level.
fn openai(patch: Value) -> Value {
    let mut request = json!({ "model": "m", "messages": [{ "role": "user", "content": "Hi" }] });
    for (key, value) in patch.as_object().cloned().unwrap_or_default() {
        request[key] = value;
    }
    request
}

fn openai_with_user_part(part: Value) -> Value {
    openai(json!({ "messages": [{ "role": "user", "content": [part] }] }))
}

fn assistant_then(message: Value) -> Value {
    openai(json!({ "messages": [{ "role": "user", "content": "Hi" }, message] }))
}

fn param(result: Result<Value, TranslateError>) -> String {
    match result {
        Ok(out) => format!("translated: {out}"),
        Err(e) => {
            assert!(!e.message.is_empty());
            e.param
        }
    }
}

/// Refused by both OpenAI → Anthropic and OpenAI → Gemini.
fn refused_by_both() -> Vec<(Value, &'static str)> {
    vec![
        (openai(json!({ "logprobs": true })), "logprobs"),
        (openai(json!({ "top_logprobs": 2 })), "top_logprobs"),
        (
            openai(json!({ "logit_bias": { "50256": -100 } })),
            "logit_bias",
        ),
        (
            openai(json!({ "modalities": ["text", "audio"] })),
            "modalities",
        ),
        (
            openai(json!({ "audio": { "voice": "alloy", "format": "wav" } })),
            "audio",
        ),
        (
            openai(json!({ "reasoning_effort": "high" })),
            "reasoning_effort",
        ),
        (
            openai(json!({ "prediction": { "type": "content", "content": "x" } })),
            "prediction",
        ),
        (
            openai(json!({ "web_search_options": {} })),
            "web_search_options",
        ),
        (
            openai(json!({ "functions": [{ "name": "f" }] })),
            "functions",
        ),
        (openai(json!({ "verbosity": "low" })), "verbosity"),
        (
            openai(
                json!({ "tool_choice": { "type": "allowed_tools", "allowed_tools": { "mode": "auto", "tools": [] } } }),
            ),
            "tool_choice",
        ),
        (
            openai(json!({ "tools": [{ "type": "custom", "custom": { "name": "grammar" } }] })),
            "tools[0].type",
        ),
        (
            openai(json!({ "messages": [{ "role": "function", "name": "f", "content": "1" }] })),
            "messages[0].role",
        ),
        (
            openai(
                json!({ "messages": [{ "role": "user", "content": "Hi", "cache_control": {} }] }),
            ),
            "messages[0].cache_control",
        ),
        (
            openai_with_user_part(
                json!({ "type": "video_url", "video_url": { "url": "https://x/v.mp4" } }),
            ),
            "messages[0].content[0]",
        ),
        (
            openai_with_user_part(json!({ "type": "file", "file": { "file_id": "file-abc123" } })),
            "messages[0].content[0].file",
        ),
        (
            assistant_then(
                json!({ "role": "assistant", "content": null, "audio": { "id": "audio_abc123" } }),
            ),
            "messages[1].audio",
        ),
        (
            assistant_then(
                json!({ "role": "assistant", "content": null, "function_call": { "name": "f", "arguments": "{}" } }),
            ),
            "messages[1].function_call",
        ),
        (
            assistant_then(
                json!({ "role": "assistant", "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "f", "arguments": "[1, 2" } }] }),
            ),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (json!(["not", "an", "object"]), ""),
    ]
}

#[test]
fn openai_to_anthropic_refuses_what_anthropic_cannot_express() {
    let mut cases = refused_by_both();
    cases.extend([
        (openai(json!({ "n": 2 })), "n"),
        (openai(json!({ "presence_penalty": 0.5 })), "presence_penalty"),
        (openai(json!({ "frequency_penalty": -1 })), "frequency_penalty"),
        (openai(json!({ "seed": 42 })), "seed"),
        (openai(json!({ "response_format": { "type": "json_object" } })), "response_format"),
        (openai_with_user_part(json!({ "type": "input_audio", "input_audio": { "data": "UklG", "format": "wav" } })), "messages[0].content[0]"),
        (openai_with_user_part(json!({ "type": "file", "file": { "file_data": "data:text/csv;base64,YSxi" } })), "messages[0].content[0].file"),
    ]);
    for (request, expected) in cases {
        assert_eq!(
            param(openai_request_to_anthropic(&request, 1024)),
            expected,
            "{request}"
        );
    }
}

#[test]
fn openai_to_gemini_refuses_what_gemini_cannot_express() {
    let mut cases = refused_by_both();
    cases.extend([
        (openai(json!({ "parallel_tool_calls": false })), "parallel_tool_calls"),
        (openai(json!({ "response_format": { "type": "grammar" } })), "response_format.type"),
        (openai_with_user_part(json!({ "type": "input_audio", "input_audio": { "data": "ZkxhQw", "format": "flac" } })), "messages[0].content[0].input_audio.format"),
        (openai(json!({ "tools": [{ "type": "function", "function": { "name": "f", "examples": [] } }] })), "tools[0].function.examples"),
    ]);
    for (request, expected) in cases {
        assert_eq!(
            param(openai_request_to_gemini(&request)),
            expected,
            "{request}"
        );
    }
}

#[test]
fn anthropic_to_openai_refuses_what_openai_cannot_express() {
    let base = |patch: Value| {
        let mut request = json!({ "model": "m", "max_tokens": 10, "messages": [{ "role": "user", "content": "Hi" }] });
        for (key, value) in patch.as_object().cloned().unwrap_or_default() {
            request[key] = value;
        }
        request
    };
    let user_block =
        |block: Value| base(json!({ "messages": [{ "role": "user", "content": [block] }] }));
    let cases = [
        (base(json!({ "top_k": 5 })), "top_k"),
        (
            base(json!({ "thinking": { "type": "enabled", "budget_tokens": 2048 } })),
            "thinking",
        ),
        (
            base(json!({ "output_config": { "effort": "high" } })),
            "output_config.effort",
        ),
        (
            base(json!({ "container": "container_011CTq" })),
            "container",
        ),
        (base(json!({ "mcp_servers": [] })), "mcp_servers"),
        (
            base(json!({ "metadata": { "user_id": "u", "team": "t" } })),
            "metadata.team",
        ),
        (
            base(
                json!({ "tools": [{ "type": "web_search_20250305", "name": "web_search", "max_uses": 5 }] }),
            ),
            "tools[0].type",
        ),
        (
            base(json!({ "tool_choice": { "type": "maybe" } })),
            "tool_choice.type",
        ),
        (
            user_block(
                json!({ "type": "image", "source": { "type": "file", "file_id": "file_011C" } }),
            ),
            "messages[0].content[0].source.type",
        ),
        (
            user_block(
                json!({ "type": "document", "source": { "type": "text", "media_type": "text/plain", "data": "x" } }),
            ),
            "messages[0].content[0].source",
        ),
        (
            user_block(
                json!({ "type": "search_result", "source": "https://x", "title": "t", "content": [] }),
            ),
            "messages[0].content[0]",
        ),
        (
            user_block(
                json!({ "type": "tool_result", "tool_use_id": "toolu_1", "content": [
                    { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBO" } },
                ]}),
            ),
            "messages[0].content[0].content[0]",
        ),
        (
            base(
                json!({ "messages": [{ "role": "user", "content": "Hi" }, { "role": "assistant", "content": [
                { "type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {} },
            ]}] }),
            ),
            "messages[1].content[0]",
        ),
        (
            base(json!({ "messages": [{ "role": "system", "content": "Hi" }] })),
            "messages[0].role",
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(
            param(anthropic_request_to_openai(&request)),
            expected,
            "{request}"
        );
    }
}

#[test]
fn neutral_values_and_ignored_fields_are_accepted() {
    let request = openai(json!({
        "n": 1, "logprobs": false, "presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {},
        "modalities": ["text"], "seed": null, "store": false, "service_tier": "auto", "metadata": { "k": "v" },
        "prompt_cache_key": "k", "safety_identifier": "s", "stream_options": { "include_usage": true },
        "response_format": { "type": "text" },
        "messages": [{ "role": "user", "name": "alice", "content": [{ "type": "image_url", "image_url": { "url": "https://x/y.png", "detail": "low" } }] }],
    }));

    assert!(openai_request_to_anthropic(&request, 16).is_ok());
    assert!(openai_request_to_gemini(&request).is_ok());
}
