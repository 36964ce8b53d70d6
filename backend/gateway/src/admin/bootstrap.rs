//! The first owner. On a fresh installation (no users at all) an owner of the default tenant is created from
//! `SWITCHYARD_ADMIN_EMAIL` / `SWITCHYARD_ADMIN_PASSWORD`, or with a one-time password printed once on stderr.

use crate::identity::password;
use crate::store::Repo;
use crate::store::entities::{membership, tenant, user};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, PaginatorTrait};
use std::io::Write;
use uuid::Uuid;

/// Email of the first owner when `SWITCHYARD_ADMIN_EMAIL` is not set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// Creates the first owner if there is no user yet; returns its email when one was created.
pub async fn ensure_first_owner(
    repo: &Repo,
    tenant: &tenant::Model,
) -> anyhow::Result<Option<String>> {
    if user::Entity::find().count(repo.db()).await? > 0 {
        return Ok(None);
    }
    let email = std::env::var("SWITCHYARD_ADMIN_EMAIL")
        .map(|e| e.trim().to_lowercase())
        .unwrap_or_else(|_| DEFAULT_ADMIN_EMAIL.into());
    let (secret, printed) = match std::env::var("SWITCHYARD_ADMIN_PASSWORD") {
        Ok(p) => {
            password::validate_new_password(&p)
                .map_err(|e| anyhow::anyhow!("SWITCHYARD_ADMIN_PASSWORD: {e}"))?;
            (p, false)
        }
        Err(_) => (password::generate_one_time_password(), true),
    };
    let hash = {
        let secret = secret.clone();
        tokio::task::spawn_blocking(move || password::hash_password(&secret)).await??
    };
    let now = Utc::now();
    let owner = user::Model {
        id: Uuid::now_v7(),
        email: email.clone(),
        name: "Owner".into(),
        password_hash: hash,
        is_platform_admin: true,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(repo.db())
    .await?;
    membership::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        user_id: owner.id,
        role: "owner".into(),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(repo.db())
    .await?;
    if printed {
        // Deliberately not through the log pipeline: shown once to the operator, not shipped to log storage.
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "\nFirst start: created the owner {email} with the one-time password\n\n    {secret}\n\nSign in at POST /api/v1/auth/login and change it with POST /api/v1/auth/password.\n"
        );
    }
    tracing::info!(email = %email, "created the first owner");
    Ok(Some(email))
}
