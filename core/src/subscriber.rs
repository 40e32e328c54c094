//! The input connection of the services downstream of ingest (analytics, alerts): one
//! persistent-session QoS 1 subscription whose messages are acknowledged to the broker only
//! when the consumer hands them back, after it has committed what they produced.
//!
//! The subscriber task alone owns the rumqttc event loop. Messages go to the consumer through
//! a bounded channel (a full channel stops reading the socket: backpressure); acks come back
//! on a second channel and are handed to rumqttc right before the next poll. Each connection
//! is an epoch: an ack for a message of an earlier connection is dropped, because the broker
//! redelivers that message on the new connection and that copy is the one acknowledged. On
//! shutdown the subscriber stops forwarding, keeps acknowledging until the consumer closes the
//! ack channel (or a deadline passes), then disconnects.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Outgoing, Publish, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;

/// A message as received, with what is needed to acknowledge it.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The MQTT publish (topic, payload, packet id).
    pub publish: Publish,
    /// The connection it arrived on.
    pub epoch: u64,
}

/// Counters a service keeps about its subscription; every method does nothing by default.
pub trait SubscriberHooks: Send {
    /// A message arrived.
    fn message(&self) {}
    /// An ack was dropped because its message came on an earlier connection.
    fn stale_ack(&self) {}
    /// The connection was lost and will be re-established.
    fn reconnect(&self) {}
}

impl SubscriberHooks for () {}

/// The subscriber of one filter on one connection.
pub struct Subscriber<H> {
    client: AsyncClient,
    eventloop: EventLoop,
    filter: String,
    drain_timeout: Duration,
    hooks: H,
}

impl<H: SubscriberHooks> Subscriber<H> {
    /// A subscriber of `filter` on `client` / `eventloop`: a persistent session with manual
    /// acks, and request room for the acks of a whole in-flight window (rumqttc writes one
    /// request per turn but reads up to ten packets).
    pub fn new(client: AsyncClient, eventloop: EventLoop, filter: String, hooks: H) -> Self {
        Self {
            client,
            eventloop,
            filter,
            drain_timeout: Duration::from_secs(15),
            hooks,
        }
    }

    /// How long shutdown waits for the consumer's last acks (15 s by default).
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Runs until shutdown: forwards messages to `out`, acknowledges what comes back on
    /// `acks`.
    pub async fn run(
        mut self,
        out: mpsc::Sender<Inbound>,
        mut acks: mpsc::UnboundedReceiver<Inbound>,
        token: CancellationToken,
    ) {
        let mut out = Some(out);
        let mut epoch: u64 = 0;
        let mut connected = false;
        let mut backoff = Backoff::network();
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        loop {
            if out.is_none() && drain_deadline.is_none() {
                drain_deadline = Some(tokio::time::Instant::now() + self.drain_timeout);
            }
            let deadline = drain_deadline;
            tokio::select! {
                biased;
                ack = acks.recv() => match ack {
                    Some(ack) => self.ack(&ack, epoch),
                    // The consumer is done: everything it committed has been acknowledged.
                    None => break,
                },
                () = token.cancelled(), if out.is_some() => {
                    info!(filter = %self.filter, "Subscription stopping; draining acknowledgements.");
                    out = None;
                }
                // Cancel-safe: a sleep.
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!(filter = %self.filter, "Acknowledgements still pending at shutdown; the broker will redeliver those messages.");
                    break;
                }
                event = self.eventloop.poll() => match event {
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        self.hooks.message();
                        // Shutting down: not forwarded and not acked, so the broker keeps it.
                        let Some(tx) = &out else { continue };
                        let inbound = Inbound { publish, epoch };
                        // Cancel safety: a send dropped by the cancel arm loses only an
                        // unacknowledged message, which the broker redelivers.
                        tokio::select! {
                            sent = tx.send(inbound) => {
                                if sent.is_err() {
                                    out = None;
                                }
                            }
                            () = token.cancelled() => {
                                out = None;
                            }
                        }
                    }
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                        epoch += 1;
                        connected = true;
                        backoff.reset();
                        info!(session_present = ack.session_present, epoch, filter = %self.filter, "Connected to the broker.");
                        if let Err(error) = self.client.try_subscribe(self.filter.clone(), QoS::AtLeastOnce) {
                            error!(%error, "Cannot queue the subscription.");
                        }
                    }
                    Ok(Event::Incoming(Incoming::SubAck(suback))) => {
                        if suback
                            .return_codes
                            .iter()
                            .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                        {
                            error!(filter = %self.filter, "The broker refused the subscription; check its ACL.");
                        } else {
                            debug!(filter = %self.filter, "Subscribed.");
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(error) => {
                        connected = false;
                        if out.is_none() {
                            break;
                        }
                        self.hooks.reconnect();
                        let delay = backoff.next_delay();
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
        info!(filter = %self.filter, "Subscription stopped.");
    }

    fn ack(&mut self, ack: &Inbound, epoch: u64) {
        if ack.epoch != epoch {
            self.hooks.stale_ack();
            return;
        }
        if let Err(error) = self.client.try_ack(&ack.publish) {
            error!(%error, "Cannot queue an acknowledgement; the broker will redeliver the message.");
        }
    }

    async fn disconnect(&mut self) {
        if !crate::mqtt::close(&self.client, &mut self.eventloop, Duration::from_secs(5)).await {
            warn!("The broker did not see the disconnect in time.");
        }
    }
}
