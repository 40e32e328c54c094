//! The simulator end to end: a simulated network through a real mosquitto into ingest,
//! compared with the simulator's own recording; a scenario started in another year from the
//! command line, against the standard's limit and the historical record.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::DataFlag;
use riverwatch_simulators::manifest::{Exceedance, Expectation, Manifest};
use riverwatch_simulators::recording::Row;
use riverwatch_simulators::{OutputFormat, Pacing, Scenario, SimulateConfig};
use tokio_util::sync::CancellationToken;

use crate::fixture::*;
use crate::util::*;

type Key = (String, String, DateTime<Utc>);

/// A day of the baseline network, JSON and HJ 212 mixed, published through a real mosquitto
/// into ingest: the store holds exactly the readings of the simulator's own recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_day_through_the_broker_is_stored_exactly_as_recorded() {
    let mut p = Pipeline::builder().with_ingest("it-sim").start().await;
    let csv = p.dir().join("day.csv");

    let mut sim = SimulateConfig::new(Scenario::builtin("baseline").unwrap(), registry());
    sim.seed = 7;
    sim.duration = Some(Duration::from_secs(86_400));
    sim.interval_override_secs = Some(3600);
    sim.format = OutputFormat::Mixed;
    sim.pacing = Pacing::Fast;
    sim.mqtt = Some(p.mqtt());
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
    p.wait_readings(
        Duration::from_secs(60),
        &format!("all {want} readings of the day stored"),
        |n| n >= want,
    )
    .await;
    // Anything the simulator published beyond its recording has been taken too.
    p.barrier().await;
    p.stop_ingest().await;

    assert_eq!(p.dead_letters(), 0, "nothing of a normal day is rejected");
    let stored: BTreeMap<Key, (f64, DataFlag)> = p
        .stored_readings()
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

/// Runs `riverwatch simulate` with `args` in `dir` (no broker: `--out` only) and returns the
/// recording and its manifest.
fn simulate_to_file(dir: &std::path::Path, args: &[&str]) -> (Vec<Row>, Manifest) {
    let out = std::process::Command::new(riverwatch_bin())
        .arg("--data-dir")
        .arg(dir)
        .arg("simulate")
        .args(args)
        .env("RIVERWATCH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let csv = stdout
        .lines()
        .find(|l| l.ends_with(".csv"))
        .unwrap_or_else(|| panic!("no recording named in: {stdout}"));
    let manifest =
        std::fs::read_to_string(stdout.lines().find(|l| l.ends_with(".json")).unwrap()).unwrap();
    (
        riverwatch_simulators::recording::read_rows(std::path::Path::new(csv)).unwrap(),
        serde_json::from_str(&manifest).unwrap(),
    )
}

fn utc(s: &str) -> DateTime<Utc> {
    riverwatch_core::time::parse_time(s).unwrap()
}

/// GB 3838-2002 Table 3: nitrobenzene, mg/L.
const NITROBENZENE_LIMIT: f64 = 0.017;

/// The command: the 2005 spill started on 2026-11-13 13:00. The events keep their
/// offsets from the start (the release at 13:40 on the first day becomes 2026-11-14 02:40),
/// nitrobenzene exceeds 0.017 mg/L along the rivers exactly where the manifest says, and
/// each section's exceedance comes when it came in the 2005 run plus the same offset.
#[test]
fn the_2005_spill_started_in_2026_exceeds_at_its_re_dated_times() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill.csv");
    let (rows, manifest) = simulate_to_file(
        dir.path(),
        &[
            "--scenario",
            "songhua-2005-nitrobenzene",
            "--start",
            "2026-11-13T13:00:00+08:00",
            "--duration",
            "30d",
            "--out",
            spill.to_str().unwrap(),
        ],
    );
    let historical = dir.path().join("historical.csv");
    let (_, manifest_2005) = simulate_to_file(
        dir.path(),
        &[
            "--scenario",
            "songhua-2005-nitrobenzene",
            "--out",
            historical.to_str().unwrap(),
        ],
    );
    // 2005-11-13 00:00 → 2026-11-13 13:00 CST.
    let offset = utc("2026-11-13 13:00") - utc("2005-11-13 00:00");
    assert_eq!(utc(&manifest.start_utc), utc("2026-11-13 13:00"));
    assert_eq!(utc(&manifest_2005.start_utc), utc("2005-11-13 00:00"));
    let Some(Expectation::Plume(plume)) = manifest.expectations.first() else {
        panic!("the spill has a plume");
    };
    assert_eq!(utc(&plume.release_utc), utc("2026-11-14 02:40"));

    // Every nitrobenzene exceedance of the manifest is in the recording: the readings from
    // its first to its last time all above the limit, the one before it not.
    let nb: Vec<&Exceedance> = manifest
        .exceedances
        .iter()
        .filter(|x| x.parameter == "NB")
        .collect();
    assert!(nb.len() >= 10, "{} nitrobenzene exceedances", nb.len());
    for x in &nb {
        assert_eq!(x.limit, NITROBENZENE_LIMIT);
        let series: Vec<&Row> = rows
            .iter()
            .filter(|r| r.station == x.station && r.parameter == "NB")
            .collect();
        let (from, to) = (utc(&x.from_utc), utc(&x.to_utc));
        let during: Vec<&&Row> = series
            .iter()
            .filter(|r| r.time >= from && r.time <= to)
            .collect();
        assert_eq!(during.len() as u32, x.readings, "{}", x.station);
        assert!(
            during.iter().all(|r| r.value > NITROBENZENE_LIMIT),
            "{}",
            x.station
        );
        let before = series.iter().rev().find(|r| r.time < from).unwrap();
        assert!(before.value <= NITROBENZENE_LIMIT, "{}", x.station);
    }
    // And nowhere else.
    let above = rows
        .iter()
        .filter(|r| r.parameter == "NB" && r.value > NITROBENZENE_LIMIT)
        .count() as u32;
    assert_eq!(above, nb.iter().map(|x| x.readings).sum::<u32>());

    // Each section as in 2005, moved by the offset (within an hour: the analyser noise
    // differs with the date, so a threshold crossing may fall one sample either side).
    for old in manifest_2005
        .exceedances
        .iter()
        .filter(|x| x.parameter == "NB")
    {
        let new = nb
            .iter()
            .find(|x| x.station == old.station)
            .unwrap_or_else(|| panic!("{} exceeded in 2005 only", old.station));
        let lag = utc(&new.from_utc) - (utc(&old.from_utc) + offset);
        assert!(lag.num_minutes().abs() <= 60, "{}: {lag:?}", old.station);
    }
    assert_eq!(
        nb.len(),
        manifest_2005
            .exceedances
            .iter()
            .filter(|x| x.parameter == "NB")
            .count()
    );

    // Near Harbin (Sujiatun, above the intake) the peak was 0.58 mg/L at 00:00 on 11-25;
    // thirteen hours later in the day and 21 years on, it comes at 2026-11-25 13:00.
    let peak = rows
        .iter()
        .filter(|r| r.station == "SHJ-SJT" && r.parameter == "NB")
        .max_by(|a, b| a.value.total_cmp(&b.value))
        .unwrap();
    assert!((0.54..=0.62).contains(&peak.value), "{}", peak.value);
    let late = peak.time - utc("2026-11-25 13:00");
    assert!(late.num_hours().abs() <= 3, "peak at {}", peak.time);
}
