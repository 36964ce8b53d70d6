//! Liveness and readiness.

use crate::helpers::spawn_app;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_alive_and_readyz_checks_database_redis_and_migrations() {
    let app = spawn_app().await;

    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["migrations"], "ok");
    assert_eq!(body["shared_state"]["kind"], "redis");
    assert_eq!(body["shared_state"]["status"], "ok");
    app.shutdown().await;
}
