//! Window tests: expected values worked out by hand from GB 3838-2002, HJ 633 and the
//! completeness rule, not read from the code's output.

use chrono::TimeZone;
use riverwatch_core::{DataFlag, ParamCode, StationId};

use super::*;
use crate::standards::hj633::Metric;

fn reg() -> Registry {
    Registry::builtin().unwrap()
}

/// CST time → UTC.
fn at_cst(m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap() - chrono::Duration::hours(8)
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

const SECTION_PARAMS: [(&str, f64); 9] = [
    ("WT", 18.0),
    ("pH", 7.6),
    ("DO", 7.0),
    ("COND", 300.0),
    ("TURB", 10.0),
    ("CODMn", 4.5),
    ("NH3N", 0.4),
    ("TP", 0.08),
    ("TN", 1.2),
];

/// A water section's day: one sample of every parameter at the given CST hours.
fn section_day(station: &str, d: u32, hours: &[u32], nh3n: f64) -> Vec<Reading> {
    let mut out = Vec::new();
    for &h in hours {
        for (p, v) in SECTION_PARAMS {
            let v = if p == "NH3N" { nh3n } else { v };
            out.push(r(station, p, at_cst(9, d, h), v));
        }
    }
    out
}

fn run(readings: &[Reading], requests: &[Request]) -> Results {
    let reg = reg();
    let cfg = AnalyticsConfig::default();
    let ctx = Context {
        registry: &reg,
        config: &cfg,
        now: at_cst(10, 1, 0),
    };
    compute(&ctx, readings, requests, &|| false).unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, d).unwrap()
}

#[test]
fn a_full_day_has_a_rate_of_one_and_the_class_of_its_means() {
    // Six samples every 4 h: NH3N mean 1.2 → Class IV (III ≤ 1.0 < IV ≤ 1.5).
    let readings = section_day("LLH-NTS", 10, &[0, 4, 8, 12, 16, 20], 1.2);
    let res = run(
        &readings,
        &[Request {
            station: "LLH-NTS".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    let e = &res.daily[0];
    assert_eq!((e.valid_readings, e.expected_readings), (54, 54));
    assert_eq!(e.completeness, 1.0);
    assert!(e.sufficient);
    assert_eq!(e.class, Some(WaterClass::IV));
    assert_eq!(e.compliant, Some(false));
    assert_eq!(e.deciding, vec!["NH3N".to_string()]);
    let nh3n = e.parameters.iter().find(|p| p.code == "NH3N").unwrap();
    assert_eq!((nh3n.mean, nh3n.count), (1.2, 6));
    // Exceedance multiple against Class III: (1.2 − 1.0) / 1.0.
    assert!((nh3n.exceedance_multiple.unwrap() - 0.2).abs() < 1e-9);
    // TN is classed for reference but does not decide.
    let tn = e.parameters.iter().find(|p| p.code == "TN").unwrap();
    assert_eq!(
        (tn.class, tn.in_section_class),
        (Some(WaterClass::IV), false)
    );
    assert_eq!(e.standard, "GB 3838-2002; 环办〔2011〕22号");
}

#[test]
fn missing_samples_lower_the_rate_and_extra_samples_do_not_raise_it() {
    let half = section_day("LLH-NTS", 10, &[0, 4, 8], 0.4);
    let res = run(
        &half,
        &[Request {
            station: "LLH-NTS".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    assert_eq!(res.daily[0].completeness, 0.5);
    assert!(!res.daily[0].sufficient, "0.5 < 0.75");
    // Hourly emergency sampling: 24 samples per parameter, capped at the 6 expected.
    let hours: Vec<u32> = (0..24).collect();
    let many = section_day("LLH-NTS", 10, &hours, 0.4);
    let res = run(
        &many,
        &[Request {
            station: "LLH-NTS".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    assert_eq!(res.daily[0].completeness, 1.0);
    assert_eq!(res.daily[0].valid_readings, 54);
}

#[test]
fn flagged_readings_do_not_count() {
    let mut readings = section_day("LLH-NTS", 10, &[0, 4, 8, 12, 16, 20], 0.4);
    for x in readings.iter_mut().filter(|x| x.parameter == "NH3N") {
        x.flag = DataFlag::M;
        x.value = 9.0;
    }
    let res = run(
        &readings,
        &[Request {
            station: "LLH-NTS".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    let e = &res.daily[0];
    assert_eq!(e.valid_readings, 48);
    assert!(e.parameters.iter().all(|p| p.code != "NH3N"));
    // Without the flagged NH3N the worst class item is CODMn 4.5 (Class III).
    assert_eq!(e.class, Some(WaterClass::III));
    assert_eq!(e.deciding, vec!["CODMn".to_string()]);
}

#[test]
fn the_monthly_class_comes_from_the_mean_of_daily_means() {
    // 30 days of September: 29 days NH3N 0.4, one day 9.1 → monthly mean 0.69 → Class III.
    let mut readings = Vec::new();
    for d in 1..=30 {
        let v = if d == 15 { 9.1 } else { 0.4 };
        readings.extend(section_day("LLH-NTS", d, &[0, 4, 8, 12, 16, 20], v));
    }
    let res = run(
        &readings,
        &[Request {
            station: "LLH-NTS".into(),
            days: vec![day(15)],
            months: vec![Month {
                year: 2026,
                month: 9,
            }],
            ..Request::default()
        }],
    );
    assert_eq!(res.daily[0].class, Some(WaterClass::WorseThanV));
    let m = &res.monthly[0];
    assert_eq!(m.period, WindowPeriod::Month);
    assert_eq!(m.start, at_cst(9, 1, 0));
    let nh3n = m.parameters.iter().find(|p| p.code == "NH3N").unwrap();
    assert!((nh3n.mean - 0.69).abs() < 1e-9, "{}", nh3n.mean);
    assert_eq!(nh3n.count, 30);
    assert_eq!(m.class, Some(WaterClass::III));
    assert_eq!(m.compliant, Some(true));
    assert_eq!(m.completeness, 1.0);
}

#[test]
fn lake_sections_use_the_lake_tp_limits() {
    // TP 0.04: Class II in a river, Class III in a reservoir (0.025 < 0.04 ≤ 0.05).
    let mut readings = Vec::new();
    for h in [0, 4, 8, 12, 16, 20] {
        readings.push(r("LLH-MPS", "TP", at_cst(9, 10, h), 0.04));
    }
    let res = run(
        &readings,
        &[Request {
            station: "LLH-MPS".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    assert_eq!(res.daily[0].class, Some(WaterClass::III));
    assert_eq!(res.daily[0].compliant, Some(false), "target II");
}

fn air_hour(station: &str, h: u32, pm25: f64, o3: Option<f64>) -> Vec<Reading> {
    let at = at_cst(9, 10, h);
    let mut v = vec![
        r(station, "PM25", at, pm25),
        r(station, "PM10", at, 60.0),
        r(station, "SO2", at, 10.0),
        r(station, "NO2", at, 20.0),
        r(station, "CO", at, 0.6),
    ];
    if let Some(o3) = o3 {
        v.push(r(station, "O3", at, o3));
    }
    for x in &mut v {
        x.period = Period::Hour;
    }
    v
}

#[test]
fn daily_aqi_uses_24_hour_means_and_the_o3_daily_maximum_8_hour_mean() {
    // O3 100 µg/m³ except 300 for the eight hours 12:00–19:00: the maximum 8-hour mean is
    // 300 (window ending 20:00). HJ 633-2012 O3 8h: 265 → 200, 800 → 300, so
    // IAQI = 200 + 100 × (300 − 265) / (800 − 265) = 206.5 → 207. The day is after
    // 2026-03-01, so PM2.5 86 uses HJ 633-2026: 124 (reference §3.4 worked example).
    let mut readings = Vec::new();
    for h in 0..24 {
        let o3 = if (12..20).contains(&h) { 300.0 } else { 100.0 };
        readings.extend(air_hour("AIR-SC", h, 86.0, Some(o3)));
    }
    let res = run(
        &readings,
        &[Request {
            station: "AIR-SC".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    let a = &res.aqi_daily[0];
    assert_eq!(a.concentrations.get("O3_8H"), Some(&300.0));
    assert_eq!(a.concentrations.get("O3_1H_MAX"), Some(&300.0));
    assert_eq!(a.iaqi.get("O3"), Some(&207));
    assert_eq!(a.iaqi.get("PM25"), Some(&124));
    assert_eq!(a.aqi, Some(207));
    assert_eq!(a.level, Some(5));
    assert_eq!(a.primary, vec!["O3".to_string()]);
    assert_eq!(a.edition, "HJ 633-2026", "2026-09-10 is after 2026-03-01");
    // PM2.5 86 is over the GB 3095-2026 phase 1 Grade II 24-h limit of 60; O3 8h over 160.
    assert_eq!(a.over_gb3095, vec!["PM25".to_string(), "O3_8H".to_string()]);
    assert!(a.insufficient.is_empty());
    // The 1-hour maximum 300 is the 1-hour breakpoint of IAQI 150 < 207: the 8-hour
    // maximum decides.
    assert_eq!(a.iaqi_columns.get("O3"), Some(&Metric::O3Mean8h));
    assert_eq!(a.o3_8h_windows, Some(17));
}

#[test]
fn too_few_hours_leave_a_pollutant_out_of_the_daily_aqi() {
    // 19 hours of data: below the 20 a 24-hour mean needs; O3 for 10 hours (00–09) gives 5
    // valid 8-hour windows (ending at 08:00 … 12:00), fewer than 14, and their maximum 100
    // does not exceed 160, so it does not count either. The O3 daily maximum 1-hour mean
    // is a daily indicator of its own: 100 → 50 × 100 / 160 = 31.25 → 32.
    let mut readings = Vec::new();
    for h in 0..19 {
        readings.extend(air_hour("AIR-SC", h, 86.0, (h < 10).then_some(100.0)));
    }
    let res = run(
        &readings,
        &[Request {
            station: "AIR-SC".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    let a = &res.aqi_daily[0];
    assert!(a.insufficient.contains(&"PM25".to_string()));
    assert!(a.insufficient.contains(&"O3_8H".to_string()));
    assert_eq!(a.o3_8h_windows, Some(5));
    assert_eq!(a.concentrations.get("O3_8H"), None);
    assert_eq!(a.iaqi.len(), 1);
    assert_eq!(a.iaqi.get("O3"), Some(&32));
    assert_eq!(a.iaqi_columns.get("O3"), Some(&Metric::O3Mean1h));
    assert_eq!(a.aqi, Some(32));
    assert!(a.primary.is_empty(), "AQI 32 ≤ 50");
}

/// A day of air readings (PM2.5 86 every hour) with O3 `o3(h)` in the hours it gives.
fn air_day_with_o3(o3: impl Fn(u32) -> Option<f64>) -> Vec<Reading> {
    (0..24)
        .flat_map(|h| air_hour("AIR-SC", h, 86.0, o3(h)))
        .collect()
}

fn daily(readings: &[Reading]) -> AqiRecord {
    let res = run(
        readings,
        &[Request {
            station: "AIR-SC".into(),
            days: vec![day(10)],
            ..Request::default()
        }],
    );
    res.aqi_daily[0].clone()
}

#[test]
fn the_o3_daily_maximum_1_hour_mean_can_decide_the_daily_aqi() {
    // O3 100 all day but 350 at 14:00. Every 8-hour window holding 14:00 averages
    // (7 × 100 + 350) / 8 = 131.25 → 50 + 50 × 31.25 / 60 = 76.04 → 77; the 1-hour maximum
    // 350 → 150 + 50 × 50 / 100 = 175. PM2.5 86 → 124 (HJ 633-2026, 2026-09-10). AQI 175,
    // primary pollutant O3, from its 1-hour maximum.
    let a = daily(&air_day_with_o3(|h| {
        Some(if h == 14 { 350.0 } else { 100.0 })
    }));
    assert_eq!(a.concentrations.get("O3_1H_MAX"), Some(&350.0));
    assert_eq!(a.concentrations.get("O3_8H"), Some(&131.25));
    assert_eq!(a.iaqi.get("O3"), Some(&175));
    assert_eq!(a.iaqi_columns.get("O3"), Some(&Metric::O3Mean1h));
    assert_eq!(a.iaqi.get("PM25"), Some(&124));
    assert_eq!(a.aqi, Some(175));
    assert_eq!(a.level, Some(4));
    assert_eq!(a.primary, vec!["O3".to_string()]);
    assert_eq!(a.o3_8h_windows, Some(17));
}

#[test]
fn fewer_than_14_windows_below_the_limit_leave_the_8_hour_maximum_out() {
    // O3 150 for 00:00–12:59 only: 8 valid windows (ending 08:00 … 15:00), maximum 150 ≤ 160:
    // not counted. O3 is then judged by its 1-hour maximum alone: 150 → 50 × 150 / 160 =
    // 46.9 → 47 (the 8-hour 150 would have given 91.67 → 92).
    let a = daily(&air_day_with_o3(|h| (h <= 12).then_some(150.0)));
    assert_eq!(a.o3_8h_windows, Some(8));
    assert!(a.insufficient.contains(&"O3_8H".to_string()));
    assert_eq!(a.concentrations.get("O3_8H"), None);
    assert_eq!(a.iaqi.get("O3"), Some(&47));
    assert_eq!(a.iaqi_columns.get("O3"), Some(&Metric::O3Mean1h));
    assert_eq!(a.aqi, Some(124), "PM2.5");
    assert!(!a.over_gb3095.contains(&"O3_8H".to_string()));
}

#[test]
fn fewer_than_14_windows_above_the_limit_still_count() {
    // O3 200 for 00:00–12:59 only: 8 valid windows, maximum 200 > 160 (GB 3095-2026 Grade II,
    // unchanged for O3): it counts. 8 h 200 → 100 + 50 × 40 / 55 = 136.4 → 137; 1 h 200 →
    // 100. AQI max(124, 137) = 137, primary O3 from its 8-hour maximum.
    let a = daily(&air_day_with_o3(|h| (h <= 12).then_some(200.0)));
    assert_eq!(a.o3_8h_windows, Some(8));
    assert!(!a.insufficient.contains(&"O3_8H".to_string()));
    assert_eq!(a.concentrations.get("O3_8H"), Some(&200.0));
    assert_eq!(a.iaqi.get("O3"), Some(&137));
    assert_eq!(a.iaqi_columns.get("O3"), Some(&Metric::O3Mean8h));
    assert_eq!(a.aqi, Some(137));
    assert_eq!(a.primary, vec!["O3".to_string()]);
    assert!(a.over_gb3095.contains(&"O3_8H".to_string()));
}

#[test]
fn hourly_aqi_from_hourly_means() {
    let readings = air_hour("AIR-SC", 9, 86.0, Some(40.0));
    let res = run(
        &readings,
        &[Request {
            station: "AIR-SC".into(),
            hours: Some((at_cst(9, 10, 0), at_cst(9, 10, 12))),
            ..Request::default()
        }],
    );
    assert_eq!(res.hourly.len(), 1, "hours without data are skipped");
    assert_eq!(res.aqi_hourly.len(), 1);
    // HJ 633-2026 PM2.5 table: 60 → 100, 115 → 150: 100 + 50 × 26 / 55 = 123.6 → 124.
    assert_eq!(res.aqi_hourly[0].aqi, Some(124));
    assert_eq!(res.aqi_hourly[0].start, at_cst(9, 10, 9));
}

#[test]
fn the_span_covers_every_window_asked_for() {
    let req = Request {
        station: "AIR-SC".into(),
        hours: Some((at_cst(9, 10, 4), at_cst(9, 10, 8))),
        days: vec![day(10)],
        months: vec![],
    };
    assert_eq!(req.span(), Some((at_cst(9, 9, 5), at_cst(9, 11, 0))));
    assert_eq!(Request::default().span(), None);
}

mod spans {
    //! Reporting periods from stored days: bounds from the calendar, values from the month
    //! rule (mean of daily means), checked against the stored month and by hand.

    use super::*;
    use crate::windows::spans::{Span, evaluate_span};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn spans_follow_the_calendar() {
        // 2026-12-03 is a Thursday: its ISO week runs Monday 30 November to Sunday 6 December.
        let w = Span::containing(WindowPeriod::Week, date(2026, 12, 3)).unwrap();
        assert_eq!(
            (w.first_day, w.end_day),
            (date(2026, 11, 30), date(2026, 12, 7))
        );
        assert_eq!(w.days(), 7);
        // The same ISO week (W49) of 2025 starts Monday 1 December 2025.
        assert_eq!(w.year_before().unwrap().first_day, date(2025, 12, 1));
        // Q4: October to December, 31 + 30 + 31 days.
        let q = Span::containing(WindowPeriod::Quarter, date(2026, 11, 15)).unwrap();
        assert_eq!(
            (q.first_day, q.end_day),
            (date(2026, 10, 1), date(2027, 1, 1))
        );
        assert_eq!(q.days(), 92);
        let q1 = Span::containing(WindowPeriod::Quarter, date(2027, 2, 1)).unwrap();
        assert_eq!(q1.previous(), Some(q));
        // 2024 is a leap year.
        assert_eq!(
            Span::containing(WindowPeriod::Year, date(2024, 7, 1))
                .unwrap()
                .days(),
            366
        );
        // A month starts at 00:00 UTC+8, 16:00 UTC the day before.
        let m = Span::containing(WindowPeriod::Month, date(2026, 9, 17)).unwrap();
        assert_eq!(m.start(), at_cst(9, 1, 0));
        assert_eq!(m.year_before().unwrap().first_day, date(2025, 9, 1));
        assert_eq!(Span::containing(WindowPeriod::Hour, date(2026, 9, 1)), None);
    }

    #[test]
    fn a_month_from_its_stored_days_agrees_with_the_stored_month() {
        // September: NH3N 0.4 except 9.1 on the 15th, no data at all on the 20th, and the
        // 21st with only two of its six samples.
        let mut readings = Vec::new();
        for d in 1..=30 {
            let v = if d == 15 { 9.1 } else { 0.4 };
            let hours: &[u32] = match d {
                20 => &[],
                21 => &[0, 4],
                _ => &[0, 4, 8, 12, 16, 20],
            };
            readings.extend(section_day("LLH-NTS", d, hours, v));
        }
        let res = run(
            &readings,
            &[Request {
                station: "LLH-NTS".into(),
                days: (1..=30).map(day).collect(),
                months: vec![Month {
                    year: 2026,
                    month: 9,
                }],
                ..Request::default()
            }],
        );
        let reg = reg();
        let cfg = AnalyticsConfig::default();
        let ctx = Context {
            registry: &reg,
            config: &cfg,
            now: at_cst(10, 1, 0),
        };
        let station = reg.station("LLH-NTS").unwrap();
        let span = Span::containing(WindowPeriod::Month, day(1)).unwrap();
        let from_days = evaluate_span(&ctx, station, &span, &res.daily);
        let stored = &res.monthly[0];
        assert_eq!(from_days.class, stored.class);
        assert_eq!(from_days.compliant, stored.compliant);
        assert_eq!(from_days.valid_readings, stored.valid_readings);
        assert_eq!(from_days.expected_readings, stored.expected_readings);
        assert_eq!(from_days.completeness, stored.completeness);
        assert_eq!(from_days.parameters.len(), stored.parameters.len());
        for (a, b) in from_days.parameters.iter().zip(&stored.parameters) {
            assert_eq!(a.code, b.code);
            assert!(
                (a.mean - b.mean).abs() < 1e-6,
                "{}: {} vs {}",
                a.code,
                a.mean,
                b.mean
            );
            assert_eq!(a.count, b.count, "{}", a.code);
            assert_eq!(a.class, b.class, "{}", a.code);
        }
        // By hand: 29 daily NH3N means (the 20th has none), 28 of 0.4 and one of 9.1:
        // (28 × 0.4 + 9.1) / 29 = 0.7 → Class III.
        let nh3n = from_days
            .parameters
            .iter()
            .find(|p| p.code == "NH3N")
            .unwrap();
        assert!((nh3n.mean - 0.7).abs() < 1e-9, "{}", nh3n.mean);
        assert_eq!(nh3n.count, 29);
    }

    #[test]
    fn a_quarter_counts_its_days_without_data_as_missing() {
        // Only September of Q3 has data (30 full days of 6 samples × 9 parameters); the
        // quarter has 92 days: 1620 of 4968 expected readings, 32.6 %, below the minimum
        // rate, so its class (Class III from CODMn 4.5: 4 < 4.5 ≤ 6) does not count.
        let mut readings = Vec::new();
        for d in 1..=30 {
            readings.extend(section_day("LLH-NTS", d, &[0, 4, 8, 12, 16, 20], 0.4));
        }
        let res = run(
            &readings,
            &[Request {
                station: "LLH-NTS".into(),
                days: (1..=30).map(day).collect(),
                ..Request::default()
            }],
        );
        let reg = reg();
        let cfg = AnalyticsConfig::default();
        let ctx = Context {
            registry: &reg,
            config: &cfg,
            now: at_cst(10, 1, 0),
        };
        let station = reg.station("LLH-NTS").unwrap();
        let span = Span::containing(WindowPeriod::Quarter, day(5)).unwrap();
        let q = evaluate_span(&ctx, station, &span, &res.daily);
        assert_eq!(q.period, WindowPeriod::Quarter);
        assert_eq!(q.start, at_cst(7, 1, 0));
        assert_eq!(q.valid_readings, 1620);
        assert_eq!(q.expected_readings, 4968);
        assert!(
            (q.completeness - 0.326087).abs() < 1e-6,
            "{}",
            q.completeness
        );
        assert!(!q.sufficient);
        assert_eq!(q.class, Some(WaterClass::III));
        assert_eq!(counted_class(&q), None);
    }
}
