//! The event subscription: `{prefix}/events/+` at QoS 1 with a persistent session under a
//! stable client id and manual acknowledgements. An event is acknowledged to the broker only
//! after the alert state it produced (and the notifications it queued) are committed, so a
//! crash loses nothing: the broker redelivers, and the store recognises the event id.
//!
//! This task alone owns the rumqttc event loop; events go to the processor through a bounded
//! channel and acks come back on a second channel, handed to rumqttc right before the next
//! poll. Each connection is an epoch: an ack for an event of an earlier connection is
//! dropped, because the broker redelivers that event on the new one.

use std::time::Duration;

use riverwatch_core::backoff::Backoff;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Outgoing, Publish, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::telemetry::Metrics;

/// An event message as received.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The publish.
    pub publish: Publish,
    /// The connection it arrived on.
    pub epoch: u64,
}

/// Room for pending acks and requests on the subscriber connection.
pub const REQUEST_ROOM: usize = 10_000;

/// How long shutdown waits for the last acks.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The subscriber.
pub struct EventSource {
    client: AsyncClient,
    eventloop: EventLoop,
    filter: String,
}

impl EventSource {
    /// A source on a connection built with [`REQUEST_ROOM`].
    pub fn new(client: AsyncClient, eventloop: EventLoop, filter: String) -> Self {
        Self {
            client,
            eventloop,
            filter,
        }
    }

    /// Runs until shutdown: forwards events to `out`, acknowledges what comes back on
    /// `acks`; on shutdown stops forwarding, delivers acks until the processor closes
    /// `acks`, then disconnects.
    pub async fn run(
        mut self,
        out: mpsc::Sender<Inbound>,
        mut acks: mpsc::UnboundedReceiver<Inbound>,
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
                    Some(a) => {
                        if a.epoch == epoch {
                            if let Err(error) = self.client.try_ack(&a.publish) {
                                warn!(%error, "Cannot queue an acknowledgement; the broker will redeliver the event.");
                            }
                        } else {
                            metrics.stale_acks.inc();
                        }
                    }
                    None => break,
                },
                () = token.cancelled(), if out.is_some() => {
                    info!("Event subscription stopping; draining acknowledgements.");
                    out = None;
                }
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!("Acknowledgements still pending at shutdown; the broker will redeliver those events.");
                    break;
                }
                event = self.eventloop.poll() => match event {
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        metrics.events.inc();
                        let Some(tx) = &out else { continue };
                        let inbound = Inbound { publish, epoch };
                        // Cancel safety: a send dropped by the cancel arm loses only an
                        // unacknowledged event, which the broker redelivers.
                        tokio::select! {
                            sent = tx.send(inbound) => if sent.is_err() { out = None; },
                            () = token.cancelled() => { out = None; }
                        }
                    }
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                        epoch += 1;
                        connected = true;
                        backoff.reset();
                        info!(session_present = ack.session_present, epoch, "Alert service connected to the broker.");
                        if let Err(error) = self.client.try_subscribe(self.filter.clone(), QoS::AtLeastOnce) {
                            error!(%error, "Cannot queue the subscription.");
                        }
                    }
                    Ok(Event::Incoming(Incoming::SubAck(s))) => {
                        if s.return_codes.iter().any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) {
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
        if connected && self.client.try_disconnect().is_ok() {
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
        info!("Event subscription stopped.");
    }
}
