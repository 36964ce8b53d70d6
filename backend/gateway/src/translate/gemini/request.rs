//! An OpenAI Chat Completions request turned into a Gemini generateContent request body.

use super::TARGET;
use super::contents::contents;
use crate::translate::TranslateError;
use crate::translate::common::{
    array, object, path, present, refuse_non_neutral, refuse_unknown, stop_sequences, string,
};
use serde_json::{Map, Value, json};

/// Request fields that are translated (or refused unless neutral).
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
    "n",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "modalities",
];

/// Request fields ignored because they do not change the answer: `stream_options` (usage is always reported),
/// `metadata` (taken out by the gateway), `user`, `store`, `service_tier`, `prompt_cache_key` and
/// `safety_identifier` (OpenAI-side storage, routing and abuse hints Gemini has no field for).
const IGNORED: &[&str] = &[
    "stream_options",
    "metadata",
    "user",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

/// Translates an OpenAI request into the body of Gemini's `models/{model}:generateContent` (or
/// `:streamGenerateContent?alt=sse`): the model and `stream` are not part of the body, the caller reads them from
/// the OpenAI request. System and developer messages become `systemInstruction`; assistant turns become `model`
/// turns; tool calls become `functionCall` parts (with the thought signature their id carries) and tool results
/// `functionResponse` parts (`response: {"output": <text>}`, name recovered from the call id). Images, PDFs and
/// `input_audio` become `inlineData` (data URLs) or `fileData` (other URLs). `response_format` maps to
/// `responseMimeType`/`responseJsonSchema`, tools to `functionDeclarations` with `parametersJsonSchema`.
/// Ignored: image `detail`, a tool's `strict` (Gemini validates calls against the schema but has no strict flag),
/// a message's `name`. Refused: `parallel_tool_calls: false`, `logprobs`, `top_logprobs`, `logit_bias`, any
/// field not listed here.
pub fn openai_request_to_gemini(request: &Value) -> Result<Value, TranslateError> {
    let req = request
        .as_object()
        .ok_or_else(|| TranslateError::new("", "the request body must be a JSON object"))?;
    refuse_unknown(req, KNOWN, IGNORED, "", TARGET)?;
    refuse_non_neutral(
        req,
        &["n", "presence_penalty", "frequency_penalty", "seed"],
        TARGET,
    )?;
    if present(req, "parallel_tool_calls").and_then(Value::as_bool) == Some(false) {
        return Err(TranslateError::unsupported("parallel_tool_calls", TARGET));
    }
    let mut out = Map::new();
    let (system, contents) = contents(req.get("messages").unwrap_or(&Value::Null))?;
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    let config = generation_config(req)?;
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    // An empty `tools` list is the same as none (Gemini refuses an empty `functionDeclarations`).
    let tools_given = present(req, "tools").filter(|t| t.as_array().is_none_or(|a| !a.is_empty()));
    if let Some(tools) = tools_given {
        out.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations(tools)? }]),
        );
    }
    if let Some(choice) = present(req, "tool_choice") {
        out.insert(
            "toolConfig".into(),
            json!({ "functionCallingConfig": tool_choice(choice)? }),
        );
    }
    Ok(Value::Object(out))
}

fn generation_config(req: &Map<String, Value>) -> Result<Map<String, Value>, TranslateError> {
    let mut config = Map::new();
    if let Some(max) = present(req, "max_completion_tokens").or(present(req, "max_tokens")) {
        config.insert("maxOutputTokens".into(), max.clone());
    }
    for (openai, gemini) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ] {
        if let Some(v) = present(req, openai) {
            config.insert(gemini.into(), v.clone());
        }
    }
    if let Some(stop) = present(req, "stop") {
        config.insert("stopSequences".into(), json!(stop_sequences(stop, "stop")?));
    }
    if let Some(format) = present(req, "response_format") {
        let format = object(format, "response_format")?;
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                config.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                let spec_param = "response_format.json_schema";
                let spec = object(
                    format.get("json_schema").unwrap_or(&Value::Null),
                    spec_param,
                )?;
                let schema = present(spec, "schema").ok_or_else(|| {
                    TranslateError::new(
                        path(spec_param, "schema"),
                        "`response_format.json_schema.schema` is required",
                    )
                })?;
                config.insert("responseMimeType".into(), json!("application/json"));
                config.insert("responseJsonSchema".into(), schema.clone());
            }
            _ => return Err(TranslateError::unsupported("response_format.type", TARGET)),
        }
    }
    Ok(config)
}

fn declarations(tools: &Value) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::new();
    for (i, tool) in array(tools, "tools")?.iter().enumerate() {
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
            &["name", "description", "parameters"],
            &["strict"],
            &function_param,
            TARGET,
        )?;
        let mut declaration = Map::new();
        declaration.insert(
            "name".into(),
            json!(string(function, "name", &function_param)?),
        );
        if let Some(description) = present(function, "description") {
            declaration.insert("description".into(), description.clone());
        }
        if let Some(parameters) = present(function, "parameters") {
            declaration.insert("parametersJsonSchema".into(), parameters.clone());
        }
        out.push(Value::Object(declaration));
    }
    Ok(out)
}

fn tool_choice(choice: &Value) -> Result<Value, TranslateError> {
    match choice {
        Value::String(s) if s == "auto" => Ok(json!({ "mode": "AUTO" })),
        Value::String(s) if s == "none" => Ok(json!({ "mode": "NONE" })),
        Value::String(s) if s == "required" => Ok(json!({ "mode": "ANY" })),
        Value::Object(c) if c.get("type").and_then(Value::as_str) == Some("function") => {
            let function = object(
                c.get("function").unwrap_or(&Value::Null),
                "tool_choice.function",
            )?;
            let name = string(function, "name", "tool_choice.function")?;
            Ok(json!({ "mode": "ANY", "allowedFunctionNames": [name] }))
        }
        _ => Err(TranslateError::unsupported("tool_choice", TARGET)),
    }
}
