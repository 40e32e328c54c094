use std::time::{Duration, Instant};

use riverwatch_core::mqtt::{MqttConfig, network_options};
use riverwatch_simulators::recording::read_rows;
use riverwatch_simulators::{OutputFormat, RecordConfig, Recorder, ReplayConfig};
use riverwatch_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use tokio_util::sync::CancellationToken;

use super::util::{config, generate, registry};

/// A plain subscriber to the observation topics, ready once both SUBACKs are in.
async fn subscriber(url: &str, id: &str) -> (AsyncClient, EventLoop) {
    let mut opts = MqttConfig::with_url(url).options(id, true).unwrap();
    opts.set_inflight(1000);
    let (client, mut el) = AsyncClient::new(opts, 100);
    el.set_network_options(network_options());
    client
        .subscribe("rw/v1/obs/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .subscribe("rw/v1/hj212/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut acks = 0;
    while acks < 2 {
        if let Event::Incoming(Packet::SubAck(_)) = el.poll().await.unwrap() {
            acks += 1;
        }
    }
    (client, el)
}

/// Receives `n` messages (topic, payload, arrival), failing after `timeout`.
async fn receive(
    el: &mut EventLoop,
    n: usize,
    timeout: Duration,
) -> Vec<(String, Vec<u8>, Instant)> {
    let mut got = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + timeout;
    while got.len() < n {
        let Ok(ev) = tokio::time::timeout_at(deadline, el.poll()).await else {
            panic!("only {} of {n} messages arrived", got.len());
        };
        let ev = ev.unwrap();
        if let Event::Incoming(Packet::Publish(p)) = ev {
            got.push((p.topic.clone(), p.payload.to_vec(), Instant::now()));
        }
    }
    got
}

/// Publishes a marker on an observation topic from another client, then returns the
/// topics of the messages that reach the subscriber before it. The broker hands a
/// subscription its messages in the order it took them, so whatever was published before
/// the marker (all of a finished run) has arrived once the marker has.
async fn until_marker(url: &str, el: &mut EventLoop) -> Vec<String> {
    const MARKER: &str = "rw/v1/obs/TEST-MARKER";
    let opts = MqttConfig::with_url(url)
        .options("test-marker", true)
        .unwrap();
    let (client, mut marker_el) = AsyncClient::new(opts, 10);
    client
        .publish(MARKER, QoS::AtLeastOnce, false, b"end".to_vec())
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), marker_el.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("the marker was not published: {other:?}"),
        }
    }
    let mut before = Vec::new();
    loop {
        let Ok(ev) = tokio::time::timeout(Duration::from_secs(10), el.poll()).await else {
            panic!("the marker did not arrive");
        };
        if let Event::Incoming(Packet::Publish(p)) = ev.unwrap() {
            if p.topic == MARKER {
                return before;
            }
            before.push(p.topic.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_publishes_exactly_the_messages_of_its_recording() {
    let broker = Mosquitto::start().unwrap();
    let (_client, mut el) = subscriber(&broker.url(), "test-sub-simulate").await;
    let mut c = config("wwtp-upset", 3, OutputFormat::Mixed);
    let (_, expected, _) = generate(&c);
    c.mqtt = Some(MqttConfig::with_url(&broker.url()));
    let run = tokio::spawn(riverwatch_simulators::run(c, CancellationToken::new()));
    let got = receive(&mut el, expected.len(), Duration::from_secs(60)).await;
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.messages as usize, expected.len());
    assert_eq!(
        summary.acked, summary.messages,
        "every message acknowledged"
    );
    assert!(
        expected.iter().any(|m| m.topic.contains("/hj212/"))
            && expected.iter().any(|m| m.topic.contains("/obs/"))
    );
    let got: Vec<(String, Vec<u8>)> = got.into_iter().map(|(t, p, _)| (t, p)).collect();
    let want: Vec<(String, Vec<u8>)> = expected.into_iter().map(|m| (m.topic, m.payload)).collect();
    assert_eq!(got, want);
    // And nothing more arrives.
    let extra = until_marker(&broker.url(), &mut el).await;
    assert!(extra.is_empty(), "an extra message arrived: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_reproduces_the_simulators_own_recording() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config("sensor-faults", 5, OutputFormat::Mixed);
    c.duration = Some(Duration::from_secs(2 * 86_400));
    let (_, messages, _) = generate(&c);
    let shutdown = CancellationToken::new();
    let recorder = Recorder::subscribe(
        RecordConfig {
            registry: registry(),
            mqtt: MqttConfig::with_url(&broker.url()),
            out: dir.path().join("live.parquet"),
            duration: None,
            max_messages: Some(messages.len() as u64),
            client_id: Some("test-recorder".into()),
        },
        &shutdown,
    )
    .await
    .unwrap();
    let recording = tokio::spawn(recorder.run(shutdown.clone()));
    c.mqtt = Some(MqttConfig::with_url(&broker.url()));
    c.out = Some(dir.path().join("sim.csv"));
    riverwatch_simulators::run(c, CancellationToken::new())
        .await
        .unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(60), recording)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(summary.skipped, 0);
    let live = read_rows(&dir.path().join("live.parquet")).unwrap();
    let sim = read_rows(&dir.path().join("sim.csv")).unwrap();
    assert!(sim.len() > 1000);
    assert_eq!(live.len(), sim.len());
    assert_eq!(live, sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_received_as_the_same_readings_with_the_same_timing() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Two simulated hours of the whole network every 10 minutes.
    let mut c = config("baseline", 6, OutputFormat::Json);
    c.interval_override_secs = Some(600);
    c.duration = Some(Duration::from_secs(7200));
    let path = dir.path().join("rec.parquet");
    c.out = Some(path.clone());
    riverwatch_simulators::run(c, CancellationToken::new())
        .await
        .unwrap();
    let rows = read_rows(&path).unwrap();
    let messages = riverwatch_simulators::replay::group(&rows).len();

    let (_client, mut el) = subscriber(&broker.url(), "test-sub-replay").await;
    let speed = 2400.0; // 2 h in 3 s
    let replay = tokio::spawn(riverwatch_simulators::replay(
        ReplayConfig {
            input: path,
            mqtt: MqttConfig::with_url(&broker.url()),
            speed,
            shift_to_now: false,
            client_id: Some("test-replay".into()),
        },
        CancellationToken::new(),
    ));
    let got = receive(&mut el, messages, Duration::from_secs(60)).await;
    let summary = replay.await.unwrap().unwrap();
    assert_eq!(summary.acked as usize, messages);

    // The readings, decoded here with serde_json.
    let mut received = Vec::new();
    let mut timing = Vec::new();
    for (topic, payload, at) in &got {
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
        let station = topic.rsplit('/').next().unwrap().to_string();
        assert_eq!(v["station"], station.as_str());
        let ts = chrono::DateTime::parse_from_rfc3339(v["ts"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        for (code, value) in v["values"].as_object().unwrap() {
            received.push((station.clone(), code.clone(), ts, value.as_f64().unwrap()));
        }
        timing.push((ts, *at));
    }
    let mut want: Vec<_> = rows
        .iter()
        .map(|r| (r.station.clone(), r.parameter.clone(), r.time, r.value))
        .collect();
    let key =
        |x: &(String, String, chrono::DateTime<chrono::Utc>, f64)| (x.2, x.0.clone(), x.1.clone());
    want.sort_by_key(key);
    received.sort_by_key(key);
    assert_eq!(received, want);

    // Relative timing: arrival offsets follow simulated offsets ÷ speed.
    let (t0, w0) = timing[0];
    let mut worst: f64 = 0.0;
    for (ts, at) in &timing {
        let sim = (*ts - t0).num_milliseconds() as f64 / 1000.0 / speed;
        let wall = at.duration_since(w0).as_secs_f64();
        worst = worst.max((wall - sim).abs());
    }
    assert!(worst < 0.5, "arrival off by {worst:.3} s");
    let span = timing.last().unwrap().1.duration_since(w0).as_secs_f64();
    assert!(span > 2.5, "the replay took {span:.2} s, expected ≈ 3 s");
}
