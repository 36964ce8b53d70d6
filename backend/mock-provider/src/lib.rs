//! A fake LLM provider for the gateway's integration tests, the latency benchmark's "direct" baseline and
//! the first-run demo. One server speaks four wire formats:
//!
//! | dialect | routes | credentials |
//! |---|---|---|
//! | OpenAI | `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models` (also without `/v1`) | none checked |
//! | Azure OpenAI | `POST /openai/deployments/{deployment}/chat/completions`, `…/embeddings`, `?api-version=` required (else 404) | `api-key` (else 401) |
//! | Anthropic | `POST /v1/messages`, whole or `stream: true` | `x-api-key` (else 401), `anthropic-version` (else 400) |
//! | Gemini | `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (`?alt=sse`, else a JSON array); also under `/v1/models/` | `x-goog-api-key` or `?key=` (else 403) |
//!
//! Replies are deterministic ("Mock reply: " + the last user text, or a call to the first tool unless the
//! last turn carries a tool result), usage is counted with `o200k_base` the same way in every dialect,
//! and Anthropic's `max_tokens`, Gemini's `maxOutputTokens` and both dialects' stop sequences are
//! honoured. Faults (errors, hangs, delays, cut connections) are injected from [`MockConfig`] or per
//! request with `x-mock-*` headers, on every route and in each provider's own error format:
//! `x-mock-status`, `x-mock-error-rate`, `x-mock-retry-after`, `x-mock-hang-ms`, `x-mock-disconnect-after`,
//! `x-mock-ttft-ms`, `x-mock-chunk-delay-ms`, `x-mock-chunks`, `x-mock-no-usage`, `x-mock-cached-tokens`,
//! `x-mock-cache-creation-tokens`, `x-mock-reasoning-tokens`, `x-mock-fixed-id`. Credentials are checked
//! before faults. [`MockServer::received`] records every request, query string included.

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
