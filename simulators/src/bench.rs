//! Throughput of the simulator: generation and encoding without a broker
//! ([`bench_generate`]) and publishing at QoS 1 to one ([`bench_publish`]), for
//! `riverwatch simulate --bench` (and a later `riverwatch bench simulate`).

use std::time::{Duration, Instant};

use riverwatch_core::topics::Topics;
use tokio_util::sync::CancellationToken;

use crate::encode::encode;
use crate::error::Result;
use crate::simulate::{Pacing, SimulateConfig, generator, run};

/// Measured throughput.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Messages produced.
    pub messages: u64,
    /// Readings in them.
    pub readings: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Messages acknowledged by the broker (0 without one).
    pub acked: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
}

impl BenchReport {
    /// Messages per second.
    pub fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Readings per second.
    pub fn readings_per_sec(&self) -> f64 {
        self.readings as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Generates and encodes `config`'s run as fast as possible, without I/O (blocking: call
/// from a blocking thread in async code). Broker and output settings are ignored.
///
/// # Errors
/// Invalid settings or scenario.
pub fn bench_generate(config: &SimulateConfig) -> Result<BenchReport> {
    let mut config = config.clone();
    config.pacing = Pacing::Fast;
    config.out = None;
    let topics = config
        .mqtt
        .as_ref()
        .map_or_else(Topics::default, |m| m.topics());
    let mut generator = generator(&config)?;
    let started = Instant::now();
    let (mut messages, mut readings, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(obs) = generator.next() {
        let st = &generator.stations()[obs.station];
        let msgs = encode(st, &obs, &topics);
        messages += msgs.len() as u64;
        bytes += msgs.iter().map(|m| m.payload.len() as u64).sum::<u64>();
        readings += obs.values.len() as u64;
    }
    Ok(BenchReport {
        messages,
        readings,
        bytes,
        acked: 0,
        elapsed: started.elapsed(),
    })
}

/// Publishes `config`'s run as fast as the broker takes it (QoS 1, waiting for every
/// PUBACK) and reports the rate.
///
/// # Errors
/// As [`run`].
pub async fn bench_publish(
    config: SimulateConfig,
    shutdown: CancellationToken,
) -> Result<BenchReport> {
    let mut config = config;
    config.pacing = Pacing::Fast;
    config.out = None;
    let summary = run(config, shutdown).await?;
    Ok(BenchReport {
        messages: summary.messages,
        readings: summary.readings,
        bytes: summary.bytes,
        acked: summary.acked,
        elapsed: summary.elapsed,
    })
}
