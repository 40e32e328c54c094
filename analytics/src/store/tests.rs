//! Store tests: revisions are kept, readers see the latest, events are stored once.

use chrono::TimeZone;
use riverwatch_core::events::{EventStatus, Severity};
use riverwatch_core::{Province, WaterClass};

use super::*;
use crate::model::ParameterMean;
use crate::standards::warning::WarningLevel;

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 9, 16, 0, 0).unwrap() + chrono::Duration::hours(h)
}

fn eval(class: WaterClass, revision: u32) -> WindowEvaluation {
    WindowEvaluation {
        station: "LLH-NTS".into(),
        period: WindowPeriod::Day,
        start: t(0),
        revision,
        computed_at: t(30),
        standard: "GB 3838-2002; 环办〔2011〕22号".into(),
        class: Some(class),
        target: Some(WaterClass::III),
        compliant: Some(class.meets(WaterClass::III)),
        deciding: vec!["NH3N".into()],
        main_pollutants: vec![],
        completeness: 1.0,
        valid_readings: 54,
        expected_readings: 54,
        sufficient: true,
        parameters: vec![ParameterMean {
            code: "NH3N".into(),
            mean: 1.2,
            count: 6,
            class: Some(class),
            exceedance_multiple: Some(0.2),
            in_section_class: true,
        }],
    }
}

fn event(id: &str) -> Event {
    Event {
        id: id.into(),
        rule: Rule::ClassChange,
        status: EventStatus::Changed,
        severity: Severity::Info,
        subject: "LLH-NTS".into(),
        parameter: None,
        provinces: vec![Province::Heilongjiang, Province::Jilin],
        cross_border: true,
        observed_at: t(0),
        emitted_at: t(30),
        value: None,
        unit: None,
        limit: None,
        class: Some(WaterClass::IV),
        target: Some(WaterClass::III),
        exceedance_multiple: None,
        aqi: None,
        level: None,
        standard: "GB 3838-2002".into(),
        attribution: None,
        incident: None,
        expected_next: None,
        window: None,
        summary_zh: "摘要".into(),
        summary_en: "summary".into(),
    }
}

#[test]
fn revisions_are_kept_and_readers_see_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analytics.db");
    let store = AnalyticsStore::open(&path).unwrap();
    store
        .commit(&Commit {
            evaluations: vec![eval(WaterClass::III, 0)],
            ..Commit::default()
        })
        .unwrap();
    store
        .commit(&Commit {
            evaluations: vec![eval(WaterClass::IV, 1)],
            ..Commit::default()
        })
        .unwrap();
    // Writing revision 0 again (a redelivery) changes nothing.
    store
        .commit(&Commit {
            evaluations: vec![eval(WaterClass::II, 0)],
            ..Commit::default()
        })
        .unwrap();
    let latest = store
        .latest_evaluations("LLH-NTS", WindowPeriod::Day, t(0), t(24))
        .unwrap();
    assert_eq!(latest[&t(0).timestamp_millis()].class, Some(WaterClass::IV));
    let reader = EvaluationReader::open(&path).unwrap();
    let q = EvaluationQuery {
        station: Some("LLH-NTS".into()),
        ..EvaluationQuery::default()
    };
    let days = reader.evaluations(&q).unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].revision, days[0].class), (1, Some(WaterClass::IV)));
    let all = reader
        .evaluations(&EvaluationQuery {
            all_revisions: true,
            ..q
        })
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.class).collect::<Vec<_>>(),
        vec![Some(WaterClass::III), Some(WaterClass::IV)]
    );
    let revs = reader
        .revisions("LLH-NTS", WindowPeriod::Day, t(0))
        .unwrap();
    assert_eq!(revs.len(), 2);
}

#[test]
fn events_are_stored_once_and_published_marks_stick() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analytics.db");
    let store = AnalyticsStore::open(&path).unwrap();
    let c = Commit {
        events: vec![event("a"), event("b")],
        ..Commit::default()
    };
    store.commit(&c).unwrap();
    store.commit(&c).unwrap();
    assert_eq!(store.unpublished_events(10).unwrap().len(), 2);
    store.mark_published(&["a".to_string()]).unwrap();
    let left = store.unpublished_events(10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, "b");
    let reader = EvaluationReader::open(&path).unwrap();
    let last = reader
        .events(&EventQuery {
            limit: Some(1),
            ..EventQuery::default()
        })
        .unwrap();
    assert_eq!(last[0].id, "b");
    assert_eq!(last[0], event("b"));
}

#[test]
fn warnings_joint_control_ledger_and_state_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analytics.db");
    let store = AnalyticsStore::open(&path).unwrap();
    let date = NaiveDate::from_ymd_opt(2025, 10, 24).unwrap();
    let w = WarningRecord {
        station: "AIR-SC".into(),
        city_zh: "哈尔滨市双城区".into(),
        province: Province::Heilongjiang,
        date,
        revision: 0,
        level: WarningLevel::Blue,
        daily_aqi: Some(226),
        run_days: 1,
        severe_days: 0,
        computed_at: t(0),
    };
    let j = JointControlRecord {
        date,
        revision: 0,
        active: true,
        heavy_hlj: vec!["AIR-SC".into()],
        heavy_jl: vec!["AIR-YS".into()],
        cities_known: 8,
        rule: "rule".into(),
        computed_at: t(0),
    };
    store
        .commit(&Commit {
            warnings: vec![w.clone()],
            joint: vec![j.clone()],
            states: vec![("station:AIR-SC".into(), "{}".into())],
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(
        store.latest_warning("AIR-SC", date).unwrap(),
        Some(w.clone())
    );
    assert_eq!(store.latest_joint(date).unwrap(), Some(j.clone()));
    assert_eq!(store.states().unwrap().len(), 1);
    let reader = EvaluationReader::open(&path).unwrap();
    assert_eq!(reader.warnings(&DayQuery::default()).unwrap(), vec![w]);
    assert_eq!(reader.joint_control(&DayQuery::default()).unwrap(), vec![j]);
    assert!(EvaluationReader::open(&dir.path().join("none.db")).is_err());
}

#[test]
fn the_store_is_opened_in_wal_mode_and_a_newer_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analytics.db");
    let store = AnalyticsStore::open(&path).unwrap();
    let mode: String = store
        .with(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(store);
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = '9' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    for error in [
        AnalyticsStore::open(&path).unwrap_err(),
        EvaluationReader::open(&path)
            .unwrap()
            .current(None)
            .unwrap_err(),
    ] {
        let text = error.to_string();
        assert!(
            text.contains("analytics.db") && text.contains("schema version 9"),
            "{text}"
        );
    }
}
