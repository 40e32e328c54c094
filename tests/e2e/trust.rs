//! Internal messages are authenticated: a client of the broker without the deployment key
//! (any account that may publish on `events/` or `readings/`) cannot make both provinces
//! receive a forged alarm, silence an alert with a "resolved" event dated 9999, or have a
//! reading evaluated; each forged message is kept with its reason and counted. And what the
//! services write in the data directory is private to their user, whatever the umask.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use riverwatch_alerts::AlertsConfig;
use riverwatch_alerts::reader::StateFilter;
use riverwatch_core::events::{Event, EventStatus, Rule, Severity};
use riverwatch_core::mqtt::auth::{RefusalCode, refused_counter, rejected_messages};
use riverwatch_core::reading::{DataFlag, Period, ReadingOut, ReadingsMessage};
use riverwatch_core::{ParamCode, Province, StationId};

use crate::fixture::*;
use crate::util::*;

fn minute(offset_min: i64) -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::hours(3);
    DateTime::from_timestamp(t.timestamp() / 60 * 60, 0).unwrap()
        + chrono::Duration::minutes(offset_min)
}

/// The refused messages a store keeps: (topic, reason code, payload).
fn rejected(db: &Path) -> Vec<(String, String, Vec<u8>)> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    rejected_messages(&conn)
        .unwrap_or_default()
        .into_iter()
        .map(|(topic, code, _, payload)| (topic, code, payload))
        .collect()
}

fn event_message(e: &Event) -> (String, Vec<u8>) {
    (
        format!("rw/v1/events/{}", e.subject),
        serde_json::to_vec(e).unwrap(),
    )
}

/// An exceedance event of NH3-N at a boundary section, as analytics would word it.
fn nh3n_event(id: &str, status: EventStatus, station: &str, at: DateTime<Utc>) -> Event {
    let mut e = base_event(
        id,
        Rule::ParameterExceedance,
        status,
        Severity::Critical,
        station,
        &Province::ALL,
        true,
        at,
    );
    e.parameter = Some("NH3N".into());
    e.value = Some(4.2);
    e.unit = Some("mg/L".into());
    e.limit = Some(1.0);
    e.summary_zh = format!("{station} 氨氮 4.2 mg/L，请立即登录 https://evil.example.org 处置");
    e.summary_en = format!("{station} NH3-N 4.2 mg/L, log in at https://evil.example.org");
    e
}

/// A genuine alarm goes out; then a client without the key publishes on the internal topics:
/// an unsigned "resolved" event dated 9999 for the firing alert, the same with a MAC made
/// up under the deployment's key id, an unsigned alarm at another boundary section, and a
/// reading of that section on `readings/`; and (a leaked-message case) a correctly signed
/// "resolved" event dated 9999. None is applied or evaluated: the alert stays firing, no
/// other alert opens, no email goes out; each message is in its consumer's
/// `rejected_messages` with its reason and the refusal counters rose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_internal_messages_are_refused_kept_and_counted() {
    let mut p = Pipeline::builder()
        .with_ingest("it-trust-ingest")
        .with_analytics("it-trust-analytics")
        .with_alerts(AlertsConfig {
            tick_ms: 50,
            ..AlertsConfig::default()
        })
        .start()
        .await;
    let unsigned_before = refused_counter("alerts", RefusalCode::Unsigned).get();
    let bad_mac_before = refused_counter("alerts", RefusalCode::BadMac).get();
    let range_before = refused_counter("alerts", RefusalCode::OutOfRange).get();
    let readings_before = refused_counter("analytics", RefusalCode::Unsigned).get();

    // The genuine alarm: NH3-N 1.62 mg/L at LLH-CJG, above the Class III limit of 1.0 mg/L
    // (GB 3838-2002 Table 1), through ingest and analytics; one email per recipient.
    let t0 = minute(0) - chrono::Duration::hours(9);
    p.publish(
        "it-trust-station",
        vec![json_obs("LLH-CJG", t0, &[("NH3N", 1.62)])],
    )
    .await;
    let firing_rules = |p: &Pipeline| -> BTreeSet<Rule> {
        p.alert_views(StateFilter::Firing)
            .iter()
            .map(|v| v.alert.rule)
            .collect()
    };
    wait_until(Duration::from_secs(30), "the genuine alerts firing", || {
        firing_rules(&p) == [Rule::SectionBelowTarget, Rule::ParameterExceedance].into()
    })
    .await;
    p.advance(30);
    p.wait_emails(5, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let emails = p.smtp().count();
    let notifications = p.notifications().len();
    let param = p
        .alert_views(StateFilter::Firing)
        .into_iter()
        .find(|v| v.alert.rule == Rule::ParameterExceedance)
        .unwrap()
        .alert;

    // The forgeries, from a client that has no key.
    let year_9999 = Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap();
    let resolve_forever = nh3n_event(
        "forged-resolve",
        EventStatus::Resolved,
        "LLH-CJG",
        year_9999,
    );
    assert_eq!(resolve_forever.fingerprint(), param.fingerprint);
    let unsigned_resolve = event_message(&resolve_forever);
    let made_up_mac = {
        let (topic, payload) = event_message(&resolve_forever);
        let mut body = payload[..payload.len() - 1].to_vec();
        body.extend_from_slice(
            format!(
                ",\"mac\":\"rw1:{}:{}\"}}",
                test_keys().signing().id(),
                "0".repeat(64)
            )
            .as_bytes(),
        );
        (topic, body)
    };
    let forged_alarm = event_message(&nh3n_event(
        "forged-alarm",
        EventStatus::Firing,
        "LLH-NTS",
        minute(0),
    ));
    let forged_reading = (
        "rw/v1/readings/LLH-NTS".to_string(),
        ReadingsMessage {
            station: StationId::from("LLH-NTS"),
            readings: vec![ReadingOut {
                parameter: ParamCode::from("NH3N"),
                value: 4.2,
                unit: "mg/L".into(),
                observed_at: minute(0),
                received_at: minute(0),
                flag: DataFlag::default(),
                valid: true,
                period: Period::Sample,
            }],
        }
        .to_json(),
    );
    // A genuine message, signed, but dated 9999: refused by the time window.
    let signed_but_9999 = {
        let (topic, payload) = event_message(&nh3n_event(
            "signed-9999",
            EventStatus::Resolved,
            "LLH-CJG",
            year_9999,
        ));
        signed(topic, &payload)
    };
    let events_sent = vec![
        unsigned_resolve.clone(),
        made_up_mac.clone(),
        forged_alarm.clone(),
        signed_but_9999.clone(),
    ];
    let mut all = events_sent.clone();
    all.push(forged_reading.clone());
    p.publish("it-trust-forger", all).await;

    // Each is kept by its consumer with its reason, in the order it came.
    wait_until(
        Duration::from_secs(30),
        "four refused events in alerts.db and one refused reading in analytics.db",
        || rejected(&p.alerts_db()).len() == 4 && rejected(&p.analytics_db()).len() == 1,
    )
    .await;
    let kept = rejected(&p.alerts_db());
    let codes: Vec<&str> = kept.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(codes, ["unsigned", "bad_mac", "unsigned", "out_of_range"]);
    for ((topic, _, payload), (sent_topic, sent)) in kept.iter().zip(&events_sent) {
        assert_eq!((topic, payload), (sent_topic, sent), "kept as received");
    }
    let kept = rejected(&p.analytics_db());
    assert_eq!(
        (kept[0].0.as_str(), kept[0].1.as_str(), &kept[0].2),
        ("rw/v1/readings/LLH-NTS", "unsigned", &forged_reading.1)
    );

    // Counted.
    assert!(refused_counter("alerts", RefusalCode::Unsigned).get() >= unsigned_before + 2);
    assert!(refused_counter("alerts", RefusalCode::BadMac).get() > bad_mac_before);
    assert!(refused_counter("alerts", RefusalCode::OutOfRange).get() > range_before);
    assert!(refused_counter("analytics", RefusalCode::Unsigned).get() > readings_before);

    // Nothing applied: the alert is still firing, nothing about LLH-NTS exists, and with
    // every group wait past no email went out.
    p.advance(600);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let firing = p.alert_views(StateFilter::Firing);
    assert!(
        firing.iter().any(|v| v.alert.id == param.id),
        "the alert is not silenced: {firing:?}"
    );
    assert!(
        p.alert_views(StateFilter::All)
            .iter()
            .all(|v| v.alert.subject != "LLH-NTS"),
        "no forged alarm"
    );
    let conn = rusqlite::Connection::open_with_flags(
        p.analytics_db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let evaluated: i64 = conn
        .query_row(
            "SELECT count(*) FROM evaluations WHERE station = 'LLH-NTS'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(evaluated, 0, "the forged reading was not evaluated");
    assert_eq!(p.smtp().count(), emails, "no email for a forged message");
    assert_eq!(p.notifications().len(), notifications);

    p.stop_alerts().await;
    p.stop_analytics().await;
    p.stop_ingest().await;
}

/// The services as child processes under umask 022 (ingest into SQLite, the alert service
/// writing email to the outbox folder): every file they create in the data directory — the
/// stores with their `-wal` and `-shm` files, the outbox folder and its `.eml` — is private
/// to the user (folders 0700, files 0600).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_services_create_is_private_under_umask_022() {
    let mut p = Pipeline::builder()
        .with_ingest_process("it-files-ingest")
        .with_alerts_process(AlertsFile::new(0).outbox())
        .start()
        .await;
    p.barrier().await;
    let (topic, payload) = event_message(&nh3n_event(
        "files-alarm",
        EventStatus::Firing,
        "LLH-NTS",
        minute(0),
    ));
    p.publish("it-files-analytics", vec![signed(topic, &payload)])
        .await;
    let outbox = p.data_dir().join("outbox");
    wait_until(Duration::from_secs(30), "an email in the outbox", || {
        std::fs::read_dir(&outbox).is_ok_and(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.path().extension().is_some_and(|x| x == "eml"))
        })
    })
    .await;
    let (wrong, seen) = not_private(&p.data_dir());
    assert!(wrong.is_empty(), "not private: {wrong:?}");
    for name in [
        "readings.db",
        "readings.db-wal",
        "readings.db-shm",
        "alerts.db",
        "alerts.db-wal",
        "alerts.db-shm",
    ] {
        assert!(seen.iter().any(|s| s == name), "{name} in {seen:?}");
    }
    assert!(
        seen.iter()
            .any(|s| s.starts_with("outbox/") && s.ends_with(".eml"))
    );
    p.stop_alerts().await;
    p.stop_ingest().await;
}

/// `riverwatch keys init` creates the key file 0600 in a 0700 data directory and leaves an
/// existing one alone; a service without a key, or with a key file others may read, does
/// not start and says what to do.
#[test]
fn keys_init_creates_a_private_key_once_and_services_need_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("riverwatch.toml");
    std::fs::write(&config, "").unwrap();
    let data = dir.path().join("data");
    let key = data.join("internal.key");

    let (code, _, err) = cli(&config, &data, &["--lang", "en", "alerts"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("riverwatch keys init"), "{err}");

    let (code, out, err) = cli(&config, &data, &["--lang", "en", "keys", "init"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Created the internal message key"), "{out}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&data), 0o700);
    let text = std::fs::read_to_string(&key).unwrap();
    let ring = riverwatch_core::keys::KeyRing::parse(&text).unwrap();
    assert!(out.contains(ring.signing().id()), "{out}");
    assert!(
        !out.contains(&text.lines().last().unwrap()[..16]),
        "the key is never shown"
    );

    let (code, out, _) = cli(&config, &data, &["--lang", "en", "keys", "init"]);
    assert_eq!(code, 0);
    assert!(out.contains("left unchanged"), "{out}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = cli(&config, &data, &["--lang", "en", "analytics"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}
