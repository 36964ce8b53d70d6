//! Cross-replica state: counters and invalidation messages. One small trait, two implementations: Redis when
//! `redis_url` is set (shared by every replica), in-process otherwise (a single node).

pub mod ledger;
mod memory;
mod redis_state;

pub use ledger::{Admission, AdmitOutcome, BudgetCharge, Check, Crossed, Reading, Settlement};
pub use memory::MemoryState;
pub use redis_state::RedisState;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast;

/// Something cached in memory changed in storage; every replica must drop its copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invalidation {
    /// An API key (by secret hash) was revoked or changed.
    ApiKey { key_hash: String },
    /// Providers or deployments changed.
    Catalog,
    /// Budgets changed.
    Budgets,
    /// Messages may have been missed (the subscription was re-established): drop every cached item.
    Everything,
}

/// The shared state could not be reached or answered nonsense.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("bad invalidation message: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("a counter script answered nonsense: {0}")]
    Script(String),
}

/// State that must agree across replicas.
#[async_trait]
pub trait SharedState: Send + Sync + 'static {
    /// Adds `amount` to the counter `key` in the current fixed window of length `window` and returns the new
    /// total for that window (the basis of RPM / TPM limits and budgets).
    async fn incr_window(
        &self,
        key: &str,
        amount: i64,
        window: Duration,
    ) -> Result<i64, StateError>;

    /// Checks every limit of a call and counts it against all of them, or against none (see [`ledger`]).
    async fn admit(&self, admission: &Admission) -> Result<AdmitOutcome, StateError>;

    /// Sets a budget period's starting spend (from storage) unless another replica already did.
    async fn seed_budget(&self, key: &str, spent: i64, ttl_ms: u64) -> Result<(), StateError>;

    /// Raises a seeded budget period's spend to what storage recorded, if the counter is lower (it missed
    /// calls); returns true when it did.
    async fn reconcile_budget(&self, key: &str, recorded: i64) -> Result<bool, StateError>;

    /// Settles a finished call: real figures replace reservations, leases are released; returns the budget
    /// thresholds this call crossed first.
    async fn settle(&self, settlement: &Settlement) -> Result<Vec<Crossed>, StateError>;

    /// Tells every replica (this one included) to drop a cached item.
    async fn publish(&self, message: &Invalidation) -> Result<(), StateError>;

    /// Invalidation messages from every replica.
    fn subscribe(&self) -> broadcast::Receiver<Invalidation>;

    /// Checks the backing store answers (readiness).
    async fn ping(&self) -> Result<(), StateError>;

    /// `redis` or `memory`, for logs and `/readyz`.
    fn kind(&self) -> &'static str;
}

/// The start of the fixed window containing `now_ms`, and the milliseconds left in it.
pub(crate) fn window_bounds(now_ms: u64, window: Duration) -> (u64, u64) {
    let len = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
    let start = now_ms - now_ms % len;
    (start, start + len - now_ms)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bounds_align_to_the_window_length() {
        assert_eq!(
            window_bounds(61_500, Duration::from_secs(60)),
            (60_000, 58_500)
        );
        assert_eq!(
            window_bounds(60_000, Duration::from_secs(60)),
            (60_000, 60_000)
        );
    }
}
