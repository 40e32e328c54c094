//! The typed records of evaluations: what the live path, the window jobs, the warning and
//! ledger logic produce, what the evaluation store keeps, and what the console and the
//! river-chief reports read back through [`crate::store::EvaluationReader`].
//!
//! All times are UTC; days and months are calendar days and months in China Standard Time,
//! written `YYYY-MM-DD` and `YYYY-MM`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::events::{Attribution, ExpectedArrival, WindowPeriod};
use riverwatch_core::registry::StationKind;
use riverwatch_core::{Province, WaterClass};
use serde::{Deserialize, Serialize};

use crate::standards::hj633::{AqiLevel, AqiResult, Metric, Pollutant};
use crate::standards::warning::WarningLevel;

/// One parameter of a live observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterStatus {
    /// Parameter code.
    pub code: String,
    /// Value, in the registry's unit.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// GB 3838 class (water sections; `None` for items without classes and other kinds).
    pub class: Option<WaterClass>,
    /// Exceedance multiple: over the Class III limit (water) or the discharge limit.
    pub exceedance_multiple: Option<f64>,
}

/// The latest live evaluation of a station: what the console shows as "now".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentStatus {
    /// Station id.
    pub station: String,
    /// Station kind.
    pub kind: StationKind,
    /// Observation time of the values.
    pub observed_at: DateTime<Utc>,
    /// Section class from the latest values (water).
    pub class: Option<WaterClass>,
    /// Target class (water).
    pub target: Option<WaterClass>,
    /// Whether the class meets the target.
    pub compliant: Option<bool>,
    /// Parameters deciding the class.
    pub deciding: Vec<String>,
    /// The values of the observation.
    pub parameters: Vec<ParameterStatus>,
    /// Latest hourly AQI (air).
    pub aqi: Option<u32>,
    /// Its level 1–6 (air).
    pub aqi_level: Option<u8>,
    /// Flood state (`normal`, `above_warning`, `above_guaranteed`) of a gauge.
    pub flood_state: Option<String>,
    /// Standard edition used.
    pub standard: String,
}

impl CurrentStatus {
    /// The status of values that carry no class, AQI or flood state; the kinds that have
    /// them set those fields on top.
    pub fn measured(
        station: &str,
        kind: StationKind,
        observed_at: DateTime<Utc>,
        parameters: Vec<ParameterStatus>,
        standard: String,
    ) -> Self {
        Self {
            station: station.to_string(),
            kind,
            observed_at,
            class: None,
            target: None,
            compliant: None,
            deciding: Vec::new(),
            parameters,
            aqi: None,
            aqi_level: None,
            flood_state: None,
            standard,
        }
    }
}

/// One parameter of a window evaluation: its mean over the window and its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterMean {
    /// Parameter code.
    pub code: String,
    /// Mean of the valid values: hourly means are means of the readings, daily means the
    /// means of the hourly means, monthly means the means of the daily means.
    pub mean: f64,
    /// Valid readings in the window.
    pub count: u32,
    /// GB 3838 class of the mean (water sections).
    pub class: Option<WaterClass>,
    /// Exceedance multiple of the mean over Class III (water sections).
    pub exceedance_multiple: Option<f64>,
    /// Whether the parameter decides the section's class (2011 method class items).
    pub in_section_class: bool,
}

/// The evaluation of one station over one window (an hour, a CST day or a CST month).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowEvaluation {
    /// Station id.
    pub station: String,
    /// Hour, day or month.
    pub period: WindowPeriod,
    /// Start of the window.
    pub start: DateTime<Utc>,
    /// 0 for the first evaluation; each re-evaluation that changed it adds one.
    pub revision: u32,
    /// When it was computed (wall clock).
    pub computed_at: DateTime<Utc>,
    /// Standard editions used, e.g. `GB 3838-2002; 环办〔2011〕22号`.
    pub standard: String,
    /// Section class (water sections with at least one class item).
    pub class: Option<WaterClass>,
    /// Target class.
    pub target: Option<WaterClass>,
    /// Whether the class meets the target.
    pub compliant: Option<bool>,
    /// Class items at the section's class.
    pub deciding: Vec<String>,
    /// Main pollutants when worse than Class III.
    pub main_pollutants: Vec<String>,
    /// Valid readings ÷ expected readings (有效数据率), capped at 1 per parameter.
    pub completeness: f64,
    /// Valid readings counted (at most the expected number per parameter).
    pub valid_readings: u32,
    /// Readings expected from the station's reporting interval.
    pub expected_readings: u32,
    /// Whether the completeness reaches the configured minimum, so the class counts.
    pub sufficient: bool,
    /// Per parameter.
    pub parameters: Vec<ParameterMean>,
}

impl WindowEvaluation {
    /// Whether two evaluations say the same (everything but revision and computation
    /// time), so a re-evaluation that changes nothing adds no revision.
    pub fn same_content(&self, other: &Self) -> bool {
        let strip = |e: &Self| Self {
            revision: 0,
            computed_at: DateTime::<Utc>::MIN_UTC,
            ..e.clone()
        };
        strip(self) == strip(other)
    }
}

/// The AQI of one station for one hour (real-time AQI) or one CST day (daily AQI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AqiRecord {
    /// Station id.
    pub station: String,
    /// Hour or day.
    pub period: WindowPeriod,
    /// Start of the hour or day.
    pub start: DateTime<Utc>,
    /// 0 for the first evaluation, then one more per change.
    pub revision: u32,
    /// When it was computed (wall clock).
    pub computed_at: DateTime<Utc>,
    /// HJ 633 edition used.
    pub edition: String,
    /// AQI; `None` when no pollutant had a value.
    pub aqi: Option<u32>,
    /// Level 1–6.
    pub level: Option<u8>,
    /// Category, e.g. `重度污染`.
    pub category_zh: Option<String>,
    /// Primary pollutant codes (AQI > 50).
    pub primary: Vec<String>,
    /// IAQI per pollutant code.
    pub iaqi: BTreeMap<String, u32>,
    /// The HJ 633 breakpoint column each IAQI was read from, per pollutant code: for a
    /// daily record `O3` → `O3_8h` (the day's maximum 8-hour mean) or `O3_1h` (the day's
    /// maximum 1-hour mean, when its IAQI is the larger); `SO2` → `SO2_24h` when an HJ
    /// 633-2012 hourly SO2 above 800 µg/m³ was reported by the 24-hour mean. Empty in
    /// records stored before this field existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub iaqi_columns: BTreeMap<String, Metric>,
    /// Concentrations judged per metric: pollutant codes for 1-h / 24-h means, `O3_8H` for
    /// the daily maximum 8-hour mean, `O3_1H_MAX` for the daily maximum 1-hour mean.
    pub concentrations: BTreeMap<String, f64>,
    /// Pollutants left out for too few hourly values (daily AQI).
    pub insufficient: Vec<String>,
    /// Daily AQI: the valid O3 8-hour means of the day (of the 17 ending 08:00–24:00), the
    /// count HJ 663's 14-window rule is applied to; `None` without O3 hourly values (and in
    /// hourly records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o3_8h_windows: Option<u32>,
    /// Pollutants over the GB 3095 Grade II 24-hour limit (daily AQI), with the edition.
    pub over_gb3095: Vec<String>,
}

impl AqiRecord {
    /// A record from an HJ 633 result.
    pub fn from_result(
        station: &str,
        period: WindowPeriod,
        start: DateTime<Utc>,
        result: &AqiResult,
        concentrations: Vec<(Pollutant, f64)>,
        computed_at: DateTime<Utc>,
    ) -> Self {
        let level = result.level.map(AqiLevel::number);
        Self {
            station: station.to_string(),
            period,
            start,
            revision: 0,
            computed_at,
            edition: result.edition.code.to_string(),
            aqi: result.aqi,
            level,
            category_zh: result.level.map(|l| l.category_zh().to_string()),
            primary: result
                .primary
                .iter()
                .map(|p| p.code().to_string())
                .collect(),
            iaqi: result
                .iaqi
                .iter()
                .map(|(p, i)| (p.code().to_string(), *i))
                .collect(),
            iaqi_columns: result
                .iaqi_columns
                .iter()
                .map(|(p, m)| (p.code().to_string(), *m))
                .collect(),
            concentrations: concentrations
                .into_iter()
                .map(|(p, v)| (p.code().to_string(), v))
                .collect(),
            insufficient: Vec::new(),
            o3_8h_windows: None,
            over_gb3095: Vec::new(),
        }
    }

    /// Whether two records say the same (everything but revision and computation time).
    pub fn same_content(&self, other: &Self) -> bool {
        let strip = |e: &Self| Self {
            revision: 0,
            computed_at: DateTime::<Utc>::MIN_UTC,
            concentrations: e
                .concentrations
                .iter()
                .map(|(k, v)| (k.clone(), (v * 1e6).round() / 1e6))
                .collect(),
            ..e.clone()
        };
        strip(self) == strip(other)
    }
}

/// The heavy-pollution warning level of a city on one CST day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningRecord {
    /// Air station id of the city.
    pub station: String,
    /// City, Chinese.
    pub city_zh: String,
    /// Province.
    pub province: Province,
    /// CST day.
    pub date: NaiveDate,
    /// 0 for the first evaluation, then one more per change.
    pub revision: u32,
    /// The level the run of days ending on `date` reaches.
    pub level: WarningLevel,
    /// The daily AQI of the day, if known.
    pub daily_aqi: Option<u32>,
    /// Consecutive days with daily AQI above 200 ending on `date`.
    pub run_days: u32,
    /// Days of that run above 300.
    pub severe_days: u32,
    /// When it was computed (wall clock).
    pub computed_at: DateTime<Utc>,
}

/// The regional joint-control state on one CST day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JointControlRecord {
    /// CST day.
    pub date: NaiveDate,
    /// 0 for the first evaluation, then one more per change.
    pub revision: u32,
    /// Whether the region is under joint control.
    pub active: bool,
    /// Heavy-pollution cities (air station ids) in Heilongjiang.
    pub heavy_hlj: Vec<String>,
    /// Heavy-pollution cities in Jilin.
    pub heavy_jl: Vec<String>,
    /// Cities whose daily AQI was known.
    pub cities_known: u32,
    /// The rule, e.g. `≥1 city per province with daily AQI > 200`.
    pub rule: String,
    /// When it was computed (wall clock).
    pub computed_at: DateTime<Utc>,
}

/// One section reached by an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSection {
    /// Section id.
    pub station: String,
    /// Its province.
    pub province: Province,
    /// Parameter exceeding.
    pub parameter: String,
    /// First exceedance at the section.
    pub first_at: DateTime<Utc>,
    /// Value of that first exceedance.
    pub value: f64,
    /// What attribution concluded there.
    pub attribution: Attribution,
}

/// A pollution incident: successive exceedances moving downstream, linked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id, `inc-{station}-{parameter}-{time}` of the first exceedance judged (an
    /// earlier one upstream that is judged later joins the incident and becomes its origin,
    /// but the id stays, because events already carry it).
    pub id: String,
    /// The section of the earliest exceedance.
    pub origin_station: String,
    /// Its province.
    pub origin_province: Province,
    /// The section above the origin that was clean (the pollution arose between), if known.
    pub clean_upstream: Option<String>,
    /// First exceedance.
    pub started_at: DateTime<Utc>,
    /// Latest exceedance.
    pub last_at: DateTime<Utc>,
    /// Sections reached, in order of first exceedance.
    pub sections: Vec<IncidentSection>,
    /// Where the front is expected next.
    pub expected_next: Option<ExpectedArrival>,
}

/// Who pays whom for one boundary section and month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Boundary section id.
    pub station: String,
    /// CST month, `YYYY-MM`.
    pub month: String,
    /// 0 for the first evaluation, then one more per change.
    pub revision: u32,
    /// Monthly class.
    pub class: Option<WaterClass>,
    /// Target class.
    pub target: WaterClass,
    /// Whether the monthly class meets the target; `None` when not assessed.
    pub compliant: Option<bool>,
    /// Whether the month had enough valid data to be assessed.
    pub assessed: bool,
    /// Target minus class in steps: positive when better than the target.
    pub class_steps: i32,
    /// Parameters whose monthly mean exceeds the target limit.
    pub exceeding_parameters: Vec<String>,
    /// The province the water comes from.
    pub upstream: Province,
    /// The province it flows on to.
    pub downstream: Province,
    /// Who pays (`None`: no payment).
    pub payer: Option<Province>,
    /// Who receives.
    pub payee: Option<Province>,
    /// Amount, yuan.
    pub amount_yuan: f64,
    /// The rule applied, e.g. `class_step: 5000000 per step, 1000000 per parameter`.
    pub rule: String,
    /// When it was computed (wall clock).
    pub computed_at: DateTime<Utc>,
}
