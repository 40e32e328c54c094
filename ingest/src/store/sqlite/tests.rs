use std::sync::Arc;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use riverwatch_core::pipeline::{
    DeadLetterQuery, MemoryStore, ReadingQuery, StoreReader, StoreWriter, WriteBatch,
};
use riverwatch_core::{DataFlag, DeadLetter, ParamCode, Period, Reading, ReasonCode, StationId};

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
            })
            .unwrap();
    }
    let store = SqliteStore::open(&path, &test_sqlite_config()).unwrap();
    let report = store
        .write_blocking(&WriteBatch {
            readings: vec![reading("A-1", "pH", 0, 7.0), reading("A-1", "pH", 1, 7.1)],
            dead_letters: vec![],
        })
        .unwrap();
    assert_eq!(report.inserted, vec![false, true]);
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
                let batch = Arc::new(WriteBatch { readings: b.clone(), dead_letters: vec![] });
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
