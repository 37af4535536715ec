//! The rounding every shown progress figure goes through, in one place: the live progress stream
//! (`server::progress`) and a replay of it (`model::replay`) must turn the same counts into the
//! same numbers, and the store's aggregates round as they do.

/// `done` of `total` in percent, to one decimal; 0 for an empty total.
pub fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    round1(done as f64 * 100.0 / total as f64)
}

/// The mean of `n` values summing to `sum`, to two decimals; None without values.
pub fn mean(sum: f64, n: u64) -> Option<f64> {
    (n > 0).then(|| round2(sum / n as f64))
}

/// `part` of `whole` in percent, to two decimals; None for an empty whole.
pub fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round2(part as f64 * 100.0 / whole as f64))
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_round_half_away_from_zero() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(5, 0), 0.0);
        assert_eq!(round2(72.345_1), 72.35);
        assert_eq!(round1(-0.25), -0.3);
        assert_eq!(mean(10.0, 3), Some(3.33));
        assert_eq!(mean(1.0, 0), None);
        assert_eq!(rate(2, 3), Some(66.67));
        assert_eq!(rate(0, 0), None);
    }
}
