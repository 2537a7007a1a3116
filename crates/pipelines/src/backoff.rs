//! The retry schedule of staged orders, write-backs and webhook deliveries: a pure policy value.

use std::time::Duration;

use serde::Deserialize;

/// Exponential backoff with "equal jitter": attempt `n` (1-based) waits between half and all of
/// `min(cap, base × 2^(n-1))`, so retries spread out but never come sooner than half the schedule.
///
/// Defaults: 30 s base, 1 h cap, so a staged order that keeps failing is retried after about 30 s, 1, 2, 4, 8, 16,
/// 32 minutes and then hourly.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    pub base_secs: f64,
    pub cap_secs: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base_secs: 30.0, cap_secs: 3_600.0 }
    }
}

impl Backoff {
    /// The upper bound of the wait after failed attempt `attempt`.
    pub fn ceiling(&self, attempt: i64) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let secs = (self.base_secs.max(0.0) * f64::from(2u32.saturating_pow(exp))).min(self.cap_secs.max(0.0));
        Duration::from_secs_f64(secs)
    }

    /// The wait after failed attempt `attempt`, with `unit` in `[0, 1)` as the jitter draw.
    pub fn delay_with(&self, attempt: i64, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling / 2 + ceiling.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }

    /// The wait after failed attempt `attempt`, with a random jitter.
    pub fn delay(&self, attempt: i64) -> Duration {
        self.delay_with(attempt, fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_jitters_within_half() {
        let b = Backoff { base_secs: 1.0, cap_secs: 10.0 };
        assert_eq!(b.ceiling(1), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(4));
        assert_eq!(b.ceiling(9), Duration::from_secs(10));
        assert_eq!(b.delay_with(3, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay_with(3, 1.0), Duration::from_secs(4));
        assert_eq!(b.ceiling(i64::MAX), Duration::from_secs(10));
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
    }
}
