//! The analytics service's counters, each logged and counted: bounded labels only (rule
//! names, never station values or message ids).

use riverwatch_core::events::Rule;
use riverwatch_core::telemetry::{Counter, Gauge, counter, gauge};

/// Counters of one analytics service.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Readings messages received.
    pub messages: Counter,
    /// Readings messages refused (no valid MAC, not parseable, a reading beyond the clock).
    pub bad_messages: Counter,
    /// Readings judged live.
    pub readings_judged: Counter,
    /// Readings that arrived for a closed window (late data).
    pub readings_late: Counter,
    /// Window computations run.
    pub window_jobs: Counter,
    /// Evaluations stored as a new revision after late data.
    pub revisions: Counter,
    /// Events confirmed by the broker.
    pub events_published: Counter,
    /// Events waiting for the broker's confirmation.
    pub events_pending: Gauge,
    /// Evaluation steps that failed and were retried.
    pub retries: Counter,
    /// Commits of the readings store's commit log judged.
    pub commits_read: Counter,
    events: Vec<(Rule, Counter)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The service's counters (shared cells: two instances count into the same series).
    pub fn new() -> Self {
        Self {
            messages: counter("riverwatch_analytics_messages_total", &[]),
            bad_messages: counter("riverwatch_analytics_bad_messages_total", &[]),
            readings_judged: counter("riverwatch_analytics_readings_judged_total", &[]),
            readings_late: counter("riverwatch_analytics_readings_late_total", &[]),
            window_jobs: counter("riverwatch_analytics_window_jobs_total", &[]),
            revisions: counter("riverwatch_analytics_revisions_total", &[]),
            events_published: counter("riverwatch_analytics_events_published_total", &[]),
            events_pending: gauge("riverwatch_analytics_events_pending", &[]),
            retries: counter("riverwatch_analytics_retries_total", &[]),
            commits_read: counter("riverwatch_analytics_commits_read_total", &[]),
            events: Rule::ALL
                .iter()
                .map(|r| {
                    (
                        *r,
                        counter("riverwatch_analytics_events_total", &[("rule", r.as_str())]),
                    )
                })
                .collect(),
        }
    }

    /// Counts an event of `rule`.
    pub fn event(&self, rule: Rule) {
        if let Some((_, c)) = self.events.iter().find(|(r, _)| *r == rule) {
            c.inc();
        }
    }
}
