//! SaaS mode: self-service sign-up, and tenants created by platform operators; neither exists in
//! self-hosted mode.

use crate::helpers::{TestOptions, spawn_app, spawn_app_with};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};
use switchyard::config::TenancyMode;

fn saas() -> TestOptions {
    TestOptions {
        tweak: Box::new(|s| s.admin.mode = TenancyMode::Saas),
        ..TestOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_creates_a_tenant_with_its_owner_signed_in() {
    let app = spawn_app_with(saas()).await;
    let signup = |email: &'static str, org: &'static str| {
        app.client
            .post(format!("{}/api/v1/auth/signup", app.address))
            .json(
                &json!({"email": email, "password": "a long enough password", "organisation": org}),
            )
            .send()
    };

    let response = signup("founder@acme.example", "Acme Corp").await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["role"].as_str(), body["tenant"]["slug"].as_str()),
        (Some("owner"), Some("acme-corp"))
    );
    let token = body["access_token"].as_str().unwrap();
    let teams: Value = app
        .admin(token, Method::GET, "/teams", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        teams["data"][0]["slug"], "default",
        "a new tenant starts with a default team"
    );
    // The new tenant sees nothing of the default tenant.
    let members: Value = app
        .admin(token, Method::GET, "/members", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["data"].as_array().unwrap().len(), 1);

    assert_eq!(
        signup("founder@acme.example", "Other")
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        signup("other@acme.example", "Acme Corp")
            .await
            .unwrap()
            .status(),
        409,
        "slug taken"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_operators_create_tenants_and_others_may_not() {
    let app = spawn_app_with(saas()).await;
    let (operator_id, operator) = app.token_for("ops@example.com", "owner").await;
    let (_, plain_owner) = app.token_for("owner@example.com", "owner").await;
    let row = switchyard::store::entities::user::Entity::find_by_id(operator_id)
        .one(app.services.repo.db())
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    active.is_platform_admin = Set(true);
    active.update(app.services.repo.db()).await.unwrap();

    let body = json!({"name": "Globex", "slug": "globex", "owner_email": "hank@globex.example", "currency": "EUR"});
    assert_eq!(
        app.admin(
            &plain_owner,
            Method::POST,
            "/platform/tenants",
            Some(body.clone())
        )
        .await
        .status(),
        403
    );
    let created = app
        .admin(&operator, Method::POST, "/platform/tenants", Some(body))
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let otp = created["owner_one_time_password"]
        .as_str()
        .expect("a new owner gets a one-time password");
    let login: Value = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": "hank@globex.example", "password": otp, "tenant": "globex"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (login["tenant"]["slug"].as_str(), login["role"].as_str()),
        (Some("globex"), Some("owner"))
    );
    let tenant: Value = app
        .admin(
            login["access_token"].as_str().unwrap(),
            Method::GET,
            "/tenant",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["currency"], "EUR");
    let listed: Value = app
        .admin(&operator, Method::GET, "/platform/tenants", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_hosted_mode_has_no_sign_up_or_tenant_creation() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let signup = app.client.post(format!("{}/api/v1/auth/signup", app.address)).json(&json!({"email": "x@example.com", "password": "a long enough password", "organisation": "X"})).send().await.unwrap();
    assert_eq!(signup.status(), 404);
    assert_eq!(
        app.admin(&token, Method::GET, "/platform/tenants", None)
            .await
            .status(),
        404
    );
    app.shutdown().await;
}
