//! The routing engine's configuration: each deployment's weight and priority inside its model group, the
//! group's strategy and fallback chain, and on every usage event the list of attempts the call took.

use crate::schema_helpers::{add_column, fk, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, integer_null, json_binary_null, string, timestamp_with_time_zone, uuid,
};

/// Adds routing columns and the `model_groups` table.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Share of traffic under the weighted strategy (and among equal priorities).
        add_column(
            manager,
            "deployments",
            integer("weight").default(1).to_owned(),
        )
        .await?;
        // Lower first under the priority strategy.
        add_column(
            manager,
            "deployments",
            integer("priority").default(0).to_owned(),
        )
        .await?;
        // JSON array of {deployment_id, region, status, reason, message}: every attempt that did not answer
        // (for a failed call, all of them); NULL when the first attempt answered.
        add_column(manager, "usage_events", json_binary_null("attempts")).await?;
        manager
            .create_table(
                Table::create()
                    .table("model_groups")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("public_model"))
                    // latency | cost | weighted | priority
                    .col(string("strategy"))
                    // JSON array of public model names tried, in order, when every deployment here failed.
                    .col(json_binary_null("fallbacks"))
                    // Most attempts for one call across the group and its fallbacks; NULL: the default.
                    .col(integer_null("max_attempts"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("model_groups", "tenant_id", "tenants"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "model_groups",
            &["tenant_id", "public_model"],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("model_groups").to_owned())
            .await?;
        for (table, column) in [
            ("usage_events", "attempts"),
            ("deployments", "priority"),
            ("deployments", "weight"),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
