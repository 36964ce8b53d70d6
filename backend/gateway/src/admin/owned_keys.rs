//! A person's API keys end with their access: removing a member from the tenant revokes the keys they own in
//! it, and removing them from a team revokes the keys they own in that team. Each revocation is an audit row,
//! and the answer lists the keys, so the admin knows which integrations stop.

use super::audit;
use super::context::AdminState;
use super::error::ApiError;
use crate::state::Invalidation;
use crate::store::Scoped;
use crate::store::entities::api_key;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter, Set};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// A key revoked because its owner lost access.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevokedKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
}

/// The answer of a member's or team member's removal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Removal {
    pub user_id: Uuid,
    /// The member's API keys that were revoked with the removal.
    pub revoked_keys: Vec<RevokedKey>,
}

/// Revokes the live keys `owner` owns in the tenant (or in `team` only), with an audit row each. Returns the keys
/// and their hashes (for cache invalidation once the transaction is done).
pub async fn revoke_owned(
    scoped: &Scoped,
    owner: Uuid,
    team: Option<Uuid>,
    actor: Uuid,
    reason: &'static str,
) -> Result<(Vec<RevokedKey>, Vec<String>), ApiError> {
    let mut query = scoped
        .keys()
        .filter(api_key::Column::OwnerUserId.eq(owner))
        .filter(api_key::Column::RevokedAt.is_null());
    if let Some(team) = team {
        query = query.filter(api_key::Column::TeamId.eq(team));
    }
    let rows = query.all(&scoped.db).await?;
    let mut revoked = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for row in rows {
        let key = RevokedKey {
            id: row.id,
            name: row.name.clone(),
            prefix: row.prefix.clone(),
        };
        hashes.push(row.key_hash.clone());
        let now = Utc::now();
        let mut active = row.into_active_model();
        active.revoked_at = Set(Some(now));
        active.updated_at = Set(now);
        active.update(&scoped.db).await?;
        audit::record(
            scoped,
            Some(actor),
            "api_key.revoke",
            "api_key",
            Some(key.id.to_string()),
            None,
            Some(json!({"reason": reason, "owner": owner, "name": key.name})),
        )
        .await?;
        revoked.push(key);
    }
    Ok((revoked, hashes))
}

/// Tells every replica that these keys changed.
pub async fn invalidate(admin: &AdminState, hashes: Vec<String>) {
    for key_hash in hashes {
        super::api_keys::publish(admin, Invalidation::ApiKey { key_hash }).await;
    }
}
