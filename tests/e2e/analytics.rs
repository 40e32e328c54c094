//! Analytics end to end: simulator scenarios through a real mosquitto, ingest and
//! analytics, against the scenarios' manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use riverwatch_analytics::describe::level_name;
use riverwatch_analytics::standards::warning::{WarningRules, level_over_history};
use riverwatch_analytics::store::{DayQuery, EvaluationQuery, EvaluationReader, EventQuery};
use riverwatch_core::Province;
use riverwatch_core::events::{Attribution, Event, EventStatus, Rule, WindowPeriod};
use riverwatch_simulators::manifest::{Expectation, Manifest};
use riverwatch_simulators::{Scenario, SimulateConfig};
use tokio_util::sync::CancellationToken;

use crate::fixture::*;
use crate::util::*;

/// A scenario run through a real broker, ingest and analytics, all in this process.
struct Run {
    manifest: Manifest,
    /// Events as received over MQTT, in arrival order, each id once.
    events: Vec<Event>,
    reader: EvaluationReader,
    _pipeline: Pipeline,
}

async fn run_scenario(name: &str) -> Run {
    let started = Instant::now();
    let mut p = Pipeline::builder()
        .with_ingest(&format!("it-an-ingest-{name}"))
        .with_analytics(&format!("it-an-{name}"))
        .start()
        .await;
    // The events as the alert service would receive them.
    let collector =
        Collector::start(&p.mqtt(), &format!("it-an-events-{name}"), "rw/v1/events/+").await;
    let received = || -> Vec<Event> {
        collector
            .messages()
            .iter()
            .map(|(topic, payload)| {
                let e: Event = serde_json::from_slice(payload).expect("an event");
                assert_eq!(topic, &format!("rw/v1/events/{}", e.subject));
                e
            })
            .collect()
    };

    let mut sim = SimulateConfig::new(Scenario::builtin(name).unwrap(), registry());
    sim.mqtt = Some(p.mqtt());
    sim.client_id = Some(format!("it-an-sim-{name}"));
    sim.out = Some(p.dir().join("sim.csv"));
    let summary = riverwatch_simulators::run(sim, CancellationToken::new())
        .await
        .unwrap();
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(summary.manifest.unwrap()).unwrap()).unwrap();

    // Analytics has judged each station's last observation once the current status of
    // every station reaches it.
    let store = p.analytics_db();
    let end = DateTime::parse_from_rfc3339(&manifest.end_utc)
        .unwrap()
        .with_timezone(&Utc);
    let done = || -> bool {
        let Ok(r) = EvaluationReader::open(&store) else {
            return false;
        };
        let Ok(current) = r.current(None) else {
            return false;
        };
        manifest.intervals.iter().all(|(id, secs)| {
            let last = end - chrono::Duration::seconds(i64::from(*secs));
            current
                .iter()
                .any(|c| &c.station == id && c.observed_at >= last)
        })
    };
    wait_until(
        Duration::from_secs(90),
        format!("analytics reached the end of {name}"),
        done,
    )
    .await;
    let reader = p.evaluations();
    let stored = reader.events(&EventQuery::default()).unwrap().len();
    wait_until(
        Duration::from_secs(30),
        "every stored event arrived over MQTT",
        || {
            let got: BTreeSet<String> = received().into_iter().map(|e| e.id).collect();
            got.len() >= stored
        },
    )
    .await;
    p.stop_analytics().await;
    p.stop_ingest().await;
    let mut seen = BTreeSet::new();
    let events: Vec<Event> = received()
        .into_iter()
        .filter(|e| seen.insert(e.id.clone()))
        .collect();
    // What went over MQTT is what the store holds.
    let stored: BTreeSet<String> = reader
        .events(&EventQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, stored);
    eprintln!("{name}: {} events in {:?}", events.len(), started.elapsed());
    Run {
        manifest,
        events,
        reader,
        _pipeline: p,
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lalin_boundary_ammonia_is_attributed_and_linked_as_the_manifest_says() {
    let run = run_scenario("lalin-boundary-ammonia").await;
    let Some(Expectation::Plume(plume)) = run.manifest.expectations.first() else {
        panic!("the scenario has a plume");
    };
    let starts: Vec<&Event> = run
        .events
        .iter()
        .filter(|e| {
            e.rule == Rule::ParameterExceedance
                && e.status == EventStatus::Firing
                && e.attribution.is_some()
        })
        .collect();
    // Every exceedance of a class item in the manifest starts an event at its first reading.
    let mut expected = 0;
    for x in run.manifest.exceedances.iter().filter(|x| {
        x.check == "water_class"
            && ["NH3N", "TP", "CODMn", "DO", "pH"].contains(&x.parameter.as_str())
    }) {
        expected += 1;
        let e = starts
            .iter()
            .find(|e| e.subject == x.station && e.parameter.as_deref() == Some(&x.parameter))
            .unwrap_or_else(|| panic!("no exceedance event for {} {}", x.station, x.parameter));
        assert_eq!(
            e.observed_at,
            utc(&x.from_utc),
            "{} {}",
            x.station,
            x.parameter
        );
        assert_eq!(e.limit, Some(x.limit));
        assert!(e.cross_border, "boundary sections notify both provinces");
        // And it ends after the manifest's last reading beyond the limit.
        assert!(
            run.events
                .iter()
                .any(|r| r.rule == Rule::ParameterExceedance
                    && r.status == EventStatus::Resolved
                    && r.subject == x.station
                    && r.parameter.as_deref() == Some(&x.parameter)
                    && r.observed_at > utc(&x.to_utc)),
            "{} {} resolved",
            x.station,
            x.parameter
        );
    }
    assert_eq!(
        starts.len(),
        expected,
        "no exceedance the manifest does not have"
    );
    // The sections upstream of the release stay quiet.
    for clean in &plume.clean_upstream {
        assert!(
            run.events
                .iter()
                .all(|e| &e.subject != clean || e.rule == Rule::ClassChange)
        );
    }
    // The first section reached: arisen between the clean section above (Heilongjiang)
    // and it.
    let (Some(above), Some(first)) = plume.origin_between.clone() else {
        panic!("origin")
    };
    assert_eq!((above.as_str(), first.as_str()), ("LLH-WC", "LLH-NTS"));
    let reached: Vec<&str> = plume.sections.iter().map(|s| s.station.as_str()).collect();
    let mut incident = None;
    for e in &starts {
        match &e.attribution {
            Some(Attribution::ArisenBetween {
                upstream_station,
                upstream_province,
                ..
            }) => {
                assert_eq!(e.subject, first, "{e:?}");
                assert_eq!(upstream_station, &above);
                assert_eq!(*upstream_province, Province::Heilongjiang);
                let next = e.expected_next.as_ref().unwrap();
                assert_eq!(next.station, "LLH-LLZ");
            }
            Some(Attribution::ArrivedFromUpstream {
                upstream_station, ..
            }) => {
                // From the section just above it on the plume's path.
                let i = reached.iter().position(|s| *s == e.subject).unwrap();
                assert!(i > 0);
                assert_eq!(upstream_station, reached[i - 1], "{e:?}");
            }
            other => panic!("undetermined attribution: {other:?} for {e:?}"),
        }
        let id = e.incident.clone().unwrap();
        assert_eq!(incident.get_or_insert(id.clone()), &id, "one incident");
    }
    let incidents = run.reader.incidents(None, None).unwrap();
    assert_eq!(incidents.len(), 1);
    let sections: BTreeSet<&str> = incidents[0]
        .sections
        .iter()
        .map(|s| s.station.as_str())
        .collect();
    let manifest_sections: BTreeSet<&str> = run
        .manifest
        .exceedances
        .iter()
        .map(|x| x.station.as_str())
        .collect();
    assert_eq!(sections, manifest_sections);
    assert_eq!(incidents[0].origin_station, "LLH-NTS");
    // Daily classes were evaluated for every section and day.
    let days = run
        .reader
        .evaluations(&EvaluationQuery {
            station: Some("LLH-NTS".into()),
            period: Some(WindowPeriod::Day),
            ..EvaluationQuery::default()
        })
        .unwrap();
    assert!(days.len() >= 9, "{}", days.len());
    assert!(days.iter().all(|d| d.sufficient));
    assert!(days.iter().any(|d| d.compliant == Some(false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn straw_burning_raises_the_warning_levels_and_joint_control_of_the_manifest() {
    let run = run_scenario("autumn-straw-burning").await;
    let Some(Expectation::AirEpisode(episode)) = run.manifest.expectations.first() else {
        panic!("the scenario has an air episode");
    };
    let rules = WarningRules::default();
    for city in &episode.cities {
        let stored = run
            .reader
            .warnings(&DayQuery {
                station: Some(city.station.clone()),
                ..DayQuery::default()
            })
            .unwrap();
        let aqi = run
            .reader
            .aqi(&EvaluationQuery {
                station: Some(city.station.clone()),
                period: Some(WindowPeriod::Day),
                ..EvaluationQuery::default()
            })
            .unwrap();
        // The daily AQI agrees with the manifest's (which counts PM2.5 and PM10 only; the
        // values travel as HJ 212 integers) and is on the same side of 200 and 300.
        for day in &city.days {
            let Some(a) = aqi
                .iter()
                .find(|a| riverwatch_core::time::cst_date(a.start) == day.date)
            else {
                continue;
            };
            let got = a.aqi.unwrap();
            if day.aqi > 100 {
                assert!(
                    got.abs_diff(day.aqi) <= 2,
                    "{} {}: {got} vs {}",
                    city.station,
                    day.date,
                    day.aqi
                );
            } else {
                assert!(
                    got + 2 >= day.aqi,
                    "{} {}: {got} vs {}",
                    city.station,
                    day.date,
                    day.aqi
                );
            }
            assert_eq!(got > 200, day.aqi > 200);
            assert_eq!(got > 300, day.aqi > 300);
            assert_eq!(a.edition, day.edition);
        }
        // Warning level per day: the manifest's daily AQI under the 2017 rules.
        let manifest_aqi: Vec<u32> = city.days.iter().map(|d| d.aqi).collect();
        let expected = level_over_history(&rules, &manifest_aqi);
        let by_day: BTreeMap<_, _> = stored.iter().map(|w| (w.date, w.level)).collect();
        for (day, level) in city.days.iter().zip(&expected) {
            if let Some(got) = by_day.get(&day.date) {
                assert_eq!(got, level, "{} {}", city.station, day.date);
            }
        }
        // The highest level raised over MQTT is the manifest's.
        let raised: Vec<&str> = run
            .events
            .iter()
            .filter(|e| e.rule == Rule::HeavyPollutionWarning && e.subject == city.station)
            .filter_map(|e| e.level.as_deref())
            .collect();
        let order = ["none", "blue", "yellow", "orange", "red"];
        let max = raised
            .iter()
            .max_by_key(|l| order.iter().position(|o| o == *l))
            .copied();
        assert_eq!(
            max,
            Some(city.warning_level.as_str()),
            "{}: {raised:?}",
            city.station
        );
        assert_eq!(raised.last().copied(), Some(level_name(Default::default())));
        assert!(
            run.events
                .iter()
                .filter(|e| e.rule == Rule::HeavyPollutionWarning && e.subject == city.station)
                .all(|e| e
                    .window
                    .as_ref()
                    .is_some_and(|w| w.period == WindowPeriod::Day))
        );
    }
    // Joint control on exactly the manifest's days, one start and one end.
    let joint = run.reader.joint_control(&DayQuery::default()).unwrap();
    let active: Vec<_> = joint.iter().filter(|j| j.active).map(|j| j.date).collect();
    assert_eq!(active, episode.joint_heavy_days);
    let joint_events: Vec<(EventStatus, chrono::NaiveDate)> = run
        .events
        .iter()
        .filter(|e| e.rule == Rule::JointControl)
        .map(|e| (e.status, riverwatch_core::time::cst_date(e.observed_at)))
        .collect();
    let first = episode.joint_heavy_days[0];
    let after = *episode.joint_heavy_days.last().unwrap() + chrono::Duration::days(1);
    assert_eq!(
        joint_events,
        vec![(EventStatus::Firing, first), (EventStatus::Resolved, after)]
    );
    assert!(run
        .events
        .iter()
        .filter(|e| e.rule == Rule::JointControl)
        .all(|e| e.cross_border && e.provinces == vec![Province::Heilongjiang, Province::Jilin]));
    // Hourly AQI levels changed during the episode.
    assert!(run.events.iter().any(|e| e.rule == Rule::AqiLevel));
}

/// The analytics store's cursor on the readings store's commit log.
fn cursor(p: &Pipeline) -> Option<String> {
    let conn = rusqlite::Connection::open(p.analytics_db()).ok()?;
    conn.query_row(
        "SELECT body FROM state WHERE key = 'readings_cursor'",
        [],
        |r| r.get(0),
    )
    .ok()
}

fn nh3n(station: &str, at: DateTime<Utc>, value: f64) -> riverwatch_core::Reading {
    riverwatch_core::Reading {
        station: riverwatch_core::StationId::new(station),
        parameter: riverwatch_core::ParamCode::new("NH3N"),
        observed_at: at,
        received_at: at,
        value,
        flag: riverwatch_core::DataFlag::N,
        period: riverwatch_core::Period::Sample,
    }
}

fn exceedances(p: &Pipeline, station: &str) -> Vec<Event> {
    let Ok(reader) = EvaluationReader::open(&p.analytics_db()) else {
        return Vec::new();
    };
    reader
        .events(&EventQuery {
            subject: Some(station.to_string()),
            rule: Some(Rule::ParameterExceedance),
            ..EventQuery::default()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_committed_but_never_announced_are_judged_once() {
    let mut p = Pipeline::builder().start().await;
    // Ingest committed these and died before announcing them on readings/: they are in the
    // store and were never published. NH3-N 2.5 mg/L is beyond Class III (1.0 mg/L,
    // GB 3838-2002 Table 1) at 蔡家沟, whose target is Class III; 0.2 is well inside it.
    let store = riverwatch_ingest::store::SqliteStore::open(
        &p.readings_db(),
        &riverwatch_ingest::store::sqlite::test_sqlite_config(),
    )
    .unwrap();
    let t0 = Utc::now() - chrono::Duration::hours(3);
    let min = chrono::Duration::minutes;
    let write = |readings| {
        store
            .write_blocking(&riverwatch_core::store_api::WriteBatch {
                readings,
                ..Default::default()
            })
            .unwrap()
    };
    write(vec![nh3n("LLH-CJG", t0, 0.2)]);
    write(vec![nh3n("LLH-CJG", t0 + min(1), 2.5)]);
    p.start_analytics("it-an-unannounced").await;
    wait_until(
        Duration::from_secs(20),
        "the unannounced exceedance judged",
        || {
            exceedances(&p, "LLH-CJG")
                .iter()
                .any(|e| e.status == EventStatus::Firing)
        },
    )
    .await;
    wait_until(Duration::from_secs(20), "the cursor at commit 2", || {
        cursor(&p).as_deref() == Some("2")
    })
    .await;
    p.stop_analytics().await;

    // While analytics is down, two more unannounced commits: the exceedance ends (two
    // readings at least 5 % inside the limit) and another section starts one.
    write(vec![
        nh3n("LLH-CJG", t0 + min(2), 0.2),
        nh3n("LLH-CJG", t0 + min(3), 0.2),
    ]);
    write(vec![nh3n("LLH-NTS", t0 + min(3), 2.5)]);
    p.start_analytics("it-an-unannounced").await;
    wait_until(
        Duration::from_secs(20),
        "the commits made while analytics was down judged",
        || !exceedances(&p, "LLH-NTS").is_empty() && cursor(&p).as_deref() == Some("4"),
    )
    .await;
    let cjg = exceedances(&p, "LLH-CJG");
    let statuses: Vec<EventStatus> = cjg.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        vec![EventStatus::Firing, EventStatus::Resolved],
        "one start and one end, none judged twice: {cjg:?}"
    );
    p.stop_analytics().await;
}

/// The same with the InfluxDB 1.x backend against a real `influxd`: readings committed
/// through the InfluxDB store (its local index commit, then the write to InfluxDB) and never
/// announced are judged from the commit log in the store's local database, through the
/// reader `open_reader` builds for analytics, once, across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_committed_through_influxdb_but_never_announced_are_judged_once() {
    use riverwatch_core::store_api::{StoreReader, StoreWriter, WriteBatch};
    use riverwatch_ingest::config::{Backend, Influx1Config, StoreConfig};
    use riverwatch_ingest::store::influx::{Influx1Store, InfluxStoreArgs};
    use riverwatch_ingest::store::{self, sqlite::test_sqlite_config};

    let mut p = Pipeline::builder().start().await;
    let influx_dir = tempfile::tempdir().unwrap();
    let influxd = crate::influxd::Influxd::start(influx_dir.path(), "riverwatch").await;
    let influx = Influx1Config {
        url: influxd.url(),
        database: "riverwatch".into(),
        retention_policy: None,
        timeout_secs: 10,
        username: None,
        password: None,
    };
    let config = StoreConfig {
        backend: Backend::Influxdb1,
        influxdb1: Some(influx.clone()),
        ..StoreConfig::default()
    };
    let data = p.data_dir();
    // Where the local database is not (analytics on another host), no log: the messages
    // are judged instead.
    let elsewhere = store::open_reader(&config, &data, &registry()).unwrap();
    assert!(elsewhere.commits_after(0, 10).await.unwrap().is_none());

    let mut writer = Influx1Store::open(InfluxStoreArgs::new(
        influx,
        registry(),
        store::sqlite_path(&config, &data),
        test_sqlite_config(),
        p.clock(),
    ))
    .await
    .unwrap();
    let t0 = Utc::now() - chrono::Duration::hours(3);
    let min = chrono::Duration::minutes;
    let mut write = async |readings| {
        let report = writer
            .write(std::sync::Arc::new(WriteBatch {
                readings,
                ..Default::default()
            }))
            .await
            .unwrap();
        assert!(!report.spooled, "InfluxDB took the batch");
    };
    // NH3-N 2.5 mg/L is beyond Class III (1.0 mg/L, GB 3838-2002 Table 1) at 蔡家沟,
    // whose target is Class III; 0.2 is well inside it.
    write(vec![nh3n("LLH-CJG", t0, 0.2)]).await;
    write(vec![nh3n("LLH-CJG", t0 + min(1), 2.5)]).await;
    let reader = store::open_reader(&config, &data, &registry()).unwrap();
    p.start_analytics_on("it-an-influx", reader.clone()).await;
    wait_until(
        Duration::from_secs(20),
        "the unannounced exceedance judged",
        || {
            exceedances(&p, "LLH-CJG")
                .iter()
                .any(|e| e.status == EventStatus::Firing)
        },
    )
    .await;
    wait_until(Duration::from_secs(20), "the cursor at commit 2", || {
        cursor(&p).as_deref() == Some("2")
    })
    .await;
    p.stop_analytics().await;

    // While analytics is down: a redelivered batch (stores nothing new), the end of the
    // exceedance (two readings at least 5 % inside the limit) and another section's start.
    write(vec![nh3n("LLH-CJG", t0 + min(1), 2.5)]).await;
    write(vec![
        nh3n("LLH-CJG", t0 + min(2), 0.2),
        nh3n("LLH-CJG", t0 + min(3), 0.2),
    ])
    .await;
    write(vec![nh3n("LLH-NTS", t0 + min(3), 2.5)]).await;
    p.start_analytics_on("it-an-influx", reader).await;
    wait_until(
        Duration::from_secs(20),
        "the commits made while analytics was down judged",
        || !exceedances(&p, "LLH-NTS").is_empty() && cursor(&p).as_deref() == Some("4"),
    )
    .await;
    let cjg = exceedances(&p, "LLH-CJG");
    let statuses: Vec<EventStatus> = cjg.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        vec![EventStatus::Firing, EventStatus::Resolved],
        "one start and one end, none judged twice: {cjg:?}"
    );
    p.stop_analytics().await;
    writer.close().await.unwrap();
}

/// `riverwatch evaluations classes --period week` reads the stored days of the week from a
/// real evaluation store and judges the week by the month rule (mean of the daily means):
/// NH3N (5 × 0.8 + 2.3) / 6 = 1.05 mg/L → Class IV against GB 3838's 1.0 < x ≤ 1.5.
#[test]
fn a_week_of_stored_days_is_judged_by_the_command_line() {
    use riverwatch_analytics::model::{ParameterMean, WindowEvaluation};
    use riverwatch_analytics::store::{AnalyticsStore, Commit};
    use riverwatch_core::WaterClass;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("riverwatch.toml");
    std::fs::write(&config, "").unwrap();
    let store = AnalyticsStore::open(&data.join("analytics.db")).unwrap();
    let day = |d: u32, nh3n: f64, revision: u32| {
        let start = utc(&format!("2026-11-{:02}T16:00:00Z", d - 1));
        WindowEvaluation {
            station: "LLH-NTS".into(),
            period: WindowPeriod::Day,
            start,
            revision,
            computed_at: start,
            standard: "GB 3838-2002; 环办〔2011〕22号".into(),
            class: None,
            target: Some(WaterClass::III),
            compliant: None,
            deciding: vec![],
            main_pollutants: vec![],
            completeness: 1.0,
            valid_readings: 54,
            expected_readings: 54,
            sufficient: true,
            parameters: vec![ParameterMean {
                code: "NH3N".into(),
                mean: nh3n,
                count: 6,
                class: None,
                exceedance_multiple: None,
                in_section_class: true,
            }],
        }
    };
    // Monday 23 to Saturday 28 November (CST); the 25th revised from 0.8 to 2.3.
    let mut evaluations: Vec<WindowEvaluation> = (23..=28).map(|d| day(d, 0.8, 0)).collect();
    evaluations.push(day(25, 2.3, 1));
    store
        .commit(&Commit {
            evaluations,
            ..Commit::default()
        })
        .unwrap();

    let (code, out, err) = cli(
        &config,
        &data,
        &[
            "evaluations",
            "classes",
            "--period",
            "week",
            "--from",
            "2026-11-26",
            "--station",
            "LLH-NTS",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let w = &rows[0];
    assert_eq!(w["period"], "week");
    assert_eq!(w["start"], "2026-11-22T16:00:00Z");
    assert_eq!(w["class"], serde_json::to_value(WaterClass::IV).unwrap());
    assert_eq!(w["compliant"], false);
    let nh3n = w["parameters"][0]["mean"].as_f64().unwrap();
    assert!((nh3n - 1.05).abs() < 1e-9, "{nh3n}");
    // Six of seven days delivered: 324 of 378 readings.
    assert_eq!(w["valid_readings"], 324);
    assert_eq!(w["expected_readings"], 378);

    // Without --from the command says what it needs, in Chinese by default.
    let (code, _, err) = cli(
        &config,
        &data,
        &["evaluations", "classes", "--period", "quarter"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("需要 --from"), "{err}");
}
