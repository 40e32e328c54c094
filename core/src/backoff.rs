//! Jittered exponential backoff for reconnecting to brokers, stores and mail relays, so a
//! refusing server is not hammered and many clients do not retry in step.

use std::time::Duration;

/// Exponential backoff with full jitter between `base` and the current ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    state: u64,
}

impl Backoff {
    /// Backoff starting at `base`, doubling up to `max`. `seed` makes the jitter reproducible.
    pub fn new(base: Duration, max: Duration, seed: u64) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
            state: seed | 1,
        }
    }

    /// The usual settings for network reconnects: 100 ms doubling to 10 s.
    pub fn network() -> Self {
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        Self::new(Duration::from_millis(100), Duration::from_secs(10), seed)
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: jitter needs spread, not cryptographic quality.
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// The delay before the next attempt: a random value between half the ceiling and the
    /// ceiling, where the ceiling doubles with each attempt up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let ceiling = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let ceiling_ms = ceiling.as_millis().max(1) as u64;
        let half = ceiling_ms / 2;
        Duration::from_millis(half + self.next_random() % (ceiling_ms - half + 1))
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_bounded_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 42);
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let mut last = first;
        for _ in 0..30 {
            last = b.next_delay();
            assert!(last <= Duration::from_secs(2));
        }
        assert!(last >= Duration::from_secs(1), "ceiling reached: {last:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn same_seed_same_jitter() {
        let mut a = Backoff::new(Duration::from_millis(100), Duration::from_secs(10), 7);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10), 7);
        for _ in 0..10 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }
}
