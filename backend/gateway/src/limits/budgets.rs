//! The budgets the proxy enforces, held in memory (the hot path never reads them from the database): which
//! budgets cover a call, the period a call falls in, and the counter that holds that period's spend.

use crate::auth::AuthenticatedKey;
use crate::catalog::SecretString;
use crate::crypto::MasterKeys;
use crate::state::{Invalidation, SharedState};
use crate::store::entities::budget;
use crate::store::{Repo, StoreError};
use arc_swap::ArcSwap;
use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What a budget covers; the same shape the store sums spend by.
pub use crate::store::repo::SpendScope as BudgetScope;

/// The period a budget's spend is counted over, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Total,
}

impl Period {
    /// Parses a stored period name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            "monthly" => Some(Self::Monthly),
            "total" => Some(Self::Total),
            _ => None,
        }
    }

    /// The start of the period containing `at`, and its end (`None`: it never ends).
    pub fn bounds(self, at: DateTime<Utc>) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        let midnight =
            |d: chrono::NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
        let day = at.date_naive();
        match self {
            Self::Daily => {
                let start = midnight(day);
                (start, Some(start + ChronoDuration::days(1)))
            }
            Self::Weekly => {
                // ISO weeks: Monday to Monday.
                let start = midnight(day)
                    - ChronoDuration::days(i64::from(day.weekday().num_days_from_monday()));
                (start, Some(start + ChronoDuration::days(7)))
            }
            Self::Monthly => {
                let first = day.with_day(1).unwrap_or(day);
                let next = if first.month() == 12 {
                    chrono::NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
                } else {
                    chrono::NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
                }
                .unwrap_or(first);
                (midnight(first), Some(midnight(next)))
            }
            Self::Total => (DateTime::<Utc>::UNIX_EPOCH, None),
        }
    }
}

/// Where a budget's threshold notifications go.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: SecretString,
}

/// One budget, ready to check calls against.
#[derive(Debug, Clone)]
pub struct BudgetRule {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub scope: BudgetScope,
    pub period: Period,
    pub limit_picos: i64,
    pub hard: bool,
    /// Percentages of the limit that notify the webhook, each once per period.
    pub thresholds_percent: Vec<u8>,
    pub webhook: Option<Webhook>,
}

/// One period of one budget, as a call sees it.
#[derive(Debug, Clone)]
pub struct BudgetPeriod {
    pub rule: Arc<BudgetRule>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// The shared counter of this period.
    pub key: String,
    /// How long the counter must outlive now: until the period ends plus a day; 0 for `total`.
    pub ttl_ms: u64,
}

impl BudgetRule {
    /// True when a call of `key` with these tags is charged to this budget.
    pub fn covers(&self, key: &AuthenticatedKey, tags: &BTreeMap<String, String>) -> bool {
        match &self.scope {
            BudgetScope::Tenant => true,
            BudgetScope::Team(team) => *team == key.team_id,
            BudgetScope::Key(id) => *id == key.id || *id == key.lineage_id,
            BudgetScope::Tag { key, value } => tags.get(key) == Some(value),
        }
    }

    /// The period containing `now`.
    pub fn period_at(self: &Arc<Self>, now: DateTime<Utc>) -> BudgetPeriod {
        let (start, end) = self.period.bounds(now);
        let ttl_ms = end.map_or(0, |end| {
            u64::try_from((end - now + ChronoDuration::days(1)).num_milliseconds()).unwrap_or(0)
        });
        BudgetPeriod {
            rule: Arc::clone(self),
            start,
            end,
            // The tenant in braces is a Redis Cluster hash tag: every counter of a tenant lives in one slot, so
            // one script can check them all.
            key: format!(
                "budget:{{{}}}:{}:{}",
                self.tenant_id,
                self.id,
                start.timestamp()
            ),
            ttl_ms,
        }
    }

    /// The thresholds as absolute amounts of picos, ascending.
    pub fn threshold_amounts(&self) -> Vec<i64> {
        let mut amounts: Vec<i64> = self
            .thresholds_percent
            .iter()
            .filter(|p| **p > 0)
            .map(|p| {
                // Rounded up: a threshold fires once spend has really reached it.
                let amount = (i128::from(self.limit_picos) * i128::from(*p) + 99) / 100;
                i64::try_from(amount).unwrap_or(i64::MAX)
            })
            .collect();
        amounts.sort_unstable();
        amounts.dedup();
        amounts
    }

    fn from_row(row: budget::Model, master_keys: &MasterKeys) -> Option<Self> {
        let scope = scope_of(&row)?;
        let thresholds_percent = row
            .soft_thresholds
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_u64().and_then(|p| u8::try_from(p).ok()))
                    .collect()
            })
            .unwrap_or_default();
        let webhook = match (row.webhook_url, row.webhook_secret_ciphertext) {
            (Some(url), Some(sealed)) => {
                match master_keys.decrypt(&sealed, &format!("budget:{}:webhook_secret", row.id)) {
                    Ok(secret) => Some(Webhook {
                        url,
                        secret: SecretString::new(secret),
                    }),
                    Err(e) => {
                        tracing::error!(budget = %row.id, error = %e, "cannot decrypt a budget's webhook secret; its notifications are off");
                        None
                    }
                }
            }
            _ => None,
        };
        Some(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            scope,
            period: Period::parse(&row.period)?,
            limit_picos: row.limit_picos,
            hard: row.hard_limit,
            thresholds_percent,
            webhook,
        })
    }
}

/// What a stored budget covers; `None` for a scope this version does not know.
pub fn scope_of(row: &budget::Model) -> Option<BudgetScope> {
    Some(match row.scope_type.as_str() {
        "tenant" => BudgetScope::Tenant,
        "team" => BudgetScope::Team(row.scope_id?),
        "key" => BudgetScope::Key(row.scope_id?),
        "tag" => BudgetScope::Tag {
            key: row.tag_key.clone()?,
            value: row.tag_value.clone()?,
        },
        _ => return None,
    })
}

type RulesByTenant = HashMap<Uuid, Vec<Arc<BudgetRule>>>;

/// Every tenant's budgets, swapped whole on reload.
pub struct BudgetBook {
    rules: ArcSwap<RulesByTenant>,
    repo: Repo,
    master_keys: Arc<MasterKeys>,
    reload_lock: tokio::sync::Mutex<()>,
}

impl BudgetBook {
    /// Loads every budget.
    pub async fn load(repo: Repo, master_keys: Arc<MasterKeys>) -> Result<Arc<Self>, StoreError> {
        let book = Arc::new(Self {
            rules: ArcSwap::from_pointee(HashMap::new()),
            repo,
            master_keys,
            reload_lock: tokio::sync::Mutex::new(()),
        });
        book.reload().await?;
        Ok(book)
    }

    /// The budgets of a tenant that cover this call.
    pub fn covering(
        &self,
        key: &AuthenticatedKey,
        tags: &BTreeMap<String, String>,
    ) -> Vec<Arc<BudgetRule>> {
        self.rules
            .load()
            .get(&key.tenant_id)
            .map(|rules| {
                rules
                    .iter()
                    .filter(|r| r.covers(key, tags))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every budget of every tenant.
    pub fn all(&self) -> Vec<Arc<BudgetRule>> {
        self.rules.load().values().flatten().cloned().collect()
    }

    /// Re-reads every budget from storage.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _serialized = self.reload_lock.lock().await;
        let rows = self.repo.all_budgets().await?;
        let mut rules: RulesByTenant = HashMap::new();
        for row in rows {
            let id = row.id;
            match BudgetRule::from_row(row, &self.master_keys) {
                Some(rule) => rules
                    .entry(rule.tenant_id)
                    .or_default()
                    .push(Arc::new(rule)),
                None => {
                    tracing::error!(budget = %id, "skipping a budget with an unknown scope or period")
                }
            }
        }
        self.rules.store(Arc::new(rules));
        Ok(())
    }

    /// Reloads every `every`, and at once when budgets change anywhere.
    pub fn spawn_refresher(self: &Arc<Self>, state: &Arc<dyn SharedState>, every: Duration) {
        let weak = Arc::downgrade(self);
        let mut invalidations = state.subscribe();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    message = invalidations.recv() => match message {
                        Ok(Invalidation::Budgets | Invalidation::Everything) => {}
                        Ok(Invalidation::ApiKey { .. } | Invalidation::Catalog) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
                let Some(book) = weak.upgrade() else { return };
                if let Err(e) = book.reload().await {
                    tracing::warn!(error = %e, "budget reload failed; keeping the last set");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn periods_start_and_end_on_utc_calendar_boundaries() {
        let now = at("2026-11-30T08:30:00Z");
        assert_eq!(
            Period::Daily.bounds(now),
            (at("2026-11-30T00:00:00Z"), Some(at("2026-12-01T00:00:00Z")))
        );
        // 2026-11-30 is a Monday.
        assert_eq!(
            Period::Weekly.bounds(at("2026-12-06T23:59:59Z")),
            (at("2026-11-30T00:00:00Z"), Some(at("2026-12-07T00:00:00Z")))
        );
        assert_eq!(
            Period::Monthly.bounds(at("2026-12-31T23:00:00Z")),
            (at("2026-12-01T00:00:00Z"), Some(at("2027-01-01T00:00:00Z")))
        );
        assert_eq!(Period::Total.bounds(now).1, None);
    }

    #[test]
    fn thresholds_become_exact_amounts() {
        let rule = BudgetRule {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: "b".into(),
            scope: BudgetScope::Tenant,
            period: Period::Monthly,
            limit_picos: 3,
            hard: true,
            thresholds_percent: vec![90, 50, 50, 0],
            webhook: None,
        };
        // 50% of 3 picos is 1.5: notified at 2, once spend has really reached it; 90% (2.7) also at 3.
        assert_eq!(rule.threshold_amounts(), vec![2, 3]);
    }
}
