//! The MQTT source: one persistent-session QoS 1 subscription whose messages are
//! acknowledged to the broker only after what they produced is durably stored.
//!
//! This task alone owns the rumqttc event loop. Messages go downstream through a bounded
//! channel (a full channel stops the reading of the socket: backpressure, not memory
//! growth); acknowledgements come back on a second channel and are handed to rumqttc here,
//! right before the next poll, so acks never wait on a blocked poll loop.
//!
//! Each broker connection is an *epoch*. An ack for a message received in an earlier epoch
//! is dropped: the broker redelivers such a message on the new connection (the session
//! keeps it), and that copy is the one acknowledged. This keeps a late ack from matching a
//! packet id the broker has since given to another message.

use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::backoff::Backoff;
use riverwatch_core::time::Clock;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Outgoing, Publish, QoS, SubscribeFilter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::telemetry::Metrics;

/// A message as received, with what is needed to acknowledge it later.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The MQTT publish (topic, payload, packet id).
    pub publish: Publish,
    /// The connection it arrived on.
    pub epoch: u64,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// A request to acknowledge one message to the broker.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The publish to acknowledge.
    pub publish: Publish,
    /// The connection it arrived on.
    pub epoch: u64,
}

impl From<Inbound> for Ack {
    fn from(i: Inbound) -> Self {
        Ack {
            publish: i.publish,
            epoch: i.epoch,
        }
    }
}

/// The subscriber: client, event loop and what to subscribe to.
pub struct MqttSource {
    client: AsyncClient,
    eventloop: EventLoop,
    filters: Vec<String>,
    /// Acks handed to rumqttc and acks it has written, for the backlog gauge.
    queued_acks: u64,
    sent_acks: u64,
}

/// Room for acknowledgements waiting to be written.
///
/// rumqttc writes one queued request per turn of its event loop but reads up to ten packets
/// per turn, so while the broker has more to send, acks fall behind the messages they answer.
/// Brokers are meant to cap this (mosquitto's `max_inflight_messages`, MQTT 5's receive
/// maximum), but mosquitto 2.0 releases a queued backlog in whole windows per ack it receives,
/// so after an outage the backlog can arrive almost entirely unacknowledged. An ack request is
/// about 100 bytes; this room (≈100 MB at worst) covers a million-message backlog, and the
/// acks catch up as soon as the broker's queue is empty.
pub const ACK_ROOM: usize = 1_000_000;

/// How long shutdown waits for the last acknowledgements to reach the broker.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

impl MqttSource {
    /// A source on `client`/`eventloop` (built with [`ACK_ROOM`] request capacity).
    pub fn new(client: AsyncClient, eventloop: EventLoop, filters: Vec<String>) -> Self {
        Self {
            client,
            eventloop,
            filters,
            queued_acks: 0,
            sent_acks: 0,
        }
    }

    /// Runs until shutdown: forwards messages to `out`, acknowledges what comes back on
    /// `acks`. On shutdown it stops forwarding, keeps delivering acks until the writer
    /// side closes `acks` (everything in flight is committed and acknowledged), then
    /// disconnects.
    pub async fn run(
        mut self,
        out: mpsc::Sender<Inbound>,
        mut acks: mpsc::UnboundedReceiver<Ack>,
        clock: std::sync::Arc<dyn Clock>,
        metrics: Metrics,
        token: CancellationToken,
    ) {
        let mut out = Some(out);
        let mut epoch: u64 = 0;
        let mut connected = false;
        let mut backoff = Backoff::network();
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        loop {
            if out.is_none() && drain_deadline.is_none() {
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
            }
            let deadline = drain_deadline;
            tokio::select! {
                biased;
                ack = acks.recv() => match ack {
                    Some(ack) => self.ack(ack, epoch, &metrics),
                    // The writer side is done: every committed message has been acked.
                    None => break,
                },
                () = token.cancelled(), if out.is_some() => {
                    info!("Ingest source stopping; draining acknowledgements.");
                    out = None;
                }
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!("Acknowledgements still pending at shutdown; the broker will redeliver those messages.");
                    break;
                }
                event = self.eventloop.poll() => match event {
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        metrics.messages.inc();
                        let Some(tx) = &out else {
                            // Shutting down: not acked, so the broker keeps it for next time.
                            continue;
                        };
                        let inbound = Inbound { publish, epoch, received_at: clock.now() };
                        tokio::select! {
                            sent = tx.send(inbound) => {
                                if sent.is_err() {
                                    out = None;
                                }
                            }
                            () = token.cancelled() => {
                                info!("Ingest source stopping; draining acknowledgements.");
                                out = None;
                            }
                        }
                    }
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                        epoch += 1;
                        connected = true;
                        backoff.reset();
                        info!(session_present = ack.session_present, epoch, "Connected to the broker.");
                        let filters = self.filters.iter().map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                        if let Err(error) = self.client.try_subscribe_many(filters) {
                            error!(%error, "Cannot queue the subscription.");
                        }
                    }
                    Ok(Event::Incoming(Incoming::SubAck(suback))) => {
                        let refused = suback
                            .return_codes
                            .iter()
                            .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                            .count();
                        if refused > 0 {
                            error!(refused, filters = ?self.filters, "The broker refused subscriptions; check its ACL.");
                        } else {
                            debug!(filters = ?self.filters, "Subscribed.");
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(Event::Outgoing(Outgoing::PubAck(_))) => {
                        self.sent_acks += 1;
                        if self.sent_acks.is_multiple_of(1024) {
                            metrics.ack_backlog.set(self.queued_acks.saturating_sub(self.sent_acks));
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        connected = false;
                        if out.is_none() {
                            // Shutting down with no connection: unacked messages are redelivered.
                            break;
                        }
                        let delay = backoff.next_delay();
                        metrics.reconnects.inc();
                        warn!(%error, retry_in_ms = delay.as_millis() as u64, "MQTT connection lost; reconnecting.");
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = token.cancelled() => { out = None; }
                        }
                    }
                },
            }
        }
        if connected {
            self.disconnect().await;
        }
        info!("Ingest source stopped.");
    }

    fn ack(&mut self, ack: Ack, epoch: u64, metrics: &Metrics) {
        if ack.epoch != epoch {
            metrics.stale_acks.inc();
            return;
        }
        if let Err(error) = self.client.try_ack(&ack.publish) {
            // Over ACK_ROOM acks behind: the broker redelivers this message after the next
            // reconnect and the store ignores the copy.
            error!(%error, backlog = self.queued_acks.saturating_sub(self.sent_acks), "Cannot queue an acknowledgement.");
        } else {
            self.queued_acks += 1;
        }
    }

    async fn disconnect(&mut self) {
        if !riverwatch_core::mqtt::close(&self.client, &mut self.eventloop, Duration::from_secs(5))
            .await
        {
            warn!("The broker did not see the disconnect in time.");
        }
    }
}
