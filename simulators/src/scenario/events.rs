//! What a scenario adds to the stations' normal course: river plumes, air-pollution
//! episodes, outfall upsets, floods and sensor faults, as written in its TOML.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::DataFlag;
use serde::{Deserialize, Serialize};

use super::{all_stations, duration_text, time_text, times_text};

/// A release into a river, carried downstream with the reach velocities, spreading and
/// decaying: the 1-D advection–dispersion solution in travel time (see [`crate::plume`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlumeDef {
    /// Short id used in the manifest, e.g. `jilin-2005`.
    pub id: String,
    /// River of the release.
    pub river: String,
    /// River kilometre of the release.
    pub km: f64,
    /// Province where the pollution enters the river (`HLJ` or `JL`).
    pub province: String,
    /// What happened, in Chinese.
    pub cause_zh: String,
    /// What happened, in English.
    pub cause_en: String,
    /// Start of the release.
    #[serde(with = "time_text")]
    pub release_at: DateTime<Utc>,
    /// Duration of the release, hours (0: instantaneous).
    #[serde(default)]
    pub release_hours: f64,
    /// Spread (standard deviation of the passage at a section, in hours) at the release.
    pub spread_initial_hours: f64,
    /// Growth of that spread per hour of travel (dimensionless): a longitudinal dispersion
    /// coefficient that grows with travel time, as in the shear-dispersion regime.
    pub spread_per_hour: f64,
    /// What is released.
    #[serde(rename = "load")]
    pub loads: Vec<PlumeLoad>,
    /// Velocity and flow along the path, covering it from the release down.
    #[serde(rename = "reach")]
    pub reaches: Vec<Reach>,
    /// Sampling interval of affected sections while the plume passes, seconds (emergency
    /// monitoring); none keeps the normal interval.
    #[serde(default)]
    pub emergency_interval_secs: Option<u32>,
    /// Emergency sampling starts this long before the modelled concentration first passes a
    /// load's `emergency_above`, hours.
    #[serde(default)]
    pub emergency_lead_hours: f64,
    /// ... and ends this long after it falls below again, hours.
    #[serde(default)]
    pub emergency_tail_hours: f64,
}

/// One substance of a plume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlumeLoad {
    /// Parameter code, e.g. `NB`.
    pub parameter: String,
    /// Mass that reaches the river, kg.
    pub mass_kg: f64,
    /// First-order loss (volatilisation, nitrification, settling), per day.
    #[serde(default)]
    pub decay_per_day: f64,
    /// Modelled increment (mg/L) above which a section samples at the emergency interval.
    #[serde(default)]
    pub emergency_above: Option<f64>,
}

/// A stretch of river with one velocity and flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reach {
    /// River id.
    pub river: String,
    /// Upstream end, km.
    pub from_km: f64,
    /// Downstream end, km.
    pub to_km: f64,
    /// Velocity of the plume centroid, km/h.
    pub velocity_kmh: f64,
    /// River flow, m³/s (dilution).
    pub flow_m3s: f64,
}

/// A multi-day air-pollution episode (e.g. straw burning) over a set of air stations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AirEpisodeDef {
    /// Short id used in the manifest.
    pub id: String,
    /// What happened, in Chinese.
    pub cause_zh: String,
    /// What happened, in English.
    pub cause_en: String,
    /// Stations (patterns). Default: every air station.
    #[serde(default = "all_stations")]
    pub stations: Vec<String>,
    /// First day of the episode (China Standard Time date).
    pub first_day: NaiveDate,
    /// PM2.5 added to the normal level, as a 24-h mean per day from `first_day`, µg/m³.
    pub daily_pm25: Vec<f64>,
    /// PM2.5/PM10 ratio of the added particles (fine smoke ≈ 0.7).
    pub pm25_fraction_of_pm10: f64,
    /// CO added per µg/m³ of added PM2.5, mg/m³.
    #[serde(default)]
    pub co_per_pm25: f64,
    /// Factor on the added pollution per station (missing stations: 1).
    #[serde(default)]
    pub scale: BTreeMap<String, f64>,
}

/// A treatment-plant upset: effluent quality ramps to given values, stays, and recovers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsetDef {
    /// Outfall station.
    pub station: String,
    /// What happened, in Chinese.
    pub cause_zh: String,
    /// What happened, in English.
    pub cause_en: String,
    /// Start of the ramp-up.
    #[serde(with = "time_text")]
    pub start: DateTime<Utc>,
    /// Ramp-up, hours.
    pub ramp_up_hours: f64,
    /// Time at the peak values, hours.
    pub plateau_hours: f64,
    /// Recovery, hours.
    pub ramp_down_hours: f64,
    /// Effluent values at the plateau, per parameter code.
    pub peak: BTreeMap<String, f64>,
}

/// A flood wave at a hydrological gauge, preceded by rain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodDef {
    /// Gauge station.
    pub station: String,
    /// What happened, in Chinese.
    pub cause_zh: String,
    /// What happened, in English.
    pub cause_en: String,
    /// Start of the rise.
    #[serde(with = "time_text")]
    pub start: DateTime<Utc>,
    /// Rise to the peak, hours.
    pub rise_hours: f64,
    /// Peak level relative to the station's warning level, m (positive: above it).
    pub peak_above_warning_m: f64,
    /// Recession time constant, hours.
    pub recession_hours: f64,
    /// Rain at the gauge in the 48 h before the rise, mm in total.
    #[serde(default)]
    pub rain_mm: f64,
}

/// A sensor or communication fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultDef {
    /// The sensor repeats the value it had at `from` (flag stays `N`).
    Stuck {
        /// Station.
        station: String,
        /// Parameter.
        parameter: String,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
    },
    /// The reading drifts away from the truth linearly (flag stays `N`).
    Drift {
        /// Station.
        station: String,
        /// Parameter.
        parameter: String,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
        /// Drift per day, in the parameter's unit.
        per_day: f64,
    },
    /// Single wrong values at the first sample at or after each time (flag stays `N`).
    Spike {
        /// Station.
        station: String,
        /// Parameter.
        parameter: String,
        /// When.
        #[serde(with = "times_text")]
        at: Vec<DateTime<Utc>>,
        /// The value sent.
        value: f64,
    },
    /// Values outside the registry's physical range (ingest rejects them).
    OutOfRange {
        /// Station.
        station: String,
        /// Parameter.
        parameter: String,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
        /// The value sent.
        value: f64,
    },
    /// Values sent with a data flag (maintenance `M`, calibration `C`, fault `D`, …),
    /// optionally with the value the instrument shows then (e.g. a calibration standard).
    Flag {
        /// Station.
        station: String,
        /// Parameters (empty: all of the station's).
        #[serde(default)]
        parameters: Vec<String>,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
        /// The flag letter.
        flag: DataFlag,
        /// Values sent instead of the truth, per parameter.
        #[serde(default)]
        values: BTreeMap<String, f64>,
    },
    /// Readings missing: parameters (or whole messages) not sent, never backfilled.
    Dropout {
        /// Station.
        station: String,
        /// Parameters (empty: the whole message).
        #[serde(default)]
        parameters: Vec<String>,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
    },
    /// The station's clock runs ahead: timestamps are `skew` later than the truth.
    ClockSkew {
        /// Station.
        station: String,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
        /// How far ahead.
        #[serde(with = "duration_text")]
        skew: Duration,
    },
    /// Each message is sent twice, the copy `delay` later (a device resend).
    Duplicate {
        /// Station.
        station: String,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
        /// Delay of the copy.
        #[serde(with = "duration_text")]
        delay: Duration,
    },
    /// A communication outage: nothing is sent from `from` to `to`; then the missed
    /// readings are sent with their original times (backfill) `backfill_delay` after `to`.
    Outage {
        /// Station.
        station: String,
        /// Start.
        #[serde(with = "time_text")]
        from: DateTime<Utc>,
        /// End (exclusive).
        #[serde(with = "time_text")]
        to: DateTime<Utc>,
        /// Delay between the link coming back and the backfill.
        #[serde(with = "duration_text")]
        backfill_delay: Duration,
    },
}

impl FaultDef {
    /// The station the fault affects.
    pub fn station(&self) -> &str {
        match self {
            FaultDef::Stuck { station, .. }
            | FaultDef::Drift { station, .. }
            | FaultDef::Spike { station, .. }
            | FaultDef::OutOfRange { station, .. }
            | FaultDef::Flag { station, .. }
            | FaultDef::Dropout { station, .. }
            | FaultDef::ClockSkew { station, .. }
            | FaultDef::Duplicate { station, .. }
            | FaultDef::Outage { station, .. } => station,
        }
    }

    /// The kind as written in the file, e.g. `clock_skew`.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultDef::Stuck { .. } => "stuck",
            FaultDef::Drift { .. } => "drift",
            FaultDef::Spike { .. } => "spike",
            FaultDef::OutOfRange { .. } => "out_of_range",
            FaultDef::Flag { .. } => "flag",
            FaultDef::Dropout { .. } => "dropout",
            FaultDef::ClockSkew { .. } => "clock_skew",
            FaultDef::Duplicate { .. } => "duplicate",
            FaultDef::Outage { .. } => "outage",
        }
    }

    /// The parameters the fault names (empty: all, or not parameter-specific).
    pub fn parameters(&self) -> Vec<&str> {
        match self {
            FaultDef::Stuck { parameter, .. }
            | FaultDef::Drift { parameter, .. }
            | FaultDef::Spike { parameter, .. }
            | FaultDef::OutOfRange { parameter, .. } => vec![parameter.as_str()],
            FaultDef::Flag { parameters, .. } | FaultDef::Dropout { parameters, .. } => {
                parameters.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        }
    }
}
