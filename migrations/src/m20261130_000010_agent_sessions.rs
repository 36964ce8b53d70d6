//! Agent sessions as call graphs: each usage event may name its parent step (`x-switchyard-parent-id`) and, in a
//! session, the tool calls the model asked for and the tool results the call sent back, so calls and tool
//! invocations can be linked into a graph.

use crate::schema_helpers::{add_column, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{json_binary_null, string_null};

/// Adds `usage_events.parent_id` and `usage_events.tools`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The caller's parent step: another call's id (its x-request-id) or an agent step of its own naming.
        add_column(manager, "usage_events", string_null("parent_id")).await?;
        // In a session only: {"calls":[{"id","name"}],"results":["<tool_call_id>", …]}.
        add_column(manager, "usage_events", json_binary_null("tools")).await?;
        // Sessions are read by tenant and session id.
        index(
            manager,
            "usage_events",
            &["tenant_id", "session_id", "created_at"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_usage_events_tenant_id_session_id_created_at")
                    .table("usage_events")
                    .to_owned(),
            )
            .await?;
        for column in ["tools", "parent_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("usage_events")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
