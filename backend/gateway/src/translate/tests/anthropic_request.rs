//! OpenAI request → Anthropic Messages request.

use crate::translate::openai_request_to_anthropic;
use serde_json::json;

#[test]
fn system_and_developer_messages_become_system_blocks_and_max_tokens_defaults() {
    let request = json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            { "role": "system", "content": "You are a helpful assistant." },
            { "role": "developer", "content": [{ "type": "text", "text": "Answer in French." }] },
            { "role": "user", "content": "Hello, Claude" },
        ],
    });

    let out = openai_request_to_anthropic(&request, 4096).unwrap();

    assert_eq!(out["model"], "claude-sonnet-4-5");
    assert_eq!(out["max_tokens"], 4096);
    assert_eq!(
        out["system"],
        json!([
            { "type": "text", "text": "You are a helpful assistant." },
            { "type": "text", "text": "Answer in French." },
        ])
    );
    assert_eq!(
        out["messages"],
        json!([{ "role": "user", "content": [{ "type": "text", "text": "Hello, Claude" }] }])
    );
    assert!(out.get("stream").is_none());
    assert!(out.get("tools").is_none());
}

#[test]
fn a_single_system_message_is_a_plain_string() {
    let request = json!({
        "model": "m",
        "messages": [{ "role": "system", "content": "Be brief." }, { "role": "user", "content": "Hi" }],
    });

    let out = openai_request_to_anthropic(&request, 1024).unwrap();

    assert_eq!(out["system"], "Be brief.");
}

#[test]
fn max_completion_tokens_wins_over_max_tokens() {
    let request = json!({
        "model": "m", "max_tokens": 10, "max_completion_tokens": 20,
        "messages": [{ "role": "user", "content": "Hi" }],
    });
    assert_eq!(
        openai_request_to_anthropic(&request, 1024).unwrap()["max_tokens"],
        20
    );

    let request = json!({ "model": "m", "max_tokens": 10, "messages": [{ "role": "user", "content": "Hi" }] });
    assert_eq!(
        openai_request_to_anthropic(&request, 1024).unwrap()["max_tokens"],
        10
    );
}

#[test]
fn sampling_stop_stream_user_and_structured_output_are_mapped() {
    let schema = json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"], "additionalProperties": false });
    let request = json!({
        "model": "m",
        "messages": [{ "role": "user", "content": "Hi" }],
        "temperature": 0.2, "top_p": 0.9, "stop": "END", "stream": true,
        "stream_options": { "include_usage": true }, "user": "user-1234", "n": 1, "logprobs": false,
        "response_format": { "type": "json_schema", "json_schema": { "name": "person", "strict": true, "schema": schema } },
    });

    let out = openai_request_to_anthropic(&request, 1024).unwrap();

    assert_eq!(out["temperature"], 0.2);
    assert_eq!(out["top_p"], 0.9);
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(out["stream"], true);
    assert_eq!(out["metadata"], json!({ "user_id": "user-1234" }));
    assert_eq!(
        out["output_config"],
        json!({ "format": { "type": "json_schema", "schema": schema } })
    );
    assert!(out.get("stream_options").is_none());
    assert!(out.get("n").is_none());
}

#[test]
fn images_by_data_url_and_by_url_and_pdfs_become_anthropic_sources() {
    let request = json!({
        "model": "m",
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "What is in these?" },
            { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,/9j/4AAQSkZJRg==", "detail": "high" } },
            { "type": "image_url", "image_url": { "url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg" } },
            { "type": "file", "file": { "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjc=" } },
        ]}],
    });

    let out = openai_request_to_anthropic(&request, 1024).unwrap();

    assert_eq!(
        out["messages"][0]["content"],
        json!([
            { "type": "text", "text": "What is in these?" },
            { "type": "image", "source": { "type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg==" } },
            { "type": "image", "source": { "type": "url", "url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg" } },
            { "type": "document", "source": { "type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjc=" } },
        ])
    );
}

#[test]
fn tool_definitions_and_every_tool_choice_are_mapped() {
    let tools = json!([{ "type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a given location", "strict": true,
        "parameters": { "type": "object", "properties": { "location": { "type": "string" } }, "required": ["location"] },
    }}, { "type": "function", "function": { "name": "now" } }]);
    let base = |choice: serde_json::Value| json!({ "model": "m", "messages": [{ "role": "user", "content": "Hi" }], "tools": tools, "tool_choice": choice });

    let out = openai_request_to_anthropic(&base(json!("auto")), 1024).unwrap();
    assert_eq!(
        out["tools"],
        json!([{
            "name": "get_weather", "description": "Get the current weather in a given location", "strict": true,
            "input_schema": { "type": "object", "properties": { "location": { "type": "string" } }, "required": ["location"] },
        }, { "name": "now", "input_schema": { "type": "object", "properties": {} } }])
    );
    assert_eq!(out["tool_choice"], json!({ "type": "auto" }));
    let choice = |c| openai_request_to_anthropic(&base(c), 1024).unwrap()["tool_choice"].clone();
    assert_eq!(choice(json!("none")), json!({ "type": "none" }));
    assert_eq!(choice(json!("required")), json!({ "type": "any" }));
    assert_eq!(
        choice(json!({ "type": "function", "function": { "name": "get_weather" } })),
        json!({ "type": "tool", "name": "get_weather" })
    );

    let mut request = base(json!("required"));
    request["parallel_tool_calls"] = json!(false);
    assert_eq!(
        openai_request_to_anthropic(&request, 1024).unwrap()["tool_choice"],
        json!({ "type": "any", "disable_parallel_tool_use": true })
    );
    request.as_object_mut().unwrap().remove("tool_choice");
    assert_eq!(
        openai_request_to_anthropic(&request, 1024).unwrap()["tool_choice"],
        json!({ "type": "auto", "disable_parallel_tool_use": true })
    );
}

#[test]
fn tool_calls_and_results_become_tool_use_and_tool_result_blocks_in_merged_turns() {
    let request = json!({
        "model": "m",
        "messages": [
            { "role": "user", "content": "Weather in Paris and Rome?" },
            { "role": "user", "content": "In celsius." },
            { "role": "assistant", "content": "Checking both.", "tool_calls": [
                { "id": "toolu_01A", "type": "function", "function": { "name": "get_weather", "arguments": "{\"location\":\"Paris\"}" } },
                { "id": "toolu_01B", "type": "function", "function": { "name": "get_weather", "arguments": "{\"location\":\"Rome\"}" } },
            ]},
            { "role": "tool", "tool_call_id": "toolu_01A", "content": "18 C" },
            { "role": "tool", "tool_call_id": "toolu_01B", "content": [{ "type": "text", "text": "24 C" }] },
            { "role": "user", "content": "Which is warmer?" },
        ],
    });

    let out = openai_request_to_anthropic(&request, 1024).unwrap();

    assert_eq!(
        out["messages"],
        json!([
            { "role": "user", "content": [
                { "type": "text", "text": "Weather in Paris and Rome?" },
                { "type": "text", "text": "In celsius." },
            ]},
            { "role": "assistant", "content": [
                { "type": "text", "text": "Checking both." },
                { "type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": { "location": "Paris" } },
                { "type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": { "location": "Rome" } },
            ]},
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_01A", "content": "18 C" },
                { "type": "tool_result", "tool_use_id": "toolu_01B", "content": [{ "type": "text", "text": "24 C" }] },
                { "type": "text", "text": "Which is warmer?" },
            ]},
        ])
    );
}

#[test]
fn an_assistant_message_with_only_tool_calls_and_empty_arguments_has_no_text_block() {
    let request = json!({
        "model": "m",
        "messages": [
            { "role": "user", "content": "Time?" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "toolu_1", "type": "function", "function": { "name": "now", "arguments": "" } },
            ]},
        ],
    });

    let out = openai_request_to_anthropic(&request, 1024).unwrap();

    assert_eq!(
        out["messages"][1]["content"],
        json!([{ "type": "tool_use", "id": "toolu_1", "name": "now", "input": {} }])
    );
}

#[test]
fn an_empty_tool_list_sends_neither_tools_nor_a_meaningless_tool_choice() {
    let request = json!({
        "model": "m", "messages": [{ "role": "user", "content": "Hi" }],
        "tools": [], "tool_choice": "auto", "parallel_tool_calls": false,
    });

    let out = openai_request_to_anthropic(&request, 16).unwrap();

    assert!(out.get("tools").is_none());
    assert!(out.get("tool_choice").is_none());
}
