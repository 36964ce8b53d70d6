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
        },
        rx,
        queued,
    )
}
