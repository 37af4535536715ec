//! Signing a delivery: `X-Dify-Bench-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is
//! HMAC-SHA256 (RFC 2104 over SHA-256) keyed with the webhook's secret (its UTF-8 bytes, as
//! shown) over `<t>.<body>`. The time inside the signed text lets a receiver refuse a replayed
//! delivery; the `v1=` scheme name lets a stronger one be added beside it later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Dify-Bench-Signature";
pub const EVENT_HEADER: &str = "X-Dify-Bench-Event";
pub const DELIVERY_HEADER: &str = "X-Dify-Bench-Delivery";

/// What a generated secret starts with (so a leaked one is recognisable in a scan).
pub const SECRET_PREFIX: &str = "whsec_";

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length (longer ones are hashed first), so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={timestamp},v1={}",
        hex(&hmac_sha256(secret.as_bytes(), &signed))
    )
}

/// What pages show of a secret: `whsec_…abcd` for a generated one, else as keys are hinted
/// (`app-…abcd`, or `…abcd`).
pub fn hint(secret: &str) -> String {
    match secret.strip_prefix(SECRET_PREFIX) {
        Some(rest) if rest.chars().count() >= 12 => {
            let tail: String = rest.chars().skip(rest.chars().count() - 4).collect();
            format!("{SECRET_PREFIX}…{tail}")
        }
        _ => crate::model::key_hint(secret),
    }
}

/// A new random secret: `whsec_` and 32 random bytes in unpadded base64url.
pub fn generate_secret() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
    const RFC4231_CASE2: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            RFC4231_CASE2
        );
        // Test case 1: a 20-byte key of 0x0b, data "Hi There".
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 6: a 131-byte key (hashed first).
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_header_signs_time_dot_body() {
        // The same HMAC as RFC 4231 case 2 when the signed text is the RFC's data.
        let header = signature_header("Jefe", 1_700_000_000, br#"{"event":"x"}"#);
        let want = hex(&hmac_sha256(b"Jefe", br#"1700000000.{"event":"x"}"#));
        assert_eq!(header, format!("t=1700000000,v1={want}"));
        assert_eq!(want.len(), 64);
        assert_ne!(
            header,
            signature_header("Jefe", 1_700_000_001, br#"{"event":"x"}"#),
            "the time is signed"
        );
    }

    #[test]
    fn generated_secrets_are_prefixed_random_and_long() {
        let (a, b) = (generate_secret(), generate_secret());
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(hint(&a), format!("whsec_…{}", &a[a.len() - 4..]));
        assert_eq!(hint("s3cret-entered-0123456789"), "s3cret-…6789");
        assert_eq!(hint("short"), "…", "a short secret shows nothing of itself");
        assert!(a[SECRET_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
