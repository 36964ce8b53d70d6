//! The database goes away mid-traffic: calls keep succeeding, usage is spooled to disk, and replayed exactly
//! once when the database is back.

use crate::helpers::{TestOptions, chat_body, postgres_admin_url, spawn_app_with};
use crate::tcp_proxy::TcpProxy;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_survives_a_database_outage_without_loss_or_duplicates() {
    // Arrange: the gateway reaches Postgres only through a forwarder we can cut.
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.usage_count().await, 21, "no duplicates after replay");
    let left = std::fs::read_dir(&spool_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .count();
    assert_eq!(left, 0, "the spool is emptied after replay");
    app.shutdown().await;
}
