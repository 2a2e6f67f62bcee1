//! The redelivery policy's arithmetic: when the next attempt is due.

use std::time::Duration;

use rand::Rng;

use super::config::RedeliveryConfig;

impl RedeliveryConfig {
    /// The wait before attempt `failed_attempt + 1`, without jitter.
    pub fn base_delay(&self, failed_attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(failed_attempt.saturating_sub(1) as i32);
        let ms = (self.initial.as_millis() as f64 * exp).min(self.cap.as_millis() as f64);
        Duration::from_millis(ms as u64)
    }

    /// The bounds jitter keeps a wait within.
    pub fn delay_bounds(&self, failed_attempt: u32) -> (Duration, Duration) {
        let base = self.base_delay(failed_attempt).as_secs_f64();
        (
            Duration::from_secs_f64(base * (1.0 - self.jitter)),
            Duration::from_secs_f64(base * (1.0 + self.jitter)),
        )
    }

    /// The wait before the next attempt: backoff with jitter, at least what the
    /// receiver asked for in Retry-After.
    pub fn next_delay(&self, failed_attempt: u32, retry_after: Option<Duration>) -> Duration {
        let (lo, hi) = self.delay_bounds(failed_attempt);
        let jittered = if hi > lo {
            rand::rng().random_range(lo..=hi)
        } else {
            lo
        };
        retry_after.map_or(jittered, |ra| ra.max(jittered))
    }

    /// Whether another attempt is allowed after `failed_attempt`.
    pub fn may_retry(&self, failed_attempt: u32) -> bool {
        failed_attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedeliveryConfig {
        RedeliveryConfig {
            max_attempts: 6,
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            cap: Duration::from_millis(1000),
            jitter: 0.25,
            resend_unconfirmed: false,
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = policy();
        assert_eq!(p.base_delay(1), Duration::from_millis(100));
        assert_eq!(p.base_delay(2), Duration::from_millis(200));
        assert_eq!(p.base_delay(4), Duration::from_millis(800));
        assert_eq!(p.base_delay(5), Duration::from_millis(1000));
        assert_eq!(p.base_delay(30), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_stays_in_bounds_and_retry_after_wins() {
        let p = policy();
        for _ in 0..200 {
            let d = p.next_delay(2, None);
            assert!(
                d >= Duration::from_millis(150) && d <= Duration::from_millis(250),
                "{d:?}"
            );
        }
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert!(p.may_retry(5));
        assert!(!p.may_retry(6));
    }
}
