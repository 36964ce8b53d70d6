//! Budget seeding and reconciliation read spend from the hourly roll-ups (never expired, one row per hour and
//! dimension set): these indexes keep a team's or a key's period a range scan, whatever the tenant's size.

use crate::schema_helpers::index;
use sea_orm_migration::prelude::*;

/// Adds `(tenant_id, team_id, hour)` and `(tenant_id, api_key_id, hour)` on `usage_rollups_hourly`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        index(
            manager,
            "usage_rollups_hourly",
            &["tenant_id", "team_id", "hour"],
            false,
        )
        .await?;
        index(
            manager,
            "usage_rollups_hourly",
            &["tenant_id", "api_key_id", "hour"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "idx_usage_rollups_hourly_tenant_id_api_key_id_hour",
            "idx_usage_rollups_hourly_tenant_id_team_id_hour",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table("usage_rollups_hourly")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
