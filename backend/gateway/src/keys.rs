//! API key secrets: `sk-sy-` followed by 43 base62 characters (256 bits of entropy from the OS RNG). Only the
//! SHA-256 hash and a short display prefix are stored; the secret is shown once, at creation.
//!
//! SHA-256 rather than a password hash is deliberate: the secret is random and long, so brute force is hopeless
//! anyway, and the proxy must verify keys in microseconds.

use rand::Rng;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// Every Switchyard key starts with this.
pub const KEY_PREFIX: &str = "sk-sy-";
const RANDOM_CHARS: usize = 43;
const DISPLAY_CHARS: usize = 8;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key: the secret (to show once) and what is stored.
pub struct NewKey {
    pub secret: String,
    pub hash: String,
    pub prefix: String,
}

/// Generates a new secret from the operating system's RNG.
pub fn generate() -> NewKey {
    let mut rng = OsRng.unwrap_err();
    let random: String = (0..RANDOM_CHARS)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect();
    let secret = format!("{KEY_PREFIX}{random}");
    NewKey {
        hash: hash(&secret),
        prefix: display_prefix(&secret),
        secret,
    }
}

/// A new key row with the given owner and allow-list and every optional attribute unset.
pub fn new_row(
    tenant_id: uuid::Uuid,
    team_id: uuid::Uuid,
    name: String,
    key: &NewKey,
    allowed_models: Option<Vec<String>>,
) -> crate::store::entities::api_key::Model {
    let now = chrono::Utc::now();
    crate::store::entities::api_key::Model {
        id: uuid::Uuid::now_v7(),
        tenant_id,
        team_id,
        name,
        key_hash: key.hash.clone(),
        prefix: key.prefix.clone(),
        allowed_models: allowed_models.map(|m| serde_json::json!(m)),
        created_at: now,
        updated_at: now,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        application: None,
        owner_user_id: None,
        allowed_regions: None,
        allowed_tools: None,
        rpm_limit: None,
        tpm_limit: None,
        metadata: None,
        replaced_by: None,
        max_concurrency: None,
        lineage_id: None,
    }
}

/// Hex SHA-256 of a presented secret: the lookup key in storage and in the cache.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `sk-sy-` plus the first characters: enough to tell keys apart in a list, useless to an attacker.
pub fn display_prefix(secret: &str) -> String {
    secret
        .chars()
        .take(KEY_PREFIX.len() + DISPLAY_CHARS)
        .collect()
}

/// Cheap syntactic check done before hashing, so garbage never reaches the cache or the database.
pub fn looks_like_key(secret: &str) -> bool {
    secret.len() == KEY_PREFIX.len() + RANDOM_CHARS
        && secret.starts_with(KEY_PREFIX)
        && secret[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_distinct_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert!(looks_like_key(&a.secret), "{}", a.secret);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(a.prefix.len(), 14);
    }

    #[test]
    fn malformed_secrets_are_recognised() {
        assert!(!looks_like_key("sk-sy-short"));
        assert!(!looks_like_key(&format!("sk-xx-{}", "a".repeat(43))));
        assert!(!looks_like_key(&format!("sk-sy-{}!", "a".repeat(42))));
    }
}
