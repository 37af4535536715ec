//! Every size and count limit dify-bench enforces, with its default, in one place — the README's
//! configuration table is this file. Each refusal names its limit and value ("row 7: `assertions`
//! has 51 items; the limit is 50 per case"), so a user knows what to change.
//!
//! Who enforces what:
//! - **A test case**: [`CaseDraft::normalized`](super::CaseDraft::normalized) checks the counts and
//!   lengths below, so `save_case`, imports (with the row number) and the headless `run` refuse
//!   alike. A regex's compiled size is checked where it is compiled, by the server's scorer (the
//!   regex crate is server-only).
//! - **A stored result**: the store truncates answers, error messages and Dify's ids beyond these
//!   sizes, with a visible marker, before writing them; scoring saw the whole answer.
//! - **A Dify response**: the client stops reading beyond [`MAX_RESPONSE_BYTES`] and records
//!   `response_too_large`.
//! - **Connections**: the `serve` listener and the progress route answer 503 with `Retry-After`
//!   beyond the connection limits, which are the defaults of `serve` flags (`--max-connections`,
//!   `--max-progress-streams`, `--max-watchers-per-batch`); every other limit is fixed here.
//!
//! Plain constants and pure checks: shared with the WASM client, no server crate.

// ---------------------------------------------------------------------------------------------
// A test case

/// Characters in a case's name, its category and each tag (a name travels in every progress
/// event while the case runs).
pub const MAX_LABEL_CHARS: usize = 200;
/// Tags per case.
pub const MAX_TAGS_PER_CASE: usize = 50;
/// Characters in a case's query (a question, perhaps with a pasted document).
pub const MAX_QUERY_CHARS: usize = 20_000;
/// Characters in a case's expected answer (tokenised for similarity on every answer).
pub const MAX_EXPECTED_ANSWER_CHARS: usize = 50_000;
/// Keywords per case (each is searched for in every answer).
pub const MAX_KEYWORDS_PER_CASE: usize = 100;
/// Characters in one keyword.
pub const MAX_KEYWORD_CHARS: usize = 500;
/// Turns of a conversation case, its first included (each is a call to Dify, in sequence).
pub const MAX_TURNS_PER_CASE: usize = 20;
/// Assertions per case.
pub const MAX_ASSERTIONS_PER_CASE: usize = 50;
/// Characters in a `regex` assertion's pattern.
pub const MAX_REGEX_CHARS: usize = 1_000;
/// Characters in a `contains` / `not_contains` assertion's value.
pub const MAX_ASSERTION_VALUE_CHARS: usize = 1_000;
/// Bytes a compiled regex may take (the regex crate's `size_limit`); a pattern like `\w{5000}`
/// is short but compiles to megabytes, and is refused.
pub const MAX_REGEX_COMPILED_BYTES: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// A stored result

/// Bytes of an answer that are stored; the rest is cut and marked `…[truncated: 3.2 MiB → 256 KiB]`.
pub const MAX_STORED_ANSWER_BYTES: usize = 256 << 10;
/// Bytes of a stored error message.
pub const MAX_STORED_ERROR_BYTES: usize = 16 << 10;
/// Bytes of each short text Dify sends back beside the answer (error code, task, message,
/// conversation and workflow-run ids, currency).
pub const MAX_STORED_ID_BYTES: usize = 256;

// ---------------------------------------------------------------------------------------------
// A Dify response

/// Bytes of one Dify response read at most: a blocking body, or a whole stream (TTS audio
/// included). Beyond it the call fails as `response_too_large`, not retried.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// The diff of two answers (the compare page, `model::diff`)

/// Steps the word-level diff of two answers may take in Myers' search (steps, not time, so a diff
/// is the same every time). Past it the answers are diffed by lines. Answers that differ in a few
/// places stay word level at any stored length; two unrelated answers of 2,000–3,000 words (or
/// Chinese characters) each reach it, in about 30 ms (release build). A diff of two
/// unrelated 256 KiB answers, both budgets spent, takes 40–65 ms; it runs on the blocking pool.
pub const DIFF_WORD_BUDGET: u64 = 10_000_000;
/// Steps the line-level diff may take; past it the answers are shown as replaced between their
/// common start and end.
pub const DIFF_LINE_BUDGET: u64 = 2_000_000;

// ---------------------------------------------------------------------------------------------
// Connections to one server (`serve` flags)

/// Open HTTP connections (`--max-connections`); beyond it a new connection is answered 503.
/// Also lowered at start to three quarters of the process's open-file limit.
pub const MAX_CONNECTIONS: usize = 12_000;
/// Open progress streams, all batches together (`--max-progress-streams`).
pub const MAX_PROGRESS_STREAMS: usize = 10_000;
/// Open progress streams of one batch (`--max-watchers-per-batch`).
pub const MAX_WATCHERS_PER_BATCH: usize = 2_000;
/// `Retry-After` (seconds) of every 503 a connection limit answers.
pub const RETRY_AFTER_SECS: u64 = 5;

// Progress streams are connections: the connection limit leaves room for everything else.
const _: () = assert!(MAX_WATCHERS_PER_BATCH <= MAX_PROGRESS_STREAMS);
const _: () = assert!(MAX_PROGRESS_STREAMS < MAX_CONNECTIONS);
const _: () = assert!(MAX_STORED_ANSWER_BYTES < MAX_RESPONSE_BYTES);

// ---------------------------------------------------------------------------------------------
// Checks

/// `Err("{what} is 20,001 characters; the limit is 20,000")` when `text` is longer than `max`.
pub fn check_chars(what: &str, text: &str, max: usize) -> Result<(), String> {
    // Bytes bound characters from above: most texts are decided without counting.
    if text.len() <= max {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars <= max {
        return Ok(());
    }
    Err(format!(
        "{what} is {} characters; the limit is {}",
        thousands(chars),
        thousands(max)
    ))
}

/// `Err("{what} has 51 items; the limit is 50 per case")` when there are more than `max`.
pub fn check_count(what: &str, items: usize, max: usize) -> Result<(), String> {
    if items <= max {
        return Ok(());
    }
    Err(format!(
        "{what} has {} items; the limit is {} per case",
        thousands(items),
        thousands(max)
    ))
}

/// `12345` → `12,345`: limits are read by people.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `262144` → `256 KiB`, `67108864` → `64 MiB`, `1536` → `1.5 KiB`: sizes as people read them.
pub fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_lengths_name_the_limit() {
        assert_eq!(check_chars("query", "abc", 3), Ok(()));
        // Three characters in nine bytes: within a limit of 3 characters.
        assert_eq!(check_chars("query", "參數表", 3), Ok(()));
        assert_eq!(
            check_chars("column `query`", &"a".repeat(20_001), 20_000).unwrap_err(),
            "column `query` is 20,001 characters; the limit is 20,000"
        );
        assert_eq!(check_count("`assertions`", 50, 50), Ok(()));
        assert_eq!(
            check_count("`assertions`", 51, 50).unwrap_err(),
            "`assertions` has 51 items; the limit is 50 per case"
        );
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(MAX_STORED_ANSWER_BYTES), "256 KiB");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(300 << 10), "300 KiB");
        assert_eq!(human_bytes(3 << 30), "3 GiB");
    }
}
