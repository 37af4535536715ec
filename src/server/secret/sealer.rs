//! Sealing a [`Secret`] for storage, and opening it again: XChaCha20-Poly1305 under the master
//! key, a fresh random 24-byte nonce per seal, and the purpose as associated data.
//!
//! The stored form is one line of text, `enc:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.
//! The version lets a later format be added beside this one; the key id (see
//! [`super::master_key::KeyId`]) tells "sealed under another key" apart from "damaged". The
//! associated data is the purpose (e.g. `dify-bench/api-key`) and the header, so a value sealed
//! for one purpose does not open as another, and an edited key id does not open at all.
//!
//! It does not bind a value to its row: a sealed value copied to another row of the same purpose
//! opens there. Batch snapshots rely on that (they hold the key of the version they copy).

use super::master_key::{KeyId, MasterKey};
use super::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::sync::Arc;

const PREFIX: &str = "enc:";
const FORMAT_V1: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// What a sealed value is for; the associated data of every seal. Two purposes never open each
/// other's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose(&'static str);

impl Purpose {
    /// A Dify app's API key (`versions.api_key` and batch snapshots).
    pub const API_KEY: Purpose = Purpose("dify-bench/api-key");
    /// A judge's or embedding endpoint's API key (`judges.api_key`).
    pub const JUDGE_KEY: Purpose = Purpose("dify-bench/judge-key");
    /// A webhook's signing secret (`webhooks.secret`).
    pub const WEBHOOK_SECRET: Purpose = Purpose("dify-bench/webhook-secret");

    /// A purpose of a kind not listed here (e.g. a judge's key); the name is part of every seal.
    pub const fn new(name: &'static str) -> Purpose {
        Purpose(name)
    }
}

/// Why a stored value does not open. Messages name the problem, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Plain text from before keys were encrypted (or never sealed).
    #[error("it is stored unencrypted")]
    NotSealed,
    #[error(
        "it is sealed in format `{0}`, which this dify-bench does not read (was the database \
         written by a newer version?)"
    )]
    UnknownFormat(String),
    #[error("it is not a well-formed sealed value (`enc:v1:<key id>:<data>`)")]
    Malformed,
    #[error(
        "this database was encrypted with another secret key (id {stored}); set \
         DIFY_BENCH_SECRET_KEY or --secret-key-file to the key it was written with (the key in \
         use has id {current})"
    )]
    OtherKey { stored: KeyId, current: KeyId },
    #[error(
        "it failed its integrity check: it was altered, or was sealed for another purpose than \
         {purpose}"
    )]
    Rejected { purpose: &'static str },
}

/// Sealing failed: the random nonce could not be drawn (the operating system's generator failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot encrypt a secret: {0}")]
pub struct SealError(String);

/// Seals and opens secrets of one purpose under one master key. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    key: Arc<MasterKey>,
    cipher: XChaCha20Poly1305,
    purpose: Purpose,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({}, key id {})", self.purpose.0, self.key.id())
    }
}

/// The parts of a stored `enc:` value, before anything is decrypted.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub key_id: KeyId,
    header: &'a str,
    data: &'a str,
}

impl<'a> Envelope<'a> {
    /// Splits a stored value; `Err(NotSealed)` for plain text.
    pub fn parse(stored: &'a str) -> Result<Envelope<'a>, OpenError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Err(OpenError::NotSealed);
        };
        let (format, rest) = rest.split_once(':').ok_or(OpenError::Malformed)?;
        if format != FORMAT_V1 {
            return Err(OpenError::UnknownFormat(
                format.chars().take(16).collect::<String>(),
            ));
        }
        let (id, data) = rest.split_once(':').ok_or(OpenError::Malformed)?;
        let key_id = KeyId::from_stored(id).ok_or(OpenError::Malformed)?;
        let header = &stored[..stored.len() - data.len()];
        Ok(Envelope {
            key_id,
            header,
            data,
        })
    }
}

/// Whether a stored value is sealed (in any format) rather than plain text.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

impl Sealer {
    pub fn new(key: Arc<MasterKey>, purpose: Purpose) -> Sealer {
        let cipher = XChaCha20Poly1305::new(key.bytes().into());
        Sealer {
            key,
            cipher,
            purpose,
        }
    }

    /// The same key, for another purpose.
    pub fn for_purpose(&self, purpose: Purpose) -> Sealer {
        Sealer::new(self.key.clone(), purpose)
    }

    pub fn key_id(&self) -> &KeyId {
        self.key.id()
    }

    pub fn key(&self) -> &Arc<MasterKey> {
        &self.key
    }

    /// The stored form of `secret`. Two seals of one secret differ (the nonce is random).
    pub fn seal(&self, secret: &Secret) -> Result<String, SealError> {
        let nonce = XNonce::try_generate().map_err(|e| SealError(e.to_string()))?;
        let header = format!("{PREFIX}{FORMAT_V1}:{}:", self.key.id());
        let aad = self.aad(&header);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: &aad,
                },
            )
            // Only a message of more than 256 GiB makes encryption fail.
            .map_err(|_| SealError("the secret is too long".into()))?;
        let mut data = Vec::with_capacity(NONCE_LEN + sealed.len());
        data.extend_from_slice(nonce.as_slice());
        data.extend_from_slice(&sealed);
        Ok(format!("{header}{}", URL_SAFE_NO_PAD.encode(data)))
    }

    /// The secret in a stored value sealed by [`Sealer::seal`] under this key and purpose.
    pub fn open(&self, stored: &str) -> Result<Secret, OpenError> {
        let envelope = Envelope::parse(stored)?;
        if &envelope.key_id != self.key.id() {
            return Err(OpenError::OtherKey {
                stored: envelope.key_id,
                current: self.key.id().clone(),
            });
        }
        let data = URL_SAFE_NO_PAD
            .decode(envelope.data)
            .map_err(|_| OpenError::Malformed)?;
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::Malformed)?;
        let rejected = OpenError::Rejected {
            purpose: self.purpose.0,
        };
        let aad = self.aad(envelope.header);
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| rejected.clone())?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| rejected)
    }

    fn aad(&self, header: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.purpose.0.len() + 1 + header.len());
        aad.extend_from_slice(self.purpose.0.as_bytes());
        aad.push(0);
        aad.extend_from_slice(header.as_bytes());
        aad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(
            Arc::new(MasterKey::from_bytes([byte; 32])),
            Purpose::API_KEY,
        )
    }

    const KEY: &str = "app-0123456789abcdefRoundTrip";

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let s = sealer(1);
        let a = s.seal(&Secret::new(KEY)).unwrap();
        let b = s.seal(&Secret::new(KEY)).unwrap();
        assert_ne!(a, b, "the nonce is random");
        assert!(a.starts_with(&format!("enc:v1:{}:", s.key_id())), "{a}");
        assert!(!a.contains("0123456789abcdef"));
        assert!(is_sealed(&a) && !is_sealed(KEY));
        assert_eq!(s.open(&a).unwrap().expose(), KEY);
        assert_eq!(s.open(&b).unwrap().expose(), KEY);
        // Empty and non-ASCII secrets too.
        for text in ["", "金鑰-🔑"] {
            let sealed = s.seal(&Secret::new(text)).unwrap();
            assert_eq!(s.open(&sealed).unwrap().expose(), text);
        }
    }

    #[test]
    fn tampered_values_are_rejected() {
        let s = sealer(1);
        let sealed = s.seal(&Secret::new(KEY)).unwrap();
        let (header, data) = sealed.rsplit_once(':').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(data).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 1;
            let forged = format!("{header}:{}", URL_SAFE_NO_PAD.encode(&raw));
            assert!(
                matches!(s.open(&forged), Err(OpenError::Rejected { .. })),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        // Cut short, not base64, no data at all.
        let short = format!("{header}:{}", URL_SAFE_NO_PAD.encode(&raw[..30]));
        assert_eq!(s.open(&short), Err(OpenError::Malformed));
        assert_eq!(s.open(&format!("{header}:!!")), Err(OpenError::Malformed));
        assert_eq!(s.open("enc:v1:"), Err(OpenError::Malformed));
        assert_eq!(s.open("enc:v1:XYZ:abc"), Err(OpenError::Malformed));
    }

    #[test]
    fn another_key_is_named_by_id_not_mistaken_for_damage() {
        let (a, b) = (sealer(1), sealer(2));
        let sealed = a.seal(&Secret::new(KEY)).unwrap();
        let err = b.open(&sealed).unwrap_err();
        assert_eq!(
            err,
            OpenError::OtherKey {
                stored: a.key_id().clone(),
                current: b.key_id().clone()
            }
        );
        let msg = err.to_string();
        assert!(msg.contains(a.key_id().as_str()), "{msg}");
        assert!(msg.contains("DIFY_BENCH_SECRET_KEY") && msg.contains("--secret-key-file"));
        // An id edited to match the other key does not open either: the header is authenticated.
        let forged = sealed.replace(a.key_id().as_str(), b.key_id().as_str());
        assert!(matches!(b.open(&forged), Err(OpenError::Rejected { .. })));
    }

    #[test]
    fn another_purpose_does_not_open() {
        let s = sealer(1);
        let judge = s.for_purpose(Purpose::new("dify-bench/judge-key"));
        let sealed = s.seal(&Secret::new(KEY)).unwrap();
        let err = judge.open(&sealed).unwrap_err();
        assert_eq!(
            err,
            OpenError::Rejected {
                purpose: "dify-bench/judge-key"
            }
        );
        assert_eq!(
            judge
                .open(&judge.seal(&Secret::new(KEY)).unwrap())
                .unwrap()
                .expose(),
            KEY
        );
    }

    #[test]
    fn plain_text_and_unknown_formats_are_told_apart() {
        let s = sealer(1);
        assert_eq!(s.open(KEY), Err(OpenError::NotSealed));
        assert_eq!(
            s.open("enc:v9:0011aabb:xyz"),
            Err(OpenError::UnknownFormat("v9".into()))
        );
        let env = Envelope::parse("enc:v1:0011aabb:xyz").unwrap();
        assert_eq!(env.key_id.as_str(), "0011aabb");
    }
}
