//! Relaying a provider's SSE stream to the client chunk by chunk. Every complete event is passed on byte for
//! byte as soon as its terminating blank line arrives; on the side each event is inspected for `usage` and for
//! generated text, so the call is billed from the provider's count, or from our own tokenizer when the stream
//! carries none. Whatever way the stream ends (finished, provider failure, time-out, or the client hanging up,
//! which drops this relay), exactly one usage event is recorded.

use super::call::{CallRecord, Outcome, UsageSource, counts_from_usage};
use super::chat::PromptCounter;
use crate::money::TokenCounts;
use crate::upstream::error_chain;
use crate::usage::tokenizer;
use actix_web::HttpResponse;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use switchyard_types::{OpenAiErrorBody, Usage};
use tokio::time::{Instant, Sleep};

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Starts relaying `response` (a 2xx SSE response) to the client.
pub fn relay_sse(
    call: CallRecord,
    response: reqwest::Response,
    prompt: PromptCounter,
    strip_usage_chunk: bool,
    deadline: Instant,
) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    builder
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        // Ask reverse proxies in front of us not to buffer either.
        .insert_header(("x-accel-buffering", "no"));
    call.decorate(&mut builder);
    let relay = SseRelay {
        upstream: Box::pin(response.bytes_stream()),
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
        pending: BytesMut::new(),
        strip_usage_chunk,
        finished: false,
        tracker: Some(Tracker {
            call,
            prompt,
            usage: None,
            completion_text: String::new(),
            first_byte: None,
            saw_done: false,
        }),
    };
    builder.streaming(relay)
}

struct Tracker {
    call: CallRecord,
    prompt: PromptCounter,
    usage: Option<Usage>,
    completion_text: String,
    first_byte: Option<Duration>,
    saw_done: bool,
}

impl Tracker {
    /// Inspects one complete event; returns false when it must not reach the client.
    fn inspect(&mut self, event: &[u8], strip_usage_chunk: bool) -> bool {
        let mut keep = true;
        for line in event.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data == b"[DONE]" {
                self.saw_done = true;
                continue;
            }
            let Ok(chunk) = serde_json::from_slice::<ChunkPeek>(data) else {
                continue;
            };
            for choice in chunk.choices.iter().flatten() {
                let Some(delta) = &choice.delta else { continue };
                if let Some(content) = &delta.content {
                    self.completion_text.push_str(content);
                }
                for call in delta.tool_calls.iter().flatten() {
                    if let Some(function) = &call.function {
                        self.completion_text
                            .push_str(function.name.as_deref().unwrap_or_default());
                        self.completion_text
                            .push_str(function.arguments.as_deref().unwrap_or_default());
                    }
                }
            }
            if let Some(usage) = chunk.usage {
                self.usage = Some(usage);
                if strip_usage_chunk && chunk.choices.as_ref().is_none_or(Vec::is_empty) {
                    keep = false;
                }
            }
        }
        keep
    }

    fn finish(self, status: u16, label: &'static str, error: Option<String>) {
        let (tokens, source) = match &self.usage {
            Some(usage) => (counts_from_usage(usage), UsageSource::Provider),
            None => (
                TokenCounts {
                    input: self.prompt.count(),
                    output: tokenizer::count_text(&self.completion_text),
                    cached: 0,
                    reasoning: 0,
                },
                UsageSource::Tokenizer,
            ),
        };
        self.call.finish(Outcome {
            status,
            label,
            tokens,
            source,
            ttft: self.first_byte,
            error,
        });
    }
}

#[derive(Deserialize)]
struct ChunkPeek {
    choices: Option<Vec<ChoicePeek>>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChoicePeek {
    delta: Option<DeltaPeek>,
}

#[derive(Deserialize)]
struct DeltaPeek {
    content: Option<String>,
    tool_calls: Option<Vec<ToolCallPeek>>,
}

#[derive(Deserialize)]
struct ToolCallPeek {
    function: Option<FunctionPeek>,
}

#[derive(Deserialize)]
struct FunctionPeek {
    name: Option<String>,
    arguments: Option<String>,
}

struct SseRelay {
    upstream: ByteStream,
    deadline: Pin<Box<Sleep>>,
    pending: BytesMut,
    strip_usage_chunk: bool,
    finished: bool,
    tracker: Option<Tracker>,
}

impl SseRelay {
    /// Splits off every complete event in `pending`, returning the bytes to send.
    fn take_complete_events(&mut self) -> Bytes {
        let mut end = 0;
        let mut dropped: Vec<(usize, usize)> = Vec::new();
        while let Some(len) = event_length(&self.pending[end..]) {
            let keep = match &mut self.tracker {
                Some(tracker) => {
                    tracker.inspect(&self.pending[end..end + len], self.strip_usage_chunk)
                }
                None => true,
            };
            if !keep {
                dropped.push((end, end + len));
            }
            end += len;
        }
        let complete = self.pending.split_to(end).freeze();
        if dropped.is_empty() {
            return complete;
        }
        let mut kept = BytesMut::with_capacity(complete.len());
        let mut from = 0;
        for (start, stop) in dropped {
            kept.extend_from_slice(&complete[from..start]);
            from = stop;
        }
        kept.extend_from_slice(&complete[from..]);
        kept.freeze()
    }

    /// Ends the relay: records usage and returns what is left to send (the unterminated tail, and an error
    /// event in OpenAI's stream format when the stream failed).
    fn end(
        &mut self,
        status: u16,
        label: &'static str,
        error: Option<(String, &'static str)>,
    ) -> Option<Bytes> {
        self.finished = true;
        let mut tail = self.pending.split();
        if let Some((message, code)) = &error {
            // Half an event would only make the client's parser fail before it reads the error.
            tail.clear();
            let body = OpenAiErrorBody::new(message.clone(), "server_error", None, Some(code));
            let json = serde_json::to_string(&body).unwrap_or_default();
            tail.extend_from_slice(format!("data: {json}\n\n").as_bytes());
        }
        if let Some(tracker) = self.tracker.take() {
            if error.is_some() {
                // The stream broke after its first byte: too late to fail over, not too late to learn.
                tracker.call.deployment.health.record_failure();
            }
            tracker.finish(status, label, error.map(|(message, _)| message));
        }
        (!tail.is_empty()).then(|| tail.freeze())
    }
}

impl Stream for SseRelay {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        loop {
            if this.deadline.as_mut().poll(cx).is_ready() {
                let message =
                    "the provider did not finish the stream within the total timeout".to_owned();
                return Poll::Ready(
                    this.end(504, "upstream_timeout", Some((message, "upstream_timeout")))
                        .map(Ok),
                );
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(tracker) = &mut this.tracker {
                        tracker
                            .first_byte
                            .get_or_insert_with(|| tracker.call.started.elapsed());
                    }
                    this.pending.extend_from_slice(&chunk);
                    let out = this.take_complete_events();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let message = format!("the provider's stream broke off: {}", error_chain(&e));
                    tracing::warn!(error = %message, "upstream stream failed");
                    return Poll::Ready(
                        this.end(502, "upstream_error", Some((message, "upstream_error")))
                            .map(Ok),
                    );
                }
                Poll::Ready(None) => {
                    let saw_done = this.tracker.as_ref().is_some_and(|t| t.saw_done);
                    let label = if saw_done { "ok" } else { "incomplete" };
                    return Poll::Ready(this.end(200, label, None).map(Ok));
                }
            }
        }
    }
}

impl Drop for SseRelay {
    fn drop(&mut self) {
        // Dropped before the end: the client went away. Bill what was generated so far.
        if let Some(tracker) = self.tracker.take() {
            tracker.finish(
                499,
                "client_disconnected",
                Some("the client closed the connection mid-stream".into()),
            );
        }
    }
}

/// Length of the first complete event in `bytes` (through its blank line), if there is one.
fn event_length(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if bytes[i + 1] == b'\r' && bytes.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::event_length;

    #[test]
    fn events_end_at_a_blank_line_in_either_line_ending() {
        assert_eq!(event_length(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(event_length(b"data: a\r\n\r\nrest"), Some(11));
        assert_eq!(event_length(b"data: partial\n"), None);
        assert_eq!(event_length(b""), None);
    }
}
