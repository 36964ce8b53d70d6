//! The OpenAI-compatible proxy under `/v1`: authenticate the key, validate the body, pick a deployment, call
//! the provider, relay the answer (streams chunk by chunk), and record one usage event per call.

mod admission;
mod body;
mod call;
mod chat;
mod client;
mod embeddings;
mod failover;
mod forward;
mod messages;
mod models;
mod refusal;
mod relay;
mod route;
pub mod tags;
mod wire;

use crate::auth::{AuthError, AuthenticatedKey, KeyResolver};
use crate::catalog::Catalog;
use crate::config::ProxySettings;
use crate::error::ProxyError;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::otel::{CallTrace, Tracing};
use crate::upstream::{ForwardedHeader, UpstreamClient};
use crate::usage::UsageSink;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Everything the proxy handlers of one HTTP worker use.
pub struct ProxyState {
    pub keys: Arc<KeyResolver>,
    pub catalog: Arc<Catalog>,
    /// This worker's own upstream client (its connection pool lives on the worker's runtime).
    pub upstream: UpstreamClient,
    pub usage: UsageSink,
    pub limits: Arc<Limits>,
    pub metrics: Arc<Metrics>,
    /// `None` when traces are off.
    pub tracing: Option<Arc<Tracing>>,
    pub settings: ProxySettings,
    /// Who the client is behind the operator's reverse proxies (the throttle on unknown keys).
    pub proxies: crate::client_address::TrustedProxies,
}

/// The parts of [`ProxyState`] shared by all workers.
#[derive(Clone)]
pub struct ProxyParts {
    pub keys: Arc<KeyResolver>,
    pub catalog: Arc<Catalog>,
    pub usage: UsageSink,
    pub limits: Arc<Limits>,
    pub metrics: Arc<Metrics>,
    pub tracing: Option<Arc<Tracing>>,
    pub settings: ProxySettings,
    pub proxies: crate::client_address::TrustedProxies,
}

impl ProxyParts {
    /// A worker's state, with its own upstream client.
    pub fn into_state(self, upstream: UpstreamClient) -> ProxyState {
        ProxyState {
            keys: self.keys,
            catalog: self.catalog,
            upstream,
            usage: self.usage,
            limits: self.limits,
            metrics: self.metrics,
            tracing: self.tracing,
            settings: self.settings,
            proxies: self.proxies,
        }
    }
}

/// Headers that are never copied upstream whatever `forward_headers` says: the caller's credentials, and
/// headers that describe this hop's connection or body rather than the request.
const NEVER_FORWARDED: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "anthropic-version",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
];

/// Registers `/v1/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .wrap_fn(|req, service| {
                use actix_web::HttpMessage;
                use actix_web::dev::Service;
                let answered = service.call(req);
                async move {
                    let mut response = answered.await?;
                    // A refused call's answer carries its event's id; other answers their call's own.
                    let refused = response
                        .request()
                        .extensions()
                        .get::<refusal::RefusalId>()
                        .copied();
                    if let Some(refusal::RefusalId(id)) = refused
                        && let Ok(value) =
                            actix_web::http::header::HeaderValue::from_str(&id.to_string())
                    {
                        response.headers_mut().insert(
                            actix_web::http::header::HeaderName::from_static("x-request-id"),
                            value,
                        );
                    }
                    with_request_id(response.headers_mut());
                    Ok(response)
                }
            })
            .route(
                "/chat/completions",
                web::post()
                    .to(|req, payload, state| guarded(chat::chat_completions(req, payload, state))),
            )
            .route(
                "/messages",
                web::post().to(|req, payload, state| {
                    guarded_anthropic(messages::messages(req, payload, state))
                }),
            )
            .route(
                "/messages/count_tokens",
                web::post().to(|req, payload, state| {
                    guarded_anthropic(messages::count_tokens(req, payload, state))
                }),
            )
            .route(
                "/embeddings",
                web::post()
                    .to(|req, payload, state| guarded(embeddings::embeddings(req, payload, state))),
            )
            .route(
                "/models",
                web::get().to(|req, state| guarded(models::list_models(req, state))),
            )
            .route(
                "/models/{model:.*}",
                web::get().to(|req, path, state| guarded(models::retrieve_model(req, path, state))),
            ),
    );
}

/// Every `/v1` answer carries `x-request-id`: a call's own id (its usage event's, a refusal's included) when it
/// has one, else a fresh one that names the answer in a support request (no event or log line carries it).
pub fn with_request_id(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    const NAME: HeaderName = HeaderName::from_static("x-request-id");
    if !headers.contains_key(&NAME)
        && let Ok(value) = HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
    {
        headers.insert(NAME, value);
    }
}

/// Turns a panic inside a handler into OpenAI's 500 JSON instead of a dropped connection.
async fn guarded<F>(handler: F) -> Result<HttpResponse, ProxyError>
where
    F: Future<Output = Result<HttpResponse, ProxyError>>,
{
    AssertUnwindSafe(handler)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(ProxyError::Internal("handler panicked".into())))
}

/// Like [`guarded`], for Anthropic's endpoints: every error, a panic included, in Anthropic's error format.
async fn guarded_anthropic<F>(handler: F) -> HttpResponse
where
    F: Future<Output = Result<HttpResponse, ProxyError>>,
{
    match guarded(handler).await {
        Ok(response) => response,
        Err(error) => error.anthropic_response(),
    }
}

/// Ends a call's trace with the error of a handler that failed before its call was recorded (a recorded call
/// ends its trace in `CallRecord::finish`).
async fn traced<F>(trace: CallTrace, handler: F) -> Result<HttpResponse, ProxyError>
where
    F: Future<Output = Result<HttpResponse, ProxyError>>,
{
    let result = handler.await;
    if let Err(error) = &result {
        let status = actix_web::ResponseError::status_code(error).as_u16();
        trace.finish(status, Some(error.outcome()), Some(&error.to_string()));
    }
    result
}

impl ProxyState {
    /// Authenticates the caller as a traced phase, putting the key's tenant, team and prefix on the trace.
    pub async fn authenticate_traced(
        &self,
        req: &HttpRequest,
        trace: &CallTrace,
    ) -> Result<Arc<AuthenticatedKey>, ProxyError> {
        let started = std::time::SystemTime::now();
        let key = self.authenticate(req).await;
        trace.phase("authenticate", started, Vec::new);
        let key = key?;
        trace.set(|| {
            vec![
                opentelemetry::KeyValue::new("switchyard.tenant.id", key.tenant_id.to_string()),
                opentelemetry::KeyValue::new("switchyard.team.id", key.team_id.to_string()),
                opentelemetry::KeyValue::new("switchyard.key.prefix", key.prefix.clone()),
            ]
        });
        Ok(key)
    }

    /// Resolves the caller's key from `Authorization: Bearer …`, or from `x-api-key` (Anthropic's API key
    /// header, which Anthropic clients and older SDKs send).
    pub async fn authenticate(
        &self,
        req: &HttpRequest,
    ) -> Result<Arc<AuthenticatedKey>, ProxyError> {
        let headers = req.headers();
        let secret = match headers.get(actix_web::http::header::AUTHORIZATION) {
            Some(header) => {
                let header = header.to_str().map_err(|_| AuthError::Missing)?;
                header
                    .strip_prefix("Bearer ")
                    .or_else(|| header.strip_prefix("bearer "))
                    .map(str::trim)
                    .ok_or(AuthError::Missing)?
            }
            None => headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .ok_or(AuthError::Missing)?,
        };
        Ok(self
            .keys
            .resolve(secret, self.proxies.client_ip(req))
            .await?)
    }

    /// Starts the trace of a call (an empty handle when traces are off).
    pub fn start_trace(&self, req: &HttpRequest, operation: &'static str) -> CallTrace {
        CallTrace::start(self.tracing.as_ref(), req, operation)
    }

    /// The caller's headers that the configuration says to pass on to the provider. With traces off, the
    /// caller's own W3C trace context goes on to the provider as it came; with traces on, each attempt sends its
    /// own span's context instead (`CallTrace::attempt`).
    pub fn forwarded_headers(&self, req: &HttpRequest) -> Vec<ForwardedHeader> {
        let mut forwarded = Vec::new();
        if self.tracing.is_none() {
            for name in ["traceparent", "tracestate"] {
                if let Some(value) = req.headers().get(name)
                    && let Ok(value) = reqwest::header::HeaderValue::from_bytes(value.as_bytes())
                {
                    forwarded.push((reqwest::header::HeaderName::from_static(name), value));
                }
            }
        }
        if self.settings.forward_headers.is_empty() {
            return forwarded;
        }
        let configured = req
            .headers()
            .iter()
            .filter(|(name, _)| !NEVER_FORWARDED.contains(&name.as_str()))
            .filter(|(name, _)| {
                let name = name.as_str();
                self.settings
                    .forward_headers
                    .iter()
                    .any(|rule| match rule.strip_suffix('*') {
                        Some(prefix) => name.starts_with(&prefix.to_ascii_lowercase()),
                        None => name.eq_ignore_ascii_case(rule),
                    })
            })
            .filter_map(|(name, value)| {
                Some((
                    reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()).ok()?,
                    reqwest::header::HeaderValue::from_bytes(value.as_bytes()).ok()?,
                ))
            })
            .filter(|(name, _)| !forwarded.iter().any(|(known, _)| known == name))
            .collect::<Vec<_>>();
        forwarded.extend(configured);
        forwarded
    }
}
