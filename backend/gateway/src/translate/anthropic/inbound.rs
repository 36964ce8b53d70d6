//! For Anthropic-SDK clients (`POST /v1/messages`) reaching a model in OpenAI format: their request turned into
//! an OpenAI request. The answer goes back with `response::openai_response_to_anthropic`.

use crate::translate::TranslateError;
use crate::translate::common::{array, object, path, present, refuse_unknown, string};
use serde_json::{Map, Value, json};

/// How error messages name the OpenAI side.
const TARGET: &str = "OpenAI Chat Completions";

/// Request fields that are translated.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "temperature",
    "top_p",
    "stream",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "output_config",
];

/// Request fields ignored because they do not change the answer: `service_tier` (Anthropic capacity choice) and
/// `cache_control` (a prompt-caching hint; `cache_control` on blocks is ignored too).
const IGNORED: &[&str] = &["service_tier", "cache_control"];

/// Translates an Anthropic Messages request into an OpenAI chat completion request. `system` becomes one system
/// message (blocks joined by a blank line); `tool_result` blocks become `tool` messages placed before the rest of
/// their user turn; `thinking` blocks of earlier turns are left out (Anthropic allows omitting them), as are
/// `is_error` on tool results (the result text carries the error) and `cache_control`. `max_tokens` becomes
/// `max_completion_tokens`. Refused: `top_k`, enabled `thinking`, `output_config.effort`, server tools, image
/// or document sources other than base64 and URL images and base64 PDFs, images inside tool results, and any
/// field not listed here.
pub fn anthropic_request_to_openai(request: &Value) -> Result<Value, TranslateError> {
    let req = request
        .as_object()
        .ok_or_else(|| TranslateError::new("", "the request body must be a JSON object"))?;
    refuse_unknown(req, KNOWN, IGNORED, "", TARGET)?;
    let mut out = Map::new();
    out.insert("model".into(), json!(string(req, "model", "")?));
    let mut messages = Vec::new();
    if let Some(system) = present(req, "system") {
        messages.push(json!({ "role": "system", "content": system_text(system)? }));
    }
    for (i, message) in array(req.get("messages").unwrap_or(&Value::Null), "messages")?
        .iter()
        .enumerate()
    {
        convert_message(message, &format!("messages[{i}]"), &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = present(req, "max_tokens") {
        out.insert("max_completion_tokens".into(), max.clone());
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = present(req, key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stop) = present(req, "stop_sequences") {
        out.insert("stop".into(), stop.clone());
    }
    if present(req, "stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    if let Some(metadata) = present(req, "metadata") {
        let metadata = object(metadata, "metadata")?;
        refuse_unknown(metadata, &["user_id"], &[], "metadata", TARGET)?;
        if let Some(user) = present(metadata, "user_id") {
            out.insert("user".into(), user.clone());
        }
    }
    if let Some(thinking) = present(req, "thinking")
        && thinking.get("type").and_then(Value::as_str) != Some("disabled")
    {
        return Err(TranslateError::unsupported("thinking", TARGET));
    }
    if let Some(config) = present(req, "output_config")
        && let Some(format) = response_format(config)?
    {
        out.insert("response_format".into(), format);
    }
    if let Some(tools) = present(req, "tools") {
        out.insert("tools".into(), Value::Array(convert_tools(tools)?));
    }
    if let Some(choice) = present(req, "tool_choice") {
        let choice = object(choice, "tool_choice")?;
        let openai = match choice.get("type").and_then(Value::as_str) {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => {
                json!({ "type": "function", "function": { "name": string(choice, "name", "tool_choice")? } })
            }
            _ => return Err(TranslateError::unsupported("tool_choice.type", TARGET)),
        };
        out.insert("tool_choice".into(), openai);
        if present(choice, "disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            out.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    Ok(Value::Object(out))
}

fn system_text(system: &Value) -> Result<String, TranslateError> {
    match system {
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut texts = Vec::new();
            for (i, block) in blocks.iter().enumerate() {
                let param = format!("system[{i}]");
                let block = object(block, &param)?;
                refuse_unknown(
                    block,
                    &["type", "text"],
                    &["cache_control", "citations"],
                    &param,
                    TARGET,
                )?;
                if block.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(TranslateError::unsupported(path(&param, "type"), TARGET));
                }
                texts.push(string(block, "text", &param)?);
            }
            Ok(texts.join("\n\n"))
        }
        _ => Err(TranslateError::new(
            "system",
            "`system` must be a string or an array of text blocks",
        )),
    }
}

/// Appends the OpenAI messages one Anthropic message becomes.
fn convert_message(
    message: &Value,
    prefix: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let msg = object(message, prefix)?;
    refuse_unknown(msg, &["role", "content"], &[], prefix, TARGET)?;
    let role = match string(msg, "role", prefix)? {
        "user" => "user",
        "assistant" => "assistant",
        _ => return Err(TranslateError::unsupported(path(prefix, "role"), TARGET)),
    };
    let content_param = path(prefix, "content");
    let blocks = match msg.get("content") {
        Some(Value::String(text)) => {
            out.push(json!({ "role": role, "content": text }));
            return Ok(());
        }
        Some(content) => array(content, &content_param)?,
        None => {
            return Err(TranslateError::new(
                &content_param,
                format!("`{content_param}` is required"),
            ));
        }
    };
    if role == "user" {
        user_message(blocks, &content_param, out)
    } else {
        out.push(assistant_message(blocks, &content_param)?);
        Ok(())
    }
}

fn user_message(blocks: &[Value], param: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let prefix = format!("{param}[{j}]");
        let block = object(block, &prefix)?;
        match block.get("type").and_then(Value::as_str) {
            Some("tool_result") => out.push(tool_message(block, &prefix)?),
            Some("text") => {
                refuse_unknown(
                    block,
                    &["type", "text"],
                    &["cache_control", "citations"],
                    &prefix,
                    TARGET,
                )?;
                parts.push(json!({ "type": "text", "text": string(block, "text", &prefix)? }));
            }
            Some("image") => parts.push(image_part(block, &prefix)?),
            Some("document") => parts.push(document_part(block, &prefix)?),
            _ => return Err(TranslateError::unsupported(prefix, TARGET)),
        }
    }
    match parts.as_slice() {
        [] => {}
        [only] if only["type"] == "text" => {
            out.push(json!({ "role": "user", "content": only["text"] }))
        }
        _ => out.push(json!({ "role": "user", "content": parts })),
    }
    Ok(())
}

fn tool_message(block: &Map<String, Value>, prefix: &str) -> Result<Value, TranslateError> {
    refuse_unknown(
        block,
        &["type", "tool_use_id", "content"],
        &["is_error", "cache_control"],
        prefix,
        TARGET,
    )?;
    let id = string(block, "tool_use_id", prefix)?;
    let content_param = path(prefix, "content");
    let content = match block.get("content").unwrap_or(&Value::Null) {
        Value::Null => json!(""),
        Value::String(s) => json!(s),
        Value::Array(items) => {
            let mut texts = Vec::new();
            for (k, item) in items.iter().enumerate() {
                let item_param = format!("{content_param}[{k}]");
                let item = object(item, &item_param)?;
                if item.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(TranslateError::unsupported(item_param, TARGET));
                }
                texts.push(string(item, "text", &item_param)?);
            }
            match texts.as_slice() {
                [only] => json!(only),
                _ => Value::Array(
                    texts
                        .iter()
                        .map(|t| json!({ "type": "text", "text": t }))
                        .collect(),
                ),
            }
        }
        _ => {
            return Err(TranslateError::new(
                &content_param,
                format!("`{content_param}` must be a string or an array"),
            ));
        }
    };
    Ok(json!({ "role": "tool", "tool_call_id": id, "content": content }))
}

fn image_part(block: &Map<String, Value>, prefix: &str) -> Result<Value, TranslateError> {
    refuse_unknown(
        block,
        &["type", "source"],
        &["cache_control"],
        prefix,
        TARGET,
    )?;
    let source_param = path(prefix, "source");
    let source = object(block.get("source").unwrap_or(&Value::Null), &source_param)?;
    let url = match source.get("type").and_then(Value::as_str) {
        Some("base64") => format!(
            "data:{};base64,{}",
            string(source, "media_type", &source_param)?,
            string(source, "data", &source_param)?
        ),
        Some("url") => string(source, "url", &source_param)?.to_owned(),
        _ => {
            return Err(TranslateError::unsupported(
                path(&source_param, "type"),
                TARGET,
            ));
        }
    };
    Ok(json!({ "type": "image_url", "image_url": { "url": url } }))
}

fn document_part(block: &Map<String, Value>, prefix: &str) -> Result<Value, TranslateError> {
    refuse_unknown(
        block,
        &["type", "source"],
        &["cache_control"],
        prefix,
        TARGET,
    )?;
    let source_param = path(prefix, "source");
    let source = object(block.get("source").unwrap_or(&Value::Null), &source_param)?;
    let is_pdf = source.get("type").and_then(Value::as_str) == Some("base64")
        && source.get("media_type").and_then(Value::as_str) == Some("application/pdf");
    if !is_pdf {
        return Err(TranslateError::unsupported(source_param, TARGET));
    }
    let data = string(source, "data", &source_param)?;
    Ok(
        json!({ "type": "file", "file": { "file_data": format!("data:application/pdf;base64,{data}") } }),
    )
}

fn assistant_message(blocks: &[Value], param: &str) -> Result<Value, TranslateError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let prefix = format!("{param}[{j}]");
        let block = object(block, &prefix)?;
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(string(block, "text", &prefix)?),
            Some("tool_use") => calls.push(json!({
                "id": string(block, "id", &prefix)?,
                "type": "function",
                "function": {
                    "name": string(block, "name", &prefix)?,
                    "arguments": block.get("input").cloned().unwrap_or_else(|| json!({})).to_string(),
                },
            })),
            Some("thinking" | "redacted_thinking") => {}
            _ => return Err(TranslateError::unsupported(prefix, TARGET)),
        }
    }
    let mut message = json!({ "role": "assistant", "content": text });
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(message)
}

fn convert_tools(tools: &Value) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::new();
    for (i, tool) in array(tools, "tools")?.iter().enumerate() {
        let prefix = format!("tools[{i}]");
        let tool = object(tool, &prefix)?;
        if !matches!(
            tool.get("type").and_then(Value::as_str),
            None | Some("custom")
        ) {
            return Err(TranslateError::unsupported(path(&prefix, "type"), TARGET));
        }
        refuse_unknown(
            tool,
            &["type", "name", "description", "input_schema", "strict"],
            &["cache_control"],
            &prefix,
            TARGET,
        )?;
        let mut function = Map::new();
        function.insert("name".into(), json!(string(tool, "name", &prefix)?));
        if let Some(description) = present(tool, "description") {
            function.insert("description".into(), description.clone());
        }
        if let Some(schema) = present(tool, "input_schema") {
            function.insert("parameters".into(), schema.clone());
        }
        if let Some(strict) = present(tool, "strict") {
            function.insert("strict".into(), strict.clone());
        }
        out.push(json!({ "type": "function", "function": function }));
    }
    Ok(out)
}

/// `output_config.format` (structured output) is OpenAI's `response_format: json_schema`, strict, since
/// Anthropic always enforces the schema. `effort` has no faithful OpenAI equivalent.
fn response_format(config: &Value) -> Result<Option<Value>, TranslateError> {
    let config = object(config, "output_config")?;
    refuse_unknown(config, &["format"], &[], "output_config", TARGET)?;
    let Some(format) = present(config, "format") else {
        return Ok(None);
    };
    let format = object(format, "output_config.format")?;
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err(TranslateError::unsupported(
            "output_config.format.type",
            TARGET,
        ));
    }
    let schema = present(format, "schema").ok_or_else(|| {
        TranslateError::new(
            "output_config.format.schema",
            "`output_config.format.schema` is required",
        )
    })?;
    Ok(Some(json!({
        "type": "json_schema",
        "json_schema": { "name": "output", "schema": schema, "strict": true },
    })))
}
