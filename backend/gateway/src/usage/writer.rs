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
                _ = replay.tick() => self.replay_spool().await,
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
        if self.database_up {
            self.replay_spool().await;
        }
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
        let result = tokio::task::spawn_blocking(move || {
            spool.write(&events).map(|_| ()).map_err(|e| (e, events))
        })
        .await;
        match result {
            Ok(Ok(())) => {
                self.stats.spooled.fetch_add(count, Ordering::Relaxed);
                self.stats.spool_files.fetch_add(1, Ordering::Relaxed);
                self.queued.fetch_sub(count as i64, Ordering::Relaxed);
            }
            Ok(Err((e, events))) => {
                // Disk and database both failed: keep the events in memory and try again on the next replay.
                tracing::error!(error = %e, dir = %self.spool.dir().display(), "spooling usage events failed");
                self.retry_later(events);
            }
            Err(e) => tracing::error!(error = %e, "spool task failed"),
        }
    }

    fn retry_later(&mut self, events: Vec<UsageEvent>) {
        // Re-queue through a one-shot task after a pause so the loop keeps draining the channel meanwhile.
        let repo = self.repo.clone();
        let stats = Arc::clone(&self.stats);
        let queued = Arc::clone(&self.queued);
        let spool = self.spool.clone();
        let pause = self.settings.replay_interval;
        tokio::spawn(async move {
            let count = events.len() as u64;
            loop {
                tokio::time::sleep(pause).await;
                if repo.insert_usage_events(&events).await.is_ok() {
                    stats.written.fetch_add(count, Ordering::Relaxed);
                    break;
                }
                let copy = events.clone();
                let spool = spool.clone();
                if let Ok(Ok(_)) = tokio::task::spawn_blocking(move || spool.write(&copy)).await {
                    stats.spooled.fetch_add(count, Ordering::Relaxed);
                    stats.spool_files.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            queued.fetch_sub(count as i64, Ordering::Relaxed);
        });
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
