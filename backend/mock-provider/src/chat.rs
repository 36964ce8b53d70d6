//! `POST /v1/chat/completions`: validates the request, decides the deterministic reply and its usage, and
//! answers either with one JSON body or (see [`crate::stream`]) with SSE.

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::Value;
use switchyard_types::{CompletionTokensDetails, PromptTokensDetails, Usage};

use crate::faults::RequestFaults;
use crate::reply::Reply;
use crate::{delivery, error, stream, tokens};

/// Reported in every response, as OpenAI does, so clients that read it find a value.
pub(crate) const SYSTEM_FINGERPRINT: &str = "fp_mock";

impl Reply {
    /// OpenAI's `finish_reason` for this reply.
    pub(crate) fn finish_reason(&self) -> &'static str {
        match self {
            Reply::Text(_) => "stop",
            Reply::ToolCall { .. } => "tool_calls",
        }
    }
}

/// Everything needed to render the response, owned so a stream can carry it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatPlan {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub reply: Reply,
    /// `None` when usage is disabled for this request.
    pub usage: Option<Usage>,
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
}

/// Answers one chat completion request whose body parsed as JSON.
pub(crate) async fn respond(
    body: &Value,
    faults: &RequestFaults,
    seq: u64,
    created: u64,
) -> HttpResponse {
    let plan = match plan(body, faults, seq, created) {
        Ok(plan) => plan,
        Err(invalid) => {
            return error::bad_request(invalid.message, Some(invalid.param), invalid.code);
        }
    };
    if plan.stream {
        return stream::sse_response(plan, faults);
    }
    delivery::json(completion_json(&plan), faults).await
}

/// Why a request was rejected; becomes a 400 `invalid_request_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidRequest {
    pub message: &'static str,
    pub param: &'static str,
    pub code: Option<&'static str>,
}

/// Validates the request and computes the reply.
pub(crate) fn plan(
    body: &Value,
    faults: &RequestFaults,
    seq: u64,
    created: u64,
) -> Result<ChatPlan, InvalidRequest> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let Some(model) = model else {
        return Err(InvalidRequest {
            message: "you must provide a model parameter",
            param: "model",
            code: None,
        });
    };
    let messages = match body.get("messages").and_then(Value::as_array) {
        Some(messages) if !messages.is_empty() => messages,
        Some(_) => {
            return Err(InvalidRequest {
                message: "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                param: "messages",
                code: Some("empty_array"),
            });
        }
        None => {
            return Err(InvalidRequest {
                message: "Missing required parameter: 'messages'.",
                param: "messages",
                code: Some("missing_required_parameter"),
            });
        }
    };

    // Tool-call ids are unique per completion, as providers' are, so a conversation's calls can be told apart;
    // with `x-mock-fixed-id` they are fixed too, so answers can be compared byte for byte.
    let tool_call_id = match &faults.fixed_id {
        Some(_) => "call_mock_0".to_owned(),
        None => format!("call_mock_{seq}"),
    };
    let reply = Reply::to(
        &last_user_text(messages),
        tool_to_call(body, messages),
        &tool_call_id,
    );
    let usage = (!faults.no_usage).then(|| usage(messages, &reply, faults));
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = faults
        .fixed_id
        .clone()
        .unwrap_or_else(|| format!("chatcmpl-mock-{seq}"));
    Ok(ChatPlan {
        id,
        created,
        model: model.to_owned(),
        reply,
        usage,
        stream,
        include_usage,
    })
}

/// The text of a message's `content`: a string, or the `text` parts of an array, joined by newlines.
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content")))
        .unwrap_or_default()
}

/// The tool the mock calls, if any: the one `tool_choice` names, else the first; none when tools are
/// absent, `tool_choice` is "none", or the last message already carries a tool result.
fn tool_to_call(request: &Value, messages: &[Value]) -> Option<String> {
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())?;
    let choice = request.get("tool_choice");
    if choice.and_then(Value::as_str) == Some("none") {
        return None;
    }
    let last_role = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str);
    if last_role == Some("tool") {
        return None;
    }
    let named = choice
        .and_then(|c| c.pointer("/function/name"))
        .and_then(Value::as_str);
    let first = tools
        .first()
        .and_then(|t| t.pointer("/function/name").or_else(|| t.get("name")));
    named
        .or_else(|| first.and_then(Value::as_str))
        .map(str::to_owned)
}

/// OpenAI-style counts: content and tool arguments of every message, plus the chat overhead.
fn usage(messages: &[Value], reply: &Reply, faults: &RequestFaults) -> Usage {
    let prompt = tokens::prompt(messages.iter().map(|m| {
        let calls = m.get("tool_calls").and_then(Value::as_array);
        let args: u64 = calls
            .into_iter()
            .flatten()
            .filter_map(|c| c.pointer("/function/arguments").and_then(Value::as_str))
            .map(tokens::count)
            .sum();
        tokens::count(&content_text(m.get("content"))) + args
    }));
    let completion = tokens::count(reply.streamed_text()) + faults.reasoning_tokens;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(faults.cached_tokens.min(prompt)),
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(faults.reasoning_tokens),
        }),
    }
}

#[derive(Serialize)]
struct CompletionView<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [ChoiceView<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Usage>,
}

#[derive(Serialize)]
struct ChoiceView<'a> {
    index: u32,
    message: MessageView<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct MessageView<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallView<'a>; 1]>,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct ToolCallView<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionView<'a>,
}

#[derive(Serialize)]
struct FunctionView<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// The non-streamed `chat.completion` body.
pub(crate) fn completion_json(plan: &ChatPlan) -> Vec<u8> {
    let (content, tool_calls) = match &plan.reply {
        Reply::Text(text) => (Some(text.as_str()), None),
        Reply::ToolCall {
            id,
            name,
            arguments,
        } => (
            None,
            Some([ToolCallView {
                id,
                kind: "function",
                function: FunctionView { name, arguments },
            }]),
        ),
    };
    let view = CompletionView {
        id: &plan.id,
        object: "chat.completion",
        created: plan.created,
        model: &plan.model,
        system_fingerprint: SYSTEM_FINGERPRINT,
        choices: [ChoiceView {
            index: 0,
            message: MessageView {
                role: "assistant",
                content,
                tool_calls,
                refusal: None,
            },
            logprobs: None,
            finish_reason: plan.reply.finish_reason(),
        }],
        usage: plan.usage.as_ref(),
    };
    // Serialising borrowed strings and integers into a Vec cannot fail.
    serde_json::to_vec(&view).unwrap_or_default()
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
