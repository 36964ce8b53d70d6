//! A deployment's own requests- and tokens-per-minute limits (a provider account's quota, say); routing passes
//! over a deployment whose minute is full.

use crate::schema_helpers::add_column;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, integer_null};

/// Adds `deployments.rpm_limit` and `deployments.tpm_limit`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // NULL: unlimited.
        add_column(manager, "deployments", integer_null("rpm_limit")).await?;
        add_column(manager, "deployments", big_integer_null("tpm_limit")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["tpm_limit", "rpm_limit"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("deployments")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
