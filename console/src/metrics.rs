//! The console's counters and gauges, in the process-wide registry of
//! [`riverwatch_core::telemetry`] that the services of the same process (ingest, analytics,
//! alerts under `riverwatch up`) count into too; `/metrics` renders all of them, with the
//! alert store's alerts by state read at scrape time.

use riverwatch_core::telemetry::{Counter, Gauge, counter, gauge};

use crate::stream::feed::Kind;

/// Metric handles, created once per console.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Connected live-feed clients.
    pub sse_clients: Gauge,
    /// 1 while the live feed's broker connection is up.
    pub broker_connected: Gauge,
    /// Broker messages that could not be read (left out of the feed, acknowledged).
    pub bad_messages: Counter,
    /// Requests refused for a missing or bad token or session.
    pub auth_failures: Counter,
    /// Requests refused because their address sent too many bad tokens.
    pub throttled: Counter,
    /// Clients told to reload (`resync`).
    pub resyncs: Counter,
}

impl Metrics {
    /// The console's metric handles.
    pub fn new() -> Self {
        Self {
            sse_clients: gauge("console_sse_clients", &[]),
            broker_connected: gauge("console_broker_connected", &[]),
            bad_messages: counter("console_feed_rejected_total", &[]),
            auth_failures: counter("console_auth_failures_total", &[]),
            throttled: counter("console_auth_throttled_total", &[]),
            resyncs: counter("console_sse_resyncs_total", &[]),
        }
    }

    /// Counts a message put on the live feed.
    pub fn fed(&self, kind: Kind) {
        counter("console_feed_messages_total", &[("kind", kind.as_str())]).inc();
    }

    /// Counts an answered request by status code.
    pub fn answered(&self, status: u16) {
        counter(
            "console_http_responses_total",
            &[("code", &status.to_string())],
        )
        .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
