//! A fake LLM provider speaking OpenAI's wire format, for the gateway's integration tests, the latency
//! benchmark's "direct" baseline and the first-run demo.
//!
//! Replies are deterministic ("Mock reply: " + the last user message, or a call to the first tool), usage
//! is counted with `o200k_base` like OpenAI's, and faults (errors, hangs, delays, cut connections) are
//! injected from [`MockConfig`] or per request with `x-mock-*` headers:
//! `x-mock-status`, `x-mock-error-rate`, `x-mock-retry-after`, `x-mock-hang-ms`, `x-mock-disconnect-after`,
//! `x-mock-ttft-ms`, `x-mock-chunk-delay-ms`, `x-mock-chunks`, `x-mock-no-usage`, `x-mock-cached-tokens`,
//! `x-mock-reasoning-tokens`.

mod anthropic;
mod azure;
mod chat;
mod config;
mod delivery;
mod dialect;
mod embeddings;
mod endpoint;
mod error;
mod faults;
mod gemini;
mod recorder;
mod reply;
mod routes;
mod server;
mod stream;
mod tokens;

pub use config::MockConfig;
pub use recorder::ReceivedRequest;
pub use server::MockServer;
