//! Gemini stream chunks → OpenAI chunks.

use super::ctx;
use crate::translate::{GeminiStreamToOpenAi, gemini_response_to_openai};
use serde_json::{Value, json};

fn piece(parts: Value, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
    if let Some(reason) = finish {
        candidate["finishReason"] = json!(reason);
    }
    json!({ "candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash", "responseId": "7Tf2aKq0" })
}

fn run(chunks: &[Value]) -> Vec<Value> {
    let mut stream = GeminiStreamToOpenAi::new(ctx());
    let mut out: Vec<Value> = chunks.iter().flat_map(|c| stream.push(c)).collect();
    out.extend(stream.finish());
    out.extend(stream.finish());
    out
}

#[test]
fn text_pieces_become_content_deltas_then_finish_then_the_last_usage() {
    let early = json!({ "promptTokenCount": 9, "totalTokenCount": 9 });
    let last = json!({ "promptTokenCount": 9, "candidatesTokenCount": 12, "thoughtsTokenCount": 19, "totalTokenCount": 40 });
    let chunks = [
        piece(json!([{ "text": "The" }]), None, early.clone()),
        piece(json!([{ "text": " quick brown fox" }]), None, early),
        piece(json!([{ "text": " jumps." }]), Some("STOP"), last),
    ];

    let out = run(&chunks);

    assert_eq!(out.len(), 6);
    assert_eq!(
        out[0],
        json!({ "id": "7Tf2aKq0", "object": "chat.completion.chunk", "created": 1_767_225_600, "model": "gemini-2.5-flash",
            "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "" }, "logprobs": null, "finish_reason": null }] })
    );
    let deltas: Vec<Value> = out[1..4]
        .iter()
        .map(|c| c["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        deltas,
        vec![
            json!({ "content": "The" }),
            json!({ "content": " quick brown fox" }),
            json!({ "content": " jumps." })
        ]
    );
    assert_eq!(
        out[4]["choices"][0],
        json!({ "index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop" })
    );
    assert_eq!(out[5]["choices"], json!([]));
    assert_eq!(
        out[5]["usage"],
        json!({ "prompt_tokens": 9, "completion_tokens": 31, "total_tokens": 40,
            "prompt_tokens_details": { "cached_tokens": 0 }, "completion_tokens_details": { "reasoning_tokens": 19 } })
    );
}

#[test]
fn a_streamed_function_call_is_one_delta_with_the_same_id_as_the_non_streamed_answer() {
    let parts = json!([
        { "functionCall": { "name": "get_weather", "args": { "location": "Boston, MA" } }, "thoughtSignature": "EuYBCuMBAb4+9vs=" },
        { "functionCall": { "name": "get_time", "args": {} } },
    ]);
    let usage =
        json!({ "promptTokenCount": 70, "candidatesTokenCount": 15, "totalTokenCount": 85 });
    let whole = piece(parts.clone(), Some("STOP"), usage.clone());
    let chunks = [
        piece(
            json!([{ "text": "Checking." }]),
            None,
            json!({ "promptTokenCount": 70, "totalTokenCount": 70 }),
        ),
        piece(parts, Some("STOP"), usage),
    ];

    let out = run(&chunks);
    let expected = gemini_response_to_openai(&whole, &ctx()).unwrap();
    let expected_calls = expected["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap();

    let calls = out[2]["choices"][0]["delta"]["tool_calls"]
        .as_array()
        .unwrap();
    assert_eq!(calls.len(), 2);
    for (k, call) in calls.iter().enumerate() {
        assert_eq!(call["index"], k);
        assert_eq!(call["id"], expected_calls[k]["id"]);
        assert_eq!(call["function"], expected_calls[k]["function"]);
        assert_eq!(call["type"], "function");
    }
    assert_eq!(out[3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(out[4]["usage"]["total_tokens"], 85);
}

#[test]
fn a_blocked_prompt_and_an_error_chunk_are_translated() {
    let out = run(&[
        json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" },
        "usageMetadata": { "promptTokenCount": 5, "totalTokenCount": 5 }, "responseId": "b1" }),
    ]);
    assert_eq!(out[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(out[1]["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(out[2]["usage"]["prompt_tokens"], 5);

    let out = run(&[
        json!({ "error": { "code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE" } }),
    ]);
    assert_eq!(
        out,
        vec![
            json!({ "error": { "message": "The model is overloaded. Please try again later.", "type": "server_error",
            "param": null, "code": "unavailable" } })
        ]
    );
}
