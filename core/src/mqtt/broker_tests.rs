//! The subscriber against a real mosquitto on a free loopback port.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::testing::{Mosquitto, MosquittoOptions};
use crate::time::{Clock, ManualClock};

const WAIT: Duration = Duration::from_secs(20);

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap(),
    ))
}

/// Polls `check` every 10 ms until it holds; false after [`WAIT`].
async fn wait_until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Creates the persistent session `client_id` with a subscription to `filter`, so messages
/// published from now on wait for it.
async fn prime(mqtt: &MqttConfig, client_id: &str, filter: &str) {
    let (client, mut eventloop) = AsyncClient::new(mqtt.options(client_id, false).unwrap(), 10);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("priming the session failed: {other:?}"),
        }
    }
    client.disconnect().await.unwrap();
    while let Ok(Ok(ev)) = tokio::time::timeout(WAIT, eventloop.poll()).await {
        if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
            break;
        }
    }
}

/// Publishes one QoS 1 message and waits for the broker's PUBACK.
async fn publish(mqtt: &MqttConfig, topic: &str, payload: &str) {
    let (client, mut eventloop) =
        AsyncClient::new(mqtt.options("core-test-pub", true).unwrap(), 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("publishing failed: {other:?}"),
        }
    }
}

fn payloads(run: &[BrokerMessage]) -> Vec<String> {
    run.iter()
        .map(|d| String::from_utf8_lossy(&d.publish.payload).to_string())
        .collect()
}

/// Counts what the subscriber reports.
#[derive(Debug, Clone, Default)]
struct Counts {
    received: Arc<AtomicUsize>,
    stale: Arc<AtomicUsize>,
    ack_writes: Arc<AtomicUsize>,
}

impl SubscriberHooks for Counts {
    fn received(&self, messages: usize) {
        self.received.fetch_add(messages, Ordering::SeqCst);
    }
    fn stale_ack(&self) {
        self.stale.fetch_add(1, Ordering::SeqCst);
    }
    fn ack_backlog(&self, _acks: usize) {
        self.ack_writes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A subscriber of `t/#` as `client_id` whose service channel holds `runs` runs.
struct Running {
    deliveries: mpsc::Receiver<Vec<BrokerMessage>>,
    acks: mpsc::UnboundedSender<Vec<PacketAck>>,
    token: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn subscribe(mqtt: &MqttConfig, client_id: &str, runs: usize, counts: &Counts) -> Running {
    let (tx, deliveries) = mpsc::channel(runs);
    let (acks, ack_rx) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let options = SessionOptions::new(mqtt, client_id).unwrap();
    let subscriber = Subscriber::new(options, vec!["t/#".into()], clock(), counts.clone());
    let task = tokio::spawn(subscriber.run(tx, ack_rx, token.clone()));
    Running {
        deliveries,
        acks,
        token,
        task,
    }
}

impl Running {
    async fn next(&mut self) -> Vec<BrokerMessage> {
        tokio::time::timeout(WAIT, self.deliveries.recv())
            .await
            .expect("no delivery in time")
            .expect("the subscriber stopped")
    }

    async fn stop(self) {
        self.token.cancel();
        drop(self.acks);
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the subscriber did not stop")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_go_out_while_the_service_has_no_room_and_unacked_messages_come_back() {
    let broker = Mosquitto::start().unwrap();
    let mqtt = MqttConfig::with_url(&broker.url());
    prime(&mqtt, "core-sub", "t/#").await;
    let counts = Counts::default();
    let mut sub = subscribe(&mqtt, "core-sub", 1, &counts);
    publish(&mqtt, "t/1", "1").await;
    let first = sub.next().await;
    assert_eq!(payloads(&first), ["1"]);
    assert_eq!(first[0].received_at, clock().now());
    // The second run fills the service's channel, the third waits in the subscriber.
    publish(&mqtt, "t/2", "2").await;
    assert!(wait_until(|| counts.received.load(Ordering::SeqCst) >= 2).await);
    publish(&mqtt, "t/3", "3").await;
    assert!(wait_until(|| counts.received.load(Ordering::SeqCst) >= 3).await);
    sub.acks
        .send(first.iter().map(PacketAck::from).collect())
        .unwrap();
    assert!(
        wait_until(|| counts.ack_writes.load(Ordering::SeqCst) >= 1).await,
        "the ack was not written while the service had no room"
    );
    sub.stop().await;

    // What the service committed is gone; what it had not taken comes back, in order.
    let counts = Counts::default();
    let mut again = subscribe(&mqtt, "core-sub", 8, &counts);
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(payloads(&again.next().await));
    }
    assert_eq!(got, ["2", "3"]);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_from_an_earlier_connection_is_dropped_and_the_redelivered_copy_is_acked() {
    let mut broker = Mosquitto::start_with(&MosquittoOptions {
        persistence: true,
        ..MosquittoOptions::default()
    })
    .unwrap();
    let mqtt = MqttConfig::with_url(&broker.url());
    prime(&mqtt, "core-epochs", "t/#").await;
    let counts = Counts::default();
    let mut sub = subscribe(&mqtt, "core-epochs", 4, &counts);
    publish(&mqtt, "t/1", "1").await;
    let before = sub.next().await;
    assert_eq!(
        (payloads(&before), before[0].epoch),
        (vec!["1".to_string()], 1)
    );

    tokio::task::block_in_place(|| broker.restart()).unwrap();
    let after = sub.next().await;
    assert_eq!(
        (payloads(&after), after[0].epoch),
        (vec!["1".to_string()], 2)
    );
    sub.acks
        .send(before.iter().map(PacketAck::from).collect())
        .unwrap();
    assert!(wait_until(|| counts.stale.load(Ordering::SeqCst) == 1).await);
    sub.acks
        .send(after.iter().map(PacketAck::from).collect())
        .unwrap();
    assert!(wait_until(|| counts.ack_writes.load(Ordering::SeqCst) >= 2).await);
    sub.stop().await;

    // The copy's ack took: the next connection starts with the next message.
    let mut again = subscribe(&mqtt, "core-epochs", 4, &Counts::default());
    publish(&mqtt, "t/2", "2").await;
    assert_eq!(payloads(&again.next().await), ["2"]);
    again.stop().await;
}
