//! Reading a `generateContent` request: `contents` (roles `user`/`model`, parts `text`, `inlineData`,
//! `fileData`, `functionCall`, `functionResponse`), `systemInstruction`, `tools[].functionDeclarations`,
//! `toolConfig` and `generationConfig`. Like Google's JSON mapping, every field is accepted in lowerCamel
//! or snake_case. Error messages follow Google's `* Request.field: problem` style.

use serde_json::Value;

use crate::reply::Limits;
use crate::tokens;

/// What the mock takes from a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GenerateRequest {
    pub limits: Limits,
    pub prompt_tokens: u64,
    /// Text of the last user turn that has any (function responses excluded).
    pub user_text: String,
    /// The function to call, if the mock should answer with a `functionCall` part.
    pub tool: Option<String>,
}

/// A field by its lowerCamel name, or by the snake_case name Google's JSON mapping also accepts.
pub(crate) fn field<'a>(value: &'a Value, camel: &str) -> Option<&'a Value> {
    value.get(camel).or_else(|| {
        let mut snake = String::with_capacity(camel.len() + 4);
        for ch in camel.chars() {
            if ch.is_ascii_uppercase() {
                snake.push('_');
                snake.push(ch.to_ascii_lowercase());
            } else {
                snake.push(ch);
            }
        }
        value.get(snake)
    })
}

/// Validates `body`; the error is the message of a 400 `INVALID_ARGUMENT`.
pub(crate) fn parse(body: &Value) -> Result<GenerateRequest, String> {
    let contents = match body.get("contents") {
        Some(Value::Array(contents)) if !contents.is_empty() => contents,
        _ => return Err("* GenerateContentRequest.contents: contents is not specified\n".into()),
    };
    let mut message_tokens = Vec::with_capacity(contents.len() + 1);
    if let Some(system) = field(body, "systemInstruction") {
        let parts = parts_of(system, "system_instruction")?;
        message_tokens.push(parts_tokens(parts));
    }
    for (i, content) in contents.iter().enumerate() {
        match content.get("role").and_then(Value::as_str) {
            None | Some("" | "user" | "model") => {}
            Some(_) => return Err("Please use a valid role: user, model.".into()),
        }
        let parts = parts_of(content, &format!("contents[{i}]"))?;
        message_tokens.push(parts_tokens(parts));
    }
    check_tools(body)?;
    Ok(GenerateRequest {
        limits: limits(body)?,
        prompt_tokens: tokens::prompt(message_tokens),
        user_text: last_user_text(contents),
        tool: tool_to_call(body, contents),
    })
}

/// A content's parts, each checked to carry exactly the data its kind needs.
fn parts_of<'a>(content: &'a Value, at: &str) -> Result<&'a [Value], String> {
    let parts = match content.get("parts") {
        Some(Value::Array(parts)) if !parts.is_empty() => parts,
        _ => {
            return Err(format!(
                "* GenerateContentRequest.{at}.parts: contents.parts must not be empty.\n"
            ));
        }
    };
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.parts[{j}]");
        if part.get("text").is_some() {
            continue;
        } else if let Some(data) = field(part, "inlineData") {
            require(data, &["mimeType", "data"], &format!("{at}.inline_data"))?;
        } else if let Some(data) = field(part, "fileData") {
            require(data, &["fileUri"], &format!("{at}.file_data"))?;
        } else if let Some(call) = field(part, "functionCall") {
            require(call, &["name"], &format!("{at}.function_call"))?;
        } else if let Some(response) = field(part, "functionResponse") {
            require(response, &["name"], &format!("{at}.function_response"))?;
        } else {
            return Err(format!(
                "* GenerateContentRequest.{at}.data: required oneof field 'data' must have one \
                 initialized field\n"
            ));
        }
    }
    Ok(parts)
}

/// The error naming the first of `fields` that `value` lacks.
fn require(value: &Value, fields: &[&str], at: &str) -> Result<(), String> {
    match fields.iter().find(|f| field(value, f).is_none()) {
        Some(name) => Err(format!(
            "* GenerateContentRequest.{at}.{name}: field is required\n"
        )),
        None => Ok(()),
    }
}

fn check_tools(body: &Value) -> Result<(), String> {
    for (i, tool) in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let declarations = field(tool, "functionDeclarations").and_then(Value::as_array);
        for (j, declaration) in declarations.into_iter().flatten().enumerate() {
            if declaration
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(format!(
                    "* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: Invalid function name.\n"
                ));
            }
        }
    }
    Ok(())
}

/// `generationConfig.maxOutputTokens` and `stopSequences`.
fn limits(body: &Value) -> Result<Limits, String> {
    let Some(config) = field(body, "generationConfig") else {
        return Ok(Limits::default());
    };
    let max_tokens = match field(config, "maxOutputTokens") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().filter(|n| *n > 0).ok_or(
            "* GenerateContentRequest.generation_config.max_output_tokens: must be a positive integer\n",
        )?),
    };
    let stop_sequences = match field(config, "stopSequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or(
                "* GenerateContentRequest.generation_config.stop_sequences: must be strings\n",
            )?,
        Some(_) => {
            return Err(
                "* GenerateContentRequest.generation_config.stop_sequences: must be a list\n"
                    .into(),
            );
        }
    };
    Ok(Limits {
        max_tokens,
        stop_sequences,
    })
}

/// Tokens of a part list: its text joined by newlines, plus each function call's arguments and
/// function response's payload.
fn parts_tokens(parts: &[Value]) -> u64 {
    let calls: u64 = parts
        .iter()
        .filter_map(|p| {
            field(p, "functionCall")
                .and_then(|c| c.get("args"))
                .or_else(|| field(p, "functionResponse").and_then(|r| r.get("response")))
        })
        .map(|payload| tokens::count(&payload.to_string()))
        .sum();
    tokens::count(&text_of(parts)) + calls
}

fn text_of(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parts(content: &Value) -> &[Value] {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A content without `role` is the user's.
fn last_user_text(contents: &[Value]) -> String {
    contents
        .iter()
        .rev()
        .filter(|c| {
            c.get("role")
                .and_then(Value::as_str)
                .is_none_or(|r| r.is_empty() || r == "user")
        })
        .map(|c| text_of(parts(c)))
        .find(|text| !text.is_empty())
        .unwrap_or_default()
}

/// The function the mock calls, if any: the first of `allowedFunctionNames`, else the first declared;
/// none when no function is declared, the mode is `NONE`, or the last content answers a call.
fn tool_to_call(body: &Value, contents: &[Value]) -> Option<String> {
    let first = body
        .get("tools")?
        .as_array()?
        .iter()
        .filter_map(|tool| field(tool, "functionDeclarations").and_then(Value::as_array))
        .flatten()
        .find_map(|declaration| declaration.get("name").and_then(Value::as_str))?;
    let config = field(body, "toolConfig").and_then(|c| field(c, "functionCallingConfig"));
    if config.and_then(|c| c.get("mode")).and_then(Value::as_str) == Some("NONE") {
        return None;
    }
    let answered = contents.last().is_some_and(|c| {
        parts(c)
            .iter()
            .any(|p| field(p, "functionResponse").is_some())
    });
    if answered {
        return None;
    }
    let allowed = config
        .and_then(|c| field(c, "allowedFunctionNames"))
        .and_then(Value::as_array)
        .and_then(|names| names.first())
        .and_then(Value::as_str);
    Some(allowed.unwrap_or(first).to_owned())
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
