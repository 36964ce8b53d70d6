//! The price catalog through the admin API and the proxy: listing with filters and `at`, catalog-priced
//! deployments billed from the shipped price, tenant prices overriding it, a future-dated price taking over at
//! its instant, deletes that would rewrite history refused, roles and tenant isolation.

use crate::helpers::{TEST_PASSWORD, TestApp, eventually, spawn_app};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard::store::entities::usage_event;

/// Registers a provider pointing at the test's mock and returns its id.
async fn mock_provider(app: &TestApp, token: &str) -> String {
    let body = json!({"name": "mock-api", "kind": "openai", "base_url": app.mock.base_url()});
    let provider = app
        .admin_json(token, Method::POST, "/providers", Some(body), 201)
        .await;
    provider["id"].as_str().unwrap().to_owned()
}

/// Creates a deployment without prices (so priced by the catalog) and returns it.
async fn catalog_deployment(app: &TestApp, token: &str, model: &str, upstream: &str) -> Value {
    let provider_id = mock_provider(app, token).await;
    let body = json!({"model": model, "provider_id": provider_id, "upstream_model": upstream, "region": "eu"});
    app.admin_json(token, Method::POST, "/deployments", Some(body), 201)
        .await
}

/// Adds a tenant price.
async fn add_price(app: &TestApp, token: &str, body: Value) -> Value {
    app.admin_json(token, Method::POST, "/prices", Some(body), 201)
        .await
}

/// `GET` that must answer 200.
async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    app.admin_json(token, Method::GET, path, None, 200).await
}

/// Waits until the proxy's catalog prices `model` at `at` with this input price (the admin API publishes a
/// catalog invalidation; the reload is asynchronous).
async fn wait_for_input_price(app: &TestApp, model: &str, at: DateTime<Utc>, micros: i64) {
    let tenant = app.services.default_tenant.id;
    let what = format!("the catalog prices {model} at {micros}");
    eventually(&what, || async {
        let snapshot = app.services.catalog.snapshot();
        let current = snapshot
            .deployments(tenant, model)
            .and_then(|d| d.first().map(|d| d.prices_at(at).input.0));
        match current {
            Some(input) if input == micros => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// One chat call through the proxy with 4 cached and 5 reasoning tokens; returns its usage row.
async fn call(app: &TestApp, model: &str) -> usage_event::Model {
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-cached-tokens", "4")
        .header("x-mock-reasoning-tokens", "5")
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "What does this cost?"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    eventually(&format!("the usage row of {id}"), || async {
        let rows = app.usage_rows().await;
        let row = rows.into_iter().find(|r| r.id.to_string() == id);
        row.ok_or_else(|| "not written yet".to_owned())
    })
    .await
}

/// Exact cost in picos at prices in micros per million tokens (input, cached input, output, reasoning).
fn cost(row: &usage_event::Model, prices: [i64; 4]) -> i64 {
    let [input, cached, output, reasoning] = prices;
    (row.input_tokens - row.cached_tokens) * input
        + row.cached_tokens * cached
        + (row.output_tokens - row.reasoning_tokens) * output
        + row.reasoning_tokens * reasoning
}

/// Selected string fields of a JSON object, for compact assertions.
fn fields<'a>(value: &'a Value, names: &[&str]) -> Vec<&'a Value> {
    names.iter().map(|n| &value[*n]).collect()
}

/// gpt-4o-mini in the shipped catalog: 0.15 / 0.075 cached / 0.60, reasoning at the output price.
const SHIPPED_MINI: [i64; 4] = [150_000, 75_000, 600_000, 600_000];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_are_listed_by_kind_and_model_and_at_shows_the_prices_in_force_at_that_instant() {
    // Arrange: a tenant price for gpt-4o that starts in an hour.
    let app = spawn_app().await;
    let (_, token) = app.token_for("finance@example.com", "finance").await;
    let starts = Utc::now() + chrono::Duration::hours(1);
    let body = json!({"provider_kind": "openai", "upstream_model": "gpt-4o", "input_price": "2", "output_price": "8", "effective_from": starts, "note": "negotiated"});
    let mine = add_price(&app, &token, body).await;
    assert_eq!(
        fields(&mine, &["scope", "note"]),
        [&json!("tenant"), &json!("negotiated")]
    );

    // Act + Assert: the shipped catalog covers the four vendors.
    for kind in ["openai", "anthropic", "gemini", "mistral"] {
        let page = get(
            &app,
            &token,
            &format!("/prices?provider_kind={kind}&limit=200"),
        )
        .await;
        let rows = page["data"].as_array().unwrap();
        assert!(rows.len() >= 5, "{kind}: {page}");
        assert!(rows.iter().all(|r| r["provider_kind"] == kind));
    }
    let sonnet = get(&app, &token, "/prices?model=claude-sonnet-4-6").await;
    assert_eq!(
        fields(
            &sonnet["data"][0],
            &["scope", "input_price", "output_price", "cached_input_price"]
        ),
        [&json!("global"), &json!("3"), &json!("15"), &json!("0.3")]
    );
    // Both gpt-4o rows are listed, newest first; `at` picks the one in force.
    let both = get(&app, &token, "/prices?model=gpt-4o").await;
    let scopes: Vec<&Value> = both["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["scope"])
        .collect();
    assert_eq!(scopes, [&json!("tenant"), &json!("global")]);
    let at = |t: DateTime<Utc>| {
        format!(
            "/prices?model=gpt-4o&at={}",
            t.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    };
    let now = get(&app, &token, &at(Utc::now())).await;
    assert_eq!(now["data"].as_array().unwrap().len(), 1);
    assert_eq!(now["data"][0]["input_price"], "2.5");
    let later = get(&app, &token, &at(starts + chrono::Duration::minutes(1))).await;
    assert_eq!(later["data"].as_array().unwrap().len(), 1);
    assert_eq!(later["data"][0]["id"], mine["id"]);
    let before_catalog = get(&app, &token, &at("2025-06-01T00:00:00Z".parse().unwrap())).await;
    assert_eq!(before_catalog["data"], json!([]));
    // Paging works with and without `at`.
    for query in [
        "/prices?provider_kind=gemini&limit=2",
        "/prices?provider_kind=gemini&limit=2&at=2026-11-01T00:00:00Z",
    ] {
        let first = get(&app, &token, query).await;
        let cursor = first["next_cursor"].as_str().expect("a second page");
        let second = get(&app, &token, &format!("{query}&cursor={cursor}")).await;
        assert_eq!(second["data"].as_array().unwrap().len(), 2);
        assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_priced_deployment_bills_the_shipped_price_until_a_tenant_price_overrides_it() {
    // Arrange: a deployment of gpt-4o-mini without prices.
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let deployment = catalog_deployment(&app, &token, "cheap-chat", "gpt-4o-mini").await;
    assert_eq!(
        fields(
            &deployment,
            &[
                "price_source",
                "input_price",
                "output_price",
                "cached_input_price"
            ]
        ),
        [
            &json!("catalog"),
            &json!("0.15"),
            &json!("0.6"),
            &json!("0.075")
        ]
    );
    wait_for_input_price(&app, "cheap-chat", Utc::now(), 150_000).await;

    // Act: a call at the shipped price, then a tenant price, then another call.
    let shipped = call(&app, "cheap-chat").await;
    let body = json!({"provider_kind": "openai", "upstream_model": "gpt-4o-mini", "input_price": "1", "output_price": "2", "reasoning_price": "3"});
    add_price(&app, &token, body).await;
    wait_for_input_price(&app, "cheap-chat", Utc::now(), 1_000_000).await;
    let overridden = call(&app, "cheap-chat").await;

    // Assert: exact costs; the tenant price has no cached price, so cached input costs the input price.
    assert!(shipped.cached_tokens == 4 && shipped.reasoning_tokens == 5);
    assert_eq!(shipped.cost_picos, cost(&shipped, SHIPPED_MINI));
    let tenant_price = [1_000_000, 1_000_000, 2_000_000, 3_000_000];
    assert_eq!(overridden.cost_picos, cost(&overridden, tenant_price));
    let listed = get(&app, &token, "/deployments").await;
    let shown = &listed["data"][0];
    assert_eq!(shown["id"], deployment["id"]);
    assert_eq!(
        fields(shown, &["input_price", "reasoning_price"]),
        [&json!("1"), &json!("3")]
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dated_price_takes_over_at_its_instant_without_a_reload() {
    // Arrange: a catalog-priced deployment and a tenant price that starts three seconds from now.
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    catalog_deployment(&app, &token, "timed-chat", "gpt-4o-mini").await;
    let starts = Utc::now() + chrono::Duration::seconds(3);
    let body = json!({"provider_kind": "openai", "upstream_model": "gpt-4o-mini", "input_price": "1", "output_price": "2", "cached_input_price": "0.5", "reasoning_price": "4", "effective_from": starts});
    add_price(&app, &token, body).await;
    // The snapshot must hold the coming price before its instant; from then on nothing reloads on purpose.
    wait_for_input_price(&app, "timed-chat", starts, 1_000_000).await;

    // Act
    let before = call(&app, "timed-chat").await;
    // The sleep is the thing tested: the price changes at its instant, with nothing reloaded (a few
    // milliseconds more for the clocks to agree).
    let wait = (starts - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50);
    tokio::time::sleep(wait).await;
    let after = call(&app, "timed-chat").await;

    // Assert: each call is priced by the price in force when it started.
    assert!(
        before.created_at < starts,
        "the first call came too late to test the switch"
    );
    assert!(after.created_at >= starts);
    assert_eq!(before.cost_picos, cost(&before, SHIPPED_MINI));
    let future_price = [1_000_000, 500_000, 2_000_000, 4_000_000];
    assert_eq!(after.cost_picos, cost(&after, future_price));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_switch_between_their_own_and_catalog_prices_and_need_a_catalog_price() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let provider_id = mock_provider(&app, &token).await;
    let create = |body: Value, status: u16| {
        app.admin_json(&token, Method::POST, "/deployments", Some(body), status)
    };

    // No catalog price for the model: refused, naming it. Half a price is refused too.
    let body = json!({"model": "x", "provider_id": provider_id, "upstream_model": "house-model-7", "region": "eu"});
    let refused = create(body, 400).await;
    assert_eq!(refused["error"]["details"]["field"], "upstream_model");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("house-model-7"), "{message}");
    create(json!({"model": "x", "provider_id": provider_id, "upstream_model": "gpt-4o", "region": "eu", "input_price": "1"}), 400).await;

    // A Mistral model served through an OpenAI-compatible provider is priced from Mistral's list.
    let body = json!({"model": "m", "provider_id": provider_id, "upstream_model": "mistral-large-latest", "region": "eu"});
    let created = create(body, 201).await;
    assert_eq!(
        fields(&created, &["input_price", "output_price"]),
        [&json!("0.5"), &json!("1.5")]
    );
    let path = format!("/deployments/{}", created["id"].as_str().unwrap());
    let patch =
        |body: Value, status: u16| app.admin_json(&token, Method::PATCH, &path, Some(body), status);

    // Own prices switch it to `deployment`; `price_source: catalog` switches back.
    let own = patch(json!({"input_price": "9", "output_price": "9"}), 200).await;
    assert_eq!(
        fields(&own, &["price_source", "input_price", "cached_input_price"]),
        [&json!("deployment"), &json!("9"), &Value::Null]
    );
    let partial = patch(json!({"output_price": "8"}), 200).await;
    assert_eq!(
        fields(&partial, &["input_price", "output_price"]),
        [&json!("9"), &json!("8")]
    );
    let back = patch(json!({"price_source": "catalog"}), 200).await;
    assert_eq!(
        fields(&back, &["price_source", "input_price"]),
        [&json!("catalog"), &json!("0.5")]
    );
    for refused in [
        json!({"price_source": "catalog", "input_price": "1"}),
        json!({"price_source": "deployment"}),
        json!({"input_price": "1"}),
        json!({"upstream_model": "house-model-7"}),
        json!({"price_source": "negotiated"}),
    ] {
        patch(refused, 400).await;
    }
    let moved = patch(json!({"upstream_model": "gpt-5-nano"}), 200).await;
    assert_eq!(
        fields(&moved, &["input_price", "cached_input_price"]),
        [&json!("0.05"), &json!("0.005")]
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_tenant_price_that_has_not_started_can_be_deleted() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("admin@example.com", "admin").await;
    let price = |input: &str, from: DateTime<Utc>| json!({"provider_kind": "gemini", "upstream_model": "g", "input_price": input, "output_price": "1", "effective_from": from});
    let in_force = add_price(&app, &token, price("1", Utc::now())).await;
    let future = add_price(
        &app,
        &token,
        price("2", Utc::now() + chrono::Duration::days(1)),
    )
    .await;
    let shipped = get(&app, &token, "/prices?model=gpt-4o").await["data"][0].clone();

    // Deleting a price already in force, or a shipped one, would rewrite history.
    let (gateway, token) = (&app, token.as_str());
    let delete = |price: &Value, status: u16| {
        let path = format!("/prices/{}", price["id"].as_str().unwrap());
        async move {
            gateway
                .admin_json(token, Method::DELETE, &path, None, status)
                .await
        }
    };
    let refused = delete(&in_force, 409).await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in force"),
        "{refused}"
    );
    let read_only = delete(&shipped, 409).await;
    assert!(
        read_only["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{read_only}"
    );
    delete(&future, 204).await;
    delete(&future, 404).await;

    // A price cannot start in the past, twice at the same instant, for an unknown kind or inexactly.
    let post = |body: Value, status: u16| {
        gateway.admin_json(token, Method::POST, "/prices", Some(body), status)
    };
    let past = post(price("1", Utc::now() - chrono::Duration::minutes(5)), 400).await;
    assert_eq!(past["error"]["details"]["field"], "effective_from");
    let same_instant = in_force["effective_from"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    post(price("3", same_instant), 409).await;
    post(json!({"provider_kind": "azure-ish", "upstream_model": "g", "input_price": "1", "output_price": "1"}), 400).await;
    post(json!({"provider_kind": "gemini", "upstream_model": "g", "input_price": "0.0000001", "output_price": "1"}), 400).await;

    // Every change is audited.
    let audit = get(gateway, token, "/audit?target_type=price").await;
    let actions: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert_eq!(
        actions,
        [
            &json!("price.delete"),
            &json!("price.create"),
            &json!("price.create")
        ]
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developers_only_read_prices_and_another_tenant_neither_sees_nor_deletes_them() {
    // Arrange: a future price of tenant A, and an owner of tenant B.
    let app = spawn_app().await;
    let (_, owner) = app.token_for("a-owner@example.com", "owner").await;
    let (_, developer) = app.token_for("dev@example.com", "developer").await;
    let body = json!({"provider_kind": "openai", "upstream_model": "a-only", "input_price": "1", "output_price": "1", "effective_from": Utc::now() + chrono::Duration::days(1)});
    let price = add_price(&app, &owner, body.clone()).await;
    let path = format!("/prices/{}", price["id"].as_str().unwrap());
    let b = app.create_tenant("tenant-b").await;
    app.create_user("b-owner@example.com", "owner", Some(b.id))
        .await;
    let login = app.login("b-owner@example.com", TEST_PASSWORD).await;
    let b_owner = login["access_token"].as_str().unwrap();

    // Act + Assert: a developer reads but cannot change.
    get(&app, &developer, "/prices?model=a-only").await;
    app.admin_json(&developer, Method::POST, "/prices", Some(body), 403)
        .await;
    app.admin_json(&developer, Method::DELETE, &path, None, 403)
        .await;
    // Tenant B sees the shipped prices but not A's, and cannot delete A's.
    assert_eq!(
        get(&app, b_owner, "/prices?model=a-only").await["data"],
        json!([])
    );
    let shipped = get(&app, b_owner, "/prices?model=gpt-4o").await;
    assert_eq!(shipped["data"].as_array().unwrap().len(), 1);
    app.admin_json(b_owner, Method::DELETE, &path, None, 404)
        .await;
    let still = get(&app, &owner, "/prices?model=a-only").await;
    assert_eq!(still["data"][0]["id"], price["id"]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_anthropic_and_gemini_deployments_are_priced_from_their_vendors_catalog_rows() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    for (kind, base_url, upstream, input, output) in [
        (
            "azure",
            "https://r.openai.azure.com/openai",
            "gpt-4o",
            "2.5",
            "10",
        ),
        (
            "anthropic",
            "https://api.anthropic.com/v1",
            "claude-sonnet-4-5",
            "3",
            "15",
        ),
        (
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta",
            "gemini-3.5-flash",
            "1.5",
            "9",
        ),
    ] {
        let provider = app
            .admin_json(
                &token,
                Method::POST,
                "/providers",
                Some(json!({"name": kind, "kind": kind, "base_url": base_url, "api_key": "k"})),
                201,
            )
            .await;
        let body = json!({"model": format!("{kind}-model"), "provider_id": provider["id"],
                          "upstream_model": upstream, "region": "eu"});
        let created = app
            .admin_json(&token, Method::POST, "/deployments", Some(body), 201)
            .await;
        assert_eq!(created["price_source"], "catalog", "{kind}");
        assert_eq!(
            fields(&created, &["input_price", "output_price"]),
            [&json!(input), &json!(output)],
            "{kind}"
        );
    }
    app.shutdown().await;
}
