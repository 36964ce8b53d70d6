//! Report scaling: how the time of a chargeback report grows with the number of usage events (by default 1, 2,
//! 5 and 10 million over 30 days).
//!
//! It creates a fresh Postgres database (dropped at the end) and loads events in steps of up to a million:
//! `generate_series` fills an unlogged staging table with pseudo-random events (200 keys in 20 teams, 8 models,
//! 3 regions, 5 applications, 0 to 2 tags), and the staging rows go in with the usage writer's own statement
//! (`rollups::postgres_ingest_sql`), so the roll-ups are built exactly as in production. After each step it
//! times three reports over the whole range through `Scoped::report_stream` (median of `--repeat` runs, all
//! rows read and decoded), and the first of them computed from the raw events instead, for comparison.
//!
//!     cargo bench -p switchyard --bench report_scaling                                  # 1M, 2M, 5M, 10M
//!     cargo bench -p switchyard --bench report_scaling -- --steps 100000,200000 --days 7
//!
//! Options: `--steps` (cumulative event counts), `--days` (the range the events spread over), `--repeat`,
//! `--no-raw` (skip the raw comparison), `--keep` (keep the database to look at it). `SWITCHYARD_TEST_DATABASE_URL` names the Postgres server.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use chrono::{DurationRound, Utc};
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use std::time::{Duration, Instant};
use switchyard::store::reports::{Dimension, Filters, ReportSpec};
use switchyard::store::{self, Scoped, partitions, rollups};
use uuid::Uuid;

struct Options {
    steps: Vec<u64>,
    days: i64,
    repeat: usize,
    raw: bool,
    keep: bool,
}

fn parse_options() -> Options {
    let mut options = Options {
        steps: vec![1_000_000, 2_000_000, 5_000_000, 10_000_000],
        days: 30,
        repeat: 5,
        raw: true,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--steps" => {
                options.steps = args
                    .next()
                    .expect("--steps 1000000,2000000")
                    .split(',')
                    .map(|s| s.parse().expect("number"))
                    .collect();
            }
            "--days" => options.days = args.next().and_then(|v| v.parse().ok()).expect("--days N"),
            "--repeat" => {
                options.repeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--repeat N")
            }
            "--no-raw" => options.raw = false,
            "--keep" => options.keep = true,
            // cargo bench passes --bench; ignore anything else.
            _ => {}
        }
    }
    options
}

fn server_url() -> String {
    std::env::var("SWITCHYARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Fills `staging` with events `first..=last`, spread over `days` from `start`; every attribute is derived from
/// hashes of the event number, so a run is reproducible.
fn staging_sql(tenant: Uuid, start: &str, days: i64, first: u64, last: u64) -> String {
    let span = days * 86_400;
    format!(
        "INSERT INTO staging SELECT gen_random_uuid(), '{start}'::timestamptz + (h1 % {span}) * interval '1 second', \
         '{tenant}'::uuid, ('00000000-0000-0000-0001-' || lpad(to_hex(k % 20), 12, '0'))::uuid, \
         ('00000000-0000-0000-0002-' || lpad(to_hex(k), 12, '0'))::uuid, 'chat.completions', 'model-' || m, NULL, \
         CASE WHEN m < 3 THEN 'openai' ELSE 'other' END, NULL, 'upstream-' || m, \
         (ARRAY['eu', 'us', 'ap'])[k % 3 + 1], h2 % 4000 + 10, h3 % 1000 + 1, (h2 % 4000) / 4, 0, 'provider', \
         (h2 % 4000 + 10) * 2500000 + (h3 % 1000 + 1) * 10000000, 1000, NULL, \
         CASE WHEN h1 % 50 = 0 THEN 500 ELSE 200 END, 'ok', false, NULL, \
         jsonb_strip_nulls(jsonb_build_object( \
           'env', (ARRAY[NULL, 'prod', 'staging'])[h3 % 3 + 1], \
           'feature', CASE WHEN (h3 / 3) % 2 = 0 THEN 'f' || (h3 / 6) % 5 END)), \
         NULL, 'app-' || k % 5, NULL, NULL, NULL, NULL \
         FROM (SELECT hashint8(g)::bigint & 2147483647 AS h1, hashint8(g + 100000000000)::bigint & 2147483647 AS h2, \
                      hashint8(g + 200000000000)::bigint & 2147483647 AS h3, \
                      (hashint8(g)::bigint & 2147483647) % 200 AS k, \
                      (hashint8(g + 100000000000)::bigint & 2147483647) % 8 AS m \
               FROM generate_series({first}::bigint, {last}::bigint) g) s"
    )
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    db.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT count(*) FROM {table}"),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index(0)
    .unwrap()
}

/// Median time of `repeat` runs of a report read to the end; also the number of rows.
async fn time_report(scoped: &Scoped, spec: &ReportSpec, repeat: usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..repeat {
        let started = Instant::now();
        let mut stream = scoped.report_stream(spec, None).await.unwrap();
        rows = 0;
        while let Some(row) = stream.next().await {
            row.unwrap();
            rows += 1;
        }
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], rows)
}

async fn time_raw(db: &DatabaseConnection, tenant: Uuid, repeat: usize) -> Duration {
    let sql = format!(
        "SELECT team_id, public_model, count(*), sum(input_tokens), sum(output_tokens), sum(cost_picos)::text \
         FROM usage_events WHERE tenant_id = '{tenant}' GROUP BY 1, 2"
    );
    let mut times = Vec::new();
    for _ in 0..repeat {
        let started = Instant::now();
        db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
            .await
            .unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = parse_options();
    let name = format!("sy_bench_{}", Uuid::now_v7().simple());
    let admin = Database::connect(server_url())
        .await
        .expect("Postgres is running");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let base = server_url();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    let db = store::connect(&url, 4).await.unwrap();
    store::migrate(&db).await.unwrap();

    let tenant = Uuid::now_v7();
    let end = Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    let start = end - chrono::Duration::days(options.days);
    let mut month = start.date_naive();
    while month <= end.date_naive() {
        partitions::ensure_month(&db, month).await.unwrap();
        month = partitions::month_start(month, 1);
    }
    db.execute_unprepared("CREATE UNLOGGED TABLE staging (LIKE usage_events INCLUDING DEFAULTS)")
        .await
        .unwrap();
    let ingest = rollups::postgres_ingest_sql("SELECT * FROM staging", true);
    let scoped = Scoped::new(db.clone(), tenant);
    let spec = |group_by: Vec<Dimension>| {
        ReportSpec::new(start, end, group_by, Filters::default()).unwrap()
    };
    let reports = [
        ("team,model", spec(vec![Dimension::Team, Dimension::Model])),
        ("day,team", spec(vec![Dimension::Day, Dimension::Team])),
        (
            "tag:env,model",
            spec(vec![Dimension::Tag("env".into()), Dimension::Model]),
        ),
    ];

    println!(
        "report_scaling: events over {} days, median of {} runs, times in ms, database {name}",
        options.days, options.repeat
    );
    println!(
        "{:>10} {:>12} {:>12} {:>9} | {:>12} {:>12} {:>14} | {:>14}",
        "events",
        "rollup rows",
        "tag rows",
        "load s",
        "team,model",
        "day,team",
        "tag:env,model",
        "raw team,model"
    );
    let mut loaded = 0u64;
    for &target in &options.steps {
        let load_started = Instant::now();
        while loaded < target {
            let chunk = (target - loaded).min(1_000_000);
            db.execute_unprepared("TRUNCATE staging").await.unwrap();
            db.execute_unprepared(&staging_sql(
                tenant,
                &start.to_rfc3339(),
                options.days,
                loaded + 1,
                loaded + chunk,
            ))
            .await
            .unwrap();
            db.execute_unprepared(&ingest).await.unwrap();
            loaded += chunk;
        }
        db.execute_unprepared(
            "VACUUM ANALYZE usage_events, usage_rollups_hourly, usage_tag_rollups_hourly",
        )
        .await
        .unwrap();
        let load = load_started.elapsed();
        let mut cells = Vec::new();
        for (_, spec) in &reports {
            let (time, _) = time_report(&scoped, spec, options.repeat).await;
            cells.push(ms(time));
        }
        let raw = if options.raw {
            ms(time_raw(&db, tenant, options.repeat.min(3)).await)
        } else {
            "-".into()
        };
        println!(
            "{:>10} {:>12} {:>12} {:>9.1} | {:>12} {:>12} {:>14} | {:>14}",
            loaded,
            count(&db, "usage_rollups_hourly").await,
            count(&db, "usage_tag_rollups_hourly").await,
            load.as_secs_f64(),
            cells[0],
            cells[1],
            cells[2],
            raw
        );
    }
    db.close().await.ok();
    if options.keep {
        return;
    }
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}
