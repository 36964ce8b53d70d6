//! One module per page of the console (`invitations` is the Members page's invite form and invitations list).

pub mod account;
pub mod audit;
pub mod budgets;
pub mod chargeback;
pub mod invitations;
pub mod invite;
pub mod keys;
pub mod login;
pub mod members;
pub mod overview;
pub mod providers;
pub mod regions;
pub mod requests;
pub mod sessions;
pub mod teams;
