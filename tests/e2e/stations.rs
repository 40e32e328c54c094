//! Stations are trusted only for their own readings: the HJ 212 access password per station
//! (through mosquitto into ingest), and the shipped broker configuration (`deploy/`: its ACL,
//! its listeners and the client id bound to the account) run by a real mosquitto.

use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, Version};
use riverwatch_core::pipeline::DeadLetterQuery;
use riverwatch_core::{DeadLetter, ReasonCode};
use riverwatch_ingest::config::IngestConfig;

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
