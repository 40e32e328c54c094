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

/// 24-h means per (station, CST date, parameter) of PM2.5 and PM10 in a recording.
fn daily_means(
    rows: &[riverwatch_simulators::recording::Row],
) -> BTreeMap<(String, NaiveDate, String), f64> {
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
    sums.into_iter()
        .filter(|(_, (_, n))| *n >= 20)
        .map(|(k, (s, n))| (k, s / f64::from(n)))
        .collect()
}

/// The run: the 2025 straw-burning episode started on 2026-10-20 instead. Its days
/// move by the same 365 days (2026-10-23 to 10-28), every city again has its heavy days, and
/// both the daily AQI and the exceedances follow the tables in force in 2026: HJ 633-2026
/// (PM2.5 IAQI 100 at 60 µg/m³) and the GB 3095-2026 phase-1 PM2.5 limit of 60 µg/m³.
#[test]
fn straw_burning_a_year_later_has_its_heavy_days_by_the_2026_tables() {
    let mut c = config("autumn-straw-burning", 21, OutputFormat::Mixed);
    c.start = Some(super::util::at_cst("2026-10-20 00:00"));
    let (rows, _, manifest) = generate(&c);
    let (_, _, manifest_2025) = generate(&config("autumn-straw-burning", 21, OutputFormat::Mixed));
    assert_eq!(manifest.start_utc, "2026-10-19T16:00:00.000Z");
    let means = daily_means(&rows);
    let episode = |m: &riverwatch_simulators::Manifest| {
        m.expectations
            .iter()
            .find_map(|e| match e {
                Expectation::AirEpisode(a) => Some(a.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (now, then) = (episode(&manifest), episode(&manifest_2025));
    let heavy = |a: &riverwatch_simulators::manifest::AirExpectation, shift: i64| {
        a.cities
            .iter()
            .flat_map(|c| {
                c.days
                    .iter()
                    .filter(|d| d.aqi > 200)
                    .map(move |d| (c.station.clone(), d.date + chrono::Duration::days(shift)))
            })
            .collect::<Vec<_>>()
    };
    let heavy_2026 = heavy(&now, 0);
    assert_eq!(heavy_2026, heavy(&then, 365), "the same days, a year on");
    let first = NaiveDate::from_ymd_opt(2026, 10, 23).unwrap();
    let last = NaiveDate::from_ymd_opt(2026, 10, 28).unwrap();
    assert!(heavy_2026.iter().all(|(_, d)| (first..=last).contains(d)));
    assert_eq!(now.cities.len(), 8);
    for city in &now.cities {
        assert!(city.days_above_200 >= 3, "{}", city.station);
        for day in &city.days {
            assert_eq!(day.edition, "HJ 633-2026");
            let m = |p: &str| means[&(city.station.clone(), day.date, p.to_string())];
            let aqi = iaqi(true, m("PM25"), day.date)
                .max(iaqi(false, m("PM10"), day.date))
                .ceil();
            assert_eq!(f64::from(day.aqi), aqi, "{} {}", city.station, day.date);
        }
    }
    assert!(now.cities.iter().any(|c| c.days_above_300 >= 1));
    assert_eq!(now.joint_heavy_days.len(), then.joint_heavy_days.len());
    // Every day whose PM2.5 mean is above 60 is an exceedance of GB 3095-2026, and only those.
    let over: Vec<(String, NaiveDate)> = manifest
        .exceedances
        .iter()
        .filter(|x| x.check == "air_24h" && x.parameter == "PM25")
        .map(|x| {
            assert_eq!(x.limit, 60.0);
            assert!(x.standard.starts_with("GB 3095-2026"), "{}", x.standard);
            let day = riverwatch_core::time::cst_date(
                riverwatch_core::time::parse_time(&x.from_utc).unwrap(),
            );
            (x.station.clone(), day)
        })
        .collect();
    let expected: Vec<(String, NaiveDate)> = means
        .iter()
        .filter(|((_, _, p), m)| p == "PM25" && **m > 60.0)
        .map(|((s, d, _), _)| (s.clone(), *d))
        .collect();
    let mut over_sorted = over.clone();
    over_sorted.sort();
    assert_eq!(over_sorted, expected);
    assert!(over.len() >= 8 * 5, "{} city-days above 60", over.len());
}
