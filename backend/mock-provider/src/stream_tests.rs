use super::*;
use crate::config::MockConfig;
use futures_util::StreamExt;
use serde_json::Value;

fn pieces(text: &str, n: usize) -> Vec<&str> {
    split_bounds(text, n)
        .windows(2)
        .map(|w| &text[w[0]..w[1]])
        .collect()
}

#[test]
fn content_splits_into_the_requested_number_of_even_pieces() {
    assert_eq!(pieces("abcdefghij", 5), ["ab", "cd", "ef", "gh", "ij"]);
    assert_eq!(pieces("abcdefg", 3), ["ab", "cd", "efg"]);
    assert_eq!(pieces("héllo wörld", 2).concat(), "héllo wörld");
    assert_eq!(pieces("ab", 4), ["", "a", "", "b"]);
    assert_eq!(pieces("", 0), [""]);
}

fn state(
    reply: Reply,
    chunks: usize,
    include_usage: bool,
    disconnect_after: Option<usize>,
) -> SseState {
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
    let bounds = split_bounds(plan.reply.streamed_text(), chunks);
    let faults = RequestFaults::from_config(&MockConfig::default());
    SseState {
        plan,
        bounds,
        step: 0,
        emitted: 0,
        ttft: faults.ttft,
        chunk_delay: faults.chunk_delay,
        disconnect_after,
        finished: false,
    }
}

/// Drives the stream to its end: the `data:` payloads in order, and whether it ended with an error.
async fn collect(state: SseState) -> (Vec<String>, bool) {
    let mut items = Box::pin(stream::unfold(state, SseState::next_item));
    let (mut events, mut cut) = (Vec::new(), false);
    while let Some(item) = items.next().await {
        match item {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                assert!(
                    text.starts_with("data: ") && text.ends_with("\n\n"),
                    "bad SSE framing: {text:?}"
                );
                events.push(text["data: ".len()..text.len() - 2].to_owned());
            }
            Err(_) => cut = true,
        }
    }
    (events, cut)
}

fn parse(event: &str) -> Value {
    serde_json::from_str(event).unwrap_or_default()
}

#[tokio::test]
async fn text_stream_sends_role_pieces_finish_usage_then_done() {
    let (events, cut) = collect(state(Reply::Text("Mock reply: hi".into()), 3, true, None)).await;
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
    let (events, _) = collect(state(Reply::Text("abc".into()), 2, false, None)).await;
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
    let (events, _) = collect(state(reply, 2, false, None)).await;
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
    let (events, cut) = collect(state(
        Reply::Text("Mock reply: hi".into()),
        5,
        true,
        Some(2),
    ))
    .await;
    assert!(cut);
    assert_eq!(events.len(), 2);
    let (events, cut) = collect(state(Reply::Text("x".into()), 1, false, Some(3))).await;
    assert!(cut && !events.contains(&"[DONE]".to_owned()));
}
