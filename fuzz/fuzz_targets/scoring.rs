//! Scoring normalisation: `normalize` equals the plain definition (NFKC, lowercase, whitespace
//! runs collapsed, trimmed) that its fast path shortcuts, and is idempotent on its output;
//! `similarity` is a number in 0..=100 and 100 for a text against itself.
#![no_main]

use dify_bench::server::scoring::{normalize, similarity};
use libfuzzer_sys::fuzz_target;
use unicode_normalization::UnicodeNormalization;

fn reference(text: &str) -> String {
    let folded: String = text.nfkc().flat_map(char::to_lowercase).collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(text.len(), |(i, _)| i),
    );
    for s in [a, b, text] {
        assert_eq!(normalize(s), reference(s), "normalize({s:?})");
    }
    let s = similarity(a, b);
    assert!((0.0..=100.0).contains(&s), "similarity {s}");
    assert_eq!(
        similarity(text, text),
        100.0,
        "similarity of {text:?} with itself"
    );
});
