//! `riverwatch bench …` (feature `bench`): the benchmarks, each measuring against a baseline
//! in the same run, since a shared machine's absolute figures move from run to run.
//!
//! - [`ingest`]: ingest throughput against the broker's own delivery rate.
//! - [`alerts`]: alert latency from a station's reading to the email, through ingest and
//!   analytics, against the alert service alone and lettre.
//! - [`alert_service`]: alert latency from an evaluation event to the email, against lettre.
//! - [`analytics`]: a year's daily and monthly evaluation and the live path.
//! - [`simulator`]: the simulator's generation and publishing rate.
//! - [`hj212`]: HJ 212 frames over the loggers' TCP path (write → 9014) against MQTT.
//! - [`console`]: the console's readings query over HTTP against the store alone, and the
//!   live feed's latency at 200 clients against a plain broker subscriber.
//! - [`report`]: a month's river-chief report from the stored evaluations against
//!   recomputing the month from the raw readings.
//!
//! They start their own servers from `riverwatch-testkit` (mosquitto, the SMTP server),
//! which is why they exist only in a build with `--features bench`.

pub mod alert_service;
pub mod alerts;
pub mod analytics;
pub mod console;
pub mod hj212;
pub mod ingest;
pub mod report;
pub mod simulator;

use std::time::Duration;

use clap::Subcommand;

use super::Context;

/// `riverwatch bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput against the broker's own delivery rate.
    Ingest(ingest::IngestBenchArgs),
    /// Alert latency from a reading's publish to the email accepted by an SMTP server,
    /// through ingest and analytics.
    Alerts(alerts::AlertsBenchArgs),
    /// Alert latency from an evaluation event's publish to the email accepted by an SMTP
    /// server: the alert service alone.
    AlertService(alert_service::AlertServiceBenchArgs),
    /// Daily and monthly evaluation of a year of hourly data, and the live path's latency.
    Analytics(analytics::AnalyticsBenchArgs),
    /// Simulator throughput: generation and encoding, then publishing with --mqtt.
    Simulator(simulator::SimulatorBenchArgs),
    /// HJ 212 frames/s and latency over TCP (write → 9014) against the same frames
    /// through MQTT (publish → readings out).
    Hj212(hj212::Hj212BenchArgs),
    /// The console: requests/s and p99 of a station-month readings query over HTTP
    /// against the store alone, and publish → SSE `reading` event at 200 clients against
    /// a plain MQTT subscriber.
    Console(console::ConsoleBenchArgs),
    /// A month's river-chief report of the whole network from the stored evaluations (wall
    /// time, peak memory) against recomputing the month from the raw readings.
    Report(report::ReportBenchArgs),
}

/// Runs `riverwatch bench …`.
///
/// # Errors
/// A server cannot start, a side fails, or results do not arrive in time.
pub async fn run(cmd: &BenchCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(a) => ingest::run(a).await,
        BenchCommand::Alerts(a) => alerts::run(a, ctx).await,
        BenchCommand::AlertService(a) => alert_service::run(a, ctx).await,
        BenchCommand::Analytics(a) => analytics::run(a, ctx).await,
        BenchCommand::Simulator(a) => simulator::run(a, ctx).await,
        BenchCommand::Hj212(a) => hj212::run(a).await,
        BenchCommand::Console(a) => console::run(a, ctx).await,
        BenchCommand::Report(a) => report::run(a, ctx).await,
    }
}

/// Latencies for percentiles: 1 ns to 10 minutes, three significant digits.
pub struct Latencies(hdrhistogram::Histogram<u64>);

impl Latencies {
    /// An empty set.
    ///
    /// # Errors
    /// Never for these bounds.
    pub fn new() -> anyhow::Result<Self> {
        hdrhistogram::Histogram::new_with_bounds(1, 600_000_000_000, 3)
            .map(Self)
            .map_err(|e| anyhow::anyhow!("histogram bounds: {e}"))
    }

    /// Records one latency (clamped into the bounds).
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self.0.record(ns.clamp(1, 600_000_000_000));
    }

    /// The `q` quantile (0.5: the median), µs.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1e3
    }

    /// The `q` quantile, ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1e6
    }

    /// The largest, ms.
    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1e6
    }
}

/// The median (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `a ÷ b`, 0 when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}
