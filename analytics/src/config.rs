//! Analytics settings (`[analytics]` in the configuration file) and their pure validation.
//!
//! Every rule where the standards leave a choice is a setting here, with the default the
//! README states: debounce and hysteresis per rule, flow velocities for travel times, the
//! tolerance when looking for upstream data, the valid-data rate a window needs, the
//! regional joint-control rule and the ecological-compensation rule (whose amounts are an
//! example, not an agreement).

use std::collections::BTreeMap;

use riverwatch_core::Province;
use serde::{Deserialize, Serialize};

use crate::standards::discharge::DischargeLimits;
use crate::standards::hydrology::StationLevels;
use crate::standards::warning::WarningRules;

/// How the analytics service subscribes, evaluates, stores and publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Stable MQTT client id of the readings subscriber. The broker keeps the session (and
    /// the readings not yet acknowledged) under this id across restarts; the output
    /// connection uses `{client_id}-out`. Default `riverwatch-analytics`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// File of the evaluation store, relative to the data directory. Default
    /// `analytics.db`.
    #[serde(default = "default_store_file")]
    pub store_file: String,
    /// Messages buffered between the MQTT connection and the evaluator; a full buffer stops
    /// reading from the broker (backpressure). Default 1024.
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
    /// Most readings messages evaluated and committed in one store transaction. Default 256.
    #[serde(default = "default_max_batch_messages")]
    pub max_batch_messages: usize,
    /// How often the service looks for silent stations, milliseconds. Default 10000.
    #[serde(default = "default_tick_interval_ms")]
    pub tick_interval_ms: u64,
    /// Wall-clock silence after which a station's open day closes without a later reading
    /// (an outage, or the end of a replay), seconds. Windows otherwise close on observation
    /// time, when a reading past them arrives. Default 21600 (6 h).
    #[serde(default = "default_idle_close_secs")]
    pub idle_close_secs: u64,
    /// Debounce and hysteresis per rule.
    #[serde(default)]
    pub debounce: DebounceConfig,
    /// Cross-border attribution: velocities and tolerances.
    #[serde(default)]
    pub attribution: AttributionConfig,
    /// Valid-data rate (有效数据率) and expected reporting intervals.
    #[serde(default)]
    pub completeness: CompletenessConfig,
    /// Heavy-pollution warning levels from daily AQI. Default: the MEP 2017 guidance.
    #[serde(default)]
    pub warning: WarningRules,
    /// Regional joint control across the provincial boundary.
    #[serde(default)]
    pub joint_control: JointControlConfig,
    /// Cross-border ecological compensation ledger (跨界生态补偿).
    #[serde(default)]
    pub compensation: CompensationConfig,
    /// Warning and guaranteed water levels per gauge, replacing the registry's
    /// `warning_level_m` / `guaranteed_level_m`. Default: none (the registry's levels).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hydrology_levels: BTreeMap<String, StationLevels>,
    /// Discharge limits per outfall on top of GB 18918-2002 Grade 1A and the registry's
    /// `discharge_limits`. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub discharge_limits: BTreeMap<String, DischargeLimits>,
}

fn default_client_id() -> String {
    "riverwatch-analytics".to_string()
}
fn default_store_file() -> String {
    "analytics.db".to_string()
}
const fn default_channel_capacity() -> usize {
    1024
}
const fn default_max_batch_messages() -> usize {
    256
}
const fn default_tick_interval_ms() -> u64 {
    10_000
}
const fn default_idle_close_secs() -> u64 {
    6 * 3600
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            client_id: default_client_id(),
            store_file: default_store_file(),
            channel_capacity: default_channel_capacity(),
            max_batch_messages: default_max_batch_messages(),
            tick_interval_ms: default_tick_interval_ms(),
            idle_close_secs: default_idle_close_secs(),
            debounce: DebounceConfig::default(),
            attribution: AttributionConfig::default(),
            completeness: CompletenessConfig::default(),
            warning: WarningRules::default(),
            joint_control: JointControlConfig::default(),
            compensation: CompensationConfig::default(),
            hydrology_levels: BTreeMap::new(),
            discharge_limits: BTreeMap::new(),
        }
    }
}

/// Debounce and hysteresis of one per-reading rule.
///
/// A condition starts after `fire_after_readings` consecutive readings beyond the limit and
/// ends after `clear_after_readings` consecutive readings back within the limit *by the
/// hysteresis margin*: for an upper limit L the value must fall to L × (1 − h) or below, for
/// a lower limit (dissolved oxygen) rise to L × (1 + h) or above. A value hovering at the
/// limit therefore starts the condition once and does not end it until it clearly recovers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debounce {
    /// Consecutive readings beyond the limit that start the condition. At least 1.
    pub fire_after_readings: u32,
    /// Consecutive readings clearly within the limit that end it. At least 1.
    pub clear_after_readings: u32,
    /// Hysteresis as a fraction of the limit, 0 ≤ h < 0.5.
    pub hysteresis_fraction: f64,
}

impl Debounce {
    /// The default for water parameters and outfalls: fire on the first reading beyond
    /// the limit (automatic stations sample every 4 h: a second reading would delay the
    /// alarm by hours), end after 2 readings at least 5 % inside the limit.
    pub const WATER: Debounce = Debounce {
        fire_after_readings: 1,
        clear_after_readings: 2,
        hysteresis_fraction: 0.05,
    };

    fn validate(&self, rule: &str) -> Result<(), ConfigError> {
        if self.fire_after_readings == 0 || self.clear_after_readings == 0 {
            return Err(ConfigError::Range {
                field: format!("debounce.{rule}"),
                expected: "fire_after_readings and clear_after_readings of at least 1",
            });
        }
        if !(0.0..0.5).contains(&self.hysteresis_fraction) {
            return Err(ConfigError::Range {
                field: format!("debounce.{rule}.hysteresis_fraction"),
                expected: "0 ≤ h < 0.5",
            });
        }
        Ok(())
    }
}

/// Debounce and hysteresis of the hourly AQI level of a city.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AqiDebounce {
    /// Consecutive hours at a worse level before the level rises. Default 1.
    pub fire_after_hours: u32,
    /// Consecutive hours at a better level, by the hysteresis margin, before the level
    /// falls. Default 2.
    pub clear_after_hours: u32,
    /// How far below a level's lower bound the AQI must be to count as the better level,
    /// AQI points. Default 5.
    pub hysteresis_aqi: u32,
}

/// Debounce and hysteresis of a gauge's flood state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodDebounce {
    /// Consecutive readings above a level that raise the state. Default 1.
    pub fire_after_readings: u32,
    /// Consecutive readings below it by the hysteresis margin that lower the state.
    /// Default 2.
    pub clear_after_readings: u32,
    /// How far below the warning or guaranteed level the water must be, metres.
    /// Default 0.05.
    pub hysteresis_m: f64,
}

/// Debounce and hysteresis per rule (`[analytics.debounce]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebounceConfig {
    /// One water parameter beyond the limit of the section's target class
    /// (`parameter_exceedance`). Default: [`Debounce::WATER`].
    #[serde(default = "default_water_debounce")]
    pub parameter: Debounce,
    /// A section's class worse than its target (`section_below_target`), and the class
    /// changes reported (`class_change`). Default: [`Debounce::WATER`].
    #[serde(default = "default_water_debounce")]
    pub section: Debounce,
    /// An outfall beyond its discharge limit (`discharge_exceedance`). Default:
    /// [`Debounce::WATER`].
    #[serde(default = "default_water_debounce")]
    pub discharge: Debounce,
    /// The hourly AQI level of a city (`aqi_level`).
    #[serde(default = "default_aqi_debounce")]
    pub aqi_level: AqiDebounce,
    /// A gauge above its warning or guaranteed level (`flood_level`).
    #[serde(default = "default_flood_debounce")]
    pub flood: FloodDebounce,
}

const fn default_water_debounce() -> Debounce {
    Debounce::WATER
}
const fn default_aqi_debounce() -> AqiDebounce {
    AqiDebounce {
        fire_after_hours: 1,
        clear_after_hours: 2,
        hysteresis_aqi: 5,
    }
}
const fn default_flood_debounce() -> FloodDebounce {
    FloodDebounce {
        fire_after_readings: 1,
        clear_after_readings: 2,
        hysteresis_m: 0.05,
    }
}

impl Default for DebounceConfig {
    fn default() -> Self {
        Self {
            parameter: default_water_debounce(),
            section: default_water_debounce(),
            discharge: default_water_debounce(),
            aqi_level: default_aqi_debounce(),
            flood: default_flood_debounce(),
        }
    }
}

/// The mean flow velocity of one reach, for travel times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachVelocity {
    /// River id of the registry.
    pub river: String,
    /// First kilometre of the reach (from the river's head).
    pub from_km: f64,
    /// Last kilometre of the reach.
    pub to_km: f64,
    /// Mean velocity of a pollution front, km/h.
    pub velocity_kmh: f64,
}

/// Cross-border attribution (`[analytics.attribution]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionConfig {
    /// Velocity of a river not listed in `river_velocity_kmh` or `reaches`, km/h.
    /// Default 1.5 (≈ 0.4 m/s, the Jilin–Harbin travel of the 2005 spill).
    #[serde(default = "default_velocity_kmh")]
    pub default_velocity_kmh: f64,
    /// Velocity per river id, km/h. Default: `lalin` 2.0 and `second-songhua` 2.0
    /// (late-summer open water), `songhua` 1.5 (the 2005 spill: 1.0–1.6 km/h under ice).
    #[serde(default = "default_river_velocities")]
    pub river_velocity_kmh: BTreeMap<String, f64>,
    /// Velocities of kilometre ranges, overriding the river's. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reaches: Vec<ReachVelocity>,
    /// How far from (exceedance time − travel time) an upstream reading may lie and still
    /// count, hours. Default 3 (automatic stations report every 4 h).
    #[serde(default = "default_upstream_tolerance_hours")]
    pub upstream_tolerance_hours: f64,
    /// How long an incident stays open at a section after its last exceedance there, for
    /// linking exceedances further downstream, hours. Default 72.
    #[serde(default = "default_incident_idle_hours")]
    pub incident_idle_hours: f64,
}

const fn default_velocity_kmh() -> f64 {
    1.5
}
fn default_river_velocities() -> BTreeMap<String, f64> {
    [("lalin", 2.0), ("second-songhua", 2.0), ("songhua", 1.5)]
        .into_iter()
        .map(|(r, v)| (r.to_string(), v))
        .collect()
}
const fn default_upstream_tolerance_hours() -> f64 {
    3.0
}
const fn default_incident_idle_hours() -> f64 {
    72.0
}

impl Default for AttributionConfig {
    fn default() -> Self {
        Self {
            default_velocity_kmh: default_velocity_kmh(),
            river_velocity_kmh: default_river_velocities(),
            reaches: Vec::new(),
            upstream_tolerance_hours: default_upstream_tolerance_hours(),
            incident_idle_hours: default_incident_idle_hours(),
        }
    }
}

impl AttributionConfig {
    /// The velocity at a kilometre of a river, km/h.
    pub fn velocity_at(&self, river: &str, km: f64) -> f64 {
        self.reaches
            .iter()
            .find(|r| r.river == river && r.from_km <= km && km < r.to_km)
            .map(|r| r.velocity_kmh)
            .or_else(|| self.river_velocity_kmh.get(river).copied())
            .unwrap_or(self.default_velocity_kmh)
    }
}

/// Data completeness (`[analytics.completeness]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletenessConfig {
    /// The valid-data rate (valid readings ÷ expected readings) a day or month needs for
    /// its class to count (compliance, the ledger), and below which a day raises
    /// `data_completeness`. Default 0.75.
    #[serde(default = "default_min_valid_rate")]
    pub min_valid_rate: f64,
    /// Expected reporting interval per station id, seconds, replacing the registry's
    /// `report_interval_secs`. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expected_interval_secs: BTreeMap<String, u32>,
    /// Hourly values a pollutant's 24-hour mean needs (HJ 663 / GB 3095 data validity).
    /// Default 20.
    #[serde(default = "default_min_hours_daily")]
    pub min_hours_daily_mean: u32,
    /// Hourly values an O3 8-hour moving mean needs. Default 6.
    #[serde(default = "default_min_hours_o3_8h")]
    pub min_hours_o3_8h: u32,
    /// Valid 8-hour means (of the 17 within a day, ending 08:00–24:00) the daily maximum
    /// needs. Default 14.
    #[serde(default = "default_min_o3_8h_windows")]
    pub min_o3_8h_windows: u32,
}

const fn default_min_valid_rate() -> f64 {
    0.75
}
const fn default_min_hours_daily() -> u32 {
    20
}
const fn default_min_hours_o3_8h() -> u32 {
    6
}
const fn default_min_o3_8h_windows() -> u32 {
    14
}

impl Default for CompletenessConfig {
    fn default() -> Self {
        Self {
            min_valid_rate: default_min_valid_rate(),
            expected_interval_secs: BTreeMap::new(),
            min_hours_daily_mean: default_min_hours_daily(),
            min_hours_o3_8h: default_min_hours_o3_8h(),
            min_o3_8h_windows: default_min_o3_8h_windows(),
        }
    }
}

/// The regional joint-control rule (`[analytics.joint_control]`): the region is under
/// joint control on a day when at least `min_cities_per_province` cities of **each**
/// province have a daily AQI above `heavy_above_aqi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointControlConfig {
    /// A city is at heavy pollution when its daily AQI is above this. Default 200
    /// (重度污染 and worse).
    #[serde(default = "default_heavy_above_aqi")]
    pub heavy_above_aqi: u32,
    /// Cities of each province that must be at heavy pollution. Default 1.
    #[serde(default = "default_min_cities_per_province")]
    pub min_cities_per_province: u32,
}

const fn default_heavy_above_aqi() -> u32 {
    200
}
const fn default_min_cities_per_province() -> u32 {
    1
}

impl Default for JointControlConfig {
    fn default() -> Self {
        Self {
            heavy_above_aqi: default_heavy_above_aqi(),
            min_cities_per_province: default_min_cities_per_province(),
        }
    }
}

/// How a boundary section's monthly result turns into payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompensationModel {
    /// The class-step model of the Henan–Shandong Yellow River agreement: each class
    /// better than the target, the downstream province pays the upstream one; each class
    /// worse, the upstream pays the downstream; plus an amount per parameter exceeding.
    ClassStep,
    /// The "water-quality bet" of the Xin'an River: a compliant month, the downstream pays
    /// the upstream; a non-compliant month, the reverse.
    Compliance,
}

/// Which province is upstream at a boundary section, for the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundaryPair {
    /// The province the water comes from.
    pub upstream: Province,
    /// The province it flows on to.
    pub downstream: Province,
}

/// The ecological-compensation rule (`[analytics.compensation]`).
///
/// **The amounts are an example**, scaled from the Henan–Shandong Yellow River agreement
/// (60 million yuan per class step per *year* at the boundary section, reference sheet §9)
/// to months: no Heilongjiang–Jilin agreement for the Lalin River exists. Replace them
/// with the agreed figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationConfig {
    /// The model. Default `class_step`.
    #[serde(default = "default_model")]
    pub model: CompensationModel,
    /// Class-step model: yuan per class step between the monthly class and the target, per
    /// month. Default 5 000 000 (60 M ÷ 12, example).
    #[serde(default = "default_per_class_step_yuan")]
    pub per_class_step_yuan: f64,
    /// Class-step model: whether a month better than the target earns the upstream
    /// province a payment (the Yellow River rule). Default true.
    #[serde(default = "default_true")]
    pub reward_better_than_target: bool,
    /// Class-step model: yuan per parameter whose monthly mean exceeds its target limit,
    /// paid by the upstream province. Default 1 000 000 (example).
    #[serde(default = "default_per_exceeding_parameter_yuan")]
    pub per_exceeding_parameter_yuan: f64,
    /// Compliance model: yuan the downstream province pays for a compliant month.
    /// Default 8 333 333 (100 M per year ÷ 12, the Xin'an River figure, example).
    #[serde(default = "default_compliance_yuan")]
    pub compliant_month_yuan: f64,
    /// Compliance model: yuan the upstream province pays for a non-compliant month.
    /// Default 8 333 333 (example).
    #[serde(default = "default_compliance_yuan")]
    pub non_compliant_month_yuan: f64,
    /// Largest amount for one section and month, yuan; none when absent. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_cap_yuan: Option<f64>,
    /// Upstream and downstream province per boundary section. A section not listed takes
    /// the province of the nearest upstream section that is not itself a boundary section
    /// as upstream, and the other province as downstream. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sections: BTreeMap<String, BoundaryPair>,
}

const fn default_model() -> CompensationModel {
    CompensationModel::ClassStep
}
const fn default_per_class_step_yuan() -> f64 {
    5_000_000.0
}
const fn default_per_exceeding_parameter_yuan() -> f64 {
    1_000_000.0
}
const fn default_compliance_yuan() -> f64 {
    8_333_333.0
}
const fn default_true() -> bool {
    true
}

impl Default for CompensationConfig {
    fn default() -> Self {
        Self {
            model: default_model(),
            per_class_step_yuan: default_per_class_step_yuan(),
            reward_better_than_target: true,
            per_exceeding_parameter_yuan: default_per_exceeding_parameter_yuan(),
            compliant_month_yuan: default_compliance_yuan(),
            non_compliant_month_yuan: default_compliance_yuan(),
            monthly_cap_yuan: None,
            sections: BTreeMap::new(),
        }
    }
}

/// A configuration problem found before anything is started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is out of its range.
    #[error("{field} must be {expected}")]
    Range {
        /// The setting, e.g. `debounce.parameter`.
        field: String,
        /// The allowed range.
        expected: &'static str,
    },
    /// A setting names something the registry does not have.
    #[error("{field}: {message}")]
    Unknown {
        /// The setting.
        field: String,
        /// What is missing.
        message: String,
    },
}

fn positive(field: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::Range {
            field: field.to_string(),
            expected: "a positive number",
        })
    }
}

fn non_negative(field: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ConfigError::Range {
            field: field.to_string(),
            expected: "a number ≥ 0",
        })
    }
}

impl AnalyticsConfig {
    /// Fast, small settings for tests: short ticks and idle close, small batches.
    pub fn test_config() -> Self {
        Self {
            channel_capacity: 256,
            max_batch_messages: 64,
            tick_interval_ms: 100,
            ..Self::default()
        }
    }

    /// Pure checks (no files, no network).
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id_ok = (1..=60).contains(&self.client_id.len())
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'+' && b != b'#' && b != b'/');
        if !id_ok {
            return Err(ConfigError::Range {
                field: "client_id".into(),
                expected: "1–60 printable ASCII characters without +, #, / or spaces",
            });
        }
        if self.store_file.trim().is_empty() {
            return Err(ConfigError::Range {
                field: "store_file".into(),
                expected: "a file name",
            });
        }
        if !(1..=1_000_000).contains(&self.channel_capacity) {
            return Err(ConfigError::Range {
                field: "channel_capacity".into(),
                expected: "between 1 and 1000000",
            });
        }
        if !(1..=100_000).contains(&self.max_batch_messages) {
            return Err(ConfigError::Range {
                field: "max_batch_messages".into(),
                expected: "between 1 and 100000",
            });
        }
        if self.tick_interval_ms == 0 {
            return Err(ConfigError::Range {
                field: "tick_interval_ms".into(),
                expected: "at least 1",
            });
        }
        self.debounce.parameter.validate("parameter")?;
        self.debounce.section.validate("section")?;
        self.debounce.discharge.validate("discharge")?;
        let aqi = &self.debounce.aqi_level;
        if aqi.fire_after_hours == 0 || aqi.clear_after_hours == 0 || aqi.hysteresis_aqi > 50 {
            return Err(ConfigError::Range {
                field: "debounce.aqi_level".into(),
                expected: "hours of at least 1 and hysteresis_aqi of at most 50",
            });
        }
        let flood = &self.debounce.flood;
        if flood.fire_after_readings == 0 || flood.clear_after_readings == 0 {
            return Err(ConfigError::Range {
                field: "debounce.flood".into(),
                expected: "fire_after_readings and clear_after_readings of at least 1",
            });
        }
        non_negative("debounce.flood.hysteresis_m", flood.hysteresis_m)?;
        let a = &self.attribution;
        positive("attribution.default_velocity_kmh", a.default_velocity_kmh)?;
        for (river, v) in &a.river_velocity_kmh {
            positive(&format!("attribution.river_velocity_kmh.{river}"), *v)?;
        }
        for r in &a.reaches {
            positive("attribution.reaches.velocity_kmh", r.velocity_kmh)?;
            if !(r.from_km.is_finite() && r.to_km.is_finite() && r.from_km < r.to_km) {
                return Err(ConfigError::Range {
                    field: format!("attribution.reaches ({})", r.river),
                    expected: "from_km < to_km",
                });
            }
        }
        non_negative(
            "attribution.upstream_tolerance_hours",
            a.upstream_tolerance_hours,
        )?;
        positive("attribution.incident_idle_hours", a.incident_idle_hours)?;
        let c = &self.completeness;
        if !(c.min_valid_rate.is_finite() && (0.0..=1.0).contains(&c.min_valid_rate)) {
            return Err(ConfigError::Range {
                field: "completeness.min_valid_rate".into(),
                expected: "between 0 and 1",
            });
        }
        if let Some((id, _)) = c.expected_interval_secs.iter().find(|(_, s)| **s == 0) {
            return Err(ConfigError::Range {
                field: format!("completeness.expected_interval_secs.{id}"),
                expected: "at least 1 second",
            });
        }
        if !(1..=24).contains(&c.min_hours_daily_mean)
            || !(1..=8).contains(&c.min_hours_o3_8h)
            || !(1..=17).contains(&c.min_o3_8h_windows)
        {
            return Err(ConfigError::Range {
                field: "completeness".into(),
                expected: "min_hours_daily_mean 1–24, min_hours_o3_8h 1–8, min_o3_8h_windows 1–17",
            });
        }
        if self.joint_control.min_cities_per_province == 0 {
            return Err(ConfigError::Range {
                field: "joint_control.min_cities_per_province".into(),
                expected: "at least 1",
            });
        }
        let k = &self.compensation;
        non_negative("compensation.per_class_step_yuan", k.per_class_step_yuan)?;
        non_negative(
            "compensation.per_exceeding_parameter_yuan",
            k.per_exceeding_parameter_yuan,
        )?;
        non_negative("compensation.compliant_month_yuan", k.compliant_month_yuan)?;
        non_negative(
            "compensation.non_compliant_month_yuan",
            k.non_compliant_month_yuan,
        )?;
        if let Some(cap) = k.monthly_cap_yuan {
            non_negative("compensation.monthly_cap_yuan", cap)?;
        }
        if let Some((id, _)) = k.sections.iter().find(|(_, p)| p.upstream == p.downstream) {
            return Err(ConfigError::Range {
                field: format!("compensation.sections.{id}"),
                expected: "two different provinces",
            });
        }
        for (id, levels) in &self.hydrology_levels {
            if !levels.is_valid() {
                return Err(ConfigError::Range {
                    field: format!("hydrology_levels.{id}"),
                    expected: "finite levels with warning_level_m ≤ guaranteed_level_m",
                });
            }
        }
        Ok(())
    }

    /// Checks that every station id the settings name is in the registry.
    ///
    /// # Errors
    /// The first unknown id.
    pub fn validate_against(
        &self,
        registry: &riverwatch_core::Registry,
    ) -> Result<(), ConfigError> {
        let ids = self
            .completeness
            .expected_interval_secs
            .keys()
            .map(|k| ("completeness.expected_interval_secs", k))
            .chain(
                self.compensation
                    .sections
                    .keys()
                    .map(|k| ("compensation.sections", k)),
            )
            .chain(
                self.hydrology_levels
                    .keys()
                    .map(|k| ("hydrology_levels", k)),
            )
            .chain(
                self.discharge_limits
                    .keys()
                    .map(|k| ("discharge_limits", k)),
            );
        for (field, id) in ids {
            if registry.station(id).is_none() {
                return Err(ConfigError::Unknown {
                    field: format!("{field}.{id}"),
                    message: "no such station in the registry".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml_and_validate() {
        let cfg = AnalyticsConfig::default();
        let text = toml::to_string(&cfg).unwrap();
        let back: AnalyticsConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        assert!(cfg.validate().is_ok());
        assert!(AnalyticsConfig::test_config().validate().is_ok());
        let empty: AnalyticsConfig = toml::from_str("").unwrap();
        assert_eq!(empty, cfg);
    }

    #[test]
    fn rejects_bad_values_before_starting() {
        let mut cfg = AnalyticsConfig::default();
        cfg.debounce.parameter.fire_after_readings = 0;
        assert!(cfg.validate().is_err());
        let mut cfg = AnalyticsConfig::default();
        cfg.attribution
            .river_velocity_kmh
            .insert("lalin".into(), 0.0);
        assert!(cfg.validate().is_err());
        let mut cfg = AnalyticsConfig::default();
        cfg.completeness.min_valid_rate = 1.5;
        assert!(cfg.validate().is_err());
        let cfg = AnalyticsConfig {
            client_id: "a b".into(),
            ..AnalyticsConfig::default()
        };
        assert!(cfg.validate().is_err());
        let err = toml::from_str::<AnalyticsConfig>("clinet_id = \"x\"").unwrap_err();
        assert!(err.to_string().contains("clinet_id"), "{err}");
    }

    #[test]
    fn velocities_by_reach_then_river_then_default() {
        let mut a = AttributionConfig::default();
        a.reaches.push(ReachVelocity {
            river: "songhua".into(),
            from_km: 200.0,
            to_km: 300.0,
            velocity_kmh: 1.1,
        });
        assert_eq!(a.velocity_at("songhua", 250.0), 1.1);
        assert_eq!(a.velocity_at("songhua", 100.0), 1.5);
        assert_eq!(a.velocity_at("lalin", 100.0), 2.0);
        assert_eq!(a.velocity_at("nen", 10.0), 1.5);
    }

    #[test]
    fn unknown_stations_are_named() {
        let reg = riverwatch_core::Registry::builtin().unwrap();
        let mut cfg = AnalyticsConfig::default();
        assert!(cfg.validate_against(&reg).is_ok());
        cfg.completeness
            .expected_interval_secs
            .insert("NOPE".into(), 3600);
        let err = cfg.validate_against(&reg).unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
    }
}
