//! HJ 212 over TCP: real loggers' connections on loopback into ingest. Frames split across
//! writes down to one byte, several per write, garbage between them, a slow logger holding
//! half a frame, a CRC failure, a wrong password, a 9014 withheld while the store is locked,
//! a logger reconnecting and resending, an MN change, backfill after a gap. Replies are
//! checked byte for byte against frames built here with a CRC written here.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use riverwatch_core::ReasonCode;
use riverwatch_core::hj212::stream::{Deframer, Piece};
use riverwatch_core::store_api::DeadLetterQuery;
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::tcp::Hj212TcpConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixture::*;
use crate::util::*;

/// The HJ 212 CRC, written here from the reference sheet's description (0xFFFF start,
/// `(crc >> 8) ^ byte`, reflected polynomial 0xA001), independently of ingest's.
fn crc(data: &[u8]) -> u16 {
    let mut crc: u32 = 0xFFFF;
    for b in data {
        crc = (crc >> 8) ^ u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc as u16
}

#[test]
fn the_test_crc_matches_the_standards_example() {
    let segment = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&";
    assert_eq!(crc(segment), 0x1C80);
}

/// `##`, length, segment, CRC, CR LF.
fn wrap(segment: &str) -> Vec<u8> {
    format!(
        "##{:04}{segment}{:04X}\r\n",
        segment.len(),
        crc(segment.as_bytes())
    )
    .into_bytes()
}

/// A whole minute two hours ago, China Standard Time as HJ 212 writes it.
fn base_time() -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(2);
    Utc.timestamp_opt(t.timestamp() / 3600 * 3600, 0).unwrap()
}

fn cst(t: DateTime<Utc>) -> String {
    (t + chrono::Duration::hours(8))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

fn mn(station: &str) -> String {
    registry().station(station).unwrap().mn.clone()
}

/// A real-time (2011) HJ 212-2017 frame asking for a 9014 (`Flag=5`), one NH3-N value, as
/// (segment, qn).
fn rtd(station: &str, pw: &str, t: DateTime<Utc>, value: &str) -> (String, String) {
    let qn = format!("{}000", cst(t));
    let segment = format!(
        "QN={qn};ST=21;CN=2011;PW={pw};MN={};Flag=5;CP=&&DataTime={};w21003-Rtd={value},w21003-Flag=N&&",
        mn(station),
        cst(t)
    );
    (segment, qn)
}

/// An hourly (2061) frame asking for a 9014.
fn hourly(station: &str, t: DateTime<Utc>, value: &str) -> (String, String) {
    let qn = format!("{}000", cst(t));
    let segment = format!(
        "QN={qn};ST=21;CN=2061;PW=123456;MN={};Flag=5;CP=&&DataTime={};w21003-Avg={value},w21003-Flag=N&&",
        mn(station),
        cst(t)
    );
    (segment, qn)
}

/// The 9014 the platform owes a 2017 frame, built here.
fn expected_9014(station: &str, pw: &str, qn: &str) -> Vec<u8> {
    wrap(&format!(
        "QN={qn};ST=91;CN=9014;PW={pw};MN={};Flag=4;CP=&&&&",
        mn(station)
    ))
}

/// A logger's connection.
struct Logger {
    stream: TcpStream,
    deframer: Deframer,
}

impl Logger {
    async fn connect(addr: &str) -> Logger {
        let mut stream = None;
        wait_until(
            Duration::from_secs(20),
            "the HJ 212 listener accepts",
            || {
                stream = std::net::TcpStream::connect(addr).ok();
                stream.is_some()
            },
        )
        .await;
        let stream = stream.unwrap();
        stream.set_nonblocking(true).unwrap();
        Logger {
            stream: TcpStream::from_std(stream).unwrap(),
            deframer: Deframer::new(4096),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame the platform sends within `timeout`, or `None`.
    async fn reply(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(Piece::Frame(f)) = self.deframer.next_piece() {
                return Some(f);
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(n)) => self.deframer.push(&buf[..n]),
            }
        }
    }

    /// Whether the platform closed the connection within `timeout`.
    async fn closed_within(&mut self, timeout: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A pipeline with ingest listening for loggers on a free port: (pipeline, address).
async fn start(id: &str, tcp: Hj212TcpConfig, config: IngestConfig) -> (Pipeline, String) {
    let mut p = Pipeline::builder().start().await;
    let addr = format!("127.0.0.1:{}", riverwatch_testkit::free_port().unwrap());
    p.prime(id, &INGEST_FILTERS).await;
    p.start_ingest(IngestConfig {
        client_id: id.into(),
        hj212_tcp: Hj212TcpConfig {
            listen: Some(addr.clone()),
            ..tcp
        },
        ..config
    });
    (p, addr)
}

fn dead_codes(p: &Pipeline) -> Vec<ReasonCode> {
    p.readings_reader()
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap()
        .into_iter()
        .map(|d| d.reason_code)
        .collect()
}

const LONG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_split_to_single_bytes_several_per_write_and_garbage_between_are_all_answered() {
    let (p, addr) = start(
        "it-tcp-split",
        Hj212TcpConfig::default(),
        IngestConfig::test_config(),
    )
    .await;
    let mut logger = Logger::connect(&addr).await;
    let t = base_time();
    let m = chrono::Duration::minutes(1);
    let (a, qa) = rtd("LLH-CJG", "123456", t, "0.41");
    let (b, qb) = rtd("LLH-CJG", "123456", t + m, "0.42");
    let (c, qc) = rtd("LLH-CJG", "123456", t + m * 2, "0.43");
    // One byte per write.
    for byte in wrap(&a) {
        logger.send(&[byte]).await;
    }
    assert_eq!(
        text(
            &logger
                .reply(LONG)
                .await
                .expect("a 9014 for the frame sent byte by byte")
        ),
        text(&expected_9014("LLH-CJG", "123456", &qa))
    );
    // Two frames in one write, modem noise between them.
    let mut both = wrap(&b);
    both.extend_from_slice(b"\x00\xffAT+CSQ\r\n+CSQ: 21,0\r\n#");
    both.extend(wrap(&c));
    logger.send(&both).await;
    let mut replies = vec![
        text(&logger.reply(LONG).await.unwrap()),
        text(&logger.reply(LONG).await.unwrap()),
    ];
    replies.sort();
    let mut want = vec![
        text(&expected_9014("LLH-CJG", "123456", &qb)),
        text(&expected_9014("LLH-CJG", "123456", &qc)),
    ];
    want.sort();
    assert_eq!(replies, want);
    p.wait_readings(LONG, "three readings", |n| n == 3).await;
    let values: Vec<f64> = {
        let mut v: Vec<f64> = p.stored_readings().iter().map(|r| r.value).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    assert_eq!(values, vec![0.41, 0.42, 0.43]);
    // The noise is one dead letter, with its bytes.
    wait_until(LONG, "the garbage episode dead-lettered", || {
        p.dead_letters() == 1
    })
    .await;
    let dead = p
        .readings_reader()
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    assert_eq!(dead[0].reason_code, ReasonCode::MalformedFrame);
    assert_eq!(&dead[0].payload[..], b"\x00\xffAT+CSQ\r\n+CSQ: 21,0\r\n#");
    assert_eq!(dead[0].station.as_deref(), Some("LLH-CJG"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crc_failure_gets_no_reply_and_a_dead_letter_and_a_wrong_password_no_9014() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(&secrets, "LLH-HK = \"Hk-2026\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (p, addr) = start(
        "it-tcp-crc",
        Hj212TcpConfig::default(),
        IngestConfig {
            station_secrets: Some(secrets),
            ..IngestConfig::test_config()
        },
    )
    .await;
    let t = base_time();
    let m = chrono::Duration::minutes(1);
    let mut logger = Logger::connect(&addr).await;
    let (bad, _) = rtd("LLH-CJG", "123456", t, "0.41");
    let mut corrupted = wrap(&bad);
    // One digit of the value changed after the CRC was computed.
    let at = corrupted.windows(4).position(|w| w == b"0.41").unwrap();
    corrupted[at + 3] = b'7';
    let (good, qn) = rtd("LLH-CJG", "123456", t + m, "0.42");
    logger.send(&corrupted).await;
    logger.send(&wrap(&good)).await;
    // The only reply is the good frame's.
    assert_eq!(
        text(&logger.reply(LONG).await.unwrap()),
        text(&expected_9014("LLH-CJG", "123456", &qn))
    );
    assert_eq!(logger.reply(Duration::from_millis(500)).await, None);
    wait_until(LONG, "the CRC failure dead-lettered", || {
        dead_codes(&p) == vec![ReasonCode::CrcMismatch]
    })
    .await;

    // LLH-HK requires its password: a wrong one is dead-lettered, not answered; the right
    // one is stored and answered.
    let mut hk = Logger::connect(&addr).await;
    let (wrong, _) = rtd("LLH-HK", "123456", t, "0.30");
    let (right, qr) = rtd("LLH-HK", "Hk-2026", t + m, "0.31");
    hk.send(&wrap(&wrong)).await;
    hk.send(&wrap(&right)).await;
    assert_eq!(
        text(&hk.reply(LONG).await.unwrap()),
        text(&expected_9014("LLH-HK", "Hk-2026", &qr))
    );
    assert_eq!(hk.reply(Duration::from_millis(500)).await, None);
    p.wait_readings(LONG, "the good frames stored", |n| n == 2)
        .await;
    wait_until(LONG, "the wrong password dead-lettered", || {
        dead_codes(&p).contains(&ReasonCode::BadPassword)
    })
    .await;
    let dead = p
        .readings_reader()
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    assert!(dead.iter().all(|d| !text(&d.payload).contains("Hk-2026")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_logger_holding_half_a_frame_times_out_without_blocking_others() {
    let tcp = Hj212TcpConfig {
        frame_timeout_secs: 2,
        ..Hj212TcpConfig::default()
    };
    let (p, addr) = start("it-tcp-slow", tcp, IngestConfig::test_config()).await;
    let t = base_time();
    let (half, _) = rtd("LLH-CJG", "123456", t, "0.41");
    let half = wrap(&half);
    let mut slow = Logger::connect(&addr).await;
    slow.send(&half[..half.len() / 2]).await;
    // Meanwhile another logger is served at once.
    let mut quick = Logger::connect(&addr).await;
    let (f, qn) = rtd("LLH-HK", "123456", t, "0.30");
    let started = tokio::time::Instant::now();
    quick.send(&wrap(&f)).await;
    assert_eq!(
        text(&quick.reply(LONG).await.unwrap()),
        text(&expected_9014("LLH-HK", "123456", &qn))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served while the slow one waits"
    );
    // The slow one is cut off after the frame timeout, its half frame dead-lettered.
    assert!(
        slow.closed_within(Duration::from_secs(10)).await,
        "slow logger disconnected"
    );
    wait_until(LONG, "the half frame dead-lettered", || {
        p.dead_letters() == 1
    })
    .await;
    assert_eq!(p.readings(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_9014_waits_for_the_commit_while_the_store_is_locked() {
    let (p, addr) = start(
        "it-tcp-lock",
        Hj212TcpConfig::default(),
        IngestConfig::test_config(),
    )
    .await;
    let t = base_time();
    let mut logger = Logger::connect(&addr).await;
    let (first, q1) = rtd("LLH-CJG", "123456", t, "0.41");
    logger.send(&wrap(&first)).await;
    assert!(logger.reply(LONG).await.is_some());
    // Another connection holds the SQLite write lock.
    let lock = rusqlite::Connection::open(p.readings_db()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (second, q2) = rtd(
        "LLH-CJG",
        "123456",
        t + chrono::Duration::minutes(1),
        "0.42",
    );
    logger.send(&wrap(&second)).await;
    assert_eq!(
        logger.reply(Duration::from_secs(3)).await,
        None,
        "no 9014 before the frame is committed"
    );
    assert_eq!(p.readings(), 1);
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    assert_eq!(
        text(
            &logger
                .reply(Duration::from_secs(60))
                .await
                .expect("the 9014 after recovery")
        ),
        text(&expected_9014("LLH-CJG", "123456", &q2))
    );
    assert_eq!(
        p.readings(),
        2,
        "the reading is stored when its 9014 arrives"
    );
    assert_ne!(q1, q2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_logger_resending_is_stored_once_and_an_mn_change_is_refused() {
    let (p, addr) = start(
        "it-tcp-resend",
        Hj212TcpConfig::default(),
        IngestConfig::test_config(),
    )
    .await;
    let t = base_time();
    let (f, qn) = rtd("LLH-CJG", "123456", t, "0.41");
    for _ in 0..2 {
        // The logger sends, the connection drops before it reads the reply; it resends.
        let mut logger = Logger::connect(&addr).await;
        logger.send(&wrap(&f)).await;
        drop(logger);
    }
    let mut logger = Logger::connect(&addr).await;
    logger.send(&wrap(&f)).await;
    assert_eq!(
        text(&logger.reply(LONG).await.unwrap()),
        text(&expected_9014("LLH-CJG", "123456", &qn))
    );
    p.wait_readings(LONG, "the reading", |n| n == 1).await;
    // Another MN on the same connection: refused, connection closed, nothing stored.
    let (other, _) = rtd("LLH-HK", "123456", t, "0.30");
    logger.send(&wrap(&other)).await;
    assert!(
        logger.closed_within(LONG).await,
        "connection closed on an MN change"
    );
    wait_until(LONG, "the MN change dead-lettered", || {
        dead_codes(&p) == vec![ReasonCode::UnknownStation]
    })
    .await;
    assert_eq!(p.readings(), 1);
}

/// The value of `key=` in a frame's text.
fn field<'a>(frame: &'a str, key: &str) -> &'a str {
    let at = frame.find(&format!("{key}=")).unwrap() + key.len() + 1;
    let rest = &frame[at..];
    &rest[..rest.find([';', '&']).unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_hourly_data_is_requested_and_the_history_stored_once_and_published() {
    let (p, addr) = start(
        "it-tcp-backfill",
        Hj212TcpConfig::default(),
        IngestConfig::test_config(),
    )
    .await;
    // Analytics re-opens closed windows for late readings that reach it on
    // rw/v1/readings (analytics engine test late_data_revises_a_closed_day_…): the history
    // must come out there.
    let out = Collector::start(&p.mqtt(), "it-tcp-backfill-watch", "rw/v1/readings/+").await;
    let h = chrono::Duration::hours(1);
    let t0 = base_time() - h * 4;
    let mut logger = Logger::connect(&addr).await;
    let (f0, q0) = hourly("LLH-CJG", t0, "0.40");
    logger.send(&wrap(&f0)).await;
    assert_eq!(
        text(&logger.reply(LONG).await.unwrap()),
        text(&expected_9014("LLH-CJG", "123456", &q0))
    );
    // Hours 1 and 2 are lost in an outage; hour 3 arrives.
    let (f3, q3) = hourly("LLH-CJG", t0 + h * 3, "0.43");
    logger.send(&wrap(&f3)).await;
    let mut got = [
        text(&logger.reply(LONG).await.unwrap()),
        text(&logger.reply(LONG).await.unwrap()),
    ];
    got.sort_by_key(|f| f.contains("CN=9014"));
    let request = &got[0];
    assert_eq!(got[1], text(&expected_9014("LLH-CJG", "123456", &q3)));
    // The request for the missing hours, built here with the QN it carries.
    let rq = field(request, "QN").to_string();
    let want = wrap(&format!(
        "QN={rq};ST=21;CN=2061;PW=123456;MN={};Flag=5;CP=&&BeginTime={};EndTime={}&&",
        mn("LLH-CJG"),
        cst(t0 + h),
        cst(t0 + h * 2)
    ));
    assert_eq!(request, &text(&want));
    // The logger accepts, sends the two hours (one twice), and reports done.
    logger
        .send(&wrap(&format!(
            "QN={rq};ST=91;CN=9011;PW=123456;MN={};Flag=4;CP=&&QnRtn=1&&",
            mn("LLH-CJG")
        )))
        .await;
    let (f1, q1) = hourly("LLH-CJG", t0 + h, "0.41");
    let (f2, q2) = hourly("LLH-CJG", t0 + h * 2, "0.42");
    for (f, q) in [(&f1, &q1), (&f2, &q2), (&f2, &q2)] {
        logger.send(&wrap(f)).await;
        assert_eq!(
            text(&logger.reply(LONG).await.unwrap()),
            text(&expected_9014("LLH-CJG", "123456", q))
        );
    }
    logger
        .send(&wrap(&format!(
            "QN={rq};ST=91;CN=9012;PW=123456;MN={};Flag=4;CP=&&ExeRtn=1&&",
            mn("LLH-CJG")
        )))
        .await;
    // Responses are never answered.
    assert_eq!(logger.reply(Duration::from_millis(500)).await, None);
    p.wait_readings(LONG, "four hours, each once", |n| n == 4)
        .await;
    let mut hours: Vec<_> = p.stored_readings().iter().map(|r| r.observed_at).collect();
    hours.sort();
    assert_eq!(hours, vec![t0, t0 + h, t0 + h * 2, t0 + h * 3]);
    wait_until(LONG, "the history published on rw/v1/readings", || {
        out.any(|_, body| text(body).contains("0.41"))
            && out.any(|_, body| text(body).contains("0.42"))
    })
    .await;
    assert_eq!(p.dead_letters(), 0);
}

/// Raises this process's soft limit of open files to at least `want` (up to the hard
/// limit) with `prlimit`: two sockets per logger live in this process.
fn raise_fd_limit(want: u64) {
    let soft = || -> u64 {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        line.split_whitespace()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap_or(u64::MAX)
    };
    if soft() >= want {
        return;
    }
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={want}:"))
        .status()
        .expect("prlimit (util-linux) raises the open-file limit");
    assert!(
        status.success() && soft() >= want,
        "the open-file limit is {} and cannot be raised to {want} (hard limit too low)",
        soft()
    );
}

/// The built-in network plus `n` air stations `T-0000`… with MNs `9900000000` + 4 digits.
fn many_stations(n: usize) -> std::sync::Arc<riverwatch_core::registry::Registry> {
    let mut toml = riverwatch_core::registry::DEFAULT_NETWORK_TOML.to_string();
    for i in 0..n {
        toml.push_str(&format!(
            "\n[[station]]\nid = \"T-{i:04}\"\nname_zh = \"测试{i}\"\nname_pinyin = \"Ceshi {i}\"\n\
             kind = \"air\"\nprovince = \"HLJ\"\ncity_zh = \"哈尔滨市\"\nmn = \"9900000000{i:04}\"\n\
             lat = 45.7\nlon = 126.6\nverified = false\nparameters = [\"PM25\"]\n\
             report_interval_secs = 60\n"
        ));
    }
    std::sync::Arc::new(
        riverwatch_core::registry::Registry::from_toml(&toml, "test network").unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_simulated_loggers_at_once_get_every_9014_and_every_reading_stored_once() {
    const LOGGERS: usize = 1000;
    const FRAMES: usize = 3;
    raise_fd_limit(4 * LOGGERS as u64 + 1024);
    let registry = many_stations(LOGGERS);
    let mut p = Pipeline::builder().start().await;
    let addr = format!("127.0.0.1:{}", riverwatch_testkit::free_port().unwrap());
    p.prime("it-tcp-1000", &INGEST_FILTERS).await;
    p.start_ingest_with(
        IngestConfig {
            client_id: "it-tcp-1000".into(),
            publish_readings: false,
            hj212_tcp: Hj212TcpConfig {
                listen: Some(addr.clone()),
                ..Hj212TcpConfig::default()
            },
            ..IngestConfig::test_config()
        },
        registry,
        std::sync::Arc::new(riverwatch_core::time::SystemClock),
    );
    drop(Logger::connect(&addr).await);
    let mut loggers = riverwatch_simulators::hj212_tcp::Loggers::new(&addr);
    let t = base_time();
    for k in 0..FRAMES {
        let at = t + chrono::Duration::minutes(k as i64);
        for i in 0..LOGGERS {
            // Flag=4: the simulated logger sets the acknowledgement bit itself.
            let segment = format!(
                "QN={}{i:03};ST=22;CN=2011;PW=123456;MN=9900000000{i:04};Flag=4;CP=&&DataTime={};a34004-Rtd={}.5,a34004-Flag=N&&",
                cst(at),
                cst(at),
                10 + k
            );
            loggers.send(&wrap(&segment));
        }
    }
    let counts = loggers.counts();
    let (acked, unacked) = loggers
        .finish(
            &tokio_util::sync::CancellationToken::new(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        (acked, unacked),
        ((LOGGERS * FRAMES) as u64, 0),
        "every 9014 received"
    );
    // One connection each; on a loaded machine a few may be reset and reopened, and their
    // frames are then resent — the counts above and below stay exact.
    let connections = counts
        .connections
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(connections >= LOGGERS as u64, "{connections} connections");
    // A 9014 comes only after its commit: everything is stored already, each once.
    assert_eq!(p.readings(), (LOGGERS * FRAMES) as u64);
    assert_eq!(p.dead_letters(), 0);
    let stored = p.stored_readings();
    let distinct: std::collections::BTreeSet<_> = stored
        .iter()
        .map(|r| (r.station.to_string(), r.observed_at))
        .collect();
    assert_eq!(distinct.len(), LOGGERS * FRAMES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_loggers_deliver_what_they_kept_during_an_outage_once_the_platform_is_back() {
    let mut p = Pipeline::builder().start().await;
    let addr = format!("127.0.0.1:{}", riverwatch_testkit::free_port().unwrap());
    // The platform is down: the loggers keep their frames and retry with backoff.
    let mut loggers = riverwatch_simulators::hj212_tcp::Loggers::new(&addr);
    let t = base_time();
    for k in 0..5 {
        let (f, _) = rtd("LLH-CJG", "123456", t + chrono::Duration::minutes(k), "0.4");
        loggers.send(&wrap(&f));
    }
    let counts = loggers.counts();
    wait_until(LONG, "the loggers failed to connect twice", || {
        counts
            .connect_failures
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    })
    .await;
    assert_eq!(counts.sent.load(std::sync::atomic::Ordering::Relaxed), 5);
    p.prime("it-tcp-outage", &INGEST_FILTERS).await;
    p.start_ingest(IngestConfig {
        client_id: "it-tcp-outage".into(),
        hj212_tcp: Hj212TcpConfig {
            listen: Some(addr.clone()),
            ..Hj212TcpConfig::default()
        },
        ..IngestConfig::test_config()
    });
    let (acked, unacked) = loggers
        .finish(&tokio_util::sync::CancellationToken::new(), LONG)
        .await;
    assert_eq!((acked, unacked), (5, 0));
    assert_eq!(p.readings(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hj212_check_prints_each_frame_with_its_readings_or_its_reason_code() {
    let p = Pipeline::builder().start().await;
    let t = base_time();
    let (good, qn) = hourly("LLH-CJG", t, "0.41");
    let mut corrupted = wrap(&good);
    let at = corrupted.windows(4).position(|w| w == b"0.41").unwrap();
    corrupted[at + 3] = b'7';
    let mut input = wrap(&good);
    input.extend(corrupted);
    let file = p.dir().join("frames.txt");
    std::fs::write(&file, &input).unwrap();
    let (code, out, err) = p.cli(&["hj212", "check", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["reason_code"], serde_json::Value::Null);
    assert_eq!(lines[0]["mn"], mn("LLH-CJG"));
    assert_eq!(lines[0]["cn"], "2061");
    assert_eq!(lines[0]["qn"], qn);
    assert_eq!(lines[0]["version"], "HJ 212-2017");
    assert_eq!(lines[0]["readings"][0]["parameter"], "NH3N");
    assert_eq!(lines[0]["readings"][0]["value"], 0.41);
    assert_eq!(lines[0]["readings"][0]["period"], "hour");
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[1]["reason_code"], "crc_mismatch");
    assert_eq!(lines[1]["readings"], serde_json::json!([]));
    // The readable report, from stdin.
    let (code, out, _) = cli_stdin(&p, &["--lang", "en", "hj212", "check"], &input);
    assert_eq!(code, 0);
    assert!(out.contains("#1 ok MN="), "{out}");
    assert!(out.contains("NH3N = 0.41 mg/L"), "{out}");
    assert!(out.contains("#2 rejected crc_mismatch"), "{out}");
    // Nothing was stored by checking.
    assert!(!p.readings_db().exists() || p.readings() == 0);
}

/// Runs `riverwatch` on the pipeline's configuration with `input` on stdin.
fn cli_stdin(p: &Pipeline, args: &[&str], input: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(riverwatch_bin())
        .arg("--config")
        .arg(p.config_file())
        .arg("--data-dir")
        .arg(p.data_dir())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
