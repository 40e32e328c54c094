use std::sync::Arc;

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
        assert_eq!(version, "2");
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
