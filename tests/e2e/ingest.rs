//! Ingest end to end: each test a [`Pipeline`] with a real mosquitto and ingest (in this
//! process or as a child process) on a SQLite file.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, Version, split_packets};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::store_api::{DeadLetterQuery, ReadingQuery};
use riverwatch_core::{DataFlag, Period, Reading, ReasonCode};
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::SqliteReader;
use rumqttc::{AsyncClient, QoS};

use crate::fixture::*;
use crate::util::*;

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
    let mut p = Pipeline::builder().with_ingest("it-formats").start().await;

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
    p.publish("it-formats-pub", messages).await;

    p.wait_readings(Duration::from_secs(20), "8 readings stored", |n| n == 8)
        .await;
    p.stop_ingest().await;
    let all = p.stored_readings();
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
    assert_eq!(p.dead_letters(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_is_dead_lettered_with_its_reason() {
    let mut p = Pipeline::builder().with_ingest("it-bad").start().await;

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
        // A resend of the stored pH with another value, and a parameter given twice.
        obs(&format!(r#"{{"ts":"{ts}","values":{{"pH":7.3}}}}"#)),
        obs(&format!(
            r#"{{"ts":"{ts}","values":{{"NH3N":2.5,"NH3N":0.1}}}}"#
        )),
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
    p.publish("it-bad-pub", messages).await;

    wait_until(
        Duration::from_secs(20),
        Later(|| format!("13 dead letters (dead {})", p.dead_letters())),
        || p.dead_letters() == 13,
    )
    .await;
    // The good values of the partly bad messages are kept.
    p.wait_readings(Duration::from_secs(5), "3 readings stored", |n| n == 3)
        .await;
    p.stop_ingest().await;
    let reader = p.readings_reader();
    let dead = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    let got: BTreeSet<ReasonCode> = dead.iter().map(|d| d.reason_code).collect();
    // bad_password needs a station with a password: `stations.rs` shows it; the codes of
    // split messages need several packets: `transport.rs` shows them.
    let elsewhere = [
        ReasonCode::BadPassword,
        ReasonCode::PacketConflict,
        ReasonCode::ReassemblyOverflow,
        ReasonCode::ReassemblyTimeout,
    ];
    let want: BTreeSet<ReasonCode> = ReasonCode::ALL
        .into_iter()
        .filter(|c| !elsewhere.contains(c))
        .collect();
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
    let conflict = dead
        .iter()
        .find(|d| d.reason_code == ReasonCode::ConflictingValue)
        .unwrap();
    assert!(
        conflict.reason.contains("7.1") && conflict.reason.contains("7.3"),
        "{}",
        conflict.reason
    );
    assert_eq!(conflict.parameter.as_deref(), Some("pH"));
    assert!(String::from_utf8_lossy(&conflict.payload).contains("7.3"));
    let ph: Vec<f64> = p
        .stored_readings()
        .iter()
        .filter(|r| r.parameter == "pH")
        .map(|r| r.value)
        .collect();
    assert_eq!(ph, vec![7.1], "the first value is kept");
    let stored: BTreeSet<String> = p
        .stored_readings()
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
    let mut p = Pipeline::builder().with_ingest("it-dup").start().await;
    // A downstream subscriber of the canonical readings.
    let downstream = Collector::start(&p.mqtt(), "it-dup-down", "rw/v1/readings/+").await;
    let published = || -> Vec<Reading> {
        downstream
            .messages()
            .iter()
            .flat_map(|(_, payload)| {
                serde_json::from_slice::<riverwatch_core::reading::ReadingsMessage>(payload)
                    .unwrap()
                    .into_readings()
            })
            .collect()
    };

    let messages = stream(100, now_minute() - chrono::Duration::hours(6));
    let mut twice = messages.clone();
    twice.extend(messages.clone());
    p.publish("it-dup-pub", twice).await;
    p.wait_readings(Duration::from_secs(30), "800 readings stored", |n| n == 800)
        .await;
    // A second resend, after the first copies are committed.
    p.publish("it-dup-pub2", messages).await;
    p.barrier().await;
    assert_eq!(p.readings(), 800);
    // Readings out go in commit order: once the barrier's reading is announced, so is
    // everything committed before it.
    wait_until(
        Duration::from_secs(10),
        "the barrier's reading announced on readings-out",
        || published().iter().any(is_barrier),
    )
    .await;
    p.stop_ingest().await;
    let published: Vec<Reading> = published().into_iter().filter(|r| !is_barrier(r)).collect();
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
    let mut p = Pipeline::builder().with_ingest("it-pkt").start().await;
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
    p.publish("it-pkt-pub", messages).await;
    p.wait_readings(Duration::from_secs(20), "9 readings stored", |n| n == 9)
        .await;
    p.stop_ingest().await;
    assert_eq!(p.dead_letters(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_stream_loses_nothing_and_stores_nothing_twice() {
    const MESSAGES: usize = 20_000;
    const READINGS: u64 = MESSAGES as u64 * 8;
    let mut p = Pipeline::builder()
        .with_ingest_process("it-crash")
        .start()
        .await;

    let messages = stream(MESSAGES, now_minute() - chrono::Duration::days(20));
    let publisher = tokio::spawn({
        let url = p.url();
        async move { publish_all(&url, "it-crash-pub", messages).await }
    });
    p.wait_readings(
        Duration::from_secs(120),
        "ingest made progress (a fifth of the readings stored)",
        |n| n > READINGS / 5,
    )
    .await;
    p.ingest_process().kill9();
    let at_kill = p.readings();
    assert!(
        at_kill < READINGS,
        "the stream was finished before the kill ({at_kill})"
    );
    publisher.await.unwrap();

    p.ingest_process().restart();
    p.wait_readings(
        Duration::from_secs(180),
        "every reading stored after the restart",
        |n| n >= READINGS,
    )
    .await;
    // Every redelivery has been taken too.
    p.barrier().await;
    p.stop_ingest().await;
    assert_eq!(p.readings(), READINGS);
    let stored = p.stored_readings();
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
    assert_eq!(p.dead_letters(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_in_the_middle_loses_nothing() {
    const MESSAGES: usize = 6_000;
    let mut p = Pipeline::builder()
        .broker(MosquittoOptions {
            persistence: true,
            ..MosquittoOptions::default()
        })
        .start()
        .await;
    p.prime("it-restart", &INGEST_FILTERS).await;
    p.publish(
        "it-restart-pub",
        stream(MESSAGES, now_minute() - chrono::Duration::days(10)),
    )
    .await;
    p.start_ingest(IngestConfig {
        client_id: "it-restart".into(),
        ..IngestConfig::test_config()
    });
    p.wait_readings(
        Duration::from_secs(60),
        "4 000 readings stored before the broker restart",
        |n| n > 4_000,
    )
    .await;
    p.restart_broker().await;
    let total = MESSAGES as u64 * 8;
    p.wait_readings(
        Duration::from_secs(120),
        "every reading stored after the broker restart",
        |n| n >= total,
    )
    .await;
    p.barrier().await;
    assert_eq!(p.readings(), total);
    p.stop_ingest().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingest_processes_on_a_shared_subscription_store_every_message_once() {
    const MESSAGES: usize = 6_000;
    let p = Pipeline::builder().start().await;
    let mut dbs = Vec::new();
    let mut children = Vec::new();
    for name in ["a", "b"] {
        let data = p.dir().join(name);
        let client = format!("it-share-{name}");
        let config = p.dir().join(format!("{name}.toml"));
        let file = ingest_file(&p.url(), &client, "shared_group = \"ingest\"");
        std::fs::write(&config, file).unwrap();
        let filters = INGEST_FILTERS.map(|f| format!("$share/ingest/{f}"));
        p.prime(&client, &filters.each_ref().map(String::as_str))
            .await;
        children.push(ProcessService::spawn(&config, &data, &["ingest"]));
        dbs.push(data.join("readings.db"));
    }
    p.publish(
        "it-share-pub",
        stream(MESSAGES, now_minute() - chrono::Duration::days(5)),
    )
    .await;
    let total = MESSAGES as u64 * 8;
    let counts = || dbs.iter().map(|d| count_readings(d)).collect::<Vec<u64>>();
    wait_until(
        Duration::from_secs(120),
        Later(|| format!("{total} readings in the two stores (stored {:?})", counts())),
        || counts().iter().sum::<u64>() >= total,
    )
    .await;
    // The members of a shared subscription share no order, so no barrier message can show
    // that neither has anything more to store: half a second for a late copy to land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for c in &mut children {
        assert!(c.interrupt().success());
    }
    let counts = counts();
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
    let mut p = Pipeline::builder()
        .broker(MosquittoOptions {
            max_queued_messages: 5,
            ..MosquittoOptions::default()
        })
        .start()
        .await;
    let dropped = riverwatch_core::telemetry::counter("broker_dropped_messages_total", &[]);
    let before = dropped.get();
    let status = Collector::start(&p.mqtt(), "it-drops-status", "rw/v1/status/+").await;
    p.start_ingest(IngestConfig {
        client_id: "it-drops".into(),
        ..IngestConfig::test_config()
    });
    // Ingest subscribes to $SYS before anything is dropped: its output connection does so
    // right after announcing itself online, on the same connection.
    wait_until(
        Duration::from_secs(10),
        "ingest's output connection announced online",
        || status.any(|_, payload| String::from_utf8_lossy(payload).contains("\"online\"")),
    )
    .await;
    // A subscriber that is offline with a queue limit of 5 loses the rest.
    p.prime("it-drops-laggard", &["lag/#"]).await;
    let messages: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| ("lag/x".to_string(), format!("{i}").into_bytes()))
        .collect();
    p.publish("it-drops-pub", messages).await;
    wait_until(
        Duration::from_secs(15),
        "ingest noticed the broker dropping messages",
        || dropped.get() > before,
    )
    .await;
    p.stop_ingest().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_readings_are_stored_and_published_and_an_untrusted_broker_is_refused() {
    let mut p = Pipeline::builder().tls().start().await;
    assert!(p.url().starts_with("mqtts://"));
    let mqtt = p.mqtt();

    // Without the CA the broker's certificate is not trusted: the handshake fails.
    let mut other_ca = MqttConfig::with_url(&p.url());
    other_ca.ca_file = Some(p.certificates().cert.clone());
    let opts = riverwatch_core::mqtt::SessionOptions::new(&other_ca, "it-tls-untrusted").unwrap();
    let refused = riverwatch_core::mqtt::session::Session::open(&opts, &[]).await;
    let Err(error) = refused else {
        panic!("a broker certificate outside the trusted CA was accepted")
    };
    assert!(error.to_string().contains("TLS"), "{error}");

    // Readings out, watched over TLS through rumqttc with the same TLS settings.
    let watch = Collector::start(&mqtt, "it-tls-watch", "rw/v1/readings/+").await;

    p.start_ingest(IngestConfig {
        client_id: "it-tls".into(),
        ..IngestConfig::test_config()
    });
    let t = now_minute();
    let message = json_obs("LLH-CJG", t, &[("pH", 7.4), ("NH3N", 0.61)]);
    // Resent until ingest has subscribed; the store keeps one copy.
    let (publisher, mut publisher_el) =
        AsyncClient::new(mqtt.options("it-tls-pub", true).unwrap(), 10);
    let driver = tokio::spawn(async move { while publisher_el.poll().await.is_ok() {} });
    wait_until(
        Duration::from_secs(20),
        "readings sent over TLS stored",
        || {
            let _ = publisher.try_publish(&message.0, QoS::AtLeastOnce, false, message.1.clone());
            p.readings() == 2
        },
    )
    .await;
    wait_until(
        Duration::from_secs(10),
        "readings-out arrived over TLS",
        || watch.any(|_, payload| String::from_utf8_lossy(payload).contains("\"NH3N\"")),
    )
    .await;
    p.stop_ingest().await;
    assert_eq!(p.readings(), 2);
    driver.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_holding_the_write_lock_for_ten_seconds_delays_but_loses_nothing() {
    let mut p = Pipeline::builder().with_ingest("it-lock").start().await;
    let t = now_minute();
    p.publish(
        "it-lock-pub",
        vec![json_obs("LLH-CJG", t, &[("NH3N", 0.3)])],
    )
    .await;
    p.wait_readings(Duration::from_secs(20), "the first reading", |n| n == 1)
        .await;
    // Another writer (a backup tool, an operator's sqlite3) takes the write lock.
    let other = rusqlite::Connection::open(p.readings_db()).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let messages: Vec<_> = (1..=20)
        .map(|i| {
            json_obs(
                "LLH-CJG",
                t + chrono::Duration::minutes(i),
                &[("NH3N", 0.3)],
            )
        })
        .collect();
    p.publish("it-lock-pub", messages).await;
    // The fault lasts 10 s; there is nothing to await in it.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(p.readings(), 1, "nothing commits while the lock is held");
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    // Ingest resumes by itself: every message is stored once.
    p.wait_readings(Duration::from_secs(30), "all 21 readings", |n| n == 21)
        .await;
    p.barrier().await;
    assert_eq!(p.readings(), 21);
    assert_eq!(p.dead_letters(), 0);
    p.stop_ingest().await;
}

/// A small tmpfs mounted on a folder for the length of a test (root only; the mount is
/// undone on drop).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// `None` (with a note on stderr) when this machine does not allow mounting.
    fn mount(dir: &std::path::Path, size: &str) -> Option<Self> {
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "disk-full test skipped: cannot mount a tmpfs here ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Self(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system of `dir` to the last byte; the filler file is returned.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_the_messages_and_ingest_resumes_when_space_returns() {
    let mut p = Pipeline::builder().start().await;
    let data = p.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    let Some(_disk) = SmallDisk::mount(&data, "4m") else {
        return;
    };
    p.prime("it-full", &INGEST_FILTERS).await;
    p.start_ingest(IngestConfig {
        client_id: "it-full".into(),
        ..IngestConfig::test_config()
    });
    let t = now_minute() - chrono::Duration::days(2);
    p.publish(
        "it-full-pub",
        vec![json_obs("LLH-CJG", t, &[("NH3N", 0.3)])],
    )
    .await;
    p.wait_readings(Duration::from_secs(20), "the first reading", |n| n == 1)
        .await;
    // The disk fills up (another program's file), then 2 000 observations of 4 parameters
    // arrive: far more than the pages the store's WAL already holds.
    let filler = fill(&data);
    let messages: Vec<_> = (1..=2000)
        .map(|i| {
            json_obs(
                "LLH-CJG",
                t + chrono::Duration::minutes(i),
                &[("NH3N", 0.3), ("TP", 0.05), ("DO", 7.5), ("pH", 7.4)],
            )
        })
        .collect();
    p.publish("it-full-pub", messages).await;
    // The fault lasts a few seconds; there is nothing to await in it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = p.readings();
    assert!(
        during < 8001,
        "the full disk must stop commits, yet {during} readings are stored"
    );
    // Space returns: ingest resumes by itself and every reading is stored once.
    std::fs::remove_file(&filler).unwrap();
    p.wait_readings(Duration::from_secs(60), "all 8 001 readings", |n| n == 8001)
        .await;
    p.barrier().await;
    assert_eq!(p.readings(), 8001);
    assert_eq!(p.dead_letters(), 0);
    p.stop_ingest().await;
}

/// A host clock an hour slow: every reception time is an hour early.
#[derive(Debug)]
struct HourSlow;

impl riverwatch_core::time::Clock for HourSlow {
    fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now() - chrono::Duration::hours(1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_of_a_wrong_host_clock_are_replayed_once_by_the_cli() {
    let mut p = Pipeline::builder().start().await;
    p.prime("it-replay", &INGEST_FILTERS).await;
    p.start_ingest_on(
        IngestConfig {
            client_id: "it-replay".into(),
            ..IngestConfig::test_config()
        },
        std::sync::Arc::new(HourSlow),
    );
    let now = Utc::now();
    let obs = |s: String| ("rw/v1/obs/LLH-CJG".to_string(), s.into_bytes());
    let ts = |t: chrono::DateTime<Utc>| t.to_rfc3339();
    p.publish(
        "it-replay-pub",
        vec![
            // Right times, which the slow host takes for an hour in the future.
            obs(format!(
                r#"{{"ts":"{}","values":{{"pH":7.2,"DO":8.1}}}}"#,
                ts(now)
            )),
            obs(format!(
                r#"{{"ts":"{}","values":{{"pH":7.3,"XYZ":1}}}}"#,
                ts(now + chrono::Duration::minutes(1))
            )),
            // Old enough even for the slow host.
            obs(format!(
                r#"{{"ts":"{}","values":{{"pH":7.0}}}}"#,
                ts(now - chrono::Duration::hours(2))
            )),
        ],
    )
    .await;
    wait_until(
        Duration::from_secs(20),
        Later(|| format!("2 dead letters (dead {})", p.dead_letters())),
        || p.dead_letters() == 2,
    )
    .await;
    p.wait_readings(Duration::from_secs(5), "1 reading stored", |n| n == 1)
        .await;
    p.stop_ingest().await;

    // The clock is right again: replay.
    let args = [
        "dead-letters",
        "replay",
        "--reason",
        "timestamp_out_of_range",
        "--json",
    ];
    let (code, out, err) = p.cli(&args);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["dead_letters"], 2, "{out}");
    assert_eq!(summary["messages"], 2, "{out}");
    assert_eq!(summary["stored"], 3, "{out}");
    assert_eq!(summary["replayed"], 2, "{out}");
    assert_eq!(summary["still_rejected"], 0, "{out}");
    let stored: BTreeSet<(String, String)> = p
        .stored_readings()
        .iter()
        .map(|r| (r.parameter.to_string(), r.value.to_string()))
        .collect();
    let want: BTreeSet<(String, String)> =
        [("DO", "8.1"), ("pH", "7"), ("pH", "7.2"), ("pH", "7.3")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(stored, want);
    // The unknown parameter of the second message is now a dead letter of its own; the
    // replayed ones are marked, not deleted.
    let reader = p.readings_reader();
    let dead = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    let codes: Vec<ReasonCode> = dead.iter().map(|d| d.reason_code).collect();
    assert_eq!(
        codes,
        vec![
            ReasonCode::TimestampOutOfRange,
            ReasonCode::TimestampOutOfRange,
            ReasonCode::UnknownParameter
        ]
    );
    let (code, out, err) = p.cli(&[
        "dead-letters",
        "--reason",
        "timestamp_out_of_range",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().all(|l| l.contains("\"replayed_at\"")), "{out}");

    // A second replay finds nothing to do and stores nothing.
    let (code, out, err) = p.cli(&args);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["dead_letters"], 0, "{out}");
    assert_eq!(summary["stored"], 0, "{out}");
    assert_eq!(p.readings(), 4);
    assert_eq!(p.dead_letters(), 3);

    // A dead letter whose stored frame has its password masked cannot be decoded again:
    // it is skipped and the operator is told why.
    let store = riverwatch_ingest::store::SqliteStore::open(
        &p.readings_db(),
        &riverwatch_ingest::store::sqlite::test_sqlite_config(),
    )
    .unwrap();
    store
        .write_blocking(&riverwatch_core::store_api::WriteBatch {
            readings: vec![],
            dead_letters: vec![riverwatch_core::DeadLetter {
                received_at: Utc::now(),
                topic: "rw/v1/hj212/LLH-CJG".into(),
                payload: bytes::Bytes::from_static(
                    b"##0050QN=1;ST=21;CN=2011;PW=******;MN=X;CP=&&&&0000\r\n",
                ),
                reason_code: ReasonCode::BadPassword,
                reason: "wrong PW; the PW value is replaced by ****** in the stored payload".into(),
                station: Some("LLH-CJG".into()),
                parameter: None,
            }],
            held: vec![],
        })
        .unwrap();
    drop(store);
    let (code, out, err) = p.cli(&[
        "--lang",
        "en",
        "dead-letters",
        "replay",
        "--reason",
        "bad_password",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("skipped 1") && out.contains("masked"), "{out}");
    assert_eq!(p.dead_letters(), 4);
}
