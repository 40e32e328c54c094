//! The MQTT topic layout shared by every service (prefix configurable, default `rw/v1`):
//! `obs/{station}` and `hj212/{station}` in, `readings/{station}` and `events/{station}`
//! between services, `alerts/{id}` and `status/{service}` out.

/// Default topic prefix.
pub const DEFAULT_PREFIX: &str = "rw/v1";

/// Segment of JSON observations.
pub const OBS: &str = "obs";
/// Segment of HJ 212 frames.
pub const HJ212: &str = "hj212";
/// Segment of canonical readings.
pub const READINGS: &str = "readings";
/// Segment of evaluation events.
pub const EVENTS: &str = "events";
/// Segment of alert states.
pub const ALERTS: &str = "alerts";
/// Segment of service status.
pub const STATUS: &str = "status";

/// What arrived on a topic under the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// A JSON observation.
    Obs,
    /// An HJ 212 frame.
    Hj212,
    /// Canonical readings.
    Readings,
    /// Evaluation events.
    Events,
    /// Alert state.
    Alerts,
    /// Service status.
    Status,
}

/// Builds and parses topics under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX)
    }
}

impl Topics {
    /// Topics under `prefix` (trailing `/` ignored).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn topic(&self, segment: &str, last: &str) -> String {
        format!("{}/{segment}/{last}", self.prefix)
    }

    /// `{prefix}/obs/{station}`.
    pub fn obs(&self, station: &str) -> String {
        self.topic(OBS, station)
    }

    /// `{prefix}/hj212/{station}`.
    pub fn hj212(&self, station: &str) -> String {
        self.topic(HJ212, station)
    }

    /// `{prefix}/readings/{station}`.
    pub fn readings(&self, station: &str) -> String {
        self.topic(READINGS, station)
    }

    /// `{prefix}/events/{station}`.
    pub fn events(&self, station: &str) -> String {
        self.topic(EVENTS, station)
    }

    /// `{prefix}/alerts/{id}`.
    pub fn alerts(&self, id: &str) -> String {
        self.topic(ALERTS, id)
    }

    /// `{prefix}/status/{service}`.
    pub fn status(&self, service: &str) -> String {
        self.topic(STATUS, service)
    }

    /// Subscription filter for every topic of one kind: `{prefix}/{segment}/+`.
    pub fn filter(&self, kind: TopicKind) -> String {
        self.topic(segment_of(kind), "+")
    }

    /// Splits a topic under this prefix into its kind and last segment.
    pub fn parse<'t>(&self, topic: &'t str) -> Option<(TopicKind, &'t str)> {
        let rest = topic
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('/')?;
        let (segment, last) = rest.split_once('/')?;
        if last.is_empty() || last.contains('/') {
            return None;
        }
        let kind = match segment {
            OBS => TopicKind::Obs,
            HJ212 => TopicKind::Hj212,
            READINGS => TopicKind::Readings,
            EVENTS => TopicKind::Events,
            ALERTS => TopicKind::Alerts,
            STATUS => TopicKind::Status,
            _ => return None,
        };
        Some((kind, last))
    }
}

const fn segment_of(kind: TopicKind) -> &'static str {
    match kind {
        TopicKind::Obs => OBS,
        TopicKind::Hj212 => HJ212,
        TopicKind::Readings => READINGS,
        TopicKind::Events => EVENTS,
        TopicKind::Alerts => ALERTS,
        TopicKind::Status => STATUS,
    }
}

/// Whether a subscription filter is valid MQTT (wildcards only as whole levels, `#` last).
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(i, level)| {
        if level.contains('#') {
            *level == "#" && i == last
        } else if level.contains('+') {
            *level == "+"
        } else {
            true
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_topics() {
        let t = Topics::new("rw/v1/");
        assert_eq!(t.obs("LLH-CJG"), "rw/v1/obs/LLH-CJG");
        assert_eq!(t.filter(TopicKind::Hj212), "rw/v1/hj212/+");
        assert_eq!(
            t.parse("rw/v1/obs/LLH-CJG"),
            Some((TopicKind::Obs, "LLH-CJG"))
        );
        assert_eq!(
            t.parse("rw/v1/hj212/AIR-SC"),
            Some((TopicKind::Hj212, "AIR-SC"))
        );
        assert_eq!(t.parse("rw/v2/obs/LLH-CJG"), None);
        assert_eq!(t.parse("rw/v1/obs/"), None);
        assert_eq!(t.parse("rw/v1/obs/a/b"), None);
        assert_eq!(t.parse("rw/v1/nope/x"), None);
    }

    #[test]
    fn checks_filters() {
        assert!(valid_filter("rw/v1/obs/+"));
        assert!(valid_filter("$share/ingest/rw/v1/obs/+"));
        assert!(valid_filter("rw/#"));
        assert!(!valid_filter("rw/#/x"));
        assert!(!valid_filter("rw/v1+/x"));
        assert!(!valid_filter(""));
    }
}
