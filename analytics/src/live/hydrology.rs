//! The live state of one hydrological gauge: the water level against the gauge's warning
//! and guaranteed levels (警戒水位 / 保证水位), set per station by the water authority.

use chrono::{DateTime, Utc};
use riverwatch_core::events::EventStatus;
use serde::{Deserialize, Serialize};

use super::debounce::{Leveled, Streaks};
use super::{Finding, FindingKind, FloodFinding};
use crate::config::FloodDebounce;
use crate::standards::hydrology::{LevelState, StationLevels, level_state};

/// The live state of one gauge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HydrologyState {
    state: Option<Leveled<LevelState>>,
}

impl HydrologyState {
    /// Judges one water level (m) at `at`.
    pub fn observe(
        &mut self,
        station: &str,
        at: DateTime<Utc>,
        level_m: f64,
        levels: &StationLevels,
        debounce: &FloodDebounce,
    ) -> Vec<Finding> {
        let (Some(raw), Some(sticky)) = (
            level_state(level_m, levels),
            level_state(level_m + debounce.hysteresis_m, levels),
        ) else {
            return Vec::new();
        };
        let streaks = Streaks {
            fire_after: debounce.fire_after_readings,
            clear_after: debounce.clear_after_readings,
        };
        let state = self
            .state
            .get_or_insert_with(|| Leveled::new(LevelState::Normal));
        let Some(t) = state.observe(raw, sticky, streaks) else {
            return Vec::new();
        };
        // The level that decided: the guaranteed level while above it, else the warning
        // level (also when the water falls back below it).
        let limit = if t.to == LevelState::AboveGuaranteed {
            levels.guaranteed_level_m
        } else {
            levels.warning_level_m
        };
        vec![Finding {
            station: station.to_string(),
            observed_at: at,
            kind: FindingKind::Flood(FloodFinding {
                status: if t.to == LevelState::Normal {
                    EventStatus::Resolved
                } else {
                    EventStatus::Firing
                },
                from: t.from,
                state: t.to,
                level_m,
                limit_m: limit,
            }),
        }]
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const LEVELS: StationLevels = StationLevels {
        warning_level_m: 131.5,
        guaranteed_level_m: 133.0,
    };
    const DEB: FloodDebounce = FloodDebounce {
        fire_after_readings: 1,
        clear_after_readings: 2,
        hysteresis_m: 0.05,
    };

    #[test]
    fn a_flood_rises_through_the_levels_and_ends_below_the_margin() {
        let mut s = HydrologyState::default();
        let t = Utc.with_ymd_and_hms(2026, 4, 20, 0, 0, 0).unwrap();
        let mut seen = Vec::new();
        for level in [131.0, 131.6, 131.48, 131.52, 133.2, 131.4, 131.4, 131.4] {
            for f in s.observe("HYD-CJG", t, level, &LEVELS, &DEB) {
                let FindingKind::Flood(f) = f.kind else {
                    panic!()
                };
                seen.push((f.status, f.state, f.limit_m));
            }
        }
        assert_eq!(
            seen,
            vec![
                (EventStatus::Firing, LevelState::AboveWarning, 131.5),
                (EventStatus::Firing, LevelState::AboveGuaranteed, 133.0),
                (EventStatus::Resolved, LevelState::Normal, 131.5),
            ]
        );
    }
}
