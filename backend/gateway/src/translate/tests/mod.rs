//! Unit tests of the translations. Fixtures follow the examples of Anthropic's Messages and streaming
//! documentation, Gemini's generateContent reference and OpenAI's Chat Completions reference.

mod anthropic_request;
mod anthropic_response;
mod anthropic_stream;
mod errors;
mod gemini_request;
mod gemini_response;
mod gemini_stream;
mod inbound;
mod inbound_stream;
mod refusals;

use super::ResponseContext;
use serde_json::Value;

fn ctx() -> ResponseContext {
    ResponseContext {
        created: 1_767_225_600,
        model: "upstream-model".to_owned(),
        request_id: "0198c0de-0000-7000-8000-000000000001".to_owned(),
    }
}

/// Parses a JSON-encoded `arguments` string, so that arguments compare by value.
fn parsed(arguments: &Value) -> Value {
    serde_json::from_str(arguments.as_str().unwrap_or("null")).unwrap_or(Value::Null)
}
