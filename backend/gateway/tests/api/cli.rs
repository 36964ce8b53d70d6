//! The operator CLI on the embedded default: set a gateway up headless and use it.

use crate::helpers::{Mode, TestDatabase, start_mock};
use crate::shutdown::switchyard;
use mock_provider::MockConfig;
use std::process::Command;
use switchyard::config::Settings;
use switchyard::startup::Application;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_models_and_keys_made_with_the_cli_serve_calls_on_sqlite() {
    let db = TestDatabase::create(Mode::Embedded).await;
    let mock = start_mock(MockConfig::default()).await;
    // No database URL: the CLI and the server both use the SQLite file in the data directory.
    let data_dir = db.dir().join("data");
    let envs = vec![(
        "SWITCHYARD_DATA_DIR".to_owned(),
        data_dir.display().to_string(),
    )];

    assert!(switchyard(&envs, &["migrate"]).contains("migrations applied"));
    switchyard(
        &envs,
        &[
            "providers",
            "add",
            "--name",
            "local",
            "--type",
            "openai",
            "--base-url",
            &mock.base_url(),
            "--api-key-env",
            "SWITCHYARD_PROVIDER_KEY_LOCAL",
        ],
    );
    let added = switchyard(
        &envs,
        &[
            "models",
            "add",
            "--model",
            "chat",
            "--provider",
            "local",
            "--upstream-model",
            "mock-gpt",
            "--region",
            "eu",
            "--input-price",
            "0.075",
            "--output-price",
            "0.6",
        ],
    );
    assert!(added.contains("input 0.075"), "{added}");
    let created = switchyard(&envs, &["keys", "create", "--name", "cli-key"]);
    let secret = created.lines().last().unwrap().trim().to_owned();
    assert!(
        switchyard::keys::looks_like_key(&secret),
        "the secret is alone on the last line: {created}"
    );
    assert!(
        !switchyard(&envs, &["keys", "list"]).contains(&secret),
        "lists never show secrets"
    );
    assert!(switchyard(&envs, &["providers", "list"]).contains("$SWITCHYARD_PROVIDER_KEY_LOCAL"));
    assert!(switchyard(&envs, &["models", "list"]).contains("0.075"));

    // Errors name what is wrong and exit non-zero.
    let bad_price = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "models",
            "add",
            "--model",
            "x",
            "--provider",
            "local",
            "--upstream-model",
            "y",
            "--input-price",
            "0.00000001",
        ])
        .envs(envs.iter().cloned())
        .output()
        .unwrap();
    assert!(!bad_price.status.success());
    assert!(String::from_utf8_lossy(&bad_price.stderr).contains("--input-price"));
    let bad_env = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["keys", "list"])
        .envs(envs.iter().cloned())
        .env("SWITCHYARD_USAGE__BATCH_SIZE", "0")
        .output()
        .unwrap();
    assert!(!bad_env.status.success());
    assert!(String::from_utf8_lossy(&bad_env.stderr).contains("usage.batch_size"));

    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir,
        ..Settings::default()
    };
    // The mock provider is on loopback, which the egress policy refuses unless allowed.
    settings.egress.allowed_networks = vec!["127.0.0.1".into()];
    let app = Application::build(settings).await.unwrap();
    let port = app.port();
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    let response = crate::helpers::http_client()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .bearer_auth(&secret)
        .json(
            &serde_json::json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-region"], "eu");

    handle.stop(true).await;
    running.await.unwrap().unwrap();
    mock.stop().await;
    db.drop_now().await;
}
