//! `[reports]` in the configuration file: whether the schedule runs, the reports' language,
//! the archive (folder and database), and for each period (`[reports.day]`, `week`, `month`,
//! `quarter`, `year`) when its report is due and how long it is re-checked for revisions.
//! Times are China Standard Time (UTC+8).

use std::path::PathBuf;

use chrono::{NaiveTime, Weekday};
use riverwatch_core::Lang;
use riverwatch_core::events::WindowPeriod;
use serde::{Deserialize, Serialize};

/// `[reports]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// Whether `riverwatch up` (and `riverwatch reports run`) issues the scheduled reports.
    /// Default true.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Language of the scheduled reports (`zh` or `en`); the top-level `lang` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// Folder of the archived report files, relative to the data directory unless absolute.
    /// Default `reports/archive`.
    #[serde(default = "default_folder")]
    pub folder: PathBuf,
    /// The archive database in the data directory. Default `reports.db`.
    #[serde(default = "default_store_file")]
    pub store_file: String,
    /// How often the service looks at the clock, milliseconds. Default 30000.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// After a failed run (a store missing or busy), the next try, seconds. Default 300.
    #[serde(default = "default_retry_secs")]
    pub retry_secs: u64,
    /// Daily reports: the previous day, at 08:00.
    #[serde(default = "default_day")]
    pub day: PeriodSchedule,
    /// Weekly reports: the previous ISO week (Monday to Sunday), on Monday at 08:00.
    #[serde(default = "default_week")]
    pub week: PeriodSchedule,
    /// Monthly reports: the previous month, on the 1st at 08:00.
    #[serde(default = "default_month")]
    pub month: PeriodSchedule,
    /// Quarterly reports: the previous quarter, on the first day of the quarter at 08:00.
    #[serde(default = "default_quarter")]
    pub quarter: PeriodSchedule,
    /// Annual reports: the previous year, on 1 January at 08:00.
    #[serde(default = "default_year")]
    pub year: PeriodSchedule,
}

/// When one period's report is due, and how long it is re-checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodSchedule {
    /// Whether this period's reports are issued. Default true.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Time of day, China Standard Time, `HH:MM`. Default `08:00`.
    #[serde(default = "default_at")]
    pub at: String,
    /// Weekly reports: the weekday after the week, `mon` … `sun`. Default `mon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<String>,
    /// Monthly, quarterly and annual reports: the day of the month after the period, 1–28.
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    /// Days after the report falls due during which each run re-assembles it and re-issues
    /// it marked 修订 when its numbers changed (at least 1). Default 7 (day), 14 (week),
    /// 31 (month, quarter, year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_days: Option<u32>,
}

fn default_enabled() -> bool {
    true
}

fn default_folder() -> PathBuf {
    PathBuf::from("reports/archive")
}

fn default_store_file() -> String {
    "reports.db".to_string()
}

const fn default_tick_ms() -> u64 {
    30_000
}

const fn default_retry_secs() -> u64 {
    300
}

fn default_at() -> String {
    "08:00".to_string()
}

fn schedule(recheck_days: u32, weekday: Option<&str>, day: Option<u32>) -> PeriodSchedule {
    PeriodSchedule {
        enabled: true,
        at: default_at(),
        weekday: weekday.map(str::to_string),
        day,
        recheck_days: Some(recheck_days),
    }
}

fn default_day() -> PeriodSchedule {
    schedule(7, None, None)
}

fn default_week() -> PeriodSchedule {
    schedule(14, Some("mon"), None)
}

fn default_month() -> PeriodSchedule {
    schedule(31, None, Some(1))
}

fn default_quarter() -> PeriodSchedule {
    schedule(31, None, Some(1))
}

fn default_year() -> PeriodSchedule {
    schedule(31, None, Some(1))
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            lang: None,
            folder: default_folder(),
            store_file: default_store_file(),
            tick_ms: default_tick_ms(),
            retry_secs: default_retry_secs(),
            day: default_day(),
            week: default_week(),
            month: default_month(),
            quarter: default_quarter(),
            year: default_year(),
        }
    }
}

/// A validated period schedule: the period, the time of day, the weekday or day of month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Day, week, month, quarter or year.
    pub period: WindowPeriod,
    /// Time of day, CST.
    pub at: NaiveTime,
    /// Weekly reports: the weekday.
    pub weekday: Weekday,
    /// Monthly, quarterly, annual reports: the day of the month, 1–28.
    pub day: u32,
    /// Days after the due time during which the report is re-checked.
    pub recheck_days: u32,
}

impl ReportsConfig {
    /// A fast configuration for tests: a 50 ms tick, a 1 s retry.
    pub fn test_config() -> Self {
        Self {
            tick_ms: 50,
            retry_secs: 1,
            ..Self::default()
        }
    }

    /// The schedule of each period.
    pub fn periods(&self) -> [(WindowPeriod, &PeriodSchedule); 5] {
        [
            (WindowPeriod::Day, &self.day),
            (WindowPeriod::Week, &self.week),
            (WindowPeriod::Month, &self.month),
            (WindowPeriod::Quarter, &self.quarter),
            (WindowPeriod::Year, &self.year),
        ]
    }

    /// The enabled periods' schedules, checked.
    ///
    /// # Errors
    /// A time that is not `HH:MM`, an unknown weekday, a day outside 1–28, a zero tick.
    pub fn validate(&self) -> Result<Vec<Due>, String> {
        if self.tick_ms == 0 || self.retry_secs == 0 {
            return Err("tick_ms and retry_secs must be at least 1".into());
        }
        if self.store_file.trim().is_empty() {
            return Err("store_file must name a file".into());
        }
        let mut out = Vec::new();
        for (period, s) in self.periods() {
            let name = period.as_str();
            let at = NaiveTime::parse_from_str(s.at.trim(), "%H:%M")
                .map_err(|_| format!("{name}.at `{}`: use HH:MM, e.g. 08:00", s.at))?;
            let weekday = match (&s.weekday, period) {
                (None, _) => Weekday::Mon,
                (Some(w), WindowPeriod::Week) => w
                    .trim()
                    .parse::<Weekday>()
                    .map_err(|_| format!("{name}.weekday `{w}`: use mon, tue, … sun"))?,
                (Some(_), _) => return Err(format!("{name}.weekday: only for week")),
            };
            let day = match (s.day, period) {
                (None, _) => 1,
                (Some(_), WindowPeriod::Day | WindowPeriod::Week) => {
                    return Err(format!("{name}.day: only for month, quarter and year"));
                }
                (Some(d), _) if (1..=28).contains(&d) => d,
                (Some(d), _) => return Err(format!("{name}.day {d}: use 1 to 28")),
            };
            if s.recheck_days == Some(0) {
                return Err(format!("{name}.recheck_days: at least 1"));
            }
            if s.enabled {
                out.push(Due {
                    period,
                    at,
                    weekday,
                    day,
                    recheck_days: s.recheck_days.unwrap_or(match period {
                        WindowPeriod::Day => 7,
                        WindowPeriod::Week => 14,
                        _ => 31,
                    }),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_bad_values_are_named() {
        let c = ReportsConfig::default();
        let text = toml::to_string(&c).unwrap();
        let back: ReportsConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
        let empty: ReportsConfig = toml::from_str("").unwrap();
        assert_eq!(empty, c);
        assert_eq!(c.validate().unwrap().len(), 5);

        let bad: ReportsConfig = toml::from_str("[week]\nweekday = \"mond\"\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("week.weekday"));
        let bad: ReportsConfig = toml::from_str("[month]\nday = 31\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("month.day 31"));
        let bad: ReportsConfig = toml::from_str("[day]\nat = \"8 am\"\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("day.at"));
        let bad: ReportsConfig = toml::from_str("[day]\nrecheck_days = 0\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("day.recheck_days"));
        let off: ReportsConfig = toml::from_str("[year]\nenabled = false\n").unwrap();
        assert_eq!(off.validate().unwrap().len(), 4);
    }
}
