//! The web console's files as the gateway serves them, and the admin API fields the console shows that the
//! gateway derives itself (live deployment health, a key's last use).

use std::time::Duration;

use crate::helpers::{TestOptions, chat_body, spawn_app_with};
use serde_json::Value;

/// A built console in a temporary directory: an index, a script and the script's gzip sibling.
fn console_dir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sy-console-test-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>console</title>",
    )
    .unwrap();
    std::fs::write(dir.join("app.js"), "console.log('plain');").unwrap();
    // Not real gzip: the gateway passes the sibling's bytes through and labels them, it never decodes them.
    std::fs::write(dir.join("app.js.gz"), b"\x1f\x8bgzipped-bytes").unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_at_the_root_with_client_routes_and_gzip_and_never_hides_an_api_404()
{
    let dir = console_dir();
    let console = dir.clone();
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(move |s| s.console_dir = console),
        ..TestOptions::default()
    })
    .await;
    let get = |path: &str, gzip: bool| {
        let mut request = app.client.get(format!("{}{path}", app.address));
        if gzip {
            request = request.header("accept-encoding", "gzip, br");
        }
        request.send()
    };

    for path in ["/", "/teams", "/chargeback/extra", "/login"] {
        let response = get(path, false).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert_eq!(headers["cache-control"], "no-cache");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers.get("content-disposition").is_none(),
            "{path} must not download"
        );
        assert_eq!(
            response.text().await.unwrap(),
            "<!doctype html><title>console</title>"
        );
    }

    let plain = get("/app.js", false).await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.text().await.unwrap(), "console.log('plain');");

    let gzipped = get("/app.js", true).await.unwrap();
    assert_eq!(gzipped.status(), 200);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert!(
        gzipped.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(gzipped.headers().get("content-disposition").is_none());
    assert_eq!(
        gzipped.bytes().await.unwrap().as_ref(),
        b"\x1f\x8bgzipped-bytes"
    );

    // Hidden files and paths that climb out of the directory are never files: they get the index. The paths
    // are sent as raw bytes, since an HTTP client would normalise `..` away before sending.
    std::fs::write(dir.join(".env"), "SECRET=1").unwrap();
    let parent = dir.parent().unwrap();
    let sentinel = format!("sy-console-outside-{}.txt", uuid::Uuid::now_v7().simple());
    std::fs::write(parent.join(&sentinel), "OUTSIDE THE CONSOLE").unwrap();
    let dir_name = dir.file_name().unwrap().to_str().unwrap().to_owned();
    for path in [
        "/.env".to_owned(),
        format!("/../{sentinel}"),
        format!("/%2e%2e/{sentinel}"),
        format!("/..%2f{sentinel}"),
        format!("/./../{dir_name}/../{sentinel}"),
    ] {
        let body = raw_get(&app.address, &path).await;
        assert!(
            !body.contains("OUTSIDE THE CONSOLE") && !body.contains("SECRET"),
            "{path}: {body}"
        );
        assert!(
            body.ends_with("<!doctype html><title>console</title>")
                || body.starts_with("HTTP/1.1 404"),
            "{path}: {body}"
        );
    }
    let _ = std::fs::remove_file(parent.join(&sentinel));

    // The APIs keep their JSON 404s, and the console never answers anything but GET and HEAD.
    for (method, path) in [
        (reqwest::Method::GET, "/v1/nope"),
        (reqwest::Method::GET, "/v1"),
        (reqwest::Method::GET, "/api/nope"),
        (reqwest::Method::GET, "/api/v1/nope"),
        (reqwest::Method::POST, "/"),
        (reqwest::Method::DELETE, "/teams"),
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"].is_string(),
            "{method} {path}: {body}"
        );
    }
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A `GET` of `path` exactly as written, over a plain TCP connection; the whole answer as text.
async fn raw_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_built_console_the_root_is_a_json_404() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.console_dir = std::env::temp_dir().join("sy-no-console-here")),
        ..TestOptions::default()
    })
    .await;
    let response = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_show_live_health_and_keys_their_last_use() {
    let app = spawn_app_with(TestOptions::default()).await;
    let (_, token) = app.token_for("health-owner@example.com", "owner").await;
    let keys = app
        .admin_json(&token, reqwest::Method::GET, "/keys?limit=200", None, 200)
        .await;
    let prefix = &app.key[..14];
    let unused = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"] == *prefix)
        .unwrap()
        .clone();
    assert!(unused["last_used_at"].is_null(), "{unused}");

    let before = chrono::Utc::now();
    let response = app.post("/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    app.wait_for_usage(1, Duration::from_secs(5)).await;

    let deployments = app
        .admin_json(&token, reqwest::Method::GET, "/deployments", None, 200)
        .await;
    let served = deployments["data"].as_array().unwrap();
    assert!(!served.is_empty());
    for deployment in served {
        let health = &deployment["health"];
        assert_eq!(health["circuit"], "closed", "{deployment}");
        assert_eq!(health["available_in_ms"], 0);
        assert_eq!(health["in_flight"], 0);
    }
    assert!(
        served.iter().any(|d| d["health"]["latency_ms"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0)),
        "the deployment that answered has a latency: {deployments}"
    );

    let mut last_used = Value::Null;
    for _ in 0..50 {
        let keys = app
            .admin_json(&token, reqwest::Method::GET, "/keys?limit=200", None, 200)
            .await;
        last_used = keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["prefix"] == *prefix)
            .unwrap()["last_used_at"]
            .clone();
        if !last_used.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at: chrono::DateTime<chrono::Utc> = last_used
        .as_str()
        .expect("last_used_at is set")
        .parse()
        .unwrap();
    assert!(
        at >= before - chrono::Duration::seconds(1) && at <= chrono::Utc::now(),
        "{at}"
    );
    app.shutdown().await;
}
