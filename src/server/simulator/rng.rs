//! Repeatable randomness for the simulator: a stable hash of the things that identify a request
//! (seed, key, question, attempt) becomes the seed of a small RNG, and UUID-format ids come from it.
//!
//! `std`'s `DefaultHasher` is not promised to be stable across Rust releases, so a run recorded
//! with `--seed 7` could change after a toolchain upgrade; FNV-1a plus a SplitMix finaliser is.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// FNV-1a over length-prefixed fields, so ("ab","c") and ("a","bc") hash differently.
#[derive(Debug, Clone, Copy)]
pub(super) struct StableHash(u64);

impl StableHash {
    /// `domain` separates the uses (answers, faults, timing, ids) so they draw independently.
    pub(super) fn new(domain: &str) -> Self {
        StableHash(0xcbf2_9ce4_8422_2325).str(domain)
    }

    pub(super) fn u64(self, value: u64) -> Self {
        self.bytes(&value.to_le_bytes())
    }

    pub(super) fn str(self, value: &str) -> Self {
        self.u64(value.len() as u64).bytes(value.as_bytes())
    }

    fn bytes(mut self, bytes: &[u8]) -> Self {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    pub(super) fn finish(self) -> u64 {
        // SplitMix64's finaliser: FNV's low bits are weak, and SmallRng wants well-mixed seeds.
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn rng(self) -> SmallRng {
        SmallRng::seed_from_u64(self.finish())
    }
}

/// A version-4-shaped UUID string, as Dify's ids look.
pub(super) fn uuid(rng: &mut impl Rng) -> String {
    uuid_from_bits(rng.gen())
}

/// A UUID that is always the same for the same input (app ids, dataset ids, workflow ids).
pub(super) fn stable_uuid(hash: StableHash) -> String {
    uuid(&mut hash.rng())
}

fn uuid_from_bits(bits: u128) -> String {
    let v = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xffff,
        (v >> 64) & 0xffff,
        (v >> 48) & 0xffff,
        v & 0xffff_ffff_ffff
    )
}

/// Dify rejects a `conversation_id` that is not a UUID (any version, any case).
pub(super) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_stable_and_field_separated() {
        let a = StableHash::new("t").str("ab").str("c").finish();
        let b = StableHash::new("t").str("a").str("bc").finish();
        assert_ne!(a, b);
        assert_eq!(a, StableHash::new("t").str("ab").str("c").finish());
        assert_ne!(a, StableHash::new("u").str("ab").str("c").finish());
    }

    #[test]
    fn uuids_look_like_v4_and_validate() {
        let mut rng = StableHash::new("t").rng();
        for _ in 0..100 {
            let id = uuid(&mut rng);
            assert!(is_uuid(&id), "{id}");
            assert_eq!(&id[14..15], "4");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        }
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("45701982-8118-4bc5-8e9b-64562b4555fz"));
        assert!(is_uuid("45701982-8118-4BC5-8e9b-64562b4555f2"));
    }
}
