//! The registry's data types: parameters, rivers and stations, as written in the TOML
//! network file and as held in memory after validation.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::class::{Province, WaterClass};
use crate::reading::StationId;

/// What a parameter measures, which decides which stations may report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Medium {
    /// Surface water (sections and outfalls).
    Water,
    /// Ambient air.
    Air,
    /// Hydrology (level, flow, rain).
    Hydrology,
}

/// One measured quantity: a GB 3838 item, an air pollutant, a hydrological quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// Short ASCII code used as the key in JSON observations, e.g. `NH3N`.
    pub code: String,
    /// Chinese name, e.g. `氨氮`.
    pub name_zh: String,
    /// English name, e.g. `Ammonia nitrogen`.
    pub name_en: String,
    /// Unit of every value of this parameter, e.g. `mg/L`; `-` when dimensionless.
    pub unit: String,
    /// Lowest physically possible value (inclusive); lower values are rejected.
    pub min: f64,
    /// Highest physically possible value (inclusive); higher values are rejected.
    pub max: f64,
    /// HJ 212-2017/2025 pollutant code, e.g. `w21003`, when the parameter has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hj212: Option<String>,
    /// HJ/T 212-2005 pollutant code, e.g. `060`, for older data loggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hj212_2005: Option<String>,
    /// What the parameter measures.
    pub medium: Medium,
}

/// A river of the network. Positions along it are river kilometres from its head
/// (`km_origin_zh`), increasing downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct River {
    /// Short ASCII id, e.g. `lalin`.
    pub id: String,
    /// Chinese name, e.g. `拉林河`.
    pub name_zh: String,
    /// Pinyin name, e.g. `Lālín Hé`.
    pub name_pinyin: String,
    /// Where kilometre 0 lies, in Chinese (e.g. `三岔河口`).
    pub km_origin_zh: String,
    /// Length of the river as modelled, km.
    pub length_km: f64,
    /// The river this one flows into, if it is part of the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows_into: Option<String>,
    /// Kilometre on `flows_into` where this river joins it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confluence_km: Option<f64>,
    /// Whether the river forms the provincial boundary over part of its course.
    #[serde(default)]
    pub boundary_river: bool,
    /// Source of the figures and how far they are verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What kind of station this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StationKind {
    /// Water-quality section (水质自动站 / 断面).
    Water,
    /// Air-quality station.
    Air,
    /// Pollution-source outfall (污水处理厂排口).
    Outfall,
    /// Hydrological gauge (水文站 / 雨量站).
    Hydrology,
}

impl StationKind {
    /// The lower-case label used in files and CSV: `water`, `air`, `outfall`, `hydrology`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StationKind::Water => "water",
            StationKind::Air => "air",
            StationKind::Outfall => "outfall",
            StationKind::Hydrology => "hydrology",
        }
    }

    /// Chinese label.
    pub const fn label_zh(self) -> &'static str {
        match self {
            StationKind::Water => "水质断面",
            StationKind::Air => "空气质量站",
            StationKind::Outfall => "污染源排口",
            StationKind::Hydrology => "水文站",
        }
    }

    /// The medium of the parameters this kind of station reports.
    pub const fn medium(self) -> Medium {
        match self {
            StationKind::Water | StationKind::Outfall => Medium::Water,
            StationKind::Air => Medium::Air,
            StationKind::Hydrology => Medium::Hydrology,
        }
    }
}

impl fmt::Display for StationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a water body is a river or a lake/reservoir: GB 3838 has separate TP limits and
/// judges TN only for lakes and reservoirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaterBody {
    /// A river section (the default).
    #[default]
    River,
    /// A lake or reservoir.
    Lake,
}

/// A monitored station, as written in the network file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Station {
    /// Stable short ASCII id, e.g. `LLH-CJG`; also the last MQTT topic segment.
    pub id: StationId,
    /// Chinese name, e.g. `蔡家沟`.
    pub name_zh: String,
    /// Pinyin name, e.g. `Caijiagou`.
    pub name_pinyin: String,
    /// What kind of station this is.
    pub kind: StationKind,
    /// The province that operates the station.
    pub province: Province,
    /// The city or county the station belongs to, in Chinese (e.g. `五常市`).
    pub city_zh: String,
    /// Whether this is a provincial-boundary station: its alerts go to both provinces as equals.
    #[serde(default)]
    pub boundary: bool,
    /// River id for water sections, outfalls (the receiving river) and gauges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub river: Option<String>,
    /// Position along the river, km from its head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub river_km: Option<f64>,
    /// Target water-quality class of a water section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_class: Option<WaterClass>,
    /// River or lake/reservoir (water sections only).
    #[serde(default)]
    pub water_body: WaterBody,
    /// HJ 212 device id (MN) of the station's data logger.
    pub mn: String,
    /// Latitude, degrees north (WGS-84).
    pub lat: f64,
    /// Longitude, degrees east (WGS-84).
    pub lon: f64,
    /// Whether name and position are confirmed by official sources; `false` marks a
    /// reference position chosen from the river's course.
    pub verified: bool,
    /// Parameter codes this station reports.
    pub parameters: Vec<String>,
    /// Reporting interval in seconds (national automatic water stations: 4 h; air: 1 h).
    pub report_interval_secs: u32,
    /// Warning water level (警戒水位), m, for hydrology gauges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_level_m: Option<f64>,
    /// Guaranteed water level (保证水位), m, for hydrology gauges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guaranteed_level_m: Option<f64>,
    /// Discharge standard of an outfall, e.g. `GB 18918-2002 一级A`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharge_standard: Option<String>,
    /// Per-parameter discharge limits overriding the standard's (outfalls), in the
    /// parameter's unit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub discharge_limits: BTreeMap<String, f64>,
    /// Source of the figures, or why they are unverified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Station {
    /// The parameter codes this station reports.
    pub fn reports(&self, code: &str) -> bool {
        self.parameters.iter().any(|p| p == code)
    }
}
