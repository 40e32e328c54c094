//! Retained alert state on `{prefix}/alerts/{id}`: the alert with both provinces'
//! acknowledgement state, the silences muting it and the alerts attached to it (the same
//! JSON as [`crate::model::AlertView`]), republished whenever it changes; and the service's
//! retained status on `{prefix}/status/{client_id}` with a last will.
//!
//! It is a connection of its own (core's output connection, clean session), so a slow broker
//! never holds up the acks of the event subscription. Alert versions are marked published
//! once handed to the connection; on start every firing or recently changed alert is published again, so state
//! lost in a crash or a broker restart is restored.

use std::sync::Arc;
use std::time::Duration;

use riverwatch_core::mqtt::{MqttConfig, MqttConfigError, Publication, Publisher, PublisherArgs};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::Topics;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::reader::AlertReader;
use crate::store::Store;

/// Alert states waiting for the connection before the notifier retries on its next tick.
const QUEUE: usize = 1000;

/// Publishes retained alert state.
pub struct MqttStateNotifier {
    out: Publisher<()>,
    topics: Topics,
    store: Store,
    reader: AlertReader,
    wake: Arc<Notify>,
    tick: Duration,
    clock: Arc<dyn Clock>,
}

/// Drives the publishing connection (core's output connection).
pub type MqttDriver = riverwatch_core::mqtt::PublisherDriver<(), ()>;

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
    let args = PublisherArgs {
        mqtt,
        service: "alerts",
        client_id,
        clock: clock.clone(),
        hooks: (),
    };
    let (out, driver) = Publisher::new(args, QUEUE)?;
    Ok((
        MqttStateNotifier {
            out,
            topics: mqtt.topics(),
            store,
            reader,
            wake,
            tick,
            clock,
        },
        driver,
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
        let mut published = Vec::new();
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
            let message = Publication {
                topic: self.topics.alerts(&alert.id),
                payload,
                retain: true,
                ticket: (),
            };
            match self.out.try_publish(message) {
                Ok(()) => published.push((alert.id.clone(), view.alert.version)),
                Err(_) => {
                    debug!("Publishing queue full; retrying on the next tick.");
                    break;
                }
            }
        }
        // One commit for the pass; if it fails the states are published again later, which
        // retained messages absorb.
        if let Err(error) = self.store.mark_published_all(&published) {
            warn!(alerts = published.len(), %error, "Cannot record published alert states.");
        }
    }
}
