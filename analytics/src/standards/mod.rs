//! The environmental standards riverwatch judges against, as data, with pure evaluation
//! functions.
//!
//! Every limit table is a value that carries its [`Edition`] and the dates it is in force,
//! so re-evaluating old observations uses the edition that applied on the observation date
//! (for example HJ 633-2012 before 2026-03-01 and HJ 633-2026 from that day). Nothing here
//! does I/O; every function is total: non-finite or impossible inputs give a documented
//! `None` or error, never a panic.
//!
//! Figures that the project's reference sheet (`reference/standards.md`) marks as
//! UNVERIFIED or single-source are kept as data and say so in their documentation; the
//! tables are plain serde values so a deployment can replace them from configuration.
//!
//! # Layout
//! - [`edition`]: [`Edition`], the document number and in-force dates of a table.
//! - [`catalog`]: the tables in force on an observation date.
//! - [`gb3838`]: GB 3838-2002 surface-water classes I–V/劣V and the 2011 evaluation method
//!   (section class, exceedance multiples, main pollutants, compliance).
//! - [`hj633`]: HJ 633-2012 and HJ 633-2026 IAQI breakpoints, hourly and daily AQI (the
//!   seven daily indicators, O3 1-hour and 8-hour maxima among them), levels.
//! - [`hj663`]: HJ 663-2013 data validity of a day's O3 maxima (the 14-window rule).
//! - [`gb3095`]: GB 3095-2012 ambient-air limits and the GB 3095-2026 PM2.5 revision.
//! - [`warning`]: heavy-pollution warning levels (blue/yellow/orange/red) from daily AQI.
//! - [`discharge`]: GB 18918-2002 Grade 1A outfall limits with per-outfall overrides.
//! - [`hydrology`]: water level against a station's warning and guaranteed levels.
//! - [`river_grade`]: river and basin grades by the 2011 method (class proportions or mean
//!   values), their main pollutants, 达标率 and changes in percentage points.
//! - [`code`]: the registry's parameter codes used as keys throughout.
#![deny(missing_docs)]

pub mod catalog;
pub mod discharge;
pub mod edition;
pub mod gb3095;
pub mod gb3838;
pub mod hj633;
pub mod hj663;
pub mod hydrology;
pub mod river_grade;
pub mod warning;

#[cfg(test)]
mod tests;

pub use catalog::{InForce, in_force};
pub use edition::Edition;

/// The registry's parameter codes (the keys of a JSON observation), as used by the tables.
pub mod code {
    /// 水温, water temperature (°C).
    pub const WT: &str = "WT";
    /// pH (dimensionless).
    pub const PH: &str = "pH";
    /// 溶解氧, dissolved oxygen (mg/L).
    pub const DO: &str = "DO";
    /// 高锰酸盐指数, permanganate index (mg/L).
    pub const CODMN: &str = "CODMn";
    /// 化学需氧量, chemical oxygen demand (mg/L).
    pub const COD: &str = "COD";
    /// 五日生化需氧量, five-day biochemical oxygen demand (mg/L).
    pub const BOD5: &str = "BOD5";
    /// 氨氮, ammonia nitrogen (mg/L).
    pub const NH3N: &str = "NH3N";
    /// 总磷, total phosphorus (mg/L).
    pub const TP: &str = "TP";
    /// 总氮, total nitrogen (mg/L).
    pub const TN: &str = "TN";
    /// 铜, copper (mg/L).
    pub const CU: &str = "Cu";
    /// 锌, zinc (mg/L).
    pub const ZN: &str = "Zn";
    /// 氟化物, fluoride (mg/L).
    pub const F: &str = "F";
    /// 硒, selenium (mg/L).
    pub const SE: &str = "Se";
    /// 砷, arsenic (mg/L).
    pub const AS: &str = "As";
    /// 汞, mercury (mg/L).
    pub const HG: &str = "Hg";
    /// 镉, cadmium (mg/L).
    pub const CD: &str = "Cd";
    /// 铬(六价), chromium (VI) (mg/L).
    pub const CR6: &str = "Cr6";
    /// 铅, lead (mg/L).
    pub const PB: &str = "Pb";
    /// 氰化物, cyanide (mg/L).
    pub const CYN: &str = "CYN";
    /// 挥发酚, volatile phenol (mg/L).
    pub const VPHEN: &str = "VPHEN";
    /// 石油类, petroleum (mg/L).
    pub const OIL: &str = "OIL";
    /// 阴离子表面活性剂, anionic surfactant (mg/L).
    pub const LAS: &str = "LAS";
    /// 硫化物, sulfide (mg/L).
    pub const SULF: &str = "SULF";
    /// 粪大肠菌群, fecal coliform (count/L).
    pub const FCOLI: &str = "FCOLI";
    /// 硝基苯, nitrobenzene (mg/L), GB 3838 Table 3.
    pub const NB: &str = "NB";
    /// 苯, benzene (mg/L), GB 3838 Table 3.
    pub const BENZ: &str = "BENZ";
    /// 悬浮物, suspended solids (mg/L), outfalls.
    pub const SS: &str = "SS";
    /// PM2.5 (µg/m³).
    pub const PM25: &str = "PM25";
    /// PM10 (µg/m³).
    pub const PM10: &str = "PM10";
    /// 二氧化硫, sulphur dioxide (µg/m³).
    pub const SO2: &str = "SO2";
    /// 二氧化氮, nitrogen dioxide (µg/m³).
    pub const NO2: &str = "NO2";
    /// 一氧化碳, carbon monoxide (mg/m³).
    pub const CO: &str = "CO";
    /// 臭氧, ozone (µg/m³).
    pub const O3: &str = "O3";
    /// 水位, water level (m).
    pub const LEVEL: &str = "LEVEL";
    /// 流量, discharge (m³/s).
    pub const FLOW: &str = "FLOW";
    /// 降水量, rainfall (mm).
    pub const RAIN: &str = "RAIN";
}

/// Why a standards function could not judge its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StandardsError {
    /// The value is not a valid measurement of the parameter (not finite, or negative where
    /// the quantity cannot be negative).
    #[error("invalid value {value} for parameter `{code}`")]
    InvalidValue {
        /// The parameter code.
        code: String,
        /// The rejected value.
        value: f64,
    },
    /// A limit in a table is unusable (not finite, not positive, or an empty range).
    #[error("invalid limit for parameter `{code}`: {reason}")]
    InvalidLimit {
        /// The parameter code.
        code: String,
        /// What is wrong with the limit.
        reason: &'static str,
    },
}

impl StandardsError {
    /// Whether retrying could succeed: never, since these functions are pure.
    pub const fn is_retryable(&self) -> bool {
        false
    }
}

/// A result with [`StandardsError`] as the default error.
pub type Result<T, E = StandardsError> = std::result::Result<T, E>;
