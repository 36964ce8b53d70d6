//! Secrets encrypted at rest (upstream provider API keys and the like) with AES-256-GCM under a master key that
//! never touches the database.
//!
//! A sealed secret is a self-describing string, `v1:<key id>:<nonce>:<ciphertext+tag>` (both URL-safe base64
//! without padding), so a row says which master key sealed it and old rows keep decrypting during a key rotation.
//! The caller's context (e.g. `provider:<uuid>:api_key`) is bound in as associated data: a ciphertext copied into
//! another row, or read back as another field, fails to decrypt instead of leaking into the wrong place.
//!
//! Production sets `SWITCHYARD_MASTER_KEY`; the key file written by [`MasterKeys::ephemeral_for_embedded`] is a
//! convenience for the single-node embedded mode only.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable holding the current master key.
pub const MASTER_KEY_ENV: &str = "SWITCHYARD_MASTER_KEY";
/// The environment variable holding retired master keys, comma-separated, still accepted for decryption.
pub const PREVIOUS_KEYS_ENV: &str = "SWITCHYARD_MASTER_KEY_PREVIOUS";
/// The key file used by the embedded single-node mode when no key is in the environment.
pub const KEY_FILE_NAME: &str = "master.key";

pub mod key_file;

const FORMAT_VERSION: &str = "v1";
const NONCE_LEN: usize = 12;
/// Keeps the associated data of this format apart from any other use of the same key.
const AAD_DOMAIN: &str = "switchyard:v1:";
/// Accepts keys with or without `=` padding; operators paste them from many tools.
const STANDARD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a secret could not be sealed or opened, or a master key not loaded. No variant carries key material or
/// plaintext, so the derived `Debug` and the `Display` messages are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("{0} is not set; generate a key with `openssl rand -base64 32`")]
    MissingKey(&'static str),
    #[error("{0} is not valid base64 (standard or URL-safe alphabet)")]
    InvalidBase64(String),
    #[error("{name} decodes to {len} bytes; a master key must be exactly 32 bytes")]
    WrongLength { name: String, len: usize },
    #[error("could not read or create the master key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the operating system's random number generator failed")]
    Rng,
    #[error("encryption failed")]
    Encrypt,
    #[error("sealed secret is not in the `v1:<key id>:<nonce>:<ciphertext>` format")]
    Malformed,
    #[error(
        "secret was sealed with master key {0}, which is neither the current key nor in {PREVIOUS_KEYS_ENV}"
    )]
    UnknownKeyId(String),
    #[error("decryption failed: wrong master key, wrong context or tampered ciphertext")]
    Decrypt,
    #[error("decrypted secret is not UTF-8")]
    NotUtf8,
}

/// One 256-bit master key and its public id.
#[derive(Clone)]
struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn new(key: [u8; 32]) -> Self {
        let digest = Sha256::digest(key);
        Self {
            id: hex::encode(&digest[..4]),
            cipher: Aes256Gcm::new(&key.into()),
        }
    }
}

/// The master keys of this process: the current one seals, the current and previous ones open. Cheap to clone.
#[derive(Clone)]
pub struct MasterKeys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl fmt::Debug for MasterKeys {
    /// Key ids only: the keys themselves must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self
                    .previous
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl MasterKeys {
    /// Loads the keys from `SWITCHYARD_MASTER_KEY` and, during a rotation, `SWITCHYARD_MASTER_KEY_PREVIOUS`.
    pub fn from_env() -> Result<MasterKeys, CryptoError> {
        let current = match std::env::var(MASTER_KEY_ENV) {
            Ok(value) => parse_key(MASTER_KEY_ENV, &value)?,
            Err(std::env::VarError::NotPresent) => {
                return Err(CryptoError::MissingKey(MASTER_KEY_ENV));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(CryptoError::InvalidBase64(MASTER_KEY_ENV.to_owned()));
            }
        };
        let previous = match std::env::var(PREVIOUS_KEYS_ENV) {
            Ok(value) => parse_key_list(PREVIOUS_KEYS_ENV, &value)?,
            Err(std::env::VarError::NotPresent) => Vec::new(),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(CryptoError::InvalidBase64(PREVIOUS_KEYS_ENV.to_owned()));
            }
        };
        Ok(Self::from_keys(current, previous))
    }

    /// Builds the key set from raw keys, for tests and for callers that load keys elsewhere.
    pub fn from_keys(current: [u8; 32], previous: Vec<[u8; 32]>) -> MasterKeys {
        MasterKeys {
            current: MasterKey::new(current),
            previous: previous.into_iter().map(MasterKey::new).collect(),
        }
    }

    /// For the embedded single-node mode when no key is in the environment: reads `<data_dir>/master.key`, or
    /// creates it (32 random bytes, base64, mode 0600). The key then lives next to the data it protects, which
    /// only guards against leaked database dumps. Production must set `SWITCHYARD_MASTER_KEY` instead.
    pub fn ephemeral_for_embedded(data_dir: &Path) -> Result<MasterKeys, CryptoError> {
        let path = data_dir.join(KEY_FILE_NAME);
        let contents = key_file::read_or_create(&path).map_err(|source| CryptoError::KeyFile {
            path: path.clone(),
            source,
        })?;
        let key = parse_key(&path.display().to_string(), &contents)?;
        Ok(Self::from_keys(key, Vec::new()))
    }

    /// The id of the key that seals new secrets, for logs and the rotation command.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext` under the current key, bound to `context` (e.g. `provider:<uuid>:api_key`).
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| CryptoError::Rng)?;
        let aad = associated_data(context);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        Ok(format!(
            "{FORMAT_VERSION}:{}:{}:{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ciphertext)
        ))
    }

    /// Opens a secret sealed by [`MasterKeys::encrypt`] with the same `context`, under whichever known key sealed it.
    pub fn decrypt(&self, sealed: &str, context: &str) -> Result<String, CryptoError> {
        let parts = Sealed::parse(sealed)?;
        let aad = associated_data(context);
        let mut candidates = std::iter::once(&self.current)
            .chain(&self.previous)
            .filter(|k| k.id == parts.key_id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(CryptoError::UnknownKeyId(parts.key_id.to_owned()));
        }
        // Ids are 32 bits of a hash, so two keys may share one; try each.
        let plaintext = candidates
            .find_map(|k| {
                let payload = Payload {
                    msg: &parts.ciphertext,
                    aad: &aad,
                };
                k.cipher.decrypt(&Nonce::from(parts.nonce), payload).ok()
            })
            .ok_or(CryptoError::Decrypt)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::NotUtf8)
    }

    /// For key rotation: `Some` secret resealed under the current key when `sealed` used a previous key, `None`
    /// when it already uses the current one. Either way the secret is opened first, so a corrupt row is reported
    /// rather than skipped.
    pub fn reencrypt(&self, sealed: &str, context: &str) -> Result<Option<String>, CryptoError> {
        let plaintext = self.decrypt(sealed, context)?;
        if Sealed::parse(sealed)?.key_id == self.current.id {
            return Ok(None);
        }
        self.encrypt(&plaintext, context).map(Some)
    }
}

/// Shows a secret in lists without revealing it: `sk-…abcd` for long secrets, `••••` for short ones (whose ends
/// would give away too much of them).
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "••••".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Decodes one base64 master key; `name` (an env var or file) goes into the error, the value never does.
fn parse_key(name: &str, value: &str) -> Result<[u8; 32], CryptoError> {
    let value = value.trim();
    let bytes = STANDARD_ANY_PAD
        .decode(value)
        .or_else(|_| URL_SAFE_ANY_PAD.decode(value))
        .map_err(|_| CryptoError::InvalidBase64(name.to_owned()))?;
    let len = bytes.len();
    <[u8; 32]>::try_from(bytes).map_err(|_| CryptoError::WrongLength {
        name: name.to_owned(),
        len,
    })
}

/// Decodes a comma-separated list of keys; errors name the position, e.g. `SWITCHYARD_MASTER_KEY_PREVIOUS[2]`.
fn parse_key_list(name: &str, value: &str) -> Result<Vec<[u8; 32]>, CryptoError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| parse_key(&format!("{name}[{}]", i + 1), s))
        .collect()
}

fn associated_data(context: &str) -> Vec<u8> {
    format!("{AAD_DOMAIN}{context}").into_bytes()
}

/// The parsed parts of a `v1:` string.
struct Sealed<'a> {
    key_id: &'a str,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl<'a> Sealed<'a> {
    fn parse(sealed: &'a str) -> Result<Self, CryptoError> {
        let mut parts = sealed.split(':');
        let (Some(FORMAT_VERSION), Some(key_id), Some(nonce), Some(ciphertext), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(CryptoError::Malformed);
        };
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
            .ok_or(CryptoError::Malformed)?;
        let ciphertext = URL_SAFE_NO_PAD
            .decode(ciphertext)
            .map_err(|_| CryptoError::Malformed)?;
        Ok(Self {
            key_id,
            nonce,
            ciphertext,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    const OLD: [u8; 32] = [7; 32];
    const NEW: [u8; 32] = [42; 32];

    fn keys() -> MasterKeys {
        MasterKeys::from_keys(NEW, Vec::new())
    }

    #[test]
    fn a_secret_round_trips_and_is_self_describing() {
        let keys = keys();
        let sealed = keys.encrypt("sk-live-123", "provider:1:api_key").unwrap();
        assert!(sealed.starts_with(&format!("v1:{}:", keys.current_key_id())));
        assert_eq!(keys.current_key_id().len(), 8);
        assert!(!sealed.contains("sk-live"));
        assert_eq!(
            keys.decrypt(&sealed, "provider:1:api_key").unwrap(),
            "sk-live-123"
        );
        let again = keys.encrypt("sk-live-123", "provider:1:api_key").unwrap();
        assert_ne!(sealed, again, "every encryption uses a fresh nonce");
    }

    #[test]
    fn a_ciphertext_moved_to_another_context_does_not_decrypt() {
        let keys = keys();
        let sealed = keys.encrypt("secret", "provider:1:api_key").unwrap();
        assert!(matches!(
            keys.decrypt(&sealed, "provider:2:api_key"),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn tampered_or_malformed_ciphertexts_are_refused() {
        let keys = keys();
        let sealed = keys.encrypt("secret", "ctx").unwrap();
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        bytes[0] ^= 1;
        let tampered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(matches!(
            keys.decrypt(&tampered, "ctx"),
            Err(CryptoError::Decrypt)
        ));
        for bad in [
            "",
            "v1:abc",
            "v2:x:y:z",
            &format!("{sealed}:extra"),
            "v1:id:!!:AAAA",
        ] {
            assert!(
                matches!(keys.decrypt(bad, "ctx"), Err(CryptoError::Malformed)),
                "{bad}"
            );
        }
    }

    #[test]
    fn rotation_keeps_old_secrets_readable_and_reseals_them_under_the_new_key() {
        let before = MasterKeys::from_keys(OLD, Vec::new());
        let sealed = before.encrypt("secret", "ctx").unwrap();

        let after = MasterKeys::from_keys(NEW, vec![OLD]);
        assert_eq!(after.decrypt(&sealed, "ctx").unwrap(), "secret");
        let resealed = after.reencrypt(&sealed, "ctx").unwrap().unwrap();
        assert!(resealed.starts_with(&format!("v1:{}:", after.current_key_id())));
        assert_eq!(keys().decrypt(&resealed, "ctx").unwrap(), "secret");
        assert_eq!(after.reencrypt(&resealed, "ctx").unwrap(), None);
    }

    #[test]
    fn a_secret_sealed_with_a_forgotten_key_names_the_key_id() {
        let sealed = MasterKeys::from_keys(OLD, Vec::new())
            .encrypt("secret", "ctx")
            .unwrap();
        let err = keys().decrypt(&sealed, "ctx").unwrap_err();
        let old_id = MasterKeys::from_keys(OLD, Vec::new())
            .current_key_id()
            .to_owned();
        assert!(matches!(&err, CryptoError::UnknownKeyId(id) if *id == old_id));
        assert!(err.to_string().contains(&old_id));
    }

    #[test]
    fn key_parsing_accepts_both_alphabets_and_explains_bad_input() {
        let key: [u8; 32] = std::array::from_fn(|i| 250 + (i as u8 % 6));
        let standard = STANDARD.encode(key);
        let url_safe = URL_SAFE_NO_PAD.encode(key);
        assert_ne!(
            standard.trim_end_matches('='),
            url_safe,
            "the key must exercise both alphabets"
        );
        assert_eq!(parse_key("K", &format!("{standard}\n")).unwrap(), key);
        assert_eq!(parse_key("K", &url_safe).unwrap(), key);

        let err = parse_key("SWITCHYARD_MASTER_KEY", "not base64!").unwrap_err();
        assert_eq!(
            err.to_string(),
            "SWITCHYARD_MASTER_KEY is not valid base64 (standard or URL-safe alphabet)"
        );
        let err = parse_key("SWITCHYARD_MASTER_KEY", &STANDARD.encode([1u8; 16])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SWITCHYARD_MASTER_KEY decodes to 16 bytes; a master key must be exactly 32 bytes"
        );
        let list = format!("{standard}, ,{}", STANDARD.encode([1u8; 31]));
        let err = parse_key_list("PREV", &list).unwrap_err();
        assert!(
            err.to_string().starts_with("PREV[2] decodes to 31 bytes"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_shows_key_ids_only() {
        let keys = MasterKeys::from_keys(NEW, vec![OLD]);
        let debug = format!("{keys:?}");
        assert!(debug.contains(keys.current_key_id()), "{debug}");
        for key in [NEW, OLD] {
            assert!(!debug.contains(&STANDARD.encode(key)));
            assert!(!debug.contains(&hex::encode(key)));
            assert!(!debug.contains("42, 42"));
            assert!(!debug.contains("7, 7"));
        }
    }

    #[test]
    fn the_embedded_mode_reuses_its_key_file() {
        let dir = std::env::temp_dir().join(format!("switchyard-crypto-{}", uuid::Uuid::now_v7()));
        let first = MasterKeys::ephemeral_for_embedded(&dir).unwrap();
        let second = MasterKeys::ephemeral_for_embedded(&dir).unwrap();
        assert_eq!(first.current_key_id(), second.current_key_id());
        let sealed = first.encrypt("secret", "ctx").unwrap();
        assert_eq!(second.decrypt(&sealed, "ctx").unwrap(), "secret");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mask_shows_only_the_ends_of_long_secrets() {
        assert_eq!(mask("sk-abcdefghijklmnop"), "sk-…mnop");
        assert_eq!(mask("short"), "••••");
        assert_eq!(mask("12345678901"), "••••");
        assert_eq!(mask("ключ-очень-длинный"), "клю…нный");
    }
}
