//! The real binary, driven through its command line: set up with `providers add`, `models add`, `keys create`,
//! serve traffic, receive SIGTERM, and flush every queued usage event before exiting.

use crate::helpers::{MODEL, Mode, TestDatabase, chat_body, redis_url, start_mock};
use mock_provider::MockConfig;
use sea_orm::{Database, EntityTrait, PaginatorTrait};
use std::process::{Command, Stdio};
use std::time::Duration;
use switchyard::store::entities::usage_event;
use uuid::Uuid;

/// Runs `switchyard ARGS` against the test database; returns stdout, failing the test on a non-zero exit.
pub fn switchyard(envs: &[(String, String)], args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .envs(envs.iter().cloned())
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("run switchyard");
    assert!(
        output.status.success(),
        "switchyard {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_every_queued_usage_event_before_exit() {
    // Arrange: a database prepared entirely through the CLI.
    let db = TestDatabase::create(Mode::Production).await;
    let mock = start_mock(MockConfig::default()).await;
    let port = free_port();
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
        // Keep every event in memory until shutdown: only the shutdown flush can write them.
        ("SWITCHYARD_USAGE__FLUSH_INTERVAL".into(), "1h".into()),
        ("SWITCHYARD_USAGE__BATCH_SIZE".into(), "10000".into()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    switchyard(
        &envs,
        &[
            "providers",
            "add",
            "--name",
            "mock",
            "--type",
            "openai",
            "--base-url",
            &mock.base_url(),
        ],
    );
    switchyard(
        &envs,
        &[
            "models",
            "add",
            "--model",
            MODEL,
            "--provider",
            "mock",
            "--upstream-model",
            "mock-gpt",
            "--input-price",
            "0.075",
            "--output-price",
            "0.3",
        ],
    );
    let created = switchyard(&envs, &["keys", "create", "--name", "shutdown-test"]);
    let secret = created.lines().last().unwrap().trim().to_owned();
    assert!(secret.starts_with("sk-sy-"), "{created}");

    let mut server = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("serve")
        .envs(envs.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start switchyard serve");
    let client = crate::helpers::http_client();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the gateway became ready");

    // Act
    for i in 0..50 {
        let response = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&secret)
            .json(&chat_body(i % 2 == 0))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await;
    }
    let db_conn = Database::connect(&db.url).await.unwrap();
    assert_eq!(
        usage_event::Entity::find().count(&db_conn).await.unwrap(),
        0,
        "events are still queued in memory"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = server.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert
    let status = exited.expect("the gateway exited within 10 s of SIGTERM");
    assert!(status.success(), "clean exit: {status:?}");
    let rows = usage_event::Entity::find().all(&db_conn).await.unwrap();
    assert_eq!(rows.len(), 50, "every queued event was written before exit");
    // 0.075 per million input tokens: every input token costs exactly 75,000 picos.
    assert!(
        rows.iter()
            .all(|r| r.cost_picos == r.input_tokens * 75_000 + r.output_tokens * 300_000)
    );
    db_conn.close().await.ok();
    mock.stop().await;
    db.drop_now().await;
}
