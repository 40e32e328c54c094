//! Ambient air quality limits per GB 3095: the 2012 edition and the 2026 revision as data.
//!
//! GB 3095-2026 (published 2026-02-24, in force 2026-03-01) tightens PM2.5 in two phases:
//! a transitional Grade II limit until 2030-12-31 and the final limits from 2031-01-01.
//! Each phase is its own [`AmbientStandard`] with its dates; [`edition_for`] picks the one
//! in force on an observation date.

use std::borrow::Cow;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::edition::{Edition, ymd};
use super::hj633::Pollutant;
use Averaging::{Annual, DailyMax8h, Mean1h, Mean24h};
use Pollutant::{Co, No2, O3, Pm10, Pm25, So2};

/// The averaging period a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Averaging {
    /// Annual mean (年平均).
    Annual,
    /// 24-hour mean (24小时平均).
    Mean24h,
    /// Daily maximum 8-hour mean (日最大8小时平均), O3 only.
    DailyMax8h,
    /// 1-hour mean (1小时平均).
    Mean1h,
}

/// The two grades of limits: Grade I for Class 1 zones (nature reserves, scenic areas),
/// Grade II for everything else, the demonstration zone included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// 一级 (Class 1 zones).
    #[serde(rename = "I")]
    I,
    /// 二级 (Class 2 zones).
    #[serde(rename = "II")]
    II,
}

/// The limits of one pollutant at one averaging period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// The pollutant (CO in mg/m³, the others in µg/m³).
    pub pollutant: Pollutant,
    /// The averaging period.
    pub averaging: Averaging,
    /// The Grade I limit.
    pub grade_i: f64,
    /// The Grade II limit.
    pub grade_ii: f64,
}

/// One edition (or phase of an edition) of GB 3095: its basic-item limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmbientStandard {
    /// The edition; phases of one edition share its code and differ in their dates.
    pub edition: Edition,
    /// Which phase of the edition this is, e.g. `2026 phase 1 (transitional PM2.5)`.
    pub phase: Cow<'static, str>,
    /// The limits.
    pub limits: Cow<'static, [Limit]>,
}

const fn limit(pollutant: Pollutant, averaging: Averaging, grade_i: f64, grade_ii: f64) -> Limit {
    Limit {
        pollutant,
        averaging,
        grade_i,
        grade_ii,
    }
}

/// A limit table: the GB 3095-2012 Table 1 limits for SO2, NO2, CO, O3 and PM10, which
/// the 2026 phases keep (see [`GB_3095_2026_PHASE1`]), followed by the PM2.5 limits given.
macro_rules! limits_with_pm25 {
    ($($pm25:expr),+ $(,)?) => {
        Cow::Borrowed(&[
            limit(So2, Annual, 20.0, 60.0),
            limit(So2, Mean24h, 50.0, 150.0),
            limit(So2, Mean1h, 150.0, 500.0),
            limit(No2, Annual, 40.0, 40.0),
            limit(No2, Mean24h, 80.0, 80.0),
            limit(No2, Mean1h, 200.0, 200.0),
            limit(Co, Mean24h, 4.0, 4.0),
            limit(Co, Mean1h, 10.0, 10.0),
            limit(O3, DailyMax8h, 100.0, 160.0),
            limit(O3, Mean1h, 160.0, 200.0),
            limit(Pm10, Annual, 40.0, 70.0),
            limit(Pm10, Mean24h, 50.0, 150.0),
            $($pm25),+
        ])
    };
}

const TITLE_ZH: Cow<'static, str> = Cow::Borrowed("环境空气质量标准");
const TITLE_EN: Cow<'static, str> = Cow::Borrowed("Ambient air quality standards");

/// GB 3095-2012 环境空气质量标准, Table 1 basic items (✅ reference sheet §4.1), until
/// 2026-02-28. The start date 2016-01-01 (nationwide implementation) is from the
/// reference's secondary source; earlier dates also get this edition from [`edition_for`].
pub static GB_3095_2012: AmbientStandard = AmbientStandard {
    edition: Edition {
        code: Cow::Borrowed("GB 3095-2012"),
        title_zh: TITLE_ZH,
        title_en: TITLE_EN,
        in_force_from: ymd(2016, 1, 1),
        in_force_until: Some(ymd(2026, 2, 28)),
    },
    phase: Cow::Borrowed("2012"),
    limits: limits_with_pm25!(
        limit(Pm25, Annual, 15.0, 35.0),
        limit(Pm25, Mean24h, 35.0, 75.0),
    ),
};

/// GB 3095-2026, phase 1 (2026-03-01 to 2030-12-31).
///
/// PM2.5: Grade II is the transitional annual 30 / 24-h 60 µg/m³ (✅). Grade I takes the
/// final 2026 values, annual 10 / 24-h 25 µg/m³ (✅ as final values; applying them in
/// phase 1 is this table's reading, the reference describes a transition for Grade II
/// only). PM10, SO2 and NO2 are also tightened by GB 3095-2026, but their new values are
/// ❌ UNVERIFIED (sources conflict), so this table keeps the 2012 values for them; CO and
/// O3 are unchanged (⚠️). Replace the table from configuration once checked against the
/// standard's text.
pub static GB_3095_2026_PHASE1: AmbientStandard = AmbientStandard {
    edition: Edition {
        code: Cow::Borrowed("GB 3095-2026"),
        title_zh: TITLE_ZH,
        title_en: TITLE_EN,
        in_force_from: ymd(2026, 3, 1),
        in_force_until: Some(ymd(2030, 12, 31)),
    },
    phase: Cow::Borrowed("2026 phase 1 (transitional PM2.5 Grade II)"),
    limits: limits_with_pm25!(
        limit(Pm25, Annual, 10.0, 30.0),
        limit(Pm25, Mean24h, 25.0, 60.0),
    ),
};

/// GB 3095-2026, final limits from 2031-01-01.
///
/// PM2.5: Grade I annual 10 / 24-h 25, Grade II annual 25 / 24-h 50 µg/m³ (✅). PM10, SO2
/// and NO2 keep their 2012 values here because the revised values are ❌ UNVERIFIED (see
/// [`GB_3095_2026_PHASE1`]).
pub static GB_3095_2026: AmbientStandard = AmbientStandard {
    edition: Edition {
        code: Cow::Borrowed("GB 3095-2026"),
        title_zh: TITLE_ZH,
        title_en: TITLE_EN,
        in_force_from: ymd(2031, 1, 1),
        in_force_until: None,
    },
    phase: Cow::Borrowed("2026 final"),
    limits: limits_with_pm25!(
        limit(Pm25, Annual, 10.0, 25.0),
        limit(Pm25, Mean24h, 25.0, 50.0),
    ),
};

/// The GB 3095 table in force on `date` (China Standard Time): [`GB_3095_2012`] before
/// 2026-03-01, [`GB_3095_2026_PHASE1`] until 2030-12-31, [`GB_3095_2026`] from 2031-01-01.
pub fn edition_for(date: NaiveDate) -> &'static AmbientStandard {
    if date >= GB_3095_2026.edition.in_force_from {
        &GB_3095_2026
    } else if date >= GB_3095_2026_PHASE1.edition.in_force_from {
        &GB_3095_2026_PHASE1
    } else {
        &GB_3095_2012
    }
}

impl AmbientStandard {
    /// The limit for a pollutant, averaging period and grade, if the table has one.
    pub fn limit(&self, pollutant: Pollutant, averaging: Averaging, grade: Grade) -> Option<f64> {
        let entry = self
            .limits
            .iter()
            .find(|l| l.pollutant == pollutant && l.averaging == averaging)?;
        Some(match grade {
            Grade::I => entry.grade_i,
            Grade::II => entry.grade_ii,
        })
    }

    /// Whether a concentration meets the limit (≤).
    ///
    /// `None` when the table has no such limit, or the concentration is not finite or is
    /// negative.
    pub fn complies(
        &self,
        pollutant: Pollutant,
        averaging: Averaging,
        grade: Grade,
        concentration: f64,
    ) -> Option<bool> {
        if !concentration.is_finite() || concentration < 0.0 {
            return None;
        }
        Some(concentration <= self.limit(pollutant, averaging, grade)?)
    }

    /// The exceedance multiple (超标倍数) (C − L) / L of a concentration over the limit.
    ///
    /// `None` when the concentration meets the limit, when the table has no such limit or
    /// it is not positive, or when the concentration is not finite or is negative.
    pub fn exceedance_multiple(
        &self,
        pollutant: Pollutant,
        averaging: Averaging,
        grade: Grade,
        concentration: f64,
    ) -> Option<f64> {
        let limit = self.limit(pollutant, averaging, grade)?;
        let exceeds = !self.complies(pollutant, averaging, grade, concentration)?;
        (exceeds && limit > 0.0).then(|| (concentration - limit) / limit)
    }
}
