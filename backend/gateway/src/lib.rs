//! Switchyard: a multi-tenant AI gateway.
//!
//! Dependencies point inward: `proxy` (HTTP) uses `auth`, `catalog`, `limits`, `upstream` and `usage` (domain), which use
//! `store` and `state` (storage). Only `startup` imports `proxy`. See ARCHITECTURE.md for the request path.

pub mod admin;
pub mod auth;
pub mod bootstrap;
pub mod catalog;
pub mod chargeback;
pub mod cli;
pub mod client_address;
pub mod config;
pub mod console;
pub mod crypto;
pub mod egress;
pub mod error;
pub mod health;
pub mod identity;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod money;
pub mod otel;
pub mod pricing;
pub mod proxy;
pub mod redact;
pub mod routing;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod translate;
pub mod upstream;
pub mod usage;
