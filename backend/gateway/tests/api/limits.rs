//! Spend control on the proxy: RPM / TPM / concurrency limits with OpenAI's headers, hard budgets that hold
//! across replicas, reservations released by abandoned streams, threshold webhooks fired once, budgets that
//! survive a restart, and the per-tenant behaviour when Redis is unreachable.

use crate::helpers::{
    EVENTUALLY_WITHIN, INPUT_MICROS, MODEL, Mode, OUTPUT_MICROS, TestApp, TestOptions, chat_body,
    eventually, http_client, spawn_app, spawn_app_with,
};
use crate::tcp_proxy::TcpProxy;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard::keys;
use switchyard::money::Picos;
use switchyard::startup::{Application, Services};
use switchyard::store::entities::{api_key, tenant};
use uuid::Uuid;

/// Another replica of `app`: same database, same Redis prefix, its own port and data directory.
struct Replica {
    address: String,
    handle: actix_web::dev::ServerHandle,
    services: Services,
}

async fn spawn_replica(app: &TestApp) -> Replica {
    let mut settings = app.settings.clone();
    settings.listen = "127.0.0.1:0".into();
    settings.data_dir = app
        .db
        .dir()
        .join(format!("replica-{}", Uuid::now_v7().simple()));
    let replica = Application::build(settings).await.expect("second replica");
    let address = format!("http://127.0.0.1:{}", replica.port());
    let handle = replica.handle();
    let services = replica.services().clone();
    tokio::spawn(replica.run_until_stopped());
    Replica {
        address,
        handle,
        services,
    }
}

/// Changes the test key's row and publishes the change. Call it before the key's first call, as every test here
/// does: no replica has cached the key then, so each reads the changed row on first use, and nothing needs to
/// wait for the invalidation (which only drops copies cached earlier).
async fn update_key(app: &TestApp, change: impl FnOnce(&mut api_key::ActiveModel)) -> Uuid {
    let db = app.services.repo.db();
    let row = app
        .services
        .repo
        .find_api_key_by_hash(&keys::hash(&app.key))
        .await
        .unwrap()
        .unwrap();
    let id = row.id;
    let mut active = row.into_active_model();
    change(&mut active);
    active.update(db).await.unwrap();
    app.services
        .state
        .publish(&switchyard::state::Invalidation::Everything)
        .await
        .unwrap();
    id
}

/// Creates a budget through the admin API and waits until `app` enforces it; returns the created body.
async fn create_budget(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app
        .admin(token, reqwest::Method::POST, "/budgets", Some(body))
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    wait_for_budget(&app.services, &created).await;
    created
}

/// Waits until a replica has loaded `budget` (each reloads its budgets on the published change, in the
/// background).
async fn wait_for_budget(services: &Services, budget: &Value) {
    let id = budget["id"].as_str().unwrap();
    eventually(&format!("the replica loads budget {id}"), || async {
        let ids: Vec<String> = services
            .limits
            .budgets()
            .all()
            .iter()
            .map(|rule| rule.id.to_string())
            .collect();
        if ids.iter().any(|loaded| loaded == id) {
            Ok(())
        } else {
            Err(format!("loaded {ids:?}"))
        }
    })
    .await;
}

/// Makes calls until a hard budget refuses one; returns how many it admitted.
///
/// Settling is asynchronous: right after a call its budget may still hold the call's worst-case reservation,
/// which could refuse the next call early (and counters seeded afresh from storage would then disagree). So a
/// refusal ends the calls only when the spend it reports is the recorded cost of the admitted calls (their usage
/// rows); one made against a reservation not yet settled is made again.
async fn spend_until_refused<F, Fut>(app: &TestApp, mut call: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let mut admitted = 0;
    let mut unsettled_until = None;
    loop {
        let response = call().await;
        match response.status().as_u16() {
            200 => {
                admitted += 1;
                assert!(admitted < 100, "the budget never stopped the calls");
            }
            429 => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
                let message = body["error"]["message"].as_str().unwrap();
                assert_eq!(
                    app.wait_for_billed(admitted, Duration::from_secs(5)).await,
                    admitted
                );
                let recorded = Picos(app.billed_rows().await.iter().map(|r| r.cost_picos).sum());
                if message.contains(&format!("already spent or reserved {recorded}, ")) {
                    return admitted;
                }
                let deadline = *unsettled_until
                    .get_or_insert_with(|| tokio::time::Instant::now() + EVENTUALLY_WITHIN);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "refusals still count unsettled reservations after {EVENTUALLY_WITHIN:?}: {message} (recorded {recorded})"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
}

/// Fixed windows start on the minute: keep a burst inside one.
async fn wait_for_fresh_minute_window() {
    let second = chrono::Utc::now().timestamp() % 60;
    if second > 50 {
        // The sleep is the thing waited for: the next window, which starts at a known instant (nothing to poll).
        tokio::time::sleep(Duration::from_secs(u64::try_from(61 - second).unwrap_or(0))).await;
    }
}

async fn chat(
    client: &reqwest::Client,
    address: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(format!("{address}/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("gateway answers")
}

fn body_with_max_tokens(max_tokens: u64) -> Value {
    let mut body = chat_body(false);
    body["max_tokens"] = json!(max_tokens);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_holds_across_two_replicas_with_openai_headers() {
    let app = spawn_app().await;
    let replica = spawn_replica(&app).await;
    update_key(&app, |k| k.rpm_limit = Set(Some(5))).await;
    wait_for_fresh_minute_window().await;

    let calls = (0..12).map(|i| {
        let address = if i % 2 == 0 {
            app.address.clone()
        } else {
            replica.address.clone()
        };
        let client = app.client.clone();
        let key = app.key.clone();
        async move {
            let response = chat(&client, &address, &key, &chat_body(false)).await;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, headers, body)
        }
    });
    let results = join_all(calls).await;
    let admitted: Vec<_> = results.iter().filter(|(s, _, _)| *s == 200).collect();
    let refused: Vec<_> = results.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(
        admitted.len(),
        5,
        "exactly the limit gets through across both replicas"
    );
    assert_eq!(refused.len(), 7);
    for (_, headers, _) in &admitted {
        assert_eq!(headers["x-ratelimit-limit-requests"], "5");
        assert!(headers.contains_key("x-ratelimit-remaining-requests"));
        assert!(headers.contains_key("x-ratelimit-reset-requests"));
    }
    let (_, headers, body) = refused[0];
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "requests");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5 requests per minute")
    );
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    replica.handle.stop(true).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tpm_limit_reserves_the_worst_case_and_settles_to_real_use() {
    let app = spawn_app().await;
    update_key(&app, |k| k.tpm_limit = Set(Some(500))).await;
    wait_for_fresh_minute_window().await;

    let first = chat(
        &app.client,
        &app.address,
        &app.key,
        &body_with_max_tokens(100),
    )
    .await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit-tokens"], "500");
    let remaining: i64 = first.headers()["x-ratelimit-remaining-tokens"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The reservation (padded prompt + 100 output tokens) is what the header shows right after admission.
    assert!(remaining < 400, "the worst case was reserved: {remaining}");
    let usage: Value = first.json().await.unwrap();
    let used = usage["usage"]["total_tokens"].as_i64().unwrap();

    // 460 output tokens would fit an empty window, but not next to what was really used… The first call settles
    // in the background: until it has, the window still holds its reservation (a refusal counts nothing, so the
    // call can be made again).
    eventually(
        "the window holds the real tokens of the first call, not its reservation",
        || async {
            let too_big = chat(
                &app.client,
                &app.address,
                &app.key,
                &body_with_max_tokens(460),
            )
            .await;
            assert_eq!(too_big.status(), 429);
            assert_eq!(too_big.headers()["x-ratelimit-limit-tokens"], "500");
            assert!(too_big.headers().contains_key("retry-after"));
            let body: Value = too_big.json().await.unwrap();
            assert_eq!(body["error"]["type"], "tokens");
            let message = body["error"]["message"].as_str().unwrap();
            if message.contains(&format!("{used} are used")) {
                Ok(())
            } else {
                Err(message.to_owned())
            }
        },
    )
    .await;
    // …but a call that fits next to the real use (not next to the first reservation) is admitted.
    let fits = chat(
        &app.client,
        &app.address,
        &app.key,
        &body_with_max_tokens(200),
    )
    .await;
    assert_eq!(fits.status(), 200);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_counts_calls_in_flight() {
    let app = spawn_app().await;
    update_key(&app, |k| k.max_concurrency = Set(Some(1))).await;

    let slow = {
        let client = app.client.clone();
        let url = format!("{}/v1/chat/completions", app.address);
        let key = app.key.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .header("x-mock-ttft-ms", "2000")
                .json(&chat_body(false))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The provider has the slow call: it was admitted and holds the only slot for the next two seconds.
    eventually("the slow call reaches the provider", || async {
        match app.mock.received().len() {
            1 => Ok(()),
            n => Err(format!("{n} calls received")),
        }
    })
    .await;
    let second = chat(&app.client, &app.address, &app.key, &chat_body(false)).await;
    assert_eq!(second.status(), 429);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "concurrency_limit_exceeded");
    assert_eq!(slow.await.unwrap(), 200);
    // The slot is released when the finished call settles, in the background: until then a call is refused (and
    // takes nothing). Its lease would only free it much later.
    eventually("the finished call released its slot", || async {
        let third = chat(&app.client, &app.address, &app.key, &chat_body(false)).await;
        match third.status().as_u16() {
            200 => Ok(()),
            429 => {
                let body: Value = third.json().await.unwrap();
                assert_eq!(body["error"]["code"], "concurrency_limit_exceeded");
                Err("still refused: concurrency_limit_exceeded".into())
            }
            other => panic!("unexpected status {other}"),
        }
    })
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_budget_holds_across_two_replicas_under_concurrency() {
    let app = spawn_app().await;
    let replica = spawn_replica(&app).await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let key_id = update_key(&app, |_| {}).await;
    // Each call reserves well under a tenth of the limit and really costs about a fifth of its reservation.
    let created = create_budget(
        &app,
        &token,
        json!({"name": "key cap", "scope_type": "key", "scope_id": key_id, "period": "monthly", "limit": "0.01"}),
    )
    .await;
    wait_for_budget(&replica.services, &created).await;
    let limit_picos: i64 = 10_000_000_000;

    let mut refused = 0;
    let mut admitted = 0;
    for _wave in 0..12 {
        let calls = (0..8).map(|i| {
            let address = if i % 2 == 0 {
                app.address.clone()
            } else {
                replica.address.clone()
            };
            let client = app.client.clone();
            let key = app.key.clone();
            async move {
                let response = chat(&client, &address, &key, &body_with_max_tokens(60)).await;
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        });
        for (status, body) in join_all(calls).await {
            match status {
                200 => admitted += 1,
                429 => {
                    refused += 1;
                    assert_eq!(body["error"]["code"], "budget_exceeded");
                    assert_eq!(body["error"]["type"], "insufficient_quota");
                    let message = body["error"]["message"].as_str().unwrap();
                    assert!(message.contains("key cap"), "{message}");
                    assert!(message.contains(created["id"].as_str().unwrap()));
                }
                other => panic!("unexpected status {other}: {body}"),
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(
        admitted > 8 && refused > 0,
        "admitted {admitted}, refused {refused}"
    );
    assert_eq!(
        app.wait_for_billed(admitted, Duration::from_secs(10)).await,
        admitted
    );
    let spent: i64 = app.usage_rows().await.iter().map(|r| r.cost_picos).sum();
    assert!(
        spent <= limit_picos,
        "spend {spent} went over the hard limit {limit_picos}"
    );
    // Nothing leaked the other way either: the budget was used, not left mostly idle by stuck reservations.
    assert!(
        spent > limit_picos / 2,
        "only {spent} of {limit_picos} was spent"
    );
    replica.handle.stop(true).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_stream_is_charged_what_it_consumed_and_frees_its_reservation() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let key_id = update_key(&app, |_| {}).await;
    // Room for one reservation of 1000 output tokens (10,000,000 picos each … about 0.0100 per call), not two.
    create_budget(
        &app,
        &token,
        json!({"name": "one at a time", "scope_type": "key", "scope_id": key_id, "period": "daily", "limit": "0.015"}),
    )
    .await;
    let mut body = body_with_max_tokens(1000);
    body["stream"] = json!(true);
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-mock-chunk-delay-ms", "300")
        .header("x-mock-chunks", "20")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    // While the stream runs its reservation blocks a second one.
    let blocked = chat(
        &app.client,
        &app.address,
        &app.key,
        &body_with_max_tokens(1000),
    )
    .await;
    assert_eq!(blocked.status(), 429);
    drop(stream);

    assert_eq!(app.wait_for_billed(1, Duration::from_secs(5)).await, 1);
    let row = app.billed_rows().await.remove(0);
    assert_eq!(row.outcome, "client_disconnected");
    assert!(row.input_tokens > 0 && row.output_tokens > 0, "{row:?}");
    assert_eq!(
        row.cost_picos,
        row.input_tokens * INPUT_MICROS + row.output_tokens * OUTPUT_MICROS
    );
    // The usage row and the settlement are written independently: until the settlement lands, the reservation
    // still refuses the call (and a refusal takes nothing).
    eventually(
        "the abandoned stream's reservation was released, only its consumption stays charged",
        || async {
            let after = chat(
                &app.client,
                &app.address,
                &app.key,
                &body_with_max_tokens(1000),
            )
            .await;
            match after.status().as_u16() {
                200 => Ok(()),
                429 => {
                    let body: Value = after.json().await.unwrap();
                    assert_eq!(body["error"]["code"], "budget_exceeded");
                    Err(body["error"]["message"].as_str().unwrap().to_owned())
                }
                other => panic!("unexpected status {other}"),
            }
        },
    )
    .await;
    app.shutdown().await;
}

type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on a random port recording (signature header, body).
async fn start_webhook_receiver() -> (String, Received, actix_web::dev::ServerHandle) {
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let data = web::Data::new(Arc::clone(&received));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/hook",
            web::post().to(
                |req: HttpRequest, body: web::Bytes, seen: web::Data<Received>| async move {
                    let signature = req
                        .headers()
                        .get("x-switchyard-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock()
                        .unwrap()
                        .push((signature, String::from_utf8_lossy(&body).into_owned()));
                    HttpResponse::NoContent().finish()
                },
            ),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), received, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_thresholds_notify_a_signed_webhook_once_per_period() {
    let app = spawn_app().await;
    let (url, received, receiver) = start_webhook_receiver().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    // A soft budget so small that the first call crosses both thresholds.
    let created = create_budget(
        &app,
        &token,
        json!({"name": "tiny", "scope_type": "tenant", "period": "monthly", "limit": "0.000001",
               "hard_limit": false, "soft_thresholds": [50, 80], "webhook_url": url}),
    )
    .await;
    let secret = created["webhook_signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..4 {
        let response = chat(&app.client, &app.address, &app.key, &chat_body(false)).await;
        assert_eq!(response.status(), 200, "a soft budget never refuses");
    }
    // The first call crosses both thresholds; its notifications are delivered in the background.
    eventually("both threshold notifications arrive", || async {
        let seen = received.lock().unwrap().clone();
        if seen.len() >= 2 {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await;
    // The sleep is the thing tested: no third notification follows. A repeat (a later call's settlement crossing
    // a threshold again) would be sent as promptly as the two above, and no later event is ordered after it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = received.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one notification per threshold: {seen:?}");
    let mut percents = Vec::new();
    for (signature, body) in &seen {
        let (t, v1) = signature
            .strip_prefix("t=")
            .and_then(|s| s.split_once(",v1="))
            .expect("t=…,v1=… signature");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        assert_eq!(hex::encode(mac.finalize().into_bytes()), v1);
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "budget.threshold_crossed");
        assert_eq!(event["budget_id"], created["id"]);
        assert_eq!(event["limit"], "0.000001");
        percents.push(event["threshold_percent"].as_i64().unwrap());
    }
    percents.sort_unstable();
    assert_eq!(percents, [50, 80]);
    receiver.stop(true).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_embedded_gateway_keeps_counting_a_budget_from_recorded_spend() {
    let app = spawn_app_with(TestOptions {
        mode: Mode::Embedded,
        ..TestOptions::default()
    })
    .await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    create_budget(
        &app,
        &token,
        json!({"name": "tenant cap", "scope_type": "tenant", "period": "total", "limit": "0.003"}),
    )
    .await;
    let body = body_with_max_tokens(50);
    let admitted =
        spend_until_refused(&app, || chat(&app.client, &app.address, &app.key, &body)).await;
    assert!(admitted > 0);
    assert_eq!(
        app.wait_for_billed(admitted, Duration::from_secs(5)).await,
        admitted
    );
    // A new process on the same database: its in-process counters start empty and must be seeded from the
    // recorded usage, not from zero.
    let restarted = spawn_replica(&app).await;
    let response = chat(
        &http_client(),
        &restarted.address,
        &app.key,
        &body_with_max_tokens(50),
    )
    .await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded");
    restarted.handle.stop(true).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_a_tenant_fails_open_or_closed_as_configured() {
    let redis = TcpProxy::start("127.0.0.1:6379".into()).await;
    let port = redis.port;
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(move |s| s.redis_url = Some(format!("redis://127.0.0.1:{port}"))),
        ..TestOptions::default()
    })
    .await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    update_key(&app, |k| k.rpm_limit = Set(Some(1000))).await;
    assert_eq!(
        chat(&app.client, &app.address, &app.key, &chat_body(false))
            .await
            .status(),
        200
    );

    redis.cut();
    // Fail-open is the default: served, unmetered, and quickly.
    let started = std::time::Instant::now();
    let open = chat(&app.client, &app.address, &app.key, &chat_body(false)).await;
    assert_eq!(open.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3));

    let response = app
        .admin(
            &token,
            reqwest::Method::PATCH,
            "/tenant",
            Some(json!({"limits_failure_mode": "closed"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let tenant = tenant::Entity::find_by_id(app.services.default_tenant.id)
        .one(app.services.repo.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.limits_failure_mode, "closed");
    // The key cache drops the tenant's old mode when the invalidation reaches it; until then calls are still
    // served unmetered.
    let closed = eventually("the tenant fails closed", || async {
        let started = std::time::Instant::now();
        let response = chat(&app.client, &app.address, &app.key, &chat_body(false)).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        match response.status().as_u16() {
            503 => Ok(response),
            200 => Err("still served unmetered".into()),
            other => panic!("unexpected status {other}"),
        }
    })
    .await;
    assert!(closed.headers().contains_key("retry-after"));
    let body: Value = closed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "limits_unavailable");

    let bad = app
        .admin(
            &token,
            reqwest::Method::PATCH,
            "/tenant",
            Some(json!({"limits_failure_mode": "sometimes"})),
        )
        .await;
    assert_eq!(bad.status(), 400);

    redis.restore();
    // The connection manager reconnects with its own backoff, and the limits skip Redis for a second after a
    // failure: metering resumes within seconds, not at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let back = chat(&app.client, &app.address, &app.key, &chat_body(false)).await;
        if back.status() == 200 {
            break;
        }
        assert_eq!(back.status(), 503, "closed while Redis reconnects");
        assert!(
            std::time::Instant::now() < deadline,
            "metering did not resume within 15 s of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_events_carry_the_keys_application_owner_tags_and_the_session() {
    let app = spawn_app().await;
    let (owner, _) = app.token_for("owner@example.com", "owner").await;
    update_key(&app, |k| {
        k.application = Set(Some("checkout".into()));
        k.owner_user_id = Set(Some(owner));
        k.metadata = Set(Some(json!({"cost_center": "cc-7", "env": "dev"})));
    })
    .await;
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-switchyard-tags", "env=prod, region_hint=eu")
        .header("x-switchyard-session-id", "sess-1")
        .header("x-switchyard-agent-id", "planner")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    let row = app.usage_rows().await.remove(0);
    assert_eq!(row.application.as_deref(), Some("checkout"));
    assert_eq!(row.user_id, Some(owner));
    assert_eq!(row.session_id.as_deref(), Some("sess-1"));
    assert_eq!(row.agent_id.as_deref(), Some("planner"));
    // The key's tags are binding: the call cannot replace them; its other tags are kept.
    assert_eq!(
        row.tags,
        json!({"cost_center": "cc-7", "env": "dev", "region_hint": "eu"})
    );
    assert_eq!(row.public_model, MODEL);

    let too_long = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.key)
        .header("x-switchyard-session-id", "s".repeat(200))
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 400);
    let body: Value = too_long.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-switchyard-session-id")
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_budget_covers_only_tagged_calls_and_is_seeded_from_tagged_spend() {
    for mode in [Mode::Production, Mode::Embedded] {
        let app = spawn_app_with(TestOptions {
            mode,
            ..TestOptions::default()
        })
        .await;
        let (_, token) = app.token_for("owner@example.com", "owner").await;
        create_budget(
            &app,
            &token,
            json!({"name": "search feature", "scope_type": "tag", "tag_key": "feature",
                   "tag_value": "search", "period": "daily", "limit": "0.002"}),
        )
        .await;
        let tagged = |address: String, tag: &'static str| {
            let client = app.client.clone();
            let key = app.key.clone();
            async move {
                client
                    .post(format!("{address}/v1/chat/completions"))
                    .bearer_auth(key)
                    .header("x-switchyard-tags", tag)
                    .json(&body_with_max_tokens(50))
                    .send()
                    .await
                    .unwrap()
            }
        };
        // The fresh counters below must see the same spend that made the last call refuse.
        let admitted =
            spend_until_refused(&app, || tagged(app.address.clone(), "feature=search")).await;
        assert!(admitted > 0, "{mode:?}");
        assert_eq!(
            tagged(app.address.clone(), "feature=chat").await.status(),
            200,
            "{mode:?}"
        );
        assert_eq!(
            app.wait_for_billed(admitted + 1, Duration::from_secs(5))
                .await,
            admitted + 1
        );
        // Fresh counters (a new process, or a flushed Redis): the tagged spend is read back from storage.
        let mut settings_app = app.settings.clone();
        if mode == Mode::Production {
            settings_app.redis_prefix = format!("sytest-{}", Uuid::now_v7().simple());
        }
        settings_app.listen = "127.0.0.1:0".into();
        settings_app.data_dir = app.db.dir().join("fresh");
        let fresh = Application::build(settings_app).await.unwrap();
        let fresh_address = format!("http://127.0.0.1:{}", fresh.port());
        let fresh_handle = fresh.handle();
        tokio::spawn(fresh.run_until_stopped());
        assert_eq!(
            tagged(fresh_address.clone(), "feature=search")
                .await
                .status(),
            429,
            "{mode:?}: seeded from the recorded tagged spend"
        );
        assert_eq!(
            tagged(fresh_address, "feature=other").await.status(),
            200,
            "{mode:?}"
        );
        fresh_handle.stop(true).await;
        app.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_stays_inside_its_predecessors_budget() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let key_id = update_key(&app, |_| {}).await;
    create_budget(
        &app,
        &token,
        json!({"name": "old key cap", "scope_type": "key", "scope_id": key_id, "period": "monthly", "limit": "0.002"}),
    )
    .await;
    let mut admitted = 0;
    while chat(
        &app.client,
        &app.address,
        &app.key,
        &body_with_max_tokens(50),
    )
    .await
    .status()
        == 200
    {
        admitted += 1;
        assert!(admitted < 100);
    }
    let rotated: Value = app
        .admin(
            &token,
            reqwest::Method::POST,
            &format!("/keys/{key_id}/rotate"),
            Some(json!({"grace_seconds": 60})),
        )
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    let response = chat(
        &app.client,
        &app.address,
        new_secret,
        &body_with_max_tokens(50),
    )
    .await;
    assert_eq!(
        response.status(),
        429,
        "rotation must not escape the budget"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_counts_spend_the_counters_missed() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    create_budget(
        &app,
        &token,
        json!({"name": "tenant cap", "scope_type": "tenant", "period": "daily", "limit": "0.01"}),
    )
    .await;
    assert_eq!(
        chat(
            &app.client,
            &app.address,
            &app.key,
            &body_with_max_tokens(50)
        )
        .await
        .status(),
        200
    );
    assert_eq!(app.wait_for_usage(1, Duration::from_secs(5)).await, 1);
    // Spend recorded while the counters were away (served unmetered): storage has it, the counter not.
    let mut missed = app.usage_rows().await.remove(0);
    missed.id = Uuid::now_v7();
    missed.cost_picos = 10_000_000_000;
    app.services
        .repo
        .insert_usage_events(&[missed])
        .await
        .unwrap();
    assert_eq!(
        chat(
            &app.client,
            &app.address,
            &app.key,
            &body_with_max_tokens(50)
        )
        .await
        .status(),
        200,
        "the live counter does not know yet"
    );
    app.services.limits.reconcile_once().await;
    let response = chat(
        &app.client,
        &app.address,
        &app.key,
        &body_with_max_tokens(50),
    )
    .await;
    assert_eq!(response.status(), 429, "reconciled from the recorded spend");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_can_never_fit_is_refused_without_retry_after_and_bounds_are_sent_upstream() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    update_key(&app, |k| k.tpm_limit = Set(Some(100_000))).await;
    let too_large = chat(
        &app.client,
        &app.address,
        &app.key,
        &body_with_max_tokens(200_000),
    )
    .await;
    assert_eq!(too_large.status(), 429);
    assert!(!too_large.headers().contains_key("retry-after"));
    let body: Value = too_large.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("request too large")
    );

    // A hard budget: a call without max_tokens is sent with the bound its reservation assumed.
    create_budget(
        &app,
        &token,
        json!({"name": "cap", "scope_type": "tenant", "period": "daily", "limit": "10"}),
    )
    .await;
    let response = chat(&app.client, &app.address, &app.key, &chat_body(false)).await;
    assert_eq!(response.status(), 200);
    let sent = app.mock.received().pop().unwrap();
    assert_eq!(sent.body["max_completion_tokens"], 4096);
    let explicit = chat(
        &app.client,
        &app.address,
        &app.key,
        &body_with_max_tokens(50),
    )
    .await;
    assert_eq!(explicit.status(), 200);
    let sent = app.mock.received().pop().unwrap();
    assert_eq!(sent.body["max_tokens"], 50);
    assert!(sent.body.get("max_completion_tokens").is_none());

    let mut absurd = chat_body(false);
    absurd["n"] = json!(1_000);
    let response = chat(&app.client, &app.address, &app.key, &absurd).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "n");
    app.shutdown().await;
}
