//! Publishing to a broker at QoS 1 and waiting for the broker's PUBACK of every message.
//!
//! One task owns the rumqttc event loop (TCP_NODELAY, an inflight window of 1000) and counts
//! `Incoming::PubAck`; on a connection error it waits with jittered exponential backoff and
//! polls again, which reconnects. The session is persistent under a stable client id, so
//! messages not yet acknowledged are sent again after a reconnect; if the broker has lost the
//! session they cannot be, and are counted as lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use riverwatch_core::backoff::Backoff;
use riverwatch_core::mqtt::{MqttConfig, network_options};
use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Unacknowledged QoS 1 messages in flight.
pub const INFLIGHT: u16 = 1000;
/// Capacity of the client's request channel.
const REQUEST_CHANNEL: usize = 1000;
/// How long [`Publisher::finish`] waits for the event loop to say goodbye.
const DISCONNECT_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    acked: AtomicU64,
    lost: AtomicU64,
    changed: Notify,
}

/// Counts of a publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishCounts {
    /// Messages handed to the client.
    pub published: u64,
    /// Messages the broker acknowledged.
    pub acked: u64,
    /// Messages lost with a session the broker dropped.
    pub lost: u64,
}

/// A QoS 1 publisher.
#[derive(Debug)]
pub struct Publisher {
    client: AsyncClient,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
    stop: CancellationToken,
    /// Stops the event loop if the publisher is dropped without [`Publisher::finish`].
    _guard: tokio_util::sync::DropGuard,
}

/// A client id that is stable for one run (so a reconnect resumes its session) and unique
/// between processes: `{prefix}-{pid}`, at most 64 characters.
pub fn client_id(prefix: &str) -> String {
    let mut id: String = format!("{prefix}-{}", std::process::id())
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '+' && *c != '#')
        .collect();
    id.truncate(64);
    id
}

impl Publisher {
    /// Starts a client for `mqtt` with `client_id`; the connection is made by the event loop.
    ///
    /// # Errors
    /// [`Error::Mqtt`] for settings rumqttc would reject.
    pub fn start(mqtt: &MqttConfig, client_id: &str) -> Result<Self> {
        let mut options = mqtt.options(client_id, false)?;
        options.set_inflight(INFLIGHT);
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CHANNEL);
        eventloop.set_network_options(network_options());
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let task = {
            let counters = counters.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut backoff = Backoff::network();
                let mut connected_once = false;
                loop {
                    // poll() is not cancel-safe mid-packet; the stop arm only fires when the
                    // publisher is abandoned, after which the loop's state does not matter.
                    let event = tokio::select! {
                        () = stop.cancelled() => break,
                        event = eventloop.poll() => event,
                    };
                    match event {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            counters.acked.fetch_add(1, Ordering::Relaxed);
                            counters.changed.notify_waiters();
                        }
                        Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                            backoff.reset();
                            if connected_once && !ack.session_present {
                                let published = counters.published.load(Ordering::Relaxed);
                                let settled = counters.acked.load(Ordering::Relaxed)
                                    + counters.lost.load(Ordering::Relaxed);
                                let lost = published.saturating_sub(settled);
                                counters.lost.fetch_add(lost, Ordering::Relaxed);
                                counters.changed.notify_waiters();
                                tracing::error!(
                                    lost,
                                    "Broker dropped the session; unacknowledged messages are lost."
                                );
                            }
                            connected_once = true;
                            tracing::debug!("Connected to the broker.");
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                        Ok(_) => {}
                        Err(error) => {
                            let delay = backoff.next_delay();
                            tracing::warn!(%error, delay_ms = delay.as_millis() as u64, "Broker connection failed; retrying.");
                            tokio::select! {
                                () = stop.cancelled() => break,
                                () = tokio::time::sleep(delay) => {}
                            }
                        }
                    }
                }
            })
        };
        Ok(Self {
            client,
            counters,
            task,
            _guard: stop.clone().drop_guard(),
            stop,
        })
    }

    /// Publishes one message at QoS 1; waits while the request channel is full.
    ///
    /// # Errors
    /// [`Error::MqttClient`] when the event loop has stopped.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| Error::MqttClient(e.to_string()))?;
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The counts so far.
    pub fn counts(&self) -> PublishCounts {
        PublishCounts {
            published: self.counters.published.load(Ordering::Relaxed),
            acked: self.counters.acked.load(Ordering::Relaxed),
            lost: self.counters.lost.load(Ordering::Relaxed),
        }
    }

    /// Waits until the broker has acknowledged (or lost) every message published, then
    /// disconnects. On `shutdown` it stops waiting and disconnects at once.
    ///
    /// # Errors
    /// None so far; the signature leaves room for a disconnect failure.
    pub async fn finish(self, shutdown: &CancellationToken) -> Result<PublishCounts> {
        loop {
            let notified = self.counters.changed.notified();
            let c = self.counts();
            if c.acked + c.lost >= c.published || shutdown.is_cancelled() {
                break;
            }
            // Re-check every 100 ms as well: a notification between the check and the
            // wait would otherwise be missed.
            tokio::select! {
                () = notified => {}
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let counts = self.counts();
        if self.client.disconnect().await.is_ok() {
            let task = self.task;
            let stop = self.stop.clone();
            let mut task = task;
            tokio::select! {
                _ = &mut task => {}
                () = tokio::time::sleep(DISCONNECT_WAIT) => {
                    stop.cancel();
                    let _ = task.await;
                }
            }
        } else {
            self.stop.cancel();
            let _ = self.task.await;
        }
        Ok(counts)
    }
}
