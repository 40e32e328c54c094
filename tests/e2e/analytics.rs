use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use riverwatch_analytics::AnalyticsConfig;
use riverwatch_analytics::events::level_name;
use riverwatch_analytics::standards::warning::{WarningRules, level_over_history};
use riverwatch_analytics::store::{DayQuery, EvaluationQuery, EvaluationReader, EventQuery};
use riverwatch_core::Province;
use riverwatch_core::events::{Attribution, Event, EventStatus, Rule, WindowPeriod};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::time::ManualClock;
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::SqliteReader;
use riverwatch_simulators::manifest::{Expectation, Manifest};
use riverwatch_simulators::{Scenario, SimulateConfig};
use riverwatch_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event as MqttEvent, Incoming, QoS};
use tokio_util::sync::CancellationToken;

use crate::util::*;

/// Creates a persistent session subscribed to `filters`, so the broker queues for it.
async fn prime(url: &str, client_id: &str, filters: &[&str]) {
    let opts = MqttConfig::with_url(url).options(client_id, false).unwrap();
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    for f in filters {
        client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
    }
    let mut subacks = 0;
    while subacks < filters.len() {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(MqttEvent::Incoming(Incoming::SubAck(_)))) => subacks += 1,
            Ok(Ok(_)) => {}
            other => panic!("priming session failed: {other:?}"),
        }
    }
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, MqttEvent::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}

/// Collects the events published on `rw/v1/events/+`, as the alert service would.
fn collect_events(url: &str, client_id: &str) -> (Arc<Mutex<Vec<Event>>>, CancellationToken) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let token = CancellationToken::new();
    let opts = MqttConfig::with_url(url).options(client_id, false).unwrap();
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    let (sink, stop) = (events.clone(), token.clone());
    tokio::spawn(async move {
        let _client = client;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                ev = eventloop.poll() => match ev {
                    Ok(MqttEvent::Incoming(Incoming::Publish(p))) => {
                        let e: Event = serde_json::from_slice(&p.payload).expect("an event");
                        assert_eq!(p.topic, format!("rw/v1/events/{}", e.subject));
                        sink.lock().unwrap().push(e);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                },
            }
        }
    });
    (events, token)
}

/// A scenario run through a real broker, ingest and analytics, all in this process.
struct Run {
    manifest: Manifest,
    /// Events as received over MQTT, in arrival order, each id once.
    events: Vec<Event>,
    reader: EvaluationReader,
    _dir: tempfile::TempDir,
}

async fn run_scenario(name: &str) -> Run {
    let started = Instant::now();
    let broker = Mosquitto::start().unwrap();
    let url = broker.url();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let ingest_cfg = IngestConfig {
        client_id: format!("it-an-ingest-{name}"),
        ..IngestConfig::test_config()
    };
    prime(
        &url,
        &ingest_cfg.client_id,
        &["rw/v1/obs/+", "rw/v1/hj212/+"],
    )
    .await;
    let analytics_id = format!("it-an-{name}");
    prime(&url, &analytics_id, &["rw/v1/readings/+"]).await;
    let events_id = format!("it-an-events-{name}");
    prime(&url, &events_id, &["rw/v1/events/+"]).await;

    let ingest = InProcessIngest::start(&url, &db, ingest_cfg);
    assert!(wait_until(Duration::from_secs(10), || db.exists()).await);
    let reader = SqliteReader::open(&db).unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let token = CancellationToken::new();
    let args = riverwatch_analytics::AnalyticsArgs {
        config: AnalyticsConfig {
            client_id: analytics_id,
            ..AnalyticsConfig::test_config()
        },
        mqtt: MqttConfig::with_url(&url),
        reader,
        registry: registry(),
        data_dir: dir.path().to_path_buf(),
        clock: clock.clone(),
        control: None,
    };
    let analytics = tokio::spawn(riverwatch_analytics::run(args, token.clone()));
    let (received, collector) = collect_events(&url, &events_id);

    let mut sim = SimulateConfig::new(Scenario::builtin(name).unwrap(), registry());
    sim.mqtt = Some(MqttConfig::with_url(&url));
    sim.client_id = Some(format!("it-an-sim-{name}"));
    sim.out = Some(dir.path().join("sim.csv"));
    let summary = riverwatch_simulators::run(sim, CancellationToken::new())
        .await
        .unwrap();
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(summary.manifest.unwrap()).unwrap()).unwrap();

    // Analytics has judged each station's last observation once the current status of
    // every station reaches it.
    let store = dir.path().join("analytics.db");
    let end = DateTime::parse_from_rfc3339(&manifest.end_utc)
        .unwrap()
        .with_timezone(&Utc);
    let done = |path: &Path| -> bool {
        let Ok(r) = EvaluationReader::open(path) else {
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
    assert!(
        wait_until(Duration::from_secs(90), || done(&store)).await,
        "analytics did not reach the end of {name}"
    );
    let reader = EvaluationReader::open(&store).unwrap();
    let stored = reader.events(&EventQuery::default()).unwrap().len();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let got: BTreeSet<String> = received
                .lock()
                .unwrap()
                .iter()
                .map(|e| e.id.clone())
                .collect();
            got.len() >= stored
        })
        .await,
        "not every stored event arrived over MQTT"
    );
    token.cancel();
    tokio::time::timeout(Duration::from_secs(30), analytics)
        .await
        .expect("analytics stops within 30 s")
        .unwrap()
        .unwrap();
    collector.cancel();
    ingest.stop().await;
    let mut seen = BTreeSet::new();
    let events: Vec<Event> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|e| seen.insert(e.id.clone()))
        .cloned()
        .collect();
    // What went over MQTT is what the store holds.
    let stored: BTreeSet<String> = reader
        .events(&EventQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, stored);
    drop(broker);
    eprintln!("{name}: {} events in {:?}", events.len(), started.elapsed());
    Run {
        manifest,
        events,
        reader,
        _dir: dir,
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
