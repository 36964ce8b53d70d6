//! Calling providers: one pooled HTTP client for every upstream, with connect, first-byte and total time-outs.
//! This module speaks HTTP only; what a status means for the caller is decided in `error.rs`.

use crate::catalog::{Provider, ProviderKind};
use crate::config::UpstreamSettings;
use crate::egress::EgressPolicy;
use crate::error::ProxyError;
use crate::translate;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use switchyard_types::OpenAiErrorBody;
use tokio::time::Instant;

/// A pooled upstream client (one per HTTP worker; cheap to clone). Built through the egress policy: no
/// redirects, no private destinations the operator did not allow (see `crate::egress`).
#[derive(Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    settings: UpstreamSettings,
    egress: Arc<EgressPolicy>,
}

/// A request header copied from the caller to the provider.
pub type ForwardedHeader = (reqwest::header::HeaderName, reqwest::header::HeaderValue);

impl UpstreamClient {
    /// Builds the pooled client. Installs the rustls crypto provider if nobody has yet.
    pub fn new(
        settings: UpstreamSettings,
        egress: Arc<EgressPolicy>,
    ) -> Result<Self, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Self {
            http: build_http(&settings, &egress)?,
            settings,
            egress,
        })
    }

    /// A client with the same settings and its own connection pool, for one HTTP worker. Falls back to sharing
    /// this client's pool if a new one cannot be built (it was built once already, so that is not expected).
    pub fn for_worker(&self) -> Self {
        let http = build_http(&self.settings, &self.egress).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not build a per-worker upstream client; sharing one pool");
            self.http.clone()
        });
        Self {
            http,
            settings: self.settings.clone(),
            egress: Arc::clone(&self.egress),
        }
    }

    /// The largest answer read from a provider.
    pub fn max_response_bytes(&self) -> usize {
        self.settings.max_response_bytes
    }

    /// The largest single SSE event of a provider stream.
    pub fn max_event_bytes(&self) -> usize {
        self.settings.max_event_bytes
    }

    /// The deadline of a call starting now.
    pub fn deadline_from(&self, start: Instant) -> Instant {
        start + self.settings.total_timeout
    }

    /// POSTs a JSON body to one of the provider's endpoints and waits for the response headers. A non-2xx answer becomes the
    /// matching `ProxyError`; a 2xx is returned with its body unread so that streams pass through as they come.
    pub async fn post_json(
        &self,
        provider: &Provider,
        url: &reqwest::Url,
        body: Bytes,
        forwarded: Vec<ForwardedHeader>,
        deadline: Instant,
    ) -> Result<reqwest::Response, ProxyError> {
        // An IP-literal host never reaches the policy's resolver: it is checked here.
        if let Err(refusal) = self.egress.check_url(url) {
            tracing::warn!(provider = %provider.name, error = %refusal, "egress refused");
            return Err(unreachable(provider, &refusal.to_string()));
        }
        let mut request = self
            .http
            .post(url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                reqwest::header::HeaderValue::from_static("application/json"),
            )
            .body(body);
        if let Some((name, value)) = &provider.endpoints.credential {
            request = request.header(name.clone(), value.clone());
        }
        for (name, value) in &provider.endpoints.fixed {
            request = request.header(name.clone(), value.clone());
        }
        for (name, value) in forwarded {
            request = request.header(name, value);
        }
        let first_byte = Instant::now() + self.settings.first_byte_timeout;
        let (limit, phase) = if first_byte < deadline {
            (first_byte, "first byte")
        } else {
            (deadline, "total")
        };
        let response = match tokio::time::timeout_at(limit, request.send()).await {
            Err(_) => return Err(ProxyError::UpstreamTimeout(phase)),
            Ok(Err(e)) if e.is_timeout() => return Err(ProxyError::UpstreamTimeout("connect")),
            Ok(Err(e)) => {
                // The cause (an address, a TLS detail, a redirect target) is logged, never relayed.
                let chain = error_chain(&e);
                tracing::warn!(provider = %provider.name, error = %chain, "upstream unreachable");
                let reason = if crate::egress::is_refusal(&e) {
                    "its address is not allowed by the gateway's egress policy"
                } else {
                    "the connection failed"
                };
                return Err(unreachable(provider, reason));
            }
            Ok(Ok(response)) => response,
        };
        if response.status().is_success() {
            return Ok(response);
        }
        if response.status().is_redirection() {
            // Redirects are not followed: one could carry the credential header to another host.
            tracing::warn!(provider = %provider.name, status = %response.status(), "provider answered with a redirect; not followed");
            return Err(ProxyError::UpstreamFailed(format!(
                "upstream unreachable: the provider `{}` answered with a redirect, which the gateway does not follow",
                provider.name
            )));
        }
        Err(self.rejection(provider, response, deadline).await)
    }

    /// Reads the whole body of a successful non-streaming response within the deadline, and at most
    /// `max_response_bytes` of it.
    pub async fn read_body(
        &self,
        response: reqwest::Response,
        deadline: Instant,
    ) -> Result<Bytes, ProxyError> {
        match tokio::time::timeout_at(
            deadline,
            read_capped(response, self.settings.max_response_bytes),
        )
        .await
        {
            Err(_) => Err(ProxyError::UpstreamTimeout("total")),
            Ok(result) => result,
        }
    }

    /// Turns a non-2xx provider answer into the caller's error.
    async fn rejection(
        &self,
        provider: &Provider,
        response: reqwest::Response,
        deadline: Instant,
    ) -> ProxyError {
        let provider_status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        let limit = deadline.min(Instant::now() + Duration::from_secs(10));
        // An error body is read to 64 KiB at most: nobody needs more to say what went wrong.
        let body = tokio::time::timeout_at(limit, read_capped(response, 64 * 1024))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        // Each provider's error shape becomes OpenAI's, the gateway's canonical format (Anthropic's 529
        // "overloaded" becomes a 503 on the way).
        let (status, parsed): (u16, Option<OpenAiErrorBody>) = match provider.kind {
            ProviderKind::OpenAi | ProviderKind::Azure => {
                (provider_status, serde_json::from_slice(&body).ok())
            }
            ProviderKind::Anthropic => {
                let (status, body) = translate::anthropic_error_to_openai(provider_status, &body);
                (status, Some(body))
            }
            ProviderKind::Gemini => {
                let (status, body) = translate::gemini_error_to_openai(provider_status, &body);
                (status, Some(body))
            }
        };
        // Only a provider's error JSON is relayed; any other body (an HTML page of whatever host the URL names)
        // is logged, never echoed to the caller.
        let raw = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let message = parsed.as_ref().map_or_else(
            || format!("the provider answered status {status} without an error message"),
            |b| b.error.message.clone(),
        );
        tracing::warn!(provider = %provider.name, status, message = %message, body = %raw, "provider returned an error");
        match status {
            // Authentication failures are about the gateway's own provider credential, never the caller's key.
            401 | 403 => ProxyError::UpstreamFailed(format!(
                "the provider `{}` rejected the gateway's credentials ({status})",
                provider.name
            )),
            400..=499 => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                let body = parsed.unwrap_or_else(|| {
                    let kind = if status == StatusCode::TOO_MANY_REQUESTS {
                        "rate_limit_exceeded"
                    } else {
                        "invalid_request_error"
                    };
                    OpenAiErrorBody::new(format!("provider error: {message}"), kind, None, None)
                });
                ProxyError::UpstreamRejected {
                    status,
                    body: Box::new(body),
                    retry_after,
                }
            }
            _ => ProxyError::UpstreamFailed(format!(
                "the provider `{}` failed with status {status}: {message}",
                provider.name
            )),
        }
    }
}

/// The caller's error for a provider that could not be reached: no address, no cause beyond `reason`.
fn unreachable(provider: &Provider, reason: &str) -> ProxyError {
    ProxyError::UpstreamFailed(format!(
        "upstream unreachable: could not reach the provider `{}` ({reason})",
        provider.name
    ))
}

/// Reads a body to its end, refusing one longer than `cap` (by `Content-Length` before reading, or as it
/// arrives).
async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Bytes, ProxyError> {
    use futures_util::StreamExt;
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(ProxyError::UpstreamTooLarge(cap));
    }
    let mut body = bytes::BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::warn!(error = %error_chain(&e), "provider response broke off");
            ProxyError::UpstreamFailed("the provider's response broke off".into())
        })?;
        if body.len() + chunk.len() > cap {
            return Err(ProxyError::UpstreamTooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn build_http(
    settings: &UpstreamSettings,
    egress: &Arc<EgressPolicy>,
) -> Result<reqwest::Client, reqwest::Error> {
    egress
        .client_builder()
        .connect_timeout(settings.connect_timeout)
        .pool_max_idle_per_host(settings.pool_max_idle_per_host)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// An error and its sources on one line (reqwest's top-level message alone hides the cause).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
