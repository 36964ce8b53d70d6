//! Redis-backed shared state: atomic windowed counters (a Lua script, so increment and expiry are one step) and
//! invalidations over pub/sub. A background task keeps the subscription alive across Redis restarts.

use super::{
    Admission, AdmitOutcome, Check, Crossed, Invalidation, Reading, Settlement, SharedState,
    StateError, now_ms, window_bounds,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const INCR_WINDOW: &str = r"
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total";

/// Shared state in Redis; cheap to share behind an `Arc`.
pub struct RedisState {
    connection: ConnectionManager,
    prefix: String,
    channel: String,
    incr_window: redis::Script,
    admit: redis::Script,
    settle: redis::Script,
    seed: redis::Script,
    reconcile: redis::Script,
    invalidations: broadcast::Sender<Invalidation>,
}

impl RedisState {
    /// Connects, and starts the task that relays invalidations published by any replica.
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<Self>, StateError> {
        let client = redis::Client::open(url)?;
        // Bounded waits: a call must learn quickly that Redis is gone, so the tenant's failure mode applies
        // instead of the call hanging on a dead connection.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client.clone(), config).await?;
        let channel = format!("{prefix}:invalidate");
        let (tx, _) = broadcast::channel(1024);
        tokio::spawn(relay_invalidations(client, channel.clone(), tx.clone()));
        Ok(Arc::new(Self {
            connection,
            prefix: prefix.to_owned(),
            channel,
            incr_window: redis::Script::new(INCR_WINDOW),
            admit: redis::Script::new(include_str!("lua/admit.lua")),
            settle: redis::Script::new(include_str!("lua/settle.lua")),
            seed: redis::Script::new(include_str!("lua/seed.lua")),
            reconcile: redis::Script::new(include_str!("lua/reconcile.lua")),
            invalidations: tx,
        }))
    }
}

impl RedisState {
    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }
}

/// Reads the admission script's reply (see lua/admit.lua).
fn decode_admission(reply: &[i64]) -> Result<AdmitOutcome, StateError> {
    let as_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
    let as_index = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
    match reply.split_first() {
        Some((1, rest)) => Ok(AdmitOutcome::Admitted(
            rest.chunks_exact(3)
                .map(|r| Reading {
                    used: r[0],
                    reset_ms: as_u64(r[1]),
                    window_start: as_u64(r[2]),
                })
                .collect(),
        )),
        Some((0, [index, used, reset, start])) => Ok(AdmitOutcome::Refused {
            index: as_index(*index),
            reading: Reading {
                used: *used,
                reset_ms: as_u64(*reset),
                window_start: as_u64(*start),
            },
        }),
        Some((2, indexes)) => Ok(AdmitOutcome::Unseeded(
            indexes.iter().map(|i| as_index(*i)).collect(),
        )),
        _ => Err(StateError::Script(format!(
            "unexpected admission reply {reply:?}"
        ))),
    }
}

/// Subscribes and forwards messages into the local broadcast channel, reconnecting with backoff. After a
/// reconnect it emits `Everything`, because messages published while it was away are lost.
async fn relay_invalidations(
    client: redis::Client,
    channel: String,
    tx: broadcast::Sender<Invalidation>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    if !first {
                        let _ = tx.send(Invalidation::Everything);
                    }
                    first = false;
                    backoff = Duration::from_millis(100);
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let decoded = message
                            .get_payload::<String>()
                            .map_err(StateError::from)
                            .and_then(|p| {
                                serde_json::from_str::<Invalidation>(&p).map_err(StateError::from)
                            });
                        match decoded {
                            Ok(invalidation) => {
                                let _ = tx.send(invalidation);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "ignoring malformed invalidation message")
                            }
                        }
                    }
                    tracing::warn!("redis invalidation subscription ended; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "redis subscribe failed; retrying"),
            },
            Err(e) => tracing::warn!(error = %e, "redis pub/sub connection failed; retrying"),
        }
        if tx.receiver_count() == 0 && !first {
            // Nobody listens any more (the application shut down).
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[async_trait]
impl SharedState for RedisState {
    async fn incr_window(
        &self,
        key: &str,
        amount: i64,
        window: Duration,
    ) -> Result<i64, StateError> {
        let (start, remaining_ms) = window_bounds(now_ms(), window);
        let redis_key = format!("{}:cnt:{key}:{start}", self.prefix);
        let mut connection = self.connection.clone();
        // Expire a little after the window ends so a late reader still sees the total.
        let ttl_ms = remaining_ms + 1_000;
        Ok(self
            .incr_window
            .key(redis_key)
            .arg(amount)
            .arg(ttl_ms)
            .invoke_async(&mut connection)
            .await?)
    }

    async fn admit(&self, admission: &Admission) -> Result<AdmitOutcome, StateError> {
        let mut invocation = self.admit.prepare_invoke();
        invocation
            .arg(&admission.call_id)
            .arg(admission.lease_ms)
            .arg(admission.checks.len());
        for check in &admission.checks {
            match check {
                Check::Window {
                    key,
                    limit,
                    amount,
                    window_ms,
                } => {
                    invocation.key(self.key(key));
                    invocation
                        .arg("w")
                        .arg(limit)
                        .arg(amount)
                        .arg(window_ms)
                        .arg(0);
                }
                Check::Concurrency { key, limit } => {
                    invocation.key(self.key(key));
                    invocation.arg("c").arg(limit).arg(1).arg(0).arg(0);
                }
                Check::Budget {
                    key,
                    limit,
                    hard,
                    amount,
                    ttl_ms,
                } => {
                    let key = self.key(key);
                    invocation
                        .key(&key)
                        .key(format!("{key}:res"))
                        .key(format!("{key}:amt"));
                    invocation
                        .arg("b")
                        .arg(limit)
                        .arg(amount)
                        .arg(ttl_ms)
                        .arg(i32::from(*hard));
                }
            }
        }
        invocation.key(self.key(&admission.marker));
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = invocation.invoke_async(&mut connection).await?;
        decode_admission(&reply)
    }

    async fn seed_budget(&self, key: &str, spent: i64, ttl_ms: u64) -> Result<(), StateError> {
        let mut connection = self.connection.clone();
        let _: i64 = self
            .seed
            .key(self.key(key))
            .arg(spent)
            .arg(ttl_ms)
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    async fn reconcile_budget(&self, key: &str, recorded: i64) -> Result<bool, StateError> {
        let mut connection = self.connection.clone();
        let raised: i64 = self
            .reconcile
            .key(self.key(key))
            .arg(recorded)
            .invoke_async(&mut connection)
            .await?;
        Ok(raised == 1)
    }

    async fn settle(&self, settlement: &Settlement) -> Result<Vec<Crossed>, StateError> {
        let mut invocation = self.settle.prepare_invoke();
        invocation
            .arg(&settlement.call_id)
            .arg(settlement.windows.len())
            .arg(settlement.concurrency.len())
            .arg(settlement.budgets.len());
        for (key, start, delta) in &settlement.windows {
            invocation.key(self.key(key)).arg(start).arg(delta);
        }
        for key in &settlement.concurrency {
            invocation.key(self.key(key));
        }
        for charge in &settlement.budgets {
            let key = self.key(&charge.key);
            invocation
                .key(&key)
                .key(format!("{key}:res"))
                .key(format!("{key}:amt"));
            invocation
                .arg(charge.actual)
                .arg(charge.ttl_ms)
                .arg(charge.thresholds.len());
            for threshold in &charge.thresholds {
                invocation.arg(threshold);
            }
        }
        invocation.key(self.key(&settlement.marker));
        let mut connection = self.connection.clone();
        let reply: Vec<String> = invocation.invoke_async(&mut connection).await?;
        Ok(reply
            .chunks_exact(3)
            .filter_map(|triple| {
                Some(Crossed {
                    budget: triple[0].parse().ok()?,
                    threshold: triple[1].parse().ok()?,
                    spent: triple[2].parse().ok()?,
                })
            })
            .collect())
    }

    async fn publish(&self, message: &Invalidation) -> Result<(), StateError> {
        let _ = self.invalidations.send(message.clone());
        let payload = serde_json::to_string(message)?;
        let mut connection = self.connection.clone();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.invalidations.subscribe()
    }

    async fn ping(&self) -> Result<(), StateError> {
        let mut connection = self.connection.clone();
        let _: String = redis::cmd("PING").query_async(&mut connection).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
