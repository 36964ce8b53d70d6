//! Console session tokens. Access tokens are short-lived HS256 JWTs, checked without a database round trip;
//! refresh tokens are opaque random strings stored only as a SHA-256 hash, so they can be revoked and rotated.

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// The `iss` of every access token; tokens naming another issuer are refused.
pub const ISSUER: &str = "switchyard";
/// Shortest signing secret accepted: HS256 is only as strong as its key, and RFC 7518 §3.2 asks for at least the
/// hash size (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;
/// Every refresh token starts with this, so a leaked one is recognisable (e.g. by secret scanners).
pub const REFRESH_TOKEN_PREFIX: &str = "syr_";
const REFRESH_RANDOM_CHARS: usize = 43;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a token could not be issued or was refused. Callers answer every verification failure with the same 401;
/// `Expired` is separate so the console knows to refresh rather than log out.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token signing secret is {0} bytes; it must be at least {MIN_SECRET_BYTES}")]
    WeakSecret(usize),
    #[error("the access token lifetime must be between one second and a few centuries")]
    InvalidTtl,
    #[error("access token has expired")]
    Expired,
    #[error("access token is invalid: {0}")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("could not sign access token: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// What an access token asserts: who (`sub`), in which tenant (`tid`), with which role, for which login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: Uuid,
    /// The tenant id the token is scoped to.
    pub tid: Uuid,
    /// The user's role in that tenant, as of issuing.
    pub role: String,
    /// The session (refresh token family) id, so revoking a session can be checked against its access tokens.
    pub sid: Uuid,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// Always [`ISSUER`].
    pub iss: String,
}

/// Issues and verifies access tokens with one HS256 secret from configuration.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    /// The signing secret's id (`kid`): the first 16 hex digits of its SHA-256, so a token names the secret
    /// that checks it and a rotation can keep the previous one for verification only.
    kid: String,
    /// Every secret tokens are verified with, by id: the signing one first, then `admin.jwt_previous_secrets`.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    access_ttl: TimeDelta,
}

/// A secret's key id.
fn kid_of(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

impl fmt::Debug for TokenSigner {
    /// The lifetime only: the secret must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Builds a signer from the configured secret (at least 32 bytes) and access token lifetime (at least 1 s).
    pub fn new(secret: &[u8], access_ttl: Duration) -> Result<TokenSigner, TokenError> {
        if access_ttl < Duration::from_secs(1) {
            return Err(TokenError::InvalidTtl);
        }
        let access_ttl = TimeDelta::from_std(access_ttl).map_err(|_| TokenError::InvalidTtl)?;
        Self::with_ttl(secret, access_ttl)
    }

    /// Any lifetime, negative included, so tests can mint already expired tokens.
    fn with_ttl(secret: &[u8], access_ttl: TimeDelta) -> Result<TokenSigner, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::WeakSecret(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Ok(TokenSigner {
            encoding: EncodingKey::from_secret(secret).map_err(TokenError::Signing)?,
            kid: kid_of(secret),
            decoding: vec![(
                kid_of(secret),
                DecodingKey::from_secret(secret).map_err(TokenError::Signing)?,
            )],
            validation,
            access_ttl,
        })
    }

    /// Also accepts tokens signed with `previous` secrets (a rotation in progress); new tokens are signed with
    /// the current one only.
    pub fn with_previous(mut self, previous: &[Vec<u8>]) -> Result<TokenSigner, TokenError> {
        for secret in previous {
            if secret.len() < MIN_SECRET_BYTES {
                return Err(TokenError::WeakSecret(secret.len()));
            }
            self.decoding.push((
                kid_of(secret),
                DecodingKey::from_secret(secret).map_err(TokenError::Signing)?,
            ));
        }
        Ok(self)
    }

    /// Signs an access token for a user's session; returns it with its expiry, for the response body.
    pub fn issue(
        &self,
        sub: Uuid,
        tid: Uuid,
        role: &str,
        sid: Uuid,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        let iat = Utc::now().timestamp();
        let expires = iat
            .checked_add(self.access_ttl.num_seconds())
            .and_then(|exp| DateTime::from_timestamp(exp, 0))
            .ok_or(TokenError::InvalidTtl)?;
        let claims = AccessClaims {
            sub,
            tid,
            role: role.to_owned(),
            sid,
            iat,
            exp: expires.timestamp(),
            iss: ISSUER.to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(TokenError::Signing)?;
        Ok((token, expires))
    }

    /// Checks the signature (HS256 only), the expiry (no leeway) and the issuer, and returns the claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        // The header names the secret; a token without a `kid` (issued before rotation existed) is checked with
        // the current secret.
        let kid = jsonwebtoken::decode_header(token)
            .map_err(TokenError::Invalid)?
            .kid
            .unwrap_or_else(|| self.kid.clone());
        let key = self
            .decoding
            .iter()
            .find(|(id, _)| *id == kid)
            .map(|(_, key)| key)
            .ok_or_else(|| {
                TokenError::Invalid(jsonwebtoken::errors::ErrorKind::InvalidSignature.into())
            })?;
        jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e),
            })
    }
}

/// A new refresh token: the secret to hand to the client once (`syr_` + 43 base62 characters, 256 bits from the
/// OS RNG) and the SHA-256 hex to store. A random 256-bit secret needs no slow hash.
pub fn new_refresh_token() -> (String, String) {
    let mut rng = OsRng.unwrap_err();
    let random: String = (0..REFRESH_RANDOM_CHARS)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect();
    let secret = format!("{REFRESH_TOKEN_PREFIX}{random}");
    let hash = hash_refresh_token(&secret);
    (secret, hash)
}

/// Hex SHA-256 of a presented refresh token: the lookup key in storage.
pub fn hash_refresh_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signer() -> TokenSigner {
        TokenSigner::new(SECRET, Duration::from_secs(900)).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_claims() {
        let (user, tenant, session) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (token, expires) = signer().issue(user, tenant, "admin", session).unwrap();
        let claims = signer().verify(&token).unwrap();
        assert_eq!(
            (
                claims.sub,
                claims.tid,
                claims.sid,
                claims.role.as_str(),
                claims.iss.as_str()
            ),
            (user, tenant, session, "admin", "switchyard")
        );
        assert_eq!(claims.exp, expires.timestamp());
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn a_token_of_the_previous_secret_verifies_during_a_rotation_and_new_ones_use_the_current() {
        let old = TokenSigner::new(&[b'o'; 32], Duration::from_secs(900)).unwrap();
        let (old_token, _) = old
            .issue(Uuid::now_v7(), Uuid::now_v7(), "owner", Uuid::now_v7())
            .unwrap();
        let rotated = TokenSigner::new(SECRET, Duration::from_secs(900))
            .unwrap()
            .with_previous(&[vec![b'o'; 32]])
            .unwrap();
        assert!(rotated.verify(&old_token).is_ok());
        let (new_token, _) = rotated
            .issue(Uuid::now_v7(), Uuid::now_v7(), "owner", Uuid::now_v7())
            .unwrap();
        assert!(old.verify(&new_token).is_err());
        assert!(signer().verify(&old_token).is_err());
        let header = jsonwebtoken::decode_header(&new_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(kid_of(SECRET).as_str()));
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let signer = TokenSigner::with_ttl(SECRET, TimeDelta::seconds(-5)).unwrap();
        let (token, _) = signer
            .issue(Uuid::now_v7(), Uuid::now_v7(), "member", Uuid::now_v7())
            .unwrap();
        assert!(matches!(signer.verify(&token), Err(TokenError::Expired)));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let other = TokenSigner::new(&[b'x'; 32], Duration::from_secs(900)).unwrap();
        let (token, _) = other
            .issue(Uuid::now_v7(), Uuid::now_v7(), "owner", Uuid::now_v7())
            .unwrap();
        assert!(matches!(
            signer().verify(&token),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_tampered_payload_is_invalid() {
        let (token, _) = signer()
            .issue(Uuid::now_v7(), Uuid::now_v7(), "member", Uuid::now_v7())
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(payload.replace("\"member\"", "\"owner\""));
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert!(matches!(
            signer().verify(&tampered),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            signer().verify("not.a.jwt"),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_token_from_another_issuer_is_invalid() {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: Uuid::now_v7(),
            tid: Uuid::now_v7(),
            role: "owner".into(),
            sid: Uuid::now_v7(),
            iat: now,
            exp: now + 60,
            iss: "elsewhere".into(),
        };
        let key = EncodingKey::from_secret(SECRET).unwrap();
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(matches!(
            signer().verify(&token),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn weak_secrets_and_silly_lifetimes_are_refused() {
        assert!(matches!(
            TokenSigner::new(&[1; 31], Duration::from_secs(900)),
            Err(TokenError::WeakSecret(31))
        ));
        assert!(matches!(
            TokenSigner::new(SECRET, Duration::ZERO),
            Err(TokenError::InvalidTtl)
        ));
        assert!(!format!("{:?}", signer()).contains("0123456789abcdef"));
    }

    #[test]
    fn refresh_tokens_are_prefixed_random_and_stored_as_their_hash() {
        let (secret, hash) = new_refresh_token();
        assert!(secret.starts_with("syr_"));
        assert_eq!(secret.len(), 4 + 43);
        assert!(secret[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(hash, hash_refresh_token(&secret));
        assert_eq!(hash.len(), 64);
        assert_ne!(secret, new_refresh_token().0);
    }
}
