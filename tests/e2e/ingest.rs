use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, Version, split_packets};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::pipeline::{DeadLetterQuery, ReadingQuery};
use riverwatch_core::testing::{Mosquitto, MosquittoOptions, TestCertificates};
use riverwatch_core::{DataFlag, Period, ReasonCode};
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::SqliteReader;
use rumqttc::{AsyncClient, Event, Incoming, QoS};

use crate::util::*;

/// Creates the ingest's persistent session before anything is published, as a deployment
/// does once: the broker then queues every observation for it, even while it is down.
pub async fn prime_session(url: &str, client_id: &str, filters: &[String]) {
    let opts = MqttConfig::with_url(url).options(client_id, false).unwrap();
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    for f in filters {
        client.subscribe(f.clone(), QoS::AtLeastOnce).await.unwrap();
    }
    let mut subacks = 0;
    while subacks < filters.len() {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => subacks += 1,
            Ok(Ok(_)) => {}
            other => panic!("priming session failed: {other:?}"),
        }
    }
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}

pub fn default_filters() -> Vec<String> {
    vec!["rw/v1/obs/+".to_string(), "rw/v1/hj212/+".to_string()]
}

fn now_minute() -> chrono::DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(2);
    Utc.timestamp_opt(t.timestamp() / 60 * 60, 0).unwrap()
}

fn hj212_frame(mn: &str, version: Version, cn: &str, local: chrono::NaiveDateTime) -> Frame {
    Frame {
        qn: Some(local.format("%Y%m%d%H%M%S000").to_string()),
        st: "21".into(),
        cn: cn.into(),
        pw: "123456".into(),
        mn: mn.into(),
        flag: Flag::new(version, false, false),
        pnum: None,
        pno: None,
        cp: String::new(),
    }
}

fn cp(local: chrono::NaiveDateTime, items: &[(&str, &str, &str)], suffix: &str) -> CpData {
    CpData {
        data_time: Some(local),
        items: items
            .iter()
            .map(|(code, v, flag)| {
                let mut i = CpItem::new(*code);
                match suffix {
                    "Rtd" => i.rtd = Some((*v).into()),
                    _ => i.avg = Some((*v).into()),
                }
                i.flag = Some((*flag).into());
                i
            })
            .collect(),
        extra: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_hj212_arrive_with_their_values_times_and_flags() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let cfg = IngestConfig {
        client_id: "it-formats".into(),
        ..IngestConfig::test_config()
    };
    prime_session(&broker.url(), &cfg.client_id, &default_filters()).await;
    let ingest = InProcessIngest::start(&broker.url(), &db, cfg);

    let reg = registry();
    let t = now_minute();
    let local = (t + chrono::Duration::hours(8)).naive_utc();
    let mut messages = vec![json_obs("LLH-CJG", t, &[("pH", 7.62), ("NH3N", 0.38)])];
    // Flag M on TP via the JSON flags map.
    let body = format!(
        r#"{{"ts":"{}","values":{{"TP":0.07}},"flags":{{"TP":"M"}}}}"#,
        t.to_rfc3339()
    );
    messages.push(("rw/v1/obs/LLH-HK".into(), body.into_bytes()));
    let mn = reg.station("SHJ-SFT").unwrap().mn.clone();
    let mut f = hj212_frame(&mn, Version::Hj212_2017, "2061", local);
    f.cp = cp(
        local,
        &[("w21003", "0.52", "N"), ("w01009", "6.1", "C")],
        "Avg",
    )
    .render();
    messages.push(("rw/v1/hj212/SHJ-SFT".into(), f.encode().into_bytes()));
    let mn = reg.station("LLH-WC").unwrap().mn.clone();
    let mut f = hj212_frame(&mn, Version::Hj212_2005, "2011", local);
    f.cp = cp(local, &[("060", "0.21", "N")], "Rtd").render();
    messages.push(("rw/v1/hj212/LLH-WC".into(), f.encode().into_bytes()));
    let mn = reg.station("AIR-HRB").unwrap().mn.clone();
    let mut f = hj212_frame(&mn, Version::Hj212_2025, "2061", local);
    f.st = "22".into();
    f.cp = cp(
        local,
        &[("a34004", "88", "N"), ("a34002", "120", "N")],
        "Avg",
    )
    .render();
    messages.push(("rw/v1/hj212/AIR-HRB".into(), f.encode().into_bytes()));
    publish_all(&broker.url(), "it-formats-pub", messages).await;

    assert!(
        wait_until(Duration::from_secs(20), || count_readings(&db) == 8).await,
        "stored {}",
        count_readings(&db)
    );
    ingest.stop().await;
    let reader = SqliteReader::open(&db).unwrap();
    let all = reader.query_blocking(&ReadingQuery::default()).unwrap();
    let get = |s: &str, p: &str| {
        all.iter()
            .find(|r| r.station == s && r.parameter == p)
            .cloned()
            .unwrap()
    };
    let ph = get("LLH-CJG", "pH");
    assert_eq!(
        (ph.value, ph.flag, ph.period, ph.observed_at),
        (7.62, DataFlag::N, Period::Sample, t)
    );
    assert_eq!(get("LLH-HK", "TP").flag, DataFlag::M);
    let nh3 = get("SHJ-SFT", "NH3N");
    assert_eq!(
        (nh3.value, nh3.period, nh3.observed_at),
        (0.52, Period::Hour, t)
    );
    assert_eq!(get("SHJ-SFT", "DO").flag, DataFlag::C);
    assert_eq!(get("LLH-WC", "NH3N").value, 0.21);
    assert_eq!(get("AIR-HRB", "PM25").value, 88.0);
    assert_eq!(get("AIR-HRB", "PM10").observed_at, t);
    assert_eq!(count_dead(&db), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_is_dead_lettered_with_its_reason() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let cfg = IngestConfig {
        client_id: "it-bad".into(),
        ..IngestConfig::test_config()
    };
    prime_session(&broker.url(), &cfg.client_id, &default_filters()).await;
    let ingest = InProcessIngest::start(&broker.url(), &db, cfg);

    let reg = registry();
    let t = now_minute();
    let local = (t + chrono::Duration::hours(8)).naive_utc();
    let ts = t.to_rfc3339();
    let mn = reg.station("LLH-CJG").unwrap().mn.clone();
    let mut good = hj212_frame(&mn, Version::Hj212_2017, "2061", local);
    good.cp = cp(local, &[("w21003", "0.5", "N")], "Avg").render();
    let frame = good.encode();
    let mut crc = frame.clone().into_bytes();
    let n = crc.len();
    crc[n - 3] = if crc[n - 3] == b'0' { b'1' } else { b'0' };
    let mut len = frame.clone().into_bytes();
    len[5] = if len[5] == b'9' { b'8' } else { b'9' };
    let mut v3 = good.clone();
    v3.flag = Flag(3 << 2);
    let obs = |s: &str| ("rw/v1/obs/LLH-CJG".to_string(), s.as_bytes().to_vec());
    let messages = vec![
        obs("{\"ts\": oops"),
        ("rw/v1/hj212/LLH-CJG".into(), b"QN=1;ST=21;CN=2061".to_vec()),
        ("rw/v1/hj212/LLH-CJG".into(), crc),
        ("rw/v1/hj212/LLH-CJG".into(), len),
        ("rw/v1/hj212/LLH-CJG".into(), v3.encode().into_bytes()),
        (
            "rw/v1/obs/NO-SUCH".into(),
            format!(r#"{{"ts":"{ts}","values":{{"pH":7}}}}"#).into_bytes(),
        ),
        obs(&format!(r#"{{"ts":"{ts}","values":{{"XYZ":1,"pH":7.1}}}}"#)),
        obs(&format!(
            r#"{{"ts":"{ts}","values":{{"DO":"high","TN":1.0}}}}"#
        )),
        obs(&format!(
            r#"{{"ts":"{ts}","values":{{"NH3N":-3,"TP":0.1}}}}"#
        )),
        obs(&format!(
            r#"{{"ts":"{}","values":{{"pH":7}}}}"#,
            (Utc::now() + chrono::Duration::minutes(30)).to_rfc3339()
        )),
        ("rw/v1/obs/LLH-CJG".into(), vec![b' '; 70 * 1024]),
    ];
    publish_all(&broker.url(), "it-bad-pub", messages).await;

    assert!(
        wait_until(Duration::from_secs(20), || count_dead(&db) == 11).await,
        "dead {}",
        count_dead(&db)
    );
    // The good values of the partly bad messages are kept.
    assert!(
        wait_until(Duration::from_secs(5), || count_readings(&db) == 3).await,
        "stored {}",
        count_readings(&db)
    );
    ingest.stop().await;
    let reader = SqliteReader::open(&db).unwrap();
    let dead = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    let got: BTreeSet<ReasonCode> = dead.iter().map(|d| d.reason_code).collect();
    let want: BTreeSet<ReasonCode> = ReasonCode::ALL.into_iter().collect();
    assert_eq!(got, want);
    let big = dead
        .iter()
        .find(|d| d.reason_code == ReasonCode::PayloadTooLarge)
        .unwrap();
    assert_eq!(big.payload.len(), 70 * 1024, "raw bytes kept");
    let crc = dead
        .iter()
        .find(|d| d.reason_code == ReasonCode::CrcMismatch)
        .unwrap();
    assert!(crc.reason.to_lowercase().contains("crc"), "{}", crc.reason);
    let stored: BTreeSet<String> = reader
        .query_blocking(&ReadingQuery::default())
        .unwrap()
        .iter()
        .map(|r| r.parameter.to_string())
        .collect();
    assert_eq!(
        stored,
        ["TN", "TP", "pH"].into_iter().map(String::from).collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_messages_are_stored_once_and_new_readings_are_published() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let cfg = IngestConfig {
        client_id: "it-dup".into(),
        ..IngestConfig::test_config()
    };
    prime_session(&broker.url(), &cfg.client_id, &default_filters()).await;

    // A downstream subscriber of the canonical readings.
    let opts = MqttConfig::with_url(&broker.url())
        .options("it-dup-down", true)
        .unwrap();
    let (down, mut down_loop) = AsyncClient::new(opts, 100);
    down.subscribe("rw/v1/readings/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    let collector = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_secs(5), down_loop.poll()).await
        {
            if let Event::Incoming(Incoming::Publish(p)) = ev {
                let m: riverwatch_core::reading::ReadingsMessage =
                    serde_json::from_slice(&p.payload).unwrap();
                got.extend(m.into_readings());
            }
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ingest = InProcessIngest::start(&broker.url(), &db, cfg);
    let messages = stream(100, now_minute() - chrono::Duration::hours(6));
    let mut twice = messages.clone();
    twice.extend(messages.clone());
    publish_all(&broker.url(), "it-dup-pub", twice).await;
    assert!(wait_until(Duration::from_secs(30), || count_readings(&db) == 800).await);
    // A second resend, after the first copies are committed.
    publish_all(&broker.url(), "it-dup-pub2", messages).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count_readings(&db), 800);
    ingest.stop().await;
    let published = collector.await.unwrap();
    assert_eq!(
        published.len(),
        800,
        "each new reading published once, duplicates not"
    );
    let keys: BTreeSet<_> = published
        .iter()
        .map(|r| {
            (
                r.station.to_string(),
                r.parameter.to_string(),
                r.observed_at,
            )
        })
        .collect();
    assert_eq!(keys.len(), 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_hj212_messages_are_reassembled_across_mqtt_messages() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let cfg = IngestConfig {
        client_id: "it-pkt".into(),
        ..IngestConfig::test_config()
    };
    prime_session(&broker.url(), &cfg.client_id, &default_filters()).await;
    let ingest = InProcessIngest::start(&broker.url(), &db, cfg);
    let reg = registry();
    let t = now_minute();
    let local = (t + chrono::Duration::hours(8)).naive_utc();
    let mn = reg.station("LLH-CJG").unwrap().mn.clone();
    let template = hj212_frame(&mn, Version::Hj212_2017, "2061", local);
    let data = cp(
        local,
        &[
            ("w01010", "1.5", "N"),
            ("w01001", "7.4", "N"),
            ("w01009", "9.1", "N"),
            ("w01014", "310", "N"),
            ("w01003", "12", "N"),
            ("w01019", "4.4", "N"),
            ("w21003", "0.41", "N"),
            ("w21011", "0.08", "N"),
            ("w21001", "1.3", "N"),
        ],
        "Avg",
    );
    let packets = split_packets(&template, &data, 150);
    assert!(packets.len() >= 3);
    let messages: Vec<(String, Vec<u8>)> = packets
        .iter()
        .rev()
        .map(|p| ("rw/v1/hj212/LLH-CJG".to_string(), p.encode().into_bytes()))
        .collect();
    publish_all(&broker.url(), "it-pkt-pub", messages).await;
    assert!(
        wait_until(Duration::from_secs(20), || count_readings(&db) == 9).await,
        "stored {}",
        count_readings(&db)
    );
    ingest.stop().await;
    assert_eq!(count_dead(&db), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_stream_loses_nothing_and_stores_nothing_twice() {
    const MESSAGES: usize = 20_000;
    const READINGS: u64 = MESSAGES as u64 * 8;
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = data.join("readings.db");
    let config = write_config(dir.path(), &broker.url(), "client_id = \"it-crash\"");
    prime_session(&broker.url(), "it-crash", &default_filters()).await;
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "ingest",
    ];
    let mut child = ChildProcess::spawn(&args);

    let messages = stream(MESSAGES, now_minute() - chrono::Duration::days(20));
    let publisher = tokio::spawn({
        let url = broker.url();
        async move { publish_all(&url, "it-crash-pub", messages).await }
    });
    assert!(
        wait_until(Duration::from_secs(120), || count_readings(&db)
            > READINGS / 5)
        .await,
        "ingest made no progress"
    );
    child.kill9();
    let at_kill = count_readings(&db);
    assert!(
        at_kill < READINGS,
        "the stream was finished before the kill ({at_kill})"
    );
    publisher.await.unwrap();

    let mut child = ChildProcess::spawn(&args);
    assert!(
        wait_until(Duration::from_secs(180), || count_readings(&db) >= READINGS).await,
        "after restart only {} of {READINGS}",
        count_readings(&db)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(child.interrupt_and_wait().success(), "clean exit on Ctrl-C");
    assert_eq!(count_readings(&db), READINGS);
    let stored = riverwatch_ingest::store::SqliteReader::open(&db)
        .unwrap()
        .query_blocking(&riverwatch_core::pipeline::ReadingQuery::default())
        .unwrap();
    let distinct: std::collections::HashSet<_> = stored
        .iter()
        .map(|r| {
            (
                r.station.clone(),
                r.parameter.clone(),
                r.observed_at,
                r.period,
            )
        })
        .collect();
    assert_eq!(stored.len() as u64, READINGS);
    assert_eq!(
        distinct.len() as u64,
        READINGS,
        "every (station, parameter, time) once"
    );
    assert_eq!(count_dead(&db), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_in_the_middle_loses_nothing() {
    const MESSAGES: usize = 6_000;
    let mut broker = Mosquitto::start_with(&MosquittoOptions {
        persistence: true,
        ..MosquittoOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let cfg = IngestConfig {
        client_id: "it-restart".into(),
        ..IngestConfig::test_config()
    };
    prime_session(&broker.url(), &cfg.client_id, &default_filters()).await;
    publish_all(
        &broker.url(),
        "it-restart-pub",
        stream(MESSAGES, now_minute() - chrono::Duration::days(10)),
    )
    .await;
    let ingest = InProcessIngest::start(&broker.url(), &db, cfg);
    assert!(wait_until(Duration::from_secs(60), || count_readings(&db) > 4_000).await);
    let broker = tokio::task::spawn_blocking(move || {
        broker.restart().unwrap();
        broker
    })
    .await
    .unwrap();
    let total = MESSAGES as u64 * 8;
    assert!(
        wait_until(Duration::from_secs(120), || count_readings(&db) >= total).await,
        "after the broker restart only {} of {total}",
        count_readings(&db)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count_readings(&db), total);
    ingest.stop().await;
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingest_processes_on_a_shared_subscription_store_every_message_once() {
    const MESSAGES: usize = 6_000;
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut dbs = Vec::new();
    let mut children = Vec::new();
    for name in ["a", "b"] {
        let data = dir.path().join(name);
        let client = format!("it-share-{name}");
        let config = write_config(
            dir.path(),
            &broker.url(),
            &format!("client_id = \"{client}\"\nshared_group = \"ingest\""),
        );
        let config = {
            let own = dir.path().join(format!("{name}.toml"));
            std::fs::rename(&config, &own).unwrap();
            own
        };
        let filters: Vec<String> = default_filters()
            .iter()
            .map(|f| format!("$share/ingest/{f}"))
            .collect();
        prime_session(&broker.url(), &client, &filters).await;
        children.push(ChildProcess::spawn(&[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "ingest",
        ]));
        dbs.push(data.join("readings.db"));
    }
    publish_all(
        &broker.url(),
        "it-share-pub",
        stream(MESSAGES, now_minute() - chrono::Duration::days(5)),
    )
    .await;
    let total = MESSAGES as u64 * 8;
    assert!(
        wait_until(Duration::from_secs(120), || dbs
            .iter()
            .map(|d| count_readings(d))
            .sum::<u64>()
            >= total)
        .await,
        "stored {:?}",
        dbs.iter().map(|d| count_readings(d)).collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for c in &mut children {
        assert!(c.interrupt_and_wait().success());
    }
    let counts: Vec<u64> = dbs.iter().map(|d| count_readings(d)).collect();
    assert_eq!(counts.iter().sum::<u64>(), total, "{counts:?}");
    assert!(
        counts.iter().all(|&c| c > 0),
        "both processes took a share: {counts:?}"
    );
    // No (station, parameter, time) in both stores.
    let keys = |db: &std::path::Path| -> BTreeSet<(String, String, chrono::DateTime<Utc>)> {
        SqliteReader::open(db)
            .unwrap()
            .query_blocking(&ReadingQuery::default())
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.station.to_string(),
                    r.parameter.to_string(),
                    r.observed_at,
                )
            })
            .collect()
    };
    let (a, b) = (keys(&dbs[0]), keys(&dbs[1]));
    assert_eq!(a.intersection(&b).count(), 0);
    assert_eq!((a.len() + b.len()) as u64, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_the_broker_drops_are_reported() {
    let broker = Mosquitto::start_with(&MosquittoOptions {
        max_queued_messages: 5,
        ..MosquittoOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let dropped = riverwatch_core::telemetry::counter("broker_dropped_messages_total", &[]);
    let before = dropped.get();
    let ingest = InProcessIngest::start(
        &broker.url(),
        &db,
        IngestConfig {
            client_id: "it-drops".into(),
            ..IngestConfig::test_config()
        },
    );
    // Let ingest subscribe to $SYS before anything is dropped.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A subscriber that is offline with a queue limit of 5 loses the rest.
    prime_session(&broker.url(), "it-drops-laggard", &["lag/#".to_string()]).await;
    let messages: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| ("lag/x".to_string(), format!("{i}").into_bytes()))
        .collect();
    publish_all(&broker.url(), "it-drops-pub", messages).await;
    assert!(
        wait_until(Duration::from_secs(15), || dropped.get() > before).await,
        "ingest did not notice the broker dropping messages"
    );
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_readings_are_stored_and_published_and_an_untrusted_broker_is_refused() {
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = TestCertificates::create(certs_dir.path()).unwrap();
    let broker = Mosquitto::start_with(&MosquittoOptions {
        tls: Some(certs.clone()),
        ..MosquittoOptions::default()
    })
    .unwrap();
    assert!(broker.url().starts_with("mqtts://"));
    let mut mqtt = MqttConfig::with_url(&broker.url());
    mqtt.ca_file = Some(certs.ca.clone());

    // Without the CA the broker's certificate is not trusted: the handshake fails.
    let mut other_ca = MqttConfig::with_url(&broker.url());
    other_ca.ca_file = Some(certs.cert.clone());
    let opts = riverwatch_core::mqtt::SessionOptions::new(&other_ca, "it-tls-untrusted").unwrap();
    let refused = riverwatch_core::mqtt::session::Session::open(&opts, &[]).await;
    let Err(error) = refused else {
        panic!("a broker certificate outside the trusted CA was accepted")
    };
    assert!(error.to_string().contains("TLS"), "{error}");

    // Readings out, watched over TLS through rumqttc with the same TLS settings.
    let (watch, mut watch_el) = AsyncClient::new(mqtt.options("it-tls-watch", true).unwrap(), 10);
    watch
        .subscribe("rw/v1/readings/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    let published = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = published.clone();
    let watcher = tokio::spawn(async move {
        while let Ok(ev) = watch_el.poll().await {
            if let Event::Incoming(Incoming::Publish(p)) = ev {
                sink.lock().unwrap().push(p.payload.to_vec());
            }
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let cfg = IngestConfig {
        client_id: "it-tls".into(),
        ..IngestConfig::test_config()
    };
    let ingest = InProcessIngest::start_with(mqtt.clone(), &db, cfg);
    let t = now_minute();
    let message = json_obs("LLH-CJG", t, &[("pH", 7.4), ("NH3N", 0.61)]);
    // Resent until ingest has subscribed; the store keeps one copy.
    let (publisher, mut publisher_el) =
        AsyncClient::new(mqtt.options("it-tls-pub", true).unwrap(), 10);
    let driver = tokio::spawn(async move { while publisher_el.poll().await.is_ok() {} });
    let stored = wait_until(Duration::from_secs(20), || {
        let _ = publisher.try_publish(&message.0, QoS::AtLeastOnce, false, message.1.clone());
        count_readings(&db) == 2
    })
    .await;
    assert!(stored, "readings sent over TLS were not stored");
    let announced = wait_until(Duration::from_secs(10), || {
        published
            .lock()
            .unwrap()
            .iter()
            .any(|p| String::from_utf8_lossy(p).contains("\"NH3N\""))
    })
    .await;
    assert!(announced, "readings-out did not arrive over TLS");
    ingest.stop().await;
    assert_eq!(count_readings(&db), 2);
    watcher.abort();
    driver.abort();
}

#[test]
fn the_throughput_benchmark_runs_both_sides_and_checks_the_store() {
    let out = std::process::Command::new(riverwatch_bin())
        .args([
            "bench",
            "ingest",
            "--messages",
            "3000",
            "--rounds",
            "2",
            "--mode",
            "drain",
            "--json",
        ])
        .env("RIVERWATCH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["messages"], 3000);
    assert_eq!(r["rounds"], 2);
    let (a, b) = (
        r["broker_msgs_per_sec"].as_f64().unwrap(),
        r["ingest_msgs_per_sec"].as_f64().unwrap(),
    );
    assert!(a > 0.0 && b > 0.0, "{r}");
    assert!((r["ratio"].as_f64().unwrap() - b / a).abs() < 1e-9, "{r}");
    assert!(r["ratio_min"].as_f64().unwrap() <= r["ratio_max"].as_f64().unwrap());
    assert!(r["ingest_peak_rss_mib"].as_f64().unwrap() > 1.0, "{r}");
}
