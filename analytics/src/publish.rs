//! The output connection: events at QoS 1 on `{prefix}/events/{subject}`, the service's
//! retained status on `{prefix}/status/{client_id}` (with a last will).
//!
//! Events are in the evaluation store before they reach this connection. An event is
//! marked *published* when the broker acknowledges it (the packet id of each outgoing
//! publish is matched to the event it carries); at every (re)connection, the events not yet
//! marked are published again. Event ids are stable, so the alert service drops copies.
//! A lost connection is replaced by a fresh client, so no old packet id can be mistaken for
//! a new one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use riverwatch_core::backoff::Backoff;
use riverwatch_core::events::Event;
use riverwatch_core::mqtt::{MqttConfig, MqttConfigError, network_options};
use riverwatch_core::topics::Topics;
use rumqttc::{AsyncClient, EventLoop, Incoming, LastWill, MqttOptions, Outgoing, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::store::AnalyticsStore;
use crate::telemetry::Metrics;

/// Requests rumqttc may hold before the driver keeps a backlog itself.
const REQUEST_ROOM: usize = 10_000;
/// How often confirmed events are marked in the store.
const MARK_EVERY: Duration = Duration::from_millis(200);

fn status_payload(client_id: &str, status: &str) -> Vec<u8> {
    riverwatch_core::mqtt::status_payload("analytics", client_id, status, chrono::Utc::now())
}

/// Hands events to the output connection.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    tx: mpsc::Sender<Event>,
}

impl EventPublisher {
    /// Queues events for publication (waits only for room: backpressure).
    pub async fn publish(&self, events: Vec<Event>) {
        for e in events {
            if self.tx.send(e).await.is_err() {
                warn!(
                    "The output connection is gone; the events stay in the store for the next start."
                );
                return;
            }
        }
    }
}

/// The driving half of the output connection.
pub struct PublisherDriver {
    opts: MqttOptions,
    rx: mpsc::Receiver<Event>,
    topics: Topics,
    status_topic: String,
    client_id: String,
    store: AnalyticsStore,
    metrics: Metrics,
}

/// Builds the output connection. Drive it with [`PublisherDriver::run`].
///
/// # Errors
/// Invalid broker settings.
pub fn publisher(
    mqtt: &MqttConfig,
    client_id: &str,
    store: AnalyticsStore,
    metrics: Metrics,
) -> Result<(EventPublisher, PublisherDriver), MqttConfigError> {
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
    let (tx, rx) = mpsc::channel(4096);
    Ok((
        EventPublisher { tx },
        PublisherDriver {
            opts,
            rx,
            topics,
            status_topic,
            client_id: client_id.to_string(),
            store,
            metrics,
        },
    ))
}

/// One connection's bookkeeping.
struct Conn {
    client: AsyncClient,
    eventloop: EventLoop,
    /// Event ids (None: the status message) handed to rumqttc, not yet written.
    fifo: VecDeque<Option<String>>,
    /// Packet id → event id, written and waiting for the broker's acknowledgement.
    inflight: HashMap<u16, Option<String>>,
}

impl PublisherDriver {
    fn connect(&self) -> Conn {
        let (client, mut eventloop) = AsyncClient::new(self.opts.clone(), REQUEST_ROOM);
        eventloop.set_network_options(network_options());
        Conn {
            client,
            eventloop,
            fifo: VecDeque::new(),
            inflight: HashMap::new(),
        }
    }

    async fn mark(&self, confirmed: &mut Vec<String>) {
        if confirmed.is_empty() {
            return;
        }
        let ids = std::mem::take(confirmed);
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

    async fn unpublished(&self) -> Vec<Event> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.unpublished_events(100_000)).await {
            Ok(Ok(v)) => v,
            Ok(Err(error)) => {
                error!(%error, "Cannot read the events to publish.");
                Vec::new()
            }
            Err(error) => {
                error!(%error, "Cannot read the events to publish.");
                Vec::new()
            }
        }
    }

    /// Drives the connection until `done` fires and the queue is empty (or 10 s passed),
    /// then publishes the offline status and disconnects.
    pub async fn run(mut self, done: CancellationToken) {
        let mut backoff = Backoff::network();
        let mut conn = self.connect();
        let mut backlog: VecDeque<Event> = VecDeque::new();
        let mut confirmed: Vec<String> = Vec::new();
        let mut mark_tick = tokio::time::interval(MARK_EVERY);
        let mut closing: Option<tokio::time::Instant> = None;
        let mut rx_open = true;
        loop {
            // Hand the backlog to rumqttc while it takes requests.
            while let Some(e) = backlog.front() {
                let topic = self.topics.events(&e.subject);
                let body = serde_json::to_vec(e).unwrap_or_default();
                match conn
                    .client
                    .try_publish(topic, QoS::AtLeastOnce, false, body)
                {
                    Ok(()) => {
                        conn.fifo.push_back(Some(e.id.clone()));
                        backlog.pop_front();
                    }
                    Err(_) => break,
                }
            }
            self.metrics
                .events_pending
                .set((backlog.len() + conn.fifo.len() + conn.inflight.len()) as u64);
            if closing.is_some()
                && backlog.is_empty()
                && conn.fifo.iter().all(Option::is_none)
                && conn.inflight.values().all(Option::is_none)
            {
                break;
            }
            let deadline = closing;
            tokio::select! {
                biased;
                () = done.cancelled(), if closing.is_none() => {
                    closing = Some(tokio::time::Instant::now() + Duration::from_secs(10));
                }
                // Cancel-safe: a sleep.
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!("Events still unconfirmed at shutdown; they are published again at the next start.");
                    break;
                }
                e = self.rx.recv(), if rx_open => match e {
                    Some(e) => backlog.push_back(e),
                    None => rx_open = false,
                },
                _ = mark_tick.tick() => self.mark(&mut confirmed).await,
                event = conn.eventloop.poll() => match event {
                    Ok(rumqttc::Event::Incoming(Incoming::ConnAck(_))) => {
                        backoff.reset();
                        if conn
                            .client
                            .try_publish(
                                self.status_topic.clone(),
                                QoS::AtLeastOnce,
                                true,
                                status_payload(&self.client_id, "online"),
                            )
                            .is_ok()
                        {
                            conn.fifo.push_back(None);
                        }
                        let queued: HashSet<String> = backlog.iter().map(|e| e.id.clone()).collect();
                        let again: Vec<Event> = self
                            .unpublished()
                            .await
                            .into_iter()
                            .filter(|e| !queued.contains(&e.id))
                            .collect();
                        if !again.is_empty() {
                            debug!(events = again.len(), "Publishing events not yet confirmed.");
                        }
                        // Stored events first: they are older than anything in the backlog.
                        for e in again.into_iter().rev() {
                            backlog.push_front(e);
                        }
                    }
                    Ok(rumqttc::Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(id) = conn.fifo.pop_front() {
                            conn.inflight.insert(pkid, id);
                        }
                    }
                    Ok(rumqttc::Event::Incoming(Incoming::PubAck(ack))) => {
                        if let Some(Some(id)) = conn.inflight.remove(&ack.pkid) {
                            confirmed.push(id);
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        let delay = backoff.next_delay();
                        warn!(%error, retry_in_ms = delay.as_millis() as u64, "Output connection lost; reconnecting.");
                        if closing.is_some() {
                            break;
                        }
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = done.cancelled() => {}
                        }
                        // A fresh client: nothing of the old one is retransmitted, and the
                        // stored events are published again after the next ConnAck.
                        conn = self.connect();
                    }
                },
            }
        }
        self.mark(&mut confirmed).await;
        let _ = conn.client.try_publish(
            self.status_topic.clone(),
            QoS::AtLeastOnce,
            true,
            status_payload(&self.client_id, "offline"),
        );
        if !riverwatch_core::mqtt::close(&conn.client, &mut conn.eventloop, Duration::from_secs(5))
            .await
        {
            warn!("The broker did not take the last events in time.");
        }
    }
}
