//! Reading a Messages API request: the fields Anthropic requires (`model`, `max_tokens`, `messages`), the
//! shape of system prompts and content blocks, and what the mock needs from it (the text to echo, the tool
//! to call, the prompt's tokens and the limits). Error messages follow Anthropic's `path: problem` style.

use serde_json::Value;

use crate::reply::Limits;
use crate::tokens;

/// Content block types the Messages API accepts in requests.
const BLOCK_TYPES: [&str; 7] = [
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
];

/// What the mock takes from a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessagesRequest {
    pub model: String,
    pub stream: bool,
    pub limits: Limits,
    pub prompt_tokens: u64,
    /// Text of the last user turn that has any (tool results excluded).
    pub user_text: String,
    /// The tool to call, if the mock should answer with a `tool_use` block.
    pub tool: Option<String>,
}

/// Validates `body`; the error is the message of a 400 `invalid_request_error`.
pub(crate) fn parse(body: &Value) -> Result<MessagesRequest, String> {
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        Some(_) => return Err("model: Input should be a valid string".into()),
        None => return Err("model: Field required".into()),
    };
    let max_tokens = match body.get("max_tokens") {
        None => return Err("max_tokens: Field required".into()),
        Some(value) => match value.as_u64() {
            Some(0) => return Err("max_tokens: Input should be greater than or equal to 1".into()),
            Some(n) => n,
            None => return Err("max_tokens: Input should be a valid integer".into()),
        },
    };
    let messages = match body.get("messages") {
        None => return Err("messages: Field required".into()),
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err("messages: at least one message is required".into());
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err("messages: Input should be a valid list".into()),
    };
    let mut message_tokens = Vec::with_capacity(messages.len() + 1);
    match body.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(system)) => message_tokens.push(tokens::count(system)),
        Some(Value::Array(blocks)) => {
            check_blocks(blocks, "system")?;
            message_tokens.push(blocks_tokens(blocks));
        }
        Some(_) => return Err("system: Input should be a valid string".into()),
    }
    for (i, message) in messages.iter().enumerate() {
        match message.get("role").and_then(Value::as_str) {
            Some("user" | "assistant") => {}
            _ => {
                return Err(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                ));
            }
        }
        match message.get("content") {
            Some(Value::String(text)) => message_tokens.push(tokens::count(text)),
            Some(Value::Array(blocks)) => {
                check_blocks(blocks, &format!("messages.{i}.content"))?;
                message_tokens.push(blocks_tokens(blocks));
            }
            Some(_) => {
                return Err(format!(
                    "messages.{i}.content: Input should be a valid list"
                ));
            }
            None => return Err(format!("messages.{i}.content: Field required")),
        }
    }
    check_tools(body)?;
    let stop_sequences = match body.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("stop_sequences: Input should be a valid list of strings")?,
        Some(_) => return Err("stop_sequences: Input should be a valid list".into()),
    };
    Ok(MessagesRequest {
        model,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        limits: Limits {
            max_tokens: Some(max_tokens),
            stop_sequences,
        },
        prompt_tokens: tokens::prompt(message_tokens),
        user_text: last_user_text(messages),
        tool: tool_to_call(body, messages),
    })
}

/// Checks each block's type and the fields the mock's clients most often get wrong.
fn check_blocks(blocks: &[Value], at: &str) -> Result<(), String> {
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.{j}");
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        if !BLOCK_TYPES.contains(&kind) {
            return Err(format!(
                "{at}: Input tag '{kind}' found using 'type' does not match any of the expected tags: {}",
                BLOCK_TYPES.map(|t| format!("'{t}'")).join(", ")
            ));
        }
        let missing = match kind {
            "text" => first_missing(block, &["text"]),
            "image" => check_image(block),
            "tool_use" => first_missing(block, &["id", "name", "input"]),
            "tool_result" => first_missing(block, &["tool_use_id"]),
            _ => None,
        };
        if let Some(field) = missing {
            return Err(format!("{at}.{kind}.{field}: Field required"));
        }
    }
    Ok(())
}

fn first_missing(value: &Value, fields: &[&'static str]) -> Option<String> {
    fields
        .iter()
        .find(|f| value.get(**f).is_none())
        .map(|f| (*f).to_owned())
}

/// An image's `source` is `{type: base64, media_type, data}` or `{type: url, url}`.
fn check_image(block: &Value) -> Option<String> {
    let Some(source) = block.get("source") else {
        return Some("source".into());
    };
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            first_missing(source, &["media_type", "data"]).map(|f| format!("source.base64.{f}"))
        }
        Some("url") => first_missing(source, &["url"]).map(|f| format!("source.url.{f}")),
        Some("file") => first_missing(source, &["file_id"]).map(|f| format!("source.file.{f}")),
        _ => Some("source.type".into()),
    }
}

/// Custom tools need a `name` and an `input_schema`; server tools (with a `type`) only a `name`.
fn check_tools(body: &Value) -> Result<(), String> {
    let tools = match body.get("tools") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err("tools: Input should be a valid list".into()),
    };
    for (i, tool) in tools.iter().enumerate() {
        let custom = tool
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(|t| t == "custom");
        let required: &[&'static str] = if custom {
            &["name", "input_schema"]
        } else {
            &["name"]
        };
        if let Some(field) = first_missing(tool, required) {
            return Err(format!("tools.{i}.custom.{field}: Field required"));
        }
    }
    match body.get("tool_choice").map(|c| c.get("type").and_then(Value::as_str)) {
        None | Some(Some("auto" | "any" | "none")) => Ok(()),
        Some(Some("tool")) if body.pointer("/tool_choice/name").is_some() => Ok(()),
        Some(Some("tool")) => Err("tool_choice.tool.name: Field required".into()),
        Some(_) => Err("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'".into()),
    }
}

/// Tokens of a block list: its text joined by newlines, plus each tool call's input and tool result.
fn blocks_tokens(blocks: &[Value]) -> u64 {
    let calls_and_results: u64 = blocks
        .iter()
        .map(|block| match block.get("type").and_then(Value::as_str) {
            Some("tool_use") => {
                tokens::count(&block.get("input").map(Value::to_string).unwrap_or_default())
            }
            Some("tool_result") => tokens::count(&result_text(block)),
            _ => 0,
        })
        .sum();
    tokens::count(&text_of(blocks)) + calls_and_results
}

/// The `text` blocks of a list, joined by newlines.
fn text_of(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tool result's `content`: a string or text blocks.
fn result_text(block: &Value) -> String {
    match block.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => text_of(blocks),
        _ => String::new(),
    }
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| match m.get("content") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(blocks)) => text_of(blocks),
            _ => String::new(),
        })
        .find(|text| !text.is_empty())
        .unwrap_or_default()
}

/// The tool the mock calls, if any: the one `tool_choice` names, else the first; none when tools are
/// absent, `tool_choice` is `none`, or the last message already carries a tool result.
fn tool_to_call(body: &Value, messages: &[Value]) -> Option<String> {
    let first = body.get("tools")?.as_array()?.first()?;
    let choice = body.get("tool_choice");
    if choice.and_then(|c| c.get("type")).and_then(Value::as_str) == Some("none") {
        return None;
    }
    let answered = messages
        .last()
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .is_some_and(|blocks| {
            blocks
                .iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        });
    if answered {
        return None;
    }
    let named = choice.and_then(|c| c.get("name")).and_then(Value::as_str);
    named
        .or_else(|| first.get("name").and_then(Value::as_str))
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
