//! Helpers shared by the Anthropic and Gemini translations: reading JSON fields with a path for errors, data
//! URLs, the OpenAI parameters both directions refuse, and the tool-call id that carries a Gemini thought
//! signature.

use super::TranslateError;
use serde_json::{Map, Value};

/// Joins a path and a key: `path("messages[1]", "content")` is `messages[1].content`.
pub(crate) fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The value as an object, or an error naming `param`.
pub(crate) fn object<'a>(
    value: &'a Value,
    param: &str,
) -> Result<&'a Map<String, Value>, TranslateError> {
    value
        .as_object()
        .ok_or_else(|| TranslateError::new(param, format!("`{param}` must be an object")))
}

/// The value as an array, or an error naming `param`.
pub(crate) fn array<'a>(value: &'a Value, param: &str) -> Result<&'a Vec<Value>, TranslateError> {
    value
        .as_array()
        .ok_or_else(|| TranslateError::new(param, format!("`{param}` must be an array")))
}

/// A required string field of `map`.
pub(crate) fn string<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    prefix: &str,
) -> Result<&'a str, TranslateError> {
    let param = path(prefix, key);
    map.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::new(&param, format!("`{param}` must be a string")))
}

/// `map[key]` unless it is absent or null.
pub(crate) fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// Refuses every key of `map` that is neither translated (`known`) nor knowingly ignored (`ignored`).
pub(crate) fn refuse_unknown(
    map: &Map<String, Value>,
    known: &[&str],
    ignored: &[&str],
    prefix: &str,
    target: &str,
) -> Result<(), TranslateError> {
    match map
        .keys()
        .find(|k| !known.contains(&k.as_str()) && !ignored.contains(&k.as_str()))
    {
        Some(key) => Err(TranslateError::unsupported(path(prefix, key), target)),
        None => Ok(()),
    }
}

/// `data:<mime>;base64,<data>` split into its media type and payload.
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    (!mime.is_empty()).then_some((mime, data))
}

/// `stop` as a list: OpenAI accepts a string or an array of strings.
pub(crate) fn stop_sequences(value: &Value, param: &str) -> Result<Vec<Value>, TranslateError> {
    match value {
        Value::String(s) => Ok(vec![Value::String(s.clone())]),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items.clone()),
        _ => Err(TranslateError::new(
            param,
            format!("`{param}` must be a string or an array of strings"),
        )),
    }
}

/// The text of an OpenAI `content` that may only hold text: a string or an array of `text` parts.
pub(crate) fn text_parts(value: &Value, param: &str) -> Result<Vec<String>, TranslateError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| {
                let prefix = format!("{param}[{j}]");
                let part = object(part, &prefix)?;
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => Ok(string(part, "text", &prefix)?.to_owned()),
                    _ => Err(TranslateError::new(
                        &prefix,
                        format!("`{prefix}` must be a text part here"),
                    )),
                }
            })
            .collect(),
        _ => Err(TranslateError::new(
            param,
            format!("`{param}` must be a string or an array of parts"),
        )),
    }
}

/// Parses an OpenAI tool call's `arguments` (a JSON string) into the object Anthropic and Gemini expect. An
/// empty string is an empty object.
pub(crate) fn arguments_object(
    value: Option<&Value>,
    param: &str,
) -> Result<Value, TranslateError> {
    let text = value.and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(parsed @ Value::Object(_)) => Ok(parsed),
        _ => Err(TranslateError::new(
            param,
            format!("`{param}` must be a JSON object encoded as a string"),
        )),
    }
}

/// The OpenAI sampling parameters that neither Anthropic nor a translated round trip can honour unless they are
/// at their neutral value. `allow` lists those the target does support.
pub(crate) fn refuse_non_neutral(
    request: &Map<String, Value>,
    allow: &[&str],
    target: &str,
) -> Result<(), TranslateError> {
    let check = |key: &str, neutral: &dyn Fn(&Value) -> bool| match present(request, key) {
        Some(v) if !allow.contains(&key) && !neutral(v) => {
            Err(TranslateError::unsupported(key, target))
        }
        _ => Ok(()),
    };
    check("n", &|v| v.as_u64() == Some(1))?;
    check("logprobs", &|v| v.as_bool() == Some(false))?;
    check("top_logprobs", &|_| false)?;
    check("presence_penalty", &|v| v.as_f64() == Some(0.0))?;
    check("frequency_penalty", &|v| v.as_f64() == Some(0.0))?;
    check("seed", &|_| false)?;
    check("logit_bias", &|v| v.as_object().is_some_and(Map::is_empty))?;
    check("modalities", &|v| *v == serde_json::json!(["text"]))?;
    Ok(())
}

/// Separates a synthesised tool-call id from the Gemini thought signature it carries. The convention
/// (`<id>__thought__<signature>`) is LiteLLM's; the signature is stored base64url without padding so that the
/// id also satisfies Anthropic's `^[a-zA-Z0-9_-]+$` should the conversation move there.
const THOUGHT_SEPARATOR: &str = "__thought__";

/// Builds a tool-call id that carries `signature` (standard base64, as Gemini sends it) back on the next turn.
pub(crate) fn tool_id_with_signature(base: &str, signature: Option<&str>) -> String {
    match signature {
        Some(sig) if !sig.is_empty() => {
            let url: String = sig
                .chars()
                .filter(|c| *c != '=')
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            format!("{base}{THOUGHT_SEPARATOR}{url}")
        }
        _ => base.to_owned(),
    }
}

/// The thought signature (standard base64) a tool-call id carries, if any.
pub(crate) fn signature_from_tool_id(id: &str) -> Option<String> {
    let (_, url) = id.rsplit_once(THOUGHT_SEPARATOR)?;
    if url.is_empty() {
        return None;
    }
    let mut sig: String = url
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !sig.len().is_multiple_of(4) {
        sig.push('=');
    }
    Some(sig)
}
