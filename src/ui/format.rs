//! Pure formatting of numbers, times and CSV: the same output on the server and in the browser,
//! so server-rendered HTML hydrates without mismatches.

use crate::model::compare::Percentiles;

/// `82.5` or `—`.
pub fn score(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

/// `90.0%` or `—`.
pub fn percent(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "—".into())
}

/// `1234 ms` or `—`.
pub fn millis(x: Option<i64>) -> String {
    x.map(|v| format!("{v} ms")).unwrap_or_else(|| "—".into())
}

/// `820 / 1540 ms` (p50 / p95, rounded to the millisecond) or `—`.
pub fn percentiles_ms(p: Option<Percentiles>) -> String {
    p.map_or_else(
        || "—".to_string(),
        |p| format!("{:.0} / {:.0} ms", p.p50, p.p95),
    )
}

/// A summed price: 4 decimals, or 6 below 0.01 so that a cheap run does not read `0.0000`.
pub fn cost(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.6}")
    } else {
        format!("{x:.4}")
    }
}

/// `0.0123 USD`, or the amount alone when no currency was reported.
pub fn money(amount: f64, currency: Option<&str>) -> String {
    match currency {
        Some(c) => format!("{} {c}", cost(amount)),
        None => cost(amount),
    }
}

/// `1,234,567`: digits grouped by three (as both English and Taiwanese usage write them).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD HH:mm UTC` from Unix milliseconds.
pub fn utc_datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Splits `a; b, c` into trimmed, non-empty items.
pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// One CSV field, quoted when it must be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_datetime_matches_known_instants() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_datetime(1_763_973_000_000), "2025-11-24 08:30 UTC");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn money_and_counts_read_plainly() {
        assert_eq!(cost(0.0), "0.0000");
        assert_eq!(cost(1.23456), "1.2346");
        assert_eq!(cost(0.0123), "0.0123");
        assert_eq!(cost(0.000294), "0.000294");
        assert_eq!(money(0.5, Some("USD")), "0.5000 USD");
        assert_eq!(money(0.5, None), "0.5000");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-12_345), "-12,345");
        assert_eq!(count(i64::MIN), "-9,223,372,036,854,775,808");
        let p = Percentiles {
            count: 3,
            p50: 819.5,
            p95: 1540.2,
        };
        assert_eq!(percentiles_ms(Some(p)), "820 / 1540 ms");
        assert_eq!(percentiles_ms(None), "—");
    }

    #[test]
    fn lists_split_on_commas_and_semicolons() {
        assert_eq!(split_list(" a; b ,,c "), vec!["a", "b", "c"]);
    }
}
