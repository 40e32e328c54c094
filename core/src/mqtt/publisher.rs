//! The output connection every service has: QoS 1 publishes on a connection of its own (so a
//! slow broker or downstream never holds up the acknowledgements of the service's input), the
//! service's retained status on `{prefix}/status/{client_id}` (`online` once connected,
//! `offline` as the last will and at shutdown), jittered backoff while the broker is away, and
//! at shutdown a wait until what was queued is confirmed.
//!
//! [`Publisher`] is the handle a service publishes through (a bounded queue: backpressure,
//! not memory growth); [`PublisherDriver`] owns the connection and runs as a task; it never
//! cancels a turn of rumqttc's event loop once started (`poll` is not cancel-safe). Each
//! connection is a fresh rumqttc client with a clean session, so the packet id of every
//! outgoing publish stands for one message and the broker's PUBACK confirms exactly that
//! message. What a lost connection had taken but the broker had not confirmed is not sent
//! again by the driver (as with rumqttc's clean sessions); a service that must deliver every
//! message keeps its messages durably, learns what was confirmed through
//! [`PublisherHooks::confirmed`] and hands the rest back in [`PublisherHooks::connected`],
//! which runs at every connection (analytics' events).
//!
//! With a key ring in the broker settings ([`MqttConfig::keys`]), every message, the status
//! and the last will carry the MAC of [`super::auth`], added once when the message enters the
//! driver's backlog. An empty payload (clearing a retained message) stays empty.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, EventLoop, Incoming, LastWill, MqttOptions, Outgoing, Publish, QoS};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::{MqttConfig, MqttConfigError, auth, network_options};
use crate::backoff::Backoff;
use crate::keys::KeyRing;
use crate::time::Clock;

/// Requests one rumqttc client may hold; beyond it messages wait in the driver's backlog.
const REQUEST_ROOM: usize = 10_000;
/// Messages the driver takes from the queue into its backlog before it leaves the rest in the
/// queue (and the senders wait).
const BACKLOG_ROOM: usize = 10_000;
/// How often confirmations are handed to [`PublisherHooks::confirmed`].
const CONFIRM_EVERY: Duration = Duration::from_millis(200);
/// How long the final DISCONNECT may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One message to publish at QoS 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication<T> {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Whether the broker keeps it as the topic's retained message.
    pub retain: bool,
    /// What the service calls this message; handed back once the broker confirmed it.
    pub ticket: T,
}

/// Publishes through the output connection. Cheap to clone.
#[derive(Debug)]
pub struct Publisher<T> {
    tx: mpsc::Sender<Publication<T>>,
}

impl<T> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<T> Publisher<T> {
    /// Builds an output connection: the handle to publish through, and the driver to run as
    /// a task ([`PublisherDriver::run`]). The queue holds `queue` messages.
    ///
    /// # Errors
    /// Invalid broker settings or client id.
    pub fn new<H>(
        args: PublisherArgs<'_, H>,
        queue: usize,
    ) -> Result<(Self, PublisherDriver<T, H>), MqttConfigError> {
        let PublisherArgs {
            mqtt,
            service,
            client_id,
            clock,
            hooks,
        } = args;
        let status_topic = mqtt.topics().status(client_id);
        let keys = mqtt.keys.clone();
        let mut opts = mqtt.options(client_id, true)?;
        let will = status_payload(service, client_id, "offline", clock.now());
        opts.set_last_will(LastWill::new(
            status_topic.clone(),
            sealed(keys.as_ref(), &status_topic, will).unwrap_or_default(),
            QoS::AtLeastOnce,
            true,
        ));
        opts.set_inflight(1000);
        let (tx, rx) = mpsc::channel(queue.max(1));
        Ok((
            Publisher { tx },
            PublisherDriver {
                opts,
                rx,
                status_topic,
                service,
                client_id: client_id.to_string(),
                clock,
                hooks,
                keys,
                drain_timeout: Duration::from_secs(10),
            },
        ))
    }

    /// Queues a message; waits only for room in the queue, not for the broker.
    ///
    /// # Errors
    /// The driver has stopped; the message is handed back.
    pub async fn publish(&self, message: Publication<T>) -> Result<(), Publication<T>> {
        self.tx.send(message).await.map_err(|e| e.0)
    }

    /// Queues a message if there is room now.
    ///
    /// # Errors
    /// The queue is full or the driver has stopped; the message is handed back.
    pub fn try_publish(&self, message: Publication<T>) -> Result<(), Publication<T>> {
        self.tx.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m,
        })
    }
}

/// What a service adds to its output connection; every method does nothing by default.
pub trait PublisherHooks<T: Send + 'static>: Send + 'static {
    /// Topics to subscribe to at QoS 0 on every connection (ingest's `$SYS` watch).
    fn subscriptions(&self) -> Vec<String> {
        Vec::new()
    }

    /// A message arrived on one of [`PublisherHooks::subscriptions`].
    fn incoming(&mut self, _publish: &Publish) {}

    /// The connection is up: messages to publish before everything queued, oldest first
    /// (those the service keeps durably and has not seen confirmed). Those whose ticket is
    /// already queued are left out.
    fn connected(&mut self) -> impl Future<Output = Vec<Publication<T>>> + Send {
        async { Vec::new() }
    }

    /// The broker confirmed these messages (called at most every 200 ms, and at the end).
    fn confirmed(&mut self, _tickets: Vec<T>) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Messages queued or in flight, after every step (for a gauge).
    fn pending(&self, _messages: usize) {}
}

impl<T: Send + 'static> PublisherHooks<T> for () {}

/// The retained service status on `{prefix}/status/{client_id}` (also the last will):
/// `{"service","client_id","status":"online"|"offline","at"}`.
pub fn status_payload(
    service: &str,
    client_id: &str,
    status: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Status<'a> {
        service: &'a str,
        client_id: &'a str,
        status: &'a str,
        at: String,
    }
    serde_json::to_vec(&Status {
        service,
        client_id,
        status,
        at: at.to_rfc3339(),
    })
    .unwrap_or_default()
}

/// What an output connection is for.
pub struct PublisherArgs<'a, H> {
    /// Broker connection settings.
    pub mqtt: &'a MqttConfig,
    /// The service name in the status message: `ingest`, `analytics`, `alerts`.
    pub service: &'static str,
    /// The connection's client id (clean session, so it need not be stable).
    pub client_id: &'a str,
    /// The clock of the status messages.
    pub clock: Arc<dyn Clock>,
    /// What the service adds.
    pub hooks: H,
}

/// The task that owns the output connection.
pub struct PublisherDriver<T, H> {
    opts: MqttOptions,
    rx: mpsc::Receiver<Publication<T>>,
    status_topic: String,
    service: &'static str,
    client_id: String,
    clock: Arc<dyn Clock>,
    hooks: H,
    keys: Option<KeyRing>,
    drain_timeout: Duration,
}

/// `payload` with its MAC when there are keys (an empty payload as it is); `None` for a
/// payload that cannot carry one (not a JSON object), which is logged.
fn sealed(keys: Option<&KeyRing>, topic: &str, payload: Vec<u8>) -> Option<Vec<u8>> {
    match keys {
        Some(keys) if !payload.is_empty() => match auth::sign(keys, topic, &payload) {
            Ok(signed) => Some(signed),
            Err(error) => {
                error!(%topic, %error, "Cannot sign a message; message dropped.");
                None
            }
        },
        _ => Some(payload),
    }
}

/// What the event loop of one connection yields.
type Polled = Result<rumqttc::Event, rumqttc::ConnectionError>;

/// One turn of an event loop: the event, and the event loop back for the next turn.
type Turn = Pin<Box<dyn Future<Output = (EventLoop, Polled)> + Send>>;

/// The next turn of `eventloop`. rumqttc's `EventLoop::poll` is not cancel-safe (dropped
/// while it writes, a publish it has already given a packet id never reaches the broker,
/// and that id is never acknowledged), so a turn, once started, is polled to its end: it
/// owns the event loop and stays pinned across the driver's `select!`s.
fn turn(mut eventloop: EventLoop) -> Turn {
    Box::pin(async move {
        let event = eventloop.poll().await;
        (eventloop, event)
    })
}

/// One connection: its client, the turn of its event loop under way, and the bookkeeping.
struct Conn<T> {
    client: AsyncClient,
    turn: Turn,
    /// Tickets (`None`: a status message) of publishes handed to rumqttc, not yet written.
    written_next: VecDeque<Option<T>>,
    /// Packet id → ticket of publishes written and not yet confirmed.
    inflight: HashMap<u16, Option<T>>,
    /// Whether a CONNACK came on this client.
    up: bool,
}

impl<T> Conn<T> {
    /// Whether a message of the service (not a status message) is still unconfirmed.
    fn carries_messages(&self) -> bool {
        self.written_next.iter().any(Option::is_some) || self.inflight.values().any(Option::is_some)
    }

    /// The next event of the connection. Cancel-safe: the turn under way is kept.
    async fn event(&mut self) -> Polled {
        let (eventloop, event) = (&mut self.turn).await;
        self.turn = turn(eventloop);
        event
    }

    /// Queues a DISCONNECT and waits until it is written (so the QoS 1 requests queued before
    /// it are on the wire) or `timeout` passes. Returns whether it was written in time; `true`
    /// when the connection was already closed.
    async fn close(&mut self, timeout: Duration) -> bool {
        if self.client.try_disconnect().is_err() {
            return true;
        }
        let flush = async {
            loop {
                match self.event().await {
                    Ok(rumqttc::Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(timeout, flush).await.is_ok()
    }
}

impl<T, H> PublisherDriver<T, H>
where
    T: Eq + Hash + Send + 'static,
    H: PublisherHooks<T>,
{
    /// How long shutdown waits for the queued messages to be confirmed (10 s by default).
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    fn connect(&self) -> Conn<T> {
        let (client, mut eventloop) = AsyncClient::new(self.opts.clone(), REQUEST_ROOM);
        eventloop.set_network_options(network_options());
        Conn {
            client,
            turn: turn(eventloop),
            written_next: VecDeque::new(),
            inflight: HashMap::new(),
            up: false,
        }
    }

    /// A message as it enters the backlog: signed when there are keys.
    fn seal(&self, mut m: Publication<T>) -> Option<Publication<T>> {
        m.payload = sealed(self.keys.as_ref(), &m.topic, std::mem::take(&mut m.payload))?;
        Some(m)
    }

    fn status(&self, conn: &mut Conn<T>, status: &str) {
        let payload = status_payload(self.service, &self.client_id, status, self.clock.now());
        let Some(payload) = sealed(self.keys.as_ref(), &self.status_topic, payload) else {
            return;
        };
        if conn
            .client
            .try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, payload)
            .is_ok()
        {
            conn.written_next.push_back(None);
        }
    }

    /// Drives the connection until `done` fires and everything queued is confirmed (or the
    /// drain timeout passed), then publishes the offline status and disconnects.
    pub async fn run(mut self, done: CancellationToken) {
        let mut backoff = Backoff::network();
        let mut conn = self.connect();
        let mut backlog: VecDeque<Publication<T>> = VecDeque::new();
        let mut confirmed: Vec<T> = Vec::new();
        let mut confirm_tick = tokio::time::interval(CONFIRM_EVERY);
        confirm_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing: Option<tokio::time::Instant> = None;
        let mut rx_open = true;
        loop {
            if closing.is_some() {
                // Everything the service queued before it stopped counts.
                while let Ok(m) = self.rx.try_recv() {
                    backlog.extend(self.seal(m));
                }
            }
            hand_over(&mut conn, &mut backlog);
            self.hooks
                .pending(backlog.len() + conn.written_next.len() + conn.inflight.len());
            if closing.is_some() && backlog.is_empty() && !conn.carries_messages() {
                break;
            }
            let deadline = closing;
            tokio::select! {
                biased;
                () = done.cancelled(), if closing.is_none() => {
                    closing = Some(tokio::time::Instant::now() + self.drain_timeout);
                }
                // Cancel-safe: a sleep.
                () = async move {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    warn!(service = self.service, "Messages still unconfirmed at shutdown.");
                    break;
                }
                // Cancel-safe: see `Conn::event`.
                event = conn.event() => match event {
                    Ok(rumqttc::Event::Incoming(Incoming::ConnAck(_))) => {
                        conn.up = true;
                        backoff.reset();
                        self.status(&mut conn, "online");
                        for topic in self.hooks.subscriptions() {
                            if let Err(error) = conn.client.try_subscribe(topic, QoS::AtMostOnce) {
                                error!(%error, "Cannot queue a subscription of the output connection.");
                            }
                        }
                        let again = self.hooks.connected().await;
                        let queued: HashSet<&T> = backlog.iter().map(|m| &m.ticket).collect();
                        let again: Vec<Publication<T>> = again
                            .into_iter()
                            .filter(|m| !queued.contains(&m.ticket))
                            .collect();
                        if !again.is_empty() {
                            debug!(messages = again.len(), "Publishing messages not yet confirmed.");
                        }
                        // They are older than anything in the backlog.
                        for m in again.into_iter().rev() {
                            if let Some(m) = self.seal(m) {
                                backlog.push_front(m);
                            }
                        }
                    }
                    Ok(rumqttc::Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(ticket) = conn.written_next.pop_front() {
                            conn.inflight.insert(pkid, ticket);
                        }
                    }
                    Ok(rumqttc::Event::Incoming(Incoming::PubAck(ack))) => {
                        if let Some(Some(ticket)) = conn.inflight.remove(&ack.pkid) {
                            confirmed.push(ticket);
                        }
                    }
                    Ok(rumqttc::Event::Incoming(Incoming::Publish(p))) => self.hooks.incoming(&p),
                    Ok(_) => {}
                    Err(error) => {
                        if closing.is_some() {
                            debug!(%error, "Output connection lost while stopping.");
                            conn.up = false;
                            break;
                        }
                        let delay = backoff.next_delay();
                        warn!(%error, service = self.service, retry_in_ms = delay.as_millis() as u64, "Output connection lost; reconnecting.");
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = done.cancelled() => {}
                        }
                        // A fresh client: nothing of the old one is retransmitted, so no old
                        // packet id can be taken for a new message.
                        conn = self.connect();
                    }
                },
                // Cancel-safe: an mpsc receive. After the connection's events, so a steady
                // stream of messages never holds up the acknowledgements.
                m = self.rx.recv(), if rx_open && backlog.len() < BACKLOG_ROOM => match m {
                    Some(m) => backlog.extend(self.seal(m)),
                    None => rx_open = false,
                },
                _ = confirm_tick.tick(), if !confirmed.is_empty() => {
                    self.hooks.confirmed(std::mem::take(&mut confirmed)).await;
                }
            }
        }
        if !confirmed.is_empty() {
            self.hooks.confirmed(confirmed).await;
        }
        if conn.up {
            self.status(&mut conn, "offline");
            if !conn.close(CLOSE_TIMEOUT).await {
                warn!(
                    service = self.service,
                    "The broker did not take the last messages in time."
                );
            }
        }
        debug!(service = self.service, "Output connection closed.");
    }
}

/// Hands the backlog to rumqttc while it takes requests.
fn hand_over<T>(conn: &mut Conn<T>, backlog: &mut VecDeque<Publication<T>>) {
    while let Some(m) = backlog.pop_front() {
        if !rumqttc::valid_topic(&m.topic) {
            error!(topic = %m.topic, "Not a valid topic to publish on; message dropped.");
            continue;
        }
        let Publication {
            topic,
            payload,
            retain,
            ticket,
        } = m;
        match conn
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            Ok(()) => conn.written_next.push_back(Some(ticket)),
            Err(rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(p)))
            | Err(rumqttc::ClientError::Request(rumqttc::Request::Publish(p))) => {
                // The client is full: the message waits for the next turn.
                backlog.push_front(Publication {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                    retain: p.retain,
                    ticket,
                });
                break;
            }
            Err(error) => {
                error!(%error, "Cannot hand a message to the MQTT client; message dropped.");
            }
        }
    }
}
