//! City heavy-pollution warning levels and the regional joint-control state, from daily AQI.
//!
//! A city's level on a day is the level the run of consecutive days with daily AQI above
//! 200 **ending on that day** reaches under the configured [`WarningRules`] (MEP 2017
//! guidance by default, reference sheet §5): blue after 1 day, yellow after 2, orange after
//! 3 with at least one above 300, red after 4 with at least two above 300 or any day at
//! 500. A day without a daily AQI (too few hourly values, an outage) breaks the run.
//!
//! The region is under joint control on a day when at least
//! [`JointControlConfig::min_cities_per_province`] cities of *each* province are above
//! [`JointControlConfig::heavy_above_aqi`] that day (default: one city per province above
//! 200). The day is judged once every air station the service knows has closed it.

use chrono::NaiveDate;
use riverwatch_core::Province;

use crate::config::JointControlConfig;
use crate::standards::warning::{self, WarningLevel, WarningRules};

/// A city's warning on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CityWarning {
    /// The level.
    pub level: WarningLevel,
    /// Consecutive days above the heavy threshold ending on the day.
    pub run_days: u32,
    /// Days of that run above the severe threshold.
    pub severe_days: u32,
}

/// The warning on `date` from a city's daily AQI history (`(date, daily AQI)`, any order;
/// `None` for a day without a daily AQI).
pub fn city_warning(
    rules: &WarningRules,
    history: &[(NaiveDate, Option<u32>)],
    date: NaiveDate,
) -> CityWarning {
    let mut days: Vec<(NaiveDate, Option<u32>)> = history
        .iter()
        .copied()
        .filter(|(d, _)| *d <= date)
        .collect();
    days.sort_by_key(|(d, _)| *d);
    // The consecutive stretch of known days ending on `date`.
    let mut run: Vec<u32> = Vec::new();
    let mut expect = date;
    for (d, aqi) in days.iter().rev() {
        if *d != expect {
            break;
        }
        let Some(aqi) = aqi else { break };
        run.push(*aqi);
        let Some(prev) = expect.pred_opt() else { break };
        expect = prev;
    }
    run.reverse();
    let heavy: Vec<u32> = run
        .iter()
        .rev()
        .take_while(|&&a| a > rules.heavy_above_aqi)
        .copied()
        .collect();
    CityWarning {
        level: warning::level(rules, &run),
        run_days: heavy.len() as u32,
        severe_days: heavy
            .iter()
            .filter(|&&a| a > rules.severe_above_aqi)
            .count() as u32,
    }
}

/// The joint-control state of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JointState {
    /// Whether the region is under joint control.
    pub active: bool,
    /// Heavy cities of Heilongjiang.
    pub heavy_hlj: Vec<String>,
    /// Heavy cities of Jilin.
    pub heavy_jl: Vec<String>,
}

/// Judges one day from the daily AQI of each city: `(station, province, daily AQI)`.
pub fn joint_control(
    rule: &JointControlConfig,
    cities: &[(String, Province, Option<u32>)],
) -> JointState {
    let heavy = |p: Province| -> Vec<String> {
        let mut v: Vec<String> = cities
            .iter()
            .filter(|(_, prov, aqi)| *prov == p && aqi.is_some_and(|a| a > rule.heavy_above_aqi))
            .map(|(id, _, _)| id.clone())
            .collect();
        v.sort();
        v
    };
    let heavy_hlj = heavy(Province::Heilongjiang);
    let heavy_jl = heavy(Province::Jilin);
    let need = rule.min_cities_per_province as usize;
    JointState {
        active: heavy_hlj.len() >= need && heavy_jl.len() >= need,
        heavy_hlj,
        heavy_jl,
    }
}

/// The rule in words, both languages.
pub fn rule_text(rule: &JointControlConfig) -> String {
    format!(
        "两省各≥{}个城市日AQI>{} / ≥{} city per province with daily AQI > {}",
        rule.min_cities_per_province,
        rule.heavy_above_aqi,
        rule.min_cities_per_province,
        rule.heavy_above_aqi
    )
}

/// The name of the warning rules for events: the MEP 2017 guidance unless changed.
pub fn rules_name(rules: &WarningRules) -> String {
    if *rules == WarningRules::default() {
        "重污染天气预警分级 (MEP 2017)".to_string()
    } else {
        "重污染天气预警分级 (configured)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(aqi: &[Option<u32>]) -> Vec<(NaiveDate, Option<u32>)> {
        let start = NaiveDate::from_ymd_opt(2025, 10, 22).unwrap();
        aqi.iter()
            .enumerate()
            .map(|(i, a)| (start + chrono::Duration::days(i as i64), *a))
            .collect()
    }

    fn levels(aqi: &[Option<u32>]) -> Vec<WarningLevel> {
        let h = days(aqi);
        h.iter()
            .map(|(d, _)| city_warning(&WarningRules::default(), &h, *d).level)
            .collect()
    }

    #[test]
    fn every_level_from_day_sequences() {
        use WarningLevel::*;
        // The straw-burning episode: 147, 226, 324, 249, 223, 116.
        let s = [
            Some(147),
            Some(226),
            Some(324),
            Some(249),
            Some(223),
            Some(116),
        ];
        assert_eq!(levels(&s), vec![None, Blue, Yellow, Orange, Orange, None]);
        // Red by four days with two above 300.
        let s = [Some(210), Some(310), Some(320), Some(250)];
        assert_eq!(levels(&s), vec![Blue, Yellow, Orange, Red]);
        // Red by one day reaching 500.
        assert_eq!(levels(&[Some(150), Some(500)]), vec![None, Red]);
        // Yellow, not orange, without a day above 300.
        assert_eq!(
            levels(&[Some(210), Some(220), Some(230)]),
            vec![Blue, Yellow, Yellow]
        );
    }

    #[test]
    fn a_day_without_aqi_or_a_gap_breaks_the_run() {
        use WarningLevel::*;
        assert_eq!(
            levels(&[Some(250), Some(260), Option::None, Some(270)]),
            vec![Blue, Yellow, None, Blue]
        );
        let mut h = days(&[Some(250), Some(260)]);
        let later = h[1].0 + chrono::Duration::days(2);
        h.push((later, Some(270)));
        let w = city_warning(&WarningRules::default(), &h, later);
        assert_eq!((w.level, w.run_days), (Blue, 1));
    }

    #[test]
    fn run_and_severe_days_are_counted() {
        let h = days(&[Some(226), Some(324), Some(249), Some(223)]);
        let w = city_warning(&WarningRules::default(), &h, h[3].0);
        assert_eq!((w.run_days, w.severe_days), (4, 1));
    }

    #[test]
    fn joint_control_needs_heavy_cities_in_both_provinces() {
        let rule = JointControlConfig::default();
        let hlj = |id: &str, a| (id.to_string(), Province::Heilongjiang, Some(a));
        let jl = |id: &str, a| (id.to_string(), Province::Jilin, Some(a));
        let s = joint_control(
            &rule,
            &[hlj("AIR-SC", 226), jl("AIR-YS", 231), jl("AIR-CC", 150)],
        );
        assert!(s.active);
        assert_eq!(s.heavy_jl, vec!["AIR-YS".to_string()]);
        let s = joint_control(&rule, &[hlj("AIR-SC", 226), jl("AIR-YS", 200)]);
        assert!(!s.active, "200 is not above 200");
        let two = JointControlConfig {
            min_cities_per_province: 2,
            ..rule
        };
        let s = joint_control(
            &two,
            &[hlj("AIR-SC", 226), hlj("AIR-HRB", 260), jl("AIR-YS", 231)],
        );
        assert!(!s.active);
    }
}
