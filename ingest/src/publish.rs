//! The output connection (core's [`Publisher`]): committed readings on
//! `{prefix}/readings/{station}`, the service's retained status on
//! `{prefix}/status/{client_id}` with its last will, and a watch on the broker's `$SYS`
//! dropped-message counter.
//!
//! It is a connection of its own so that a slow downstream never holds up the acks of the
//! input connection.

use std::sync::Arc;

use riverwatch_core::StationId;
use riverwatch_core::mqtt::{
    MqttConfig, MqttConfigError, Publication, Publisher, PublisherArgs, PublisherHooks,
};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::Topics;
use rumqttc::Publish;
use tracing::{error, warn};

use crate::telemetry::Metrics;

/// The mosquitto `$SYS` topic counting messages dropped for queue or inflight limits.
pub const SYS_DROPPED: &str = "$SYS/broker/publish/messages/dropped";

/// Readings waiting for the output connection before the committer waits.
const QUEUE: usize = 10_000;

/// The driving half of the output connection.
pub type PublisherDriver = riverwatch_core::mqtt::PublisherDriver<(), DropWatch>;

/// Publishes committed readings.
#[derive(Clone)]
pub struct ReadingsPublisher {
    out: Publisher<()>,
    topics: Topics,
}

impl ReadingsPublisher {
    /// Builds the output connection; with `watch_drops`, it also watches the broker's
    /// dropped-message counter and counts drops there. Drive it with
    /// [`riverwatch_core::mqtt::PublisherDriver::run`].
    ///
    /// # Errors
    /// Invalid broker settings.
    pub fn new(
        mqtt: &MqttConfig,
        client_id: &str,
        watch_drops: Option<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Result<(Self, PublisherDriver), MqttConfigError> {
        let hooks = DropWatch {
            metrics: watch_drops,
            last: None,
        };
        let args = PublisherArgs {
            mqtt,
            service: "ingest",
            client_id,
            clock,
            hooks,
        };
        let (out, driver) = Publisher::new(args, QUEUE)?;
        Ok((
            Self {
                out,
                topics: mqtt.topics(),
            },
            driver,
        ))
    }

    /// Publishes one station's new readings (the JSON of a
    /// [`riverwatch_core::reading::ReadingsMessage`]) at QoS 1. Waits only for room in the
    /// outgoing queue (backpressure), not for the broker.
    pub async fn publish(&self, station: &StationId, body: Vec<u8>) {
        let message = Publication {
            topic: self.topics.readings(station.as_str()),
            payload: body,
            retain: false,
            ticket: (),
        };
        if self.out.publish(message).await.is_err() {
            warn!("Cannot publish committed readings; downstream will read them from the store.");
        }
    }
}

/// The watch on the broker's `$SYS` dropped-message counter (when it has metrics to count
/// in).
pub struct DropWatch {
    metrics: Option<Metrics>,
    last: Option<u64>,
}

impl PublisherHooks<()> for DropWatch {
    fn subscriptions(&self) -> Vec<String> {
        self.metrics
            .as_ref()
            .map(|_| vec![SYS_DROPPED.to_string()])
            .unwrap_or_default()
    }

    fn incoming(&mut self, p: &Publish) {
        if p.topic != SYS_DROPPED {
            return;
        }
        let text = String::from_utf8_lossy(&p.payload);
        if let Ok(total) = text.trim().parse::<u64>() {
            self.on_dropped(total, p.retain);
        }
    }
}

impl DropWatch {
    /// A retained value is the count from before this connection (a baseline); a live
    /// value is a change, counted against the last value seen (or 0: mosquitto publishes
    /// the topic only once something was dropped).
    fn on_dropped(&mut self, total: u64, retained: bool) {
        let Some(metrics) = &self.metrics else { return };
        if retained && self.last.is_none() {
            if total > 0 {
                warn!(
                    total,
                    "The broker reports it has dropped messages since it started; raise max_queued_messages (see deploy/mosquitto.conf)."
                );
            }
            self.last = Some(total);
            return;
        }
        let prev = self.last.unwrap_or(0);
        if total > prev {
            let delta = total - prev;
            metrics.broker_dropped.add(delta);
            error!(
                dropped = delta,
                total,
                "The broker dropped messages (queue or inflight limit); readings were lost before ingest saw them."
            );
        }
        self.last = Some(total);
    }
}
