//! The background writer: the first event of a batch starts a `flush_interval` timer; when it fires, everything
//! queued meanwhile is written in inserts of up to `batch_size` rows. While the timer runs the writer does not
//! listen to the queue at all, so the proxy's sends never wake it: one wake-up per interval, however busy the
//! proxy is. A failed insert falls back to the spool. While the database is
//! known to be down it spools directly instead of waiting on connection time-outs, and every `replay_interval`
//! it tries the oldest spooled batch; the first success brings it back to direct writes and replays the rest.

use super::{Spool, UsageEvent};
use crate::config::UsageSettings;
use crate::store::Repo;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// Counters the writer exposes (readiness, metrics, tests).
#[derive(Default, Debug)]
pub struct WriterStats {
    pub written: AtomicU64,
    pub spooled: AtomicU64,
    pub replayed: AtomicU64,
    pub spool_files: AtomicI64,
}

/// A running writer; `shutdown` drains it.
pub struct UsageWriter {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    pub stats: Arc<WriterStats>,
}

struct Worker {
    repo: Repo,
    spool: Spool,
    settings: UsageSettings,
    queued: Arc<AtomicI64>,
    stats: Arc<WriterStats>,
    database_up: bool,
    /// Batches neither the database nor the spool took (both failed): kept here, retried on every replay tick
    /// and at shutdown, never dropped.
    unwritten: Vec<Vec<UsageEvent>>,
}

impl UsageWriter {
    /// Starts the writer task.
    pub fn start(
        repo: Repo,
        spool: Spool,
        settings: UsageSettings,
        rx: mpsc::UnboundedReceiver<UsageEvent>,
        queued: Arc<AtomicI64>,
    ) -> Self {
        let stats = Arc::new(WriterStats::default());
        stats.spool_files.store(
            spool.files().map(|f| f.len() as i64).unwrap_or(0),
            Ordering::Relaxed,
        );
        let (stop, stopped) = watch::channel(false);
        let worker = Worker {
            repo,
            spool,
            settings,
            queued,
            stats: Arc::clone(&stats),
            database_up: true,
            unwritten: Vec::new(),
        };
        let task = tokio::spawn(worker.run(rx, stopped));
        Self { stop, task, stats }
    }

    /// Writes everything still queued (to the database, or the spool if it is down) and stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "usage writer task failed during shutdown");
        }
    }
}

impl Worker {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<UsageEvent>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let mut replay = tokio::time::interval(self.settings.replay_interval);
        replay.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut batch: Vec<UsageEvent> = Vec::with_capacity(self.settings.batch_size);
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                received = rx.recv(), if deadline.is_none() => match received {
                    Some(event) => {
                        batch.push(event);
                        deadline = Some(Instant::now() + self.settings.flush_interval);
                    }
                    None => break,
                },
                () = sleep_until(deadline) => {
                    while let Ok(event) = rx.try_recv() {
                        batch.push(event);
                        if batch.len() >= self.settings.batch_size {
                            self.flush(&mut batch).await;
                        }
                    }
                    self.flush(&mut batch).await;
                    deadline = None;
                }
                _ = replay.tick() => {
                    self.probe_database().await;
                    self.retry_unwritten().await;
                    self.replay_spool().await;
                }
                _ = stopped.changed() => break,
            }
        }
        // Shutdown: take everything that is still queued.
        rx.close();
        while let Ok(event) = rx.try_recv() {
            batch.push(event);
            if batch.len() >= self.settings.batch_size {
                self.flush(&mut batch).await;
            }
        }
        self.flush(&mut batch).await;
        self.retry_unwritten().await;
        if self.database_up {
            self.replay_spool().await;
        }
        self.give_up_loudly();
        tracing::info!(
            written = self.stats.written.load(Ordering::Relaxed),
            spooled = self.stats.spooled.load(Ordering::Relaxed),
            "usage writer stopped"
        );
    }

    async fn flush(&mut self, batch: &mut Vec<UsageEvent>) {
        if batch.is_empty() {
            return;
        }
        let events = std::mem::take(batch);
        let count = events.len() as u64;
        if self.database_up {
            match self.repo.insert_usage_events(&events).await {
                Ok(_) => {
                    self.stats.written.fetch_add(count, Ordering::Relaxed);
                    self.queued.fetch_sub(count as i64, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, events = count, "writing usage events failed; spooling to disk");
                    self.database_up = false;
                }
            }
        }
        self.spool_batch(events).await;
    }

    async fn spool_batch(&mut self, events: Vec<UsageEvent>) {
        let count = events.len() as u64;
        let spool = self.spool.clone();
        // The events come back whatever happens to the write, a panic included, so a failure keeps them.
        let result = tokio::task::spawn_blocking(move || {
            let written =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spool.write(&events)));
            (written, events)
        })
        .await;
        match result {
            Ok((Ok(Ok(_)), _)) => {
                self.stats.spooled.fetch_add(count, Ordering::Relaxed);
                self.stats.spool_files.fetch_add(1, Ordering::Relaxed);
                self.queued.fetch_sub(count as i64, Ordering::Relaxed);
            }
            Ok((Ok(Err(e)), events)) => {
                // Disk and database both failed: keep the events and try again on the next replay tick.
                tracing::error!(error = %e, dir = %self.spool.dir().display(), events = count, "spooling usage events failed; keeping them in memory");
                self.unwritten.push(events);
            }
            Ok((Err(_), events)) => {
                tracing::error!(
                    events = count,
                    "spooling usage events panicked; keeping them in memory"
                );
                self.unwritten.push(events);
            }
            // The blocking pool is gone (the runtime is shutting down): the events went with the task.
            Err(e) => tracing::error!(error = %e, events = count, "spool task failed"),
        }
    }

    /// With batches kept in memory and the database marked down, asks the database (briefly) whether it is back:
    /// the spool's replay, which otherwise notices, may itself be failing.
    async fn probe_database(&mut self) {
        if self.database_up || self.unwritten.is_empty() {
            return;
        }
        let ping = tokio::time::timeout(std::time::Duration::from_secs(1), self.repo.db().ping());
        if matches!(ping.await, Ok(Ok(()))) {
            self.database_up = true;
        }
    }

    /// Tries the batches that could not be written anywhere: the database first, then the spool.
    async fn retry_unwritten(&mut self) {
        for events in std::mem::take(&mut self.unwritten) {
            let count = events.len() as u64;
            // While the database is known to be down the spool is tried at once, not after a time-out.
            if self.database_up && self.repo.insert_usage_events(&events).await.is_ok() {
                self.stats.written.fetch_add(count, Ordering::Relaxed);
                self.queued.fetch_sub(count as i64, Ordering::Relaxed);
                continue;
            }
            self.spool_batch(events).await;
        }
    }

    /// At shutdown, batches that still could not be written go to the log as JSON lines, one per event, so an
    /// operator can recover them: the last place left that is not memory.
    fn give_up_loudly(&mut self) {
        for event in self.unwritten.drain(..).flatten() {
            let line = serde_json::to_string(&event).unwrap_or_default();
            tracing::error!(event = %line, "usage event could neither be written nor spooled; recover it from this line");
        }
    }

    /// Replays spooled batches oldest first; stops at the first failure and marks the database down.
    async fn replay_spool(&mut self) {
        let spool = self.spool.clone();
        let files = match tokio::task::spawn_blocking(move || spool.files()).await {
            Ok(Ok(files)) => files,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "listing the usage spool failed");
                return;
            }
            Err(_) => return,
        };
        if files.is_empty() {
            self.database_up = true;
            return;
        }
        for path in files {
            let read_path = path.clone();
            let events = match tokio::task::spawn_blocking(move || Spool::read(&read_path)).await {
                Ok(Ok(events)) => events,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, file = %path.display(), "unreadable spool file; moving it aside");
                    let _ = self.spool.quarantine(&path);
                    self.stats.spool_files.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
                Err(_) => return,
            };
            let count = events.len() as u64;
            if let Err(e) = self.repo.insert_usage_events(&events).await {
                tracing::warn!(error = %e, "database still unavailable; usage stays spooled");
                self.database_up = false;
                return;
            }
            if let Err(e) = Spool::remove(&path) {
                tracing::error!(error = %e, file = %path.display(), "could not remove a replayed spool file");
            }
            self.stats.replayed.fetch_add(count, Ordering::Relaxed);
            self.stats.spool_files.fetch_sub(1, Ordering::Relaxed);
            tracing::info!(events = count, "replayed spooled usage events");
        }
        self.database_up = true;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
