//! The bounded log behind [`crate::MockServer::received`], which lets tests assert on what the gateway
//! actually sent upstream (headers it injected or stripped, bodies it rewrote).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use actix_web::{HttpRequest, web};
use serde_json::Value;

/// How many requests are kept; older ones are dropped so a long benchmark cannot grow memory.
const CAPACITY: usize = 1000;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// URI path without the query string, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The raw query string without `?`, e.g. `api-version=2024-10-21`; empty when there is none.
    pub query: String,
    /// Headers by lowercased name; repeated headers are joined with `", "`.
    pub headers: HashMap<String, String>,
    /// The body parsed as JSON, or `Null` when it is empty or not JSON.
    pub body: Value,
}

impl ReceivedRequest {
    /// Convenience lookup; `name` must be lowercase.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A query parameter, percent-decoded, e.g. Azure's `api-version` or Gemini's `key`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_params(&self.query).remove(name)
    }

    /// The deployment named by an Azure OpenAI path (`/openai/deployments/{deployment}/…`).
    pub fn azure_deployment(&self) -> Option<&str> {
        self.path
            .strip_prefix("/openai/deployments/")
            .and_then(|rest| rest.split('/').next())
            .filter(|name| !name.is_empty())
    }

    pub(crate) fn capture(req: &HttpRequest, body: Value) -> Self {
        let mut headers: HashMap<String, String> = HashMap::with_capacity(req.headers().len());
        for (name, value) in req.headers() {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|existing| {
                    existing.push_str(", ");
                    existing.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        Self {
            method: req.method().as_str().to_owned(),
            path: req.path().to_owned(),
            query: req.query_string().to_owned(),
            headers,
            body,
        }
    }
}

/// A query string's parameters, percent-decoded; a string that does not parse has none.
pub(crate) fn query_params(query: &str) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

/// Last [`CAPACITY`] requests, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: Mutex<VecDeque<ReceivedRequest>>,
}

impl RequestLog {
    pub(crate) fn push(&self, request: ReceivedRequest) {
        // A panic elsewhere while holding the lock cannot leave a VecDeque half-updated in a way that
        // matters here, so a poisoned lock is simply reused.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back(request);
    }

    pub(crate) fn snapshot(&self) -> Vec<ReceivedRequest> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_only_the_most_recent_requests() {
        let log = RequestLog::default();
        for i in 0..(CAPACITY + 5) {
            log.push(ReceivedRequest {
                method: "POST".into(),
                path: format!("/{i}"),
                query: String::new(),
                headers: HashMap::new(),
                body: Value::Null,
            });
        }
        let got = log.snapshot();
        assert_eq!(got.len(), CAPACITY);
        assert_eq!(got.first().map(|r| r.path.as_str()), Some("/5"));
    }

    #[test]
    fn query_and_azure_deployment_are_read_from_the_request_line() {
        let request = ReceivedRequest {
            method: "POST".into(),
            path: "/openai/deployments/gpt-4o-prod/chat/completions".into(),
            query: "api-version=2024-10-21&x=a%20b".into(),
            headers: HashMap::new(),
            body: Value::Null,
        };
        assert_eq!(request.azure_deployment(), Some("gpt-4o-prod"));
        assert_eq!(
            request.query_param("api-version").as_deref(),
            Some("2024-10-21")
        );
        assert_eq!(request.query_param("x").as_deref(), Some("a b"));
        assert_eq!(request.query_param("key"), None);
    }
}
