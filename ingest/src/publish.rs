//! The output connection: committed readings on `{prefix}/readings/{station}`, the service's
//! retained status on `{prefix}/status/{client_id}` (with a last will), and a watch on the
//! broker's `$SYS` dropped-message counter.
//!
//! It is a connection of its own so that a slow downstream never holds up the acks of the
//! input connection (rumqttc stops taking requests while its outgoing window is full).

use std::time::Duration;

use riverwatch_core::StationId;
use riverwatch_core::backoff::Backoff;
use riverwatch_core::mqtt::{MqttConfig, network_options};
use riverwatch_core::topics::Topics;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, LastWill, QoS};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::telemetry::Metrics;

/// The mosquitto `$SYS` topic counting messages dropped for queue or inflight limits.
pub const SYS_DROPPED: &str = "$SYS/broker/publish/messages/dropped";

/// Publishes committed readings.
#[derive(Clone)]
pub struct ReadingsPublisher {
    client: AsyncClient,
    topics: Topics,
}

fn status_payload(client_id: &str, status: &str) -> Vec<u8> {
    riverwatch_core::mqtt::status_payload("ingest", client_id, status, chrono::Utc::now())
}

/// The driving half of the output connection.
pub struct PublisherDriver {
    client: AsyncClient,
    eventloop: EventLoop,
    status_topic: String,
    client_id: String,
    watch_drops: bool,
    metrics: Metrics,
}

impl ReadingsPublisher {
    /// Builds the output connection. Drive it with [`PublisherDriver::run`].
    ///
    /// # Errors
    /// Invalid broker settings.
    pub fn new(
        mqtt: &MqttConfig,
        client_id: &str,
        watch_drops: bool,
        metrics: Metrics,
    ) -> Result<(Self, PublisherDriver), riverwatch_core::mqtt::MqttConfigError> {
        let topics = mqtt.topics();
        let status_topic = topics.status(client_id);
        let mut opts = mqtt.options(client_id, true)?;
        opts.set_last_will(LastWill::new(
            status_topic.clone(),
            status_payload(client_id, "offline"),
            QoS::AtLeastOnce,
            true,
        ));
        opts.set_inflight(1000);
        let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
        eventloop.set_network_options(network_options());
        Ok((
            Self {
                client: client.clone(),
                topics,
            },
            PublisherDriver {
                client,
                eventloop,
                status_topic,
                client_id: client_id.to_string(),
                watch_drops,
                metrics,
            },
        ))
    }

    /// Publishes one station's new readings (the JSON of a
    /// [`riverwatch_core::reading::ReadingsMessage`]) at QoS 1. Waits only for room in the outgoing
    /// queue (backpressure), not for the broker.
    pub async fn publish(&self, station: &StationId, body: Vec<u8>) {
        let topic = self.topics.readings(station.as_str());
        if let Err(error) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, body)
            .await
        {
            warn!(%error, "Cannot publish committed readings; downstream will read them from the store.");
        }
    }
}

impl PublisherDriver {
    /// Drives the connection until `done` fires, then publishes the offline status and
    /// disconnects after the queued publishes went out.
    pub async fn run(mut self, done: CancellationToken) {
        let mut backoff = Backoff::network();
        let mut last_dropped: Option<u64> = None;
        let mut connected = false;
        loop {
            tokio::select! {
                () = done.cancelled() => break,
                event = self.eventloop.poll() => match event {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        connected = true;
                        backoff.reset();
                        let _ = self.client.try_publish(
                            self.status_topic.clone(),
                            QoS::AtLeastOnce,
                            true,
                            status_payload(&self.client_id, "online"),
                        );
                        if self.watch_drops {
                            let _ = self.client.try_subscribe(SYS_DROPPED, QoS::AtMostOnce);
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) if p.topic == SYS_DROPPED => {
                        let text = String::from_utf8_lossy(&p.payload);
                        if let Ok(total) = text.trim().parse::<u64>() {
                            self.on_dropped(total, p.retain, &mut last_dropped);
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        connected = false;
                        let delay = backoff.next_delay();
                        warn!(%error, retry_in_ms = delay.as_millis() as u64, "Output connection lost; reconnecting.");
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = done.cancelled() => break,
                        }
                    }
                },
            }
        }
        if connected {
            let _ = self.client.try_publish(
                self.status_topic.clone(),
                QoS::AtLeastOnce,
                true,
                status_payload(&self.client_id, "offline"),
            );
            if !riverwatch_core::mqtt::close(
                &self.client,
                &mut self.eventloop,
                Duration::from_secs(5),
            )
            .await
            {
                warn!("Output connection did not close in time.");
            }
        }
        debug!("Output connection closed.");
    }

    /// A retained value is the count from before this connection (a baseline); a live
    /// value is a change, counted against the last value seen (or 0: mosquitto publishes
    /// the topic only once something was dropped).
    fn on_dropped(&self, total: u64, retained: bool, last: &mut Option<u64>) {
        if retained && last.is_none() {
            if total > 0 {
                warn!(
                    total,
                    "The broker reports it has dropped messages since it started; raise max_queued_messages (see deploy/mosquitto.conf)."
                );
            }
            *last = Some(total);
            return;
        }
        let prev = last.unwrap_or(0);
        if total > prev {
            let delta = total - prev;
            self.metrics.broker_dropped.add(delta);
            error!(
                dropped = delta,
                total,
                "The broker dropped messages (queue or inflight limit); readings were lost before ingest saw them."
            );
        }
        *last = Some(total);
    }
}
