//! A quick check of values at one station against the standards in force at a time, without
//! a service (`riverwatch evaluate`): the class of each water parameter and of the section,
//! the AQI of air values, an outfall's discharge limits, a gauge's flood state; and the
//! warning level a run of daily AQI gives.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use riverwatch_core::WaterClass;
use riverwatch_core::registry::{Registry, Station, StationKind};
use riverwatch_core::time::{cst, cst_date};
use serde::Serialize;

use crate::AnalyticsConfig;
use crate::live::{discharge_limits, flood_state_name, station_levels};
use crate::model::ParameterStatus;
use crate::standards::discharge::DischargeLimit;
use crate::standards::gb3838::WaterBody;
use crate::standards::hj633::{AqiLevel, DailySample, HourlySample, Pollutant};
use crate::standards::hydrology::{LevelState, level_state};
use crate::standards::in_force;
use crate::standards::warning::{self, WarningLevel, WarningRules};

/// How air values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Averaging {
    /// 1-hour values: the real-time AQI.
    Hourly,
    /// 24-hour means (O3: the daily maximum 8-hour mean): the daily AQI.
    Daily,
}

/// The result of a check, by station kind. Serialized without a tag: each kind has its own
/// fields.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Check {
    /// A water section.
    Water(WaterCheck),
    /// An air station.
    Air(AirCheck),
    /// An outfall.
    Outfall(OutfallCheck),
    /// A hydrological gauge.
    Gauge(GaugeCheck),
}

/// One water parameter under GB 3838: its value and class, and whether it decides the
/// section's class.
#[derive(Debug, Clone, Serialize)]
pub struct WaterParam {
    /// Code, value, unit, class and the exceedance multiple over Class III (rounded to 4
    /// places).
    #[serde(flatten)]
    pub status: ParameterStatus,
    /// Whether the evaluation method counts it toward the section's class.
    pub in_section_class: bool,
}

/// A water section's values judged under GB 3838 and the 2011 evaluation method.
#[derive(Debug, Clone, Serialize)]
pub struct WaterCheck {
    /// Station id.
    pub station: String,
    /// When the values were observed, China Standard Time.
    pub observed_at: DateTime<FixedOffset>,
    /// The water standard's code.
    pub standard: String,
    /// The evaluation method's code.
    pub method: String,
    /// `river` or `lake` (which TP and TN limits apply).
    pub water_body: &'static str,
    /// Each value.
    pub parameters: Vec<WaterParam>,
    /// The section's class (single-factor); `None` without a class item.
    pub class: Option<WaterClass>,
    /// The station's target class.
    pub target: Option<WaterClass>,
    /// Whether the class meets the target.
    pub compliant: Option<bool>,
    /// The class items at the section's class.
    pub deciding: Vec<String>,
}

/// An air station's values judged under HJ 633.
#[derive(Debug, Clone, Serialize)]
pub struct AirCheck {
    /// Station id.
    pub station: String,
    /// When the values were observed, China Standard Time.
    pub observed_at: DateTime<FixedOffset>,
    /// `hourly` or `daily`.
    pub averaging: Averaging,
    /// The HJ 633 edition's code.
    pub edition: String,
    /// IAQI per pollutant code.
    pub iaqi: BTreeMap<String, u32>,
    /// The AQI.
    pub aqi: Option<u32>,
    /// The AQI level, 1 to 6.
    pub level: Option<u8>,
    /// The level's category in Chinese (优, 良, 轻度污染 …), a name of the standard.
    pub category_zh: Option<String>,
    /// The primary pollutants' codes.
    pub primary: Vec<String>,
    /// Each pollutant's IAQI with its concentration, for display.
    #[serde(skip)]
    pub pollutants: Vec<PollutantIaqi>,
    /// The AQI level.
    #[serde(skip)]
    pub aqi_level: Option<AqiLevel>,
}

/// A pollutant's concentration and IAQI.
#[derive(Debug, Clone, Copy)]
pub struct PollutantIaqi {
    /// The pollutant.
    pub pollutant: Pollutant,
    /// Its concentration as given.
    pub concentration: Option<f64>,
    /// Its IAQI.
    pub iaqi: u32,
}

/// One outfall parameter against its discharge limit.
#[derive(Debug, Clone, Serialize)]
pub struct OutfallParam {
    /// Parameter code.
    pub code: String,
    /// The value.
    pub value: f64,
    /// The limit in force (for the water temperature given, where it matters).
    pub limit: Option<f64>,
    /// Whether the value exceeds it.
    pub exceeds: bool,
    /// (C − L) / L when it exceeds a maximum.
    pub exceedance_multiple: Option<f64>,
}

/// An outfall's values against its discharge limits (GB 18918 Grade 1A and overrides).
#[derive(Debug, Clone, Serialize)]
pub struct OutfallCheck {
    /// Station id.
    pub station: String,
    /// When the values were observed, China Standard Time.
    pub observed_at: DateTime<FixedOffset>,
    /// The standard and grade, e.g. `GB 18918-2002 一级A`.
    pub standard: String,
    /// Each value.
    pub parameters: Vec<OutfallParam>,
    /// Whether no value exceeds its limit.
    pub compliant: bool,
}

/// A gauge's level against its warning and guaranteed levels.
#[derive(Debug, Clone, Serialize)]
pub struct GaugeCheck {
    /// Station id.
    pub station: String,
    /// When the level was observed, China Standard Time.
    pub observed_at: DateTime<FixedOffset>,
    /// The level given, m.
    pub level_m: Option<f64>,
    /// `normal`, `above_warning` or `above_guaranteed`.
    pub state: Option<&'static str>,
    /// The warning level, m.
    pub warning_level_m: Option<f64>,
    /// The guaranteed level, m.
    pub guaranteed_level_m: Option<f64>,
    /// The flood state.
    #[serde(skip)]
    pub flood_state: Option<LevelState>,
}

/// Judges `values` (parameter code, value in the registry's unit) observed at `station` at
/// `at` under the standards in force on that date.
pub fn check(
    station: &Station,
    values: &[(String, f64)],
    at: DateTime<Utc>,
    averaging: Averaging,
    registry: &Registry,
    config: &AnalyticsConfig,
) -> Check {
    let observed_at = at.with_timezone(&cst());
    let value = |code: &str| values.iter().find(|(c, _)| c == code).map(|(_, v)| *v);
    let std = in_force(cst_date(at));
    match station.kind {
        StationKind::Water => {
            let body = station.water_body;
            let pairs: Vec<(&str, f64)> = values.iter().map(|(c, v)| (c.as_str(), *v)).collect();
            let section = std.method.section_class(std.water, &pairs, body);
            let target = station.target_class;
            Check::Water(WaterCheck {
                station: station.id.to_string(),
                observed_at,
                standard: std.water.edition.code.to_string(),
                method: std.method.edition.code.to_string(),
                water_body: match body {
                    WaterBody::River => "river",
                    WaterBody::Lake => "lake",
                },
                parameters: values
                    .iter()
                    .map(|(c, v)| WaterParam {
                        status: ParameterStatus {
                            code: c.clone(),
                            value: *v,
                            unit: registry
                                .parameter(c)
                                .map(|p| p.unit.clone())
                                .unwrap_or_default(),
                            class: std.water.classify(c, *v, body),
                            exceedance_multiple: std
                                .water
                                .exceedance_multiple(c, *v, body)
                                .map(|m| (m * 1e4).round() / 1e4),
                        },
                        in_section_class: std.method.class_items.iter().any(|x| x == c),
                    })
                    .collect(),
                class: section.as_ref().map(|s| s.class),
                target,
                compliant: section.as_ref().zip(target).map(|(s, t)| s.class.meets(t)),
                deciding: section.map(|s| s.deciding).unwrap_or_default(),
            })
        }
        StationKind::Air => {
            let get = |p: Pollutant| value(p.code());
            let result = match averaging {
                Averaging::Hourly => std.aqi.hourly_aqi(&HourlySample {
                    so2_ug_m3: get(Pollutant::So2),
                    no2_ug_m3: get(Pollutant::No2),
                    co_mg_m3: get(Pollutant::Co),
                    o3_ug_m3: get(Pollutant::O3),
                    pm25_ug_m3: get(Pollutant::Pm25),
                    pm10_ug_m3: get(Pollutant::Pm10),
                    so2_24h_ug_m3: None,
                }),
                Averaging::Daily => std.aqi.daily_aqi(&DailySample {
                    so2_ug_m3: get(Pollutant::So2),
                    no2_ug_m3: get(Pollutant::No2),
                    co_mg_m3: get(Pollutant::Co),
                    pm25_ug_m3: get(Pollutant::Pm25),
                    pm10_ug_m3: get(Pollutant::Pm10),
                    o3_8h_max_ug_m3: get(Pollutant::O3),
                    o3_1h_max_ug_m3: None,
                }),
            };
            Check::Air(AirCheck {
                station: station.id.to_string(),
                observed_at,
                averaging,
                edition: result.edition.code.to_string(),
                iaqi: result
                    .iaqi
                    .iter()
                    .map(|(p, i)| (p.code().to_string(), *i))
                    .collect(),
                aqi: result.aqi,
                level: result.level.map(|l| l.number()),
                category_zh: result.level.map(|l| l.category_zh().to_string()),
                primary: result
                    .primary
                    .iter()
                    .map(|p| p.code().to_string())
                    .collect(),
                pollutants: result
                    .iaqi
                    .iter()
                    .map(|(p, i)| PollutantIaqi {
                        pollutant: *p,
                        concentration: get(*p),
                        iaqi: *i,
                    })
                    .collect(),
                aqi_level: result.level,
            })
        }
        StationKind::Outfall => {
            let limits = discharge_limits(station, config);
            let wt = value("WT");
            let parameters: Vec<OutfallParam> = values
                .iter()
                .map(|(c, v)| {
                    let judged = limits.judge(c, *v, wt).ok().flatten();
                    OutfallParam {
                        code: c.clone(),
                        value: *v,
                        limit: judged.map(|e| e.limit).or(match limits.limit_for(c) {
                            Some(DischargeLimit::Max(m)) => Some(*m),
                            _ => None,
                        }),
                        exceeds: judged.is_some(),
                        exceedance_multiple: judged.and_then(|e| e.multiple),
                    }
                })
                .collect();
            Check::Outfall(OutfallCheck {
                station: station.id.to_string(),
                observed_at,
                standard: format!("{} 一级A", limits.edition().code),
                compliant: parameters.iter().all(|p| !p.exceeds),
                parameters,
            })
        }
        StationKind::Hydrology => {
            let levels = station_levels(station, config);
            let level = value("LEVEL");
            let state = level.zip(levels).and_then(|(l, s)| level_state(l, &s));
            Check::Gauge(GaugeCheck {
                station: station.id.to_string(),
                observed_at,
                level_m: level,
                state: state.map(flood_state_name),
                warning_level_m: levels.map(|l| l.warning_level_m),
                guaranteed_level_m: levels.map(|l| l.guaranteed_level_m),
                flood_state: state,
            })
        }
    }
}

/// The warning level of a run of consecutive daily AQI values, and the level each day.
#[derive(Debug, Clone, Serialize)]
pub struct WarningRun {
    /// The daily AQI values, oldest first.
    pub daily_aqi: Vec<u32>,
    /// The level after the last day.
    pub level: WarningLevel,
    /// Consecutive days above the heavy threshold, ending on the last day.
    pub run_days: u32,
    /// Days of that run above the severe threshold.
    pub severe_days: u32,
    /// Each day, in order.
    #[serde(skip)]
    pub days: Vec<WarningDay>,
}

/// One day of a [`WarningRun`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarningDay {
    /// The daily AQI.
    pub daily_aqi: u32,
    /// Above the heavy threshold (200 by default).
    pub heavy: bool,
    /// Above the severe threshold (300 by default).
    pub severe: bool,
    /// The level on that day.
    pub level: WarningLevel,
}

/// The warning levels a run of consecutive daily AQI values (oldest first) gives.
pub fn warning_run(rules: &WarningRules, daily_aqi: &[u32]) -> WarningRun {
    let days: Vec<(NaiveDate, Option<u32>)> = daily_aqi
        .iter()
        .enumerate()
        .map(|(i, a)| (NaiveDate::MIN + chrono::Duration::days(i as i64), Some(*a)))
        .collect();
    let last = days.last().map_or(NaiveDate::MIN, |d| d.0);
    let w = crate::air_warning::city_warning(rules, &days, last);
    debug_assert_eq!(w.level, warning::level(rules, daily_aqi));
    let per_day = warning::level_over_history(rules, daily_aqi);
    WarningRun {
        daily_aqi: daily_aqi.to_vec(),
        level: w.level,
        run_days: w.run_days,
        severe_days: w.severe_days,
        days: daily_aqi
            .iter()
            .zip(per_day)
            .map(|(a, level)| WarningDay {
                daily_aqi: *a,
                heavy: *a > rules.heavy_above_aqi,
                severe: *a > rules.severe_above_aqi,
                level,
            })
            .collect(),
    }
}
