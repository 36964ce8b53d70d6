//! Wire types and the role matrix shared by the gateway, the mock provider and the console.
//!
//! Only the parts of OpenAI's format that Switchyard itself reads or writes are typed here; request and
//! response bodies are otherwise passed through untouched so that fields we do not know survive the trip.

pub mod roles;

use serde::{Deserialize, Serialize};

/// Token usage as OpenAI reports it on chat completions and embeddings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

impl Usage {
    /// Input tokens served from the provider's prompt cache (0 when not reported).
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
    }

    /// Output tokens spent on hidden reasoning (already included in `completion_tokens`).
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
    }
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

/// OpenAI's error envelope: `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiErrorBody {
    pub error: OpenAiError,
}

/// The inner object of [`OpenAiErrorBody`]; `param` and `code` are always present (possibly null), as OpenAI
/// sends them, because some SDKs read them without checking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiError {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl OpenAiErrorBody {
    /// Builds an error body; `kind` is OpenAI's `type` (e.g. `invalid_request_error`).
    pub fn new(
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        Self {
            error: OpenAiError {
                message: message.into(),
                kind: kind.to_owned(),
                param: param.map(str::to_owned),
                code: code.map(str::to_owned),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_openai_details_and_defaults_missing_fields() {
        let u: Usage = serde_json::from_str(
            r#"{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
                "prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            (u.prompt_tokens, u.cached_tokens(), u.reasoning_tokens()),
            (10, 4, 2)
        );
        let bare: Usage = serde_json::from_str(r#"{"prompt_tokens":3}"#).unwrap_or_default();
        assert_eq!((bare.completion_tokens, bare.cached_tokens()), (0, 0));
    }

    #[test]
    fn error_body_serialises_with_null_param_and_code() {
        let body = OpenAiErrorBody::new("bad", "invalid_request_error", None, None);
        let json = serde_json::to_string(&body).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}"#
        );
    }
}
