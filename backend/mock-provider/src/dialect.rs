//! The wire dialects the mock speaks, and what differs between them before a request reaches its endpoint:
//! which credentials are required, and the shape of every error.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::header::HeaderMap;

use crate::{anthropic, azure, error, gemini};

/// A provider's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
}

impl Dialect {
    /// The provider's answer to a request whose credentials or required query parameters are missing,
    /// checked before faults are applied or the body is read; `None` lets the request in. The OpenAI
    /// dialect checks nothing: the gateway's tests send it requests without keys.
    pub(crate) fn refusal(
        self,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
    ) -> Option<HttpResponse> {
        match self {
            Dialect::OpenAi => None,
            Dialect::Azure => azure::refusal(headers, query),
            Dialect::Anthropic => anthropic::error::refusal(headers),
            Dialect::Gemini => gemini::error::refusal(headers, query),
        }
    }

    /// An injected error (forced status or error rate) in this dialect's shape.
    pub(crate) fn injected(self, status: u16, retry_after: Option<u64>) -> HttpResponse {
        match self {
            Dialect::OpenAi => error::injected(status, retry_after),
            Dialect::Azure => azure::injected(status, retry_after),
            Dialect::Anthropic => anthropic::error::injected(status, retry_after),
            Dialect::Gemini => gemini::error::injected(status, retry_after),
        }
    }

    /// The answer to an unknown path or a wrong method.
    pub(crate) fn not_found(self, method: &str, path: &str) -> HttpResponse {
        match self {
            Dialect::OpenAi => error::not_found(method, path),
            Dialect::Azure => azure::not_found(),
            Dialect::Anthropic => anthropic::error::not_found(),
            Dialect::Gemini => gemini::error::not_found(path),
        }
    }

    /// The answer to a body that is not JSON.
    pub(crate) fn malformed_json(self) -> HttpResponse {
        match self {
            // Azure relays OpenAI's validation errors unchanged.
            Dialect::OpenAi | Dialect::Azure => error::malformed_json(),
            Dialect::Anthropic => anthropic::error::invalid_request(
                "There was an issue with the format or content of your request: the body is not valid JSON.",
            ),
            Dialect::Gemini => {
                gemini::error::invalid_argument("Invalid JSON payload received. Unexpected token.")
            }
        }
    }
}
