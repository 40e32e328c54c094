//! The ground truth of a run, written beside its recording as `FILE.manifest.json`.
//!
//! Schema `riverwatch-simulator-manifest/1` (all times RFC 3339 UTC, values in registry
//! units):
//!
//! - `schema`, `scenario`, `description_zh`, `description_en`, `seed`, `format`,
//!   `start_utc`, `end_utc`;
//! - `counts`: `observations`, `messages`, `readings` (rows of the recording);
//! - `intervals`: reporting interval per station, seconds;
//! - `exceedances[]`: every run of consecutive valid readings (flag `N`, untouched by a
//!   fault, true timestamp) beyond a limit: `station`, `parameter`, `check` (`water_class`
//!   — the section's target class of GB 3838-2002 Table 1; `water_specific` — Table 3, e.g.
//!   nitrobenzene 0.017 mg/L; `discharge` — the outfall's limits, GB 18918-2002 Grade 1A by
//!   default, NH3-N 8 mg/L when the effluent is at or below 12 °C; `air_24h` — the CST-day mean
//!   of ≥ 20 hourly values against GB 3095 Grade II; `warning_level` / `guaranteed_level` —
//!   the gauge's levels), `standard`, `limit`, `bound` (`max`, `min`), `unit`, `from_utc` and
//!   `to_utc` (first and last reading of the run; for `air_24h` the day's start and end),
//!   `peak_value`, `peak_utc`, `readings`;
//! - `expectations[]`, one per scenario event, tagged by `kind`:
//!   `plume` (release, model settings, `origin` with the clean section above and the first
//!   section reached, per section the distance, travel time, expected front and peak time,
//!   peak increment per substance and the emergency-sampling window), `air_episode` (per city
//!   and CST day the 24-h means of PM2.5 and PM10, the particulate daily AQI of the edition in
//!   force — a lower bound of the daily AQI, which also takes SO2, NO2, CO and O3 — and its
//!   level, the counts of days above 200 and 300, the highest warning level the runs of days
//!   above 200 reach under the 2017 national guidance, and the days cities of both provinces
//!   are above 200 together), `outfall_upset` (the ramp, the plateau, the planned peaks and
//!   which exceed the limits), `flood` (warning and guaranteed levels, the planned and
//!   observed peak, the span above the warning level);
//! - `faults[]`: `id`, `kind`, `station`, `parameters`, `from_utc`, `to_utc`, `how`,
//!   `invalid_for_ingest` (the dead-letter reason ingest gives, or null), and `readings[]`
//!   with every reading the fault touched: `parameter`, `true_time_utc`, `time_utc` (as
//!   stamped), `sent_utc`, `value` and `flag` as sent (null and `sent: false` for a dropout),
//!   `resend`.
//!
//! The limits come from [`tables`], the simulator's own transcription of the standards,
//! independent of the analytics tables it is the check for
//! (`docs/design/0005-independent-ground-truth.md`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use riverwatch_core::registry::StationKind;
use riverwatch_core::{DataFlag, Province, WaterClass};
use serde::{Deserialize, Serialize};

use crate::generate::{Generator, Observation, SimStation};
use crate::model::Code;

/// The manifest schema identifier.
pub const SCHEMA: &str = "riverwatch-simulator-manifest/1";

/// The manifest of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SCHEMA`].
    pub schema: String,
    /// Scenario name.
    pub scenario: String,
    /// Scenario description, Chinese.
    pub description_zh: String,
    /// Scenario description, English.
    pub description_en: String,
    /// Seed.
    pub seed: u64,
    /// `json`, `hj212` or `mixed`.
    pub format: String,
    /// Simulated start.
    pub start_utc: String,
    /// Simulated end.
    pub end_utc: String,
    /// Counts.
    pub counts: Counts,
    /// Reporting interval per station, seconds.
    pub intervals: BTreeMap<String, u32>,
    /// Exceedances found in the valid readings.
    pub exceedances: Vec<Exceedance>,
    /// What analytics should reproduce, per event.
    pub expectations: Vec<Expectation>,
    /// Faults and the readings they touched.
    pub faults: Vec<FaultRecord>,
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Observations generated (including resends).
    pub observations: u64,
    /// MQTT messages (JSON observations and HJ 212 frames).
    pub messages: u64,
    /// Readings (rows of the recording).
    pub readings: u64,
}

/// A run of readings beyond a limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exceedance {
    /// Station id.
    pub station: String,
    /// Parameter code.
    pub parameter: String,
    /// Which check: `water_class`, `water_specific`, `discharge`, `air_24h`,
    /// `warning_level`, `guaranteed_level`.
    pub check: String,
    /// The standard and the limit's place in it.
    pub standard: String,
    /// The limit.
    pub limit: f64,
    /// `max` (values above are beyond) or `min` (values below are).
    pub bound: String,
    /// Unit.
    pub unit: String,
    /// First reading beyond the limit (or the day's start).
    pub from_utc: String,
    /// Last reading beyond the limit (or the day's end).
    pub to_utc: String,
    /// Worst value.
    pub peak_value: f64,
    /// Time of the worst value.
    pub peak_utc: String,
    /// Readings in the run (days for `air_24h`).
    pub readings: u32,
}

/// What one event should produce downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expectation {
    /// A river plume.
    Plume(PlumeExpectation),
    /// An air episode.
    AirEpisode(AirExpectation),
    /// A treatment-plant upset.
    OutfallUpset(UpsetExpectation),
    /// A flood.
    Flood(FloodExpectation),
}

/// A plume's expected passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlumeExpectation {
    /// Plume id.
    pub id: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// River of the release.
    pub river: String,
    /// Kilometre of the release.
    pub km: f64,
    /// Province where the pollution enters.
    pub province: String,
    /// Start of the release.
    pub release_utc: String,
    /// Duration of the release, hours.
    pub release_hours: f64,
    /// σ₀, hours.
    pub spread_initial_hours: f64,
    /// Growth of σ per hour of travel.
    pub spread_per_hour: f64,
    /// Reaches: river, from_km, to_km, velocity_kmh, flow_m3s.
    pub reaches: Vec<crate::scenario::Reach>,
    /// Where the pollution arose: between the last clean section above and the first
    /// section reached.
    pub origin_between: (Option<String>, Option<String>),
    /// Sections upstream of the release (stay clean).
    pub clean_upstream: Vec<String>,
    /// Sections reached, upstream first.
    pub sections: Vec<PlumeSectionExpectation>,
}

/// A plume at one section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlumeSectionExpectation {
    /// Station id.
    pub station: String,
    /// Province of the station.
    pub province: String,
    /// River.
    pub river: String,
    /// Kilometre.
    pub km: f64,
    /// Distance from the release along the rivers, km.
    pub distance_km: f64,
    /// Travel time of the centroid (Σ distance ÷ velocity), hours.
    pub travel_hours: f64,
    /// σ of the passage, hours.
    pub spread_hours: f64,
    /// Flow, m³/s.
    pub flow_m3s: f64,
    /// Expected front: the increment first above 10 % of its peak.
    pub expected_arrival_utc: Option<String>,
    /// Expected peak time.
    pub expected_peak_utc: String,
    /// Per substance.
    pub loads: Vec<PlumeLoadExpectation>,
    /// Emergency sampling: (from, to, interval seconds).
    pub emergency: Option<(String, String, u32)>,
}

/// A substance at one section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlumeLoadExpectation {
    /// Parameter.
    pub parameter: String,
    /// Peak increment above the normal level, mg/L.
    pub peak_increment: f64,
}

/// An air episode's daily results per city.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirExpectation {
    /// Episode id.
    pub id: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// Per city.
    pub cities: Vec<CityDays>,
    /// CST days on which cities of both provinces have a daily AQI above 200.
    pub joint_heavy_days: Vec<NaiveDate>,
}

/// One city over the episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CityDays {
    /// Station id.
    pub station: String,
    /// City, Chinese.
    pub city_zh: String,
    /// Province code.
    pub province: String,
    /// Per CST day.
    pub days: Vec<AirDay>,
    /// Days with daily AQI > 200 (heavy or worse).
    pub days_above_200: u32,
    /// Days with daily AQI > 300 (severe).
    pub days_above_300: u32,
    /// Longest run of consecutive days above 200.
    pub longest_run_above_200: u32,
    /// The highest warning level these days reach under the 2017 national guidance, each run
    /// of consecutive days above 200 judged on its own days: `none`, `blue`, `yellow`,
    /// `orange`, `red`.
    pub warning_level: String,
}

/// One city-day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirDay {
    /// CST date.
    pub date: NaiveDate,
    /// 24-h mean PM2.5, µg/m³.
    pub pm25_24h: f64,
    /// 24-h mean PM10, µg/m³.
    pub pm10_24h: f64,
    /// Daily AQI from PM2.5 and PM10 (the edition in force that day): the particulate part
    /// of the daily AQI, a lower bound of the AQI of all seven daily indicators.
    pub aqi: u32,
    /// `HJ 633-2012` or `HJ 633-2026`.
    pub edition: String,
    /// AQI category (优/良/轻度污染/中度污染/重度污染/严重污染).
    pub category_zh: String,
}

/// A treatment-plant upset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsetExpectation {
    /// Outfall.
    pub station: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// Start of the ramp.
    pub start_utc: String,
    /// Plateau start.
    pub plateau_from_utc: String,
    /// Plateau end.
    pub plateau_to_utc: String,
    /// End of the recovery.
    pub end_utc: String,
    /// Planned plateau values.
    pub peak: BTreeMap<String, f64>,
    /// Limits those values exceed: parameter → limit.
    pub exceeding: BTreeMap<String, f64>,
    /// The standard.
    pub standard: String,
}

/// A flood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodExpectation {
    /// Gauge.
    pub station: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// Warning level, m.
    pub warning_level_m: f64,
    /// Guaranteed level, m.
    pub guaranteed_level_m: Option<f64>,
    /// Planned peak level, m.
    pub planned_peak_level_m: f64,
    /// Planned peak time.
    pub planned_peak_utc: String,
    /// Highest level recorded.
    pub observed_peak_level_m: Option<f64>,
    /// Its time.
    pub observed_peak_utc: Option<String>,
    /// First and last reading above the warning level.
    pub above_warning: Option<(String, String)>,
}

/// A fault and what it touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Index in the scenario's faults.
    pub id: usize,
    /// Kind, e.g. `stuck`.
    pub kind: String,
    /// Station.
    pub station: String,
    /// Parameters (empty: all / whole messages).
    pub parameters: Vec<String>,
    /// Window start.
    pub from_utc: String,
    /// Window end.
    pub to_utc: String,
    /// What the fault does.
    pub how: String,
    /// Dead-letter reason ingest gives these readings, if it rejects them.
    pub invalid_for_ingest: Option<String>,
    /// The readings touched.
    pub readings: Vec<FaultReading>,
}

/// One reading a fault touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReading {
    /// Parameter.
    pub parameter: String,
    /// True sample time.
    pub true_time_utc: String,
    /// Time stamped in the message.
    pub time_utc: String,
    /// When it was sent (simulated).
    pub sent_utc: Option<String>,
    /// Value sent.
    pub value: Option<f64>,
    /// Flag sent.
    pub flag: Option<String>,
    /// Whether it was sent at all.
    pub sent: bool,
    /// Whether this is a resend.
    pub resend: bool,
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A limit for one reading.
#[derive(Debug, Clone)]
struct Limit {
    check: &'static str,
    standard: String,
    limit: f64,
    max: bool,
}

/// The limit tables behind the ground truth, in registry units.
///
/// They are the simulator's own transcription of the project's reference sheet
/// (`reference/standards.md` §1, §3, §4, §5 and §9), kept apart from the tables of
/// `riverwatch-analytics` on purpose: the end-to-end tests compare what analytics computes
/// with this ground truth, so a wrong figure in either transcription fails a comparison
/// instead of being copied into the expectation
/// (`docs/design/0005-independent-ground-truth.md`). A unit test of `riverwatch-analytics`
/// (`analytics/src/standards/tests/ground_truth.rs`) compares every value here with the
/// analytics tables, so the two cannot drift apart unnoticed.
pub mod tables {
    /// A GB 3838-2002 Table 1 item: registry code, the limits of Classes I–V, and whether a
    /// value must be at most the limit (`false`: at least, dissolved oxygen).
    pub type ClassLimits = (&'static str, [f64; 5], bool);

    /// GB 3838-2002 Table 1 (reference §1), the items the water model produces that the
    /// 2011 method classes a river by (TN is only a reference indicator for rivers).
    pub const GB3838_RIVER: [ClassLimits; 6] = [
        ("CODMn", [2.0, 4.0, 6.0, 10.0, 15.0], true),
        ("COD", [15.0, 15.0, 20.0, 30.0, 40.0], true),
        ("BOD5", [3.0, 3.0, 4.0, 6.0, 10.0], true),
        ("NH3N", [0.15, 0.5, 1.0, 1.5, 2.0], true),
        ("TP", [0.02, 0.1, 0.2, 0.3, 0.4], true),
        ("DO", [7.5, 6.0, 5.0, 3.0, 2.0], false),
    ];

    /// GB 3838-2002 Table 1 for lakes and reservoirs: TP's own limits, and TN, which
    /// applies to them; the other items as in [`GB3838_RIVER`].
    pub const GB3838_LAKE: [ClassLimits; 2] = [
        ("TP", [0.01, 0.025, 0.05, 0.1, 0.2], true),
        ("TN", [0.2, 0.5, 1.0, 1.5, 2.0], true),
    ];

    /// GB 3838-2002 pH, every class: (lowest, highest).
    pub const GB3838_PH: (f64, f64) = (6.0, 9.0);

    /// GB 3838-2002 Table 3 nitrobenzene, mg/L.
    pub const GB3838_NITROBENZENE_MG_L: f64 = 0.017;

    /// GB 18918-2002 Grade 1A (reference §9, ❌ unverified there), mg/L; NH3-N in warm
    /// effluent.
    pub const GB18918_GRADE_1A: [(&str, f64); 6] = [
        ("COD", 50.0),
        ("BOD5", 10.0),
        ("SS", 10.0),
        ("TN", 15.0),
        ("NH3N", 5.0),
        ("TP", 0.5),
    ];

    /// GB 18918-2002 Grade 1A NH3-N when the effluent is at or below
    /// [`GB18918_COLD_AT_OR_BELOW_C`], mg/L.
    pub const GB18918_NH3N_COLD_MG_L: f64 = 8.0;

    /// The water temperature at or below which [`GB18918_NH3N_COLD_MG_L`] applies, °C.
    pub const GB18918_COLD_AT_OR_BELOW_C: f64 = 12.0;

    /// GB 18918-2002 pH: (lowest, highest).
    pub const GB18918_PH: (f64, f64) = (6.0, 9.0);

    /// The IAQI of the HJ 633 breakpoint rows (reference §3.1).
    pub const HJ633_IAQI: [f64; 8] = [0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0];

    /// HJ 633-2012 PM2.5 24-hour breakpoints, µg/m³ (§3.1).
    pub const HJ633_2012_PM25: [f64; 8] = [0.0, 35.0, 75.0, 115.0, 150.0, 250.0, 350.0, 500.0];

    /// HJ 633-2012 PM10 24-hour breakpoints, µg/m³ (§3.1).
    pub const HJ633_2012_PM10: [f64; 8] = [0.0, 50.0, 150.0, 250.0, 350.0, 420.0, 500.0, 600.0];

    /// HJ 633-2026 PM2.5 24-hour breakpoints, µg/m³ (§3.4).
    pub const HJ633_2026_PM25: [f64; 8] = [0.0, 35.0, 60.0, 115.0, 150.0, 250.0, 350.0, 500.0];

    /// HJ 633-2026 PM10 24-hour breakpoints, µg/m³ (§3.4).
    pub const HJ633_2026_PM10: [f64; 8] = [0.0, 50.0, 120.0, 250.0, 350.0, 420.0, 500.0, 600.0];

    /// The first day of HJ 633-2026 and of GB 3095-2026 (its phase 1): (year, month, day).
    pub const EDITIONS_2026_FROM: (i32, u32, u32) = (2026, 3, 1);

    /// The first day of GB 3095-2026's final PM2.5 limits: (year, month, day).
    pub const GB3095_2026_FINAL_FROM: (i32, u32, u32) = (2031, 1, 1);

    /// GB 3095-2012 Grade II 24-hour limits (§4.1), CO in mg/m³, the others µg/m³. The
    /// 2026 revision changes PM2.5 (below); its PM10, SO2 and NO2 values are unverified, so
    /// these stay in force.
    pub const GB3095_II_24H_2012: [(&str, f64); 5] = [
        ("SO2", 150.0),
        ("NO2", 80.0),
        ("CO", 4.0),
        ("PM10", 150.0),
        ("PM25", 75.0),
    ];

    /// GB 3095-2026 Grade II PM2.5 24-hour limit, phase 1 (transitional, to 2030-12-31).
    pub const GB3095_II_24H_PM25_2026_PHASE1: f64 = 60.0;

    /// GB 3095-2026 Grade II PM2.5 24-hour limit from [`GB3095_2026_FINAL_FROM`].
    pub const GB3095_II_24H_PM25_2026_FINAL: f64 = 50.0;

    /// The AQI categories (§3.3): the highest AQI of each, and its name.
    pub const AQI_CATEGORIES: [(u32, &str); 6] = [
        (50, "优"),
        (100, "良"),
        (150, "轻度污染"),
        (200, "中度污染"),
        (300, "重度污染"),
        (u32::MAX, "严重污染"),
    ];

    /// The heavy-pollution warning rules of the 2017 national guidance (§5), on one run of
    /// consecutive days with daily AQI above [`Warning::heavy_above_aqi`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Warning {
        /// A day is heavy (and counts toward a run) above this AQI.
        pub heavy_above_aqi: u32,
        /// A day is severe above this AQI.
        pub severe_above_aqi: u32,
        /// Days of run for blue.
        pub blue_days: u32,
        /// Days of run for yellow.
        pub yellow_days: u32,
        /// Days of run for orange …
        pub orange_days: u32,
        /// … with at least this many severe days among them.
        pub orange_severe_days: u32,
        /// Days of run for red …
        pub red_days: u32,
        /// … with at least this many severe days among them.
        pub red_severe_days: u32,
        /// A day reaching this AQI gives red on its own.
        pub red_any_day_aqi: u32,
    }

    /// The 2017 guidance: blue 1 day above 200; yellow 2; orange 3 with one above 300; red
    /// 4 with two above 300, or a day reaching 500.
    pub const WARNING: Warning = Warning {
        heavy_above_aqi: 200,
        severe_above_aqi: 300,
        blue_days: 1,
        yellow_days: 2,
        orange_days: 3,
        orange_severe_days: 1,
        red_days: 4,
        red_severe_days: 2,
        red_any_day_aqi: 500,
    };
}

use tables::*;

/// A date of the tables.
fn date_of((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// GB 3838-2002 Table 1 limits, Classes I–V, for the items a section's model produces.
fn gb3838(code: Code, lake: bool) -> Option<([f64; 5], bool)> {
    let lake_items = if lake { &GB3838_LAKE[..] } else { &[] };
    lake_items
        .iter()
        .chain(GB3838_RIVER.iter())
        .find(|(c, _, _)| Code::of(c) == code)
        .map(|&(_, limits, max)| (limits, max))
}

/// GB 18918-2002 Grade 1A.
fn gb18918(code: &str, cold: bool) -> Option<f64> {
    if code == "NH3N" && cold {
        return Some(GB18918_NH3N_COLD_MG_L);
    }
    GB18918_GRADE_1A
        .iter()
        .find(|(c, _)| *c == code)
        .map(|&(_, limit)| limit)
}

const GB18918: &str = "GB 18918-2002 一级A";

fn limits_for(st: &SimStation, param: usize, wt: Option<f64>) -> Vec<Limit> {
    let p = &st.params[param];
    let s = &st.station;
    match s.kind {
        StationKind::Water => {
            let lake = s.water_body == riverwatch_core::registry::WaterBody::Lake;
            let target = s.target_class.unwrap_or(WaterClass::III);
            if p.model == Code::Nb {
                return vec![Limit {
                    check: "water_specific",
                    standard: "GB 3838-2002 表3 硝基苯".into(),
                    limit: GB3838_NITROBENZENE_MG_L,
                    max: true,
                }];
            }
            if p.model == Code::Ph {
                return ph_limits("GB 3838-2002 表1 pH 6–9", GB3838_PH);
            }
            let Some((table, max)) = gb3838(p.model, lake) else {
                return Vec::new();
            };
            let idx = usize::from(target.number().clamp(1, 5)) - 1;
            vec![Limit {
                check: "water_class",
                standard: format!("GB 3838-2002 表1 {}", target.label_zh()),
                limit: table[idx],
                max,
            }]
        }
        StationKind::Outfall => {
            let standard = s
                .discharge_standard
                .clone()
                .unwrap_or_else(|| GB18918.into());
            if p.model == Code::Ph {
                return ph_limits(&format!("{standard} pH 6–9"), GB18918_PH);
            }
            let cold = wt.is_some_and(|t| t <= GB18918_COLD_AT_OR_BELOW_C);
            let limit = s
                .discharge_limits
                .get(&p.code)
                .copied()
                .or_else(|| gb18918(&p.code, cold));
            limit
                .map(|limit| Limit {
                    check: "discharge",
                    standard: standard.clone(),
                    limit,
                    max: true,
                })
                .into_iter()
                .collect()
        }
        StationKind::Hydrology if p.model == Code::Level => {
            let mut out = Vec::new();
            if let Some(w) = s.warning_level_m {
                out.push(Limit {
                    check: "warning_level",
                    standard: "警戒水位".into(),
                    limit: w,
                    max: true,
                });
            }
            if let Some(g) = s.guaranteed_level_m {
                out.push(Limit {
                    check: "guaranteed_level",
                    standard: "保证水位".into(),
                    limit: g,
                    max: true,
                });
            }
            out
        }
        _ => Vec::new(),
    }
}

fn ph_limits(standard: &str, (low, high): (f64, f64)) -> Vec<Limit> {
    vec![
        Limit {
            check: "water_class",
            standard: standard.to_string(),
            limit: high,
            max: true,
        },
        Limit {
            check: "water_class",
            standard: standard.to_string(),
            limit: low,
            max: false,
        },
    ]
}

/// Date from which HJ 633-2026 and GB 3095-2026 apply.
fn edition_2026_from() -> NaiveDate {
    date_of(EDITIONS_2026_FROM)
}

/// IAQI of a 24-h PM concentration (HJ 633, the edition in force on `date`).
fn iaqi_pm(code: Code, c: f64, date: NaiveDate) -> f64 {
    let new = date >= edition_2026_from();
    let bp = match (code, new) {
        (Code::Pm25, false) => HJ633_2012_PM25,
        (Code::Pm25, true) => HJ633_2026_PM25,
        (_, false) => HJ633_2012_PM10,
        (_, true) => HJ633_2026_PM10,
    };
    let iaqi = HJ633_IAQI;
    for i in 1..8 {
        if c <= bp[i] {
            return iaqi[i - 1] + (iaqi[i] - iaqi[i - 1]) / (bp[i] - bp[i - 1]) * (c - bp[i - 1]);
        }
    }
    500.0
}

fn category_zh(aqi: u32) -> &'static str {
    AQI_CATEGORIES
        .iter()
        .find(|(top, _)| aqi <= *top)
        .map_or("严重污染", |(_, name)| name)
}

/// GB 3095 Grade II 24-h limit in force on `date`.
fn gb3095_24h(code: Code, date: NaiveDate) -> Option<(f64, &'static str)> {
    if code == Code::Pm25 && date >= date_of(GB3095_2026_FINAL_FROM) {
        return Some((
            GB3095_II_24H_PM25_2026_FINAL,
            "GB 3095-2026 二级 24小时平均",
        ));
    }
    if code == Code::Pm25 && date >= edition_2026_from() {
        return Some((
            GB3095_II_24H_PM25_2026_PHASE1,
            "GB 3095-2026 二级 24小时平均（过渡期）",
        ));
    }
    // The 2026 PM10, SO2 and NO2 limits could not be verified; the 2012 values are kept.
    GB3095_II_24H_2012
        .iter()
        .find(|(c, _)| Code::of(c) == code)
        .map(|&(_, limit)| (limit, "GB 3095-2012 二级 24小时平均"))
}

/// Valid readings of one (station, parameter, limit) with the limit that applied to each.
type LimitSamples = BTreeMap<(usize, usize, usize), Vec<(DateTime<Utc>, f64, Limit)>>;

/// Collects what a run produced and writes the manifest at the end.
#[derive(Debug, Default)]
pub struct ManifestBuilder {
    counts: Counts,
    /// (station, param, limit index) → (time, value, limit)
    samples: LimitSamples,
    /// (station, param, CST date) → (sum, count)
    days: BTreeMap<(usize, usize, NaiveDate), (f64, u32)>,
    faults: HashMap<usize, Vec<FaultReading>>,
}

impl ManifestBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one observation and the number of messages and rows it made.
    pub fn observe(&mut self, generator: &Generator, obs: &Observation, messages: u64, rows: u64) {
        self.counts.observations += 1;
        self.counts.messages += messages;
        self.counts.readings += rows;
        let Some(st) = generator.stations().get(obs.station) else {
            return;
        };
        self.record_faults(st, obs);
        let skewed = obs.stamped_at != obs.observed_at;
        if obs.resend || skewed {
            return;
        }
        let wt = st
            .param_index("WT")
            .and_then(|i| obs.values.iter().find(|v| v.param == i))
            .map(|v| v.value);
        for v in &obs.values {
            if v.fault.is_some() || v.flag != DataFlag::N {
                continue;
            }
            let p = &st.params[v.param];
            if st.station.kind == StationKind::Air {
                let date = riverwatch_core::time::cst_date(obs.observed_at);
                let e = self.days.entry((obs.station, v.param, date)).or_default();
                e.0 += v.value;
                e.1 += 1;
                continue;
            }
            let _ = p;
            for (li, limit) in limits_for(st, v.param, wt).into_iter().enumerate() {
                self.samples
                    .entry((obs.station, v.param, li))
                    .or_default()
                    .push((obs.observed_at, v.value, limit));
            }
        }
    }

    fn record_faults(&mut self, st: &SimStation, obs: &Observation) {
        let mut push = |fault: usize, reading: FaultReading| {
            self.faults.entry(fault).or_default().push(reading);
        };
        for v in &obs.values {
            let fault = v.fault.or(obs.message_fault);
            if let Some(f) = fault {
                push(
                    f,
                    FaultReading {
                        parameter: st.params[v.param].code.clone(),
                        true_time_utc: utc(obs.observed_at),
                        time_utc: utc(obs.stamped_at),
                        sent_utc: Some(utc(obs.sent_at)),
                        value: Some(v.value),
                        flag: Some(v.flag.to_string()),
                        sent: true,
                        resend: obs.resend,
                    },
                );
            }
        }
        for &(p, f) in &obs.dropped {
            push(
                f,
                FaultReading {
                    parameter: st.params[p].code.clone(),
                    true_time_utc: utc(obs.observed_at),
                    time_utc: utc(obs.stamped_at),
                    sent_utc: None,
                    value: None,
                    flag: None,
                    sent: false,
                    resend: false,
                },
            );
        }
    }

    /// The manifest of the run that ended at `end`.
    pub fn finish(self, generator: &Generator, end: DateTime<Utc>) -> Manifest {
        let scenario = generator.scenario();
        let stations = generator.stations();
        let mut exceedances = self.sample_exceedances(generator);
        let air_means = self.air_means();
        for (&(s, p, date), &(mean, _)) in &air_means {
            let st = &stations[s];
            let param = &st.params[p];
            if let Some((limit, standard)) = gb3095_24h(param.model, date)
                && mean > limit
            {
                let day_start = riverwatch_core::time::from_cst(date.and_time(NaiveTime::MIN));
                exceedances.push(Exceedance {
                    station: st.station.id.to_string(),
                    parameter: param.code.clone(),
                    check: "air_24h".into(),
                    standard: standard.into(),
                    limit,
                    bound: "max".into(),
                    unit: param.unit.clone(),
                    from_utc: utc(day_start),
                    to_utc: utc(day_start + chrono::Duration::days(1)),
                    peak_value: (mean * 10.0).round() / 10.0,
                    peak_utc: utc(day_start),
                    readings: 1,
                });
            }
        }
        exceedances.sort_by(|a, b| {
            (
                a.from_utc.as_str(),
                a.station.as_str(),
                a.parameter.as_str(),
            )
                .cmp(&(
                    b.from_utc.as_str(),
                    b.station.as_str(),
                    b.parameter.as_str(),
                ))
        });
        let mut expectations = Vec::new();
        expectations.extend(plume_expectations(generator));
        expectations.extend(air_expectations(generator, &air_means));
        expectations.extend(upset_expectations(generator));
        expectations.extend(flood_expectations(generator, &exceedances));
        let faults = generator
            .faults()
            .iter()
            .map(|f| FaultRecord {
                id: f.id,
                kind: f.def.kind().into(),
                station: f.def.station().into(),
                parameters: f.def.parameters().iter().map(|s| s.to_string()).collect(),
                from_utc: utc(secs(f.from)),
                to_utc: utc(secs(f.to)),
                how: f.how(),
                invalid_for_ingest: f.invalid_for_ingest().map(str::to_string),
                readings: self.faults.get(&f.id).cloned().unwrap_or_default(),
            })
            .collect();
        let options = generator.options();
        Manifest {
            schema: SCHEMA.into(),
            scenario: scenario.name.clone(),
            description_zh: scenario.description_zh.clone(),
            description_en: scenario.description_en.clone(),
            seed: options.seed,
            format: options.format.as_str().into(),
            start_utc: utc(options.start),
            end_utc: utc(end),
            counts: self.counts.clone(),
            intervals: stations
                .iter()
                .map(|s| (s.station.id.to_string(), s.interval_secs))
                .collect(),
            exceedances,
            expectations,
            faults,
        }
    }

    fn sample_exceedances(&self, generator: &Generator) -> Vec<Exceedance> {
        let stations = generator.stations();
        let mut out = Vec::new();
        for (&(s, p, _), samples) in &self.samples {
            let st = &stations[s];
            let param = &st.params[p];
            let mut sorted = samples.clone();
            sorted.sort_by_key(|x| x.0);
            let mut run: Vec<(DateTime<Utc>, f64, Limit)> = Vec::new();
            let mut close = |run: &mut Vec<(DateTime<Utc>, f64, Limit)>| {
                let (Some(first), Some(last)) = (run.first(), run.last()) else {
                    return;
                };
                let limit = first.2.clone();
                let worst = run
                    .iter()
                    .max_by(|a, b| {
                        let (x, y) = if limit.max { (a.1, b.1) } else { (-a.1, -b.1) };
                        x.total_cmp(&y)
                    })
                    .map_or((first.0, first.1), |w| (w.0, w.1));
                out.push(Exceedance {
                    station: st.station.id.to_string(),
                    parameter: param.code.clone(),
                    check: limit.check.into(),
                    standard: limit.standard.clone(),
                    limit: limit.limit,
                    bound: if limit.max { "max" } else { "min" }.into(),
                    unit: param.unit.clone(),
                    from_utc: utc(first.0),
                    to_utc: utc(last.0),
                    peak_value: worst.1,
                    peak_utc: utc(worst.0),
                    readings: u32::try_from(run.len()).unwrap_or(u32::MAX),
                });
                run.clear();
            };
            for sample in sorted {
                let l = &sample.2;
                let beyond = if l.max {
                    sample.1 > l.limit
                } else {
                    sample.1 < l.limit
                };
                if beyond {
                    run.push(sample);
                } else {
                    close(&mut run);
                }
            }
            close(&mut run);
        }
        out
    }

    /// 24-h means of CST days with at least 20 hourly values: (station, param, date) →
    /// (mean, count).
    fn air_means(&self) -> BTreeMap<(usize, usize, NaiveDate), (f64, u32)> {
        self.days
            .iter()
            .filter(|(_, (_, n))| *n >= 20)
            .map(|(k, (sum, n))| (*k, (sum / f64::from(*n), *n)))
            .collect()
    }
}

fn secs(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn plume_expectations(generator: &Generator) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .plumes
        .iter()
        .map(|plume| {
            let def = &plume.def;
            let last_clean = plume
                .upstream_clean
                .iter()
                .filter_map(|id| stations.iter().find(|s| s.station.id == id.as_str()))
                .max_by(|a, b| {
                    a.station
                        .river_km
                        .unwrap_or(0.0)
                        .total_cmp(&b.station.river_km.unwrap_or(0.0))
                })
                .map(|s| s.station.id.to_string());
            let sections: Vec<PlumeSectionExpectation> = plume
                .sections
                .iter()
                .map(|sec| {
                    let st = stations
                        .iter()
                        .find(|s| s.station.id == sec.station.as_str());
                    let peak_secs =
                        plume.release_secs + (plume.peak_hours(sec) * 3600.0).round() as i64;
                    let loads: Vec<PlumeLoadExpectation> = def
                        .loads
                        .iter()
                        .enumerate()
                        .map(|(i, l)| PlumeLoadExpectation {
                            parameter: l.parameter.clone(),
                            peak_increment: round6(plume.peak_increment(sec, i)),
                        })
                        .collect();
                    let front = loads
                        .first()
                        .and_then(|l| plume.span_above(sec, 0, l.peak_increment * 0.1))
                        .map(|(a, _)| utc(secs(a)));
                    let emergency = st.and_then(|st| {
                        st.emergency.first().map(|(a, b)| {
                            (utc(secs(*a)), utc(secs(*b)), st.emergency_interval_secs)
                        })
                    });
                    PlumeSectionExpectation {
                        station: sec.station.clone(),
                        province: st
                            .map(|s| s.station.province.code().to_string())
                            .unwrap_or_default(),
                        river: sec.river.clone(),
                        km: sec.km,
                        distance_km: round6(sec.distance_km),
                        travel_hours: round6(sec.travel_hours),
                        spread_hours: round6(sec.spread_hours),
                        flow_m3s: sec.flow_m3s,
                        expected_arrival_utc: front,
                        expected_peak_utc: utc(secs(peak_secs)),
                        loads,
                        emergency,
                    }
                })
                .collect();
            let first = sections.first().map(|s| s.station.clone());
            Expectation::Plume(PlumeExpectation {
                id: def.id.clone(),
                cause_zh: def.cause_zh.clone(),
                cause_en: def.cause_en.clone(),
                river: def.river.clone(),
                km: def.km,
                province: def.province.clone(),
                release_utc: utc(def.release_at),
                release_hours: def.release_hours,
                spread_initial_hours: def.spread_initial_hours,
                spread_per_hour: def.spread_per_hour,
                reaches: def.reaches.clone(),
                origin_between: (last_clean, first),
                clean_upstream: plume.upstream_clean.clone(),
                sections,
            })
        })
        .collect()
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The highest warning level a city's days reach: each run of consecutive heavy days is
/// judged on its own days (the severe days and the day reaching 500 must lie in the run).
fn warning_level(daily_aqi: &[u32]) -> &'static str {
    let w = WARNING;
    let mut best = 0;
    let (mut days, mut severe, mut max) = (0, 0, 0);
    for &aqi in daily_aqi {
        if aqi > w.heavy_above_aqi {
            days += 1;
            severe += u32::from(aqi > w.severe_above_aqi);
            max = max.max(aqi);
        } else {
            (days, severe, max) = (0, 0, 0);
        }
        let level = if days == 0 {
            0
        } else if max >= w.red_any_day_aqi || (days >= w.red_days && severe >= w.red_severe_days) {
            4
        } else if days >= w.orange_days && severe >= w.orange_severe_days {
            3
        } else if days >= w.yellow_days {
            2
        } else if days >= w.blue_days {
            1
        } else {
            0
        };
        best = best.max(level);
    }
    ["none", "blue", "yellow", "orange", "red"][best]
}

fn air_expectations(
    generator: &Generator,
    means: &BTreeMap<(usize, usize, NaiveDate), (f64, u32)>,
) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .episodes
        .iter()
        .map(|ep| {
            let mut cities = Vec::new();
            let mut heavy_by_day: BTreeMap<NaiveDate, (bool, bool)> = BTreeMap::new();
            for (si, st) in stations.iter().enumerate() {
                if st.station.kind != StationKind::Air || !ep.covers(st.station.id.as_str()) {
                    continue;
                }
                let (Some(p25), Some(p10)) = (st.param_index("PM25"), st.param_index("PM10"))
                else {
                    continue;
                };
                let mut days = Vec::new();
                for (&(s, p, date), &(m25, _)) in
                    means.range((si, p25, NaiveDate::MIN)..=(si, p25, NaiveDate::MAX))
                {
                    debug_assert_eq!((s, p), (si, p25));
                    let Some(&(m10, _)) = means.get(&(si, p10, date)) else {
                        continue;
                    };
                    let aqi = iaqi_pm(Code::Pm25, m25, date)
                        .max(iaqi_pm(Code::Pm10, m10, date))
                        .ceil() as u32;
                    days.push(AirDay {
                        date,
                        pm25_24h: (m25 * 10.0).round() / 10.0,
                        pm10_24h: (m10 * 10.0).round() / 10.0,
                        aqi,
                        edition: if date >= edition_2026_from() {
                            "HJ 633-2026"
                        } else {
                            "HJ 633-2012"
                        }
                        .into(),
                        category_zh: category_zh(aqi).into(),
                    });
                }
                let heavy = WARNING.heavy_above_aqi;
                let above200: Vec<bool> = days.iter().map(|d| d.aqi > heavy).collect();
                let n300 = days
                    .iter()
                    .filter(|d| d.aqi > WARNING.severe_above_aqi)
                    .count() as u32;
                let daily_aqi: Vec<u32> = days.iter().map(|d| d.aqi).collect();
                let mut longest = 0;
                let mut cur = 0;
                for &d in &above200 {
                    cur = if d { cur + 1 } else { 0 };
                    longest = longest.max(cur);
                }
                for d in days.iter().filter(|d| d.aqi > heavy) {
                    let e = heavy_by_day.entry(d.date).or_default();
                    match st.station.province {
                        Province::Heilongjiang => e.0 = true,
                        Province::Jilin => e.1 = true,
                    }
                }
                cities.push(CityDays {
                    station: st.station.id.to_string(),
                    city_zh: st.station.city_zh.clone(),
                    province: st.station.province.code().into(),
                    days_above_200: above200.iter().filter(|&&b| b).count() as u32,
                    days_above_300: n300,
                    longest_run_above_200: longest,
                    warning_level: warning_level(&daily_aqi).into(),
                    days,
                });
            }
            Expectation::AirEpisode(AirExpectation {
                id: ep.def.id.clone(),
                cause_zh: ep.def.cause_zh.clone(),
                cause_en: ep.def.cause_en.clone(),
                cities,
                joint_heavy_days: heavy_by_day
                    .into_iter()
                    .filter(|(_, (h, j))| *h && *j)
                    .map(|(d, _)| d)
                    .collect(),
            })
        })
        .collect()
}

fn upset_expectations(generator: &Generator) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .upsets
        .iter()
        .map(|u| {
            let def = &u.def;
            let st = stations
                .iter()
                .find(|s| s.station.id == def.station.as_str());
            let standard = st
                .and_then(|s| s.station.discharge_standard.clone())
                .unwrap_or_else(|| GB18918.into());
            let exceeding = def
                .peak
                .iter()
                .filter_map(|(code, &v)| {
                    let limit = st
                        .and_then(|s| s.station.discharge_limits.get(code).copied())
                        .or_else(|| gb18918(code, false))?;
                    (v > limit).then(|| (code.clone(), limit))
                })
                .collect();
            let (from, to) = u.plateau();
            let end = to + chrono::Duration::seconds((def.ramp_down_hours * 3600.0) as i64);
            Expectation::OutfallUpset(UpsetExpectation {
                station: def.station.clone(),
                cause_zh: def.cause_zh.clone(),
                cause_en: def.cause_en.clone(),
                start_utc: utc(def.start),
                plateau_from_utc: utc(from),
                plateau_to_utc: utc(to),
                end_utc: utc(end),
                peak: def.peak.clone(),
                exceeding,
                standard,
            })
        })
        .collect()
}

fn flood_expectations(generator: &Generator, exceedances: &[Exceedance]) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .floods
        .iter()
        .filter_map(|f| {
            let st = stations
                .iter()
                .find(|s| s.station.id == f.def.station.as_str())?;
            let warning = st.station.warning_level_m?;
            let above: Vec<&Exceedance> = exceedances
                .iter()
                .filter(|e| e.station == f.def.station && e.check == "warning_level")
                .collect();
            let peak = above
                .iter()
                .max_by(|a, b| a.peak_value.total_cmp(&b.peak_value));
            Some(Expectation::Flood(FloodExpectation {
                station: f.def.station.clone(),
                cause_zh: f.def.cause_zh.clone(),
                cause_en: f.def.cause_en.clone(),
                warning_level_m: warning,
                guaranteed_level_m: st.station.guaranteed_level_m,
                planned_peak_level_m: round6(warning + f.def.peak_above_warning_m),
                planned_peak_utc: utc(secs(f.peak_secs())),
                observed_peak_level_m: peak.map(|e| e.peak_value),
                observed_peak_utc: peak.map(|e| e.peak_utc.clone()),
                above_warning: match (above.first(), above.last()) {
                    (Some(a), Some(b)) => Some((a.from_utc.clone(), b.to_utc.clone())),
                    _ => None,
                },
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iaqi_follows_the_2012_and_2026_tables() {
        let d2012 = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
        let d2026 = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        // Worked example of the reference sheet: PM2.5 = 86 → 114 (2012), 124 (2026).
        assert_eq!(iaqi_pm(Code::Pm25, 86.0, d2012).ceil(), 114.0);
        assert_eq!(iaqi_pm(Code::Pm25, 86.0, d2026).ceil(), 124.0);
        assert_eq!(iaqi_pm(Code::Pm10, 350.0, d2012), 200.0);
    }

    #[test]
    fn warning_levels_follow_consecutive_days() {
        assert_eq!(warning_level(&[250, 320, 250]), "orange");
        assert_eq!(warning_level(&[250, 250, 150, 250]), "yellow");
        assert_eq!(warning_level(&[250, 350, 350, 250]), "red");
        assert_eq!(warning_level(&[90]), "none");
        assert_eq!(warning_level(&[210]), "blue");
        assert_eq!(warning_level(&[500]), "red", "a day reaching 500");
        // The severe day must lie in the run: 320 then a break, then three heavy days.
        assert_eq!(warning_level(&[320, 150, 250, 250, 250]), "yellow");
    }

    #[test]
    fn pm25_limits_follow_the_gb3095_phases() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(gb3095_24h(Code::Pm25, d(2026, 2, 28)).unwrap().0, 75.0);
        assert_eq!(gb3095_24h(Code::Pm25, d(2026, 3, 1)).unwrap().0, 60.0);
        assert_eq!(gb3095_24h(Code::Pm25, d(2030, 12, 31)).unwrap().0, 60.0);
        assert_eq!(gb3095_24h(Code::Pm25, d(2031, 1, 1)).unwrap().0, 50.0);
        assert_eq!(gb3095_24h(Code::Pm10, d(2031, 1, 1)).unwrap().0, 150.0);
        assert_eq!(gb3095_24h(Code::O3, d(2031, 1, 1)), None);
    }

    #[test]
    fn lake_limits_replace_river_limits_for_tp_and_add_tn() {
        assert_eq!(gb3838(Code::Tp, false).unwrap().0[2], 0.2);
        assert_eq!(gb3838(Code::Tp, true).unwrap().0[2], 0.05);
        assert_eq!(gb3838(Code::Tn, false), None);
        assert_eq!(gb3838(Code::Tn, true).unwrap().0[2], 1.0);
        assert_eq!(
            gb3838(Code::Do, false),
            Some(([7.5, 6.0, 5.0, 3.0, 2.0], false))
        );
        assert_eq!(gb18918("NH3N", true), Some(8.0));
        assert_eq!(gb18918("NH3N", false), Some(5.0));
        assert_eq!(category_zh(101), "轻度污染");
        assert_eq!(category_zh(301), "严重污染");
    }
}
