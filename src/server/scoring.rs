//! Scoring: turns one answer into a 0–100 score, a pass/fail verdict and the [`ScoreDetail`] that
//! explains both. It owns text normalisation, keyword coverage, similarity and assertions; it does
//! not own the threshold or weights (those come from [`ScoringConfig`] and the case) nor storage.
//!
//! A [`CasePlan`] is built once per case per batch (regexes compiled, expected answer tokenised)
//! and then scores any number of answers without recompiling anything.
//!
//! Semantics:
//! - **Normalisation** ([`normalize`]): NFKC (full-width `ＭＩＰＩ１２３` is `mipi123`), lowercase,
//!   whitespace runs collapsed to one space, trimmed. Every comparison below uses it, except `regex`.
//! - **Comparison units** (for similarity): the normalised text is split into runs. A run of
//!   non-CJK alphanumerics (combining marks included, so accented or Indic words stay whole) is one
//!   *word* unit. A run of CJK (Han, Hiragana, Katakana, Hangul, Bopomofo) yields its character
//!   *bigrams*; a lone CJK character is its own unit. Punctuation and spaces only separate.
//! - **Similarity** ([`similarity`]): Dice/F1 over the two multisets of units,
//!   `2·|A∩B| / (|A|+|B|) × 100`; both empty → 100, one empty → 0.
//! - **Keyword coverage**: a keyword is hit when its normalised form occurs in the normalised
//!   answer. Where the keyword starts (ends) with a Latin/digit character, the character just
//!   before (after) the match must not be one, so `art` is not hit by `start`; CJK ends match
//!   anywhere. Blank keywords are ignored and keywords equal after normalisation count once.
//!   `keyword_score = hit / total × 100`.
//! - **Score**: the weighted mean of the components the case has — keyword coverage (≥ 1 keyword)
//!   and similarity (non-blank expected answer) — skipping a component whose weight is 0. With no
//!   component, the score is 100 when every assertion holds, else 0. The score and both components
//!   are rounded to 2 decimals (the mean is taken before rounding).
//! - **Assertions**: `contains` / `not_contains` are substring checks on normalised text; `regex`
//!   runs on the raw answer, because users write patterns for what Dify returns; `max_latency_ms`
//!   holds when `latency <= ms`. Empty values, empty patterns and `ms = 0` are refused up front.
//! - **Judge and embeddings** ([`Semantic`]): two more weighted components when a batch has them;
//!   with `judge.must_pass` the judge's verdict is a gate as well.
//! - **Pass**: `score >= threshold` (the case's, else the batch's) and every assertion holds.

use regex::{Regex, RegexBuilder};
use unicode_normalization::UnicodeNormalization;

use crate::model::{
    Assertion, AssertionOutcome, JudgeOutcome, ScoreDetail, ScoringConfig, TestCase, Trace,
};

/// Largest compiled size of a user's regex; a hostile pattern is refused instead of eating memory.
const REGEX_SIZE_LIMIT: usize = crate::model::limits::MAX_REGEX_COMPILED_BYTES;

/// A case compiled once per batch (regexes compiled, keywords and expected answer normalised and
/// tokenised).
#[derive(Debug, Clone)]
pub struct CasePlan {
    keywords: Vec<Keyword>,
    /// `None` when the expected answer is blank: similarity is then not a component.
    expected: Option<UnitBag>,
    assertions: Vec<PlannedAssertion>,
    pass_threshold: Option<f64>,
    /// Turns 2 and on of a conversation case, each planned as a one-turn case.
    turns: Vec<CasePlan>,
}

/// The outcome of scoring one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub score: f64,
    pub passed: bool,
    pub detail: ScoreDetail,
}

impl CasePlan {
    /// Fails with a user-facing message naming the problem, e.g.
    /// "assertion 2: invalid regex `(`: unclosed group".
    pub fn new(case: &TestCase) -> Result<CasePlan, String> {
        if let Some(t) = case.pass_threshold {
            if !(0.0..=100.0).contains(&t) {
                return Err(format!("pass_threshold must be between 0 and 100, got {t}"));
            }
        }
        let assertions = case
            .assertions
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(PlannedAssertion {
                    check: compile_assertion(i + 1, a)?,
                    source: a.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;

        let mut keywords: Vec<Keyword> = Vec::with_capacity(case.keywords.len());
        for original in &case.keywords {
            let normalized = normalize(original);
            if normalized.is_empty() || keywords.iter().any(|k| k.normalized == normalized) {
                continue;
            }
            keywords.push(Keyword::new(original.clone(), normalized));
        }

        let expected_norm = normalize(&case.expected_answer);
        let expected = (!expected_norm.is_empty()).then(|| UnitBag::new(&expected_norm));

        let turns = (2..=case.turn_count())
            .filter_map(|n| case.turn_case(n).map(|c| (n, c)))
            .map(|(n, c)| CasePlan::new(&c).map_err(|e| format!("turn {n}: {e}")))
            .collect::<Result<Vec<_>, String>>()?;

        Ok(CasePlan {
            keywords,
            expected,
            assertions,
            pass_threshold: case.pass_threshold,
            turns,
        })
    }

    /// The plan of turn `n` (1-based) of a conversation case: itself for turn 1.
    pub fn turn(&self, n: usize) -> Option<&CasePlan> {
        match n {
            1 => Some(self),
            _ => self.turns.get(n.checked_sub(2)?),
        }
    }

    /// Scores one answer. Never panics, whatever the answer.
    pub fn score(&self, answer: &str, latency_ms: i64, cfg: &ScoringConfig) -> Scored {
        self.score_with(
            answer,
            latency_ms,
            &Trace::default(),
            cfg,
            Semantic::default(),
        )
    }

    /// Scores one answer with what the judge and the embedding scorer said about it (see
    /// [`Semantic`]). Never panics, whatever the answer.
    pub fn score_with(
        &self,
        answer: &str,
        latency_ms: i64,
        trace: &Trace,
        cfg: &ScoringConfig,
        semantic: Semantic,
    ) -> Scored {
        let norm = normalize(answer);

        let mut keywords_hit = Vec::new();
        let mut keywords_missed = Vec::new();
        for k in &self.keywords {
            if k.is_in(&norm) {
                keywords_hit.push(k.original.clone());
            } else {
                keywords_missed.push(k.original.clone());
            }
        }
        let keyword_score = (!self.keywords.is_empty())
            .then(|| keywords_hit.len() as f64 / self.keywords.len() as f64 * 100.0);
        let similarity_score = self.expected.as_ref().map(|bag| bag.dice(&norm));

        let assertions: Vec<AssertionOutcome> = self
            .assertions
            .iter()
            .map(|a| a.check(answer, &norm, latency_ms, trace))
            .collect();
        let all_hold = assertions.iter().all(|o| o.passed);

        let judge_score = semantic
            .judge
            .as_ref()
            .filter(|j| j.error.is_none())
            .and_then(|j| j.score);
        let components = [
            (keyword_score, cfg.keyword_weight),
            (similarity_score, cfg.similarity_weight),
            (judge_score, cfg.judge.as_ref().map_or(0.0, |j| j.weight)),
            (
                semantic.embedding_score,
                cfg.embedding.as_ref().map_or(0.0, |e| e.weight),
            ),
        ];
        let (mut sum, mut weights) = (0.0, 0.0);
        for (component, weight) in components {
            if let Some(s) = component {
                if weight > 0.0 && weight.is_finite() {
                    sum += weight * s;
                    weights += weight;
                }
            }
        }
        let available: Vec<f64> = components.iter().filter_map(|(c, _)| *c).collect();
        let judge_failed = cfg.judge.is_some() && judge_score.is_none();
        let score = if weights > 0.0 {
            round2(sum / weights)
        } else if !available.is_empty() {
            // The batch weighted to zero the only components this case has: an answer must still
            // earn its score, so they count equally rather than not at all.
            round2(available.iter().sum::<f64>() / available.len() as f64)
        } else if all_hold && !judge_failed {
            100.0
        } else {
            // Nothing graded it: a judge that failed is not a free pass.
            0.0
        };
        let threshold = self.pass_threshold.unwrap_or(cfg.pass_threshold);
        // "The judge must pass": only a judgement that says pass lets the test pass.
        let gate_holds = match &cfg.judge {
            Some(j) if j.must_pass => semantic
                .judge
                .as_ref()
                .is_some_and(|o| o.error.is_none() && o.passed == Some(true)),
            _ => true,
        };

        Scored {
            score,
            passed: all_hold && gate_holds && score >= threshold,
            detail: ScoreDetail {
                keywords_hit,
                keywords_missed,
                keyword_score: keyword_score.map(round2),
                similarity_score: similarity_score.map(round2),
                assertions,
                judge: semantic.judge,
                embedding_score: semantic.embedding_score,
                embedding_error: semantic.embedding_error,
            },
        }
    }
}

/// What the judge and the embedding scorer said about an answer, for [`CasePlan::score_with`].
/// The judge's score and the embedding score are two more weighted components beside keyword
/// coverage and similarity (weights `judge.weight` and `embedding.weight`); a component that is
/// missing (a judge error, an embedding failure) is left out of the mean, as a case without
/// keywords leaves out coverage. With `judge.must_pass`, a test passes only when the judge gave a
/// judgement and it says pass. A test that nothing could grade (no component at all) and whose
/// judge failed scores 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Semantic {
    pub judge: Option<JudgeOutcome>,
    pub embedding_score: Option<f64>,
    pub embedding_error: Option<String>,
}

/// Checks a case's assertions without scoring (used when a case is saved or imported).
pub fn validate_assertions(assertions: &[Assertion]) -> Result<(), String> {
    for (i, a) in assertions.iter().enumerate() {
        compile_assertion(i + 1, a)?;
    }
    Ok(())
}

/// NFKC, lowercase, whitespace runs collapsed to one space, trimmed.
pub fn normalize(text: &str) -> String {
    // The normaliser is the costly part of scoring, so only what needs it goes through it. NFKC
    // splits before an inert character: NFKC(x + y) = NFKC(x) + NFKC(y) when y starts with one.
    // So the text is cut before each inert character; a piece that is one inert character is
    // already normal and is copied, any other piece is normalised.
    let mut out = Folded {
        text: String::with_capacity(text.len()),
        pending_space: false,
    };
    if text.is_ascii() {
        for word in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
            if !out.text.is_empty() {
                out.text.push(' ');
            }
            let start = out.text.len();
            out.text.push_str(word);
            out.text[start..].make_ascii_lowercase();
        }
        return out.text;
    }
    let mut piece = 0;
    let mut one_inert = true;
    for (i, c) in text.char_indices() {
        if is_inert(c) {
            out.push_piece(&text[piece..i], one_inert);
            piece = i;
            one_inert = true;
        } else {
            one_inert = false;
        }
    }
    out.push_piece(&text[piece..], one_inert);
    out.text
}

/// 0–100 (rounded to 2 decimals): F1 (Dice) over the multisets of comparison units of the two
/// texts, after [`normalize`]. Both empty → 100; one empty → 0.
pub fn similarity(answer: &str, expected: &str) -> f64 {
    round2(UnitBag::new(&normalize(expected)).dice(&normalize(answer)))
}

/// Characters that NFKC leaves alone and never combines with what precedes them: their
/// (canonical) decomposition starts with a starter that is not the second half of any
/// composition, and NFKC maps them to themselves. Covers ASCII and most CJK text.
fn is_inert(c: char) -> bool {
    c.is_ascii()
        || matches!(c as u32,
            0x3001..=0x3002         // 、。
            | 0x3041..=0x3096       // Hiragana letters
            | 0x30A1..=0x30FA       // Katakana letters
            | 0x30FC                // ー
            | 0x3400..=0x4DBF       // Han extension A
            | 0x4E00..=0x9FFF       // Han
            | 0xAC00..=0xD7A3 // Hangul syllables
        )
}

/// Lowercases and collapses whitespace as characters arrive.
struct Folded {
    text: String,
    /// Whitespace was seen since the last character pushed (dropped if nothing follows).
    pending_space: bool,
}

impl Folded {
    fn push_piece(&mut self, piece: &str, already_normal: bool) {
        if already_normal {
            piece.chars().for_each(|c| self.push(c));
        } else {
            piece.nfkc().for_each(|c| self.push(c));
        }
    }

    fn push(&mut self, c: char) {
        if c.is_whitespace() {
            self.pending_space = !self.text.is_empty();
            return;
        }
        if self.pending_space {
            self.text.push(' ');
            self.pending_space = false;
        }
        if c.is_ascii() {
            self.text.push(c.to_ascii_lowercase());
        } else if ('\u{3000}'..='\u{9FFF}').contains(&c) {
            // CJK symbols, kana and Han have no case; skip the case tables.
            self.text.push(c);
        } else {
            self.text.extend(c.to_lowercase());
        }
    }
}

fn round2(x: f64) -> f64 {
    (x.clamp(0.0, 100.0) * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------------------------
// Comparison units

/// What a character is to the tokeniser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Non-CJK alphanumeric (Latin, digits, Greek, Cyrillic, …): builds word units.
    Word,
    /// A CJK letter (Han, kana, Hangul, Bopomofo): builds bigrams.
    Cjk,
    /// A combining mark: continues a word (accents, Indic vowel signs).
    Mark,
    /// Punctuation, symbols, spaces: separate runs.
    Gap,
}

fn classify(c: char) -> Class {
    if c.is_ascii() {
        return if c.is_ascii_alphanumeric() {
            Class::Word
        } else {
            Class::Gap
        };
    }
    if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
        return Class::Cjk;
    }
    if c.is_alphanumeric() {
        // Punctuation inside CJK blocks (`・`, `゠`) is not alphanumeric, so it stays a gap.
        let cjk_block = matches!(c as u32,
            0x1100..=0x11FF         // Hangul Jamo
            | 0x2E80..=0x2FDF       // CJK radicals, Kangxi radicals
            | 0x3005..=0x3007       // 々 〆 〇
            | 0x3021..=0x3029       // Hangzhou numerals
            | 0x3040..=0x30FF       // Hiragana, Katakana
            | 0x3100..=0x312F       // Bopomofo
            | 0x3130..=0x318F       // Hangul compatibility Jamo
            | 0x31A0..=0x31BF       // Bopomofo extended
            | 0x31F0..=0x31FF       // Katakana phonetic extensions
            | 0x3400..=0x4DBF       // Han extension A
            | 0xA960..=0xA97F       // Hangul Jamo extended A
            | 0xAC00..=0xD7FF       // Hangul syllables, Jamo extended B
            | 0xF900..=0xFAFF       // Han compatibility
            | 0xFF66..=0xFFDC       // half-width Katakana and Hangul
            | 0x1B000..=0x1B16F     // Kana supplement and extensions
            | 0x20000..=0x3FFFF // Han extensions B onwards (planes 2 and 3)
        );
        if cjk_block {
            Class::Cjk
        } else {
            Class::Word
        }
    } else if unicode_normalization::char::is_combining_mark(c) {
        Class::Mark
    } else {
        Class::Gap
    }
}

fn is_word_char(c: char) -> bool {
    classify(c) == Class::Word
}

/// Calls `f` with each comparison unit of `text` (already normalised), in order. Every unit is a
/// slice of `text`, so tokenising allocates nothing.
fn for_each_unit<'t>(text: &'t str, mut f: impl FnMut(&'t str)) {
    #[derive(Clone, Copy)]
    enum Run {
        Gap,
        Word {
            start: usize,
        },
        /// `prev`: where the last CJK character starts; `single`: the run has only that one.
        Cjk {
            prev: usize,
            single: bool,
        },
    }
    let mut run = Run::Gap;
    for (i, c) in text.char_indices() {
        let class = classify(c);
        match run {
            Run::Word { .. } if matches!(class, Class::Word | Class::Mark) => continue,
            Run::Cjk { prev, .. } if class == Class::Cjk => {
                f(&text[prev..i + c.len_utf8()]);
                run = Run::Cjk {
                    prev: i,
                    single: false,
                };
                continue;
            }
            // The run ends here: a word is owed, and so is a lone CJK character.
            Run::Word { start }
            | Run::Cjk {
                prev: start,
                single: true,
            } => f(&text[start..i]),
            Run::Cjk { single: false, .. } | Run::Gap => {}
        }
        run = match class {
            Class::Word => Run::Word { start: i },
            Class::Cjk => Run::Cjk {
                prev: i,
                single: true,
            },
            Class::Mark | Class::Gap => Run::Gap,
        };
    }
    if let Run::Word { start }
    | Run::Cjk {
        prev: start,
        single: true,
    } = run
    {
        f(&text[start..]);
    }
}

/// The multiset of comparison units of an expected answer, indexed for fast lookups.
///
/// Compact, because a batch holds one per case: the normalised text once, and its distinct
/// units as spans of that text, sorted by unit for a binary search. (A map with a boxed string
/// per unit cost a 10,000-case run tens of MB and one allocation per unit.)
#[derive(Debug, Clone)]
struct UnitBag {
    text: Box<str>,
    /// The distinct units, as (start, end) byte offsets into `text`, sorted by their text.
    units: Box<[(usize, usize)]>,
    /// How often each of `units` occurs.
    counts: Box<[u32]>,
    total: usize,
}

impl UnitBag {
    fn new(normalized: &str) -> UnitBag {
        let base = normalized.as_ptr() as usize;
        let mut spans: Vec<(usize, usize)> = Vec::new();
        // Every unit is a slice of the text, so its offset is where it points to.
        for_each_unit(normalized, |u| {
            let start = u.as_ptr() as usize - base;
            spans.push((start, start + u.len()));
        });
        let total = spans.len();
        let unit = |&(start, end): &(usize, usize)| &normalized[start..end];
        spans.sort_unstable_by(|a, b| unit(a).cmp(unit(b)));
        let mut units: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        let mut counts: Vec<u32> = Vec::with_capacity(spans.len());
        for span in spans {
            match (units.last(), counts.last_mut()) {
                (Some(last), Some(count)) if unit(last) == unit(&span) => *count += 1,
                _ => {
                    units.push(span);
                    counts.push(1);
                }
            }
        }
        UnitBag {
            text: normalized.into(),
            units: units.into_boxed_slice(),
            counts: counts.into_boxed_slice(),
            total,
        }
    }

    /// Which of `units` is `u`, if any.
    fn slot(&self, u: &str) -> Option<usize> {
        self.units
            .binary_search_by(|&(start, end)| self.text[start..end].cmp(u))
            .ok()
    }

    /// Dice coefficient (0–100, unrounded) between this bag and the units of `normalized`.
    fn dice(&self, normalized: &str) -> f64 {
        let mut remaining = self.counts.to_vec();
        let (mut answer_total, mut common) = (0usize, 0usize);
        for_each_unit(normalized, |u| {
            answer_total += 1;
            if let Some(slot) = self.slot(u) {
                if remaining[slot] > 0 {
                    remaining[slot] -= 1;
                    common += 1;
                }
            }
        });
        let all = self.total + answer_total;
        if all == 0 {
            100.0
        } else {
            2.0 * common as f64 / all as f64 * 100.0
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Keywords

#[derive(Debug, Clone)]
struct Keyword {
    /// As the user wrote it; this is what the detail reports.
    original: String,
    normalized: String,
    /// The keyword starts (ends) with a word character, so the match needs a boundary there.
    bounded_start: bool,
    bounded_end: bool,
}

impl Keyword {
    fn new(original: String, normalized: String) -> Keyword {
        let bounded_start = normalized.chars().next().is_some_and(is_word_char);
        let bounded_end = normalized.chars().next_back().is_some_and(is_word_char);
        Keyword {
            original,
            normalized,
            bounded_start,
            bounded_end,
        }
    }

    /// Whether the keyword occurs in `answer` (normalised) with the boundaries it needs.
    fn is_in(&self, answer: &str) -> bool {
        let needle = self.normalized.as_str();
        let mut from = 0;
        while let Some(pos) = answer.get(from..).and_then(|rest| rest.find(needle)) {
            let start = from + pos;
            let end = start + needle.len();
            let ok_start = !self.bounded_start
                || !answer[..start]
                    .chars()
                    .next_back()
                    .is_some_and(is_word_char);
            let ok_end = !self.bounded_end
                || !answer[end..]
                    .chars()
                    .next()
                    .is_some_and(|c| matches!(classify(c), Class::Word | Class::Mark));
            if ok_start && ok_end {
                return true;
            }
            // Overlapping matches: retry one character further on.
            from = start + answer[start..].chars().next().map_or(1, char::len_utf8);
        }
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions

#[derive(Debug, Clone)]
struct PlannedAssertion {
    source: Assertion,
    check: Check,
}

#[derive(Debug, Clone)]
enum Check {
    /// Normalised value.
    Contains(String),
    /// Normalised value.
    NotContains(String),
    Regex(Regex),
    MaxLatencyMs(u64),
    /// Node assertions and retrieval checks read the trace; only these two need compiling.
    NodeContains(String),
    NodeMatches(Regex),
    /// Checked from the source as it is.
    Trace,
}

/// Compiles assertion number `n` (1-based, as users count), or says what is wrong with it.
fn compile_assertion(n: usize, a: &Assertion) -> Result<Check, String> {
    match a {
        Assertion::Contains { value } | Assertion::NotContains { value } => {
            let normalized = normalize(value);
            let is_contains = matches!(a, Assertion::Contains { .. });
            if normalized.is_empty() {
                let kind = if is_contains {
                    "contains"
                } else {
                    "not_contains"
                };
                return Err(format!("assertion {n}: `{kind}` value is empty"));
            }
            Ok(if is_contains {
                Check::Contains(normalized)
            } else {
                Check::NotContains(normalized)
            })
        }
        Assertion::Regex { pattern } => {
            if pattern.is_empty() {
                return Err(format!("assertion {n}: regex pattern is empty"));
            }
            RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Check::Regex)
                .map_err(|e| {
                    format!(
                        "assertion {n}: invalid regex `{pattern}`: {}",
                        regex_reason(&e)
                    )
                })
        }
        Assertion::MaxLatencyMs { ms } => {
            if *ms == 0 {
                return Err(format!("assertion {n}: max_latency_ms must be at least 1"));
            }
            Ok(Check::MaxLatencyMs(*ms))
        }
        Assertion::NodeSucceeded { node } | Assertion::NodeMaxLatencyMs { node, .. }
            if node.trim().is_empty() =>
        {
            Err(format!(
                "assertion {n}: the node (its title or id) is empty"
            ))
        }
        Assertion::NodeMaxLatencyMs { ms: 0, .. } => Err(format!(
            "assertion {n}: node_max_latency_ms must be at least 1"
        )),
        Assertion::NodeSucceeded { .. } | Assertion::NodeMaxLatencyMs { .. } => Ok(Check::Trace),
        Assertion::NodeOutputContains { node, value } => {
            if node.trim().is_empty() {
                return Err(format!(
                    "assertion {n}: the node (its title or id) is empty"
                ));
            }
            let normalized = normalize(value);
            if normalized.is_empty() {
                return Err(format!(
                    "assertion {n}: `node_output_contains` value is empty"
                ));
            }
            Ok(Check::NodeContains(normalized))
        }
        Assertion::NodeOutputMatches { node, pattern } => {
            if node.trim().is_empty() {
                return Err(format!(
                    "assertion {n}: the node (its title or id) is empty"
                ));
            }
            match compile_assertion(
                n,
                &Assertion::Regex {
                    pattern: pattern.clone(),
                },
            )? {
                Check::Regex(re) => Ok(Check::NodeMatches(re)),
                _ => unreachable!("a regex assertion compiles to a regex"),
            }
        }
        Assertion::ToolCalled { tool } if tool.trim().is_empty() => {
            Err(format!("assertion {n}: the tool name is empty"))
        }
        Assertion::CitesDocument { document } if document.trim().is_empty() => Err(format!(
            "assertion {n}: the document (its name or id) is empty"
        )),
        Assertion::MinRetrievalScore { score } if !(0.0..=1.0).contains(score) => Err(format!(
            "assertion {n}: min_retrieval_score must be between 0 and 1 (Dify's scale), got {score}"
        )),
        Assertion::MinChunks { count: 0 } => {
            Err(format!("assertion {n}: min_chunks must be at least 1"))
        }
        Assertion::ToolCalled { .. }
        | Assertion::CitesDocument { .. }
        | Assertion::MinRetrievalScore { .. }
        | Assertion::MinChunks { .. } => Ok(Check::Trace),
    }
}

/// Why a node assertion fails, or None when it holds. A node that did not run fails every node
/// assertion; a node that ran several times (a loop, an iteration) must hold each time, except
/// for its output, of which one run is enough.
fn check_node(check: &Check, source: &Assertion, trace: &Trace) -> Option<String> {
    let node = source.node()?;
    let runs = trace.node_runs(node);
    if runs.is_empty() {
        return Some(if trace.nodes.is_empty() {
            format!("node `{node}` did not run (the app reported no node events)")
        } else {
            format!("node `{node}` did not run")
        });
    }
    match (check, source) {
        (_, Assertion::NodeSucceeded { .. }) => {
            runs.iter()
                .find(|r| r.status != "succeeded")
                .map(|r| match &r.error {
                    Some(e) => format!("node `{node}` ended {}: {e}", r.status),
                    None => format!("node `{node}` ended {}", r.status),
                })
        }
        (_, Assertion::NodeMaxLatencyMs { ms, .. }) => {
            let slowest = runs.iter().filter_map(|r| r.elapsed_ms).max();
            match slowest {
                Some(t) if i128::from(t) > i128::from(*ms) => {
                    Some(format!("node `{node}` took {t} ms, over {ms} ms"))
                }
                Some(_) => None,
                None => Some(format!("node `{node}` reported no elapsed time")),
            }
        }
        (Check::NodeContains(v), Assertion::NodeOutputContains { value, .. }) => {
            (!runs.iter().any(|r| {
                r.output
                    .as_deref()
                    .is_some_and(|o| normalize(o).contains(v.as_str()))
            }))
            .then(|| format!("node `{node}`'s output does not contain `{value}`"))
        }
        (Check::NodeMatches(re), Assertion::NodeOutputMatches { pattern, .. }) => (!runs
            .iter()
            .any(|r| r.output.as_deref().is_some_and(|o| re.is_match(o))))
        .then(|| format!("node `{node}`'s output does not match regex `{pattern}`")),
        _ => Some("internal error: assertion plan does not match its source".to_string()),
    }
}

/// Why a tool or retrieval assertion fails, or None when it holds.
fn check_trace(source: &Assertion, trace: &Trace) -> Option<String> {
    match source {
        Assertion::ToolCalled { tool } => {
            let wanted = tool.trim().to_lowercase();
            (!trace
                .tools
                .iter()
                .any(|t| t.trim().to_lowercase() == wanted))
            .then(|| {
                if trace.tools.is_empty() {
                    format!("tool `{tool}` was not called (no tool was)")
                } else {
                    format!(
                        "tool `{tool}` was not called (called: {})",
                        trace.tools.join(", ")
                    )
                }
            })
        }
        Assertion::CitesDocument { document } => (!trace.cites(document)).then(|| {
            let mut docs: Vec<&str> = trace
                .retrieval
                .iter()
                .map(|c| c.document.as_str())
                .filter(|d| !d.is_empty())
                .collect();
            docs.dedup();
            if docs.is_empty() {
                format!("no retrieved chunk cites `{document}` (nothing was retrieved)")
            } else {
                format!(
                    "no retrieved chunk cites `{document}` (cited: {})",
                    docs.join(", ")
                )
            }
        }),
        Assertion::MinRetrievalScore { score } => match trace.top_score() {
            Some(top) if top >= *score => None,
            Some(top) => Some(format!("top retrieval score {top} is below {score}")),
            None => Some(format!(
                "no retrieval score to compare with {score} (nothing was retrieved)"
            )),
        },
        Assertion::MinChunks { count } => {
            let got = trace.retrieval.len();
            (got < *count as usize).then(|| format!("{got} chunks retrieved, fewer than {count}"))
        }
        _ => Some("internal error: assertion plan does not match its source".to_string()),
    }
}

/// The regex crate's syntax errors span several lines (pattern, caret, reason); keep the reason.
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text)
            .trim()
            .to_string(),
        regex::Error::CompiledTooBig(limit) => {
            format!("pattern is too large (compiled size exceeds {limit} bytes)")
        }
        other => other.to_string(),
    }
}

impl PlannedAssertion {
    fn check(
        &self,
        raw: &str,
        normalized: &str,
        latency_ms: i64,
        trace: &Trace,
    ) -> AssertionOutcome {
        let failure = match (&self.check, &self.source) {
            (Check::NodeContains(_) | Check::NodeMatches(_), _) => {
                check_node(&self.check, &self.source, trace)
            }
            (Check::Trace, source) if source.node().is_some() => {
                check_node(&self.check, source, trace)
            }
            (Check::Trace, source) => check_trace(source, trace),
            (Check::Contains(v), Assertion::Contains { value }) => (!normalized
                .contains(v.as_str()))
            .then(|| format!("answer does not contain `{value}`")),
            (Check::NotContains(v), Assertion::NotContains { value }) => normalized
                .contains(v.as_str())
                .then(|| format!("answer contains `{value}`")),
            (Check::Regex(re), Assertion::Regex { pattern }) => {
                (!re.is_match(raw)).then(|| format!("answer does not match regex `{pattern}`"))
            }
            (Check::MaxLatencyMs(ms), _) => (i128::from(latency_ms) > i128::from(*ms))
                .then(|| format!("latency {latency_ms} ms exceeds {ms} ms")),
            // `check` is always compiled from `source`, so the kinds agree.
            _ => Some("internal error: assertion plan does not match its source".to_string()),
        };
        AssertionOutcome {
            assertion: self.source.clone(),
            passed: failure.is_none(),
            message: failure,
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CaseId;

    fn case(expected: &str, keywords: &[&str], assertions: Vec<Assertion>) -> TestCase {
        TestCase {
            id: CaseId(1),
            name: "case".into(),
            query: "q".into(),
            expected_answer: expected.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            category: String::new(),
            tags: Vec::new(),
            pass_threshold: None,
            assertions,
            inputs: serde_json::Value::Null,
            enabled: true,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            rubric: None,
            revision: 1,
            turns: Default::default(),
        }
    }

    fn plan(c: &TestCase) -> CasePlan {
        match CasePlan::new(c) {
            Ok(p) => p,
            Err(e) => panic!("plan refused: {e}"),
        }
    }

    fn units(text: &str) -> Vec<String> {
        let norm = normalize(text);
        let mut out = Vec::new();
        for_each_unit(&norm, |u| out.push(u.to_string()));
        out
    }

    fn cfg(keyword_weight: f64, similarity_weight: f64) -> ScoringConfig {
        ScoringConfig {
            pass_threshold: 60.0,
            keyword_weight,
            similarity_weight,
            ..ScoringConfig::default()
        }
    }

    fn contains(v: &str) -> Assertion {
        Assertion::Contains { value: v.into() }
    }
    fn not_contains(v: &str) -> Assertion {
        Assertion::NotContains { value: v.into() }
    }
    fn regex(p: &str) -> Assertion {
        Assertion::Regex { pattern: p.into() }
    }

    // --- normalisation -------------------------------------------------------------------------

    #[test]
    fn normalize_folds_width_case_and_whitespace() {
        assert_eq!(normalize("ＭＩＰＩ　Ｄ－ＰＨＹ"), "mipi d-phy");
        assert_eq!(normalize("１．５ Ｇｂｐｓ"), "1.5 gbps");
        assert_eq!(normalize("  Hello \t\n  World \r\n"), "hello world");
        assert_eq!(normalize("傳輸　速率"), "傳輸 速率"); // U+3000 ideographic space
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \n\t "), "");
        // Half-width katakana fold to full width.
        assert_eq!(normalize("ｶﾀｶﾅ"), "カタカナ");
    }

    #[test]
    fn normalize_matches_whole_text_nfkc() {
        // The piecewise normaliser must agree with running NFKC over the whole text, including
        // where an inert character is followed by something that composes with it.
        fn reference(text: &str) -> String {
            let mut out = Folded {
                text: String::new(),
                pending_space: false,
            };
            text.nfkc().for_each(|c| out.push(c));
            out.text
        }
        for text in [
            "e\u{301}",
            "A\u{30A}\u{323}x",
            "a\u{323}\u{301}",
            "<\u{338} =\u{338}",
            "か\u{3099}き",
            "ガ\u{3099}",
            "ｶﾞｷﾞ",
            "가\u{11A8}",
            "\u{1100}\u{1161}\u{11A8}",
            "漢\u{301}\u{323}字",
            "。\u{301}",
            "\u{301}abc",
            "ﬁ ① ㍿ Å",
            "ＭＩＰＩ　Ｄ－ＰＨＹ，支援４ lane。",
            "Ὰ ΣΊΣΥΦΟΣ İ",
            " \x0B Plain\tASCII\r\n text\x0C ",
        ] {
            assert_eq!(normalize(text), reference(text), "{text:?}");
        }
    }

    // --- comparison units ----------------------------------------------------------------------

    #[test]
    fn units_are_words_and_cjk_bigrams() {
        assert_eq!(
            units("MIPI D-PHY 支援 4 lane"),
            ["mipi", "d", "phy", "支援", "4", "lane"]
        );
        assert_eq!(
            units("傳輸速率每通道"),
            ["傳輸", "輸速", "速率", "率每", "每通", "通道"]
        );
        // A one-character CJK run is its own unit; Latin/CJK boundaries split runs.
        assert_eq!(units("是, 4lane支援x"), ["是", "4lane", "支援", "x"]);
        // Katakana middle dot is punctuation; the prolonged sound mark is part of the run.
        assert_eq!(units("データ・セット"), ["デー", "ータ", "セッ", "ット"]);
        // Combining marks stay inside their word (NFKC keeps these Devanagari signs separate).
        assert_eq!(units("हिन्दी text"), ["हिन्दी", "text"]);
        assert!(units("  ,.;!?  ").is_empty());
    }

    // --- similarity ----------------------------------------------------------------------------

    #[test]
    fn similarity_identical_is_100() {
        assert_eq!(
            similarity("MIPI D-PHY 支援 4 lane", "MIPI D-PHY 支援 4 lane"),
            100.0
        );
    }

    #[test]
    fn the_compact_bag_counts_like_a_plain_multiset() {
        // The reference: a plain list of units, each answer unit taking one equal unit out.
        fn reference(answer: &str, expected: &str) -> f64 {
            let mut left = units(expected);
            let total = left.len();
            let (mut seen, mut common) = (0, 0);
            for u in units(answer) {
                seen += 1;
                if let Some(i) = left.iter().position(|e| *e == u) {
                    left.swap_remove(i);
                    common += 1;
                }
            }
            match total + seen {
                0 => 100.0,
                all => 2.0 * common as f64 / all as f64 * 100.0,
            }
        }
        let texts = [
            "",
            "the the cat sat on the mat",
            "傳輸速率每通道 4.5 Gbps，傳輸速率",
            "mipi d phy 支援 4 lane; lane lane",
            "a b c d e f g a b c",
        ];
        for expected in texts {
            let bag = UnitBag::new(&normalize(expected));
            assert_eq!(bag.total, units(expected).len(), "{expected}");
            for answer in texts {
                assert_eq!(
                    bag.dice(&normalize(answer)),
                    reference(answer, expected),
                    "{answer} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn similarity_chinese_bigrams() {
        // expected: 傳輸 輸速 速率 率每 每通 通道 = 6; answer: 傳輸 輸速 速率 = 3; common 3.
        // Dice = 2·3 / (6+3) × 100 = 66.666… → 66.67
        assert_eq!(similarity("傳輸速率", "傳輸速率每通道"), 66.67);
    }

    #[test]
    fn similarity_english_words() {
        // expected: the quick brown fox = 4; answer: quick brown dog = 3; common {quick, brown} = 2.
        // Dice = 2·2 / (4+3) × 100 = 57.142… → 57.14
        assert_eq!(
            similarity("Quick, brown dog.", "The quick brown fox"),
            57.14
        );
        // Multisets: answer {the, the, cat} = 3, expected {the, cat} = 2, common 2 (one `the` spare).
        // Dice = 2·2 / (3+2) × 100 = 80
        assert_eq!(similarity("the the cat", "the cat"), 80.0);
    }

    #[test]
    fn similarity_mixed_scripts() {
        // expected: mipi d phy 支援 4 lane = 6; answer: mipi 支援 2 lane = 4; common {mipi, 支援, lane} = 3.
        // Dice = 2·3 / (6+4) × 100 = 60
        assert_eq!(
            similarity("MIPI 支援 2 lane", "MIPI D-PHY 支援 4 lane"),
            60.0
        );
    }

    #[test]
    fn similarity_full_width_equals_half_width() {
        assert_eq!(
            similarity("ＭＩＰＩ　Ｄ－ＰＨＹ　４　ｌａｎｅ", "MIPI D-PHY 4 lane"),
            100.0
        );
    }

    #[test]
    fn similarity_empty_sides() {
        assert_eq!(similarity("", ""), 100.0);
        assert_eq!(similarity("!!", "..."), 100.0); // no units on either side
        assert_eq!(similarity("", "expected"), 0.0);
        assert_eq!(similarity("answer", ""), 0.0);
    }

    // --- keywords ------------------------------------------------------------------------------

    fn hits(keywords: &[&str], answer: &str) -> Vec<String> {
        plan(&case("", keywords, vec![]))
            .score(answer, 0, &ScoringConfig::default())
            .detail
            .keywords_hit
    }

    #[test]
    fn latin_keyword_needs_word_boundaries() {
        assert!(hits(&["art"], "a good start").is_empty());
        assert!(hits(&["art"], "artist").is_empty());
        assert_eq!(hits(&["art"], "start, then art."), ["art"]);
        assert_eq!(hits(&["art"], "state-of-the-art"), ["art"]);
        assert_eq!(hits(&["ART"], "Ａｒｔ"), ["ART"]); // reported as written
    }

    #[test]
    fn cjk_keyword_is_a_substring() {
        assert_eq!(hits(&["速率"], "傳輸速率很高"), ["速率"]);
        assert!(hits(&["速率"], "傳輸速度很高").is_empty());
        // A CJK end needs no boundary, a Latin end does.
        assert_eq!(hits(&["支援4"], "支援4 lane"), ["支援4"]);
        assert!(hits(&["支援4"], "支援4lane").is_empty());
    }

    #[test]
    fn mixed_keywords_match_normalised() {
        let answer = "ＭＩＰＩ　Ｄ－ＰＨＹ 支援 4  lane";
        assert_eq!(
            hits(&["MIPI D-PHY", "4 lane"], answer),
            ["MIPI D-PHY", "4 lane"]
        );
        assert!(hits(&["4 lane"], "14 lanes").is_empty());
    }

    #[test]
    fn keyword_score_is_share_hit() {
        let p = plan(&case(
            "",
            &["mipi", "lane", "gbps", "", "  ", "MIPI"],
            vec![],
        ));
        let s = p.score("mipi with 4 lane", 0, &ScoringConfig::default());
        // Blank keywords ignored, `MIPI` duplicates `mipi`: 2 of 3 hit → 66.666… → 66.67
        assert_eq!(s.detail.keywords_hit, ["mipi", "lane"]);
        assert_eq!(s.detail.keywords_missed, ["gbps"]);
        assert_eq!(s.detail.keyword_score, Some(66.67));
        assert_eq!(s.detail.similarity_score, None);
        assert_eq!(s.score, 66.67);
        assert!(s.passed); // 66.67 ≥ 60
    }

    // --- the weighted score and the verdict ----------------------------------------------------

    // keywords: 1 of 2 hit → 50; similarity: expected {the, cat, sat} = 3, answer
    // {the, cat, sat, down} = 4, common 3 → 2·3/7 × 100 = 85.714…
    const EXPECTED: &str = "the cat sat";
    const ANSWER: &str = "The cat sat down";
    const KEYWORDS: [&str; 2] = ["cat", "dog"];

    #[test]
    fn weighted_mean_07_03() {
        let s = plan(&case(EXPECTED, &KEYWORDS, vec![])).score(ANSWER, 0, &cfg(0.7, 0.3));
        assert_eq!(s.detail.keyword_score, Some(50.0));
        assert_eq!(s.detail.similarity_score, Some(85.71));
        // 0.7·50 + 0.3·85.714… = 35 + 25.714… = 60.714… → 60.71
        assert_eq!(s.score, 60.71);
        assert!(s.passed); // ≥ 60
    }

    #[test]
    fn weights_need_not_sum_to_one() {
        let s = plan(&case(EXPECTED, &KEYWORDS, vec![])).score(ANSWER, 0, &cfg(2.0, 1.0));
        // (2·50 + 1·85.714…) / 3 = 185.714… / 3 = 61.904… → 61.9
        assert_eq!(s.score, 61.9);
    }

    #[test]
    fn zero_weight_skips_component() {
        let p = plan(&case(EXPECTED, &KEYWORDS, vec![]));
        let s = p.score(ANSWER, 0, &cfg(0.0, 1.0));
        assert_eq!(s.score, 85.71);
        assert_eq!(s.detail.keyword_score, Some(50.0)); // still reported
        assert_eq!(p.score(ANSWER, 0, &cfg(1.0, 0.0)).score, 50.0);
        // A keywords-only case in a similarity-only batch still has to earn its score:
        // its one component counts rather than nothing (which would give 100).
        let keywords_only = plan(&case("", &KEYWORDS, vec![]));
        let s = keywords_only.score(ANSWER, 0, &cfg(0.0, 1.0));
        assert_eq!(s.score, 50.0);
        assert!(!s.passed);
    }

    #[test]
    fn case_threshold_overrides_batch() {
        let mut c = case(EXPECTED, &KEYWORDS, vec![]);
        // 0.5·50 + 0.5·85.714… = 67.857… → 67.86
        let batch = cfg(0.5, 0.5);
        assert_eq!(plan(&c).score(ANSWER, 0, &batch).score, 67.86);
        assert!(plan(&c).score(ANSWER, 0, &batch).passed); // 67.86 ≥ 60
        c.pass_threshold = Some(70.0);
        assert!(!plan(&c).score(ANSWER, 0, &batch).passed); // 67.86 < 70
        c.pass_threshold = Some(67.86);
        assert!(plan(&c).score(ANSWER, 0, &batch).passed); // equal passes
        c.pass_threshold = Some(120.0);
        assert!(CasePlan::new(&c).is_err_and(|e| e.contains("pass_threshold")));
    }

    #[test]
    fn no_component_scores_by_assertions() {
        let p = plan(&case("  ", &[], vec![contains("ok")]));
        let ok = p.score("OK", 0, &ScoringConfig::default());
        assert_eq!((ok.score, ok.passed), (100.0, true));
        let bad = p.score("nope", 0, &ScoringConfig::default());
        assert_eq!((bad.score, bad.passed), (0.0, false));
        let none = plan(&case("", &[], vec![])).score("", 0, &ScoringConfig::default());
        assert_eq!((none.score, none.passed), (100.0, true));
    }

    #[test]
    fn failing_assertion_fails_a_perfect_score() {
        let p = plan(&case("the cat sat", &[], vec![not_contains("cat")]));
        let s = p.score("the cat sat", 0, &ScoringConfig::default());
        assert_eq!(s.score, 100.0);
        assert!(!s.passed);
    }

    #[test]
    fn empty_answer_scores_zero() {
        let p = plan(&case(
            "傳輸速率每通道 1.5 Gbps",
            &["1.5 Gbps", "速率"],
            vec![not_contains("error"), contains("Gbps")],
        ));
        let s = p.score("", 0, &ScoringConfig::default());
        assert_eq!(s.score, 0.0);
        assert!(!s.passed);
        assert_eq!(s.detail.keyword_score, Some(0.0));
        assert_eq!(s.detail.similarity_score, Some(0.0));
        assert_eq!(s.detail.keywords_missed, ["1.5 Gbps", "速率"]);
        assert!(s.detail.assertions[0].passed);
        assert!(!s.detail.assertions[1].passed);
    }

    #[test]
    fn odd_answers_do_not_panic() {
        let p = plan(&case(
            "MIPI 支援",
            &["mipi", "支援", "é"],
            vec![regex(r"^\w+$"), contains("ﬁ")],
        ));
        for answer in [
            "",
            " ",
            "\u{0301}",
            "e\u{0301}",
            "🙂🙂",
            "ﬁ",
            "支",
            "\u{0000}",
            "ＭＩＰＩ\u{200B}支援",
            &"支援".repeat(10_000),
        ] {
            let s = p.score(answer, -5, &ScoringConfig::default());
            assert!((0.0..=100.0).contains(&s.score), "{answer:?} → {}", s.score);
        }
    }

    // --- assertions ----------------------------------------------------------------------------

    fn outcome(a: Assertion, answer: &str, latency_ms: i64) -> AssertionOutcome {
        let mut s =
            plan(&case("", &[], vec![a])).score(answer, latency_ms, &ScoringConfig::default());
        s.detail.assertions.remove(0)
    }

    #[test]
    fn contains_compares_normalised() {
        let pass = outcome(contains("1.5 Gbps"), "up to １．５  ＧＢＰＳ per lane", 0);
        assert!(pass.passed);
        assert_eq!(pass.message, None);
        let fail = outcome(contains("1.5 Gbps"), "up to 2.5 Gbps", 0);
        assert!(!fail.passed);
        assert_eq!(
            fail.message.as_deref(),
            Some("answer does not contain `1.5 Gbps`")
        );
        assert_eq!(fail.assertion, contains("1.5 Gbps"));
    }

    #[test]
    fn not_contains_compares_normalised() {
        assert!(outcome(not_contains("Sorry"), "Here it is", 0).passed);
        let fail = outcome(not_contains("Sorry"), "ＳＯＲＲＹ, I can't", 0);
        assert!(!fail.passed);
        assert_eq!(fail.message.as_deref(), Some("answer contains `Sorry`"));
    }

    #[test]
    fn regex_runs_on_raw_answer() {
        assert!(outcome(regex(r"\d+\.\d+ Gbps"), "up to 1.5 Gbps", 0).passed);
        // Raw text: neither lowercased nor width-folded.
        let fail = outcome(regex(r"\d+\.\d+ Gbps"), "up to 1.5 GBPS", 0);
        assert!(!fail.passed);
        assert_eq!(
            fail.message.as_deref(),
            Some(r"answer does not match regex `\d+\.\d+ Gbps`")
        );
        assert!(!outcome(regex("Gbps"), "ＧＢＰＳ", 0).passed);
    }

    #[test]
    fn max_latency_is_inclusive() {
        let limit = || Assertion::MaxLatencyMs { ms: 500 };
        assert!(outcome(limit(), "", 500).passed);
        assert!(outcome(limit(), "", 0).passed);
        let fail = outcome(limit(), "", 812);
        assert!(!fail.passed);
        assert_eq!(
            fail.message.as_deref(),
            Some("latency 812 ms exceeds 500 ms")
        );
    }

    #[test]
    fn invalid_regex_is_refused_with_its_number() {
        let assertions = vec![contains("ok"), regex("(")];
        let err = validate_assertions(&assertions).unwrap_err();
        assert!(err.starts_with("assertion 2: invalid regex `(`: "), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let from_plan = CasePlan::new(&case("x", &[], assertions)).unwrap_err();
        assert_eq!(from_plan, err);
    }

    #[test]
    fn oversized_regex_is_refused() {
        let err = validate_assertions(&[regex(r"\w{5000}")]).unwrap_err();
        assert!(err.starts_with("assertion 1: invalid regex"), "{err}");
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn pointless_assertions_are_refused() {
        assert_eq!(
            validate_assertions(&[contains(" ")]).unwrap_err(),
            "assertion 1: `contains` value is empty"
        );
        assert_eq!(
            validate_assertions(&[regex("a"), not_contains("")]).unwrap_err(),
            "assertion 2: `not_contains` value is empty"
        );
        assert_eq!(
            validate_assertions(&[regex("")]).unwrap_err(),
            "assertion 1: regex pattern is empty"
        );
        assert_eq!(
            validate_assertions(&[Assertion::MaxLatencyMs { ms: 0 }]).unwrap_err(),
            "assertion 1: max_latency_ms must be at least 1"
        );
        assert!(validate_assertions(&[]).is_ok());
        assert!(validate_assertions(&[contains("a"), regex(r"^\d+$")]).is_ok());
    }

    #[test]
    fn trace_assertions_are_checked_when_saved_and_against_the_trace() {
        use crate::model::trace::{Chunk, NodeRun};
        let node = |n: &str| n.to_string();
        for (a, err) in [
            (
                Assertion::NodeSucceeded { node: node(" ") },
                "assertion 1: the node (its title or id) is empty",
            ),
            (
                Assertion::NodeMaxLatencyMs {
                    node: node("LLM"),
                    ms: 0,
                },
                "assertion 1: node_max_latency_ms must be at least 1",
            ),
            (
                Assertion::NodeOutputContains {
                    node: node("LLM"),
                    value: " ".into(),
                },
                "assertion 1: `node_output_contains` value is empty",
            ),
            (
                Assertion::NodeOutputMatches {
                    node: node("LLM"),
                    pattern: "(".into(),
                },
                "assertion 1: invalid regex `(`",
            ),
            (
                Assertion::ToolCalled { tool: "".into() },
                "assertion 1: the tool name is empty",
            ),
            (
                Assertion::CitesDocument {
                    document: " ".into(),
                },
                "assertion 1: the document (its name or id) is empty",
            ),
            (
                Assertion::MinRetrievalScore { score: 1.5 },
                "assertion 1: min_retrieval_score must be between 0 and 1",
            ),
            (
                Assertion::MinChunks { count: 0 },
                "assertion 1: min_chunks must be at least 1",
            ),
        ] {
            let got = validate_assertions(&[a]).unwrap_err();
            assert!(got.starts_with(err), "{got}");
        }

        let trace = Trace {
            nodes: vec![
                NodeRun {
                    id: "it".into(),
                    title: "Loop".into(),
                    status: "succeeded".into(),
                    elapsed_ms: Some(5),
                    output: Some("Alpha".into()),
                    ..NodeRun::default()
                },
                NodeRun {
                    id: "it".into(),
                    title: "Loop".into(),
                    status: "exception".into(),
                    error: Some("boom".into()),
                    elapsed_ms: Some(50),
                    output: Some("Beta".into()),
                    ..NodeRun::default()
                },
            ],
            retrieval: vec![Chunk {
                score: Some(0.4),
                ..Chunk::default()
            }],
            ..Trace::default()
        };
        let check = |a: Assertion| {
            let plan = CasePlan::new(&case("", &[], vec![a])).unwrap();
            let scored = plan.score_with(
                "answer",
                10,
                &trace,
                &ScoringConfig::default(),
                Semantic::default(),
            );
            scored.detail.assertions[0].message.clone()
        };
        // Every run must succeed and be quick enough; one run's output is enough.
        assert_eq!(
            check(Assertion::NodeSucceeded { node: node("loop") }).as_deref(),
            Some("node `loop` ended exception: boom")
        );
        assert_eq!(
            check(Assertion::NodeMaxLatencyMs {
                node: node("it"),
                ms: 20
            })
            .as_deref(),
            Some("node `it` took 50 ms, over 20 ms")
        );
        assert_eq!(
            check(Assertion::NodeOutputContains {
                node: node("it"),
                value: "beta".into()
            }),
            None
        );
        assert_eq!(
            check(Assertion::NodeOutputMatches {
                node: node("it"),
                pattern: "^Al".into()
            }),
            None
        );
        assert_eq!(check(Assertion::MinRetrievalScore { score: 0.4 }), None);
        assert_eq!(
            check(Assertion::MinRetrievalScore { score: 0.41 }).as_deref(),
            Some("top retrieval score 0.4 is below 0.41")
        );
        assert_eq!(check(Assertion::MinChunks { count: 1 }), None);
    }
}
