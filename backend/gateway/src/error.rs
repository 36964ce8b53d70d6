//! Proxy errors and their one mapping to HTTP: OpenAI's error JSON with the status an OpenAI SDK expects.
//! Internal details are logged, never returned.

use crate::auth::AuthError;
use crate::limits::Refusal;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use switchyard_types::OpenAiErrorBody;

/// Everything that can go wrong on `/v1/*`.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("this API key is not allowed to use the model `{0}`")]
    ModelNotAllowed(String),
    #[error("the model `{0}` does not exist or you do not have access to it")]
    ModelNotFound(String),
    /// Every deployment of the model is outside the caller's allowed regions.
    #[error("{0}")]
    RegionNotAllowed(String),
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<&'static str>,
    },
    /// A request field the chosen provider's format cannot carry faithfully; refused rather than dropped.
    #[error("{message}")]
    Untranslatable { message: String, param: String },
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The provider refused the request for a reason that is the caller's (400, 404, 422, 429 …); its error is
    /// relayed with its status.
    #[error("{}", .body.error.message)]
    UpstreamRejected {
        status: StatusCode,
        body: Box<OpenAiErrorBody>,
        retry_after: Option<HeaderValue>,
    },
    /// The provider failed (5xx, bad credentials of the gateway's own, a broken connection).
    #[error("{0}")]
    UpstreamFailed(String),
    #[error("the upstream provider did not answer within the {0} timeout")]
    UpstreamTimeout(&'static str),
    /// The provider's answer passed `upstream.max_response_bytes` (or one event `upstream.max_event_bytes`).
    #[error("the provider's answer is larger than the gateway's limit of {0} bytes")]
    UpstreamTooLarge(usize),
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// Every candidate deployment is unhealthy, cooling down, or outside what the caller narrowed to.
    #[error("{message}")]
    NoHealthyDeployment {
        message: String,
        /// Seconds until the soonest candidate may be tried again, when that is known.
        retry_after: Option<u64>,
    },
    /// A rate limit, concurrency limit or budget refused the call, or could not be checked.
    #[error("{}", limited_message(.0))]
    Limited(Box<Refusal>),
    #[error("internal error")]
    Internal(String),
}

/// A request field a format cannot carry is the caller's 400, naming the field.
impl From<crate::translate::TranslateError> for ProxyError {
    fn from(error: crate::translate::TranslateError) -> Self {
        Self::Untranslatable {
            message: error.message,
            param: error.param,
        }
    }
}

impl ProxyError {
    /// Shorthand for a 400 naming the offending parameter.
    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self::BadRequest {
            message: message.into(),
            param,
        }
    }

    /// A low-cardinality label for logs, usage events and (later) metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Auth(_) => "unauthorized",
            Self::ModelNotAllowed(_) => "model_not_allowed",
            Self::ModelNotFound(_) => "model_not_found",
            Self::RegionNotAllowed(_) => "region_not_allowed",
            Self::BadRequest { .. } => "bad_request",
            Self::Untranslatable { .. } => "untranslatable",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UpstreamRejected { .. } => "upstream_rejected",
            Self::UpstreamFailed(_) => "upstream_error",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::UpstreamTooLarge(_) => "upstream_response_too_large",
            Self::RouteNotFound(_) => "route_not_found",
            Self::NoHealthyDeployment { .. } => "no_healthy_deployment",
            Self::Limited(refusal) => match **refusal {
                Refusal::RateLimited { .. } => "rate_limited",
                Refusal::BudgetExceeded { .. } => "budget_exceeded",
                Refusal::Unavailable => "limits_unavailable",
            },
            Self::Internal(_) => "internal_error",
        }
    }

    fn body(&self) -> OpenAiErrorBody {
        let message = self.to_string();
        match self {
            Self::Auth(AuthError::Unavailable(_)) => OpenAiErrorBody::new(
                "authentication is temporarily unavailable; retry shortly",
                "server_error",
                None,
                Some("service_unavailable"),
            ),
            Self::Auth(AuthError::Throttled) => OpenAiErrorBody::new(
                message,
                "rate_limit_exceeded",
                None,
                Some("too_many_invalid_keys"),
            ),
            Self::Auth(AuthError::Missing) => OpenAiErrorBody::new(
                message,
                "invalid_request_error",
                None,
                Some("missing_api_key"),
            ),
            Self::Auth(_) => OpenAiErrorBody::new(
                message,
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
            Self::ModelNotAllowed(_) => OpenAiErrorBody::new(
                message,
                "permission_error",
                Some("model"),
                Some("model_not_allowed"),
            ),
            Self::RegionNotAllowed(_) => OpenAiErrorBody::new(
                message,
                "permission_error",
                Some("model"),
                Some("region_not_allowed"),
            ),
            Self::ModelNotFound(_) => OpenAiErrorBody::new(
                message,
                "invalid_request_error",
                Some("model"),
                Some("model_not_found"),
            ),
            Self::BadRequest { param, .. } => {
                OpenAiErrorBody::new(message, "invalid_request_error", *param, None)
            }
            Self::Untranslatable { param, .. } => OpenAiErrorBody::new(
                message,
                "invalid_request_error",
                Some(param.as_str()),
                Some("unsupported_by_provider"),
            ),
            Self::PayloadTooLarge(_) => OpenAiErrorBody::new(
                message,
                "invalid_request_error",
                None,
                Some("request_too_large"),
            ),
            Self::UpstreamRejected { body, .. } => (**body).clone(),
            Self::UpstreamFailed(_) => {
                OpenAiErrorBody::new(message, "server_error", None, Some("upstream_error"))
            }
            Self::UpstreamTimeout(_) => {
                OpenAiErrorBody::new(message, "server_error", None, Some("upstream_timeout"))
            }
            Self::UpstreamTooLarge(_) => OpenAiErrorBody::new(
                message,
                "server_error",
                None,
                Some("upstream_response_too_large"),
            ),
            Self::RouteNotFound(_) => {
                OpenAiErrorBody::new(message, "invalid_request_error", None, Some("unknown_url"))
            }
            Self::NoHealthyDeployment { .. } => {
                OpenAiErrorBody::new(message, "server_error", None, Some("no_healthy_deployment"))
            }
            Self::Limited(refusal) => match refusal.as_ref() {
                Refusal::RateLimited { kind, code, .. } => {
                    OpenAiErrorBody::new(message, kind, None, Some(code))
                }
                // OpenAI's own "out of credit" answer is 429 `insufficient_quota`; the code says which.
                Refusal::BudgetExceeded { .. } => OpenAiErrorBody::new(
                    message,
                    "insufficient_quota",
                    None,
                    Some("budget_exceeded"),
                ),
                Refusal::Unavailable => {
                    OpenAiErrorBody::new(message, "server_error", None, Some("limits_unavailable"))
                }
            },
            Self::Internal(_) => OpenAiErrorBody::new(
                "internal error",
                "server_error",
                None,
                Some("internal_error"),
            ),
        }
    }
}

impl ResponseError for ProxyError {
    fn status_code(&self) -> StatusCode {
        match self {
            // The key store being down is our fault, not the caller's: a retryable 503, not a 401.
            Self::Auth(AuthError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Auth(AuthError::Throttled) => StatusCode::TOO_MANY_REQUESTS,
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::ModelNotAllowed(_) | Self::RegionNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::ModelNotFound(_) | Self::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest { .. } | Self::Untranslatable { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamRejected { status, .. } => *status,
            Self::UpstreamFailed(_) | Self::UpstreamTooLarge(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::NoHealthyDeployment { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Limited(refusal) if matches!(**refusal, Refusal::Unavailable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.respond_with(|error| serde_json::to_value(error.body()).unwrap_or_default())
    }
}

impl ProxyError {
    /// The error as Anthropic's Messages API answers (`{"type":"error","error":{"type","message"}}`), for
    /// `POST /v1/messages`. The status is kept (the Anthropic SDK maps 400, 401, 403, 404, 413, 429, 503 and
    /// 504 to their own exception classes); the type is the one Anthropic gives that status.
    pub fn anthropic_response(&self) -> HttpResponse {
        self.respond_with(|error| {
            let kind = match error.status_code().as_u16() {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                503 | 529 => "overloaded_error",
                500.. => "api_error",
                _ => "invalid_request_error",
            };
            serde_json::json!({
                "type": "error",
                "error": { "type": kind, "message": error.body().error.message },
            })
        })
    }

    /// The error response with its status and headers (`Retry-After`, rate-limit headers) and `body`.
    fn respond_with(&self, body: impl FnOnce(&Self) -> serde_json::Value) -> HttpResponse {
        match self {
            Self::Auth(AuthError::Unavailable(source)) => {
                tracing::error!(error = %source, "key store unavailable")
            }
            Self::Internal(detail) => tracing::error!(detail = %detail, "internal proxy error"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::UpstreamRejected {
            retry_after: Some(value),
            ..
        } = self
        {
            response.insert_header((RETRY_AFTER, value.clone()));
        }
        if let Self::NoHealthyDeployment {
            retry_after: Some(secs),
            ..
        } = self
        {
            response.insert_header((RETRY_AFTER, secs.to_string()));
        }
        if let Self::Limited(refusal) = self {
            match refusal.as_ref() {
                Refusal::RateLimited {
                    retry_after_secs,
                    headers,
                    ..
                } => {
                    if *retry_after_secs > 0 {
                        response.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
                    }
                    for pair in headers.pairs() {
                        response.insert_header(pair);
                    }
                }
                Refusal::BudgetExceeded {
                    retry_after_secs: Some(secs),
                    ..
                } => {
                    response.insert_header((RETRY_AFTER, secs.to_string()));
                }
                Refusal::BudgetExceeded { .. } => {}
                Refusal::Unavailable => {
                    response.insert_header((RETRY_AFTER, "1"));
                }
            }
        }
        response.json(body(self))
    }
}

fn limited_message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::RateLimited { message, .. } | Refusal::BudgetExceeded { message, .. } => {
            message.clone()
        }
        Refusal::Unavailable => "spend limits cannot be checked right now and this tenant refuses unmetered calls; retry shortly".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_the_status_an_openai_sdk_expects() {
        let cases: Vec<(ProxyError, u16)> = vec![
            (AuthError::Invalid.into(), 401),
            (AuthError::Revoked.into(), 401),
            (ProxyError::ModelNotAllowed("m".into()), 403),
            (ProxyError::ModelNotFound("m".into()), 404),
            (ProxyError::bad_request("x", Some("messages")), 400),
            (ProxyError::PayloadTooLarge(1), 413),
            (ProxyError::UpstreamFailed("x".into()), 502),
            (ProxyError::UpstreamTimeout("first byte"), 504),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error:?}");
        }
    }
}
