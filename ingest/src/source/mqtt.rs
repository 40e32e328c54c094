//! The MQTT source: one persistent-session QoS 1 subscription whose messages are
//! acknowledged to the broker only after what they produced is durably stored.
//!
//! This task alone owns the connection ([`super::session`]). Messages go downstream through a
//! bounded channel, all those one socket read brought in one hand-over (a run; a full
//! channel stops the reading of the socket: backpressure, not memory growth).
//! Acknowledgements come back on a second channel, a commit's worth at a time, and all that
//! have arrived are written to the broker together, ahead of reading more.
//!
//! Each broker connection is an *epoch*. An ack for a message received in an earlier epoch
//! is dropped: the broker redelivers such a message on the new connection (the session
//! keeps it), and that copy is the one acknowledged. This keeps a late ack from matching a
//! packet id the broker has since given to another message.

use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::backoff::Backoff;
use riverwatch_core::time::Clock;
use rumqttc::{Packet, Publish, QoS, SubscribeReasonCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::session::{Session, SessionError, SessionOptions};
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
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    /// The packet id of the publish.
    pub pkid: u16,
    /// Its QoS (only QoS 1 is acknowledged).
    pub qos: QoS,
    /// The connection it arrived on.
    pub epoch: u64,
}

impl From<Inbound> for Ack {
    fn from(i: Inbound) -> Self {
        Ack {
            pkid: i.publish.pkid,
            qos: i.publish.qos,
            epoch: i.epoch,
        }
    }
}

/// Most messages handed downstream in one run.
pub const RUN: usize = 64;

/// The subscriber: how to connect and what to subscribe to.
pub struct MqttSource {
    options: SessionOptions,
    filters: Vec<String>,
}

/// Most acknowledgements written in one go.
const ACK_BURST: usize = 4096;

/// How long shutdown waits for the last acknowledgements to reach the broker.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a connection ended.
enum Ended {
    /// The writer side is done, or the drain timed out: stop.
    Stop,
    /// The connection failed: reconnect (unless shutting down).
    Lost(SessionError),
}

/// Waits out the backoff before the next connection attempt. False when shutdown came first.
async fn pause(backoff: &mut Backoff, metrics: &Metrics, token: &CancellationToken) -> bool {
    let delay = backoff.next_delay();
    metrics.reconnects.inc();
    info!(
        retry_in_ms = delay.as_millis() as u64,
        "Reconnecting after a pause."
    );
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = token.cancelled() => false,
    }
}

impl MqttSource {
    /// A source connecting with `options` and subscribing to `filters` at QoS 1.
    pub fn new(options: SessionOptions, filters: Vec<String>) -> Self {
        Self { options, filters }
    }

    /// Runs until shutdown: forwards messages to `out`, acknowledges what comes back on
    /// `acks`. On shutdown it stops forwarding, keeps delivering acks until the writer
    /// side closes `acks` (everything in flight is committed and acknowledged), then
    /// disconnects.
    pub async fn run(
        self,
        out: mpsc::Sender<Vec<Inbound>>,
        mut acks: mpsc::UnboundedReceiver<Vec<Ack>>,
        clock: std::sync::Arc<dyn Clock>,
        metrics: Metrics,
        token: CancellationToken,
    ) {
        let mut out = Some(out);
        let mut epoch: u64 = 0;
        let mut backoff = Backoff::network();
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        'connections: loop {
            if out.is_none() {
                // Shutting down with no connection: unacked messages are redelivered.
                break;
            }
            let opened = tokio::select! {
                opened = Session::open(&self.options, &self.filters) => opened,
                () = token.cancelled() => {
                    out = None;
                    continue;
                }
            };
            let mut session = match opened {
                Ok((session, session_present)) => {
                    epoch += 1;
                    backoff.reset();
                    info!(session_present, epoch, "Connected to the broker.");
                    session
                }
                Err(error) => {
                    warn!(%error, "Cannot connect to the broker.");
                    if !pause(&mut backoff, &metrics, &token).await {
                        out = None;
                    }
                    continue;
                }
            };
            let ended = self
                .connected(
                    &mut session,
                    epoch,
                    &mut out,
                    &mut acks,
                    &mut drain_deadline,
                    &clock,
                    &metrics,
                    &token,
                )
                .await;
            match ended {
                Ended::Stop => {
                    session.close().await;
                    break 'connections;
                }
                Ended::Lost(error) => {
                    if out.is_none() {
                        break 'connections;
                    }
                    warn!(%error, "MQTT connection lost.");
                    if !pause(&mut backoff, &metrics, &token).await {
                        out = None;
                    }
                }
            }
        }
        info!("Ingest source stopped.");
    }

    /// One connection's life (until it fails or the service is done).
    #[allow(clippy::too_many_arguments)]
    async fn connected(
        &self,
        session: &mut Session,
        epoch: u64,
        out: &mut Option<mpsc::Sender<Vec<Inbound>>>,
        acks: &mut mpsc::UnboundedReceiver<Vec<Ack>>,
        drain_deadline: &mut Option<tokio::time::Instant>,
        clock: &std::sync::Arc<dyn Clock>,
        metrics: &Metrics,
        token: &CancellationToken,
    ) -> Ended {
        let keep_alive = self.options.keep_alive();
        let mut ping = tokio::time::interval(if keep_alive.is_zero() {
            Duration::from_secs(3600)
        } else {
            keep_alive
        });
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut ping_outstanding = false;
        loop {
            if out.is_none() && drain_deadline.is_none() {
                *drain_deadline = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
            }
            let deadline = *drain_deadline;
            tokio::select! {
                biased;
                ack = acks.recv() => {
                    let Some(committed) = ack else {
                        // The writer side is done: every committed message has been acked.
                        return Ended::Stop;
                    };
                    // Everything the committer has handed over so far goes out in one write.
                    let mut written = 0;
                    let mut next = Some(committed);
                    while let Some(committed) = next.take() {
                        for ack in committed {
                            if ack.epoch != epoch {
                                metrics.stale_acks.inc();
                            } else if ack.qos == QoS::AtLeastOnce {
                                if let Err(error) = session.queue_ack(ack.pkid) {
                                    return Ended::Lost(error);
                                }
                                written += 1;
                            }
                        }
                        if written < ACK_BURST {
                            next = acks.try_recv().ok();
                        }
                    }
                    if let Err(error) = session.flush().await {
                        return Ended::Lost(error);
                    }
                    metrics.ack_backlog.set(acks.len() as u64);
                }
                () = token.cancelled(), if out.is_some() => {
                    info!("Ingest source stopping; draining acknowledgements.");
                    *out = None;
                }
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!("Acknowledgements still pending at shutdown; the broker will redeliver those messages.");
                    return Ended::Stop;
                }
                _ = ping.tick(), if !keep_alive.is_zero() => {
                    if ping_outstanding {
                        return Ended::Lost(SessionError::Timeout("waiting for the broker's PINGRESP"));
                    }
                    if let Err(error) = session.queue_ping() {
                        return Ended::Lost(error);
                    }
                    if let Err(error) = session.flush().await {
                        return Ended::Lost(error);
                    }
                    ping_outstanding = true;
                }
                packet = session.next_packet() => match packet {
                    Ok(Packet::Publish(publish)) => {
                        let received_at = clock.now();
                        let mut run = vec![Inbound { publish, epoch, received_at }];
                        // What else the last read brought goes along in the same hand-over.
                        let mut after = None;
                        while run.len() < RUN {
                            match session.buffered_packet() {
                                Ok(Some(Packet::Publish(publish))) => {
                                    run.push(Inbound { publish, epoch, received_at });
                                }
                                Ok(Some(other)) => {
                                    after = Some(Ok(other));
                                    break;
                                }
                                Ok(None) => break,
                                Err(error) => {
                                    after = Some(Err(error));
                                    break;
                                }
                            }
                        }
                        metrics.messages.add(run.len() as u64);
                        if let Some(tx) = out.as_ref() {
                            tokio::select! {
                                sent = tx.send(run) => {
                                    if sent.is_err() {
                                        *out = None;
                                    }
                                }
                                () = token.cancelled() => {
                                    info!("Ingest source stopping; draining acknowledgements.");
                                    *out = None;
                                }
                            }
                        }
                        // Shutting down, the run is not acked, so the broker keeps it for next time.
                        match after {
                            Some(Ok(packet)) => self.control(packet, &mut ping_outstanding),
                            Some(Err(error)) => return Ended::Lost(error),
                            None => {}
                        }
                    }
                    Ok(packet) => self.control(packet, &mut ping_outstanding),
                    Err(error) => return Ended::Lost(error),
                },
            }
        }
    }

    /// A packet other than a publish: SUBACK, PINGRESP, or one the subscriber ignores.
    fn control(&self, packet: Packet, ping_outstanding: &mut bool) {
        match packet {
            Packet::SubAck(suback) => {
                let refused = suback
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, SubscribeReasonCode::Failure))
                    .count();
                if refused > 0 {
                    error!(refused, filters = ?self.filters, "The broker refused subscriptions; check its ACL.");
                } else {
                    debug!(filters = ?self.filters, "Subscribed.");
                }
            }
            Packet::PingResp => *ping_outstanding = false,
            other => debug!(packet = ?other, "Ignored packet from the broker."),
        }
    }
}
