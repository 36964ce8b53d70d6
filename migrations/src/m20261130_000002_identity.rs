//! People and their access: users, tenant memberships with roles, team members, refresh-token sessions, the
//! residency region catalog, the audit log, and the API-key attributes the admin API manages.

use crate::schema_helpers::{add_column, fk, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, boolean, json_binary_null, string, string_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

/// Identity, memberships, sessions, regions, audit log; extra key columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(uuid("id").primary_key())
                    // Stored lower-cased; unique across the platform.
                    .col(string("email").unique_key())
                    .col(string("name"))
                    // Argon2id PHC string.
                    .col(string("password_hash"))
                    // May create tenants in SaaS mode.
                    .col(boolean("is_platform_admin"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("memberships")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(uuid("user_id"))
                    // owner | admin | finance | developer | viewer
                    .col(string("role"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("memberships", "tenant_id", "tenants"))
                    .foreign_key(&mut fk("memberships", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
        index(manager, "memberships", &["tenant_id", "user_id"], true).await?;
        index(manager, "memberships", &["user_id"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table("team_members")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(uuid("team_id"))
                    .col(uuid("user_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("team_members", "team_id", "teams"))
                    .foreign_key(&mut fk("team_members", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
        index(manager, "team_members", &["team_id", "user_id"], true).await?;

        // One row per refresh token ever issued. A family is one login; rotating a token marks it `rotated_at`
        // and issues the next one in the same family. Presenting a rotated token again is reuse: the whole
        // family is revoked.
        manager
            .create_table(
                Table::create()
                    .table("refresh_tokens")
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(uuid("tenant_id"))
                    .col(uuid("family_id"))
                    // SHA-256 of the opaque token.
                    .col(string("token_hash").unique_key())
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("rotated_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk("refresh_tokens", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
        index(manager, "refresh_tokens", &["family_id"], false).await?;
        index(manager, "refresh_tokens", &["user_id"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table("regions")
                    .col(string("code").primary_key())
                    .col(string("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        for (code, name) in [
            ("us", "United States"),
            ("eu", "European Union"),
            ("uk", "United Kingdom"),
            ("apac", "Asia-Pacific"),
            ("global", "Unrestricted (no residency guarantee)"),
            ("local", "Local (self-hosted models)"),
        ] {
            manager
                .exec_stmt(
                    Query::insert()
                        .into_table("regions")
                        .columns(["code", "name", "created_at"])
                        .values_panic([code.into(), name.into(), Expr::current_timestamp()])
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(uuid_null("actor_user_id"))
                    // Who, readable: an email, or `cli`, `system`.
                    .col(string("actor"))
                    // e.g. `api_key.create`, `team.update`.
                    .col(string("action"))
                    .col(string("target_type"))
                    .col(string_null("target_id"))
                    // Snapshots with secrets masked.
                    .col(json_binary_null("before"))
                    .col(json_binary_null("after"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        index(manager, "audit_log", &["tenant_id", "created_at"], false).await?;

        // Allowed regions: NULL on the tenant means every region; on a team or key, the parent's set. A team or
        // key set is always intersected with its parent's (narrowed, never widened).
        for table in ["tenants", "teams"] {
            add_column(manager, table, json_binary_null("allowed_regions")).await?;
        }
        add_column(manager, "api_keys", string_null("application")).await?;
        add_column(manager, "api_keys", uuid_null("owner_user_id")).await?;
        add_column(manager, "api_keys", json_binary_null("allowed_regions")).await?;
        add_column(manager, "api_keys", json_binary_null("allowed_tools")).await?;
        add_column(manager, "api_keys", big_integer_null("rpm_limit")).await?;
        add_column(manager, "api_keys", big_integer_null("tpm_limit")).await?;
        add_column(manager, "api_keys", json_binary_null("metadata")).await?;
        // Set on the old key by a rotation (the old key then carries a grace-period expiry).
        add_column(manager, "api_keys", uuid_null("replaced_by")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "audit_log",
            "regions",
            "refresh_tokens",
            "team_members",
            "memberships",
            "users",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
