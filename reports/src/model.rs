//! The typed river-chief report: what [`crate::assemble`] reads from the stores and what
//! every format (JSON, CSV, HTML, Excel) renders. Times are UTC; days are CST days.

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_alerts::views::PeriodAlerts;
use riverwatch_analytics::model::{Incident, LedgerEntry};
use riverwatch_analytics::standards::hydrology::LevelState;
use riverwatch_analytics::standards::river_grade::RiverGrade;
use riverwatch_analytics::standards::warning::WarningLevel;
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::{Province, WaterClass};
use serde::Serialize;

/// A report of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Day, week, month, quarter or year.
    pub period: WindowPeriod,
    /// The first CST day of the period.
    pub first_day: NaiveDate,
    /// The last CST day of the period (inclusive).
    pub last_day: NaiveDate,
    /// Start, UTC (00:00 UTC+8 of the first day).
    pub start: DateTime<Utc>,
    /// End, UTC (exclusive).
    pub end: DateTime<Utc>,
    /// The river the report is limited to (`None`: the whole zone).
    pub river: Option<String>,
    /// When it was assembled.
    pub generated_at: DateTime<Utc>,
    /// One row per water section, in registry order.
    pub sections: Vec<SectionRow>,
    /// One row per river.
    pub rivers: Vec<RiverRow>,
    /// The provincial-boundary sections against their upstream neighbour.
    pub boundary: Vec<BoundaryRow>,
    /// The class of each boundary section over the period (hours of a day, days otherwise).
    pub trend: ClassTrend,
    /// Pollution incidents that reached a section of the report during the period.
    pub incidents: Vec<Incident>,
    /// The compensation ledger of the months the period touches (latest revisions).
    pub ledger: Vec<LedgerEntry>,
    /// Alerts of the period; `None` when the alert store is not there.
    pub alerts: Option<PeriodAlerts>,
    /// One row per city (air station), in registry order; with a river, the cities that
    /// have a station on it.
    pub air: Vec<AirRow>,
    /// One row per outfall (on the river, with a river), in registry order.
    pub outfalls: Vec<OutfallRow>,
    /// One row per hydrological gauge (on the river, with a river), in registry order.
    pub gauges: Vec<GaugeRow>,
    /// Days of the period under regional joint control.
    pub joint_control_days: u32,
    /// The head of the alert audit chain at report time, `#seq hash`.
    pub audit_head: Option<String>,
    /// The registry's parameters by code and name, for the text of the tables.
    pub parameter_names: Vec<ParameterName>,
}

impl Report {
    /// A parameter's name in `lang` (its code when the registry does not know it).
    pub fn parameter_name<'a>(&'a self, code: &'a str, lang: riverwatch_core::Lang) -> &'a str {
        self.parameter_names
            .iter()
            .find(|p| p.code == code)
            .map_or(code, |p| lang.pick(&p.name_zh, &p.name_en))
    }
}

/// Which provinces a boundary section joins: the water comes from `upstream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BoundaryRelation {
    /// The province the water comes from.
    pub upstream: Province,
    /// The province it flows on to.
    pub downstream: Province,
}

impl BoundaryRelation {
    /// `黑→吉` or `HLJ→JL`.
    pub fn label(&self, lang: riverwatch_core::Lang) -> String {
        let short = |p: Province| match lang {
            riverwatch_core::Lang::Zh => p.name_zh().chars().next().map(String::from),
            riverwatch_core::Lang::En => Some(p.code().to_string()),
        };
        format!(
            "{}→{}",
            short(self.upstream).unwrap_or_default(),
            short(self.downstream).unwrap_or_default()
        )
    }
}

/// An item above Class Ⅲ over the period, with its exceedance multiple.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exceeding {
    /// Parameter code.
    pub code: String,
    /// Chinese name, e.g. `氨氮`.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// (period mean − Class Ⅲ limit) ÷ limit, as stored.
    pub multiple: f64,
}

/// One section over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionRow {
    /// Station id.
    pub station: String,
    /// Chinese name.
    pub name_zh: String,
    /// Pinyin name.
    pub name_pinyin: String,
    /// Province operating it.
    pub province: Province,
    /// City or county, Chinese.
    pub city_zh: String,
    /// River id.
    pub river: String,
    /// River name, Chinese.
    pub river_zh: String,
    /// River name, pinyin.
    pub river_pinyin: String,
    /// Boundary sections: which way the water crosses.
    pub boundary: Option<BoundaryRelation>,
    /// Target class.
    pub target: Option<WaterClass>,
    /// Class over the period (`None`: no data, or no class item).
    pub class: Option<WaterClass>,
    /// Class over the same period a year earlier.
    pub class_last_year: Option<WaterClass>,
    /// Whether the class meets the target.
    pub compliant: Option<bool>,
    /// Whether the valid-data rate reaches the minimum, so the class counts.
    pub sufficient: bool,
    /// Items above Class Ⅲ, the largest multiple first.
    pub exceeding: Vec<Exceeding>,
    /// Hours of the period whose stored hourly evaluation misses the target.
    pub hours_out: u32,
    /// Days of the period whose stored daily evaluation misses the target.
    pub days_out: u32,
    /// Valid-data rate (有效数据率), 0–1.
    pub valid_rate: f64,
}

/// One river over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiverRow {
    /// River id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// Pinyin name.
    pub name_pinyin: String,
    /// Sections of the river in the report.
    pub sections: usize,
    /// Sections judged (with a class and enough valid data).
    pub judged: usize,
    /// The grade by the 2011 method; `None` without judged sections.
    pub grade: Option<RiverGrade>,
    /// Share of judged sections meeting their target (达标率), 0–1.
    pub compliance_rate: Option<f64>,
    /// The same share over the same period a year earlier.
    pub compliance_rate_last_year: Option<f64>,
    /// The same share over the previous period.
    pub compliance_rate_previous: Option<f64>,
    /// Change against a year earlier (同比), percentage points.
    pub change_year_points: Option<f64>,
    /// Change against the previous period (环比), percentage points.
    pub change_previous_points: Option<f64>,
    /// The grade's main pollutants (主要污染指标) by name, in the grade's order.
    pub main_pollutants: Vec<ParameterName>,
}

/// A parameter by code and name, for the text of the tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterName {
    /// Parameter code, e.g. `NH3N`.
    pub code: String,
    /// Chinese name, e.g. `氨氮`.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// A boundary section against its upstream neighbour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoundaryRow {
    /// The boundary section.
    pub station: String,
    /// Which way the water crosses.
    pub relation: Option<BoundaryRelation>,
    /// Its class over the period.
    pub class: Option<WaterClass>,
    /// Its target.
    pub target: Option<WaterClass>,
    /// The nearest section upstream.
    pub upstream_station: Option<String>,
    /// That section's class over the period.
    pub upstream_class: Option<WaterClass>,
    /// Incidents of the period that reached the section.
    pub incidents: u32,
}

/// The class of each boundary section over the period, for the chart.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ClassTrend {
    /// Hours (a day's report) or days.
    pub step: Option<WindowPeriod>,
    /// The windows' starts.
    pub starts: Vec<DateTime<Utc>>,
    /// One series per boundary section.
    pub series: Vec<TrendSeries>,
}

/// One section's classes, one per window of [`ClassTrend::starts`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendSeries {
    /// Station id.
    pub station: String,
    /// The class of each window (`None`: nothing stored).
    pub classes: Vec<Option<WaterClass>>,
}

/// One city's air over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AirRow {
    /// Air station id.
    pub station: String,
    /// City, Chinese.
    pub city_zh: String,
    /// Station name, pinyin.
    pub name_pinyin: String,
    /// Province.
    pub province: Province,
    /// Days per AQI level 1–6 (index 0 is level 1, 优).
    pub days_per_level: [u32; 6],
    /// Days with a daily AQI.
    pub days_known: u32,
    /// Heavy-pollution days (level 5 and 6, daily AQI above 200).
    pub heavy_days: u32,
    /// Days with a heavy-pollution warning in force (blue or above).
    pub warning_days: u32,
    /// The highest warning level of the period.
    pub highest_warning: WarningLevel,
}

/// One outfall over the period: how long its discharge exceedances lasted, as analytics
/// judged them live (`discharge_exceedance` events, from the firing reading to the reading
/// that ended it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutfallRow {
    /// Outfall station id.
    pub station: String,
    /// Chinese name.
    pub name_zh: String,
    /// Pinyin name.
    pub name_pinyin: String,
    /// Province.
    pub province: Province,
    /// City or county, Chinese.
    pub city_zh: String,
    /// Receiving river id.
    pub river: String,
    /// Discharge standard named in the registry, e.g. `GB 18918-2002 一级A`.
    pub standard: Option<String>,
    /// Hours of the period with at least one parameter beyond its limit.
    pub hours_beyond: f64,
    /// Exceedances that started in the period (one per parameter and episode).
    pub exceedances: u32,
    /// Parameters beyond their limit at some time of the period.
    pub parameters: Vec<String>,
    /// Whether an exceedance was still going on at the end of the period (or report time).
    pub beyond_at_end: bool,
}

/// One hydrological gauge over the period: its highest stored water level against its
/// warning level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaugeRow {
    /// Gauge station id.
    pub station: String,
    /// Chinese name.
    pub name_zh: String,
    /// Pinyin name.
    pub name_pinyin: String,
    /// Province.
    pub province: Province,
    /// City or county, Chinese.
    pub city_zh: String,
    /// River id.
    pub river: String,
    /// Warning level (警戒水位), m: the configuration's, else the registry's.
    pub warning_level_m: Option<f64>,
    /// Guaranteed level (保证水位), m.
    pub guaranteed_level_m: Option<f64>,
    /// The highest stored hourly mean water level of the period, m (the evaluation store
    /// keeps hourly means; single readings' peaks are not stored).
    pub max_level_m: Option<f64>,
    /// Start of that hour.
    pub max_at: Option<DateTime<Utc>>,
    /// `max_level_m − warning_level_m`, m (positive: above warning).
    pub max_above_warning_m: Option<f64>,
    /// Hours of the period above the warning level, as analytics judged them live
    /// (`flood_level` events, from the firing reading to the reading that ended it).
    pub hours_above_warning: f64,
    /// The highest state the gauge reached in the period.
    pub highest_state: LevelState,
}
