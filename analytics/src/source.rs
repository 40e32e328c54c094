//! The input connection: one persistent-session QoS 1 subscription to
//! `{prefix}/readings/+`, whose messages are acknowledged to the broker only after the
//! evaluations and events they produced are committed to the evaluation store.
//!
//! This task alone owns the rumqttc event loop. Messages go to the evaluator through a
//! bounded channel (a full channel stops reading the socket: backpressure); acknowledgements
//! come back on a second channel and are handed to rumqttc right before the next poll. An
//! acknowledgement for a message of an earlier connection is dropped: the broker redelivers
//! that message on the new connection and that copy is the one acknowledged.

use std::time::Duration;

use riverwatch_core::backoff::Backoff;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Outgoing, Publish, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// A message as received, with what is needed to acknowledge it.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The MQTT publish.
    pub publish: Publish,
    /// The connection it arrived on.
    pub epoch: u64,
}

/// Room for acknowledgements waiting to be written (see the ingest source for why this is
/// generous: rumqttc writes one request per turn but reads up to ten packets).
pub const ACK_ROOM: usize = 100_000;

/// How long shutdown waits for the last acknowledgements.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The subscriber.
pub struct ReadingsSource {
    client: AsyncClient,
    eventloop: EventLoop,
    filter: String,
}

impl ReadingsSource {
    /// A source on `client` / `eventloop` (manual acks, [`ACK_ROOM`] request capacity).
    pub fn new(client: AsyncClient, eventloop: EventLoop, filter: String) -> Self {
        Self {
            client,
            eventloop,
            filter,
        }
    }

    /// Runs until shutdown: forwards messages to `out`, acknowledges what comes back on
    /// `acks`. On shutdown it stops forwarding, keeps acknowledging until the evaluator
    /// closes `acks`, then disconnects.
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
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
            }
            let deadline = drain_deadline;
            tokio::select! {
                biased;
                ack = acks.recv() => match ack {
                    Some(ack) => self.ack(&ack, epoch),
                    None => break,
                },
                () = token.cancelled(), if out.is_some() => {
                    info!("Analytics source stopping; draining acknowledgements.");
                    out = None;
                }
                // Cancel-safe: a sleep.
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!("Acknowledgements still pending at shutdown; the broker will redeliver those readings.");
                    break;
                }
                event = self.eventloop.poll() => match event {
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        let Some(tx) = &out else { continue };
                        let inbound = Inbound { publish, epoch };
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
                        info!(session_present = ack.session_present, epoch, "Analytics connected to the broker.");
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
        info!("Analytics source stopped.");
    }

    fn ack(&mut self, ack: &Inbound, epoch: u64) {
        if ack.epoch != epoch {
            return;
        }
        if let Err(error) = self.client.try_ack(&ack.publish) {
            error!(%error, "Cannot queue an acknowledgement; the broker will redeliver the message.");
        }
    }

    async fn disconnect(&mut self) {
        if self.client.try_disconnect().is_err() {
            return;
        }
        let flush = async {
            loop {
                match self.eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), flush)
            .await
            .is_err()
        {
            warn!("The broker did not see the disconnect in time.");
        }
    }
}
