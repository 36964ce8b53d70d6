//! The single actix handler: records the request, finds its endpoint and dialect, checks credentials,
//! applies faults, and hands the parsed body to the endpoint. One catch-all handler (rather than actix
//! routes) means unknown paths and wrong methods are recorded too, and answered in their dialect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use crate::config::MockConfig;
use crate::endpoint::Endpoint;
use crate::faults::{ErrorSchedule, RequestFaults};
use crate::recorder::{self, ReceivedRequest, RequestLog};
use crate::{anthropic, azure, chat, embeddings, gemini};

/// `created` of answers to requests with `x-mock-fixed-id`.
const FIXED_CREATED: u64 = 1_700_000_000;

/// The one model the mock lists; any model name is accepted on requests.
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
    let endpoint = match Endpoint::of(req.method(), req.path()) {
        Ok(endpoint) => endpoint,
        Err(dialect) => return dialect.not_found(req.method().as_str(), req.path()),
    };
    let dialect = endpoint.dialect();
    let query = recorder::query_params(req.query_string());
    if let Some(refused) = dialect.refusal(req.headers(), &query) {
        return refused;
    }
    let faults = RequestFaults::resolve(&shared.config, req.headers());
    if let Some(status) = faults.apply(&shared.errors).await {
        return dialect.injected(status, faults.retry_after);
    }
    // Numbers the completions (of every dialect) for their ids.
    let next_seq = || shared.completions.fetch_add(1, Ordering::Relaxed) + 1;
    let created = || {
        if faults.fixed_id.is_some() {
            FIXED_CREATED
        } else {
            unix_now()
        }
    };
    match (endpoint, parsed) {
        (Endpoint::Models, _) => HttpResponse::Ok()
            .content_type("application/json")
            .body(MODELS_BODY),
        (_, None) => dialect.malformed_json(),
        (Endpoint::Chat, Some(body)) => chat::respond(&body, &faults, next_seq(), created()).await,
        (Endpoint::Embeddings, Some(body)) => embeddings::respond(&body, &faults),
        (Endpoint::AzureChat { deployment }, Some(body)) => {
            let body = azure::with_model(body, &deployment);
            chat::respond(&body, &faults, next_seq(), created()).await
        }
        (Endpoint::AzureEmbeddings { deployment }, Some(body)) => {
            embeddings::respond(&azure::with_model(body, &deployment), &faults)
        }
        (Endpoint::Messages, Some(body)) => anthropic::respond(&body, &faults, next_seq()).await,
        (Endpoint::GenerateContent { model, stream }, Some(body)) => {
            let how = match (stream, query.get("alt").map(String::as_str)) {
                (false, _) => gemini::Delivery::Whole,
                (true, Some("sse")) => gemini::Delivery::Sse,
                (true, _) => gemini::Delivery::JsonArray,
            };
            gemini::respond(&body, &model, how, &faults, next_seq()).await
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
