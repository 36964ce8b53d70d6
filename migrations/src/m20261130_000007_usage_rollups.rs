//! Chargeback: hourly roll-ups of usage by every attribution dimension, a second roll-up per tag, and (on
//! Postgres) monthly range partitions of `usage_events` so that raw events can be expired a month at a time.
//!
//! The roll-up keys cannot hold NULL (a unique key treats NULLs as distinct, so upserts would never meet): an
//! event without an application is rolled up under `''`, one without a user under the all-zero UUID.
//!
//! Partitioning is Postgres-only DDL, so that branch is raw SQL; SQLite keeps a plain table. Existing events are
//! copied into the partitioned table and rolled up here, with SQL frozen in this file on purpose: the
//! gateway's own roll-up SQL (`store/rollups.rs`) may change later, an applied migration must not.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, timestamp_with_time_zone, uuid};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Creates `usage_rollups_hourly` and `usage_tag_rollups_hourly`, partitions `usage_events` on Postgres, and
/// rolls up the events that already exist.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The dimensions both roll-ups are keyed by, after the tenant and the hour (and, for tags, the tag).
const DIMENSIONS: [&str; 8] = [
    "team_id",
    "api_key_id",
    "application",
    "user_id",
    "public_model",
    "provider_name",
    "upstream_model",
    "region",
];

/// The summed columns of both roll-ups.
const SUMS: [&str; 7] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_picos",
];

fn rollup_table(name: &'static str, leading: &[&'static str]) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(name).col(uuid("tenant_id"));
    let mut key = Index::create();
    key.col("tenant_id");
    for column in leading {
        match *column {
            "hour" => table.col(timestamp_with_time_zone("hour")),
            other => table.col(string(other)),
        };
        key.col(*column);
    }
    for column in DIMENSIONS {
        match column {
            "team_id" | "api_key_id" | "user_id" => table.col(uuid(column)),
            other => table.col(string(other)),
        };
        key.col(column);
    }
    for column in SUMS {
        table.col(big_integer(column));
    }
    table.primary_key(&mut key).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(rollup_table("usage_rollups_hourly", &["hour"]))
            .await?;
        // The tag key comes before the hour: a report asks for one tag key over a time range.
        manager
            .create_table(rollup_table(
                "usage_tag_rollups_hourly",
                &["tag_key", "hour", "tag_value"],
            ))
            .await?;
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        if backend == DbBackend::Postgres {
            db.execute_unprepared(PARTITION_USAGE_EVENTS).await?;
            // Roll-up rows are updated in place all the time; free room on each page lets Postgres keep the new
            // version on the same page without touching the wide primary-key index (a HOT update).
            db.execute_unprepared(
                "ALTER TABLE usage_rollups_hourly SET (fillfactor = 70); \
                 ALTER TABLE usage_tag_rollups_hourly SET (fillfactor = 70);",
            )
            .await?;
        }
        for statement in backfill(backend) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(UNPARTITION_USAGE_EVENTS)
                .await?;
        }
        for table in ["usage_tag_rollups_hourly", "usage_rollups_hourly"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Rebuilds `usage_events` as a table partitioned by month of `created_at`: a partition for every month that
/// has events and for the current and next month, plus a DEFAULT partition for anything else. The primary key
/// has to include the partition key, so it becomes `(id, created_at)`; an event's `created_at` never changes,
/// so a replayed event still conflicts with its first copy.
const PARTITION_USAGE_EVENTS: &str = r#"
ALTER TABLE usage_events RENAME TO usage_events_unpartitioned;
ALTER TABLE usage_events_unpartitioned RENAME CONSTRAINT usage_events_pkey TO usage_events_unpartitioned_pkey;
DROP INDEX idx_usage_events_tenant_id_created_at;
CREATE TABLE usage_events (LIKE usage_events_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (created_at);
ALTER TABLE usage_events ADD CONSTRAINT usage_events_pkey PRIMARY KEY (id, created_at);
CREATE INDEX idx_usage_events_tenant_id_created_at ON usage_events (tenant_id, created_at);
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;
DO $$
DECLARE
    m timestamp;
    last_m timestamp;
BEGIN
    SELECT date_trunc('month', COALESCE(min(created_at), now()) AT TIME ZONE 'UTC'),
           greatest(date_trunc('month', COALESCE(max(created_at), now()) AT TIME ZONE 'UTC'),
                    date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
      INTO m, last_m
      FROM usage_events_unpartitioned;
    WHILE m <= last_m LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
            'usage_events_p' || to_char(m, 'YYYYMM'),
            m AT TIME ZONE 'UTC',
            (m + interval '1 month') AT TIME ZONE 'UTC');
        m := m + interval '1 month';
    END LOOP;
END $$;
INSERT INTO usage_events SELECT * FROM usage_events_unpartitioned;
DROP TABLE usage_events_unpartitioned;
"#;

/// The inverse: one plain table with the primary key `id` again.
const UNPARTITION_USAGE_EVENTS: &str = r#"
CREATE TABLE usage_events_plain (LIKE usage_events INCLUDING DEFAULTS);
INSERT INTO usage_events_plain SELECT * FROM usage_events;
DROP TABLE usage_events;
ALTER TABLE usage_events_plain RENAME TO usage_events;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_pkey PRIMARY KEY (id);
CREATE INDEX idx_usage_events_tenant_id_created_at ON usage_events (tenant_id, created_at);
"#;

/// Rolls up every existing event (both tables start empty, so plain inserts).
fn backfill(backend: DbBackend) -> [String; 2] {
    let (hour, zero_uuid, tags) = match backend {
        DbBackend::Postgres => (
            "date_trunc('hour', e.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
            "'00000000-0000-0000-0000-000000000000'::uuid",
            "CROSS JOIN LATERAL jsonb_each_text(CASE WHEN jsonb_typeof(e.tags) = 'object' \
             THEN e.tags ELSE '{}'::jsonb END) AS tg",
        ),
        _ => (
            "strftime('%Y-%m-%dT%H:00:00+00:00', substr(e.created_at, 1, 19))",
            "X'00000000000000000000000000000000'",
            "JOIN json_each(CASE WHEN json_type(e.tags) = 'object' THEN e.tags ELSE '{}' END) AS tg",
        ),
    };
    let dimensions = format!(
        "e.team_id, e.api_key_id, COALESCE(e.application, ''), COALESCE(e.user_id, {zero_uuid}), \
         e.public_model, e.provider_name, e.upstream_model, e.region"
    );
    let sums = "COUNT(*), SUM(CASE WHEN e.status_code >= 400 THEN 1 ELSE 0 END), SUM(e.input_tokens), \
                SUM(e.output_tokens), SUM(e.cached_tokens), SUM(e.reasoning_tokens), SUM(e.cost_picos)";
    let columns = |leading: &str| {
        format!(
            "tenant_id, {leading}, {}, {}",
            DIMENSIONS.join(", "),
            SUMS.join(", ")
        )
    };
    [
        format!(
            "INSERT INTO usage_rollups_hourly ({}) SELECT e.tenant_id, {hour}, {dimensions}, {sums} \
             FROM usage_events e WHERE 1 = 1 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10",
            columns("hour")
        ),
        format!(
            "INSERT INTO usage_tag_rollups_hourly ({}) SELECT e.tenant_id, tg.key, {hour}, tg.value, \
             {dimensions}, {sums} FROM usage_events e {tags} WHERE 1 = 1 \
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12",
            columns("tag_key, hour, tag_value")
        ),
    ]
}
