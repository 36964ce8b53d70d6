//! Server-sent events for streamed chat completions: OpenAI's `chat.completion.chunk` sequence, paced
//! and cut by [`crate::delivery`].

use actix_web::HttpResponse;
use bytes::Bytes;
use serde::Serialize;
use switchyard_types::Usage;

use crate::chat::{ChatPlan, SYSTEM_FINGERPRINT};
use crate::delivery::{self, EventSource, Pace};
use crate::faults::RequestFaults;
use crate::reply::Reply;

/// One SSE event of the sequence, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Role,
    Piece(usize),
    Finish,
    Usage,
    Done,
}

/// A planned completion and where its streamed text is cut into chunks.
struct ChatEvents {
    plan: ChatPlan,
    bounds: Vec<usize>,
}

impl EventSource for ChatEvents {
    fn event(&self, step: usize) -> Option<(Pace, Bytes)> {
        let event = self.nth(step)?;
        let pace = match event {
            Event::Role => Pace::First,
            Event::Piece(i) if i > 0 => Pace::Chunk,
            _ => Pace::Now,
        };
        Some((pace, self.render(event)))
    }
}

impl ChatEvents {
    fn new(plan: ChatPlan, chunks: usize) -> Self {
        let bounds = delivery::split_bounds(plan.reply.streamed_text(), chunks);
        Self { plan, bounds }
    }

    fn nth(&self, step: usize) -> Option<Event> {
        let pieces = self.bounds.len() - 1;
        let usage_chunk = self.plan.include_usage && self.plan.usage.is_some();
        match step {
            0 => Some(Event::Role),
            s if s <= pieces => Some(Event::Piece(s - 1)),
            s => match (s - pieces - 1, usage_chunk) {
                (0, _) => Some(Event::Finish),
                (1, true) => Some(Event::Usage),
                (1, false) | (2, true) => Some(Event::Done),
                _ => None,
            },
        }
    }

    fn render(&self, event: Event) -> Bytes {
        let plan = &self.plan;
        let (delta, finish_reason, usage) = match event {
            Event::Done => return Bytes::from_static(b"data: [DONE]\n\n"),
            Event::Role => (self.role_delta(), None, None),
            Event::Piece(i) => {
                let piece = delivery::piece(plan.reply.streamed_text(), &self.bounds, i);
                let delta = match plan.reply {
                    Reply::Text(_) => Delta {
                        content: Some(Some(piece)),
                        ..Delta::default()
                    },
                    Reply::ToolCall { .. } => Delta {
                        tool_calls: Some([ToolCallDelta::arguments(piece)]),
                        ..Delta::default()
                    },
                };
                (delta, None, None)
            }
            Event::Finish => (Delta::default(), Some(plan.reply.finish_reason()), None),
            Event::Usage => (Delta::default(), None, plan.usage.as_ref()),
        };
        let choice = [ChoiceView {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        }];
        let choices: &[ChoiceView<'_>] = if event == Event::Usage { &[] } else { &choice };
        let chunk = ChunkView {
            id: &plan.id,
            object: "chat.completion.chunk",
            created: plan.created,
            model: &plan.model,
            system_fingerprint: SYSTEM_FINGERPRINT,
            choices,
            usage,
        };
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(b"data: ");
        // Serialising borrowed strings and integers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buf, &chunk);
        buf.extend_from_slice(b"\n\n");
        Bytes::from(buf)
    }

    fn role_delta(&self) -> Delta<'_> {
        match &self.plan.reply {
            Reply::Text(_) => Delta {
                role: Some("assistant"),
                content: Some(Some("")),
                tool_calls: None,
            },
            Reply::ToolCall { id, name, .. } => Delta {
                role: Some("assistant"),
                content: Some(None),
                tool_calls: Some([ToolCallDelta {
                    index: 0,
                    id: Some(id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(name),
                        arguments: "",
                    },
                }]),
            },
        }
    }
}

#[derive(Serialize)]
struct ChunkView<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChoiceView<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Usage>,
}

#[derive(Serialize)]
struct ChoiceView<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// `Some(None)` serialises as `null`, which OpenAI sends alongside a tool call's first delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

impl<'a> ToolCallDelta<'a> {
    fn arguments(piece: &'a str) -> Self {
        Self {
            index: 0,
            id: None,
            kind: None,
            function: FunctionDelta {
                name: None,
                arguments: piece,
            },
        }
    }
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// The SSE response for a planned streamed completion.
pub(crate) fn sse_response(plan: ChatPlan, faults: &RequestFaults) -> HttpResponse {
    delivery::sse(ChatEvents::new(plan, faults.chunks), faults)
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
