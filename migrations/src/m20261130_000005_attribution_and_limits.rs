//! Spend control, part one: the attribution dimensions every usage event carries beyond tenant / team / key
//! (application, the key's owning user, agent session and agent), per-key concurrency, RPM / TPM limits on teams
//! and tenants, and what a tenant wants when the shared counters (Redis) cannot be reached.

use crate::schema_helpers::add_column;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, string, string_null, uuid_null};

/// Adds attribution columns to `usage_events` and limit columns to `api_keys`, `teams` and `tenants`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The key's application label, copied at call time so a later rename does not rewrite history.
        add_column(manager, "usage_events", string_null("application")).await?;
        // The user who owns the key (not the end user of the caller's app, which is `end_user`).
        add_column(manager, "usage_events", uuid_null("user_id")).await?;
        // `x-switchyard-session-id` / `x-switchyard-agent-id`, bounded like tags.
        add_column(manager, "usage_events", string_null("session_id")).await?;
        add_column(manager, "usage_events", string_null("agent_id")).await?;
        // Most calls a key may have in flight at once; NULL: no limit.
        add_column(manager, "api_keys", big_integer_null("max_concurrency")).await?;
        // The first key of a rotation chain: a rotated key keeps its predecessor's budgets and rate-limit
        // counters. NULL for a key that was never rotated into.
        add_column(manager, "api_keys", uuid_null("lineage_id")).await?;
        crate::schema_helpers::index(manager, "api_keys", &["lineage_id"], false).await?;
        for table in ["teams", "tenants"] {
            add_column(manager, table, big_integer_null("rpm_limit")).await?;
            add_column(manager, table, big_integer_null("tpm_limit")).await?;
        }
        // `open`: serve calls unmetered while Redis is down; `closed`: refuse them with 503.
        add_column(
            manager,
            "tenants",
            string("limits_failure_mode").default("open").to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_api_keys_lineage_id")
                    .table("api_keys")
                    .to_owned(),
            )
            .await?;
        let drops: [(&str, &str); 11] = [
            ("api_keys", "lineage_id"),
            ("tenants", "limits_failure_mode"),
            ("tenants", "tpm_limit"),
            ("tenants", "rpm_limit"),
            ("teams", "tpm_limit"),
            ("teams", "rpm_limit"),
            ("api_keys", "max_concurrency"),
            ("usage_events", "agent_id"),
            ("usage_events", "session_id"),
            ("usage_events", "user_id"),
            ("usage_events", "application"),
        ];
        for (table, column) in drops {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
