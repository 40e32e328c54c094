use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::DataFlag;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::pipeline::ReadingQuery;
use riverwatch_ingest::config::IngestConfig;
use riverwatch_ingest::store::SqliteReader;
use riverwatch_simulators::{OutputFormat, Pacing, Scenario, SimulateConfig};
use riverwatch_testkit::Mosquitto;
use tokio_util::sync::CancellationToken;

use crate::util::*;

type Key = (String, String, DateTime<Utc>);

/// A day of the baseline network, JSON and HJ 212 mixed, published through a real mosquitto
/// into ingest: the store holds exactly the readings of the simulator's own recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_day_through_the_broker_is_stored_exactly_as_recorded() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readings.db");
    let csv = dir.path().join("day.csv");
    let cfg = IngestConfig {
        client_id: "it-sim".into(),
        ..IngestConfig::test_config()
    };
    crate::ingest::prime_session(
        &broker.url(),
        &cfg.client_id,
        &crate::ingest::default_filters(),
    )
    .await;
    let ingest = InProcessIngest::start(&broker.url(), &db, cfg);

    let mut sim = SimulateConfig::new(Scenario::builtin("baseline").unwrap(), registry());
    sim.seed = 7;
    sim.duration = Some(Duration::from_secs(86_400));
    sim.interval_override_secs = Some(3600);
    sim.format = OutputFormat::Mixed;
    sim.pacing = Pacing::Fast;
    sim.mqtt = Some(MqttConfig::with_url(&broker.url()));
    sim.client_id = Some("it-sim-pub".into());
    sim.out = Some(csv.clone());
    let summary = riverwatch_simulators::run(sim, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        summary.acked, summary.messages,
        "every message reached the broker"
    );
    assert!(summary.readings > 5_000, "{summary:?}");

    let recording = riverwatch_simulators::recording::read_rows(&csv).unwrap();
    let expected: BTreeMap<Key, (f64, DataFlag)> = recording
        .iter()
        .map(|r| {
            (
                (r.station.clone(), r.parameter.clone(), r.time),
                (r.value, r.flag),
            )
        })
        .collect();
    assert_eq!(
        expected.len() as u64,
        summary.readings,
        "the recording has no duplicate keys"
    );
    let want = expected.len() as u64;
    assert!(
        wait_until(Duration::from_secs(60), || count_readings(&db) >= want).await,
        "stored {} of {want}",
        count_readings(&db)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    ingest.stop().await;

    assert_eq!(count_dead(&db), 0, "nothing of a normal day is rejected");
    let stored: BTreeMap<Key, (f64, DataFlag)> = SqliteReader::open(&db)
        .unwrap()
        .query_blocking(&ReadingQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                (
                    r.station.to_string(),
                    r.parameter.to_string(),
                    r.observed_at,
                ),
                (r.value, r.flag),
            )
        })
        .collect();
    assert_eq!(stored.len(), expected.len());
    assert_eq!(stored, expected);
}
