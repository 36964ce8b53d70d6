//! `streamGenerateContent`: a sequence of `GenerateContentResponse` chunks, each with the text generated
//! since the previous one and cumulative `usageMetadata`, the last with `finishReason`. A function call
//! comes whole in a single chunk, as Gemini sends it. There is no end marker: the stream just ends.

use actix_web::HttpResponse;
use bytes::Bytes;

use super::GeminiPlan;
use crate::delivery::{self, EventSource, Pace};
use crate::faults::RequestFaults;
use crate::reply::Reply;
use crate::tokens;

struct ChunkEvents {
    plan: GeminiPlan,
    bounds: Vec<usize>,
}

impl ChunkEvents {
    fn new(plan: GeminiPlan, chunks: usize) -> Self {
        let pieces = match plan.completion.reply {
            Reply::Text(_) => chunks,
            Reply::ToolCall { .. } => 1,
        };
        let bounds = delivery::split_bounds(plan.completion.reply.streamed_text(), pieces);
        Self { plan, bounds }
    }

    fn count(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Chunk `i` as JSON.
    fn chunk(&self, i: usize) -> Vec<u8> {
        let plan = &self.plan;
        let text = plan.completion.reply.streamed_text();
        let last = i + 1 == self.count();
        let candidates_tokens = if last {
            plan.completion.visible_tokens
        } else {
            let so_far = text.get(..self.bounds[i + 1]).unwrap_or_default();
            tokens::count(so_far).min(plan.completion.visible_tokens)
        };
        let part = plan.part(delivery::piece(text, &self.bounds, i));
        // Serialising borrowed strings and integers into a Vec cannot fail.
        serde_json::to_vec(&plan.response(part, last, candidates_tokens)).unwrap_or_default()
    }
}

impl EventSource for ChunkEvents {
    fn event(&self, step: usize) -> Option<(Pace, Bytes)> {
        if step >= self.count() {
            return None;
        }
        let pace = if step == 0 { Pace::First } else { Pace::Chunk };
        let mut buf = b"data: ".to_vec();
        buf.extend_from_slice(&self.chunk(step));
        // Google frames its events with CRLF line ends, which SSE allows.
        buf.extend_from_slice(b"\r\n\r\n");
        Some((pace, Bytes::from(buf)))
    }
}

/// The SSE response (`?alt=sse`) for a planned streamed answer.
pub(super) fn sse_response(plan: GeminiPlan, faults: &RequestFaults) -> HttpResponse {
    delivery::sse(ChunkEvents::new(plan, faults.chunks), faults)
}

/// The same chunks as one JSON array, Gemini's stream format without `?alt=sse`.
pub(super) fn json_array(plan: GeminiPlan, faults: &RequestFaults) -> Vec<u8> {
    let events = ChunkEvents::new(plan, faults.chunks);
    let mut buf = b"[".to_vec();
    for i in 0..events.count() {
        if i > 0 {
            buf.extend_from_slice(b",\r\n");
        }
        buf.extend_from_slice(&events.chunk(i));
    }
    buf.push(b']');
    buf
}
