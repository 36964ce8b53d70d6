//! Responses both ways, stop reasons and usage.

use super::{ctx, parsed};
use crate::translate::{
    anthropic_response_to_openai, anthropic_stop_reason_to_openai, anthropic_usage_to_openai,
    openai_finish_reason_to_anthropic, openai_response_to_anthropic, openai_usage_to_anthropic,
};
use serde_json::json;

#[test]
fn a_text_answer_becomes_a_chat_completion() {
    let response = json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{ "type": "text", "text": "Hi! My name is Claude." }],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": { "input_tokens": 2095, "output_tokens": 503 },
    });

    let out = anthropic_response_to_openai(&response, &ctx()).unwrap();

    assert_eq!(
        out,
        json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": "claude-sonnet-4-5-20250929",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": "Hi! My name is Claude.", "refusal": null },
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598,
                "prompt_tokens_details": { "cached_tokens": 0 },
            },
        })
    );
}

#[test]
fn tool_use_blocks_become_tool_calls_and_thinking_is_left_out() {
    let response = json!({
        "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            { "type": "thinking", "thinking": "The user wants the weather.", "signature": "EqQBCgIYAhIM" },
            { "type": "text", "text": "I'll check the current weather in San Francisco for you." },
            { "type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
              "input": { "location": "San Francisco, CA", "unit": "celsius" } },
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": { "input_tokens": 472, "output_tokens": 89 },
    });

    let out = anthropic_response_to_openai(&response, &ctx()).unwrap();

    let message = &out["choices"][0]["message"];
    assert_eq!(
        message["content"],
        "I'll check the current weather in San Francisco for you."
    );
    assert_eq!(
        message["tool_calls"][0]["id"],
        "toolu_01A09q90qw90lq917835lq9"
    );
    assert_eq!(message["tool_calls"][0]["type"], "function");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        parsed(&message["tool_calls"][0]["function"]["arguments"]),
        json!({ "location": "San Francisco, CA", "unit": "celsius" })
    );
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn an_answer_with_only_a_tool_call_has_null_content() {
    let response = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{ "type": "tool_use", "id": "toolu_1", "name": "now", "input": {} }],
        "stop_reason": "tool_use", "usage": { "input_tokens": 1, "output_tokens": 1 },
    });

    let out = anthropic_response_to_openai(&response, &ctx()).unwrap();

    assert_eq!(out["choices"][0]["message"]["content"], json!(null));
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{}"
    );
}

#[test]
fn an_unexpected_block_type_is_an_error_naming_it() {
    let response = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{ "type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {} }],
        "stop_reason": "end_turn", "usage": { "input_tokens": 1, "output_tokens": 1 },
    });

    let error = anthropic_response_to_openai(&response, &ctx()).unwrap_err();

    assert_eq!(error.param, "content[0]");
}

#[test]
fn cache_reads_and_writes_count_as_prompt_tokens_with_reads_as_cached_tokens() {
    let usage = anthropic_usage_to_openai(&json!({
        "input_tokens": 50, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 1000,
        "cache_creation": { "ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 0 },
        "output_tokens": 75, "service_tier": "standard",
    }));

    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (1250, 75, 1325)
    );
    assert_eq!(usage.cached_tokens(), 1000);
}

#[test]
fn openai_usage_splits_cached_tokens_out_of_input_tokens() {
    let usage = openai_usage_to_anthropic(&json!({
        "prompt_tokens": 1250, "completion_tokens": 75, "total_tokens": 1325,
        "prompt_tokens_details": { "cached_tokens": 1000 },
    }));

    assert_eq!(
        usage,
        json!({ "input_tokens": 250, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1000, "output_tokens": 75 })
    );
}

#[test]
fn stop_reasons_map_both_ways() {
    for (anthropic, openai) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ] {
        assert_eq!(
            anthropic_stop_reason_to_openai(anthropic),
            openai,
            "{anthropic}"
        );
    }
    for (openai, anthropic) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
    ] {
        assert_eq!(
            openai_finish_reason_to_anthropic(openai),
            anthropic,
            "{openai}"
        );
    }
}

#[test]
fn a_chat_completion_becomes_an_anthropic_message() {
    let response = json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion", "created": 1_741_570_283,
        "model": "gpt-4o-2024-08-06",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant", "content": "Let me look that up.", "refusal": null,
                "tool_calls": [{ "id": "call_abc123", "type": "function",
                    "function": { "name": "get_weather", "arguments": "{\"location\":\"Boston, MA\"}" } }],
            },
            "logprobs": null, "finish_reason": "tool_calls",
        }],
        "usage": { "prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
                   "prompt_tokens_details": { "cached_tokens": 64, "audio_tokens": 0 } },
    });

    let out = openai_response_to_anthropic(&response).unwrap();

    assert_eq!(
        out,
        json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "type": "message",
            "role": "assistant",
            "model": "gpt-4o-2024-08-06",
            "content": [
                { "type": "text", "text": "Let me look that up." },
                { "type": "tool_use", "id": "call_abc123", "name": "get_weather", "input": { "location": "Boston, MA" } },
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": { "input_tokens": 18, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 64, "output_tokens": 17 },
        })
    );
}

#[test]
fn invalid_tool_arguments_in_a_chat_completion_are_an_error_naming_them() {
    let response = json!({
        "id": "chatcmpl-1", "model": "m",
        "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": { "role": "assistant", "content": null,
            "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "f", "arguments": "{\"a\":" } }] } }],
    });

    let error = openai_response_to_anthropic(&response).unwrap_err();

    assert_eq!(
        error.param,
        "choices[0].message.tool_calls[0].function.arguments"
    );
}
