//! In-process shared state for the embedded single-node mode.

use super::ledger::Ledger;
use super::{
    Admission, AdmitOutcome, Crossed, Invalidation, Settlement, SharedState, StateError, now_ms,
    window_bounds,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

/// Counters in a map, invalidations on a local broadcast channel.
pub struct MemoryState {
    // (key, window start) -> (total, end of that window in ms). A std mutex: held for a map update only,
    // never across an await.
    counters: Mutex<HashMap<(String, u64), (i64, u64)>>,
    ledger: Mutex<Ledger>,
    invalidations: broadcast::Sender<Invalidation>,
}

impl MemoryState {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for MemoryState {
    fn default() -> Self {
        Self {
            counters: Mutex::new(HashMap::new()),
            ledger: Mutex::new(Ledger::default()),
            invalidations: broadcast::channel(1024).0,
        }
    }
}

#[async_trait]
impl SharedState for MemoryState {
    async fn incr_window(
        &self,
        key: &str,
        amount: i64,
        window: Duration,
    ) -> Result<i64, StateError> {
        let now = now_ms();
        let (start, remaining) = window_bounds(now, window);
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Drop counters whose own window has ended, so the map stays as small as the set of live windows.
        counters.retain(|_, (_, ends)| *ends > now);
        let (total, _) = counters
            .entry((key.to_owned(), start))
            .or_insert((0, now + remaining));
        *total = total.saturating_add(amount);
        Ok(*total)
    }

    async fn admit(&self, admission: &Admission) -> Result<AdmitOutcome, StateError> {
        Ok(self.ledger().admit(admission))
    }

    async fn seed_budget(&self, key: &str, spent: i64, ttl_ms: u64) -> Result<(), StateError> {
        self.ledger().seed(key, spent, ttl_ms, now_ms());
        Ok(())
    }

    async fn reconcile_budget(&self, key: &str, recorded: i64) -> Result<bool, StateError> {
        Ok(self.ledger().reconcile(key, recorded))
    }

    async fn settle(&self, settlement: &Settlement) -> Result<Vec<Crossed>, StateError> {
        Ok(self.ledger().settle(settlement, now_ms()))
    }

    async fn publish(&self, message: &Invalidation) -> Result<(), StateError> {
        // No receivers is fine: nothing is cached yet.
        let _ = self.invalidations.send(message.clone());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.invalidations.subscribe()
    }

    async fn ping(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_add_up_per_key_and_invalidations_reach_subscribers() {
        let state = MemoryState::default();
        let mut rx = state.subscribe();
        assert_eq!(
            state
                .incr_window("a", 2, Duration::from_secs(60))
                .await
                .ok(),
            Some(2)
        );
        assert_eq!(
            state
                .incr_window("a", 3, Duration::from_secs(60))
                .await
                .ok(),
            Some(5)
        );
        assert_eq!(
            state
                .incr_window("b", 1, Duration::from_secs(60))
                .await
                .ok(),
            Some(1)
        );
        let _ = state.publish(&Invalidation::Catalog).await;
        assert_eq!(rx.recv().await.ok(), Some(Invalidation::Catalog));
    }

    #[tokio::test]
    async fn a_short_window_does_not_prune_a_longer_one() {
        let state = MemoryState::default();
        let _ = state
            .incr_window("day", 10, Duration::from_secs(86_400))
            .await;
        let _ = state
            .incr_window("minute", 1, Duration::from_secs(60))
            .await;
        assert_eq!(
            state
                .incr_window("day", 1, Duration::from_secs(86_400))
                .await
                .ok(),
            Some(11)
        );
    }
}
