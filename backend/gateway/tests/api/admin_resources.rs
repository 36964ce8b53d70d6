//! Teams, members, keys, tenant settings and the audit log through the admin API.

use crate::helpers::{MODEL, chat_body, eventually, json_of, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_are_created_edited_with_if_match_and_audited() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;

    let created = app
        .admin(
            &token,
            Method::POST,
            "/teams",
            Some(json!({"slug": "search", "name": "Search", "allowed_regions": ["eu"]})),
        )
        .await;
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let team = json_of(created, 201).await;
    let id = team["id"].as_str().unwrap().to_owned();
    let duplicate = json_of(
        app.admin(
            &token,
            Method::POST,
            "/teams",
            Some(json!({"slug": "search", "name": "Again"})),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(duplicate["error"]["code"], "conflict");
    let bad = json_of(
        app.admin(
            &token,
            Method::POST,
            "/teams",
            Some(json!({"slug": "Bad Slug", "name": "x"})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(bad["error"]["details"]["field"], "slug");
    let bad_region = json_of(
        app.admin(
            &token,
            Method::POST,
            "/teams",
            Some(json!({"slug": "x1", "name": "x", "allowed_regions": ["mars"]})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(
        bad_region["error"]["details"]["field"],
        "allowed_regions[0]"
    );

    // An edit with the current ETag wins; a second edit with the same (now stale) ETag is refused.
    let url = format!("{}/api/v1/teams/{id}", app.address);
    let first = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", &etag)
        .json(&json!({"name": "Search & Ranking"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let stale = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", &etag)
        .json(&json!({"name": "Lost update"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(stale, 412).await["error"]["code"],
        "precondition_failed"
    );
    let current = json_of(
        app.admin(&token, Method::GET, &format!("/teams/{id}"), None)
            .await,
        200,
    )
    .await;
    assert_eq!(current["name"], "Search & Ranking");

    let audit = json_of(
        app.admin(&token, Method::GET, "/audit?target_type=team", None)
            .await,
        200,
    )
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["team.update", "team.create"]);
    assert_eq!(audit["data"][0]["before"]["name"], "Search");
    assert_eq!(audit["data"][0]["after"]["name"], "Search & Ranking");
    assert_eq!(audit["data"][0]["actor"], "owner@example.com");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_by_invitation_and_the_last_owner_stays() {
    let app = spawn_app().await;
    let (owner_id, token) = app.token_for("owner@example.com", "owner").await;

    let invited = json_of(
        app.admin(
            &token,
            Method::POST,
            "/members",
            Some(json!({"email": "Fin@Example.com", "role": "finance"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(invited["email"], "fin@example.com");
    assert!(invited.get("one_time_password").is_none(), "{invited}");
    // The invitee sets their own password when accepting.
    let fin_password = "fin's very own password";
    let accepted = json_of(
        app.client
            .post(format!("{}/api/v1/invitations/accept", app.address))
            .json(&json!({"token": invited["token"], "password": fin_password}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(accepted["role"], "finance");
    let login = app.login("fin@example.com", fin_password).await;
    assert_eq!(login["role"], "finance");
    let fin_id = accepted["user"]["id"].as_str().unwrap().to_owned();
    let members = json_of(app.admin(&token, Method::GET, "/members", None).await, 200).await;
    let joined = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == fin_id.as_str())
        .cloned()
        .unwrap();

    let promoted = json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/members/{fin_id}"),
            Some(json!({"role": "admin"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(promoted["role"], "admin");
    // A role change based on a stale read is refused.
    let stale_at: chrono::DateTime<chrono::Utc> =
        joined["updated_at"].as_str().unwrap().parse().unwrap();
    let stale = app
        .client
        .patch(format!("{}/api/v1/members/{fin_id}", app.address))
        .bearer_auth(&token)
        .header("if-match", format!("\"{}\"", stale_at.timestamp_micros()))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    // An admin may not grant ownership; nobody may demote the last owner.
    let admin_token = app.login("fin@example.com", fin_password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    json_of(
        app.admin(
            &admin_token,
            Method::PATCH,
            &format!("/members/{owner_id}"),
            Some(json!({"role": "viewer"})),
        )
        .await,
        403,
    )
    .await;
    let bootstrap_owner = json_of(app.admin(&token, Method::GET, "/members", None).await, 200)
        .await["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "admin@localhost")
        .map(|m| m["user_id"].as_str().unwrap().to_owned())
        .unwrap();
    json_of(
        app.admin(
            &token,
            Method::DELETE,
            &format!("/members/{bootstrap_owner}"),
            None,
        )
        .await,
        200,
    )
    .await;
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/members/{owner_id}"),
            Some(json!({"role": "viewer"})),
        )
        .await,
        409,
    )
    .await;
    json_of(
        app.admin(
            &token,
            Method::DELETE,
            &format!("/members/{owner_id}"),
            None,
        )
        .await,
        409,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_show_their_secret_once_work_on_the_proxy_revoke_and_rotate_with_grace() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let team_id = app.services.default_team.id;

    let created = json_of(
        app.admin(&token, Method::POST, "/keys", Some(json!({"name": "checkout", "team_id": team_id, "application": "checkout-svc", "allowed_models": [MODEL], "rpm_limit": 600, "metadata": {"env": "prod"}}))).await,
        201,
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let listed = app
        .admin(&token, Method::GET, "/keys", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&secret) && !listed.contains(&switchyard::keys::hash(&secret)),
        "lists never show secrets or hashes"
    );
    assert_eq!(
        app.post_as(&secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );

    // Rotate with a grace period: both secrets work until it ends, then only the new one.
    let rotated = json_of(
        app.admin(
            &token,
            Method::POST,
            &format!("/keys/{id}/rotate"),
            Some(json!({"grace_seconds": 2})),
        )
        .await,
        201,
    )
    .await;
    // The gateway set the grace period's end before it answered.
    let grace_over = tokio::time::Instant::now() + Duration::from_secs(2);
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(rotated["application"], "checkout-svc");
    assert_eq!(
        app.post_as(&secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_as(&new_secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    // The sleep is the thing tested: the old secret stops working when its grace period ends (a few
    // milliseconds more for the clocks to agree).
    tokio::time::sleep_until(grace_over + Duration::from_millis(50)).await;
    assert_eq!(
        app.post_as(&secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        401
    );
    assert_eq!(
        app.post_as(&new_secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );

    // Revocation takes effect on the proxy at once.
    let new_id = rotated["id"].as_str().unwrap();
    let revoked = json_of(
        app.admin(
            &token,
            Method::POST,
            &format!("/keys/{new_id}/revoke"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(
        app.post_as(&new_secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        401
    );
    let invalid = json_of(
        app.admin(
            &token,
            Method::POST,
            "/keys",
            Some(json!({"name": "x", "team_id": team_id, "rpm_limit": 0})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(invalid["error"]["details"]["field"], "rpm_limit");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_manages_only_their_own_keys_in_their_own_teams() {
    let app = spawn_app().await;
    let (_, owner) = app.token_for("owner@example.com", "owner").await;
    let (dev_id, dev) = app.token_for("dev@example.com", "developer").await;
    let team_id = app.services.default_team.id;
    let owners_key = json_of(
        app.admin(
            &owner,
            Method::POST,
            "/keys",
            Some(json!({"name": "owner's", "team_id": team_id})),
        )
        .await,
        201,
    )
    .await;

    // Not yet a member of the team: refused.
    json_of(
        app.admin(
            &dev,
            Method::POST,
            "/keys",
            Some(json!({"name": "mine", "team_id": team_id})),
        )
        .await,
        403,
    )
    .await;
    json_of(
        app.admin(
            &owner,
            Method::PUT,
            &format!("/teams/{team_id}/members/{dev_id}"),
            None,
        )
        .await,
        204,
    )
    .await;
    let mine = json_of(
        app.admin(
            &dev,
            Method::POST,
            "/keys",
            Some(json!({"name": "mine", "team_id": team_id})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(mine["owner_user_id"], dev_id.to_string());

    let visible = json_of(app.admin(&dev, Method::GET, "/keys", None).await, 200).await;
    let names: Vec<&str> = visible["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["mine"]);
    let other = owners_key["id"].as_str().unwrap();
    json_of(
        app.admin(&dev, Method::POST, &format!("/keys/{other}/revoke"), None)
            .await,
        404,
    )
    .await;
    let (_, finance) = app.token_for("fin@example.com", "finance").await;
    json_of(app.admin(&finance, Method::GET, "/keys", None).await, 403).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residency_narrows_from_tenant_to_team_to_key_and_the_proxy_refuses_outside_it() {
    // The test model is served only in `eu`.
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let team_id = app.services.default_team.id;
    let key = json_of(
        app.admin(
            &token,
            Method::POST,
            "/keys",
            Some(json!({"name": "k", "team_id": team_id})),
        )
        .await,
        201,
    )
    .await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post_as(&secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        200
    );
    // A change of regions reaches the key cache in the background: until it has, a call gets the old answer.
    // One call, which must answer `wanted`, or `before` (the answer before the change); the calls served are
    // counted, as each is billed.
    let served = std::cell::Cell::new(1);
    let call_expecting = |wanted: u16, before: u16| {
        let (app, secret, served) = (&app, &secret, &served);
        async move {
            let response = app
                .post_as(secret, "/v1/chat/completions", &chat_body(false))
                .await;
            let status = response.status().as_u16();
            if status == 200 {
                served.set(served.get() + 1);
            }
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status == wanted || status == before, "{status} {body}");
            if status == wanted {
                Ok(body)
            } else {
                Err(format!("still {status} {body}"))
            }
        }
    };

    // The tenant allows eu and us; the team narrows to us: no eu deployment may serve this key any more.
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            "/tenant",
            Some(json!({"allowed_regions": ["eu", "us"]})),
        )
        .await,
        200,
    )
    .await;
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/teams/{team_id}"),
            Some(json!({"allowed_regions": ["us"]})),
        )
        .await,
        200,
    )
    .await;
    let body = eventually("the proxy refuses outside the team's regions", || {
        call_expecting(403, 200)
    })
    .await;
    assert_eq!(body["error"]["code"], "region_not_allowed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("[eu]") && message.contains("tenant and team") && message.contains("[us]"),
        "{message}"
    );

    // A key cannot widen what its team allows: eu on the key still leaves the intersection empty.
    let id = key["id"].as_str().unwrap();
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/keys/{id}"),
            Some(json!({"allowed_regions": ["eu"]})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        app.post_as(&secret, "/v1/chat/completions", &chat_body(false))
            .await
            .status(),
        403
    );
    // Clearing the team's restriction brings eu back (tenant ∩ key = eu).
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/teams/{team_id}"),
            Some(json!({"allowed_regions": null})),
        )
        .await,
        200,
    )
    .await;
    eventually("the proxy serves eu again", || call_expecting(200, 403)).await;
    let served = served.get();
    assert_eq!(
        app.wait_for_billed(served, Duration::from_secs(5)).await,
        served
    );
    // The refusals were queued before the last call: they are in the log, with their reason and no cost.
    let refusals: Vec<_> = app
        .usage_rows()
        .await
        .into_iter()
        .filter(|r| r.deployment_id.is_none())
        .collect();
    assert!(!refusals.is_empty());
    assert!(
        refusals.iter().all(|r| r.status_code == 403
            && r.outcome == "region_not_allowed"
            && r.cost_picos == 0),
        "refused calls are logged, not billed"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_key_is_stored_encrypted_never_returned_and_used_upstream() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let provider_secret = "sk-upstream-0123456789abcdef";

    let provider = json_of(
        app.admin(&token, Method::POST, "/providers", Some(json!({"name": "acme", "kind": "openai", "base_url": app.mock.base_url(), "api_key": provider_secret}))).await,
        201,
    )
    .await;
    assert_eq!(provider["api_key_hint"], "sk-…cdef");
    let deployment = json_of(
        app.admin(&token, Method::POST, "/deployments", Some(json!({"model": "acme-chat", "provider_id": provider["id"], "upstream_model": "mock-gpt", "region": "eu", "input_price": "0.075", "output_price": "0.3"}))).await,
        201,
    )
    .await;
    assert_eq!(
        (
            deployment["input_price"].as_str(),
            deployment["output_price"].as_str()
        ),
        (Some("0.075"), Some("0.3"))
    );
    let bad_price = json_of(app.admin(&token, Method::POST, "/deployments", Some(json!({"model": "x", "provider_id": provider["id"], "upstream_model": "y", "region": "eu", "input_price": "0.0000001", "output_price": "1"}))).await, 400).await;
    assert_eq!(bad_price["error"]["details"]["field"], "input_price");

    // Nothing returns the key; the database holds only ciphertext.
    for path in ["/providers", "/deployments", "/audit"] {
        let body = app
            .admin(&token, Method::GET, path, None)
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !body.contains(provider_secret),
            "{path} leaks the provider key"
        );
    }
    use sea_orm::EntityTrait;
    let row = switchyard::store::entities::provider::Entity::find_by_id(
        uuid::Uuid::parse_str(provider["id"].as_str().unwrap()).unwrap(),
    )
    .one(app.services.repo.db())
    .await
    .unwrap()
    .unwrap();
    let sealed = row.api_key_ciphertext.unwrap();
    assert!(sealed.starts_with("v1:") && !sealed.contains(provider_secret));

    // The proxy decrypts it for the upstream call, once its catalog has reloaded with the new deployment.
    let tenant = app.services.default_tenant.id;
    eventually("the catalog serves acme-chat", || async {
        match app
            .services
            .catalog
            .snapshot()
            .deployments(tenant, "acme-chat")
        {
            Some(_) => Ok(()),
            None => Err("not in the catalog yet".into()),
        }
    })
    .await;
    let mut body = chat_body(false);
    body["model"] = json!("acme-chat");
    assert_eq!(app.post("/v1/chat/completions", &body).await.status(), 200);
    let seen = app.mock.received().pop().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {provider_secret}").as_str())
    );
    // In use by a deployment: cannot be deleted.
    json_of(
        app.admin(
            &token,
            Method::DELETE,
            &format!("/providers/{}", provider["id"].as_str().unwrap()),
            None,
        )
        .await,
        409,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_edits_respect_the_keys_state_and_rotation_bodies_are_strict() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let team_id = app.services.default_team.id;
    let key = json_of(
        app.admin(
            &token,
            Method::POST,
            "/keys",
            Some(json!({"name": "k", "team_id": team_id})),
        )
        .await,
        201,
    )
    .await;
    let id = key["id"].as_str().unwrap().to_owned();

    let typo = json_of(
        app.admin(
            &token,
            Method::POST,
            &format!("/keys/{id}/rotate"),
            Some(json!({"grace": 3600})),
        )
        .await,
        400,
    )
    .await;
    assert!(
        typo["error"]["message"].as_str().unwrap().contains("grace"),
        "{typo}"
    );
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/keys/{id}"),
            Some(json!({"expires_at": "2000-01-01T00:00:00Z"})),
        )
        .await,
        400,
    )
    .await;
    let stranger = json_of(
        app.admin(
            &token,
            Method::POST,
            "/keys",
            Some(json!({"name": "k2", "team_id": team_id, "owner_user_id": uuid::Uuid::now_v7()})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(stranger["error"]["details"]["field"], "owner_user_id");
    json_of(
        app.admin(&token, Method::POST, &format!("/keys/{id}/rotate"), None)
            .await,
        201,
    )
    .await;
    // The replaced key cannot be revived by clearing its expiry.
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/keys/{id}"),
            Some(json!({"expires_at": null})),
        )
        .await,
        409,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_store_exact_limits_thresholds_and_a_webhook_secret_shown_once() {
    let app = spawn_app().await;
    let (_, finance) = app.token_for("fin@example.com", "finance").await;
    let team_id = app.services.default_team.id;

    let created = json_of(
        app.admin(&finance, Method::POST, "/budgets", Some(json!({"name": "Search monthly", "scope_type": "team", "scope_id": team_id, "period": "monthly", "limit": "1250.075", "soft_thresholds": [90, 50, 80], "webhook_url": "https://hooks.example.com/budget"}))).await,
        201,
    )
    .await;
    assert_eq!(created["limit"], "1250.075");
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["soft_thresholds"], json!([50, 80, 90]));
    let secret = created["webhook_signing_secret"]
        .as_str()
        .expect("shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = created["id"].as_str().unwrap().to_owned();
    let fetched = app
        .admin(&finance, Method::GET, &format!("/budgets/{id}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !fetched.contains(&secret),
        "the signing secret is never shown again"
    );

    for (body, field) in [
        (
            json!({"name": "x", "scope_type": "team", "period": "daily", "limit": "1"}),
            "scope_id",
        ),
        (
            json!({"name": "x", "scope_type": "tenant", "period": "daily", "limit": "0.0000000000001"}),
            "limit",
        ),
        (
            json!({"name": "x", "scope_type": "tenant", "period": "daily", "limit": "10", "soft_thresholds": [150]}),
            "soft_thresholds",
        ),
        (
            json!({"name": "x", "scope_type": "tag", "period": "daily", "limit": "10", "tag_key": "env"}),
            "tag_key",
        ),
    ] {
        let error = json_of(
            app.admin(&finance, Method::POST, "/budgets", Some(body))
                .await,
            400,
        )
        .await;
        assert_eq!(error["error"]["details"]["field"], field);
    }
    let updated = json_of(
        app.admin(
            &finance,
            Method::PATCH,
            &format!("/budgets/{id}"),
            Some(json!({"limit": "2000", "hard_limit": false})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (updated["limit"].as_str(), updated["hard_limit"].as_bool()),
        (Some("2000"), Some(false))
    );
    let (_, dev) = app.token_for("dev@example.com", "developer").await;
    json_of(app.admin(&dev, Method::GET, "/budgets", None).await, 403).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_pages_with_a_cursor_and_provider_edits_honour_if_match() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    for n in 0..3 {
        json_of(app.admin(&token, Method::POST, "/budgets", Some(json!({"name": format!("b{n}"), "scope_type": "tenant", "period": "daily", "limit": "1"}))).await, 201).await;
    }
    let first = json_of(
        app.admin(&token, Method::GET, "/budgets?limit=2", None)
            .await,
        200,
    )
    .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let second = json_of(
        app.admin(
            &token,
            Method::GET,
            &format!("/budgets?limit=2&cursor={cursor}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (
            second["data"].as_array().unwrap().len(),
            second["next_cursor"].is_null()
        ),
        (1, true)
    );
    assert_eq!(
        second["data"][0]["name"], "b0",
        "newest first, the oldest last"
    );
    for list in [
        "/members?limit=1",
        "/providers?limit=1",
        "/deployments?limit=1",
    ] {
        let page = json_of(app.admin(&token, Method::GET, list, None).await, 200).await;
        assert!(
            page["data"].as_array().unwrap().len() <= 1 && page.get("next_cursor").is_some(),
            "{list}: {page}"
        );
    }
    json_of(
        app.admin(&token, Method::GET, "/members?limit=500", None)
            .await,
        400,
    )
    .await;

    let created = app
        .admin(
            &token,
            Method::POST,
            "/providers",
            Some(json!({"name": "p", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"})),
        )
        .await;
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let id = json_of(created, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/api/v1/providers/{id}", app.address);
    let ok = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", &etag)
        .json(&json!({"name": "p2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let stale = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", &etag)
        .json(&json!({"name": "p3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_removals_guard_what_still_depends_on_them() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("owner@example.com", "owner").await;
    let (dev_id, _) = app.token_for("dev@example.com", "developer").await;

    // A team with a member and an active key cannot go; without the key it can.
    let team = json_of(
        app.admin(
            &token,
            Method::POST,
            "/teams",
            Some(json!({"slug": "temp", "name": "Temp"})),
        )
        .await,
        201,
    )
    .await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    json_of(
        app.admin(
            &token,
            Method::PUT,
            &format!("/teams/{team_id}/members/{dev_id}"),
            None,
        )
        .await,
        204,
    )
    .await;
    let listed = json_of(
        app.admin(
            &token,
            Method::GET,
            &format!("/teams/{team_id}/members"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(listed["data"][0]["user_id"], dev_id.to_string());
    json_of(
        app.admin(
            &token,
            Method::DELETE,
            &format!("/teams/{team_id}/members/{dev_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    let key = json_of(
        app.admin(
            &token,
            Method::POST,
            "/keys",
            Some(json!({"name": "k", "team_id": team_id})),
        )
        .await,
        201,
    )
    .await;
    json_of(
        app.admin(&token, Method::DELETE, &format!("/teams/{team_id}"), None)
            .await,
        409,
    )
    .await;
    json_of(
        app.admin(
            &token,
            Method::POST,
            &format!("/keys/{}/revoke", key["id"].as_str().unwrap()),
            None,
        )
        .await,
        200,
    )
    .await;
    json_of(
        app.admin(&token, Method::DELETE, &format!("/teams/{team_id}"), None)
            .await,
        204,
    )
    .await;
    json_of(
        app.admin(&token, Method::GET, &format!("/teams/{team_id}"), None)
            .await,
        404,
    )
    .await;

    // A provider goes once its deployments have; a deployment edit changes prices for calls from then on.
    let provider = json_of(app.admin(&token, Method::POST, "/providers", Some(json!({"name": "p", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "SWITCHYARD_PROVIDER_KEY_P"}))).await, 201).await;
    let pid = provider["id"].as_str().unwrap().to_owned();
    let deployment = json_of(app.admin(&token, Method::POST, "/deployments", Some(json!({"model": "m", "provider_id": pid, "upstream_model": "u", "region": "us", "input_price": "1", "output_price": "2"}))).await, 201).await;
    let did = deployment["id"].as_str().unwrap().to_owned();
    let edited = json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/deployments/{did}"),
            Some(json!({"input_price": "1.5", "cached_input_price": "0.75"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (
            edited["input_price"].as_str(),
            edited["cached_input_price"].as_str()
        ),
        (Some("1.5"), Some("0.75"))
    );
    json_of(
        app.admin(
            &token,
            Method::PATCH,
            &format!("/deployments/{did}"),
            Some(json!({"region": "mars"})),
        )
        .await,
        400,
    )
    .await;
    json_of(
        app.admin(&token, Method::DELETE, &format!("/providers/{pid}"), None)
            .await,
        409,
    )
    .await;
    json_of(
        app.admin(&token, Method::DELETE, &format!("/deployments/{did}"), None)
            .await,
        204,
    )
    .await;
    json_of(
        app.admin(&token, Method::DELETE, &format!("/providers/{pid}"), None)
            .await,
        204,
    )
    .await;

    let budget = json_of(app.admin(&token, Method::POST, "/budgets", Some(json!({"name": "b", "scope_type": "tag", "tag_key": "env", "tag_value": "prod", "period": "total", "limit": "5"}))).await, 201).await;
    let bid = budget["id"].as_str().unwrap().to_owned();
    json_of(
        app.admin(&token, Method::DELETE, &format!("/budgets/{bid}"), None)
            .await,
        204,
    )
    .await;
    json_of(
        app.admin(&token, Method::GET, &format!("/budgets/{bid}"), None)
            .await,
        404,
    )
    .await;
    let audit = json_of(
        app.admin(&token, Method::GET, "/audit?limit=200", None)
            .await,
        200,
    )
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "team.delete",
        "team.member_add",
        "team.member_remove",
        "provider.delete",
        "deployment.update",
        "deployment.delete",
        "budget.delete",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    app.shutdown().await;
}
