//! The OpenAPI document and its offline reference page: the document is OpenAPI 3.1, lists every admin route
//! with its method, and the page loads nothing from another origin.

use crate::helpers::spawn_app;
use serde_json::Value;

/// Every route registered in `admin/mod.rs` under `/api/v1`. Add a route there, add it here and annotate its
/// handler with `#[utoipa::path]`: this list is what keeps the document honest.
const DOCUMENTED_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password"),
    ("get", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/signup"),
    ("get", "/api/v1/platform/tenants"),
    ("post", "/api/v1/platform/tenants"),
    ("get", "/api/v1/tenant"),
    ("patch", "/api/v1/tenant"),
    ("get", "/api/v1/regions"),
    ("get", "/api/v1/members"),
    ("post", "/api/v1/members"),
    ("patch", "/api/v1/members/{user_id}"),
    ("delete", "/api/v1/members/{user_id}"),
    ("get", "/api/v1/invitations"),
    ("delete", "/api/v1/invitations/{id}"),
    ("post", "/api/v1/invitations/accept"),
    ("get", "/api/v1/teams"),
    ("post", "/api/v1/teams"),
    ("get", "/api/v1/teams/{id}"),
    ("patch", "/api/v1/teams/{id}"),
    ("delete", "/api/v1/teams/{id}"),
    ("get", "/api/v1/teams/{id}/members"),
    ("put", "/api/v1/teams/{id}/members/{user_id}"),
    ("delete", "/api/v1/teams/{id}/members/{user_id}"),
    ("get", "/api/v1/keys"),
    ("post", "/api/v1/keys"),
    ("get", "/api/v1/keys/{id}"),
    ("patch", "/api/v1/keys/{id}"),
    ("post", "/api/v1/keys/{id}/revoke"),
    ("post", "/api/v1/keys/{id}/rotate"),
    ("get", "/api/v1/providers"),
    ("post", "/api/v1/providers"),
    ("patch", "/api/v1/providers/{id}"),
    ("delete", "/api/v1/providers/{id}"),
    ("get", "/api/v1/deployments"),
    ("post", "/api/v1/deployments"),
    ("patch", "/api/v1/deployments/{id}"),
    ("delete", "/api/v1/deployments/{id}"),
    ("get", "/api/v1/model-groups"),
    ("put", "/api/v1/model-groups/{model}"),
    ("delete", "/api/v1/model-groups/{model}"),
    ("get", "/api/v1/budgets"),
    ("post", "/api/v1/budgets"),
    ("get", "/api/v1/budgets/{id}"),
    ("patch", "/api/v1/budgets/{id}"),
    ("delete", "/api/v1/budgets/{id}"),
    ("get", "/api/v1/prices"),
    ("post", "/api/v1/prices"),
    ("delete", "/api/v1/prices/{id}"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/requests"),
    ("get", "/api/v1/requests/{id}"),
    ("get", "/api/v1/sessions"),
    ("get", "/api/v1/sessions/{session_id}"),
    ("get", "/api/v1/reports/chargeback"),
    ("get", "/api/v1/statements/{month}"),
];

/// Routes that need no session.
const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/invitations/accept"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_lists_every_admin_route() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Switchyard admin API");
    let paths = doc["paths"].as_object().unwrap();
    let missing: Vec<String> = DOCUMENTED_ROUTES
        .iter()
        .filter(|(method, path)| {
            paths
                .get(*path)
                .and_then(|item| item.get(*method))
                .is_none()
        })
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let documented: usize = paths
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        DOCUMENTED_ROUTES.len(),
        "the document has operations this test does not list"
    );
    for (method, path) in DOCUMENTED_ROUTES {
        let op = &doc["paths"][path][method];
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(
            secured,
            !PUBLIC_ROUTES.contains(&(method, path)),
            "security of {method} {path}"
        );
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
    }
    let mut operation_ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    operation_ids.sort_unstable();
    operation_ids.dedup();
    assert_eq!(
        operation_ids.len(),
        DOCUMENTED_ROUTES.len(),
        "every operation has its own operationId"
    );
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (bearer["type"].as_str(), bearer["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["cookie"]["name"],
        "__Host-sy_access"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_page_is_html_that_loads_nothing_from_elsewhere() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(format!("{}/api/docs", app.address))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = response.text().await.unwrap();
    assert!(body.contains("openapi.json"), "the page loads the document");
    assert!(
        !body.contains("://"),
        "the page must not reference any absolute URL"
    );
    app.shutdown().await;
}
