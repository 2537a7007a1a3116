//! The retry policy as a pure value: how many attempts, and how long to wait before each.

use std::time::Duration;

/// Exponential backoff with full jitter, honouring `Retry-After`.
///
/// Defaults: 6 attempts in all, a first wait of up to 500 ms, doubling each time, at most 30 s between attempts,
/// and a `Retry-After` of at most 120 s (a store asking for longer is treated as down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// The wait before attempt `attempt + 1`, after `attempt` (1-based) failed. `jitter` is uniform in [0, 1).
    /// A `Retry-After` from the store is a floor: we never come back sooner than asked.
    #[must_use]
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let ceiling = self.base_delay.saturating_mul(1u32 << exponent).min(self.max_delay);
        let jittered = ceiling.mul_f64(jitter.clamp(0.0, 1.0));
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after).max(jittered),
            None => jittered,
        }
    }

    /// True when another attempt is allowed after `attempt` attempts.
    #[must_use]
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
#[must_use]
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_below_it() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, None, 0.999_999), Duration::from_millis(500).mul_f64(0.999_999));
        assert_eq!(policy.delay(3, None, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(30, None, 1.0), Duration::from_secs(30));
        assert_eq!(policy.delay(4, None, 0.0), Duration::ZERO);
        for attempt in 1..10 {
            assert!(policy.delay(attempt, None, 0.5) <= policy.max_delay);
        }
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(Duration::from_secs(7)), 0.1), Duration::from_secs(7));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(3600)), 0.1), Duration::from_secs(120));
        assert!(!policy.allows_another(6));
        assert!(policy.allows_another(5));
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").map(|d| d.to_utc()).ok();
        let now = now.unwrap_or_default();
        assert_eq!(parse_retry_after("12", now), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 25 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
