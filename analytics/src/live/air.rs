//! The live state of one air-quality station: the real-time (hourly) AQI of each hour as
//! its values arrive, and the debounced AQI level.
//!
//! Values are gathered per clock hour. An hour is judged when a value of a later hour
//! arrives, or at once when it holds hourly means (HJ 212 CN 2061) of every pollutant the
//! station reports, so a replay and a real-time run judge the same hours the same way. The
//! HJ 633 edition is the one in force on the hour's date (China Standard Time).

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, DurationRound, Utc};
use riverwatch_core::Period;
use riverwatch_core::events::WindowPeriod;
use serde::{Deserialize, Serialize};

use super::debounce::{Leveled, Streaks};
use super::{AqiFinding, Finding, FindingKind};
use crate::config::AqiDebounce;
use crate::model::AqiRecord;
use crate::standards::hj633::{AqiLevel, HourlySample, Pollutant};
use crate::standards::in_force;

/// The values of one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HourAcc {
    start: DateTime<Utc>,
    /// Sum and count per pollutant.
    sums: BTreeMap<Pollutant, (f64, u32)>,
    /// Whether every value was an hourly mean.
    hourly_means: bool,
}

/// The live state of one air station.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AirState {
    hour: Option<HourAcc>,
    /// Hourly SO2 means of the last 24 hours, for the HJ 633-2012 rule above 800 µg/m³.
    so2_hours: VecDeque<(DateTime<Utc>, f64)>,
    level: Option<Leveled<AqiLevel>>,
}

/// What one observation of an air station gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AirOutcome {
    /// Events to raise.
    pub findings: Vec<Finding>,
    /// Hours judged by this observation (normally none or one).
    pub hours: Vec<AqiRecord>,
}

/// Floors a time to its clock hour.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::hours(1)).unwrap_or(t)
}

impl AirState {
    /// Feeds the valid pollutant values of one observation at `at`. `reports` is the set
    /// of pollutants the station reports. Values of an hour already judged are ignored
    /// here (the window jobs re-evaluate that hour).
    pub fn observe(
        &mut self,
        station: &str,
        at: DateTime<Utc>,
        values: &[(Pollutant, f64, Period)],
        reports: &[Pollutant],
        debounce: &AqiDebounce,
        now: DateTime<Utc>,
    ) -> AirOutcome {
        let mut out = AirOutcome::default();
        let hour = hour_of(at);
        if let Some(acc) = &self.hour
            && hour > acc.start
            && let Some(acc) = self.hour.take()
        {
            self.judge(station, acc, debounce, now, &mut out);
        }
        if self.hour.as_ref().is_some_and(|acc| hour < acc.start) {
            return out;
        }
        let acc = self.hour.get_or_insert_with(|| HourAcc {
            start: hour,
            sums: BTreeMap::new(),
            hourly_means: true,
        });
        for &(p, v, period) in values {
            let e = acc.sums.entry(p).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
            acc.hourly_means &= period == Period::Hour;
        }
        let complete = acc.hourly_means
            && !reports.is_empty()
            && reports.iter().all(|p| acc.sums.contains_key(p));
        if complete && let Some(acc) = self.hour.take() {
            self.judge(station, acc, debounce, now, &mut out);
        }
        out
    }

    /// Judges an hour that is over: its AQI, and the level with debounce.
    fn judge(
        &mut self,
        station: &str,
        acc: HourAcc,
        debounce: &AqiDebounce,
        now: DateTime<Utc>,
        out: &mut AirOutcome,
    ) {
        let mean = |p: Pollutant| {
            acc.sums
                .get(&p)
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| s / f64::from(*n))
        };
        if let Some(so2) = mean(Pollutant::So2) {
            self.so2_hours.push_back((acc.start, so2));
        }
        let day_ago = acc.start - chrono::Duration::hours(23);
        while self.so2_hours.front().is_some_and(|(t, _)| *t < day_ago) {
            self.so2_hours.pop_front();
        }
        let so2_24h = (!self.so2_hours.is_empty()).then(|| {
            self.so2_hours.iter().map(|(_, v)| v).sum::<f64>() / self.so2_hours.len() as f64
        });
        let sample = HourlySample {
            so2_ug_m3: mean(Pollutant::So2),
            no2_ug_m3: mean(Pollutant::No2),
            co_mg_m3: mean(Pollutant::Co),
            o3_ug_m3: mean(Pollutant::O3),
            pm25_ug_m3: mean(Pollutant::Pm25),
            pm10_ug_m3: mean(Pollutant::Pm10),
            so2_24h_ug_m3: so2_24h,
        };
        let date = riverwatch_core::time::cst_date(acc.start);
        let std = in_force(date);
        let result = std.aqi.hourly_aqi(&sample);
        let record = AqiRecord::from_result(
            station,
            WindowPeriod::Hour,
            acc.start,
            &result,
            Pollutant::ALL
                .iter()
                .filter_map(|&p| mean(p).map(|v| (p, v)))
                .collect(),
            now,
        );
        if let Some(aqi) = result.aqi {
            let raw = AqiLevel::from_aqi(aqi);
            let sticky = AqiLevel::from_aqi(aqi.saturating_add(debounce.hysteresis_aqi));
            let streaks = Streaks {
                fire_after: debounce.fire_after_hours,
                clear_after: debounce.clear_after_hours,
            };
            match &mut self.level {
                None => self.level = Some(Leveled::new(raw)),
                Some(level) => {
                    if let Some(t) = level.observe(raw, sticky, streaks) {
                        out.findings.push(Finding {
                            station: station.to_string(),
                            observed_at: acc.start,
                            kind: FindingKind::AqiLevel(AqiFinding {
                                from: t.from,
                                to: t.to,
                                aqi,
                                primary: result.primary.clone(),
                                edition: result.edition.code.to_string(),
                            }),
                        });
                    }
                }
            }
        }
        out.hours.push(record);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const DEB: AqiDebounce = AqiDebounce {
        fire_after_hours: 1,
        clear_after_hours: 2,
        hysteresis_aqi: 5,
    };

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 10, 23, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn frame(pm25: f64) -> Vec<(Pollutant, f64, Period)> {
        vec![
            (Pollutant::Pm25, pm25, Period::Hour),
            (Pollutant::Pm10, pm25 / 0.7, Period::Hour),
            (Pollutant::So2, 10.0, Period::Hour),
            (Pollutant::No2, 20.0, Period::Hour),
            (Pollutant::Co, 0.8, Period::Hour),
            (Pollutant::O3, 40.0, Period::Hour),
        ]
    }

    #[test]
    fn an_hour_of_hourly_means_is_judged_at_once() {
        let mut s = AirState::default();
        let o = s.observe("AIR-SC", t(0), &frame(86.0), &Pollutant::ALL, &DEB, t(0));
        assert_eq!(o.hours.len(), 1);
        // Worked example of the reference sheet: PM2.5 86 µg/m³ → IAQI 114 (HJ 633-2012).
        assert_eq!(o.hours[0].aqi, Some(114));
        assert_eq!(o.hours[0].edition, "HJ 633-2012");
        assert_eq!(o.hours[0].primary, vec!["PM25".to_string()]);
        // The first hour sets the level without an event.
        assert!(o.findings.is_empty());
        let o = s.observe("AIR-SC", t(1), &frame(160.0), &Pollutant::ALL, &DEB, t(1));
        let FindingKind::AqiLevel(f) = &o.findings[0].kind else {
            panic!()
        };
        assert_eq!(
            (f.from, f.to),
            (AqiLevel::LightlyPolluted, AqiLevel::HeavilyPolluted)
        );
    }

    #[test]
    fn samples_are_averaged_and_judged_when_the_hour_is_over() {
        let mut s = AirState::default();
        let half = t(0) + chrono::Duration::minutes(30);
        let sample = |v| vec![(Pollutant::Pm25, v, Period::Sample)];
        assert!(
            s.observe(
                "AIR-SC",
                t(0),
                &sample(80.0),
                &[Pollutant::Pm25],
                &DEB,
                t(0)
            )
            .hours
            .is_empty()
        );
        assert!(
            s.observe(
                "AIR-SC",
                half,
                &sample(92.0),
                &[Pollutant::Pm25],
                &DEB,
                t(0)
            )
            .hours
            .is_empty()
        );
        let o = s.observe(
            "AIR-SC",
            t(1),
            &sample(10.0),
            &[Pollutant::Pm25],
            &DEB,
            t(1),
        );
        assert_eq!(o.hours.len(), 1);
        assert_eq!(o.hours[0].start, t(0));
        assert_eq!(o.hours[0].concentrations.get("PM25"), Some(&86.0));
        assert_eq!(o.hours[0].aqi, Some(114));
    }

    #[test]
    fn the_level_does_not_flap_around_a_boundary() {
        let mut s = AirState::default();
        let mut changes = 0;
        // PM2.5 115 µg/m³ is IAQI 150 exactly; 116 is 151 (level 4).
        for (h, v) in [110.0, 116.0, 114.0, 117.0, 113.0, 116.0]
            .into_iter()
            .enumerate()
        {
            let o = s.observe(
                "AIR-SC",
                t(h as i64),
                &frame(v),
                &Pollutant::ALL,
                &DEB,
                t(0),
            );
            changes += o.findings.len();
        }
        assert_eq!(changes, 1);
    }

    #[test]
    fn the_edition_follows_the_hour_date() {
        let mut s = AirState::default();
        let before = Utc.with_ymd_and_hms(2026, 2, 28, 15, 0, 0).unwrap(); // 23:00 CST
        let o = s.observe(
            "AIR-SC",
            before,
            &frame(86.0),
            &Pollutant::ALL,
            &DEB,
            before,
        );
        assert_eq!(o.hours[0].edition, "HJ 633-2012");
        let after = before + chrono::Duration::hours(1); // 2026-03-01 00:00 CST
        let o = s.observe("AIR-SC", after, &frame(86.0), &Pollutant::ALL, &DEB, after);
        assert_eq!(o.hours[0].edition, "HJ 633-2026");
        // The worked example under the 2026 table: 124.
        assert_eq!(o.hours[0].aqi, Some(124));
    }
}
