//! The master key that seals stored secrets: 32 random bytes, how they are written (base64 or
//! hex), and the short id that names a key without revealing it.
//!
//! Where the key comes from (env var, key file) is [`super::key_source`]'s business; what it
//! seals, [`super::sealer`]'s.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::Generate;
use sha2::{Digest, Sha256};
use std::fmt;

/// Bytes in a master key (XChaCha20-Poly1305's key size).
pub const KEY_LEN: usize = 32;

/// What a key looks like, for error messages.
pub const KEY_FORM: &str = "32 bytes written as base64 (44 characters, e.g. the output of \
                            `openssl rand -base64 32`) or as 64 hex digits";

/// A 32-byte key. `Debug` shows its id only; the one way to the bytes is [`MasterKey::encode`].
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
    id: KeyId,
}

/// Eight hex digits derived from a key by a one-way hash: stored beside every sealed value, so a
/// value sealed under another key is told apart from a damaged one, and named in messages.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// An id as read back from a stored value (already checked to be eight hex digits).
    pub(crate) fn from_stored(id: &str) -> Option<KeyId> {
        (id.len() == 8
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| KeyId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a text is not a key. It never quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {KEY_FORM}; got {got}")]
pub struct KeyParseError {
    got: String,
}

/// The operating system could not supply random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        let digest = Sha256::new()
            .chain_update(b"dify-bench master key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey {
            bytes,
            id: KeyId(id),
        }
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<MasterKey, RandomError> {
        let key = chacha20poly1305::Key::try_generate().map_err(|e| RandomError(e.to_string()))?;
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(key.as_slice());
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Reads a key written as base64 (standard or URL-safe, padded or not) or 64 hex digits.
    /// Surrounding whitespace (a key file's newline) is ignored.
    pub fn parse(text: &str) -> Result<MasterKey, KeyParseError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyParseError {
                got: "nothing".into(),
            });
        }
        let decoded = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            decode_hex(text)
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        let got = match decoded {
            Some(bytes) => match <[u8; KEY_LEN]>::try_from(bytes.as_slice()) {
                Ok(bytes) => return Ok(MasterKey::from_bytes(bytes)),
                Err(_) => format!("{} bytes", bytes.len()),
            },
            None => format!(
                "{} characters that are neither base64 nor hex",
                text.chars().count()
            ),
        };
        Err(KeyParseError { got })
    }

    /// The key as written to a key file or printed for an env var: standard base64.
    pub fn encode(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {})", self.id)
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 32] = [7; 32];

    #[test]
    fn reads_base64_and_hex_forms_of_the_same_key() {
        let key = MasterKey::from_bytes(BYTES);
        let b64 = key.encode();
        assert_eq!(b64.len(), 44);
        let hex: String = BYTES.iter().map(|b| format!("{b:02x}")).collect();
        for text in [
            b64.clone(),
            format!("  {b64}\n"),
            b64.trim_end_matches('=').to_string(),
            URL_SAFE.encode(BYTES),
            hex.clone(),
            hex.to_uppercase(),
        ] {
            let parsed = MasterKey::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(parsed.bytes(), &BYTES, "{text:?}");
            assert_eq!(parsed.id(), key.id());
        }
    }

    #[test]
    fn refuses_other_lengths_and_garbage_naming_the_form_not_the_text() {
        let short = STANDARD.encode([1u8; 16]);
        let e = MasterKey::parse(&short).unwrap_err().to_string();
        assert!(e.contains("got 16 bytes"), "{e}");
        assert!(e.contains("base64") && e.contains("64 hex digits"), "{e}");
        assert!(!e.contains(&short));
        let e = MasterKey::parse("not a key at all!")
            .unwrap_err()
            .to_string();
        assert!(e.contains("17 characters that are neither"), "{e}");
        assert!(!e.contains("not a key"));
        assert!(MasterKey::parse("")
            .unwrap_err()
            .to_string()
            .contains("got nothing"));
        // 64 characters of which some are not hex digits: not hex, and not 32 bytes of base64.
        assert!(MasterKey::parse(&"g".repeat(64)).is_err());
    }

    #[test]
    fn ids_are_stable_distinct_and_do_not_reveal_the_key() {
        let a = MasterKey::from_bytes(BYTES);
        assert_eq!(a.id(), MasterKey::from_bytes(BYTES).id());
        let b = MasterKey::generate().unwrap();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().as_str().len(), 8);
        assert!(KeyId::from_stored(a.id().as_str()).is_some());
        assert!(!format!("{a:?}").contains(&a.encode()));
        assert_ne!(
            MasterKey::generate().unwrap().encode(),
            b.encode(),
            "keys are random"
        );
    }
}
