//! `GET /healthz` (the process is alive) and `GET /readyz` (database, shared state and migrations are ready).

use crate::state::SharedState;
use crate::store::{self, Repo};
use actix_web::{HttpResponse, web};
use serde_json::json;
use std::sync::Arc;

/// What readiness checks need.
pub struct HealthState {
    pub repo: Repo,
    pub state: Arc<dyn SharedState>,
    /// The main runtime, where database connections live (see `auth::KeyResolver`).
    pub storage_runtime: tokio::runtime::Handle,
}

/// Registers the two endpoints.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(health: web::Data<HealthState>) -> HttpResponse {
    let repo = health.repo.clone();
    let checked = health
        .storage_runtime
        .spawn(async move {
            // The error text (host names, user names, driver messages) goes to the log, never to the caller:
            // `/readyz` answers anyone.
            let database = match repo.db().ping().await {
                Ok(()) => "ok",
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: database unavailable");
                    "unavailable"
                }
            };
            let migrations = match store::migrations_current(repo.db()).await {
                Ok(true) => "ok",
                Ok(false) => "pending",
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: migrations unknown");
                    "unknown"
                }
            };
            (database, migrations)
        })
        .await;
    let (database, migrations) = checked.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ("unavailable", "unknown")
    });
    let shared = match health.state.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: shared state unavailable");
            "unavailable"
        }
    };
    let ready = database == "ok" && migrations == "ok" && shared == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": database,
        "migrations": migrations,
        "shared_state": {"kind": health.state.kind(), "status": shared},
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
