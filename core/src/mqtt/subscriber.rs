//! The input connection of every service (ingest, analytics, alerts): one persistent-session
//! QoS 1 subscription whose messages are acknowledged to the broker only when the service
//! hands them back, after it has committed what they produced
//! (`docs/design/0001-ack-after-commit.md`).
//!
//! This task alone owns the connection ([`super::session`]). Messages go to the service
//! through a bounded channel, all those one socket read brought in one hand-over (a run of
//! [`BrokerMessage`]s); when the service has no room, the runs read next wait here, and once
//! they hold [`HOLD_BYTES`] the socket is not read until the service has room (backpressure,
//! not memory growth). Acknowledgements and keep-alive go on all the while: pings are sent
//! every keep-alive interval, and the broker's PINGRESPs are read as long as the socket is;
//! a PINGRESP missing while reading was paused on purpose does not end the connection.
//! Acknowledgements ([`PacketAck`]s, a broker packet acknowledgement each) come back on a
//! second channel ([`AckSource`]; ingest's is bounded, [`ack_channel`]), a commit's worth at
//! a time, and all that have arrived are written to the broker together, ahead of reading
//! more.
//!
//! Each broker connection is an *epoch*. An ack for a message received in an earlier epoch
//! is dropped: the broker redelivers such a message on the new connection (the session
//! keeps it), and that copy is the one acknowledged. This keeps a late ack from matching a
//! packet id the broker has since given to another message. On shutdown the subscriber stops
//! handing messages over, keeps acknowledging until the service closes the ack channel (or
//! a deadline passes), then disconnects.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{Packet, Publish, QoS, SubscribeReasonCode};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::session::{Session, SessionError, SessionOptions};
use crate::backoff::Backoff;
use crate::time::Clock;

/// A message as the broker delivered it, with what is needed to acknowledge it later.
#[derive(Debug, Clone)]
pub struct BrokerMessage {
    /// The MQTT publish (topic, payload, packet id).
    pub publish: Publish,
    /// The connection it arrived on.
    pub epoch: u64,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// A broker packet acknowledgement to send for one message (a PUBACK; not to be confused
/// with a province's acknowledgement of an alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketAck {
    /// The packet id of the publish.
    pub pkid: u16,
    /// Its QoS (only QoS 1 is acknowledged).
    pub qos: QoS,
    /// The connection it arrived on.
    pub epoch: u64,
}

impl From<&BrokerMessage> for PacketAck {
    fn from(d: &BrokerMessage) -> Self {
        PacketAck {
            pkid: d.publish.pkid,
            qos: d.publish.qos,
            epoch: d.epoch,
        }
    }
}

impl From<BrokerMessage> for PacketAck {
    fn from(d: BrokerMessage) -> Self {
        PacketAck::from(&d)
    }
}

/// Most deliveries handed to the service in one run.
pub const RUN: usize = 64;

/// Most acknowledgements written in one go.
const ACK_BURST: usize = 4096;

/// Bytes of payload read from the broker and held here while the service has no room. Up
/// to this much the socket is read on (so PINGRESPs arrive and the connection is known to
/// be alive); beyond it reading pauses. The broker's in-flight window bounds the count too.
pub const HOLD_BYTES: usize = 8 * 1024 * 1024;

/// Commits' worth of acknowledgements that wait in a bounded ack channel
/// ([`ack_channel`]) before the service waits for the subscriber to write them.
pub const ACK_CHANNEL_COMMITS: usize = 64;

/// A bounded channel for the acknowledgements of [`ACK_CHANNEL_COMMITS`] commits: when the
/// subscriber cannot write them as fast as they come, the service waits instead of piling
/// them up.
pub fn ack_channel() -> (mpsc::Sender<Vec<PacketAck>>, mpsc::Receiver<Vec<PacketAck>>) {
    mpsc::channel(ACK_CHANNEL_COMMITS)
}

/// Where the subscriber takes the acknowledgements of committed messages from: a bounded
/// ([`ack_channel`]) or an unbounded channel.
pub trait AckSource: Send {
    /// The next commit's acks; `None` once the service is done.
    ///
    /// # Cancel safety
    /// Cancel-safe, as the tokio receivers are.
    fn recv(&mut self) -> impl Future<Output = Option<Vec<PacketAck>>> + Send;
    /// A commit's acks that have already arrived, if any.
    fn try_recv(&mut self) -> Option<Vec<PacketAck>>;
    /// Commits waiting in the channel.
    fn len(&self) -> usize;
    /// Whether no commit waits.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AckSource for mpsc::Receiver<Vec<PacketAck>> {
    fn recv(&mut self) -> impl Future<Output = Option<Vec<PacketAck>>> + Send {
        mpsc::Receiver::recv(self)
    }
    fn try_recv(&mut self) -> Option<Vec<PacketAck>> {
        mpsc::Receiver::try_recv(self).ok()
    }
    fn len(&self) -> usize {
        mpsc::Receiver::len(self)
    }
}

impl AckSource for mpsc::UnboundedReceiver<Vec<PacketAck>> {
    fn recv(&mut self) -> impl Future<Output = Option<Vec<PacketAck>>> + Send {
        mpsc::UnboundedReceiver::recv(self)
    }
    fn try_recv(&mut self) -> Option<Vec<PacketAck>> {
        mpsc::UnboundedReceiver::try_recv(self).ok()
    }
    fn len(&self) -> usize {
        mpsc::UnboundedReceiver::len(self)
    }
}

/// Payload bytes of a run.
fn run_bytes(run: &[BrokerMessage]) -> usize {
    run.iter().map(|m| m.publish.payload.len()).sum()
}

/// The channel capacity, in runs, that holds about `messages` deliveries.
pub fn runs_for(messages: usize) -> usize {
    (messages / RUN).max(1)
}

/// Counters a service keeps about its subscription; every method does nothing by default.
pub trait SubscriberHooks: Send + Sync + 'static {
    /// Messages arrived (one run).
    fn received(&self, _messages: usize) {}
    /// An ack was dropped because its message came on an earlier connection.
    fn stale_ack(&self) {}
    /// The connection failed or could not be opened; it is tried again after a pause.
    fn reconnect(&self) {}
    /// A connection is open and subscribed (the broker's CONNACK came).
    fn connected(&self) {}
    /// Acknowledgements committed but not yet written to the broker, after each write.
    fn ack_backlog(&self, _acks: usize) {}
}

impl SubscriberHooks for () {}

/// The subscriber: how to connect, what to subscribe to, and whom to tell.
pub struct Subscriber<H> {
    options: SessionOptions,
    filters: Vec<String>,
    clock: Arc<dyn Clock>,
    drain_timeout: Duration,
    hooks: H,
}

/// Why a connection ended.
enum Ended {
    /// The service is done, or the drain timed out: stop.
    Stop,
    /// The connection failed: reconnect (unless shutting down).
    Lost(SessionError),
}

impl<H: SubscriberHooks> Subscriber<H> {
    /// A subscriber connecting with `options` and subscribing to `filters` at QoS 1;
    /// `clock` dates the deliveries.
    pub fn new(
        options: SessionOptions,
        filters: Vec<String>,
        clock: Arc<dyn Clock>,
        hooks: H,
    ) -> Self {
        Self {
            options,
            filters,
            clock,
            drain_timeout: Duration::from_secs(15),
            hooks,
        }
    }

    /// How long shutdown waits for the service's last acks (15 s by default).
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Waits out the backoff before the next connection attempt. False when shutdown came
    /// first.
    async fn pause(&self, backoff: &mut Backoff, token: &CancellationToken) -> bool {
        let delay = backoff.next_delay();
        self.hooks.reconnect();
        info!(
            retry_in_ms = delay.as_millis() as u64,
            "Reconnecting after a pause."
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = token.cancelled() => false,
        }
    }

    /// Runs until shutdown: hands runs of deliveries to `out`, acknowledges what comes back
    /// on `acks`. On shutdown it stops handing over, keeps writing acks until the service
    /// closes `acks` (everything it committed is acknowledged), then disconnects.
    pub async fn run<A: AckSource>(
        self,
        out: mpsc::Sender<Vec<BrokerMessage>>,
        mut acks: A,
        token: CancellationToken,
    ) {
        let mut out = Some(out);
        let mut epoch: u64 = 0;
        let mut backoff = Backoff::network();
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        loop {
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
                    self.hooks.connected();
                    info!(session_present, epoch, filters = ?self.filters, "Connected to the broker.");
                    session
                }
                Err(error) => {
                    warn!(%error, filters = ?self.filters, "Cannot connect to the broker.");
                    if !self.pause(&mut backoff, &token).await {
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
                    &token,
                )
                .await;
            match ended {
                Ended::Stop => {
                    session.close().await;
                    break;
                }
                Ended::Lost(error) => {
                    if out.is_none() {
                        break;
                    }
                    warn!(%error, filters = ?self.filters, "MQTT connection lost.");
                    if !self.pause(&mut backoff, &token).await {
                        out = None;
                    }
                }
            }
        }
        info!(filters = ?self.filters, "Subscription stopped.");
    }

    /// One connection's life (until it fails or the service is done).
    async fn connected<A: AckSource>(
        &self,
        session: &mut Session,
        epoch: u64,
        out: &mut Option<mpsc::Sender<Vec<BrokerMessage>>>,
        acks: &mut A,
        drain_deadline: &mut Option<tokio::time::Instant>,
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
        // Whether reading paused (runs held to HOLD_BYTES) since the last ping went out: a
        // PINGRESP not read then says nothing about the connection.
        let mut paused_since_ping = false;
        // Runs the service had no room for yet, oldest first, and their payload bytes.
        let mut waiting: VecDeque<Vec<BrokerMessage>> = VecDeque::new();
        let mut waiting_bytes = 0usize;
        loop {
            if out.is_none() && drain_deadline.is_none() {
                *drain_deadline = Some(tokio::time::Instant::now() + self.drain_timeout);
                // Shutting down, a run not handed over is not acked: the broker keeps it.
                waiting.clear();
                waiting_bytes = 0;
            }
            let read = waiting.is_empty() || waiting_bytes < HOLD_BYTES;
            if !read {
                paused_since_ping = true;
            }
            let deadline = *drain_deadline;
            let room = (!waiting.is_empty()).then(|| out.clone()).flatten();
            tokio::select! {
                biased;
                ack = acks.recv() => {
                    let Some(committed) = ack else {
                        // The service is done: every committed message has been acked.
                        return Ended::Stop;
                    };
                    if let Err(error) = self.write_acks(session, epoch, committed, acks).await {
                        return Ended::Lost(error);
                    }
                }
                () = token.cancelled(), if out.is_some() => {
                    info!(filters = ?self.filters, "Subscription stopping; draining acknowledgements.");
                    *out = None;
                }
                // Cancel-safe: a sleep.
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!(filters = ?self.filters, "Acknowledgements still pending at shutdown; the broker will redeliver those messages.");
                    return Ended::Stop;
                }
                _ = ping.tick(), if !keep_alive.is_zero() => {
                    if ping_outstanding && !paused_since_ping {
                        return Ended::Lost(SessionError::Timeout("waiting for the broker's PINGRESP"));
                    }
                    paused_since_ping = !read;
                    if let Err(error) = session.queue_ping() {
                        return Ended::Lost(error);
                    }
                    if let Err(error) = session.flush().await {
                        return Ended::Lost(error);
                    }
                    ping_outstanding = true;
                }
                // Cancel-safe: reserving a slot loses nothing when dropped.
                permit = async move {
                    match room {
                        Some(tx) => tx.reserve_owned().await.ok(),
                        None => std::future::pending().await,
                    }
                } => match (permit, waiting.pop_front()) {
                    (Some(permit), Some(run)) => {
                        waiting_bytes = waiting_bytes.saturating_sub(run_bytes(&run));
                        permit.send(run);
                    }
                    // The service stopped taking messages.
                    _ => *out = None,
                },
                packet = session.next_packet(), if read => match packet {
                    Ok(Packet::Publish(publish)) => {
                        let (run, after) = self.read_run(session, publish, epoch);
                        if let Some(tx) = out.as_ref() {
                            // Runs keep their order: behind waiting ones, a run waits too.
                            let refused = if waiting.is_empty() {
                                match tx.try_send(run) {
                                    Ok(()) => None,
                                    Err(TrySendError::Full(run)) => Some(run),
                                    Err(TrySendError::Closed(_)) => {
                                        *out = None;
                                        None
                                    }
                                }
                            } else {
                                Some(run)
                            };
                            if let Some(run) = refused {
                                waiting_bytes += run_bytes(&run);
                                waiting.push_back(run);
                            }
                        }
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

    /// A run: `first`, and the publishes after it that the last read brought, up to
    /// [`RUN`]; also the first other packet (or parse error) met, to handle after it.
    fn read_run(
        &self,
        session: &mut Session,
        first: Publish,
        epoch: u64,
    ) -> (Vec<BrokerMessage>, Option<Result<Packet, SessionError>>) {
        let received_at = self.clock.now();
        let mut run = vec![BrokerMessage {
            publish: first,
            epoch,
            received_at,
        }];
        let mut after = None;
        while run.len() < RUN {
            match session.buffered_packet() {
                Ok(Some(Packet::Publish(publish))) => run.push(BrokerMessage {
                    publish,
                    epoch,
                    received_at,
                }),
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
        self.hooks.received(run.len());
        (run, after)
    }

    /// Writes `first` and every other commit's acks that have arrived, in one go.
    async fn write_acks<A: AckSource>(
        &self,
        session: &mut Session,
        epoch: u64,
        first: Vec<PacketAck>,
        acks: &mut A,
    ) -> Result<(), SessionError> {
        let mut written = 0;
        let mut next = Some(first);
        while let Some(committed) = next.take() {
            for ack in committed {
                if ack.epoch != epoch {
                    self.hooks.stale_ack();
                } else if ack.qos == QoS::AtLeastOnce {
                    session.queue_ack(ack.pkid)?;
                    written += 1;
                }
            }
            if written < ACK_BURST {
                next = acks.try_recv();
            }
        }
        session.flush().await?;
        self.hooks.ack_backlog(acks.len());
        Ok(())
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
