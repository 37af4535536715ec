//! When to try a delivery again, and whether to: pure functions over an attempt's outcome.
//!
//! Retried: network errors, timeouts, 5xx, 408 and 429 (the receiver's trouble, which passes).
//! Not retried: other 4xx and 3xx (the request itself is wrong for the receiver, or it points
//! elsewhere and redirects are never followed), and a target the outbound policy refuses.
//! Delays double from [`RetryPolicy::base`] with ±25 % jitter (so that many deliveries failed
//! together do not come back together); a `Retry-After` longer than the delay wins, up to
//! [`RetryPolicy::max_retry_after`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (`--webhook-retry-base-ms`).
    pub base: Duration,
    /// Attempts at most, the first included (`--webhook-attempts`).
    pub max_attempts: u32,
    /// A receiver's `Retry-After` is honoured up to this.
    pub max_retry_after: Duration,
}

/// 6 attempts, 10 s apart doubling: 10 + 20 + 40 + 80 + 160 s ≈ 5 min from the first to the
/// last (before jitter).
impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(10),
            max_attempts: 6,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

/// What an attempt's outcome calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Worth another attempt (if any is left).
    Retry,
    /// Never worth another.
    GiveUp,
}

/// By the HTTP status of the answer.
pub fn after_status(status: u16) -> Next {
    match status {
        200..=299 => Next::Delivered,
        408 | 429 | 500..=599 => Next::Retry,
        _ => Next::GiveUp,
    }
}

impl RetryPolicy {
    /// The delay after the `failed`-th failed attempt (1 = the first), before jitter:
    /// `base × 2^(failed−1)`.
    pub fn nominal(&self, failed: u32) -> Duration {
        let doubling = failed.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << doubling)
    }

    /// [`RetryPolicy::nominal`] scaled by `0.75 + 0.5 × jitter` (`jitter` in [0, 1)), and at
    /// least `retry_after` (capped at [`RetryPolicy::max_retry_after`]). None when no attempt
    /// is left after `failed`.
    pub fn delay(
        &self,
        failed: u32,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if failed >= self.max_attempts {
            return None;
        }
        let scaled = self
            .nominal(failed)
            .mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0));
        let asked = retry_after.map_or(Duration::ZERO, |r| r.min(self.max_retry_after));
        Some(scaled.max(asked))
    }

    /// The nominal schedule: the delay after each failed attempt but the last.
    pub fn schedule(&self) -> Vec<Duration> {
        (1..self.max_attempts).map(|n| self.nominal(n)).collect()
    }
}

/// A `Retry-After` value: delay-seconds, or an HTTP date (IMF-fixdate,
/// `Wed, 21 Oct 2015 07:28:00 GMT`) measured from `now`. None when it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// Unix seconds of an IMF-fixdate.
fn http_date(s: &str) -> Option<i64> {
    // "Wed, 21 Oct 2015 07:28:00 GMT"
    let mut parts = s.split_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_six_attempts_over_about_five_minutes() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = p.schedule().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160]);
        assert_eq!(secs.iter().sum::<u64>(), 310);
    }

    #[test]
    fn jitter_stays_within_a_quarter_and_the_last_attempt_ends_it() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.0, None), Some(Duration::from_millis(7_500)));
        assert_eq!(p.delay(1, 1.0, None), Some(Duration::from_millis(12_500)));
        assert_eq!(p.delay(3, 0.5, None), Some(Duration::from_secs(40)));
        assert_eq!(p.delay(6, 0.5, None), None, "6 attempts made: none left");
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_capped() {
        let p = RetryPolicy::default();
        let d = |r| p.delay(1, 0.5, Some(Duration::from_secs(r))).unwrap();
        assert_eq!(d(3), Duration::from_secs(10), "shorter: the backoff stands");
        assert_eq!(d(120), Duration::from_secs(120));
        assert_eq!(d(86_400), Duration::from_secs(3600), "capped at an hour");
    }

    #[test]
    fn statuses_are_told_apart() {
        assert_eq!(after_status(200), Next::Delivered);
        assert_eq!(after_status(204), Next::Delivered);
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(after_status(s), Next::Retry, "{s}");
        }
        for s in [301, 302, 400, 401, 403, 404, 410, 422] {
            assert_eq!(after_status(s), Next::GiveUp, "{s}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        // 2015-10-21T07:28:00Z is 1445412480 (RFC 9110's example date).
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480 - 90);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after(
                "Wed, 21 Oct 2015 07:28:00 GMT",
                now + Duration::from_secs(1000)
            ),
            Some(Duration::ZERO),
            "a date past is now"
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
