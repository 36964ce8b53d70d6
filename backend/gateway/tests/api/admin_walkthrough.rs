//! docs/admin-api.md's walkthrough, run as written: the script behind it signs in, creates a team and a key,
//! calls the proxy with the key, reads the audit log, revokes the key and sees the proxy refuse it.

use crate::helpers::{MODEL, TEST_PASSWORD, spawn_app};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_walkthrough_runs() {
    let app = spawn_app().await;
    app.create_user("walker@example.com", "owner", None).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/admin-walkthrough.sh"
    );
    let address = app.address.clone();

    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(script)
            .env("GATEWAY_URL", address)
            .env("ADMIN_EMAIL", "walker@example.com")
            .env("ADMIN_PASSWORD", TEST_PASSWORD)
            .env("WALKTHROUGH_MODEL", MODEL)
            .output()
    })
    .await
    .unwrap()
    .expect("bash runs");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "walkthrough failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().last(), Some("WALKTHROUGH OK"), "{stdout}");
    assert!(
        stdout.contains("Mock reply"),
        "the proxied call answered: {stdout}"
    );
    app.shutdown().await;
}
