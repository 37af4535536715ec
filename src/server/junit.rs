//! JUnit XML for a batch: a test suite per version, a test case per (version, case), failures with
//! the score and what was missed, errors with Dify's code and message. Pure rendering, in pieces:
//! the headless `run --junit` writes a whole report at once ([`report`]), and the server streams
//! `GET /api/batches/{id}/results.junit.xml` suite by suite from the store (`export`).

use crate::model::{BatchReport, ResultStatus, TestResult, VersionId};
use std::collections::HashMap;

pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The document's head: the XML declaration and the opening `<testsuites>`.
pub fn open(batch_name: &str, tests: usize) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{tests}\">\n",
        xml_escape(batch_name)
    )
}

pub const CLOSE: &str = "</testsuites>\n";
pub const SUITE_CLOSE: &str = "  </testsuite>\n";

/// A version's counts, for its suite's attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SuiteCounts {
    pub tests: i64,
    pub failures: i64,
    pub errors: i64,
    /// Sum of the tests' latencies, in seconds.
    pub time_s: f64,
}

pub fn suite_open(version_name: &str, c: SuiteCounts) -> String {
    format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">\n",
        xml_escape(version_name),
        c.tests,
        c.failures,
        c.errors,
        c.time_s
    )
}

/// One `<testcase>`, with its `<failure>` or `<error>`.
///
/// In a batch with repeats (`repeats` > 1) each repetition is its own test case, named
/// `case name #2` (1-based), so CI tools count and show them apart.
pub fn testcase(r: &TestResult, version_name: &str, case_name: &str, repeats: u32) -> String {
    let secs = r.latency_ms.unwrap_or(0) as f64 / 1000.0;
    let name = if repeats > 1 {
        format!("{case_name} #{}", u64::from(r.repetition) + 1)
    } else {
        case_name.to_string()
    };
    let mut xml = format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{secs:.3}\"",
        xml_escape(version_name),
        xml_escape(&name)
    );
    match r.status {
        ResultStatus::Passed => xml.push_str("/>\n"),
        ResultStatus::Failed => {
            let mut why = format!("score {:.1}", r.score.unwrap_or(0.0));
            if !r.detail.keywords_missed.is_empty() {
                why.push_str(&format!(
                    "; missed keywords: {}",
                    r.detail.keywords_missed.join(", ")
                ));
            }
            for a in r.detail.assertions.iter().filter(|a| !a.passed) {
                if let Some(m) = &a.message {
                    why.push_str(&format!("; {m}"));
                }
            }
            xml.push_str(&format!(
                ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                xml_escape(&why)
            ));
        }
        ResultStatus::Error => xml.push_str(&format!(
            ">\n      <error type=\"{}\" message=\"{}\"/>\n    </testcase>\n",
            xml_escape(r.error_code.as_deref().unwrap_or("error")),
            xml_escape(r.error_message.as_deref().unwrap_or(""))
        )),
    }
    xml
}

/// A whole report at once.
pub fn report(results: &BatchReport) -> String {
    let cases: HashMap<_, _> = results.cases.iter().map(|c| (c.id, c)).collect();
    let mut per_version: HashMap<VersionId, Vec<&TestResult>> = HashMap::new();
    for r in &results.results {
        per_version.entry(r.version_id).or_default().push(r);
    }
    let mut xml = open(&results.batch.name, results.results.len());
    for v in &results.batch.versions {
        let mine = per_version
            .get(&v.version_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let count = |status| mine.iter().filter(|r| r.status == status).count() as i64;
        let time: i64 = mine.iter().filter_map(|r| r.latency_ms).sum();
        xml.push_str(&suite_open(
            &v.name,
            SuiteCounts {
                tests: mine.len() as i64,
                failures: count(ResultStatus::Failed),
                errors: count(ResultStatus::Error),
                time_s: time as f64 / 1000.0,
            },
        ));
        for r in mine {
            let name = cases
                .get(&r.case_id)
                .map(|c| c.name.as_str())
                .unwrap_or("unknown case");
            xml.push_str(&testcase(r, &v.name, name, results.batch.repeats));
        }
        xml.push_str(SUITE_CLOSE);
    }
    xml.push_str(CLOSE);
    xml
}
