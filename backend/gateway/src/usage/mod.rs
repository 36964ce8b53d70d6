//! Usage events: one per proxied call, queued in memory by the proxy and written in batches by a background
//! writer, never on the hot path. None is lost: while the database is unreachable batches go to a durable spool
//! on local disk and are replayed (idempotently, by event id) when it is back; on shutdown the queue is drained
//! before the process exits.

pub mod maintenance;
mod spool;
pub mod tokenizer;
mod writer;

pub use spool::Spool;
pub use writer::{UsageWriter, WriterStats};

use crate::store::entities::usage_event;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::mpsc;

/// A usage event as stored.
pub type UsageEvent = usage_event::Model;

/// The proxy's handle for recording events; cheap to clone, never blocks.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::UnboundedSender<UsageEvent>,
    queued: Arc<AtomicI64>,
    /// Calls whose record exists and has not yet been dropped (each records its event before it goes).
    open: Arc<AtomicI64>,
}

/// Counts one call as open until dropped: a call record holds one, so shutdown can wait for the records that
/// the stopping HTTP workers drop (each records its event first) before the writer drains the queue.
pub struct OpenCall(Arc<AtomicI64>);

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl UsageSink {
    /// Queues an event for writing. Only fails once the writer has shut down, which happens after the HTTP
    /// server has stopped, so the error is logged with the event's id rather than returned.
    pub fn record(&self, event: UsageEvent) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.send(event) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(event_id = %e.0.id, "usage event recorded after the writer stopped");
        }
    }

    /// Events accepted but not yet written to the database or the spool.
    pub fn queue_depth(&self) -> i64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Marks a call open until the returned guard is dropped.
    pub fn open_call(&self) -> OpenCall {
        self.open.fetch_add(1, Ordering::AcqRel);
        OpenCall(Arc::clone(&self.open))
    }

    /// Waits until every open call has recorded its event, or `limit` has passed; returns how many are still
    /// open. Polled: this runs once, at shutdown.
    pub async fn wait_for_open_calls(&self, limit: std::time::Duration) -> i64 {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let open = self.open.load(Ordering::Acquire);
            if open <= 0 || tokio::time::Instant::now() >= until {
                return open.max(0);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Creates the sink and the channel end the writer consumes.
pub fn channel() -> (
    UsageSink,
    mpsc::UnboundedReceiver<UsageEvent>,
    Arc<AtomicI64>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicI64::new(0));
    (
        UsageSink {
            tx,
            queued: Arc::clone(&queued),
            open: Arc::new(AtomicI64::new(0)),
        },
        rx,
        queued,
    )
}
