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
//!
//! The events' definitions are in `scenario/events.rs`, the checks against the registry
//! ([`Scenario::validate`]) in `scenario/validate.rs`.

mod events;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::Lang;
use riverwatch_core::registry::{Registry, Station, StationKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use events::{AirEpisodeDef, FaultDef, FloodDef, PlumeDef, PlumeLoad, Reach, UpsetDef};

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
mod tests;
