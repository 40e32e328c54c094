//! Repeated bad tokens slowed down, per client address: a few mistakes are free; after them
//! each further attempt from the address must wait a pause that doubles with every failure
//! (up to a minute), and is answered 429 with `Retry-After` until then. An accepted token
//! clears the address's record. Memory stays bounded: old records are dropped, and at most
//! [`MAX_ADDRESSES`] are kept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bad tokens an address may send before it is slowed down.
pub const FREE_FAILURES: u32 = 5;

/// Longest pause.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// First pause after the free failures.
const FIRST_PAUSE: Duration = Duration::from_secs(1);

/// A record is forgotten this long after its last failure.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// Addresses tracked at most.
pub const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failed authentications per client address.
#[derive(Debug, Default)]
pub struct Throttle {
    // std Mutex: a map lookup, never held across an await.
    map: Mutex<HashMap<IpAddr, Record>>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<IpAddr, Record>) -> T) -> T {
        match self.map.lock() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// How long `addr` must still wait before its next attempt is looked at.
    pub fn wait(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        self.with(|m| {
            let r = m.get(&addr)?;
            let until = r.blocked_until?;
            (until > now).then(|| until - now)
        })
    }

    /// Records a bad token from `addr`.
    pub fn failed(&self, addr: IpAddr, now: Instant) {
        self.with(|m| {
            if m.len() >= MAX_ADDRESSES && !m.contains_key(&addr) {
                m.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
                if m.len() >= MAX_ADDRESSES {
                    // Under a flood of addresses: forget the oldest half.
                    let mut ages: Vec<Instant> = m.values().map(|r| r.last).collect();
                    ages.sort();
                    let cut = ages[ages.len() / 2];
                    m.retain(|_, r| r.last > cut);
                }
            }
            let r = m.entry(addr).or_insert(Record {
                failures: 0,
                last: now,
                blocked_until: None,
            });
            if now.duration_since(r.last) >= FORGET_AFTER {
                r.failures = 0;
            }
            r.failures += 1;
            r.last = now;
            if r.failures >= FREE_FAILURES {
                let doublings = (r.failures - FREE_FAILURES).min(16);
                let pause = FIRST_PAUSE.saturating_mul(1 << doublings).min(MAX_PAUSE);
                r.blocked_until = Some(now + pause);
            }
        });
    }

    /// Clears `addr` after an accepted token.
    pub fn succeeded(&self, addr: IpAddr) {
        self.with(|m| {
            m.remove(&addr);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_mistakes_are_free_then_pauses_double_and_success_clears() {
        let t = Throttle::new();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed(a, now);
            assert_eq!(t.wait(a, now), None);
        }
        t.failed(a, now);
        assert_eq!(t.wait(a, now), Some(Duration::from_secs(1)));
        t.failed(a, now);
        assert_eq!(t.wait(a, now), Some(Duration::from_secs(2)));
        for _ in 0..20 {
            t.failed(a, now);
        }
        assert_eq!(t.wait(a, now), Some(MAX_PAUSE));
        assert_eq!(t.wait(a, now + MAX_PAUSE), None);
        // Another address is not affected.
        assert_eq!(t.wait(b, now), None);
        t.succeeded(a);
        assert_eq!(t.wait(a, now), None);
    }
}
