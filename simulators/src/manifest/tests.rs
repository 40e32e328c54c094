//! Tests of the ground truth's tables: IAQI of the 2012 and 2026 editions, warning levels
//! from consecutive days, the GB 3095 phases of the PM2.5 limits, lake limits.

use super::expectations::warning_level;
use super::limits::{category_zh, gb3095_24h, gb3838, gb18918, iaqi_pm};
use super::*;
use crate::model::Code;

#[test]
fn iaqi_follows_the_2012_and_2026_tables() {
    let d2012 = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
    let d2026 = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    // Worked example of the reference sheet: PM2.5 = 86 → 114 (2012), 124 (2026).
    assert_eq!(iaqi_pm(Code::Pm25, 86.0, d2012).ceil(), 114.0);
    assert_eq!(iaqi_pm(Code::Pm25, 86.0, d2026).ceil(), 124.0);
    assert_eq!(iaqi_pm(Code::Pm10, 350.0, d2012), 200.0);
}

#[test]
fn warning_levels_follow_consecutive_days() {
    assert_eq!(warning_level(&[250, 320, 250]), "orange");
    assert_eq!(warning_level(&[250, 250, 150, 250]), "yellow");
    assert_eq!(warning_level(&[250, 350, 350, 250]), "red");
    assert_eq!(warning_level(&[90]), "none");
    assert_eq!(warning_level(&[210]), "blue");
    assert_eq!(warning_level(&[500]), "red", "a day reaching 500");
    // The severe day must lie in the run: 320 then a break, then three heavy days.
    assert_eq!(warning_level(&[320, 150, 250, 250, 250]), "yellow");
}

#[test]
fn pm25_limits_follow_the_gb3095_phases() {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    assert_eq!(gb3095_24h(Code::Pm25, d(2026, 2, 28)).unwrap().0, 75.0);
    assert_eq!(gb3095_24h(Code::Pm25, d(2026, 3, 1)).unwrap().0, 60.0);
    assert_eq!(gb3095_24h(Code::Pm25, d(2030, 12, 31)).unwrap().0, 60.0);
    assert_eq!(gb3095_24h(Code::Pm25, d(2031, 1, 1)).unwrap().0, 50.0);
    assert_eq!(gb3095_24h(Code::Pm10, d(2031, 1, 1)).unwrap().0, 150.0);
    assert_eq!(gb3095_24h(Code::O3, d(2031, 1, 1)), None);
}

#[test]
fn lake_limits_replace_river_limits_for_tp_and_add_tn() {
    assert_eq!(gb3838(Code::Tp, false).unwrap().0[2], 0.2);
    assert_eq!(gb3838(Code::Tp, true).unwrap().0[2], 0.05);
    assert_eq!(gb3838(Code::Tn, false), None);
    assert_eq!(gb3838(Code::Tn, true).unwrap().0[2], 1.0);
    assert_eq!(
        gb3838(Code::Do, false),
        Some(([7.5, 6.0, 5.0, 3.0, 2.0], false))
    );
    assert_eq!(gb18918("NH3N", true), Some(8.0));
    assert_eq!(gb18918("NH3N", false), Some(5.0));
    assert_eq!(category_zh(101), "轻度污染");
    assert_eq!(category_zh(301), "严重污染");
}
