//! Invitations to join a tenant. An admin no longer creates or attaches accounts: the invitee accepts with a
//! single-use, expiring token (a new account sets its own password; an existing one proves it with its own).

use crate::schema_helpers::{fk, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    string, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

/// Creates `invitations`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(string("email"))
                    .col(string("role"))
                    // SHA-256 of the opaque `syi_` token; the token itself is shown once.
                    .col(string("token_hash").unique_key())
                    .col(uuid_null("invited_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("accepted_at"))
                    .col(uuid_null("accepted_by"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut fk("invitations", "tenant_id", "tenants"))
                    .to_owned(),
            )
            .await?;
        index(manager, "invitations", &["tenant_id", "created_at"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("invitations").to_owned())
            .await
    }
}
