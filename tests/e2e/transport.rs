//! Ingest against the limits of its transport, each test with a real mosquitto: a payload
//! just under the shipped broker's size limit, thousands of unfinished split HJ 212
//! messages, a crash in the middle of a split message, a store slower than the keep-alive.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, Version, split_packets};
use riverwatch_core::store_api::{
    DeadLetterQuery, HeldPacket, StoreError, StoreWriter, WriteBatch, WriteReport,
};
use riverwatch_core::time::SystemClock;
use riverwatch_core::{DeadLetter, ReasonCode};
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::SqliteStore;
use riverwatch_ingest::store::sqlite::test_sqlite_config;
use tokio_util::sync::CancellationToken;

use crate::fixture::*;
use crate::util::*;

/// The payload limit of the shipped broker configuration (`message_size_limit`).
fn deploy_message_size_limit() -> u64 {
    include_str!("../../deploy/mosquitto.conf")
        .lines()
        .find_map(|l| l.trim().strip_prefix("message_size_limit "))
        .and_then(|v| v.trim().parse().ok())
        .expect("deploy/mosquitto.conf sets message_size_limit")
}

fn dead_letters(p: &Pipeline) -> Vec<DeadLetter> {
    p.readings_reader()
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap()
}

/// The rows of `held_packets` in ingest's store (0 while there is no such table).
fn held_rows(p: &Pipeline) -> Vec<(u32, Vec<u8>)> {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        p.readings_db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return vec![];
    };
    let Ok(mut stmt) = conn.prepare("SELECT pno, payload FROM held_packets ORDER BY pno") else {
        return vec![];
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// Two hours ago, on the minute.
fn recent_minute() -> chrono::DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(2);
    Utc.timestamp_opt(t.timestamp() / 60 * 60, 0).unwrap()
}

/// An HJ 212-2017 hourly frame template of `station` (no CP yet), its QN from `qn_local`.
fn template(station: &str, pw: &str, qn_local: chrono::NaiveDateTime) -> Frame {
    Frame {
        qn: Some(qn_local.format("%Y%m%d%H%M%S%3f").to_string()),
        st: "21".into(),
        cn: "2061".into(),
        pw: pw.into(),
        mn: registry().station(station).unwrap().mn.clone(),
        flag: Flag::new(Version::Hj212_2017, false, false),
        pnum: None,
        pno: None,
        cp: String::new(),
    }
}

/// The nine water values of an hourly upload at `local` (China Standard Time).
fn water(local: chrono::NaiveDateTime) -> CpData {
    let values = [
        ("w01010", "1.5"),
        ("w01001", "7.4"),
        ("w01009", "9.1"),
        ("w01014", "310"),
        ("w01003", "12"),
        ("w01019", "4.4"),
        ("w21003", "0.41"),
        ("w21011", "0.08"),
        ("w21001", "1.3"),
    ];
    CpData {
        data_time: Some(local),
        items: values
            .iter()
            .map(|(code, v)| {
                let mut i = CpItem::new(*code);
                i.avg = Some((*v).into());
                i.flag = Some("N".into());
                i
            })
            .collect(),
        extra: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_just_under_the_brokers_size_limit_is_dead_lettered_and_ingest_goes_on() {
    let limit = deploy_message_size_limit();
    let mut p = Pipeline::builder()
        .broker(MosquittoOptions {
            message_size_limit: limit,
            ..MosquittoOptions::default()
        })
        .with_ingest("it-big")
        .start()
        .await;
    let big_len = usize::try_from(limit).unwrap() - 16;
    let t = recent_minute();
    let normal = json_obs("LLH-CJG", t, &[("pH", 7.3)]);
    // The station's client may send what the broker takes, whatever ingest's setting.
    let mut station = p.mqtt();
    station.max_packet_bytes = 4 * 1024 * 1024;
    publish_with(
        &station,
        "it-big-pub",
        vec![
            ("rw/v1/obs/LLH-CJG".to_string(), vec![b' '; big_len]),
            normal,
        ],
    )
    .await;
    p.wait_readings(
        Duration::from_secs(30),
        "the reading published after the big payload stored",
        |n| n == 1,
    )
    .await;
    p.stop_ingest().await;
    let dead = dead_letters(&p);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].reason_code, ReasonCode::PayloadTooLarge);
    assert_eq!(dead[0].payload.len(), big_len, "the raw bytes are kept");
    let log = p.broker_log();
    let ingest_connections = log
        .lines()
        .filter(|l| l.contains("New client connected") && l.contains(" as it-big "))
        .count();
    assert_eq!(
        ingest_connections, 2,
        "the priming session and ingest's one connection, no reconnection:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_unfinished_split_messages_do_not_stop_other_readings() {
    const FIRST_PACKETS: usize = 1000;
    const PER_STATION: usize = 16;
    let mut p = Pipeline::builder().start().await;
    p.prime("it-flood", &INGEST_FILTERS).await;
    p.start_ingest(IngestConfig {
        client_id: "it-flood".into(),
        // Far longer than the test: nothing may wait for the timeout.
        reassembly_timeout_secs: 3600,
        reassembly_max_open_per_station: PER_STATION,
        ..IngestConfig::test_config()
    });
    let t = recent_minute();
    let local = (t + chrono::Duration::hours(8)).naive_utc();
    // The first packet of 1000 two-packet messages, each with its own QN: as many as the
    // broker's in-flight window.
    let mut messages: Vec<(String, Vec<u8>)> = (0..FIRST_PACKETS)
        .map(|i| {
            let qn = local + chrono::Duration::milliseconds(i as i64);
            let packets = split_packets(&template("LLH-CJG", "", qn), &water(local), 200);
            assert!(packets.len() >= 2);
            (
                "rw/v1/hj212/LLH-CJG".to_string(),
                packets[0].encode().into_bytes(),
            )
        })
        .collect();
    messages.push(json_obs("LLH-YS", t, &[("pH", 7.2)]));
    p.publish("it-flood-pub", messages).await;
    p.wait_readings(
        Duration::from_secs(60),
        "the ordinary reading behind the first packets stored",
        |n| n == 1,
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        Later(|| format!("overflow dead letters (dead {})", p.dead_letters())),
        || p.dead_letters() == (FIRST_PACKETS - PER_STATION) as u64,
    )
    .await;
    p.stop_ingest().await;
    let dead = dead_letters(&p);
    assert!(
        dead.iter()
            .all(|d| d.reason_code == ReasonCode::ReassemblyOverflow
                && d.reason.contains("reassembly_max_open_per_station")),
        "{:?}",
        dead.first()
    );
    assert_eq!(held_rows(&p).len(), PER_STATION, "the first 16 are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_message_survives_an_ingest_crash_with_its_password_masked() {
    const PASSWORD: &str = "Cjg-2026";
    let mut p = Pipeline::builder().start().await;
    let secrets = p.dir().join("station-secrets.toml");
    std::fs::write(&secrets, format!("LLH-CJG = \"{PASSWORD}\"\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(
        p.config_file(),
        ingest_file(
            &p.url(),
            "it-split-crash",
            &format!("station_secrets = \"{}\"", secrets.display()),
        ),
    )
    .unwrap();
    p.prime("it-split-crash", &INGEST_FILTERS).await;
    let mut ingest = ProcessService::spawn(&p.config_file(), &p.data_dir(), &["ingest"]);

    let t = recent_minute();
    let local = (t + chrono::Duration::hours(8)).naive_utc();
    let packets = split_packets(&template("LLH-CJG", PASSWORD, local), &water(local), 200);
    let n = packets.len();
    assert!(n >= 3, "{n} packets");
    let encoded: Vec<(String, Vec<u8>)> = packets
        .iter()
        .map(|f| ("rw/v1/hj212/LLH-CJG".to_string(), f.encode().into_bytes()))
        .collect();
    // Every packet but the first, out of order.
    let mut early: Vec<_> = encoded[1..].to_vec();
    early.reverse();
    p.publish("it-split-crash-pub", early).await;
    wait_until(
        Duration::from_secs(30),
        Later(|| format!("{} packets kept (kept {})", n - 1, held_rows(&p).len())),
        || held_rows(&p).len() == n - 1,
    )
    .await;
    for (pno, payload) in held_rows(&p) {
        let text = String::from_utf8_lossy(&payload).to_string();
        assert!(!text.contains(PASSWORD), "packet {pno} keeps the password");
        assert!(text.contains("PW=******;"), "packet {pno}: {text}");
    }

    // A crash, and a broker that has forgotten everything (no persistence): only ingest's
    // store still has the packets, which were acknowledged when kept.
    ingest.kill9();
    p.restart_broker().await;
    p.prime("it-split-crash", &INGEST_FILTERS).await;
    ingest.restart();
    p.publish("it-split-crash-pub", vec![encoded[0].clone()])
        .await;
    p.wait_readings(
        Duration::from_secs(30),
        "the message completed after the restart",
        |r| r == 9,
    )
    .await;
    assert_eq!(ingest.interrupt().code(), Some(0));
    assert!(
        held_rows(&p).is_empty(),
        "the completed message is released"
    );
    assert_eq!(dead_letters(&p), vec![]);
}

/// A store whose first write blocks for `stall` (a slow disk, a lock held elsewhere).
struct StallingStore {
    inner: SqliteStore,
    stall: Option<Duration>,
}

impl StoreWriter for StallingStore {
    async fn write(&mut self, batch: Arc<WriteBatch>) -> Result<WriteReport, StoreError> {
        if let Some(stall) = self.stall.take() {
            tokio::time::sleep(stall).await;
        }
        self.inner.write(batch).await
    }

    async fn held_packets(&mut self) -> Result<Vec<HeldPacket>, StoreError> {
        self.inner.held_packets().await
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_slower_than_the_keep_alive_does_not_cost_the_broker_connection() {
    const MESSAGES: usize = 400;
    let p = Pipeline::builder().start().await;
    p.prime("it-slow", &INGEST_FILTERS).await;
    let mut mqtt = p.mqtt();
    mqtt.keep_alive_secs = 1;
    let store = StallingStore {
        inner: SqliteStore::open(&p.readings_db(), &test_sqlite_config()).unwrap(),
        // Over 1.5 × the keep-alive, several times.
        stall: Some(Duration::from_secs(5)),
    };
    let args = riverwatch_ingest::IngestArgs {
        config: IngestConfig {
            client_id: "it-slow".into(),
            // The channel and the batch fill at once, so reading from the broker stops.
            channel_capacity: 1,
            max_batch_readings: 8,
            publish_readings: false,
            watch_broker_drops: false,
            ..IngestConfig::test_config()
        },
        mqtt,
        store,
        registry: registry(),
        clock: Arc::new(SystemClock),
    };
    let token = CancellationToken::new();
    let ingest = tokio::spawn(riverwatch_ingest::run(args, token.clone()));

    p.publish(
        "it-slow-pub",
        stream(MESSAGES, recent_minute() - chrono::Duration::days(3)),
    )
    .await;
    p.wait_readings(Duration::from_secs(60), "every reading stored", |n| {
        n == MESSAGES as u64 * 8
    })
    .await;
    token.cancel();
    tokio::time::timeout(Duration::from_secs(30), ingest)
        .await
        .expect("ingest stops")
        .unwrap()
        .unwrap();
    assert_eq!(p.dead_letters(), 0);
    let log = p.broker_log();
    let connections = log
        .lines()
        .filter(|l| l.contains("New client connected") && l.contains(" as it-slow "))
        .count();
    assert_eq!(
        connections, 2,
        "the priming session and ingest's one connection, kept through the stall:\n{log}"
    );
    assert!(!log.contains("exceeded timeout"), "{log}");
}
