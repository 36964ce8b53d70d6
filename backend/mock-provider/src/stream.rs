//! Server-sent events for streamed chat completions, produced lazily chunk by chunk so actix flushes each
//! one as it is generated (and so the delays between them are real).

use std::io;
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::{StreamExt as _, stream};
use serde::Serialize;
use switchyard_types::Usage;

use crate::chat::{ChatPlan, Reply, SYSTEM_FINGERPRINT};
use crate::faults::RequestFaults;

/// Byte offsets cutting `text` into `pieces` runs of (nearly) equal character counts: `pieces + 1`
/// offsets, first 0 and last `text.len()`. Text shorter than `pieces` yields some empty runs so the
/// number of chunks is always the one asked for.
pub(crate) fn split_bounds(text: &str, pieces: usize) -> Vec<usize> {
    let pieces = pieces.max(1);
    let chars = text.chars().count();
    let mut offsets = text
        .char_indices()
        .map(|(at, _)| at)
        .chain(std::iter::once(text.len()));
    let mut bounds = Vec::with_capacity(pieces + 1);
    let (mut next_char, mut offset) = (0, 0);
    for k in 0..=pieces {
        let target = k * chars / pieces;
        while next_char <= target {
            offset = offsets.next().unwrap_or(text.len());
            next_char += 1;
        }
        bounds.push(offset);
    }
    bounds
}

/// One SSE event of the sequence, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Role,
    Piece(usize),
    Finish,
    Usage,
    Done,
}

/// The stream's state, threaded through [`stream::unfold`]; no task or channel per request.
struct SseState {
    plan: ChatPlan,
    bounds: Vec<usize>,
    step: usize,
    emitted: usize,
    ttft: Duration,
    chunk_delay: Duration,
    disconnect_after: Option<usize>,
    finished: bool,
}

impl SseState {
    async fn next_item(mut self) -> Option<(Result<Bytes, io::Error>, Self)> {
        if self.finished {
            return None;
        }
        let event = self.next_event()?;
        let delay = match event {
            Event::Role => self.ttft,
            Event::Piece(i) if i > 0 => self.chunk_delay,
            _ => Duration::ZERO,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self
            .disconnect_after
            .is_some_and(|limit| self.emitted >= limit)
        {
            self.finished = true;
            return Some((Err(cut_connection().await), self));
        }
        let bytes = self.render(event);
        self.step += 1;
        self.emitted += 1;
        Some((Ok(bytes), self))
    }

    fn next_event(&self) -> Option<Event> {
        let pieces = self.bounds.len() - 1;
        let usage_chunk = self.plan.include_usage && self.plan.usage.is_some();
        match self.step {
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
                let text = plan.reply.streamed_text();
                let piece = text
                    .get(self.bounds[i]..self.bounds[i + 1])
                    .unwrap_or_default();
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
    let bounds = split_bounds(plan.reply.streamed_text(), faults.chunks);
    let state = SseState {
        plan,
        bounds,
        step: 0,
        emitted: 0,
        ttft: faults.ttft,
        chunk_delay: faults.chunk_delay,
        disconnect_after: faults.disconnect_after,
        finished: false,
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream::unfold(state, SseState::next_item))
}

/// A 200 whose body stops halfway and then drops the connection: `disconnect_after` for replies that
/// are not streamed.
pub(crate) fn cut_response(body: Vec<u8>, content_type: &'static str) -> HttpResponse {
    let body = Bytes::from(body);
    let half = body.slice(..body.len() / 2);
    let items = stream::iter([Ok(half)]).chain(stream::once(async { Err(cut_connection().await) }));
    HttpResponse::Ok()
        .content_type(content_type)
        .streaming(items)
}

/// The error that ends a body early; actix then closes the connection without the terminating chunk.
/// It first yields once: actix only flushes its write buffer when the body stream is pending, and an
/// error arriving right behind the data would drop that data (and even the response head) unsent.
async fn cut_connection() -> io::Error {
    tokio::task::yield_now().await;
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "mock-provider: disconnect_after reached",
    )
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
