//! Anthropic Messages ⇄ OpenAI Chat Completions.
//!
//! `request` and `stream` serve OpenAI clients calling Claude; `inbound` and `inbound_stream` serve Anthropic-SDK
//! clients calling a model the gateway reaches in OpenAI format; `response` translates answers both ways.

mod inbound;
mod inbound_stream;
mod request;
mod response;
mod stream;

pub use inbound::anthropic_request_to_openai;
pub use inbound_stream::OpenAiStreamToAnthropic;
pub use request::openai_request_to_anthropic;
pub use response::{
    anthropic_response_to_openai, anthropic_stop_reason_to_openai, anthropic_usage_to_openai,
    openai_finish_reason_to_anthropic, openai_response_to_anthropic, openai_usage_to_anthropic,
};
pub use stream::AnthropicStreamToOpenAi;

/// How error messages name the Anthropic side.
const TARGET: &str = "Anthropic Messages";
