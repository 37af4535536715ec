//! What the simulated judge checks an answer against: the *facts* of a reference text, where a
//! text states one, and whether it negates it there. Pure text functions; how a rubric weighs
//! facts into a score is `judge`'s business.
//!
//! - **Canonical text** ([`canonical`]): scoring's normalisation (NFKC, lowercase, whitespace
//!   collapsed), then a space between a digit and the letter after it (`4.5Gbps` reads as
//!   `4.5 gbps`) and no thousands comma (`4,200` reads as `4200`). Every comparison is on it.
//! - **Facts of a reference** ([`extract`]), in the order written, once each:
//!   a *quantity* is a number with a unit (`4.5 Gbps`, `1.2 V`, `4K`, `50%`) or a bare number of
//!   two or more digits (`115200`, `2.28`; a lone digit is too often spelled out to count); a
//!   *name* is a Latin token with a digit (`USB4`, `v2.5`, `128b/130b`), two capitals (`MIPI`,
//!   `Type-C`) or a capital where no sentence starts (`Bluetooth`). Facts the question already
//!   states are dropped (they say nothing about the answer) unless that drops them all. A
//!   reference with no fact at all falls back to its *words*: Latin words of four or more
//!   letters that are not stopwords, and CJK character bigrams. Chinese prose is not split into
//!   facts: an answer may word it any way it likes.
//! - **Stated** ([`Fact::stated_in`]): a canonical form of the fact occurs in the canonical text,
//!   and where the fact begins (ends) with a Latin letter or digit the text's character before
//!   (after) it is not one, so `20 Gbps` is not stated by `120 Gbps`. A `v<number>` name is also
//!   stated by its bare number (`version 2.5`, `2.5 版`).
//! - **Negated** ([`negated_at`]): within the clause before the statement (back to a clause mark
//!   `, ; : ! ? ( )`, a sentence-ending `.`, or a turn like `but` / `而是`), one of the last six
//!   words is `not`, `no`, `never`, `neither`, `nor`, `cannot`, `without` or ends in `n't`, or the
//!   last eight characters hold `不是`, `並非`, `沒有`, `無法`, `不會`… or end in `不` / `非`.

use unicode_normalization::UnicodeNormalization;

use super::answer::is_cjk;
use crate::server::scoring::normalize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FactKind {
    /// A number, with its unit when it has one.
    Quantity,
    /// A product, standard, signal or other proper name.
    Name,
    /// A plain word or CJK bigram, when the reference has no quantity or name.
    Word,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fact {
    /// As the reference writes it (reasons quote this).
    pub shown: String,
    pub kind: FactKind,
    /// The canonical forms that state it; the first is the fact's own.
    forms: Vec<String>,
}

impl Fact {
    pub(super) fn new(shown: &str, kind: FactKind) -> Fact {
        let own = canonical(shown);
        let mut forms = vec![own.clone()];
        // `v2.5` is as often written `version 2.5` or `2.5 版`.
        if let Some(number) = own.strip_prefix('v') {
            if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.') {
                forms.push(number.to_string());
            }
        }
        Fact {
            shown: shown.to_string(),
            kind,
            forms,
        }
    }

    /// Byte offsets in the canonical `text` where it is stated.
    pub(super) fn occurrences(&self, text: &str) -> Vec<usize> {
        let mut at: Vec<usize> = self
            .forms
            .iter()
            .filter(|f| !f.is_empty())
            .flat_map(|form| {
                text.match_indices(form.as_str())
                    .filter(|(i, m)| bounded(text, *i, i + m.len()))
                    .map(|(i, _)| i)
            })
            .collect();
        at.sort_unstable();
        at.dedup();
        at
    }

    pub(super) fn stated_in(&self, text: &str) -> bool {
        !self.occurrences(text).is_empty()
    }

    /// Stated somewhere in the canonical `text` with a negation before it.
    pub(super) fn negated_in(&self, text: &str) -> bool {
        self.occurrences(text)
            .into_iter()
            .any(|at| negated_at(text, at))
    }
}

/// Scoring's normalisation, then `4.5Gbps` → `4.5 gbps` and `4,200` → `4200`.
pub(super) fn canonical(text: &str) -> String {
    let norm = normalize(text);
    let chars: Vec<char> = norm.chars().collect();
    let mut out = String::with_capacity(norm.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        if c == ',' && prev.is_some_and(|p| p.is_ascii_digit()) && thousands_follow(&chars[i + 1..])
        {
            continue;
        }
        if c.is_ascii_alphabetic() && prev.is_some_and(|p| p.is_ascii_digit()) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Exactly three digits, then no further digit: the tail of a thousands group.
fn thousands_follow(rest: &[char]) -> bool {
    rest.len() >= 3
        && rest[..3].iter().all(char::is_ascii_digit)
        && rest.get(3).is_none_or(|c| !c.is_ascii_digit())
}

fn is_latin_alnum(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// Whether `text[start..end]` stands alone: no Latin letter or digit glued to a Latin end, and
/// no decimal part glued to a number (`2.5` is not stated by `2.55` or `12.5`).
fn bounded(text: &str, start: usize, end: usize) -> bool {
    let inner = &text[start..end];
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let first = inner.chars().next();
    let last = inner.chars().next_back();
    let open = match (first, before) {
        (Some(f), Some(b)) if is_latin_alnum(f) => {
            let decimal = f.is_ascii_digit() && b == '.';
            !is_latin_alnum(b) && !decimal
        }
        _ => true,
    };
    let close = match (last, after) {
        (Some(l), Some(a)) if is_latin_alnum(l) => {
            let decimal = l.is_ascii_digit()
                && a == '.'
                && text[end + 1..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit());
            !is_latin_alnum(a) && !decimal
        }
        _ => true,
    };
    open && close
}

/// Units a number may carry, lowercase (`µ` as NFKC leaves it: the Greek mu).
const UNITS: &[&str] = &[
    "bps", "kbps", "mbps", "gbps", "tbps", "b/s", "kb/s", "mb/s", "gb/s", "tb/s", "bit/s",
    "kbit/s", "mbit/s", "gbit/s", "t/s", "kt/s", "mt/s", "gt/s", "sps", "ksps", "msps", "gsps",
    "sym/s", "ksym/s", "msym/s", "baud", "kbaud", "mbaud", "gbaud", "hz", "khz", "mhz", "ghz",
    "thz", "v", "mv", "μv", "kv", "a", "ma", "μa", "w", "mw", "kw", "wh", "mah", "ω", "kω", "ohm",
    "ohms", "s", "ms", "μs", "us", "ns", "ps", "b", "kb", "mb", "gb", "tb", "kib", "mib", "gib",
    "tib", "bit", "bits", "byte", "bytes", "m", "mm", "cm", "km", "nm", "μm", "meter", "meters",
    "metre", "metres", "°c", "db", "dbm", "dbi", "k", "p", "fps", "nits", "pf", "nf", "μf", "uf",
    "nh", "μh", "ppm", "%",
];

fn is_unit(s: &str) -> bool {
    let lower = s.to_lowercase();
    UNITS.contains(&lower.as_str())
}

/// Words too common to be a fallback fact.
const STOPWORDS: &[&str] = &[
    "about", "also", "been", "does", "each", "from", "have", "into", "just", "more", "most",
    "only", "other", "over", "same", "some", "such", "than", "that", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "very", "what", "when", "where", "which",
    "while", "will", "with", "would", "your", "answer", "question",
];

/// A Latin token of the NFKC text: where it lies, and whether a sentence starts with it.
struct Token<'a> {
    text: &'a str,
    start: usize,
    end: usize,
    sentence_start: bool,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let in_token =
        |c: char| is_latin_alnum(c) || matches!(c, '.' | ',' | '-' | '/' | '+' | '%' | '°');
    let edge = ['.', ',', '-', '/', '+'];
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let bounds = text
        .char_indices()
        .map(|(i, c)| (i, in_token(c)))
        .chain(std::iter::once((text.len(), false)));
    for (i, inside) in bounds {
        match (start, inside) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                start = None;
                let raw = &text[s..i];
                let trimmed = raw.trim_matches(edge);
                if trimmed.is_empty() {
                    continue;
                }
                let from = s + (raw.len() - raw.trim_start_matches(edge).len());
                let gap = &text[..from];
                let sentence_start =
                    gap.trim_end().chars().next_back().is_none_or(|c| {
                        matches!(c, '.' | '!' | '?' | ':' | '。' | '！' | '？' | '：')
                    }) || gap[gap.trim_end().len()..].contains('\n');
                out.push(Token {
                    text: trimmed,
                    start: from,
                    end: from + trimmed.len(),
                    sentence_start,
                });
            }
            _ => {}
        }
    }
    out
}

/// The number a token starts with (`4.5` of `4.5Gbps`, `4,200` of `4,200`), and the rest.
fn split_number(token: &str) -> (&str, &str) {
    let bytes = token.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        let b = bytes[end];
        let separator_then_digit =
            matches!(b, b'.' | b',') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_digit() || (end > 0 && separator_then_digit) {
            end += 1;
        } else {
            break;
        }
    }
    token.split_at(end)
}

/// The facts of `reference` (see the module doc), less those `question` states.
pub(super) fn extract(reference: &str, question: &str) -> Vec<Fact> {
    let text: String = reference.nfkc().collect();
    let toks = tokens(&text);
    let mut found: Vec<Fact> = Vec::new();
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        i += 1;
        let t = tok.text;
        let (number, rest) = split_number(t);
        let fact = if !number.is_empty() {
            if rest.is_empty() {
                let unit = toks.get(i).filter(|next| {
                    let gap = &text[tok.end..next.start];
                    gap.len() <= 2 && gap.chars().all(|c| c == ' ') && is_unit(next.text)
                });
                match unit {
                    Some(unit) => {
                        i += 1;
                        Some(Fact::new(
                            &format!("{number} {}", unit.text),
                            FactKind::Quantity,
                        ))
                    }
                    None if number.chars().filter(char::is_ascii_digit).count() >= 2 => {
                        Some(Fact::new(number, FactKind::Quantity))
                    }
                    None => None,
                }
            } else if is_unit(rest) {
                Some(Fact::new(t, FactKind::Quantity))
            } else {
                Some(Fact::new(t, FactKind::Name))
            }
        } else {
            let capitals = t.chars().filter(|c| c.is_uppercase()).count();
            let capitalised = t.chars().next().is_some_and(char::is_uppercase);
            let name = t.chars().any(|c| c.is_ascii_digit())
                || capitals >= 2
                || (capitalised && !tok.sentence_start && t.chars().count() >= 2);
            name.then(|| Fact::new(t, FactKind::Name))
        };
        if let Some(fact) = fact {
            if !found.iter().any(|f| f.forms[0] == fact.forms[0]) {
                found.push(fact);
            }
        }
    }
    if found.is_empty() {
        found = words(&text);
    }
    without_given(found, question)
}

/// The facts of `reference` that the question does not already state, unless it states them all.
pub(super) fn without_given(facts: Vec<Fact>, question: &str) -> Vec<Fact> {
    let q = canonical(question);
    if facts.iter().all(|f| f.stated_in(&q)) {
        return facts;
    }
    facts.into_iter().filter(|f| !f.stated_in(&q)).collect()
}

/// The fallback facts: long non-stopwords and CJK bigrams.
fn words(text: &str) -> Vec<Fact> {
    let canon = canonical(text);
    let mut out: Vec<Fact> = Vec::new();
    let mut push = |w: &str| {
        if !out.iter().any(|f| f.shown == w) {
            out.push(Fact::new(w, FactKind::Word));
        }
    };
    for word in canon.split(|c: char| !is_latin_alnum(c)) {
        if word.chars().count() >= 4 && !STOPWORDS.contains(&word) {
            push(word);
        }
    }
    let cjk: Vec<char> = canon.chars().collect();
    for run in cjk.split(|c| !is_cjk(*c) || !c.is_alphanumeric()) {
        match run {
            [] => {}
            [one] => push(&one.to_string()),
            _ => {
                for pair in run.windows(2) {
                    push(&pair.iter().collect::<String>());
                }
            }
        }
    }
    out
}

/// The Latin negation cues (whole words), besides any word ending in `n't`.
const NEGATION_WORDS: &[&str] = &["not", "no", "never", "neither", "nor", "cannot", "without"];
/// Words after which what came before no longer governs the statement.
const TURN_WORDS: &[&str] = &[
    "but", "however", "instead", "rather", "whereas", "while", "although", "though",
];
const CJK_NEGATIONS: &[&str] = &[
    "不是",
    "並非",
    "并非",
    "沒有",
    "没有",
    "無法",
    "无法",
    "不會",
    "不会",
    "並不",
    "并不",
    "不到",
    "不再",
    "從未",
    "从未",
    "不能",
    "不支援",
    "不支持",
    "不超過",
    "不超过",
];
const CJK_TURNS: &[&str] = &["但", "而是", "卻", "却"];
const LATIN_WINDOW: usize = 6;
const CJK_WINDOW: usize = 8;

/// Whether the statement at byte `at` of canonical `text` is negated (see the module doc).
pub(super) fn negated_at(text: &str, at: usize) -> bool {
    let before = &text[..at];
    let mut clause_start = 0;
    let mut chars = before.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let mark = match c {
            ',' | ';' | ':' | '!' | '?' | '(' | ')' | '[' | ']' | '，' | '。' | '；' | '：'
            | '、' | '！' | '？' | '（' | '）' => true,
            '.' => chars.peek().is_none_or(|(_, next)| next.is_whitespace()),
            _ => false,
        };
        if mark {
            clause_start = i + c.len_utf8();
        }
    }
    let mut clause = &before[clause_start..];
    for turn in CJK_TURNS {
        if let Some(i) = clause.rfind(turn) {
            clause = &clause[i + turn.len()..];
        }
    }

    let words: Vec<&str> = clause
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’'))
        .collect();
    let after_turn = words
        .iter()
        .rposition(|w| TURN_WORDS.contains(w))
        .map_or(0, |i| i + 1);
    let tail = &words[after_turn..];
    let latin = tail[tail.len().saturating_sub(LATIN_WINDOW)..]
        .iter()
        .any(|w| NEGATION_WORDS.contains(w) || w.ends_with("n't") || w.ends_with("n’t"));

    let trimmed = clause.trim_end();
    let last: String = {
        let chars: Vec<char> = trimmed.chars().collect();
        chars[chars.len().saturating_sub(CJK_WINDOW)..]
            .iter()
            .collect()
    };
    let cjk = CJK_NEGATIONS.iter().any(|cue| last.contains(cue))
        || last.ends_with('不')
        || last.ends_with('非');
    latin || cjk
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(facts: &[Fact]) -> Vec<&str> {
        facts.iter().map(|f| f.shown.as_str()).collect()
    }

    #[test]
    fn canonical_text_splits_units_and_drops_thousands_commas() {
        assert_eq!(canonical("4.5Gbps ＭＩＰＩ"), "4.5 gbps mipi");
        assert_eq!(
            canonical("4,200 MB/s and 20,40,80"),
            "4200 mb/s and 20,40,80"
        );
        assert_eq!(canonical("1,000,000 x16 USB4"), "1000000 x16 usb4");
    }

    #[test]
    fn quantities_and_names_of_an_english_reference() {
        // The KB's C-PHY answer, asked without naming the PHY.
        let facts = extract(
            "MIPI C-PHY v2.0 runs at up to 6 Gsps per lane, which carries about 13.7 Gbps \
             because each symbol encodes 2.28 bits. Each lane is a trio of three wires with an \
             embedded clock, so no separate clock lane is needed.",
            "How fast is a lane?",
        );
        assert_eq!(
            shown(&facts),
            ["MIPI", "C-PHY", "v2.0", "6 Gsps", "13.7 Gbps", "2.28 bits"]
        );
        assert!(facts[3..].iter().all(|f| f.kind == FactKind::Quantity));
    }

    #[test]
    fn facts_the_question_states_are_dropped() {
        let facts = extract(
            "PCIe 5.0 runs at 32 GT/s per lane with 128b/130b encoding.",
            "What is the lane rate of PCIe 5.0?",
        );
        assert_eq!(shown(&facts), ["32 GT/s", "128b/130b"]);
        // ...unless the question states them all.
        let facts = extract("It is PCIe 5.0.", "Is it PCIe 5.0?");
        assert_eq!(shown(&facts), ["PCIe", "5.0"]);
    }

    #[test]
    fn chinese_reference_yields_its_numbers_and_latin_names() {
        let facts = extract(
            "MIPI D-PHY v2.5 每條資料通道最高速率為4.5Gbps，低功耗模式使用 1.2 V 的單端訊號。",
            "D-PHY 的速率？",
        );
        assert_eq!(shown(&facts), ["MIPI", "v2.5", "4.5Gbps", "1.2 V"]);
    }

    #[test]
    fn glued_units_percent_and_resolutions() {
        let facts = extract(
            "It supports 4K at 120Hz, 8K 60 Hz and uses 50% less power.",
            "",
        );
        assert_eq!(shown(&facts), ["4K", "120Hz", "8K", "60 Hz", "50%"]);
    }

    #[test]
    fn a_reference_without_facts_falls_back_to_words() {
        let facts = extract("yes, it stays backward compatible with older devices.", "");
        assert_eq!(
            shown(&facts),
            ["stays", "backward", "compatible", "older", "devices"]
        );
        let facts = extract("支援向下相容。", "");
        assert_eq!(shown(&facts), ["支援", "援向", "向下", "下相", "相容"]);
    }

    #[test]
    fn stated_respects_word_and_number_edges() {
        let fact = Fact::new("20 Gbps", FactKind::Quantity);
        assert!(!fact.stated_in(&canonical("up to 120 Gbps")));
        assert!(fact.stated_in(&canonical("two 20Gbps lanes")));
        assert!(!Fact::new("2.5", FactKind::Quantity).stated_in("2.55 or 12.5 or 2.5.1"));
        assert!(Fact::new("時脈通道", FactKind::Name).stated_in("一條時脈通道加上"));
        let version = Fact::new("v2.5", FactKind::Name);
        assert!(version.stated_in(&canonical("D-PHY version 2.5")));
        assert!(version.stated_in(&canonical("D-PHY 2.5 版")));
        assert!(!version.stated_in(&canonical("D-PHY v2.51")));
    }

    fn negated(text: &str, fact: &str) -> bool {
        Fact::new(fact, FactKind::Quantity).negated_in(&canonical(text))
    }

    #[test]
    fn negations_right_before_a_fact() {
        for text in [
            "The lane rate is not 4.5 Gbps.",
            "It isn't 4.5 Gbps per lane.",
            "D-PHY v2.5 never reaches 4.5 Gbps.",
            "It no longer runs at 4.5 Gbps.",
            "DDR5 does not run the lane at 4.5 Gbps",
            "最高速率不是 4.5 Gbps。",
            "最高速率並非4.5Gbps",
            "通道沒有 4.5 Gbps",
            "速率不 4.5 Gbps",
        ] {
            assert!(negated(text, "4.5 Gbps"), "{text}");
        }
    }

    #[test]
    fn negations_elsewhere_do_not_count() {
        for text in [
            "The lane rate is 4.5 Gbps.",
            "It is not slow: 4.5 Gbps per lane.",
            "Not 2.5 Gbps but 4.5 Gbps.",
            "There is no clock lane. Each data lane runs at 4.5 Gbps.",
            "不是 2.5 Gbps，而是 4.5 Gbps。",
            "非對稱模式下單向可達 4.5 Gbps",
            "資料中沒有提到的部分很多很多很多很多 4.5 Gbps",
            "v2.5 runs at 4.5 Gbps",
        ] {
            assert!(!negated(text, "4.5 Gbps"), "{text}");
        }
    }
}
