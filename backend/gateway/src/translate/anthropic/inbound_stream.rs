//! OpenAI `chat.completion.chunk`s turned into Anthropic's event stream, for Anthropic-SDK clients.

use super::response::{openai_finish_reason_to_anthropic, openai_usage_to_anthropic};
use crate::translate::errors::openai_stream_error_to_anthropic;
use crate::translate::{ResponseContext, SseEvent};
use serde_json::{Value, json};

/// The content block currently open, by its Anthropic index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u64),
    Tool(u64),
}

/// Reads OpenAI chunks one at a time (first choice only) and emits Anthropic events with consistent block
/// indexes: `message_start` on the first chunk; a text block for a run of `content` deltas; one `tool_use` block
/// per tool call, opened by the delta that carries its id and name, fed `input_json_delta`s from its `arguments`
/// deltas; each block stopped when the next starts. [`finish`](Self::finish), called at `[DONE]` or the end of
/// the stream, stops the last block and sends `message_delta` (stop reason and the usage of OpenAI's usage
/// chunk, input tokens included, which Anthropic's SDK reads there) and `message_stop`.
///
/// Not covered: a provider that interleaves the argument deltas of parallel tool calls; a delta for a tool call
/// whose block was already stopped is still sent with that block's index (Anthropic's SDK accumulates by index).
#[derive(Debug)]
pub struct OpenAiStreamToAnthropic {
    ctx: ResponseContext,
    started: bool,
    finished: bool,
    next_index: u64,
    open: Option<Open>,
    /// (OpenAI tool-call index, Anthropic block index) for each tool call seen.
    tool_blocks: Vec<(u64, u64)>,
    finish_reason: Option<String>,
    usage: Value,
}

impl OpenAiStreamToAnthropic {
    /// A translator for one stream; `ctx` names the message until the first chunk gives the provider's id and
    /// model.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            started: false,
            finished: false,
            next_index: 0,
            open: None,
            tool_blocks: Vec::new(),
            finish_reason: None,
            usage: Value::Null,
        }
    }

    /// Translates one chunk (the JSON of a `data:` line other than `[DONE]`). An OpenAI error object becomes
    /// Anthropic's `error` event and ends the translation.
    pub fn push(&mut self, chunk: &Value) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if self.finished {
            return events;
        }
        if let Some(error) = chunk.get("error").filter(|e| e.is_object()) {
            self.finished = true;
            events.push(SseEvent {
                event: "error",
                data: openai_stream_error_to_anthropic(error),
            });
            return events;
        }
        self.start(chunk, &mut events);
        if chunk.get("usage").is_some_and(Value::is_object) {
            self.usage = chunk["usage"].clone();
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        let first = choices.and_then(|c| {
            c.iter()
                .find(|choice| choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        });
        let Some(choice) = first else {
            return events;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        for key in ["content", "refusal"] {
            if let Some(text) = delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                self.text(text, &mut events);
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                self.tool_call(call, &mut events);
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        events
    }

    /// Ends the message: stops the open block, then `message_delta` and `message_stop`. Call it once, at
    /// `[DONE]` or when the provider's stream ends; later calls return nothing.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if self.finished {
            return events;
        }
        self.finished = true;
        self.start(&Value::Null, &mut events);
        self.close(&mut events);
        let stop_reason = self
            .finish_reason
            .as_deref()
            .map_or("end_turn", openai_finish_reason_to_anthropic);
        events.push(SseEvent {
            event: "message_delta",
            data: json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop_reason, "stop_sequence": null },
                "usage": openai_usage_to_anthropic(&self.usage),
            }),
        });
        events.push(SseEvent {
            event: "message_stop",
            data: json!({ "type": "message_stop" }),
        });
        events
    }

    fn start(&mut self, chunk: &Value, events: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = chunk
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&self.ctx.request_id);
        let model = chunk
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&self.ctx.model);
        events.push(SseEvent {
            event: "message_start",
            data: json!({
                "type": "message_start",
                "message": {
                    "id": id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": { "input_tokens": 0, "output_tokens": 0 },
                },
            }),
        });
    }

    fn text(&mut self, text: &str, events: &mut Vec<SseEvent>) {
        let index = match self.open {
            Some(Open::Text(index)) => index,
            _ => {
                let index = self.open_block(json!({ "type": "text", "text": "" }), events);
                self.open = Some(Open::Text(index));
                index
            }
        };
        events.push(delta(index, json!({ "type": "text_delta", "text": text })));
    }

    fn tool_call(&mut self, call: &Value, events: &mut Vec<SseEvent>) {
        let call_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let known = self
            .tool_blocks
            .iter()
            .find(|(tool, _)| *tool == call_index)
            .map(|&(_, block)| block);
        let index = match known {
            Some(index) => index,
            None => {
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("toolu_{}_{call_index}", self.ctx.request_id));
                let name = call
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let block = json!({ "type": "tool_use", "id": id, "name": name, "input": {} });
                let index = self.open_block(block, events);
                self.open = Some(Open::Tool(index));
                self.tool_blocks.push((call_index, index));
                index
            }
        };
        if let Some(arguments) = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            events.push(delta(
                index,
                json!({ "type": "input_json_delta", "partial_json": arguments }),
            ));
        }
    }

    /// Stops the open block and starts `block` at the next index.
    fn open_block(&mut self, block: Value, events: &mut Vec<SseEvent>) -> u64 {
        self.close(events);
        let index = self.next_index;
        self.next_index += 1;
        events.push(SseEvent {
            event: "content_block_start",
            data: json!({ "type": "content_block_start", "index": index, "content_block": block }),
        });
        index
    }

    fn close(&mut self, events: &mut Vec<SseEvent>) {
        if let Some(Open::Text(index) | Open::Tool(index)) = self.open.take() {
            events.push(SseEvent {
                event: "content_block_stop",
                data: json!({ "type": "content_block_stop", "index": index }),
            });
        }
    }
}

fn delta(index: u64, delta: Value) -> SseEvent {
    SseEvent {
        event: "content_block_delta",
        data: json!({ "type": "content_block_delta", "index": index, "delta": delta }),
    }
}
