//! What a simulated app answers: how much of the knowledge-base entry's expected content it
//! carries (decided by the app's quality), and how the text is cut into streaming chunks.
//!
//! Quality q keeps each keyword and each sentence of the expected answer with probability q/100,
//! independently. A kept sentence still loses the keywords that were dropped (they become
//! "(unspecified)"), a kept keyword whose sentences were all dropped is mentioned on its own,
//! and a dropped sentence is sometimes replaced by a generic hedge. So keyword coverage tracks
//! q, and textual similarity falls with it too.

use rand::seq::SliceRandom;
use rand::Rng;

use super::knowledge::KbEntry;

pub(super) const NOT_FOUND: &str = "I could not find this in the knowledge base.";

struct Phrases {
    lead_ins: &'static [&'static str],
    hedges: &'static [&'static str],
    vague: &'static str,
    redacted: &'static str,
    related: &'static str,
    related_sep: &'static str,
    related_end: &'static str,
    sentence_sep: &'static str,
}

const ENGLISH: Phrases = Phrases {
    lead_ins: &[
        "Based on the knowledge base:",
        "According to the retrieved specification documents:",
        "Here is what the datasheets say:",
    ],
    hedges: &[
        "The exact figure can vary between vendors and silicon revisions.",
        "Check the controller datasheet for board-level timing details.",
        "Signal integrity of the PCB layout also matters here.",
    ],
    vague: "The documents mention this topic, but I could not find the specific figures.",
    redacted: "(unspecified)",
    related: "Related terms: ",
    related_sep: ", ",
    related_end: ".",
    sentence_sep: " ",
};

const CHINESE: Phrases = Phrases {
    lead_ins: &[
        "根據知識庫資料：",
        "依據檢索到的規格文件：",
        "資料手冊中的說明如下：",
    ],
    hedges: &[
        "實際數值可能因廠商與晶片版本而異。",
        "詳細時序請參考控制器的資料手冊。",
        "電路板佈線的訊號完整性也會影響結果。",
    ],
    vague: "資料中有提到這個主題，但找不到具體數值。",
    redacted: "（未註明）",
    related: "相關重點：",
    related_sep: "、",
    related_end: "。",
    sentence_sep: "",
};

/// The answer an app of `quality` (0–100) gives for `entry`; the generic not-found answer when
/// the question matched no entry.
pub(super) fn compose(entry: Option<&KbEntry>, quality: u8, rng: &mut impl Rng) -> String {
    let Some(entry) = entry else {
        return NOT_FOUND.to_string();
    };
    let p = f64::from(quality.min(100)) / 100.0;
    let phrases = if has_cjk(entry.expected_answer) {
        &CHINESE
    } else {
        &ENGLISH
    };
    let kept: Vec<bool> = entry.keywords.iter().map(|_| rng.gen_bool(p)).collect();
    let mut covered = vec![false; entry.keywords.len()];

    let mut parts: Vec<String> = Vec::new();
    let mut substantive = false;
    for sentence in sentences(entry.expected_answer) {
        if rng.gen_bool(p) {
            let (text, present) = redact(sentence, entry.keywords, &kept, phrases.redacted);
            for (c, hit) in covered.iter_mut().zip(present) {
                *c |= hit;
            }
            parts.push(text);
            substantive = true;
        } else if rng.gen_bool(1.0 - p) {
            if let Some(hedge) = phrases.hedges.choose(rng) {
                parts.push((*hedge).to_string());
            }
        }
    }
    let missing: Vec<&str> = entry
        .keywords
        .iter()
        .zip(kept.iter().zip(&covered))
        .filter(|(_, (k, c))| **k && !**c)
        .map(|(kw, _)| *kw)
        .collect();
    if !missing.is_empty() {
        parts.push(format!(
            "{}{}{}",
            phrases.related,
            missing.join(phrases.related_sep),
            phrases.related_end
        ));
        substantive = true;
    }
    if !substantive {
        parts.push(phrases.vague.to_string());
    }

    let lead_in = phrases.lead_ins.choose(rng).copied().unwrap_or_default();
    let mut out = String::from(lead_in);
    out.push_str(if phrases.sentence_sep.is_empty() {
        ""
    } else {
        " "
    });
    out.push_str(&parts.join(phrases.sentence_sep));
    out
}

/// Splits after `。` or after a `.` that ends a sentence (followed by whitespace or the end), so
/// `802.11ax` and `v2.5` stay whole.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends = match c {
            '。' | '！' | '？' => true,
            '.' | '!' | '?' => chars.peek().is_none_or(|(_, next)| next.is_whitespace()),
            _ => false,
        };
        if ends {
            let end = i + c.len_utf8();
            let s = text[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Replaces each dropped keyword in `sentence` (ASCII case-insensitively), except where it sits
/// inside a kept one ("20 Gbps" inside "120 Gbps"); reports which keywords remain present.
fn redact(
    sentence: &str,
    keywords: &[&str],
    kept: &[bool],
    placeholder: &str,
) -> (String, Vec<bool>) {
    // ASCII lowercasing keeps byte offsets, so ranges found here index `sentence` too.
    let lower = sentence.to_ascii_lowercase();
    let find_all = |kw: &str| -> Vec<(usize, usize)> {
        let kw = kw.to_ascii_lowercase();
        if kw.is_empty() {
            return Vec::new();
        }
        lower
            .match_indices(kw.as_str())
            .map(|(at, m)| (at, at + m.len()))
            .collect()
    };
    let protected: Vec<(usize, usize)> = keywords
        .iter()
        .zip(kept)
        .filter(|(_, k)| **k)
        .flat_map(|(kw, _)| find_all(kw))
        .collect();
    let inside_kept = |(a, b): (usize, usize)| protected.iter().any(|&(pa, pb)| pa <= a && b <= pb);

    let mut cuts: Vec<(usize, usize)> = keywords
        .iter()
        .zip(kept)
        .filter(|(_, k)| !**k)
        .flat_map(|(kw, _)| find_all(kw))
        .filter(|r| !inside_kept(*r))
        .collect();
    cuts.sort_unstable();
    let mut text = String::with_capacity(sentence.len());
    let mut at = 0;
    for (a, b) in cuts {
        if a < at {
            continue; // overlaps a cut already made
        }
        text.push_str(&sentence[at..a]);
        text.push_str(placeholder);
        at = b;
    }
    text.push_str(&sentence[at..]);

    let lower_out = text.to_ascii_lowercase();
    let present = keywords
        .iter()
        .map(|kw| lower_out.contains(&kw.to_ascii_lowercase()))
        .collect();
    (text, present)
}

pub(super) fn has_cjk(s: &str) -> bool {
    s.chars().any(is_cjk)
}

pub(super) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303f | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0xff00..=0xffef)
}

/// Cuts an answer into streaming deltas: 2–4 characters for CJK, one or two words (with their
/// trailing space) for Latin text, like an LLM's tokens arrive. The pieces concatenate back to
/// `answer` exactly.
pub(super) fn chunks<'a>(answer: &'a str, rng: &mut impl Rng) -> Vec<&'a str> {
    // Units: one CJK character, or a run of non-CJK non-space characters plus following spaces.
    let mut units: Vec<(usize, bool)> = Vec::new(); // (start byte, is CJK)
    let mut prev: Option<(bool, bool)> = None; // (is CJK, was space)
    for (i, c) in answer.char_indices() {
        let cjk = is_cjk(c);
        let space = c.is_whitespace();
        let starts_unit = match prev {
            None => true,
            Some(_) if cjk => true,
            Some((prev_cjk, prev_space)) => prev_cjk || (prev_space && !space),
        };
        if starts_unit {
            units.push((i, cjk));
        }
        prev = Some((cjk, space));
    }

    let mut out = Vec::new();
    let mut u = 0;
    while u < units.len() {
        let cjk = units[u].1;
        let want = if cjk {
            rng.gen_range(2..=4)
        } else {
            rng.gen_range(1..=2)
        };
        let mut end = u + 1;
        while end < units.len() && end - u < want && units[end].1 == cjk {
            end += 1;
        }
        let from = units[u].0;
        let to = units.get(end).map_or(answer.len(), |x| x.0);
        out.push(&answer[from..to]);
        u = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::knowledge::entries;
    use super::super::rng::StableHash;
    use super::*;

    fn answer(seed: u64, quality: u8, entry: &KbEntry) -> String {
        let mut rng = StableHash::new("answer").u64(seed).str(entry.query).rng();
        compose(Some(entry), quality, &mut rng)
    }

    fn keyword_hits(text: &str, entry: &KbEntry) -> usize {
        let lower = text.to_lowercase();
        entry
            .keywords
            .iter()
            .filter(|k| lower.contains(&k.to_lowercase()))
            .count()
    }

    #[test]
    fn same_seed_same_answer_other_seed_differs_somewhere() {
        let mut differs = false;
        for e in entries() {
            assert_eq!(answer(1, 60, e), answer(1, 60, e));
            differs |= answer(1, 60, e) != answer(2, 60, e);
        }
        assert!(differs);
    }

    #[test]
    fn perfect_quality_carries_every_sentence_and_keyword() {
        for e in entries() {
            let a = answer(3, 100, e);
            for s in sentences(e.expected_answer) {
                assert!(a.contains(s), "{a:?} lacks {s:?}");
            }
            assert_eq!(keyword_hits(&a, e), e.keywords.len());
        }
    }

    #[test]
    fn zero_quality_carries_no_keyword() {
        for e in entries() {
            let a = answer(3, 0, e);
            assert_eq!(keyword_hits(&a, e), 0, "{a}");
        }
    }

    #[test]
    fn higher_quality_covers_more_keywords_across_the_kb() {
        for seed in 0..5 {
            let total = |q: u8| -> usize {
                entries()
                    .iter()
                    .map(|e| keyword_hits(&answer(seed, q, e), e))
                    .sum()
            };
            let (q90, q60, q30) = (total(90), total(60), total(30));
            assert!(
                q90 > q60 && q60 > q30,
                "seed {seed}: q90 {q90}, q60 {q60}, q30 {q30}"
            );
        }
    }

    #[test]
    fn redaction_spares_keywords_inside_kept_ones() {
        let (text, present) = redact(
            "up to 120 Gbps or 20 Gbps",
            &["20 Gbps", "120 Gbps"],
            &[false, true],
            "(x)",
        );
        assert_eq!(text, "up to 120 Gbps or (x)");
        assert_eq!(present, vec![true, true]); // "20 Gbps" still occurs inside "120 Gbps"
        let (text, _) = redact("Mode 0 and mode 0", &["Mode 0"], &[false], "(x)");
        assert_eq!(text, "(x) and (x)");
    }

    #[test]
    fn sentences_keep_version_numbers_whole() {
        assert_eq!(
            sentences("Wi-Fi 6 (802.11ax) is fast. It uses v2.5 too. 結尾。中文句"),
            vec![
                "Wi-Fi 6 (802.11ax) is fast.",
                "It uses v2.5 too.",
                "結尾。",
                "中文句"
            ]
        );
    }

    #[test]
    fn chunks_rebuild_the_answer_and_have_the_right_size() {
        let mut rng = StableHash::new("chunks").rng();
        for e in entries() {
            let text = answer(9, 100, e);
            let parts = chunks(&text, &mut rng);
            assert_eq!(parts.concat(), text);
            for p in &parts {
                let cjk = p.chars().filter(|c| is_cjk(*c)).count();
                let words = p.split_whitespace().count();
                assert!(cjk <= 4 && words <= 2, "{p:?}");
                assert!(!p.is_empty());
            }
        }
        assert!(chunks("", &mut rng).is_empty());
        assert_eq!(chunks("  lead", &mut rng).concat(), "  lead");
    }
}
