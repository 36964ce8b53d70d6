//! The admin API under `/api/v1`: everything the console does, as documented JSON endpoints. Every request
//! body or query that fails to parse answers in the one error shape, never actix's plain text.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod budgets;
pub mod context;
pub mod deployments;
pub mod error;
pub mod invitations;
pub mod key_restrictions;
pub mod members;
pub mod model_groups;
pub mod openapi;
pub mod outbound;
pub mod owned_keys;
pub mod pagination;
pub mod prices;
pub mod providers;
pub mod regions;
pub mod reports;
pub mod requests;
pub mod roles;
pub mod sessions;
pub mod teams;
pub mod tenants;
pub mod versioning;

use actix_web::{HttpResponse, ResponseError, web};
use error::ApiError;

/// Registers `/api/v1/*`, and the OpenAPI document and its reference page next to it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi::document));
    cfg.route("/api/docs", web::get().to(openapi::reference_page));
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(1024 * 1024)
                    .error_handler(|e, _| {
                        let message = e.to_string();
                        actix_web::error::InternalError::from_response(
                            e,
                            ApiError::validation("body", message).error_response(),
                        )
                        .into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                let message = e.to_string();
                actix_web::error::InternalError::from_response(
                    e,
                    ApiError::validation("query", message).error_response(),
                )
                .into()
            }))
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                actix_web::error::InternalError::from_response(
                    e,
                    ApiError::NotFound("resource").error_response(),
                )
                .into()
            }))
            .route("/auth/login", web::post().to(auth::login))
            .route("/auth/refresh", web::post().to(auth::refresh))
            .route("/auth/logout", web::post().to(auth::logout))
            .route("/auth/password", web::post().to(auth::change_password))
            .route("/auth/me", web::get().to(auth::me))
            .route("/auth/signup", web::post().to(tenants::sign_up))
            .route("/platform/tenants", web::get().to(tenants::list))
            .route("/platform/tenants", web::post().to(tenants::create))
            .route("/tenant", web::get().to(regions::get_tenant))
            .route("/tenant", web::patch().to(regions::update_tenant))
            .route("/regions", web::get().to(regions::list))
            .route("/members", web::get().to(members::list))
            .route("/members", web::post().to(invitations::invite))
            .route("/invitations", web::get().to(invitations::list))
            .route("/invitations/accept", web::post().to(invitations::accept))
            .route("/invitations/{id}", web::delete().to(invitations::revoke))
            .route("/members/{user_id}", web::patch().to(members::change_role))
            .route("/members/{user_id}", web::delete().to(members::remove))
            .route("/teams", web::get().to(teams::list))
            .route("/teams", web::post().to(teams::create))
            .route("/teams/{id}", web::get().to(teams::get))
            .route("/teams/{id}", web::patch().to(teams::update))
            .route("/teams/{id}", web::delete().to(teams::delete))
            .route("/teams/{id}/members", web::get().to(teams::members))
            .route(
                "/teams/{id}/members/{user_id}",
                web::put().to(teams::add_member),
            )
            .route(
                "/teams/{id}/members/{user_id}",
                web::delete().to(teams::remove_member),
            )
            .route("/keys", web::get().to(api_keys::list))
            .route("/keys", web::post().to(api_keys::create))
            .route("/keys/{id}", web::get().to(api_keys::get))
            .route("/keys/{id}", web::patch().to(api_keys::update))
            .route("/keys/{id}/revoke", web::post().to(api_keys::revoke))
            .route("/keys/{id}/rotate", web::post().to(api_keys::rotate))
            .route("/providers", web::get().to(providers::list))
            .route("/providers", web::post().to(providers::create))
            .route("/providers/{id}", web::patch().to(providers::update))
            .route("/providers/{id}", web::delete().to(providers::delete))
            .route("/deployments", web::get().to(deployments::list_deployments))
            .route(
                "/deployments",
                web::post().to(deployments::create_deployment),
            )
            .route(
                "/deployments/{id}",
                web::patch().to(deployments::update_deployment),
            )
            .route(
                "/deployments/{id}",
                web::delete().to(deployments::delete_deployment),
            )
            .route("/model-groups", web::get().to(model_groups::list))
            .route("/model-groups/{model}", web::put().to(model_groups::put))
            .route(
                "/model-groups/{model}",
                web::delete().to(model_groups::delete),
            )
            .route("/budgets", web::get().to(budgets::list))
            .route("/budgets", web::post().to(budgets::create))
            .route("/budgets/{id}", web::get().to(budgets::get))
            .route("/budgets/{id}", web::patch().to(budgets::update))
            .route("/budgets/{id}", web::delete().to(budgets::delete))
            .route("/prices", web::get().to(prices::list))
            .route("/prices", web::post().to(prices::create))
            .route("/prices/{id}", web::delete().to(prices::delete))
            .route("/audit", web::get().to(audit::list))
            .route("/requests", web::get().to(requests::list))
            .route("/requests/{id}", web::get().to(requests::get))
            .route("/sessions", web::get().to(sessions::list))
            .route("/sessions/{session_id}", web::get().to(sessions::graph))
            .route("/reports/chargeback", web::get().to(reports::chargeback))
            .route("/statements/{month}", web::get().to(reports::statement))
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> HttpResponse {
    ApiError::NotFound("endpoint").error_response()
}
