//! Hydrology: a water level against its station's warning and guaranteed levels.
//!
//! 警戒水位 (warning level) and 保证水位 (guaranteed level) are set per gauging station by
//! the water authority; there is no national figure, so the caller passes them in.

use serde::{Deserialize, Serialize};

/// The flood thresholds of one gauging station, in metres on the station's datum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationLevels {
    /// 警戒水位, the warning water level, m.
    pub warning_level_m: f64,
    /// 保证水位, the guaranteed (safe-design) water level, m; not below the warning level.
    pub guaranteed_level_m: f64,
}

impl StationLevels {
    /// Whether both levels are finite and the guaranteed level is not below the warning
    /// level.
    pub fn is_valid(&self) -> bool {
        self.warning_level_m.is_finite()
            && self.guaranteed_level_m.is_finite()
            && self.warning_level_m <= self.guaranteed_level_m
    }
}

/// Where a water level stands against a station's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelState {
    /// At or below the warning level.
    Normal,
    /// Above the warning level (超警戒水位), at or below the guaranteed level.
    AboveWarning,
    /// Above the guaranteed level (超保证水位).
    AboveGuaranteed,
}

impl LevelState {
    /// The Chinese label: `正常`, `超警戒水位`, `超保证水位`.
    pub const fn label_zh(self) -> &'static str {
        match self {
            LevelState::Normal => "正常",
            LevelState::AboveWarning => "超警戒水位",
            LevelState::AboveGuaranteed => "超保证水位",
        }
    }

    /// The English label: `normal`, `above warning level`, `above guaranteed level`.
    pub const fn label_en(self) -> &'static str {
        match self {
            LevelState::Normal => "normal",
            LevelState::AboveWarning => "above warning level",
            LevelState::AboveGuaranteed => "above guaranteed level",
        }
    }
}

/// The state of a water level (m) at a station.
///
/// "Above" is strict: a level exactly at the warning level is [`LevelState::Normal`], and
/// exactly at the guaranteed level is [`LevelState::AboveWarning`]. Any finite level is
/// accepted (a station datum can make levels negative). `None` when the level is not
/// finite or the thresholds are not valid ([`StationLevels::is_valid`]).
pub fn level_state(level_m: f64, levels: &StationLevels) -> Option<LevelState> {
    if !level_m.is_finite() || !levels.is_valid() {
        return None;
    }
    Some(if level_m > levels.guaranteed_level_m {
        LevelState::AboveGuaranteed
    } else if level_m > levels.warning_level_m {
        LevelState::AboveWarning
    } else {
        LevelState::Normal
    })
}
