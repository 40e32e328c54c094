//! Engine tests on an in-memory readings store and a temporary evaluation store: late data
//! and revisions, redelivery and restarts, silent stations, attribution through the store,
//! warnings and joint control from hourly data.

use std::sync::Arc;

use chrono::TimeZone;
use riverwatch_core::events::{Attribution, EventStatus, Rule};
use riverwatch_core::reading::ReadingOut;
use riverwatch_core::store_api::{StoreWriter, WriteBatch};
use riverwatch_core::time::ManualClock;
use riverwatch_core::{DataFlag, ParamCode, Province, StationId, WaterClass};
use riverwatch_testkit::MemoryStore;

use super::*;
use crate::standards::warning::WarningLevel;
use crate::store::{DayQuery, EvaluationQuery, EvaluationReader};

/// CST time → UTC.
fn at_cst(m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap() - chrono::Duration::hours(8)
}

struct Rig {
    readings: MemoryStore,
    engine: Engine<MemoryStore>,
    clock: Arc<ManualClock>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analytics.db");
        let readings = MemoryStore::new();
        let clock = Arc::new(ManualClock::new(at_cst(11, 22, 12)));
        let engine = Self::engine(&readings, &path, &clock).await;
        Self {
            readings,
            engine,
            clock,
            path,
            _dir: dir,
        }
    }

    async fn engine(
        readings: &MemoryStore,
        path: &std::path::Path,
        clock: &Arc<ManualClock>,
    ) -> Engine<MemoryStore> {
        Engine::load(
            EngineArgs {
                registry: Arc::new(Registry::builtin().unwrap()),
                config: Arc::new(AnalyticsConfig::test_config()),
                reader: readings.clone(),
                store: AnalyticsStore::open(path).unwrap(),
                clock: clock.clone(),
                metrics: Metrics::new(),
            },
            CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    /// Stores the readings (as ingest would) and hands the engine one message per station.
    async fn send(&mut self, readings: Vec<Reading>) -> Vec<Event> {
        let mut store = self.readings.clone();
        store
            .write(Arc::new(WriteBatch {
                readings: readings.clone(),
                dead_letters: vec![],
                held: Vec::new(),
            }))
            .await
            .unwrap();
        let mut by: BTreeMap<String, Vec<Reading>> = BTreeMap::new();
        for r in readings {
            by.entry(r.station.to_string()).or_default().push(r);
        }
        let msgs = by
            .into_iter()
            .map(|(s, rs)| ReadingsMessage {
                station: StationId::new(&s),
                readings: rs
                    .into_iter()
                    .map(|r| ReadingOut {
                        parameter: r.parameter,
                        value: r.value,
                        unit: String::new(),
                        observed_at: r.observed_at,
                        received_at: r.received_at,
                        flag: r.flag,
                        valid: r.flag.is_valid(),
                        period: r.period,
                    })
                    .collect(),
            })
            .collect();
        self.engine.handle(msgs).await.unwrap()
    }

    fn reader(&self) -> EvaluationReader {
        EvaluationReader::open(&self.path).unwrap()
    }
}

fn r(station: &str, p: &str, at: DateTime<Utc>, v: f64) -> Reading {
    Reading {
        station: StationId::new(station),
        parameter: ParamCode::new(p),
        observed_at: at,
        received_at: at,
        value: v,
        flag: DataFlag::N,
        period: Period::Sample,
    }
}

/// One observation of a clean section with the given NH3N and TP.
fn obs(station: &str, at: DateTime<Utc>, nh3n: f64, tp: f64) -> Vec<Reading> {
    [
        ("WT", 18.0),
        ("pH", 7.6),
        ("DO", 7.5),
        ("COND", 300.0),
        ("TURB", 10.0),
        ("CODMn", 3.0),
        ("NH3N", nh3n),
        ("TP", tp),
        ("TN", 0.9),
    ]
    .into_iter()
    .map(|(p, v)| r(station, p, at, v))
    .collect()
}

fn rules(events: &[Event]) -> Vec<(Rule, EventStatus)> {
    events.iter().map(|e| (e.rule, e.status)).collect()
}

#[tokio::test]
async fn late_data_revises_a_closed_day_without_overwriting_it() {
    let mut rig = Rig::new().await;
    // Day 10: 00:00, 04:00, 08:00, then an outage; day 11 00:00 closes day 10.
    for h in [0, 4, 8] {
        rig.send(obs("LLH-NTS", at_cst(9, 10, h), 0.3, 0.05)).await;
    }
    rig.send(obs("LLH-NTS", at_cst(9, 11, 0), 0.3, 0.05)).await;
    let reader = rig.reader();
    let q = EvaluationQuery {
        station: Some("LLH-NTS".into()),
        period: Some(WindowPeriod::Day),
        ..EvaluationQuery::default()
    };
    let day = reader.evaluations(&q).unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!((day[0].revision, day[0].class), (0, Some(WaterClass::II)));
    assert_eq!(day[0].completeness, 0.5);
    // The station backfills 12:00–20:00 of day 10 with high ammonia.
    let mut backfill = Vec::new();
    for h in [12, 16, 20] {
        backfill.extend(obs("LLH-NTS", at_cst(9, 10, h), 3.0, 0.05));
    }
    let events = rig.send(backfill).await;
    let revision: Vec<&Event> = events
        .iter()
        .filter(|e| e.rule == Rule::ClassChange && e.window.is_some())
        .collect();
    assert_eq!(revision.len(), 1, "{:?}", rules(&events));
    let w = revision[0].window.as_ref().unwrap();
    assert_eq!(
        (w.period, w.start, w.revision),
        (WindowPeriod::Day, at_cst(9, 10, 0), 1)
    );
    // Day mean of the hourly means: (3 × 0.3 + 3 × 3.0) / 6 = 1.65 mg/L → Class V.
    assert_eq!(revision[0].class, Some(WaterClass::V));
    let all = reader
        .evaluations(&EvaluationQuery {
            all_revisions: true,
            ..q.clone()
        })
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].class, Some(WaterClass::II));
    assert_eq!(all[1].completeness, 1.0);
    // Backfilled readings are not judged live: no live exceedance for 3.0 mg/L.
    assert!(events.iter().all(|e| e.rule != Rule::ParameterExceedance));
}

#[tokio::test]
async fn redelivery_and_restart_give_no_new_events_and_the_same_ids() {
    let mut rig = Rig::new().await;
    let batch = obs("LLH-NTS", at_cst(9, 10, 0), 1.6, 0.05);
    let first = rig.send(batch.clone()).await;
    assert_eq!(
        rules(&first),
        vec![
            (Rule::ParameterExceedance, EventStatus::Firing),
            (Rule::SectionBelowTarget, EventStatus::Firing)
        ]
    );
    assert!(rig.send(batch.clone()).await.is_empty());
    // A restart restores the state from the store: the redelivered message is skipped.
    rig.engine = Rig::engine(&rig.readings, &rig.path, &rig.clock).await;
    assert!(rig.send(batch).await.is_empty());
    let stored = rig.reader().events(&Default::default()).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].id, first[0].id);
    assert_eq!(
        first[0].id,
        "parameter_exceedance/LLH-NTS/NH3N/2026-09-09T16:00:00Z/firing"
    );
}

#[tokio::test]
async fn attribution_reads_the_upstream_section_from_the_store() {
    let mut rig = Rig::new().await;
    // LLH-WC (HLJ, km 160) clean every 4 h; LLH-NTS (JL, km 230) exceeds 35 h later.
    for h in (0..48).step_by(4) {
        rig.send(obs(
            "LLH-WC",
            at_cst(9, 8, 0) + chrono::Duration::hours(h),
            0.3,
            0.05,
        ))
        .await;
    }
    let events = rig.send(obs("LLH-NTS", at_cst(9, 10, 0), 2.3, 0.05)).await;
    let e = events
        .iter()
        .find(|e| e.rule == Rule::ParameterExceedance)
        .unwrap();
    assert_eq!(
        e.attribution,
        Some(Attribution::ArisenBetween {
            upstream_station: "LLH-WC".into(),
            upstream_province: Province::Heilongjiang,
            upstream_value: 0.3,
            travel_hours: 35.0,
        })
    );
    let inc = e.incident.clone().unwrap();
    let next = e.expected_next.as_ref().unwrap();
    assert_eq!(next.station, "LLH-LLZ");
    assert_eq!(next.at, at_cst(9, 10, 16));
    // LLH-LLZ 16 h later: arrived from LLH-NTS (Jilin), same incident.
    rig.send(obs("LLH-NTS", at_cst(9, 10, 4), 2.0, 0.05)).await;
    let events = rig.send(obs("LLH-LLZ", at_cst(9, 10, 17), 1.5, 0.05)).await;
    let e = events
        .iter()
        .find(|e| e.rule == Rule::ParameterExceedance)
        .unwrap();
    assert!(matches!(
        &e.attribution,
        Some(Attribution::ArrivedFromUpstream { upstream_station, upstream_province: Province::Jilin, .. })
            if upstream_station == "LLH-NTS"
    ));
    assert_eq!(e.incident.as_deref(), Some(inc.as_str()));
    let incidents = rig.reader().incidents(None, None).unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].sections.len(), 2);
}

#[tokio::test]
async fn a_silent_station_closes_its_day_after_the_idle_time() {
    let mut rig = Rig::new().await;
    for h in [0, 4, 8, 12, 16, 20] {
        rig.send(obs("LLH-CJG", at_cst(9, 10, h), 0.3, 0.05)).await;
    }
    assert!(rig.engine.tick().await.unwrap().is_empty());
    let reader = rig.reader();
    let q = EvaluationQuery {
        station: Some("LLH-CJG".into()),
        period: Some(WindowPeriod::Day),
        ..EvaluationQuery::default()
    };
    assert!(reader.evaluations(&q).unwrap().is_empty());
    rig.clock.advance(std::time::Duration::from_secs(7 * 3600));
    rig.engine.tick().await.unwrap();
    let days = reader.evaluations(&q).unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].completeness, 1.0);
    // Told that time has passed, the month closes too.
    rig.engine.close_through(at_cst(10, 1, 0)).await.unwrap();
    let months = reader
        .evaluations(&EvaluationQuery {
            period: Some(WindowPeriod::Month),
            ..q
        })
        .unwrap();
    assert_eq!(months.len(), 1);
    assert!(!months[0].sufficient, "10 days of 30");
    let ledger = reader.ledger(&Default::default()).unwrap();
    assert_eq!(ledger.len(), 1);
    assert!(!ledger[0].assessed);
}

/// 24 hourly means of one air station for a CST day with the given PM2.5.
fn air_day(station: &str, d: u32, pm25: f64) -> Vec<Reading> {
    let mut out = Vec::new();
    for h in 0..24 {
        let at = at_cst(10, d, h);
        for (p, v) in [
            ("PM25", pm25),
            ("PM10", pm25 / 0.7),
            ("SO2", 12.0),
            ("NO2", 25.0),
            ("CO", 0.8),
            ("O3", 40.0),
        ] {
            let mut x = r(station, p, at, v);
            x.period = Period::Hour;
            out.push(x);
        }
    }
    out
}

#[tokio::test]
async fn warning_levels_and_joint_control_follow_the_daily_aqi() {
    let mut rig = Rig::new().await;
    // 2026 dates, HJ 633-2026 (PM2.5 150 → 200, 250 → 300, 350 → 400): PM2.5 175 gives
    // 225 and 280 gives 330; 40 gives 60.
    let pm = [40.0, 175.0, 280.0, 175.0, 40.0, 40.0];
    let mut events = Vec::new();
    for (i, v) in pm.iter().enumerate() {
        let d = 20 + i as u32;
        // Hour by hour, both cities, as a live feed arrives.
        let hlj = air_day("AIR-SC", d, *v);
        let jl = air_day("AIR-YS", d, *v);
        for (a, b) in hlj.chunks(6).zip(jl.chunks(6)) {
            events.extend(rig.send(a.to_vec()).await);
            events.extend(rig.send(b.to_vec()).await);
        }
    }
    let reader = rig.reader();
    let w = reader
        .warnings(&DayQuery {
            station: Some("AIR-SC".into()),
            ..DayQuery::default()
        })
        .unwrap();
    let levels: Vec<WarningLevel> = w.iter().map(|x| x.level).collect();
    use WarningLevel::*;
    // Days 20–24 are closed (25 is still open).
    assert_eq!(levels, vec![None, Blue, Yellow, Orange, None]);
    let warn_events: Vec<(String, Option<String>)> = events
        .iter()
        .filter(|e| e.rule == Rule::HeavyPollutionWarning && e.subject == "AIR-SC")
        .map(|e| (format!("{:?}", e.status), e.level.clone()))
        .collect();
    assert_eq!(
        warn_events,
        vec![
            ("Firing".to_string(), Some("blue".to_string())),
            ("Firing".to_string(), Some("yellow".to_string())),
            ("Firing".to_string(), Some("orange".to_string())),
            ("Resolved".to_string(), Some("none".to_string())),
        ]
    );
    let joint: Vec<bool> = reader
        .joint_control(&DayQuery::default())
        .unwrap()
        .iter()
        .map(|j| j.active)
        .collect();
    assert_eq!(joint, vec![false, true, true, true, false]);
    let joint_events: Vec<(EventStatus, DateTime<Utc>)> = events
        .iter()
        .filter(|e| e.rule == Rule::JointControl)
        .map(|e| (e.status, e.observed_at))
        .collect();
    assert_eq!(
        joint_events,
        vec![
            (EventStatus::Firing, at_cst(10, 21, 0)),
            (EventStatus::Resolved, at_cst(10, 24, 0))
        ]
    );
    assert!(events.iter().any(|e| e.rule == Rule::AqiLevel));
}
