//! The admin API described as an OpenAPI 3.1 document (`GET /api/openapi.json`) and an offline reference page
//! that renders it (`GET /api/docs`). The document is generated from the handlers' `#[utoipa::path]`
//! annotations and the DTOs' `ToSchema` derives, so it changes with the code; the `admin_openapi` integration
//! test checks that every route registered in `admin/mod.rs` is in it.

use super::error::ApiErrorBody;
use super::{
    api_keys, audit, auth, budgets, deployments, invitations, members, model_groups, prices,
    providers, regions, reports, requests, sessions, teams, tenants,
};
use actix_web::{HttpResponse, ResponseError};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The reference page: plain HTML, CSS and JavaScript, no external resources, so it works offline.
const REFERENCE_PAGE: &str = include_str!("reference.html");

/// A list answered as `{"data": [...]}` without pagination (members, regions, providers, …). The handlers build
/// this JSON inline; the type exists so the document can name the shape.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DataList<T> {
    pub data: Vec<T>,
}

/// The document's root: every admin route, listed explicitly.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard admin API",
        version = env!("CARGO_PKG_VERSION"),
        description = "Everything the console does to a tenant, as JSON endpoints under `/api/v1`. Errors always have the shape `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    paths(
        auth::login, auth::refresh, auth::logout, auth::change_password, auth::me,
        tenants::sign_up, tenants::list, tenants::create,
        regions::get_tenant, regions::update_tenant, regions::list,
        members::list, invitations::invite, members::change_role, members::remove,
        invitations::list, invitations::revoke, invitations::accept,
        teams::list, teams::create, teams::get, teams::update, teams::delete,
        teams::members, teams::add_member, teams::remove_member,
        api_keys::list, api_keys::create, api_keys::get, api_keys::update, api_keys::revoke, api_keys::rotate,
        providers::list, providers::create, providers::update, providers::delete,
        deployments::list_deployments, deployments::create_deployment, deployments::update_deployment, deployments::delete_deployment,
        model_groups::list, model_groups::put, model_groups::delete,
        budgets::list, budgets::create, budgets::get, budgets::update, budgets::delete,
        prices::list, prices::create, prices::delete,
        audit::list,
        requests::list,
        requests::get,
        sessions::list,
        sessions::graph,
        reports::chargeback, reports::statement,
    ),
    components(schemas(ApiErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sessions: login, refresh, logout, password"),
        (name = "tenant", description = "The caller's tenant and its settings"),
        (name = "regions", description = "Residency regions of the catalog"),
        (name = "members", description = "Tenant members and their roles"),
        (name = "teams", description = "Teams and team members"),
        (name = "keys", description = "API keys for the `/v1` proxy"),
        (name = "providers", description = "Upstream providers and their credentials"),
        (name = "deployments", description = "Public models served by a provider in a region"),
        (name = "routing", description = "Model groups: strategy, fallbacks and attempts per public model"),
        (name = "budgets", description = "Spend limits"),
        (name = "prices", description = "The price catalog: prices per provider kind and upstream model, with effective dates"),
        (name = "audit", description = "The audit log"),
        (name = "requests", description = "The request log: every proxied call's metadata"),
        (name = "sessions", description = "Agent sessions and their call graphs"),
        (name = "reports", description = "Chargeback reports and monthly statements (JSON or CSV)"),
    )
)]
pub struct AdminApiDoc;

/// Adds the two ways to present an access token: the bearer header and the access-token cookie.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The `access_token` from `POST /api/v1/auth/login` or `/auth/refresh`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::context::ACCESS_COOKIE,
                "The HttpOnly access-token cookie set by login and refresh (browser clients).",
            ))),
        );
    }
}

/// `GET /api/openapi.json`.
pub async fn document() -> HttpResponse {
    match AdminApiDoc::openapi().to_json() {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        Err(e) => super::error::ApiError::internal(e).error_response(),
    }
}

/// `GET /api/docs`.
pub async fn reference_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(REFERENCE_PAGE)
}

/// Named so that `cargo nextest run admin_openapi` runs them with the integration tests.
#[cfg(test)]
mod admin_openapi_schemas {
    use super::*;
    use crate::admin::error::{ApiError, ApiErrorDetail};
    use actix_web::body::MessageBody;
    use serde_json::{Value, json};

    fn document() -> Value {
        serde_json::to_value(AdminApiDoc::openapi()).unwrap_or(Value::Null)
    }

    #[test]
    fn update_key_documents_cleared_fields_as_nullable_and_optional() {
        let doc = document();
        let schema = &doc["components"]["schemas"]["UpdateKey"];
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        assert!(!required.iter().any(|f| f == "rpm_limit"), "{schema}");
        // A missing schema or property would print as `null` too: check that it is there first.
        let rpm = &schema["properties"]["rpm_limit"];
        assert!(rpm.is_object(), "rpm_limit is documented: {schema}");
        let nullable = rpm["type"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "null"))
            || rpm["oneOf"]
                .as_array()
                .is_some_and(|any| any.iter().any(|s| s["type"] == "null"));
        assert!(nullable, "rpm_limit must accept null: {rpm}");
    }

    #[test]
    fn the_chargeback_answers_are_described_down_to_a_statement_line() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for name in [
            "ReportView",
            "StatementView",
            "TeamStatement",
            "StatementLine",
        ] {
            assert!(schemas.get(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn the_error_schema_has_code_message_and_details() {
        let doc = document();
        let detail = &doc["components"]["schemas"]["ApiErrorDetail"]["properties"];
        for field in ["code", "message", "details"] {
            assert!(detail.get(field).is_some(), "{field} missing: {detail}");
        }
    }

    #[test]
    fn the_documented_error_body_matches_what_the_api_writes() {
        let response = ApiError::validation("name", "is required").error_response();
        let bytes = response.into_body().try_into_bytes().unwrap_or_default();
        let written: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let documented = ApiErrorBody {
            error: ApiErrorDetail {
                code: "validation_failed".into(),
                message: "is required".into(),
                details: Some(json!({"field": "name"})),
            },
        };
        assert_eq!(
            written,
            serde_json::to_value(&documented).unwrap_or(Value::Null)
        );
    }
}
