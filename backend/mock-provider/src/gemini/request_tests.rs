use super::*;
use serde_json::json;

fn parsed(body: Value) -> GenerateRequest {
    match parse(&body) {
        Ok(request) => request,
        Err(message) => unreachable!("rejected: {message}"),
    }
}

fn rejection(body: Value) -> String {
    parse(&body).err().unwrap_or_default()
}

#[test]
fn contents_and_their_parts_are_required_and_checked() {
    assert!(rejection(json!({})).contains("contents is not specified"));
    assert!(rejection(json!({"contents": []})).contains("contents is not specified"));
    assert!(
        rejection(json!({"contents": [{"role": "user", "parts": []}]}))
            .contains("must not be empty")
    );
    assert_eq!(
        rejection(json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]})),
        "Please use a valid role: user, model."
    );
    assert!(
        rejection(json!({"contents": [{"parts": [{"inlineData": {"data": "AAAA"}}]}]}))
            .contains("contents[0].parts[0].inline_data.mimeType: field is required")
    );
    assert!(
        rejection(json!({"contents": [{"parts": [{"unknown": 1}]}]}))
            .contains("required oneof field 'data'")
    );
    let media = parsed(json!({"contents": [{"role": "user", "parts": [
        {"inline_data": {"mime_type": "image/png", "data": "AAAA"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/f.pdf"}},
        {"text": "describe"}]}]}));
    assert_eq!(media.user_text, "describe");
}

#[test]
fn system_instruction_and_contents_count_like_openai_messages() {
    let request = parsed(json!({
        "systemInstruction": {"parts": [{"text": "hello world"}]},
        "contents": [{"role": "user", "parts": [{"text": "hello world"}]}]}));
    assert_eq!(request.prompt_tokens, 2 + 2 + 3 + 3 + 3);
    let snake = parsed(json!({
        "system_instruction": {"parts": [{"text": "hello world"}]},
        "contents": [{"parts": [{"text": "hello world"}]}]}));
    assert_eq!(snake.prompt_tokens, request.prompt_tokens);
}

#[test]
fn generation_config_sets_the_limits() {
    let request = parsed(json!({"contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"maxOutputTokens": 3, "stopSequences": ["END"], "temperature": 0.2}}));
    assert_eq!(
        request.limits,
        Limits {
            max_tokens: Some(3),
            stop_sequences: vec!["END".into()]
        }
    );
    let snake = parsed(json!({"contents": [{"parts": [{"text": "x"}]}],
        "generation_config": {"max_output_tokens": 7}}));
    assert_eq!(snake.limits.max_tokens, Some(7));
    assert!(
        rejection(json!({"contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"maxOutputTokens": -1}}))
        .contains("max_output_tokens")
    );
}

#[test]
fn declared_functions_yield_a_call_unless_disabled_or_answered() {
    let tools = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}},
                                                 {"name": "other"}]}]);
    let asked = parsed(
        json!({"tools": tools, "contents": [{"role": "user", "parts": [{"text": "Paris"}]}]}),
    );
    assert_eq!(asked.tool.as_deref(), Some("get_weather"));
    let allowed = parsed(json!({"tools": tools,
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["other"]}},
        "contents": [{"role": "user", "parts": [{"text": "Paris"}]}]}));
    assert_eq!(allowed.tool.as_deref(), Some("other"));
    let none = parsed(json!({"tools": tools,
        "tool_config": {"function_calling_config": {"mode": "NONE"}},
        "contents": [{"role": "user", "parts": [{"text": "Paris"}]}]}));
    assert_eq!(none.tool, None);
    let answered = parsed(json!({"tools": tools, "contents": [
        {"role": "user", "parts": [{"text": "Paris"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"input": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}}]}]}));
    assert_eq!(
        (answered.tool, answered.user_text.as_str()),
        (None, "Paris")
    );
    assert!(
        rejection(
            json!({"tools": [{"functionDeclarations": [{"description": "x"}]}],
            "contents": [{"parts": [{"text": "x"}]}]})
        )
        .contains("Invalid function name")
    );
}
