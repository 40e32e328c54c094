use std::collections::BTreeMap;

use chrono::NaiveDate;
use riverwatch_simulators::OutputFormat;
use riverwatch_simulators::manifest::Expectation;

use super::util::{config, generate, registry};

/// HJ 633 24-h IAQI for PM2.5 or PM10, written here from the standard's table: 2012 edition
/// before 2026-03-01, the 2026 one (IAQI-100 at 60 / 120 µg/m³) from then on.
fn iaqi(pm25: bool, c: f64, date: NaiveDate) -> f64 {
    let new = date >= NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let bp: [f64; 8] = match (pm25, new) {
        (true, false) => [0., 35., 75., 115., 150., 250., 350., 500.],
        (true, true) => [0., 35., 60., 115., 150., 250., 350., 500.],
        (false, false) => [0., 50., 150., 250., 350., 420., 500., 600.],
        (false, true) => [0., 50., 120., 250., 350., 420., 500., 600.],
    };
    let i = [0., 50., 100., 150., 200., 300., 400., 500.];
    for k in 1..8 {
        if c <= bp[k] {
            return i[k - 1] + (i[k] - i[k - 1]) / (bp[k] - bp[k - 1]) * (c - bp[k - 1]);
        }
    }
    500.0
}

#[test]
fn straw_burning_daily_means_give_the_heavy_days_the_manifest_states() {
    let (rows, _, manifest) = generate(&config("autumn-straw-burning", 21, OutputFormat::Mixed));
    // 24-h means per station and CST day from the recording.
    let mut sums: BTreeMap<(String, NaiveDate, String), (f64, u32)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.parameter == "PM25" || r.parameter == "PM10")
    {
        let date = riverwatch_core::time::cst_date(r.time);
        let e = sums
            .entry((r.station.clone(), date, r.parameter.clone()))
            .or_default();
        e.0 += r.value;
        e.1 += 1;
    }
    let mean = |st: &str, d: NaiveDate, p: &str| {
        let (s, n) = sums[&(st.to_string(), d, p.to_string())];
        assert_eq!(n, 24, "{st} {d} {p}: {n} hourly values");
        s / f64::from(n)
    };
    let exp = manifest
        .expectations
        .iter()
        .find_map(|e| match e {
            Expectation::AirEpisode(a) => Some(a),
            _ => None,
        })
        .unwrap();
    let reg = registry();
    let mut heavy_cities = BTreeMap::<String, u32>::new();
    let mut severe = 0;
    for city in &exp.cities {
        let mut computed_heavy = 0;
        for day in &city.days {
            let aqi = iaqi(true, mean(&city.station, day.date, "PM25"), day.date)
                .max(iaqi(false, mean(&city.station, day.date, "PM10"), day.date))
                .ceil();
            // The manifest's day is above 200 exactly when the recording's means say so.
            assert_eq!(
                day.aqi > 200,
                aqi > 200.0,
                "{} {}: {aqi} vs {}",
                city.station,
                day.date,
                day.aqi
            );
            assert_eq!(f64::from(day.aqi), aqi, "{} {}", city.station, day.date);
            if aqi > 200.0 {
                computed_heavy += 1;
            }
            if aqi > 300.0 {
                severe += 1;
            }
        }
        assert_eq!(computed_heavy, city.days_above_200);
        assert!(
            computed_heavy >= 3,
            "{}: {computed_heavy} heavy days",
            city.station
        );
        let province = reg
            .station(&city.station)
            .unwrap()
            .province
            .code()
            .to_string();
        *heavy_cities.entry(province).or_default() += 1;
    }
    assert!(heavy_cities.get("HLJ").copied().unwrap_or(0) >= 1);
    assert!(heavy_cities.get("JL").copied().unwrap_or(0) >= 1);
    assert!(severe >= 1, "no day above 300");
    assert!(exp.joint_heavy_days.len() >= 3);
}
