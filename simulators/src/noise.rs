//! Seeded, random-access noise: every random number is a function of (seed, station,
//! channel, index), so a value depends on the simulated time only, never on how the run
//! started or on which other stations run.
//!
//! The ChaCha8 key comes from the seed; each station reads its own stream (derived from its
//! id), split into channels (white noise, 6-hourly knots, 2-daily knots); the word position
//! within a stream is the time index. Smooth noise interpolates uniform knots with a
//! smoothstep, so it stays within [-1, 1] and the models' bounds hold.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Spacing of the fast smooth-noise knots, seconds.
pub const FAST_KNOT_SECS: i64 = 6 * 3600;
/// Spacing of the slow smooth-noise knots, seconds.
pub const SLOW_KNOT_SECS: i64 = 48 * 3600;

const CHANNEL_WHITE: u64 = 1;
const CHANNEL_FAST: u64 = 2;
const CHANNEL_SLOW: u64 = 3;
/// Words reserved per index: room for 64 draws.
const WORDS_PER_INDEX: u128 = 64;

/// FNV-1a of a station id: the station's stream.
pub fn station_stream(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The noise of one run: a ChaCha8 key derived from the seed.
#[derive(Debug, Clone)]
pub struct Noise {
    base: ChaCha8Rng,
}

impl Noise {
    /// Noise for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&splitmix(&mut state).to_le_bytes());
        }
        Self {
            base: ChaCha8Rng::from_seed(key),
        }
    }

    /// A generator positioned at (station, channel, index).
    fn at(&self, stream: u64, channel: u64, index: i64) -> ChaCha8Rng {
        let mut rng = self.base.clone();
        rng.set_stream(stream ^ channel.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.set_word_pos(u128::from(index.max(0).unsigned_abs()) * WORDS_PER_INDEX);
        rng
    }

    /// `n` uniform values in [-1, 1] for the station's white noise at time `t` (unix s).
    pub fn white(&self, stream: u64, t: i64, out: &mut Vec<f64>, n: usize) {
        let mut rng = self.at(stream, CHANNEL_WHITE, t);
        out.clear();
        // Triangular: the mean of two uniforms, so small errors are more likely than large.
        out.extend((0..n).map(|_| (uniform(&mut rng) + uniform(&mut rng)) / 2.0));
    }

    fn knots(&self, stream: u64, channel: u64, index: i64, n: usize) -> Vec<f64> {
        let mut rng = self.at(stream, channel, index);
        (0..n).map(|_| uniform(&mut rng)).collect()
    }
}

/// A uniform value in [-1, 1].
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    f64::from(rng.next_u32()) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// Smooth noise of one station and channel, caching the two knots around the last time
/// asked for (the generator walks forward in time, so most lookups hit the cache).
#[derive(Debug, Clone)]
pub struct SmoothNoise {
    stream: u64,
    channel: u64,
    spacing_secs: i64,
    n: usize,
    cached: Option<(i64, Vec<f64>, Vec<f64>)>,
}

impl SmoothNoise {
    /// Fast (6-hourly) smooth noise for a station with `n` parameters.
    pub fn fast(stream: u64, n: usize) -> Self {
        Self::new(stream, CHANNEL_FAST, FAST_KNOT_SECS, n)
    }

    /// Slow (2-daily) smooth noise for a station with `n` parameters.
    pub fn slow(stream: u64, n: usize) -> Self {
        Self::new(stream, CHANNEL_SLOW, SLOW_KNOT_SECS, n)
    }

    fn new(stream: u64, channel: u64, spacing_secs: i64, n: usize) -> Self {
        Self {
            stream,
            channel,
            spacing_secs,
            n,
            cached: None,
        }
    }

    /// Values in [-1, 1], one per parameter, at time `t` (unix s).
    pub fn at(&mut self, noise: &Noise, t: i64, out: &mut Vec<f64>) {
        let index = t.div_euclid(self.spacing_secs);
        let fraction = t.rem_euclid(self.spacing_secs) as f64 / self.spacing_secs as f64;
        let hit = matches!(&self.cached, Some((i, _, _)) if *i == index);
        if !hit {
            let reuse = match self.cached.take() {
                Some((i, _, next)) if i + 1 == index => Some(next),
                _ => None,
            };
            let here =
                reuse.unwrap_or_else(|| noise.knots(self.stream, self.channel, index, self.n));
            let next = noise.knots(self.stream, self.channel, index + 1, self.n);
            self.cached = Some((index, here, next));
        }
        out.clear();
        if let Some((_, a, b)) = &self.cached {
            let s = fraction * fraction * (3.0 - 2.0 * fraction);
            out.extend(a.iter().zip(b).map(|(a, b)| a + (b - a) * s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_a_function_of_seed_station_and_time() {
        let a = Noise::new(7);
        let b = Noise::new(7);
        let c = Noise::new(8);
        let (mut x, mut y, mut z) = (Vec::new(), Vec::new(), Vec::new());
        a.white(station_stream("LLH-WC"), 1_000_000, &mut x, 5);
        b.white(station_stream("LLH-WC"), 1_000_000, &mut y, 5);
        c.white(station_stream("LLH-WC"), 1_000_000, &mut z, 5);
        assert_eq!(x, y);
        assert_ne!(x, z);
        a.white(station_stream("LLH-NTS"), 1_000_000, &mut z, 5);
        assert_ne!(x, z);
        assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn smooth_noise_is_bounded_continuous_and_cache_independent() {
        let noise = Noise::new(1);
        let stream = station_stream("AIR-CC");
        let mut walker = SmoothNoise::fast(stream, 3);
        let mut prev: Option<Vec<f64>> = None;
        let mut v = Vec::new();
        for t in (0..10 * FAST_KNOT_SECS).step_by(600) {
            walker.at(&noise, t, &mut v);
            assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
            if let Some(p) = &prev {
                for (a, b) in p.iter().zip(&v) {
                    assert!((a - b).abs() < 0.2, "jump {a} → {b} at {t}");
                }
            }
            let mut fresh = SmoothNoise::fast(stream, 3);
            let mut w = Vec::new();
            fresh.at(&noise, t, &mut w);
            assert_eq!(v, w, "cache changed the value at {t}");
            prev = Some(v.clone());
        }
    }
}
