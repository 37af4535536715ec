//! A comparison's verdict in plain words, in English or Traditional Chinese, from its
//! [`Summary`] alone. The server writes the English one into `Summary::sentence` (the CLI, the
//! markdown summary, the API); the compare page renders it again in the reader's language. Both
//! come from this one function, so the two languages say the same thing with the same numbers.
//!
//! Never a bare delta: a difference always comes with its interval and p-value; "no detectable
//! difference" always says what it would take to detect one.

use super::compare::{DecidedBy, Summary, Verdict};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    TraditionalChinese,
}

use Language::{English as En, TraditionalChinese as Zh};

/// The verdict of `summary` as one or two sentences in `lang`.
pub fn sentence(summary: &Summary, lang: Language) -> String {
    let level = format!("{} %", number((1.0 - summary.alpha) * 100.0));
    let pass = summary.pass_rate.map(|p| match lang {
        En => format!(
            "pass rate {} points ({level} CI {} to {}), {}",
            signed(p.delta),
            plain(p.ci.lo),
            plain(p.ci.hi),
            p_value(p.p_value)
        ),
        Zh => format!(
            "通過率 {} 個百分點（{level} 信賴區間 {} 至 {}），{}",
            signed(p.delta),
            plain(p.ci.lo),
            plain(p.ci.hi),
            p_value(p.p_value)
        ),
    });
    let score = summary.score.map(|s| match lang {
        En => format!(
            "mean score {} ({level} CI {} to {})",
            signed(s.delta),
            plain(s.ci.lo),
            plain(s.ci.hi)
        ),
        Zh => format!(
            "平均分數 {}（{level} 信賴區間 {} 至 {}）",
            signed(s.delta),
            plain(s.ci.lo),
            plain(s.ci.hi)
        ),
    });
    let (Some(pass), true) = (pass, summary.verdict != Verdict::NotEnoughData) else {
        return not_enough_data(summary, lang);
    };

    let mut out = String::new();
    match summary.verdict {
        Verdict::Worse | Verdict::Better => {
            let worse = summary.verdict == Verdict::Worse;
            let k = &summary.classes;
            // The direction of the verdict first, and always its counterweight: a regression
            // count alone hides that nearly as many cases may have improved.
            let (lead, other) = if worse {
                (k.regressed, k.improved)
            } else {
                (k.improved, k.regressed)
            };
            let mut cases = match (lang, worse) {
                (En, true) => format!(
                    "{} regressed, {} improved",
                    plural(lead, "case"),
                    grouped(other as u64)
                ),
                (En, false) => format!(
                    "{} improved, {} regressed",
                    plural(lead, "case"),
                    grouped(other as u64)
                ),
                (Zh, true) => format!(
                    "{} 個案例退步、{} 個進步",
                    grouped(lead as u64),
                    grouped(other as u64)
                ),
                (Zh, false) => format!(
                    "{} 個案例進步、{} 個退步",
                    grouped(lead as u64),
                    grouped(other as u64)
                ),
            };
            if k.inconclusive > 0 {
                let n = grouped(k.inconclusive as u64);
                let _ = match lang {
                    En => write!(cases, ", {n} inconclusive"),
                    Zh => write!(cases, "、{n} 個無法判定"),
                };
            }
            let (sep, semi, stop) = match lang {
                En => (", ", "; ", "."),
                Zh => ("，", "；", "。"),
            };
            out.push_str(match (lang, worse) {
                (En, true) => "B is worse than A: ",
                (En, false) => "B is better than A: ",
                (Zh, true) => "B 比 A 差：",
                (Zh, false) => "B 比 A 好：",
            });
            let _ = match (summary.decided_by, score) {
                (Some(DecidedBy::Score), Some(score)) => {
                    write!(out, "{score}{semi}{pass}{sep}{cases}{stop}")
                }
                (_, Some(score)) => write!(out, "{pass}{sep}{cases}{semi}{score}{stop}"),
                (_, None) => write!(out, "{pass}{sep}{cases}{stop}"),
            };
        }
        _ => {
            out.push_str(match lang {
                En => "No detectable difference: ",
                Zh => "沒有可偵測的差異：",
            });
            out.push_str(&pass);
            if let Some(score) = score {
                out.push_str(if lang == En { "; " } else { "；" });
                out.push_str(&score);
            }
            out.push_str(if lang == En { "." } else { "。" });
            if let Some(d) = summary.detectable {
                let change = number(d.change_points);
                let cases = grouped(summary.cases_compared as u64);
                if d.cases_needed > summary.cases_compared as u64 {
                    let needed = d.cases_needed as usize;
                    let repeats = d.repeats_needed.filter(|r| *r > 1);
                    let _ = match (lang, repeats) {
                        (En, None) => write!(
                            out,
                            " To detect a {change}-point change you would need about {}.",
                            plural(needed, "case")
                        ),
                        (En, Some(r)) => write!(
                            out,
                            " To detect a {change}-point change you would need about {} or {r} \
                             repeats of each case.",
                            plural(needed, "case")
                        ),
                        (Zh, None) => write!(
                            out,
                            "要偵測 {change} 個百分點的變化，大約需要 {} 個案例。",
                            grouped(needed as u64)
                        ),
                        (Zh, Some(r)) => write!(
                            out,
                            "要偵測 {change} 個百分點的變化，大約需要 {} 個案例，或每個案例重複 {r} 次。",
                            grouped(needed as u64)
                        ),
                    };
                } else {
                    let power = number(summary.power * 100.0);
                    let _ = match lang {
                        En => write!(
                            out,
                            " These {cases} cases had {power} % power to detect a {change}-point \
                             change in pass rate."
                        ),
                        Zh => write!(
                            out,
                            "這 {cases} 個案例偵測通過率 {change} 個百分點變化的檢定力為 {power} %。"
                        ),
                    };
                }
            }
        }
    }
    out
}

fn not_enough_data(summary: &Summary, lang: Language) -> String {
    let (changed, shared) = (
        grouped(summary.classes.case_changed as u64),
        grouped(summary.cases_shared as u64),
    );
    match (lang, summary.cases_shared == 0) {
        (En, true) => "Not enough data: no case was run in both A and B.".to_string(),
        (En, false) => format!(
            "Not enough data: no shared case has an unchanged snapshot and a finished result in \
             both A and B ({changed} of {shared} changed)."
        ),
        (Zh, true) => "資料不足：沒有任何案例同時在 A 與 B 執行。".to_string(),
        (Zh, false) => format!(
            "資料不足：沒有任何共同案例在 A 與 B 中快照未變且都有完成的結果（{shared} 個中 {changed} 個已變更）。"
        ),
    }
}

/// "−8.0", "+8.0", "0.0" (never "−0.0"); U+2212 for minus, as typeset.
pub(crate) fn signed(x: f64) -> String {
    let s = plain(x);
    if s.starts_with('\u{2212}') || s == "0.0" {
        s
    } else {
        format!("+{s}")
    }
}

/// One decimal, U+2212 for minus, no sign for positives.
fn plain(x: f64) -> String {
    let rounded = (x * 10.0).round() / 10.0;
    if rounded == 0.0 {
        return "0.0".to_string();
    }
    let s = format!("{:.1}", rounded.abs());
    if rounded < 0.0 {
        format!("\u{2212}{s}")
    } else {
        s
    }
}

pub(crate) fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

/// 5 → "5", 2.5 → "2.5", 94.99999999999999 → "95" (two decimals at most).
fn number(x: f64) -> String {
    let rounded = (x * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded}")
    }
}

pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, noun: &str) -> String {
    format!(
        "{} {noun}{}",
        grouped(n as u64),
        if n == 1 { "" } else { "s" }
    )
}
