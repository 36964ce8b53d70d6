use std::net::TcpListener;
use std::sync::LazyLock;
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

    /// A URL on the mock from the root, for the dialects whose paths do not start with `/v1`.
    pub fn root_url(&self, path: &str) -> String {
        format!("{}{path}", self.server.root_url())
    }

    /// `POST /v1/messages` with the headers Anthropic requires.
    pub fn anthropic(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.root_url("/v1/messages"))
            .header("x-api-key", "sk-ant-test")
            .header("anthropic-version", "2023-06-01")
            .json(body)
    }

    /// `POST /v1beta/models/{model_and_method}` (e.g. `gemini-2.5-flash:generateContent`) with a key
    /// in `x-goog-api-key`.
    pub fn gemini(&self, model_and_method: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.root_url(&format!("/v1beta/models/{model_and_method}")))
            .header("x-goog-api-key", "gemini-test-key")
            .json(body)
    }

    /// `POST /openai/deployments/{deployment_and_operation}?api-version=2024-10-21` with an `api-key`.
    pub fn azure(&self, deployment_and_operation: &str, body: &Value) -> reqwest::RequestBuilder {
        let path = format!("/openai/deployments/{deployment_and_operation}?api-version=2024-10-21");
        self.client
            .post(self.root_url(&path))
            .header("api-key", "azure-test-key")
            .json(body)
    }
}

pub fn anthropic_body(text: &str) -> Value {
    serde_json::json!({"model": "claude-test", "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}]})
}

pub fn gemini_body(text: &str) -> Value {
    serde_json::json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// o200k_base tokens of `text`, as the mock counts them.
pub fn tokens(text: &str) -> u64 {
    static BPE: LazyLock<Option<tiktoken_rs::CoreBPE>> =
        LazyLock::new(|| tiktoken_rs::o200k_base().ok());
    assert!(BPE.is_some(), "o200k_base loads");
    BPE.as_ref()
        .map(|bpe| bpe.encode_ordinary(text).len() as u64)
        .unwrap_or_default()
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

/// One SSE event's name (empty without an `event:` line), payload, and when it arrived.
pub struct Arrival {
    pub event: String,
    pub data: String,
    pub at: Duration,
}

impl Arrival {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_default()
    }
}

/// Reads an SSE body chunk by chunk, timestamping each event; CRLF line ends are read like LF, as SSE
/// allows. `Err` carries the events read before the body failed.
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
                buffer = buffer.replace("\r\n", "\n");
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let (mut event, mut data) = (String::new(), String::new());
                    for line in block.lines() {
                        if let Some(name) = line.strip_prefix("event: ") {
                            event = name.to_owned();
                        } else if let Some(payload) = line.strip_prefix("data: ") {
                            data = payload.to_owned();
                        }
                    }
                    events.push(Arrival { event, data, at });
                }
            }
            Ok(None) => return Ok(events),
            Err(_) => return Err(events),
        }
    }
}
