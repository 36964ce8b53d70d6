use std::net::TcpListener;
use std::time::{Duration, Instant};

use mock_provider::{MockConfig, MockServer};
use serde_json::Value;

pub struct TestMock {
    pub server: MockServer,
    pub client: reqwest::Client,
}

pub async fn spawn(config: MockConfig) -> TestMock {
    // The workspace's reqwest brings rustls without a provider; one must be installed before building a client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0");
    assert!(listener.is_ok(), "bind: {listener:?}");
    let Ok(listener) = listener else {
        unreachable!()
    };
    let server = MockServer::start(listener, config).await;
    assert!(server.is_ok(), "start: {server:?}");
    let Ok(server) = server else { unreachable!() };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build();
    let Ok(client) = client else {
        unreachable!("client: {client:?}")
    };
    TestMock { server, client }
}

impl TestMock {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).json(body)
    }
}

pub fn chat_body(text: &str) -> Value {
    serde_json::json!({"model": "mock-gpt", "messages": [{"role": "user", "content": text}]})
}

/// Sends a request and returns status, headers and JSON body; fails the test on transport errors.
pub async fn send_json(
    request: reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await;
    let Ok(response) = response else {
        unreachable!("send: {response:?}")
    };
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let body: Value = response.json().await.unwrap_or_default();
    (status, headers, body)
}

/// One SSE event's payload and when it arrived.
pub struct Arrival {
    pub data: String,
    pub at: Duration,
}

/// Reads an SSE body chunk by chunk, timestamping each `data:` event; `Err` carries the events read
/// before the body failed.
pub async fn read_sse(
    mut response: reqwest::Response,
    start: Instant,
) -> Result<Vec<Arrival>, Vec<Arrival>> {
    let (mut buffer, mut events) = (String::new(), Vec::new());
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                let at = start.elapsed();
                buffer.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let data = event
                        .trim_end()
                        .strip_prefix("data: ")
                        .unwrap_or_default()
                        .to_owned();
                    events.push(Arrival { data, at });
                }
            }
            Ok(None) => return Ok(events),
            Err(_) => return Err(events),
        }
    }
}
