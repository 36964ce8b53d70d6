//! Gemini's `streamGenerateContent?alt=sse` chunks turned into OpenAI `chat.completion.chunk`s.

use super::response::{candidate_content, gemini_finish_reason_to_openai, gemini_usage_to_openai};
use crate::translate::ResponseContext;
use crate::translate::errors::gemini_error_object_to_openai;
use serde_json::{Value, json};
use switchyard_types::OpenAiErrorBody;

/// Where one candidate (one OpenAI choice) stands.
#[derive(Debug)]
struct Choice {
    index: u64,
    next_call: usize,
    has_calls: bool,
}

/// Reads Gemini stream chunks (each a partial `GenerateContentResponse`) and emits OpenAI chunks: a role chunk
/// when a candidate first appears, its text as `content` deltas, each function call (Gemini sends them whole) as
/// one `tool_calls` delta with its synthesised id, name and full arguments, and the `finish_reason` chunk when
/// the candidate has a `finishReason`. Gemini repeats the cumulative `usageMetadata` on every chunk and sends no
/// end marker: [`finish`](Self::finish), called when the stream ends, emits the usage chunk (`choices: []`) from
/// the last one. Ids are the same as [`gemini_response_to_openai`](super::gemini_response_to_openai) gives.
#[derive(Debug)]
pub struct GeminiStreamToOpenAi {
    ctx: ResponseContext,
    id: Option<String>,
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<Value>,
    finished: bool,
}

impl GeminiStreamToOpenAi {
    /// A translator for one stream.
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            id: None,
            model: None,
            choices: Vec::new(),
            usage: None,
            finished: false,
        }
    }

    /// Translates one chunk (the JSON of a `data:` line) into zero or more OpenAI chunks. An `{"error": …}`
    /// chunk becomes OpenAI's `{"error": …}`.
    pub fn push(&mut self, chunk: &Value) -> Vec<Value> {
        if let Some(error) = chunk.get("error").filter(|e| e.is_object()) {
            return vec![json!(gemini_error_object_to_openai(error, 500))];
        }
        if self.id.is_none() {
            self.id = chunk
                .get("responseId")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        if self.model.is_none() {
            self.model = chunk
                .get("modelVersion")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        if let Some(usage) = chunk.get("usageMetadata").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let mut out = Vec::new();
        let candidates = chunk
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (c, candidate) in candidates.iter().enumerate() {
            let index = candidate
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(c as u64);
            let slot = self.choice(index, &mut out);
            let base = self.base();
            let mut next_call = self.choices[slot].next_call;
            match candidate_content(
                candidate,
                &format!("candidates[{c}]"),
                &base,
                &mut next_call,
            ) {
                Ok(content) => {
                    if !content.text.is_empty() {
                        out.push(self.chunk(index, json!({ "content": content.text }), None));
                    }
                    if !content.tool_calls.is_empty() {
                        self.choices[slot].has_calls = true;
                        out.push(self.chunk(
                            index,
                            json!({ "tool_calls": content.tool_calls }),
                            None,
                        ));
                    }
                }
                Err(e) => out.push(json!(OpenAiErrorBody::new(
                    e.message,
                    "server_error",
                    None,
                    Some("upstream_error")
                ))),
            }
            self.choices[slot].next_call = next_call;
            if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
                let finish = gemini_finish_reason_to_openai(reason, self.choices[slot].has_calls);
                out.push(self.chunk(index, json!({}), Some(finish)));
            }
        }
        if candidates.is_empty() && chunk.pointer("/promptFeedback/blockReason").is_some() {
            self.choice(0, &mut out);
            out.push(self.chunk(0, json!({}), Some("content_filter")));
        }
        out
    }

    /// Ends the stream: the usage chunk, once. Returns nothing if Gemini reported no usage.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        match &self.usage {
            Some(usage) => {
                let mut chunk = self.chunk(0, json!({}), None);
                chunk["choices"] = json!([]);
                chunk["usage"] = json!(gemini_usage_to_openai(usage));
                vec![chunk]
            }
            None => Vec::new(),
        }
    }

    /// The slot of choice `index`, announcing it with a role chunk the first time.
    fn choice(&mut self, index: u64, out: &mut Vec<Value>) -> usize {
        if let Some(slot) = self.choices.iter().position(|c| c.index == index) {
            return slot;
        }
        self.choices.push(Choice {
            index,
            next_call: 0,
            has_calls: false,
        });
        out.push(self.chunk(index, json!({ "role": "assistant", "content": "" }), None));
        self.choices.len() - 1
    }

    /// The seed of synthesised tool-call ids, as in the non-streamed translation.
    fn base(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| self.ctx.request_id.clone())
    }

    fn chunk(&self, index: u64, delta: Value, finish_reason: Option<&str>) -> Value {
        let id = self
            .id
            .clone()
            .unwrap_or_else(|| format!("chatcmpl-{}", self.ctx.request_id));
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": self.ctx.created,
            "model": self.model.as_deref().unwrap_or(&self.ctx.model),
            "choices": [{ "index": index, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
        })
    }
}
