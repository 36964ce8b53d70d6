//! Usage events and their hourly roll-ups, written in one transaction. Only the events that were really
//! inserted are rolled up (`ON CONFLICT DO NOTHING RETURNING`), so a batch replayed from the spool, or written
//! twice after a crash, is counted once.
//!
//! - Postgres: one statement. The batch arrives as one array per column (`unnest`, far cheaper to parse and
//!   plan than a VALUES list of thousands of rows), the insert returns the new rows, and two more data-modifying
//!   CTEs add them, grouped, to both roll-ups.
//! - SQLite: a transaction of multi-row inserts returning the new ids, each followed by the same roll-up
//!   upserts over those ids.
//!
//! [`rollup_upserts`] is the one definition of what a roll-up row is; the benchmark's bulk loader uses it too.
//!
//! After a batch, each key it used gets its `last_used_at` moved forward (one statement per batch on Postgres,
//! one per distinct key on SQLite; never one per call), so the admin API can show when a key was last used
//! without adding anything to the proxy's path.

use super::StoreError;
use super::entities::{api_key, usage_event};
use sea_orm::sea_query::OnConflict;
use sea_orm::sqlx;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, QueryTrait,
    Statement, TransactionTrait, Value,
};
use std::sync::OnceLock;

/// The roll-up key columns after the tenant and the hour, in the order of the primary keys.
pub const DIMENSIONS: [&str; 8] = [
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
pub const SUMS: [&str; 7] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_picos",
];

/// Rows per SQLite insert: 30 columns each stays under SQLite's 32,766 bound parameters.
const SQLITE_CHUNK: usize = 500;

/// The start of the UTC hour of a timestamp column, as the roll-ups store it.
pub fn hour_of(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
        }
        // Timestamps are stored as RFC 3339 text in UTC. Cutting at the seconds avoids SQLite's rounding of
        // fractions to milliseconds, which would move 23:59:59.9996 into the next hour.
        _ => format!("strftime('%Y-%m-%dT%H:00:00+00:00', substr({column}, 1, 19))"),
    }
}

/// The all-zero UUID, which stands for "no user" in a roll-up key (NULL never equals itself in a unique key).
pub fn no_user(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "'00000000-0000-0000-0000-000000000000'::uuid",
        // UUIDs are stored as 16-byte blobs in SQLite.
        _ => "X'00000000000000000000000000000000'",
    }
}

/// A join that yields one row `tg(key, value)` per tag of the event `e`.
fn tags_of(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "CROSS JOIN LATERAL jsonb_each_text(CASE WHEN jsonb_typeof(e.tags) = 'object' \
             THEN e.tags ELSE '{}'::jsonb END) AS tg"
        }
        _ => {
            "JOIN json_each(CASE WHEN json_type(e.tags) = 'object' THEN e.tags ELSE '{}' END) AS tg"
        }
    }
}

/// The two upserts that add the events of `source` (a relation with the columns of `usage_events`, aliased `e`)
/// to the hourly roll-up and the tag roll-up. `filter` is a condition on `e` (`1 = 1` for all of them). Rows are
/// upserted in key order, so two writers that touch the same keys lock them in the same order.
pub fn rollup_upserts(backend: DbBackend, source: &str, filter: &str) -> [String; 2] {
    let hour = hour_of(backend, "e.created_at");
    let dimensions = format!(
        "e.team_id, e.api_key_id, COALESCE(e.application, ''), COALESCE(e.user_id, {}), e.public_model, \
         e.provider_name, e.upstream_model, e.region",
        no_user(backend)
    );
    let sums = "COUNT(*), SUM(CASE WHEN e.status_code >= 400 THEN 1 ELSE 0 END), SUM(e.input_tokens), \
                SUM(e.output_tokens), SUM(e.cached_tokens), SUM(e.reasoning_tokens), SUM(e.cost_picos)";
    let upsert = |table: &str, leading: &str, select: String, keys: usize| {
        let key_list = format!("tenant_id, {leading}, {}", DIMENSIONS.join(", "));
        let additions = SUMS
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let positions = (1..=keys)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO {table} ({key_list}, {}) {select} GROUP BY {positions} ORDER BY {positions} \
             ON CONFLICT ({key_list}) DO UPDATE SET {additions}",
            SUMS.join(", ")
        )
    };
    [
        upsert(
            "usage_rollups_hourly",
            "hour",
            format!(
                "SELECT e.tenant_id, {hour}, {dimensions}, {sums} FROM {source} e WHERE {filter}"
            ),
            2 + DIMENSIONS.len(),
        ),
        upsert(
            "usage_tag_rollups_hourly",
            "tag_key, hour, tag_value",
            format!(
                "SELECT e.tenant_id, tg.key, {hour}, tg.value, {dimensions}, {sums} FROM {source} e {} \
                 WHERE {filter}",
                tags_of(backend)
            ),
            4 + DIMENSIONS.len(),
        ),
    ]
}

/// Inserts events that are not stored yet and, with `rollups`, adds exactly those to the roll-ups, atomically.
/// Returns how many were new. `rollups = false` exists only so the benchmark can measure what they cost.
pub async fn insert_events(
    db: &DatabaseConnection,
    events: &[usage_event::Model],
    rollups: bool,
) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let inserted = match db.get_database_backend() {
        DbBackend::Postgres => insert_postgres(db, events, rollups).await,
        _ => insert_sqlite(db, events, rollups).await,
    }?;
    touch_keys(db, events).await;
    Ok(inserted)
}

/// Moves each key's `last_used_at` to its latest call in the batch, never backwards (a spool replay of old
/// events changes nothing). Informational, so a failure is logged rather than failing the stored batch.
async fn touch_keys(db: &DatabaseConnection, events: &[usage_event::Model]) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, Condition, QueryFilter};
    let mut latest: std::collections::HashMap<uuid::Uuid, chrono::DateTime<chrono::Utc>> =
        std::collections::HashMap::new();
    for event in events {
        let at = latest.entry(event.api_key_id).or_insert(event.created_at);
        if event.created_at > *at {
            *at = event.created_at;
        }
    }
    if db.get_database_backend() == DbBackend::Postgres {
        // In id order, so two replicas touching the same keys lock their rows in the same order.
        let mut latest: Vec<_> = latest.into_iter().collect();
        latest.sort_unstable_by_key(|(id, _)| *id);
        let (ids, times): (Vec<_>, Vec<_>) = latest.into_iter().unzip();
        let touched = sqlx::query(
            "UPDATE api_keys AS k SET last_used_at = u.at \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) \
             WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        )
        .bind(ids)
        .bind(times)
        .execute(db.get_postgres_connection_pool())
        .await;
        if let Err(e) = touched {
            tracing::warn!(error = %e, "could not record when keys were last used");
        }
        return;
    }
    for (key, at) in latest {
        let touched = api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(at))
            .filter(api_key::Column::Id.eq(key))
            .filter(
                Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lt(at)),
            )
            .exec(db)
            .await;
        if let Err(e) = touched {
            tracing::warn!(error = %e, "could not record when a key was last used");
        }
    }
}

/// Column name and Postgres type of every column of `usage_events`, in the order `bind_columns` binds them.
const COLUMNS: [(&str, &str); 34] = [
    ("id", "uuid"),
    ("created_at", "timestamptz"),
    ("tenant_id", "uuid"),
    ("team_id", "uuid"),
    ("api_key_id", "uuid"),
    ("endpoint", "text"),
    ("public_model", "text"),
    ("provider_id", "uuid"),
    ("provider_name", "text"),
    ("deployment_id", "uuid"),
    ("upstream_model", "text"),
    ("region", "text"),
    ("input_tokens", "int8"),
    ("output_tokens", "int8"),
    ("cached_tokens", "int8"),
    ("reasoning_tokens", "int8"),
    ("usage_source", "text"),
    ("cost_picos", "int8"),
    ("latency_us", "int8"),
    ("ttft_us", "int8"),
    ("status_code", "int4"),
    ("outcome", "text"),
    ("streamed", "bool"),
    ("end_user", "text"),
    ("tags", "jsonb"),
    ("error_message", "text"),
    ("application", "text"),
    ("user_id", "uuid"),
    ("session_id", "text"),
    ("agent_id", "text"),
    ("attempts", "jsonb"),
    ("parent_id", "text"),
    ("tools", "jsonb"),
    ("bodies", "jsonb"),
];

/// The Postgres statement that inserts the rows `input` yields (a `SELECT` of every column of `usage_events`, in
/// table order) and, with `rollups`, rolls up the ones that were new; it returns how many were new. The usage
/// writer's `input` is one `unnest` of an array per column; the benchmark's bulk loader passes a staging table.
pub fn postgres_ingest_sql(input: &str, rollups: bool) -> String {
    let names = COLUMNS.map(|(name, _)| name).join(", ");
    let mut sql = format!(
        "WITH inserted AS (INSERT INTO usage_events ({names}) {input} \
         ON CONFLICT (id, created_at) DO NOTHING RETURNING *)"
    );
    if rollups {
        let [hourly, tagged] = rollup_upserts(DbBackend::Postgres, "inserted", "1 = 1");
        sql.push_str(&format!(", hourly AS ({hourly}), tagged AS ({tagged})"));
    }
    sql.push_str(" SELECT count(*) FROM inserted");
    sql
}

fn postgres_statement(rollups: bool) -> &'static str {
    static WITH: OnceLock<String> = OnceLock::new();
    static WITHOUT: OnceLock<String> = OnceLock::new();
    let cell = if rollups { &WITH } else { &WITHOUT };
    cell.get_or_init(|| {
        let arrays = COLUMNS
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| format!("${}::{ty}[]", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        postgres_ingest_sql(&format!("SELECT * FROM unnest({arrays})"), rollups)
    })
}

async fn insert_postgres(
    db: &DatabaseConnection,
    events: &[usage_event::Model],
    rollups: bool,
) -> Result<u64, StoreError> {
    fn col<T>(events: &[usage_event::Model], f: impl Fn(&usage_event::Model) -> T) -> Vec<T> {
        events.iter().map(f).collect()
    }
    let query = sqlx::query_scalar::<_, i64>(postgres_statement(rollups))
        .bind(col(events, |e| e.id))
        .bind(col(events, |e| e.created_at))
        .bind(col(events, |e| e.tenant_id))
        .bind(col(events, |e| e.team_id))
        .bind(col(events, |e| e.api_key_id))
        .bind(col(events, |e| e.endpoint.clone()))
        .bind(col(events, |e| e.public_model.clone()))
        .bind(col(events, |e| e.provider_id))
        .bind(col(events, |e| e.provider_name.clone()))
        .bind(col(events, |e| e.deployment_id))
        .bind(col(events, |e| e.upstream_model.clone()))
        .bind(col(events, |e| e.region.clone()))
        .bind(col(events, |e| e.input_tokens))
        .bind(col(events, |e| e.output_tokens))
        .bind(col(events, |e| e.cached_tokens))
        .bind(col(events, |e| e.reasoning_tokens))
        .bind(col(events, |e| e.usage_source.clone()))
        .bind(col(events, |e| e.cost_picos))
        .bind(col(events, |e| e.latency_us))
        .bind(col(events, |e| e.ttft_us))
        .bind(col(events, |e| e.status_code))
        .bind(col(events, |e| e.outcome.clone()))
        .bind(col(events, |e| e.streamed))
        .bind(col(events, |e| e.end_user.clone()))
        .bind(col(events, |e| e.tags.clone()))
        .bind(col(events, |e| e.error_message.clone()))
        .bind(col(events, |e| e.application.clone()))
        .bind(col(events, |e| e.user_id))
        .bind(col(events, |e| e.session_id.clone()))
        .bind(col(events, |e| e.agent_id.clone()))
        .bind(col(events, |e| e.attempts.clone()))
        .bind(col(events, |e| e.parent_id.clone()))
        .bind(col(events, |e| e.tools.clone()))
        .bind(col(events, |e| e.bodies.clone()));
    let failed = |e| sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)));
    let mut txn = db
        .get_postgres_connection_pool()
        .begin()
        .await
        .map_err(failed)?;
    // Postgres plans each execution with the real array lengths and expects 100 tags per event, so a batch
    // of a few thousand events crosses `jit_above_cost`: compiling the plan would cost more than running it.
    sqlx::query("SET LOCAL jit = off")
        .execute(&mut *txn)
        .await
        .map_err(failed)?;
    let inserted = query.fetch_one(&mut *txn).await.map_err(failed)?;
    txn.commit().await.map_err(failed)?;
    Ok(u64::try_from(inserted).unwrap_or(0))
}

async fn insert_sqlite(
    db: &DatabaseConnection,
    events: &[usage_event::Model],
    rollups: bool,
) -> Result<u64, StoreError> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    let mut inserted = 0u64;
    for chunk in events.chunks(SQLITE_CHUNK) {
        let rows = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        let mut insert = usage_event::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(usage_event::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        insert.returning_col(usage_event::Column::Id);
        let ids: Vec<Value> = txn
            .query_all_raw(backend.build(&insert))
            .await?
            .iter()
            .map(|row| row.try_get_by_index::<uuid::Uuid>(0).map(Value::from))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            continue;
        }
        inserted += ids.len() as u64;
        if rollups {
            let placeholders = vec!["?"; ids.len()].join(", ");
            let filter = format!("e.id IN ({placeholders})");
            for sql in rollup_upserts(backend, "usage_events", &filter) {
                txn.execute_raw(Statement::from_sql_and_values(backend, sql, ids.clone()))
                    .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{EntityName, Iterable};

    #[test]
    fn the_postgres_insert_binds_every_column_of_the_entity() {
        let entity: Vec<String> = usage_event::Column::iter()
            .map(|c| sea_orm::IdenStatic::as_str(&c).to_owned())
            .collect();
        let bound: Vec<String> = COLUMNS.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(entity, bound, "{}", usage_event::Entity.table_name());
    }
}
