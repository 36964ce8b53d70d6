//! The routing engine end to end, against several mock providers: an outage costs the client nothing, a 429
//! cools a deployment down, circuits open and close, the cost and latency strategies choose as they say,
//! fallbacks cross model groups, and residency is never widened by the route header.

use crate::helpers::{
    MODEL, TestApp, TestOptions, chat_body, eventually, spawn_app_with, start_mock,
};
use mock_provider::{MockConfig, MockServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use switchyard::store::entities::{deployment, provider};
use uuid::Uuid;

/// Adds a provider at `base_url` with one deployment of `model`; returns the deployment id.
async fn add_deployment(
    app: &TestApp,
    name: &str,
    base_url: &str,
    model: &str,
    region: &str,
    input_micros: i64,
) -> Uuid {
    let now = chrono::Utc::now();
    let tenant = app.services.default_tenant.id;
    let provider = app
        .services
        .repo
        .insert_provider(provider::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            name: name.into(),
            kind: "openai".into(),
            base_url: base_url.into(),
            api_key_env: None,
            api_key_ciphertext: None,
            api_key_hint: None,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let id = Uuid::now_v7();
    app.services
        .repo
        .insert_deployment(deployment::Model {
            id,
            tenant_id: tenant,
            public_model: model.into(),
            provider_id: provider.id,
            upstream_model: "mock-gpt".into(),
            region: region.into(),
            input_price_micros: input_micros,
            output_price_micros: input_micros * 4,
            cached_input_price_micros: None,
            created_at: now,
            updated_at: now,
            price_source: "deployment".into(),
            weight: 1,
            priority: 0,
            rpm_limit: None,
            tpm_limit: None,
        })
        .await
        .unwrap();
    app.services.catalog.reload().await.unwrap();
    id
}

/// A gateway whose only model is `routed`, with a fast circuit breaker for tests.
async fn routing_app() -> TestApp {
    spawn_app_with(TestOptions {
        tweak: Box::new(|s| {
            s.routing.circuit_consecutive_failures = 3;
            s.routing.circuit_open_for = Duration::from_millis(800);
        }),
        ..TestOptions::default()
    })
    .await
}

async fn call(app: &TestApp, model: &str, route: Option<&str>) -> reqwest::Response {
    let mut body = chat_body(false);
    body["model"] = json!(model);
    let mut request = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .json(&body);
    if let Some(route) = route {
        request = request.header("x-switchyard-route", route);
    }
    request.send().await.unwrap()
}

fn served_by(response: &reqwest::Response) -> String {
    response.headers()["x-switchyard-deployment"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn set_group(app: &TestApp, token: &str, model: &str, body: Value) {
    let response = app
        .admin(
            token,
            Method::PUT,
            &format!("/model-groups/{model}"),
            Some(body),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    app.services.catalog.reload().await.unwrap();
}

fn dead_url() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    format!("http://127.0.0.1:{port}/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_one_deployment_fails_no_call_and_its_circuit_opens_then_closes() {
    let app = routing_app().await;
    let live = start_mock(MockConfig::default()).await;
    let live_id = add_deployment(&app, "live", &live.base_url(), "routed", "eu", 1_000_000).await;
    // The down deployment's port is reserved so it can come back on the same address later.
    let down_url = dead_url();
    let down_id = add_deployment(&app, "down", &down_url, "routed", "eu", 1_000_000).await;

    let mut served = HashMap::<String, usize>::new();
    for _ in 0..30 {
        let response = call(&app, "routed", None).await;
        assert_eq!(
            response.status(),
            200,
            "an outage of one deployment fails no call"
        );
        *served.entry(served_by(&response)).or_default() += 1;
    }
    assert_eq!(served.get(&live_id.to_string()), Some(&30));
    assert_eq!(app.wait_for_usage(30, Duration::from_secs(5)).await, 30);
    let tried_down = app
        .usage_rows()
        .await
        .iter()
        .filter(|r| r.attempts.is_some())
        .count();
    // After 3 consecutive failures the circuit opens and the down deployment is no longer tried first.
    assert!(
        (1..=4).contains(&tried_down),
        "the dead deployment was tried {tried_down} times"
    );

    // It comes back; after the open period one probe closes the circuit and it takes traffic again.
    let port: u16 = down_url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let revived = MockServer::start(
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(),
        MockConfig::default(),
    )
    .await
    .unwrap();
    eventually("the recovered deployment serves a call", || async {
        let response = call(&app, "routed", None).await;
        assert_eq!(response.status(), 200);
        match served_by(&response) {
            by if by == down_id.to_string() => Ok(()),
            by => Err(format!("served by {by}")),
        }
    })
    .await;
    let mut back = 0;
    for _ in 0..40 {
        let response = call(&app, "routed", None).await;
        assert_eq!(response.status(), 200);
        if served_by(&response) == down_id.to_string() {
            back += 1;
        }
    }
    assert!(back > 5, "the recovered deployment got {back} of 40 calls");
    revived.stop().await;
    live.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_cools_the_deployment_down_for_its_retry_after() {
    let app = routing_app().await;
    let calm = start_mock(MockConfig::default()).await;
    let busy = start_mock(MockConfig {
        status: Some(429),
        retry_after: Some(2),
        ..MockConfig::default()
    })
    .await;
    let calm_id = add_deployment(&app, "calm", &calm.base_url(), "routed", "eu", 1_000_000).await;
    add_deployment(&app, "busy", &busy.base_url(), "routed", "eu", 1_000_000).await;
    let mut cooled_down = None;
    for _ in 0..20 {
        let response = call(&app, "routed", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(served_by(&response), calm_id.to_string());
        // The cooldown started before the call that met the 429 answered.
        if busy.received().len() == 1 && cooled_down.is_none() {
            cooled_down = Some(tokio::time::Instant::now() + Duration::from_secs(2));
        }
    }
    assert_eq!(busy.received().len(), 1, "one 429, then a cooldown of 2 s");
    // The sleep is the thing tested: the busy deployment is tried again once its 2 s are over (a few
    // milliseconds more for the clocks to agree), not before.
    tokio::time::sleep_until(cooled_down.unwrap() + Duration::from_millis(50)).await;
    for _ in 0..20 {
        assert_eq!(call(&app, "routed", None).await.status(), 200);
    }
    assert!(busy.received().len() >= 2, "tried again after the cooldown");
    calm.stop().await;
    busy.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_strategy_chooses_the_cheapest_and_the_header_can_ask_for_it() {
    let app = routing_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let cheap = start_mock(MockConfig::default()).await;
    let dear = start_mock(MockConfig::default()).await;
    let cheap_id = add_deployment(&app, "cheap", &cheap.base_url(), "routed", "eu", 100_000).await;
    let dear_id = add_deployment(&app, "dear", &dear.base_url(), "routed", "eu", 5_000_000).await;
    set_group(&app, &token, "routed", json!({"strategy": "cost"})).await;
    for _ in 0..10 {
        assert_eq!(
            served_by(&call(&app, "routed", None).await),
            cheap_id.to_string()
        );
    }
    // Priority: the dear one first when it has the lower number; the header switches the strategy back.
    let response = app
        .admin(
            &token,
            Method::PATCH,
            &format!("/deployments/{dear_id}"),
            Some(json!({"priority": -1})),
        )
        .await;
    assert_eq!(response.status(), 200);
    set_group(&app, &token, "routed", json!({"strategy": "priority"})).await;
    assert_eq!(
        served_by(&call(&app, "routed", None).await),
        dear_id.to_string()
    );
    assert_eq!(
        served_by(&call(&app, "routed", Some("strategy=cost")).await),
        cheap_id.to_string()
    );
    let bad = call(&app, "routed", Some("strategy=fastest")).await;
    assert_eq!(bad.status(), 400);
    cheap.stop().await;
    dear.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latency_strategy_moves_traffic_away_from_a_slow_deployment() {
    let app = routing_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let fast = start_mock(MockConfig::default()).await;
    let slow = start_mock(MockConfig {
        ttft: Duration::from_millis(150),
        ..MockConfig::default()
    })
    .await;
    let fast_id = add_deployment(&app, "fast", &fast.base_url(), "routed", "eu", 1_000_000).await;
    add_deployment(&app, "slow", &slow.base_url(), "routed", "eu", 1_000_000).await;
    set_group(&app, &token, "routed", json!({"strategy": "latency"})).await;
    let mut to_fast = 0;
    for _ in 0..40 {
        if served_by(&call(&app, "routed", None).await) == fast_id.to_string() {
            to_fast += 1;
        }
    }
    // Weighted alone would give about half; once both are measured the fast one wins every pair.
    assert!(
        to_fast >= 34,
        "the fast deployment got {to_fast} of 40 calls"
    );
    fast.stop().await;
    slow.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_chain_serves_another_model_when_a_group_is_down() {
    let app = routing_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let backup = start_mock(MockConfig::default()).await;
    add_deployment(&app, "primary", &dead_url(), "big-model", "eu", 1_000_000).await;
    let backup_id = add_deployment(
        &app,
        "backup",
        &backup.base_url(),
        "small-model",
        "eu",
        1_000_000,
    )
    .await;
    set_group(
        &app,
        &token,
        "big-model",
        json!({"strategy": "priority", "fallbacks": ["small-model"]}),
    )
    .await;
    let response = call(&app, "big-model", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(served_by(&response), backup_id.to_string());
    assert_eq!(response.headers()["x-switchyard-attempts"], "2");
    // The caller may refuse fallbacks.
    let response = call(&app, "big-model", Some("fallbacks=none")).await;
    assert_eq!(response.status(), 502);
    // A fallback the key may not use is skipped, never a way around the allow-list.
    let restricted = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.restricted_key)
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(restricted.status(), 200);
    backup.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residency_is_never_widened_and_an_unhealthy_region_is_a_503_naming_it() {
    let app = routing_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let eu = start_mock(MockConfig::default()).await;
    let us = start_mock(MockConfig::default()).await;
    let eu_id = add_deployment(&app, "eu-1", &eu.base_url(), "routed", "eu", 1_000_000).await;
    let us_id = add_deployment(&app, "us-1", &us.base_url(), "routed", "us", 1_000_000).await;
    // The header narrows to a region…
    for _ in 0..5 {
        assert_eq!(
            served_by(&call(&app, "routed", Some("region=us")).await),
            us_id.to_string()
        );
    }
    // …but once the tenant allows only eu, asking for us is refused and nothing leaves eu.
    let response = app
        .admin(
            &token,
            Method::PATCH,
            "/tenant",
            Some(json!({"allowed_regions": ["eu"]})),
        )
        .await;
    assert_eq!(response.status(), 200);
    // The key cache drops the tenant's old regions when the invalidation reaches it: until then us still serves.
    let refused = eventually("the tenant's regions apply", || async {
        let response = call(&app, "routed", Some("region=us")).await;
        match response.status().as_u16() {
            403 => Ok(response),
            200 => Err(format!("still served by {}", served_by(&response))),
            other => panic!("unexpected status {other}"),
        }
    })
    .await;
    let sent_to_us = us.received().len();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "region_not_allowed");
    for _ in 0..5 {
        assert_eq!(
            served_by(&call(&app, "routed", None).await),
            eu_id.to_string()
        );
    }
    // The eu deployment goes down: 503 naming the residency constraint, never a silent route to us.
    eu.stop().await;
    // A connection the gateway keeps alive to it may still be answered for a moment after `stop` returns.
    eventually("the eu deployment is down", || async {
        let response = call(&app, "routed", None).await;
        if response.status() != 200 {
            return Ok(());
        }
        assert_eq!(served_by(&response), eu_id.to_string(), "only eu may serve");
        Err("eu still answers".into())
    })
    .await;
    let mut last = None;
    for _ in 0..4 {
        let response = call(&app, "routed", None).await;
        assert_ne!(response.status(), 200);
        last = Some(response);
    }
    let last = last.unwrap();
    assert_eq!(last.status(), 503);
    assert!(last.headers().contains_key("retry-after"));
    let body: Value = last.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_healthy_deployment");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("[eu]"),
        "{body}"
    );
    assert!(
        us.received().len() == sent_to_us,
        "nothing went to us after the policy"
    );
    us.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_openai_deployment_is_called_with_its_url_scheme_api_version_and_api_key() {
    let app = routing_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let azure = start_mock(MockConfig::default()).await;
    let provider: Value = app
        .admin(
            &token,
            Method::POST,
            "/providers",
            Some(json!({"name": "azure-eu", "kind": "azure", "base_url": format!("{}/openai", azure.root_url()),
                        "api_key": "azure-secret-key"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .admin(
            &token,
            Method::POST,
            "/deployments",
            Some(json!({"model": "azure-gpt", "provider_id": provider["id"], "upstream_model": "my-gpt4o-deploy",
                        "region": "eu", "input_price": "2.5", "output_price": "10"})),
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    app.services.catalog.reload().await.unwrap();
    let response = call(&app, "azure-gpt", None).await;
    assert_eq!(response.status(), 200);
    let sent = azure.received().pop().unwrap();
    assert_eq!(sent.azure_deployment(), Some("my-gpt4o-deploy"));
    assert_eq!(
        sent.query_param("api-version").as_deref(),
        Some("2024-10-21")
    );
    assert_eq!(
        sent.headers.get("api-key").map(String::as_str),
        Some("azure-secret-key")
    );
    assert!(!sent.headers.contains_key("authorization"));
    azure.stop().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_at_its_own_rpm_limit_is_passed_over_and_alone_answers_503_with_retry_after() {
    let app = routing_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let capped_mock = start_mock(MockConfig::default()).await;
    let spare_mock = start_mock(MockConfig::default()).await;
    let capped = add_deployment(
        &app,
        "capped",
        &capped_mock.base_url(),
        "routed",
        "eu",
        1_000_000,
    )
    .await;
    let spare = add_deployment(
        &app,
        "spare",
        &spare_mock.base_url(),
        "routed",
        "eu",
        1_000_000,
    )
    .await;
    // The capped deployment is preferred; its own limit is set (and read back) through the admin API.
    let patched = app
        .admin_json(
            &token,
            Method::PATCH,
            &format!("/deployments/{capped}"),
            Some(json!({"rpm_limit": 3, "priority": 0})),
            200,
        )
        .await;
    assert_eq!(patched["rpm_limit"], 3);
    assert_eq!(patched["tpm_limit"], Value::Null);
    app.admin_json(
        &token,
        Method::PATCH,
        &format!("/deployments/{spare}"),
        Some(json!({"priority": 1})),
        200,
    )
    .await;
    app.admin_json(
        &token,
        Method::PATCH,
        &format!("/deployments/{capped}"),
        Some(json!({"rpm_limit": 0})),
        400,
    )
    .await;
    set_group(&app, &token, "routed", json!({"strategy": "priority"})).await;

    let mut served = Vec::new();
    for _ in 0..6 {
        let response = call(&app, "routed", None).await;
        assert_eq!(response.status(), 200);
        served.push(served_by(&response));
    }
    // Unless the minute turned mid-test, exactly three calls went to the capped deployment, first.
    let to_capped = served
        .iter()
        .filter(|id| **id == capped.to_string())
        .count();
    assert!((3..=6).contains(&to_capped), "{served:?}");
    assert_eq!(
        served[..3],
        [capped.to_string(), capped.to_string(), capped.to_string()]
    );
    assert_eq!(capped_mock.received().len(), to_capped);

    // Narrowed to the capped deployment's region alone (the spare moves away), the full minute is a 503.
    app.admin_json(
        &token,
        Method::PATCH,
        &format!("/deployments/{spare}"),
        Some(json!({"region": "us"})),
        200,
    )
    .await;
    app.services.catalog.reload().await.unwrap();
    let response = call(&app, "routed", Some("region=eu")).await;
    if capped_mock.received().len() == 3 {
        assert_eq!(response.status(), 503);
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("own_rate_limit_reached"),
            "{body}"
        );
    }
    capped_mock.stop().await;
    spare_mock.stop().await;
    app.shutdown().await;
}
