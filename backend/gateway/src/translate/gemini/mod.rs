//! Gemini generateContent ⇄ OpenAI Chat Completions: OpenAI clients calling a Gemini model.
//!
//! `request` builds the generateContent body (`contents` its messages); `response` reads an answer and `stream` reads
//! `streamGenerateContent?alt=sse`. Gemini has no tool-call ids: they are synthesised from the response id
//! (`call_<responseId>_<candidate>_<n>`) and carry the call's thought signature, which Gemini 3 requires back on
//! the next turn (see `common::tool_id_with_signature`); a function result's name is recovered from the id of the
//! call it answers.

mod contents;
mod request;
mod response;
mod stream;

pub use request::openai_request_to_gemini;
pub use response::{
    gemini_finish_reason_to_openai, gemini_response_to_openai, gemini_usage_to_openai,
};
pub use stream::GeminiStreamToOpenAi;

/// How error messages name the Gemini side.
const TARGET: &str = "Gemini generateContent";
