//! Server-wide behaviour of the mock; every field can be overridden per request by an `x-mock-*` header
//! (see [`crate::faults`]).

use std::time::Duration;

/// How the mock answers when a request carries no override headers.
///
/// Tests build one with struct-update syntax (`MockConfig { ttft: …, ..MockConfig::default() }`) so that
/// new knobs can be added without breaking them.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Delay before the first byte of a response (the first SSE chunk when streaming).
    pub ttft: Duration,
    /// Delay between consecutive content chunks of a stream.
    pub chunk_delay: Duration,
    /// Number of content chunks a streamed reply is split into.
    pub chunks: usize,
    /// Fraction (0..=1) of requests answered with a 500. Deterministic: failures are spread evenly over
    /// the request sequence, starting with the first request, so retry tests never flake.
    pub error_rate: f64,
    /// Always answer with this error status (values below 400 mean "no forced error").
    pub status: Option<u16>,
    /// Seconds sent as `retry-after` with error responses.
    pub retry_after: Option<u64>,
    /// Never answer: the request stays open until the client gives up.
    pub hang: bool,
    /// Cut the TCP connection after this many SSE chunks (non-streamed replies are cut mid-body).
    pub disconnect_after: Option<usize>,
    /// Omit `usage` from responses and streams, as some providers do.
    pub no_usage: bool,
    /// Actix worker threads; a mock needs few, and tests start many mocks.
    pub workers: usize,
    /// Keep the last requests for [`crate::MockServer::received`]. The standalone binary turns this off so
    /// the benchmark baseline takes no lock per request.
    pub record_requests: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            ttft: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 5,
            error_rate: 0.0,
            status: None,
            retry_after: None,
            hang: false,
            disconnect_after: None,
            no_usage: false,
            workers: 2,
            record_requests: true,
        }
    }
}
