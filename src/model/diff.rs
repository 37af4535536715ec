//! What changed between two answers: a word-level diff that treats Chinese, Japanese and Korean
//! text one character at a time, as runs of equal, deleted and inserted text. The compare page
//! shows it under "a case row opens both answers side by side".
//!
//! Pure and shared: the server computes a diff (`compare_case`), the browser only renders runs.
//!
//! - **Tokens** ([`tokenize`]): each CJK character (Han, Hiragana, Katakana, Hangul, Bopomofo, CJK
//!   punctuation and full-width forms) is a token of its own, since those scripts do not separate
//!   words by spaces; a run of other letters and digits is one word token; a run of whitespace is
//!   one token; every other character (punctuation, symbols, emoji) is a token. A combining mark or
//!   variation selector stays with the character before it.
//! - **Diff**: Myers' O(ND) algorithm in linear space (the middle-snake bisection of Myers 1986,
//!   §4b, laid out as in Neil Fraser's diff-match-patch), over interned tokens, after the common
//!   prefix and suffix are set aside. It finds a shortest edit script, so the equal runs are a
//!   longest common subsequence of the tokens.
//! - **Bounded work.** Stored answers reach 256 KiB (about 85,000 tokens each), and two long,
//!   unrelated answers would cost O(N·D) ≈ 10¹⁰ steps. The search therefore counts its steps
//!   against a budget ([`DIFF_WORD_BUDGET`]); when the budget runs out it starts again over
//!   *lines* ([`DIFF_LINE_BUDGET`]), and when that runs out too it shows the common start and end
//!   and the rest as replaced. [`TextDiff::granularity`] says which, so the page can say so. The
//!   budget counts steps, not time: the same answers always give the same diff.
//! - **Readable runs**: a change region is one deletion then one insertion, and a short equal run
//!   wedged between two larger changes (a lone space or "的" between two rewritten phrases) is
//!   folded into them, as diff-match-patch's semantic cleanup does: an equality is folded when it
//!   is no longer, in characters, than the larger side of the change before it and of the change
//!   after it.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::limits::{DIFF_LINE_BUDGET, DIFF_WORD_BUDGET};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffOp {
    /// In both texts.
    Equal,
    /// In A only.
    Delete,
    /// In B only.
    Insert,
}

/// A stretch of text with one fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffRun {
    pub op: DiffOp,
    pub text: String,
}

/// What a diff's runs are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Words, CJK characters, whitespace and punctuation (see the module docs).
    Word,
    /// Whole lines: a word-level diff would have taken more than its budget.
    Line,
    /// The common start and end, and everything between as replaced: a line-level diff would have
    /// taken more than its budget too.
    Whole,
}

/// A diff of text A against text B: the runs, in order. The runs that are not insertions spell A
/// exactly; those that are not deletions spell B. Each change region is one deletion followed by
/// one insertion (either may be missing), and no two neighbouring runs have the same op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextDiff {
    pub granularity: Granularity,
    pub runs: Vec<DiffRun>,
}

impl TextDiff {
    /// A's text as runs: equal and deleted.
    pub fn side_a(&self) -> impl Iterator<Item = &DiffRun> {
        self.runs.iter().filter(|r| r.op != DiffOp::Insert)
    }

    /// B's text as runs: equal and inserted.
    pub fn side_b(&self) -> impl Iterator<Item = &DiffRun> {
        self.runs.iter().filter(|r| r.op != DiffOp::Delete)
    }

    /// The texts differ.
    pub fn changed(&self) -> bool {
        self.runs.iter().any(|r| r.op != DiffOp::Equal)
    }
}

/// How much work a diff may do, in steps of the search (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffBudget {
    pub words: u64,
    pub lines: u64,
}

impl Default for DiffBudget {
    fn default() -> Self {
        DiffBudget {
            words: DIFF_WORD_BUDGET,
            lines: DIFF_LINE_BUDGET,
        }
    }
}

/// Diffs A against B word by word, or coarser when that would take too long (see the module docs).
pub fn diff(a: &str, b: &str) -> TextDiff {
    diff_within(a, b, DiffBudget::default())
}

/// [`diff`] with another budget.
pub fn diff_within(a: &str, b: &str, budget: DiffBudget) -> TextDiff {
    let (wa, wb) = (token_bounds(a), token_bounds(b));
    if let Some(runs) = diff_tokens(a, &wa, b, &wb, budget.words) {
        return TextDiff {
            granularity: Granularity::Word,
            runs,
        };
    }
    let (la, lb) = (lines(a), lines(b));
    if let Some(runs) = diff_tokens(a, &la, b, &lb, budget.lines) {
        return TextDiff {
            granularity: Granularity::Line,
            runs,
        };
    }
    // The common start and end, word by word, cost one pass; the rest is shown as replaced.
    let (ia, ib) = intern(a, &wa, b, &wb);
    let prefix = common_prefix(&ia, &ib);
    let suffix = common_suffix(&ia[prefix..], &ib[prefix..]);
    let edits = [
        (DiffOp::Equal, prefix),
        (DiffOp::Delete, ia.len() - prefix - suffix),
        (DiffOp::Insert, ib.len() - prefix - suffix),
        (DiffOp::Equal, suffix),
    ];
    TextDiff {
        granularity: Granularity::Whole,
        runs: runs_of(a, &wa, b, &wb, &edits),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// Where each token starts, and where the last one ends: token `i` is `text[t[i]..t[i + 1]]`.
type Bounds = Vec<usize>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Word,
    /// A token of one character: CJK, punctuation, a symbol.
    Single,
}

/// The text's tokens (see the module docs); they concatenate to the text.
pub fn tokenize(text: &str) -> Vec<&str> {
    let bounds = token_bounds(text);
    bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

fn token_bounds(text: &str) -> Bounds {
    let mut bounds = Vec::with_capacity(text.len() / 3 + 2);
    let mut current: Option<Kind> = None;
    for (i, c) in text.char_indices() {
        if current.is_some() && is_mark(c) {
            continue;
        }
        let kind = if c.is_whitespace() {
            Kind::Space
        } else if is_cjk(c) {
            Kind::Single
        } else if c.is_alphanumeric() {
            Kind::Word
        } else {
            Kind::Single
        };
        let continues = matches!(
            (current, kind),
            (Some(Kind::Space), Kind::Space) | (Some(Kind::Word), Kind::Word)
        );
        if !continues {
            bounds.push(i);
            current = Some(kind);
        }
    }
    // The end of the last token (an empty text: one boundary, no token).
    bounds.push(text.len());
    bounds
}

/// Lines, each with its `\n`.
fn lines(text: &str) -> Bounds {
    let mut bounds = vec![0];
    bounds.extend(
        text.match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|&i| i < text.len()),
    );
    if !text.is_empty() {
        bounds.push(text.len());
    }
    bounds
}

/// Characters written without spaces between words, one token each.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF       // Hangul Jamo
        | 0x2E80..=0x2FDF     // CJK and Kangxi radicals
        | 0x2FF0..=0x2FFF     // ideographic description characters
        | 0x3000..=0x303F     // CJK symbols and punctuation (、。「」…)
        | 0x3040..=0x309F     // Hiragana
        | 0x30A0..=0x30FF     // Katakana
        | 0x3100..=0x312F     // Bopomofo
        | 0x3130..=0x318F     // Hangul compatibility Jamo
        | 0x3190..=0x31FF     // Kanbun, Bopomofo extended, CJK strokes, Katakana extensions
        | 0x3200..=0x33FF     // enclosed CJK letters, CJK compatibility
        | 0x3400..=0x4DBF     // CJK unified ideographs extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xA960..=0xA97F     // Hangul Jamo extended A
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0xD7B0..=0xD7FF     // Hangul Jamo extended B
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0xFE10..=0xFE1F     // vertical forms
        | 0xFE30..=0xFE4F     // CJK compatibility forms
        | 0xFF00..=0xFFEF     // half-width and full-width forms (，！Ａ１ｶ)
        | 0x1B000..=0x1B16F   // Kana supplement and extended
        | 0x20000..=0x3134F   // CJK unified ideographs extensions B–G, compatibility supplement
    )
}

/// A mark that belongs to the character before it.
fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F       // combining diacritical marks
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x200D              // zero-width joiner
        | 0x20D0..=0x20FF
        | 0x3099..=0x309A     // combining kana voiced marks
        | 0xFE00..=0xFE0F     // variation selectors
        | 0xFE20..=0xFE2F
        | 0xE0100..=0xE01EF
    )
}

// ---------------------------------------------------------------------------------------------
// The search

/// Token ids: equal tokens get equal ids, so that comparing is one integer compare.
fn intern<'t>(a: &'t str, ta: &Bounds, b: &'t str, tb: &Bounds) -> (Vec<u32>, Vec<u32>) {
    let mut ids: HashMap<&'t str, u32> = HashMap::new();
    let mut ids_of = |text: &'t str, bounds: &Bounds| -> Vec<u32> {
        bounds
            .windows(2)
            .map(|w| {
                let next = ids.len() as u32;
                *ids.entry(&text[w[0]..w[1]]).or_insert(next)
            })
            .collect()
    };
    let ia = ids_of(a, ta);
    let ib = ids_of(b, tb);
    (ia, ib)
}

/// The runs of A against B over these tokens, or None when the search would pass `budget` steps.
fn diff_tokens(a: &str, ta: &Bounds, b: &str, tb: &Bounds, budget: u64) -> Option<Vec<DiffRun>> {
    let (ia, ib) = intern(a, ta, b, tb);
    let mut edits = Vec::new();
    let mut left = budget;
    edit_script(&ia, &ib, &mut left, &mut edits).ok()?;
    Some(runs_of(a, ta, b, tb, &edits))
}

/// The search ran out of budget.
#[derive(Debug)]
struct OutOfBudget;

fn spend(left: &mut u64, steps: u64) -> Result<(), OutOfBudget> {
    *left = left.checked_sub(steps).ok_or(OutOfBudget)?;
    Ok(())
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &[u32], b: &[u32]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// Appends a shortest edit script of `a` → `b` to `out`, as (op, tokens) pairs.
fn edit_script(
    a: &[u32],
    b: &[u32],
    left: &mut u64,
    out: &mut Vec<(DiffOp, usize)>,
) -> Result<(), OutOfBudget> {
    // Common ends cost one pass and shrink the search to the changed middle.
    let prefix = common_prefix(a, b);
    let suffix = common_suffix(&a[prefix..], &b[prefix..]);
    let (a_mid, b_mid) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    out.push((DiffOp::Equal, prefix));
    if a_mid.is_empty() || b_mid.is_empty() {
        out.push((DiffOp::Delete, a_mid.len()));
        out.push((DiffOp::Insert, b_mid.len()));
    } else {
        match middle_snake(a_mid, b_mid, left)? {
            // A split at either corner would not shrink the problem (it cannot happen after the
            // common ends are set aside; the guard keeps the recursion finite regardless).
            Some((x, y)) if (x, y) != (0, 0) && (x, y) != (a_mid.len(), b_mid.len()) => {
                edit_script(&a_mid[..x], &b_mid[..y], left, out)?;
                edit_script(&a_mid[x..], &b_mid[y..], left, out)?;
            }
            _ => {
                out.push((DiffOp::Delete, a_mid.len()));
                out.push((DiffOp::Insert, b_mid.len()));
            }
        }
    }
    out.push((DiffOp::Equal, suffix));
    Ok(())
}

/// Where a shortest edit path of `a` → `b` crosses its middle snake: a point (x, y) that splits
/// the problem into two smaller ones, or None when the texts share no token. Myers searches
/// forward from (0, 0) and backward from (n, m) one edit at a time, until the two frontiers meet;
/// the work is O((n + m) · D) for D edits, and every step is paid from `left`.
fn middle_snake(
    a: &[u32],
    b: &[u32],
    left: &mut u64,
) -> Result<Option<(usize, usize)>, OutOfBudget> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max_d = (n + m + 1) / 2;
    let offset = max_d;
    // Diagonals −max_d..=max_d, and one more for the first step's read of diagonal 1.
    let width = 2 * max_d + 2;
    spend(left, 2 * width as u64)?;
    // v1[offset + k]: the furthest x reached on diagonal k = x − y going forward; v2 likewise
    // going backward, counted from the ends. −1: not reached yet.
    let mut v1 = vec![-1isize; width as usize];
    let mut v2 = vec![-1isize; width as usize];
    v1[(offset + 1) as usize] = 0;
    v2[(offset + 1) as usize] = 0;
    let delta = n - m;
    // With an odd delta the frontiers meet on a forward step, with an even one on a backward one.
    let front = delta % 2 != 0;
    // Diagonals that ran off the grid are not searched again.
    let (mut k1_start, mut k1_end, mut k2_start, mut k2_end) = (0isize, 0isize, 0isize, 0isize);
    for d in 0..max_d {
        let mut k1 = -d + k1_start;
        while k1 <= d - k1_end {
            spend(left, 1)?;
            let i = (offset + k1) as usize;
            let mut x1 = if k1 == -d || (k1 != d && v1[i - 1] < v1[i + 1]) {
                v1[i + 1]
            } else {
                v1[i - 1] + 1
            };
            let mut y1 = x1 - k1;
            let start = x1;
            while x1 < n && y1 < m && a[x1 as usize] == b[y1 as usize] {
                x1 += 1;
                y1 += 1;
            }
            spend(left, (x1 - start) as u64)?;
            v1[i] = x1;
            if x1 > n {
                k1_end += 2;
            } else if y1 > m {
                k1_start += 2;
            } else if front {
                let j = offset + delta - k1;
                if (0..width).contains(&j) && v2[j as usize] != -1 && x1 >= n - v2[j as usize] {
                    return Ok(Some((x1 as usize, y1 as usize)));
                }
            }
            k1 += 2;
        }
        let mut k2 = -d + k2_start;
        while k2 <= d - k2_end {
            spend(left, 1)?;
            let i = (offset + k2) as usize;
            let mut x2 = if k2 == -d || (k2 != d && v2[i - 1] < v2[i + 1]) {
                v2[i + 1]
            } else {
                v2[i - 1] + 1
            };
            let mut y2 = x2 - k2;
            let start = x2;
            while x2 < n && y2 < m && a[(n - x2 - 1) as usize] == b[(m - y2 - 1) as usize] {
                x2 += 1;
                y2 += 1;
            }
            spend(left, (x2 - start) as u64)?;
            v2[i] = x2;
            if x2 > n {
                k2_end += 2;
            } else if y2 > m {
                k2_start += 2;
            } else if !front {
                let j = offset + delta - k2;
                if (0..width).contains(&j) && v1[j as usize] != -1 {
                    let x1 = v1[j as usize];
                    let y1 = offset + x1 - j;
                    if x1 >= n - x2 {
                        return Ok(Some((x1 as usize, y1 as usize)));
                    }
                }
            }
            k2 += 2;
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Runs

/// A change region: what A had, what B has instead.
#[derive(Default)]
struct Change {
    deleted: String,
    inserted: String,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.inserted.is_empty()
    }

    /// The larger side, in characters.
    fn size(&self) -> usize {
        self.deleted
            .chars()
            .count()
            .max(self.inserted.chars().count())
    }
}

enum Block {
    Equal(String),
    Change(Change),
}

/// Turns an edit script over tokens into readable runs (see the module docs).
fn runs_of(a: &str, ta: &Bounds, b: &str, tb: &Bounds, edits: &[(DiffOp, usize)]) -> Vec<DiffRun> {
    // Alternating equal and change blocks, each change one deletion and one insertion.
    let mut blocks: Vec<Block> = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    for &(op, count) in edits.iter().filter(|(_, c)| *c > 0) {
        match op {
            DiffOp::Equal => {
                let text = &a[ta[i]..ta[i + count]];
                i += count;
                j += count;
                match blocks.last_mut() {
                    Some(Block::Equal(e)) => e.push_str(text),
                    _ => blocks.push(Block::Equal(text.to_string())),
                }
            }
            DiffOp::Delete | DiffOp::Insert => {
                let text = if op == DiffOp::Delete {
                    let t = &a[ta[i]..ta[i + count]];
                    i += count;
                    t
                } else {
                    let t = &b[tb[j]..tb[j + count]];
                    j += count;
                    t
                };
                if !matches!(blocks.last(), Some(Block::Change(_))) {
                    blocks.push(Block::Change(Change::default()));
                }
                if let Some(Block::Change(c)) = blocks.last_mut() {
                    if op == DiffOp::Delete {
                        c.deleted.push_str(text);
                    } else {
                        c.inserted.push_str(text);
                    }
                }
            }
        }
    }
    // Fold short equalities wedged between larger changes into them, left to right: a fold makes
    // the change before the next equality larger, as it reads.
    let mut folded: Vec<Block> = Vec::with_capacity(blocks.len());
    let mut rest = blocks.into_iter().peekable();
    while let Some(block) = rest.next() {
        if let Block::Equal(e) = &block {
            let next_size = match rest.peek() {
                Some(Block::Change(c)) => Some(c.size()),
                _ => None,
            };
            if let (Some(Block::Change(prev)), Some(next_size)) = (folded.last_mut(), next_size) {
                let len = e.chars().count();
                if len <= prev.size() && len <= next_size {
                    prev.deleted.push_str(e);
                    prev.inserted.push_str(e);
                    if let Some(Block::Change(next)) = rest.next() {
                        prev.deleted.push_str(&next.deleted);
                        prev.inserted.push_str(&next.inserted);
                    }
                    continue;
                }
            }
        }
        folded.push(block);
    }
    let mut runs = Vec::with_capacity(folded.len() + 1);
    for block in folded {
        match block {
            Block::Equal(text) => runs.push(DiffRun {
                op: DiffOp::Equal,
                text,
            }),
            Block::Change(c) if !c.is_empty() => {
                for (op, text) in [(DiffOp::Delete, c.deleted), (DiffOp::Insert, c.inserted)] {
                    if !text.is_empty() {
                        runs.push(DiffRun { op, text });
                    }
                }
            }
            Block::Change(_) => {}
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(op: DiffOp, text: &str) -> DiffRun {
        DiffRun {
            op,
            text: text.to_string(),
        }
    }
    use DiffOp::{Delete as D, Equal as E, Insert as I};

    /// The runs as (op, text), for terse expectations.
    fn runs(d: &TextDiff) -> Vec<(DiffOp, &str)> {
        d.runs.iter().map(|r| (r.op, r.text.as_str())).collect()
    }

    /// What every diff must satisfy: the sides spell the texts, no empty run, no two neighbours
    /// with one op, and a deletion never follows an insertion directly.
    fn check_shape(a: &str, b: &str, d: &TextDiff) {
        let side_a: String = d.side_a().map(|r| r.text.as_str()).collect();
        let side_b: String = d.side_b().map(|r| r.text.as_str()).collect();
        assert_eq!(side_a, a, "A is spelled by its runs");
        assert_eq!(side_b, b, "B is spelled by its runs");
        assert!(d.runs.iter().all(|r| !r.text.is_empty()));
        for w in d.runs.windows(2) {
            assert_ne!(w[0].op, w[1].op, "{:?}", d.runs);
            assert!(!(w[0].op == I && w[1].op == D), "{:?}", d.runs);
        }
        assert_eq!(d.changed(), a != b);
    }

    #[test]
    fn tokens_are_words_cjk_characters_spaces_and_punctuation() {
        // Latin letters and digits run together; the space run, the comma and the period are
        // tokens of their own.
        assert_eq!(
            tokenize("Hello,  world v2.0"),
            ["Hello", ",", "  ", "world", " ", "v2", ".", "0"]
        );
        // Han characters and CJK punctuation: one token each, spaces are not needed.
        assert_eq!(
            tokenize("今天天氣很好。"),
            ["今", "天", "天", "氣", "很", "好", "。"]
        );
        // Mixed: the Latin word inside Chinese text stays whole; full-width forms (the
        // full-width comma, Ａ and １) are single tokens.
        assert_eq!(
            tokenize("使用API呼叫，ＡＢ１"),
            ["使", "用", "API", "呼", "叫", "，", "Ａ", "Ｂ", "１"]
        );
        // Kana and Hangul syllables, one each.
        assert_eq!(
            tokenize("ひらカタ한국"),
            ["ひ", "ら", "カ", "タ", "한", "국"]
        );
        // A combining acute accent stays on its letter; a variation selector on its character.
        assert_eq!(tokenize("cafe\u{301} ok"), ["cafe\u{301}", " ", "ok"]);
        assert_eq!(tokenize("葛\u{E0100}飾"), ["葛\u{E0100}", "飾"]);
        // Tabs and newlines are whitespace, joined.
        assert_eq!(tokenize("a\n\t b"), ["a", "\n\t ", "b"]);
        assert!(tokenize("").is_empty());
    }

    #[test]
    fn lines_keep_their_newlines() {
        let text = "one\ntwo\n\nthree";
        let b = lines(text);
        let parts: Vec<&str> = b.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        assert_eq!(parts, ["one\n", "two\n", "\n", "three"]);
        assert_eq!(lines(""), vec![0]);
        assert_eq!(lines("x\n"), vec![0, 2]);
    }

    #[test]
    fn english_one_word_changed_in_two_places() {
        // A: the ␣ cat ␣ sat ␣ on ␣ the ␣ mat; B: the ␣ dog ␣ sat ␣ on ␣ a ␣ mat (11 tokens each).
        // Common prefix "the␣", common suffix "␣mat"; in the middle the longest common
        // subsequence is "␣sat␣on␣" (5 tokens of 7), so D = 4: cat→dog, the→a. The equality
        // " sat on " (8 characters) is longer than either change (3), so it stays.
        let (a, b) = ("the cat sat on the mat", "the dog sat on a mat");
        let d = diff(a, b);
        assert_eq!(d.granularity, Granularity::Word);
        assert_eq!(
            runs(&d),
            [
                (E, "the "),
                (D, "cat"),
                (I, "dog"),
                (E, " sat on "),
                (D, "the"),
                (I, "a"),
                (E, " mat")
            ]
        );
        check_shape(a, b, &d);
    }

    #[test]
    fn words_are_compared_whole() {
        // "cat" and "cats" are different word tokens: the word is replaced, not patched.
        let d = diff("a cat here", "a cats here");
        assert_eq!(runs(&d), [(E, "a "), (D, "cat"), (I, "cats"), (E, " here")]);
    }

    #[test]
    fn chinese_one_character_changed() {
        // zh-TW, one token per character: prefix 今天天氣 (4), suffix 好 (1), 很 → 不.
        let (a, b) = ("今天天氣很好", "今天天氣不好");
        let d = diff(a, b);
        assert_eq!(runs(&d), [(E, "今天天氣"), (D, "很"), (I, "不"), (E, "好")]);
        check_shape(a, b, &d);
        // An insertion only: 請 + 先 + 登入。
        let d = diff("請登入。", "請先登入。");
        assert_eq!(runs(&d), [(E, "請"), (I, "先"), (E, "登入。")]);
    }

    #[test]
    fn mixed_chinese_and_english() {
        // A: 請 使 用 ␣ API ␣ v2 ␣ 呼 叫 — B: 請 改 用 ␣ API ␣ v3 ␣ 呼 叫.
        // Prefix 請, suffix "␣呼叫" (3 tokens). Middle: 使 用 ␣ API ␣ v2 against
        // 改 用 ␣ API ␣ v3, LCS "用␣API␣" (4 of 6), D = 4. "v2" is one word token, so it is
        // replaced whole. The equality "用 API " (6 characters) outweighs the changes (1 and 2).
        let (a, b) = ("請使用 API v2 呼叫", "請改用 API v3 呼叫");
        let d = diff(a, b);
        assert_eq!(
            runs(&d),
            [
                (E, "請"),
                (D, "使"),
                (I, "改"),
                (E, "用 API "),
                (D, "v2"),
                (I, "v3"),
                (E, " 呼叫")
            ]
        );
        check_shape(a, b, &d);
    }

    #[test]
    fn empty_and_identical_texts() {
        assert_eq!(diff("", "").runs, vec![]);
        assert_eq!(diff("", "hello world").runs, vec![run(I, "hello world")]);
        assert_eq!(diff("刪除", "").runs, vec![run(D, "刪除")]);
        let same = "Same answer, 同樣的答案。\nTwo lines.";
        let d = diff(same, same);
        assert_eq!(d.runs, vec![run(E, same)]);
        assert!(!d.changed());
        check_shape(same, same, &d);
    }

    #[test]
    fn completely_different_texts_are_one_replacement() {
        // Tokens red ␣ apple and blue ␣ sky share only the space: Myers gives
        // red→blue, "␣", apple→sky. The space (1 character) is no longer than the change before
        // it (max(3, 4) = 4) nor the one after it (max(5, 3) = 5), so it is folded: one deletion
        // of A, one insertion of B.
        let d = diff("red apple", "blue sky");
        assert_eq!(runs(&d), [(D, "red apple"), (I, "blue sky")]);
        // Nothing in common at all (no shared token): the same shape, without a fold.
        let d = diff("甲乙丙", "xyz");
        assert_eq!(runs(&d), [(D, "甲乙丙"), (I, "xyz")]);
        // Equal ends are never folded: "one␣big␣dog" → "one␣red␣dog" keeps "one " and " dog".
        let d = diff("one big dog", "one red dog");
        assert_eq!(runs(&d), [(E, "one "), (D, "big"), (I, "red"), (E, " dog")]);
    }

    #[test]
    fn a_fold_makes_the_change_larger_for_the_next_equality() {
        // Tokens: a␣b␣c against x␣y␣z. Myers: a→x, "␣", b→y, "␣", c→z. The first space (1)
        // ≤ 1 and ≤ 1: folded into "a b"→"x y" (size 3). The second space (1) ≤ 3 and ≤ 1:
        // folded too. One replacement.
        let d = diff("a b c", "x y z");
        assert_eq!(runs(&d), [(D, "a b c"), (I, "x y z")]);
    }

    #[test]
    fn coarser_when_the_budget_runs_out() {
        let a = "alpha beta\ngamma delta\nepsilon\n";
        let b = "alpha beta\nGAMMA DELTA\nepsilon\n";
        // With the default budget: word level. Prefix "alpha␣beta\n", suffix "\nepsilon\n",
        // middle gamma ␣ delta against GAMMA ␣ DELTA; the lone space (1) is folded into the
        // changes on both sides (5 ≥ 1): one replacement.
        let d = diff(a, b);
        assert_eq!(d.granularity, Granularity::Word);
        assert_eq!(
            runs(&d),
            [
                (E, "alpha beta\n"),
                (D, "gamma delta"),
                (I, "GAMMA DELTA"),
                (E, "\nepsilon\n")
            ]
        );
        // No budget for words: by lines. Prefix line 1, suffix line 3; the middle lines share
        // nothing, so the search needs a step — give lines enough.
        let d = diff_within(
            a,
            b,
            DiffBudget {
                words: 0,
                lines: 100,
            },
        );
        assert_eq!(d.granularity, Granularity::Line);
        assert_eq!(
            runs(&d),
            [
                (E, "alpha beta\n"),
                (D, "gamma delta\n"),
                (I, "GAMMA DELTA\n"),
                (E, "epsilon\n")
            ]
        );
        check_shape(a, b, &d);
        // No budget at all: the common ends by words, the middle replaced.
        let d = diff_within(a, b, DiffBudget { words: 0, lines: 0 });
        assert_eq!(d.granularity, Granularity::Whole);
        assert_eq!(
            runs(&d),
            [
                (E, "alpha beta\n"),
                (D, "gamma delta"),
                (I, "GAMMA DELTA"),
                (E, "\nepsilon\n")
            ]
        );
        check_shape(a, b, &d);
        // Identical and one-sided texts need no search: word level even without a budget.
        let none = DiffBudget { words: 0, lines: 0 };
        assert_eq!(diff_within(a, a, none).granularity, Granularity::Word);
        assert_eq!(diff_within(a, "", none).granularity, Granularity::Word);
    }

    /// A deterministic pseudo-random generator (64-bit LCG, Knuth's MMIX constants).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    /// Length of a longest common subsequence, by the textbook O(nm) table.
    fn lcs_len(a: &[&str], b: &[&str]) -> usize {
        let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                t[i][j] = if a[i - 1] == b[j - 1] {
                    t[i - 1][j - 1] + 1
                } else {
                    t[i - 1][j].max(t[i][j - 1])
                };
            }
        }
        t[a.len()][b.len()]
    }

    #[test]
    fn the_edit_script_is_shortest_on_random_texts() {
        // Myers finds a shortest edit script: its deleted + inserted tokens equal
        // n + m − 2·LCS, checked against the O(nm) table on 500 random pairs over a small
        // alphabet (so that there is much to match), mixing words, spaces and Han characters.
        let alphabet = ["a", "b", "c", " ", "的", "是", ",", "xy"];
        let mut rng = Lcg(7);
        for _ in 0..500 {
            let text = |rng: &mut Lcg| -> String {
                let len = (rng.next() % 24) as usize;
                (0..len)
                    .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            let (a, b) = (text(&mut rng), text(&mut rng));
            let (ta, tb) = (token_bounds(&a), token_bounds(&b));
            let (ia, ib) = intern(&a, &ta, &b, &tb);
            let mut edits = Vec::new();
            let mut unlimited = u64::MAX;
            edit_script(&ia, &ib, &mut unlimited, &mut edits).unwrap();
            let edited: usize = edits
                .iter()
                .filter(|(op, _)| *op != E)
                .map(|(_, c)| c)
                .sum();
            let (wa, wb) = (tokenize(&a), tokenize(&b));
            assert_eq!(
                edited,
                wa.len() + wb.len() - 2 * lcs_len(&wa, &wb),
                "{a:?} → {b:?}"
            );
            check_shape(&a, &b, &diff(&a, &b));
        }
    }

    /// `words` pseudo-random English-like words, lines of ten.
    fn prose(rng: &mut Lcg, words: usize) -> String {
        const WORDS: [&str; 12] = [
            "latency",
            "answer",
            "version",
            "dify",
            "score",
            "pass",
            "keyword",
            "reranker",
            "retrieval",
            "chunk",
            "model",
            "token",
        ];
        let mut s = String::new();
        for i in 0..words {
            s.push_str(WORDS[(rng.next() % 12) as usize]);
            s.push(if i % 10 == 9 { '\n' } else { ' ' });
        }
        s
    }

    #[test]
    fn very_large_different_answers_stay_bounded() {
        // Two unrelated 256 KiB answers (~30,000 words, 60,000 tokens each): a word diff would
        // take about (n + m)·D ≈ 10⁹ steps, past the budget, so the diff falls back to lines
        // (and perhaps to the whole), and still spells both answers.
        let mut rng = Lcg(42);
        let mut a = prose(&mut rng, 40_000);
        let mut b = prose(&mut rng, 40_000);
        a.truncate(256 << 10);
        b.truncate(256 << 10);
        let d = diff(&a, &b);
        assert_ne!(d.granularity, Granularity::Word);
        check_shape(&a, &b, &d);
    }

    #[test]
    fn very_large_similar_answers_stay_word_level() {
        // The same 256 KiB answer with one word changed in the middle: the common ends are set
        // aside in one pass and the search is tiny, so the diff stays word level.
        let mut rng = Lcg(43);
        let mut a = prose(&mut rng, 40_000);
        a.truncate(256 << 10);
        let middle = a[a.len() / 2..].find(' ').unwrap() + a.len() / 2 + 1;
        let end = middle + a[middle..].find([' ', '\n']).unwrap();
        let b = format!("{}CHANGED{}", &a[..middle], &a[end..]);
        let d = diff(&a, &b);
        assert_eq!(d.granularity, Granularity::Word);
        assert_eq!(d.runs.len(), 4, "equal, deleted word, CHANGED, equal");
        assert_eq!(d.runs[2], run(I, "CHANGED"));
        check_shape(&a, &b, &d);
    }
}
