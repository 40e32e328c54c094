//! The output connection (core's [`Publisher`]): events at QoS 1 on
//! `{prefix}/events/{subject}`, the service's retained status on `{prefix}/status/{client_id}`
//! with its last will.
//!
//! Events are in the evaluation store before they reach this connection. An event is
//! marked *published* when the broker acknowledges it (the publisher hands back the event id
//! of each confirmed message); at every (re)connection, the events not yet marked are
//! published again. Event ids are stable, so the alert service drops copies.

use std::sync::Arc;

use riverwatch_core::events::Event;
use riverwatch_core::mqtt::{
    MqttConfig, MqttConfigError, Publication, Publisher, PublisherArgs, PublisherHooks,
};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::Topics;
use tracing::{error, warn};

use crate::store::AnalyticsStore;
use crate::telemetry::Metrics;

/// Events waiting for the output connection before the engine waits.
const QUEUE: usize = 4096;
/// Most stored events published again at one connection.
const REPUBLISH_MAX: usize = 100_000;

/// The driving half of the output connection.
pub type PublisherDriver = riverwatch_core::mqtt::PublisherDriver<String, EventLedger>;

/// Hands events to the output connection.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    out: Publisher<String>,
    topics: Topics,
}

impl EventPublisher {
    /// Queues events for publication (waits only for room: backpressure).
    pub async fn publish(&self, events: Vec<Event>) {
        for e in events {
            if self.out.publish(message(&self.topics, &e)).await.is_err() {
                warn!(
                    "The output connection is gone; the events stay in the store for the next start."
                );
                return;
            }
        }
    }
}

/// An event as a message whose ticket is its id.
fn message(topics: &Topics, e: &Event) -> Publication<String> {
    Publication {
        topic: topics.events(&e.subject),
        payload: serde_json::to_vec(e).unwrap_or_default(),
        retain: false,
        ticket: e.id.clone(),
    }
}

/// Builds the output connection. Drive it with
/// [`riverwatch_core::mqtt::PublisherDriver::run`].
///
/// # Errors
/// Invalid broker settings.
pub fn publisher(
    mqtt: &MqttConfig,
    client_id: &str,
    store: AnalyticsStore,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
) -> Result<(EventPublisher, PublisherDriver), MqttConfigError> {
    let topics = mqtt.topics();
    let hooks = EventLedger {
        store,
        metrics,
        topics: topics.clone(),
    };
    let args = PublisherArgs {
        mqtt,
        service: "analytics",
        client_id,
        clock,
        hooks,
    };
    let (out, driver) = Publisher::new(args, QUEUE)?;
    Ok((EventPublisher { out, topics }, driver))
}

/// Keeps the store's `published` marks in step with the broker's confirmations, and hands
/// the events not yet confirmed to every new connection.
pub struct EventLedger {
    store: AnalyticsStore,
    metrics: Metrics,
    topics: Topics,
}

impl PublisherHooks<String> for EventLedger {
    async fn connected(&mut self) -> Vec<Publication<String>> {
        let store = self.store.clone();
        let events = match tokio::task::spawn_blocking(move || {
            store.unpublished_events(REPUBLISH_MAX)
        })
        .await
        {
            Ok(Ok(v)) => v,
            Ok(Err(error)) => {
                error!(%error, "Cannot read the events to publish.");
                Vec::new()
            }
            Err(error) => {
                error!(%error, "Cannot read the events to publish.");
                Vec::new()
            }
        };
        events.iter().map(|e| message(&self.topics, e)).collect()
    }

    async fn confirmed(&mut self, ids: Vec<String>) {
        let n = ids.len() as u64;
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.mark_published(&ids)).await {
            Ok(Ok(())) => self.metrics.events_published.add(n),
            Ok(Err(error)) => {
                warn!(%error, "Cannot mark events as published; they will be sent again.")
            }
            Err(error) => {
                warn!(%error, "Cannot mark events as published; they will be sent again.")
            }
        }
    }

    fn pending(&self, messages: usize) {
        self.metrics.events_pending.set(messages as u64);
    }
}
