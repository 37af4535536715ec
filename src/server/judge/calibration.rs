//! How far a judge agrees with human reviewers: the confusion matrix, the observed agreement and
//! Cohen's κ, for one judge and rubric, and the warnings the judge page shows.
//!
//! Input: one `(judge passed, human passed)` pair per reviewed result the judge gave a verdict on.
//! Which results count (and whether a judge error is one) is the caller's choice; this module only
//! does the arithmetic.
//!
//! **Cohen's κ** (Cohen 1960, *Educational and Psychological Measurement* 20:37): with
//! `a` = both pass, `b` = judge pass & human fail, `c` = judge fail & human pass, `d` = both fail
//! and `n = a + b + c + d`,
//!
//! - `po = (a + d) / n`, the observed agreement;
//! - `pe = ((a + b)(a + c) + (c + d)(b + d)) / n²`, the agreement expected by chance from each
//!   rater's own pass rate;
//! - `κ = (po − pe) / (1 − pe)`: 1 is perfect agreement, 0 is no better than chance, below 0 worse.
//!
//! κ is computed from the integer counts (`(n(a + d) − S) / (n² − S)` with `S = n²·pe`), so that
//! `pe = 1` is detected exactly. κ is **undefined** (None) without pairs, and when `pe = 1`: both
//! raters gave one and the same verdict to every result (then `po = 1` too and κ is 0/0). The
//! agreement is still shown; it just cannot tell a good judge from one that passes everything.
//!
//! Warnings ([`warnings`]): fewer than [`MIN_CALIBRATION_REVIEWS`] reviews (κ on few reviews swings
//! widely), and κ below [`MIN_KAPPA`] (0.6, the lower edge of Landis & Koch's "substantial").

use std::fmt;

use crate::model::{Calibration, JudgeId, Rubric, MIN_CALIBRATION_REVIEWS, MIN_KAPPA};

/// The calibration of `judge_id` on `rubric` from `(judge passed, human passed)` pairs.
pub fn calibrate(judge_id: Option<JudgeId>, rubric: Rubric, pairs: &[(bool, bool)]) -> Calibration {
    let mut confusion = [[0u64; 2]; 2];
    for &(judge, human) in pairs {
        confusion[usize::from(!judge)][usize::from(!human)] += 1;
    }
    let [[a, b], [c, d]] = confusion.map(|row| row.map(u128::from));
    let n = a + b + c + d;
    let agreement = (n > 0).then(|| (a + d) as f64 / n as f64);
    // S = n²·pe; pe = 1 exactly when S = n².
    let chance = (a + b) * (a + c) + (c + d) * (b + d);
    let kappa = (n > 0 && chance != n * n).then(|| {
        let observed = n * (a + d);
        (observed as f64 - chance as f64) / (n * n - chance) as f64
    });
    Calibration {
        judge_id,
        rubric,
        reviews: pairs.len() as u64,
        confusion,
        agreement,
        kappa,
    }
}

/// Why a calibration should not be trusted (yet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalibrationWarning {
    /// Fewer reviews than [`MIN_CALIBRATION_REVIEWS`].
    TooFewReviews { have: u64, need: u64 },
    /// κ below [`MIN_KAPPA`].
    LowKappa { kappa: f64 },
}

impl fmt::Display for CalibrationWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationWarning::TooFewReviews { have, need } => write!(
                f,
                "only {have} reviewed result{} with a judge verdict; review at least {need} before \
                 trusting the agreement",
                if *have == 1 { "" } else { "s" }
            ),
            CalibrationWarning::LowKappa { kappa } => write!(
                f,
                "Cohen's κ is {kappa:.2}, below {MIN_KAPPA}: the judge often disagrees with \
                 reviewers beyond what chance explains"
            ),
        }
    }
}

/// The warnings for `c`, fewest reviews first. An undefined κ gives no κ warning.
pub fn warnings(c: &Calibration) -> Vec<CalibrationWarning> {
    let mut out = Vec::new();
    if c.reviews < MIN_CALIBRATION_REVIEWS {
        out.push(CalibrationWarning::TooFewReviews {
            have: c.reviews,
            need: MIN_CALIBRATION_REVIEWS,
        });
    }
    if let Some(kappa) = c.kappa.filter(|k| *k < MIN_KAPPA) {
        out.push(CalibrationWarning::LowKappa { kappa });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs for a confusion matrix [[a, b], [c, d]] (judge × human, pass first).
    fn pairs(a: usize, b: usize, c: usize, d: usize) -> Vec<(bool, bool)> {
        [
            ((true, true), a),
            ((true, false), b),
            ((false, true), c),
            ((false, false), d),
        ]
        .into_iter()
        .flat_map(|(pair, count)| std::iter::repeat_n(pair, count))
        .collect()
    }

    fn close(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() < 1e-12)
    }

    #[test]
    fn wikipedia_simple_example() {
        // en.wikipedia.org "Cohen's kappa", § Examples, "Simple example": 50 grant proposals,
        // a = 20, b = 5, c = 10, d = 15 → po = 0.7, pe = 0.5, κ = 0.4.
        let cal = calibrate(Some(JudgeId(3)), Rubric::Correctness, &pairs(20, 5, 10, 15));
        assert_eq!(cal.judge_id, Some(JudgeId(3)));
        assert_eq!(cal.rubric, Rubric::Correctness);
        assert_eq!(cal.reviews, 50);
        assert_eq!(cal.confusion, [[20, 5], [10, 15]]);
        assert!(close(cal.agreement, 0.7), "{cal:?}");
        assert!(close(cal.kappa, 0.4), "{cal:?}");
    }

    #[test]
    fn wikipedia_same_percentages_different_numbers() {
        // en.wikipedia.org "Cohen's kappa", § Examples, "Same percentages but different numbers":
        // both tables agree on 60 of 100, yet
        //   [[45, 15], [25, 15]]: pe = 0.54, κ = (0.60 − 0.54) / (1 − 0.54) = 0.1304
        //   [[25, 35], [5, 35]]:  pe = 0.46, κ = (0.60 − 0.46) / (1 − 0.46) = 0.2593
        let first = calibrate(None, Rubric::Correctness, &pairs(45, 15, 25, 15));
        assert!(close(first.agreement, 0.6));
        assert!(close(first.kappa, 0.06 / 0.46));
        assert_eq!(first.kappa.map(|k| (k * 1e4).round() / 1e4), Some(0.1304));
        let second = calibrate(None, Rubric::Correctness, &pairs(25, 35, 5, 35));
        assert!(close(second.agreement, 0.6));
        assert!(close(second.kappa, 0.14 / 0.54));
        assert_eq!(second.kappa.map(|k| (k * 1e4).round() / 1e4), Some(0.2593));
    }

    #[test]
    fn kappa_from_raw_label_vectors_matches_python() {
        // Checked by a different formulation, in plain Python from the label vectors with exact
        // fractions: po = mean(j == h), pe = Σ_k mean(j == k)·mean(h == k), κ = (po − pe)/(1 − pe),
        // cross-checked against the 2×2 closed form 2(ad − bc) / ((a+b)(b+d) + (a+c)(c+d)).
        // Output: "15 7 2 2 4 11/15 0.7333333333333333 13/25 0.52 4/9 0.4444444444444444 True"
        // (n a b c d po po pe pe κ κ closed-form-equal).
        let judge = [1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 0];
        let human = [1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1];
        let p: Vec<(bool, bool)> = judge
            .iter()
            .zip(&human)
            .map(|(&j, &h)| (j == 1, h == 1))
            .collect();
        let cal = calibrate(None, Rubric::Faithfulness, &p);
        assert_eq!(cal.confusion, [[7, 2], [2, 4]]);
        assert!(close(cal.agreement, 11.0 / 15.0));
        assert!(close(cal.kappa, 4.0 / 9.0), "{cal:?}");
    }

    #[test]
    fn perfect_and_opposite_raters() {
        let perfect = calibrate(None, Rubric::Language, &pairs(6, 0, 0, 4));
        assert_eq!(perfect.agreement, Some(1.0));
        assert_eq!(perfect.kappa, Some(1.0));
        // Always opposite with balanced marginals: po = 0, pe = 0.5, κ = −1.
        let opposite = calibrate(None, Rubric::Language, &pairs(0, 5, 5, 0));
        assert_eq!(opposite.agreement, Some(0.0));
        assert_eq!(opposite.kappa, Some(-1.0));
    }

    #[test]
    fn kappa_is_undefined_without_pairs_or_when_both_raters_are_constant_and_equal() {
        let empty = calibrate(None, Rubric::Correctness, &[]);
        assert_eq!(empty.reviews, 0);
        assert_eq!(empty.confusion, [[0, 0], [0, 0]]);
        assert_eq!((empty.agreement, empty.kappa), (None, None));
        // Everyone passes everything: po = pe = 1.
        let all_pass = calibrate(None, Rubric::Correctness, &pairs(30, 0, 0, 0));
        assert_eq!((all_pass.agreement, all_pass.kappa), (Some(1.0), None));
        let all_fail = calibrate(None, Rubric::Correctness, &pairs(0, 0, 0, 7));
        assert_eq!((all_fail.agreement, all_fail.kappa), (Some(1.0), None));
    }

    #[test]
    fn constant_but_different_raters_have_kappa_zero() {
        // Judge passes all, humans fail all: po = 0, pe = 0 → κ = 0, not undefined.
        let cal = calibrate(None, Rubric::Correctness, &pairs(0, 8, 0, 0));
        assert_eq!((cal.agreement, cal.kappa), (Some(0.0), Some(0.0)));
        // One rater constant, the other not: pe = po → κ = 0.
        let cal = calibrate(None, Rubric::Correctness, &pairs(3, 0, 2, 0));
        assert_eq!((cal.agreement, cal.kappa), (Some(0.6), Some(0.0)));
    }

    #[test]
    fn warnings_follow_the_model_thresholds() {
        let few_but_good = calibrate(None, Rubric::Correctness, &pairs(5, 0, 0, 5));
        assert_eq!(
            warnings(&few_but_good),
            vec![CalibrationWarning::TooFewReviews { have: 10, need: 20 }]
        );
        let many_but_poor = calibrate(None, Rubric::Correctness, &pairs(20, 5, 10, 15));
        assert_eq!(
            warnings(&many_but_poor),
            vec![CalibrationWarning::LowKappa {
                kappa: many_but_poor.kappa.unwrap_or(0.0)
            }]
        );
        let both = calibrate(None, Rubric::Correctness, &pairs(3, 2, 2, 3));
        assert!(matches!(
            warnings(&both)[..],
            [
                CalibrationWarning::TooFewReviews { have: 10, need: 20 },
                CalibrationWarning::LowKappa { .. }
            ]
        ));
        // Exactly at the thresholds: 20 reviews, κ = 0.6 (po = 0.8, pe = 0.5) warn about nothing.
        let at_threshold = calibrate(None, Rubric::Correctness, &pairs(8, 2, 2, 8));
        assert!(close(at_threshold.kappa, 0.6));
        assert_eq!(warnings(&at_threshold), vec![]);
        // Undefined κ: only the review count can warn.
        assert_eq!(
            warnings(&calibrate(None, Rubric::Correctness, &pairs(25, 0, 0, 0))),
            vec![]
        );
        assert_eq!(
            warnings(&calibrate(None, Rubric::Correctness, &[])),
            vec![CalibrationWarning::TooFewReviews { have: 0, need: 20 }]
        );
    }

    #[test]
    fn warnings_read_as_sentences() {
        assert_eq!(
            CalibrationWarning::TooFewReviews { have: 1, need: 20 }.to_string(),
            "only 1 reviewed result with a judge verdict; review at least 20 before trusting the \
             agreement"
        );
        assert_eq!(
            CalibrationWarning::LowKappa { kappa: 0.4 }.to_string(),
            "Cohen's κ is 0.40, below 0.6: the judge often disagrees with reviewers beyond what \
             chance explains"
        );
    }
}
