use std::collections::BTreeMap;

use riverwatch_core::registry::StationKind;
use riverwatch_simulators::OutputFormat;

use super::util::{at_cst, config, generate, registry};

fn check_water_class_iii(start: Option<&str>) {
    let mut c = config("baseline", 2, OutputFormat::Json);
    c.start = start.map(at_cst);
    let (rows, _, manifest) = generate(&c);
    let reg = registry();
    let mut checked = 0;
    for r in &rows {
        let st = reg.station(&r.station).unwrap();
        let p = reg.parameter(&r.parameter).unwrap();
        assert!(
            r.value >= p.min && r.value <= p.max,
            "{r:?} outside {}–{}",
            p.min,
            p.max
        );
        if st.kind != StationKind::Water {
            continue;
        }
        // GB 3838-2002 Class III: NH3-N ≤ 1.0, TP ≤ 0.2 (rivers), CODMn ≤ 6, DO ≥ 5, pH 6–9.
        let ok = match r.parameter.as_str() {
            "NH3N" => r.value <= 1.0,
            "TP" => r.value <= 0.2,
            "CODMn" => r.value <= 6.0,
            "DO" => r.value >= 5.0,
            "pH" => (6.0..=9.0).contains(&r.value),
            _ => true,
        };
        assert!(ok, "{r:?} outside Class III");
        checked += 1;
    }
    assert!(checked > 5000, "{checked}");
    assert!(
        manifest.exceedances.is_empty(),
        "{:?}",
        manifest.exceedances.first()
    );
}

#[test]
fn baseline_water_stays_within_class_iii_and_physical_ranges() {
    check_water_class_iii(None);
}

#[test]
fn baseline_stays_within_targets_in_winter_and_at_break_up_too() {
    check_water_class_iii(Some("2026-01-10 00:00"));
    check_water_class_iii(Some("2026-03-30 00:00"));
    check_water_class_iii(Some("2026-11-20 00:00"));
}

#[test]
fn rivers_freeze_in_winter_and_the_heating_season_raises_pm() {
    let mut winter = config("baseline", 2, OutputFormat::Json);
    winter.start = Some(at_cst("2026-01-10 00:00"));
    let (w, _, _) = generate(&winter);
    let (s, _, _) = generate(&config("baseline", 2, OutputFormat::Json));
    // Under ice the Songhua and the Lalin are at 0–1 °C.
    for r in w.iter().filter(|r| {
        r.parameter == "WT" && (r.station.starts_with("SHJ-") || r.station.starts_with("LLH-"))
    }) {
        assert!((0.0..=1.0).contains(&r.value), "{r:?}");
    }
    let mean = |rows: &[riverwatch_simulators::recording::Row], p: &str| {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.parameter == p)
            .map(|r| r.value)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean(&w, "PM25") > 1.8 * mean(&s, "PM25"));
    assert!(mean(&w, "SO2") > 2.5 * mean(&s, "SO2"));
    // DO follows saturation: higher in cold water.
    assert!(mean(&w, "DO") > mean(&s, "DO") + 2.0);
}

#[test]
fn baseline_air_days_stay_good_and_levels_below_warning() {
    let mut sums: BTreeMap<(String, chrono::NaiveDate, String), (f64, u32)> = BTreeMap::new();
    for start in [None, Some("2026-01-10 00:00")] {
        let mut c = config("baseline", 8, OutputFormat::Json);
        c.start = start.map(at_cst);
        let (rows, _, _) = generate(&c);
        let reg = registry();
        for r in &rows {
            let st = reg.station(&r.station).unwrap();
            if r.parameter == "LEVEL" {
                assert!(r.value < st.warning_level_m.unwrap(), "{r:?}");
            }
            if st.kind == StationKind::Outfall {
                // GB 18918-2002 Grade 1A.
                let limit = match r.parameter.as_str() {
                    "COD" => 50.0,
                    "NH3N" => 5.0,
                    "TP" => 0.5,
                    "TN" => 15.0,
                    "SS" => 10.0,
                    _ => f64::INFINITY,
                };
                assert!(r.value <= limit, "{r:?}");
            }
            if st.kind == StationKind::Air {
                let e = sums
                    .entry((
                        r.station.clone(),
                        riverwatch_core::time::cst_date(r.time),
                        r.parameter.clone(),
                    ))
                    .or_default();
                e.0 += r.value;
                e.1 += 1;
            }
        }
    }
    // GB 3095-2012 Grade II 24-h limits (AQI ≤ 100).
    for ((st, d, p), (sum, n)) in sums {
        let m = sum / f64::from(n);
        let limit = match p.as_str() {
            "PM25" => 75.0,
            "PM10" => 150.0,
            "SO2" => 150.0,
            "NO2" => 80.0,
            "CO" => 4.0,
            _ => f64::INFINITY,
        };
        assert!(m <= limit, "{st} {d} {p}: {m}");
    }
}
