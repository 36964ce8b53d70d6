//! The official OpenAI Python SDK against the gateway, unchanged but for `base_url` and `api_key`. The test
//! command (scripts/test.sh) installs it into a throwaway virtualenv and sets `SWITCHYARD_TEST_PYTHON`.

use crate::helpers::{MODEL, spawn_app};
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_sdk_works_unchanged() {
    let python = std::env::var("SWITCHYARD_TEST_PYTHON").expect(
        "SWITCHYARD_TEST_PYTHON must point at a Python with the `openai` package; run the suite with scripts/test.sh",
    );
    let app = spawn_app().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/openai_python_sdk.py"
    );

    let address = app.address.clone();
    let key = app.key.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("GATEWAY_BASE_URL", format!("{address}/v1"))
            .env("GATEWAY_API_KEY", key)
            .env("GATEWAY_MODEL", MODEL)
            .output()
    })
    .await
    .unwrap()
    .expect("run python");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ALL SDK CHECKS PASSED"), "{stdout}");
    // chat, stream with usage, stream without usage, tools, embeddings = 5 billed calls.
    assert_eq!(app.wait_for_usage(5, Duration::from_secs(5)).await, 5);
    app.shutdown().await;
}
