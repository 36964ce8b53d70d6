//! How an answer reaches the client, whatever its dialect: SSE events produced lazily one by one (so the
//! delays between them are real and actix flushes each as it is made), or one JSON body that takes as long
//! as the stream would have. Time to first token, chunk delays and cut connections are applied here, once
//! for every dialect.

use std::io;
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _, stream};

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

/// The `i`-th of the runs [`split_bounds`] cut `text` into.
pub(crate) fn piece<'a>(text: &'a str, bounds: &[usize], i: usize) -> &'a str {
    match (bounds.get(i), bounds.get(i + 1)) {
        (Some(&start), Some(&end)) => text.get(start..end).unwrap_or_default(),
        _ => "",
    }
}

/// Which delay comes before an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// The first event: time to first token.
    First,
    /// A content chunk after the first one: the chunk delay.
    Chunk,
    /// Framing sent right away.
    Now,
}

/// A dialect's sequence of SSE events, each already framed (`data: …\n\n` or `event: …\ndata: …\n\n`).
pub(crate) trait EventSource: 'static {
    /// Event number `step` (from 0) and the delay before it; `None` once the stream is complete.
    fn event(&self, step: usize) -> Option<(Pace, Bytes)>;
}

/// The delays and the cut that [`RequestFaults`] ask of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub ttft: Duration,
    pub chunk_delay: Duration,
    pub disconnect_after: Option<usize>,
}

impl Timing {
    pub(crate) fn of(faults: &RequestFaults) -> Self {
        Self {
            ttft: faults.ttft,
            chunk_delay: faults.chunk_delay,
            disconnect_after: faults.disconnect_after,
        }
    }
}

/// The stream's state, threaded through [`stream::unfold`]; no task or channel per request.
struct Driver<E> {
    events: E,
    timing: Timing,
    step: usize,
    finished: bool,
}

impl<E: EventSource> Driver<E> {
    async fn next_item(mut self) -> Option<(Result<Bytes, io::Error>, Self)> {
        if self.finished {
            return None;
        }
        let (pace, bytes) = self.events.event(self.step)?;
        let delay = match pace {
            Pace::First => self.timing.ttft,
            Pace::Chunk => self.timing.chunk_delay,
            Pace::Now => Duration::ZERO,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self
            .timing
            .disconnect_after
            .is_some_and(|limit| self.step >= limit)
        {
            self.finished = true;
            return Some((Err(cut_connection().await), self));
        }
        self.step += 1;
        Some((Ok(bytes), self))
    }
}

/// The body stream of `events` under `timing`: it ends with an error (a cut connection) when
/// `disconnect_after` is reached.
pub(crate) fn body<E: EventSource>(
    events: E,
    timing: Timing,
) -> impl Stream<Item = Result<Bytes, io::Error>> {
    let driver = Driver {
        events,
        timing,
        step: 0,
        finished: false,
    };
    stream::unfold(driver, Driver::next_item)
}

/// A 200 `text/event-stream` response streaming `events` as `faults` ask.
pub(crate) fn sse<E: EventSource>(events: E, faults: &RequestFaults) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body(events, Timing::of(faults)))
}

/// A 200 JSON response sent after as long as the streamed answer would have taken (time to first token
/// and the delays between chunks), and cut halfway when `faults` ask for a disconnect.
pub(crate) async fn json(body: Vec<u8>, faults: &RequestFaults) -> HttpResponse {
    let pieces = u32::try_from(faults.chunks.saturating_sub(1)).unwrap_or(u32::MAX);
    let delay = faults
        .ttft
        .saturating_add(faults.chunk_delay.saturating_mul(pieces));
    if delay > Duration::ZERO {
        tokio::time::sleep(delay).await;
    }
    if faults.disconnect_after.is_some() {
        return cut_response(body, "application/json");
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// A 200 whose body stops halfway and then drops the connection: `disconnect_after` for replies that
/// are not streamed.
fn cut_response(body: Vec<u8>, content_type: &'static str) -> HttpResponse {
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

/// Drives `events` to their end without delays: each event's text, and whether the stream was cut.
#[cfg(test)]
pub(crate) async fn collect<E: EventSource>(
    events: E,
    disconnect_after: Option<usize>,
) -> (Vec<String>, bool) {
    let timing = Timing {
        ttft: Duration::ZERO,
        chunk_delay: Duration::ZERO,
        disconnect_after,
    };
    let mut items = Box::pin(body(events, timing));
    let (mut texts, mut cut) = (Vec::new(), false);
    while let Some(item) = items.next().await {
        match item {
            Ok(bytes) => texts.push(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => cut = true,
        }
    }
    (texts, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, n: usize) -> Vec<&str> {
        let bounds = split_bounds(text, n);
        (0..n.max(1)).map(|i| piece(text, &bounds, i)).collect()
    }

    #[test]
    fn content_splits_into_the_requested_number_of_even_pieces() {
        assert_eq!(pieces("abcdefghij", 5), ["ab", "cd", "ef", "gh", "ij"]);
        assert_eq!(pieces("abcdefg", 3), ["ab", "cd", "efg"]);
        assert_eq!(pieces("héllo wörld", 2).concat(), "héllo wörld");
        assert_eq!(pieces("ab", 4), ["", "a", "", "b"]);
        assert_eq!(pieces("", 0), [""]);
        assert_eq!(piece("ab", &[0, 2], 5), "");
    }

    struct Three;

    impl EventSource for Three {
        fn event(&self, step: usize) -> Option<(Pace, Bytes)> {
            (step < 3).then(|| (Pace::Now, Bytes::from(step.to_string())))
        }
    }

    #[tokio::test]
    async fn driver_emits_every_event_or_cuts_after_the_limit() {
        assert_eq!(
            collect(Three, None).await,
            (vec!["0".into(), "1".into(), "2".into()], false)
        );
        assert_eq!(collect(Three, Some(1)).await, (vec!["0".into()], true));
        assert_eq!(collect(Three, Some(0)).await, (Vec::new(), true));
    }
}
