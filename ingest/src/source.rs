//! Where ingest's input comes from: core's acking subscriber
//! ([`riverwatch_core::mqtt::Subscriber`]) on the `obs` and `hj212` filters (shared
//! subscriptions included), counted in ingest's metrics.

use riverwatch_core::mqtt::{MqttConfig, SubscriberHooks};
use riverwatch_core::topics::{TopicKind, valid_filter};

use crate::config::{ConfigError, IngestConfig};
use crate::telemetry::Metrics;

/// The subscription filters for a configuration (shared subscriptions included).
///
/// # Errors
/// A filter that is not valid MQTT.
pub fn filters(config: &IngestConfig, mqtt: &MqttConfig) -> Result<Vec<String>, ConfigError> {
    let topics = mqtt.topics();
    let out: Vec<String> = [TopicKind::Obs, TopicKind::Hj212]
        .into_iter()
        .map(|k| match &config.shared_group {
            Some(g) => format!("$share/{g}/{}", topics.filter(k)),
            None => topics.filter(k),
        })
        .collect();
    if let Some(bad) = out.iter().find(|f| !valid_filter(f)) {
        return Err(ConfigError::Missing(format!(
            "topic filter `{bad}` is not valid MQTT; check mqtt.topic_prefix"
        )));
    }
    Ok(out)
}

impl SubscriberHooks for Metrics {
    fn received(&self, messages: usize) {
        self.messages.add(messages as u64);
    }

    fn stale_ack(&self) {
        self.stale_acks.inc();
    }

    fn reconnect(&self) {
        self.reconnects.inc();
    }

    fn ack_backlog(&self, acks: usize) {
        self.ack_backlog.set(acks as u64);
    }
}
