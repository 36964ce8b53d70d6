//! One module per page of the console.

pub mod account;
pub mod audit;
pub mod budgets;
pub mod chargeback;
pub mod keys;
pub mod login;
pub mod members;
pub mod overview;
pub mod providers;
pub mod regions;
pub mod requests;
pub mod sessions;
pub mod teams;
