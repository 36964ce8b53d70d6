//! In-process shared state for the embedded single-node mode.

use super::{Invalidation, SharedState, StateError, now_ms, window_bounds};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

/// Counters in a map, invalidations on a local broadcast channel.
pub struct MemoryState {
    // (key, window start) -> total. A std mutex: held for a map update only, never across an await.
    counters: Mutex<HashMap<(String, u64), i64>>,
    invalidations: broadcast::Sender<Invalidation>,
}

impl Default for MemoryState {
    fn default() -> Self {
        Self { counters: Mutex::new(HashMap::new()), invalidations: broadcast::channel(1024).0 }
    }
}

#[async_trait]
impl SharedState for MemoryState {
    async fn incr_window(&self, key: &str, amount: i64, window: Duration) -> Result<i64, StateError> {
        let (start, _) = window_bounds(now_ms(), window);
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Drop windows that have ended so the map stays as small as the set of live keys.
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        counters.retain(|(_, s), _| s.saturating_add(window_ms.max(60_000)) > start);
        let total = counters.entry((key.to_owned(), start)).or_insert(0);
        *total = total.saturating_add(amount);
        Ok(*total)
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
        assert_eq!(state.incr_window("a", 2, Duration::from_secs(60)).await.ok(), Some(2));
        assert_eq!(state.incr_window("a", 3, Duration::from_secs(60)).await.ok(), Some(5));
        assert_eq!(state.incr_window("b", 1, Duration::from_secs(60)).await.ok(), Some(1));
        let _ = state.publish(&Invalidation::Catalog).await;
        assert_eq!(rx.recv().await.ok(), Some(Invalidation::Catalog));
    }
}
