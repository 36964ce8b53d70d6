//! Responses both ways: an Anthropic message turned into an OpenAI chat completion (OpenAI clients calling
//! Claude) and an OpenAI chat completion turned into an Anthropic message (Anthropic-SDK clients), with the stop
//! reasons and usage both directions share.

use crate::translate::common::{arguments_object, array, object, path, string};
use crate::translate::{ResponseContext, TranslateError};
use serde_json::{Value, json};
use switchyard_types::{PromptTokensDetails, Usage};

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`. `pause_turn` only happens with server tools, which the
/// translation never sends; `model_context_window_exceeded` is a length stop like `max_tokens`.
pub fn anthropic_stop_reason_to_openai(reason: &str) -> &'static str {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and reasons added later.
        _ => "stop",
    }
}

/// OpenAI's `finish_reason` as Anthropic's `stop_reason`. OpenAI does not say whether `stop` came from a stop
/// sequence, so it is always `end_turn`.
pub fn openai_finish_reason_to_anthropic(reason: &str) -> &'static str {
    match reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic usage in OpenAI's terms. Anthropic counts cache reads and cache writes apart from `input_tokens`;
/// OpenAI's `prompt_tokens` includes every input token, with the cache reads repeated as `cached_tokens`. Cache
/// writes have no OpenAI field: they are plain prompt tokens there.
pub fn anthropic_usage_to_openai(usage: &Value) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = count("cache_read_input_tokens");
    let prompt = count("input_tokens") + cache_read + count("cache_creation_input_tokens");
    let completion = count("output_tokens");
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(cache_read),
        }),
        completion_tokens_details: None,
    }
}

/// OpenAI usage in Anthropic's terms: `input_tokens` excludes the cached part, reported as
/// `cache_read_input_tokens`. OpenAI-format providers report no cache writes.
pub fn openai_usage_to_anthropic(usage: &Value) -> Value {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let cached = usage
        .pointer("/prompt_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({
        "input_tokens": count("prompt_tokens").saturating_sub(cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": count("completion_tokens"),
    })
}

/// Translates Claude's answer into a chat completion with one choice. Text blocks are concatenated; `tool_use`
/// blocks become `tool_calls`; `thinking` and `redacted_thinking` blocks (hidden reasoning, already counted in
/// the output tokens) are left out. Any other block is an error: the translation never asks for server tools.
pub fn anthropic_response_to_openai(
    response: &Value,
    ctx: &ResponseContext,
) -> Result<Value, TranslateError> {
    let msg = object(response, "response")?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for (i, block) in array(msg.get("content").unwrap_or(&Value::Null), "content")?
        .iter()
        .enumerate()
    {
        let param = format!("content[{i}]");
        let block = object(block, &param)?;
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(string(block, "text", &param)?),
            Some("tool_use") => calls.push(json!({
                "id": string(block, "id", &param)?,
                "type": "function",
                "function": {
                    "name": string(block, "name", &param)?,
                    "arguments": block.get("input").cloned().unwrap_or_else(|| json!({})).to_string(),
                },
            })),
            Some("thinking" | "redacted_thinking") => {}
            _ => {
                return Err(TranslateError::new(
                    &param,
                    format!("the provider answered with a `{param}` block that has no OpenAI equivalent"),
                ));
            }
        }
    }
    let mut message = json!({ "role": "assistant", "content": text, "refusal": null });
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
    }
    let finish_reason = msg
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(anthropic_stop_reason_to_openai);
    let usage = anthropic_usage_to_openai(msg.get("usage").unwrap_or(&Value::Null));
    Ok(json!({
        "id": string(msg, "id", "")?,
        "object": "chat.completion",
        "created": ctx.created,
        "model": msg.get("model").and_then(Value::as_str).unwrap_or(&ctx.model),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": usage,
    }))
}

/// Translates an OpenAI chat completion into an Anthropic message (first choice only: an Anthropic request never
/// asks for more). Text (and a `refusal`) becomes a text block, tool calls become `tool_use` blocks with their
/// arguments parsed; `finish_reason` and usage are mapped with [`openai_finish_reason_to_anthropic`] and
/// [`openai_usage_to_anthropic`]. The id and model are the provider's.
pub fn openai_response_to_anthropic(response: &Value) -> Result<Value, TranslateError> {
    let resp = object(response, "response")?;
    let choice = array(resp.get("choices").unwrap_or(&Value::Null), "choices")?
        .first()
        .ok_or_else(|| TranslateError::new("choices", "the provider answered without a choice"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    for key in ["content", "refusal"] {
        if let Some(text) = message
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            content.push(json!({ "type": "text", "text": text }));
        }
    }
    if let Some(calls) = message.get("tool_calls").filter(|v| !v.is_null()) {
        for (k, call) in array(calls, "choices[0].message.tool_calls")?
            .iter()
            .enumerate()
        {
            let param = format!("choices[0].message.tool_calls[{k}]");
            let call = object(call, &param)?;
            let function_param = path(&param, "function");
            let function = object(
                call.get("function").unwrap_or(&Value::Null),
                &function_param,
            )?;
            content.push(json!({
                "type": "tool_use",
                "id": string(call, "id", &param)?,
                "name": string(function, "name", &function_param)?,
                "input": arguments_object(function.get("arguments"), &path(&function_param, "arguments"))?,
            }));
        }
    }
    let stop_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map_or("end_turn", openai_finish_reason_to_anthropic);
    Ok(json!({
        "id": resp.get("id").cloned().unwrap_or(Value::Null),
        "type": "message",
        "role": "assistant",
        "model": resp.get("model").cloned().unwrap_or(Value::Null),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": openai_usage_to_anthropic(resp.get("usage").unwrap_or(&Value::Null)),
    }))
}
