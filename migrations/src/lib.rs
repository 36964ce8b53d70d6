//! Schema migrations for Switchyard. The same migrations run on Postgres (production) and SQLite (the embedded
//! default), so they are written with sea-query's schema builder, never raw SQL of one dialect.
//!
//! Conventions every later migration keeps (see ARCHITECTURE.md, "Storage conventions"):
//! - ids are UUIDv7 created by the application (time-ordered, so indexes stay append-mostly);
//! - timestamps are `timestamp with time zone`, always UTC;
//! - money is an exact integer: prices in micro-units per million tokens, costs in pico-units, never a float.

pub use sea_orm_migration::prelude::*;

mod m20261130_000001_foundation;
mod m20261130_000002_identity;
mod m20261130_000003_provider_credentials;
mod m20261130_000004_budgets;
mod m20261130_000005_attribution_and_limits;
mod m20261130_000006_model_prices;
mod m20261130_000007_usage_rollups;
mod m20261130_000008_routing;
mod m20261130_000009_deployment_limits;
mod m20261130_000010_agent_sessions;
mod m20261130_000011_request_log_settings;
mod m20261208_000012_invitations;
mod m20261208_000013_spend_indexes;
mod schema_helpers;

/// The ordered list of all migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_foundation::Migration),
            Box::new(m20261130_000002_identity::Migration),
            Box::new(m20261130_000003_provider_credentials::Migration),
            Box::new(m20261130_000004_budgets::Migration),
            Box::new(m20261130_000005_attribution_and_limits::Migration),
            Box::new(m20261130_000006_model_prices::Migration),
            Box::new(m20261130_000007_usage_rollups::Migration),
            Box::new(m20261130_000008_routing::Migration),
            Box::new(m20261130_000009_deployment_limits::Migration),
            Box::new(m20261130_000010_agent_sessions::Migration),
            Box::new(m20261130_000011_request_log_settings::Migration),
            Box::new(m20261208_000012_invitations::Migration),
            Box::new(m20261208_000013_spend_indexes::Migration),
        ]
    }
}
