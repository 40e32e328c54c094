//! The subscriber and the publisher against a real mosquitto on a free loopback port.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::time::{Clock, ManualClock};
use riverwatch_testkit::{Mosquitto, MosquittoOptions};

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

/// Everything published on `filter` from now on (topic, payload), across broker restarts.
async fn watch(mqtt: &MqttConfig, filter: &str) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (client, mut eventloop) =
        AsyncClient::new(mqtt.options("core-test-watch", true).unwrap(), 10);
    let subscribed = Arc::new(AtomicUsize::new(0));
    let (sink, subs, filter) = (seen.clone(), subscribed.clone(), filter.to_string());
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    subs.fetch_add(1, Ordering::SeqCst);
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let payload = String::from_utf8_lossy(&p.payload).to_string();
                    sink.lock().unwrap().push((p.topic.clone(), payload));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    assert!(wait_until(|| subscribed.load(Ordering::SeqCst) > 0).await);
    seen
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

/// Records the tickets the broker confirmed and hands `kept` to every connection.
#[derive(Debug, Clone, Default)]
struct Ledger {
    confirmed: Arc<Mutex<Vec<u32>>>,
    connections: Arc<AtomicUsize>,
    kept: Vec<Publication<u32>>,
}

impl PublisherHooks<u32> for Ledger {
    async fn connected(&mut self) -> Vec<Publication<u32>> {
        self.connections.fetch_add(1, Ordering::SeqCst);
        self.kept.clone()
    }

    async fn confirmed(&mut self, tickets: Vec<u32>) {
        self.confirmed.lock().unwrap().extend(tickets);
    }
}

fn message(topic: &str, ticket: u32) -> Publication<u32> {
    Publication {
        topic: topic.to_string(),
        payload: ticket.to_string().into_bytes(),
        retain: false,
        ticket,
    }
}

fn status_of(seen: &[(String, String)], topic: &str) -> Vec<String> {
    seen.iter()
        .filter(|(t, _)| t == topic)
        .map(|(_, p)| {
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            format!(
                "{} {}",
                v["status"].as_str().unwrap(),
                v["at"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_announces_itself_confirms_what_it_sent_and_says_goodbye() {
    let broker = Mosquitto::start().unwrap();
    let mqtt = MqttConfig::with_url(&broker.url());
    let seen = watch(&mqtt, "#").await;
    let ledger = Ledger::default();
    let args = PublisherArgs {
        mqtt: &mqtt,
        service: "test",
        client_id: "core-out",
        clock: clock(),
        hooks: ledger.clone(),
    };
    let (out, driver) = Publisher::new(args, 4).unwrap();
    let done = CancellationToken::new();
    let task = tokio::spawn(driver.run(done.clone()));
    for ticket in 1..=3 {
        out.publish(message("out/x", ticket)).await.unwrap();
    }
    assert!(wait_until(|| ledger.confirmed.lock().unwrap().len() == 3).await);
    assert_eq!(*ledger.confirmed.lock().unwrap(), [1, 2, 3]);
    // Queued before the stop: still delivered and confirmed.
    out.publish(message("out/x", 4)).await.unwrap();
    done.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(*ledger.confirmed.lock().unwrap(), [1, 2, 3, 4]);
    assert!(out.publish(message("out/x", 5)).await.is_err());

    let status = "rw/v1/status/core-out";
    assert!(wait_until(|| status_of(&seen.lock().unwrap(), status).len() == 2).await);
    let seen = seen.lock().unwrap().clone();
    let at = "2026-11-22T00:00:00+00:00";
    assert_eq!(
        status_of(&seen, status),
        [format!("online {at}"), format!("offline {at}")]
    );
    let sent: Vec<&str> = seen
        .iter()
        .filter(|(t, _)| t == "out/x")
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(sent, ["1", "2", "3", "4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_resends_what_the_service_kept_and_a_lost_one_leaves_the_will() {
    let mut broker = Mosquitto::start().unwrap();
    let mqtt = MqttConfig::with_url(&broker.url());
    let ledger = Ledger {
        kept: vec![message("out/kept", 7)],
        ..Ledger::default()
    };
    let args = PublisherArgs {
        mqtt: &mqtt,
        service: "test",
        client_id: "core-out-will",
        clock: clock(),
        hooks: ledger.clone(),
    };
    let (out, driver) = Publisher::new(args, 4).unwrap();
    let task = tokio::spawn(driver.run(CancellationToken::new()));
    let confirmed = |n: usize| {
        let c = ledger.confirmed.clone();
        move || c.lock().unwrap().iter().filter(|&&t| t == 7).count() == n
    };
    assert!(wait_until(confirmed(1)).await);

    // A broker restart: a fresh connection, and the kept message once more.
    tokio::task::block_in_place(|| broker.restart()).unwrap();
    assert!(wait_until(confirmed(2)).await);
    assert_eq!(ledger.connections.load(Ordering::SeqCst), 2);
    out.publish(message("out/x", 8)).await.unwrap();
    assert!(wait_until(|| ledger.confirmed.lock().unwrap().contains(&8)).await);

    // Gone without a DISCONNECT: the broker publishes the last will.
    let seen = watch(&mqtt, "rw/v1/status/+").await;
    let status = "rw/v1/status/core-out-will";
    assert!(wait_until(|| !status_of(&seen.lock().unwrap(), status).is_empty()).await);
    task.abort();
    let at = "2026-11-22T00:00:00+00:00";
    assert!(
        wait_until(|| status_of(&seen.lock().unwrap(), status)
            == [format!("online {at}"), format!("offline {at}")])
        .await,
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_large_messages_is_confirmed_in_full() {
    let broker = Mosquitto::start().unwrap();
    let mqtt = MqttConfig::with_url(&broker.url());
    let ledger = Ledger::default();
    let args = PublisherArgs {
        mqtt: &mqtt,
        service: "test",
        client_id: "core-out-burst",
        clock: clock(),
        hooks: ledger.clone(),
    };
    let (out, driver) = Publisher::new(args, 16).unwrap();
    let done = CancellationToken::new();
    let task = tokio::spawn(driver.run(done.clone()));
    // Writes of this size take several socket writes each, while new messages keep coming.
    let payload = vec![b'x'; 200 * 1024];
    for ticket in 0..300 {
        let message = Publication {
            topic: "out/big".to_string(),
            payload: payload.clone(),
            retain: false,
            ticket,
        };
        out.publish(message).await.unwrap();
    }
    assert!(
        wait_until(|| ledger.confirmed.lock().unwrap().len() == 300).await,
        "confirmed {} of 300",
        ledger.confirmed.lock().unwrap().len()
    );
    let confirmed = ledger.confirmed.lock().unwrap().clone();
    assert_eq!(confirmed, (0..300).collect::<Vec<u32>>());
    done.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_key_ring_every_message_status_and_will_is_signed() {
    let broker = Mosquitto::start().unwrap();
    let keys = crate::keys::KeyRing::parse(&"4f".repeat(32)).unwrap();
    let mqtt = MqttConfig {
        keys: Some(keys.clone()),
        ..MqttConfig::with_url(&broker.url())
    };
    let seen = watch(&mqtt, "rw/v1/#").await;
    let ledger = Ledger::default();
    let args = PublisherArgs {
        mqtt: &mqtt,
        service: "test",
        client_id: "core-out-signed",
        clock: clock(),
        hooks: ledger.clone(),
    };
    let (out, driver) = Publisher::new(args, 8).unwrap();
    let task = tokio::spawn(driver.run(CancellationToken::new()));
    let publication = |topic: &str, payload: &[u8], ticket| Publication {
        topic: topic.to_string(),
        payload: payload.to_vec(),
        retain: false,
        ticket,
    };
    // Not a JSON object: cannot carry a MAC, so it is not sent.
    out.publish(publication("rw/v1/events/X", b"2", 1))
        .await
        .unwrap();
    out.publish(publication("rw/v1/events/X", br#"{"n":1}"#, 2))
        .await
        .unwrap();
    // Clearing a retained message: empty, as it must be.
    out.publish(publication("rw/v1/alerts/a1", b"", 3))
        .await
        .unwrap();
    assert!(wait_until(|| ledger.confirmed.lock().unwrap().len() == 2).await);
    assert_eq!(*ledger.confirmed.lock().unwrap(), [2, 3]);
    // Gone without a DISCONNECT: the will.
    let status = "rw/v1/status/core-out-signed";
    task.abort();
    assert!(wait_until(|| status_of(&seen.lock().unwrap(), status).len() == 2).await);

    let seen = seen.lock().unwrap().clone();
    let events: Vec<&str> = seen
        .iter()
        .filter(|(t, _)| t == "rw/v1/events/X")
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(events.len(), 1, "{seen:?}");
    assert_eq!(
        auth::verify(&keys, "rw/v1/events/X", events[0].as_bytes()).unwrap(),
        br#"{"n":1}"#
    );
    for (topic, payload) in &seen {
        if topic == "rw/v1/alerts/a1" {
            assert!(payload.is_empty());
        } else {
            assert!(
                auth::verify(&keys, topic, payload.as_bytes()).is_ok(),
                "{topic} {payload}"
            );
        }
    }
}
