//! Usage ingest: how many usage events per second the real write path stores in Postgres, roll-ups included,
//! and what the roll-ups cost.
//!
//! It creates a fresh database (dropped at the end), then:
//! 1. pushes `--events` events through `UsageSink` → `UsageWriter` (batching, the same insert as production) for
//!    each `--batch-size`, and prints events per second from the first `record` to the last row committed;
//! 2. writes the same number of new events straight through the insert, in batches of the last batch size, once
//!    without and once with roll-ups, and prints the roll-up overhead.
//!
//! Events are attributed at random to 200 keys (in 20 teams, 5 applications, 40 owners) and 8 models (each in
//! one of 3 regions), with 0 to 2 tags (`env`: 2 values, `feature`: 10), all within the current hour, so every
//! batch upserts many roll-up rows that already exist (the common case). The 200 keys exist as `api_keys` rows,
//! so every batch also moves the `last_used_at` of the keys it used, as in production.
//!
//!     cargo bench -p switchyard --bench usage_ingest                          # 200,000 events, batch 500 and 2000
//!     cargo bench -p switchyard --bench usage_ingest -- --events 20000 --batch-size 500
//!
//! `SWITCHYARD_TEST_DATABASE_URL` names the Postgres server (default postgres://postgres@127.0.0.1:5432/postgres).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use switchyard::store::entities::usage_event;
use switchyard::store::{self, Repo, rollups};
use switchyard::usage::{self, Spool, UsageWriter};
use uuid::Uuid;

struct Options {
    events: usize,
    batch_sizes: Vec<usize>,
}

fn parse_options() -> Options {
    let mut options = Options {
        events: 200_000,
        batch_sizes: vec![500, 2000],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                options.events = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--events N")
            }
            "--batch-size" => {
                options.batch_sizes = args
                    .next()
                    .expect("--batch-size 500,2000")
                    .split(',')
                    .map(|b| b.parse().expect("number"))
                    .collect();
            }
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

fn database_url(name: &str) -> String {
    let base = server_url();
    let cut = base.rfind('/').expect("a database URL");
    format!("{}/{name}", &base[..cut])
}

/// A key as events carry it: its id, team, application and owner.
type BenchKey = (Uuid, Uuid, String, Uuid);

/// 200 keys in 20 teams, 5 applications and 40 owners; as in production, a key has one of each.
fn bench_keys() -> Vec<BenchKey> {
    let teams: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    let users: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();
    (0..200)
        .map(|i| {
            (
                Uuid::now_v7(),
                teams[i % teams.len()],
                format!("app-{}", i % 5),
                users[i % users.len()],
            )
        })
        .collect()
}

/// Random events of one tenant, created now.
fn events(rng: &mut StdRng, tenant: Uuid, keys: &[BenchKey], n: usize) -> Vec<usage_event::Model> {
    let models = [
        "gpt-4o",
        "gpt-4o-mini",
        "o3",
        "claude",
        "gemini",
        "llama",
        "mistral",
        "embed",
    ];
    let now = chrono::Utc::now();
    (0..n)
        .map(|_| {
            let (key, team, application, user) = &keys[rng.random_range(0..keys.len())];
            let m = rng.random_range(0..models.len());
            let model = models[m];
            let mut tags = Map::new();
            if rng.random_bool(0.7) {
                tags.insert(
                    "env".into(),
                    json!(["prod", "staging"][rng.random_range(0..2)]),
                );
            }
            if rng.random_bool(0.5) {
                tags.insert(
                    "feature".into(),
                    json!(format!("f{}", rng.random_range(0..10))),
                );
            }
            let input = rng.random_range(10..4000);
            let output = rng.random_range(1..1000);
            usage_event::Model {
                id: Uuid::now_v7(),
                created_at: now,
                tenant_id: tenant,
                team_id: *team,
                api_key_id: *key,
                endpoint: "chat.completions".into(),
                public_model: model.into(),
                provider_id: Some(Uuid::now_v7()),
                provider_name: if model.starts_with("gpt") {
                    "openai"
                } else {
                    "other"
                }
                .into(),
                deployment_id: Some(Uuid::now_v7()),
                upstream_model: format!("{model}-2026"),
                // Each model is deployed in one region.
                region: ["eu", "us", "ap"][m % 3].into(),
                input_tokens: input,
                output_tokens: output,
                cached_tokens: input / 4,
                reasoning_tokens: 0,
                usage_source: "provider".into(),
                cost_picos: input * 2_500_000 + output * 10_000_000,
                latency_us: rng.random_range(1_000..2_000_000),
                ttft_us: Some(rng.random_range(1_000..500_000)),
                status_code: 200,
                outcome: "ok".into(),
                streamed: rng.random_bool(0.5),
                end_user: Some(format!("user-{}", rng.random_range(0..1000))),
                tags: Value::Object(tags),
                error_message: None,
                application: Some(application.clone()),
                user_id: Some(*user),
                session_id: None,
                agent_id: None,
                attempts: None,
                parent_id: None,
                tools: None,
                bodies: None,
            }
        })
        .collect()
}

async fn through_the_writer(
    repo: &Repo,
    events: Vec<usage_event::Model>,
    batch_size: usize,
) -> f64 {
    let spool_dir =
        std::env::temp_dir().join(format!("sy-bench-spool-{}", Uuid::now_v7().simple()));
    let spool = Spool::open(&spool_dir).unwrap();
    let mut settings = switchyard::config::Settings::default().usage;
    settings.batch_size = batch_size;
    settings.flush_interval = Duration::from_millis(10);
    let (sink, rx, queued) = usage::channel();
    let writer = UsageWriter::start(repo.clone(), spool, settings, rx, queued);
    let stats = std::sync::Arc::clone(&writer.stats);
    let n = events.len();
    let started = Instant::now();
    for event in events {
        sink.record(event);
    }
    writer.shutdown().await;
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&spool_dir);
    let written = stats.written.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(written as usize, n, "every event written, none spooled");
    n as f64 / elapsed.as_secs_f64()
}

async fn direct(
    repo: &Repo,
    events: &[usage_event::Model],
    batch_size: usize,
    with_rollups: bool,
) -> f64 {
    let started = Instant::now();
    for batch in events.chunks(batch_size) {
        let inserted = rollups::insert_events(repo.db(), batch, with_rollups)
            .await
            .unwrap();
        assert_eq!(inserted as usize, batch.len());
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
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
    let db = store::connect(&database_url(&name), 16).await.unwrap();
    store::migrate(&db).await.unwrap();
    let repo = Repo::new(db);
    let (tenant_row, team_row) = repo.ensure_default_tenant().await.unwrap();
    let tenant = tenant_row.id;
    let keys = bench_keys();
    for (i, (id, ..)) in keys.iter().enumerate() {
        let mut row = switchyard::keys::new_row(
            tenant,
            team_row.id,
            format!("bench-{i}"),
            &switchyard::keys::generate(),
            None,
        );
        row.id = *id;
        repo.insert_api_key(row).await.unwrap();
    }
    let mut rng = StdRng::seed_from_u64(7);

    println!(
        "usage_ingest: {} events per run, Postgres, fresh database {name}",
        options.events
    );
    println!("{:<44} {:>6} {:>12}", "path", "batch", "events/s");
    for &batch in &options.batch_sizes {
        let rate = through_the_writer(
            &repo,
            events(&mut rng, tenant, &keys, options.events),
            batch,
        )
        .await;
        println!(
            "{:<44} {batch:>6} {rate:>12.0}",
            "UsageSink -> UsageWriter -> Postgres"
        );
    }
    let batch = *options.batch_sizes.last().unwrap_or(&500);
    let raw = direct(
        &repo,
        &events(&mut rng, tenant, &keys, options.events),
        batch,
        false,
    )
    .await;
    println!("{:<44} {batch:>6} {raw:>12.0}", "insert without roll-ups");
    let rolled = direct(
        &repo,
        &events(&mut rng, tenant, &keys, options.events),
        batch,
        true,
    )
    .await;
    println!("{:<44} {batch:>6} {rolled:>12.0}", "insert with roll-ups");
    println!(
        "roll-up overhead: {:+.0} % time per event",
        (raw / rolled - 1.0) * 100.0
    );

    repo.db().clone().close().await.ok();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}
