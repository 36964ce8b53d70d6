//! The official OpenAI Python SDK against the gateway, unchanged but for `base_url` and `api_key`. The test
//! command (scripts/test.sh) installs it into a throwaway virtualenv and sets `SWITCHYARD_TEST_PYTHON`.

use crate::helpers::{CLAUDE_MODEL, GEMINI_MODEL, MODEL, spawn_app};
use crate::translation::app_with_kinds;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_sdk_works_unchanged() {
    let app = spawn_app().await;
    run_sdk_script(
        "openai_python_sdk.py",
        vec![
            ("GATEWAY_BASE_URL", format!("{}/v1", app.address)),
            ("GATEWAY_API_KEY", app.key.clone()),
            ("GATEWAY_MODEL", MODEL.to_owned()),
        ],
    )
    .await;
    // chat, stream with usage, stream without usage, tools, embeddings = 5 billed calls.
    assert_eq!(app.wait_for_usage(5, Duration::from_secs(5)).await, 5);
    app.shutdown().await;
}

/// Runs one of the SDK scripts with `env`; panics with its output unless it passes.
async fn run_sdk_script(script: &'static str, env: Vec<(&'static str, String)>) {
    let python = std::env::var("SWITCHYARD_TEST_PYTHON").expect(
        "SWITCHYARD_TEST_PYTHON must point at a Python with the `openai` and `anthropic` packages; run the suite with scripts/test.sh",
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR")))
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("ALL SDK CHECKS PASSED"),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_anthropic_python_sdk_works_unchanged_whatever_serves_the_model() {
    let (app, anthropic, _gemini) = app_with_kinds().await;
    // An OpenAI-compatible provider (two translations: Anthropic to OpenAI and back) and an Anthropic one.
    for model in [MODEL, CLAUDE_MODEL.0] {
        run_sdk_script(
            "anthropic_python_sdk.py",
            vec![
                ("GATEWAY_ROOT_URL", app.address.clone()),
                ("GATEWAY_API_KEY", app.key.clone()),
                ("GATEWAY_MODEL", model.to_owned()),
            ],
        )
        .await;
    }
    // message, stream, raw stream, tool use, tool result, streamed tool use = 6 billed calls per model.
    assert_eq!(app.wait_for_usage(12, Duration::from_secs(5)).await, 12);
    assert_eq!(anthropic.received().len(), 6);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_sdk_works_unchanged_against_claude_and_gemini_models() {
    let (app, anthropic, gemini) = app_with_kinds().await;
    for model in [CLAUDE_MODEL.0, GEMINI_MODEL.0] {
        run_sdk_script(
            "openai_python_sdk.py",
            vec![
                ("GATEWAY_BASE_URL", format!("{}/v1", app.address)),
                ("GATEWAY_API_KEY", app.key.clone()),
                ("GATEWAY_MODEL", model.to_owned()),
                ("GATEWAY_EMBEDDINGS", "0".to_owned()),
            ],
        )
        .await;
    }
    // chat, stream with usage, stream without usage, tools = 4 billed calls per model.
    assert_eq!(app.wait_for_usage(8, Duration::from_secs(5)).await, 8);
    assert_eq!(anthropic.received().len(), 4);
    assert_eq!(gemini.received().len(), 4);
    app.shutdown().await;
}
