//! The monthly report of a simulated September on the Lalin River, end to end: a fixed-seed
//! scenario (a 20-day NH3-N/TP discharge crossing the boundary sections, a straw-burning
//! episode, a treatment-plant upset, a flood, a sensor dropout) written into a real SQLite
//! readings store, judged by the analytics engine (its catch-up over the store's commit log,
//! as the service runs it) into a real evaluation store, and reported. Every expected number
//! is worked out here from the simulator's own output (its observations and manifest) with
//! the standards' tables transcribed from `reference/standards.md` (GB 3838-2002 Table 1,
//! the 2011 method, HJ 633-2026) and the debounce rules the README states, never from
//! riverwatch's output.
//!
//! Size: the registry's reporting intervals (sections every 4 h, air, plants and gauges
//! hourly) and 15 of the 38 stations (the Lalin's sections, plants and gauge, the four
//! Lalin cities and 德惠, which the river's report must leave out): about 47 000 readings,
//! about 3 s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use riverwatch_analytics::AnalyticsConfig;
use riverwatch_analytics::engine::{Engine, EngineArgs};
use riverwatch_analytics::store::{AnalyticsStore, EvaluationReader};
use riverwatch_analytics::telemetry::Metrics;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::store_api::WriteBatch;
use riverwatch_core::time::{SystemClock, cst_date};
use riverwatch_core::{Lang, ParamCode, Reading, StationId};
use riverwatch_ingest::store::{SqliteReader, SqliteStore};
use riverwatch_simulators::manifest::{Expectation, Manifest};
use riverwatch_simulators::{Scenario, SimulateConfig};
use riverwatch_testkit::TempDir;
use tokio_util::sync::CancellationToken;

use crate::util::registry;

const SEED: u64 = 20_260_901;

const SCENARIO: &str = r#"
name = "lalin-september"
description_zh = "拉林河九月：五常河段持续20天氨氮、总磷排放跨省界传播，秸秆焚烧重污染过程，榆树污水厂工艺异常，蔡家沟水文站超警戒，扶余断面数据缺失3天。"
description_en = "A Lalin September: a 20-day NH3-N/TP discharge crossing the boundary, a straw-burning episode, a plant upset at Yushu, a flood at Caijiagou, three days without data at Caijiagou."
start = "2026-09-01 00:00"
duration = "30d"

[stations]
include = ["LLH-*", "AIR-SC", "AIR-WC", "AIR-YS", "AIR-FY", "AIR-DH", "WWTP-WC", "WWTP-YS", "HYD-CJG"]

[[plume]]
id = "lalin-ammonia-september"
river = "lalin"
km = 200.0
province = "HLJ"
cause_zh = "五常市境内养殖场粪污持续渗漏入拉林河约20天。"
cause_en = "A Wuchang livestock farm leaked manure into the Lalin for about 20 days."
release_at = "2026-09-05 00:00"
release_hours = 480.0
spread_initial_hours = 1.0
spread_per_hour = 0.08

[[plume.load]]
parameter = "NH3N"
mass_kg = 150000.0
decay_per_day = 0.15

[[plume.load]]
parameter = "TP"
mass_kg = 20000.0
decay_per_day = 0.05

[[plume.reach]]
river = "lalin"
from_km = 160.0
to_km = 260.0
velocity_kmh = 2.0
flow_m3s = 45.0

[[plume.reach]]
river = "lalin"
from_km = 260.0
to_km = 330.0
velocity_kmh = 2.0
flow_m3s = 60.0

[[plume.reach]]
river = "lalin"
from_km = 330.0
to_km = 410.0
velocity_kmh = 2.0
flow_m3s = 75.0

[[plume.reach]]
river = "lalin"
from_km = 410.0
to_km = 448.0
velocity_kmh = 2.0
flow_m3s = 100.0

[[air_episode]]
id = "straw-burning-2026-09"
cause_zh = "秋收后露天焚烧秸秆叠加静稳天气。"
cause_en = "Open straw burning after the harvest under stagnant weather."
stations = ["AIR-*"]
first_day = "2026-09-20"
daily_pm25 = [75.0, 140.0, 245.0, 160.0, 135.0, 50.0]
pm25_fraction_of_pm10 = 0.7
co_per_pm25 = 0.008

[[outfall_upset]]
station = "WWTP-YS"
cause_zh = "进水冲击负荷导致硝化系统失效。"
cause_en = "A shock load stopped nitrification."
start = "2026-09-12 02:00"
ramp_up_hours = 3.0
plateau_hours = 8.0
ramp_down_hours = 6.0
peak = { NH3N = 14.0, COD = 88.0, SS = 32.0, TP = 1.2, TN = 24.0 }

[[flood]]
station = "HYD-CJG"
cause_zh = "连续降雨。"
cause_en = "Days of rain."
start = "2026-09-14 08:00"
rise_hours = 54.0
peak_above_warning_m = 0.6
recession_hours = 60.0
rain_mm = 65.0

[[fault]]
kind = "dropout"
station = "LLH-CJG"
from = "2026-09-08 00:00"
to = "2026-09-11 00:00"
"#;

/// One valid value the simulated stations sent.
struct Value {
    station: String,
    parameter: String,
    at: DateTime<Utc>,
    value: f64,
}

// ---- GB 3838-2002 Table 1 (reference §1) and the 2011 method (§2) ----

/// Class limits I–V of the class items the water model produces; DO is "at least".
fn class_limits(code: &str, lake: bool) -> Option<([f64; 5], bool)> {
    Some(match code {
        "DO" => ([7.5, 6.0, 5.0, 3.0, 2.0], false),
        "CODMn" => ([2.0, 4.0, 6.0, 10.0, 15.0], true),
        "NH3N" => ([0.15, 0.5, 1.0, 1.5, 2.0], true),
        "TP" if lake => ([0.01, 0.025, 0.05, 0.1, 0.2], true),
        "TP" => ([0.02, 0.1, 0.2, 0.3, 0.4], true),
        _ => return None,
    })
}

/// The class number (1 = Ⅰ … 6 = 劣Ⅴ) of a class item's value; pH is 6–9 for every class.
fn class_of(code: &str, v: f64, lake: bool) -> Option<u8> {
    if code == "pH" {
        return Some(if (6.0..=9.0).contains(&v) { 1 } else { 6 });
    }
    let (limits, at_most) = class_limits(code, lake)?;
    let pos = limits
        .iter()
        .position(|l| if at_most { v <= *l } else { v >= *l });
    Some(pos.map_or(6, |i| i as u8 + 1))
}

/// (C − C_III) / C_III, not for pH and DO; only when above Class Ⅲ.
fn multiple(code: &str, v: f64, lake: bool) -> Option<f64> {
    let (limits, at_most) = class_limits(code, lake)?;
    (at_most && v > limits[2]).then(|| (v - limits[2]) / limits[2])
}

// ---- HJ 633-2026 (reference §3.1, §3.4), daily indicators and HJ 663 validity ----

const IAQI: [f64; 8] = [0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0];

fn breakpoints(metric: &str) -> &'static [f64] {
    match metric {
        "SO2" => &[0.0, 50.0, 150.0, 475.0, 800.0, 1600.0, 2100.0, 2620.0],
        "NO2" => &[0.0, 40.0, 80.0, 180.0, 280.0, 565.0, 750.0, 940.0],
        "PM10" => &[0.0, 50.0, 120.0, 250.0, 350.0, 420.0, 500.0, 600.0],
        "CO" => &[0.0, 2.0, 4.0, 14.0, 24.0, 36.0, 48.0, 60.0],
        "PM25" => &[0.0, 35.0, 60.0, 115.0, 150.0, 250.0, 350.0, 500.0],
        "O3_1h" => &[0.0, 160.0, 200.0, 300.0, 400.0, 800.0, 1000.0, 1200.0],
        "O3_8h" => &[0.0, 100.0, 160.0, 215.0, 265.0, 800.0],
        _ => &[],
    }
}

/// IAQI, rounded up; above the table's top: 500 (O3 8-h above 800: 300 under HJ 633-2026).
fn iaqi(metric: &str, c: f64) -> u32 {
    let bp = breakpoints(metric);
    for i in 1..bp.len() {
        if c <= bp[i] {
            let v = (IAQI[i] - IAQI[i - 1]) / (bp[i] - bp[i - 1]) * (c - bp[i - 1]) + IAQI[i - 1];
            return v.ceil() as u32;
        }
    }
    if metric == "O3_8h" { 300 } else { 500 }
}

/// The AQI level 1–6 of an AQI (§3.3).
fn level(aqi: u32) -> usize {
    match aqi {
        0..=50 => 1,
        51..=100 => 2,
        101..=150 => 3,
        151..=200 => 4,
        201..=300 => 5,
        _ => 6,
    }
}

/// The daily AQI of one city-day from its hourly values per pollutant (hour of the CST day
/// → value): 24-h means from ≥ 20 hours, O3 from the day's maximum 1-h value and its
/// maximum 8-h moving mean over the 17 windows ending 08:00–24:00 (each from ≥ 6 hours; the
/// maximum from ≥ 14 windows, or above 160 µg/m³).
fn daily_aqi(hours: &HashMap<&str, BTreeMap<u32, f64>>) -> Option<u32> {
    let mut out: Option<u32> = None;
    let mut take = |v: u32| out = Some(out.map_or(v, |o| o.max(v)));
    for p in ["SO2", "NO2", "PM10", "CO", "PM25"] {
        if let Some(h) = hours.get(p).filter(|h| h.len() >= 20) {
            take(iaqi(p, h.values().sum::<f64>() / h.len() as f64));
        }
    }
    if let Some(o3) = hours.get("O3") {
        if let Some(max) = o3.values().copied().reduce(f64::max) {
            take(iaqi("O3_1h", max));
        }
        let windows: Vec<f64> = (8..=24u32)
            .filter_map(|end| {
                let v: Vec<f64> = (end - 8..end).filter_map(|h| o3.get(&h).copied()).collect();
                (v.len() >= 6).then(|| v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect();
        if let Some(max) = windows.iter().copied().reduce(f64::max)
            && (windows.len() >= 14 || max > 160.0)
        {
            take(iaqi("O3_8h", max));
        }
    }
    out
}

// ---- live debounce, as the README states it ----

/// The stretches a rule fires: from the first value beyond, to the `clear`-th consecutive
/// value clearly back (`back`); one still going ends at `end`.
fn stretches(
    values: &[(DateTime<Utc>, f64)],
    beyond: impl Fn(f64) -> bool,
    back: impl Fn(f64) -> bool,
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let (mut open, mut clear) = (None, 0);
    for &(t, v) in values {
        match open {
            None if beyond(v) => (open, clear) = (Some(t), 0),
            Some(from) if back(v) => {
                clear += 1;
                if clear == 2 {
                    out.push((from, t));
                    open = None;
                }
            }
            Some(_) => clear = 0,
            None => {}
        }
    }
    out.extend(open.map(|from| (from, end)));
    out
}

fn union_hours(mut s: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> f64 {
    s.sort();
    let mut total = Duration::zero();
    let mut cur: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (a, b) in s {
        cur = match cur {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((ca, cb)) = cur {
        total += cb - ca;
    }
    total.num_seconds() as f64 / 3600.0
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_month_of_the_lalin_is_reported_as_its_readings_and_the_standards_say() {
    let dir = TempDir::new("rw-report-month").unwrap();
    let registry = registry();
    let config = AnalyticsConfig::default();

    // The scenario's recording and manifest (the simulator's ground truth).
    let mut sim = SimulateConfig::new(
        Scenario::from_toml(SCENARIO, "lalin-september").unwrap(),
        registry.clone(),
    );
    sim.seed = SEED;
    sim.out = Some(dir.path().join("sim.csv"));
    let summary = riverwatch_simulators::run(sim.clone(), CancellationToken::new())
        .await
        .unwrap();
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(summary.manifest.unwrap()).unwrap()).unwrap();
    let start = utc(&manifest.start_utc);
    let end = utc(&manifest.end_utc);
    assert_eq!(end - start, Duration::days(30));

    // The same observations (same seed) into a SQLite readings store, one commit per hour
    // of sending as ingest would commit them, and kept for the expectations.
    let readings_db = dir.path().join("readings.db");
    let store = SqliteStore::open(
        &readings_db,
        &riverwatch_ingest::store::sqlite::test_sqlite_config(),
    )
    .unwrap();
    let generator = riverwatch_simulators::simulate::generator(&sim).unwrap();
    let ids: Vec<(StationId, Vec<ParamCode>)> = generator
        .stations()
        .iter()
        .map(|s| {
            let codes = s.params.iter().map(|p| ParamCode::new(&p.code)).collect();
            (s.station.id.clone(), codes)
        })
        .collect();
    let mut values: Vec<Value> = Vec::new();
    let mut batch: Vec<Reading> = Vec::new();
    let mut batch_hour = None;
    let mut written = 0;
    for obs in generator {
        let hour = obs.sent_at.with_minute(0).unwrap().with_second(0).unwrap();
        if batch_hour.is_some_and(|h| h != hour) && !batch.is_empty() {
            written += batch.len();
            store
                .write_blocking(&WriteBatch {
                    readings: std::mem::take(&mut batch),
                    dead_letters: vec![],
                    held: vec![],
                })
                .unwrap();
        }
        batch_hour = Some(hour);
        let (id, codes) = &ids[obs.station];
        for v in &obs.values {
            let r = Reading {
                station: id.clone(),
                parameter: codes[v.param].clone(),
                observed_at: obs.stamped_at,
                received_at: obs.sent_at,
                value: v.value,
                flag: v.flag,
                period: riverwatch_core::Period::Sample,
            };
            if r.is_valid() {
                values.push(Value {
                    station: id.to_string(),
                    parameter: r.parameter.to_string(),
                    at: r.observed_at,
                    value: r.value,
                });
            }
            batch.push(r);
        }
    }
    written += batch.len();
    store
        .write_blocking(&WriteBatch {
            readings: batch,
            dead_letters: vec![],
            held: vec![],
        })
        .unwrap();
    assert_eq!(written as u64, manifest.counts.readings);
    drop(store);

    // Analytics judges every commit of the store, then closes the month.
    let analytics_db = dir.path().join("analytics.db");
    let mut engine = Engine::load(
        EngineArgs {
            registry: registry.clone(),
            config: Arc::new(config.clone()),
            reader: SqliteReader::open(&readings_db).unwrap(),
            store: AnalyticsStore::open(&analytics_db).unwrap(),
            clock: Arc::new(SystemClock),
            metrics: Metrics::new(),
        },
        CancellationToken::new(),
    )
    .await
    .unwrap();
    while let Some((_, true)) = engine.catch_up().await.unwrap() {}
    engine.close_through(end).await.unwrap();
    drop(engine);

    let reader = EvaluationReader::open(&analytics_db).unwrap();
    let src = riverwatch_reports::Sources {
        registry: &registry,
        analytics: &config,
        evaluations: &reader,
        alerts: None,
    };
    let report = riverwatch_reports::assemble(
        &src,
        &riverwatch_reports::Request {
            period: WindowPeriod::Month,
            date: NaiveDate::from_ymd_opt(2026, 9, 15).unwrap(),
            river: Some("lalin".into()),
            now: Utc::now(),
        },
    )
    .unwrap();
    assert_eq!(
        (report.first_day.to_string(), report.last_day.to_string()),
        ("2026-09-01".into(), "2026-09-30".into())
    );

    // ---- Sections: hourly means → daily means → the monthly mean (the mean of the daily
    // means), classed by Table 1; single-factor; multiples over Class Ⅲ; valid-data rate
    // = Σ days min(valid readings, 6 a day) ÷ (6 × parameters × 30 days).
    let mut hourly: HashMap<(&str, &str, DateTime<Utc>), (f64, u32)> = HashMap::new();
    for v in &values {
        let h = v.at.with_minute(0).unwrap().with_second(0).unwrap();
        let e = hourly.entry((&v.station, &v.parameter, h)).or_default();
        e.0 += v.value;
        e.1 += 1;
    }
    let mut daily: HashMap<(&str, &str, NaiveDate), (f64, u32)> = HashMap::new();
    let mut per_day: HashMap<(&str, &str, NaiveDate), u32> = HashMap::new();
    for ((s, p, h), (sum, n)) in &hourly {
        let e = daily.entry((s, p, cst_date(*h))).or_default();
        e.0 += sum / f64::from(*n);
        e.1 += 1;
        *per_day.entry((s, p, cst_date(*h))).or_default() += n;
    }
    let mut monthly: HashMap<(&str, &str), (f64, u32)> = HashMap::new();
    for ((s, p, _), (sum, n)) in &daily {
        let e = monthly.entry((s, p)).or_default();
        e.0 += sum / f64::from(*n);
        e.1 += 1;
    }
    let month_mean = |s: &str, p: &str| monthly.get(&(s, p)).map(|(sum, n)| sum / f64::from(*n));

    let sections: Vec<_> = registry
        .stations()
        .iter()
        .filter(|s| s.river.as_deref() == Some("lalin") && s.kind.as_str() == "water")
        .collect();
    assert_eq!(report.sections.len(), sections.len());
    let mut judged = Vec::new();
    for s in &sections {
        let id = s.id.as_str();
        let lake = s.water_body == riverwatch_core::registry::WaterBody::Lake;
        let row = report.sections.iter().find(|r| r.station == id).unwrap();
        let mut class = 0;
        let mut exceeding: Vec<(String, f64)> = Vec::new();
        for code in ["pH", "DO", "CODMn", "NH3N", "TP"] {
            let mean = month_mean(id, code).unwrap();
            class = class.max(class_of(code, mean, lake).unwrap());
            if let Some(m) = multiple(code, mean, lake) {
                exceeding.push((code.to_string(), m));
            }
        }
        exceeding.sort_by(|a, b| b.1.total_cmp(&a.1));
        let target = s.target_class.unwrap().number();
        let valid: u32 = s
            .parameters
            .iter()
            .map(|p| {
                (0..30)
                    .map(|d| {
                        let day = cst_date(start) + Duration::days(d);
                        per_day
                            .get(&(id, p.as_str(), day))
                            .copied()
                            .unwrap_or(0)
                            .min(6)
                    })
                    .sum::<u32>()
            })
            .sum();
        let rate = f64::from(valid) / (6.0 * s.parameters.len() as f64 * 30.0);
        assert_eq!(row.class.map(|c| c.number()), Some(class), "{id} class");
        assert_eq!(row.compliant, Some(class <= target), "{id} compliance");
        let got: Vec<&str> = row.exceeding.iter().map(|x| x.code.as_str()).collect();
        let want: Vec<&str> = exceeding.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(got, want, "{id} exceeding items");
        for (x, (_, m)) in row.exceeding.iter().zip(&exceeding) {
            assert!(
                (x.multiple - m).abs() < 1e-5,
                "{id} {}: {} vs {m}",
                x.code,
                x.multiple
            );
        }
        assert!(
            (row.valid_rate - rate).abs() < 1e-6,
            "{id}: {} vs {rate}",
            row.valid_rate
        );
        if rate >= config.completeness.min_valid_rate {
            judged.push((class, class <= target));
        }
    }
    // The scenario does what it is for: the boundary sections below the release miss their
    // target, and 蔡家沟 lost three of thirty days.
    let nts = report
        .sections
        .iter()
        .find(|r| r.station == "LLH-NTS")
        .unwrap();
    assert_eq!(
        nts.compliant,
        Some(false),
        "the discharge reaches 牛头山大桥"
    );
    assert!(nts.exceeding.iter().any(|x| x.code == "NH3N"));
    let cjg = report
        .sections
        .iter()
        .find(|r| r.station == "LLH-CJG")
        .unwrap();
    assert!((cjg.valid_rate - 0.9).abs() < 1e-9, "{}", cjg.valid_rate);

    // ---- The river: 5 or more judged sections → class proportions (§2 bands).
    assert!(judged.len() >= 5);
    let n = judged.len() as f64;
    let good = judged.iter().filter(|(c, _)| *c <= 3).count() as f64 / n;
    let worst = judged.iter().filter(|(c, _)| *c == 6).count() as f64 / n;
    let grade = if good >= 0.9 {
        "excellent"
    } else if good >= 0.75 {
        "good"
    } else if worst < 0.2 {
        "lightly_polluted"
    } else if worst < 0.4 {
        "moderately_polluted"
    } else {
        "heavily_polluted"
    };
    let rate = judged.iter().filter(|(_, ok)| *ok).count() as f64 / n;
    let view = serde_json::to_value(riverwatch_reports::json::view(&report)).unwrap();
    assert_eq!(view["rivers"][0]["id"], "lalin");
    assert_eq!(view["rivers"][0]["grade"], grade);
    let shares = &view["rivers"][0]["shares"];
    assert!((shares["i_to_iii"].as_f64().unwrap() - good).abs() < 1e-9);
    assert!((shares["worse_than_v"].as_f64().unwrap() - worst).abs() < 1e-9);
    assert!((view["rivers"][0]["compliance_rate"].as_f64().unwrap() - rate).abs() < 1e-9);

    // ---- Air: the cities along the Lalin (双城, 五常, 榆树, 扶余), not 德惠; days per level
    // from the daily AQI of the seven indicators.
    let air: Vec<&str> = report.air.iter().map(|a| a.station.as_str()).collect();
    assert_eq!(air, ["AIR-SC", "AIR-WC", "AIR-YS", "AIR-FY"]);
    for row in &report.air {
        let mut by_day: BTreeMap<NaiveDate, HashMap<&str, BTreeMap<u32, f64>>> = BTreeMap::new();
        for ((s, p, h), (sum, n)) in &hourly {
            if *s == row.station {
                let local = *h + Duration::hours(8);
                by_day
                    .entry(cst_date(*h))
                    .or_default()
                    .entry(p)
                    .or_default()
                    .insert(local.hour(), sum / f64::from(*n));
            }
        }
        let mut days = [0u32; 6];
        for hours in by_day.values() {
            if let Some(aqi) = daily_aqi(hours) {
                days[level(aqi) - 1] += 1;
            }
        }
        assert_eq!(row.days_per_level, days, "{}", row.station);
        assert_eq!(row.heavy_days, days[4] + days[5]);
        // The manifest's particulate AQI (a lower bound) agrees on the heavy days.
        let Some(Expectation::AirEpisode(ep)) = manifest
            .expectations
            .iter()
            .find(|e| matches!(e, Expectation::AirEpisode(_)))
        else {
            panic!("the scenario has an air episode")
        };
        let city = ep.cities.iter().find(|c| c.station == row.station).unwrap();
        assert!(row.heavy_days >= city.days_above_200, "{}", row.station);
    }
    assert!(
        report.air.iter().any(|a| a.heavy_days > 0),
        "the episode is heavy"
    );

    // ---- The plants: hours beyond Grade 1A from the first value beyond a limit to the
    // second consecutive value 5 % inside it, per parameter, united.
    let discharge: Vec<_> = manifest
        .exceedances
        .iter()
        .filter(|x| x.check == "discharge")
        .collect();
    assert!(discharge.iter().all(|x| x.station == "WWTP-YS") && !discharge.is_empty());
    let mut limits: BTreeMap<&str, f64> = BTreeMap::new();
    for x in &discharge {
        limits.insert(&x.parameter, x.limit);
    }
    let mut all = Vec::new();
    for (p, limit) in &limits {
        let mut series: Vec<(DateTime<Utc>, f64)> = values
            .iter()
            .filter(|v| v.station == "WWTP-YS" && v.parameter == *p)
            .map(|v| (v.at, v.value))
            .collect();
        series.sort_by_key(|x| x.0);
        let s = stretches(&series, |v| v > *limit, |v| v <= limit * 0.95, end);
        // Each run of the manifest lies inside a stretch.
        for x in discharge.iter().filter(|x| x.parameter == *p) {
            assert!(
                s.iter()
                    .any(|(a, b)| *a <= utc(&x.from_utc) && utc(&x.to_utc) < *b),
                "{p}"
            );
        }
        all.extend(s);
    }
    let ys = report
        .outfalls
        .iter()
        .find(|o| o.station == "WWTP-YS")
        .unwrap();
    let expected = union_hours(all);
    assert!(expected > 8.0, "{expected}");
    assert!(
        (ys.hours_beyond - expected).abs() < 1e-9,
        "{} vs {expected}",
        ys.hours_beyond
    );
    assert_eq!(
        ys.parameters,
        limits.keys().map(|p| p.to_string()).collect::<Vec<_>>()
    );
    let wc = report
        .outfalls
        .iter()
        .find(|o| o.station == "WWTP-WC")
        .unwrap();
    assert_eq!((wc.hours_beyond, wc.exceedances), (0.0, 0));

    // ---- The gauge: the highest hourly level and the hours above warning.
    let Some(Expectation::Flood(flood)) = manifest
        .expectations
        .iter()
        .find(|e| matches!(e, Expectation::Flood(_)))
    else {
        panic!("the scenario has a flood")
    };
    let mut levels: Vec<(DateTime<Utc>, f64)> = values
        .iter()
        .filter(|v| v.station == "HYD-CJG" && v.parameter == "LEVEL")
        .map(|v| (v.at, v.value))
        .collect();
    levels.sort_by_key(|x| x.0);
    let warning = flood.warning_level_m;
    let g = &report.gauges[0];
    assert_eq!(g.station, "HYD-CJG");
    assert_eq!(g.warning_level_m, Some(warning));
    // One reading an hour: the hourly mean is the reading; the highest is the manifest's
    // observed peak.
    let peak = flood.observed_peak_level_m.unwrap();
    assert!(
        (g.max_level_m.unwrap() - peak).abs() < 1e-6,
        "{:?} vs {peak}",
        g.max_level_m
    );
    assert!(g.max_above_warning_m.unwrap() > 0.0);
    let above = stretches(&levels, |v| v > warning, |v| v <= warning - 0.05, end);
    let (first_above, _) = flood.above_warning.clone().unwrap();
    assert_eq!(above.first().map(|x| x.0), Some(utc(&first_above)));
    let hours = union_hours(above);
    assert!(
        (g.hours_above_warning - hours).abs() < 1e-9,
        "{} vs {hours}",
        g.hours_above_warning
    );

    eprintln!(
        "lalin-september: {written} readings; {}",
        serde_json::to_string(&view).unwrap()
    );

    // The HTML report, kept for a look (the README's image is this page in Chromium).
    let html = riverwatch_reports::html::report(&report, Lang::Zh, false);
    assert!(html.contains("氨氮"), "parameters by name");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report-month.html"), html).unwrap();

    // ---- The workbook read back: the same numbers in its cells.
    use calamine::{Data, Reader, Xlsx};
    let bytes = riverwatch_reports::xlsx::workbook(&report, Lang::Zh, false).unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = wb.worksheet_range("断面水质").unwrap();
    let row_of = |range: &calamine::Range<Data>, col: u32, id: &str| {
        (1..range.height() as u32)
            .find(|r| range.get_value((*r, col)) == Some(&Data::String(id.into())))
            .unwrap()
    };
    let r = row_of(&sheet, 3, "LLH-NTS");
    let class_text = riverwatch_reports::tables::class_label(nts.class, Lang::Zh);
    assert_eq!(sheet.get_value((r, 7)), Some(&Data::String(class_text)));
    assert_eq!(sheet.get_value((r, 9)), Some(&Data::String("否".into())));
    let text = riverwatch_reports::tables::exceeding_text(nts, Lang::Zh);
    assert!(text.contains("氨氮("), "{text}");
    assert_eq!(sheet.get_value((r, 10)), Some(&Data::String(text)));
    let r = row_of(&sheet, 3, "LLH-CJG");
    assert_eq!(sheet.get_value((r, 13)), Some(&Data::Float(90.0)));
    let rivers = wb.worksheet_range("河流水质").unwrap();
    let Some(Data::Float(rate_pct)) = rivers.get_value((1, 7)) else {
        panic!("达标率 is a number")
    };
    assert!((rate_pct - rate * 100.0).abs() < 1e-9);
    let air_sheet = wb.worksheet_range("空气质量").unwrap();
    for (i, a) in report.air.iter().enumerate() {
        for l in 0..6 {
            assert_eq!(
                air_sheet.get_value((i as u32 + 1, 3 + l as u32)),
                Some(&Data::Float(f64::from(a.days_per_level[l])))
            );
        }
    }
    let outfalls = wb.worksheet_range("污染源排口").unwrap();
    let r = row_of(&outfalls, 1, "WWTP-YS");
    assert_eq!(outfalls.get_value((r, 5)), Some(&Data::Float(expected)));
    let gauges = wb.worksheet_range("水文站水位").unwrap();
    assert_eq!(
        gauges.get_value((1, 6)),
        Some(&Data::Float(warning)),
        "warning level"
    );
    let Some(Data::Float(max)) = gauges.get_value((1, 4)) else {
        panic!("the highest level is a number")
    };
    assert!((max - peak).abs() < 1e-6);
}
