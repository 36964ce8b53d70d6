//! Black-box tests: each starts its own mock on port 0 and talks to it over HTTP.

mod chat;
mod embeddings;
mod faults;
mod helpers;
mod stream;
