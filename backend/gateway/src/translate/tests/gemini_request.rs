//! OpenAI request → Gemini generateContent body.

use crate::translate::common::tool_id_with_signature;
use crate::translate::openai_request_to_gemini;
use serde_json::{Value, json};

fn request(messages: Value) -> Value {
    json!({ "model": "gemini-2.5-flash", "messages": messages })
}

#[test]
fn system_messages_become_system_instruction_and_parameters_generation_config() {
    let schema = json!({ "type": "object", "properties": { "recipe_name": { "type": "string" } }, "required": ["recipe_name"] });
    let mut req = request(json!([
        { "role": "system", "content": "You are a cat." },
        { "role": "developer", "content": "Your name is Neko." },
        { "role": "user", "content": "Hello there" },
        { "role": "user", "content": [{ "type": "text", "text": "List a few cookie recipes." }] },
    ]));
    for (key, value) in [
        ("max_completion_tokens", json!(800)),
        ("temperature", json!(1.0)),
        ("top_p", json!(0.95)),
        ("stop", json!(["\n\n"])),
        ("n", json!(2)),
        ("presence_penalty", json!(0.5)),
        ("frequency_penalty", json!(0.25)),
        ("seed", json!(7)),
        ("stream", json!(true)),
        ("stream_options", json!({ "include_usage": true })),
        ("user", json!("u-1")),
        (
            "response_format",
            json!({ "type": "json_schema", "json_schema": { "name": "recipes", "schema": schema } }),
        ),
    ] {
        req[key] = value;
    }

    let out = openai_request_to_gemini(&req).unwrap();

    assert_eq!(
        out,
        json!({
            "systemInstruction": { "parts": [{ "text": "You are a cat." }, { "text": "Your name is Neko." }] },
            "contents": [{ "role": "user", "parts": [{ "text": "Hello there" }, { "text": "List a few cookie recipes." }] }],
            "generationConfig": {
                "maxOutputTokens": 800, "temperature": 1.0, "topP": 0.95, "stopSequences": ["\n\n"], "candidateCount": 2,
                "presencePenalty": 0.5, "frequencyPenalty": 0.25, "seed": 7,
                "responseMimeType": "application/json", "responseJsonSchema": schema,
            },
        })
    );
}

#[test]
fn json_object_is_json_mime_type_and_max_tokens_is_read_too() {
    let mut req = request(json!([{ "role": "user", "content": "Hi" }]));
    req["response_format"] = json!({ "type": "json_object" });
    req["max_tokens"] = json!(64);
    req["stop"] = json!("END");

    let out = openai_request_to_gemini(&req).unwrap();

    assert_eq!(
        out["generationConfig"],
        json!({ "maxOutputTokens": 64, "stopSequences": ["END"], "responseMimeType": "application/json" })
    );
}

#[test]
fn images_audio_and_pdfs_become_inline_data_or_file_data() {
    let req = request(json!([{ "role": "user", "content": [
        { "type": "text", "text": "Caption these." },
        { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } },
        { "type": "image_url", "image_url": { "url": "https://example.com/photos/Cat.JPG?size=large", "detail": "low" } },
        { "type": "image_url", "image_url": { "url": "https://example.com/render" } },
        { "type": "image_url", "image_url": { "url": "gs://cloud-samples-data/generative-ai/pdf/2403.05530.pdf" } },
        { "type": "input_audio", "input_audio": { "data": "UklGRiQAAABXQVZF", "format": "wav" } },
        { "type": "file", "file": { "filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjc=" } },
    ]}]));

    let out = openai_request_to_gemini(&req).unwrap();

    assert_eq!(
        out["contents"][0]["parts"],
        json!([
            { "text": "Caption these." },
            { "inlineData": { "mimeType": "image/png", "data": "iVBORw0KGgo=" } },
            { "fileData": { "mimeType": "image/jpeg", "fileUri": "https://example.com/photos/Cat.JPG?size=large" } },
            { "fileData": { "fileUri": "https://example.com/render" } },
            { "fileData": { "mimeType": "application/pdf", "fileUri": "gs://cloud-samples-data/generative-ai/pdf/2403.05530.pdf" } },
            { "inlineData": { "mimeType": "audio/wav", "data": "UklGRiQAAABXQVZF" } },
            { "inlineData": { "mimeType": "application/pdf", "data": "JVBERi0xLjc=" } },
        ])
    );
}

#[test]
fn tools_become_function_declarations_and_tool_choice_function_calling_config() {
    let params = json!({ "type": "object", "properties": { "location": { "type": "string" } }, "required": ["location"] });
    let mut req = request(json!([{ "role": "user", "content": "Weather?" }]));
    req["tools"] = json!([
        { "type": "function", "function": { "name": "get_weather", "description": "Weather by city", "parameters": params, "strict": true } },
        { "type": "function", "function": { "name": "now" } },
    ]);
    req["parallel_tool_calls"] = json!(true);

    let out = openai_request_to_gemini(&req).unwrap();
    assert_eq!(
        out["tools"],
        json!([{ "functionDeclarations": [
            { "name": "get_weather", "description": "Weather by city", "parametersJsonSchema": params },
            { "name": "now" },
        ]}])
    );
    assert!(out.get("toolConfig").is_none());

    let mut config = |choice: Value| {
        req["tool_choice"] = choice;
        openai_request_to_gemini(&req).unwrap()["toolConfig"]["functionCallingConfig"].clone()
    };
    assert_eq!(config(json!("auto")), json!({ "mode": "AUTO" }));
    assert_eq!(config(json!("none")), json!({ "mode": "NONE" }));
    assert_eq!(config(json!("required")), json!({ "mode": "ANY" }));
    assert_eq!(
        config(json!({ "type": "function", "function": { "name": "get_weather" } })),
        json!({ "mode": "ANY", "allowedFunctionNames": ["get_weather"] })
    );
}

#[test]
fn tool_calls_become_function_calls_with_their_signature_and_results_recover_the_name() {
    let signed = tool_id_with_signature(
        "call_r1_0_0",
        Some("CiIBVKhc7oDPpCaXyJKKssjqr4g2JNOSgJ/M2V+Jv2gW"),
    );
    let req = request(json!([
        { "role": "user", "content": "Schedule a meeting and check the weather." },
        { "role": "assistant", "content": "Sure.", "tool_calls": [
            { "id": signed, "type": "function", "function": { "name": "schedule_meeting",
                "arguments": "{\"attendees\":[\"Bob\",\"Alice\"],\"date\":\"2025-03-27\"}" } },
            { "id": "call_r1_0_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } },
        ]},
        { "role": "tool", "tool_call_id": signed, "content": "{\"status\":\"scheduled\"}" },
        { "role": "tool", "tool_call_id": "call_r1_0_1", "content": [{ "type": "text", "text": "18 C" }] },
        { "role": "user", "content": "Thanks!" },
        { "role": "assistant", "content": [{ "type": "text", "text": "You're welcome." }] },
    ]));

    let out = openai_request_to_gemini(&req).unwrap();

    assert_eq!(
        out["contents"],
        json!([
            { "role": "user", "parts": [{ "text": "Schedule a meeting and check the weather." }] },
            { "role": "model", "parts": [
                { "text": "Sure." },
                { "functionCall": { "name": "schedule_meeting", "args": { "attendees": ["Bob", "Alice"], "date": "2025-03-27" } },
                  "thoughtSignature": "CiIBVKhc7oDPpCaXyJKKssjqr4g2JNOSgJ/M2V+Jv2gW" },
                { "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } },
            ]},
            { "role": "user", "parts": [
                { "functionResponse": { "name": "schedule_meeting", "response": { "output": "{\"status\":\"scheduled\"}" } } },
                { "functionResponse": { "name": "get_weather", "response": { "output": "18 C" } } },
            ]},
            { "role": "user", "parts": [{ "text": "Thanks!" }] },
            { "role": "model", "parts": [{ "text": "You're welcome." }] },
        ])
    );
}

#[test]
fn a_tool_result_for_an_unknown_call_is_refused_naming_its_id() {
    let req = request(json!([
        { "role": "user", "content": "Hi" },
        { "role": "tool", "tool_call_id": "call_missing", "content": "42" },
    ]));

    let error = openai_request_to_gemini(&req).unwrap_err();

    assert_eq!(error.param, "messages[1].tool_call_id");
}

#[test]
fn an_empty_tool_list_sends_no_function_declarations() {
    let mut req = request(json!([{ "role": "user", "content": "Hi" }]));
    req["tools"] = json!([]);

    let out = openai_request_to_gemini(&req).unwrap();

    assert!(out.get("tools").is_none());
}
