//! What a judge's reply means: a score on 0–100, an optional pass/fail verdict and a reason — or a
//! [`ParseError`] saying what was wrong, which the runner stores as a `judge_error`.
//!
//! It owns reading the reply text only; it does not call the judge, apply the batch's threshold
//! (except through [`passed_or`]) or decide what a judge error does to a test.
//!
//! ## Accepted shapes
//!
//! 1. **A JSON object**, alone, in a ```` ```json ```` or ```` ``` ```` fence, or inside prose: the
//!    first balanced `{…}` (strings and escapes respected) that parses as a JSON object with a
//!    score key. Keys are matched ASCII case-insensitively:
//!    - score: `score`, `rating` — a number, or a string such as `"85"`, `"4/5"`, `"85/100"`,
//!      `"8 out of 10"`, `"85%"`; `null` counts as absent;
//!    - scale: `scale`, `max`, `max_score`, `out_of` — 5, 10 or 100, a number or a string whose
//!      last number is the maximum (`"1-5"`);
//!    - verdict: `pass`, `passed`, `verdict` — `true`/`false`, `1`/`0`, or a word (below);
//!    - reason: `reason`, `reasoning`, `explanation`, `rationale`, `justification`.
//! 2. **Labelled lines**, when no JSON object has a score: `Score: 4/5`, `Rating: 85/100`,
//!    `**Score:** 4/5`, `- Final score (1-5): 4`, `"score": 85,` (a truncated or Python-ish object,
//!    one key per line), with `:` or `：`. Labels: score (`score`, `rating`, `final score`,
//!    `overall score`, `分數`, `分数`, `評分`, `评分`, `得分`), verdict (`verdict`, `final verdict`,
//!    `pass`, `passed`, `pass/fail`, `結論`, `结论`, `判定`) and reason (`reason`, `reasoning`,
//!    `explanation`, `rationale`, `justification`, `理由`, `原因`, `說明`, `说明`). A reason runs on
//!    over the following lines up to the next label; without a reason label, the unlabelled lines
//!    are the reason. The first score and the first verdict count.
//!
//! Verdict words (case-insensitive, the first word of the value): `pass`, `passed`, `passes`,
//! `yes`, `true`, `通過`/`通过`, `合格`, `是` mean pass; `fail`, `failed`, `fails`, `no`, `false`,
//! `不通過`/`不通过`, `未通過`/`未通过`, `不合格`, `否` mean fail. Any other verdict is an error,
//! not a guess: the threshold decides only when there is no verdict at all.
//!
//! ## Scales
//!
//! A bare score is on 0–100 unless a scale says otherwise: a scale key, an `x/5`-style
//! denominator (which wins over a scale key), `out of`, or a label's parenthesis (`Score (1-5)`).
//! - 100: 0–100 as is;
//! - 10: 0–10, × 10;
//! - 5: **1–5**, mapped by (s − 1) / 4 × 100, so 1 → 0, 3 → 50, 4 → 75, 5 → 100; 0 is an error.
//!
//! Any other scale is an error. The score is rounded to 2 decimals. A judge that answers 0–1
//! (`"score": 0.85`) is read as 0.85 out of 100: the reply format asks for 0–100.
//!
//! The reason is trimmed and cut to [`MAX_REASON_CHARS`] characters; it may be empty.

use std::fmt;

use serde_json::{Map, Value};

/// Longest reason kept, in characters (not bytes).
pub const MAX_REASON_CHARS: usize = 2000;

/// `{` positions tried as the start of a JSON object, so that a reply full of braces costs at
/// most this many linear scans.
const MAX_OBJECT_STARTS: usize = 64;

/// What a judge said about one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// 0–100, rounded to 2 decimals.
    pub score: f64,
    /// The judge's explicit verdict; None when it gave none.
    pub passed: Option<bool>,
    pub reason: String,
}

/// Why a reply is not a judgement, in words for the result's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn error<T>(message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(message.into()))
}

/// The verdict: the judge's explicit one, else `score >= threshold`.
pub fn passed_or(j: &Judgement, threshold: f64) -> bool {
    j.passed.unwrap_or(j.score >= threshold)
}

/// Reads a judge's reply; see the module doc for the shapes it accepts.
pub fn parse_judgement(reply: &str) -> Result<Judgement, ParseError> {
    let reply = reply.trim();
    if reply.is_empty() {
        return error("the judge's reply is empty");
    }
    for object in json_objects(reply) {
        if let Some(judgement) = from_json(&object)? {
            return Ok(judgement);
        }
    }
    if let Some(judgement) = from_text(reply)? {
        return Ok(judgement);
    }
    error(format!(
        "the judge's reply has no score: {}",
        excerpt(reply)
    ))
}

// ---------------------------------------------------------------------------------------------
// JSON

/// Every balanced `{…}` of `text` that parses as a JSON object, in order of its `{`.
fn json_objects(text: &str) -> impl Iterator<Item = Map<String, Value>> + '_ {
    text.match_indices('{')
        .take(MAX_OBJECT_STARTS)
        .filter_map(move |(start, _)| {
            let len = balanced_len(&text[start..])?;
            match serde_json::from_str(&text[start..start + len]) {
                Ok(Value::Object(object)) => Some(object),
                _ => None,
            }
        })
}

/// Length in bytes of the balanced `{…}` that `s` starts with, braces inside JSON strings not
/// counted. Byte-wise is safe: `{`, `}`, `"` and `\` never occur inside a multi-byte character.
fn balanced_len(s: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, byte) in s.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The value of the first of `names` present in `object` (keys compared ASCII case-insensitively).
fn field<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|name| {
        object
            .iter()
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A judgement from a JSON object; `Ok(None)` when it has no score.
fn from_json(object: &Map<String, Value>) -> Result<Option<Judgement>, ParseError> {
    let (value, denominator) = match field(object, &["score", "rating"]) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) => (v, None),
            None => return error(format!("score {n} is not a number")),
        },
        Some(Value::String(s)) => match number_with_scale(s) {
            Some(parsed) => parsed,
            None => return error(format!("score {} is not a number", quoted(s))),
        },
        Some(other) => return error(format!("score {other} is not a number")),
    };
    let scale = match denominator {
        Some(d) => Some(d),
        None => match field(object, &["scale", "max", "max_score", "out_of"]) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => match last_number(s) {
                Some(max) => Some(max),
                None => return error(format!("scale {} is not 5, 10 or 100", quoted(s))),
            },
            Some(other) => return error(format!("scale {other} is not 5, 10 or 100")),
        },
    };
    let score = on_100(value, scale)?;
    let passed = match field(object, &["pass", "passed", "verdict"]) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Number(n)) if n.as_f64() == Some(1.0) => Some(true),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Some(false),
        Some(Value::String(s)) => Some(verdict(s)?),
        Some(other) => return error(format!("verdict {other} is not pass or fail")),
    };
    let reason = match field(
        object,
        &[
            "reason",
            "reasoning",
            "explanation",
            "rationale",
            "justification",
        ],
    ) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => capped(s),
        Some(other) => capped(&other.to_string()),
    };
    Ok(Some(Judgement {
        score,
        passed,
        reason,
    }))
}

// ---------------------------------------------------------------------------------------------
// Labelled lines

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Score,
    Verdict,
    Reason,
}

const SCORE_LABELS: [&str; 9] = [
    "score",
    "rating",
    "final score",
    "overall score",
    "分數",
    "分数",
    "評分",
    "评分",
    "得分",
];
const VERDICT_LABELS: [&str; 8] = [
    "verdict",
    "final verdict",
    "pass",
    "passed",
    "pass/fail",
    "結論",
    "结论",
    "判定",
];
const REASON_LABELS: [&str; 9] = [
    "reason",
    "reasoning",
    "explanation",
    "rationale",
    "justification",
    "理由",
    "原因",
    "說明",
    "说明",
];

/// A labelled line: its label, the scale its parenthesis names (`Score (1-5)`), and its value.
fn labelled(line: &str) -> Option<(Label, Option<f64>, &str)> {
    let colon = line.find([':', '：'])?;
    let colon_len = line[colon..].chars().next().map_or(1, char::len_utf8);
    let raw_label = line[..colon].trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '*' | '_' | '#' | '>' | '-' | '+' | '`' | '"' | '\'')
    });
    let (name, scale) = match raw_label.find(['(', '（']) {
        Some(paren) => (
            raw_label[..paren].trim_end(),
            last_number(&raw_label[paren..]),
        ),
        None => (raw_label, None),
    };
    let name = name.to_lowercase();
    let label = if SCORE_LABELS.contains(&name.as_str()) {
        Label::Score
    } else if VERDICT_LABELS.contains(&name.as_str()) {
        Label::Verdict
    } else if REASON_LABELS.contains(&name.as_str()) {
        Label::Reason
    } else {
        return None;
    };
    // `**Score:** 4/5` leaves `**` before the value.
    let value = line[colon + colon_len..]
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '_'));
    Some((label, scale, value))
}

/// A judgement from labelled lines; `Ok(None)` when no line is a score.
fn from_text(reply: &str) -> Result<Option<Judgement>, ParseError> {
    let mut score = None;
    let mut passed = None;
    let mut reason: Option<Vec<&str>> = None;
    let mut unlabelled = Vec::new();
    let mut in_reason = false;
    for line in reply.lines() {
        let Some((label, label_scale, value)) = labelled(line) else {
            if in_reason {
                reason.get_or_insert_with(Vec::new).push(line);
            } else if !line.trim_start().starts_with("```") {
                unlabelled.push(line);
            }
            continue;
        };
        in_reason = false;
        match label {
            Label::Score if score.is_none() => {
                let Some((number, denominator)) = number_with_scale(value) else {
                    return error(format!("score {} is not a number", quoted(value.trim())));
                };
                score = Some(on_100(number, denominator.or(label_scale))?);
            }
            Label::Verdict if passed.is_none() => passed = Some(verdict(value)?),
            Label::Reason if reason.is_none() => {
                in_reason = true;
                reason = Some(vec![json_string_ish(value)]);
            }
            _ => {}
        }
    }
    let Some(score) = score else {
        return Ok(None);
    };
    let reason = reason.unwrap_or(unlabelled).join("\n");
    Ok(Some(Judgement {
        score,
        passed,
        reason: capped(&reason),
    }))
}

/// `"text",` (a key-per-line object) → `text`; anything else as is.
fn json_string_ish(value: &str) -> &str {
    let v = value.trim().trim_end_matches(',');
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

// ---------------------------------------------------------------------------------------------
// Numbers, scales, verdicts

/// The leading number of `s` and the scale it states: `85` → (85, None), `4/5` → (4, Some(5)),
/// `8 out of 10` → (8, Some(10)), `85%` → (85, Some(100)). Trailing text is ignored.
fn number_with_scale(s: &str) -> Option<(f64, Option<f64>)> {
    let s = s.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '_' | '`' | '"'));
    let (value, rest) = leading_number(s)?;
    let rest = rest.trim_start();
    let denominator = if let Some(after) = rest.strip_prefix(['/', '／']) {
        Some(leading_number(after.trim_start())?.0)
    } else if rest
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("out of"))
    {
        // `get` succeeded, so byte 6 is a char boundary.
        Some(leading_number(rest[6..].trim_start())?.0)
    } else if rest.starts_with('%') {
        Some(100.0)
    } else {
        None
    };
    Some((value, denominator))
}

/// A decimal number at the start of `s` (`-3`, `4.5`, `.5`) and the text after it. Digits only:
/// `NaN`, `inf` and exponents are not numbers here.
fn leading_number(s: &str) -> Option<(f64, &str)> {
    let bytes = s.as_bytes();
    let mut end = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let digits_start = end;
    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    let mut digits = end - digits_start;
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    // All ASCII up to `end`, so it is a char boundary.
    let value = s[..end].parse::<f64>().ok()?;
    Some((value, &s[end..]))
}

/// The last number in `s`: the maximum of a range such as `1-5`, `0–100` or `(1 to 5)`.
fn last_number(s: &str) -> Option<f64> {
    let head = &s[..s.rfind(|c: char| c.is_ascii_digit())? + 1];
    let start = head
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '.')
        .len();
    head[start..].trim_start_matches('.').parse().ok()
}

/// `value` on `scale` (None = 100) as a 0–100 score rounded to 2 decimals.
fn on_100(value: f64, scale: Option<f64>) -> Result<f64, ParseError> {
    if !value.is_finite() {
        return error("the score is not a finite number");
    }
    let (min, max, score) = match scale {
        None | Some(100.0) => (0.0, 100.0, value),
        Some(10.0) => (0.0, 10.0, value * 10.0),
        Some(5.0) => (1.0, 5.0, (value - 1.0) / 4.0 * 100.0),
        Some(s) => return error(format!("scale {s} is not 5, 10 or 100")),
    };
    if !(min..=max).contains(&value) {
        return error(format!("score {value} is outside {min}–{max}"));
    }
    Ok((score * 100.0).round() / 100.0)
}

/// A verdict word (see the module doc), from the first word of `s`.
fn verdict(s: &str) -> Result<bool, ParseError> {
    let s = s.trim_start_matches(|c: char| !c.is_alphanumeric());
    let word = s
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase();
    match word.as_str() {
        "pass" | "passed" | "passes" | "yes" | "true" | "是" => return Ok(true),
        "fail" | "failed" | "fails" | "no" | "false" | "否" => return Ok(false),
        _ => {}
    }
    // Chinese runs on without spaces (`不通過，因為…`): match prefixes, the negative ones first.
    for (prefix, passed) in [
        ("不通過", false),
        ("不通过", false),
        ("未通過", false),
        ("未通过", false),
        ("不合格", false),
        ("通過", true),
        ("通过", true),
        ("合格", true),
    ] {
        if s.starts_with(prefix) {
            return Ok(passed);
        }
    }
    error(format!("verdict {} is not pass or fail", quoted(s.trim())))
}

// ---------------------------------------------------------------------------------------------
// Text

/// Trimmed and cut to [`MAX_REASON_CHARS`] characters.
fn capped(reason: &str) -> String {
    let reason = reason.trim();
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => reason[..cut].trim_end().to_string(),
        None => reason.to_string(),
    }
}

/// `s` in quotes, cut to 40 characters, for an error message.
fn quoted(s: &str) -> String {
    let short: String = s.chars().take(40).collect();
    let more = if short.len() < s.len() { "…" } else { "" };
    format!("{short:?}{more}")
}

/// The start of a reply, on one line, for the "no score" error.
fn excerpt(reply: &str) -> String {
    let flat: String = reply.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = flat.chars().take(80).collect();
    let more = if short.len() < flat.len() { "…" } else { "" };
    format!("{short:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(reply: &str) -> (f64, Option<bool>, String) {
        match parse_judgement(reply) {
            Ok(j) => (j.score, j.passed, j.reason),
            Err(e) => panic!("{reply:?}: {e}"),
        }
    }

    fn err(reply: &str) -> String {
        match parse_judgement(reply) {
            Ok(j) => panic!("{reply:?} parsed as {j:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn strict_json() {
        for (reply, score, passed, reason) in [
            (
                r#"{"score": 85, "pass": true, "reason": "Same facts."}"#,
                85.0,
                Some(true),
                "Same facts.",
            ),
            (
                r#"{"score": 0, "pass": false, "reason": ""}"#,
                0.0,
                Some(false),
                "",
            ),
            (
                r#"{"score": 100, "pass": true, "reason": "  padded  "}"#,
                100.0,
                Some(true),
                "padded",
            ),
            (
                r#"{"score": 72.456, "pass": true, "reason": "r"}"#,
                72.46,
                Some(true),
                "r",
            ),
            (r#"{"score": 72.454}"#, 72.45, None, ""),
            (
                r#"  {"score": 50, "reason": null, "pass": null}  "#,
                50.0,
                None,
                "",
            ),
            (
                "{\"score\": 90,\n \"pass\": true,\n \"reason\": \"多行\\n理由\"}",
                90.0,
                Some(true),
                "多行\n理由",
            ),
            (
                r#"{"Score": 60, "PASS": false, "Reason": "caps"}"#,
                60.0,
                Some(false),
                "caps",
            ),
            (
                r#"{"reason": "key order", "pass": true, "score": 70}"#,
                70.0,
                Some(true),
                "key order",
            ),
            (r#"{"score": 1e2}"#, 100.0, None, ""),
        ] {
            assert_eq!(ok(reply), (score, passed, reason.to_string()), "{reply}");
        }
    }

    #[test]
    fn key_variants() {
        for (reply, score, passed, reason) in [
            (
                r#"{"rating": 80, "passed": true, "reasoning": "a"}"#,
                80.0,
                Some(true),
                "a",
            ),
            (
                r#"{"score": 80, "verdict": "PASS", "explanation": "b"}"#,
                80.0,
                Some(true),
                "b",
            ),
            (
                r#"{"score": 30, "verdict": "Fail", "rationale": "c"}"#,
                30.0,
                Some(false),
                "c",
            ),
            (
                r#"{"score": 30, "verdict": "failed", "justification": "d"}"#,
                30.0,
                Some(false),
                "d",
            ),
            (r#"{"score": 90, "pass": "yes"}"#, 90.0, Some(true), ""),
            (r#"{"score": 10, "pass": "NO"}"#, 10.0, Some(false), ""),
            (r#"{"score": 90, "pass": "true"}"#, 90.0, Some(true), ""),
            (r#"{"score": 10, "pass": "False"}"#, 10.0, Some(false), ""),
            (r#"{"score": 90, "pass": 1}"#, 90.0, Some(true), ""),
            (r#"{"score": 10, "pass": 0}"#, 10.0, Some(false), ""),
            (
                r#"{"score": 90, "verdict": "PASS - the facts agree"}"#,
                90.0,
                Some(true),
                "",
            ),
            (r#"{"score": 90, "verdict": "通過"}"#, 90.0, Some(true), ""),
            (
                r#"{"score": 20, "verdict": "不通過"}"#,
                20.0,
                Some(false),
                "",
            ),
            // The first verdict key in the order pass, passed, verdict wins.
            (
                r#"{"score": 20, "verdict": "pass", "pass": false}"#,
                20.0,
                Some(false),
                "",
            ),
            // A non-string reason is kept as its JSON text.
            (
                r#"{"score": 20, "reason": ["x", "y"]}"#,
                20.0,
                None,
                r#"["x","y"]"#,
            ),
        ] {
            assert_eq!(ok(reply), (score, passed, reason.to_string()), "{reply}");
        }
    }

    #[test]
    fn scales() {
        for (reply, score) in [
            // A bare score is 0–100.
            (r#"{"score": 4}"#, 4.0),
            (r#"{"score": "85"}"#, 85.0),
            (r#"{"score": " 85 "}"#, 85.0),
            (r#"{"score": "85/100"}"#, 85.0),
            (r#"{"score": "85%"}"#, 85.0),
            // 1–5: (s − 1) / 4 × 100.
            (r#"{"score": "4/5"}"#, 75.0),
            (r#"{"score": "4 / 5"}"#, 75.0),
            (r#"{"rating": "5/5"}"#, 100.0),
            (r#"{"score": "1/5"}"#, 0.0),
            (r#"{"score": "3.5/5"}"#, 62.5),
            (r#"{"score": 4, "scale": 5}"#, 75.0),
            (r#"{"score": 2, "max": 5}"#, 25.0),
            (r#"{"score": 3, "out_of": "5"}"#, 50.0),
            (r#"{"score": 3, "scale": "1-5"}"#, 50.0),
            (r#"{"score": 3, "max_score": 5.0}"#, 50.0),
            (r#"{"score": 3.3, "scale": 5}"#, 57.5),
            // 0–10: × 10.
            (r#"{"score": 7, "out_of": 10}"#, 70.0),
            (r#"{"score": "8/10"}"#, 80.0),
            (r#"{"score": "8 out of 10"}"#, 80.0),
            (r#"{"score": 0, "scale": 10}"#, 0.0),
            (r#"{"score": 85, "scale": 100}"#, 85.0),
            (r#"{"score": 85, "scale": "0-100"}"#, 85.0),
            // The denominator wins over a scale key.
            (r#"{"score": "4/5", "scale": 100}"#, 75.0),
            (r#"{"score": 50, "scale": null}"#, 50.0),
        ] {
            assert_eq!(ok(reply).0, score, "{reply}");
        }
    }

    #[test]
    fn fenced_and_embedded_json() {
        for (reply, score, passed, reason) in [
            (
                "```json\n{\"score\": 85, \"pass\": true, \"reason\": \"ok\"}\n```",
                85.0,
                Some(true),
                "ok",
            ),
            ("```\n{\"score\": 40, \"pass\": false}\n```", 40.0, Some(false), ""),
            ("```JSON\n{\n  \"score\": \"4/5\",\n  \"pass\": true\n}\n```\n", 75.0, Some(true), ""),
            (
                "Here is my judgement:\n{\"score\": 90, \"pass\": true, \"reason\": \"fine\"}\nHope this helps!",
                90.0,
                Some(true),
                "fine",
            ),
            // Braces inside strings do not end the object.
            (
                r#"Sure. {"score": 60, "pass": true, "reason": "uses {braces} and \"quotes\" }"} done"#,
                60.0,
                Some(true),
                r#"uses {braces} and "quotes" }"#,
            ),
            // An unbalanced or non-JSON brace before the object is skipped.
            (r#"Use {curly {"score": 70} to reply."#, 70.0, None, ""),
            (r#"{not json} then {"score": 65}"#, 65.0, None, ""),
            // An object without a score is passed over for the next one.
            (r#"{"note": "draft"} {"score": 55, "pass": false}"#, 55.0, Some(false), ""),
            // A nested judgement is found as an object of its own.
            (r#"{"judgement": {"score": 80, "pass": true}}"#, 80.0, Some(true), ""),
            ("<think>{{</think>\n{\"score\": 88}", 88.0, None, ""),
        ] {
            assert_eq!(ok(reply), (score, passed, reason.to_string()), "{reply}");
        }
    }

    #[test]
    fn labelled_text() {
        for (reply, score, passed, reason) in [
            (
                "Score: 4/5\nVerdict: PASS\nReason: Same facts.",
                75.0,
                Some(true),
                "Same facts.",
            ),
            ("Rating: 85/100", 85.0, None, ""),
            ("Score: 85", 85.0, None, ""),
            ("score:85\nverdict:fail", 85.0, Some(false), ""),
            (
                "**Score:** 4/5\n**Verdict:** FAIL\n**Reason:** Missing the unit.",
                75.0,
                Some(false),
                "Missing the unit.",
            ),
            ("**Score**: 2/5\n**Pass**: no", 25.0, Some(false), ""),
            ("## Score: 8/10\n- Verdict: ✅ Pass", 80.0, Some(true), ""),
            (
                "Final score (1-5): 4\nPass/fail: pass",
                75.0,
                Some(true),
                "",
            ),
            ("Overall score: 8 out of 10", 80.0, None, ""),
            ("Score: 90%\nPassed: yes", 90.0, Some(true), ""),
            ("Score: **3/5**", 50.0, None, ""),
            // A reason runs on to the next label.
            (
                "Score: 3/5\nReason:\nLine one.\nLine two.\n\nVerdict: fail",
                50.0,
                Some(false),
                "Line one.\nLine two.",
            ),
            // Without a reason label, the unlabelled lines are the reason.
            (
                "The answer agrees with the expected one.\nScore: 95\nVerdict: pass",
                95.0,
                Some(true),
                "The answer agrees with the expected one.",
            ),
            // The first score and verdict count.
            (
                "Score: 4/5\nVerdict: pass\nScore: 1/5\nVerdict: fail",
                75.0,
                Some(true),
                "",
            ),
            // One key per line, not valid JSON (trailing comma, cut off).
            (
                "{\n\"score\": 85,\n\"pass\": true,\n\"reason\": \"cut off\",\n",
                85.0,
                Some(true),
                "cut off",
            ),
            ("```\nScore: 4/5\nVerdict: pass\n```", 75.0, Some(true), ""),
        ] {
            assert_eq!(ok(reply), (score, passed, reason.to_string()), "{reply}");
        }
    }

    #[test]
    fn chinese_labels() {
        for (reply, score, passed, reason) in [
            (
                "分數：4/5\n結論：通過\n理由：答案與預期答案一致。",
                75.0,
                Some(true),
                "答案與預期答案一致。",
            ),
            (
                "評分: 2/5\n結論: 不通過\n理由: 缺少單位。",
                25.0,
                Some(false),
                "缺少單位。",
            ),
            (
                "评分：90\n结论：通过\n理由：正确。",
                90.0,
                Some(true),
                "正确。",
            ),
            (
                "得分：60\n判定：不通过，缺少关键事实",
                60.0,
                Some(false),
                "",
            ),
            ("**分數：** 5/5\n**結論：** 通過", 100.0, Some(true), ""),
            ("分數（1-5）：3\n結論：未通過", 50.0, Some(false), ""),
        ] {
            assert_eq!(ok(reply), (score, passed, reason.to_string()), "{reply}");
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        for (reply, message) in [
            ("", "the judge's reply is empty"),
            (" \n\t ", "the judge's reply is empty"),
            ("I cannot grade this answer.", "the judge's reply has no score: \"I cannot grade this answer.\""),
            ("PASS", "the judge's reply has no score: \"PASS\""),
            ("{not json}", "the judge's reply has no score: \"{not json}\""),
            (r#"{"pass": true, "reason": "no score"}"#, "the judge's reply has no score: \"{\\\"pass\\\": true, \\\"reason\\\": \\\"no score\\\"}\""),
            (r#"{"score": null}"#, "the judge's reply has no score: \"{\\\"score\\\": null}\""),
            ("```json\n{\"pass\": true}\n```", "the judge's reply has no score: \"```json {\\\"pass\\\": true} ```\""),
            (r#"{"score": 140}"#, "score 140 is outside 0–100"),
            (r#"{"score": -1}"#, "score -1 is outside 0–100"),
            (r#"{"score": 100.5}"#, "score 100.5 is outside 0–100"),
            (r#"{"score": 0, "scale": 5}"#, "score 0 is outside 1–5"),
            (r#"{"score": "0/5"}"#, "score 0 is outside 1–5"),
            (r#"{"score": "6/5"}"#, "score 6 is outside 1–5"),
            (r#"{"score": 11, "out_of": 10}"#, "score 11 is outside 0–10"),
            (r#"{"score": "7/8"}"#, "scale 8 is not 5, 10 or 100"),
            (r#"{"score": 3, "scale": 7}"#, "scale 7 is not 5, 10 or 100"),
            (r#"{"score": 3, "scale": "big"}"#, "scale \"big\" is not 5, 10 or 100"),
            (r#"{"score": 3, "scale": true}"#, "scale true is not 5, 10 or 100"),
            (r#"{"score": "NaN"}"#, "score \"NaN\" is not a number"),
            (r#"{"score": "inf"}"#, "score \"inf\" is not a number"),
            (r#"{"score": "high"}"#, "score \"high\" is not a number"),
            (r#"{"score": "4/"}"#, "score \"4/\" is not a number"),
            (r#"{"score": true}"#, "score true is not a number"),
            (r#"{"score": [80]}"#, "score [80] is not a number"),
            (r#"{"score": 80, "pass": "maybe"}"#, "verdict \"maybe\" is not pass or fail"),
            (r#"{"score": 80, "pass": 2}"#, "verdict 2 is not pass or fail"),
            ("Score: N/A", "score \"N/A\" is not a number"),
            ("Score: 4/5\nVerdict: partly", "verdict \"partly\" is not pass or fail"),
            ("Score: 0/5", "score 0 is outside 1–5"),
            ("Score: 250", "score 250 is outside 0–100"),
        ] {
            assert_eq!(err(reply), message, "{reply}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let long = "x".repeat(500);
        let braces = "{".repeat(10_000);
        for reply in [
            "}",
            "{{{{",
            "}}}}{",
            "\"",
            "{\"",
            "{\"score\":",
            "```",
            "```json\n```",
            "null",
            "[1, 2, 3]",
            "85",
            "4/5",
            "Score:",
            "：",
            "分數：",
            "🙂🙃",
            "\u{0}\u{1}",
            long.as_str(),
            braces.as_str(),
        ] {
            assert!(parse_judgement(reply).is_err(), "{reply:?}");
        }
        let e = err(&long);
        assert!(e.ends_with("\"…") && e.chars().count() < 130, "{e}");
    }

    #[test]
    fn reason_is_capped_on_a_char_boundary() {
        let long = "理".repeat(MAX_REASON_CHARS + 10);
        let reply = serde_json::json!({"score": 50, "reason": long}).to_string();
        let (_, _, reason) = ok(&reply);
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS);
        assert!(reason.chars().all(|c| c == '理'));
        let exact = "a".repeat(MAX_REASON_CHARS);
        let reply = format!("Score: 50\nReason: {exact}");
        assert_eq!(ok(&reply).2, exact);
    }

    #[test]
    fn explicit_verdict_wins_over_the_threshold() {
        let j = |score: f64, passed: Option<bool>| Judgement {
            score,
            passed,
            reason: String::new(),
        };
        assert!(passed_or(&j(10.0, Some(true)), 60.0));
        assert!(!passed_or(&j(95.0, Some(false)), 60.0));
        assert!(passed_or(&j(60.0, None), 60.0));
        assert!(!passed_or(&j(59.99, None), 60.0));
    }

    #[test]
    fn helpers() {
        assert_eq!(number_with_scale("4/5"), Some((4.0, Some(5.0))));
        assert_eq!(number_with_scale("4／5"), Some((4.0, Some(5.0))));
        assert_eq!(number_with_scale("85 (good)"), Some((85.0, None)));
        assert_eq!(number_with_scale(".5"), Some((0.5, None)));
        assert_eq!(number_with_scale("-"), None);
        assert_eq!(number_with_scale("1.2.3"), Some((1.2, None)));
        assert_eq!(last_number("(1-5)"), Some(5.0));
        assert_eq!(last_number("0–100"), Some(100.0));
        assert_eq!(last_number("1 to 10"), Some(10.0));
        assert_eq!(last_number("none"), None);
        assert_eq!(last_number("（1–5）"), Some(5.0));
        assert_eq!(number_with_scale("4 分數分數"), Some((4.0, None)));
        assert_eq!(number_with_scale("4 a分數"), Some((4.0, None)));
        assert_eq!(balanced_len(r#"{"a": "}"} tail"#), Some(10));
        assert_eq!(balanced_len("{{}"), None);
    }
}
