//! The gateway's integration tests: one binary, real server on a random port, real Postgres and Redis (or the
//! embedded SQLite + in-process mode), a mock provider per test. Set `TEST_LOG=1` to see the gateway's logs.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a failing test should fail loudly"
)]

mod helpers;
mod tcp_proxy;

mod admin_auth;
mod admin_isolation;
mod admin_matrix;
mod admin_openapi;
mod admin_prices;
mod admin_resources;
mod admin_saas;
mod admin_secrets;
mod admin_walkthrough;
mod billing;
mod cli;
mod console;
mod costs;
mod embedded;
mod errors;
mod health;
mod keys;
mod ledger_equivalence;
mod limits;
mod metrics;
mod outage;
mod reports;
mod reports_access;
mod request_log;
mod routing;
mod sdk;
mod security;
mod sessions;
mod shared_state;
mod shutdown;
mod streaming;
mod traces;
mod translation;
mod usage;
mod usage_fixtures;
mod usage_rollups;
