//! Ingest's counters: everything received, stored, ignored as a duplicate or rejected is
//! counted, so a gap between what stations send and what is stored is visible; and the
//! store's commit latency.

use riverwatch_core::ReasonCode;
use riverwatch_core::telemetry::{
    COMMIT_SECONDS_BUCKETS, Counter, Gauge, Histogram, counter, gauge, histogram,
};

/// Metric handles, created once per service.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// MQTT messages received.
    pub messages: Counter,
    /// Readings newly stored.
    pub stored: Counter,
    /// Readings already stored (redelivery or resend).
    pub duplicates: Counter,
    /// Committed batches.
    pub commits: Counter,
    /// Time of each successful store write (a batch made durable), seconds.
    pub commit_seconds: Histogram,
    /// Failed store writes (retried).
    pub store_errors: Counter,
    /// Reconnects to the broker.
    pub reconnects: Counter,
    /// Acks dropped because their connection had ended (the message is redelivered).
    pub stale_acks: Counter,
    /// Messages the broker reported dropping (`$SYS`).
    pub broker_dropped: Counter,
    /// Size of the last committed batch, readings.
    pub last_batch: Gauge,
    /// Acknowledgements committed but not yet written to the broker.
    pub ack_backlog: Gauge,
}

impl Metrics {
    /// The ingest metric handles.
    pub fn new() -> Self {
        Self {
            messages: counter("ingest_messages_total", &[]),
            stored: counter("ingest_readings_stored_total", &[]),
            duplicates: counter("ingest_readings_duplicate_total", &[]),
            commits: counter("ingest_commits_total", &[]),
            commit_seconds: histogram("ingest_commit_seconds", &[], COMMIT_SECONDS_BUCKETS),
            store_errors: counter("ingest_store_errors_total", &[]),
            reconnects: counter("ingest_reconnects_total", &[]),
            stale_acks: counter("ingest_stale_acks_total", &[]),
            broker_dropped: counter("broker_dropped_messages_total", &[]),
            last_batch: gauge("ingest_last_batch_readings", &[]),
            ack_backlog: gauge("ingest_ack_backlog", &[]),
        }
    }

    /// Counts one dead letter.
    pub fn dead_letter(&self, reason: ReasonCode) {
        counter("ingest_dead_letters_total", &[("reason", reason.as_str())]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
