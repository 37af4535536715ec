//! Parsing test cases from CSV or JSON, all-or-nothing: the whole file is checked first and any
//! bad row is reported by number ("row 7: column `query` is empty"); nothing is stored unless
//! every row is good. Also the reverse: exporting cases to CSV or JSON in the same shape.
//!
//! CSV: a header row, then one case per row. Columns (case-insensitive, any order; only `query`
//! is required): `name`, `query` (or `question`), `expected_answer` (or `expected`, `answer`),
//! `keywords` (separated by `;`, `|`, `；` or `、`), `category`, `tags` (same separators),
//! `pass_threshold`, `enabled` (true/false/1/0/yes/no), `turn`. A conversation case is several
//! rows: its first (turn blank or 1) as any case, then one row per later turn (turn 2, 3, …, with
//! its query, expected answer and keywords; the name, when given, is the case's). JSON: an array
//! of case objects (the fields of [`CaseDraft`], `turns` included), or `{"cases": [...]}`.
//!
//! A CSV export neutralises cells a spreadsheet would run as a formula (`'=…`), and a CSV import
//! undoes exactly that ([`crate::server::csv_safe`]), so a round trip gives the same text. Every
//! case, whichever way it arrives, is held to the limits of [`crate::model::limits`].

use crate::model::{CaseDraft, TestCase, Turn};
use crate::server::csv_safe::{neutralize, restore};
use crate::server::scoring::validate_assertions;

/// Refuse imports beyond these: a test set larger than this belongs in several files.
pub const MAX_IMPORT_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_IMPORT_ROWS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "format must be `csv`, `json` or `run_batch`, got `{other}`"
            )),
        }
    }

    /// From a file name's extension (for the CLI's `cases = "…"`).
    pub fn from_path(path: &str) -> Result<Format, String> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Ok(Format::Csv)
        } else if lower.ends_with(".json") {
            Ok(Format::Json)
        } else {
            Err(format!("`{path}`: cases file must end in .csv or .json"))
        }
    }
}

/// Parses and validates every row; the first error (with its row number) refuses the whole file.
pub fn parse_cases(format: Format, content: &str) -> Result<Vec<CaseDraft>, String> {
    if content.len() > MAX_IMPORT_BYTES {
        return Err(format!(
            "the file is {} bytes; the limit is {MAX_IMPORT_BYTES}",
            content.len()
        ));
    }
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let drafts = match format {
        Format::Csv => parse_csv(content)?,
        Format::Json => parse_json(content)?,
    };
    if drafts.is_empty() {
        return Err("the file has no test cases".into());
    }
    if drafts.len() > MAX_IMPORT_ROWS {
        return Err(format!(
            "the file has {} cases; the limit is {MAX_IMPORT_ROWS}",
            drafts.len()
        ));
    }
    drafts
        .into_iter()
        .map(|(label, draft)| check(draft).map_err(|e| format!("{label}: {e}")))
        .collect()
}

/// The checks every case gets, whichever way it arrives.
pub fn check(draft: CaseDraft) -> Result<CaseDraft, String> {
    let draft = draft.normalized()?;
    validate_assertions(&draft.assertions)?;
    for (i, turn) in draft.turns.iter().enumerate() {
        validate_assertions(&turn.assertions).map_err(|e| format!("turn {}: {e}", i + 2))?;
    }
    Ok(draft)
}

fn split_list(cell: &str) -> Vec<String> {
    cell.split([';', '|', '；', '、'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Clone, Copy)]
enum Column {
    Name,
    Query,
    Expected,
    Keywords,
    Category,
    Tags,
    Threshold,
    Enabled,
    Turn,
}

fn column(header: &str) -> Option<Column> {
    let h = header.trim().to_lowercase().replace([' ', '-'], "_");
    Some(match h.as_str() {
        "name" | "title" => Column::Name,
        "query" | "question" => Column::Query,
        "expected_answer" | "expected" | "answer" | "reference" => Column::Expected,
        "keywords" | "keyword" => Column::Keywords,
        "category" => Column::Category,
        "tags" | "tag" => Column::Tags,
        "pass_threshold" | "threshold" => Column::Threshold,
        "enabled" => Column::Enabled,
        "turn" => Column::Turn,
        _ => return None,
    })
}

fn parse_bool(cell: &str) -> Option<bool> {
    match cell.trim().to_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Some(true),
        "false" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

fn parse_csv(content: &str) -> Result<Vec<(String, CaseDraft)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::None)
        .from_reader(content.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("row 1: the header cannot be read: {e}"))?
        .clone();
    let mut columns = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        match column(h) {
            Some(c) => columns.push(c),
            None => {
                return Err(format!(
                    "row 1: unknown column `{h}` (column {}); expected name, query, \
                     expected_answer, keywords, category, tags, pass_threshold, enabled, turn",
                    i + 1
                ))
            }
        }
    }
    if !columns.iter().any(|c| matches!(c, Column::Query)) {
        return Err("row 1: the header has no `query` column".into());
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Row numbers are the file's line numbers (blank lines are skipped, quoted cells may span
        // lines), so a user can go straight to the line.
        let fallback = i + 2;
        let record = record.map_err(|e| {
            let row = e.position().map(|p| p.line() as usize).unwrap_or(fallback);
            format!("row {row}: {}", csv_error(&e))
        })?;
        let row = record
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(fallback);
        let mut draft = CaseDraft::default();
        let mut turn = 1;
        for (raw, col) in record.iter().zip(&columns) {
            // Our own export put a `'` before cells a spreadsheet would run; take it off.
            let cell = restore(raw);
            match col {
                Column::Name => draft.name = cell.to_string(),
                Column::Query => draft.query = cell.to_string(),
                Column::Expected => draft.expected_answer = cell.to_string(),
                Column::Keywords => draft.keywords = split_list(cell),
                Column::Category => draft.category = cell.to_string(),
                Column::Tags => draft.tags = split_list(cell),
                Column::Threshold => {
                    let t = cell.trim();
                    if !t.is_empty() {
                        draft.pass_threshold = Some(t.parse::<f64>().map_err(|_| {
                            format!("row {row}: column `pass_threshold` is not a number: `{t}`")
                        })?);
                    }
                }
                Column::Enabled => {
                    if !cell.trim().is_empty() {
                        draft.enabled = Some(parse_bool(cell).ok_or_else(|| {
                            format!(
                                "row {row}: column `enabled` must be true or false, got `{cell}`"
                            )
                        })?);
                    }
                }
                Column::Turn => {
                    let t = cell.trim();
                    if !t.is_empty() {
                        turn = t.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                            format!("row {row}: column `turn` must be 1, 2, 3, …; got `{t}`")
                        })?;
                    }
                }
            }
        }
        if turn > 1 {
            add_turn(&mut out, row, turn, draft)?;
            continue;
        }
        out.push((format!("row {row}"), draft));
    }
    Ok(out)
}

/// A CSV row with `turn` 2 or more: the next turn of the case on the rows just above it (its
/// `name`, when given, must be that case's). It carries only a query, an expected answer and
/// keywords; the case's other columns belong on its first row.
fn add_turn(
    out: &mut [(String, CaseDraft)],
    row: usize,
    turn: usize,
    draft: CaseDraft,
) -> Result<(), String> {
    let Some((_, case)) = out.last_mut() else {
        return Err(format!(
            "row {row}: turn {turn} has no case above it; a case's turns follow its first row"
        ));
    };
    let expected = case.turns.len() + 2;
    if turn != expected {
        return Err(format!(
            "row {row}: turn {turn} follows turn {} of case `{}`; its turns are numbered 2, 3, … \
             in order",
            expected - 1,
            case.name
        ));
    }
    let name = draft.name.trim();
    if !name.is_empty() && !case.name.trim().is_empty() && name != case.name.trim() {
        return Err(format!(
            "row {row}: turn {turn} names case `{name}`, but the case above it is `{}`",
            case.name
        ));
    }
    let extra = [
        ("category", !draft.category.is_empty()),
        ("tags", !draft.tags.is_empty()),
        ("pass_threshold", draft.pass_threshold.is_some()),
        ("enabled", draft.enabled.is_some()),
    ];
    if let Some((column, _)) = extra.iter().find(|(_, set)| *set) {
        return Err(format!(
            "row {row}: turn {turn} sets column `{column}`; a turn has only query, \
             expected_answer and keywords (the rest belongs on the case's first row)"
        ));
    }
    case.turns.push(Turn {
        query: draft.query,
        expected_answer: draft.expected_answer,
        keywords: draft.keywords,
        ..Turn::default()
    });
    Ok(())
}

pub(crate) fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} columns, the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8 (save the file as UTF-8)".into(),
        _ => e.to_string(),
    }
}

fn parse_json(content: &str) -> Result<Vec<(String, CaseDraft)>, String> {
    // A good file is read straight into drafts, without building a tree of `Value`s first and
    // converting each item from it (about half the time). A file that does not read that way
    // is read again item by item, which names the bad item.
    if let Some(drafts) = parse_json_direct(content) {
        return Ok(drafts
            .into_iter()
            .enumerate()
            .map(|(i, d)| (format!("item {}", i + 1), d))
            .collect());
    }
    parse_json_items(content)
}

/// The two shapes of [`parse_json`] read in one pass; None on any error.
fn parse_json_direct(content: &str) -> Option<Vec<CaseDraft>> {
    #[derive(serde::Deserialize)]
    struct Wrapped {
        cases: Vec<CaseDraft>,
    }
    match content.trim_start().as_bytes().first()? {
        b'[' => serde_json::from_str(content).ok(),
        b'{' => serde_json::from_str::<Wrapped>(content)
            .ok()
            .map(|w| w.cases),
        _ => None,
    }
}

fn parse_json_items(content: &str) -> Result<Vec<(String, CaseDraft)>, String> {
    let value: serde_json::Value = serde_json::from_str(content).map_err(|e| {
        format!(
            "the file is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        )
    })?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut map) => match map.remove("cases") {
            Some(serde_json::Value::Array(items)) => items,
            _ => {
                return Err("expected an array of cases, or an object with a `cases` array".into())
            }
        },
        _ => return Err("expected an array of cases, or an object with a `cases` array".into()),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let label = format!("item {}", i + 1);
            serde_json::from_value::<CaseDraft>(item)
                .map(|d| (label.clone(), d))
                .map_err(|e| format!("{label}: {e}"))
        })
        .collect()
}

/// Cases as CSV, with the columns the importer reads (assertions and inputs are JSON-only); a
/// conversation's later turns follow it, one row each with its `turn` number.
/// Text cells a spreadsheet would run as a formula get a `'` in front, which the importer takes
/// off again ([`crate::server::csv_safe`]).
pub fn export_csv(cases: &[TestCase]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "name",
        "query",
        "expected_answer",
        "keywords",
        "category",
        "tags",
        "pass_threshold",
        "enabled",
        "turn",
    ]);
    for c in cases {
        let threshold = c.pass_threshold.map(|t| t.to_string()).unwrap_or_default();
        let _ = w.write_record([
            neutralize(&c.name).as_ref(),
            neutralize(&c.query).as_ref(),
            neutralize(&c.expected_answer).as_ref(),
            neutralize(&c.keywords.join(";")).as_ref(),
            neutralize(&c.category).as_ref(),
            neutralize(&c.tags.join(";")).as_ref(),
            threshold.as_str(),
            if c.enabled { "true" } else { "false" },
            "1",
        ]);
        // A conversation's later turns: one row each, right after the case, named as it is.
        for (i, t) in c.turns.iter().enumerate() {
            let n = (i + 2).to_string();
            let _ = w.write_record([
                neutralize(&c.name).as_ref(),
                neutralize(&t.query).as_ref(),
                neutralize(&t.expected_answer).as_ref(),
                neutralize(&t.keywords.join(";")).as_ref(),
                "",
                "",
                "",
                "",
                n.as_str(),
            ]);
        }
    }
    w.into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Cases as JSON drafts: the importer reads this back unchanged.
pub fn export_json(cases: &[TestCase]) -> String {
    let drafts: Vec<CaseDraft> = cases
        .iter()
        .map(|c| CaseDraft {
            name: c.name.clone(),
            query: c.query.clone(),
            expected_answer: c.expected_answer.clone(),
            keywords: c.keywords.clone(),
            category: c.category.clone(),
            tags: c.tags.clone(),
            pass_threshold: c.pass_threshold,
            assertions: c.assertions.clone(),
            inputs: Some(c.inputs.clone()),
            enabled: Some(c.enabled),
            rubric: c.rubric.clone(),
            turns: c.turns.clone(),
        })
        .collect();
    serde_json::to_string_pretty(&drafts).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_chinese_and_aliases_parses() {
        let csv = "\u{feff}Question,Expected,Keywords,category,enabled\n\
                   MIPI D-PHY 基本參數查詢,每通道最高 2.5 Gbps,2.5 Gbps；lane,interfaces,yes\n\
                   \"What is SPI, briefly?\",A serial bus,serial|bus,,0\n";
        let cases = parse_cases(Format::Csv, csv).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].query, "MIPI D-PHY 基本參數查詢");
        assert_eq!(cases[0].name, "MIPI D-PHY 基本參數查詢");
        assert_eq!(cases[0].keywords, vec!["2.5 Gbps", "lane"]);
        assert_eq!(cases[0].enabled, Some(true));
        assert_eq!(cases[1].query, "What is SPI, briefly?");
        assert_eq!(cases[1].enabled, Some(false));
    }

    #[test]
    fn a_bad_row_is_named_and_nothing_is_returned() {
        let csv = "query,expected_answer\nq1,a\n\nq2,b\n  ,c\nq4,d\n";
        assert_eq!(
            parse_cases(Format::Csv, csv).unwrap_err(),
            "row 5: column `query` is empty",
            "the blank line 3 counts"
        );
        let ragged = "query,expected_answer\nq1,a\nq2,b,extra\n";
        assert_eq!(
            parse_cases(Format::Csv, ragged).unwrap_err(),
            "row 3: has 3 columns, the header has 2"
        );
        let threshold = "query,pass_threshold\nq1,abc\n";
        assert!(parse_cases(Format::Csv, threshold)
            .unwrap_err()
            .starts_with("row 2: column `pass_threshold`"));
        assert!(parse_cases(Format::Csv, "prompt\nx\n")
            .unwrap_err()
            .contains("unknown column `prompt`"));
        assert_eq!(
            parse_cases(Format::Csv, "query\n").unwrap_err(),
            "the file has no test cases"
        );
    }

    #[test]
    fn json_items_are_numbered_and_assertions_checked() {
        let json = r#"{"cases": [
            {"query": "q1", "keywords": ["a"]},
            {"query": "q2", "assertions": [{"type": "regex", "pattern": "("}]}
        ]}"#;
        let err = parse_cases(Format::Json, json).unwrap_err();
        assert!(err.starts_with("item 2: "), "{err}");
        assert!(parse_cases(Format::Json, "[{\"query\": 5}]")
            .unwrap_err()
            .starts_with("item 1: "));
        assert!(parse_cases(Format::Json, "{oops")
            .unwrap_err()
            .contains("not valid JSON"));
    }

    #[test]
    fn json_reads_the_same_in_one_pass_as_item_by_item() {
        let json = r#"[{"name": "n", "query": "q", "keywords": ["k"], "pass_threshold": 70,
            "assertions": [{"type": "max_latency_ms", "ms": 500}], "inputs": {"lang": "zh"},
            "unknown": 1},
            {"query": "q2", "enabled": false, "rubric": "r"}]"#;
        let items: Vec<CaseDraft> = parse_json_items(json)
            .unwrap()
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        assert_eq!(items.len(), 2);
        assert_eq!(parse_json_direct(json).expect("one pass"), items);
        let wrapped = format!(r#"{{"format": 1, "cases": {json}}}"#);
        assert_eq!(parse_json_direct(&wrapped).expect("one pass"), items);
        assert_eq!(
            parse_json(&wrapped)
                .unwrap()
                .into_iter()
                .map(|(label, _)| label)
                .collect::<Vec<_>>(),
            ["item 1", "item 2"]
        );
        // What does not read in one pass is read item by item, which names the bad item.
        assert!(parse_json_direct(r#"[{"query": "a"}, {"query": 5}]"#).is_none());
        assert!(parse_json(r#"[{"query": "a"}, {"query": 5}]"#)
            .unwrap_err()
            .starts_with("item 2: "));
    }

    #[test]
    fn exports_read_back_as_the_same_cases() {
        let json = r#"[{"name": "n", "query": "q", "expected_answer": "e",
            "keywords": ["k1", "k2"], "category": "c", "tags": ["t"], "pass_threshold": 70,
            "assertions": [{"type": "max_latency_ms", "ms": 500}]}]"#;
        let drafts = parse_cases(Format::Json, json).unwrap();
        let case = TestCase {
            id: crate::model::CaseId(1),
            name: drafts[0].name.clone(),
            query: drafts[0].query.clone(),
            expected_answer: drafts[0].expected_answer.clone(),
            keywords: drafts[0].keywords.clone(),
            category: drafts[0].category.clone(),
            tags: drafts[0].tags.clone(),
            pass_threshold: drafts[0].pass_threshold,
            assertions: drafts[0].assertions.clone(),
            inputs: serde_json::json!({}),
            enabled: true,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            rubric: None,
            revision: 1,
            turns: Default::default(),
        };
        let again = parse_cases(Format::Json, &export_json(std::slice::from_ref(&case))).unwrap();
        assert_eq!(again[0].assertions, case.assertions);
        let csv = parse_cases(Format::Csv, &export_csv(&[case])).unwrap();
        assert_eq!(csv[0].keywords, vec!["k1", "k2"]);
        assert_eq!(csv[0].pass_threshold, Some(70.0));
    }

    #[test]
    fn csv_export_neutralizes_formulas_and_reads_back_the_same_text() {
        let case = TestCase {
            id: crate::model::CaseId(1),
            name: "=cmd|' /C calc'!A0".into(),
            query: "-1+1 is what?".into(),
            expected_answer: "@SUM(1+1)".into(),
            keywords: vec!["+k".into(), "=k2".into()],
            category: "'=already quoted".into(),
            tags: vec!["'plain".into()],
            pass_threshold: None,
            assertions: Vec::new(),
            inputs: serde_json::json!({}),
            enabled: true,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            rubric: None,
            revision: 1,
            turns: Default::default(),
        };
        let text = export_csv(std::slice::from_ref(&case));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "'=cmd|' /C calc'!A0");
        assert_eq!(&row[1], "'-1+1 is what?");
        assert_eq!(&row[2], "'@SUM(1+1)");
        assert_eq!(&row[3], "'+k;=k2");
        assert_eq!(&row[4], "''=already quoted");
        assert_eq!(&row[5], "'plain");
        let back = parse_cases(Format::Csv, &text).unwrap();
        assert_eq!(back[0].name, case.name);
        assert_eq!(back[0].query, case.query);
        assert_eq!(back[0].expected_answer, case.expected_answer);
        assert_eq!(back[0].keywords, case.keywords);
        assert_eq!(back[0].category, case.category);
        assert_eq!(back[0].tags, case.tags);
    }

    #[test]
    fn limits_are_refused_with_the_row_number() {
        let many = (0..101)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(";");
        let csv = format!("query,keywords\nq1,a\nq2,{many}\n");
        assert_eq!(
            parse_cases(Format::Csv, &csv).unwrap_err(),
            "row 3: column `keywords` has 101 items; the limit is 100 per case"
        );
        let json = serde_json::json!([
            {"query": "q1"},
            {"query": "q2", "assertions": [{"type": "regex", "pattern": "a".repeat(1001)}]},
        ]);
        assert_eq!(
            parse_cases(Format::Json, &json.to_string()).unwrap_err(),
            "item 2: assertion 1: the regex is 1,001 characters; the limit is 1,000"
        );
    }

    #[test]
    fn csv_turn_rows_become_the_cases_turns_and_export_reads_back() {
        let csv = "name,query,expected_answer,keywords,turn\n\
                   conv,Remember: falcon,Noted,falcon,1\n\
                   conv,Remember: Tuesday,Noted,Tuesday,2\n\
                   ,Recall,falcon and Tuesday,falcon;Tuesday,3\n\
                   plain,What is RAG?,,,\n";
        let cases = parse_cases(Format::Csv, csv).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].query, "Remember: falcon");
        assert_eq!(cases[0].turns.len(), 2);
        assert_eq!(cases[0].turns[1].query, "Recall");
        assert_eq!(cases[0].turns[1].keywords, vec!["falcon", "Tuesday"]);
        assert!(cases[1].turns.is_empty());

        let stored: Vec<TestCase> = cases
            .iter()
            .enumerate()
            .map(|(i, d)| TestCase {
                id: crate::model::CaseId(i as i64 + 1),
                name: d.name.clone(),
                query: d.query.clone(),
                expected_answer: d.expected_answer.clone(),
                keywords: d.keywords.clone(),
                category: d.category.clone(),
                tags: d.tags.clone(),
                pass_threshold: d.pass_threshold,
                assertions: d.assertions.clone(),
                inputs: serde_json::json!({}),
                enabled: true,
                created_at: 0,
                updated_at: 0,
                created_by: None,
                updated_by: None,
                rubric: None,
                revision: 1,
                turns: d.turns.clone(),
            })
            .collect();
        let text = export_csv(&stored);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("name,query,expected_answer,keywords,category,tags,pass_threshold,enabled,turn")
        );
        assert_eq!(
            lines.nth(2),
            Some("conv,Recall,falcon and Tuesday,falcon;Tuesday,,,,,3")
        );
        let back = parse_cases(Format::Csv, &text).unwrap();
        assert_eq!(back[0].turns, cases[0].turns);
        assert_eq!(back[1].turns, cases[1].turns);
        let json = parse_cases(Format::Json, &export_json(&stored)).unwrap();
        assert_eq!(json[0].turns, cases[0].turns);
    }

    #[test]
    fn bad_turn_rows_are_refused_by_row() {
        let refused = |rows: &str| {
            parse_cases(Format::Csv, &format!("name,query,turn,category\n{rows}")).unwrap_err()
        };
        assert_eq!(
            refused("a,q2,2,\n"),
            "row 2: turn 2 has no case above it; a case's turns follow its first row"
        );
        assert_eq!(
            refused("a,q1,1,\na,q3,3,\n"),
            "row 3: turn 3 follows turn 1 of case `a`; its turns are numbered 2, 3, … in order"
        );
        assert_eq!(
            refused("a,q1,,\nb,q2,2,\n"),
            "row 3: turn 2 names case `b`, but the case above it is `a`"
        );
        assert_eq!(
            refused("a,q1,,\na,q2,2,x\n"),
            "row 3: turn 2 sets column `category`; a turn has only query, expected_answer and \
             keywords (the rest belongs on the case's first row)"
        );
        assert_eq!(
            refused("a,q1,two,\n"),
            "row 2: column `turn` must be 1, 2, 3, …; got `two`"
        );
        assert_eq!(
            refused("a,q1,,\na, ,2,\n"),
            "row 2: turn 2: `query` is empty"
        );
    }
}
