//! The embedding score and the cache keys of judgements and embeddings.
//!
//! - [`cosine`]: cosine similarity of two embeddings, summed in `f64` so that 1,536- or
//!   3,072-dimension `f32` vectors lose no precision; `None` when it is undefined.
//! - [`similarity_score`]: a cosine on the 0–100 scale of every other score. Negative cosines
//!   (rare with text embeddings) score 0: "opposite" is no more wrong than "unrelated" here.
//! - [`cache_key`]: lowercase hex SHA-256 of length-prefixed parts, so that no two different lists
//!   of parts share a key (`["ab", "c"]` is not `["a", "bc"]`).
//!
//! It does not call the embeddings endpoint, choose what goes into a key (the caller lists the
//! judge's configuration, [`super::rubric::PROMPT_VERSION`] and the texts), or store anything.

use sha2::{Digest, Sha256};

/// Cosine similarity of `a` and `b`, in −1…1. `None` when the lengths differ, the vectors are
/// empty, either is all zeros, or a component is not finite — an embedder that returns any of
/// these is broken, and a made-up similarity would hide it.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return None;
    }
    let cos = dot / (aa.sqrt() * bb.sqrt());
    // Rounding can carry a parallel pair a hair past ±1.
    cos.is_finite().then(|| cos.clamp(-1.0, 1.0))
}

/// A cosine as a 0–100 score, rounded to 2 decimals: `cos × 100`, negatives (and NaN) 0.
pub fn similarity_score(cos: f64) -> f64 {
    if cos.is_nan() {
        return 0.0;
    }
    (cos.clamp(0.0, 1.0) * 10_000.0).round() / 100.0
}

/// Lowercase hex SHA-256 of `parts`, each preceded by its length in bytes as 8 little-endian
/// bytes. The prefix makes the encoding unambiguous: `["ab", "c"]`, `["a", "bc"]` and `["abc"]`
/// hash differently.
pub fn cache_key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() < 1e-12)
    }

    #[test]
    fn cosine_reference_values() {
        // 32 / (√14 · √77), by Python: sum(x*y)/sqrt(sum(x*x))/sqrt(sum(y*y)) = 0.9746318461970762
        let c = cosine(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!(close(c, 0.974_631_846_197_076_2), "{c:?}");
        // 24 / 25, orthogonal, opposite, parallel.
        for (a, b, want) in [
            (&[3.0, 4.0][..], &[4.0, 3.0][..], 0.96),
            (&[1.0, 0.0], &[0.0, 2.0], 0.0),
            (&[1.0, 2.0], &[-2.0, -4.0], -1.0),
            (&[0.5, 0.5, 0.5], &[2.0, 2.0, 2.0], 1.0),
        ] {
            assert!(close(cosine(a, b), want), "{a:?} {b:?}");
        }
    }

    #[test]
    fn cosine_is_undefined_for_broken_vectors() {
        assert_eq!(cosine(&[], &[]), None);
        assert_eq!(cosine(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), None);
        assert_eq!(cosine(&[1.0, 2.0], &[0.0, 0.0]), None);
        assert_eq!(cosine(&[f32::NAN, 1.0], &[1.0, 1.0]), None);
        assert_eq!(cosine(&[f32::INFINITY, 1.0], &[1.0, 1.0]), None);
    }

    #[test]
    fn cosine_stays_within_one_for_parallel_high_dimensional_vectors() {
        let a: Vec<f32> = (0..3072)
            .map(|i| ((i * 7919) % 1000) as f32 / 997.0)
            .collect();
        let b: Vec<f32> = a.iter().map(|x| x * 3.0).collect();
        let c = cosine(&a, &b).unwrap_or(f64::NAN);
        assert!(c <= 1.0 && c > 0.999_999_999, "{c}");
    }

    #[test]
    fn similarity_score_maps_to_0_100() {
        for (cos, want) in [
            (1.0, 100.0),
            (0.96, 96.0),
            (0.974_631_846_197_076_2, 97.46),
            (0.123_46, 12.35),
            (0.123_44, 12.34),
            (0.0, 0.0),
            (-0.5, 0.0),
            (-1.0, 0.0),
            (f64::NAN, 0.0),
        ] {
            assert_eq!(similarity_score(cos), want, "cos {cos}");
        }
    }

    #[test]
    fn cache_key_matches_python_hashlib() {
        // Reference digests from Python:
        //   h = hashlib.sha256()
        //   for p in parts: b = p.encode(); h.update(struct.pack('<Q', len(b))); h.update(b)
        //   h.hexdigest()
        for (parts, want) in [
            (
                &["ab", "c"][..],
                "43ee655579de01ca739b3f95c1c2d3f46d353b2c0df818064ea594506cdb2617",
            ),
            (
                &["a", "bc"][..],
                "9a8acca1b6c6c0befd3fbc756aed625da998c998f7252e738c4ef061906b9b21",
            ),
            (
                &[][..],
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                &[""][..],
                "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc",
            ),
            (
                &["openai", "gpt-4o-mini", "correctness", "1", "問題", "答案"][..],
                "54dd954a7c0c37353398ac3586b19969a04ed5cb53318f4913b6327f7ccb4a8e",
            ),
        ] {
            assert_eq!(cache_key(parts), want, "{parts:?}");
        }
    }

    #[test]
    fn cache_key_separates_parts() {
        assert_ne!(cache_key(&["ab", "c"]), cache_key(&["a", "bc"]));
        assert_ne!(cache_key(&["abc"]), cache_key(&["ab", "c"]));
        assert_ne!(cache_key(&[]), cache_key(&[""]));
        assert_ne!(cache_key(&["", ""]), cache_key(&[""]));
    }
}
