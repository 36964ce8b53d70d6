//! Gemini answer → OpenAI chat completion, finish reasons, usage and the signed tool-call ids.

use super::{ctx, parsed};
use crate::translate::common::{signature_from_tool_id, tool_id_with_signature};
use crate::translate::{
    gemini_finish_reason_to_openai, gemini_response_to_openai, gemini_usage_to_openai,
};
use serde_json::json;

#[test]
fn a_text_answer_becomes_a_chat_completion_with_thinking_in_completion_tokens() {
    let response = json!({
        "candidates": [{
            "content": { "parts": [
                { "text": "**Thinking about the question**", "thought": true },
                { "text": "AI learns patterns from data" },
                { "text": " to make predictions." },
            ], "role": "model" },
            "finishReason": "STOP", "index": 0,
        }],
        "usageMetadata": { "promptTokenCount": 8, "candidatesTokenCount": 12, "totalTokenCount": 1046,
            "thoughtsTokenCount": 1026, "cachedContentTokenCount": 4,
            "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": 8 }] },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mDz1aP6zO4-yz7IPmIS_kQk",
    });

    let out = gemini_response_to_openai(&response, &ctx()).unwrap();

    assert_eq!(
        out,
        json!({
            "id": "mDz1aP6zO4-yz7IPmIS_kQk",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": "gemini-2.5-flash",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": "AI learns patterns from data to make predictions.", "refusal": null },
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": 8, "completion_tokens": 1038, "total_tokens": 1046,
                "prompt_tokens_details": { "cached_tokens": 4 },
                "completion_tokens_details": { "reasoning_tokens": 1026 },
            },
        })
    );
}

#[test]
fn parallel_function_calls_get_stable_ids_and_the_first_keeps_its_thought_signature() {
    let response = json!({
        "candidates": [{
            "content": { "role": "model", "parts": [
                { "functionCall": { "name": "schedule_meeting",
                    "args": { "attendees": ["Bob", "Alice"], "date": "2025-03-27", "time": "10:00", "topic": "Q3 planning" } },
                  "thoughtSignature": "CiIBVKhc7oDPpCaXyJKKssjqr4g2JNOSgJ/M2V+Jv2gW" },
                { "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } },
            ]},
            "finishReason": "STOP", "index": 0,
        }],
        "usageMetadata": { "promptTokenCount": 120, "candidatesTokenCount": 40, "totalTokenCount": 160 },
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "r1",
    });

    let out = gemini_response_to_openai(&response, &ctx()).unwrap();
    let again = gemini_response_to_openai(&response, &ctx()).unwrap();

    assert_eq!(out, again, "ids are stable");
    let message = &out["choices"][0]["message"];
    assert_eq!(message["content"], json!(null));
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    let calls = message["tool_calls"].as_array().unwrap();
    assert_eq!(
        calls[0]["id"],
        "call_r1_0_0__thought__CiIBVKhc7oDPpCaXyJKKssjqr4g2JNOSgJ_M2V-Jv2gW"
    );
    assert_eq!(
        signature_from_tool_id(calls[0]["id"].as_str().unwrap()).as_deref(),
        Some("CiIBVKhc7oDPpCaXyJKKssjqr4g2JNOSgJ/M2V+Jv2gW")
    );
    assert_eq!(calls[0]["function"]["name"], "schedule_meeting");
    assert_eq!(
        parsed(&calls[0]["function"]["arguments"])["attendees"],
        json!(["Bob", "Alice"])
    );
    assert_eq!(
        calls[1],
        json!({ "id": "call_r1_0_1", "type": "function",
        "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } })
    );
    assert!(calls[0].get("index").is_none());
}

#[test]
fn signatures_round_trip_through_ids_that_anthropic_would_accept() {
    for signature in [
        "CiIBVKhc7oDPpCaXyJKKssjqr4g2JNOSgJ/M2V+Jv2gW",
        "ab+/",
        "abc=",
        "ab==",
        "a",
    ] {
        let id = tool_id_with_signature("call_x_0_0", Some(signature));
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{id}"
        );
        let back = signature_from_tool_id(&id).unwrap();
        assert_eq!(back.trim_end_matches('='), signature.trim_end_matches('='));
        assert_eq!(back.len() % 4, 0);
    }
    assert_eq!(tool_id_with_signature("call_1", None), "call_1");
    assert_eq!(signature_from_tool_id("call_1"), None);
}

#[test]
fn several_candidates_become_several_choices() {
    let response = json!({
        "candidates": [
            { "content": { "role": "model", "parts": [{ "text": "One" }] }, "finishReason": "STOP", "index": 0 },
            { "content": { "role": "model", "parts": [{ "text": "Two" }] }, "finishReason": "MAX_TOKENS", "index": 1 },
        ],
        "usageMetadata": { "promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5 },
    });

    let out = gemini_response_to_openai(&response, &ctx()).unwrap();

    assert_eq!(out["id"], "chatcmpl-0198c0de-0000-7000-8000-000000000001");
    assert_eq!(out["model"], "upstream-model");
    assert_eq!(out["choices"][1]["index"], 1);
    assert_eq!(out["choices"][1]["message"]["content"], "Two");
    assert_eq!(out["choices"][1]["finish_reason"], "length");
}

#[test]
fn safety_stops_and_blocked_prompts_are_content_filter() {
    let response = json!({
        "candidates": [{ "content": { "role": "model", "parts": [] }, "finishReason": "SAFETY", "index": 0,
            "safetyRatings": [{ "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true }] }],
        "usageMetadata": { "promptTokenCount": 9, "totalTokenCount": 9 },
    });
    let out = gemini_response_to_openai(&response, &ctx()).unwrap();
    assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(out["choices"][0]["message"]["content"], "");

    let blocked = json!({
        "promptFeedback": { "blockReason": "SAFETY", "safetyRatings": [] },
        "usageMetadata": { "promptTokenCount": 9, "totalTokenCount": 9 },
    });
    let out = gemini_response_to_openai(&blocked, &ctx()).unwrap();
    assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(out["usage"]["prompt_tokens"], 9);
}

#[test]
fn a_part_with_no_openai_equivalent_is_an_error_naming_it() {
    let response = json!({ "candidates": [{ "index": 0, "finishReason": "STOP", "content": { "role": "model", "parts": [
        { "executableCode": { "language": "PYTHON", "code": "print(1)" } },
    ]}}]});

    let error = gemini_response_to_openai(&response, &ctx()).unwrap_err();

    assert_eq!(error.param, "candidates[0].content.parts[0]");
}

#[test]
fn finish_reasons_and_tool_use_prompt_tokens_are_mapped() {
    for (gemini, with_calls, openai) in [
        ("STOP", false, "stop"),
        ("STOP", true, "tool_calls"),
        ("MAX_TOKENS", true, "length"),
        ("SAFETY", false, "content_filter"),
        ("RECITATION", false, "content_filter"),
        ("BLOCKLIST", false, "content_filter"),
        ("PROHIBITED_CONTENT", false, "content_filter"),
        ("SPII", false, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", false, "stop"),
        ("OTHER", false, "stop"),
    ] {
        assert_eq!(
            gemini_finish_reason_to_openai(gemini, with_calls),
            openai,
            "{gemini}"
        );
    }
    let usage = gemini_usage_to_openai(
        &json!({ "promptTokenCount": 100, "toolUsePromptTokenCount": 20,
        "candidatesTokenCount": 10, "thoughtsTokenCount": 5, "totalTokenCount": 135 }),
    );
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (120, 15, 135)
    );
    assert_eq!((usage.cached_tokens(), usage.reasoning_tokens()), (0, 5));
}
