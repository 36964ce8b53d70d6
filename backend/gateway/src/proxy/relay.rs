//! Relaying a provider's SSE stream to the client chunk by chunk. Every complete event is passed on byte for
//! byte as soon as its terminating blank line arrives; on the side each event is inspected for `usage` and for
//! generated text, so the call is billed from the provider's count, or from our own tokenizer when the stream
//! carries none. Whatever way the stream ends (finished, provider failure, time-out, or the client hanging up,
//! which drops this relay), exactly one usage event is recorded.
//!
//! When the provider or the client does not speak OpenAI's stream format, the relay translates on the way: each
//! provider event becomes OpenAI chunks (`wire::StreamTranslator`), which are inspected as above, then, for an
//! Anthropic-SDK client, become Anthropic events. Streams that need no translation keep the byte-for-byte path.

use super::call::{CallRecord, Outcome, UsageSource, counts_from_usage};
use super::chat::PromptCounter;
use super::wire::StreamTranslator;
use crate::money::TokenCounts;
use crate::translate::OpenAiStreamToAnthropic;
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

/// The translations a stream needs on its way, if any.
pub struct StreamFormats {
    /// Provider events to OpenAI chunks (`None`: the provider speaks OpenAI's format).
    pub upstream: Option<StreamTranslator>,
    /// OpenAI chunks to Anthropic events (`None`: the client speaks OpenAI's format).
    pub client: Option<OpenAiStreamToAnthropic>,
}

impl StreamFormats {
    fn translating(&self) -> bool {
        self.upstream.is_some() || self.client.is_some()
    }
}

/// How much of a provider stream the relay holds: one event, and the whole stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamCaps {
    pub max_event_bytes: usize,
    pub max_total_bytes: usize,
}

/// Starts relaying `response` (a 2xx SSE response) to the client.
pub fn relay_sse(
    call: CallRecord,
    response: reqwest::Response,
    prompt: PromptCounter,
    strip_usage_chunk: bool,
    deadline: Instant,
    formats: StreamFormats,
    caps: StreamCaps,
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
        scanned: 0,
        received: 0,
        caps,
        strip_usage_chunk,
        finished: false,
        formats,
        sent_done: false,
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
                    // A tool call's id and name come on its first delta; only sessions and traced calls collect them.
                    if let (Some(tools), Some(id)) = (&mut self.call.tools, &call.id) {
                        let name = call.function.as_ref().and_then(|f| f.name.as_deref());
                        tools.add_call(id, name.unwrap_or_default());
                    }
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

    fn finish(mut self, status: u16, label: &'static str, error: Option<String>) {
        // What reached the client (text and tool-call arguments), however the stream ended.
        let text = &self.completion_text;
        self.call.capture_answer(|| text.clone());
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
    id: Option<String>,
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
    /// How much of `pending` is known to hold no event end, so a long event is scanned once, not once per chunk.
    scanned: usize,
    /// Bytes received from the provider so far.
    received: usize,
    caps: StreamCaps,
    strip_usage_chunk: bool,
    finished: bool,
    formats: StreamFormats,
    /// Whether a translated stream has sent its `data: [DONE]` (to the tracker, and to an OpenAI client).
    sent_done: bool,
    tracker: Option<Tracker>,
}

impl SseRelay {
    /// Splits off every complete event in `pending`, returning the bytes to send.
    fn take_complete_events(&mut self) -> Bytes {
        let hint = std::mem::take(&mut self.scanned);
        if self.formats.translating() {
            let mut out = BytesMut::new();
            let mut from = hint;
            while let Some(len) = event_length_from(&self.pending, from) {
                let event = self.pending.split_to(len).freeze();
                self.translate_event(&event, &mut out);
                from = 0;
            }
            self.scanned = self.pending.len();
            return out.freeze();
        }
        let mut end = 0;
        let mut dropped: Vec<(usize, usize)> = Vec::new();
        let mut from = hint;
        while let Some(len) = event_length_from(&self.pending[end..], from) {
            from = 0;
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
        self.scanned = self.pending.len();
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

    /// One complete provider event of a translated stream: into OpenAI chunks, then to the client.
    fn translate_event(&mut self, event: &[u8], out: &mut BytesMut) {
        let mut chunks: Vec<Bytes> = Vec::new();
        match &mut self.formats.upstream {
            None => chunks.push(Bytes::copy_from_slice(event)),
            Some(translator) => {
                for data in data_lines(event) {
                    // Comments, pings and anything unreadable carry nothing to translate.
                    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
                        continue;
                    };
                    chunks.extend(translator.push(&value).iter().map(openai_event));
                }
                if translator.is_done() && !self.sent_done {
                    self.sent_done = true;
                    chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
                }
            }
        }
        for chunk in chunks {
            self.deliver_openai(&chunk, out);
        }
    }

    /// One OpenAI event: inspected for usage, then written in the client's format.
    fn deliver_openai(&mut self, event: &[u8], out: &mut BytesMut) {
        if let Some(tracker) = &mut self.tracker
            && !tracker.inspect(event, self.strip_usage_chunk)
        {
            return;
        }
        let Some(client) = &mut self.formats.client else {
            out.extend_from_slice(event);
            return;
        };
        for data in data_lines(event) {
            let events = if data == b"[DONE]" {
                client.finish()
            } else {
                match serde_json::from_slice::<serde_json::Value>(data) {
                    Ok(chunk) => client.push(&chunk),
                    Err(_) => continue,
                }
            };
            for event in events {
                out.extend_from_slice(event.to_sse().as_bytes());
            }
        }
    }

    /// The end of a provider stream that needed translation: what is owed (Gemini's usage chunk, `[DONE]`),
    /// or, for an Anthropic client of a stream that never completed, an error event.
    fn finish_translated(&mut self, out: &mut BytesMut) {
        let tail = self.pending.split();
        if !tail.is_empty() {
            // A last event without its blank line.
            let mut event = tail.to_vec();
            event.extend_from_slice(b"\n\n");
            self.translate_event(&event, out);
        }
        let complete = match &mut self.formats.upstream {
            Some(translator) => {
                let (chunks, complete) = translator.finish();
                for chunk in chunks.iter().map(openai_event) {
                    self.deliver_openai(&chunk, out);
                }
                complete
            }
            None => self.tracker.as_ref().is_some_and(|t| t.saw_done),
        };
        if complete && !self.sent_done && self.formats.upstream.is_some() {
            self.sent_done = true;
            self.deliver_openai(b"data: [DONE]\n\n", out);
        }
        if !complete && let Some(client) = &mut self.formats.client {
            let error = serde_json::json!({ "error": {
                "message": "the provider's stream ended before the answer was complete",
                "type": "server_error",
            }});
            for event in client.push(&error) {
                out.extend_from_slice(event.to_sse().as_bytes());
            }
        }
    }

    /// Ends the relay: records usage and returns what is left to send (the unterminated tail, and an error
    /// event in the client's stream format when the stream failed).
    fn end(
        &mut self,
        status: u16,
        label: &'static str,
        error: Option<(String, &'static str)>,
    ) -> Option<Bytes> {
        // A translated stream's tail was handled by `finish_translated` (or is dropped with an error).
        let mut tail = if self.formats.translating() {
            BytesMut::new()
        } else {
            self.pending.split()
        };
        self.finished = true;
        if let Some((message, code)) = &error {
            // Half an event would only make the client's parser fail before it reads the error.
            tail.clear();
            let body = OpenAiErrorBody::new(message.clone(), "server_error", None, Some(code));
            match &mut self.formats.client {
                None => {
                    let json = serde_json::to_string(&body).unwrap_or_default();
                    tail.extend_from_slice(format!("data: {json}\n\n").as_bytes());
                }
                Some(client) => {
                    let chunk = serde_json::to_value(&body).unwrap_or_default();
                    for event in client.push(&chunk) {
                        tail.extend_from_slice(event.to_sse().as_bytes());
                    }
                }
            }
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
                    this.received += chunk.len();
                    this.pending.extend_from_slice(&chunk);
                    let out = this.take_complete_events();
                    if this.received > this.caps.max_total_bytes
                        || this.pending.len() > this.caps.max_event_bytes
                    {
                        // What was complete still goes out first; the tail is dropped with an error event.
                        let cap = if this.received > this.caps.max_total_bytes {
                            this.caps.max_total_bytes
                        } else {
                            this.caps.max_event_bytes
                        };
                        let message = format!(
                            "the provider's stream is larger than the gateway's limit of {cap} bytes"
                        );
                        tracing::warn!(error = %message, "upstream stream cut");
                        this.pending.clear();
                        let mut all = BytesMut::from(&out[..]);
                        if let Some(tail) = this.end(
                            502,
                            "upstream_response_too_large",
                            Some((message, "upstream_response_too_large")),
                        ) {
                            all.extend_from_slice(&tail);
                        }
                        return Poll::Ready(Some(Ok(all.freeze())));
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    // The cause (addresses, TLS details) is logged, not sent to the caller.
                    tracing::warn!(error = %error_chain(&e), "upstream stream failed");
                    let message = "the provider's stream broke off".to_owned();
                    return Poll::Ready(
                        this.end(502, "upstream_error", Some((message, "upstream_error")))
                            .map(Ok),
                    );
                }
                Poll::Ready(None) => {
                    let mut out = BytesMut::new();
                    if this.formats.translating() {
                        this.finish_translated(&mut out);
                    }
                    let saw_done = this.tracker.as_ref().is_some_and(|t| t.saw_done);
                    let label = if saw_done { "ok" } else { "incomplete" };
                    if let Some(tail) = this.end(200, label, None) {
                        out.extend_from_slice(&tail);
                    }
                    return Poll::Ready((!out.is_empty()).then(|| Ok(out.freeze())));
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

/// An OpenAI chunk framed as one SSE event.
fn openai_event(chunk: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {chunk}\n\n"))
}

/// The payloads of an event's `data:` lines.
fn data_lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    event.split(|b| *b == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let data = line.strip_prefix(b"data:")?;
        Some(data.strip_prefix(b" ").unwrap_or(data))
    })
}

/// Like [`event_length`], when the first `scanned` bytes are already known to hold no blank line: the scan
/// starts just before them (a terminator may straddle the boundary).
fn event_length_from(bytes: &[u8], scanned: usize) -> Option<usize> {
    let start = scanned.saturating_sub(2).min(bytes.len());
    event_length(&bytes[start..]).map(|len| start + len)
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
    use super::{event_length, event_length_from};

    #[test]
    fn events_end_at_a_blank_line_in_either_line_ending() {
        assert_eq!(event_length(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(event_length(b"data: a\r\n\r\nrest"), Some(11));
        assert_eq!(event_length(b"data: partial\n"), None);
        assert_eq!(event_length(b""), None);
    }

    #[test]
    fn a_resumed_scan_finds_a_terminator_that_straddles_the_scanned_part() {
        // "data: a\n" was scanned (8 bytes) before the second "\n" arrived.
        assert_eq!(event_length_from(b"data: a\n\n", 8), Some(9));
        assert_eq!(event_length_from(b"data: a\r\n\r\n", 9), Some(11));
        assert_eq!(event_length_from(b"data: a\n", 8), None);
        assert_eq!(event_length_from(b"", 5), None);
    }
}
