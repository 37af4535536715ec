//! The tests and intervals a comparison uses, each with its convention and its source. Pure
//! functions over numbers; nothing here knows what a case or a run is.
//!
//! - [`mcnemar_exact`]: did the pass/fail flips go one way more than chance allows? Exact binomial
//!   test on the discordant pairs at p = ½, two-sided by doubling the smaller tail, capped at 1
//!   (McNemar 1947; equals R's `binom.test`).
//! - [`newcombe_paired_ci`]: interval for the paired difference of pass rates. Newcombe (1998,
//!   Stat Med 17:2635) method 10, "square-and-add" of Wilson limits with the corrected φ.
//! - [`bootstrap_mean_ci`]: interval for the mean paired score difference. Percentile bootstrap
//!   resampling cases, seeded [`SplitMix64`], [`BOOTSTRAP`] = 2,000 resamples.
//! - [`fisher_exact`]: did one case's pass count change over its repeats? Two-sided: the sum of
//!   the tables no more likely than the observed one (R's `fisher.test`, relative tolerance 1e-7).
//! - [`benjamini_hochberg`]: q-values across cases, step-up BH (1995); R's `p.adjust(, "BH")`.
//! - [`mcnemar_pairs_needed`]: pairs needed to detect a change, Connor (1987, Biometrics 43:207).
//! - [`quantile_sorted`], [`percentiles`]: p50 / p95 by linear interpolation between order
//!   statistics, Hyndman & Fan type 7 (R's default, numpy's "linear").
//!
//! **Why the bootstrap, not Wilcoxon, for scores.** The number users see is the *mean* score delta.
//! The Wilcoxon signed-rank test asks whether the deltas are symmetric about 0 and its interval
//! (Hodges–Lehmann) is for the pseudo-median, which can differ from the mean even in sign. Score
//! deltas of LLM answers are bounded (−100…100), skewed, and mostly exactly 0 (unchanged answers),
//! which Wilcoxon drops and then handles with tie corrections. The percentile bootstrap gives an
//! interval for the displayed mean itself with no shape assumption, and resampling *cases* keeps the
//! A/B pairing. Its costs: randomness (hence the fixed seed and algorithm below), and intervals
//! that are too narrow when few cases' scores moved (it cannot imagine a delta it has not seen),
//! which is why `verdict` lets the score decide only once enough cases moved.
//!
//! **Reproducibility.** The bootstrap draws from [`SplitMix64`] (Vigna's `splitmix64.c`, written
//! out here and tested against its published output) with Lemire's multiply-and-reject bounded
//! integers, all in integer arithmetic, and sums in a fixed order (`lane_sum`): the same input
//! gives the same interval on every platform and Rust release. (`rand`'s `SmallRng`, which the
//! simulator uses, is documented as not portable across versions, so it is not used here.)

pub use crate::model::compare::{BootstrapSettings, Interval, Percentiles};
use serde::{Deserialize, Serialize};

/// The mean, or `None` for no values (summed as `lane_sum` does).
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| lane_sum(values.iter().copied()) / values.len() as f64)
}

/// A sum in four interleaved lanes — the i-th value goes to lane i mod 4 — added as
/// (l0 + l1) + (l2 + l3). The bootstrap sums each resample this way because four independent
/// chains of additions run about three times faster than one; [`mean`] uses the same rule, so a
/// constant sample's resampled means equal its mean exactly.
fn lane_sum(values: impl Iterator<Item = f64>) -> f64 {
    let mut lanes = [0.0_f64; 4];
    for (i, v) in values.enumerate() {
        lanes[i % 4] += v;
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

// ---------------------------------------------------------------------------------------------
// Pass/fail over paired cases
// ---------------------------------------------------------------------------------------------

/// Exact two-sided McNemar test. `a_only`: pairs that passed in A only; `b_only`: in B only.
///
/// Under "no difference" each discordant pair is a fair coin, so this is the binomial test of
/// `min(a_only, b_only)` in `a_only + b_only` trials at p = ½, two-sided by **doubling the smaller
/// tail**, capped at 1. Because Binomial(n, ½) is symmetric, doubling equals the "sum of outcomes no
/// more likely than the observed" rule of R's `binom.test` and scipy's `binomtest`. No discordant
/// pair gives 1.
pub fn mcnemar_exact(a_only: u64, b_only: u64) -> f64 {
    let n = a_only.saturating_add(b_only);
    if n == 0 {
        return 1.0;
    }
    (2.0 * binomial_half_lower_tail(a_only.min(b_only), n)).min(1.0)
}

/// P(X ≤ k) for X ~ Binomial(n, ½) and k ≤ n/2.
///
/// Terms are taken relative to the central one (t_m = 1 at m = ⌊n/2⌋) and walked down by the ratio
/// t_{i−1}/t_i = i / (n − i + 1), so nothing overflows and no log-gamma approximation is needed; the
/// total comes from the symmetry t_i = t_{n−i}. Far tails underflow to 0, which is their value to
/// double precision relative to the rest.
fn binomial_half_lower_tail(k: u64, n: u64) -> f64 {
    let m = n / 2;
    debug_assert!(k <= m);
    let mut term = 1.0_f64;
    let mut tail = if k == m { 1.0 } else { 0.0 };
    let mut below_mode = 0.0_f64;
    let mut i = m;
    while i > 0 {
        term *= i as f64 / (n - i + 1) as f64;
        i -= 1;
        below_mode += term;
        if i <= k {
            tail += term;
            if term <= tail * 1e-18 {
                break; // the rest cannot change either sum
            }
        }
        if term == 0.0 {
            break;
        }
    }
    let total = if n.is_multiple_of(2) {
        2.0 * below_mode + 1.0
    } else {
        2.0 * (below_mode + 1.0)
    };
    tail / total
}

/// Pass/fail of the same cases in A and B, as the four cells of McNemar's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PairedTable {
    pub both: u64,
    pub a_only: u64,
    pub b_only: u64,
    pub neither: u64,
}

impl PairedTable {
    pub fn total(&self) -> u64 {
        self.both + self.a_only + self.b_only + self.neither
    }
}

/// The Wilson score interval for a proportion `successes / trials` (Wilson 1927): what the paired
/// interval is built from. `None` for no trials.
pub fn wilson_interval(successes: u64, trials: u64, confidence: f64) -> Option<Interval> {
    if trials == 0 || successes > trials {
        return None;
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let (x, n) = (successes as f64, trials as f64);
    let z2 = z * z;
    let centre = (2.0 * x + z2) / (2.0 * (n + z2));
    let half = z * (z2 + 4.0 * x * (n - x) / n).sqrt() / (2.0 * (n + z2));
    Some(Interval {
        lo: (centre - half).max(0.0),
        hi: (centre + half).min(1.0),
    })
}

/// Confidence interval for the paired difference of pass rates, **B − A**, as a fraction.
///
/// Newcombe's (1998) method 10, the "square-and-add" hybrid score interval: the Wilson limits of
/// each margin combined with the estimated correlation φ between the two margins, φ taken as
/// `(AD − BC − n/2)/√(margins)` when `AD − BC > n/2`, 0 when `0 ≤ AD − BC ≤ n/2`, `(AD − BC)/√…`
/// when negative, and 0 when a margin is empty — exactly as in Fagerland, Lydersen & Laake,
/// *Statistical Analysis of Contingency Tables* (2017) §8.5.
///
/// Why this one: it is closed-form (no root-finding, so it is cheap and reproducible), it never
/// leaves [−1, 1], it stays sensible with zero discordant pairs, and Fagerland et al. (2014, Stat
/// Med 33:2850) recommend it with Tango's score interval for small and moderate samples, where the
/// Wald interval fails. Tango's interval needs an iterative solve for little gain at our sizes.
pub fn newcombe_paired_ci(table: PairedTable, confidence: f64) -> Option<Interval> {
    let n = table.total();
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let pass_b = table.both + table.b_only;
    let pass_a = table.both + table.a_only;
    let p_b = pass_b as f64 / nf;
    let p_a = pass_a as f64 / nf;
    let diff = (table.b_only as f64 - table.a_only as f64) / nf;
    let wb = wilson_interval(pass_b, n, confidence)?;
    let wa = wilson_interval(pass_a, n, confidence)?;

    let margins = [pass_b, n - pass_b, pass_a, n - pass_a];
    let phi = if margins.contains(&0) {
        0.0
    } else {
        let spread = margins.iter().map(|m| *m as f64).product::<f64>().sqrt();
        let cross =
            table.both as f64 * table.neither as f64 - table.b_only as f64 * table.a_only as f64;
        if cross > nf / 2.0 {
            (cross - nf / 2.0) / spread
        } else if cross >= 0.0 {
            0.0
        } else {
            cross / spread
        }
    };
    // Written so that swapping A and B maps one expression onto the other exactly: the interval
    // of A − B is the negation of this one, bit for bit.
    let root = |down: f64, up: f64| {
        (down * down + up * up - 2.0 * phi * down * up)
            .max(0.0)
            .sqrt()
    };
    let lo = diff - root(p_b - wb.lo, wa.hi - p_a);
    let hi = diff + root(p_a - wa.lo, wb.hi - p_b);
    Some(Interval {
        lo: lo.max(-1.0),
        hi: hi.min(1.0),
    })
}

/// Pairs needed for the exact-in-spirit McNemar test to detect a change in pass rate.
///
/// Connor (1987), "Sample size for testing differences in proportions for the paired-sample
/// design", Biometrics 43:207–211:
///
/// ```text
/// n = ( z_{1−α/2} · √ψ  +  z_{power} · √(ψ − δ²) )²  /  δ²
/// ```
///
/// where ψ = P(discordant pair) and δ = the change in pass rate (both as fractions). ψ must be at
/// least |δ| (every discordant pair going one way); `None` when the inputs make no sense. The
/// result is rounded up. It is a normal approximation: for tiny ψ the exact test needs a few more.
pub fn mcnemar_pairs_needed(discordance: f64, change: f64, alpha: f64, power: f64) -> Option<u64> {
    let delta = change.abs();
    let valid = delta > 0.0
        && delta <= discordance
        && discordance <= 1.0
        && alpha > 0.0
        && alpha < 1.0
        && power > 0.0
        && power < 1.0;
    if !valid {
        return None;
    }
    let z_alpha = normal_quantile(1.0 - alpha / 2.0);
    let z_power = normal_quantile(power);
    let root = z_alpha * discordance.sqrt() + z_power * (discordance - delta * delta).sqrt();
    let n = (root * root / (delta * delta)).ceil();
    (n.is_finite() && n < u64::MAX as f64).then_some(n as u64)
}

// ---------------------------------------------------------------------------------------------
// One case over its repeats
// ---------------------------------------------------------------------------------------------

/// Fisher's exact test, two-sided, for the 2×2 table rows A, B × columns passed, failed.
///
/// Two-sided p = the sum of the probabilities of every table with the same margins that is no
/// more likely than the observed one, with R's relative tolerance of 1e-7 so that ties computed
/// in floating point still count (R `fisher.test`, scipy `fisher_exact`). Probabilities come from
/// the hypergeometric ratios d(x+1)/d(x) in log space, normalised over the support.
pub fn fisher_exact(a_passed: u64, a_failed: u64, b_passed: u64, b_failed: u64) -> f64 {
    let row_a = a_passed + a_failed;
    let row_b = b_passed + b_failed;
    let passed = a_passed + b_passed;
    let lo = passed.saturating_sub(row_b);
    let hi = row_a.min(passed);
    if lo >= hi {
        return 1.0;
    }
    // log d(x) − log d(lo), walked up the support.
    let step = |x: u64| {
        let up = (passed - x) as f64 * (row_a - x) as f64;
        let down = (x + 1) as f64 * (row_b + x + 1 - passed) as f64;
        (up / down).ln()
    };
    let (mut log_d, mut max, mut observed) = (0.0_f64, 0.0_f64, 0.0_f64);
    for x in lo..=hi {
        if x == a_passed {
            observed = log_d;
        }
        max = max.max(log_d);
        if x < hi {
            log_d += step(x);
        }
    }
    let cutoff = observed + 1e-7_f64.ln_1p();
    let (mut all, mut as_extreme) = (0.0_f64, 0.0_f64);
    log_d = 0.0;
    for x in lo..=hi {
        let d = (log_d - max).exp();
        all += d;
        if log_d <= cutoff {
            as_extreme += d;
        }
        if x < hi {
            log_d += step(x);
        }
    }
    (as_extreme / all).min(1.0)
}

/// Benjamini–Hochberg (1995) adjusted p-values ("q-values"), in the order given.
///
/// q_(i) = min over j ≥ i of min(1, p_(j) · m / j) for the p-values sorted ascending; a case with
/// q < 0.05 is a discovery with the false discovery rate controlled at 5 % across the m cases.
/// Same as R's `p.adjust(p, "BH")` and scipy's `false_discovery_control`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut q = vec![1.0; m];
    let mut running = 1.0_f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p_values[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.clamp(0.0, 1.0);
    }
    q
}

// ---------------------------------------------------------------------------------------------
// Percentiles
// ---------------------------------------------------------------------------------------------

/// The `q` quantile (0 ≤ q ≤ 1) of values sorted ascending: Hyndman & Fan type 7, i.e. with
/// h = (n − 1)·q, `x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])` (R's default, numpy's "linear").
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let below = h.floor() as usize;
    let Some(&next) = sorted.get(below + 1) else {
        return Some(sorted[sorted.len() - 1]);
    };
    let x = sorted[below];
    Some(x + (h - below as f64) * (next - x))
}

/// p50 and p95 of `values` (sorted in place); `None` for no values.
pub fn percentiles(values: &mut [f64]) -> Option<Percentiles> {
    values.sort_unstable_by(f64::total_cmp);
    Some(Percentiles {
        count: values.len(),
        p50: quantile_sorted(values, 0.5)?,
        p95: quantile_sorted(values, 0.95)?,
    })
}

// ---------------------------------------------------------------------------------------------
// The seeded bootstrap
// ---------------------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea & Flood 2014; Vigna's reference `splitmix64.c`): a 64-bit state, one
/// add and two multiply-xorshift rounds per output. Small, fast, and fully specified, so a seeded
/// comparison gives the same numbers everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias: Lemire (2019), "Fast random integer
    /// generation in an interval", ACM TOMACS 29(1) — multiply, and reject the few low products
    /// that would make some values more likely.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut product = u128::from(self.next_u64()) * u128::from(n);
        if (product as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (product as u64) < threshold {
                product = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (product >> 64) as u64
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// 2,000 resamples put the Monte-Carlo error of a 95 % percentile limit near 6 % of the standard
/// error (√(0.025·0.975/2000)/φ(1.96)), enough for a verdict, and keep 25,000 cases fast.
pub const BOOTSTRAP: BootstrapSettings = BootstrapSettings {
    resamples: 2_000,
    seed: 0x6469_6679_2d62_656e, // "dify-ben"
};

/// Paired bootstrap percentile interval for the mean of `values` — the per-case differences
/// B − A, so resampling them resamples whole cases and keeps each case's pairing.
///
/// Each resample draws `values.len()` indices with [`SplitMix64::below`] and sums the values they
/// point at in draw order with `lane_sum` (no allocation per resample); the interval is the `(1 − c)/2` and `(1 + c)/2` type-7
/// quantiles of the resampled means. `None` for no values or no resamples.
pub fn bootstrap_mean_ci(
    values: &[f64],
    confidence: f64,
    settings: BootstrapSettings,
) -> Option<Interval> {
    if values.is_empty() || settings.resamples == 0 || !(0.0..1.0).contains(&confidence) {
        return None;
    }
    let n = values.len() as u64;
    let mut rng = SplitMix64::new(settings.seed);
    let mut means = Vec::with_capacity(settings.resamples as usize);
    for _ in 0..settings.resamples {
        let sum = lane_sum((0..n).map(|_| values[rng.below(n) as usize]));
        means.push(sum / n as f64);
    }
    means.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    Some(Interval {
        lo: quantile_sorted(&means, tail)?,
        hi: quantile_sorted(&means, 1.0 - tail)?,
    })
}

// ---------------------------------------------------------------------------------------------
// The normal quantile
// ---------------------------------------------------------------------------------------------

/// The standard normal quantile Φ⁻¹(p): Acklam's rational approximation (relative error below
/// 1.15e-9 over (0, 1)) — far below anything a verdict rounds to. ±∞ at 0 and 1, NaN outside.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        f64::NAN
    } else if p == 0.0 {
        f64::NEG_INFINITY
    } else if p == 1.0 {
        f64::INFINITY
    } else if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
// Reference values are kept exactly as R and scipy printed them, so they can be compared with
// their source digit for digit.
#[allow(clippy::excessive_precision)]
mod tests {
    //! Every expected value below was computed outside this code; the source is named at each.
    //! "R" is R 4.2.2 (Debian's r-base-core); "scipy" is scipy 1.17.1 with numpy 2.4.6.
    use super::*;

    fn close(actual: f64, expected: f64, rel: f64) -> bool {
        (actual - expected).abs() <= rel * expected.abs().max(1e-300)
    }

    #[track_caller]
    fn assert_close(actual: f64, expected: f64, rel: f64) {
        assert!(
            close(actual, expected, rel),
            "{actual} is not within {rel} of {expected}"
        );
    }

    #[test]
    fn mcnemar_matches_the_exact_binomial_test() {
        // (a_only, b_only, expected two-sided p) — R: binom.test(min(b, c), b + c, 0.5)$p.value
        let cases = [
            (3, 11, 0.057373046875000042),
            (11, 3, 0.057373046875000042),
            (0, 6, 0.031250000000000007),
            (5, 5, 1.0),
            (1, 0, 1.0),
            (7, 19, 0.028959274291992181),
            (480, 560, 0.014259079095386078),
            (10_000, 10_400, 0.0052119040143242777),
        ];
        for (a_only, b_only, expected) in cases {
            assert_close(mcnemar_exact(a_only, b_only), expected, 1e-10);
        }
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // 0 vs 2,000 discordant pairs: 2 · 2^-2000 underflows; the answer is 0, not NaN.
        assert_eq!(mcnemar_exact(0, 2_000), 0.0);
    }

    #[test]
    fn wilson_matches_r_prop_test_without_correction() {
        // R: prop.test(x, n, correct = FALSE)$conf.int — the Wilson score interval.
        let cases = [
            (13, 16, 0.56991119038025873, 0.93408400928571866),
            (0, 10, 0.0, 0.27753279986288915),
            (10, 10, 0.72246720013711085, 1.0),
            (250, 533, 0.42704964304379889, 0.51147969470054599),
        ];
        for (x, n, lo, hi) in cases {
            let ci = wilson_interval(x, n, 0.95).unwrap();
            // Acklam's z is good to ~1e-9, which bounds the agreement.
            assert!(
                (ci.lo - lo).abs() < 1e-8 && (ci.hi - hi).abs() < 1e-8,
                "{x}/{n}: {ci:?}"
            );
        }
        assert_eq!(wilson_interval(1, 0, 0.95), None);
    }

    #[test]
    fn newcombe_matches_fagerland_et_al() {
        // Published: Cavo et al. (2012) complete response before/after consolidation therapy, the
        // worked example of Fagerland, Lydersen & Laake (2017) §8.5 and of the `contingencytables`
        // R package's test-ch8.R: table [[59, 6], [16, 80]] → estimate −0.0621, 95 % CI −0.1186 to
        // −0.0046. With rows = B and columns = A: both 59, B only 6, A only 16, neither 80.
        let cavo = PairedTable {
            both: 59,
            b_only: 6,
            a_only: 16,
            neither: 80,
        };
        let ci = newcombe_paired_ci(cavo, 0.95).unwrap();
        assert_eq!(
            ((ci.lo * 1e4).round(), (ci.hi * 1e4).round()),
            (-1186.0, -46.0)
        );

        // Full precision for more tables: R running `Newcombe_square_and_add_CI_paired_2x2` from
        // ocbe-uio/contingencytables (R/Newcombe_square_and_add_CI_paired_2x2.R) on
        // matrix(c(both, b_only, a_only, neither), 2, byrow = TRUE).
        let cases = [
            ((59, 6, 16, 80), -0.11862119563870994, -0.004625113933050061),
            // Bentur et al. (2009), the book's other example; φ's middle branch.
            ((1, 1, 7, 12), -0.5069202266861409, -0.025559124164859837),
            // AD − BC < 0: the negative-φ branch.
            ((2, 10, 8, 1), -0.28086979743066315, 0.4440748474668974),
            // No discordant pair: a narrow interval around 0, not a zero-width one.
            ((40, 0, 0, 10), -0.057092247699851245, 0.057092247699851245),
            // An empty margin: φ = 0.
            ((0, 0, 3, 7), -0.60322185253885463, 0.037592434579050538),
            ((0, 0, 0, 5), -0.43448246478317465, 0.43448246478317465),
            (
                (20_000, 700, 900, 3_400),
                -0.011138892272146055,
                -0.0048653489299552164,
            ),
        ];
        for ((both, b_only, a_only, neither), lo, hi) in cases {
            let table = PairedTable {
                both,
                a_only,
                b_only,
                neither,
            };
            let ci = newcombe_paired_ci(table, 0.95).unwrap();
            assert!(
                (ci.lo - lo).abs() < 1e-8 && (ci.hi - hi).abs() < 1e-8,
                "{table:?}: {ci:?}"
            );
            let diff = (b_only as f64 - a_only as f64) / table.total() as f64;
            assert!(ci.contains(diff));
            // Swapping A and B negates the interval exactly.
            let swapped = PairedTable {
                a_only: b_only,
                b_only: a_only,
                ..table
            };
            let back = newcombe_paired_ci(swapped, 0.95).unwrap();
            assert_eq!((back.lo, back.hi), (-ci.hi, -ci.lo));
        }
        assert_eq!(newcombe_paired_ci(PairedTable::default(), 0.95), None);
    }

    #[test]
    fn fisher_matches_r() {
        // (A passed, A failed, B passed, B failed, p) —
        // R: fisher.test(matrix(c(a_pass, a_fail, b_pass, b_fail), 2, byrow = TRUE))$p.value
        let cases = [
            (3, 1, 1, 3, 0.48571428571428582), // Fisher's tea-tasting table
            (5, 0, 0, 5, 0.0079365079365079395),
            (1, 4, 5, 0, 0.047619047619047623),
            (7, 3, 2, 8, 0.069778518694927336),
            (0, 20, 20, 0, 1.4508889103849726e-11),
            (12, 8, 15, 5, 0.50060341606504),
            (3, 2, 2, 3, 0.99999999999999989),
            (2, 3, 5, 0, 0.16666666666666657),
            (20, 0, 19, 1, 1.0),
            (4, 1, 1, 4, 0.20634920634920631),
            (0, 5, 0, 5, 1.0),
        ];
        for (ap, af, bp, bf, expected) in cases {
            assert_close(fisher_exact(ap, af, bp, bf), expected, 1e-9);
            assert_close(fisher_exact(bp, bf, ap, af), expected, 1e-9);
        }
        assert_eq!(fisher_exact(0, 0, 3, 2), 1.0);
        assert_eq!(fisher_exact(0, 0, 0, 0), 1.0);
    }

    #[test]
    fn benjamini_hochberg_matches_r_p_adjust() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.5, 0.2, 0.04, 1, 0.0001), "BH")
        let p = [0.01, 0.04, 0.03, 0.005, 0.5, 0.2, 0.04, 1.0, 0.0001];
        let expected = [
            0.03,
            0.06,
            0.06,
            0.0225,
            0.5625,
            0.25714285714285717,
            0.06,
            1.0,
            0.0009,
        ];
        for (q, e) in benjamini_hochberg(&p).into_iter().zip(expected) {
            assert_close(q, e, 1e-12);
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.3]), vec![0.3]);
    }

    #[test]
    fn percentiles_are_type_7() {
        // R: quantile(c(12, 3, 45, 7, 7, 100, 23, 5, 18, 61), c(.5, .95, .025, .975, 0, 1), type = 7)
        let mut x = [12.0, 3.0, 45.0, 7.0, 7.0, 100.0, 23.0, 5.0, 18.0, 61.0];
        let p = percentiles(&mut x).unwrap();
        assert_eq!(p.count, 10);
        assert_close(p.p50, 15.0, 1e-12);
        assert_close(p.p95, 82.45, 1e-12);
        assert_close(quantile_sorted(&x, 0.025).unwrap(), 3.45, 1e-12);
        assert_close(quantile_sorted(&x, 0.975).unwrap(), 91.225, 1e-12);
        assert_eq!(quantile_sorted(&x, 0.0), Some(3.0));
        assert_eq!(quantile_sorted(&x, 1.0), Some(100.0));
        // R: quantile(42, c(.5, .95)) = 42, 42; quantile(c(1, 2), c(.5, .95)) = 1.5, 1.95
        assert_eq!(
            percentiles(&mut [42.0]).map(|p| (p.p50, p.p95)),
            Some((42.0, 42.0))
        );
        let two = percentiles(&mut [2.0, 1.0]).unwrap();
        assert_close(two.p50, 1.5, 1e-12);
        assert_close(two.p95, 1.95, 1e-12);
        assert_eq!(percentiles(&mut []), None);
        assert_eq!(quantile_sorted(&x, 1.5), None);
    }

    #[test]
    fn normal_quantile_matches_r_qnorm() {
        // R: qnorm(p); Acklam's stated relative error bound is 1.15e-9.
        let cases = [
            (0.975, 1.95996398454005361),
            (0.8, 0.84162123357291441),
            (0.9, 1.28155156554460081),
            (0.3, -0.52440051270804067),
            (1e-10, -6.36134090240405570),
            (0.02425, -1.97296105131188448),
            (1.0 - 1e-12, 7.03448691004783555),
        ];
        for (p, z) in cases {
            assert_close(normal_quantile(p), z, 1.2e-9);
        }
        assert_eq!(normal_quantile(0.5), 0.0);
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert!(normal_quantile(1.5).is_nan());
    }

    #[test]
    fn sample_size_matches_connor() {
        // Published: Connor (1987) p. 209, as worked on powerandsamplesize.com's "Compare Paired
        // Proportions: McNemar's Z-test, 2-Sided": p01 = 0.45, p10 = 0.05, α = 0.05, power 0.8
        // → ceiling(n) = 23 (n = 22.01).
        assert_eq!(mcnemar_pairs_needed(0.50, 0.40, 0.05, 0.8), Some(23));
        // R: the same formula with qnorm — (p10, p01) = (0.075, 0.025) → 311.59, (0.15, 0.10) →
        // 782.53, (0.025, 0) → 311.59 (all discordance one way: ψ = δ).
        assert_eq!(mcnemar_pairs_needed(0.10, 0.05, 0.05, 0.8), Some(312));
        assert_eq!(mcnemar_pairs_needed(0.25, 0.05, 0.05, 0.8), Some(783));
        assert_eq!(mcnemar_pairs_needed(0.025, -0.025, 0.05, 0.8), Some(312));
        assert_eq!(
            mcnemar_pairs_needed(0.01, 0.05, 0.05, 0.8),
            None,
            "ψ < δ is impossible"
        );
        assert_eq!(mcnemar_pairs_needed(0.5, 0.0, 0.05, 0.8), None);
    }

    #[test]
    fn splitmix64_matches_the_reference_implementation() {
        // Vigna's splitmix64.c seeded with 1477776061723855037: the first outputs, as published
        // in rand_xoshiro's `reference` test and re-run here with the C source under gcc.
        let mut rng = SplitMix64::new(1_477_776_061_723_855_037);
        let expected: [u64; 5] = [
            1985237415132408290,
            2979275885539914483,
            13511426838097143398,
            8488337342461049707,
            15141737807933549159,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn bounded_draws_are_pinned_and_in_range() {
        // Lemire's method on SplitMix64(42), computed with Python big integers (the same
        // algorithm, written independently): a cross-check of the 128-bit arithmetic.
        let mut rng = SplitMix64::new(42);
        let draws: Vec<u64> = (0..12).map(|_| rng.below(10)).collect();
        assert_eq!(draws, [7, 1, 2, 3, 0, 8, 2, 8, 3, 6, 2, 4]);
        let mut rng = SplitMix64::new(42);
        let draws: Vec<u64> = (0..6).map(|_| rng.below(25_000)).collect();
        assert_eq!(draws, [18539, 3997, 6965, 8604, 950, 21705]);
        let mut rng = SplitMix64::new(7);
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            seen[rng.below(7) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{seen:?}"
        );
        assert!((0..1000).all(|_| (0.0..1.0).contains(&rng.next_f64())));
    }

    #[test]
    fn bootstrap_agrees_with_scipy_within_monte_carlo_error() {
        // d_i = (37·i mod 101) − 40, i = 0..300: mean 9.8933, standard error 1.6865.
        // scipy.stats.bootstrap((d,), np.mean, method="percentile", n_resamples=200_000)
        // → (6.5967, 13.2000). With 2,000 resamples a limit's Monte-Carlo sd is ≈ 0.06 SE, so
        // agreement within 0.2 SE is the honest bar.
        let d: Vec<f64> = (0..300).map(|i| ((i * 37) % 101) as f64 - 40.0).collect();
        let se = 1.6865279905624382;
        let ci = bootstrap_mean_ci(&d, 0.95, BOOTSTRAP).unwrap();
        assert!((ci.lo - 6.596666666666667).abs() < 0.2 * se, "{ci:?}");
        assert!((ci.hi - 13.2).abs() < 0.2 * se, "{ci:?}");
        assert!(ci.contains(mean(&d).unwrap()));

        // A score-like sample: 240 zeros, 40 drops of 0–60, 20 gains of 0–10 (mean −3.5167,
        // SE 0.7127). scipy, as above: (−4.9667, −2.1833).
        let s: Vec<f64> = std::iter::repeat_n(0.0, 240)
            .chain((0..40).map(|i| -((i % 7) as f64) * 10.0))
            .chain((0..20).map(|i| 5.0 * (i % 3) as f64))
            .collect();
        let ci = bootstrap_mean_ci(&s, 0.95, BOOTSTRAP).unwrap();
        assert!((ci.lo - -4.966666666666667).abs() < 0.2 * 0.7127, "{ci:?}");
        assert!((ci.hi - -2.183333333333333).abs() < 0.2 * 0.7127, "{ci:?}");
    }

    #[test]
    fn bootstrap_is_reproducible_and_degenerates_sensibly() {
        let d: Vec<f64> = (0..500)
            .map(|i| ((i * 7919) % 211) as f64 / 10.0 - 9.0)
            .collect();
        let first = bootstrap_mean_ci(&d, 0.95, BOOTSTRAP).unwrap();
        assert_eq!(bootstrap_mean_ci(&d, 0.95, BOOTSTRAP).unwrap(), first);
        let other_seed = BootstrapSettings {
            seed: 1,
            ..BOOTSTRAP
        };
        assert_ne!(bootstrap_mean_ci(&d, 0.95, other_seed).unwrap(), first);
        // Negating the data negates the interval (same indices, mirrored quantiles).
        let negated: Vec<f64> = d.iter().map(|x| -x).collect();
        let mirror = bootstrap_mean_ci(&negated, 0.95, BOOTSTRAP).unwrap();
        assert!((mirror.lo + first.hi).abs() < 1e-12 && (mirror.hi + first.lo).abs() < 1e-12);
        // A constant sample has a zero-width interval at that constant.
        let ci = bootstrap_mean_ci(&[2.5; 40], 0.95, BOOTSTRAP).unwrap();
        assert_eq!((ci.lo, ci.hi), (2.5, 2.5));
        // Also when the constant is not exact in binary: every sum rounds the same way.
        let tenths = [0.1; 37];
        let ci = bootstrap_mean_ci(&tenths, 0.95, BOOTSTRAP).unwrap();
        assert_eq!(
            (ci.lo, ci.hi),
            (mean(&tenths).unwrap(), mean(&tenths).unwrap())
        );
        assert_eq!(bootstrap_mean_ci(&[], 0.95, BOOTSTRAP), None);
    }
}
