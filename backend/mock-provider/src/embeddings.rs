//! `POST /v1/embeddings`: deterministic unit vectors derived from a hash of each input, as floats or as
//! base64 of little-endian f32 (what the official Python SDK asks for by default).

use actix_web::HttpResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

use crate::error;
use crate::faults::RequestFaults;
use crate::tokens;

/// Vector length when the request gives no `dimensions`.
const DEFAULT_DIMENSIONS: usize = 8;
/// Upper bound on `dimensions`, so a typo cannot make the mock allocate gigabytes.
const MAX_DIMENSIONS: usize = 8192;

/// One input as given: text, or pre-tokenised ids (counted as given).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Input<'a> {
    Text(&'a str),
    Tokens(&'a [Value]),
}

impl Input<'_> {
    fn tokens(&self) -> u64 {
        match self {
            Input::Text(text) => tokens::count(text),
            Input::Tokens(ids) => ids.len() as u64,
        }
    }

    /// FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    fn hash(&self) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        let mut feed = |bytes: &[u8]| {
            for byte in bytes {
                hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        match self {
            Input::Text(text) => feed(text.as_bytes()),
            Input::Tokens(ids) => ids
                .iter()
                .for_each(|id| feed(&id.as_u64().unwrap_or(0).to_le_bytes())),
        }
        hash
    }
}

/// A unit vector of `dimensions` floats, the same for the same input.
pub(crate) fn vector(seed: u64, dimensions: usize) -> Vec<f32> {
    let mut state = seed;
    let mut values: Vec<f32> = (0..dimensions)
        .map(|_| {
            // splitmix64: a tiny, well-mixed generator; the top 24 bits map exactly onto an f32 in [-1, 1).
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        values.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

/// Base64 of the vector's little-endian f32 bytes, OpenAI's `encoding_format: "base64"`.
pub(crate) fn to_base64(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

#[derive(Serialize)]
#[serde(untagged)]
enum Embedding {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingView {
    object: &'static str,
    index: usize,
    embedding: Embedding,
}

/// Embeddings report only input tokens.
#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct ResponseView<'a> {
    object: &'static str,
    data: Vec<EmbeddingView>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<EmbeddingUsage>,
}

/// Answers one embeddings request whose body parsed as JSON.
pub(crate) fn respond(body: &Value, faults: &RequestFaults) -> HttpResponse {
    let Some(model) = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    else {
        return error::bad_request("you must provide a model parameter", Some("model"), None);
    };
    let Some(inputs) = body.get("input").and_then(parse_inputs) else {
        return error::bad_request(
            "'input' must be a non-empty string, array of strings, or array of token arrays.",
            Some("input"),
            None,
        );
    };
    let dimensions = match body.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(value) => match value.as_u64().and_then(|d| usize::try_from(d).ok()) {
            Some(d) if (1..=MAX_DIMENSIONS).contains(&d) => d,
            _ => {
                return error::bad_request(
                    "'dimensions' must be a positive integer.",
                    Some("dimensions"),
                    None,
                );
            }
        },
    };
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return error::bad_request(
                "'encoding_format' must be 'float' or 'base64'.",
                Some("encoding_format"),
                None,
            );
        }
    };
    let data = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let values = vector(input.hash(), dimensions);
            let embedding = if base64 {
                Embedding::Base64(to_base64(&values))
            } else {
                Embedding::Float(values)
            };
            EmbeddingView {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let prompt_tokens = inputs.iter().map(Input::tokens).sum();
    let usage = (!faults.no_usage).then_some(EmbeddingUsage {
        prompt_tokens,
        total_tokens: prompt_tokens,
    });
    HttpResponse::Ok().json(ResponseView {
        object: "list",
        data,
        model,
        usage,
    })
}

/// Accepts a string, an array of strings, one token array, or an array of token arrays.
fn parse_inputs(input: &Value) -> Option<Vec<Input<'_>>> {
    match input {
        Value::String(text) if !text.is_empty() => Some(vec![Input::Text(text)]),
        Value::Array(items) if !items.is_empty() => {
            if items.iter().all(Value::is_u64) {
                return Some(vec![Input::Tokens(items)]);
            }
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) if !text.is_empty() => Some(Input::Text(text)),
                    Value::Array(ids) if !ids.is_empty() && ids.iter().all(Value::is_u64) => {
                        Some(Input::Tokens(ids))
                    }
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vectors_are_deterministic_unit_length_and_input_specific() {
        let a = vector(Input::Text("hello").hash(), 8);
        assert_eq!(a, vector(Input::Text("hello").hash(), 8));
        assert_ne!(a, vector(Input::Text("hullo").hash(), 8));
        let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        assert_eq!(vector(1, 1536).len(), 1536);
    }

    #[test]
    fn base64_round_trips_to_the_same_floats() {
        let values = vector(42, 16);
        let bytes = STANDARD.decode(to_base64(&values)).unwrap_or_default();
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(decoded, values);
    }

    #[test]
    fn inputs_accept_openai_shapes_and_count_token_arrays_as_given() {
        let tokens = json!([1, 2, 3]);
        let parsed = parse_inputs(&tokens).unwrap_or_default();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].tokens(), 3);
        assert_eq!(parse_inputs(&json!(["a", "b"])).map(|v| v.len()), Some(2));
        assert_eq!(
            parse_inputs(&json!([[1, 2], [3]])).map(|v| v.len()),
            Some(2)
        );
        assert_eq!(parse_inputs(&json!([])), None);
        assert_eq!(parse_inputs(&json!(["a", 1.5])), None);
        assert_eq!(parse_inputs(&json!(7)), None);
    }
}
