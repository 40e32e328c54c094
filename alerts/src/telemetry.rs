//! The alert service's counters: events received and applied, notifications sent, retried,
//! failed and expired per channel, store failure episodes and the alert store's commit
//! latency.

use riverwatch_core::telemetry::{COMMIT_SECONDS_BUCKETS, Counter, Histogram, counter, histogram};

/// Metric handles, created once per service.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Event messages received.
    pub events: Counter,
    /// Event messages refused: no valid MAC, not an event, or dated too far from the clock
    /// (kept in `rejected_messages`, acknowledged, counted).
    pub bad_events: Counter,
    /// Redelivered events recognised by id.
    pub duplicate_events: Counter,
    /// Alerts opened.
    pub opened: Counter,
    /// Alerts resolved.
    pub resolved: Counter,
    /// Reconnects to the broker.
    pub reconnects: Counter,
    /// Acks dropped because their connection had ended.
    pub stale_acks: Counter,
    /// Episodes of the alert store refusing commits (busy, disk full, I/O error): counted
    /// once when an episode starts, not per retry.
    pub store_failures: Counter,
    /// Time of each commit of the service's state (events, alerts, audit, queued
    /// notifications) to the alert store, seconds.
    pub commit_seconds: Histogram,
}

impl Metrics {
    /// The alert metric handles.
    pub fn new() -> Self {
        Self {
            events: counter("alerts_events_total", &[]),
            bad_events: counter("alerts_events_rejected_total", &[]),
            duplicate_events: counter("alerts_events_duplicate_total", &[]),
            opened: counter("alerts_opened_total", &[]),
            resolved: counter("alerts_resolved_total", &[]),
            reconnects: counter("alerts_reconnects_total", &[]),
            stale_acks: counter("alerts_stale_acks_total", &[]),
            store_failures: counter("alerts_store_failures_total", &[]),
            commit_seconds: histogram("alerts_commit_seconds", &[], COMMIT_SECONDS_BUCKETS),
        }
    }

    /// Counts the start of an episode of store failures.
    pub fn store_failed(&self) {
        self.store_failures.inc();
    }

    /// Counts a delivered notification.
    pub fn sent(&self, channel: &str) {
        counter("alerts_sent_total", &[("channel", channel)]).inc();
    }

    /// Counts a failed attempt that will be retried.
    pub fn retried(&self, channel: &str) {
        counter("alerts_retries_total", &[("channel", channel)]).inc();
    }

    /// Counts a notification refused for good.
    pub fn failed(&self, channel: &str) {
        counter("alerts_failed_total", &[("channel", channel)]).inc();
    }

    /// Counts an expired notification.
    pub fn expired(&self, channel: &str) {
        counter("alerts_expired_total", &[("channel", channel)]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
