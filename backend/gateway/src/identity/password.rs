//! Console user passwords: Argon2id hashes in PHC strings, the rules for new passwords, and the one-time password
//! printed for the owner on first start.
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory by design: call these functions from
//! `spawn_blocking`, not directly on an async worker.

use argon2::password_hash::Error as HashError;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use rand::Rng;
use rand::TryRngCore;
use rand::rngs::OsRng;

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, in characters: enough for any passphrase, short of a hashing cost attack.
pub const MAX_PASSWORD_CHARS: usize = 256;

// OWASP Password Storage Cheat Sheet, "Argon2id": "a minimum configuration of 19 MiB of memory, an iteration
// count of 2, and 1 degree of parallelism" (m=19456 KiB, t=2, p=1).
// https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

const OTP_CHARS: usize = 20;
/// No 0/O/o, 1/I/i/l: the one-time password is read off a terminal and typed by hand.
const OTP_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz";

/// A valid hash (of a random, discarded password) with the current parameters, for [`dummy_verify`].
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$XXfBJTaukx+Jfgldvou1rQ$x2E00ipFkWzf507FMIojKAO6+3NB4ldOe7J6Eny92XA";

/// Why a password was refused or could not be hashed. Never carries the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("password must not be only whitespace")]
    Blank,
    #[error("stored password hash is malformed: {0}")]
    MalformedHash(HashError),
    #[error("password hashing failed: {0}")]
    Hashing(HashError),
}

/// The hasher with our pinned parameters; the parameters of a stored hash win when verifying, so raising these
/// later keeps old hashes valid.
fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| PasswordError::Hashing(e.into()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with Argon2id and a random 16-byte salt from the OS RNG, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) that records everything needed to verify it.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    hasher()?
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(PasswordError::Hashing)
}

/// Checks a password against a stored PHC string: `Ok(false)` for a wrong password, `Err` only when the stored
/// hash itself is unusable.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    match hasher()?.verify_password(password.as_bytes(), phc) {
        Ok(()) => Ok(true),
        Err(HashError::PasswordInvalid) => Ok(false),
        Err(e) => Err(PasswordError::MalformedHash(e)),
    }
}

/// Spends the same time as a real verification, so a login for an unknown email cannot be told apart from a wrong
/// password by its response time.
pub fn dummy_verify(password: &str) {
    let _ = verify_password(password, DUMMY_HASH);
}

/// The rules for a password a user chooses: length (in characters) and not blank. No composition rules, as NIST
/// SP 800-63B advises; the message names the rule that failed.
pub fn validate_new_password(password: &str) -> Result<(), PasswordError> {
    if password.trim().is_empty() {
        return Err(PasswordError::Blank);
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// A 20-character password (about 115 bits) from the OS RNG, printed once for the owner account on first start.
pub fn generate_one_time_password() -> String {
    let mut rng = OsRng.unwrap_err();
    (0..OTP_CHARS)
        .map(|_| char::from(OTP_ALPHABET[rng.random_range(0..OTP_ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let phc = hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc).unwrap());
        assert!(!verify_password("correct horse battery stapler", &phc).unwrap());
        assert_ne!(
            phc,
            hash_password("correct horse battery staple").unwrap(),
            "salts differ"
        );
    }

    #[test]
    fn a_malformed_hash_is_an_error_not_a_wrong_password() {
        assert!(matches!(
            verify_password("whatever", "not a phc string"),
            Err(PasswordError::MalformedHash(_))
        ));
    }

    #[test]
    fn the_dummy_hash_is_valid_and_uses_the_current_parameters() {
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(verify_password("anything", DUMMY_HASH), Ok(false));
        dummy_verify("anything");
    }

    #[test]
    fn new_passwords_follow_the_length_and_blank_rules() {
        assert_eq!(validate_new_password("twelve chars"), Ok(()));
        assert_eq!(
            validate_new_password("elevenchars"),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            validate_new_password(&"é".repeat(12)),
            Ok(()),
            "characters, not bytes"
        );
        assert_eq!(
            validate_new_password(&"a".repeat(257)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            validate_new_password(&" ".repeat(20)),
            Err(PasswordError::Blank)
        );
        assert_eq!(validate_new_password(""), Err(PasswordError::Blank));
        assert_eq!(
            PasswordError::TooShort.to_string(),
            "password must be at least 12 characters"
        );
    }

    #[test]
    fn one_time_passwords_are_long_unambiguous_and_distinct() {
        let a = generate_one_time_password();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| OTP_ALPHABET.contains(&b)), "{a}");
        assert!(!a.contains(['0', 'O', 'o', '1', 'I', 'i', 'l']));
        assert_ne!(a, generate_one_time_password());
        assert_eq!(validate_new_password(&a), Ok(()));
    }
}
