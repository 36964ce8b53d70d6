//! Roll-ups and raw events over time: a replayed batch is counted once, monthly partitions exist ahead of
//! time (Postgres), and retention removes raw events but never the roll-ups.

use crate::helpers::{Mode, TestApp, TestOptions, spawn_app, spawn_app_with};
use crate::usage_fixtures::{Fixture, random_events, seeded};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};
use switchyard::store::entities::usage_event;
use switchyard::store::partitions::{self, month_start, partition_name};
use switchyard::usage::maintenance;

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let db = app.services.repo.db();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<Option<i64>>(0).unwrap().unwrap_or(0)
}

/// `(calls, cost in picos, tagged calls)` as the roll-ups count them.
async fn rolled_up(app: &TestApp) -> (i64, String, i64) {
    let db = app.services.repo.db();
    let cost = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(SUM(cost_picos) AS TEXT) FROM usage_rollups_hourly",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<String>(0)
        .unwrap();
    (
        scalar(
            app,
            "SELECT CAST(SUM(requests) AS BIGINT) FROM usage_rollups_hourly",
        )
        .await,
        cost,
        scalar(
            app,
            "SELECT CAST(SUM(requests) AS BIGINT) FROM usage_tag_rollups_hourly",
        )
        .await,
    )
}

fn reference(events: &[usage_event::Model]) -> (i64, String, i64) {
    let tags: usize = events
        .iter()
        .map(|e| e.tags.as_object().map_or(0, |t| t.len()))
        .sum();
    let cost: i128 = events.iter().map(|e| i128::from(e.cost_picos)).sum();
    (events.len() as i64, cost.to_string(), tags as i64)
}

async fn replays_are_counted_once(mode: Mode) {
    // Arrange
    let app = spawn_app_with(TestOptions {
        mode,
        ..TestOptions::default()
    })
    .await;
    let fixture = Fixture::create(&app).await;
    let (mut rng, seed) = seeded();
    let events = random_events(
        &mut rng,
        &fixture,
        300,
        Utc::now() - Duration::days(2),
        Duration::days(2),
    );
    let repo = &app.services.repo;

    // Act: a batch, the same batch replayed, then one that overlaps half of it.
    let first = repo.insert_usage_events(&events[..200]).await.unwrap();
    let replay = repo.insert_usage_events(&events[..200]).await.unwrap();
    let overlap = repo.insert_usage_events(&events[100..]).await.unwrap();

    // Assert
    assert_eq!((first, replay, overlap), (200, 0, 100), "seed {seed}");
    assert_eq!(app.usage_count().await, 300);
    assert_eq!(
        rolled_up(&app).await,
        reference(&events),
        "seed {seed}, {mode:?}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_replayed_batch_is_rolled_up_once() {
    replays_are_counted_once(Mode::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_replayed_batch_is_rolled_up_once() {
    replays_are_counted_once(Mode::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_has_partitions_for_this_and_next_month_after_startup() {
    let app = spawn_app().await;
    let today = Utc::now().date_naive();
    let names = partitions::list(app.services.repo.db()).await.unwrap();
    for months in [0, 1] {
        let name = partition_name(month_start(today, months));
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    app.shutdown().await;
}

fn at(events: Vec<usage_event::Model>, when: DateTime<Utc>) -> Vec<usage_event::Model> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| usage_event::Model {
            created_at: when + Duration::seconds(i as i64),
            ..e
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_already_in_the_default_partition_move_into_a_new_month_partition() {
    // Arrange: events of a month that has no partition land in the default one.
    let app = spawn_app().await;
    let fixture = Fixture::create(&app).await;
    let (mut rng, _) = seeded();
    let month = month_start(Utc::now().date_naive(), -6);
    let when = month.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let events = at(
        random_events(&mut rng, &fixture, 40, when, Duration::hours(1)),
        when,
    );
    app.services
        .repo
        .insert_usage_events(&events)
        .await
        .unwrap();
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM usage_events_default").await,
        40
    );

    // Act
    let created = partitions::ensure_month(app.services.repo.db(), month)
        .await
        .unwrap();
    let again = partitions::ensure_month(app.services.repo.db(), month)
        .await
        .unwrap();

    // Assert
    assert!(created && !again);
    let name = partition_name(month);
    assert_eq!(
        scalar(&app, &format!("SELECT count(*) FROM {name}")).await,
        40
    );
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM usage_events_default").await,
        0
    );
    assert_eq!(app.usage_count().await, 40);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_retention_drops_expired_partitions_and_keeps_the_rollups() {
    // Arrange: a month 15 months back with its own partition, events from 3 years back in the default
    // partition, and recent events.
    let app = spawn_app().await;
    let fixture = Fixture::create(&app).await;
    let (mut rng, _) = seeded();
    let now = Utc::now();
    let db = app.services.repo.db();
    let old_month = month_start(now.date_naive(), -15);
    assert!(partitions::ensure_month(db, old_month).await.unwrap());
    let old = at(
        random_events(&mut rng, &fixture, 30, now, Duration::hours(1)),
        old_month.and_hms_opt(3, 0, 0).unwrap().and_utc(),
    );
    let ancient = at(
        random_events(&mut rng, &fixture, 20, now, Duration::hours(1)),
        now - Duration::days(3 * 365),
    );
    let recent = at(
        random_events(&mut rng, &fixture, 10, now, Duration::hours(1)),
        now - Duration::days(1),
    );
    let all: Vec<_> = old.iter().chain(&ancient).chain(&recent).cloned().collect();
    app.services.repo.insert_usage_events(&all).await.unwrap();

    // Act
    let kept_forever = maintenance::run_once(&app.services.repo, 0, now)
        .await
        .unwrap();
    let expired = maintenance::run_once(&app.services.repo, 400, now)
        .await
        .unwrap();

    // Assert
    assert_eq!(kept_forever, partitions::Expired::default());
    assert_eq!(expired.partitions, vec![partition_name(old_month)]);
    assert_eq!(expired.rows, 20);
    assert_eq!(app.usage_count().await, 10);
    assert!(
        !partitions::list(db)
            .await
            .unwrap()
            .contains(&partition_name(old_month))
    );
    assert_eq!(rolled_up(&app).await, reference(&all));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_retention_deletes_expired_rows_and_keeps_the_rollups() {
    // Arrange
    let app = spawn_app_with(TestOptions {
        mode: Mode::Embedded,
        ..TestOptions::default()
    })
    .await;
    let fixture = Fixture::create(&app).await;
    let (mut rng, _) = seeded();
    let now = Utc::now();
    let old = at(
        random_events(&mut rng, &fixture, 30, now, Duration::hours(1)),
        now - Duration::days(401),
    );
    let recent = at(
        random_events(&mut rng, &fixture, 10, now, Duration::hours(1)),
        now - Duration::days(399),
    );
    let all: Vec<_> = old.iter().chain(&recent).cloned().collect();
    app.services.repo.insert_usage_events(&all).await.unwrap();

    // Act
    let expired = maintenance::run_once(&app.services.repo, 400, now)
        .await
        .unwrap();

    // Assert
    assert_eq!((expired.partitions.len(), expired.rows), (0, 30));
    assert_eq!(app.usage_count().await, 10);
    assert_eq!(rolled_up(&app).await, reference(&all));
    app.shutdown().await;
}
