use std::sync::Arc;

use bytes::Bytes;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use riverwatch_core::store_api::{
    DeadLetterQuery, HeldChange, HeldPacket, ReadingQuery, StoreReader, StoreWriter, WriteBatch,
};
use riverwatch_core::{DataFlag, DeadLetter, ParamCode, Period, Reading, ReasonCode, StationId};
use riverwatch_testkit::MemoryStore;

use super::*;

fn reading(station: &str, param: &str, minute: i64, value: f64) -> Reading {
    let t =
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute);
    Reading {
        station: StationId::new(station),
        parameter: ParamCode::new(param),
        observed_at: t,
        received_at: t + chrono::Duration::seconds(3),
        value,
        flag: DataFlag::N,
        period: Period::Sample,
    }
}

fn dead(payload: &str, param: Option<&str>) -> DeadLetter {
    DeadLetter {
        received_at: Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap(),
        topic: "rw/v1/obs/LLH-CJG".into(),
        payload: Bytes::from(payload.to_string()),
        reason_code: ReasonCode::OutOfRange,
        reason: "pH 15 is above 14".into(),
        station: Some("LLH-CJG".into()),
        parameter: param.map(str::to_string),
    }
}

fn held(qn: &str, pno: u32) -> HeldPacket {
    HeldPacket {
        station: "LLH-CJG".into(),
        mn: "23018421000105".into(),
        qn: qn.into(),
        pno,
        pnum: 3,
        st: "21".into(),
        cn: "2061".into(),
        flag: 6,
        cp: format!("DataTime=20260110080000;w21003-Avg=0.{pno}"),
        topic: "rw/v1/hj212/LLH-CJG".into(),
        received_at: Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, pno).unwrap(),
        payload: Bytes::from(format!("##0100QN={qn};PW=******;PNO={pno}")),
    }
}

#[test]
fn held_packets_are_kept_released_in_order_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readings.db");
    let rt = runtime();
    rt.block_on(async {
        let mut store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
        let batch = WriteBatch {
            held: vec![
                HeldChange::Keep(held("a", 2)),
                HeldChange::Keep(held("a", 1)),
                HeldChange::Keep(held("b", 1)),
                // Released, then a new message under the same key in the same batch.
                HeldChange::Release {
                    mn: "23018421000105".into(),
                    qn: "b".into(),
                },
                HeldChange::Keep(held("b", 3)),
            ],
            ..WriteBatch::default()
        };
        store.write(Arc::new(batch)).await.unwrap();
        store.close().await.unwrap();
        let mut reopened = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
        let got = reopened.held_packets().await.unwrap();
        assert_eq!(got, vec![held("a", 1), held("a", 2), held("b", 3)]);
        // Releasing one message leaves the other.
        let release = WriteBatch {
            held: vec![HeldChange::Release {
                mn: "23018421000105".into(),
                qn: "a".into(),
            }],
            ..WriteBatch::default()
        };
        reopened.write(Arc::new(release)).await.unwrap();
        assert_eq!(reopened.held_packets().await.unwrap(), vec![held("b", 3)]);
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn stores_readings_once_and_reads_them_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readings.db");
    let rt = runtime();
    rt.block_on(async {
        let mut store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
        let mut r2 = reading("LLH-CJG", "pH", 0, 7.5);
        r2.flag = DataFlag::M;
        let batch = WriteBatch {
            readings: vec![
                reading("LLH-CJG", "NH3N", 60, 0.4),
                r2.clone(),
                reading("LLH-CJG", "NH3N", 0, 0.3),
            ],
            dead_letters: vec![],
            held: Vec::new(),
        };
        let report = store.write(Arc::new(batch.clone())).await.unwrap();
        assert_eq!(report.inserted, vec![true, true, true]);
        // Redelivery of the whole batch: nothing new.
        let report = store.write(Arc::new(batch)).await.unwrap();
        assert_eq!(report.inserted, vec![false, false, false]);
        assert_eq!(report.duplicates, 3);
        store.close().await.unwrap();

        let reader = SqliteReader::open(&path).unwrap();
        let all = reader.query(&ReadingQuery::default()).await.unwrap();
        let got: Vec<(String, f64)> = all
            .iter()
            .map(|r| (r.parameter.to_string(), r.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("NH3N".into(), 0.3),
                ("NH3N".into(), 0.4),
                ("pH".into(), 7.5)
            ]
        );
        assert_eq!(all[2].flag, DataFlag::M);
        assert_eq!(all[2], r2);
        let q = ReadingQuery {
            station: Some("LLH-CJG".into()),
            parameters: vec!["NH3N".into()],
            from: Some(Utc.with_ymd_and_hms(2026, 11, 22, 0, 30, 0).unwrap()),
            ..ReadingQuery::default()
        };
        let some = reader.query(&q).await.unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].value, 0.4);
        assert_eq!(reader.count_blocking().unwrap(), 3);
    });
}

#[test]
fn an_hourly_mean_and_a_sample_at_the_same_instant_are_both_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    let sample = reading("AIR-SC", "PM25", 0, 40.0);
    let mut hourly = sample.clone();
    hourly.period = Period::Hour;
    hourly.value = 38.0;
    let report = store
        .write_blocking(&WriteBatch {
            readings: vec![sample, hourly],
            dead_letters: vec![],
            held: Vec::new(),
        })
        .unwrap();
    assert_eq!(report.inserted, vec![true, true]);
}

#[test]
fn dead_letters_keep_raw_bytes_and_a_redelivered_one_is_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    let batch = WriteBatch {
        readings: vec![],
        dead_letters: vec![
            dead("{\"pH\":15}", Some("pH")),
            dead("{\"pH\":15}", Some("DO")),
        ],
        held: Vec::new(),
    };
    store.write_blocking(&batch).unwrap();
    store.write_blocking(&batch).unwrap();
    let reader = SqliteReader::open(&path).unwrap();
    let got = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].payload.as_ref(), b"{\"pH\":15}");
    assert_eq!(got[0].reason_code, ReasonCode::OutOfRange);
    let only = reader
        .dead_letters_blocking(&DeadLetterQuery {
            reason: Some(ReasonCode::CrcMismatch),
            ..Default::default()
        })
        .unwrap();
    assert!(only.is_empty());
    let last = reader
        .dead_letters_blocking(&DeadLetterQuery {
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].parameter.as_deref(), Some("DO"));
}

#[test]
fn a_resend_with_another_value_is_a_conflict_and_an_identical_one_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    let first = WriteBatch {
        readings: vec![
            reading("LLH-CJG", "NH3N", 0, 2.5),
            reading("LLH-CJG", "pH", 0, 7.5),
        ],
        dead_letters: vec![],
        held: Vec::new(),
    };
    store.write_blocking(&first).unwrap();
    let mut flagged = reading("LLH-CJG", "pH", 0, 7.5);
    flagged.flag = DataFlag::M;
    let resend = WriteBatch {
        readings: vec![
            // Another value for a stored key, an identical resend, another flag, a new
            // parameter, and, within the batch, two values for one new key.
            reading("LLH-CJG", "NH3N", 0, 0.1),
            reading("LLH-CJG", "NH3N", 0, 2.5),
            flagged,
            reading("LLH-CJG", "DO", 0, 8.0),
            reading("LLH-CJG", "TP", 0, 0.07),
            reading("LLH-CJG", "TP", 0, 0.09),
        ],
        dead_letters: vec![],
        held: Vec::new(),
    };
    let report = store.write_blocking(&resend).unwrap();
    assert_eq!(
        report.inserted,
        vec![false, false, false, true, true, false]
    );
    assert_eq!(report.duplicates, 1);
    assert_eq!(
        report.conflicts,
        vec![
            Conflict {
                index: 0,
                stored_value: 2.5,
                stored_flag: DataFlag::N
            },
            Conflict {
                index: 2,
                stored_value: 7.5,
                stored_flag: DataFlag::N
            },
            Conflict {
                index: 5,
                stored_value: 0.07,
                stored_flag: DataFlag::N
            },
        ]
    );
    // The stored values are the first ones.
    let reader = SqliteReader::open(&path).unwrap();
    let got: Vec<(String, f64, DataFlag)> = reader
        .query_blocking(&ReadingQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.parameter.to_string(), r.value, r.flag))
        .collect();
    assert_eq!(
        got,
        vec![
            ("DO".into(), 8.0, DataFlag::N),
            ("NH3N".into(), 2.5, DataFlag::N),
            ("TP".into(), 0.07, DataFlag::N),
            ("pH".into(), 7.5, DataFlag::N),
        ]
    );
}

/// A JSON observation with `n` parameters no registry knows, decoded as ingest does.
fn unknown_parameters(n: usize, received_at: DateTime<Utc>) -> Vec<DeadLetter> {
    use crate::decode::password::StationPasswords;
    use crate::decode::{Message, Validator};
    let registry = riverwatch_core::registry::Registry::builtin().unwrap();
    let passwords = StationPasswords::new();
    let v = Validator {
        registry: &registry,
        future_tolerance: chrono::Duration::minutes(10),
        max_payload_bytes: 256 * 1024,
        passwords: &passwords,
        mg_m3_stations: &std::collections::HashSet::new(),
    };
    let values: Vec<String> = (0..n).map(|i| format!("\"X{i:05}\":1.5")).collect();
    let payload = Bytes::from(format!(
        r#"{{"ts":"{}","values":{{{}}}}}"#,
        received_at.to_rfc3339(),
        values.join(",")
    ));
    let msg = Message {
        topic: "rw/v1/obs/LLH-CJG",
        payload: &payload,
        received_at,
    };
    crate::decode::json::decode(&v, &msg, "LLH-CJG").dead_letters
}

#[test]
fn a_message_with_3000_unknown_parameters_keeps_its_payload_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap();
    let dead = unknown_parameters(3000, at);
    assert_eq!(dead.len(), 3000);
    let payload_len = dead[0].payload.len() as u64;
    store
        .write_blocking(&WriteBatch {
            readings: vec![],
            dead_letters: dead.clone(),
            held: Vec::new(),
        })
        .unwrap();
    // Redelivered: nothing more.
    store
        .write_blocking(&WriteBatch {
            readings: vec![],
            dead_letters: dead,
            held: Vec::new(),
        })
        .unwrap();
    let reader = SqliteReader::open(&path).unwrap();
    assert_eq!(reader.dead_letter_payload_bytes().unwrap(), payload_len);
    let back = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    assert_eq!(back.len(), 3000, "every rejected parameter is listed");
    let params: std::collections::BTreeSet<String> =
        back.iter().filter_map(|d| d.parameter.clone()).collect();
    assert_eq!(params.len(), 3000);
    assert!(params.contains("X00000") && params.contains("X02999"));
    assert!(back.iter().all(|d| d.payload.len() as u64 == payload_len));
    // The payload is kept once; each rejected parameter adds a row of about 170 bytes with
    // its index entries, so the dead letters stay a small multiple of the message, where one
    // copy of the payload per dead letter was 3000 times it.
    let conn = Connection::open(&path).unwrap();
    let used: i64 = conn
        .query_row(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN \
             ('raw_messages', 'dead_letters', 'dead_letters_once', 'dead_letters_received')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        (used as u64) < 16 * payload_len,
        "dead letters take {used} bytes for a {payload_len}-byte message"
    );
}

fn small_retention(max_mib: u32, max_age_days: u32) -> SqliteConfig {
    SqliteConfig {
        dead_letter_max_mib: max_mib,
        dead_letter_max_age_days: max_age_days,
        ..test_sqlite_config()
    }
}

fn big_dead(i: usize, received_at: DateTime<Utc>) -> DeadLetter {
    DeadLetter {
        received_at,
        topic: "rw/v1/obs/LLH-CJG".into(),
        payload: Bytes::from(format!("{i:08}").repeat(64 * 1024 / 8)),
        reason_code: ReasonCode::PayloadTooLarge,
        reason: format!("message {i} is too large"),
        station: Some("LLH-CJG".into()),
        parameter: None,
    }
}

#[test]
fn the_size_retention_drops_the_oldest_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = SqliteStore::open(&path, &small_retention(1, 90)).unwrap();
    let dropped = riverwatch_core::telemetry::counter(
        "ingest_dead_letters_dropped_total",
        &[("cause", "size")],
    );
    let before = dropped.get();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap();
    // 40 messages of 64 KiB: 2.5 MiB against a 1 MiB limit.
    for i in 0..40 {
        store
            .write_blocking(&WriteBatch {
                readings: vec![],
                dead_letters: vec![big_dead(i, t0 + chrono::Duration::seconds(i as i64))],
                held: Vec::new(),
            })
            .unwrap();
    }
    let reader = SqliteReader::open(&path).unwrap();
    let kept = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    let kept_bytes = reader.dead_letter_payload_bytes().unwrap();
    assert!(kept_bytes <= 1024 * 1024, "{kept_bytes} bytes kept");
    assert!(kept.len() >= 12, "{} kept", kept.len());
    // The newest are kept, the oldest dropped.
    assert!(kept.last().unwrap().reason.contains("message 39"));
    assert!(!kept.iter().any(|d| d.reason.contains("message 0 ")));
    let gone = (40 - kept.len()) as u64;
    assert!(
        dropped.get() - before >= gone,
        "the metric counts the drops"
    );
}

#[test]
fn the_age_retention_drops_dead_letters_older_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = SqliteStore::open(&path, &small_retention(256, 30)).unwrap();
    let dropped = riverwatch_core::telemetry::counter(
        "ingest_dead_letters_dropped_total",
        &[("cause", "age")],
    );
    let before = dropped.get();
    let t0 = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap();
    let mut old = dead("{\"pH\":15}", Some("pH"));
    old.received_at = t0;
    store
        .write_blocking(&WriteBatch {
            readings: vec![],
            dead_letters: vec![old],
            held: Vec::new(),
        })
        .unwrap();
    let mut recent = dead("{\"pH\":16}", Some("pH"));
    recent.received_at = t0 + chrono::Duration::days(31);
    store
        .write_blocking(&WriteBatch {
            readings: vec![],
            dead_letters: vec![recent.clone()],
            held: Vec::new(),
        })
        .unwrap();
    let reader = SqliteReader::open(&path).unwrap();
    let kept = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    assert_eq!(kept, vec![recent]);
    assert_eq!(reader.dead_letter_payload_bytes().unwrap(), 9);
    assert!(dropped.get() > before);
}

#[test]
fn a_schema_2_file_keeps_its_dead_letters_with_each_payload_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readings.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('schema_version', '2');
             CREATE TABLE dead_letters (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL,
                 topic TEXT NOT NULL, reason_code TEXT NOT NULL, reason TEXT NOT NULL,
                 station TEXT, parameter TEXT, payload_hash INTEGER NOT NULL,
                 payload BLOB NOT NULL);
             CREATE UNIQUE INDEX dead_letters_once
                 ON dead_letters (payload_hash, topic, reason_code, ifnull(parameter, ''));
             CREATE INDEX dead_letters_received ON dead_letters (received_ms);
             INSERT INTO dead_letters VALUES
                 (1, 1795305600000, 'rw/v1/obs/LLH-CJG', 'unknown_parameter', 'a', 'LLH-CJG',
                  'X1', 7, X'7B7D'),
                 (2, 1795305600000, 'rw/v1/obs/LLH-CJG', 'unknown_parameter', 'b', 'LLH-CJG',
                  'X2', 7, X'7B7D'),
                 (3, 1795305601000, 'rw/v1/hj212/LLH-CJG', 'crc_mismatch', 'c', 'LLH-CJG',
                  NULL, 9, X'2323');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    drop(store);
    let reader = SqliteReader::open(&path).unwrap();
    let back = reader
        .dead_letters_blocking(&DeadLetterQuery::default())
        .unwrap();
    let got: Vec<(&str, &str, &[u8], Option<&str>)> = back
        .iter()
        .map(|d| {
            (
                d.topic.as_str(),
                d.reason.as_str(),
                d.payload.as_ref(),
                d.parameter.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("rw/v1/obs/LLH-CJG", "a", &b"{}"[..], Some("X1")),
            ("rw/v1/obs/LLH-CJG", "b", &b"{}"[..], Some("X2")),
            ("rw/v1/hj212/LLH-CJG", "c", &b"##"[..], None),
        ]
    );
    assert_eq!(reader.dead_letter_payload_bytes().unwrap(), 4);
}

#[test]
fn a_limited_query_reads_only_what_it_returns_in_the_contract_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    // 20 000 observations of three parameters at two stations: 60 000 readings.
    for chunk in 0..10 {
        let mut readings = Vec::new();
        for m in chunk * 1000..(chunk + 1) * 1000 {
            for station in ["S-B", "S-A"] {
                for param in ["pH", "DO", "TP"] {
                    readings.push(reading(station, param, m, 7.0));
                }
            }
        }
        store
            .write_blocking(&WriteBatch {
                readings,
                dead_letters: vec![],
                held: Vec::new(),
            })
            .unwrap();
    }
    let reader = SqliteReader::open(&path).unwrap();
    let all = reader.query_blocking(&ReadingQuery::default()).unwrap();
    assert_eq!(all.len(), 60_000);

    let q = ReadingQuery {
        limit: Some(5),
        ..ReadingQuery::default()
    };
    let (got, fetched) = reader.query_counted(&q).unwrap();
    assert_eq!(got, all[..5].to_vec());
    assert_eq!(
        (got[0].station.as_str(), got[0].parameter.as_str()),
        ("S-A", "DO")
    );
    assert_eq!(fetched, 5, "five observation rows read, not 20 000");

    // Across parameter and station boundaries, with filters: the same as cutting the full
    // answer.
    for (station, params, limit) in [
        (None, vec![], 10_500),
        (
            Some("S-B"),
            vec!["pH".to_string(), "TP".to_string()],
            10_001,
        ),
        (Some("S-A"), vec!["TP".to_string()], 3),
    ] {
        let full = ReadingQuery {
            station: station.map(str::to_string),
            parameters: params.clone(),
            from: Some(all[0].observed_at + chrono::Duration::minutes(7)),
            ..ReadingQuery::default()
        };
        let expected = reader.query_blocking(&full).unwrap();
        let (got, fetched) = reader
            .query_counted(&ReadingQuery {
                limit: Some(limit),
                ..full
            })
            .unwrap();
        assert_eq!(got, expected[..limit].to_vec());
        assert!(fetched <= limit as u64 + 20_000, "{fetched} rows read");
    }

    // SQLite reads the key in order: no sort of the whole table first.
    let conn = Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", limited_sql(&q)))
        .unwrap()
        .query_map([1], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().all(|step| !step.contains("TEMP B-TREE")),
        "{plan:?}"
    );
}

#[test]
fn reopening_keeps_ids_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    {
        let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
        store
            .write_blocking(&WriteBatch {
                readings: vec![reading("A-1", "pH", 0, 7.0)],
                dead_letters: vec![],
                held: Vec::new(),
            })
            .unwrap();
    }
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    let report = store
        .write_blocking(&WriteBatch {
            readings: vec![reading("A-1", "pH", 0, 7.0), reading("A-1", "pH", 1, 7.1)],
            dead_letters: vec![],
            held: Vec::new(),
        })
        .unwrap();
    assert_eq!(report.inserted, vec![false, true]);
}

/// A file written by the schema-1 layout (one row per reading), as earlier versions left it.
fn schema_1_file(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE station_ids (id INTEGER PRIMARY KEY, station TEXT NOT NULL UNIQUE);
         CREATE TABLE param_ids (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE);
         CREATE TABLE readings (
             station_id INTEGER NOT NULL, param_id INTEGER NOT NULL, period INTEGER NOT NULL,
             ts_ms INTEGER NOT NULL, value REAL NOT NULL, flag INTEGER NOT NULL,
             received_ms INTEGER NOT NULL,
             PRIMARY KEY (ts_ms, station_id, param_id, period)) WITHOUT ROWID;
         INSERT INTO meta VALUES ('schema_version', '1');
         INSERT INTO station_ids VALUES (1, 'LLH-CJG'), (2, 'SHJ-SFT');
         INSERT INTO param_ids VALUES (1, 'pH'), (2, 'NH3N');
         -- 2026-11-22T00:00Z and one hour later; N = 78, M = 77; period 0 sample, 2 hour.
         INSERT INTO readings VALUES
             (1, 1, 0, 1795305600000, 7.5, 77, 1795305603000),
             (1, 2, 0, 1795305600000, 0.3, 78, 1795305603000),
             (1, 2, 2, 1795305600000, 0.35, 78, 1795309200000),
             (2, 2, 0, 1795305600000, 1.2, 78, 1795305604000),
             (1, 2, 0, 1795309200000, 0.4, 78, 1795309203000);",
    )
    .unwrap();
}

#[test]
fn a_schema_1_file_is_moved_to_observations_with_every_reading_and_its_dedup_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readings.db");
    schema_1_file(&path);
    let rt = runtime();
    rt.block_on(async {
        let mut store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
        let reader = SqliteReader::open(&path).unwrap();
        assert_eq!(reader.count_blocking().unwrap(), 5);
        let got: Vec<(String, String, i64, f64, char, Period, i64)> = reader
            .query(&ReadingQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.station.to_string(),
                    r.parameter.to_string(),
                    r.observed_at.timestamp_millis(),
                    r.value,
                    r.flag.letter(),
                    r.period,
                    r.received_at.timestamp_millis(),
                )
            })
            .collect();
        let t0 = 1_795_305_600_000;
        let t1 = t0 + 3_600_000;
        assert_eq!(
            got,
            vec![
                (
                    "LLH-CJG".into(),
                    "NH3N".into(),
                    t0,
                    0.3,
                    'N',
                    Period::Sample,
                    t0 + 3000
                ),
                (
                    "LLH-CJG".into(),
                    "NH3N".into(),
                    t0,
                    0.35,
                    'N',
                    Period::Hour,
                    t1
                ),
                (
                    "LLH-CJG".into(),
                    "NH3N".into(),
                    t1,
                    0.4,
                    'N',
                    Period::Sample,
                    t1 + 3000
                ),
                (
                    "LLH-CJG".into(),
                    "pH".into(),
                    t0,
                    7.5,
                    'M',
                    Period::Sample,
                    t0 + 3000
                ),
                (
                    "SHJ-SFT".into(),
                    "NH3N".into(),
                    t0,
                    1.2,
                    'N',
                    Period::Sample,
                    t0 + 4000
                ),
            ]
        );
        // The dedup key survives the move: a migrated reading is a duplicate, a parameter the
        // migrated observation lacks joins it.
        let report = store
            .write(Arc::new(WriteBatch {
                readings: vec![
                    reading("LLH-CJG", "pH", 0, 9.9),
                    reading("LLH-CJG", "DO", 0, 8.1),
                ],
                dead_letters: vec![],
                held: Vec::new(),
            }))
            .await
            .unwrap();
        assert_eq!(report.inserted, vec![false, true]);
        assert_eq!(reader.count_blocking().unwrap(), 6);
        let conn = Connection::open(&path).unwrap();
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, "3");
        let old_table: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'readings'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old_table, 0);
    });
}

#[test]
fn a_file_of_an_unknown_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readings.db");
    schema_1_file(&path);
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = '7' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let error = SqliteStore::open(&path, &test_sqlite_config()).unwrap_err();
    assert!(error.to_string().contains("schema version"), "{error}");
}

#[test]
fn a_reader_refuses_a_schema_1_file_until_ingest_has_converted_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readings.db");
    schema_1_file(&path);
    let reader = SqliteReader::open(&path).unwrap();
    let error = reader
        .query_blocking(&ReadingQuery::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("schema version 1") && error.contains("riverwatch ingest"),
        "{error}"
    );
    let rt = runtime();
    rt.block_on(async {
        let mut store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
        store.close().await.unwrap();
    });
    assert_eq!(
        reader
            .query_blocking(&ReadingQuery::default())
            .unwrap()
            .len(),
        5
    );
}

fn arb_reading() -> impl Strategy<Value = Reading> {
    (0usize..3, 0usize..3, 0i64..20, 0u8..2, -5.0f64..100.0).prop_map(|(s, p, m, per, v)| {
        let mut r = reading(["S-A", "S-B", "S-C"][s], ["pH", "DO", "TP"][p], m, v);
        r.period = if per == 0 {
            Period::Sample
        } else {
            Period::Hour
        };
        r
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The SQLite store behaves like the in-memory reference model: same inserted flags for
    /// every batch (including re-writes) and the same stored readings in the same order.
    #[test]
    fn sqlite_matches_the_memory_model(batches in prop::collection::vec(prop::collection::vec(arb_reading(), 0..200), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let rt = runtime();
        rt.block_on(async {
            let mut real = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
            let mut model = MemoryStore::new();
            for b in &batches {
                let batch = Arc::new(WriteBatch { readings: b.clone(), dead_letters: vec![], held: vec![] });
                let a = real.write(batch.clone()).await.unwrap();
                let m = model.write(batch).await.unwrap();
                prop_assert_eq!(a, m);
            }
            let reader = SqliteReader::open(&path).unwrap();
            let stored = reader.query(&ReadingQuery::default()).await.unwrap();
            let expected = model.query(&ReadingQuery::default()).await.unwrap();
            let key = |r: &Reading| (r.station.to_string(), r.parameter.to_string(), r.observed_at, r.period);
            let mut expected = expected;
            expected.sort_by_key(key);
            prop_assert_eq!(stored, expected);
            Ok(())
        })?;
    }
}

/// The local database of an InfluxDB store logs each commit of its index in the same
/// transaction: new readings once with their values, resends not at all, a conflicting
/// resend not at all; a reading the index has dropped since is left out of its commit.
#[test]
fn the_influx_index_logs_its_commits_with_the_values_it_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local.db");
    let cfg = SqliteConfig {
        influx_index_hours: 1,
        ..test_sqlite_config()
    };
    let index = SqliteStore::open_influx_index(&path, &cfg).unwrap();
    let write = |readings: Vec<Reading>| {
        index
            .write_blocking(&WriteBatch {
                readings,
                ..WriteBatch::default()
            })
            .unwrap()
    };
    write(vec![
        reading("LLH-CJG", "NH3N", 0, 0.2),
        reading("LLH-CJG", "pH", 0, 7.1),
    ]);
    // An identical resend and a conflicting one store nothing: no commit is logged.
    let resend = write(vec![reading("LLH-CJG", "NH3N", 0, 0.2)]);
    assert_eq!(resend.duplicates, 1);
    let conflict = write(vec![reading("LLH-CJG", "NH3N", 0, 9.9)]);
    assert_eq!(conflict.conflicts.len(), 1);
    write(vec![
        reading("LLH-NTS", "NH3N", 10, 2.5),
        reading("LLH-CJG", "NH3N", 10, 0.3),
    ]);

    let reader = SqliteReader::open(&path).unwrap();
    let commits = reader.influx_index_commits_after_blocking(0, 10).unwrap();
    let seqs: Vec<u64> = commits.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
    let mut first = commits[0].readings.clone();
    first.sort_by(|a, b| a.parameter.cmp(&b.parameter));
    assert_eq!(
        first,
        vec![
            reading("LLH-CJG", "NH3N", 0, 0.2),
            reading("LLH-CJG", "pH", 0, 7.1)
        ]
    );
    let mut second = commits[1].readings.clone();
    second.sort_by(|a, b| a.station.cmp(&b.station));
    assert_eq!(
        second,
        vec![
            reading("LLH-CJG", "NH3N", 10, 0.3),
            reading("LLH-NTS", "NH3N", 10, 2.5)
        ]
    );
    assert_eq!(
        reader.influx_index_commits_after_blocking(1, 10).unwrap()[0].seq,
        2
    );
    assert!(
        reader
            .influx_index_commits_after_blocking(2, 10)
            .unwrap()
            .is_empty()
    );
    // The readings store's own log of this file is empty of observations: the index log
    // names rows of `influx_index`, which the readings-store reader does not find.
    assert!(
        reader
            .commits_after_blocking(0, 10)
            .unwrap()
            .iter()
            .all(|c| c.readings.is_empty())
    );

    // Two hours later (beyond the one-hour index) the first readings are dropped by the
    // next batch: their commit is still listed, without them.
    write(vec![reading("LLH-CJG", "NH3N", 130, 0.4)]);
    write(vec![reading("LLH-CJG", "NH3N", 131, 0.4)]);
    let commits = reader.influx_index_commits_after_blocking(0, 10).unwrap();
    let sizes: Vec<(u64, usize)> = commits.iter().map(|c| (c.seq, c.readings.len())).collect();
    assert_eq!(sizes, vec![(1, 0), (2, 0), (3, 1), (4, 1)]);
}

/// A reading observed long before the rest of its batch (a station sending its backlog)
/// stays in the index until the next batch, so analytics reads it through the log.
#[test]
fn a_backfilled_reading_is_in_the_index_log_until_the_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local.db");
    let cfg = SqliteConfig {
        influx_index_hours: 1,
        ..test_sqlite_config()
    };
    let index = SqliteStore::open_influx_index(&path, &cfg).unwrap();
    index
        .write_blocking(&WriteBatch {
            readings: vec![
                reading("LLH-CJG", "NH3N", 0, 2.5),
                reading("LLH-CJG", "NH3N", 300, 0.2),
            ],
            ..WriteBatch::default()
        })
        .unwrap();
    let reader = SqliteReader::open(&path).unwrap();
    let commits = reader.influx_index_commits_after_blocking(0, 10).unwrap();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].readings.len(), 2, "{:?}", commits[0].readings);
}
