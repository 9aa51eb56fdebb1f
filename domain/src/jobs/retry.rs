//! When a failed job runs again: exponential backoff with full jitter, capped, unless the
//! failure itself said when (Discord's `retry_after` beats any guess of ours).

use chrono::Duration;

/// The first retry waits up to this long; each further one doubles it.
pub const BASE: Duration = Duration::seconds(2);
/// No retry waits longer than this.
pub const CAP: Duration = Duration::minutes(10);

/// The wait before the next run after the `attempts`-th failure. `jitter` in [0, 1) spreads
/// retries of many jobs that failed together (pass a random number; tests pass fixed ones).
pub fn delay(attempts: i32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    if let Some(told) = retry_after {
        return told.max(Duration::zero());
    }
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let ceiling = (BASE * 2_i32.pow(doublings.min(16))).min(CAP);
    // Half fixed, half random: never immediately, never all at once.
    let ms = ceiling.num_milliseconds() as f64 * (0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    Duration::milliseconds(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn j6_backoff_grows_with_jitter_up_to_a_cap_and_retry_after_wins() {
        assert_eq!(delay(1, None, 0.0), Duration::seconds(1));
        assert_eq!(delay(1, None, 1.0), Duration::seconds(2));
        assert_eq!(delay(3, None, 1.0), Duration::seconds(8));
        assert!(delay(4, None, 0.3) < delay(5, None, 0.3));
        assert_eq!(delay(50, None, 1.0), CAP, "capped");
        assert_eq!(delay(50, None, 0.0), CAP / 2);
        assert_eq!(
            delay(7, Some(Duration::milliseconds(1500)), 0.9),
            Duration::milliseconds(1500)
        );
    }
}
