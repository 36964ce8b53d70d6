//! The request log's tenant settings: bodies captured with personal data redacted when a tenant asks for it, and
//! a tenant's own retention removing its old raw events (and nobody else's) while its roll-ups stay.

use crate::helpers::{chat_body, spawn_app};
use crate::usage_fixtures::{Fixture, other_tenant, random_events, seeded};
use chrono::{Duration as Days, Utc};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::time::Duration;
use switchyard::store::entities::usage_event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_captures_bodies_gets_them_redacted_in_its_request_log() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    // Off by default: nothing but metadata.
    let plain = app.post("/v1/chat/completions", &chat_body(false)).await;
    let plain_id = plain.headers()["x-request-id"].to_str().unwrap().to_owned();

    let bad = app
        .admin(
            &token,
            Method::PATCH,
            "/tenant",
            Some(json!({"request_log_retention_days": 7})),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let tenant = app
        .admin_json(
            &token,
            Method::PATCH,
            "/tenant",
            Some(json!({"capture_bodies": true, "request_log_retention_days": 35})),
            200,
        )
        .await;
    assert_eq!(tenant["capture_bodies"], true);
    assert_eq!(tenant["request_log_retention_days"], 35);

    let mut body = chat_body(false);
    body["messages"][0]["content"] =
        json!("Write to jane.doe@example.com, card 4111 1111 1111 1111");
    let whole = app.post("/v1/chat/completions", &body).await;
    assert_eq!(whole.status(), 200);
    let whole_id = whole.headers()["x-request-id"].to_str().unwrap().to_owned();
    body["stream"] = json!(true);
    let streamed = app.post("/v1/chat/completions", &body).await;
    let streamed_id = streamed.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    streamed.text().await.unwrap();
    assert_eq!(app.wait_for_usage(3, Duration::from_secs(5)).await, 3);

    for id in [&whole_id, &streamed_id] {
        let row = app
            .admin_json(&token, Method::GET, &format!("/requests/{id}"), None, 200)
            .await;
        let request = row["bodies"]["request"].as_str().unwrap();
        let response = row["bodies"]["response"].as_str().unwrap();
        assert!(request.contains("Write to [REDACTED]"), "{request}");
        assert!(
            !request.contains("jane.doe") && !request.contains("4111"),
            "{request}"
        );
        // The mock echoes the prompt, so the answer is redacted too.
        assert!(response.contains("Mock reply"), "{response}");
        assert!(
            !response.contains("jane.doe") && !response.contains("4111"),
            "{response}"
        );
    }
    let plain_row = app
        .admin_json(
            &token,
            Method::GET,
            &format!("/requests/{plain_id}"),
            None,
            200,
        )
        .await;
    assert_eq!(plain_row["bodies"], serde_json::Value::Null);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_own_retention_removes_only_its_old_raw_events_and_keeps_its_reports() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let fixture = Fixture::create(&app).await;
    let (mut rng, _) = seeded();
    let now = Utc::now();
    // Old and recent events of this tenant, and old events of a tenant without its own retention.
    let old = random_events(&mut rng, &fixture, 20, now - Days::days(50), Days::days(2));
    let recent = random_events(&mut rng, &fixture, 10, now - Days::days(3), Days::days(1));
    let other = other_tenant(&app).await;
    let mut others = random_events(&mut rng, &fixture, 5, now - Days::days(50), Days::days(2));
    for event in &mut others {
        event.tenant_id = other;
    }
    let repo = &app.services.repo;
    for batch in [&old, &recent, &others] {
        repo.insert_usage_events(batch).await.unwrap();
    }
    let report_path = format!(
        "/reports/chargeback?from={}&to={}&group_by=team",
        (now - Days::days(55)).format("%Y-%m-%d"),
        (now + Days::days(1)).format("%Y-%m-%d")
    );
    let before = app
        .admin_json(&token, Method::GET, &report_path, None, 200)
        .await;

    app.admin_json(
        &token,
        Method::PATCH,
        "/tenant",
        Some(json!({"request_log_retention_days": 35})),
        200,
    )
    .await;
    let removed = switchyard::usage::maintenance::expire_tenants(repo, now)
        .await
        .unwrap();
    assert_eq!(removed, 20);
    let count = |tenant| {
        usage_event::Entity::find()
            .filter(usage_event::Column::TenantId.eq(tenant))
            .count(repo.db())
    };
    assert_eq!(count(fixture.tenant_id).await.unwrap(), 10);
    assert_eq!(
        count(other).await.unwrap(),
        5,
        "another tenant's events are untouched"
    );
    // Reports read the roll-ups, so the expired month still adds up.
    let after = app
        .admin_json(&token, Method::GET, &report_path, None, 200)
        .await;
    assert_eq!(before["totals"], after["totals"]);
    app.shutdown().await;
}
