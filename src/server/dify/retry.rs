//! When to try a Dify call again and how long to wait first. Pure functions, so the policy can be
//! read (and tested) as a table: what is transient (Dify's concurrency ceiling, 5xx, gateways,
//! timeouts, cut streams) is retried; what a retry cannot fix (validation, auth, quota, a failed
//! workflow) is not.

use std::time::Duration;

use rand::Rng;

use super::error::codes;

/// The verdict on one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Retry,
    GiveUp,
}

/// Decides from the HTTP status (or a mid-stream `error` event's `status`) and the failure code.
/// The code wins where it is explicit, because a 429 means two different things in Dify:
/// `too_many_requests` is the per-app concurrency ceiling (wait and it frees up), `rate_limit_error`
/// is a plan quota or the model provider's limit (retrying burns more of it).
pub fn classify(http_status: Option<u16>, code: &str) -> Decision {
    use Decision::{GiveUp, Retry};
    match code {
        codes::TOO_MANY_REQUESTS => return Retry,
        codes::RATE_LIMIT_ERROR => return GiveUp,
        codes::TIMEOUT
        | codes::IDLE_TIMEOUT
        | codes::CONNECTION_ERROR
        | codes::INVALID_RESPONSE
        | codes::GATEWAY_ERROR
        | codes::STREAM_INCOMPLETE => return Retry,
        codes::WORKFLOW_FAILED
        | codes::WORKFLOW_PAUSED
        | codes::RESPONSE_TOO_LARGE
        | codes::INVALID_REQUEST
        | codes::TARGET_REFUSED
        | codes::REDIRECT_REFUSED => return GiveUp,
        _ => {}
    }
    match http_status {
        Some(400 | 401 | 403 | 404 | 413 | 415) => GiveUp,
        // 429 with a code we do not know: HTTP says "later", so later it is (bounded by max_attempts).
        Some(408 | 425 | 429) => Retry,
        Some(s) if s >= 500 => Retry,
        Some(_) => GiveUp,
        None if code == codes::INTERNAL_SERVER_ERROR => Retry,
        None => GiveUp,
    }
}

/// The cap of the `retry_index`-th backoff (0 for the first retry): `min(max, base · 2^retry_index)`.
pub fn backoff_ceiling(retry_index: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(retry_index).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// "Full jitter": uniform in `[0, ceiling]`. Spreads the retries of many concurrent tests that all
/// hit Dify's concurrency ceiling at once, instead of sending them back in lockstep.
pub fn full_jitter(ceiling: Duration, rng: &mut impl Rng) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.gen_range(0..=nanos))
}

/// `Retry-After` in delta-seconds (fractions tolerated). An HTTP-date, a negative number or garbage
/// gives `None`, and the caller falls back to jittered backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // Anything past a day is as good as "never"; clamp so the conversion cannot overflow.
    Some(Duration::from_secs_f64(secs.min(86_400.0)))
}

/// How long to sleep before retry number `retry_index` (0-based): the server's `Retry-After` when it
/// gave one, else full-jitter exponential backoff; never longer than `max`.
pub fn delay_before_retry(
    retry_index: u32,
    retry_after: Option<Duration>,
    base: Duration,
    max: Duration,
    rng: &mut impl Rng,
) -> Duration {
    match retry_after {
        Some(d) => d.min(max),
        None => full_jitter(backoff_ceiling(retry_index, base, max), rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    #[test]
    fn retry_table() {
        use Decision::{GiveUp, Retry};
        let table: &[(Option<u16>, &str, Decision)] = &[
            (Some(429), "too_many_requests", Retry),
            (Some(429), "rate_limit_error", GiveUp),
            (Some(429), codes::GATEWAY_ERROR, Retry), // Cloudflare 1015 page
            (Some(429), "something_new", Retry),
            (Some(500), "internal_server_error", Retry),
            (Some(502), codes::GATEWAY_ERROR, Retry),
            (Some(503), "service_unavailable", Retry),
            (Some(504), codes::GATEWAY_ERROR, Retry),
            (Some(400), "invalid_param", GiveUp),
            (Some(400), "completion_request_error", GiveUp),
            (Some(400), "provider_quota_exceeded", GiveUp),
            (Some(400), "app_unavailable", GiveUp),
            (Some(401), "unauthorized", GiveUp),
            (Some(403), "forbidden", GiveUp),
            (Some(404), "not_found", GiveUp),
            (Some(404), codes::HTTP_ERROR, GiveUp),
            (Some(413), "file_too_large", GiveUp),
            (Some(415), "unsupported_file_type", GiveUp),
            (Some(408), codes::HTTP_ERROR, Retry),
            (Some(409), "conflict", GiveUp),
            (Some(200), codes::INVALID_RESPONSE, Retry),
            (Some(200), codes::RESPONSE_TOO_LARGE, GiveUp),
            (None, codes::TIMEOUT, Retry),
            (None, codes::IDLE_TIMEOUT, Retry),
            (None, codes::CONNECTION_ERROR, Retry),
            (Some(200), codes::STREAM_INCOMPLETE, Retry),
            (Some(200), codes::WORKFLOW_FAILED, GiveUp),
            (Some(200), codes::WORKFLOW_PAUSED, GiveUp),
            (None, codes::INVALID_REQUEST, GiveUp),
            // The outbound policy: a refused address or a redirect stays so on every attempt.
            (None, codes::TARGET_REFUSED, GiveUp),
            (Some(302), codes::REDIRECT_REFUSED, GiveUp),
            (Some(307), codes::REDIRECT_REFUSED, GiveUp),
            // Mid-stream `error` events carry an HTTP-like status of their own.
            (Some(500), "internal_server_error", Retry),
            (Some(400), "invalid_param", GiveUp),
            (None, "internal_server_error", Retry),
            (None, "completion_request_error", GiveUp),
        ];
        for &(status, code, want) in table {
            assert_eq!(classify(status, code), want, "{status:?} {code}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(20);
        let ceilings: Vec<u64> = (0..8)
            .map(|i| backoff_ceiling(i, base, max).as_millis() as u64)
            .collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
        assert_eq!(backoff_ceiling(40, base, max), max);
        assert_eq!(backoff_ceiling(u32::MAX, base, max), max);
        assert_eq!(
            backoff_ceiling(3, Duration::MAX, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn full_jitter_stays_within_bounds_and_varies() {
        let mut rng = SmallRng::seed_from_u64(7);
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(20);
        for retry in 0..10 {
            let ceiling = backoff_ceiling(retry, base, max);
            let samples: Vec<Duration> = (0..200)
                .map(|_| delay_before_retry(retry, None, base, max, &mut rng))
                .collect();
            assert!(samples.iter().all(|d| *d <= ceiling));
            assert!(samples.iter().any(|d| *d < ceiling / 2));
            assert!(samples.iter().any(|d| *d > ceiling / 2));
        }
        assert_eq!(full_jitter(Duration::ZERO, &mut rng), Duration::ZERO);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let mut rng = SmallRng::seed_from_u64(1);
        let base = Duration::from_millis(5);
        let max = Duration::from_secs(20);
        let three = Some(Duration::from_secs(3));
        assert_eq!(
            delay_before_retry(0, three, base, max, &mut rng),
            Duration::from_secs(3)
        );
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(delay_before_retry(0, hour, base, max, &mut rng), max);
        assert_eq!(
            delay_before_retry(0, Some(Duration::ZERO), base, max, &mut rng),
            Duration::ZERO
        );
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("99999999999999999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("inf"), None);
        assert_eq!(parse_retry_after(""), None);
    }
}
