//! Turns the paired outcomes of two runs — baseline **A**, candidate **B** — into per-case classes,
//! a summary and a verdict in plain words. Pure: the caller loads both runs, matches cases by id,
//! and says which cases' snapshots changed; everything here is arithmetic on [`CasePair`]s, via
//! [`super::stats`]. Results are independent of the order of the input (cases are taken in id
//! order, which also fixes what the seeded bootstrap draws).
//!
//! ## Per case ([`CaseClass`])
//! - Snapshot changed (question, expected answer, keywords or assertions) → `case_changed`, left
//!   out of every statistic below.
//! - No finished repeat on one side → `inconclusive` (evidence `no_data`), also left out.
//! - One repeat on each side (evidence `single_run`): pass→fail is `regressed`, fail→pass is
//!   `improved`, same outcome is `unchanged`. One run cannot tell a flaky case from a broken one,
//!   so a single flip is only a flip; whether flips add up to a difference is the summary's McNemar
//!   test, not the case's.
//! - More repeats on either side (evidence `repeats`): equal pass rates are `unchanged`; otherwise
//!   Fisher's exact test on (passed, failed) × (A, B), Benjamini–Hochberg-adjusted across all cases
//!   with repeats, decides: q < α is `regressed` or `improved` by the direction of the change, and
//!   anything else is `inconclusive` (a flaky case that passed 5/5 then 3/5 is noise, not a
//!   regression). Fisher needs repeats to say anything: the smallest p for all-pass against
//!   all-fail is 0.10 at 3 repeats a side, 0.029 at 4 and 0.0079 at 5, so at 3 repeats no case
//!   can be `regressed`, and BH across many cases asks for more.
//!
//! ## Summary (over the compared cases)
//! - **Pass rate** of each run is the mean over cases of the case's pass rate over its repeats
//!   (each case weighs the same; with equal repeats it is the pooled rate), in percent. The delta
//!   B − A is in points. Its 95 % interval is Newcombe's paired interval when every case ran once
//!   on each side, and otherwise the paired bootstrap of the per-case pass-rate differences
//!   (resampling cases, which respects that repeats of one case are not independent).
//! - **Flips**: `cases_down` (pass rate lower in B; with single runs, McNemar's b = passed in A only)
//!   against `cases_up` (c), tested with the exact McNemar test. With repeats this is the same exact
//!   sign test applied to the cases whose pass rate moved.
//! - **Score**: mean score of each over the cases scored on both sides, the mean paired delta and
//!   its seeded bootstrap interval ([`stats::BOOTSTRAP`]).
//! - p50/p95 latency and time to first token over every repeat, total tokens and cost of each
//!   (summed as reported; the caller keeps currencies apart), and the class counts.
//!
//! ## Verdict
//! B is [`Verdict::Worse`] or [`Verdict::Better`] when the pass-rate flips are significant
//! (McNemar p < α and the delta points the same way as the flips) **or**, failing that, when the
//! score delta's interval excludes 0 and at least [`MIN_SCORE_MOVES`] cases' scores moved (the
//! percentile bootstrap is overconfident on fewer). Pass/fail leads because it is the team's own
//! definition of good enough and what the CI gate checks; when both are significant in opposite
//! directions the pass rate decides, which keeps the verdict antisymmetric (swapping A and B swaps
//! Worse and Better). Two looks at α = 0.05 each raise the false-alarm rate above 5 % — at most
//! 10 % by Bonferroni, and in practice close to 5 % because pass/fail is derived from the score.
//! With no compared case it is [`Verdict::NotEnoughData`]; otherwise
//! [`Verdict::NoDetectableDifference`], and then the sentence says how many cases (Connor's
//! formula at the observed discordance) or repeats a 5-point change would need. The sentence
//! never gives a delta without its interval.

use super::stats::{self, BootstrapSettings, PairedTable, Percentiles};
pub use crate::model::compare::{
    CaseClass, CaseComparison, CiMethod, ClassCounts, Comparison, DecidedBy, Detectability,
    Evidence, Paired, PassRateSummary, ScoreSummary, SidePair, Summary, Verdict,
};
use crate::model::CaseId;
use serde::{Deserialize, Serialize};

/// The most repeats a batch may run; a suggestion above it says "cases" only.
pub use crate::model::MAX_REPEATS;

/// Cases whose score must have moved (delta ≠ 0) before the score interval may decide a verdict.
/// The percentile bootstrap only knows the deltas it saw: from 3 cases that all dropped it builds
/// an interval wholly below 0 (an exact sign test would give p = 0.25), and with many unchanged
/// cases it stays too narrow until a couple of dozen have moved. Below this, pass/fail decides.
pub const MIN_SCORE_MOVES: usize = 20;

/// What one repeat took and cost, as far as it was reported.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RepeatMetrics {
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub tokens: Option<i64>,
    pub cost: Option<f64>,
}

/// One side of a case: what its repeats did in one run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SideOutcome {
    /// Repeats that passed.
    pub passed: u32,
    /// Repeats that finished; a failed (errored) repeat counts, as not passed.
    pub total: u32,
    /// Mean score (0–100) over the repeats that got one.
    pub mean_score: Option<f64>,
    /// One entry per finished repeat.
    pub repeats: Vec<RepeatMetrics>,
}

impl SideOutcome {
    /// A side from its finished repeats: (passed, score, metrics) of each. An errored repeat
    /// counts in `total`, as not passed, and has no score.
    pub fn of_repeats(
        repeats: impl IntoIterator<Item = (bool, Option<f64>, RepeatMetrics)>,
    ) -> Self {
        let mut side = SideOutcome::default();
        let (mut sum, mut scored) = (0.0, 0u32);
        for (passed, score, metrics) in repeats {
            side.total += 1;
            side.passed += u32::from(passed);
            if let Some(s) = score {
                sum += s;
                scored += 1;
            }
            side.repeats.push(metrics);
        }
        side.mean_score = (scored > 0).then(|| sum / f64::from(scored));
        side
    }
}

/// A case present in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CasePair {
    pub case_id: CaseId,
    pub a: SideOutcome,
    pub b: SideOutcome,
    /// The case's snapshot differs between the two runs: shown, but kept out of the statistics.
    pub changed: bool,
}

/// The knobs of a comparison; [`Settings::default`] is what the product uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Significance level of every test; intervals are at 1 − α.
    pub alpha: f64,
    /// Power for the "what would it take" estimate.
    pub power: f64,
    /// The pass-rate change, in points, that estimate is about.
    pub change_points: f64,
    pub bootstrap: BootstrapSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alpha: 0.05,
            power: 0.8,
            change_points: 5.0,
            bootstrap: stats::BOOTSTRAP,
        }
    }
}

/// [`compare_with`] the default settings.
pub fn compare(pairs: &[CasePair]) -> Comparison {
    compare_with(pairs, &Settings::default())
}

/// Classifies every case and summarises the compared ones; see the module doc for the rules.
pub fn compare_with(pairs: &[CasePair], settings: &Settings) -> Comparison {
    let mut ordered: Vec<&CasePair> = pairs.iter().collect();
    ordered.sort_by_key(|pair| pair.case_id);

    let mut cases: Vec<CaseComparison> = ordered.iter().map(|&pair| classify(pair)).collect();

    // Fisher's p-values of the cases with repeats, adjusted together.
    let tested: Vec<usize> = (0..cases.len())
        .filter(|&i| cases[i].p_value.is_some())
        .collect();
    let p_values: Vec<f64> = tested.iter().filter_map(|&i| cases[i].p_value).collect();
    for (&i, q) in tested.iter().zip(stats::benjamini_hochberg(&p_values)) {
        let case = &mut cases[i];
        case.q_value = Some(q);
        if q < settings.alpha {
            case.class = match case.pass_rate.delta {
                Some(d) if d < 0.0 => CaseClass::Regressed,
                Some(d) if d > 0.0 => CaseClass::Improved,
                _ => case.class,
            };
        }
    }

    let summary = summarise(&ordered, &cases, settings);
    Comparison { summary, cases }
}

/// One case's values and class, before the cross-case adjustment (which may only turn
/// `inconclusive` into `regressed`/`improved`).
fn classify(pair: &CasePair) -> CaseComparison {
    let (a, b) = (&pair.a, &pair.b);
    let (passed_a, passed_b) = (a.passed.min(a.total), b.passed.min(b.total));
    let rate = |passed: u32, total: u32| (total > 0).then(|| passed as f64 / total as f64 * 100.0);
    let pass_rate = Paired::new(rate(passed_a, a.total), rate(passed_b, b.total));

    let (evidence, class, p_value) = if pair.changed {
        (Evidence::Excluded, CaseClass::CaseChanged, None)
    } else if a.total == 0 || b.total == 0 {
        (Evidence::NoData, CaseClass::Inconclusive, None)
    } else if a.total == 1 && b.total == 1 {
        let class = match (passed_a, passed_b) {
            (1, 0) => CaseClass::Regressed,
            (0, 1) => CaseClass::Improved,
            _ => CaseClass::Unchanged,
        };
        (Evidence::SingleRun, class, None)
    } else {
        let p = stats::fisher_exact(
            passed_a.into(),
            (a.total - passed_a).into(),
            passed_b.into(),
            (b.total - passed_b).into(),
        );
        // Equal rates (cross-multiplied, exact in integers) are unchanged whatever the test says.
        let same =
            u64::from(passed_a) * u64::from(b.total) == u64::from(passed_b) * u64::from(a.total);
        let class = if same {
            CaseClass::Unchanged
        } else {
            CaseClass::Inconclusive
        };
        (Evidence::Repeats, class, Some(p))
    };

    let metric = |side: &SideOutcome, pick: fn(&RepeatMetrics) -> Option<f64>| {
        let values: Vec<f64> = side
            .repeats
            .iter()
            .filter_map(pick)
            .filter(|v| v.is_finite())
            .collect();
        stats::mean(&values)
    };
    let paired =
        |pick: fn(&RepeatMetrics) -> Option<f64>| Paired::new(metric(a, pick), metric(b, pick));

    CaseComparison {
        case_id: pair.case_id,
        class,
        evidence,
        passed_a,
        total_a: a.total,
        passed_b,
        total_b: b.total,
        flaky_a: passed_a > 0 && passed_a < a.total,
        flaky_b: passed_b > 0 && passed_b < b.total,
        pass_rate,
        p_value,
        q_value: None,
        score: Paired::new(finite(a.mean_score), finite(b.mean_score)),
        latency_ms: paired(|r| r.latency_ms.map(|v| v as f64)),
        ttft_ms: paired(|r| r.ttft_ms.map(|v| v as f64)),
        tokens: paired(|r| r.tokens.map(|v| v as f64)),
        cost: paired(|r| r.cost),
    }
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

fn summarise(ordered: &[&CasePair], cases: &[CaseComparison], settings: &Settings) -> Summary {
    let confidence = 1.0 - settings.alpha;
    let mut classes = ClassCounts::default();
    for case in cases {
        *match case.class {
            CaseClass::Regressed => &mut classes.regressed,
            CaseClass::Improved => &mut classes.improved,
            CaseClass::Unchanged => &mut classes.unchanged,
            CaseClass::Inconclusive => &mut classes.inconclusive,
            CaseClass::CaseChanged => &mut classes.case_changed,
        } += 1;
    }

    let compared: Vec<(&CasePair, &CaseComparison)> = ordered
        .iter()
        .copied()
        .zip(cases)
        .filter(|(_, case)| matches!(case.evidence, Evidence::SingleRun | Evidence::Repeats))
        .collect();
    let single_runs = compared
        .iter()
        .all(|(_, case)| case.evidence == Evidence::SingleRun);

    // Per-case pass fractions and their paired differences.
    let fractions: Vec<(f64, f64)> = compared
        .iter()
        .map(|(_, case)| {
            let f = |passed: u32, total: u32| passed as f64 / total as f64;
            (
                f(case.passed_a, case.total_a),
                f(case.passed_b, case.total_b),
            )
        })
        .collect();
    let pass_deltas: Vec<f64> = fractions.iter().map(|(a, b)| b - a).collect();
    let pass_rate = pass_summary(&fractions, &pass_deltas, single_runs, confidence, settings);

    let scored: Vec<(f64, f64)> = compared
        .iter()
        .filter_map(|(_, case)| case.score.a.zip(case.score.b))
        .collect();
    let score_deltas: Vec<f64> = scored.iter().map(|(a, b)| b - a).collect();
    let score = stats::mean(&score_deltas).and_then(|delta| {
        Some(ScoreSummary {
            cases: scored.len(),
            moved: score_deltas.iter().filter(|d| **d != 0.0).count(),
            a: stats::mean(&scored.iter().map(|s| s.0).collect::<Vec<_>>())?,
            b: stats::mean(&scored.iter().map(|s| s.1).collect::<Vec<_>>())?,
            delta,
            ci: stats::bootstrap_mean_ci(&score_deltas, confidence, settings.bootstrap)?,
        })
    });

    let sides = |pick: fn(&RepeatMetrics) -> Option<f64>| SidePair {
        a: side_percentiles(compared.iter().map(|(pair, _)| &pair.a), pick),
        b: side_percentiles(compared.iter().map(|(pair, _)| &pair.b), pick),
    };
    let latency_ms = sides(|r| r.latency_ms.map(|v| v as f64));
    let ttft_ms = sides(|r| r.ttft_ms.map(|v| v as f64));
    let total_tokens = SidePair {
        a: side_total(
            compared.iter().map(|(pair, _)| &pair.a),
            |r| r.tokens,
            i64::saturating_add,
        ),
        b: side_total(
            compared.iter().map(|(pair, _)| &pair.b),
            |r| r.tokens,
            i64::saturating_add,
        ),
    };
    let cost = |r: &RepeatMetrics| finite(r.cost);
    let total_cost = SidePair {
        a: side_total(compared.iter().map(|(pair, _)| &pair.a), cost, |x, y| x + y),
        b: side_total(compared.iter().map(|(pair, _)| &pair.b), cost, |x, y| x + y),
    };

    let detectable = detectability(&fractions, settings);
    let (verdict, decided_by) = decide(
        compared.len(),
        pass_rate.as_ref(),
        score.as_ref(),
        settings.alpha,
    );
    let mut summary = Summary {
        cases_shared: cases.len(),
        cases_compared: compared.len(),
        single_runs,
        pass_rate,
        score,
        classes,
        latency_ms,
        ttft_ms,
        total_tokens,
        total_cost,
        detectable,
        verdict,
        decided_by,
        sentence: String::new(),
        alpha: settings.alpha,
        power: settings.power,
        bootstrap: settings.bootstrap,
    };
    summary.sentence = sentence(&summary, settings);
    summary
}

fn pass_summary(
    fractions: &[(f64, f64)],
    deltas: &[f64],
    single_runs: bool,
    confidence: f64,
    settings: &Settings,
) -> Option<PassRateSummary> {
    let delta = stats::mean(deltas)?;
    let cases_down = deltas.iter().filter(|d| **d < 0.0).count() as u64;
    let cases_up = deltas.iter().filter(|d| **d > 0.0).count() as u64;
    let (ci, ci_method) = if single_runs {
        let mut table = PairedTable::default();
        for (a, b) in fractions {
            *match (*a > 0.5, *b > 0.5) {
                (true, true) => &mut table.both,
                (true, false) => &mut table.a_only,
                (false, true) => &mut table.b_only,
                (false, false) => &mut table.neither,
            } += 1;
        }
        (
            stats::newcombe_paired_ci(table, confidence)?,
            CiMethod::NewcombeHybridScore,
        )
    } else {
        (
            stats::bootstrap_mean_ci(deltas, confidence, settings.bootstrap)?,
            CiMethod::PairedBootstrap,
        )
    };
    Some(PassRateSummary {
        a: stats::mean(&fractions.iter().map(|f| f.0).collect::<Vec<_>>())? * 100.0,
        b: stats::mean(&fractions.iter().map(|f| f.1).collect::<Vec<_>>())? * 100.0,
        delta: delta * 100.0,
        ci: ci.scaled(100.0),
        ci_method,
        cases_down,
        cases_up,
        p_value: stats::mcnemar_exact(cases_down, cases_up),
    })
}

fn side_percentiles<'a>(
    sides: impl Iterator<Item = &'a SideOutcome>,
    pick: fn(&RepeatMetrics) -> Option<f64>,
) -> Option<Percentiles> {
    let mut values: Vec<f64> = sides
        .flat_map(|side| side.repeats.iter().filter_map(pick))
        .filter(|v| v.is_finite())
        .collect();
    stats::percentiles(&mut values)
}

fn side_total<'a, T>(
    sides: impl Iterator<Item = &'a SideOutcome>,
    pick: impl Fn(&RepeatMetrics) -> Option<T>,
    add: fn(T, T) -> T,
) -> Option<T> {
    sides
        .flat_map(|side| side.repeats.iter().filter_map(&pick))
        .reduce(add)
}

/// Connor's sample size at the observed discordance: for a random repeat of A paired with a
/// random repeat of B, P(they disagree) = f_A(1 − f_B) + (1 − f_A)f_B, averaged over cases (with
/// single runs, simply the share of discordant cases).
fn detectability(fractions: &[(f64, f64)], settings: &Settings) -> Option<Detectability> {
    let observed = stats::mean(
        &fractions
            .iter()
            .map(|(a, b)| a * (1.0 - b) + (1.0 - a) * b)
            .collect::<Vec<_>>(),
    )?;
    let change = settings.change_points / 100.0;
    let discordance = observed.max(change.abs()).min(1.0);
    let cases_needed =
        stats::mcnemar_pairs_needed(discordance, change, settings.alpha, settings.power)?;
    let per_case = cases_needed.div_ceil(fractions.len() as u64);
    Some(Detectability {
        change_points: settings.change_points,
        discordance,
        cases_needed,
        repeats_needed: u32::try_from(per_case).ok().filter(|r| *r <= MAX_REPEATS),
    })
}

fn decide(
    compared: usize,
    pass: Option<&PassRateSummary>,
    score: Option<&ScoreSummary>,
    alpha: f64,
) -> (Verdict, Option<DecidedBy>) {
    if compared == 0 {
        return (Verdict::NotEnoughData, None);
    }
    let by_pass = pass.filter(|p| p.p_value < alpha).and_then(|p| {
        if p.cases_down > p.cases_up && p.delta < 0.0 {
            Some(Verdict::Worse)
        } else if p.cases_up > p.cases_down && p.delta > 0.0 {
            Some(Verdict::Better)
        } else {
            None // the flips and the mean disagree: no clear direction
        }
    });
    let by_score = score.filter(|s| s.moved >= MIN_SCORE_MOVES).and_then(|s| {
        if s.ci.hi < 0.0 {
            Some(Verdict::Worse)
        } else if s.ci.lo > 0.0 {
            Some(Verdict::Better)
        } else {
            None
        }
    });
    match (by_pass, by_score) {
        (Some(v), _) => (v, Some(DecidedBy::PassRate)),
        (None, Some(v)) => (v, Some(DecidedBy::Score)),
        (None, None) => (Verdict::NoDetectableDifference, None),
    }
}

// ---------------------------------------------------------------------------------------------
// The sentence
// ---------------------------------------------------------------------------------------------

fn sentence(summary: &Summary, _settings: &Settings) -> String {
    // One text for both the server (CLI, markdown, the API's `sentence`) and the pages, which
    // render it again in the reader's language from the same summary.
    crate::model::verdict_text::sentence(summary, crate::model::verdict_text::Language::English)
}

#[cfg(test)]
// Reference values are kept exactly as R and scipy printed them, so they can be compared with
// their source digit for digit.
#[allow(clippy::excessive_precision)]
mod tests {
    //! Reference values are from R 4.2.2 (named at each); the rest are properties that must hold
    //! for any input, checked over inputs drawn from the seeded [`SplitMix64`].
    use super::*;
    use crate::server::compare::stats::{Interval, SplitMix64};

    fn side(passed: u32, total: u32, score: Option<f64>) -> SideOutcome {
        SideOutcome {
            passed,
            total,
            mean_score: score,
            repeats: vec![RepeatMetrics::default(); total as usize],
        }
    }

    fn pair(id: i64, a: SideOutcome, b: SideOutcome) -> CasePair {
        CasePair {
            case_id: CaseId(id),
            a,
            b,
            changed: false,
        }
    }

    /// 200 single-run cases: 130 pass in both, 20 in A only, 4 in B only, 46 in neither.
    fn worse_by_eight_points() -> Vec<CasePair> {
        let counts = [(1, 1, 130), (1, 0, 20), (0, 1, 4), (0, 0, 46)];
        let mut pairs = Vec::new();
        for (a, b, n) in counts {
            for _ in 0..n {
                let id = pairs.len() as i64;
                pairs.push(pair(id, side(a, 1, None), side(b, 1, None)));
            }
        }
        pairs
    }

    fn swapped(pairs: &[CasePair]) -> Vec<CasePair> {
        pairs
            .iter()
            .map(|p| CasePair {
                a: p.b.clone(),
                b: p.a.clone(),
                ..p.clone()
            })
            .collect()
    }

    #[test]
    fn a_clear_regression_reads_like_the_issue() {
        let c = compare(&worse_by_eight_points());
        let s = &c.summary;
        assert_eq!(
            (s.verdict, s.decided_by),
            (Verdict::Worse, Some(DecidedBy::PassRate))
        );
        let pass = s.pass_rate.unwrap();
        assert_eq!(pass.ci_method, CiMethod::NewcombeHybridScore);
        assert!((pass.delta - -8.0).abs() < 1e-12);
        assert!((pass.a - 75.0).abs() < 1e-12 && (pass.b - 67.0).abs() < 1e-12);
        // R: 100 * Newcombe_square_and_add_CI_paired_2x2(matrix(c(130, 4, 20, 46), 2, byrow = TRUE))
        // (ocbe-uio/contingencytables) → −12.8077225926775728, −3.2211337621175473.
        assert!(
            (pass.ci.lo - -12.807_722_592_677_573).abs() < 1e-6,
            "{:?}",
            pass.ci
        );
        assert!(
            (pass.ci.hi - -3.221_133_762_117_547).abs() < 1e-6,
            "{:?}",
            pass.ci
        );
        // R: binom.test(4, 24, 0.5)$p.value
        assert!((pass.p_value - 0.0015438795089721669).abs() < 1e-15);
        assert_eq!((pass.cases_down, pass.cases_up), (20, 4));
        assert_eq!(
            s.classes,
            ClassCounts {
                regressed: 20,
                improved: 4,
                unchanged: 176,
                inconclusive: 0,
                case_changed: 0
            }
        );
        assert_eq!(
            s.sentence,
            "B is worse than A: pass rate \u{2212}8.0 points (95 % CI \u{2212}12.8 to \u{2212}3.2), \
             p = 0.002, 20 cases regressed, 4 improved."
        );
        assert!(c
            .cases
            .iter()
            .all(|case| case.evidence == Evidence::SingleRun));

        let back = compare(&swapped(&worse_by_eight_points()));
        assert_eq!(back.summary.verdict, Verdict::Better);
        assert_eq!(
            back.summary.sentence,
            "B is better than A: pass rate +8.0 points (95 % CI 3.2 to 12.8), p = 0.002, 20 cases improved, \
             4 regressed."
        );
    }

    #[test]
    fn repeats_use_fisher_and_benjamini_hochberg() {
        let pairs = vec![
            pair(1, side(5, 5, None), side(0, 5, None)), // broken
            pair(2, side(5, 5, None), side(3, 5, None)), // flaky
            pair(3, side(4, 5, None), side(4, 5, None)),
            pair(4, side(5, 5, None), side(5, 5, None)),
        ];
        let c = compare(&pairs);
        // R: fisher.test(matrix(c(5, 0, 0, 5), 2, byrow = TRUE)) → 0.0079365079365079395;
        // c(5, 0, 3, 2) → 0.44444444444444459; p.adjust(c(0.0079365, 0.44444, 1, 1), "BH") →
        // 0.031746031746031758, 0.88888888888888884, 1, 1.
        let expected = [
            (
                CaseClass::Regressed,
                0.0079365079365079395,
                0.031746031746031758,
            ),
            (
                CaseClass::Inconclusive,
                0.44444444444444459,
                0.88888888888888884,
            ),
            (CaseClass::Unchanged, 1.0, 1.0),
            (CaseClass::Unchanged, 1.0, 1.0),
        ];
        for (case, (class, p, q)) in c.cases.iter().zip(expected) {
            assert_eq!(
                (case.class, case.evidence),
                (class, Evidence::Repeats),
                "{case:?}"
            );
            assert!(
                (case.p_value.unwrap() - p).abs() < 1e-12
                    && (case.q_value.unwrap() - q).abs() < 1e-12
            );
        }
        assert!(c.cases[1].flaky_b && !c.cases[1].flaky_a);
        let pass = c.summary.pass_rate.unwrap();
        assert_eq!(pass.ci_method, CiMethod::PairedBootstrap);
        assert!(!c.summary.single_runs);
        // Case pass-rate deltas −100, −40, 0, 0 points: mean −35; two cases down, none up →
        // exact McNemar/sign test p = 2 · 0.5² = 0.5.
        assert!((pass.delta - -35.0).abs() < 1e-12);
        assert_eq!((pass.cases_down, pass.cases_up, pass.p_value), (2, 0, 0.5));
        assert_eq!(c.summary.verdict, Verdict::NoDetectableDifference);
    }

    #[test]
    fn changed_and_empty_cases_stay_out_of_the_statistics() {
        let mut pairs = worse_by_eight_points();
        let with_noise = pairs.len();
        // Would make B look much worse if counted.
        for i in 0..50 {
            let mut p = pair(1_000 + i, side(1, 1, Some(100.0)), side(0, 1, Some(0.0)));
            p.changed = true;
            pairs.push(p);
        }
        pairs.push(pair(2_000, side(0, 0, None), side(1, 1, None)));
        let c = compare(&pairs);
        assert_eq!(c.summary.cases_shared, with_noise + 51);
        assert_eq!(c.summary.cases_compared, with_noise);
        assert_eq!(c.summary.classes.case_changed, 50);
        assert_eq!(c.summary.classes.inconclusive, 1);
        assert!(c.summary.score.is_none(), "only changed cases had scores");
        assert_eq!(
            c.summary.pass_rate,
            compare(&worse_by_eight_points()).summary.pass_rate
        );
        let changed = c
            .cases
            .iter()
            .find(|case| case.case_id == CaseId(1_000))
            .unwrap();
        assert_eq!(
            (changed.class, changed.evidence),
            (CaseClass::CaseChanged, Evidence::Excluded)
        );
        assert_eq!(changed.score.delta, Some(-100.0), "still shown");

        let only_changed: Vec<CasePair> = pairs.into_iter().filter(|p| p.changed).collect();
        let c = compare(&only_changed);
        assert_eq!(c.summary.verdict, Verdict::NotEnoughData);
        assert_eq!(
            c.summary.sentence,
            "Not enough data: no shared case has an unchanged snapshot and a finished result in both \
             A and B (50 of 50 changed)."
        );
        assert_eq!(
            compare(&[]).summary.sentence,
            "Not enough data: no case was run in both A and B."
        );
    }

    #[test]
    fn a_score_drop_alone_is_a_regression() {
        // Every case passes in both runs, but B scores 3–5 points lower on each.
        let pairs: Vec<CasePair> = (0..60)
            .map(|i| {
                let a = 80.0 + (i % 5) as f64;
                pair(
                    i,
                    side(1, 1, Some(a)),
                    side(1, 1, Some(a - 3.0 - (i % 3) as f64)),
                )
            })
            .collect();
        let s = compare(&pairs).summary;
        assert_eq!(
            (s.verdict, s.decided_by),
            (Verdict::Worse, Some(DecidedBy::Score))
        );
        let score = s.score.unwrap();
        assert!((score.delta - -4.0).abs() < 1e-12);
        assert!(score.ci.hi < 0.0 && score.ci.contains(score.delta));
        assert!(
            s.sentence
                .starts_with("B is worse than A: mean score \u{2212}4.0 (95 % CI \u{2212}4."),
            "{}",
            s.sentence
        );
        assert!(s.sentence.ends_with("; pass rate 0.0 points (95 % CI \u{2212}6.0 to 6.0), p = 1.000, 0 cases regressed, 0 improved."),
            "{}", s.sentence);
    }

    #[test]
    fn a_few_moved_scores_do_not_decide() {
        // 5 of 100 cases drop 10 points, the rest are identical: the bootstrap interval lies
        // wholly below 0 (it has never seen a rise), but 5 moves are below MIN_SCORE_MOVES.
        let pairs: Vec<CasePair> = (0..100)
            .map(|i| {
                let b = if i < 5 { 60.0 } else { 70.0 };
                pair(i, side(1, 1, Some(70.0)), side(1, 1, Some(b)))
            })
            .collect();
        let s = compare(&pairs).summary;
        let score = s.score.unwrap();
        assert!(score.ci.hi < 0.0 && score.moved == 5, "{score:?}");
        assert_eq!(s.verdict, Verdict::NoDetectableDifference);
    }

    #[test]
    fn no_difference_says_what_it_would_take() {
        // 40 single-run cases, 2 flips each way: discordance 0.1. Connor's formula at ψ = 0.1,
        // δ = 0.05 (R, as in stats::tests) → 311.59 → 312 cases, i.e. ⌈312 / 40⌉ = 8 repeats.
        let flips = |n_each: usize, total: usize| -> Vec<CasePair> {
            (0..total)
                .map(|i| {
                    let (a, b) = match i {
                        i if i < n_each => (1, 0),
                        i if i < 2 * n_each => (0, 1),
                        _ => (1, 1),
                    };
                    pair(i as i64, side(a, 1, None), side(b, 1, None))
                })
                .collect()
        };
        let s = compare(&flips(2, 40)).summary;
        assert_eq!(s.verdict, Verdict::NoDetectableDifference);
        let d = s.detectable.unwrap();
        assert_eq!((d.cases_needed, d.repeats_needed), (312, Some(8)));
        assert!(
            s.sentence.ends_with("To detect a 5-point change you would need about 312 cases or 8 repeats of each case."),
            "{}",
            s.sentence
        );
        assert!(s
            .sentence
            .starts_with("No detectable difference: pass rate 0.0 points (95 % CI \u{2212}"));

        // 400 cases at the same discordance are enough for a 5-point change.
        let s = compare(&flips(20, 400)).summary;
        assert_eq!(s.verdict, Verdict::NoDetectableDifference);
        assert!(
            s.sentence.ends_with(
                "These 400 cases had 80 % power to detect a 5-point change in pass rate."
            ),
            "{}",
            s.sentence
        );
    }

    /// The pages render the verdict in the reader's language from the same summary: the Chinese
    /// sentence says the same thing with the same numbers, for every kind of verdict.
    #[test]
    fn the_verdict_in_traditional_chinese_carries_the_same_numbers() {
        use crate::model::verdict_text::{sentence, Language};
        let zh =
            |pairs: &[CasePair]| sentence(&compare(pairs).summary, Language::TraditionalChinese);
        assert_eq!(
            zh(&worse_by_eight_points()),
            "B 比 A 差：通過率 \u{2212}8.0 個百分點（95 % 信賴區間 \u{2212}12.8 至 \u{2212}3.2），\
             p = 0.002，20 個案例退步、4 個進步。"
        );
        assert_eq!(
            zh(&swapped(&worse_by_eight_points())),
            "B 比 A 好：通過率 +8.0 個百分點（95 % 信賴區間 3.2 至 12.8），p = 0.002，\
             20 個案例進步、4 個退步。"
        );
        let flips: Vec<CasePair> = (0..40)
            .map(|i| {
                let (a, b) = match i {
                    0 | 1 => (1, 0),
                    2 | 3 => (0, 1),
                    _ => (1, 1),
                };
                pair(i, side(a, 1, None), side(b, 1, None))
            })
            .collect();
        let none = zh(&flips);
        assert!(
            none.starts_with("沒有可偵測的差異：通過率 0.0 個百分點"),
            "{none}"
        );
        assert!(
            none.ends_with("要偵測 5 個百分點的變化，大約需要 312 個案例，或每個案例重複 8 次。"),
            "{none}"
        );
        assert_eq!(zh(&[]), "資料不足：沒有任何案例同時在 A 與 B 執行。");
        // English is what the server stores: the same function, the other language.
        let c = compare(&flips);
        assert_eq!(sentence(&c.summary, Language::English), c.summary.sentence);
    }

    #[test]
    fn latency_tokens_and_cost_are_summarised_per_run() {
        let metrics = |latency: i64, ttft: Option<i64>, tokens: i64, cost: f64| RepeatMetrics {
            latency_ms: Some(latency),
            ttft_ms: ttft,
            tokens: Some(tokens),
            cost: Some(cost),
        };
        let mut a = side(2, 2, Some(70.0));
        a.repeats = vec![
            metrics(100, Some(10), 50, 0.01),
            metrics(200, None, 70, 0.02),
        ];
        let mut b = side(2, 2, Some(75.0));
        b.repeats = vec![
            metrics(300, Some(30), 40, 0.005),
            metrics(400, Some(50), 40, 0.005),
        ];
        let mut a2 = side(1, 1, None);
        a2.repeats = vec![metrics(300, None, 10, 0.0)];
        let mut b2 = side(1, 1, None);
        b2.repeats = vec![RepeatMetrics::default()];
        let c = compare(&[pair(1, a, b), pair(2, a2, b2)]);
        let case = &c.cases[0];
        assert_eq!(
            case.latency_ms,
            Paired {
                a: Some(150.0),
                b: Some(350.0),
                delta: Some(200.0)
            }
        );
        assert_eq!(
            case.ttft_ms,
            Paired {
                a: Some(10.0),
                b: Some(40.0),
                delta: Some(30.0)
            }
        );
        assert_eq!(case.tokens.delta, Some(-20.0));
        assert_eq!(
            c.cases[1].latency_ms,
            Paired {
                a: Some(300.0),
                b: None,
                delta: None
            }
        );
        let s = &c.summary;
        // Type 7 (R quantile): A latencies 100, 200, 300 → p50 200, p95 290;
        // B latencies 300, 400 → p50 350, p95 395.
        let la = s.latency_ms.a.unwrap();
        let lb = s.latency_ms.b.unwrap();
        assert_eq!((la.count, la.p50), (3, 200.0));
        assert!(
            (la.p95 - 290.0).abs() < 1e-9
                && (lb.p50 - 350.0).abs() < 1e-9
                && (lb.p95 - 395.0).abs() < 1e-9
        );
        assert_eq!(s.ttft_ms.a.map(|p| p.count), Some(1));
        assert_eq!(
            s.total_tokens,
            SidePair {
                a: Some(130),
                b: Some(80)
            }
        );
        assert!(
            (s.total_cost.a.unwrap() - 0.03).abs() < 1e-12
                && (s.total_cost.b.unwrap() - 0.01).abs() < 1e-12
        );
    }

    // ---- properties over generated inputs --------------------------------------------------

    /// Runs of `n` cases with up to `max_repeats` repeats, B's pass probability shifted by
    /// `shift` from A's, a few changed and a few empty cases.
    pub(super) fn generated(
        rng: &mut SplitMix64,
        n: usize,
        max_repeats: u32,
        shift: f64,
    ) -> Vec<CasePair> {
        let repeats = |rng: &mut SplitMix64| 1 + rng.below(u64::from(max_repeats)) as u32;
        (0..n)
            .map(|i| {
                let ease = rng.next_f64();
                let run = |rng: &mut SplitMix64, p: f64, total: u32| {
                    let passed = (0..total).filter(|_| rng.next_f64() < p).count() as u32;
                    let score = (rng.next_f64() < 0.9)
                        .then(|| (p * 100.0 + rng.next_f64() * 10.0).min(100.0));
                    let metrics = (0..total)
                        .map(|_| RepeatMetrics {
                            latency_ms: Some(200 + rng.below(2_000) as i64),
                            ttft_ms: (rng.next_f64() < 0.7).then(|| 50 + rng.below(300) as i64),
                            tokens: Some(100 + rng.below(900) as i64),
                            cost: Some(rng.below(1_000) as f64 / 1e5),
                        })
                        .collect();
                    SideOutcome {
                        passed,
                        total,
                        mean_score: score,
                        repeats: metrics,
                    }
                };
                let total_a = if rng.next_f64() < 0.03 {
                    0
                } else {
                    repeats(rng)
                };
                let total_b = if max_repeats == 1 { 1 } else { repeats(rng) };
                let a = run(rng, ease, total_a);
                let b = run(rng, (ease + shift).clamp(0.0, 1.0), total_b);
                CasePair {
                    case_id: CaseId(i as i64 * 7 % 1_009),
                    a,
                    b,
                    changed: rng.next_f64() < 0.05,
                }
            })
            .collect()
    }

    fn for_generated_inputs(mut check: impl FnMut(&[CasePair])) {
        let mut rng = SplitMix64::new(2024);
        for round in 0..48 {
            let n = 1 + rng.below(150) as usize;
            let max_repeats = if round % 2 == 0 {
                1
            } else {
                1 + rng.below(5) as u32
            };
            let shift = (rng.next_f64() - 0.5) * 0.6;
            check(&generated(&mut rng, n, max_repeats, shift));
        }
    }

    fn all_paired(case: &CaseComparison) -> [Paired; 6] {
        [
            case.pass_rate,
            case.score,
            case.latency_ms,
            case.ttft_ms,
            case.tokens,
            case.cost,
        ]
    }

    #[test]
    fn a_run_compared_with_itself_shows_no_difference() {
        for_generated_inputs(|pairs| {
            let same: Vec<CasePair> = pairs
                .iter()
                .map(|p| CasePair {
                    b: p.a.clone(),
                    ..p.clone()
                })
                .collect();
            let c = compare(&same);
            let s = &c.summary;
            let expected = if s.cases_compared == 0 {
                Verdict::NotEnoughData
            } else {
                Verdict::NoDetectableDifference
            };
            assert_eq!(s.verdict, expected, "{}", s.sentence);
            for case in &c.cases {
                assert!(
                    !matches!(case.class, CaseClass::Regressed | CaseClass::Improved),
                    "{case:?}"
                );
                for paired in all_paired(case) {
                    assert!(paired.delta.is_none_or(|d| d == 0.0), "{case:?}");
                }
            }
            if let Some(pass) = s.pass_rate {
                assert_eq!(
                    (pass.delta, pass.cases_down, pass.cases_up, pass.p_value),
                    (0.0, 0, 0, 1.0)
                );
                assert!(pass.ci.contains(0.0));
            }
            if let Some(score) = s.score {
                assert_eq!((score.delta, score.ci.lo, score.ci.hi), (0.0, 0.0, 0.0));
            }
            assert_eq!(s.latency_ms.a, s.latency_ms.b);
            assert_eq!(s.total_tokens.a, s.total_tokens.b);
        });
    }

    #[test]
    fn swapping_a_and_b_flips_every_sign() {
        let flip_verdict = |v: Verdict| match v {
            Verdict::Worse => Verdict::Better,
            Verdict::Better => Verdict::Worse,
            other => other,
        };
        let flip_class = |c: CaseClass| match c {
            CaseClass::Regressed => CaseClass::Improved,
            CaseClass::Improved => CaseClass::Regressed,
            other => other,
        };
        let mirrored =
            |x: Interval, y: Interval| (x.lo + y.hi).abs() < 1e-9 && (x.hi + y.lo).abs() < 1e-9;
        let mut decisive = 0;
        for_generated_inputs(|pairs| {
            let ab = compare(pairs);
            let ba = compare(&swapped(pairs));
            assert_eq!(ba.summary.verdict, flip_verdict(ab.summary.verdict));
            assert_eq!(ba.summary.decided_by, ab.summary.decided_by);
            decisive += usize::from(ab.summary.decided_by.is_some());
            for (x, y) in ab.cases.iter().zip(&ba.cases) {
                assert_eq!(y.class, flip_class(x.class), "{x:?}");
                for (px, py) in all_paired(x).into_iter().zip(all_paired(y)) {
                    assert_eq!((py.a, py.b), (px.b, px.a));
                    assert_eq!(py.delta, px.delta.map(|d| -d));
                }
                let same = |p: Option<f64>, q: Option<f64>| match (p, q) {
                    (Some(p), Some(q)) => (p - q).abs() <= 1e-12 * p.max(q),
                    (p, q) => p == q,
                };
                assert!(same(x.p_value, y.p_value) && same(x.q_value, y.q_value));
            }
            let (s, t) = (&ab.summary, &ba.summary);
            assert_eq!(t.classes.regressed, s.classes.improved);
            assert_eq!(t.classes.improved, s.classes.regressed);
            if let (Some(p), Some(q)) = (s.pass_rate, t.pass_rate) {
                assert_eq!((q.a, q.b, q.delta), (p.b, p.a, -p.delta));
                assert_eq!(
                    (q.cases_down, q.cases_up, q.p_value),
                    (p.cases_up, p.cases_down, p.p_value)
                );
                assert!(mirrored(p.ci, q.ci), "{:?} {:?}", p.ci, q.ci);
            }
            if let (Some(p), Some(q)) = (s.score, t.score) {
                assert_eq!((q.a, q.b, q.delta), (p.b, p.a, -p.delta));
                assert!(mirrored(p.ci, q.ci), "{:?} {:?}", p.ci, q.ci);
            }
            assert_eq!(
                (t.latency_ms.a, t.latency_ms.b),
                (s.latency_ms.b, s.latency_ms.a)
            );
            assert_eq!(
                (t.total_tokens.a, t.total_tokens.b),
                (s.total_tokens.b, s.total_tokens.a)
            );
        });
        assert!(
            decisive >= 10,
            "the generated inputs should include real differences ({decisive})"
        );
    }

    #[test]
    fn p_values_are_probabilities_and_intervals_hold_their_estimates() {
        for_generated_inputs(|pairs| {
            let c = compare(pairs);
            for case in &c.cases {
                for p in [case.p_value, case.q_value].into_iter().flatten() {
                    assert!((0.0..=1.0).contains(&p), "{case:?}");
                }
                if let (Some(p), Some(q)) = (case.p_value, case.q_value) {
                    assert!(q >= p - 1e-15);
                }
                for rate in [case.pass_rate.a, case.pass_rate.b].into_iter().flatten() {
                    assert!((0.0..=100.0).contains(&rate));
                }
            }
            let s = &c.summary;
            if let Some(pass) = s.pass_rate {
                assert!((0.0..=1.0).contains(&pass.p_value));
                assert!(pass.ci.contains(pass.delta), "{pass:?}");
                assert!(pass.ci.lo >= -100.0 && pass.ci.hi <= 100.0);
            }
            if let Some(score) = s.score {
                assert!(score.ci.contains(score.delta), "{score:?}");
            }
            let counted = s.classes.regressed
                + s.classes.improved
                + s.classes.unchanged
                + s.classes.inconclusive
                + s.classes.case_changed;
            assert_eq!(counted, s.cases_shared);
            assert!(!s.sentence.is_empty());
        });
    }

    #[test]
    fn twenty_five_thousand_cases() {
        // Correctness at the size the benchmark uses (release timing is BENCHMARKS.md's business).
        let mut rng = SplitMix64::new(25_000);
        let pairs = generated(&mut rng, 25_000, 1, -0.02);
        let c = compare(&pairs);
        let s = &c.summary;
        assert_eq!(s.cases_shared, 25_000);
        let (mut down, mut up, mut n) = (0u64, 0u64, 0usize);
        for p in pairs.iter().filter(|p| !p.changed && p.a.total > 0) {
            n += 1;
            match (p.a.passed, p.b.passed) {
                (1, 0) => down += 1,
                (0, 1) => up += 1,
                _ => {}
            }
        }
        let pass = s.pass_rate.unwrap();
        assert_eq!(
            (s.cases_compared, pass.cases_down, pass.cases_up),
            (n, down, up)
        );
        assert!((pass.delta - (up as f64 - down as f64) / n as f64 * 100.0).abs() < 1e-9);
        assert!(pass.ci.contains(pass.delta) && pass.ci.hi < 0.0, "{pass:?}");
        assert_eq!(s.verdict, Verdict::Worse);
        assert!(s.score.is_some_and(|score| score.ci.contains(score.delta)));
        assert_eq!(s.latency_ms.a.map(|p| p.count), Some(n));

        // With repeats the pass-rate interval comes from the bootstrap too.
        let pairs = generated(&mut rng, 25_000, 3, 0.0);
        let s = compare(&pairs).summary;
        assert_eq!(
            s.pass_rate.map(|p| p.ci_method),
            Some(CiMethod::PairedBootstrap)
        );
        assert!(s.pass_rate.is_some_and(|p| p.ci.contains(p.delta)));
    }
}
