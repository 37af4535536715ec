//! The secrets of accounts, as pure functions: Argon2id password hashes, random session ids and
//! API tokens, and the SHA-256 digests the store keeps of them.
//!
//! Passwords are low-entropy, so they get a slow, salted hash (Argon2id, the RustCrypto crate's
//! defaults: OWASP's 19 MiB / 2 passes / 1 lane). Session ids and tokens are 256 random bits, so
//! a fast hash is enough: nobody can guess a preimage, and a lookup by digest stays one index
//! probe per request.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// What every API token starts with, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "dbt_";
/// How many characters of a token are kept in the clear to tell tokens apart in lists.
const SHOWN_PREFIX_CHARS: usize = 8;

/// 32 random bytes from the OS, base64url without padding (43 characters).
fn random_secret() -> String {
    use argon2::password_hash::rand_core::RngCore;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new browser session id (the cookie's value).
pub fn new_session_id() -> String {
    random_secret()
}

/// A new API token (`dbt_…`).
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// A one-time link's secret (setup, demo sign-in).
pub fn new_link_secret() -> String {
    random_secret()
}

/// The part of a token shown in lists.
pub fn shown_prefix(token: &str) -> String {
    token.chars().take(SHOWN_PREFIX_CHARS).collect()
}

/// Hex SHA-256: what the store keeps of a session id or token.
pub fn digest(secret: &str) -> String {
    let out = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in out {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// An Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). CPU-heavy (tens of ms): call it
/// off the async threads ([`hash_password_blocking`]).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("the password could not be hashed: {e}"))
}

/// Whether `password` matches a stored PHC string. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a password nobody knows, verified against when the username does not exist, so that
/// a wrong username takes as long as a wrong password (no user enumeration by timing).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

pub async fn hash_password_blocking(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| format!("the password could not be hashed: {e}"))?
}

pub async fn verify_password_blocking(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_180_2_vectors() {
        // FIPS 180-2, appendix B.1 ("abc") and the empty string.
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn tokens_are_random_prefixed_and_url_safe() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert!(a[4..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(shown_prefix(&a), a[..8]);
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("anything", "not a phc string"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }
}
