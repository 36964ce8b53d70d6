use super::*;
use crate::config::MockConfig;
use serde_json::json;

fn faults() -> RequestFaults {
    RequestFaults::from_config(&MockConfig::default())
}

fn planned(body: Value) -> ChatPlan {
    match plan(&body, &faults(), 7, 1_700_000_000) {
        Ok(plan) => plan,
        Err(invalid) => unreachable!("plan was rejected: {invalid:?}"),
    }
}

#[test]
fn reply_echoes_last_user_text_from_string_or_parts() {
    let plan = planned(json!({"model":"m","messages":[
        {"role":"user","content":"first"},
        {"role":"assistant","content":"ok"},
        {"role":"user","content":[{"type":"text","text":"second"},{"type":"image_url","image_url":{"url":"x"}}]}
    ]}));
    assert_eq!(plan.reply, Reply::Text("Mock reply: second".into()));
    assert_eq!(
        (plan.id.as_str(), plan.model.as_str()),
        ("chatcmpl-mock-7", "m")
    );
}

#[test]
fn echoed_text_is_truncated_to_200_chars_on_a_char_boundary() {
    let long = "é".repeat(300);
    let plan = planned(json!({"model":"m","messages":[{"role":"user","content":long}]}));
    assert_eq!(
        plan.reply.streamed_text().chars().count(),
        "Mock reply: ".len() + 200
    );
}

#[test]
fn usage_counts_messages_with_openai_overhead_and_reasoning() {
    let body = json!({"model":"m","messages":[
        {"role":"system","content":"hello world"},
        {"role":"user","content":"hello world"}]});
    let faults = RequestFaults {
        cached_tokens: 100,
        reasoning_tokens: 5,
        ..faults()
    };
    let plan = plan(&body, &faults, 1, 0).ok();
    let usage = plan.and_then(|p| p.usage).unwrap_or_default();
    // Two messages of 2 tokens, 3 overhead each, plus 3 for the reply.
    assert_eq!(usage.prompt_tokens, 2 + 2 + 3 + 3 + 3);
    assert_eq!(
        usage.completion_tokens,
        tokens::count("Mock reply: hello world") + 5
    );
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    assert_eq!(
        (usage.cached_tokens(), usage.reasoning_tokens()),
        (usage.prompt_tokens, 5)
    );
}

#[test]
fn tools_produce_a_call_to_the_first_tool_unless_disabled_or_answered() {
    let tools = json!([{"type":"function","function":{"name":"get_weather","parameters":{}}},
                       {"type":"function","function":{"name":"other"}}]);
    let plan =
        planned(json!({"model":"m","tools":tools,"messages":[{"role":"user","content":"Paris"}]}));
    let expected = Reply::ToolCall {
        id: "call_mock_7".into(),
        name: "get_weather".into(),
        arguments: r#"{"input":"Paris"}"#.into(),
    };
    assert_eq!(plan.reply, expected);
    assert_eq!(plan.reply.finish_reason(), "tool_calls");

    let none = planned(json!({"model":"m","tools":tools,"tool_choice":"none",
                              "messages":[{"role":"user","content":"x"}]}));
    assert_eq!(none.reply.finish_reason(), "stop");
    let answered = planned(json!({"model":"m","tools":tools,"messages":[
        {"role":"user","content":"x"},
        {"role":"assistant","content":null,"tool_calls":[
            {"id":"c","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"c","content":"sunny"}]}));
    assert_eq!(answered.reply, Reply::Text("Mock reply: x".into()));
}

#[test]
fn missing_model_or_messages_is_a_400() {
    let bodies = [
        json!({"messages":[{"role":"user","content":"x"}]}),
        json!({"model":"m"}),
        json!({"model":"m","messages":[]}),
        json!([1]),
    ];
    for body in bodies {
        assert!(plan(&body, &faults(), 1, 0).is_err(), "{body}");
    }
}

#[test]
fn completion_json_has_openai_shape_and_omits_disabled_usage() {
    let mut plan = planned(json!({"model":"m","messages":[{"role":"user","content":"hi"}]}));
    let json: Value = serde_json::from_slice(&completion_json(&plan)).unwrap_or_default();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["choices"][0]["message"]["content"], "Mock reply: hi");
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert!(
        json["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|t| t > 0)
    );
    plan.usage = None;
    let json: Value = serde_json::from_slice(&completion_json(&plan)).unwrap_or_default();
    assert!(json.get("usage").is_none());
}
