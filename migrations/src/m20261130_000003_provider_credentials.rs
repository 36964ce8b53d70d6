//! Provider credentials stored encrypted (AES-256-GCM under the master key), with a display hint.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_null, text_null};

/// Adds `providers.api_key_ciphertext` and `providers.api_key_hint`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `v1:<key id>:<nonce>:<ciphertext>`, bound to the provider id; never returned by the API.
        manager
            .alter_table(
                Table::alter()
                    .table("providers")
                    .add_column(text_null("api_key_ciphertext"))
                    .to_owned(),
            )
            .await?;
        // e.g. `sk-…abcd`, for lists.
        manager
            .alter_table(
                Table::alter()
                    .table("providers")
                    .add_column(string_null("api_key_hint"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("providers")
                    .drop_column("api_key_hint")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("providers")
                    .drop_column("api_key_ciphertext")
                    .to_owned(),
            )
            .await
    }
}
