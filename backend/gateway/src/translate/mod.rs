//! Pure translation between OpenAI Chat Completions (the gateway's canonical format) and the Anthropic Messages
//! and Gemini generateContent formats: requests, responses, streams, errors and usage. No I/O: JSON in, JSON out.
//!
//! Directions covered:
//! - an OpenAI client calling a model served by Anthropic: [`openai_request_to_anthropic`],
//!   [`anthropic_response_to_openai`], [`AnthropicStreamToOpenAi`], [`anthropic_error_to_openai`];
//! - an OpenAI client calling a model served by Gemini: [`openai_request_to_gemini`],
//!   [`gemini_response_to_openai`], [`GeminiStreamToOpenAi`], [`gemini_error_to_openai`];
//! - an Anthropic-SDK client (`POST /v1/messages`) calling any model the gateway reaches in OpenAI format:
//!   [`anthropic_request_to_openai`], [`openai_response_to_anthropic`], [`OpenAiStreamToAnthropic`],
//!   [`openai_error_to_anthropic`]. A Gemini model is reached by chaining with the Gemini functions.
//!
//! A request field that cannot be carried faithfully is refused with a [`TranslateError`] naming it; nothing is
//! dropped silently. The fields that are knowingly ignored are listed next to each request function.
//! Response-side failures (a provider answer we cannot read) use the same error; the caller maps those to a 502.

mod anthropic;
mod common;
mod errors;
mod gemini;

pub use anthropic::{
    AnthropicStreamToOpenAi, OpenAiStreamToAnthropic, anthropic_request_to_openai,
    anthropic_response_to_openai, anthropic_stop_reason_to_openai, anthropic_usage_to_openai,
    openai_finish_reason_to_anthropic, openai_request_to_anthropic, openai_response_to_anthropic,
    openai_usage_to_anthropic,
};
pub use errors::{anthropic_error_to_openai, gemini_error_to_openai, openai_error_to_anthropic};
pub use gemini::{
    GeminiStreamToOpenAi, gemini_finish_reason_to_openai, gemini_response_to_openai,
    gemini_usage_to_openai, openai_request_to_gemini,
};

/// A field that cannot be translated faithfully, or a body that is not of the expected shape. For requests the
/// caller answers 400 with `param`; for provider answers it answers 502.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    /// What went wrong, in words a client can act on.
    pub message: String,
    /// The JSON path of the offending field, e.g. `messages[2].content[0].input_audio`.
    pub param: String,
}

impl TranslateError {
    pub(crate) fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: param.into(),
        }
    }

    /// The field exists in the source format but has no faithful equivalent in `target`.
    pub(crate) fn unsupported(param: impl Into<String>, target: &str) -> Self {
        let param = param.into();
        Self {
            message: format!("`{param}` cannot be translated to the {target} format"),
            param,
        }
    }
}

/// What a translated response needs that the provider's answer may not carry: OpenAI's `created` timestamp, the
/// model name to report when the provider names none, and the gateway's request id (a fallback response id and
/// the seed of synthesised tool-call ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseContext {
    /// Unix seconds, reported as `created`.
    pub created: i64,
    /// The upstream model, reported when the provider's answer does not name one.
    pub model: String,
    /// The gateway's id for the call (its `x-request-id`).
    pub request_id: String,
}

/// One server-sent event of Anthropic's stream format (`event:` name plus `data:` JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` line, e.g. `content_block_delta`.
    pub event: &'static str,
    /// The `data:` payload.
    pub data: serde_json::Value,
}

impl SseEvent {
    /// The event framed for the wire, blank line included.
    pub fn to_sse(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.event, self.data)
    }
}

#[cfg(test)]
mod tests;
