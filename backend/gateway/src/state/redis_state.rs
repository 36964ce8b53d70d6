//! Redis-backed shared state: atomic windowed counters (a Lua script, so increment and expiry are one step) and
//! invalidations over pub/sub. A background task keeps the subscription alive across Redis restarts.

use super::{Invalidation, SharedState, StateError, now_ms, window_bounds};
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
    invalidations: broadcast::Sender<Invalidation>,
}

impl RedisState {
    /// Connects, and starts the task that relays invalidations published by any replica.
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<Self>, StateError> {
        let client = redis::Client::open(url)?;
        let connection = ConnectionManager::new(client.clone()).await?;
        let channel = format!("{prefix}:invalidate");
        let (tx, _) = broadcast::channel(1024);
        tokio::spawn(relay_invalidations(client, channel.clone(), tx.clone()));
        Ok(Arc::new(Self {
            connection,
            prefix: prefix.to_owned(),
            channel,
            incr_window: redis::Script::new(INCR_WINDOW),
            invalidations: tx,
        }))
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
