//! `GET /metrics` after a known sequence of calls: requests, tokens and cost by tenant / model / provider /
//! status, duration and time-to-first-token histograms, attempts by deployment, circuit state, the usage
//! pipeline; and the optional bearer token.

use crate::helpers::{MODEL, TestApp, TestOptions, chat_body, spawn_app_with};
use serde_json::json;
use std::time::Duration;

/// The value of the one sample of `name` whose labels include every `label="value"` given.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{') | Some(b' '))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}/metrics", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_known_sequence_of_calls_by_tenant_model_provider_and_status() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| {
            s.metrics.bearer_token = Some(switchyard::config::SecretValue("scrape-me".into()));
        }),
        ..TestOptions::default()
    })
    .await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let budget = app
        .admin_json(
            &token,
            reqwest::Method::POST,
            "/budgets",
            Some(json!({"name": "monthly cap", "scope_type": "tenant", "period": "monthly", "limit": "0.5"})),
            201,
        )
        .await;
    app.services.limits.budgets().reload().await.unwrap();
    // Two answered calls (one streamed), one the provider fails, one refused before routing.
    assert_eq!(
        app.post("/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    let streamed = app.post("/v1/chat/completions", &chat_body(true)).await;
    assert_eq!(streamed.status(), 200);
    streamed.text().await.unwrap();
    let failed = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-status", "500")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);
    let mut unknown = chat_body(false);
    unknown["model"] = json!("no-such-model");
    assert_eq!(
        app.post("/v1/chat/completions", &unknown).await.status(),
        404
    );
    assert_eq!(app.wait_for_usage(3, Duration::from_secs(5)).await, 3);

    // Budget utilisation is the recorded spend of the period as of the last reconciliation.
    app.services.limits.reconcile_once().await;

    // The token is required once set.
    assert_eq!(scrape(&app, None).await.status(), 401);
    assert_eq!(scrape(&app, Some("wrong")).await.status(), 401);
    let response = scrape(&app, Some("scrape-me")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();

    let tenant = app.services.default_tenant.id.to_string();
    let call = |status: &str, outcome: &str| {
        sample(
            &text,
            "switchyard_requests_total",
            &[
                ("tenant", &tenant),
                ("model", MODEL),
                ("provider", "mock"),
                ("endpoint", "chat.completions"),
                ("status", status),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(call("200", "ok"), Some(2.0), "{text}");
    assert_eq!(call("502", "upstream_error"), Some(1.0));
    // The refused call never reached routing: no series for its model.
    assert!(!text.contains("no-such-model"));

    let rows = app.usage_rows().await;
    let input: i64 = rows.iter().map(|r| r.input_tokens).sum();
    let output: i64 = rows.iter().map(|r| r.output_tokens).sum();
    let cost: i64 = rows.iter().map(|r| r.cost_picos).sum();
    let tokens = |kind: &str| {
        sample(
            &text,
            "switchyard_tokens_total",
            &[("tenant", &tenant), ("model", MODEL), ("kind", kind)],
        )
    };
    assert_eq!(tokens("input"), Some(input as f64));
    assert_eq!(tokens("output"), Some(output as f64));
    let billed = sample(
        &text,
        "switchyard_cost_total",
        &[("tenant", &tenant), ("model", MODEL)],
    )
    .unwrap();
    assert!(
        (billed - cost as f64 / 1e12).abs() < 1e-9,
        "{billed} vs {cost} picos"
    );

    let deployment = rows[0].deployment_id.unwrap().to_string();
    let attempts = |result: &str| {
        sample(
            &text,
            "switchyard_upstream_attempts_total",
            &[("deployment", &deployment), ("result", result)],
        )
    };
    assert_eq!(attempts("ok"), Some(2.0));
    assert_eq!(attempts("upstream_error"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "switchyard_request_duration_seconds_count",
            &[("model", MODEL), ("endpoint", "chat.completions")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "switchyard_time_to_first_token_seconds_count",
            &[("model", MODEL)]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "switchyard_deployment_circuit_state",
            &[("deployment", &deployment), ("model", MODEL)]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "switchyard_deployment_in_flight",
            &[("deployment", &deployment)]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "switchyard_usage_queue_depth", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "switchyard_usage_spool_files", &[]),
        Some(0.0)
    );
    assert!(sample(&text, "switchyard_usage_events_written", &[]).is_some_and(|n| n >= 3.0));
    assert_eq!(
        sample(&text, "switchyard_metrics_label_overflow_total", &[]),
        Some(0.0)
    );
    let budget_id = budget["id"].as_str().unwrap();
    let utilisation = sample(
        &text,
        "switchyard_budget_utilisation_ratio",
        &[("budget", budget_id), ("name", "monthly cap")],
    )
    .unwrap();
    assert!(
        (utilisation - (cost as f64 / 1e12) / 0.5).abs() < 1e-9,
        "{utilisation}"
    );
    assert_eq!(
        sample(&text, "switchyard_budget_limit", &[("budget", budget_id)]),
        Some(0.5)
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_saas_mode_metrics_are_served_only_with_a_token() {
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.admin.mode = switchyard::config::TenancyMode::Saas),
        ..TestOptions::default()
    })
    .await;
    let response = scrape(&app, None).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bearer_token")
    );
    app.shutdown().await;
}
