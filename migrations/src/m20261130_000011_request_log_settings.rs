//! The request log's per-tenant settings: how long a tenant's raw usage events (its request log) are kept, and
//! whether the (redacted) bodies of its calls are captured with them.

use crate::schema_helpers::add_column;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, integer_null, json_binary_null};

/// Adds `tenants.request_log_retention_days`, `tenants.capture_bodies` and `usage_events.bodies`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // NULL: the deployment-wide `usage.raw_retention_days`.
        add_column(
            manager,
            "tenants",
            integer_null("request_log_retention_days"),
        )
        .await?;
        add_column(
            manager,
            "tenants",
            boolean("capture_bodies").default(false).to_owned(),
        )
        .await?;
        // {"request": <redacted prompt>, "response": <redacted answer>} when the tenant captures bodies.
        add_column(manager, "usage_events", json_binary_null("bodies")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [
            ("usage_events", "bodies"),
            ("tenants", "capture_bodies"),
            ("tenants", "request_log_retention_days"),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
