//! Google Gemini's `models/{model}:generateContent` and `:streamGenerateContent`: the same deterministic
//! replies as the OpenAI side as a `GenerateContentResponse`, or a stream of them (SSE with `?alt=sse`,
//! else one JSON array), with `maxOutputTokens` and `stopSequences` honoured and `usageMetadata` counted
//! the way Gemini counts (cached tokens inside the prompt count, thoughts apart from the candidates').

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
struct GeminiPlan {
    response_id: String,
    model: String,
    completion: Completion,
    prompt_tokens: u64,
    cached_tokens: u64,
    no_usage: bool,
}

impl GeminiPlan {
    fn finish_reason(&self) -> &'static str {
        match self.completion.stop {
            Stop::MaxTokens => "MAX_TOKENS",
            // Gemini reports a stop sequence, a finished text and a function call alike.
            Stop::Finished | Stop::Sequence(_) => "STOP",
        }
    }

    /// A response carrying `part`; `candidates_tokens` are the visible tokens generated so far.
    fn response<'a>(
        &'a self,
        part: PartView<'a>,
        finished: bool,
        candidates_tokens: u64,
    ) -> ResponseView<'a> {
        ResponseView {
            candidates: [CandidateView {
                content: ContentView {
                    parts: [part],
                    role: "model",
                },
                finish_reason: finished.then(|| self.finish_reason()),
                index: 0,
            }],
            usage_metadata: (!self.no_usage).then(|| self.usage(candidates_tokens)),
            model_version: &self.model,
            response_id: &self.response_id,
        }
    }

    fn usage(&self, candidates_tokens: u64) -> UsageView {
        let thoughts = self.completion.reasoning_tokens;
        UsageView {
            prompt_token_count: self.prompt_tokens,
            candidates_token_count: candidates_tokens,
            total_token_count: self.prompt_tokens + candidates_tokens + thoughts,
            cached_content_token_count: self.cached_tokens.min(self.prompt_tokens),
            thoughts_token_count: thoughts,
            prompt_tokens_details: [ModalityView {
                modality: "TEXT",
                token_count: self.prompt_tokens,
            }],
        }
    }

    /// The reply's text or call as one part; `text` replaces the text (a streamed piece).
    fn part<'a>(&'a self, text: &'a str) -> PartView<'a> {
        match &self.completion.reply {
            Reply::Text(_) => PartView::Text { text },
            Reply::ToolCall {
                name, arguments, ..
            } => PartView::FunctionCall {
                function_call: CallView {
                    name,
                    args: serde_json::from_str(arguments).unwrap_or_default(),
                },
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseView<'a> {
    candidates: [CandidateView<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageView>,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CandidateView<'a> {
    content: ContentView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct ContentView<'a> {
    parts: [PartView<'a>; 1],
    role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PartView<'a> {
    Text {
        text: &'a str,
    },
    FunctionCall {
        #[serde(rename = "functionCall")]
        function_call: CallView<'a>,
    },
}

#[derive(Serialize)]
struct CallView<'a> {
    name: &'a str,
    args: Value,
}

/// Gemini's `usageMetadata`: the prompt count includes cached tokens; thoughts are apart from the
/// candidates' count but inside the total. Zero counts are left out, as proto3 JSON leaves them out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageView {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    cached_content_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    thoughts_token_count: u64,
    prompt_tokens_details: [ModalityView; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModalityView {
    modality: &'static str,
    token_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How the answer is sent: `generateContent`, or `streamGenerateContent` with or without `?alt=sse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Whole,
    Sse,
    JsonArray,
}

/// Answers one `generateContent` request whose body parsed as JSON.
pub(crate) async fn respond(
    body: &Value,
    model: &str,
    how: Delivery,
    faults: &RequestFaults,
    seq: u64,
) -> HttpResponse {
    let request = match request::parse(body) {
        Ok(request) => request,
        Err(message) => return error::invalid_argument(&message),
    };
    // Gemini's function calls carry no id.
    let reply = Reply::to(&request.user_text, request.tool, "");
    let plan = GeminiPlan {
        response_id: faults
            .fixed_id
            .clone()
            .unwrap_or_else(|| format!("mock-{seq}")),
        model: model.to_owned(),
        completion: Completion::new(reply, &request.limits, faults.reasoning_tokens),
        prompt_tokens: request.prompt_tokens,
        cached_tokens: faults.cached_tokens,
        no_usage: faults.no_usage,
    };
    match how {
        Delivery::Whole => {
            let part = plan.part(plan.completion.reply.streamed_text());
            let view = plan.response(part, true, plan.completion.visible_tokens);
            // Serialising borrowed strings and integers into a Vec cannot fail.
            delivery::json(serde_json::to_vec(&view).unwrap_or_default(), faults).await
        }
        Delivery::Sse => stream::sse_response(plan, faults),
        Delivery::JsonArray => delivery::json(stream::json_array(plan, faults), faults).await,
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
