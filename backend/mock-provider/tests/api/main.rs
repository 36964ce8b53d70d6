//! Black-box tests: each starts its own mock on port 0 and talks to it over HTTP.

mod anthropic;
mod anthropic_stream;
mod azure;
mod chat;
mod dialect_faults;
mod embeddings;
mod faults;
mod gemini;
mod gemini_stream;
mod helpers;
mod stream;
