//! Who may read chargeback: the role matrix, tenant isolation, and refused requests in the admin error shape.

use crate::helpers::spawn_app;
use crate::reports::{get, last_month_27th, report, seed};
use crate::usage_fixtures::Fixture;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_admins_and_finance_may_read_reports_and_statements() {
    let app = spawn_app().await;
    let last_month = last_month_27th().format("%Y-%m").to_string();
    for (role, status) in [
        ("owner", 200),
        ("admin", 200),
        ("finance", 200),
        ("developer", 403),
        ("viewer", 403),
    ] {
        let (_, token) = app.token_for(&format!("{role}@example.com"), role).await;
        for path in [
            "/reports/chargeback".to_owned(),
            "/reports/chargeback?format=csv".into(),
            format!("/statements/{last_month}"),
            format!("/statements/{last_month}?format=csv"),
        ] {
            let response = get(&app, &token, &path).await;
            assert_eq!(response.status(), status, "{role} {path}");
            if status == 403 {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
    }
    assert_eq!(
        app.client
            .get(format!("{}/api/v1/reports/chargeback", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_never_sees_another_tenants_usage() {
    // Arrange: usage in the default tenant, and a second tenant with a finance user.
    let app = spawn_app().await;
    let fixture = Fixture::create(&app).await;
    let (events, _) = seed(&app, &fixture, 200).await;
    let other = crate::usage_fixtures::other_tenant(&app).await;
    let other_user = app
        .create_user("other-finance@example.com", "finance", Some(other))
        .await;
    let token = app
        .login("other-finance@example.com", crate::helpers::TEST_PASSWORD)
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let range = "from=2000-01-01&to=2100-01-01";

    // Act
    let theirs = report(&app, &token, &format!("{range}&group_by=team")).await;
    let by_id = get(
        &app,
        &token,
        &format!("/reports/chargeback?{range}&team_id={}", fixture.teams[0]),
    )
    .await;

    // Assert
    assert_eq!(theirs["rows"], serde_json::json!([]), "{other_user}");
    assert_eq!(theirs["totals"]["requests"], 0);
    assert_eq!(theirs["totals"]["cost"], "0");
    assert_eq!(
        by_id.json::<Value>().await.unwrap()["rows"],
        serde_json::json!([])
    );
    let (_, ours) = app.token_for("finance@example.com", "finance").await;
    assert_eq!(
        report(&app, &ours, range).await["totals"]["requests"],
        events.len()
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_groupings_filters_and_ranges_are_400_in_the_admin_error_shape() {
    let app = spawn_app().await;
    let (_, token) = app.token_for("finance@example.com", "finance").await;
    let cases = [
        ("group_by=team,colour", "group_by"),
        ("group_by=tag:", "group_by"),
        ("group_by=tag:env,tag:feature", "group_by"),
        ("group_by=tag:env&tag=feature%3Dsearch", "tag"),
        ("tag=env", "tag"),
        ("from=last-week", "from"),
        ("from=2026-11-01T08:30:00Z", "from"),
        ("from=2026-11-02&to=2026-11-01", "to"),
        ("format=xml", "format"),
        ("team_id=not-a-uuid", "query"),
    ];
    for (query, field) in cases {
        let response = get(&app, &token, &format!("/reports/chargeback?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "validation_failed",
            "{query}: {body}"
        );
        assert_eq!(body["error"]["details"]["field"], field, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let response = get(&app, &token, "/statements/2026-13").await;
    assert_eq!(response.status(), 400);
    app.shutdown().await;
}
