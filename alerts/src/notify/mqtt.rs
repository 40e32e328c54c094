//! Retained alert state on `{prefix}/alerts/{id}`: the alert with both provinces'
//! acknowledgement state, the silences muting it and the alerts attached to it (the same
//! JSON as [`crate::model::AlertView`]), republished whenever it changes; and the service's
//! retained status on `{prefix}/status/{client_id}` with a last will.
//!
//! It is a connection of its own (clean session), so a slow broker never holds up the acks
//! of the event subscription. Alert versions are marked published once handed to the
//! client; on start every firing or recently changed alert is published again, so state
//! lost in a crash or a broker restart is restored.

use std::sync::Arc;
use std::time::Duration;

use riverwatch_core::backoff::Backoff;
use riverwatch_core::mqtt::{MqttConfig, MqttConfigError, network_options};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::Topics;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, LastWill, QoS};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::reader::AlertReader;
use crate::store::Store;

fn status_payload(client_id: &str, status: &str, clock: &dyn Clock) -> Vec<u8> {
    riverwatch_core::mqtt::status_payload("alerts", client_id, status, clock.now())
}

/// Publishes retained alert state.
pub struct MqttStateNotifier {
    client: AsyncClient,
    topics: Topics,
    store: Store,
    reader: AlertReader,
    wake: Arc<Notify>,
    tick: Duration,
    clock: Arc<dyn Clock>,
}

/// Drives the publishing connection.
pub struct MqttDriver {
    client: AsyncClient,
    eventloop: EventLoop,
    status_topic: String,
    client_id: String,
    clock: Arc<dyn Clock>,
}

/// Builds the notifier and its connection driver.
///
/// # Errors
/// Invalid broker settings.
pub fn new(
    mqtt: &MqttConfig,
    client_id: &str,
    store: Store,
    reader: AlertReader,
    wake: Arc<Notify>,
    tick: Duration,
    clock: Arc<dyn Clock>,
) -> Result<(MqttStateNotifier, MqttDriver), MqttConfigError> {
    let topics = mqtt.topics();
    let status_topic = topics.status(client_id);
    let mut opts = mqtt.options(client_id, true)?;
    opts.set_last_will(LastWill::new(
        status_topic.clone(),
        status_payload(client_id, "offline", clock.as_ref()),
        QoS::AtLeastOnce,
        true,
    ));
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    eventloop.set_network_options(network_options());
    Ok((
        MqttStateNotifier {
            client: client.clone(),
            topics,
            store,
            reader,
            wake,
            tick,
            clock: clock.clone(),
        },
        MqttDriver {
            client,
            eventloop,
            status_topic,
            client_id: client_id.to_string(),
            clock,
        },
    ))
}

impl MqttStateNotifier {
    /// Publishes changed alert state until `stop` fires (one last pass after it).
    pub async fn run(mut self, stop: CancellationToken) {
        if let Err(error) = self.store.republish_recent(self.clock.now()) {
            warn!(%error, "Cannot schedule the retained alert state for republishing.");
        }
        loop {
            self.publish_changed();
            if stop.is_cancelled() {
                break;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.tick) => {}
                () = stop.cancelled() => {}
            }
        }
    }

    fn publish_changed(&mut self) {
        let alerts = match self.store.unpublished(200) {
            Ok(a) => a,
            Err(error) => {
                error!(%error, "Cannot read alerts to publish.");
                return;
            }
        };
        for alert in alerts {
            let view = match self.reader.alert(&alert.id) {
                Ok(v) => v,
                Err(error) => {
                    warn!(alert = %alert.id, %error, "Cannot read an alert to publish.");
                    continue;
                }
            };
            let Ok(payload) = serde_json::to_vec(&view) else {
                continue;
            };
            let topic = self.topics.alerts(&alert.id);
            match self
                .client
                .try_publish(topic, QoS::AtLeastOnce, true, payload)
            {
                Ok(()) => {
                    if let Err(error) = self.store.mark_published(&alert.id, view.alert.version) {
                        warn!(alert = %alert.id, %error, "Cannot record a published alert state.");
                    }
                }
                Err(error) => {
                    debug!(%error, "Publishing queue full; retrying on the next tick.");
                    return;
                }
            }
        }
    }
}

impl MqttDriver {
    /// Drives the connection until `done` fires, then publishes the offline status and
    /// disconnects once the queued publishes went out.
    pub async fn run(mut self, done: CancellationToken) {
        let mut backoff = Backoff::network();
        let mut connected = false;
        loop {
            tokio::select! {
                () = done.cancelled() => break,
                event = self.eventloop.poll() => match event {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        connected = true;
                        backoff.reset();
                        let online = status_payload(&self.client_id, "online", self.clock.as_ref());
                        let _ = self.client.try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, online);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        connected = false;
                        let delay = backoff.next_delay();
                        debug!(%error, retry_in_ms = delay.as_millis() as u64, "Alert state connection lost; reconnecting.");
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = done.cancelled() => break,
                        }
                    }
                },
            }
        }
        if !connected {
            return;
        }
        let offline = status_payload(&self.client_id, "offline", self.clock.as_ref());
        let _ = self
            .client
            .try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, offline);
        if !riverwatch_core::mqtt::close(&self.client, &mut self.eventloop, Duration::from_secs(5))
            .await
        {
            warn!("The broker did not take the last alert states in time.");
        }
    }
}
