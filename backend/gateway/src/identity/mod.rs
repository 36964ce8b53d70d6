//! Who is using the console: password hashing and rules ([`password`]) and session tokens ([`tokens`]).
//!
//! Pure functions over bytes and strings; storing users and sessions, and the HTTP handlers, live elsewhere.

pub mod password;
pub mod tokens;

pub use password::{
    PasswordError, dummy_verify, generate_one_time_password, hash_password, validate_new_password,
    verify_password,
};
pub use tokens::{AccessClaims, TokenError, TokenSigner, hash_refresh_token, new_refresh_token};
