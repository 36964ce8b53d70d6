//! Resolving a presented API key to its owner without touching the database on the hot path: a bounded
//! in-memory cache keyed by the secret's hash, refreshed after `key_cache_ttl`, dropped at once on an
//! invalidation (revocation anywhere reaches every replica through the shared state). While the database is
//! unreachable a stale entry is used for up to `key_cache_max_stale`, so an outage does not lock everyone out.

use crate::keys;
use crate::state::{Invalidation, SharedState};
use crate::store::entities::{api_key, team, tenant};
use crate::store::{Repo, StoreError};
use chrono::{DateTime, Utc};
use moka::sync::Cache;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashSet};

/// A key row with its tenant and team (their region restrictions and limits apply to it).
type KeyRows = (api_key::Model, tenant::Model, team::Model);
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Most cached keys (positive and negative entries).
const CACHE_CAPACITY: u64 = 100_000;

/// A key the proxy accepted, with what it may do.
#[derive(Debug)]
pub struct AuthenticatedKey {
    pub id: Uuid,
    /// The first key of this key's rotation chain (its own id when never rotated into): budgets scoped to a
    /// key and key-level rate limits follow the chain, so rotating a key neither escapes nor doubles them.
    pub lineage_id: Uuid,
    pub tenant_id: Uuid,
    pub team_id: Uuid,
    pub prefix: String,
    /// `None`: every model of the tenant.
    pub allowed_models: Option<HashSet<String>>,
    /// The regions calls may go to: tenant ∩ team ∩ key; `None` when no level restricts them.
    pub allowed_regions: Option<HashSet<String>>,
    /// Which levels restrict regions, for error messages (e.g. "tenant, key").
    pub region_policy: Vec<&'static str>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    /// Attribution copied onto every usage event of the key.
    pub application: Option<String>,
    pub owner_user_id: Option<Uuid>,
    /// The key's `metadata`: tags on every call, which the call's own tags override.
    pub default_tags: BTreeMap<String, String>,
    pub limits: KeyLimits,
    /// The tenant captures the (redacted) bodies of its calls in its request log.
    pub capture_bodies: bool,
}

/// The rate limits that apply to a key's calls, from the key, its team and its tenant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyLimits {
    pub key_rpm: Option<i64>,
    pub key_tpm: Option<i64>,
    pub key_concurrency: Option<i64>,
    pub team_rpm: Option<i64>,
    pub team_tpm: Option<i64>,
    pub tenant_rpm: Option<i64>,
    pub tenant_tpm: Option<i64>,
    /// Refuse calls (503) rather than serve them unmetered while the shared counters are unreachable.
    pub fail_closed: bool,
}

impl AuthenticatedKey {
    /// True when the key may call this public model.
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|allowed| allowed.contains(model))
    }

    /// True when calls may go to a deployment in `region`.
    pub fn allows_region(&self, region: &str) -> bool {
        self.allowed_regions
            .as_ref()
            .is_none_or(|allowed| allowed.contains(region))
    }

    fn from_row(row: api_key::Model, tenant: tenant::Model, team: team::Model) -> Self {
        let set_of = |json: Option<Json>| -> Option<HashSet<String>> {
            json.and_then(|j| {
                j.as_array().map(|v| {
                    v.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
            })
        };
        // Each level can only narrow the one above it.
        let mut allowed_regions: Option<HashSet<String>> = None;
        let mut region_policy = Vec::new();
        let levels = [
            ("tenant", set_of(tenant.allowed_regions)),
            ("team", set_of(team.allowed_regions)),
            ("key", set_of(row.allowed_regions)),
        ];
        for (level, regions) in levels {
            if let Some(regions) = regions {
                region_policy.push(level);
                allowed_regions = Some(match allowed_regions {
                    Some(current) => current.intersection(&regions).cloned().collect(),
                    None => regions,
                });
            }
        }
        let default_tags = row
            .metadata
            .as_ref()
            .and_then(Json::as_object)
            .map(|object| {
                object
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: row.id,
            lineage_id: row.lineage_id.unwrap_or(row.id),
            tenant_id: row.tenant_id,
            team_id: row.team_id,
            prefix: row.prefix,
            allowed_models: set_of(row.allowed_models),
            allowed_regions,
            region_policy,
            expires_at: row.expires_at,
            revoked: row.revoked_at.is_some(),
            application: row.application,
            owner_user_id: row.owner_user_id,
            default_tags,
            limits: KeyLimits {
                key_rpm: row.rpm_limit,
                key_tpm: row.tpm_limit,
                key_concurrency: row.max_concurrency,
                team_rpm: team.rpm_limit,
                team_tpm: team.tpm_limit,
                tenant_rpm: tenant.rpm_limit,
                tenant_tpm: tenant.tpm_limit,
                fail_closed: tenant.limits_failure_mode == "closed",
            },
            capture_bodies: tenant.capture_bodies,
        }
    }
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "missing API key: send it as `Authorization: Bearer sk-sy-…` (or `x-api-key: sk-sy-…`)"
    )]
    Missing,
    #[error("invalid API key")]
    Invalid,
    #[error("this API key has been revoked")]
    Revoked,
    #[error("this API key has expired")]
    Expired,
    #[error("the key store is unavailable")]
    Unavailable(#[source] Box<StoreError>),
    /// Too many unknown keys from one address: further unknown keys are refused without a database lookup.
    #[error("too many invalid API keys from this address; retry in a minute")]
    Throttled,
}

/// Unknown keys one client address may have looked up in the database per minute. Keys already cached (valid
/// or not) are answered from the cache and never count.
const MISSES_PER_MINUTE: u32 = 60;

#[derive(Clone)]
struct Entry {
    key: Option<Arc<AuthenticatedKey>>,
    fetched: Instant,
}

/// The key cache and its database fallback.
pub struct KeyResolver {
    cache: Cache<String, Entry>,
    repo: Repo,
    /// The application's main runtime. Database connections are opened and used there only: actix workers
    /// run their own single-threaded runtimes, and a pooled connection opened on one of them breaks when that
    /// worker stops.
    storage_runtime: tokio::runtime::Handle,
    ttl: Duration,
    max_stale: Duration,
    /// Database lookups that found no key, per client address, in the current minute.
    misses: Cache<std::net::IpAddr, Arc<std::sync::atomic::AtomicU32>>,
}

impl KeyResolver {
    /// Creates the resolver and subscribes it to invalidations.
    pub fn new(
        repo: Repo,
        ttl: Duration,
        max_stale: Duration,
        state: &Arc<dyn SharedState>,
    ) -> Arc<Self> {
        let cache = Cache::builder()
            .max_capacity(CACHE_CAPACITY)
            .time_to_live(ttl + max_stale)
            .build();
        let resolver = Arc::new(Self {
            cache,
            repo,
            storage_runtime: tokio::runtime::Handle::current(),
            ttl,
            max_stale,
            misses: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        });
        let mut invalidations = state.subscribe();
        let weak = Arc::downgrade(&resolver);
        tokio::spawn(async move {
            loop {
                let message = invalidations.recv().await;
                let Some(resolver) = weak.upgrade() else {
                    return;
                };
                match message {
                    Ok(Invalidation::ApiKey { key_hash }) => resolver.cache.invalidate(&key_hash),
                    Ok(Invalidation::Everything)
                    | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        resolver.cache.invalidate_all();
                    }
                    Ok(Invalidation::Catalog | Invalidation::Budgets) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        resolver
    }

    async fn lookup(&self, hash: String) -> Result<Option<KeyRows>, StoreError> {
        let repo = self.repo.clone();
        self.storage_runtime
            .spawn(async move { repo.find_key_with_owners(&hash).await })
            .await
            .unwrap_or_else(|e| Err(StoreError::Io(format!("key lookup task failed: {e}"))))
    }

    /// Resolves a presented secret to an active key, for a caller at `client`.
    pub async fn resolve(
        &self,
        secret: &str,
        client: std::net::IpAddr,
    ) -> Result<Arc<AuthenticatedKey>, AuthError> {
        use std::sync::atomic::Ordering;
        if !keys::looks_like_key(secret) {
            return Err(AuthError::Invalid);
        }
        let hash = keys::hash(secret);
        let cached = self.cache.get(&hash);
        let misses = self.misses.get(&client);
        let key = match cached {
            Some(entry) if entry.fetched.elapsed() < self.ttl => entry.key,
            None if misses
                .as_ref()
                .is_some_and(|m| m.load(Ordering::Relaxed) >= MISSES_PER_MINUTE) =>
            {
                // Guessing keys costs the guesser, not the database.
                return Err(AuthError::Throttled);
            }
            stale => match self.lookup(hash.clone()).await {
                Ok(row) => {
                    if row.is_none() {
                        self.misses
                            .get_with(client, || Arc::new(std::sync::atomic::AtomicU32::new(0)))
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    let key = row.map(|(r, tenant, team)| {
                        Arc::new(AuthenticatedKey::from_row(r, tenant, team))
                    });
                    self.cache.insert(
                        hash,
                        Entry {
                            key: key.clone(),
                            fetched: Instant::now(),
                        },
                    );
                    key
                }
                Err(e) => match stale {
                    Some(entry) if entry.fetched.elapsed() < self.ttl + self.max_stale => {
                        tracing::warn!(error = %e, "key lookup failed; using the cached entry");
                        entry.key
                    }
                    _ => return Err(AuthError::Unavailable(Box::new(e))),
                },
            },
        };
        let key = key.ok_or(AuthError::Invalid)?;
        if key.revoked {
            return Err(AuthError::Revoked);
        }
        if key.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AuthError::Expired);
        }
        Ok(key)
    }
}
