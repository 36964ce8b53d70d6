//! The single actix handler: records the request, routes by method and path, applies faults, and hands
//! the parsed body to the endpoint. One catch-all handler (rather than actix routes) means unknown paths
//! and wrong methods get OpenAI's 404 body and are recorded too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use crate::config::MockConfig;
use crate::faults::{ErrorSchedule, RequestFaults};
use crate::recorder::{ReceivedRequest, RequestLog};
use crate::{chat, embeddings, error};

/// The one model the mock lists; any model name is accepted on requests.
/// `created` of answers to requests with `x-mock-fixed-id`.
const FIXED_CREATED: u64 = 1_700_000_000;

const MODELS_BODY: &str = r#"{"object":"list","data":[{"id":"mock-gpt","object":"model","created":0,"owned_by":"mock"}]}"#;

/// State shared by all workers of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: MockConfig,
    pub log: RequestLog,
    pub errors: ErrorSchedule,
    completions: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: MockConfig) -> Self {
        Self {
            config,
            log: RequestLog::default(),
            errors: ErrorSchedule::default(),
            completions: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Embeddings,
    Models,
}

impl Route {
    /// Paths are accepted with or without the `/v1` prefix, as base URLs are configured both ways.
    fn of(method: &Method, path: &str) -> Option<Self> {
        let path = path.strip_prefix("/v1").unwrap_or(path);
        match (path.trim_end_matches('/'), method) {
            ("/chat/completions", &Method::POST) => Some(Route::Chat),
            ("/embeddings", &Method::POST) => Some(Route::Embeddings),
            ("/models", &Method::GET) => Some(Route::Models),
            _ => None,
        }
    }
}

/// Handles every request the server receives.
pub(crate) async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if shared.config.record_requests {
        shared.log.push(ReceivedRequest::capture(
            &req,
            parsed.clone().unwrap_or(Value::Null),
        ));
    }
    let Some(route) = Route::of(req.method(), req.path()) else {
        return error::not_found(req.method().as_str(), req.path());
    };
    let faults = RequestFaults::resolve(&shared.config, req.headers());
    if let Some(injected) = faults.apply(&shared.errors).await {
        return injected;
    }
    match (route, parsed) {
        (Route::Models, _) => HttpResponse::Ok()
            .content_type("application/json")
            .body(MODELS_BODY),
        (Route::Chat, Some(body)) => {
            let seq = shared.completions.fetch_add(1, Ordering::Relaxed) + 1;
            let created = if faults.fixed_id.is_some() {
                FIXED_CREATED
            } else {
                unix_now()
            };
            chat::respond(&body, &faults, seq, created).await
        }
        (Route::Embeddings, Some(body)) => embeddings::respond(&body, &faults),
        (Route::Chat | Route::Embeddings, None) => error::malformed_json(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_accept_paths_with_and_without_v1() {
        assert_eq!(
            Route::of(&Method::POST, "/v1/chat/completions"),
            Some(Route::Chat)
        );
        assert_eq!(
            Route::of(&Method::POST, "/chat/completions"),
            Some(Route::Chat)
        );
        assert_eq!(
            Route::of(&Method::POST, "/v1/embeddings"),
            Some(Route::Embeddings)
        );
        assert_eq!(Route::of(&Method::GET, "/v1/models"), Some(Route::Models));
        assert_eq!(Route::of(&Method::GET, "/v1/chat/completions"), None);
        assert_eq!(Route::of(&Method::POST, "/v1/completions"), None);
    }
}
