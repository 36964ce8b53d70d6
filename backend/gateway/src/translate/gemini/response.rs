//! A Gemini generateContent answer turned into an OpenAI chat completion, with the finish reasons and usage the
//! stream shares.

use crate::translate::common::{object, tool_id_with_signature};
use crate::translate::{ResponseContext, TranslateError};
use serde_json::{Value, json};
use switchyard_types::{CompletionTokensDetails, PromptTokensDetails, Usage};

/// Gemini's `finishReason` as OpenAI's `finish_reason`. Gemini ends a turn with function calls as `STOP`;
/// OpenAI says `tool_calls`, hence `has_tool_calls`. Every block for safety, recitation, blocklists, prohibited
/// content or personal data is `content_filter`; malformed or unexpected tool calls, `LANGUAGE` and `OTHER` have
/// no OpenAI equivalent and end as `stop`.
pub fn gemini_finish_reason_to_openai(reason: &str, has_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// Gemini's `usageMetadata` in OpenAI's terms. `promptTokenCount` already includes the cached tokens
/// (`cachedContentTokenCount`, reported as `cached_tokens`); tool-use prompt tokens are input too.
/// `candidatesTokenCount` excludes the thinking tokens, which OpenAI bills inside `completion_tokens`: they are
/// added there and repeated as `reasoning_tokens`.
pub fn gemini_usage_to_openai(usage: &Value) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = count("thoughtsTokenCount");
    let prompt = count("promptTokenCount") + count("toolUsePromptTokenCount");
    let completion = count("candidatesTokenCount") + thoughts;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(count("cachedContentTokenCount")),
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(thoughts),
        }),
    }
}

/// What one candidate (or one streamed piece of it) says, in OpenAI's terms.
pub(super) struct CandidateContent {
    pub text: String,
    pub tool_calls: Vec<Value>,
}

/// Reads a candidate's parts. Thought parts (`thought: true`) are hidden reasoning and left out. Each
/// `functionCall` gets the id Gemini gave it or `call_<base>_<candidate>_<n>`, carrying its thought signature;
/// `next_call` numbers the calls of the candidate across stream chunks.
pub(super) fn candidate_content(
    candidate: &Value,
    param: &str,
    base: &str,
    next_call: &mut usize,
) -> Result<CandidateContent, TranslateError> {
    let index = candidate.get("index").and_then(Value::as_u64).unwrap_or(0);
    let mut content = CandidateContent {
        text: String::new(),
        tool_calls: Vec::new(),
    };
    let parts = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (k, part) in parts.iter().enumerate() {
        let part_param = format!("{param}.content.parts[{k}]");
        let part = object(part, &part_param)?;
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            content.text.push_str(text);
        } else if let Some(call) = part.get("functionCall") {
            let name = call.get("name").and_then(Value::as_str).ok_or_else(|| {
                TranslateError::new(&part_param, "a function call without a name")
            })?;
            let base_id = match call.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => format!("call_{base}_{index}_{next_call}"),
            };
            let signature = part.get("thoughtSignature").and_then(Value::as_str);
            let arguments = call.get("args").cloned().unwrap_or_else(|| json!({}));
            content.tool_calls.push(json!({
                "index": *next_call,
                "id": tool_id_with_signature(&base_id, signature),
                "type": "function",
                "function": { "name": name, "arguments": arguments.to_string() },
            }));
            *next_call += 1;
        } else {
            return Err(TranslateError::new(
                &part_param,
                format!(
                    "the provider answered with a `{part_param}` that has no OpenAI equivalent"
                ),
            ));
        }
    }
    Ok(content)
}

/// Translates a Gemini answer into a chat completion: one choice per candidate (`n` maps to
/// `candidateCount`), text parts concatenated, function calls as `tool_calls`. A prompt blocked before any
/// candidate (`promptFeedback.blockReason`) is one empty choice ending in `content_filter`. The id is Gemini's
/// `responseId` (or `chatcmpl-<request id>`), the model its `modelVersion` (or `ctx.model`).
pub fn gemini_response_to_openai(
    response: &Value,
    ctx: &ResponseContext,
) -> Result<Value, TranslateError> {
    let resp = object(response, "response")?;
    let response_id = resp.get("responseId").and_then(Value::as_str);
    let base = response_id.unwrap_or(&ctx.request_id);
    let mut choices = Vec::new();
    let candidates = resp
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (c, candidate) in candidates.iter().enumerate() {
        let param = format!("candidates[{c}]");
        let mut next_call = 0;
        let content = candidate_content(candidate, &param, base, &mut next_call)?;
        let has_calls = !content.tool_calls.is_empty();
        let finish_reason = candidate
            .get("finishReason")
            .and_then(Value::as_str)
            .map(|reason| gemini_finish_reason_to_openai(reason, has_calls));
        let mut message = json!({ "role": "assistant", "content": content.text, "refusal": null });
        if has_calls {
            if content.text.is_empty() {
                message["content"] = Value::Null;
            }
            let calls = content
                .tool_calls
                .into_iter()
                .map(|mut call| {
                    if let Some(call) = call.as_object_mut() {
                        call.remove("index");
                    }
                    call
                })
                .collect();
            message["tool_calls"] = Value::Array(calls);
        }
        choices.push(json!({
            "index": candidate.get("index").and_then(Value::as_u64).unwrap_or(c as u64),
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason,
        }));
    }
    if choices.is_empty() && response.pointer("/promptFeedback/blockReason").is_some() {
        choices.push(json!({
            "index": 0,
            "message": { "role": "assistant", "content": "", "refusal": null },
            "logprobs": null,
            "finish_reason": "content_filter",
        }));
    }
    let usage = gemini_usage_to_openai(resp.get("usageMetadata").unwrap_or(&Value::Null));
    Ok(json!({
        "id": response_id.map_or_else(|| format!("chatcmpl-{}", ctx.request_id), str::to_owned),
        "object": "chat.completion",
        "created": ctx.created,
        "model": resp.get("modelVersion").and_then(Value::as_str).unwrap_or(&ctx.model),
        "choices": choices,
        "usage": usage,
    }))
}
