//! Anthropic stream events → OpenAI chunks.

use super::ctx;
use crate::translate::AnthropicStreamToOpenAi;
use serde_json::{Value, json};

fn run(events: &[Value]) -> (Vec<Value>, bool) {
    let mut stream = AnthropicStreamToOpenAi::new(ctx());
    let chunks = events.iter().flat_map(|e| stream.push(e)).collect();
    (chunks, stream.is_done())
}

fn deltas(chunks: &[Value]) -> Vec<Value> {
    chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|choice| choice["delta"].clone()))
        .collect()
}

#[test]
fn a_text_stream_becomes_content_deltas_a_finish_chunk_and_a_usage_chunk() {
    let events = [
        json!({ "type": "message_start", "message": { "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message",
            "role": "assistant", "content": [], "model": "claude-opus-4-6", "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 25, "output_tokens": 1 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "ping" }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Hello" } }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "!" } }),
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": { "output_tokens": 15 } }),
        json!({ "type": "message_stop" }),
    ];

    let (chunks, done) = run(&events);

    assert!(done);
    assert_eq!(
        chunks[0],
        json!({
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "object": "chat.completion.chunk",
            "created": 1_767_225_600, "model": "claude-opus-4-6",
            "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "" }, "logprobs": null, "finish_reason": null }],
        })
    );
    assert_eq!(
        deltas(&chunks),
        vec![
            json!({ "role": "assistant", "content": "" }),
            json!({ "content": "Hello" }),
            json!({ "content": "!" }),
            json!({})
        ]
    );
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks.len(), 5);
    assert_eq!(chunks[4]["choices"], json!([]));
    assert_eq!(
        chunks[4]["usage"],
        json!({ "prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40, "prompt_tokens_details": { "cached_tokens": 0 } })
    );
}

#[test]
fn text_then_tool_use_becomes_content_then_indexed_tool_call_deltas() {
    let partials = [
        "",
        "{\"location\":",
        " \"San",
        " Francisc",
        "o,",
        " CA\"",
        ", ",
        "\"unit\": \"fah",
        "renhe",
        "it\"}",
    ];
    let mut events = vec![
        json!({ "type": "message_start", "message": { "id": "msg_014p7gG3wDgGV9EUtLvnow3U", "type": "message", "role": "assistant",
            "model": "claude-opus-4-6", "stop_sequence": null, "content": [], "stop_reason": null,
            "usage": { "input_tokens": 472, "output_tokens": 2 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Okay, let's check the weather for San Francisco, CA:" } }),
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {} } }),
    ];
    events.extend(partials.iter().map(|p| {
        json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": p } })
    }));
    events.extend([
        json!({ "type": "content_block_stop", "index": 1 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "output_tokens": 89 } }),
        json!({ "type": "message_stop" }),
    ]);

    let (chunks, _) = run(&events);
    let deltas = deltas(&chunks);

    assert_eq!(
        deltas[1],
        json!({ "content": "Okay, let's check the weather for San Francisco, CA:" })
    );
    assert_eq!(
        deltas[2],
        json!({ "tool_calls": [{ "index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
            "function": { "name": "get_weather", "arguments": "" } }] })
    );
    let arguments: Vec<Value> = deltas[3..12].to_vec();
    let expected: Vec<Value> = partials[1..]
        .iter()
        .map(|p| json!({ "tool_calls": [{ "index": 0, "function": { "arguments": p } }] }))
        .collect();
    assert_eq!(arguments, expected);
    let joined: String = partials.concat();
    assert_eq!(
        serde_json::from_str::<Value>(&joined).unwrap(),
        json!({ "location": "San Francisco, CA", "unit": "fahrenheit" })
    );
    assert_eq!(chunks[12]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[13]["usage"]["completion_tokens"], 89);
    assert_eq!(chunks.len(), 14);
}

#[test]
fn parallel_tool_uses_get_consecutive_tool_call_indexes() {
    let events = [
        json!({ "type": "message_start", "message": { "id": "msg_1", "model": "m", "usage": { "input_tokens": 1, "output_tokens": 1 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "tool_use", "id": "toolu_a", "name": "f", "input": {} } }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "input_json_delta", "partial_json": "{}" } }),
        json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_b", "name": "g", "input": {} } }),
        json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"x\":1}" } }),
    ];

    let (chunks, done) = run(&events);
    let deltas = deltas(&chunks);

    assert!(!done);
    assert_eq!(deltas[1]["tool_calls"][0]["index"], 0);
    assert_eq!(
        deltas[2],
        json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{}" } }] })
    );
    assert_eq!(deltas[3]["tool_calls"][0]["index"], 1);
    assert_eq!(deltas[3]["tool_calls"][0]["id"], "toolu_b");
    assert_eq!(
        deltas[4],
        json!({ "tool_calls": [{ "index": 1, "function": { "arguments": "{\"x\":1}" } }] })
    );
}

#[test]
fn final_usage_takes_cache_counts_from_message_start_and_cumulative_counts_from_message_delta() {
    let events = [
        json!({ "type": "message_start", "message": { "id": "msg_2", "model": "claude-haiku-4-5", "content": [],
            "usage": { "input_tokens": 849, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2048, "output_tokens": 10 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "thinking", "thinking": "" } }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": "Let me think." } }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "signature_delta", "signature": "EqQBCgIYAhIM" } }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "max_tokens", "stop_sequence": null },
            "usage": { "input_tokens": 849, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2048, "output_tokens": 47 } }),
        json!({ "type": "message_stop" }),
    ];

    let (chunks, _) = run(&events);

    assert_eq!(chunks.len(), 3, "thinking deltas are not shown");
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "length");
    assert_eq!(
        chunks[2]["usage"],
        json!({ "prompt_tokens": 2897, "completion_tokens": 47, "total_tokens": 2944, "prompt_tokens_details": { "cached_tokens": 2048 } })
    );
}

#[test]
fn an_error_event_becomes_an_openai_error_object() {
    let (chunks, done) = run(&[
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }),
    ]);

    assert!(!done);
    assert_eq!(
        chunks,
        vec![
            json!({ "error": { "message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded" } })
        ]
    );
}
