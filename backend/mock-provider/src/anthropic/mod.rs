//! Anthropic's Messages API, `POST /v1/messages`: the same deterministic replies as the OpenAI side, as
//! a `message` object or (with `stream: true`) as Anthropic's SSE event sequence, with `max_tokens` and
//! `stop_sequences` honoured and usage split the way Anthropic splits it (cache reads and writes apart
//! from `input_tokens`).

pub(crate) mod error;
mod request;
mod stream;

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::Value;

use crate::delivery;
use crate::faults::RequestFaults;
use crate::reply::{Completion, Reply, Stop};

/// Everything needed to render the answer, owned so a stream can carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MessagePlan {
    id: String,
    model: String,
    completion: Completion,
    /// `None` when usage is disabled for this request.
    usage: Option<UsageView>,
}

impl MessagePlan {
    fn stop_reason(&self) -> &'static str {
        match (&self.completion.stop, &self.completion.reply) {
            (Stop::MaxTokens, _) => "max_tokens",
            (Stop::Sequence(_), _) => "stop_sequence",
            (Stop::Finished, Reply::ToolCall { .. }) => "tool_use",
            (Stop::Finished, Reply::Text(_)) => "end_turn",
        }
    }

    fn stop_sequence(&self) -> Option<&str> {
        match &self.completion.stop {
            Stop::Sequence(sequence) => Some(sequence),
            _ => None,
        }
    }

    /// The message object: whole when `content` is given, as `message_start` sends it otherwise.
    fn view<'a>(&'a self, content: Vec<ContentView<'a>>, finished: bool) -> MessageView<'a> {
        let usage = self.usage.map(|usage| {
            if finished {
                usage
            } else {
                // Anthropic's `message_start` reports the output counted so far, at most one token.
                UsageView {
                    output_tokens: usage.output_tokens.min(1),
                    ..usage
                }
            }
        });
        MessageView {
            id: &self.id,
            kind: "message",
            role: "assistant",
            model: &self.model,
            content,
            stop_reason: finished.then(|| self.stop_reason()),
            stop_sequence: self.stop_sequence().filter(|_| finished),
            usage,
        }
    }

    /// The reply as one content block; `complete` false gives the empty block `content_block_start` sends.
    fn block(&self, complete: bool) -> ContentView<'_> {
        match &self.completion.reply {
            Reply::Text(text) => ContentView::Text {
                text: if complete { text } else { "" },
            },
            Reply::ToolCall {
                id,
                name,
                arguments,
            } => ContentView::ToolUse {
                id,
                name,
                input: if complete {
                    serde_json::from_str(arguments).unwrap_or_default()
                } else {
                    Value::Object(serde_json::Map::new())
                },
            },
        }
    }
}

#[derive(Serialize)]
struct MessageView<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<ContentView<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageView>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentView<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

/// Anthropic's usage: the prompt is `input_tokens + cache_creation_input_tokens +
/// cache_read_input_tokens`; reasoning is inside `output_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct UsageView {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

impl UsageView {
    fn new(prompt_tokens: u64, completion: &Completion, faults: &RequestFaults) -> Self {
        let read = faults.cached_tokens.min(prompt_tokens);
        let created = faults.cache_creation_tokens.min(prompt_tokens - read);
        Self {
            input_tokens: prompt_tokens - read - created,
            cache_creation_input_tokens: created,
            cache_read_input_tokens: read,
            output_tokens: completion.output_tokens(),
        }
    }
}

/// Answers one Messages request whose body parsed as JSON.
pub(crate) async fn respond(body: &Value, faults: &RequestFaults, seq: u64) -> HttpResponse {
    let request = match request::parse(body) {
        Ok(request) => request,
        Err(message) => return error::invalid_request(&message),
    };
    let reply = Reply::to(&request.user_text, request.tool, "toolu_mock_0");
    let completion = Completion::new(reply, &request.limits, faults.reasoning_tokens);
    let usage =
        (!faults.no_usage).then(|| UsageView::new(request.prompt_tokens, &completion, faults));
    let plan = MessagePlan {
        id: faults
            .fixed_id
            .clone()
            .unwrap_or_else(|| format!("msg_mock_{seq}")),
        model: request.model,
        completion,
        usage,
    };
    if request.stream {
        return stream::sse_response(plan, faults);
    }
    // Serialising borrowed strings and integers into a Vec cannot fail.
    let json = serde_json::to_vec(&plan.view(vec![plan.block(true)], true)).unwrap_or_default();
    delivery::json(json, faults).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MockConfig;
    use crate::reply::Limits;

    fn plan(reply: Reply, limits: &Limits) -> MessagePlan {
        let faults = RequestFaults {
            cached_tokens: 4,
            cache_creation_tokens: 100,
            ..RequestFaults::from_config(&MockConfig::default())
        };
        let completion = Completion::new(reply, limits, 0);
        MessagePlan {
            id: "msg_mock_1".into(),
            model: "claude".into(),
            usage: Some(UsageView::new(10, &completion, &faults)),
            completion,
        }
    }

    #[test]
    fn message_json_has_anthropic_shape() {
        let plan = plan(Reply::Text("Mock reply: hi".into()), &Limits::default());
        let json =
            serde_json::to_value(plan.view(vec![plan.block(true)], true)).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"id": "msg_mock_1", "type": "message", "role": "assistant",
                "model": "claude", "content": [{"type": "text", "text": "Mock reply: hi"}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 0, "cache_creation_input_tokens": 6,
                    "cache_read_input_tokens": 4, "output_tokens": 4}})
        );
    }

    #[test]
    fn stop_reasons_follow_the_completion() {
        let call = Reply::to("x", Some("f".into()), "toolu_mock_0");
        assert_eq!(plan(call, &Limits::default()).stop_reason(), "tool_use");
        let limits = Limits {
            max_tokens: Some(100),
            stop_sequences: vec!["reply".into()],
        };
        let cut = plan(Reply::Text("Mock reply: x".into()), &limits);
        assert_eq!(
            (cut.stop_reason(), cut.stop_sequence()),
            ("stop_sequence", Some("reply"))
        );
        let short = plan(
            Reply::Text("Mock reply: x".into()),
            &Limits {
                max_tokens: Some(1),
                ..Limits::default()
            },
        );
        assert_eq!(short.stop_reason(), "max_tokens");
    }
}
