//! Outfall discharge limits: GB 18918-2002 Grade 1A by default, overridable per outfall.
//!
//! Municipal wastewater plants discharging to the Lalin and Songhua are judged reading by
//! reading against [`DischargeLimits`]: the built-in [`GB_18918_2002_GRADE_1A`] table plus
//! the outfall's own overrides (a permit may be stricter, or an older plant may have a
//! different TP limit).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::edition::{Edition, ymd};
use super::{Result, StandardsError, code};

/// The limit of one outfall parameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DischargeLimit {
    /// The value must be at most this (mg/L, or count/L for fecal coliform).
    Max(f64),
    /// The value must be at most `max`, or `cold_max` when the water temperature is at or
    /// below `cold_at_or_below_c` (NH3-N: 5, or 8 at ≤ 12 °C).
    MaxByTemperature {
        /// The limit in warm water.
        max: f64,
        /// The limit in cold water.
        cold_max: f64,
        /// Water temperature (°C) at or below which `cold_max` applies.
        cold_at_or_below_c: f64,
    },
    /// The value must lie in `min..=max` (pH).
    Range {
        /// Lowest acceptable value, inclusive.
        min: f64,
        /// Highest acceptable value, inclusive.
        max: f64,
    },
}

/// A discharge standard: its edition, grade and limits by parameter code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DischargeStandard {
    /// The edition the limits come from.
    pub edition: Edition,
    /// The grade within the standard, e.g. `一级A`.
    pub grade: Cow<'static, str>,
    /// The limits, as (parameter code, limit).
    pub limits: Cow<'static, [(Cow<'static, str>, DischargeLimit)]>,
}

impl DischargeStandard {
    /// The limit for a parameter code, if the standard has one.
    pub fn limit(&self, code: &str) -> Option<&DischargeLimit> {
        self.limits
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, limit)| limit)
    }
}

const fn entry(code: &'static str, limit: DischargeLimit) -> (Cow<'static, str>, DischargeLimit) {
    (Cow::Borrowed(code), limit)
}

/// GB 18918-2002 城镇污水处理厂污染物排放标准, Grade 1A (一级A).
///
/// ❌ UNVERIFIED: every figure here, and the start date 2003-07-01, are from general
/// knowledge (reference sheet §9), shipped as the configurable default; override per
/// outfall with [`DischargeLimits::overrides`]. mg/L: COD 50, BOD5 10, SS 10, TN 15,
/// NH3-N 5 (8 when the water temperature is ≤ 12 °C), TP 0.5 (for plants built from
/// 2006-01-01; older plants had a laxer TP limit, set it as an override), pH 6–9, fecal
/// coliform 1000 count/L.
pub static GB_18918_2002_GRADE_1A: DischargeStandard = DischargeStandard {
    edition: Edition {
        code: Cow::Borrowed("GB 18918-2002"),
        title_zh: Cow::Borrowed("城镇污水处理厂污染物排放标准"),
        title_en: Cow::Borrowed(
            "Discharge standard of pollutants for municipal wastewater treatment plant",
        ),
        in_force_from: ymd(2003, 7, 1),
        in_force_until: None,
    },
    grade: Cow::Borrowed("一级A"),
    limits: Cow::Borrowed(&[
        entry(code::COD, DischargeLimit::Max(50.0)),
        entry(code::BOD5, DischargeLimit::Max(10.0)),
        entry(code::SS, DischargeLimit::Max(10.0)),
        entry(code::TN, DischargeLimit::Max(15.0)),
        entry(
            code::NH3N,
            DischargeLimit::MaxByTemperature {
                max: 5.0,
                cold_max: 8.0,
                cold_at_or_below_c: 12.0,
            },
        ),
        entry(code::TP, DischargeLimit::Max(0.5)),
        entry(code::PH, DischargeLimit::Range { min: 6.0, max: 9.0 }),
        entry(code::FCOLI, DischargeLimit::Max(1000.0)),
    ]),
};

/// One outfall's limits: the Grade 1A defaults with per-parameter overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DischargeLimits {
    /// Limits by parameter code that replace (or add to) the defaults of
    /// [`GB_18918_2002_GRADE_1A`]. Default: none.
    #[serde(default)]
    pub overrides: BTreeMap<String, DischargeLimit>,
}

/// A value over its discharge limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Exceedance {
    /// The limit exceeded (for pH, the bound crossed: 6 or 9).
    pub limit: f64,
    /// The exceedance multiple (C − L) / L; `None` for a range limit (pH), where a
    /// multiple has no meaning.
    pub multiple: Option<f64>,
}

impl DischargeLimits {
    /// The defaults: [`GB_18918_2002_GRADE_1A`] without overrides.
    pub fn grade_1a() -> Self {
        Self::default()
    }

    /// The edition the defaults come from.
    pub fn edition(&self) -> &'static Edition {
        &GB_18918_2002_GRADE_1A.edition
    }

    /// The limit for a parameter: its override if any, else the Grade 1A default.
    pub fn limit_for(&self, code: &str) -> Option<&DischargeLimit> {
        self.overrides
            .get(code)
            .or_else(|| GB_18918_2002_GRADE_1A.limit(code))
    }

    /// Judge one value of one parameter.
    ///
    /// `water_temp_c` selects the NH3-N limit: the cold limit applies only when it is given,
    /// finite and at or below the threshold; an absent or non-finite temperature gives the
    /// stricter warm limit.
    ///
    /// Returns `Ok(Some(_))` when the value exceeds its limit, `Ok(None)` when it is within
    /// it **or when the parameter has no limit** (e.g. `WT`, `FLOW`; see
    /// [`Self::limit_for`]).
    ///
    /// # Errors
    /// [`StandardsError::InvalidValue`] when the value is not finite or is negative;
    /// [`StandardsError::InvalidLimit`] when the configured limit is not finite, a maximum
    /// is not positive, or a range is empty.
    pub fn judge(
        &self,
        code: &str,
        value: f64,
        water_temp_c: Option<f64>,
    ) -> Result<Option<Exceedance>> {
        if !value.is_finite() || value < 0.0 {
            return Err(StandardsError::InvalidValue {
                code: code.to_owned(),
                value,
            });
        }
        let Some(limit) = self.limit_for(code) else {
            return Ok(None);
        };
        let invalid = |reason| StandardsError::InvalidLimit {
            code: code.to_owned(),
            reason,
        };
        let max = match *limit {
            DischargeLimit::Max(max) => max,
            DischargeLimit::MaxByTemperature {
                max,
                cold_max,
                cold_at_or_below_c,
            } => match water_temp_c {
                Some(t) if t.is_finite() && t <= cold_at_or_below_c => cold_max,
                _ => max,
            },
            DischargeLimit::Range { min, max } => {
                if !(min.is_finite() && max.is_finite() && min <= max) {
                    return Err(invalid("range bounds must be finite with min ≤ max"));
                }
                return Ok(if value < min {
                    Some(Exceedance {
                        limit: min,
                        multiple: None,
                    })
                } else if value > max {
                    Some(Exceedance {
                        limit: max,
                        multiple: None,
                    })
                } else {
                    None
                });
            }
        };
        if !(max.is_finite() && max > 0.0) {
            return Err(invalid("maximum must be finite and positive"));
        }
        Ok((value > max).then(|| Exceedance {
            limit: max,
            multiple: Some((value - max) / max),
        }))
    }
}
