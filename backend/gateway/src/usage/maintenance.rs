//! Upkeep of raw usage events, hourly: the monthly partitions of the current and the next month exist before
//! events arrive for them (Postgres), events older than `usage.raw_retention_days` are removed, and so are a
//! tenant's events older than its own `request_log_retention_days`. Roll-ups stay, so reports over expired
//! months keep working.

use crate::store::{Repo, StoreError, partitions};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the upkeep runs after the first time (at start).
const INTERVAL: Duration = Duration::from_secs(3600);

/// Creates the partitions of the month of `now` and of the next month; returns the ones created.
pub async fn ensure_partitions(repo: &Repo, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
    let mut created = Vec::new();
    for months in [0, 1] {
        let month = partitions::month_start(now.date_naive(), months);
        if partitions::ensure_month(repo.db(), month).await? {
            created.push(partitions::partition_name(month));
        }
    }
    Ok(created)
}

/// One round: partitions ahead, then retention (`retention_days = 0` keeps everything).
pub async fn run_once(
    repo: &Repo,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Result<partitions::Expired, StoreError> {
    let created = ensure_partitions(repo, now).await?;
    if !created.is_empty() {
        tracing::info!(partitions = ?created, "created usage partitions");
    }
    // A failure here must not keep the deployment-wide retention from running.
    match expire_tenants(repo, now).await {
        Ok(0) => {}
        Ok(rows) => {
            tracing::info!(
                rows,
                "expired raw usage events of tenants with their own retention"
            );
        }
        Err(e) => tracing::error!(error = %e, "per-tenant retention failed; retrying in an hour"),
    }
    if retention_days == 0 {
        return Ok(partitions::Expired::default());
    }
    let cutoff = now - chrono::Duration::days(i64::from(retention_days));
    let expired = partitions::expire(repo.db(), cutoff).await?;
    if expired.rows > 0 || !expired.partitions.is_empty() {
        tracing::info!(partitions = ?expired.partitions, rows = expired.rows, %cutoff, "expired raw usage events");
    }
    Ok(expired)
}

/// Per-tenant retention: a tenant's raw usage events (its request log and sessions) older than its
/// `request_log_retention_days` are removed; its roll-ups stay, so reports and chargeback are unchanged. Returns
/// how many events were removed.
pub async fn expire_tenants(repo: &Repo, now: DateTime<Utc>) -> Result<u64, StoreError> {
    use crate::store::entities::{tenant, usage_event};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let tenants = tenant::Entity::find()
        .filter(tenant::Column::RequestLogRetentionDays.is_not_null())
        .all(repo.db())
        .await?;
    let mut removed = 0;
    for tenant in tenants {
        let Some(days) = tenant.request_log_retention_days.filter(|d| *d > 0) else {
            continue;
        };
        let cutoff = now - chrono::Duration::days(i64::from(days));
        removed += usage_event::Entity::delete_many()
            .filter(usage_event::Column::TenantId.eq(tenant.id))
            .filter(usage_event::Column::CreatedAt.lt(cutoff))
            .exec(repo.db())
            .await?
            .rows_affected;
    }
    Ok(removed)
}

/// Runs the upkeep every hour, the first time right away. A failed round is logged and retried an hour later.
pub fn spawn(repo: Repo, retention_days: u32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = run_once(&repo, retention_days, Utc::now()).await {
                tracing::error!(error = %e, "usage upkeep failed; retrying in an hour");
            }
        }
    })
}
