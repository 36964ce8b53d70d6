//! An OpenAI Chat Completions request turned into an Anthropic Messages request.

use super::TARGET;
use crate::translate::TranslateError;
use crate::translate::common::{
    arguments_object, array, object, parse_data_url, path, present, refuse_non_neutral,
    refuse_unknown, stop_sequences, string, text_parts,
};
use serde_json::{Map, Value, json};

/// Request fields that are translated (or refused unless neutral, see `refuse_non_neutral`).
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "user",
    "n",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logit_bias",
    "modalities",
];

/// Request fields ignored because they do not change the answer: `stream_options` (usage is always reported),
/// `metadata` (taken out by the gateway), `store` (OpenAI-side storage), `service_tier`, `prompt_cache_key` and
/// `safety_identifier` (OpenAI-side routing and abuse hints).
const IGNORED: &[&str] = &[
    "stream_options",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

/// Message fields translated; `name` (a participant label Anthropic has no place for) is ignored, and `audio` or
/// `function_call` are refused.
const MESSAGE_FIELDS: &[&str] = &["role", "content", "tool_calls", "tool_call_id", "refusal"];

/// Translates an OpenAI request for Anthropic's `POST /v1/messages`. Anthropic requires `max_tokens`: it is taken
/// from `max_completion_tokens`, then `max_tokens`, then `default_max_tokens`. System and developer messages,
/// wherever they are, become the top-level `system` (one text block each); consecutive turns of one role are
/// merged; tool results become `tool_result` blocks of a user turn. Image `detail`, a file part's `filename` and
/// a message's `name` are ignored. Refused: `n > 1`, `logprobs`, `top_logprobs`, non-zero penalties, `seed`,
/// `logit_bias`, audio, `response_format: json_object`, and any field not listed here.
pub fn openai_request_to_anthropic(
    request: &Value,
    default_max_tokens: u32,
) -> Result<Value, TranslateError> {
    let req = request
        .as_object()
        .ok_or_else(|| TranslateError::new("", "the request body must be a JSON object"))?;
    refuse_unknown(req, KNOWN, IGNORED, "", TARGET)?;
    refuse_non_neutral(req, &[], TARGET)?;

    let mut out = Map::new();
    out.insert("model".into(), json!(string(req, "model", "")?));
    let max_tokens = match present(req, "max_completion_tokens").or(present(req, "max_tokens")) {
        Some(v) => v.as_u64().ok_or_else(|| {
            TranslateError::new("max_tokens", "`max_tokens` must be a non-negative integer")
        })?,
        None => u64::from(default_max_tokens),
    };
    out.insert("max_tokens".into(), json!(max_tokens));

    let (system, messages) = messages(req.get("messages").unwrap_or(&Value::Null))?;
    match system.as_slice() {
        [] => {}
        [only] => {
            out.insert("system".into(), only["text"].clone());
        }
        _ => {
            out.insert("system".into(), Value::Array(system));
        }
    }
    out.insert("messages".into(), Value::Array(messages));

    for key in ["temperature", "top_p"] {
        if let Some(v) = present(req, key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stop) = present(req, "stop") {
        out.insert(
            "stop_sequences".into(),
            json!(stop_sequences(stop, "stop")?),
        );
    }
    if present(req, "stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), json!(true));
    }
    if let Some(user) = present(req, "user") {
        let user = user
            .as_str()
            .ok_or_else(|| TranslateError::new("user", "`user` must be a string"))?;
        out.insert("metadata".into(), json!({ "user_id": user }));
    }
    if let Some(format) = present(req, "response_format")
        && let Some(config) = output_config(format)?
    {
        out.insert("output_config".into(), config);
    }
    // An empty `tools` list is the same as none (Anthropic refuses `tool_choice` without tools).
    let tools_given = present(req, "tools").filter(|t| t.as_array().is_none_or(|a| !a.is_empty()));
    if let Some(defs) = tools_given {
        out.insert("tools".into(), Value::Array(tools(defs)?));
        let parallel = present(req, "parallel_tool_calls").and_then(Value::as_bool);
        let choice = match present(req, "tool_choice") {
            Some(choice) => tool_choice(choice)?,
            None => json!({ "type": "auto" }),
        };
        out.insert("tool_choice".into(), with_parallel(choice, parallel));
    } else if let Some(choice) = present(req, "tool_choice") {
        // Without tools, `auto` and `none` mean nothing; `required` or a named tool is left for Anthropic to refuse.
        let choice = tool_choice(choice)?;
        if !matches!(choice["type"].as_str(), Some("auto" | "none")) {
            out.insert("tool_choice".into(), choice);
        }
    }
    Ok(Value::Object(out))
}

/// `parallel_tool_calls: false` is Anthropic's `disable_parallel_tool_use: true` (meaningless with `none`).
fn with_parallel(mut choice: Value, parallel: Option<bool>) -> Value {
    if parallel == Some(false) && choice["type"] != "none" {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    choice
}

type Turn = (&'static str, Vec<Value>);

/// Splits OpenAI messages into Anthropic's system blocks and alternating turns.
fn messages(value: &Value) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, message) in array(value, "messages")?.iter().enumerate() {
        let prefix = format!("messages[{i}]");
        let msg = object(message, &prefix)?;
        let role = string(msg, "role", &prefix)?;
        refuse_unknown(msg, MESSAGE_FIELDS, &["name"], &prefix, TARGET)?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        let content_param = path(&prefix, "content");
        match role {
            "system" | "developer" => {
                for text in text_parts(content, &content_param)? {
                    if !text.is_empty() {
                        system.push(json!({ "type": "text", "text": text }));
                    }
                }
            }
            "user" => push(&mut turns, "user", user_blocks(content, &content_param)?),
            "assistant" => push(&mut turns, "assistant", assistant_blocks(msg, &prefix)?),
            "tool" => {
                let id = string(msg, "tool_call_id", &prefix)?;
                let content = match content {
                    Value::String(s) => json!(s),
                    other => Value::Array(
                        text_parts(other, &content_param)?
                            .into_iter()
                            .map(|text| json!({ "type": "text", "text": text }))
                            .collect(),
                    ),
                };
                let block = json!({ "type": "tool_result", "tool_use_id": id, "content": content });
                push(&mut turns, "user", vec![block]);
            }
            _ => return Err(TranslateError::unsupported(path(&prefix, "role"), TARGET)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    Ok((system, messages))
}

/// Appends blocks to the last turn when it has the same role (Anthropic wants alternating turns).
fn push(turns: &mut Vec<Turn>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({ "type": "text", "text": text }))
}

fn user_blocks(content: &Value, param: &str) -> Result<Vec<Value>, TranslateError> {
    match content {
        Value::String(s) => Ok(text_block(s).into_iter().collect()),
        Value::Array(parts) => {
            let mut blocks = Vec::new();
            for (j, part) in parts.iter().enumerate() {
                blocks.extend(user_part(part, &format!("{param}[{j}]"))?);
            }
            Ok(blocks)
        }
        _ => Err(TranslateError::new(
            param,
            format!("`{param}` must be a string or an array of parts"),
        )),
    }
}

fn user_part(part: &Value, prefix: &str) -> Result<Option<Value>, TranslateError> {
    let part = object(part, prefix)?;
    match part.get("type").and_then(Value::as_str) {
        Some("text") => Ok(text_block(string(part, "text", prefix)?)),
        Some("image_url") => {
            let image_param = path(prefix, "image_url");
            let image = object(part.get("image_url").unwrap_or(&Value::Null), &image_param)?;
            let url = string(image, "url", &image_param)?;
            let source = match parse_data_url(url) {
                Some((mime, data)) => json!({ "type": "base64", "media_type": mime, "data": data }),
                None => json!({ "type": "url", "url": url }),
            };
            Ok(Some(json!({ "type": "image", "source": source })))
        }
        Some("file") => {
            let file_param = path(prefix, "file");
            let file = object(part.get("file").unwrap_or(&Value::Null), &file_param)?;
            match file
                .get("file_data")
                .and_then(Value::as_str)
                .and_then(parse_data_url)
            {
                Some(("application/pdf", data)) => Ok(Some(json!({
                    "type": "document",
                    "source": { "type": "base64", "media_type": "application/pdf", "data": data },
                }))),
                _ => Err(TranslateError::new(
                    &file_param,
                    format!(
                        "`{file_param}` can only be a base64 PDF (`file_data`) for the {TARGET} format"
                    ),
                )),
            }
        }
        other => Err(TranslateError::new(
            prefix,
            format!(
                "`{prefix}` (a `{}` part) cannot be translated to the {TARGET} format",
                other.unwrap_or("untyped")
            ),
        )),
    }
}

fn assistant_blocks(msg: &Map<String, Value>, prefix: &str) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::new();
    let content_param = path(prefix, "content");
    match msg.get("content").unwrap_or(&Value::Null) {
        Value::Array(parts) => {
            for (j, part) in parts.iter().enumerate() {
                let part_param = format!("{content_param}[{j}]");
                let part = object(part, &part_param)?;
                let text = match part.get("type").and_then(Value::as_str) {
                    Some("text") => string(part, "text", &part_param)?,
                    Some("refusal") => string(part, "refusal", &part_param)?,
                    _ => return Err(TranslateError::unsupported(part_param, TARGET)),
                };
                blocks.extend(text_block(text));
            }
        }
        other => {
            for text in text_parts(other, &content_param)? {
                blocks.extend(text_block(&text));
            }
        }
    }
    if let Some(refusal) = present(msg, "refusal").and_then(Value::as_str) {
        blocks.extend(text_block(refusal));
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
            let function_param = path(&call_param, "function");
            let function = object(
                call.get("function").unwrap_or(&Value::Null),
                &function_param,
            )?;
            blocks.push(json!({
                "type": "tool_use",
                "id": string(call, "id", &call_param)?,
                "name": string(function, "name", &function_param)?,
                "input": arguments_object(function.get("arguments"), &path(&function_param, "arguments"))?,
            }));
        }
    }
    Ok(blocks)
}

fn tools(value: &Value) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::new();
    for (i, tool) in array(value, "tools")?.iter().enumerate() {
        let prefix = format!("tools[{i}]");
        let tool = object(tool, &prefix)?;
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            return Err(TranslateError::unsupported(path(&prefix, "type"), TARGET));
        }
        let function_param = path(&prefix, "function");
        let function = object(
            tool.get("function").unwrap_or(&Value::Null),
            &function_param,
        )?;
        refuse_unknown(
            function,
            &["name", "description", "parameters", "strict"],
            &[],
            &function_param,
            TARGET,
        )?;
        let mut def = Map::new();
        def.insert(
            "name".into(),
            json!(string(function, "name", &function_param)?),
        );
        if let Some(description) = present(function, "description") {
            def.insert("description".into(), description.clone());
        }
        let schema = present(function, "parameters")
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
        def.insert("input_schema".into(), schema);
        if present(function, "strict").and_then(Value::as_bool) == Some(true) {
            def.insert("strict".into(), json!(true));
        }
        out.push(Value::Object(def));
    }
    Ok(out)
}

fn tool_choice(value: &Value) -> Result<Value, TranslateError> {
    match value {
        Value::String(s) if s == "none" => Ok(json!({ "type": "none" })),
        Value::String(s) if s == "auto" => Ok(json!({ "type": "auto" })),
        Value::String(s) if s == "required" => Ok(json!({ "type": "any" })),
        Value::Object(choice) if choice.get("type").and_then(Value::as_str) == Some("function") => {
            let function = object(
                choice.get("function").unwrap_or(&Value::Null),
                "tool_choice.function",
            )?;
            Ok(json!({ "type": "tool", "name": string(function, "name", "tool_choice.function")? }))
        }
        _ => Err(TranslateError::unsupported("tool_choice", TARGET)),
    }
}

/// `response_format: json_schema` is Anthropic's structured output (`output_config.format`); `json_object` has
/// no Anthropic equivalent.
fn output_config(format: &Value) -> Result<Option<Value>, TranslateError> {
    let format = object(format, "response_format")?;
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_schema") => {
            let spec = object(
                format.get("json_schema").unwrap_or(&Value::Null),
                "response_format.json_schema",
            )?;
            let schema = present(spec, "schema").ok_or_else(|| {
                TranslateError::new(
                    "response_format.json_schema.schema",
                    "`response_format.json_schema.schema` is required",
                )
            })?;
            Ok(Some(
                json!({ "format": { "type": "json_schema", "schema": schema } }),
            ))
        }
        _ => Err(TranslateError::unsupported("response_format", TARGET)),
    }
}
