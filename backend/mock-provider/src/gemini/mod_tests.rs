use super::*;
use crate::config::MockConfig;
use crate::reply::Limits;
use serde_json::json;

fn plan(reply: Reply, limits: &Limits, reasoning: u64, cached: u64) -> GeminiPlan {
    GeminiPlan {
        response_id: "mock-1".into(),
        model: "gemini-2.5-flash".into(),
        completion: Completion::new(reply, limits, reasoning),
        prompt_tokens: 10,
        cached_tokens: cached,
        no_usage: false,
    }
}

fn whole(plan: &GeminiPlan) -> Value {
    let part = plan.part(plan.completion.reply.streamed_text());
    serde_json::to_value(plan.response(part, true, plan.completion.visible_tokens))
        .unwrap_or_default()
}

#[test]
fn response_has_gemini_shape_and_leaves_zero_counts_out() {
    let plan = plan(
        Reply::Text("Mock reply: hi".into()),
        &Limits::default(),
        0,
        0,
    );
    assert_eq!(
        whole(&plan),
        json!({"candidates": [{"content": {"parts": [{"text": "Mock reply: hi"}], "role": "model"},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "totalTokenCount": 14,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}]},
            "modelVersion": "gemini-2.5-flash", "responseId": "mock-1"})
    );
}

#[test]
fn thoughts_and_cached_tokens_are_reported_apart() {
    let plan = plan(
        Reply::Text("Mock reply: hi".into()),
        &Limits::default(),
        5,
        4,
    );
    let usage = &whole(&plan)["usageMetadata"];
    assert_eq!(
        (&usage["candidatesTokenCount"], &usage["thoughtsTokenCount"]),
        (&json!(4), &json!(5))
    );
    assert_eq!(usage["totalTokenCount"], 10 + 4 + 5);
    assert_eq!(usage["cachedContentTokenCount"], 4);
}

#[test]
fn max_output_tokens_ends_with_max_tokens_and_calls_have_args() {
    let limits = Limits {
        max_tokens: Some(2),
        ..Limits::default()
    };
    let cut = whole(&plan(Reply::Text("Mock reply: hi".into()), &limits, 0, 0));
    assert_eq!(cut["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(cut["usageMetadata"]["candidatesTokenCount"], 2);
    let call = whole(&plan(
        Reply::to("Paris", Some("get_weather".into()), ""),
        &Limits::default(),
        0,
        0,
    ));
    assert_eq!(
        call["candidates"][0]["content"]["parts"][0],
        json!({"functionCall": {"name": "get_weather", "args": {"input": "Paris"}}})
    );
    assert_eq!(call["candidates"][0]["finishReason"], "STOP");
}

#[test]
fn json_array_stream_holds_every_chunk_with_cumulative_usage() {
    let faults = RequestFaults {
        chunks: 3,
        ..RequestFaults::from_config(&MockConfig::default())
    };
    let plan = plan(
        Reply::Text("Mock reply: hello".into()),
        &Limits::default(),
        0,
        0,
    );
    let chunks: Value =
        serde_json::from_slice(&stream::json_array(plan, &faults)).unwrap_or_default();
    let chunks = chunks.as_array().cloned().unwrap_or_default();
    assert_eq!(chunks.len(), 3);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Mock reply: hello");
    let counts: Vec<u64> = chunks
        .iter()
        .filter_map(|c| c["usageMetadata"]["candidatesTokenCount"].as_u64())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert_eq!(counts.last(), Some(&tokens_of("Mock reply: hello")));
    assert!(
        chunks[..2]
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");
}

fn tokens_of(text: &str) -> u64 {
    crate::tokens::count(text)
}
