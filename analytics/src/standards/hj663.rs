//! The O3 daily statistics of one day and when they are valid, per HJ 663-2013
//! 环境空气质量评价技术规范(试行) (data validity, 数据统计的有效性).
//!
//! A day's O3 gives two daily indicators (HJ 633-2012 §5.1): the maximum 1-hour mean and
//! the maximum 8-hour moving mean. The 8-hour means are those ending at 08:00 … 24:00 of
//! the CST day (17 of them, each the mean of its own eight hourly values, so none reaches
//! into the previous day). The validity rules, with the numbers the caller passes from the
//! `[analytics.completeness]` settings:
//!
//! - an 8-hour mean needs at least 6 hourly values (`min_hours_per_window`);
//! - the daily maximum 8-hour mean needs at least 14 valid 8-hour means between 08:00 and
//!   24:00 (`min_windows`); **with fewer, it still counts when it exceeds the concentration
//!   limit** — the GB 3095 limit for the O3 daily maximum 8-hour mean (Grade II: 160 µg/m³),
//!   since more data could only raise a maximum.
//!
//! ⚠️ SINGLE: the wording of these rules (当日8时至24时至少有14个有效8小时平均浓度值。当不满足
//! 14个有效数据时，若日最大8小时平均浓度超过浓度限值标准时，统计结果仍有效; 8小时平均每8小时
//! 至少6个小时值) was found in one public transcription of HJ 663-2013 (a comment in public
//! code), not in the standard's own text; a second public implementation agrees with the
//! windows (17 of them, ending 8时–24时). HJ 663-2026 (published with GB 3095-2026) was not
//! available; the same rules are used after 2026-03-01. No minimum is applied to the daily
//! maximum 1-hour mean: none was found beyond the hourly value's own.

use serde::{Deserialize, Serialize};

/// The 8-hour means of a day: those ending at 08:00, 09:00, … 24:00.
pub const O3_8H_WINDOWS_PER_DAY: u32 = 17;

/// The thresholds of the O3 validity rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct O3Validity {
    /// Hourly values an 8-hour mean needs (HJ 663-2013: 6).
    pub min_hours_per_window: u32,
    /// Valid 8-hour means the daily maximum needs (HJ 663-2013: 14).
    pub min_windows: u32,
}

/// Whether a day's maximum 8-hour mean counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Max8hValidity {
    /// At least `min_windows` valid 8-hour means.
    Enough,
    /// Fewer valid 8-hour means, but the maximum exceeds the limit: it counts.
    FewerButAboveLimit,
    /// Fewer valid 8-hour means and the maximum does not exceed the limit (or there is no
    /// valid 8-hour mean, or no limit to compare with): it does not count.
    Insufficient,
}

/// The O3 daily statistics of one day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct O3Daily {
    /// The day's maximum 1-hour mean, µg/m³; `None` without any hourly value.
    pub max_1h_ug_m3: Option<f64>,
    /// The largest valid 8-hour mean of the day, µg/m³, whether it counts or not; `None`
    /// without a valid 8-hour mean.
    pub max_8h_ug_m3: Option<f64>,
    /// Valid 8-hour means among the day's [`O3_8H_WINDOWS_PER_DAY`].
    pub valid_8h_windows: u32,
    /// Whether `max_8h_ug_m3` counts as the day's maximum 8-hour mean.
    pub max_8h_validity: Max8hValidity,
}

impl O3Daily {
    /// The daily maximum 8-hour mean if it counts.
    pub fn max_8h_counted(&self) -> Option<f64> {
        match self.max_8h_validity {
            Max8hValidity::Enough | Max8hValidity::FewerButAboveLimit => self.max_8h_ug_m3,
            Max8hValidity::Insufficient => None,
        }
    }
}

/// The O3 daily statistics of a CST day from its hourly means.
///
/// `hourly[k]` is the mean of the hour starting at `k`:00 (the value HJ 663 labels `k + 1`
/// 时), `None` when the hour has no valid value; hours past the 24th are ignored and
/// non-finite values count as missing. `limit_8h_ug_m3` is the limit a maximum from too few
/// windows must exceed to count (GB 3095 Grade II, 160 µg/m³); without it such a maximum does
/// not count.
pub fn o3_daily(hourly: &[Option<f64>], rule: O3Validity, limit_8h_ug_m3: Option<f64>) -> O3Daily {
    let hour = |k: usize| hourly.get(k).copied().flatten().filter(|v| v.is_finite());
    let max_1h_ug_m3 = (0..24).filter_map(hour).reduce(f64::max);
    // Windows end at the hours labelled 8 … 24, i.e. at indexes 7 … 23.
    let windows: Vec<f64> = (7..24)
        .filter_map(|end| {
            let values: Vec<f64> = (end - 7..=end).filter_map(hour).collect();
            let n = u32::try_from(values.len()).unwrap_or(u32::MAX);
            (n > 0 && n >= rule.min_hours_per_window)
                .then(|| values.iter().sum::<f64>() / f64::from(n))
        })
        .collect();
    let valid_8h_windows = u32::try_from(windows.len()).unwrap_or(u32::MAX);
    let max_8h_ug_m3 = windows.iter().copied().reduce(f64::max);
    let max_8h_validity = match max_8h_ug_m3 {
        None => Max8hValidity::Insufficient,
        Some(_) if valid_8h_windows >= rule.min_windows => Max8hValidity::Enough,
        Some(max) if limit_8h_ug_m3.is_some_and(|limit| max > limit) => {
            Max8hValidity::FewerButAboveLimit
        }
        Some(_) => Max8hValidity::Insufficient,
    };
    O3Daily {
        max_1h_ug_m3,
        max_8h_ug_m3,
        valid_8h_windows,
        max_8h_validity,
    }
}
