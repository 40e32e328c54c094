//! The `expectations[]` of a manifest, one per scenario event: plume arrivals per section,
//! air episodes (daily means, AQI, warning levels), outfall upsets and floods.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use riverwatch_core::Province;
use riverwatch_core::registry::StationKind;

use super::limits::{GB18918, category_zh, edition_2026_from, gb18918, iaqi_pm};
use super::tables::*;
use super::{
    AirDay, AirExpectation, CityDays, Exceedance, Expectation, FloodExpectation, PlumeExpectation,
    PlumeLoadExpectation, PlumeSectionExpectation, UpsetExpectation, secs, utc,
};
use crate::generate::Generator;
use crate::model::Code;

pub(super) fn plume_expectations(generator: &Generator) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .plumes
        .iter()
        .map(|plume| {
            let def = &plume.def;
            let last_clean = plume
                .upstream_clean
                .iter()
                .filter_map(|id| stations.iter().find(|s| s.station.id == id.as_str()))
                .max_by(|a, b| {
                    a.station
                        .river_km
                        .unwrap_or(0.0)
                        .total_cmp(&b.station.river_km.unwrap_or(0.0))
                })
                .map(|s| s.station.id.to_string());
            let sections: Vec<PlumeSectionExpectation> = plume
                .sections
                .iter()
                .map(|sec| {
                    let st = stations
                        .iter()
                        .find(|s| s.station.id == sec.station.as_str());
                    let peak_secs =
                        plume.release_secs + (plume.peak_hours(sec) * 3600.0).round() as i64;
                    let loads: Vec<PlumeLoadExpectation> = def
                        .loads
                        .iter()
                        .enumerate()
                        .map(|(i, l)| PlumeLoadExpectation {
                            parameter: l.parameter.clone(),
                            peak_increment: round6(plume.peak_increment(sec, i)),
                        })
                        .collect();
                    let front = loads
                        .first()
                        .and_then(|l| plume.span_above(sec, 0, l.peak_increment * 0.1))
                        .map(|(a, _)| utc(secs(a)));
                    let emergency = st.and_then(|st| {
                        st.emergency.first().map(|(a, b)| {
                            (utc(secs(*a)), utc(secs(*b)), st.emergency_interval_secs)
                        })
                    });
                    PlumeSectionExpectation {
                        station: sec.station.clone(),
                        province: st
                            .map(|s| s.station.province.code().to_string())
                            .unwrap_or_default(),
                        river: sec.river.clone(),
                        km: sec.km,
                        distance_km: round6(sec.distance_km),
                        travel_hours: round6(sec.travel_hours),
                        spread_hours: round6(sec.spread_hours),
                        flow_m3s: sec.flow_m3s,
                        expected_arrival_utc: front,
                        expected_peak_utc: utc(secs(peak_secs)),
                        loads,
                        emergency,
                    }
                })
                .collect();
            let first = sections.first().map(|s| s.station.clone());
            Expectation::Plume(PlumeExpectation {
                id: def.id.clone(),
                cause_zh: def.cause_zh.clone(),
                cause_en: def.cause_en.clone(),
                river: def.river.clone(),
                km: def.km,
                province: def.province.clone(),
                release_utc: utc(def.release_at),
                release_hours: def.release_hours,
                spread_initial_hours: def.spread_initial_hours,
                spread_per_hour: def.spread_per_hour,
                reaches: def.reaches.clone(),
                origin_between: (last_clean, first),
                clean_upstream: plume.upstream_clean.clone(),
                sections,
            })
        })
        .collect()
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The highest warning level a city's days reach: each run of consecutive heavy days is
/// judged on its own days (the severe days and the day reaching 500 must lie in the run).
pub(super) fn warning_level(daily_aqi: &[u32]) -> &'static str {
    let w = WARNING;
    let mut best = 0;
    let (mut days, mut severe, mut max) = (0, 0, 0);
    for &aqi in daily_aqi {
        if aqi > w.heavy_above_aqi {
            days += 1;
            severe += u32::from(aqi > w.severe_above_aqi);
            max = max.max(aqi);
        } else {
            (days, severe, max) = (0, 0, 0);
        }
        let level = if days == 0 {
            0
        } else if max >= w.red_any_day_aqi || (days >= w.red_days && severe >= w.red_severe_days) {
            4
        } else if days >= w.orange_days && severe >= w.orange_severe_days {
            3
        } else if days >= w.yellow_days {
            2
        } else if days >= w.blue_days {
            1
        } else {
            0
        };
        best = best.max(level);
    }
    ["none", "blue", "yellow", "orange", "red"][best]
}

pub(super) fn air_expectations(
    generator: &Generator,
    means: &BTreeMap<(usize, usize, NaiveDate), (f64, u32)>,
) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .episodes
        .iter()
        .map(|ep| {
            let mut cities = Vec::new();
            let mut heavy_by_day: BTreeMap<NaiveDate, (bool, bool)> = BTreeMap::new();
            for (si, st) in stations.iter().enumerate() {
                if st.station.kind != StationKind::Air || !ep.covers(st.station.id.as_str()) {
                    continue;
                }
                let (Some(p25), Some(p10)) = (st.param_index("PM25"), st.param_index("PM10"))
                else {
                    continue;
                };
                let mut days = Vec::new();
                for (&(s, p, date), &(m25, _)) in
                    means.range((si, p25, NaiveDate::MIN)..=(si, p25, NaiveDate::MAX))
                {
                    debug_assert_eq!((s, p), (si, p25));
                    let Some(&(m10, _)) = means.get(&(si, p10, date)) else {
                        continue;
                    };
                    let aqi = iaqi_pm(Code::Pm25, m25, date)
                        .max(iaqi_pm(Code::Pm10, m10, date))
                        .ceil() as u32;
                    days.push(AirDay {
                        date,
                        pm25_24h: (m25 * 10.0).round() / 10.0,
                        pm10_24h: (m10 * 10.0).round() / 10.0,
                        aqi,
                        edition: if date >= edition_2026_from() {
                            "HJ 633-2026"
                        } else {
                            "HJ 633-2012"
                        }
                        .into(),
                        category_zh: category_zh(aqi).into(),
                    });
                }
                let heavy = WARNING.heavy_above_aqi;
                let above200: Vec<bool> = days.iter().map(|d| d.aqi > heavy).collect();
                let n300 = days
                    .iter()
                    .filter(|d| d.aqi > WARNING.severe_above_aqi)
                    .count() as u32;
                let daily_aqi: Vec<u32> = days.iter().map(|d| d.aqi).collect();
                let mut longest = 0;
                let mut cur = 0;
                for &d in &above200 {
                    cur = if d { cur + 1 } else { 0 };
                    longest = longest.max(cur);
                }
                for d in days.iter().filter(|d| d.aqi > heavy) {
                    let e = heavy_by_day.entry(d.date).or_default();
                    match st.station.province {
                        Province::Heilongjiang => e.0 = true,
                        Province::Jilin => e.1 = true,
                    }
                }
                cities.push(CityDays {
                    station: st.station.id.to_string(),
                    city_zh: st.station.city_zh.clone(),
                    province: st.station.province.code().into(),
                    days_above_200: above200.iter().filter(|&&b| b).count() as u32,
                    days_above_300: n300,
                    longest_run_above_200: longest,
                    warning_level: warning_level(&daily_aqi).into(),
                    days,
                });
            }
            Expectation::AirEpisode(AirExpectation {
                id: ep.def.id.clone(),
                cause_zh: ep.def.cause_zh.clone(),
                cause_en: ep.def.cause_en.clone(),
                cities,
                joint_heavy_days: heavy_by_day
                    .into_iter()
                    .filter(|(_, (h, j))| *h && *j)
                    .map(|(d, _)| d)
                    .collect(),
            })
        })
        .collect()
}

pub(super) fn upset_expectations(generator: &Generator) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .upsets
        .iter()
        .map(|u| {
            let def = &u.def;
            let st = stations
                .iter()
                .find(|s| s.station.id == def.station.as_str());
            let standard = st
                .and_then(|s| s.station.discharge_standard.clone())
                .unwrap_or_else(|| GB18918.into());
            let exceeding = def
                .peak
                .iter()
                .filter_map(|(code, &v)| {
                    let limit = st
                        .and_then(|s| s.station.discharge_limits.get(code).copied())
                        .or_else(|| gb18918(code, false))?;
                    (v > limit).then(|| (code.clone(), limit))
                })
                .collect();
            let (from, to) = u.plateau();
            let end = to + chrono::Duration::seconds((def.ramp_down_hours * 3600.0) as i64);
            Expectation::OutfallUpset(UpsetExpectation {
                station: def.station.clone(),
                cause_zh: def.cause_zh.clone(),
                cause_en: def.cause_en.clone(),
                start_utc: utc(def.start),
                plateau_from_utc: utc(from),
                plateau_to_utc: utc(to),
                end_utc: utc(end),
                peak: def.peak.clone(),
                exceeding,
                standard,
            })
        })
        .collect()
}

pub(super) fn flood_expectations(
    generator: &Generator,
    exceedances: &[Exceedance],
) -> Vec<Expectation> {
    let stations = generator.stations();
    generator
        .world()
        .floods
        .iter()
        .filter_map(|f| {
            let st = stations
                .iter()
                .find(|s| s.station.id == f.def.station.as_str())?;
            let warning = st.station.warning_level_m?;
            let above: Vec<&Exceedance> = exceedances
                .iter()
                .filter(|e| e.station == f.def.station && e.check == "warning_level")
                .collect();
            let peak = above
                .iter()
                .max_by(|a, b| a.peak_value.total_cmp(&b.peak_value));
            Some(Expectation::Flood(FloodExpectation {
                station: f.def.station.clone(),
                cause_zh: f.def.cause_zh.clone(),
                cause_en: f.def.cause_en.clone(),
                warning_level_m: warning,
                guaranteed_level_m: st.station.guaranteed_level_m,
                planned_peak_level_m: round6(warning + f.def.peak_above_warning_m),
                planned_peak_utc: utc(secs(f.peak_secs())),
                observed_peak_level_m: peak.map(|e| e.peak_value),
                observed_peak_utc: peak.map(|e| e.peak_utc.clone()),
                above_warning: match (above.first(), above.last()) {
                    (Some(a), Some(b)) => Some((a.from_utc.clone(), b.to_utc.clone())),
                    _ => None,
                },
            }))
        })
        .collect()
}
