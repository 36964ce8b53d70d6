//! `mock-provider` binary: runs the mock standalone for the benchmark and the demo, until Ctrl-C.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use mock_provider::{MockConfig, MockServer};

/// A fake LLM provider (OpenAI, Azure OpenAI, Anthropic and Gemini wire formats) with fault injection.
#[derive(Debug, Parser)]
#[command(name = "mock-provider", version, about)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:9000.
    #[arg(long)]
    listen: String,
    /// Delay before the first byte of each response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    ttft_ms: u64,
    /// Delay between streamed content chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Content chunks per streamed reply.
    #[arg(long, default_value_t = 5)]
    chunks: usize,
    /// Fraction (0..=1) of requests answered with a 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Answer every request with this error status.
    #[arg(long)]
    status: Option<u16>,
    /// Seconds sent in `retry-after` with error responses.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Never answer requests.
    #[arg(long)]
    hang: bool,
    /// Drop the connection after this many stream chunks.
    #[arg(long)]
    disconnect_after: Option<usize>,
    /// Omit usage from responses.
    #[arg(long)]
    no_usage: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = MockConfig {
        ttft: Duration::from_millis(args.ttft_ms),
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        chunks: args.chunks,
        error_rate: args.error_rate,
        status: args.status,
        retry_after: args.retry_after,
        hang: args.hang,
        disconnect_after: args.disconnect_after,
        no_usage: args.no_usage,
        workers: args.workers,
        // Nobody can read the log of a standalone process; skipping it keeps the benchmark lock-free.
        record_requests: false,
    };
    let listener =
        TcpListener::bind(&args.listen).with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let server = MockServer::start(listener, config)
        .await
        .context("starting the server")?;
    eprintln!("mock-provider listening on http://{addr}/v1");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    server.stop().await;
    Ok(())
}
