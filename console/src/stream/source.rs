//! The live feed's input: one subscription (core's acking subscriber, a persistent session)
//! to `{prefix}/readings/+`, `{prefix}/events/+` and `{prefix}/alerts/+`. Each message is
//! checked, put in the form the API serves, pushed into the [`Feed`], then acknowledged:
//! the broker keeps what the console has not taken while its connection is down, so a
//! reconnect of the console loses no alert change. Retained alert states the broker hands
//! out on subscribing are old news (the API serves the current ones) and are left out.
//! A message without the publishing service's valid MAC (core's
//! [`riverwatch_core::mqtt::auth`]), or an event dated too far from the clock, is left out,
//! logged and counted (`internal_messages_refused_total{service="console"}`); the console
//! keeps no copy (the consuming services do).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use riverwatch_alerts::model::AlertView;
use riverwatch_core::events::Event;
use riverwatch_core::mqtt::auth::{Refusal, Verifier};
use riverwatch_core::mqtt::subscriber::{
    BrokerMessage, PacketAck, Subscriber, SubscriberHooks, runs_for,
};
use riverwatch_core::mqtt::{MqttConfig, MqttConfigError, session::SessionOptions};
use riverwatch_core::reading::ReadingsMessage;
use riverwatch_core::time::Clock;
use riverwatch_core::topics::{TopicKind, Topics};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::feed::{Feed, Kind};
use crate::api::alerts::AlertJson;
use crate::metrics::Metrics;

/// Whether the feed's broker connection is up, for `/readyz` and the metrics.
#[derive(Debug, Clone)]
pub struct BrokerState {
    up: Arc<AtomicBool>,
    metrics: Metrics,
}

impl BrokerState {
    /// Down until the first connection.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            up: Arc::new(AtomicBool::new(false)),
            metrics,
        }
    }

    /// Whether the connection is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

impl SubscriberHooks for BrokerState {
    fn connected(&self) {
        self.up.store(true, Ordering::Relaxed);
        self.metrics.broker_connected.set(1);
    }

    fn reconnect(&self) {
        self.up.store(false, Ordering::Relaxed);
        self.metrics.broker_connected.set(0);
    }
}

/// The message as the feed serves it, or why it is left out.
fn convert(
    topics: &Topics,
    verifier: &Verifier,
    m: &BrokerMessage,
    now: DateTime<Utc>,
) -> Result<Option<(Kind, String)>, String> {
    let p = &m.publish;
    let Some((kind, _)) = topics.parse(&p.topic) else {
        return Ok(None);
    };
    if !matches!(
        kind,
        TopicKind::Readings | TopicKind::Events | TopicKind::Alerts
    ) || (kind == TopicKind::Alerts && (p.retain || p.payload.is_empty()))
    {
        return Ok(None);
    }
    let refused = |r: Refusal| {
        verifier.count(r.code);
        r.to_string()
    };
    let payload = verifier.open(&p.topic, &p.payload).map_err(refused)?;
    let json = |e: serde_json::Error| e.to_string();
    Ok(match kind {
        TopicKind::Readings => {
            let msg: ReadingsMessage = serde_json::from_slice(&payload).map_err(json)?;
            Some((Kind::Reading, serde_json::to_string(&msg).map_err(json)?))
        }
        TopicKind::Events => {
            let e: Event = serde_json::from_slice(&payload).map_err(json)?;
            verifier
                .window
                .check("event time", e.observed_at, now)
                .map_err(refused)?;
            Some((Kind::Evaluation, serde_json::to_string(&e).map_err(json)?))
        }
        TopicKind::Alerts => {
            let v: AlertView = serde_json::from_slice(&payload).map_err(json)?;
            Some((
                Kind::Alert,
                serde_json::to_string(&AlertJson::from_view(&v)).map_err(json)?,
            ))
        }
        _ => None,
    })
}

/// Runs the subscription until `token` is cancelled.
///
/// # Errors
/// Bad broker settings.
pub async fn run(
    mqtt: &MqttConfig,
    client_id: &str,
    feed: Arc<Feed>,
    state: BrokerState,
    clock: Arc<dyn Clock>,
    token: CancellationToken,
) -> Result<(), MqttConfigError> {
    let topics = mqtt.topics();
    let verifier = mqtt.verifier("console")?;
    let filters = vec![
        topics.filter(TopicKind::Readings),
        topics.filter(TopicKind::Events),
        topics.filter(TopicKind::Alerts),
    ];
    let options = SessionOptions::new(mqtt, client_id)?;
    let metrics = state.metrics.clone();
    let (tx, mut rx) = mpsc::channel::<Vec<BrokerMessage>>(runs_for(1024));
    let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Vec<PacketAck>>();
    let subscriber = Subscriber::new(options, filters, clock.clone(), state).run(tx, ack_rx, token);
    let handle = async move {
        // Ends when the subscriber drops its sender (after shutdown); dropping `ack_tx`
        // then tells it every taken message is acknowledged.
        while let Some(run) = rx.recv().await {
            let mut acks = Vec::with_capacity(run.len());
            for m in &run {
                match convert(&topics, &verifier, m, clock.now()) {
                    Ok(Some((kind, data))) => {
                        feed.push(kind, Arc::from(data));
                        metrics.fed(kind);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        metrics.bad_messages.inc();
                        warn!(topic = %m.publish.topic, %error, "Message left out of the live feed.");
                    }
                }
                acks.push(PacketAck::from(m));
            }
            if ack_tx.send(acks).is_err() {
                break;
            }
        }
    };
    tokio::join!(subscriber, handle);
    Ok(())
}
