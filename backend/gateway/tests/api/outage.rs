//! The database goes away mid-traffic: calls keep succeeding, usage is spooled to disk, and replayed exactly
//! once when the database is back.

use crate::helpers::{TestOptions, chat_body, postgres_admin_url, spawn_app_with};
use crate::tcp_proxy::TcpProxy;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_survives_a_database_outage_without_loss_or_duplicates() {
    // Arrange: the gateway reaches Postgres only through a forwarder we can cut.
    let (app, proxy) = app_behind_a_forwarder().await;
    assert_eq!(
        app.post("/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);

    // Act: cut the database off and keep calling.
    proxy.cut();
    for i in 0..20 {
        let response = app
            .post("/v1/chat/completions", &chat_body(i % 2 == 0))
            .await;
        assert_eq!(
            response.status(),
            200,
            "calls go on while the database is down"
        );
        let _ = response.bytes().await;
    }
    let stats = &app.services.usage_stats;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stats.spooled.load(Ordering::Relaxed) < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        stats.spooled.load(Ordering::Relaxed),
        20,
        "every event went to the spool"
    );
    let spool_dir = app.settings.spool_dir();
    let spooled_files = std::fs::read_dir(&spool_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .count();
    assert!(
        spooled_files > 0,
        "batches are on disk in {}",
        spool_dir.display()
    );

    // The database comes back.
    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stats.replayed.load(Ordering::Relaxed) < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert: all 21 events, once each, and an empty spool.
    assert_eq!(app.wait_for_usage(21, Duration::from_secs(10)).await, 21);
    // The raw table's primary key cannot hold a duplicate; what a replayed batch could double is the roll-ups
    // that reports and budgets read. They must count each call once.
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.services.repo.db();
    let rolled = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(SUM(requests) AS BIGINT) AS n, CAST(SUM(cost_picos) AS BIGINT) AS c FROM usage_rollups_hourly",
        ))
        .await
        .unwrap()
        .unwrap();
    let raw_cost: i64 = app.usage_rows().await.iter().map(|r| r.cost_picos).sum();
    assert_eq!(
        rolled.try_get::<i64>("", "n").unwrap(),
        21,
        "each call rolled up once"
    );
    assert_eq!(rolled.try_get::<i64>("", "c").unwrap(), raw_cost);
    let left = std::fs::read_dir(&spool_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .count();
    assert_eq!(left, 0, "the spool is emptied after replay");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_neither_the_database_nor_the_spool_takes_are_kept_and_spooled_at_shutdown() {
    let (app, proxy) = app_behind_a_forwarder().await;
    // One call first, so the key is cached for the calls made while the database is away.
    assert_eq!(
        app.post("/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    // The database is cut off and the spool directory is replaced by a file: nothing can be written anywhere.
    let spool_dir = app.settings.spool_dir();
    proxy.cut();
    std::fs::remove_dir_all(&spool_dir).unwrap();
    std::fs::write(&spool_dir, b"not a directory").unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.post("/v1/chat/completions", &chat_body(false))
                .await
                .status(),
            200
        );
    }
    // The writer tried and failed: the events are still queued, none spooled.
    let stats = std::sync::Arc::clone(&app.services.usage_stats);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.services.usage.queue_depth() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.spooled.load(Ordering::Relaxed), 0);
    // The disk comes back just before the gateway stops: the shutdown spools what it kept.
    std::fs::remove_file(&spool_dir).unwrap();
    std::fs::create_dir_all(&spool_dir).unwrap();
    let spool_copy = spool_dir.clone();
    app.shutdown_keeping_files().await;
    let spooled: usize = std::fs::read_dir(&spool_copy)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(spooled, 3, "every event is on disk, none dropped");
    let _ = std::fs::remove_dir_all(spool_copy.parent().unwrap_or(&spool_copy));
}

/// A gateway that reaches Postgres only through a forwarder the test can cut and restore.
async fn app_behind_a_forwarder() -> (crate::helpers::TestApp, TcpProxy) {
    let admin = postgres_admin_url();
    let host_port = admin
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the test URL")
        .to_owned();
    let proxy = TcpProxy::start(host_port.clone()).await;
    let port = proxy.port;
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(move |s| {
            let url = s.database_url.clone().unwrap_or_default();
            s.database_url = Some(url.replacen(&host_port, &format!("127.0.0.1:{port}"), 1));
        }),
        ..TestOptions::default()
    })
    .await;
    (app, proxy)
}
