//! Stations are trusted only for their own readings: the HJ 212 access password per station
//! (through mosquitto into ingest), and the shipped broker configuration (`deploy/`: its ACL,
//! its listeners and the client id bound to the account) run by a real mosquitto.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, Version};
use riverwatch_core::mqtt::{Credentials, MqttConfig};
use riverwatch_core::store_api::{DeadLetterQuery, ReadingQuery};
use riverwatch_core::time::SystemClock;
use riverwatch_core::{DeadLetter, ReasonCode};
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::sqlite::test_sqlite_config;
use riverwatch_ingest::store::{SqliteReader, SqliteStore};
use rumqttc::{
    AsyncClient, ConnAck, ConnectReturnCode, ConnectionError, Event, EventLoop, Incoming, QoS,
};
use tokio_util::sync::CancellationToken;

use crate::fixture::*;
use crate::util::*;

/// A whole minute two hours ago: inside every time check.
fn minute_ago() -> chrono::DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(2);
    Utc.timestamp_opt(t.timestamp() / 60 * 60, 0).unwrap()
}

/// An HJ 212-2017 hourly frame of `station` with one NH3-N value at `t`, with this `PW`.
fn nh3n_frame(station: &str, pw: &str, t: chrono::DateTime<Utc>, value: &str) -> Message {
    let local = (t + chrono::Duration::hours(8)).naive_utc();
    let mut item = CpItem::new("w21003");
    item.avg = Some(value.into());
    item.flag = Some("N".into());
    let frame = Frame {
        qn: Some(local.format("%Y%m%d%H%M%S000").to_string()),
        st: "21".into(),
        cn: "2061".into(),
        pw: pw.into(),
        mn: registry().station(station).unwrap().mn.clone(),
        flag: Flag::new(Version::Hj212_2017, false, false),
        pnum: None,
        pno: None,
        cp: CpData {
            data_time: Some(local),
            items: vec![item],
            extra: vec![],
        }
        .render(),
    };
    (
        format!("rw/v1/hj212/{station}"),
        frame.encode().into_bytes(),
    )
}

/// Writes a file with these permission bits.
fn write_with_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn dead_letters(p: &Pipeline) -> Vec<DeadLetter> {
    p.readings_reader()
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_password_admits_only_frames_that_carry_it_and_is_never_stored() {
    let mut p = Pipeline::builder().start().await;
    let secrets = p.dir().join("station-secrets.toml");
    write_with_mode(&secrets, "LLH-CJG = \"Cjg-2026\"\n", 0o600);
    p.prime("it-pw", &INGEST_FILTERS).await;
    p.start_ingest(IngestConfig {
        client_id: "it-pw".into(),
        station_secrets: Some(secrets),
        ..IngestConfig::test_config()
    });

    let t = minute_ago();
    let minute = chrono::Duration::minutes(1);
    let right = nh3n_frame("LLH-CJG", "Cjg-2026", t, "0.41");
    let wrong = nh3n_frame("LLH-CJG", "123456", t + minute, "2.50");
    let missing = nh3n_frame("LLH-CJG", "", t + minute * 2, "2.60");
    // LLH-HK has no password: whatever its logger sends as PW is accepted, as before.
    let unguarded = nh3n_frame("LLH-HK", "123456", t, "0.33");
    p.publish(
        "it-pw-pub",
        vec![
            right.clone(),
            wrong.clone(),
            missing.clone(),
            unguarded.clone(),
        ],
    )
    .await;
    p.barrier().await;
    p.stop_ingest().await;

    let mut stored: Vec<(String, f64, chrono::DateTime<Utc>)> = p
        .stored_readings()
        .iter()
        .map(|r| (r.station.to_string(), r.value, r.observed_at))
        .collect();
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        stored,
        vec![("LLH-CJG".into(), 0.41, t), ("LLH-HK".into(), 0.33, t)],
        "only the frame with the right password and the unguarded station's are stored"
    );

    let dead = dead_letters(&p);
    assert_eq!(dead.len(), 2, "{dead:#?}");
    assert!(
        dead.iter()
            .all(|d| d.reason_code == ReasonCode::BadPassword)
    );
    assert!(dead.iter().all(|d| d.station.as_deref() == Some("LLH-CJG")));
    let sent_wrong = String::from_utf8(wrong.1).unwrap();
    let masked = sent_wrong.replacen(";PW=123456;", ";PW=******;", 1);
    assert_ne!(masked, sent_wrong);
    let d = dead
        .iter()
        .find(|d| d.payload.as_ref() == masked.as_bytes())
        .unwrap_or_else(|| panic!("no dead letter holds the masked frame {masked}: {dead:#?}"));
    assert!(d.reason.contains("******"), "{}", d.reason);
    assert!(
        dead.iter()
            .any(|d| d.payload.as_ref() == missing.1.as_slice()
                && d.reason.contains("no access password")),
        "the frame without a password is kept as it came: {dead:#?}"
    );
    for d in &dead {
        let kept = String::from_utf8_lossy(&d.payload);
        assert!(
            !kept.contains("123456") && !kept.contains("Cjg-2026"),
            "{kept}"
        );
    }
    // What the operator sees: the reason code and its count.
    let (code, out, err) = p.cli(&[
        "dead-letters",
        "--reason",
        "bad_password",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_file_others_can_read_stops_ingest_at_start() {
    let p = Pipeline::builder().start().await;
    let secrets = p.dir().join("station-secrets.toml");
    write_with_mode(&secrets, "LLH-CJG = \"Cjg-2026\"\n", 0o644);
    let config = p.dir().join("ingest.toml");
    std::fs::write(
        &config,
        ingest_file(
            &p.url(),
            "it-pw-mode",
            &format!("station_secrets = \"{}\"", secrets.display()),
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (code, _, err) = cli(&config, &p.data_dir(), &["ingest"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&secrets.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Nothing was opened: no store was created for a service that must not run.
    assert!(!p.readings_db().exists());
}

// ------------------------------------------------------------ the shipped broker configuration

/// The ports `deploy/mosquitto.conf` gives its listeners: stations (TLS, client id = user
/// name), services on other hosts (TLS), services on the broker host (loopback).
const STATIONS_PORT: u16 = 8883;
const SERVICES_TLS_PORT: u16 = 8884;
const SERVICES_PORT: u16 = 1883;

/// Station accounts (`stations.passwd`): user name = station id.
const STATION_ACCOUNTS: [(&str, &str); 2] =
    [("LLH-CJG", "cjg-broker-pw"), ("LLH-HK", "hk-broker-pw")];
/// Service accounts (`services.passwd`), as `deploy/riverwatch.acl` names them.
const SERVICE_ACCOUNTS: [(&str, &str); 4] = [
    ("riverwatch-ingest", "ingest-broker-pw"),
    ("riverwatch-analytics", "analytics-broker-pw"),
    ("riverwatch-alerts", "alerts-broker-pw"),
    ("riverwatch-console", "console-broker-pw"),
];
/// Ingest's stable client id.
const INGEST_ID: &str = "riverwatch-ingest";

/// mosquitto running `deploy/mosquitto.conf` and `deploy/riverwatch.acl` as shipped, on
/// loopback ports, with password files made by `mosquitto_passwd` and a throwaway CA.
struct Deployed {
    broker: Mosquitto,
    certificates: TestCertificates,
    dir: tempfile::TempDir,
}

impl Deployed {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certificates = TestCertificates::create(dir.path()).unwrap();
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let conf = std::fs::read_to_string(deploy.join("mosquitto.conf")).unwrap();
        let read = |p: &Path| std::fs::read(p).unwrap();
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("certs/server.crt", read(&certificates.cert)),
            ("certs/server.key", read(&certificates.key)),
            ("certs/ca.crt", read(&certificates.ca)),
            ("riverwatch.acl", read(&deploy.join("riverwatch.acl"))),
            ("stations.passwd", password_file(&STATION_ACCOUNTS).unwrap()),
            ("services.passwd", password_file(&SERVICE_ACCOUNTS).unwrap()),
        ];
        let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        let broker = Mosquitto::start_from_config(&conf, &files).unwrap();
        Self {
            broker,
            certificates,
            dir,
        }
    }

    /// `user`'s connection (with its password) through the listener the shipped file puts
    /// on `port`.
    fn connection(&self, port: u16, user: &str) -> MqttConfig {
        let listener = self.broker.listener(port).unwrap();
        let mut mqtt = MqttConfig::with_url(&listener.url());
        if listener.tls {
            mqtt.ca_file = Some(self.certificates.ca.clone());
        }
        let password = STATION_ACCOUNTS
            .iter()
            .chain(&SERVICE_ACCOUNTS)
            .find(|(u, _)| *u == user)
            .map_or("no-such-account", |(_, p)| *p);
        mqtt.credentials = Some(Credentials {
            username: user.to_string(),
            password: password.to_string(),
        });
        mqtt.keys = Some(test_keys());
        mqtt
    }

    /// A station's connection, on the stations' listener.
    fn station(&self, id: &str) -> MqttConfig {
        self.connection(STATIONS_PORT, id)
    }

    /// A service's connection, on the loopback listener.
    fn service(&self, user: &str) -> MqttConfig {
        self.connection(SERVICES_PORT, user)
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("readings.db")
    }

    /// Starts ingest with its account and client id on a SQLite file.
    fn start_ingest(&self) -> RunningIngest {
        let store = SqliteStore::open(&self.db(), &test_sqlite_config()).unwrap();
        let args = riverwatch_ingest::IngestArgs {
            config: IngestConfig {
                client_id: INGEST_ID.into(),
                ..IngestConfig::test_config()
            },
            mqtt: self.service("riverwatch-ingest"),
            store,
            registry: registry(),
            clock: Arc::new(SystemClock),
        };
        let token = CancellationToken::new();
        let task = tokio::spawn(riverwatch_ingest::run(args, token.clone()));
        RunningIngest { token, task }
    }

    fn stored(&self) -> Vec<(String, String, f64)> {
        let mut all: Vec<(String, String, f64)> = SqliteReader::open(&self.db())
            .unwrap()
            .query_blocking(&ReadingQuery::default())
            .unwrap()
            .into_iter()
            .map(|r| (r.station.to_string(), r.parameter.to_string(), r.value))
            .collect();
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    }

    fn dead_letters(&self) -> u64 {
        count_dead(&self.db())
    }

    /// The broker's log, to explain a failure.
    fn log_tail(&self) -> String {
        let log = self.broker.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

struct RunningIngest {
    token: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), riverwatch_ingest::Error>>,
}

impl RunningIngest {
    async fn stop(self) {
        self.token.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A client connected as one account: what the broker answered to its CONNECT, and every
/// message it was sent.
struct Probe {
    client: AsyncClient,
    eventloop: EventLoop,
    received: Vec<(String, Vec<u8>)>,
}

impl Probe {
    /// Connects; the CONNACK, or the refusal.
    async fn connect(
        mqtt: &MqttConfig,
        client_id: &str,
        clean_session: bool,
    ) -> (Self, Result<ConnAck, ConnectionError>) {
        let opts = mqtt.options(client_id, clean_session).unwrap();
        let (client, eventloop) = AsyncClient::new(opts, 100);
        let mut probe = Self {
            client,
            eventloop,
            received: Vec::new(),
        };
        let answer = loop {
            match tokio::time::timeout(Duration::from_secs(10), probe.eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::ConnAck(ack)))) => break Ok(ack),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => break Err(e),
                Err(_) => panic!("no answer to {client_id}'s CONNECT"),
            }
        };
        (probe, answer)
    }

    /// Subscribes to `filter` and waits for the SUBACK, keeping what arrives before it:
    /// the broker sends a client's packets in order, so whatever it had queued for this
    /// client before it took the SUBSCRIBE has arrived by then.
    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => return,
                Ok(Ok(Event::Incoming(Incoming::Publish(p)))) => {
                    self.received.push((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(Ok(_)) => {}
                other => panic!("subscribing to {filter} failed: {other:?}"),
            }
        }
    }
}

/// A message no one but its publisher made, easy to spot wherever it lands.
fn forged(topic: &str) -> Message {
    (
        topic.to_string(),
        br#"{"forged":"FORGED-BY-A-STATION"}"#.to_vec(),
    )
}

fn is_forged(payload: &[u8]) -> bool {
    String::from_utf8_lossy(payload).contains("FORGED-BY-A-STATION")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_account_publishes_only_its_own_topics() {
    let d = Deployed::start();
    prime_session(&d.service("riverwatch-ingest"), INGEST_ID, &INGEST_FILTERS).await;
    let console = Collector::start(
        &d.service("riverwatch-console"),
        "riverwatch-console",
        "rw/v1/#",
    )
    .await;
    let ingest = d.start_ingest();

    let t = minute_ago();
    // Another station's topics, then every internal topic, then (last, the barrier) the
    // station's own two topics, all on one connection of the LLH-CJG account.
    let messages = vec![
        json_obs("LLH-HK", t, &[("pH", 6.1)]),
        nh3n_frame("LLH-HK", "", t, "3.90"),
        forged("rw/v1/readings/LLH-CJG"),
        forged("rw/v1/events/LLH-CJG"),
        forged("rw/v1/events/REGION"),
        forged("rw/v1/alerts/forged-alert"),
        forged("rw/v1/status/riverwatch-ingest"),
        forged("rw/v1/status/riverwatch-alerts"),
        json_obs("LLH-CJG", t, &[("pH", 7.3)]),
        nh3n_frame("LLH-CJG", "", t, "0.40"),
    ];
    publish_with(&d.station("LLH-CJG"), "logger-cjg", messages).await;

    // The broker delivers one publisher's messages to a subscriber in order: once ingest has
    // stored the last two and the console has seen them (and ingest's readings-out message,
    // which follows them), every earlier message has been delivered or dropped.
    wait_until(
        Duration::from_secs(30),
        Later(|| {
            format!(
                "the station's own two messages stored ({:?})\n{}",
                d.stored(),
                d.log_tail()
            )
        }),
        || d.stored().iter().filter(|r| r.0 == "LLH-CJG").count() == 2,
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        Later(|| {
            format!(
                "the console saw the station's messages and ingest's readings ({:?})",
                console.messages().iter().map(|m| &m.0).collect::<Vec<_>>()
            )
        }),
        || {
            [
                "rw/v1/obs/LLH-CJG",
                "rw/v1/hj212/LLH-CJG",
                "rw/v1/readings/LLH-CJG",
            ]
            .iter()
            .all(|topic| console.any(|t, _| t == *topic))
        },
    )
    .await;
    ingest.stop().await;

    assert_eq!(
        d.stored(),
        vec![
            ("LLH-CJG".into(), "NH3N".into(), 0.40),
            ("LLH-CJG".into(), "pH".into(), 7.3),
        ],
        "only the station's own readings reach ingest"
    );
    assert_eq!(d.dead_letters(), 0, "nothing else reached ingest at all");
    let seen = console.messages();
    let leaked: Vec<&String> = seen
        .iter()
        .filter(|(topic, payload)| topic.ends_with("/LLH-HK") || is_forged(payload))
        .map(|(topic, _)| topic)
        .collect();
    assert!(
        leaked.is_empty(),
        "published by the station against the ACL: {leaked:?}"
    );
    // What did go through: the station's topics and ingest's own messages.
    assert!(
        seen.iter().all(|(topic, _)| [
            "rw/v1/obs/LLH-CJG",
            "rw/v1/hj212/LLH-CJG",
            "rw/v1/readings/LLH-CJG",
            "rw/v1/status/riverwatch-ingest",
            "rw/v1/status/riverwatch-ingest-out",
        ]
        .contains(&topic.as_str())),
        "{:?}",
        seen.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_account_reads_nothing() {
    let d = Deployed::start();
    prime_session(&d.service("riverwatch-ingest"), INGEST_ID, &INGEST_FILTERS).await;
    let console = Collector::start(
        &d.service("riverwatch-console"),
        "riverwatch-console",
        "rw/v1/#",
    )
    .await;
    let ingest = d.start_ingest();

    // LLH-CJG's account subscribes to everything it might want to read.
    let (mut spy, answer) = Probe::connect(&d.station("LLH-CJG"), "spy", true).await;
    assert!(answer.is_ok(), "{answer:?}");
    let filters = [
        "#",
        "rw/v1/#",
        "rw/v1/obs/+",
        "rw/v1/obs/LLH-HK",
        "rw/v1/hj212/+",
        "rw/v1/readings/+",
        "rw/v1/events/+",
        "rw/v1/alerts/+",
        "rw/v1/status/#",
        "$share/ingest/rw/v1/obs/+",
        "$SYS/#",
    ];
    // mosquitto's ACL file does not govern subscriptions (2.0.11 grants them all); what it
    // refuses is the delivery, message by message.
    for f in filters {
        spy.subscribe(f).await;
    }

    // Then another station's data, the readings ingest makes of it, an event and an alert.
    let t = minute_ago();
    publish_with(
        &d.station("LLH-HK"),
        "logger-hk",
        vec![json_obs("LLH-HK", t, &[("pH", 7.1)])],
    )
    .await;
    publish_with(
        &d.service("riverwatch-analytics"),
        "riverwatch-analytics",
        vec![("rw/v1/events/LLH-HK".into(), b"{\"event\":1}".to_vec())],
    )
    .await;
    publish_with(
        &d.service("riverwatch-alerts"),
        "riverwatch-alerts",
        vec![("rw/v1/alerts/a-1".into(), b"{\"alert\":1}".to_vec())],
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        Later(|| {
            format!(
                "the console saw everything ({:?})\n{}",
                console.messages().iter().map(|m| &m.0).collect::<Vec<_>>(),
                d.log_tail()
            )
        }),
        || {
            [
                "rw/v1/obs/LLH-HK",
                "rw/v1/readings/LLH-HK",
                "rw/v1/events/LLH-HK",
                "rw/v1/alerts/a-1",
                "rw/v1/status/riverwatch-ingest-out",
            ]
            .iter()
            .all(|topic| console.any(|t, _| t == *topic))
        },
    )
    .await;
    // The broker has handled all of it; a subscription made now is answered after anything
    // it had queued for the spy.
    spy.subscribe("rw/v1/obs/LLH-CJG").await;
    ingest.stop().await;

    assert!(
        spy.received.is_empty(),
        "a station read {:?}",
        spy.received.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_account_cannot_take_over_ingests_session() {
    let d = Deployed::start();
    prime_session(&d.service("riverwatch-ingest"), INGEST_ID, &INGEST_FILTERS).await;
    // Ingest is down: the broker queues the station's readings in ingest's session.
    let t = minute_ago();
    let queued: Vec<Message> = (0..3)
        .map(|i| {
            json_obs(
                "LLH-CJG",
                t + chrono::Duration::minutes(i),
                &[("pH", 7.0 + i as f64 / 10.0)],
            )
        })
        .collect();
    publish_with(&d.station("LLH-CJG"), "logger-cjg", queued).await;

    // The station's account asks for ingest's session on the stations' listener: it gets
    // its own (the client id is its user name), with nothing in it.
    let (mut thief, answer) = Probe::connect(&d.station("LLH-CJG"), INGEST_ID, false).await;
    let ack = answer.unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    assert!(
        !ack.session_present,
        "the station was handed ingest's session"
    );
    thief.subscribe("rw/v1/obs/LLH-CJG").await;
    assert!(
        thief.received.is_empty(),
        "the station received ingest's queued messages: {:?}",
        thief.received
    );
    thief.client.disconnect().await.ok();
    // Asking for a clean session under ingest's client id would discard ingest's session
    // and its queue; here it discards the station's own.
    let (wiper, answer) = Probe::connect(&d.station("LLH-CJG"), INGEST_ID, true).await;
    assert!(answer.is_ok(), "{answer:?}");
    wiper.client.disconnect().await.ok();

    // On the services' listeners the station's account is refused outright.
    for port in [SERVICES_PORT, SERVICES_TLS_PORT] {
        let (_, answer) = Probe::connect(&d.connection(port, "LLH-CJG"), INGEST_ID, false).await;
        assert!(
            matches!(
                answer,
                Err(ConnectionError::ConnectionRefused(
                    ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword
                ))
            ),
            "port {port}: {answer:?}"
        );
    }

    // Ingest comes back to its session with everything queued in it.
    let ingest = d.start_ingest();
    wait_until(
        Duration::from_secs(30),
        Later(|| {
            format!(
                "ingest stored the 3 queued readings ({:?})\n{}",
                d.stored(),
                d.log_tail()
            )
        }),
        || d.stored().len() == 3,
    )
    .await;
    ingest.stop().await;
    assert_eq!(d.dead_letters(), 0);
}
