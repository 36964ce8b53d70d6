//! Anthropic's streaming event sequence: `message_start`, `content_block_start`, `ping`, one
//! `content_block_delta` per chunk (`text_delta`, or `input_json_delta` for a tool call),
//! `content_block_stop`, `message_delta` (stop reason and cumulative usage) and `message_stop`, each framed
//! as `event: NAME` + `data: JSON`.

use actix_web::HttpResponse;
use bytes::Bytes;
use serde::Serialize;

use super::{MessagePlan, MessageView, UsageView};
use crate::delivery::{self, EventSource, Pace};
use crate::faults::RequestFaults;
use crate::reply::Reply;

/// The SSE response for a planned streamed message.
pub(super) fn sse_response(plan: MessagePlan, faults: &RequestFaults) -> HttpResponse {
    let bounds = delivery::split_bounds(plan.completion.reply.streamed_text(), faults.chunks);
    delivery::sse(MessageEvents { plan, bounds }, faults)
}

/// One event of the sequence, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    MessageStart,
    BlockStart,
    Ping,
    Delta(usize),
    BlockStop,
    MessageDelta,
    MessageStop,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::MessageStart => "message_start",
            Event::BlockStart => "content_block_start",
            Event::Ping => "ping",
            Event::Delta(_) => "content_block_delta",
            Event::BlockStop => "content_block_stop",
            Event::MessageDelta => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }
}

struct MessageEvents {
    plan: MessagePlan,
    bounds: Vec<usize>,
}

impl EventSource for MessageEvents {
    fn event(&self, step: usize) -> Option<(Pace, Bytes)> {
        let pieces = self.bounds.len() - 1;
        let event = match step {
            0 => Event::MessageStart,
            1 => Event::BlockStart,
            2 => Event::Ping,
            s if s < 3 + pieces => Event::Delta(s - 3),
            s => match s - 3 - pieces {
                0 => Event::BlockStop,
                1 => Event::MessageDelta,
                2 => Event::MessageStop,
                _ => return None,
            },
        };
        let pace = match event {
            Event::MessageStart => Pace::First,
            Event::Delta(i) if i > 0 => Pace::Chunk,
            _ => Pace::Now,
        };
        Some((pace, self.render(event)))
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum EventView<'a> {
    MessageStart {
        message: MessageView<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: super::ContentView<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: u32,
        delta: DeltaView<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopView<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<UsageView>,
    },
    MessageStop,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum DeltaView<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopView<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

impl MessageEvents {
    fn render(&self, event: Event) -> Bytes {
        let plan = &self.plan;
        let view = match event {
            Event::MessageStart => EventView::MessageStart {
                message: plan.view(Vec::new(), false),
            },
            Event::BlockStart => EventView::ContentBlockStart {
                index: 0,
                content_block: plan.block(false),
            },
            Event::Ping => EventView::Ping,
            Event::Delta(i) => {
                let reply = &plan.completion.reply;
                let piece = delivery::piece(reply.streamed_text(), &self.bounds, i);
                let delta = match reply {
                    Reply::Text(_) => DeltaView::TextDelta { text: piece },
                    Reply::ToolCall { .. } => DeltaView::InputJsonDelta {
                        partial_json: piece,
                    },
                };
                EventView::ContentBlockDelta { index: 0, delta }
            }
            Event::BlockStop => EventView::ContentBlockStop { index: 0 },
            Event::MessageDelta => EventView::MessageDelta {
                delta: StopView {
                    stop_reason: plan.stop_reason(),
                    stop_sequence: plan.stop_sequence(),
                },
                usage: plan.usage,
            },
            Event::MessageStop => EventView::MessageStop,
        };
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(b"event: ");
        buf.extend_from_slice(event.name().as_bytes());
        buf.extend_from_slice(b"\ndata: ");
        // Serialising borrowed strings and integers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buf, &view);
        buf.extend_from_slice(b"\n\n");
        Bytes::from(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Completion, Limits};
    use serde_json::{Value, json};

    fn events(reply: Reply, chunks: usize) -> MessageEvents {
        let completion = Completion::new(reply, &Limits::default(), 0);
        let plan = MessagePlan {
            id: "msg_mock_1".into(),
            model: "claude".into(),
            usage: Some(UsageView {
                input_tokens: 7,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 0,
                output_tokens: completion.output_tokens(),
            }),
            completion,
        };
        let bounds = delivery::split_bounds(plan.completion.reply.streamed_text(), chunks);
        MessageEvents { plan, bounds }
    }

    /// (event name, data) of each event, checking the framing.
    async fn collect(events: MessageEvents) -> Vec<(String, Value)> {
        let (texts, _) = delivery::collect(events, None).await;
        texts
            .iter()
            .map(|text| {
                let (head, data) = text.split_once('\n').unwrap_or_default();
                assert!(
                    text.ends_with("\n\n") && data.starts_with("data: "),
                    "{text:?}"
                );
                let name = head.strip_prefix("event: ").unwrap_or_default().to_owned();
                let data: Value =
                    serde_json::from_str(data["data: ".len()..].trim_end()).unwrap_or_default();
                assert_eq!(data["type"], name.as_str(), "event name matches its type");
                (name, data)
            })
            .collect()
    }

    #[tokio::test]
    async fn text_stream_follows_anthropics_event_sequence() {
        let got = collect(events(Reply::Text("Mock reply: hi".into()), 3)).await;
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let start = &got[0].1["message"];
        assert_eq!(
            (start["content"].clone(), start["stop_reason"].clone()),
            (json!([]), Value::Null)
        );
        assert_eq!(start["usage"]["output_tokens"], 1);
        assert_eq!(
            got[1].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        let text: String = got[3..6]
            .iter()
            .map(|(_, d)| d["delta"]["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(text, "Mock reply: hi");
        assert_eq!(got[3].1["delta"]["type"], "text_delta");
        assert_eq!(
            got[7].1["delta"],
            json!({"stop_reason": "end_turn", "stop_sequence": null})
        );
        assert_eq!(got[7].1["usage"]["output_tokens"], 4);
    }

    #[tokio::test]
    async fn tool_use_streams_input_json_deltas() {
        let reply = Reply::to("Paris", Some("get_weather".into()), "toolu_mock_0");
        let got = collect(events(reply, 2)).await;
        assert_eq!(
            got[1].1["content_block"],
            json!({"type": "tool_use", "id": "toolu_mock_0", "name": "get_weather", "input": {}})
        );
        let json: String = got[3..5]
            .iter()
            .map(|(_, d)| {
                d["delta"]["partial_json"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(json, r#"{"input":"Paris"}"#);
        assert_eq!(got[3].1["delta"]["type"], "input_json_delta");
        assert_eq!(got[6].1["delta"]["stop_reason"], "tool_use");
    }
}
