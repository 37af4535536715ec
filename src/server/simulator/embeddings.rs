//! The vectors the simulated `/v1/embeddings` returns: deterministic, so that texts sharing
//! their words have a high cosine and unrelated texts a cosine near 0. Pure; the endpoint is
//! `openai`'s.
//!
//! A text becomes units on its canonical form (`facts::canonical`: NFKC, lowercase, `4.5Gbps` as
//! `4.5 gbps`): each Latin word that is not a stopword (weight 1) and its character trigrams
//! with `#` marking the word's ends (weight 0.3 each, so `carries` and `carry` stay close), and
//! each CJK character bigram (weight 1; a lone CJK character is its own unit). Each unit adds
//! its weight, with a sign, to one dimension chosen by a stable hash (the hashing trick), and
//! the vector is scaled to length 1 as OpenAI's are. A text with no unit gets a unit vector
//! picked by the hash of the text.

use super::answer::is_cjk;
use super::facts::canonical;
use super::rng::StableHash;

pub(super) const DEFAULT_DIMENSIONS: usize = 256;
/// The largest `dimensions` a request may ask for (OpenAI's largest model has 3072).
pub(super) const MAX_DIMENSIONS: usize = 3072;

const TRIGRAM_WEIGHT: f32 = 0.3;

const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from",
    "has", "have", "how", "in", "is", "it", "its", "of", "on", "or", "so", "than", "that", "the",
    "their", "there", "these", "this", "to", "was", "what", "when", "which", "while", "who", "why",
    "will", "with",
];

/// The unit-length embedding of `text` in `dimensions` (≥ 1) dimensions.
pub(super) fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let dimensions = dimensions.max(1);
    let mut v = vec![0f32; dimensions];
    let mut add = |unit: &str, weight: f32| {
        let h = StableHash::new("embedding").str(unit).finish();
        // The remainder is below `dimensions`, a usize, so it converts back losslessly.
        let at = usize::try_from(h % dimensions as u64).unwrap_or(0);
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[at] += sign * weight;
    };

    let canon = canonical(text);
    for word in canon
        .split(|c: char| !((c.is_alphanumeric() && !is_cjk(c)) || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
    {
        add(word, 1.0);
        let marked: Vec<char> = format!("#{word}#").chars().collect();
        if marked.len() >= 5 {
            for gram in marked.windows(3) {
                add(&gram.iter().collect::<String>(), TRIGRAM_WEIGHT);
            }
        }
    }
    let chars: Vec<char> = canon.chars().collect();
    for run in chars.split(|c| !(is_cjk(*c) && c.is_alphanumeric())) {
        match run {
            [] => {}
            [one] => add(&one.to_string(), 1.0),
            _ => {
                for pair in run.windows(2) {
                    add(&pair.iter().collect::<String>(), 1.0);
                }
            }
        }
    }

    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        let h = StableHash::new("empty-embedding").str(text).finish();
        let at = usize::try_from(h % dimensions as u64).unwrap_or(0);
        v[at] = 1.0;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &str, b: &str) -> f32 {
        let (x, y) = (embed(a, DEFAULT_DIMENSIONS), embed(b, DEFAULT_DIMENSIONS));
        x.iter().zip(&y).map(|(p, q)| p * q).sum()
    }

    #[test]
    fn vectors_are_unit_length_and_repeatable() {
        for text in ["USB4 runs at 40 Gbps.", "資料通道", "", "???", "x"] {
            let v = embed(text, 64);
            assert_eq!(v.len(), 64);
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{text:?}: {norm}");
            assert_eq!(v, embed(text, 64));
        }
        assert_eq!(embed("a b", 0).len(), 1);
    }

    #[test]
    fn similar_texts_are_close_and_unrelated_ones_far() {
        let same_words = cosine(
            "The maximum bandwidth of USB4 is 40 Gbps.",
            "USB4 maximum bandwidth: 40Gbps",
        );
        assert!(same_words > 0.95, "{same_words}");
        let related = cosine(
            "MIPI C-PHY carries about 13.7 Gbps per lane with an embedded clock.",
            "Each C-PHY lane carries roughly 13.7 Gbps and embeds its clock.",
        );
        assert!(related > 0.5, "{related}");
        let chinese = cosine(
            "USB4 第一版最高總頻寬為 40 Gbps，由兩條各 20 Gbps 的通道組成。",
            "USB4 最高總頻寬 40 Gbps，兩條 20 Gbps 通道。",
        );
        assert!(chinese > 0.6, "{chinese}");
        for (a, b) in [
            (
                "MIPI C-PHY carries about 13.7 Gbps per lane.",
                "The capital of France is Paris.",
            ),
            (
                "USB4 第一版最高總頻寬為 40 Gbps。",
                "今天天氣很好，我們去公園散步。",
            ),
            ("DDR5 runs VDD at 1.1 V.", "I2C 標準模式為 100 kHz。"),
        ] {
            let c = cosine(a, b);
            assert!(c.abs() < 0.3, "{a} / {b}: {c}");
            assert!(related > c + 0.3);
        }
    }
}
