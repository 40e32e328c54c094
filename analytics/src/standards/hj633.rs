//! Air quality index (AQI) per HJ 633: the 2012 and 2026 editions as data.
//!
//! Each [`AqiStandard`] holds the IAQI breakpoint table of its edition (one [`Column`] per
//! pollutant and averaging period) and its rules for concentrations above a column's top.
//! [`edition_for`] picks the edition in force on an observation date: HJ 633-2012 before
//! 2026-03-01, HJ 633-2026 from that day. [`hourly_aqi`] and [`daily_aqi`] compute the
//! real-time and the daily AQI, the level, the primary pollutant(s) and (2012 only) the
//! exceeding pollutants.
//!
//! The daily AQI takes the seven daily indicators of HJ 633-2012 §5.1 (日报): the 24-hour
//! means of SO2, NO2, PM10, PM2.5 and CO, **and** O3's daily maximum 1-hour mean **and** its
//! daily maximum 8-hour moving mean. O3 gets the larger of its two IAQI (AQI = max of the
//! IAQI, §4.2) and is named once as a pollutant; [`AqiResult::iaqi_columns`] says which
//! averaging gave it.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::code;
use super::edition::{Edition, ymd};

/// A pollutant of the AQI (and of GB 3095), with the registry's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Pollutant {
    /// 二氧化硫 SO2, µg/m³ (`SO2`).
    #[serde(rename = "SO2")]
    So2,
    /// 二氧化氮 NO2, µg/m³ (`NO2`).
    #[serde(rename = "NO2")]
    No2,
    /// 颗粒物 (粒径小于等于10μm) PM10, µg/m³ (`PM10`).
    #[serde(rename = "PM10")]
    Pm10,
    /// 一氧化碳 CO, mg/m³ (`CO`).
    #[serde(rename = "CO")]
    Co,
    /// 臭氧 O3, µg/m³ (`O3`).
    #[serde(rename = "O3")]
    O3,
    /// 颗粒物 (粒径小于等于2.5μm) PM2.5, µg/m³ (`PM25`).
    #[serde(rename = "PM25")]
    Pm25,
}

impl Pollutant {
    /// All six, in the order of the HJ 633 table.
    pub const ALL: [Pollutant; 6] = [
        Pollutant::So2,
        Pollutant::No2,
        Pollutant::Pm10,
        Pollutant::Co,
        Pollutant::O3,
        Pollutant::Pm25,
    ];

    /// The registry's parameter code: `SO2`, `NO2`, `PM10`, `CO`, `O3`, `PM25`.
    pub const fn code(self) -> &'static str {
        match self {
            Pollutant::So2 => code::SO2,
            Pollutant::No2 => code::NO2,
            Pollutant::Pm10 => code::PM10,
            Pollutant::Co => code::CO,
            Pollutant::O3 => code::O3,
            Pollutant::Pm25 => code::PM25,
        }
    }

    /// The pollutant for a registry code, if it is one of the six.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The Chinese name, e.g. `二氧化硫`, `细颗粒物`.
    pub const fn name_zh(self) -> &'static str {
        match self {
            Pollutant::So2 => "二氧化硫",
            Pollutant::No2 => "二氧化氮",
            Pollutant::Pm10 => "可吸入颗粒物",
            Pollutant::Co => "一氧化碳",
            Pollutant::O3 => "臭氧",
            Pollutant::Pm25 => "细颗粒物",
        }
    }

    /// The label used in bulletins in both languages: `SO2`, `PM2.5`, …
    pub const fn label(self) -> &'static str {
        match self {
            Pollutant::So2 => "SO2",
            Pollutant::No2 => "NO2",
            Pollutant::Pm10 => "PM10",
            Pollutant::Co => "CO",
            Pollutant::O3 => "O3",
            Pollutant::Pm25 => "PM2.5",
        }
    }

    /// The unit of its concentrations: `mg/m³` for CO, `µg/m³` for the others.
    pub const fn unit(self) -> &'static str {
        match self {
            Pollutant::Co => "mg/m³",
            _ => "µg/m³",
        }
    }
}

impl fmt::Display for Pollutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One column of the breakpoint table: a pollutant at an averaging period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Metric {
    /// SO2 24-hour mean.
    #[serde(rename = "SO2_24h")]
    So2Mean24h,
    /// SO2 1-hour mean (real-time reports only).
    #[serde(rename = "SO2_1h")]
    So2Mean1h,
    /// NO2 24-hour mean.
    #[serde(rename = "NO2_24h")]
    No2Mean24h,
    /// NO2 1-hour mean (real-time reports only).
    #[serde(rename = "NO2_1h")]
    No2Mean1h,
    /// PM10 24-hour mean (also used for hourly PM10, there is no 1-hour table).
    #[serde(rename = "PM10_24h")]
    Pm10Mean24h,
    /// CO 24-hour mean.
    #[serde(rename = "CO_24h")]
    CoMean24h,
    /// CO 1-hour mean (real-time reports only).
    #[serde(rename = "CO_1h")]
    CoMean1h,
    /// O3 1-hour mean (daily: the day's maximum 1-hour mean, a daily indicator of its own).
    #[serde(rename = "O3_1h")]
    O3Mean1h,
    /// O3 8-hour moving mean (daily: the day's maximum).
    #[serde(rename = "O3_8h")]
    O3Mean8h,
    /// PM2.5 24-hour mean (also used for hourly PM2.5, there is no 1-hour table).
    #[serde(rename = "PM25_24h")]
    Pm25Mean24h,
}

impl Metric {
    /// The pollutant this column is for.
    pub const fn pollutant(self) -> Pollutant {
        match self {
            Metric::So2Mean24h | Metric::So2Mean1h => Pollutant::So2,
            Metric::No2Mean24h | Metric::No2Mean1h => Pollutant::No2,
            Metric::Pm10Mean24h => Pollutant::Pm10,
            Metric::CoMean24h | Metric::CoMean1h => Pollutant::Co,
            Metric::O3Mean1h | Metric::O3Mean8h => Pollutant::O3,
            Metric::Pm25Mean24h => Pollutant::Pm25,
        }
    }
}

/// The IAQI values of the breakpoint rows: `breakpoints[i]` of a [`Column`] is the
/// concentration at `IAQI_POINTS[i]`.
pub const IAQI_POINTS: [u32; 8] = [0, 50, 100, 150, 200, 300, 400, 500];

/// What a concentration above a column's top breakpoint gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AboveTop {
    /// This IAQI (500 for a full column; 2026: 200 for SO2 1h, 300 for O3 8h).
    Iaqi(u32),
    /// No IAQI from this column: use the IAQI of this other column instead (2012: SO2 1h →
    /// SO2 24h, O3 8h → O3 1h).
    UseMetric(Metric),
}

/// One column of an IAQI breakpoint table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The pollutant and averaging period.
    pub metric: Metric,
    /// Concentrations at IAQI 0, 50, 100, 150, 200, 300, 400, 500 ([`IAQI_POINTS`]), in the
    /// pollutant's unit, strictly increasing; a column may stop early (SO2 1h at IAQI 200,
    /// O3 8h at IAQI 300).
    pub breakpoints: Cow<'static, [f64]>,
    /// What a concentration above the last breakpoint gets.
    pub above_top: AboveTop,
}

/// One edition of HJ 633: its breakpoint table and reporting rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AqiStandard {
    /// The edition this table belongs to.
    pub edition: Edition,
    /// The breakpoint columns.
    pub columns: Cow<'static, [Column]>,
    /// Whether the edition names exceeding pollutants (超标污染物, IAQI > 100): the 2012
    /// edition does; HJ 633-2026 drops the concept (⚠️ single source, aqi-hub).
    pub reports_exceeding: bool,
    /// The columns a daily AQI is computed from: the daily report's indicators (日报指标).
    /// Default [`DAILY_INDICATORS`].
    #[serde(default = "default_daily_indicators")]
    pub daily_indicators: Cow<'static, [Metric]>,
}

/// The seven daily indicators of HJ 633-2012 §5.1 (日报发布): the 24-hour means of SO2, NO2,
/// PM10, PM2.5 and CO, and O3's daily maximum 1-hour mean (日最大1小时平均) and daily maximum
/// 8-hour moving mean (日最大8小时滑动平均), "共计7个指标"; here in the column order of
/// Table 1, the 8-hour O3 column first so that it is named on a tie.
///
/// ⚠️ §5.1 itself was not found in the searched material (the standard's PDF on the MEE site
/// is cited by the reference sheet but was not read); what was found agrees with it: Table 1
/// note (1) restricts the 1-hour
/// limits of SO2, NO2 and CO — and not of O3 — to real-time reports (✅ reference sheet §3.1),
/// note (3) reports an O3 8-hour mean above 800 µg/m³ by the 1-hour IAQI, §5.2 (real-time
/// report, 9 indicators) is reproduced word for word by the Shenzhen bureau's Q&A
/// (meeb.sz.gov.cn, post_12340768), and the national daily data carry both `o3_24h`
/// (臭氧日最大1小时平均) and `o3_8h_24h` (臭氧日最大8小时滑动平均). HJ 633-2026 keeps the O3
/// indicators as far as the reference sheet knows (§3.4: "O3 unchanged", ⚠️); its text was
/// not available.
pub const DAILY_INDICATORS: &[Metric] = &[
    Metric::So2Mean24h,
    Metric::No2Mean24h,
    Metric::Pm10Mean24h,
    Metric::CoMean24h,
    Metric::O3Mean8h,
    Metric::O3Mean1h,
    Metric::Pm25Mean24h,
];

fn default_daily_indicators() -> Cow<'static, [Metric]> {
    Cow::Borrowed(DAILY_INDICATORS)
}

const fn column(metric: Metric, breakpoints: &'static [f64]) -> Column {
    Column {
        metric,
        breakpoints: Cow::Borrowed(breakpoints),
        above_top: AboveTop::Iaqi(500),
    }
}

const SO2_24H: Column = column(
    Metric::So2Mean24h,
    &[0.0, 50.0, 150.0, 475.0, 800.0, 1600.0, 2100.0, 2620.0],
);
const SO2_1H_POINTS: &[f64] = &[0.0, 150.0, 500.0, 650.0, 800.0];
const NO2_24H: Column = column(
    Metric::No2Mean24h,
    &[0.0, 40.0, 80.0, 180.0, 280.0, 565.0, 750.0, 940.0],
);
const NO2_1H: Column = column(
    Metric::No2Mean1h,
    &[0.0, 100.0, 200.0, 700.0, 1200.0, 2340.0, 3090.0, 3840.0],
);
const CO_24H: Column = column(
    Metric::CoMean24h,
    &[0.0, 2.0, 4.0, 14.0, 24.0, 36.0, 48.0, 60.0],
);
const CO_1H: Column = column(
    Metric::CoMean1h,
    &[0.0, 5.0, 10.0, 35.0, 60.0, 90.0, 120.0, 150.0],
);
const O3_1H: Column = column(
    Metric::O3Mean1h,
    &[0.0, 160.0, 200.0, 300.0, 400.0, 800.0, 1000.0, 1200.0],
);
const O3_8H_POINTS: &[f64] = &[0.0, 100.0, 160.0, 215.0, 265.0, 800.0];

/// HJ 633-2012 环境空气质量指数(AQI)技术规定(试行), in force until 2026-02-28.
///
/// Breakpoints ✅ (reference sheet §3.1). Rules: an SO2 1-h mean above 800 µg/m³ takes
/// the SO2 24-h IAQI (Table 1 note (2)); an O3 8-h mean above 800 µg/m³ takes the O3 1-h
/// IAQI (note (3)). The daily AQI takes the seven indicators of §5.1 ([`DAILY_INDICATORS`]),
/// O3's daily maximum 1-hour mean among them. The start
/// date 2016-01-01 (nationwide implementation, together with GB 3095-2012) is ❌
/// UNVERIFIED general knowledge; [`edition_for`] uses this edition for every date before
/// 2026-03-01, earlier ones included, since the older API scheme is not modelled.
pub static HJ_633_2012: AqiStandard = AqiStandard {
    edition: Edition {
        code: Cow::Borrowed("HJ 633-2012"),
        title_zh: Cow::Borrowed("环境空气质量指数(AQI)技术规定(试行)"),
        title_en: Cow::Borrowed("Technical regulation on ambient air quality index (on trial)"),
        in_force_from: ymd(2016, 1, 1),
        in_force_until: Some(ymd(2026, 2, 28)),
    },
    columns: Cow::Borrowed(&[
        SO2_24H,
        Column {
            metric: Metric::So2Mean1h,
            breakpoints: Cow::Borrowed(SO2_1H_POINTS),
            above_top: AboveTop::UseMetric(Metric::So2Mean24h),
        },
        NO2_24H,
        NO2_1H,
        column(
            Metric::Pm10Mean24h,
            &[0.0, 50.0, 150.0, 250.0, 350.0, 420.0, 500.0, 600.0],
        ),
        CO_24H,
        CO_1H,
        O3_1H,
        Column {
            metric: Metric::O3Mean8h,
            breakpoints: Cow::Borrowed(O3_8H_POINTS),
            above_top: AboveTop::UseMetric(Metric::O3Mean1h),
        },
        column(
            Metric::Pm25Mean24h,
            &[0.0, 35.0, 75.0, 115.0, 150.0, 250.0, 350.0, 500.0],
        ),
    ]),
    reports_exceeding: true,
    daily_indicators: Cow::Borrowed(DAILY_INDICATORS),
};

/// HJ 633-2026 环境空气质量指数(AQI)技术规定, in force from 2026-03-01.
///
/// Changes from 2012 (reference sheet §3.4): PM2.5 24h 0/35/60/115/150/250/350/500 and
/// PM10 24h 0/50/120/250/350/420/500/600 — the IAQI-100 points (60, 120) are ✅, the other
/// points ⚠️ SINGLE-source (aqi-hub; the 2025 draft had PM2.5 IAQI-50 = 30); the other
/// gases are unchanged (⚠️); an SO2 1-h mean above 800 µg/m³ gives IAQI 200 and an O3 8-h
/// mean above 800 µg/m³ gives IAQI 300 (✅); no exceeding pollutants (⚠️). The daily
/// indicators are taken to be those of the 2012 edition ([`DAILY_INDICATORS`], ⚠️ the 2026
/// text was not available; the reference sheet lists no change for O3). The Chinese title is
/// as the reference sheet writes it.
pub static HJ_633_2026: AqiStandard = AqiStandard {
    edition: Edition {
        code: Cow::Borrowed("HJ 633-2026"),
        title_zh: Cow::Borrowed("环境空气质量指数(AQI)技术规定"),
        title_en: Cow::Borrowed("Technical regulation on ambient air quality index"),
        in_force_from: ymd(2026, 3, 1),
        in_force_until: None,
    },
    columns: Cow::Borrowed(&[
        SO2_24H,
        Column {
            metric: Metric::So2Mean1h,
            breakpoints: Cow::Borrowed(SO2_1H_POINTS),
            above_top: AboveTop::Iaqi(200),
        },
        NO2_24H,
        NO2_1H,
        column(
            Metric::Pm10Mean24h,
            &[0.0, 50.0, 120.0, 250.0, 350.0, 420.0, 500.0, 600.0],
        ),
        CO_24H,
        CO_1H,
        O3_1H,
        Column {
            metric: Metric::O3Mean8h,
            breakpoints: Cow::Borrowed(O3_8H_POINTS),
            above_top: AboveTop::Iaqi(300),
        },
        column(
            Metric::Pm25Mean24h,
            &[0.0, 35.0, 60.0, 115.0, 150.0, 250.0, 350.0, 500.0],
        ),
    ]),
    reports_exceeding: false,
    daily_indicators: Cow::Borrowed(DAILY_INDICATORS),
};

/// The HJ 633 edition in force on `date` (the observation's date in China Standard Time):
/// [`HJ_633_2012`] before 2026-03-01, [`HJ_633_2026`] from that day on.
pub fn edition_for(date: NaiveDate) -> &'static AqiStandard {
    if date < HJ_633_2026.edition.in_force_from {
        &HJ_633_2012
    } else {
        &HJ_633_2026
    }
}

/// The outcome of one column for one concentration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IaqiOutcome {
    /// The IAQI.
    Value(u32),
    /// The edition gives no IAQI from this column for this concentration: use the IAQI of
    /// this other column (HJ 633-2012 "above 800" rules).
    UseInstead(Metric),
}

/// Tolerance below an integer that still rounds up to that integer, so binary
/// floating-point error on an exact decimal input (CO 2.2 mg/m³ → IAQI 55.000000000000004)
/// does not push the IAQI one unit up.
const CEIL_TOLERANCE: f64 = 1e-9;

impl AqiStandard {
    /// The column for a metric, if the edition has it.
    pub fn column(&self, metric: Metric) -> Option<&Column> {
        self.columns.iter().find(|c| c.metric == metric)
    }

    /// The IAQI of one concentration in one column.
    ///
    /// IAQI = (IAQI_Hi − IAQI_Lo) / (BP_Hi − BP_Lo) × (C − BP_Lo) + IAQI_Lo with
    /// BP_Lo ≤ C ≤ BP_Hi, rounded **up** to an integer (⚠️ the reference sheet has the
    /// ceiling from two secondary sources, not from the standard's text), so a
    /// concentration exactly at a breakpoint gets that breakpoint's IAQI. A concentration
    /// above the column's top gets the column's [`AboveTop`] rule: IAQI 500 for a full
    /// column (e.g. PM2.5 above 500 µg/m³).
    ///
    /// `None` when the concentration is not finite or is negative, when the edition has no
    /// such column, when the column is malformed (fewer than two breakpoints, not strictly
    /// increasing), or when the concentration is below a column's first breakpoint (only
    /// possible in a column that does not start at 0).
    pub fn iaqi(&self, metric: Metric, concentration: f64) -> Option<IaqiOutcome> {
        if !concentration.is_finite() || concentration < 0.0 {
            return None;
        }
        let column = self.column(metric)?;
        let points = column
            .breakpoints
            .get(..IAQI_POINTS.len())
            .unwrap_or(&column.breakpoints);
        let top = *points.last()?;
        // A malformed column (too short, not strictly increasing, NaN) gives no IAQI.
        if points.len() < 2
            || points
                .windows(2)
                .any(|w| w[0].partial_cmp(&w[1]) != Some(Ordering::Less))
        {
            return None;
        }
        if concentration > top {
            return Some(match column.above_top {
                AboveTop::Iaqi(iaqi) => IaqiOutcome::Value(iaqi),
                AboveTop::UseMetric(other) => IaqiOutcome::UseInstead(other),
            });
        }
        let segment = points.windows(2).position(|w| concentration <= w[1])?;
        let (bp_lo, bp_hi) = (points[segment], points[segment + 1]);
        let (i_lo, i_hi) = (IAQI_POINTS[segment], IAQI_POINTS[segment + 1]);
        if concentration < bp_lo {
            return None;
        }
        // Multiply before dividing: exact for integer breakpoints and concentrations.
        let iaqi =
            f64::from(i_hi - i_lo) * (concentration - bp_lo) / (bp_hi - bp_lo) + f64::from(i_lo);
        // In 0..=500 by construction; `as` saturates anyway.
        Some(IaqiOutcome::Value(
            (iaqi - CEIL_TOLERANCE).ceil().max(0.0) as u32
        ))
    }

    /// The IAQI of one concentration, following an "use another column" rule once with the
    /// value `other` gives for that column. `None` when [`Self::iaqi`] is `None`, or when
    /// the rule needs a value `other` does not have.
    pub fn iaqi_resolved(
        &self,
        metric: Metric,
        concentration: f64,
        other: impl Fn(Metric) -> Option<f64>,
    ) -> Option<u32> {
        self.resolve(metric, concentration, other)
            .map(|(iaqi, _)| iaqi)
    }

    /// [`Self::iaqi_resolved`] with the column the IAQI was read from: `metric` itself, or
    /// the column its "above 800" rule sent it to.
    fn resolve(
        &self,
        metric: Metric,
        concentration: f64,
        other: impl Fn(Metric) -> Option<f64>,
    ) -> Option<(u32, Metric)> {
        match self.iaqi(metric, concentration)? {
            IaqiOutcome::Value(iaqi) => Some((iaqi, metric)),
            IaqiOutcome::UseInstead(fallback) => match self.iaqi(fallback, other(fallback)?)? {
                IaqiOutcome::Value(iaqi) => Some((iaqi, fallback)),
                // One hop only: a table whose rules loop gives no IAQI.
                IaqiOutcome::UseInstead(_) => None,
            },
        }
    }

    /// The real-time (hourly) AQI of a sample under this edition.
    ///
    /// SO2, NO2, CO and O3 use their 1-hour columns; PM2.5 and PM10 use their 24-hour
    /// columns (there is no 1-hour PM table). Under HJ 633-2012 an SO2 1-h mean above
    /// 800 µg/m³ takes the IAQI of `so2_24h_ug_m3`.
    pub fn hourly_aqi(&self, sample: &HourlySample) -> AqiResult {
        let inputs = [
            (Metric::So2Mean1h, sample.so2_ug_m3),
            (Metric::No2Mean1h, sample.no2_ug_m3),
            (Metric::Pm10Mean24h, sample.pm10_ug_m3),
            (Metric::CoMean1h, sample.co_mg_m3),
            (Metric::O3Mean1h, sample.o3_ug_m3),
            (Metric::Pm25Mean24h, sample.pm25_ug_m3),
        ];
        self.aqi_of(&inputs, |metric| match metric {
            Metric::So2Mean24h => sample.so2_24h_ug_m3,
            _ => None,
        })
    }

    /// The daily AQI of a sample under this edition, from its
    /// [`daily_indicators`](Self::daily_indicators) (HJ 633-2012 §5.1, [`DAILY_INDICATORS`]).
    ///
    /// The 24-hour means of SO2, NO2, PM10, CO and PM2.5, and for O3 both the day's maximum
    /// 1-hour mean (1-hour column) and the day's maximum 8-hour moving mean (8-hour column):
    /// O3's IAQI is the larger of the two, the 8-hour one on a tie, and
    /// [`AqiResult::iaqi_columns`] names the column it came from. An O3 8-h maximum above
    /// 800 µg/m³ follows the edition's rule: HJ 633-2012 Table 1 note (3) reports O3 by the
    /// IAQI of `o3_1h_max_ug_m3` (O3 is unresolved without it); HJ 633-2026 gives it IAQI
    /// 300, and the 1-hour maximum still counts when its IAQI is higher.
    pub fn daily_aqi(&self, sample: &DailySample) -> AqiResult {
        let value = |metric: Metric| match metric {
            Metric::So2Mean24h => sample.so2_ug_m3,
            Metric::No2Mean24h => sample.no2_ug_m3,
            Metric::Pm10Mean24h => sample.pm10_ug_m3,
            Metric::CoMean24h => sample.co_mg_m3,
            Metric::O3Mean8h => sample.o3_8h_max_ug_m3,
            Metric::O3Mean1h => sample.o3_1h_max_ug_m3,
            Metric::Pm25Mean24h => sample.pm25_ug_m3,
            // The SO2, NO2 and CO 1-hour limits are for real-time reports only (Table 1
            // note (1)); a daily sample has no such values.
            Metric::So2Mean1h | Metric::No2Mean1h | Metric::CoMean1h => None,
        };
        let inputs: Vec<(Metric, Option<f64>)> = self
            .daily_indicators
            .iter()
            .map(|&metric| (metric, value(metric)))
            .collect();
        self.aqi_of(&inputs, value)
    }

    /// The AQI of some indicator values: each pollutant's IAQI is the largest its
    /// indicators give (the first listed on a tie); a pollutant with values but no IAQI
    /// from any of them is unresolved.
    fn aqi_of(
        &self,
        inputs: &[(Metric, Option<f64>)],
        other: impl Fn(Metric) -> Option<f64>,
    ) -> AqiResult {
        let mut best: Vec<(Pollutant, u32, Metric)> = Vec::new();
        let mut unresolved = Vec::new();
        for &(metric, value) in inputs {
            let Some(value) = value else { continue };
            let pollutant = metric.pollutant();
            match self.resolve(metric, value, &other) {
                Some((index, column)) => {
                    unresolved.retain(|&p| p != pollutant);
                    match best.iter_mut().find(|(p, _, _)| *p == pollutant) {
                        Some(entry) if index > entry.1 => *entry = (pollutant, index, column),
                        Some(_) => {}
                        None => best.push((pollutant, index, column)),
                    }
                }
                None => {
                    if !best.iter().any(|(p, _, _)| *p == pollutant)
                        && !unresolved.contains(&pollutant)
                    {
                        unresolved.push(pollutant);
                    }
                }
            }
        }
        best.sort_by_key(|&(p, _, _)| p);
        unresolved.sort();
        AqiResult::from_iaqi(self, best, unresolved)
    }
}

/// Concentrations for a real-time (hourly) AQI; `None` = not measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HourlySample {
    /// SO2 1-hour mean, µg/m³.
    pub so2_ug_m3: Option<f64>,
    /// NO2 1-hour mean, µg/m³.
    pub no2_ug_m3: Option<f64>,
    /// CO 1-hour mean, mg/m³.
    pub co_mg_m3: Option<f64>,
    /// O3 1-hour mean, µg/m³.
    pub o3_ug_m3: Option<f64>,
    /// PM2.5 concentration judged against the 24-hour table, µg/m³.
    pub pm25_ug_m3: Option<f64>,
    /// PM10 concentration judged against the 24-hour table, µg/m³.
    pub pm10_ug_m3: Option<f64>,
    /// SO2 24-hour mean, µg/m³: needed only by HJ 633-2012 when the 1-hour mean is above
    /// 800 µg/m³. Without it SO2 is then listed in [`AqiResult::unresolved`].
    pub so2_24h_ug_m3: Option<f64>,
}

/// Concentrations for a daily AQI; `None` = not measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DailySample {
    /// SO2 24-hour mean, µg/m³.
    pub so2_ug_m3: Option<f64>,
    /// NO2 24-hour mean, µg/m³.
    pub no2_ug_m3: Option<f64>,
    /// CO 24-hour mean, mg/m³.
    pub co_mg_m3: Option<f64>,
    /// PM2.5 24-hour mean, µg/m³.
    pub pm25_ug_m3: Option<f64>,
    /// PM10 24-hour mean, µg/m³.
    pub pm10_ug_m3: Option<f64>,
    /// The day's maximum 8-hour moving mean of O3, µg/m³ (日最大8小时滑动平均), if it is valid
    /// (HJ 663-2013: see [`super::hj663`]).
    pub o3_8h_max_ug_m3: Option<f64>,
    /// The day's maximum 1-hour mean of O3, µg/m³ (日最大1小时平均): a daily indicator of its
    /// own (HJ 633-2012 §5.1), and what HJ 633-2012 reports O3 by when the 8-hour maximum is
    /// above 800 µg/m³ (without it O3 is then listed in [`AqiResult::unresolved`]).
    pub o3_1h_max_ug_m3: Option<f64>,
}

/// The AQI of one sample under one edition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AqiResult {
    /// The edition the sample was judged under.
    pub edition: Edition,
    /// Each pollutant's IAQI, in [`Pollutant::ALL`] order.
    pub iaqi: Vec<(Pollutant, u32)>,
    /// The breakpoint column each IAQI of `iaqi` was read from, in the same order: e.g.
    /// `O3_1h` when a day's O3 maximum 1-hour mean gave O3's daily IAQI, `SO2_24h` when an
    /// HJ 633-2012 SO2 1-hour mean above 800 µg/m³ was reported by the 24-hour mean.
    #[serde(default)]
    pub iaqi_columns: Vec<(Pollutant, Metric)>,
    /// The AQI: the largest IAQI; `None` when no pollutant has one.
    pub aqi: Option<u32>,
    /// The AQI level; `None` with the AQI.
    pub level: Option<AqiLevel>,
    /// The primary pollutant(s) (首要污染物): only when the AQI is above 50, every
    /// pollutant whose IAQI equals the AQI.
    pub primary: Vec<Pollutant>,
    /// The exceeding pollutants (超标污染物): IAQI above 100. Always empty under an
    /// edition that does not report them (HJ 633-2026).
    pub exceeding: Vec<Pollutant>,
    /// Pollutants that had a concentration but no IAQI from any of their indicators: the
    /// value was not finite or was negative, or the edition's "above 800" rule needed a
    /// value the sample lacked.
    pub unresolved: Vec<Pollutant>,
}

/// The AQI above which a primary pollutant is named.
const PRIMARY_ABOVE_AQI: u32 = 50;
/// The IAQI above which a pollutant is "exceeding" (HJ 633-2012).
const EXCEEDING_ABOVE_IAQI: u32 = 100;

impl AqiResult {
    fn from_iaqi(
        standard: &AqiStandard,
        best: Vec<(Pollutant, u32, Metric)>,
        unresolved: Vec<Pollutant>,
    ) -> Self {
        let iaqi: Vec<(Pollutant, u32)> = best.iter().map(|&(p, index, _)| (p, index)).collect();
        let iaqi_columns = best.iter().map(|&(p, _, column)| (p, column)).collect();
        let aqi = iaqi.iter().map(|&(_, index)| index).max();
        let primary = match aqi {
            Some(max) if max > PRIMARY_ABOVE_AQI => iaqi
                .iter()
                .filter(|&&(_, index)| index == max)
                .map(|&(p, _)| p)
                .collect(),
            _ => Vec::new(),
        };
        let exceeding = if standard.reports_exceeding {
            iaqi.iter()
                .filter(|&&(_, index)| index > EXCEEDING_ABOVE_IAQI)
                .map(|&(p, _)| p)
                .collect()
        } else {
            Vec::new()
        };
        AqiResult {
            edition: standard.edition.clone(),
            iaqi,
            iaqi_columns,
            aqi,
            level: aqi.map(AqiLevel::from_aqi),
            primary,
            exceeding,
            unresolved,
        }
    }
}

/// The real-time AQI under the edition in force on `date` (China Standard Time); see
/// [`AqiStandard::hourly_aqi`].
pub fn hourly_aqi(date: NaiveDate, sample: &HourlySample) -> AqiResult {
    edition_for(date).hourly_aqi(sample)
}

/// The daily AQI under the edition in force on `date` (China Standard Time); see
/// [`AqiStandard::daily_aqi`].
pub fn daily_aqi(date: NaiveDate, sample: &DailySample) -> AqiResult {
    edition_for(date).daily_aqi(sample)
}

/// The six AQI levels (空气质量指数级别) with their categories and colours (§3.3).
///
/// Levels, names and colour names ✅; the RGB values ⚠️ come from one source (aqi-hub).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AqiLevel {
    /// 一级 优, AQI 0–50.
    Excellent = 1,
    /// 二级 良, AQI 51–100.
    Good = 2,
    /// 三级 轻度污染, AQI 101–150.
    LightlyPolluted = 3,
    /// 四级 中度污染, AQI 151–200.
    ModeratelyPolluted = 4,
    /// 五级 重度污染, AQI 201–300.
    HeavilyPolluted = 5,
    /// 六级 严重污染, AQI above 300.
    SeverelyPolluted = 6,
}

impl AqiLevel {
    /// The level of an AQI value.
    pub const fn from_aqi(aqi: u32) -> Self {
        match aqi {
            0..=50 => AqiLevel::Excellent,
            51..=100 => AqiLevel::Good,
            101..=150 => AqiLevel::LightlyPolluted,
            151..=200 => AqiLevel::ModeratelyPolluted,
            201..=300 => AqiLevel::HeavilyPolluted,
            _ => AqiLevel::SeverelyPolluted,
        }
    }

    /// The level number 1–6.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The level name, e.g. `三级`.
    pub const fn level_zh(self) -> &'static str {
        match self {
            AqiLevel::Excellent => "一级",
            AqiLevel::Good => "二级",
            AqiLevel::LightlyPolluted => "三级",
            AqiLevel::ModeratelyPolluted => "四级",
            AqiLevel::HeavilyPolluted => "五级",
            AqiLevel::SeverelyPolluted => "六级",
        }
    }

    /// The category in Chinese, e.g. `轻度污染`.
    pub const fn category_zh(self) -> &'static str {
        match self {
            AqiLevel::Excellent => "优",
            AqiLevel::Good => "良",
            AqiLevel::LightlyPolluted => "轻度污染",
            AqiLevel::ModeratelyPolluted => "中度污染",
            AqiLevel::HeavilyPolluted => "重度污染",
            AqiLevel::SeverelyPolluted => "严重污染",
        }
    }

    /// The category in English, e.g. `Lightly polluted`.
    pub const fn category_en(self) -> &'static str {
        match self {
            AqiLevel::Excellent => "Excellent",
            AqiLevel::Good => "Good",
            AqiLevel::LightlyPolluted => "Lightly polluted",
            AqiLevel::ModeratelyPolluted => "Moderately polluted",
            AqiLevel::HeavilyPolluted => "Heavily polluted",
            AqiLevel::SeverelyPolluted => "Severely polluted",
        }
    }

    /// The colour's Chinese name, e.g. `橙色`.
    pub const fn colour_zh(self) -> &'static str {
        match self {
            AqiLevel::Excellent => "绿色",
            AqiLevel::Good => "黄色",
            AqiLevel::LightlyPolluted => "橙色",
            AqiLevel::ModeratelyPolluted => "红色",
            AqiLevel::HeavilyPolluted => "紫色",
            AqiLevel::SeverelyPolluted => "褐红色",
        }
    }

    /// The colour's English name, e.g. `orange`.
    pub const fn colour_en(self) -> &'static str {
        match self {
            AqiLevel::Excellent => "green",
            AqiLevel::Good => "yellow",
            AqiLevel::LightlyPolluted => "orange",
            AqiLevel::ModeratelyPolluted => "red",
            AqiLevel::HeavilyPolluted => "purple",
            AqiLevel::SeverelyPolluted => "maroon",
        }
    }

    /// The colour as RGB (⚠️ single source), e.g. `[255, 126, 0]`.
    pub const fn rgb(self) -> [u8; 3] {
        match self {
            AqiLevel::Excellent => [0, 228, 0],
            AqiLevel::Good => [255, 255, 0],
            AqiLevel::LightlyPolluted => [255, 126, 0],
            AqiLevel::ModeratelyPolluted => [255, 0, 0],
            AqiLevel::HeavilyPolluted => [153, 0, 76],
            AqiLevel::SeverelyPolluted => [126, 0, 35],
        }
    }

    /// The colour as a CSS hex string (⚠️ single source), e.g. `#FF7E00`.
    pub const fn hex(self) -> &'static str {
        match self {
            AqiLevel::Excellent => "#00E400",
            AqiLevel::Good => "#FFFF00",
            AqiLevel::LightlyPolluted => "#FF7E00",
            AqiLevel::ModeratelyPolluted => "#FF0000",
            AqiLevel::HeavilyPolluted => "#99004C",
            AqiLevel::SeverelyPolluted => "#7E0023",
        }
    }
}
