//! Tenant isolation: a user of tenant A tries every endpoint against tenant B's ids. Every answer is 404 and
//! nothing of B changes; A's lists never show B's rows.

use crate::helpers::spawn_app;
use reqwest::Method;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
use serde_json::json;
use switchyard::store::entities::{api_key, membership, team};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_a_cannot_see_or_touch_anything_of_tenant_b() {
    // Arrange: tenant B with a team, a member and a key.
    let app = spawn_app().await;
    let db = app.services.repo.db();
    let now = chrono::Utc::now();
    let b = app.create_tenant("tenant-b").await;
    let b_team = team::Model {
        id: Uuid::now_v7(),
        tenant_id: b.id,
        slug: "b-team".into(),
        name: "B team".into(),
        created_at: now,
        updated_at: now,
        allowed_regions: None,
        rpm_limit: None,
        tpm_limit: None,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    let b_user = app
        .create_user("b-owner@example.com", "owner", Some(b.id))
        .await;
    let b_key = switchyard::keys::new_row(
        b.id,
        b_team.id,
        "b-key".into(),
        &switchyard::keys::generate(),
        None,
    )
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    let b_provider = switchyard::store::entities::provider::Model {
        id: Uuid::now_v7(),
        tenant_id: b.id,
        name: "b-provider".into(),
        kind: "openai".into(),
        base_url: "http://127.0.0.1:9/v1".into(),
        api_key_env: None,
        created_at: now,
        updated_at: now,
        api_key_ciphertext: None,
        api_key_hint: None,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    let b_deployment = switchyard::store::entities::deployment::Model {
        id: Uuid::now_v7(),
        tenant_id: b.id,
        public_model: "b-model".into(),
        provider_id: b_provider.id,
        upstream_model: "m".into(),
        region: "eu".into(),
        input_price_micros: 1,
        output_price_micros: 1,
        cached_input_price_micros: None,
        created_at: now,
        updated_at: now,
        price_source: "deployment".into(),
        weight: 1,
        priority: 0,
        rpm_limit: None,
        tpm_limit: None,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    let (bp, bd) = (b_provider.id, b_deployment.id);
    let b_budget = switchyard::store::entities::budget::Model {
        id: Uuid::now_v7(),
        tenant_id: b.id,
        name: "B budget".into(),
        scope_type: "tenant".into(),
        scope_id: None,
        tag_key: None,
        tag_value: None,
        period: "monthly".into(),
        limit_picos: 5,
        soft_thresholds: json!([]),
        hard_limit: true,
        webhook_url: None,
        webhook_secret_ciphertext: None,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    let bb = b_budget.id;
    let (a_user, a) = app.token_for("a-owner@example.com", "owner").await;
    let a_team = app.services.default_team.id;
    let (bt, bk, bu) = (b_team.id, b_key.id, b_user);

    // Act + assert: every endpoint with a B id is a 404.
    let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/teams/{bt}"), None),
        (
            Method::PATCH,
            format!("/teams/{bt}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/teams/{bt}"), None),
        (Method::GET, format!("/teams/{bt}/members"), None),
        (Method::PUT, format!("/teams/{bt}/members/{a_user}"), None),
        (Method::DELETE, format!("/teams/{bt}/members/{bu}"), None),
        (Method::PUT, format!("/teams/{a_team}/members/{bu}"), None),
        (Method::GET, format!("/keys/{bk}"), None),
        (
            Method::PATCH,
            format!("/keys/{bk}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::POST, format!("/keys/{bk}/revoke"), None),
        (
            Method::POST,
            format!("/keys/{bk}/rotate"),
            Some(json!({"grace_seconds": 0})),
        ),
        (
            Method::PATCH,
            format!("/members/{bu}"),
            Some(json!({"role": "viewer"})),
        ),
        (Method::DELETE, format!("/members/{bu}"), None),
        (
            Method::PATCH,
            format!("/providers/{bp}"),
            Some(json!({"base_url": "http://evil.example/v1"})),
        ),
        (Method::DELETE, format!("/providers/{bp}"), None),
        (
            Method::PATCH,
            format!("/deployments/{bd}"),
            Some(json!({"input_price": "0"})),
        ),
        (Method::DELETE, format!("/deployments/{bd}"), None),
        (Method::GET, format!("/budgets/{bb}"), None),
        (
            Method::PATCH,
            format!("/budgets/{bb}"),
            Some(json!({"limit": "999"})),
        ),
        (Method::DELETE, format!("/budgets/{bb}"), None),
    ];
    for (method, path, body) in attempts {
        let response = app.admin(&a, method.clone(), &path, body).await;
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    // A key in B's team cannot be created from A either.
    assert_eq!(
        app.admin(
            &a,
            Method::POST,
            "/keys",
            Some(json!({"name": "x", "team_id": bt}))
        )
        .await
        .status(),
        400
    );
    assert_eq!(app.admin(&a, Method::POST, "/budgets", Some(json!({"name": "x", "scope_type": "team", "scope_id": bt, "period": "daily", "limit": "1"}))).await.status(), 400);
    assert_eq!(app.admin(&a, Method::POST, "/deployments", Some(json!({"model": "x", "provider_id": bp, "upstream_model": "y", "region": "eu", "input_price": "1", "output_price": "1"}))).await.status(), 400);
    for list in [
        "/teams",
        "/keys?include_revoked=true",
        "/members",
        "/audit",
        "/providers",
        "/deployments",
        "/budgets",
    ] {
        let body = app
            .admin(&a, Method::GET, list, None)
            .await
            .text()
            .await
            .unwrap();
        for id in [
            bt.to_string(),
            bk.to_string(),
            bu.to_string(),
            b.id.to_string(),
            bp.to_string(),
            bd.to_string(),
            bb.to_string(),
        ] {
            assert!(!body.contains(&id), "{list} leaks {id}");
        }
    }

    // Nothing of B changed.
    assert_eq!(
        team::Entity::find_by_id(bt)
            .one(db)
            .await
            .unwrap()
            .unwrap()
            .name,
        "B team"
    );
    let key = api_key::Entity::find_by_id(bk)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert!(key.revoked_at.is_none() && key.replaced_by.is_none() && key.name == "b-key");
    let roles: Vec<String> = membership::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.user_id == bu)
        .map(|m| m.role)
        .collect();
    assert_eq!(roles, vec!["owner".to_owned()]);
    let provider = switchyard::store::entities::provider::Entity::find_by_id(bp)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(provider.base_url, "http://127.0.0.1:9/v1");
    let deployment = switchyard::store::entities::deployment::Entity::find_by_id(bd)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deployment.input_price_micros, 1);
    let budget = switchyard::store::entities::budget::Entity::find_by_id(bb)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(budget.limit_picos, 5);
    app.shutdown().await;
}
