use riverwatch_core::DataFlag;
use riverwatch_simulators::OutputFormat;

use super::util::{at_cst, config, generate, registry, rows_of};

#[test]
fn every_fault_is_in_the_manifest_and_shows_in_the_recording() {
    let (rows, _, manifest) = generate(&config("sensor-faults", 13, OutputFormat::Mixed));
    let kinds: Vec<&str> = manifest.faults.iter().map(|f| f.kind.as_str()).collect();
    for k in [
        "stuck",
        "drift",
        "spike",
        "out_of_range",
        "flag",
        "clock_skew",
        "duplicate",
        "outage",
        "dropout",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let fault = |kind: &str, station: &str| {
        manifest
            .faults
            .iter()
            .find(|f| f.kind == kind && f.station == station)
            .unwrap()
    };
    let in_window = |r: &&riverwatch_simulators::recording::Row, a: &str, b: &str| {
        r.time >= at_cst(a) && r.time < at_cst(b)
    };

    // Stuck: twelve identical hourly values, listed one by one.
    let stuck: Vec<f64> = rows_of(&rows, "AIR-DH", "PM25")
        .into_iter()
        .filter(|r| in_window(r, "2026-05-19 06:00", "2026-05-19 18:00"))
        .map(|r| r.value)
        .collect();
    assert_eq!(stuck.len(), 12);
    assert!(stuck.windows(2).all(|w| w[0] == w[1]), "{stuck:?}");
    assert_eq!(fault("stuck", "AIR-DH").readings.len(), 12);

    // Drift: −1.5 mg/L per day for two days; DO jumps back by about 3 mg/L when it ends.
    let do_ys = rows_of(&rows, "LLH-YS", "DO");
    let before = do_ys
        .iter()
        .find(|r| r.time == at_cst("2026-05-20 23:00"))
        .unwrap()
        .value;
    let after = do_ys
        .iter()
        .find(|r| r.time == at_cst("2026-05-21 00:00"))
        .unwrap()
        .value;
    assert!(
        (after - before - 2.94).abs() < 0.6,
        "drift jump {before} → {after}"
    );

    // Spikes at the first sample at or after each time.
    let spikes: Vec<_> = rows_of(&rows, "AIR-YS", "PM10")
        .into_iter()
        .filter(|r| r.value == 980.0)
        .collect();
    assert_eq!(
        spikes.iter().map(|r| r.time).collect::<Vec<_>>(),
        vec![at_cst("2026-05-18 14:00"), at_cst("2026-05-20 03:00")]
    );

    // Out of range: above the registry's pH maximum, and marked invalid for ingest.
    let ph_max = registry().parameter("pH").unwrap().max;
    let oor: Vec<_> = rows_of(&rows, "WWTP-WC", "pH")
        .into_iter()
        .filter(|r| r.value > ph_max)
        .collect();
    assert_eq!(oor.len(), 2);
    assert_eq!(
        fault("out_of_range", "WWTP-WC")
            .invalid_for_ingest
            .as_deref(),
        Some("out_of_range")
    );

    // Maintenance: every value of SHJ-SFT in the window is flagged M.
    let m: Vec<_> = rows
        .iter()
        .filter(|r| r.station == "SHJ-SFT" && in_window(r, "2026-05-19 08:00", "2026-05-19 16:00"))
        .collect();
    assert!(!m.is_empty() && m.iter().all(|r| r.flag == DataFlag::M));
    // Calibration: NH3-N shows the 1.5 mg/L standard, flagged C, and is no exceedance.
    let c: Vec<_> = rows_of(&rows, "LLH-NTS", "NH3N")
        .into_iter()
        .filter(|r| r.flag == DataFlag::C)
        .collect();
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|r| r.value == 1.5));
    assert!(!manifest.exceedances.iter().any(|e| e.station == "LLH-NTS"));

    // Clock skew: 25 minutes ahead, marked invalid for ingest.
    let skewed: Vec<_> = rows_of(&rows, "AIR-SC", "PM25")
        .into_iter()
        .filter(|r| in_window(r, "2026-05-20 00:00", "2026-05-20 07:00"))
        .collect();
    assert!(
        skewed
            .iter()
            .take(6)
            .all(|r| r.time.format("%M").to_string() == "25"),
        "{skewed:?}"
    );
    assert_eq!(
        fault("clock_skew", "AIR-SC").invalid_for_ingest.as_deref(),
        Some("timestamp_out_of_range")
    );

    // Duplicates: each of the four messages twice.
    let dup = rows_of(&rows, "AIR-WC", "O3")
        .into_iter()
        .filter(|r| in_window(r, "2026-05-19 00:00", "2026-05-19 04:00"))
        .count();
    assert_eq!(dup, 8);

    // Outage: the six hourly readings arrive after the link is back, with their own times.
    let pos = |pred: &dyn Fn(&riverwatch_simulators::recording::Row) -> bool| {
        rows.iter().position(pred).unwrap()
    };
    let backfill = pos(&|r| r.station == "AIR-CC" && r.time == at_cst("2026-05-20 10:00"));
    let later = pos(&|r| r.station == "AIR-HRB" && r.time == at_cst("2026-05-20 15:00"));
    assert!(backfill > later, "the backfill must be sent after 15:40");
    let cc = rows_of(&rows, "AIR-CC", "PM25")
        .into_iter()
        .filter(|r| in_window(r, "2026-05-20 10:00", "2026-05-20 16:00"))
        .count();
    assert_eq!(cc, 6);

    // Dropouts: nothing from HYD-HRB for six hours; TP alone missing at WWTP-YS.
    assert!(
        !rows.iter().any(
            |r| r.station == "HYD-HRB" && in_window(&r, "2026-05-21 00:00", "2026-05-21 06:00")
        )
    );
    let f = fault("dropout", "HYD-HRB");
    assert_eq!(f.readings.iter().filter(|r| !r.sent).count(), 6 * 4);
    let ys = |p: &str| {
        rows_of(&rows, "WWTP-YS", p)
            .into_iter()
            .filter(|r| in_window(r, "2026-05-19 12:00", "2026-05-19 18:00"))
            .count()
    };
    assert_eq!((ys("TP"), ys("COD")), (0, 6));
}
