use super::*;
use crate::delivery;
use serde_json::Value;

fn chat_events(reply: Reply, chunks: usize, include_usage: bool) -> ChatEvents {
    let plan = ChatPlan {
        id: "chatcmpl-mock-1".into(),
        created: 1,
        model: "m".into(),
        reply,
        usage: Some(Usage {
            prompt_tokens: 3,
            completion_tokens: 2,
            total_tokens: 5,
            ..Usage::default()
        }),
        stream: true,
        include_usage,
    };
    ChatEvents::new(plan, chunks)
}

/// Drives the stream to its end: the `data:` payloads in order, and whether it ended with an error.
async fn collect(events: ChatEvents, disconnect_after: Option<usize>) -> (Vec<String>, bool) {
    let (texts, cut) = delivery::collect(events, disconnect_after).await;
    let payloads = texts
        .iter()
        .map(|text| {
            assert!(
                text.starts_with("data: ") && text.ends_with("\n\n"),
                "bad SSE framing: {text:?}"
            );
            text["data: ".len()..text.len() - 2].to_owned()
        })
        .collect();
    (payloads, cut)
}

fn parse(event: &str) -> Value {
    serde_json::from_str(event).unwrap_or_default()
}

#[tokio::test]
async fn text_stream_sends_role_pieces_finish_usage_then_done() {
    let (events, cut) = collect(
        chat_events(Reply::Text("Mock reply: hi".into()), 3, true),
        None,
    )
    .await;
    assert!(!cut);
    assert_eq!(events.len(), 1 + 3 + 1 + 1 + 1);
    assert_eq!(
        parse(&events[0])["choices"][0]["delta"],
        serde_json::json!({"role":"assistant","content":""})
    );
    let content: String = events[1..4]
        .iter()
        .map(|e| {
            parse(e)["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(content, "Mock reply: hi");
    assert_eq!(parse(&events[4])["choices"][0]["finish_reason"], "stop");
    assert_eq!(parse(&events[5])["choices"], serde_json::json!([]));
    assert_eq!(parse(&events[5])["usage"]["total_tokens"], 5);
    assert_eq!(events[6], "[DONE]");
    assert!(
        events[..5]
            .iter()
            .all(|e| parse(e)["object"] == "chat.completion.chunk")
    );
}

#[tokio::test]
async fn usage_chunk_is_left_out_unless_requested() {
    let (events, _) = collect(chat_events(Reply::Text("abc".into()), 2, false), None).await;
    assert_eq!(events.len(), 1 + 2 + 1 + 1);
    assert!(events.iter().all(|e| !e.contains("\"usage\"")));
}

#[tokio::test]
async fn tool_call_streams_header_then_argument_pieces() {
    let reply = Reply::ToolCall {
        id: "call_mock_0".into(),
        name: "f".into(),
        arguments: r#"{"input":"x"}"#.into(),
    };
    let (events, _) = collect(chat_events(reply, 2, false), None).await;
    let first = &parse(&events[0])["choices"][0]["delta"];
    assert_eq!(first["content"], Value::Null);
    assert_eq!(first["tool_calls"][0]["id"], "call_mock_0");
    assert_eq!(first["tool_calls"][0]["function"]["name"], "f");
    let args: String = events[1..3]
        .iter()
        .map(|e| {
            let delta = &parse(e)["choices"][0]["delta"];
            delta["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(args, r#"{"input":"x"}"#);
    assert_eq!(
        parse(&events[3])["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn disconnect_after_ends_with_an_error_and_no_done() {
    let (events, cut) = collect(
        chat_events(Reply::Text("Mock reply: hi".into()), 5, true),
        Some(2),
    )
    .await;
    assert!(cut);
    assert_eq!(events.len(), 2);
    let (events, cut) = collect(chat_events(Reply::Text("x".into()), 1, false), Some(3)).await;
    assert!(cut && !events.contains(&"[DONE]".to_owned()));
}
