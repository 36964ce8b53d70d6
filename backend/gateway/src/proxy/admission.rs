//! The step between routing and the upstream call that every endpoint shares: estimate the call's worst case
//! and ask [`crate::limits::Limits`] to admit it. The estimate is only computed when a token limit or a budget
//! covers the call, so unlimited keys never pay for tokenizing their prompt.

use super::ProxyState;
use super::tags::Attribution;
use crate::auth::AuthenticatedKey;
use crate::catalog::Deployment;
use crate::error::ProxyError;
use crate::limits::{Estimate, Ticket};
use crate::money::Prices;
use crate::usage::tokenizer;
use serde_json::{Map, Value};

/// Most choices (`n`) per request, as OpenAI allows.
const MAX_CHOICES: u64 = 128;
/// Most output tokens one request may reserve (all choices together); far above any model's output limit,
/// low enough that reservations can never overflow the counters.
const MAX_OUTPUT_TOKENS: u64 = 10_000_000;

/// Tokens added to every reserved prompt (message framing the tokenizer may not see).
const PROMPT_PAD_TOKENS: u64 = 16;

/// The largest output a call may produce: `max_completion_tokens` or `max_tokens`, else the configured
/// default, times the number of choices `n`.
pub fn max_output_tokens(request: &Map<String, Value>, default: u64) -> Result<u64, ProxyError> {
    let positive = |field: &'static str| -> Result<Option<u64>, ProxyError> {
        match request.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
                ProxyError::bad_request(
                    format!("`{field}` must be a positive integer"),
                    Some(field),
                )
            }),
        }
    };
    let max = positive("max_completion_tokens")?
        .or(positive("max_tokens")?)
        .unwrap_or(default);
    let choices = positive("n")?.unwrap_or(1);
    if choices > MAX_CHOICES {
        return Err(ProxyError::bad_request(
            format!("`n` must be at most {MAX_CHOICES}"),
            Some("n"),
        ));
    }
    let total = max.saturating_mul(choices);
    if total > MAX_OUTPUT_TOKENS {
        return Err(ProxyError::bad_request(
            format!(
                "max output tokens times `n` is {total}; at most {MAX_OUTPUT_TOKENS} can be reserved for one request"
            ),
            Some("max_tokens"),
        ));
    }
    Ok(total)
}

/// Tokens an image may cost at most (Anthropic's ceiling of about 1,600 per image is the highest of the
/// providers; OpenAI's high-detail tiles stay below it for the sizes they accept).
const TOKENS_PER_IMAGE: u64 = 1_600;

/// The prompt tokens of a chat request as far as they can be known before the call: messages, tool
/// definitions and the response format as text, and every image at its worst case.
pub fn chat_prompt_tokens(request: &Map<String, Value>) -> u64 {
    let messages = request.get("messages");
    let mut tokens = messages.map(tokenizer::count_chat_messages).unwrap_or(0);
    for field in ["tools", "functions", "response_format"] {
        if let Some(value) = request.get(field).filter(|v| !v.is_null()) {
            tokens += tokenizer::count_text(&value.to_string());
        }
    }
    let images = messages
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|part| {
            matches!(
                part.get("type").and_then(Value::as_str),
                Some("image_url" | "input_image" | "image")
            )
        })
        .count() as u64;
    tokens + images * TOKENS_PER_IMAGE
}

/// Gives a call that set no output bound the one its reservation assumed, so the provider cannot charge more
/// than was reserved (`max_completion_tokens`, OpenAI's current name for it).
pub fn bound_output(request: &mut Map<String, Value>, default: u64) {
    let unset = |field: &str| matches!(request.get(field), None | Some(Value::Null));
    if unset("max_tokens") && unset("max_completion_tokens") {
        request.insert("max_completion_tokens".into(), Value::from(default));
    }
}

/// Worst-case cost: every prompt token at the uncached input price, every output token at the output price.
/// Our prompt count is o200k's; providers with other tokenizers count differently (Anthropic and Gemini count
/// more for the same text), so the reserved prompt is padded by a quarter plus a little, or a reservation
/// could be smaller than the real charge and a hard budget could be overrun.
pub fn worst_case(prices: &Prices, counted_prompt: u64, max_output: u64) -> Estimate {
    let prompt_tokens = counted_prompt
        .saturating_add(counted_prompt / 4)
        .saturating_add(PROMPT_PAD_TOKENS);
    // Reasoning tokens are output tokens; when they are priced apart the dearer price is the worst case.
    let output_price = prices.output.max(prices.reasoning.unwrap_or(prices.output));
    let cost = prices
        .input
        .cost_of(prompt_tokens)
        .saturating_add(output_price.cost_of(max_output));
    Estimate {
        tokens: i64::try_from(prompt_tokens.saturating_add(max_output)).unwrap_or(i64::MAX),
        cost,
    }
}

/// Admits the call or answers with the refusal (429 / 503 in OpenAI's format).
pub async fn admit(
    state: &ProxyState,
    key: &AuthenticatedKey,
    deployment: &Deployment,
    attribution: &Attribution,
    tokens: impl FnOnce() -> (u64, u64),
) -> Result<Ticket, ProxyError> {
    let prices = deployment.prices_at(chrono::Utc::now());
    state
        .limits
        .admit(key, &attribution.tags, || {
            let (prompt, max_output) = tokens();
            worst_case(&prices, prompt, max_output)
        })
        .await
        .map_err(ProxyError::Limited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Picos, PricePerMTok};
    use serde_json::json;

    #[test]
    fn the_output_bound_comes_from_the_request_or_the_default() {
        let object = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(max_output_tokens(&object(json!({})), 4096).ok(), Some(4096));
        assert_eq!(
            max_output_tokens(&object(json!({"max_tokens": 10, "n": 3})), 4096).ok(),
            Some(30)
        );
        assert_eq!(
            max_output_tokens(
                &object(json!({"max_tokens": 10, "max_completion_tokens": 20})),
                4096
            )
            .ok(),
            Some(20)
        );
        assert!(max_output_tokens(&object(json!({"max_tokens": -1})), 4096).is_err());
        assert!(max_output_tokens(&object(json!({"n": "2"})), 4096).is_err());
    }

    #[test]
    fn the_worst_case_prices_every_token_at_full_price() {
        let prices = Prices {
            input: PricePerMTok(2_500_000),
            output: PricePerMTok(10_000_000),
            cached_input: Some(PricePerMTok(1_250_000)),
            reasoning: None,
        };
        let estimate = worst_case(&prices, 100, 50);
        // 100 counted prompt tokens are reserved as 100 + 25 + 16.
        assert_eq!(estimate.tokens, 141 + 50);
        assert_eq!(estimate.cost, Picos(141 * 2_500_000 + 50 * 10_000_000));
    }
}
