//! OpenAI messages turned into Gemini `contents` and `systemInstruction` parts.

use super::TARGET;
use crate::translate::TranslateError;
use crate::translate::common::{
    arguments_object, array, object, parse_data_url, path, present, refuse_unknown,
    signature_from_tool_id, string, text_parts,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Message fields translated; `name` is ignored.
const MESSAGE_FIELDS: &[&str] = &["role", "content", "tool_calls", "tool_call_id", "refusal"];

/// Which Gemini turn a message belongs to: function results get a `user` turn of their own (as LiteLLM sends
/// them), so that they directly follow the model turn with the calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    User,
    Model,
    FunctionResults,
}

/// Splits OpenAI messages into `systemInstruction` parts and Gemini `contents`.
pub(super) fn contents(value: &Value) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    let mut turns: Vec<(Turn, Vec<Value>)> = Vec::new();
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, message) in array(value, "messages")?.iter().enumerate() {
        let prefix = format!("messages[{i}]");
        let msg = object(message, &prefix)?;
        refuse_unknown(msg, MESSAGE_FIELDS, &["name"], &prefix, TARGET)?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        let content_param = path(&prefix, "content");
        match string(msg, "role", &prefix)? {
            "system" | "developer" => system.extend(
                text_parts(content, &content_param)?
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .map(|text| json!({ "text": text })),
            ),
            "user" => push(&mut turns, Turn::User, user_parts(content, &content_param)?),
            "assistant" => push(
                &mut turns,
                Turn::Model,
                model_parts(msg, &prefix, &mut call_names)?,
            ),
            "tool" => {
                let id = string(msg, "tool_call_id", &prefix)?;
                let name = call_names.get(id).ok_or_else(|| {
                    TranslateError::new(
                        path(&prefix, "tool_call_id"),
                        format!("`{prefix}.tool_call_id` does not match a tool call of an earlier assistant message; Gemini needs the function's name"),
                    )
                })?;
                let output = match content {
                    Value::String(s) => s.clone(),
                    other => text_parts(other, &content_param)?.concat(),
                };
                let part = json!({ "functionResponse": { "name": name, "response": { "output": output } } });
                push(&mut turns, Turn::FunctionResults, vec![part]);
            }
            _ => return Err(TranslateError::unsupported(path(&prefix, "role"), TARGET)),
        }
    }
    let contents = turns
        .into_iter()
        .map(|(turn, parts)| {
            let role = if turn == Turn::Model { "model" } else { "user" };
            json!({ "role": role, "parts": parts })
        })
        .collect();
    Ok((system, contents))
}

fn push(turns: &mut Vec<(Turn, Vec<Value>)>, turn: Turn, parts: Vec<Value>) {
    if parts.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if *last == turn => existing.extend(parts),
        _ => turns.push((turn, parts)),
    }
}

fn text_part(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({ "text": text }))
}

fn user_parts(content: &Value, param: &str) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        Value::String(s) => return Ok(text_part(s).into_iter().collect()),
        Value::Array(parts) => parts,
        _ => {
            return Err(TranslateError::new(
                param,
                format!("`{param}` must be a string or an array of parts"),
            ));
        }
    };
    let mut out = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let prefix = format!("{param}[{j}]");
        let part = object(part, &prefix)?;
        match part.get("type").and_then(Value::as_str) {
            Some("text") => out.extend(text_part(string(part, "text", &prefix)?)),
            Some("image_url") => {
                let image_param = path(&prefix, "image_url");
                let image = object(part.get("image_url").unwrap_or(&Value::Null), &image_param)?;
                out.push(media_part(string(image, "url", &image_param)?));
            }
            Some("input_audio") => {
                let audio_param = path(&prefix, "input_audio");
                let audio = object(
                    part.get("input_audio").unwrap_or(&Value::Null),
                    &audio_param,
                )?;
                let mime = match string(audio, "format", &audio_param)? {
                    "wav" => "audio/wav",
                    "mp3" => "audio/mp3",
                    _ => {
                        return Err(TranslateError::unsupported(
                            path(&audio_param, "format"),
                            TARGET,
                        ));
                    }
                };
                let data = string(audio, "data", &audio_param)?;
                out.push(json!({ "inlineData": { "mimeType": mime, "data": data } }));
            }
            Some("file") => {
                let file_param = path(&prefix, "file");
                let file = object(part.get("file").unwrap_or(&Value::Null), &file_param)?;
                match file
                    .get("file_data")
                    .and_then(Value::as_str)
                    .and_then(parse_data_url)
                {
                    Some((mime, data)) => {
                        out.push(json!({ "inlineData": { "mimeType": mime, "data": data } }))
                    }
                    None => return Err(TranslateError::unsupported(file_param, TARGET)),
                }
            }
            other => {
                return Err(TranslateError::new(
                    &prefix,
                    format!(
                        "`{prefix}` (a `{}` part) cannot be translated to the {TARGET} format",
                        other.unwrap_or("untyped")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// A data URL becomes `inlineData`; any other URL `fileData`, with the media type guessed from the extension
/// when it is a common one (Gemini's `fileData.mimeType` is optional).
fn media_part(url: &str) -> Value {
    if let Some((mime, data)) = parse_data_url(url) {
        return json!({ "inlineData": { "mimeType": mime, "data": data } });
    }
    let file = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let extension = file.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let mime = match extension {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        "gif" => Some("image/gif"),
        "heic" => Some("image/heic"),
        "heif" => Some("image/heif"),
        "pdf" => Some("application/pdf"),
        _ => None,
    };
    match mime {
        Some(mime) => json!({ "fileData": { "mimeType": mime, "fileUri": url } }),
        None => json!({ "fileData": { "fileUri": url } }),
    }
}

fn model_parts(
    msg: &Map<String, Value>,
    prefix: &str,
    call_names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, TranslateError> {
    let mut parts = Vec::new();
    let content_param = path(prefix, "content");
    match msg.get("content").unwrap_or(&Value::Null) {
        Value::Array(items) => {
            for (j, item) in items.iter().enumerate() {
                let item_param = format!("{content_param}[{j}]");
                let item = object(item, &item_param)?;
                let text = match item.get("type").and_then(Value::as_str) {
                    Some("text") => string(item, "text", &item_param)?,
                    Some("refusal") => string(item, "refusal", &item_param)?,
                    _ => return Err(TranslateError::unsupported(item_param, TARGET)),
                };
                parts.extend(text_part(text));
            }
        }
        other => {
            for text in text_parts(other, &content_param)? {
                parts.extend(text_part(&text));
            }
        }
    }
    if let Some(refusal) = present(msg, "refusal").and_then(Value::as_str) {
        parts.extend(text_part(refusal));
    }
    if let Some(calls) = present(msg, "tool_calls") {
        let calls_param = path(prefix, "tool_calls");
        for (k, call) in array(calls, &calls_param)?.iter().enumerate() {
            let call_param = format!("{calls_param}[{k}]");
            let call = object(call, &call_param)?;
            if call.get("type").and_then(Value::as_str) != Some("function") {
                return Err(TranslateError::unsupported(
                    path(&call_param, "type"),
                    TARGET,
                ));
            }
            let id = string(call, "id", &call_param)?;
            let function_param = path(&call_param, "function");
            let function = object(
                call.get("function").unwrap_or(&Value::Null),
                &function_param,
            )?;
            let name = string(function, "name", &function_param)?;
            let args = arguments_object(
                function.get("arguments"),
                &path(&function_param, "arguments"),
            )?;
            call_names.insert(id.to_owned(), name.to_owned());
            let mut part = json!({ "functionCall": { "name": name, "args": args } });
            if let Some(signature) = signature_from_tool_id(id) {
                part["thoughtSignature"] = json!(signature);
            }
            parts.push(part);
        }
    }
    Ok(parts)
}
