//! Budgets: a spending limit on a scope (tenant, team, key or tag) per period, with soft thresholds that
//! notify a signed webhook and an optional hard stop. Enforcement on the proxy comes with spend control.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, json_binary, string, string_null, text_null, timestamp_with_time_zone,
    uuid, uuid_null,
};

/// The `budgets` table.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("budgets")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("name"))
                    // tenant | team | key | tag
                    .col(string("scope_type"))
                    // The team or key id for those scopes.
                    .col(uuid_null("scope_id"))
                    .col(string_null("tag_key"))
                    .col(string_null("tag_value"))
                    // daily | weekly | monthly | total
                    .col(string("period"))
                    // Exact, in pico-units of the tenant currency (like usage costs).
                    .col(big_integer("limit_picos"))
                    // JSON array of percentages, e.g. [50, 80, 90].
                    .col(json_binary("soft_thresholds"))
                    .col(boolean("hard_limit"))
                    .col(string_null("webhook_url"))
                    // HMAC signing secret for the webhook, encrypted like provider keys.
                    .col(text_null("webhook_secret_ciphertext"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_budgets_tenant_id")
                            .from("budgets", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_budgets_tenant_id_scope_type")
                    .table("budgets")
                    .col("tenant_id")
                    .col("scope_type")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("budgets").to_owned())
            .await
    }
}
