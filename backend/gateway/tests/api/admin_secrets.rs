//! Secrets never reach a log line: the real binary runs with debug logging while a user signs in, refreshes,
//! creates and uses an API key through a provider with its own credential, and changes their password; then
//! its captured output is searched for every one of those secrets.

use crate::helpers::{Mode, TestDatabase, chat_body, http_client, redis_url, start_mock};
use crate::shutdown::switchyard;
use mock_provider::MockConfig;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_the_logs() {
    let db = TestDatabase::create(Mode::Production).await;
    let mock = start_mock(MockConfig::default()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin_password = format!("first-owner-{}", Uuid::now_v7().simple());
    let provider_key = format!("sk-provider-{}", Uuid::now_v7().simple());
    let envs: Vec<(String, String)> = vec![
        ("SWITCHYARD_DATABASE_URL".into(), db.url.clone()),
        ("SWITCHYARD_REDIS_URL".into(), redis_url()),
        // The mock provider is on loopback, which the egress policy refuses unless allowed.
        (
            "SWITCHYARD_EGRESS__ALLOWED_NETWORKS".into(),
            "[\"127.0.0.1\"]".into(),
        ),
        (
            "SWITCHYARD_REDIS_PREFIX".into(),
            format!("sytest-{}", Uuid::now_v7().simple()),
        ),
        (
            "SWITCHYARD_DATA_DIR".into(),
            db.dir().join("data").display().to_string(),
        ),
        ("SWITCHYARD_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("SWITCHYARD_ADMIN_EMAIL".into(), "root@example.com".into()),
        ("SWITCHYARD_ADMIN_PASSWORD".into(), admin_password.clone()),
        ("SWITCHYARD_ADMIN__SECURE_COOKIES".into(), "false".into()),
        (
            "SWITCHYARD_PROVIDER_KEY_UPSTREAM".into(),
            provider_key.clone(),
        ),
        ("RUST_LOG".into(), "debug".into()),
    ];
    switchyard(
        &envs,
        &[
            "providers",
            "add",
            "--name",
            "mock",
            "--base-url",
            &mock.base_url(),
            "--api-key-env",
            "SWITCHYARD_PROVIDER_KEY_UPSTREAM",
        ],
    );
    switchyard(
        &envs,
        &[
            "models",
            "add",
            "--model",
            "gpt-test",
            "--provider",
            "mock",
            "--upstream-model",
            "mock-gpt",
        ],
    );
    let log_path = db.dir().join("gateway.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("serve")
        .envs(envs.iter().cloned())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let client = http_client();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "root@example.com", "password": admin_password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    let refreshed: Value = client
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let teams: Value = client
        .get(format!("{base}/api/v1/teams"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let team_id = teams["data"][0]["id"].clone();
    let key: Value = client
        .post(format!("{base}/api/v1/keys"))
        .bearer_auth(&access)
        .json(&json!({"name": "logged", "team_id": team_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().expect("a key").to_owned();
    let call = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&secret)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    assert_eq!(
        mock.received()[0].header("authorization"),
        Some(format!("Bearer {provider_key}").as_str()),
        "the provider got its credential"
    );
    let new_password = format!("second-password-{}", Uuid::now_v7().simple());
    let changed = client
        .post(format!("{base}/api/v1/auth/password"))
        .bearer_auth(&access)
        .json(&json!({"current_password": admin_password, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    let _ = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "root@example.com", "password": "a wrong password"}))
        .send()
        .await;

    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("DEBUG") || log.contains("INFO"),
        "logs were captured: {} bytes",
        log.len()
    );
    let secrets = [
        ("the first owner's password", admin_password.as_str()),
        ("the new password", new_password.as_str()),
        ("the API key", secret.as_str()),
        ("the provider key", provider_key.as_str()),
        ("an access token", access.as_str()),
        ("a refresh token", login["refresh_token"].as_str().unwrap()),
        (
            "a rotated refresh token",
            refreshed["refresh_token"].as_str().unwrap(),
        ),
    ];
    for (what, value) in secrets {
        assert!(!log.contains(value), "{what} leaked into the logs");
    }
    mock.stop().await;
    db.drop_now().await;
}
