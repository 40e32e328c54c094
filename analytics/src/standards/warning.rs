//! Heavy-pollution weather warning levels (重污染天气预警分级) from daily AQI values.
//!
//! The rules are the MEP 2017 guidance as summarised in the reference sheet (§5), kept as
//! a [`WarningRules`] value so a city can configure its own plan:
//!
//! | level | condition on the run of consecutive days with daily AQI > 200 |
//! |---|---|
//! | 蓝色 Blue (Ⅳ) | at least 1 day |
//! | 黄色 Yellow (Ⅲ) | at least 2 days |
//! | 橙色 Orange (Ⅱ) | at least 3 days, and at least 1 of them > 300 |
//! | 红色 Red (Ⅰ) | at least 4 days with at least 2 of them > 300, or a day reaching 500 |
//!
//! The guidance speaks of *forecast* daily AQI; these functions judge whatever sequence
//! they are given (forecast, or observed to say what an episode warranted). A "daily AQI"
//! may be the mean over any consecutive 24 h, midnight-crossing ones included; choosing
//! those windows is the caller's job.

use serde::{Deserialize, Serialize};

/// A heavy-pollution warning level, ordered from none to red.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    /// No warning.
    #[default]
    None,
    /// 蓝色预警 (Ⅳ级).
    Blue,
    /// 黄色预警 (Ⅲ级).
    Yellow,
    /// 橙色预警 (Ⅱ级).
    Orange,
    /// 红色预警 (Ⅰ级).
    Red,
}

impl WarningLevel {
    /// The Chinese name: `蓝色预警` … `红色预警`, `无预警` for none.
    pub const fn name_zh(self) -> &'static str {
        match self {
            WarningLevel::None => "无预警",
            WarningLevel::Blue => "蓝色预警",
            WarningLevel::Yellow => "黄色预警",
            WarningLevel::Orange => "橙色预警",
            WarningLevel::Red => "红色预警",
        }
    }

    /// The English name: `blue warning` … `red warning`, `no warning` for none.
    pub const fn name_en(self) -> &'static str {
        match self {
            WarningLevel::None => "no warning",
            WarningLevel::Blue => "blue warning",
            WarningLevel::Yellow => "yellow warning",
            WarningLevel::Orange => "orange warning",
            WarningLevel::Red => "red warning",
        }
    }

    /// The Roman level numeral: `Ⅳ` (blue) … `Ⅰ` (red); `None` for no warning.
    pub const fn roman(self) -> Option<&'static str> {
        match self {
            WarningLevel::None => None,
            WarningLevel::Blue => Some("Ⅳ"),
            WarningLevel::Yellow => Some("Ⅲ"),
            WarningLevel::Orange => Some("Ⅱ"),
            WarningLevel::Red => Some("Ⅰ"),
        }
    }
}

/// The thresholds of the warning levels. Defaults: the MEP 2017 rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningRules {
    /// A day counts toward a run when its AQI is above this. Default 200.
    #[serde(default = "default_heavy_above_aqi")]
    pub heavy_above_aqi: u32,
    /// A day is "severe" when its AQI is above this. Default 300.
    #[serde(default = "default_severe_above_aqi")]
    pub severe_above_aqi: u32,
    /// Whether the blue level exists. Default `true` (MEP 2017). The 2018 national
    /// framework (环办大气函〔2018〕875号) has only yellow, orange and red, blue being
    /// optional/local; with `false` a run that reaches only blue gives no warning.
    #[serde(default = "default_include_blue")]
    pub include_blue: bool,
    /// Days of run for blue. Default 1.
    #[serde(default = "default_blue_min_days")]
    pub blue_min_days: usize,
    /// Days of run for yellow. Default 2 (48 h).
    #[serde(default = "default_yellow_min_days")]
    pub yellow_min_days: usize,
    /// Days of run for orange. Default 3 (72 h).
    #[serde(default = "default_orange_min_days")]
    pub orange_min_days: usize,
    /// Severe days in the run for orange. Default 1.
    #[serde(default = "default_orange_min_severe_days")]
    pub orange_min_severe_days: usize,
    /// Days of run for red. Default 4 (96 h).
    #[serde(default = "default_red_min_days")]
    pub red_min_days: usize,
    /// Severe days in the run for red. Default 2 (48 h).
    #[serde(default = "default_red_min_severe_days")]
    pub red_min_severe_days: usize,
    /// A day in the run with an AQI at or above this gives red on its own. Default 500.
    #[serde(default = "default_red_any_day_aqi")]
    pub red_any_day_aqi: u32,
}

const fn default_heavy_above_aqi() -> u32 {
    200
}
const fn default_severe_above_aqi() -> u32 {
    300
}
const fn default_include_blue() -> bool {
    true
}
const fn default_blue_min_days() -> usize {
    1
}
const fn default_yellow_min_days() -> usize {
    2
}
const fn default_orange_min_days() -> usize {
    3
}
const fn default_orange_min_severe_days() -> usize {
    1
}
const fn default_red_min_days() -> usize {
    4
}
const fn default_red_min_severe_days() -> usize {
    2
}
const fn default_red_any_day_aqi() -> u32 {
    500
}

impl Default for WarningRules {
    fn default() -> Self {
        WarningRules {
            heavy_above_aqi: default_heavy_above_aqi(),
            severe_above_aqi: default_severe_above_aqi(),
            include_blue: default_include_blue(),
            blue_min_days: default_blue_min_days(),
            yellow_min_days: default_yellow_min_days(),
            orange_min_days: default_orange_min_days(),
            orange_min_severe_days: default_orange_min_severe_days(),
            red_min_days: default_red_min_days(),
            red_min_severe_days: default_red_min_severe_days(),
            red_any_day_aqi: default_red_any_day_aqi(),
        }
    }
}

/// Counts over one run of consecutive heavy days.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    days: usize,
    severe_days: usize,
    max_aqi: u32,
}

impl Run {
    /// Extend the run by one day, or reset it when the day is not heavy.
    fn push(&mut self, rules: &WarningRules, aqi: u32) {
        if aqi > rules.heavy_above_aqi {
            self.days += 1;
            self.severe_days += usize::from(aqi > rules.severe_above_aqi);
            self.max_aqi = self.max_aqi.max(aqi);
        } else {
            *self = Run::default();
        }
    }

    fn level(&self, rules: &WarningRules) -> WarningLevel {
        if self.days == 0 {
            WarningLevel::None
        } else if self.max_aqi >= rules.red_any_day_aqi
            || (self.days >= rules.red_min_days && self.severe_days >= rules.red_min_severe_days)
        {
            WarningLevel::Red
        } else if self.days >= rules.orange_min_days
            && self.severe_days >= rules.orange_min_severe_days
        {
            WarningLevel::Orange
        } else if self.days >= rules.yellow_min_days {
            WarningLevel::Yellow
        } else if rules.include_blue && self.days >= rules.blue_min_days {
            WarningLevel::Blue
        } else {
            WarningLevel::None
        }
    }
}

/// The warning level at the end of a sequence of consecutive daily AQI values.
///
/// The run judged is the longest stretch of consecutive days with AQI above
/// `heavy_above_aqi` that **ends at the last day** of `daily_aqi`. Days before that run
/// (including earlier episodes) are ignored, and a last day at or below the threshold
/// gives [`WarningLevel::None`]. The highest level whose conditions that run meets is
/// returned: red, then orange, yellow, blue. An empty slice gives none.
pub fn level(rules: &WarningRules, daily_aqi: &[u32]) -> WarningLevel {
    let mut run = Run::default();
    for &aqi in daily_aqi {
        run.push(rules, aqi);
    }
    run.level(rules)
}

/// The warning level of every day of a series: element `i` is
/// `level(rules, &daily_aqi[..=i])`, computed in one pass.
pub fn level_over_history(rules: &WarningRules, daily_aqi: &[u32]) -> Vec<WarningLevel> {
    let mut run = Run::default();
    daily_aqi
        .iter()
        .map(|&aqi| {
            run.push(rules, aqi);
            run.level(rules)
        })
        .collect()
}
