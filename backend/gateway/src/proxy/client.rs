//! The format the caller speaks: OpenAI's (`/v1/chat/completions`, `/v1/embeddings`) or Anthropic's
//! (`/v1/messages`). Whatever the provider, the caller gets answers and errors in its own format.

use crate::error::ProxyError;
use actix_web::{HttpResponse, ResponseError};

/// The caller's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFormat {
    OpenAi,
    Anthropic,
}

impl ClientFormat {
    /// The error as this caller's SDK expects it.
    pub fn error_response(self, error: &ProxyError) -> HttpResponse {
        match self {
            Self::OpenAi => error.error_response(),
            Self::Anthropic => error.anthropic_response(),
        }
    }
}
