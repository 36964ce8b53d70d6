//! Starting and stopping a mock on a caller-bound listener, on the caller's tokio runtime.

use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;

use crate::config::MockConfig;
use crate::recorder::ReceivedRequest;
use crate::routes::{self, Shared};
use crate::tokens;

/// Largest request body accepted; actix's 256 KiB default is too small for long-context tests.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A running mock provider. Tests start one per test on port 0, so they can run in parallel.
#[derive(Debug)]
pub struct MockServer {
    port: u16,
    shared: web::Data<Shared>,
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl MockServer {
    /// Serves on `listener` (already bound, typically `127.0.0.1:0`) until [`MockServer::stop`] or drop.
    pub async fn start(listener: TcpListener, config: MockConfig) -> std::io::Result<MockServer> {
        // Load the tokenizer off the async thread so the first request is as fast as the rest. A failed
        // join only means the tokenizer loads on first use instead.
        let _ = tokio::task::spawn_blocking(tokens::warm_up).await;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let workers = config.workers.max(1);
        let shared = web::Data::new(Shared::new(config));
        let app_state = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .default_service(web::to(routes::dispatch))
        })
        .workers(workers)
        // The embedding process (a test, the gateway's demo) owns Ctrl-C, not the mock.
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(MockServer {
            port,
            shared,
            handle,
            task,
        })
    }

    /// The port the mock listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Base URL to configure as the provider's endpoint, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The server's root, e.g. `http://127.0.0.1:PORT`: the base URL of the Anthropic, Gemini and Azure
    /// dialects, whose paths do not start with `/v1`.
    pub fn root_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last (at most 1000) requests received, oldest first. Empty when recording is turned off.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.shared.log.snapshot()
    }

    /// Stops the server without waiting for in-flight (possibly hanging) requests.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        // The server's own result carries nothing a caller stopping it could act on.
        let _ = (&mut self.task).await;
    }
}

impl Drop for MockServer {
    /// A test that forgets `stop` (or fails an assertion) must not leave worker threads behind; the stop
    /// command is sent immediately, only waiting for it needs async.
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
