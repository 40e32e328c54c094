//! The limit tables behind the ground truth, in registry units.
//!
//! They are the simulator's own transcription of the project's reference sheet
//! (`reference/standards.md` §1, §3, §4, §5 and §9), kept apart from the tables of
//! `riverwatch-analytics` on purpose: the end-to-end tests compare what analytics computes
//! with this ground truth, so a wrong figure in either transcription fails a comparison
//! instead of being copied into the expectation
//! (`docs/design/0005-independent-ground-truth.md`). A unit test of `riverwatch-analytics`
//! (`analytics/src/standards/tests/ground_truth.rs`) compares every value here with the
//! analytics tables, so the two cannot drift apart unnoticed.

/// A GB 3838-2002 Table 1 item: registry code, the limits of Classes I–V, and whether a
/// value must be at most the limit (`false`: at least, dissolved oxygen).
pub type ClassLimits = (&'static str, [f64; 5], bool);

/// GB 3838-2002 Table 1 (reference §1), the items the water model produces that the
/// 2011 method classes a river by (TN is only a reference indicator for rivers).
pub const GB3838_RIVER: [ClassLimits; 6] = [
    ("CODMn", [2.0, 4.0, 6.0, 10.0, 15.0], true),
    ("COD", [15.0, 15.0, 20.0, 30.0, 40.0], true),
    ("BOD5", [3.0, 3.0, 4.0, 6.0, 10.0], true),
    ("NH3N", [0.15, 0.5, 1.0, 1.5, 2.0], true),
    ("TP", [0.02, 0.1, 0.2, 0.3, 0.4], true),
    ("DO", [7.5, 6.0, 5.0, 3.0, 2.0], false),
];

/// GB 3838-2002 Table 1 for lakes and reservoirs: TP's own limits, and TN, which
/// applies to them; the other items as in [`GB3838_RIVER`].
pub const GB3838_LAKE: [ClassLimits; 2] = [
    ("TP", [0.01, 0.025, 0.05, 0.1, 0.2], true),
    ("TN", [0.2, 0.5, 1.0, 1.5, 2.0], true),
];

/// GB 3838-2002 pH, every class: (lowest, highest).
pub const GB3838_PH: (f64, f64) = (6.0, 9.0);

/// GB 3838-2002 Table 3 nitrobenzene, mg/L.
pub const GB3838_NITROBENZENE_MG_L: f64 = 0.017;

/// GB 18918-2002 Grade 1A (reference §9, ❌ unverified there), mg/L; NH3-N in warm
/// effluent.
pub const GB18918_GRADE_1A: [(&str, f64); 6] = [
    ("COD", 50.0),
    ("BOD5", 10.0),
    ("SS", 10.0),
    ("TN", 15.0),
    ("NH3N", 5.0),
    ("TP", 0.5),
];

/// GB 18918-2002 Grade 1A NH3-N when the effluent is at or below
/// [`GB18918_COLD_AT_OR_BELOW_C`], mg/L.
pub const GB18918_NH3N_COLD_MG_L: f64 = 8.0;

/// The water temperature at or below which [`GB18918_NH3N_COLD_MG_L`] applies, °C.
pub const GB18918_COLD_AT_OR_BELOW_C: f64 = 12.0;

/// GB 18918-2002 pH: (lowest, highest).
pub const GB18918_PH: (f64, f64) = (6.0, 9.0);

/// The IAQI of the HJ 633 breakpoint rows (reference §3.1).
pub const HJ633_IAQI: [f64; 8] = [0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0];

/// HJ 633-2012 PM2.5 24-hour breakpoints, µg/m³ (§3.1).
pub const HJ633_2012_PM25: [f64; 8] = [0.0, 35.0, 75.0, 115.0, 150.0, 250.0, 350.0, 500.0];

/// HJ 633-2012 PM10 24-hour breakpoints, µg/m³ (§3.1).
pub const HJ633_2012_PM10: [f64; 8] = [0.0, 50.0, 150.0, 250.0, 350.0, 420.0, 500.0, 600.0];

/// HJ 633-2026 PM2.5 24-hour breakpoints, µg/m³ (§3.4).
pub const HJ633_2026_PM25: [f64; 8] = [0.0, 35.0, 60.0, 115.0, 150.0, 250.0, 350.0, 500.0];

/// HJ 633-2026 PM10 24-hour breakpoints, µg/m³ (§3.4).
pub const HJ633_2026_PM10: [f64; 8] = [0.0, 50.0, 120.0, 250.0, 350.0, 420.0, 500.0, 600.0];

/// The first day of HJ 633-2026 and of GB 3095-2026 (its phase 1): (year, month, day).
pub const EDITIONS_2026_FROM: (i32, u32, u32) = (2026, 3, 1);

/// The first day of GB 3095-2026's final PM2.5 limits: (year, month, day).
pub const GB3095_2026_FINAL_FROM: (i32, u32, u32) = (2031, 1, 1);

/// GB 3095-2012 Grade II 24-hour limits (§4.1), CO in mg/m³, the others µg/m³. The
/// 2026 revision changes PM2.5 (below); its PM10, SO2 and NO2 values are unverified, so
/// these stay in force.
pub const GB3095_II_24H_2012: [(&str, f64); 5] = [
    ("SO2", 150.0),
    ("NO2", 80.0),
    ("CO", 4.0),
    ("PM10", 150.0),
    ("PM25", 75.0),
];

/// GB 3095-2026 Grade II PM2.5 24-hour limit, phase 1 (transitional, to 2030-12-31).
pub const GB3095_II_24H_PM25_2026_PHASE1: f64 = 60.0;

/// GB 3095-2026 Grade II PM2.5 24-hour limit from [`GB3095_2026_FINAL_FROM`].
pub const GB3095_II_24H_PM25_2026_FINAL: f64 = 50.0;

/// The AQI categories (§3.3): the highest AQI of each, and its name.
pub const AQI_CATEGORIES: [(u32, &str); 6] = [
    (50, "优"),
    (100, "良"),
    (150, "轻度污染"),
    (200, "中度污染"),
    (300, "重度污染"),
    (u32::MAX, "严重污染"),
];

/// The heavy-pollution warning rules of the 2017 national guidance (§5), on one run of
/// consecutive days with daily AQI above [`Warning::heavy_above_aqi`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// A day is heavy (and counts toward a run) above this AQI.
    pub heavy_above_aqi: u32,
    /// A day is severe above this AQI.
    pub severe_above_aqi: u32,
    /// Days of run for blue.
    pub blue_days: u32,
    /// Days of run for yellow.
    pub yellow_days: u32,
    /// Days of run for orange …
    pub orange_days: u32,
    /// … with at least this many severe days among them.
    pub orange_severe_days: u32,
    /// Days of run for red …
    pub red_days: u32,
    /// … with at least this many severe days among them.
    pub red_severe_days: u32,
    /// A day reaching this AQI gives red on its own.
    pub red_any_day_aqi: u32,
}

/// The 2017 guidance: blue 1 day above 200; yellow 2; orange 3 with one above 300; red
/// 4 with two above 300, or a day reaching 500.
pub const WARNING: Warning = Warning {
    heavy_above_aqi: 200,
    severe_above_aqi: 300,
    blue_days: 1,
    yellow_days: 2,
    orange_days: 3,
    orange_severe_days: 1,
    red_days: 4,
    red_severe_days: 2,
    red_any_day_aqi: 500,
};
