//! Water level against a station's warning and guaranteed levels.

use super::AWKWARD_F64;
use crate::standards::hydrology::*;

const HARBIN_LIKE: StationLevels = StationLevels {
    warning_level_m: 118.1,
    guaranteed_level_m: 119.7,
};

#[test]
fn states_at_the_thresholds() {
    let s = |level| level_state(level, &HARBIN_LIKE);
    assert_eq!(s(115.0), Some(LevelState::Normal));
    assert_eq!(
        s(118.1),
        Some(LevelState::Normal),
        "at the warning level is not above it"
    );
    assert_eq!(s(118.11), Some(LevelState::AboveWarning));
    assert_eq!(s(119.7), Some(LevelState::AboveWarning));
    assert_eq!(s(119.71), Some(LevelState::AboveGuaranteed));
    assert_eq!(LevelState::AboveWarning.label_zh(), "超警戒水位");
    assert_eq!(
        LevelState::AboveGuaranteed.label_en(),
        "above guaranteed level"
    );
}

#[test]
fn negative_datum_levels_are_fine() {
    let levels = StationLevels {
        warning_level_m: -1.0,
        guaranteed_level_m: 0.5,
    };
    assert_eq!(level_state(-0.5, &levels), Some(LevelState::AboveWarning));
    assert_eq!(level_state(-2.0, &levels), Some(LevelState::Normal));
    let equal = StationLevels {
        warning_level_m: 3.0,
        guaranteed_level_m: 3.0,
    };
    assert_eq!(level_state(3.1, &equal), Some(LevelState::AboveGuaranteed));
}

#[test]
fn bad_levels_or_thresholds() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(level_state(bad, &HARBIN_LIKE), None);
        let levels = StationLevels {
            warning_level_m: bad,
            guaranteed_level_m: 10.0,
        };
        assert!(!levels.is_valid());
        assert_eq!(level_state(5.0, &levels), None);
    }
    let swapped = StationLevels {
        warning_level_m: 12.0,
        guaranteed_level_m: 10.0,
    };
    assert!(!swapped.is_valid());
    assert_eq!(level_state(11.0, &swapped), None);
    for a in AWKWARD_F64 {
        for b in AWKWARD_F64 {
            let levels = StationLevels {
                warning_level_m: a,
                guaranteed_level_m: b,
            };
            for level in AWKWARD_F64 {
                let _ = level_state(level, &levels);
            }
        }
    }
}
