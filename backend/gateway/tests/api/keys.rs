//! Keys: revocation reaches a running gateway at once through Redis; expiry; the models a key may list.

use crate::helpers::{MODEL, OTHER_MODEL, TestOptions, chat_body, eventually, spawn_app_with};
use crate::shutdown::switchyard;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::Value;
use std::time::{Duration, Instant};
use switchyard::store::entities::api_key;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_with_the_cli_stops_a_running_gateway_accepting_the_key_at_once() {
    // A long cache TTL: only the Redis invalidation can make revocation take effect quickly.
    let app = spawn_app_with(TestOptions {
        tweak: Box::new(|s| s.proxy.key_cache_ttl = Duration::from_secs(3600)),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(
        app.post("/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200,
        "key cached"
    );
    let prefix = switchyard::keys::display_prefix(&app.key);
    let envs = vec![
        (
            "SWITCHYARD_DATABASE_URL".to_owned(),
            app.settings.database_url.clone().unwrap(),
        ),
        (
            "SWITCHYARD_REDIS_URL".to_owned(),
            app.settings.redis_url.clone().unwrap(),
        ),
        (
            "SWITCHYARD_REDIS_PREFIX".to_owned(),
            app.settings.redis_prefix.clone(),
        ),
        (
            "SWITCHYARD_DATA_DIR".to_owned(),
            app.settings.data_dir.display().to_string(),
        ),
    ];

    let output = switchyard(&envs, &["keys", "revoke", &prefix]);
    assert!(output.contains("revoked"), "{output}");
    let started = Instant::now();
    let mut status = 200;
    while started.elapsed() < Duration::from_secs(3) {
        status = app
            .post("/v1/chat/completions", &chat_body(false))
            .await
            .status()
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(
        status,
        401,
        "revoked key still accepted after {:?}",
        started.elapsed()
    );
    let body: Value = app
        .post("/v1/chat/completions", &chat_body(false))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    let listed = switchyard(&envs, &["keys", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&prefix) && l.contains("revoked")),
        "{listed}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refused() {
    let app = spawn_app_with(TestOptions::default()).await;
    let hash = switchyard::keys::hash(&app.key);
    let row = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash.clone()))
        .one(app.services.repo.db())
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    active.expires_at = Set(Some(Utc::now() - chrono::Duration::seconds(1)));
    active.update(app.services.repo.db()).await.unwrap();
    app.services
        .state
        .publish(&switchyard::state::Invalidation::ApiKey { key_hash: hash })
        .await
        .unwrap();

    // A copy of the key cached before the change would be dropped when the invalidation reaches the cache.
    eventually("the expired key is refused", || async {
        let response = app.post("/v1/chat/completions", &chat_body(false)).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            401 => {
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("expired"),
                    "{body}"
                );
                Ok(())
            }
            200 => Err("still accepted".into()),
            other => panic!("unexpected status {other}: {body}"),
        }
    })
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_only_what_the_key_may_use() {
    let app = spawn_app_with(TestOptions::default()).await;
    let list = |key: String| {
        let app = &app;
        async move {
            let body: Value = app
                .client
                .get(format!("{}/v1/models", app.address))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mut ids: Vec<String> = body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };

    assert_eq!(
        list(app.key.clone()).await,
        vec![MODEL.to_owned(), OTHER_MODEL.to_owned()]
    );
    assert_eq!(
        list(app.restricted_key.clone()).await,
        vec![MODEL.to_owned()]
    );
    let one = app
        .client
        .get(format!("{}/v1/models/{MODEL}", app.address))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let hidden = app
        .client
        .get(format!("{}/v1/models/{OTHER_MODEL}", app.address))
        .bearer_auth(&app.restricted_key)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 403);
    app.shutdown().await;
}
