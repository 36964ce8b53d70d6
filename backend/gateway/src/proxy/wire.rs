//! The provider side of a chat call: the body each kind of provider is sent, and its answer (whole or streamed)
//! in OpenAI's format, the gateway's canonical one. OpenAI-compatible and Azure providers pass through
//! untouched; Anthropic and Gemini go through `crate::translate`.

use crate::catalog::{Deployment, ProviderKind};
use crate::error::ProxyError;
use crate::translate::{
    self, AnthropicStreamToOpenAi, GeminiStreamToOpenAi, ResponseContext, TranslateError,
};
use bytes::Bytes;
use serde_json::{Map, Value};

/// The URL and body of one attempt at a chat call on `deployment`. `request` is the caller's request in
/// OpenAI's format; its `model` is replaced by the deployment's upstream model.
pub fn chat_request(
    deployment: &Deployment,
    request: &mut Map<String, Value>,
    written: Option<&super::forward::RawRequest>,
    streamed: bool,
    default_max_tokens: u64,
) -> Result<(reqwest::Url, Bytes), ProxyError> {
    request.insert(
        "model".into(),
        Value::String(deployment.upstream_model.clone()),
    );
    let url = if streamed {
        &deployment.urls.chat_stream
    } else {
        &deployment.urls.chat
    };
    let body = match deployment.provider.kind {
        // The caller's own format: its JSON as written, with only the fields the gateway sets.
        ProviderKind::OpenAi | ProviderKind::Azure => match written {
            Some(written) => written.write(request),
            None => serde_json::to_vec(request),
        },
        ProviderKind::Anthropic => {
            let max = u32::try_from(default_max_tokens).unwrap_or(u32::MAX);
            let translated =
                translated_from(request, |r| translate::openai_request_to_anthropic(r, max))?;
            serde_json::to_vec(&translated)
        }
        ProviderKind::Gemini => {
            let translated = translated_from(request, translate::openai_request_to_gemini)?;
            serde_json::to_vec(&translated)
        }
    };
    body.map(|body| (url.clone(), Bytes::from(body)))
        .map_err(|e| ProxyError::Internal(e.to_string()))
}

/// A whole (non-streamed) answer in OpenAI's format; an OpenAI-format answer is returned as it came.
pub fn chat_response(
    deployment: &Deployment,
    body: Bytes,
    ctx: &ResponseContext,
) -> Result<Bytes, ProxyError> {
    let translate = match deployment.provider.kind {
        ProviderKind::OpenAi | ProviderKind::Azure => return Ok(body),
        ProviderKind::Anthropic => translate::anthropic_response_to_openai,
        ProviderKind::Gemini => translate::gemini_response_to_openai,
    };
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ProxyError::UpstreamFailed(format!(
            "the provider `{}` answered with invalid JSON: {e}",
            deployment.provider.name
        ))
    })?;
    let translated = translate(&value, ctx).map_err(|e| unreadable(deployment, &e))?;
    serde_json::to_vec(&translated)
        .map(Bytes::from)
        .map_err(|e| ProxyError::Internal(e.to_string()))
}

/// Turns a provider's stream events into OpenAI `chat.completion.chunk`s.
pub enum StreamTranslator {
    Anthropic(AnthropicStreamToOpenAi),
    Gemini(GeminiStreamToOpenAi),
}

impl StreamTranslator {
    /// The translator a stream from `deployment` needs; `None` when it already speaks OpenAI's format.
    pub fn for_deployment(deployment: &Deployment, ctx: ResponseContext) -> Option<Self> {
        match deployment.provider.kind {
            ProviderKind::OpenAi | ProviderKind::Azure => None,
            ProviderKind::Anthropic => Some(Self::Anthropic(AnthropicStreamToOpenAi::new(ctx))),
            ProviderKind::Gemini => Some(Self::Gemini(GeminiStreamToOpenAi::new(ctx))),
        }
    }

    /// The OpenAI chunks for one provider event (the JSON of its `data:` line).
    pub fn push(&mut self, event: &Value) -> Vec<Value> {
        match self {
            Self::Anthropic(t) => t.push(event),
            Self::Gemini(t) => t.push(event),
        }
    }

    /// Whether the provider has said its stream is complete (Anthropic's `message_stop`). Gemini sends no end
    /// marker: its stream is complete when the connection ends cleanly.
    pub fn is_done(&self) -> bool {
        match self {
            Self::Anthropic(t) => t.is_done(),
            Self::Gemini(_) => false,
        }
    }

    /// The chunks owed when the provider's stream ends cleanly (Gemini's usage chunk), and whether the stream
    /// counts as complete.
    pub fn finish(&mut self) -> (Vec<Value>, bool) {
        match self {
            Self::Anthropic(t) => (Vec::new(), t.is_done()),
            Self::Gemini(t) => (t.finish(), true),
        }
    }
}

/// Runs a translation that reads the request as one JSON value, lending it the map rather than copying the body
/// (the map is back in place whatever the outcome, for the next attempt). A field the provider cannot take is
/// the caller's 400.
fn translated_from(
    request: &mut Map<String, Value>,
    translate: impl FnOnce(&Value) -> Result<Value, TranslateError>,
) -> Result<Value, ProxyError> {
    let lent = Value::Object(std::mem::take(request));
    let translated = translate(&lent);
    if let Value::Object(map) = lent {
        *request = map;
    }
    Ok(translated?)
}

/// A provider answer the translation cannot read: the provider's fault, a 502.
fn unreadable(deployment: &Deployment, error: &TranslateError) -> ProxyError {
    ProxyError::UpstreamFailed(format!(
        "the answer of the provider `{}` could not be translated: {error}",
        deployment.provider.name
    ))
}
