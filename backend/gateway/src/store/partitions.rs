//! Raw usage events over time: monthly partitions of `usage_events` on Postgres, and expiring events past the
//! retention (whole partitions on Postgres, batched deletes on SQLite). Roll-ups are never expired.
//!
//! A Postgres partition is named `usage_events_pYYYYMM` and holds `[first of the month, first of the next)` in
//! UTC; anything outside the existing partitions lands in `usage_events_default`. A partition for a range the
//! default partition already has rows in cannot simply be created, so it is created detached, the rows are moved
//! into it and it is attached, all in one transaction under an advisory lock (replicas run this concurrently).

use super::StoreError;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};

/// Serialises partition work across replicas (`pg_advisory_xact_lock`); the bytes spell "SYUSAGE1".
const LOCK_KEY: i64 = 0x5359_5553_4147_4531;
/// Rows deleted per statement when expiring without partitions.
const DELETE_BATCH: u32 = 5_000;
const PREFIX: &str = "usage_events_p";

/// What one retention run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Monthly partitions dropped (Postgres).
    pub partitions: Vec<String>,
    /// Rows deleted one by one (SQLite, or the Postgres default partition).
    pub rows: u64,
}

/// The first day of the month `months` after the month of `day`.
pub fn month_start(day: NaiveDate, months: i32) -> NaiveDate {
    let index = day.year() * 12 + day.month0() as i32 + months;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(NaiveDate::MIN)
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

/// The partition name of the month starting on `month`.
pub fn partition_name(month: NaiveDate) -> String {
    format!("{PREFIX}{:04}{:02}", month.year(), month.month())
}

/// Makes sure the partition for the month of `day` exists (Postgres; nothing to do on SQLite). Returns whether it
/// had to be created.
pub async fn ensure_month(db: &DatabaseConnection, day: NaiveDate) -> Result<bool, StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let (start, end) = (month_start(day, 0), month_start(day, 1));
    let name = partition_name(start);
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"))
        .await?;
    let exists = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass($1) IS NOT NULL",
            [Value::from(name.clone())],
        ))
        .await?
        .map(|row| row.try_get_by_index::<bool>(0))
        .transpose()?
        .unwrap_or(false);
    if exists {
        txn.commit().await?;
        return Ok(false);
    }
    let (from, to) = (midnight(start).to_rfc3339(), midnight(end).to_rfc3339());
    txn.execute_unprepared(&format!(
        "CREATE TABLE {name} (LIKE usage_events INCLUDING DEFAULTS);
         WITH moved AS (DELETE FROM usage_events_default WHERE created_at >= '{from}' AND created_at < '{to}' \
         RETURNING *) INSERT INTO {name} SELECT * FROM moved;
         ALTER TABLE usage_events ATTACH PARTITION {name} FOR VALUES FROM ('{from}') TO ('{to}');"
    ))
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// The monthly partitions of `usage_events`, oldest first (empty on SQLite).
pub async fn list(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'usage_events'::regclass ORDER BY 1",
        ))
        .await?;
    let mut names = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        if parse_partition(&name).is_some() {
            names.push(name);
        }
    }
    Ok(names)
}

fn parse_partition(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.len() != 6 {
        return None;
    }
    let year = digits.get(..4)?.parse().ok()?;
    let month = digits.get(4..)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// Removes raw events created before `cutoff`: on Postgres every monthly partition that ends at or before it
/// (a month is kept until all of it has expired) and old rows of the default partition; on SQLite the rows,
/// in batches so that writers are never blocked for long.
pub async fn expire(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<Expired, StoreError> {
    let backend = db.get_database_backend();
    let mut expired = Expired::default();
    let table = if backend == DbBackend::Postgres {
        for name in list(db).await? {
            let Some(start) = parse_partition(&name) else {
                continue;
            };
            if midnight(month_start(start, 1)) <= cutoff {
                let txn = db.begin().await?;
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"))
                    .await?;
                txn.execute_unprepared(&format!("DROP TABLE IF EXISTS {name}"))
                    .await?;
                txn.commit().await?;
                expired.partitions.push(name);
            }
        }
        "usage_events_default"
    } else {
        "usage_events"
    };
    let (key, placeholder) = match backend {
        DbBackend::Postgres => ("ctid", "$1"),
        _ => ("rowid", "?"),
    };
    let sql = format!(
        "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE created_at < {placeholder} \
         LIMIT {DELETE_BATCH})"
    );
    loop {
        let deleted = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql.clone(),
                [Value::from(cutoff)],
            ))
            .await?
            .rows_affected();
        expired.rows += deleted;
        if deleted < u64::from(DELETE_BATCH) {
            return Ok(expired);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_years_both_ways() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap_or_default();
        assert_eq!(month_start(day, 0).to_string(), "2026-12-01");
        assert_eq!(month_start(day, 1).to_string(), "2027-01-01");
        assert_eq!(month_start(day, -12).to_string(), "2025-12-01");
        assert_eq!(partition_name(month_start(day, 1)), "usage_events_p202701");
        assert_eq!(
            parse_partition("usage_events_p202701"),
            Some(month_start(day, 1))
        );
        assert_eq!(parse_partition("usage_events_default"), None);
    }
}
