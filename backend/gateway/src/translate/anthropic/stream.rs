//! Claude's event stream (`message_start` … `message_stop`) turned into OpenAI `chat.completion.chunk`s.

use super::response::{anthropic_stop_reason_to_openai, anthropic_usage_to_openai};
use crate::translate::ResponseContext;
use crate::translate::errors::anthropic_error_object_to_openai;
use serde_json::{Map, Value, json};

/// Reads Anthropic stream events one at a time and emits the equivalent OpenAI chunks. Text deltas become
/// `content` deltas; each `tool_use` block becomes a tool call (its id and name first, then its
/// `input_json_delta`s as `arguments` deltas) numbered in order of appearance; thinking deltas are left out.
/// `message_stop` emits the chunk carrying `finish_reason`, then a usage-only chunk (`choices: []`), as OpenAI
/// does with `stream_options.include_usage`. An `error` event becomes `{"error": …}` in OpenAI's format.
#[derive(Debug)]
pub struct AnthropicStreamToOpenAi {
    ctx: ResponseContext,
    id: String,
    model: String,
    /// (Anthropic content block index, OpenAI tool-call index) for each `tool_use` block seen.
    tool_blocks: Vec<(u64, usize)>,
    usage: Map<String, Value>,
    stop_reason: Option<String>,
    done: bool,
}

impl AnthropicStreamToOpenAi {
    /// A translator for one stream. `ctx.request_id` names the chunks until `message_start` gives Claude's id.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            id: ctx.request_id.clone(),
            model: ctx.model.clone(),
            ctx,
            tool_blocks: Vec::new(),
            usage: Map::new(),
            stop_reason: None,
            done: false,
        }
    }

    /// Whether `message_stop` has been seen (the caller then sends `data: [DONE]`).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Translates one event (the JSON of its `data:` line) into zero or more OpenAI chunks.
    pub fn push(&mut self, event: &Value) -> Vec<Value> {
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = event.get("message").unwrap_or(&Value::Null);
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    self.id = id.to_owned();
                }
                if let Some(model) = message.get("model").and_then(Value::as_str) {
                    self.model = model.to_owned();
                }
                self.merge_usage(message.get("usage"));
                vec![self.chunk(json!({ "role": "assistant", "content": "" }), None)]
            }
            Some("content_block_start") => self.block_start(event),
            Some("content_block_delta") => self.block_delta(event),
            Some("message_delta") => {
                if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.merge_usage(event.get("usage"));
                Vec::new()
            }
            Some("message_stop") => {
                self.done = true;
                let finish =
                    anthropic_stop_reason_to_openai(self.stop_reason.as_deref().unwrap_or(""));
                let usage = anthropic_usage_to_openai(&Value::Object(self.usage.clone()));
                let mut usage_chunk = self.chunk(json!({}), None);
                usage_chunk["choices"] = json!([]);
                usage_chunk["usage"] = json!(usage);
                vec![self.chunk(json!({}), Some(finish)), usage_chunk]
            }
            Some("error") => {
                let error = event.get("error").unwrap_or(&Value::Null);
                vec![json!(anthropic_error_object_to_openai(error))]
            }
            // ping, content_block_stop, and event types added later.
            _ => Vec::new(),
        }
    }

    fn block_start(&mut self, event: &Value) -> Vec<Value> {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let block = event.get("content_block").unwrap_or(&Value::Null);
        match block.get("type").and_then(Value::as_str) {
            Some("text") => match block.get("text").and_then(Value::as_str) {
                Some(text) if !text.is_empty() => {
                    vec![self.chunk(json!({ "content": text }), None)]
                }
                _ => Vec::new(),
            },
            Some("tool_use") => {
                let call = self.tool_blocks.len();
                self.tool_blocks.push((index, call));
                // Claude sends `input: {}` here and the real input as deltas; a non-empty input is sent whole.
                let arguments = match block.get("input") {
                    Some(Value::Object(input)) if !input.is_empty() => {
                        Value::Object(input.clone()).to_string()
                    }
                    _ => String::new(),
                };
                let delta = json!({ "tool_calls": [{
                    "index": call,
                    "id": block.get("id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": { "name": block.get("name").cloned().unwrap_or(Value::Null), "arguments": arguments },
                }]});
                vec![self.chunk(delta, None)]
            }
            _ => Vec::new(),
        }
    }

    fn block_delta(&mut self, event: &Value) -> Vec<Value> {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let delta = event.get("delta").unwrap_or(&Value::Null);
        match delta.get("type").and_then(Value::as_str) {
            Some("text_delta") => match delta.get("text").and_then(Value::as_str) {
                Some(text) if !text.is_empty() => {
                    vec![self.chunk(json!({ "content": text }), None)]
                }
                _ => Vec::new(),
            },
            Some("input_json_delta") => {
                let partial = delta
                    .get("partial_json")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                match self.tool_blocks.iter().find(|(block, _)| *block == index) {
                    Some(&(_, call)) if !partial.is_empty() => {
                        let delta = json!({ "tool_calls": [{ "index": call, "function": { "arguments": partial } }] });
                        vec![self.chunk(delta, None)]
                    }
                    _ => Vec::new(),
                }
            }
            // thinking_delta, signature_delta, citations_delta: nothing to show an OpenAI client.
            _ => Vec::new(),
        }
    }

    /// Anthropic's usage counts are cumulative: a later value replaces an earlier one.
    fn merge_usage(&mut self, usage: Option<&Value>) {
        if let Some(Value::Object(usage)) = usage {
            for (key, value) in usage {
                if value.is_u64() {
                    self.usage.insert(key.clone(), value.clone());
                }
            }
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.ctx.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
        })
    }
}
