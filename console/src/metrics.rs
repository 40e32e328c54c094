//! The console's counters and gauges, in the process-wide registry of
//! [`riverwatch_core::telemetry`] that the services of the same process (ingest, analytics,
//! alerts under `riverwatch up`) count into too; `/metrics` renders all of them, with the
//! alert store's alerts by state read at scrape time. [`HELP`] is the `# HELP` text of every
//! metric of the process, which the console, as the exporter, writes.

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

/// The name of the alerts-by-state gauge, read from the alert store at scrape time.
pub const ALERTS_BY_STATE: &str = "alerts";

/// `# HELP` text of every metric the services of one process register (a name missing here
/// gets a sentence naming it, and the console's test of a running pipeline fails).
pub const HELP: &[(&str, &str)] = &[
    // Ingest.
    ("ingest_messages_total", "MQTT messages ingest received."),
    ("ingest_readings_stored_total", "Readings newly stored."),
    (
        "ingest_readings_duplicate_total",
        "Readings already stored (redelivery or resend), ignored.",
    ),
    (
        "ingest_dead_letters_total",
        "Input rejected into the dead-letter table, by reason code.",
    ),
    (
        "ingest_dead_letters_dropped_total",
        "Dead letters dropped by retention, by cause.",
    ),
    (
        "ingest_commits_total",
        "Batches committed to the readings store.",
    ),
    (
        "ingest_commit_seconds",
        "Time to make one batch durable in the readings store (successful writes), seconds.",
    ),
    (
        "ingest_store_errors_total",
        "Failed readings-store writes (retried with backoff).",
    ),
    (
        "ingest_reconnects_total",
        "Reconnects of ingest to the broker.",
    ),
    (
        "ingest_stale_acks_total",
        "Acknowledgements dropped because their broker connection had ended (redelivered).",
    ),
    (
        "ingest_last_batch_readings",
        "Readings in the last committed batch.",
    ),
    (
        "ingest_ack_backlog",
        "Acknowledgements committed but not yet written to the broker.",
    ),
    (
        "broker_dropped_messages_total",
        "Messages the broker reported dropping ($SYS).",
    ),
    ("influx_written_points_total", "Points written to InfluxDB."),
    (
        "influx_spooled_batches_total",
        "Batches spooled to disk while InfluxDB was unavailable.",
    ),
    (
        "influx_spooled_points_total",
        "Points spooled to disk while InfluxDB was unavailable.",
    ),
    (
        "influx_drained_batches_total",
        "Spooled batches written to InfluxDB later.",
    ),
    (
        "influx_rejected_points_total",
        "Points InfluxDB refused for good.",
    ),
    (
        "influx_unavailable_total",
        "Writes that found InfluxDB unavailable.",
    ),
    ("influx_spool_batches", "Batches in the InfluxDB spool."),
    ("influx_spool_bytes", "Size of the InfluxDB spool, bytes."),
    (
        "influx_spool_max_bytes",
        "Limit of the InfluxDB spool, bytes.",
    ),
    (
        "influx_spool_near_cap",
        "1 while the InfluxDB spool is near its limit.",
    ),
    (
        "influx_spool_refused_batches_total",
        "Batches refused because the InfluxDB spool was full.",
    ),
    // Internal messages (every service).
    (
        "internal_messages_refused_total",
        "Internal messages refused (no valid MAC, out of the time window), by service and reason.",
    ),
    (
        "internal_messages_rejected_deleted_total",
        "Refused internal messages deleted from the rejected table by age.",
    ),
    // Analytics.
    (
        "riverwatch_analytics_messages_total",
        "Readings messages analytics received.",
    ),
    (
        "riverwatch_analytics_bad_messages_total",
        "Readings messages analytics refused (no valid MAC, not parseable, beyond the clock).",
    ),
    (
        "riverwatch_analytics_readings_judged_total",
        "Readings judged live.",
    ),
    (
        "riverwatch_analytics_readings_late_total",
        "Readings that arrived for a closed window (late data).",
    ),
    (
        "riverwatch_analytics_window_jobs_total",
        "Window computations run.",
    ),
    (
        "riverwatch_analytics_revisions_total",
        "Evaluations stored as a new revision after late data.",
    ),
    (
        "riverwatch_analytics_events_published_total",
        "Evaluation events confirmed by the broker.",
    ),
    (
        "riverwatch_analytics_events_pending",
        "Evaluation events waiting for the broker's confirmation.",
    ),
    (
        "riverwatch_analytics_retries_total",
        "Analytics evaluation steps that failed and were retried.",
    ),
    (
        "riverwatch_analytics_commits_read_total",
        "Commits of the readings store's commit log judged.",
    ),
    (
        "riverwatch_analytics_events_total",
        "Evaluation events, by rule.",
    ),
    // Alerts.
    (
        "alerts_events_total",
        "Evaluation events the alert service received.",
    ),
    (
        "alerts_events_rejected_total",
        "Event messages the alert service refused.",
    ),
    (
        "alerts_events_duplicate_total",
        "Redelivered events recognised by id.",
    ),
    ("alerts_opened_total", "Alerts opened."),
    ("alerts_resolved_total", "Alerts resolved."),
    (
        "alerts_reconnects_total",
        "Reconnects of the alert service to the broker.",
    ),
    (
        "alerts_stale_acks_total",
        "Acknowledgements of the alert service dropped with their connection.",
    ),
    (
        "alerts_store_failures_total",
        "Episodes of the alert store refusing commits.",
    ),
    (
        "alerts_commit_seconds",
        "Time to commit the alert service's state to the alert store, seconds.",
    ),
    ("alerts_sent_total", "Notifications delivered, by channel."),
    (
        "alerts_retries_total",
        "Notification attempts that failed and will be retried, by channel.",
    ),
    (
        "alerts_failed_total",
        "Notifications refused for good, by channel.",
    ),
    (
        "alerts_expired_total",
        "Notifications that expired undelivered, by channel.",
    ),
    (
        ALERTS_BY_STATE,
        "Alerts in the alert store, by state (read at scrape time).",
    ),
    // Console.
    ("console_sse_clients", "Connected live-feed (SSE) clients."),
    (
        "console_broker_connected",
        "1 while the live feed's broker connection is up.",
    ),
    (
        "console_feed_messages_total",
        "Messages put on the live feed, by kind.",
    ),
    (
        "console_feed_rejected_total",
        "Broker messages left out of the live feed.",
    ),
    (
        "console_auth_failures_total",
        "Requests refused for a missing or bad token or session.",
    ),
    (
        "console_auth_throttled_total",
        "Requests refused because their address sent too many bad tokens.",
    ),
    (
        "console_sse_resyncs_total",
        "Live-feed clients told to reload (resync).",
    ),
    (
        "console_http_responses_total",
        "HTTP responses, by status code.",
    ),
];

/// The `# HELP` text of a metric.
pub fn help(name: &str) -> Option<&'static str> {
    HELP.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_help_text_is_one_line_and_every_name_once() {
        let mut names: Vec<&str> = HELP.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a metric is described twice");
        for (n, h) in HELP {
            assert!(!h.is_empty() && !h.contains('\n'), "{n}");
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
        }
    }
}
