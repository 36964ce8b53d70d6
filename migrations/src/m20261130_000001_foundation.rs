//! Tenants, teams, API keys, providers, deployments and usage events.

use crate::schema_helpers::{fk, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, json_binary, json_binary_null, string,
    string_null, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
    uuid_null,
};

/// The first schema: everything the proxy needs to authenticate, route, and record one call.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tenants")
                    .col(uuid("id").primary_key())
                    .col(string("slug").unique_key())
                    .col(string("name"))
                    .col(string("currency"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("teams")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("slug"))
                    .col(string("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("teams", "tenant_id", "tenants"))
                    .to_owned(),
            )
            .await?;
        index(manager, "teams", &["tenant_id", "slug"], true).await?;

        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(uuid("team_id"))
                    .col(string("name"))
                    // SHA-256 of the whole secret, hex. The secret itself is never stored.
                    .col(string("key_hash").unique_key())
                    // The first characters of the secret, shown in lists so people can tell keys apart.
                    .col(string("prefix"))
                    // JSON array of public model names; NULL means every model of the tenant.
                    .col(json_binary_null("allowed_models"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .foreign_key(&mut fk("api_keys", "tenant_id", "tenants"))
                    .foreign_key(&mut fk("api_keys", "team_id", "teams"))
                    .to_owned(),
            )
            .await?;
        index(manager, "api_keys", &["tenant_id", "prefix"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table("providers")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("name"))
                    // Wire format family: `openai` for now; `azure`, `anthropic`, `gemini` come with routing.
                    .col(string("kind"))
                    .col(string("base_url"))
                    // Name of the environment variable that holds the provider's API key (never the key).
                    .col(string_null("api_key_env"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("providers", "tenant_id", "tenants"))
                    .to_owned(),
            )
            .await?;
        index(manager, "providers", &["tenant_id", "name"], true).await?;

        manager
            .create_table(
                Table::create()
                    .table("deployments")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("public_model"))
                    .col(uuid("provider_id"))
                    .col(string("upstream_model"))
                    .col(string("region"))
                    // Prices in micro-units of the tenant currency per million tokens (0.075 $/Mtok = 75000).
                    .col(big_integer("input_price_micros"))
                    .col(big_integer("output_price_micros"))
                    .col(big_integer_null("cached_input_price_micros"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("deployments", "tenant_id", "tenants"))
                    .foreign_key(&mut fk("deployments", "provider_id", "providers"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "deployments",
            &["tenant_id", "public_model"],
            false,
        )
        .await?;

        // Usage events carry copies of names, not foreign keys: they are the financial record and must
        // outlive (and be insertable regardless of) the configuration rows they refer to.
        manager
            .create_table(
                Table::create()
                    .table("usage_events")
                    .col(uuid("id").primary_key())
                    .col(timestamp_with_time_zone("created_at"))
                    .col(uuid("tenant_id"))
                    .col(uuid("team_id"))
                    .col(uuid("api_key_id"))
                    .col(string("endpoint"))
                    .col(string("public_model"))
                    .col(uuid_null("provider_id"))
                    .col(string("provider_name"))
                    .col(uuid_null("deployment_id"))
                    .col(string("upstream_model"))
                    .col(string("region"))
                    .col(big_integer("input_tokens"))
                    .col(big_integer("output_tokens"))
                    .col(big_integer("cached_tokens"))
                    .col(big_integer("reasoning_tokens"))
                    // `provider` when the provider reported usage, `tokenizer` when we counted it ourselves.
                    .col(string("usage_source"))
                    // Cost in pico-units (1e-12) of the tenant currency: tokens x price_micros, exact.
                    .col(big_integer("cost_picos"))
                    .col(big_integer("latency_us"))
                    .col(big_integer_null("ttft_us"))
                    .col(integer("status_code"))
                    .col(string("outcome"))
                    .col(boolean("streamed"))
                    .col(string_null("end_user"))
                    .col(json_binary("tags"))
                    .col(text_null("error_message"))
                    .to_owned(),
            )
            .await?;
        index(manager, "usage_events", &["tenant_id", "created_at"], false).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "usage_events",
            "deployments",
            "providers",
            "api_keys",
            "teams",
            "tenants",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
