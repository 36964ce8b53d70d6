use super::*;
use serde_json::json;

fn parsed(body: Value) -> MessagesRequest {
    match parse(&body) {
        Ok(request) => request,
        Err(message) => unreachable!("rejected: {message}"),
    }
}

fn rejection(body: Value) -> String {
    parse(&body).err().unwrap_or_default()
}

#[test]
fn model_max_tokens_and_messages_are_required() {
    let user = json!([{"role": "user", "content": "hi"}]);
    assert_eq!(
        rejection(json!({"max_tokens": 5, "messages": user})),
        "model: Field required"
    );
    assert_eq!(
        rejection(json!({"model": "c", "messages": user})),
        "max_tokens: Field required"
    );
    assert_eq!(
        rejection(json!({"model": "c", "max_tokens": 0, "messages": user})),
        "max_tokens: Input should be greater than or equal to 1"
    );
    assert_eq!(
        rejection(json!({"model": "c", "max_tokens": 5})),
        "messages: Field required"
    );
    assert_eq!(
        rejection(json!({"model": "c", "max_tokens": 5, "messages": []})),
        "messages: at least one message is required"
    );
    assert_eq!(
        rejection(
            json!({"model": "c", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]})
        ),
        "messages.0.role: Input should be 'user' or 'assistant'"
    );
}

#[test]
fn content_blocks_are_checked_by_type() {
    let with = |block: Value| {
        rejection(json!({"model": "c", "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, block]}]}))
    };
    assert_eq!(
        with(json!({"type": "image", "source": {"type": "base64", "data": "AAAA"}})),
        "messages.0.content.1.image.source.base64.media_type: Field required"
    );
    assert_eq!(
        with(json!({"type": "image", "source": {"type": "url"}})),
        "messages.0.content.1.image.source.url.url: Field required"
    );
    assert_eq!(
        with(json!({"type": "tool_result", "content": "x"})),
        "messages.0.content.1.tool_result.tool_use_id: Field required"
    );
    assert!(
        with(json!({"type": "image_url"}))
            .starts_with("messages.0.content.1: Input tag 'image_url'")
    );
    let ok = parse(
        &json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "text", "text": "describe"}]}]}),
    );
    assert_eq!(ok.map(|r| r.user_text), Ok("describe".to_owned()));
}

#[test]
fn system_and_every_block_count_as_prompt_tokens() {
    let plain = parsed(
        json!({"model": "c", "max_tokens": 5, "system": "hello world",
        "messages": [{"role": "user", "content": "hello world"}]}),
    );
    // Two messages of 2 tokens, 3 overhead each, plus 3 for the reply: as on the OpenAI side.
    assert_eq!(plain.prompt_tokens, 2 + 2 + 3 + 3 + 3);
    let blocks = parsed(json!({"model": "c", "max_tokens": 5,
        "system": [{"type": "text", "text": "hello world"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]}));
    assert_eq!(blocks.prompt_tokens, plain.prompt_tokens);
    assert_eq!(
        (plain.model.as_str(), plain.limits.max_tokens, plain.stream),
        ("c", Some(5), false)
    );
}

#[test]
fn tools_yield_a_call_unless_disabled_or_answered() {
    let tools = json!([{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}},
                       {"name": "other", "input_schema": {}}]);
    let asked = parsed(json!({"model": "c", "max_tokens": 5, "tools": tools,
        "messages": [{"role": "user", "content": "Paris"}]}));
    assert_eq!(asked.tool.as_deref(), Some("get_weather"));
    let named = parsed(json!({"model": "c", "max_tokens": 5, "tools": tools,
        "tool_choice": {"type": "tool", "name": "other"},
        "messages": [{"role": "user", "content": "Paris"}]}));
    assert_eq!(named.tool.as_deref(), Some("other"));
    let none = parsed(json!({"model": "c", "max_tokens": 5, "tools": tools,
        "tool_choice": {"type": "none"}, "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(none.tool, None);
    let answered = parsed(
        json!({"model": "c", "max_tokens": 5, "tools": tools, "messages": [
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
            "input": {"input": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}]}),
    );
    assert_eq!(
        (answered.tool, answered.user_text.as_str()),
        (None, "Paris")
    );
    assert_eq!(
        rejection(
            json!({"model": "c", "max_tokens": 5, "tools": [{"name": "f"}],
            "messages": [{"role": "user", "content": "x"}]})
        ),
        "tools.0.custom.input_schema: Field required"
    );
}

#[test]
fn stop_sequences_and_stream_are_read() {
    let request = parsed(json!({"model": "c", "max_tokens": 5, "stream": true,
        "stop_sequences": ["END"], "messages": [{"role": "user", "content": "x"}]}));
    assert!(request.stream);
    assert_eq!(request.limits.stop_sequences, ["END"]);
    assert!(
        rejection(json!({"model": "c", "max_tokens": 5, "stop_sequences": [1],
        "messages": [{"role": "user", "content": "x"}]}))
        .starts_with("stop_sequences")
    );
}
