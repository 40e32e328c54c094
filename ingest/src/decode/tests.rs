use bytes::Bytes;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use riverwatch_core::hj212::{CpData, CpItem, Flag, Frame, Version, split_packets};
use riverwatch_core::registry::Registry;
use riverwatch_core::topics::TopicKind;
use riverwatch_core::{DataFlag, Period, ReasonCode};

use super::password::{StationPasswords, mask_pw};
use super::reassembly::{Limits, Offer, Reassembler};
use super::*;

/// Parsed once: proptest runs thousands of cases.
fn registry() -> &'static Registry {
    static R: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    R.get_or_init(|| Registry::builtin().unwrap())
}

fn validator(r: &'static Registry) -> Validator<'static> {
    static NONE: std::sync::OnceLock<StationPasswords> = std::sync::OnceLock::new();
    Validator {
        registry: r,
        future_tolerance: chrono::Duration::minutes(10),
        max_payload_bytes: 64 * 1024,
        passwords: NONE.get_or_init(StationPasswords::new),
        mg_m3_stations: NO_MG.get_or_init(std::collections::HashSet::new),
    }
}

static NO_MG: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();

/// The password of LLH-CJG in the tests that configure one; LLH-HK has none.
const SECRET: &str = "s3cret";

/// A validator for which LLH-CJG has the access password [`SECRET`].
fn guarded(r: &'static Registry) -> Validator<'static> {
    static ONE: std::sync::OnceLock<StationPasswords> = std::sync::OnceLock::new();
    Validator {
        passwords: ONE.get_or_init(|| {
            let mut p = StationPasswords::new();
            p.insert("LLH-CJG".into(), SECRET);
            p
        }),
        ..validator(r)
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 0, 5, 0).unwrap()
}

fn run(kind: TopicKind, station: &str, payload: &[u8]) -> Outcome {
    run_with(validator(registry()), kind, station, payload)
}

fn run_with(v: Validator<'_>, kind: TopicKind, station: &str, payload: &[u8]) -> Outcome {
    let payload = Bytes::copy_from_slice(payload);
    let topic = format!(
        "rw/v1/{}/{station}",
        if kind == TopicKind::Hj212 {
            "hj212"
        } else {
            "obs"
        }
    );
    let msg = Message {
        topic: &topic,
        payload: &payload,
        received_at: now(),
    };
    match v.decode(&msg, kind, station) {
        Decoded::Done(o) => o,
        Decoded::Partial(_) => panic!("unexpected partial"),
    }
}

fn codes(o: &Outcome) -> Vec<(ReasonCode, Option<String>)> {
    o.dead_letters
        .iter()
        .map(|d| (d.reason_code, d.parameter.clone()))
        .collect()
}

const GOOD: &str = r#"{"station":"LLH-CJG","ts":"2026-11-22T08:00:00+08:00","seq":1842,
 "values":{"pH":7.62,"DO":8.4,"CODMn":4.1,"NH3N":0.38,"TP":0.07,"TN":1.21,"WT":2.8,"COND":312,"TURB":11.5},
 "flags":{"TP":"M"}}"#;

#[test]
fn the_design_example_is_accepted_with_its_flag() {
    let o = run(TopicKind::Obs, "LLH-CJG", GOOD.as_bytes());
    assert!(o.dead_letters.is_empty(), "{:?}", o.dead_letters);
    assert_eq!(o.readings.len(), 9);
    let tp = o.readings.iter().find(|r| r.parameter == "TP").unwrap();
    assert_eq!(tp.value, 0.07);
    assert_eq!(tp.flag, DataFlag::M);
    assert!(!tp.is_valid());
    assert_eq!(
        tp.observed_at,
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()
    );
    assert_eq!(tp.received_at, now());
    let ph = o.readings.iter().find(|r| r.parameter == "pH").unwrap();
    assert_eq!(ph.flag, DataFlag::N);
    assert_eq!(ph.period, Period::Sample);
}

#[test]
fn epoch_milliseconds_and_a_missing_station_field_are_accepted() {
    let ms = Utc
        .with_ymd_and_hms(2026, 11, 22, 0, 0, 0)
        .unwrap()
        .timestamp_millis();
    let body = format!(r#"{{"ts":{ms},"values":{{"PM25":35}},"period":"hour"}}"#);
    let o = run(TopicKind::Obs, "AIR-SC", body.as_bytes());
    assert_eq!(o.readings.len(), 1, "{:?}", o.dead_letters);
    assert_eq!(o.readings[0].period, Period::Hour);
}

#[test]
fn good_values_are_kept_and_bad_ones_dead_lettered_one_by_one() {
    let body = r#"{"ts":"2026-11-22T08:00:00+08:00","values":{"pH":15,"DO":"high","NH3N":0.5,
        "XYZ":1,"PM25":30,"TP":1e999,"TN":null,"WT":3},"flags":{"WT":"Q"}}"#;
    let o = run(TopicKind::Obs, "LLH-CJG", body.as_bytes());
    let got: Vec<&str> = o.readings.iter().map(|r| r.parameter.as_str()).collect();
    assert_eq!(got, vec!["NH3N"]);
    let mut dead = codes(&o);
    dead.sort();
    let p = |s: &str| Some(s.to_string());
    assert_eq!(
        dead,
        vec![
            (ReasonCode::UnknownParameter, p("PM25")),
            (ReasonCode::UnknownParameter, p("XYZ")),
            (ReasonCode::InvalidValue, p("DO")),
            (ReasonCode::InvalidValue, p("TN")),
            (ReasonCode::InvalidValue, p("TP")),
            (ReasonCode::InvalidValue, p("WT")),
            (ReasonCode::OutOfRange, p("pH")),
        ]
    );
    for d in &o.dead_letters {
        assert_eq!(d.payload.as_ref(), body.as_bytes());
        assert_eq!(d.topic, "rw/v1/obs/LLH-CJG");
        assert!(!d.reason.is_empty());
    }
}

#[test]
fn whole_message_rejections_have_their_reason_codes() {
    let cases: Vec<(&str, &[u8], ReasonCode)> = vec![
        ("LLH-CJG", b"{not json", ReasonCode::MalformedJson),
        ("LLH-CJG", b"\xff\xfe", ReasonCode::MalformedJson),
        (
            "LLH-CJG",
            br#"{"values":{"pH":7}}"#,
            ReasonCode::MalformedJson,
        ),
        (
            "LLH-CJG",
            br#"{"ts":"2026-11-22 08:00","values":{"pH":7}}"#,
            ReasonCode::MalformedJson,
        ),
        (
            "LLH-CJG",
            br#"{"ts":"2026-11-22T08:00:00+08:00","values":{}}"#,
            ReasonCode::MalformedJson,
        ),
        (
            "LLH-CJG",
            br#"{"station":"LLH-HK","ts":"2026-11-22T08:00:00+08:00","values":{"pH":7}}"#,
            ReasonCode::MalformedJson,
        ),
        (
            "NOPE-1",
            br#"{"ts":"2026-11-22T08:00:00+08:00","values":{"pH":7}}"#,
            ReasonCode::UnknownStation,
        ),
        (
            "LLH-CJG",
            br#"{"ts":"2026-11-22T08:16:00+08:00","values":{"pH":7}}"#,
            ReasonCode::TimestampOutOfRange,
        ),
        (
            "LLH-CJG",
            br#"{"ts":"1999-12-31T23:00:00Z","values":{"pH":7}}"#,
            ReasonCode::TimestampOutOfRange,
        ),
    ];
    for (station, body, want) in cases {
        let o = run(TopicKind::Obs, station, body);
        assert!(o.readings.is_empty(), "{}", String::from_utf8_lossy(body));
        assert_eq!(
            codes(&o),
            vec![(want, None)],
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Within the 10-minute tolerance: accepted.
    let o = run(
        TopicKind::Obs,
        "LLH-CJG",
        br#"{"ts":"2026-11-22T08:14:00+08:00","values":{"pH":7}}"#,
    );
    assert_eq!(o.readings.len(), 1);
}

#[test]
fn oversized_payloads_are_rejected_before_parsing() {
    let big = vec![b' '; 64 * 1024 + 1];
    let o = run(TopicKind::Obs, "LLH-CJG", &big);
    assert_eq!(codes(&o), vec![(ReasonCode::PayloadTooLarge, None)]);
    assert_eq!(o.dead_letters[0].payload.len(), big.len());
}

fn frame(version: Version, cn: &str, mn: &str, cp: &CpData) -> Frame {
    Frame {
        qn: Some("20261122080000123".into()),
        st: "21".into(),
        cn: cn.into(),
        pw: "123456".into(),
        mn: mn.into(),
        flag: Flag::new(version, false, false),
        pnum: None,
        pno: None,
        cp: cp.render(),
    }
}

fn water_cp() -> CpData {
    let item = |code: &str, avg: &str, flag: &str| {
        let mut i = CpItem::new(code);
        i.avg = Some(avg.into());
        i.min = Some(avg.into());
        i.max = Some(avg.into());
        i.flag = Some(flag.into());
        i
    };
    CpData {
        data_time: chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(8, 0, 0),
        items: vec![
            item("w01010", "2.8", "N"),
            item("w01001", "7.62", "N"),
            item("w01009", "8.4", "N"),
            item("w21003", "0.38", "C"),
            item("w21011", "0.07", "N"),
        ],
        extra: vec![],
    }
}

#[test]
fn hj212_hourly_frames_of_every_accepted_edition_become_readings() {
    let mn = registry().station("LLH-CJG").unwrap().mn.clone();
    for version in [
        Version::Hj212_2005,
        Version::Hj212_2017,
        Version::Hj212_2025,
    ] {
        let f = frame(version, "2061", &mn, &water_cp());
        let o = run(TopicKind::Hj212, "LLH-CJG", f.encode().as_bytes());
        assert!(o.dead_letters.is_empty(), "{version}: {:?}", o.dead_letters);
        assert_eq!(o.readings.len(), 5);
        let nh3 = o.readings.iter().find(|r| r.parameter == "NH3N").unwrap();
        assert_eq!(nh3.value, 0.38);
        assert_eq!(nh3.flag, DataFlag::C);
        assert_eq!(nh3.period, Period::Hour);
        // DataTime is China Standard Time.
        assert_eq!(
            nh3.observed_at,
            Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()
        );
    }
}

#[test]
fn hj212_realtime_frames_use_rtd_and_legacy_codes_are_mapped() {
    let mn = registry().station("LLH-CJG").unwrap().mn.clone();
    let mut i = CpItem::new("060");
    i.rtd = Some("0.51".into());
    let cp = CpData {
        data_time: chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(8, 0, 30),
        items: vec![i],
        extra: vec![],
    };
    let f = frame(Version::Hj212_2005, "2011", &mn, &cp);
    let o = run(TopicKind::Hj212, "LLH-CJG", f.encode().as_bytes());
    assert_eq!(o.readings.len(), 1, "{:?}", o.dead_letters);
    assert_eq!(o.readings[0].parameter, "NH3N");
    assert_eq!(o.readings[0].period, Period::Sample);
}

#[test]
fn hj212_rejections_have_their_reason_codes() {
    let r = registry();
    let mn = r.station("LLH-CJG").unwrap().mn.clone();
    let good = frame(Version::Hj212_2017, "2061", &mn, &water_cp()).encode();

    let mut bad_crc = good.clone().into_bytes();
    let n = bad_crc.len();
    bad_crc[n - 3] = if bad_crc[n - 3] == b'0' { b'1' } else { b'0' };
    let o = run(TopicKind::Hj212, "LLH-CJG", &bad_crc);
    assert_eq!(codes(&o), vec![(ReasonCode::CrcMismatch, None)]);

    let mut bad_len = good.clone().into_bytes();
    bad_len[5] = if bad_len[5] == b'9' { b'8' } else { b'9' };
    let o = run(TopicKind::Hj212, "LLH-CJG", &bad_len);
    assert_eq!(codes(&o), vec![(ReasonCode::LengthMismatch, None)]);

    let o = run(TopicKind::Hj212, "LLH-CJG", b"QN=1;ST=21");
    assert_eq!(codes(&o), vec![(ReasonCode::MalformedFrame, None)]);

    let mut v3 = frame(Version::Hj212_2017, "2061", &mn, &water_cp());
    v3.flag = Flag(3 << 2);
    let o = run(TopicKind::Hj212, "LLH-CJG", v3.encode().as_bytes());
    assert_eq!(codes(&o), vec![(ReasonCode::UnsupportedVersion, None)]);

    let stranger = frame(Version::Hj212_2017, "2061", "99999999999999", &water_cp()).encode();
    let o = run(TopicKind::Hj212, "LLH-CJG", stranger.as_bytes());
    assert_eq!(codes(&o), vec![(ReasonCode::UnknownStation, None)]);

    let o = run(TopicKind::Hj212, "LLH-HK", good.as_bytes());
    assert_eq!(
        codes(&o),
        vec![(ReasonCode::UnknownStation, None)],
        "MN of another station"
    );

    let heartbeat = frame(Version::Hj212_2017, "1062", &mn, &CpData::default()).encode();
    let o = run(TopicKind::Hj212, "LLH-CJG", heartbeat.as_bytes());
    assert_eq!(codes(&o), vec![(ReasonCode::MalformedFrame, None)]);

    let mut cp = water_cp();
    cp.items[0].code = "w99999".into();
    cp.items[1].avg = Some("abc".into());
    cp.items[2].avg = Some("99".into());
    let f = frame(Version::Hj212_2017, "2061", &mn, &cp);
    let o = run(TopicKind::Hj212, "LLH-CJG", f.encode().as_bytes());
    assert_eq!(o.readings.len(), 2);
    let mut dead = codes(&o);
    dead.sort();
    assert_eq!(
        dead,
        vec![
            (ReasonCode::UnknownParameter, Some("w99999".into())),
            (ReasonCode::InvalidValue, Some("pH".into())),
            (ReasonCode::OutOfRange, Some("DO".into())),
        ]
    );
}

#[test]
fn packets_are_reassembled_in_any_order_and_a_redelivered_copy_is_a_duplicate() {
    let r = registry();
    let v = validator(r);
    let mn = r.station("LLH-CJG").unwrap().mn.clone();
    let template = frame(Version::Hj212_2017, "2061", &mn, &CpData::default());
    let packets = split_packets(&template, &water_cp(), 160);
    assert!(packets.len() >= 3, "{}", packets.len());
    let mut re = Reassembler::new(Limits::timeout_only(std::time::Duration::from_secs(60)));
    let topic = "rw/v1/hj212/LLH-CJG";
    let mut order: Vec<usize> = (0..packets.len()).rev().collect();
    order.insert(1, packets.len() - 1); // a redelivered copy
    let mut complete = None;
    let (mut kept, mut duplicates) = (0, 0);
    for &i in &order {
        let payload = Bytes::from(packets[i].encode());
        let msg = Message {
            topic,
            payload: &payload,
            received_at: now(),
        };
        let Decoded::Partial(p) = v.decode(&msg, TopicKind::Hj212, "LLH-CJG") else {
            panic!("packet {i} not partial");
        };
        match re.offer(*p, topic, payload.clone(), now()) {
            Offer::Complete(c) => {
                assert!(complete.is_none());
                complete = Some(c);
            }
            Offer::Kept(_) => kept += 1,
            Offer::Duplicate => duplicates += 1,
            Offer::Refused(d) => panic!("refused: {}", d.reason),
        }
    }
    let c = complete.expect("message completed");
    assert_eq!((kept, duplicates), (packets.len() - 1, 1));
    assert_eq!(c.packets, packets.len());
    let cp = c.cp.unwrap();
    let station = r.station(c.station.as_str()).unwrap();
    let msg = Message {
        topic,
        payload: &c.payload,
        received_at: c.received_at,
    };
    let o = hj212::values(&v, &msg, station, &c.frame, &cp);
    assert_eq!(o.readings.len(), 5, "{:?}", o.dead_letters);
    assert_eq!(re.waiting(), 0);
}

/// A frame of LLH-CJG's water values with this `PW`.
fn frame_with_pw(pw: &str) -> Frame {
    let mn = registry().station("LLH-CJG").unwrap().mn.clone();
    let mut f = frame(Version::Hj212_2017, "2061", &mn, &water_cp());
    f.pw = pw.into();
    f
}

/// Wraps a data segment into a frame with its length and CRC.
fn wrap(segment: &str) -> Vec<u8> {
    let crc = riverwatch_core::hj212::crc::crc16(segment.as_bytes());
    format!("##{:04}{segment}{crc:04X}\r\n", segment.len()).into_bytes()
}

#[test]
fn a_station_with_a_password_stores_frames_that_carry_it() {
    let v = guarded(registry());
    let f = frame_with_pw(SECRET).encode();
    let o = run_with(v, TopicKind::Hj212, "LLH-CJG", f.as_bytes());
    assert!(o.dead_letters.is_empty(), "{:?}", o.dead_letters);
    assert_eq!(o.readings.len(), 5);
}

#[test]
fn a_wrong_password_is_refused_with_the_password_masked_in_the_stored_bytes() {
    let v = guarded(registry());
    for wrong in ["123456", "s3cre", "s3crett", "S3CRET", "x"] {
        let sent = frame_with_pw(wrong).encode();
        let o = run_with(v, TopicKind::Hj212, "LLH-CJG", sent.as_bytes());
        assert!(o.readings.is_empty(), "{wrong}: {:?}", o.readings);
        assert_eq!(codes(&o), vec![(ReasonCode::BadPassword, None)], "{wrong}");
        let d = &o.dead_letters[0];
        // The stored bytes are the received ones with exactly the PW value replaced by six
        // asterisks; the length and CRC fields are those received.
        let want = sent.replacen(&format!(";PW={wrong};"), ";PW=******;", 1);
        assert_ne!(want, sent);
        assert_eq!(std::str::from_utf8(&d.payload).unwrap(), want, "{wrong}");
        assert_eq!(d.station.as_deref(), Some("LLH-CJG"));
        assert!(d.reason.contains("******"), "{}", d.reason);
        assert!(d.reason.contains("LLH-CJG"), "{}", d.reason);
        assert!(!d.reason.contains(wrong), "{}", d.reason);
    }
}

#[test]
fn a_missing_or_empty_password_is_refused() {
    let r = registry();
    let v = guarded(r);
    let mn = r.station("LLH-CJG").unwrap().mn.clone();
    let cp = water_cp().render();
    let empty = frame_with_pw("").encode().into_bytes();
    assert!(std::str::from_utf8(&empty).unwrap().contains(";PW=;"));
    let absent = wrap(&format!(
        "QN=20261122080000123;ST=21;CN=2061;MN={mn};Flag=5;CP=&&{cp}&&"
    ));
    for sent in [empty, absent] {
        let o = run_with(v, TopicKind::Hj212, "LLH-CJG", &sent);
        assert!(o.readings.is_empty());
        assert_eq!(codes(&o), vec![(ReasonCode::BadPassword, None)]);
        let d = &o.dead_letters[0];
        assert_eq!(&d.payload[..], &sent[..], "nothing to mask");
        assert!(d.reason.contains("no access password"), "{}", d.reason);
    }
}

#[test]
fn a_station_without_a_password_is_not_checked() {
    let r = registry();
    let v = guarded(r);
    let mn = r.station("LLH-HK").unwrap().mn.clone();
    for pw in ["123456", "", SECRET] {
        let mut f = frame(Version::Hj212_2017, "2061", &mn, &water_cp());
        f.pw = pw.into();
        let o = run_with(v, TopicKind::Hj212, "LLH-HK", f.encode().as_bytes());
        assert!(o.dead_letters.is_empty(), "{pw}: {:?}", o.dead_letters);
        assert_eq!(o.readings.len(), 5);
    }
    // Nor are JSON observations, which have no password field.
    let o = run_with(v, TopicKind::Obs, "LLH-CJG", GOOD.as_bytes());
    assert_eq!(o.readings.len(), 9);
}

#[test]
fn every_packet_of_a_split_message_must_carry_the_password() {
    let r = registry();
    let v = guarded(r);
    for (pw, partial) in [(SECRET, true), ("wrong", false)] {
        let template = frame_with_pw(pw);
        let packets = split_packets(&template, &water_cp(), 160);
        assert!(packets.len() >= 2);
        for p in &packets {
            let payload = Bytes::from(p.encode());
            let msg = Message {
                topic: "rw/v1/hj212/LLH-CJG",
                payload: &payload,
                received_at: now(),
            };
            match v.decode(&msg, TopicKind::Hj212, "LLH-CJG") {
                Decoded::Partial(_) => assert!(partial, "a packet with a wrong PW was kept"),
                Decoded::Done(o) => {
                    assert!(!partial, "{:?}", o.dead_letters);
                    assert_eq!(codes(&o), vec![(ReasonCode::BadPassword, None)]);
                    assert!(mask_pw(&o.dead_letters[0].payload).is_none());
                }
            }
        }
    }
}

#[test]
fn other_rejections_of_a_guarded_station_do_not_keep_its_password() {
    let r = registry();
    let v = guarded(r);
    // A bad value next to good ones: the good are stored, the dead letter's bytes masked.
    let mut f = frame_with_pw(SECRET);
    let mut cp = water_cp();
    cp.items[2].avg = Some("99".into());
    f.cp = cp.render();
    let sent = f.encode();
    let o = run_with(v, TopicKind::Hj212, "LLH-CJG", sent.as_bytes());
    assert_eq!(o.readings.len(), 4);
    assert_eq!(codes(&o), vec![(ReasonCode::OutOfRange, Some("DO".into()))]);
    let d = &o.dead_letters[0];
    let want = sent.replacen(&format!(";PW={SECRET};"), ";PW=******;", 1);
    assert_eq!(std::str::from_utf8(&d.payload).unwrap(), want);
    assert!(
        d.reason
            .ends_with("replaced by ****** in the stored payload"),
        "{}",
        d.reason
    );
    // A broken CRC, and LLH-CJG's MN on another station's topic.
    let mut bad_crc = sent.clone().into_bytes();
    let n = bad_crc.len();
    bad_crc[n - 3] = if bad_crc[n - 3] == b'0' { b'1' } else { b'0' };
    let cases = [
        ("LLH-CJG", bad_crc, ReasonCode::CrcMismatch),
        (
            "LLH-HK",
            sent.clone().into_bytes(),
            ReasonCode::UnknownStation,
        ),
    ];
    for (topic_station, bytes, code) in cases {
        let o = run_with(v, TopicKind::Hj212, topic_station, &bytes);
        assert_eq!(codes(&o), vec![(code, None)]);
        let kept = &o.dead_letters[0].payload;
        assert!(!String::from_utf8_lossy(kept).contains(SECRET), "{code}");
        assert!(
            String::from_utf8_lossy(kept).contains(";PW=******;"),
            "{code}"
        );
    }
    // Without a password configured the bytes stay exactly as received.
    let o = run(TopicKind::Hj212, "LLH-CJG", sent.as_bytes());
    assert_eq!(&o.dead_letters[0].payload[..], sent.as_bytes());
    assert!(!o.dead_letters[0].reason.contains("******"));
}

#[test]
fn an_incomplete_message_expires_into_one_dead_letter() {
    let r = registry();
    let v = validator(r);
    let mn = r.station("LLH-CJG").unwrap().mn.clone();
    let template = frame(Version::Hj212_2017, "2061", &mn, &CpData::default());
    let packets = split_packets(&template, &water_cp(), 160);
    let mut re = Reassembler::new(Limits::timeout_only(std::time::Duration::from_secs(60)));
    let payload = Bytes::from(packets[0].encode());
    let msg = Message {
        topic: "t",
        payload: &payload,
        received_at: now(),
    };
    let Decoded::Partial(p) = v.decode(&msg, TopicKind::Hj212, "LLH-CJG") else {
        panic!()
    };
    assert!(matches!(
        re.offer(*p, "t", payload.clone(), now()),
        Offer::Kept(_)
    ));
    assert!(re.expire(now() + chrono::Duration::seconds(59)).is_empty());
    let expired = re.expire(now() + chrono::Duration::seconds(60));
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].packets, 1);
    assert_eq!(
        expired[0].dead_letter.reason_code,
        ReasonCode::ReassemblyTimeout
    );
    assert!(
        expired[0].dead_letter.reason.contains("incomplete"),
        "{}",
        expired[0].dead_letter.reason
    );
    assert_eq!(expired[0].dead_letter.payload, payload);
}

#[test]
fn a_parameter_given_twice_in_json_is_dead_lettered_not_resolved() {
    let o = run(
        TopicKind::Obs,
        "LLH-CJG",
        br#"{"ts":"2026-11-22T08:00:00+08:00","values":{"NH3N":2.5,"pH":7.6,"NH3N":0.1}}"#,
    );
    // pH is stored; NH3N is neither 2.5 nor 0.1 but one duplicate_key dead letter.
    assert_eq!(o.readings.len(), 1, "{:?}", o.readings);
    assert_eq!(o.readings[0].parameter, "pH");
    assert_eq!(
        codes(&o),
        vec![(ReasonCode::DuplicateKey, Some("NH3N".to_string()))]
    );
    let reason = &o.dead_letters[0].reason;
    assert!(reason.contains("2.5") && reason.contains("0.1"), "{reason}");

    // A flag given twice for one parameter is as ambiguous.
    let o = run(
        TopicKind::Obs,
        "LLH-CJG",
        br#"{"ts":"2026-11-22T08:00:00+08:00","values":{"TP":0.07},"flags":{"TP":"N","TP":"M"}}"#,
    );
    assert!(o.readings.is_empty());
    assert_eq!(
        codes(&o),
        vec![(ReasonCode::DuplicateKey, Some("TP".to_string()))]
    );
}

#[test]
fn two_hj212_codes_of_one_parameter_are_dead_lettered_not_resolved() {
    let mn = registry().station("LLH-CJG").unwrap().mn.clone();
    let item = |code: &str, rtd: &str| {
        let mut i = CpItem::new(code);
        i.rtd = Some(rtd.into());
        i
    };
    let cp = CpData {
        data_time: chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(8, 0, 30),
        // 060 (HJ/T 212-2005) and w21003 (2017) are both ammonia nitrogen.
        items: vec![
            item("060", "0.51"),
            item("w01001", "7.6"),
            item("w21003", "0.12"),
        ],
        extra: vec![],
    };
    let f = frame(Version::Hj212_2005, "2011", &mn, &cp);
    let o = run(TopicKind::Hj212, "LLH-CJG", f.encode().as_bytes());
    assert_eq!(o.readings.len(), 1, "{:?}", o.readings);
    assert_eq!(o.readings[0].parameter, "pH");
    assert_eq!(
        codes(&o),
        vec![(ReasonCode::DuplicateKey, Some("NH3N".to_string()))]
    );
    let reason = &o.dead_letters[0].reason;
    assert!(
        reason.contains("060=0.51") && reason.contains("w21003=0.12"),
        "{reason}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn json_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let o = run(TopicKind::Obs, "LLH-CJG", &bytes);
        prop_assert!(!o.readings.is_empty() || !o.dead_letters.is_empty());
    }

    #[test]
    fn json_like_text_never_panics(s in r#"\{("(ts|values|flags|station|period)":([0-9eE.+-]{0,12}|"[^"]{0,20}"|\{("[A-Za-z0-9]{1,5}":[^,}]{0,8},?){0,4}\}),?){0,5}\}"#) {
        let _ = run(TopicKind::Obs, "LLH-CJG", s.as_bytes());
    }

    #[test]
    fn hj212_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let r = registry();
        let v = validator(r);
        let payload = Bytes::from(bytes);
        let msg = Message { topic: "rw/v1/hj212/LLH-CJG", payload: &payload, received_at: now() };
        let _ = v.decode(&msg, TopicKind::Hj212, "LLH-CJG");
    }

    #[test]
    fn no_dead_letter_of_a_guarded_station_keeps_a_pw_value(pos in 0usize..400, byte in any::<u8>()) {
        let v = guarded(registry());
        let mut f = frame_with_pw(SECRET).encode().into_bytes();
        let n = f.len();
        f[pos % n] = byte;
        let payload = Bytes::from(f);
        let msg = Message { topic: "rw/v1/hj212/LLH-CJG", payload: &payload, received_at: now() };
        if let Decoded::Done(o) = v.decode(&msg, TopicKind::Hj212, "LLH-CJG") {
            for d in &o.dead_letters {
                prop_assert!(mask_pw(&d.payload).is_none(), "{}: {:?}", d.reason, d.payload);
            }
        }
    }

    #[test]
    fn mutated_hj212_frames_never_panic(pos in 0usize..400, byte in any::<u8>()) {
        let r = registry();
        let v = validator(r);
        let mn = r.station("LLH-CJG").unwrap().mn.clone();
        let mut f = frame(Version::Hj212_2017, "2061", &mn, &water_cp()).encode().into_bytes();
        let n = f.len();
        f[pos % n] = byte;
        let payload = Bytes::from(f);
        let msg = Message { topic: "rw/v1/hj212/LLH-CJG", payload: &payload, received_at: now() };
        let _ = v.decode(&msg, TopicKind::Hj212, "LLH-CJG");
    }
}

/// One generated message: its topic, payload, observation time and, per key it gives (JSON
/// key or HJ 212 code, in order, repeats included), the parameter that key names (as a dead
/// letter of that value would name it) and the value text.
#[derive(Debug, Clone)]
struct Generated {
    topic: String,
    payload: Bytes,
    at: DateTime<Utc>,
    values: Vec<(String, String)>,
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()
}

fn arb_json() -> impl Strategy<Value = Generated> {
    let key = prop::sample::select(vec!["pH", "DO", "NH3N", "TP", "XYZ"]);
    let value = prop::sample::select(vec!["7.1", "7.2", "0.5", "99999", "\"x\"", "-1"]);
    (0i64..3, prop::collection::vec((key, value), 1..6)).prop_map(|(minute, kv)| {
        let at = base() + chrono::Duration::minutes(minute);
        let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        Generated {
            topic: "rw/v1/obs/LLH-CJG".into(),
            payload: Bytes::from(format!(
                r#"{{"ts":"{}","values":{{{}}}}}"#,
                at.to_rfc3339(),
                body.join(",")
            )),
            at,
            values: kv
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    })
}

fn arb_hj212() -> impl Strategy<Value = Generated> {
    // 060 (2005) and w21003 (2017) are both ammonia nitrogen.
    let codes = prop::sample::subsequence(vec!["w01001", "w21003", "060", "w99999"], 1..=4);
    let value = prop::sample::select(vec!["7.1", "7.2", "0.5", "99999", "x"]);
    (0i64..3, codes, prop::collection::vec(value, 4)).prop_map(|(minute, codes, values)| {
        let at = base() + chrono::Duration::minutes(minute);
        let mn = registry().station("LLH-CJG").unwrap().mn.clone();
        let items: Vec<CpItem> = codes
            .iter()
            .zip(&values)
            .map(|(code, v)| {
                let mut i = CpItem::new(*code);
                i.rtd = Some((*v).into());
                i
            })
            .collect();
        let cp = CpData {
            data_time: Some((at + chrono::Duration::hours(8)).naive_utc()),
            items,
            extra: vec![],
        };
        let f = frame(Version::Hj212_2017, "2011", &mn, &cp);
        let param = |code: &'static str| match code {
            "w01001" => "pH",
            "w21003" | "060" => "NH3N",
            other => other,
        };
        Generated {
            topic: "rw/v1/hj212/LLH-CJG".into(),
            payload: Bytes::from(f.encode()),
            at,
            values: codes
                .iter()
                .zip(&values)
                .map(|(code, v)| (param(code).to_string(), (*v).to_string()))
                .collect(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Messages go through decoding, the real SQLite store and the committer's conflict
    /// rule in two batches; afterwards every value of every message is accounted for: it is
    /// the stored value of its (station, parameter, time), or a dead letter of that message
    /// names its parameter or the whole message. Nothing is lost or silently replaced.
    #[test]
    fn stored_readings_and_dead_letters_account_for_every_value(
        messages in prop::collection::vec(prop_oneof![arb_json(), arb_hj212()], 1..12),
        split in 0usize..12,
    ) {
        use riverwatch_core::store_api::{DeadLetterQuery, ReadingQuery, WriteBatch};
        use crate::pipeline::{Origin, conflict_dead_letters};
        use crate::store::sqlite::test_sqlite_config;
        use crate::store::{SqliteReader, SqliteStore};

        let v = validator(registry());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
        let split = split.min(messages.len());
        for part in [&messages[..split], &messages[split..]] {
            let mut write = WriteBatch::default();
            let mut origins = Vec::new();
            for m in part {
                let msg = Message { topic: &m.topic, payload: &m.payload, received_at: now() };
                let kind = if m.topic.contains("hj212") { TopicKind::Hj212 } else { TopicKind::Obs };
                let Decoded::Done(o) = v.decode(&msg, kind, "LLH-CJG") else {
                    panic!("a single frame is never partial")
                };
                if !o.readings.is_empty() {
                    origins.push(Origin {
                        end: write.readings.len() + o.readings.len(),
                        topic: m.topic.clone(),
                        payload: m.payload.clone(),
                        received_at: now(),
                    });
                }
                write.readings.extend(o.readings);
                write.dead_letters.extend(o.dead_letters);
            }
            let report = store.write_blocking(&write).unwrap();
            let conflicts = conflict_dead_letters(&write, &origins, &report.conflicts);
            prop_assert_eq!(conflicts.len(), report.conflicts.len());
            store
                .write_blocking(&WriteBatch { readings: vec![], dead_letters: conflicts, held: Vec::new() })
                .unwrap();
        }
        let reader = SqliteReader::open(&path).unwrap();
        let stored = reader.query_blocking(&ReadingQuery::default()).unwrap();
        let dead = reader.dead_letters_blocking(&DeadLetterQuery::default()).unwrap();
        for m in &messages {
            let whole = dead.iter().any(|d| d.payload == m.payload && d.parameter.is_none());
            for (param, text) in &m.values {
                let named = dead
                    .iter()
                    .any(|d| d.payload == m.payload && d.parameter.as_deref() == Some(param));
                let value = RawValue::parse(text);
                let kept = stored.iter().any(|r| {
                    r.parameter == param.as_str()
                        && r.observed_at == m.at
                        && RawValue::Number(r.value) == value
                });
                prop_assert!(
                    whole || named || kept,
                    "{} = {} of {:?} is neither stored nor dead-lettered",
                    param,
                    text,
                    String::from_utf8_lossy(&m.payload)
                );
            }
        }
        // And nothing is stored that no message gave.
        for r in &stored {
            prop_assert!(messages.iter().any(|m| m.at == r.observed_at
                && m.values.iter().any(|(p, t)| r.parameter == p.as_str()
                    && RawValue::parse(t) == RawValue::Number(r.value))));
        }
    }
}

#[test]
fn a_station_sending_mg_per_m3_has_its_microgram_parameters_converted() {
    // HJ 212's code table gives SO2 (a21026) and PM2.5 (a34004) in mg/m³; the registry keeps
    // them in µg/m³ (GB 3095-2012): 0.035 mg/m³ is 35 µg/m³. CO (a21005) is mg/m³ in both
    // and stays as sent.
    static MG: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    let v = Validator {
        mg_m3_stations: MG.get_or_init(|| ["AIR-HRB".to_string()].into_iter().collect()),
        ..validator(registry())
    };
    let station = registry().station("AIR-HRB").unwrap();
    let mut data = CpData {
        data_time: Some(
            chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap(),
        ),
        ..CpData::default()
    };
    for (code, value) in [("a21026", "0.035"), ("a34004", "0.075"), ("a21005", "1.2")] {
        let mut item = CpItem::new(code);
        item.avg = Some(value.into());
        data.items.push(item);
    }
    let frame = Frame {
        qn: Some("20261122080000000".into()),
        st: "22".into(),
        cn: "2061".into(),
        pw: "123456".into(),
        mn: station.mn.clone(),
        flag: Flag::new(Version::Hj212_2017, true, false),
        pnum: None,
        pno: None,
        cp: data.render(),
    };
    let values = |v: Validator<'_>| -> Vec<(String, f64)> {
        let o = run_with(v, TopicKind::Hj212, "AIR-HRB", frame.encode().as_bytes());
        assert!(o.dead_letters.is_empty(), "{:?}", o.dead_letters);
        let mut out: Vec<(String, f64)> = o
            .readings
            .iter()
            .map(|r| (r.parameter.to_string(), r.value))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let close = |got: Vec<(String, f64)>, want: &[(&str, f64)]| {
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((p, x), (q, y)) in got.iter().zip(want) {
            assert_eq!(p, q);
            assert!((x - y).abs() < 1e-9, "{p}: {x} vs {y}");
        }
    };
    close(values(v), &[("CO", 1.2), ("PM25", 75.0), ("SO2", 35.0)]);
    // Without the setting, 0.035 is taken as µg/m³.
    close(
        values(validator(registry())),
        &[("CO", 1.2), ("PM25", 0.075), ("SO2", 0.035)],
    );
}
