//! The embedded default: SQLite and in-process state, no Postgres or Redis.

use crate::helpers::{Mode, TestOptions, chat_body, spawn_app_with};
use serde_json::Value;
use std::time::Duration;
use switchyard::state::Invalidation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_mode_proxies_streams_and_records_usage() {
    let app = spawn_app_with(TestOptions {
        mode: Mode::Embedded,
        ..TestOptions::default()
    })
    .await;
    assert!(
        app.settings
            .database_url
            .as_deref()
            .unwrap()
            .starts_with("sqlite://")
    );

    let plain = app.post("/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(plain.status(), 200);
    let streamed = app
        .post("/v1/chat/completions", &chat_body(true))
        .await
        .text()
        .await
        .unwrap();
    assert!(streamed.ends_with("data: [DONE]\n\n"));

    assert_eq!(app.wait_for_usage(2, Duration::from_secs(5)).await, 2);
    let rows = app.usage_rows().await;
    assert!(
        rows.iter()
            .all(|r| r.input_tokens > 0 && r.cost_picos > 0 && r.tags == serde_json::json!({}))
    );
    let ready: Value = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["shared_state"]["kind"], "memory");
    assert_eq!(ready["status"], "ready");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_invalidation_revokes_a_key_at_once_in_embedded_mode() {
    let app = spawn_app_with(TestOptions {
        mode: Mode::Embedded,
        tweak: Box::new(|s| s.proxy.key_cache_ttl = Duration::from_secs(3600)),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(
        app.post("/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );

    let prefix = switchyard::keys::display_prefix(&app.key);
    let revoked = app
        .services
        .repo
        .revoke_api_key(app.services.default_tenant.id, &prefix)
        .await
        .unwrap()
        .unwrap();
    app.services
        .state
        .publish(&Invalidation::ApiKey {
            key_hash: revoked.key_hash,
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(
        app.post("/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        401
    );
    app.shutdown().await;
}
