//! Signing in: tokens and cookies, refresh rotation and reuse detection, logout, password change, expiry,
//! brute-force limiting.

use crate::helpers::{TEST_PASSWORD, TestOptions, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/auth/refresh", app.address))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

async fn code_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_creates_an_owner_and_login_gives_tokens_and_strict_cookies() {
    let app = spawn_app().await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let owners = switchyard::store::entities::user::Entity::find()
        .count(app.services.repo.db())
        .await
        .unwrap();
    assert_eq!(owners, 1, "the first owner exists from the first start");
    app.create_user("ada@example.com", "admin", None).await;

    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": " Ada@Example.com ", "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("sy_access=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("sy_refresh=")
            && c.contains("HttpOnly")
            && c.contains("Path=/api/v1/auth")),
        "{cookies:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert!(body["user"].get("password_hash").is_none());
    let me: Value = app
        .admin(
            body["access_token"].as_str().unwrap(),
            Method::GET,
            "/auth/me",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["tenant"]["slug"], "default");
    // The cookie alone authenticates a browser.
    let access_cookie = cookies
        .iter()
        .find(|c| c.starts_with("sy_access="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let via_cookie = app
        .client
        .get(format!("{}/api/v1/auth/me", app.address))
        .header("cookie", access_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(via_cookie.status(), 200);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_one_401_and_repeated_failures_a_429() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.admin.login_attempts = 3),
        ..TestOptions::default()
    })
    .await;
    app.create_user("bob@example.com", "viewer", None).await;
    let attempt = |email: &'static str, password: &'static str| {
        app.client
            .post(format!("{}/api/v1/auth/login", app.address))
            .json(&json!({"email": email, "password": password}))
            .send()
    };

    assert_eq!(
        code_of(
            attempt("bob@example.com", "wrong password!!")
                .await
                .unwrap()
        )
        .await,
        (401, "invalid_credentials".into())
    );
    assert_eq!(
        code_of(
            attempt("nobody@example.com", "wrong password!!")
                .await
                .unwrap()
        )
        .await,
        (401, "invalid_credentials".into())
    );
    for _ in 0..2 {
        attempt("bob@example.com", "wrong password!!")
            .await
            .unwrap();
    }
    let blocked = attempt("bob@example.com", TEST_PASSWORD).await.unwrap();
    assert!(blocked.headers().get("retry-after").is_some());
    assert_eq!(
        code_of(blocked).await,
        (429, "too_many_requests".into()),
        "even the right password waits"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_session() {
    let app = spawn_app().await;
    app.create_user("cy@example.com", "developer", None).await;
    let login = app.login("cy@example.com", TEST_PASSWORD).await;
    let first = login["refresh_token"].as_str().unwrap().to_owned();

    let rotated: Value = refresh(&app, &first).await.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        app.admin(
            rotated["access_token"].as_str().unwrap(),
            Method::GET,
            "/auth/me",
            None
        )
        .await
        .status(),
        200
    );

    // Someone replays the first token: reuse is detected and the family dies, including the newest token.
    assert_eq!(
        code_of(refresh(&app, &first).await).await,
        (401, "refresh_token_reused".into())
    );
    assert_eq!(
        code_of(refresh(&app, &second).await).await,
        (401, "invalid_refresh_token".into())
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_password_change_end_sessions() {
    let app = spawn_app().await;
    app.create_user("dee@example.com", "admin", None).await;
    let laptop = app.login("dee@example.com", TEST_PASSWORD).await;
    let phone = app.login("dee@example.com", TEST_PASSWORD).await;
    let tablet = app.login("dee@example.com", TEST_PASSWORD).await;

    // Logout ends that session only.
    assert_eq!(
        app.admin(
            tablet["access_token"].as_str().unwrap(),
            Method::POST,
            "/auth/logout",
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        code_of(refresh(&app, tablet["refresh_token"].as_str().unwrap()).await)
            .await
            .0,
        401
    );

    // A password change signs out every other session, keeps this one.
    let laptop_token = laptop["access_token"].as_str().unwrap();
    let weak = app
        .admin(
            laptop_token,
            Method::POST,
            "/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": "short"})),
        )
        .await;
    let weak_body: Value = weak.json().await.unwrap();
    assert_eq!(weak_body["error"]["details"]["field"], "new_password");
    let changed = app.admin(laptop_token, Method::POST, "/auth/password", Some(json!({"current_password": TEST_PASSWORD, "new_password": "a much better passphrase"}))).await;
    assert_eq!(changed.status(), 204);
    assert_eq!(
        code_of(refresh(&app, phone["refresh_token"].as_str().unwrap()).await)
            .await
            .0,
        401,
        "other sessions are revoked"
    );
    assert_eq!(
        refresh(&app, laptop["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200,
        "this session continues"
    );
    app.login("dee@example.com", "a much better passphrase")
        .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_forged_access_token_is_refused() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.admin.access_token_ttl = Duration::from_secs(1)),
        ..TestOptions::default()
    })
    .await;
    let (_, token) = app.token_for("eve@example.com", "owner").await;
    assert_eq!(
        app.admin(&token, Method::GET, "/auth/me", None)
            .await
            .status(),
        200
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        code_of(app.admin(&token, Method::GET, "/auth/me", None).await).await,
        (401, "token_expired".into())
    );
    let mut forged = token.clone();
    forged.pop();
    forged.push('x');
    assert_eq!(
        code_of(app.admin(&forged, Method::GET, "/auth/me", None).await)
            .await
            .0,
        401
    );
    assert_eq!(
        code_of(
            app.client
                .get(format!("{}/api/v1/teams", app.address))
                .send()
                .await
                .unwrap()
        )
        .await,
        (401, "missing_token".into())
    );
    app.shutdown().await;
}
