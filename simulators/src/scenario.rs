//! Scenarios: what a simulation contains, read from TOML.
//!
//! A scenario names its default start and duration, the stations it runs, their reporting
//! intervals, the seasons, how stations publish, and its events: river plumes
//! ([`PlumeDef`]), air-pollution episodes ([`AirEpisodeDef`]), outfall upsets
//! ([`UpsetDef`]), floods ([`FloodDef`]) and sensor faults ([`FaultDef`]). Times are written
//! as operators type them (China Standard Time `2005-11-13 13:40`, or RFC 3339), durations as
//! `7d`, `36h`, `25m`.
//!
//! The built-in scenarios live in `simulators/scenarios/*.toml` and are compiled into the
//! binary ([`BUILTIN`]); [`Scenario::load`] also reads a file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::registry::{Registry, Station, StationKind};
use riverwatch_core::{DataFlag, Lang};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The built-in scenarios, `(name, TOML text)`, in the order `simulate --list` shows them.
pub const BUILTIN: [(&str, &str); 7] = [
    ("baseline", include_str!("../scenarios/baseline.toml")),
    (
        "songhua-2005-nitrobenzene",
        include_str!("../scenarios/songhua-2005-nitrobenzene.toml"),
    ),
    (
        "lalin-boundary-ammonia",
        include_str!("../scenarios/lalin-boundary-ammonia.toml"),
    ),
    (
        "autumn-straw-burning",
        include_str!("../scenarios/autumn-straw-burning.toml"),
    ),
    ("wwtp-upset", include_str!("../scenarios/wwtp-upset.toml")),
    (
        "spring-flood",
        include_str!("../scenarios/spring-flood.toml"),
    ),
    (
        "sensor-faults",
        include_str!("../scenarios/sensor-faults.toml"),
    ),
];

/// A simulation scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short ASCII name, e.g. `baseline`.
    pub name: String,
    /// What the scenario shows, in Chinese.
    pub description_zh: String,
    /// What the scenario shows, in English.
    pub description_en: String,
    /// Default simulated start (`--start` overrides).
    #[serde(with = "time_text")]
    pub start: DateTime<Utc>,
    /// Default simulated duration (`--duration` overrides).
    #[serde(with = "duration_text")]
    pub duration: Duration,
    /// Which stations run (all by default).
    #[serde(default)]
    pub stations: StationSelection,
    /// Reporting intervals.
    #[serde(default)]
    pub intervals: Intervals,
    /// Ice cover and heating season.
    #[serde(default)]
    pub seasons: Seasons,
    /// How stations publish (JSON or HJ 212, edition, command code).
    #[serde(default)]
    pub publish: PublishDef,
    /// River plumes (spills, discharges) carried downstream.
    #[serde(default, rename = "plume")]
    pub plumes: Vec<PlumeDef>,
    /// Air-pollution episodes.
    #[serde(default, rename = "air_episode")]
    pub air_episodes: Vec<AirEpisodeDef>,
    /// Treatment-plant upsets.
    #[serde(default, rename = "outfall_upset")]
    pub upsets: Vec<UpsetDef>,
    /// Floods at hydrological gauges.
    #[serde(default, rename = "flood")]
    pub floods: Vec<FloodDef>,
    /// Sensor and communication faults.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultDef>,
}

/// Station ids or patterns (`SHJ-*`: a trailing `*` matches any suffix; `*` matches all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationSelection {
    /// Stations to run. Default `["*"]`.
    #[serde(default = "all_stations")]
    pub include: Vec<String>,
    /// Stations left out even if included.
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn all_stations() -> Vec<String> {
    vec!["*".to_string()]
}

impl Default for StationSelection {
    fn default() -> Self {
        Self {
            include: all_stations(),
            exclude: Vec::new(),
        }
    }
}

impl StationSelection {
    /// Whether the station runs.
    pub fn selects(&self, id: &str) -> bool {
        matches_any(&self.include, id) && !matches_any(&self.exclude, id)
    }
}

/// Whether `id` matches one of the patterns.
pub fn matches_any(patterns: &[String], id: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => p == id,
    })
}

/// Reporting intervals, seconds. Unset kinds use each station's `report_interval_secs` from
/// the registry (water 4 h as national automatic stations report, air and outfalls hourly).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intervals {
    /// Water-quality sections, seconds.
    pub water_secs: Option<u32>,
    /// Air-quality stations, seconds.
    pub air_secs: Option<u32>,
    /// Outfalls, seconds.
    pub outfall_secs: Option<u32>,
    /// Hydrological gauges, seconds.
    pub hydrology_secs: Option<u32>,
    /// Per-station overrides, seconds.
    #[serde(default)]
    pub station: BTreeMap<String, u32>,
}

impl Intervals {
    /// The interval of one station: its own override, its kind's, or the registry's.
    pub fn of(&self, station: &Station) -> u32 {
        if let Some(&secs) = self.station.get(station.id.as_str()) {
            return secs;
        }
        let by_kind = match station.kind {
            StationKind::Water => self.water_secs,
            StationKind::Air => self.air_secs,
            StationKind::Outfall => self.outfall_secs,
            StationKind::Hydrology => self.hydrology_secs,
        };
        by_kind.unwrap_or(station.report_interval_secs)
    }
}

/// Season boundaries as `MM-DD` (China Standard Time dates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seasons {
    /// First day of full ice cover on the Songhua and Lalin. Default `11-25`.
    #[serde(default = "default_ice_on")]
    pub ice_on: String,
    /// Ice break-up. Default `04-05`.
    #[serde(default = "default_ice_off")]
    pub ice_off: String,
    /// Start of the heating season (coal-fired district heating). Default `10-15`.
    #[serde(default = "default_heating_start")]
    pub heating_start: String,
    /// End of the heating season. Default `04-15`.
    #[serde(default = "default_heating_end")]
    pub heating_end: String,
}

fn default_ice_on() -> String {
    "11-25".to_string()
}
fn default_ice_off() -> String {
    "04-05".to_string()
}
fn default_heating_start() -> String {
    "10-15".to_string()
}
fn default_heating_end() -> String {
    "04-15".to_string()
}

impl Default for Seasons {
    fn default() -> Self {
        Self {
            ice_on: default_ice_on(),
            ice_off: default_ice_off(),
            heating_start: default_heating_start(),
            heating_end: default_heating_end(),
        }
    }
}

/// Reads `MM-DD` into (month, day).
pub(crate) fn parse_month_day(s: &str) -> Option<(u32, u32)> {
    let (m, d) = s.trim().split_once('-')?;
    let (m, d) = (m.parse().ok()?, d.parse().ok()?);
    NaiveDate::from_ymd_opt(2001, m, d).map(|_| (m, d))
}

/// An HJ 212 edition a station speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Edition {
    /// HJ/T 212-2005.
    #[serde(rename = "2005")]
    Hj2005,
    /// HJ 212-2017 (the default).
    #[default]
    #[serde(rename = "2017")]
    Hj2017,
    /// HJ 212-2025.
    #[serde(rename = "2025")]
    Hj2025,
}

impl Edition {
    /// The codec's version.
    pub fn version(self) -> riverwatch_core::hj212::Version {
        use riverwatch_core::hj212::Version;
        match self {
            Edition::Hj2005 => Version::Hj212_2005,
            Edition::Hj2017 => Version::Hj212_2017,
            Edition::Hj2025 => Version::Hj212_2025,
        }
    }
}

/// How stations publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishDef {
    /// Stations that send HJ 212 frames under `--format mixed` (patterns); the others send
    /// JSON.
    #[serde(default)]
    pub hj212_stations: Vec<String>,
    /// Default HJ 212 edition. Default `2017`.
    #[serde(default)]
    pub edition: Edition,
    /// Per-station edition (e.g. an old logger on `2005`, a new one on `2025`).
    #[serde(default)]
    pub editions: BTreeMap<String, Edition>,
    /// Command code per station kind (`water`, `air`, `outfall`): `2011` real-time (the
    /// default) or `2061` hourly data.
    #[serde(default)]
    pub cn: BTreeMap<String, String>,
    /// The `PW` field. Default `123456`.
    #[serde(default = "default_password")]
    pub password: String,
}

fn default_password() -> String {
    "123456".to_string()
}

impl Default for PublishDef {
    fn default() -> Self {
        Self {
            hj212_stations: Vec::new(),
            edition: Edition::default(),
            editions: BTreeMap::new(),
            cn: BTreeMap::new(),
            password: default_password(),
        }
    }
}

impl PublishDef {
    /// The edition of one station.
    pub fn edition_of(&self, station: &str) -> Edition {
        self.editions.get(station).copied().unwrap_or(self.edition)
    }

    /// The command code of one station kind.
    pub fn cn_of(&self, kind: StationKind) -> &str {
        self.cn.get(kind.as_str()).map_or("2011", String::as_str)
    }
}

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

/// A scenario with its place in the `--list` output.
#[derive(Debug, Clone)]
pub struct ScenarioInfo {
    /// Name.
    pub name: String,
    /// Description in the chosen language.
    pub description: String,
}

impl Scenario {
    /// Parses a scenario from TOML text.
    ///
    /// # Errors
    /// [`Error::ScenarioSyntax`] with the message of the TOML reader.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::ScenarioSyntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// A built-in scenario by name.
    ///
    /// # Errors
    /// [`Error::UnknownScenario`], or a syntax error in the built-in file (ruled out by tests).
    pub fn builtin(name: &str) -> Result<Self> {
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::UnknownScenario(name.to_string()))?;
        Self::from_toml(text, name)
    }

    /// A built-in scenario by name, or else a scenario file at that path.
    ///
    /// # Errors
    /// Unknown name and no such file, or a file that does not parse.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if BUILTIN.iter().any(|(n, _)| *n == name_or_path) {
            return Self::builtin(name_or_path);
        }
        let path = Path::new(name_or_path);
        if !path.is_file() {
            return Err(Error::UnknownScenario(name_or_path.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, name_or_path)
    }

    /// The built-in scenarios with their descriptions in `lang`.
    pub fn list(lang: Lang) -> Vec<ScenarioInfo> {
        BUILTIN
            .iter()
            .filter_map(|(name, _)| Self::builtin(name).ok())
            .map(|s| ScenarioInfo {
                description: lang.pick(&s.description_zh, &s.description_en).to_string(),
                name: s.name,
            })
            .collect()
    }

    /// The stations of `registry` this scenario runs, in registry order.
    pub fn selected<'r>(&self, registry: &'r Registry) -> Vec<&'r Station> {
        registry
            .stations()
            .iter()
            .filter(|s| self.stations.selects(s.id.as_str()))
            .collect()
    }

    /// Checks the scenario against the registry: stations, parameters, rivers, seasons,
    /// intervals and event settings.
    ///
    /// # Errors
    /// [`Error::InvalidScenario`] naming the first problem.
    pub fn validate(&self, registry: &Registry) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(&self.name, m));
        if self.selected(registry).is_empty() {
            return bad("no station of the registry is selected".into());
        }
        for field in [
            &self.seasons.ice_on,
            &self.seasons.ice_off,
            &self.seasons.heating_start,
            &self.seasons.heating_end,
        ] {
            if parse_month_day(field).is_none() {
                return bad(format!("season date `{field}` is not MM-DD"));
            }
        }
        let intervals = [
            self.intervals.water_secs,
            self.intervals.air_secs,
            self.intervals.outfall_secs,
            self.intervals.hydrology_secs,
        ];
        if intervals.iter().flatten().any(|&s| s == 0)
            || self.intervals.station.values().any(|&s| s == 0)
        {
            return bad("reporting intervals must be at least 1 s".into());
        }
        for id in self.intervals.station.keys() {
            self.station(registry, id)?;
        }
        for cn in self.publish.cn.values() {
            if cn != "2011" && cn != "2061" {
                return bad(format!("command code `{cn}` is not 2011 or 2061"));
            }
        }
        for p in &self.plumes {
            self.validate_plume(registry, p)?;
        }
        for e in &self.air_episodes {
            if e.daily_pm25.iter().any(|v| !v.is_finite() || *v < 0.0)
                || !(e.pm25_fraction_of_pm10 > 0.0 && e.pm25_fraction_of_pm10 <= 1.0)
            {
                return bad(format!(
                    "air episode {}: daily_pm25 must be ≥ 0 and pm25_fraction_of_pm10 in (0, 1]",
                    e.id
                ));
            }
        }
        for u in &self.upsets {
            let s = self.station(registry, &u.station)?;
            for code in u.peak.keys() {
                self.param_of(s, code)?;
            }
            if u.ramp_up_hours < 0.0 || u.plateau_hours < 0.0 || u.ramp_down_hours < 0.0 {
                return bad(format!("upset at {}: negative duration", u.station));
            }
        }
        for f in &self.floods {
            let s = self.station(registry, &f.station)?;
            if s.warning_level_m.is_none() || !s.reports("LEVEL") {
                return bad(format!(
                    "flood at {}: the station needs LEVEL and a warning level",
                    f.station
                ));
            }
            if f.rise_hours <= 0.0 || f.recession_hours <= 0.0 {
                return bad(format!("flood at {}: durations must be > 0", f.station));
            }
        }
        for f in &self.faults {
            let s = self.station(registry, f.station())?;
            for code in f.parameters() {
                self.param_of(s, code)?;
            }
            if let FaultDef::Flag { values, .. } = f {
                for code in values.keys() {
                    self.param_of(s, code)?;
                }
            }
        }
        Ok(())
    }

    fn validate_plume(&self, registry: &Registry, p: &PlumeDef) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(&self.name, format!("plume {}: {m}", p.id)));
        if registry.river(&p.river).is_none() {
            return bad(format!("unknown river `{}`", p.river));
        }
        if p.reaches.is_empty() || p.loads.is_empty() {
            return bad("needs at least one [[plume.reach]] and one [[plume.load]]".into());
        }
        for r in &p.reaches {
            if registry.river(&r.river).is_none() {
                return bad(format!("reach on unknown river `{}`", r.river));
            }
            if !(r.velocity_kmh > 0.0 && r.flow_m3s > 0.0 && r.to_km > r.from_km) {
                return bad(format!(
                    "reach {} {}–{} km needs velocity > 0, flow > 0 and to_km > from_km",
                    r.river, r.from_km, r.to_km
                ));
            }
        }
        for l in &p.loads {
            if registry.parameter(&l.parameter).is_none() {
                return bad(format!("unknown parameter `{}`", l.parameter));
            }
            if l.mass_kg.is_nan() || l.mass_kg <= 0.0 || l.decay_per_day < 0.0 {
                return bad("mass_kg must be > 0 and decay_per_day ≥ 0".into());
            }
        }
        if p.spread_initial_hours.is_nan()
            || p.spread_initial_hours <= 0.0
            || p.spread_per_hour < 0.0
            || p.release_hours < 0.0
        {
            return bad("spread_initial_hours must be > 0, the others ≥ 0".into());
        }
        if p.emergency_interval_secs == Some(0) {
            return bad("emergency_interval_secs must be ≥ 1".into());
        }
        Ok(())
    }

    fn station<'r>(&self, registry: &'r Registry, id: &str) -> Result<&'r Station> {
        registry
            .station(id)
            .filter(|s| self.stations.selects(s.id.as_str()))
            .ok_or_else(|| {
                Error::invalid(
                    &self.name,
                    format!("station `{id}` is not in the registry or not selected"),
                )
            })
    }

    fn param_of(&self, station: &Station, code: &str) -> Result<()> {
        if station.reports(code) {
            Ok(())
        } else {
            Err(Error::invalid(
                &self.name,
                format!("station {} does not report `{code}`", station.id),
            ))
        }
    }
}

/// Serde for times written as operators type them (see [`riverwatch_core::time::parse_time`]).
pub(crate) mod time_text {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&riverwatch_core::time::rfc3339_cst(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        riverwatch_core::time::parse_time(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for lists of times.
pub(crate) mod times_text {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &[DateTime<Utc>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(t.iter().map(|t| riverwatch_core::time::rfc3339_cst(*t)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DateTime<Utc>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| riverwatch_core::time::parse_time(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Serde for durations written as `7d`, `36h`, `25m`, `90s`.
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}s", d.as_secs()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        riverwatch_core::time::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_parses_and_fits_the_builtin_network() {
        let registry = Registry::builtin().unwrap();
        for (name, _) in BUILTIN {
            let s = Scenario::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.name, name);
            assert!(!s.description_zh.is_empty() && !s.description_en.is_empty());
            s.validate(&registry)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn patterns_select_stations() {
        let p = vec!["SHJ-*".to_string(), "LLH-WC".to_string()];
        assert!(matches_any(&p, "SHJ-SFT"));
        assert!(matches_any(&p, "LLH-WC"));
        assert!(!matches_any(&p, "LLH-WCX"));
        assert!(matches_any(&["*".to_string()], "AIR-CC"));
    }

    #[test]
    fn unknown_stations_and_parameters_are_reported() {
        let registry = Registry::builtin().unwrap();
        let mut s = Scenario::builtin("baseline").unwrap();
        s.faults.push(FaultDef::Stuck {
            station: "LLH-WC".into(),
            parameter: "PM25".into(),
            from: s.start,
            to: s.start,
        });
        let e = s.validate(&registry).unwrap_err().to_string();
        assert!(e.contains("PM25"), "{e}");
    }
}
