//! OpenAI chunks → Anthropic stream events.

use super::ctx;
use crate::translate::{OpenAiStreamToAnthropic, SseEvent};
use serde_json::{Value, json};

fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({
        "id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_694_268_190,
        "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_44709d6fcb",
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
    })
}

fn translate(chunks: &[Value]) -> Vec<SseEvent> {
    let mut stream = OpenAiStreamToAnthropic::new(ctx());
    let mut events: Vec<SseEvent> = chunks.iter().flat_map(|c| stream.push(c)).collect();
    events.extend(stream.finish());
    events.extend(stream.finish());
    events
}

fn names(events: &[SseEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event).collect()
}

#[test]
fn text_and_two_tool_calls_become_blocks_with_consecutive_indexes() {
    let chunks = [
        chunk(json!({ "role": "assistant", "content": "" }), json!(null)),
        chunk(json!({ "content": "Let me" }), json!(null)),
        chunk(json!({ "content": " check." }), json!(null)),
        chunk(
            json!({ "tool_calls": [{ "index": 0, "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "type": "function",
            "function": { "name": "get_weather", "arguments": "" } }] }),
            json!(null),
        ),
        chunk(
            json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"location\":" } }] }),
            json!(null),
        ),
        chunk(
            json!({ "tool_calls": [{ "index": 0, "function": { "arguments": " \"Paris\"}" } }] }),
            json!(null),
        ),
        chunk(
            json!({ "tool_calls": [{ "index": 1, "id": "call_2", "type": "function",
            "function": { "name": "get_time", "arguments": "{}" } }] }),
            json!(null),
        ),
        chunk(json!({}), json!("tool_calls")),
        json!({ "id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_694_268_190, "model": "gpt-4o-mini-2024-07-18",
            "choices": [], "usage": { "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
            "prompt_tokens_details": { "cached_tokens": 100 } } }),
    ];

    let events = translate(&chunks);

    assert_eq!(
        names(&events),
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let data: Vec<&Value> = events.iter().map(|e| &e.data).collect();
    assert_eq!(
        *data[0],
        json!({ "type": "message_start", "message": { "id": "chatcmpl-123", "type": "message", "role": "assistant",
            "model": "gpt-4o-mini-2024-07-18", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 0, "output_tokens": 0 } } })
    );
    assert_eq!(
        *data[1],
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })
    );
    assert_eq!(
        *data[2],
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Let me" } })
    );
    assert_eq!(data[3]["delta"]["text"], " check.");
    assert_eq!(
        *data[4],
        json!({ "type": "content_block_stop", "index": 0 })
    );
    assert_eq!(
        *data[5],
        json!({ "type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "name": "get_weather", "input": {} } })
    );
    assert_eq!(
        *data[6],
        json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"location\":" } })
    );
    assert_eq!(data[7]["delta"]["partial_json"], " \"Paris\"}");
    assert_eq!(
        *data[8],
        json!({ "type": "content_block_stop", "index": 1 })
    );
    assert_eq!(data[9]["index"], 2);
    assert_eq!(data[9]["content_block"]["name"], "get_time");
    assert_eq!(
        *data[10],
        json!({ "type": "content_block_delta", "index": 2, "delta": { "type": "input_json_delta", "partial_json": "{}" } })
    );
    assert_eq!(
        *data[11],
        json!({ "type": "content_block_stop", "index": 2 })
    );
    assert_eq!(
        *data[12],
        json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null },
            "usage": { "input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 30 } })
    );
    assert_eq!(*data[13], json!({ "type": "message_stop" }));
}

#[test]
fn a_stream_ended_by_length_without_usage_still_closes_the_message() {
    let events = translate(&[
        chunk(
            json!({ "role": "assistant", "content": "Once upon" }),
            json!(null),
        ),
        chunk(json!({}), json!("length")),
    ]);

    assert_eq!(
        names(&events),
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[4].data["delta"]["stop_reason"], "max_tokens");
    assert_eq!(events[4].data["usage"]["output_tokens"], 0);
}

#[test]
fn an_empty_stream_still_has_a_start_and_an_end() {
    let events = translate(&[]);

    assert_eq!(
        names(&events),
        vec!["message_start", "message_delta", "message_stop"]
    );
    assert_eq!(
        events[0].data["message"]["id"],
        "0198c0de-0000-7000-8000-000000000001"
    );
    assert_eq!(events[0].data["message"]["model"], "upstream-model");
    assert_eq!(events[1].data["delta"]["stop_reason"], "end_turn");
}

#[test]
fn an_openai_error_in_the_stream_becomes_an_error_event_and_ends_it() {
    let mut stream = OpenAiStreamToAnthropic::new(ctx());
    let mut events = stream.push(&chunk(json!({ "content": "Hi" }), json!(null)));
    events.extend(stream.push(
        &json!({ "error": { "message": "the provider's stream broke off", "type": "server_error",
        "param": null, "code": "upstream_error" } }),
    ));
    events.extend(stream.finish());

    assert_eq!(
        names(&events),
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        events[3].data,
        json!({ "type": "error", "error": { "type": "api_error", "message": "the provider's stream broke off" } })
    );
    let framed = events[3].to_sse();
    let data = framed
        .strip_prefix("event: error\ndata: ")
        .and_then(|rest| rest.strip_suffix("\n\n"));
    assert_eq!(
        serde_json::from_str::<Value>(data.unwrap()).unwrap(),
        events[3].data
    );
}
