//! Spend control, part two: the price catalog. One row is the price of one upstream model of one provider kind
//! from a point in time on (`effective_from`). A price is never edited in place: a change is a new row with a
//! later `effective_from`, so the price that applied to any past moment can always be read back. Rows with a
//! NULL `tenant_id` are the catalog Switchyard ships (global, read-only through the API); a tenant's own rows
//! take precedence over them for that tenant. Deployments choose whether they are priced by their own columns
//! or by this catalog (`deployments.price_source`).

use crate::schema_helpers::{add_column, fk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, string, string_null, timestamp_with_time_zone, uuid, uuid_null,
};

/// Adds the `model_prices` table and `deployments.price_source`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("model_prices")
                    .col(uuid("id").primary_key())
                    // NULL: the shipped global catalog.
                    .col(uuid_null("tenant_id"))
                    // The price list's vendor (`openai`, `anthropic`, `gemini`, `mistral`, …).
                    .col(string("provider_kind"))
                    .col(string("upstream_model"))
                    // Micro-units of the tenant currency per million tokens, like the deployment prices.
                    .col(big_integer("input_price_micros"))
                    .col(big_integer("output_price_micros"))
                    // NULL: cached input costs the input price.
                    .col(big_integer_null("cached_input_price_micros"))
                    // NULL: reasoning tokens cost the output price.
                    .col(big_integer_null("reasoning_price_micros"))
                    .col(timestamp_with_time_zone("effective_from"))
                    .col(timestamp_with_time_zone("created_at"))
                    // The user who added a tenant row; NULL for shipped rows. No foreign key: like the audit
                    // log, the row must outlive the account.
                    .col(uuid_null("created_by"))
                    .col(string_null("note"))
                    .foreign_key(&mut fk("model_prices", "tenant_id", "tenants"))
                    .to_owned(),
            )
            .await?;
        // Lookups go by kind and model, ordered by time. Unique with the tenant, so one tenant cannot have two
        // prices starting at the same instant (NULLs are distinct in both databases, so shipped rows are kept
        // unique by their deterministic ids instead).
        manager
            .create_index(
                Index::create()
                    .name("idx_model_prices_kind_model_from_tenant")
                    .table("model_prices")
                    .col("provider_kind")
                    .col("upstream_model")
                    .col("effective_from")
                    .col("tenant_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        // `deployment`: priced by its own price columns (as before); `catalog`: by `model_prices`.
        add_column(
            manager,
            "deployments",
            string("price_source").default("deployment").to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("deployments")
                    .drop_column("price_source")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("model_prices").to_owned())
            .await
    }
}
