//! Windowed evaluations with polars: hourly, daily and monthly means per station and
//! parameter, the valid-data rate (有效数据率), the daily and monthly class of each section
//! per the evaluation method, and the hourly and daily AQI of each air station.
//!
//! [`compute`] is pure over a slice of readings (the service reads them from the store,
//! SQLite or InfluxDB, and runs [`compute`] in `spawn_blocking`; the benchmark runs it over
//! a year): [`frame`] does the aggregations, this module turns the means into evaluations,
//! [`tracker`] says when windows close, and [`spans`] evaluates the weeks, quarters and years
//! of reports from the stored days.
//!
//! Rules chosen where the texts leave a choice (also in the README):
//! - **valid-data rate** of a day = Σ over the station's parameters of min(valid readings,
//!   expected readings) ÷ (expected readings × parameters), expected = 86 400 s ÷ the
//!   reporting interval; of a month the same summed over its days; of an hour the share of
//!   the station's parameters with a value. A window's class *counts* (compliance, ledger)
//!   when the rate reaches `completeness.min_valid_rate`.
//! - **daily AQI** (HJ 633 §5.1 / HJ 663): 24-hour means of SO2, NO2, PM10, CO and PM2.5
//!   from at least `min_hours_daily_mean` hourly values; O3 from both the day's maximum
//!   1-hour mean and its maximum 8-hour moving mean over the 17 windows ending 08:00–24:00
//!   within the CST day, each window with at least `min_hours_o3_8h` hours, the maximum
//!   needing `min_o3_8h_windows` valid windows unless it exceeds the GB 3095 Grade II limit
//!   (160 µg/m³) ([`crate::standards::hj663`]); the record keeps the count of valid windows.
//! - **hourly AQI**: the hour's means; SO2 above 800 µg/m³ under HJ 633-2012 takes the
//!   24-hour SO2 mean of the hours available in the preceding 24.

pub mod frame;
pub mod spans;
pub mod tracker;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::events::WindowPeriod;
use riverwatch_core::registry::{Registry, Station, StationKind};
use riverwatch_core::{Period, Reading, WaterClass};

use crate::config::AnalyticsConfig;
use crate::model::{AqiRecord, ParameterMean, WindowEvaluation};
use crate::standards::gb3095::{Averaging, Grade};
use crate::standards::hj633::{DailySample, HourlySample, Pollutant};
use crate::standards::hj663::{self, O3Validity};
use crate::standards::{InForce, in_force};
use frame::{
    Aggregates, Mean, Row, date_of_day, day_of_date, hour_index, hour_start, month_of_date,
};
pub use tracker::{Closed, Cursor, Month};

/// A window computation failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// polars refused the frame (a bug, or memory).
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// The shutdown token fired between stages.
    #[error("cancelled by shutdown")]
    Cancelled,
}

/// Which windows to evaluate for one station.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Station id.
    pub station: String,
    /// Hours `[from, to)` to evaluate (hours without data are skipped).
    pub hours: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// CST days.
    pub days: Vec<NaiveDate>,
    /// CST months.
    pub months: Vec<Month>,
}

impl Request {
    /// The readings the request needs: `[from, to)` in observation time (hourly AQI
    /// looks 23 hours back for the 24-hour SO2 mean).
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        if let Some((a, b)) = self.hours {
            spans.push((a - chrono::Duration::hours(23), b));
        }
        for d in &self.days {
            let s = crate::describe::day_start(*d);
            spans.push((s, s + chrono::Duration::days(1)));
        }
        for m in &self.months {
            spans.push((m.start(), m.end()));
        }
        let from = spans.iter().map(|s| s.0).min()?;
        let to = spans.iter().map(|s| s.1).max()?;
        Some((from, to))
    }
}

/// The evaluations of a computation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    /// Hourly evaluations (hours with data).
    pub hourly: Vec<WindowEvaluation>,
    /// Daily evaluations.
    pub daily: Vec<WindowEvaluation>,
    /// Monthly evaluations.
    pub monthly: Vec<WindowEvaluation>,
    /// Hourly AQI of air stations.
    pub aqi_hourly: Vec<AqiRecord>,
    /// Daily AQI of air stations.
    pub aqi_daily: Vec<AqiRecord>,
}

/// What the computation needs to know about the network.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The registry.
    pub registry: &'a Registry,
    /// The settings.
    pub config: &'a AnalyticsConfig,
    /// Stamped as the computation time.
    pub now: DateTime<Utc>,
}

impl Context<'_> {
    /// The expected reporting interval of a station, seconds.
    pub fn interval_secs(&self, station: &Station) -> u32 {
        self.config
            .completeness
            .expected_interval_secs
            .get(station.id.as_str())
            .copied()
            .unwrap_or(station.report_interval_secs)
            .max(1)
    }
}

/// Evaluates the requested windows from `readings` (any order; invalid readings and daily
/// means from data loggers are left out). `cancelled` is checked between stages.
///
/// # Errors
/// [`WindowError::Cancelled`] when `cancelled` turned true, or a polars failure.
pub fn compute(
    ctx: &Context<'_>,
    readings: &[Reading],
    requests: &[Request],
    cancelled: &dyn Fn() -> bool,
) -> Result<Results, WindowError> {
    let stations: Vec<Option<&Station>> = requests
        .iter()
        .map(|r| ctx.registry.station(&r.station))
        .collect();
    let index: HashMap<&str, u32> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.station.as_str(), i as u32))
        .collect();
    let params: HashMap<&str, u32> = ctx
        .registry
        .parameters()
        .iter()
        .enumerate()
        .map(|(i, p)| (p.code.as_str(), i as u32))
        .collect();
    let rows: Vec<Row> = readings
        .iter()
        .filter(|r| r.is_valid() && r.period != Period::Day)
        .filter_map(|r| {
            Some(Row {
                station: *index.get(r.station.as_str())?,
                param: *params.get(r.parameter.as_str())?,
                at: r.observed_at,
                value: r.value,
            })
        })
        .collect();
    let hourly_for: Vec<bool> = requests
        .iter()
        .zip(&stations)
        .map(|(r, s)| {
            r.hours.is_some()
                || (s.is_some_and(|s| s.kind == StationKind::Air) && !r.days.is_empty())
        })
        .collect();
    let agg = frame::aggregate(&rows, &hourly_for, cancelled)?;
    let mut out = Results::default();
    for (i, (req, station)) in requests.iter().zip(&stations).enumerate() {
        let Some(station) = station else { continue };
        let st = StationCtx {
            ctx,
            station,
            index: i as u32,
            params: station
                .parameters
                .iter()
                .filter_map(|c| params.get(c.as_str()).map(|&p| (c.as_str(), p)))
                .collect(),
            agg: &agg,
        };
        if let Some((from, to)) = req.hours {
            let mut h = hour_index(from);
            while h < hour_index(to) {
                st.hour(h, &mut out);
                h += 1;
            }
        }
        for &d in &req.days {
            st.day(d, &mut out);
        }
        if cancelled() {
            return Err(WindowError::Cancelled);
        }
        for &m in &req.months {
            st.month(m, &mut out);
        }
    }
    Ok(out)
}

struct StationCtx<'a> {
    ctx: &'a Context<'a>,
    station: &'a Station,
    index: u32,
    params: Vec<(&'a str, u32)>,
    agg: &'a Aggregates,
}

/// Readings a station should deliver per parameter and CST day.
pub(crate) fn expected_per_day(ctx: &Context<'_>, station: &Station) -> u32 {
    (86_400 / ctx.interval_secs(station)).max(1)
}

/// A window's evaluation from its parameter means and reading counts: the completeness, and
/// for a water section its class, deciding items, main pollutants and compliance.
pub(crate) fn evaluation(
    ctx: &Context<'_>,
    station: &Station,
    period: WindowPeriod,
    start: DateTime<Utc>,
    means: &[(&str, Mean)],
    valid: u32,
    expected: u32,
) -> WindowEvaluation {
    let std = in_force(riverwatch_core::time::cst_date(start));
    let completeness = if expected == 0 {
        0.0
    } else {
        (f64::from(valid) / f64::from(expected)).min(1.0)
    };
    let sufficient = completeness >= ctx.config.completeness.min_valid_rate;
    let mut e = WindowEvaluation {
        station: station.id.to_string(),
        period,
        start,
        revision: 0,
        computed_at: ctx.now,
        standard: String::new(),
        class: None,
        target: station.target_class,
        compliant: None,
        deciding: Vec::new(),
        main_pollutants: Vec::new(),
        completeness: (completeness * 1e6).round() / 1e6,
        valid_readings: valid,
        expected_readings: expected,
        sufficient,
        parameters: Vec::new(),
    };
    match station.kind {
        StationKind::Water => water(station, &std, means, &mut e),
        StationKind::Air => {
            e.standard = std.aqi.edition.code.to_string();
            e.parameters = plain(means);
        }
        StationKind::Outfall => {
            e.standard = crate::standards::discharge::GB_18918_2002_GRADE_1A
                .edition
                .code
                .to_string();
            e.parameters = plain(means);
        }
        StationKind::Hydrology => {
            e.standard = "station levels".to_string();
            e.parameters = plain(means);
        }
    }
    e
}

fn water(station: &Station, std: &InForce, means: &[(&str, Mean)], e: &mut WindowEvaluation) {
    let body = station.water_body;
    e.standard = format!("{}; {}", std.water.edition.code, std.method.edition.code);
    e.parameters = means
        .iter()
        .map(|(code, m)| ParameterMean {
            code: (*code).to_string(),
            mean: round(m.mean),
            count: m.count,
            class: std.water.classify(code, m.mean, body),
            exceedance_multiple: std.water.exceedance_multiple(code, m.mean, body).map(round),
            in_section_class: std.method.class_items.iter().any(|c| c == code),
        })
        .collect();
    let values: Vec<(&str, f64)> = means.iter().map(|(c, m)| (*c, m.mean)).collect();
    if let Some(sc) = std.method.section_class(std.water, &values, body) {
        e.class = Some(sc.class);
        e.deciding = sc.deciding;
        e.main_pollutants = sc.main_pollutants;
        e.compliant = e.target.map(|t| sc.class.meets(t));
    }
}

impl StationCtx<'_> {
    fn per_day_expected(&self) -> u32 {
        expected_per_day(self.ctx, self.station)
    }

    fn evaluation(
        &self,
        period: WindowPeriod,
        start: DateTime<Utc>,
        means: Vec<(&str, Mean)>,
        valid: u32,
        expected: u32,
    ) -> WindowEvaluation {
        evaluation(
            self.ctx,
            self.station,
            period,
            start,
            &means,
            valid,
            expected,
        )
    }

    fn hour(&self, h: i64, out: &mut Results) {
        let means: Vec<(&str, Mean)> = self
            .params
            .iter()
            .filter_map(|&(c, p)| Some((c, *self.agg.hourly.get(&(self.index, p, h))?)))
            .collect();
        if means.is_empty() {
            return;
        }
        let start = hour_start(h);
        let n = self.params.len() as u32;
        out.hourly.push(self.evaluation(
            WindowPeriod::Hour,
            start,
            means.clone(),
            means.len() as u32,
            n,
        ));
        if self.station.kind == StationKind::Air {
            out.aqi_hourly.push(self.hourly_aqi(h, &means));
        }
    }

    fn hourly_aqi(&self, h: i64, means: &[(&str, Mean)]) -> AqiRecord {
        let get = |p: Pollutant| {
            means
                .iter()
                .find(|(c, _)| *c == p.code())
                .map(|(_, m)| m.mean)
        };
        let so2_param = self
            .params
            .iter()
            .find(|(c, _)| *c == Pollutant::So2.code())
            .map(|&(_, p)| p);
        let so2_24h = so2_param.and_then(|p| {
            let v: Vec<f64> = (h - 23..=h)
                .filter_map(|x| self.agg.hourly.get(&(self.index, p, x)).map(|m| m.mean))
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        });
        let sample = HourlySample {
            so2_ug_m3: get(Pollutant::So2),
            no2_ug_m3: get(Pollutant::No2),
            co_mg_m3: get(Pollutant::Co),
            o3_ug_m3: get(Pollutant::O3),
            pm25_ug_m3: get(Pollutant::Pm25),
            pm10_ug_m3: get(Pollutant::Pm10),
            so2_24h_ug_m3: so2_24h,
        };
        let start = hour_start(h);
        let std = in_force(riverwatch_core::time::cst_date(start));
        let result = std.aqi.hourly_aqi(&sample);
        AqiRecord::from_result(
            self.station.id.as_str(),
            WindowPeriod::Hour,
            start,
            &result,
            Pollutant::ALL
                .iter()
                .filter_map(|&p| get(p).map(|v| (p, v)))
                .collect(),
            self.ctx.now,
        )
    }

    fn day(&self, date: NaiveDate, out: &mut Results) {
        let d = day_of_date(date);
        let per_param = self.per_day_expected();
        let means: Vec<(&str, Mean)> = self
            .params
            .iter()
            .filter_map(|&(c, p)| Some((c, *self.agg.daily.get(&(self.index, p, d))?)))
            .collect();
        let valid: u32 = self
            .params
            .iter()
            .map(|&(_, p)| {
                self.agg
                    .daily_readings
                    .get(&(self.index, p, d))
                    .copied()
                    .unwrap_or(0)
                    .min(per_param)
            })
            .sum();
        let expected = per_param * self.params.len() as u32;
        let start = crate::describe::day_start(date);
        out.daily
            .push(self.evaluation(WindowPeriod::Day, start, means, valid, expected));
        if self.station.kind == StationKind::Air {
            out.aqi_daily.push(self.daily_aqi(date));
        }
    }

    fn daily_aqi(&self, date: NaiveDate) -> AqiRecord {
        let c = &self.ctx.config.completeness;
        let d = day_of_date(date);
        let param = |p: Pollutant| {
            self.params
                .iter()
                .find(|(c, _)| *c == p.code())
                .map(|&(_, i)| i)
        };
        let mut insufficient = Vec::new();
        let mut mean24 = |p: Pollutant| -> Option<f64> {
            let m = self.agg.daily.get(&(self.index, param(p)?, d))?;
            if m.count >= c.min_hours_daily_mean {
                Some(m.mean)
            } else {
                insufficient.push(p.code().to_string());
                None
            }
        };
        let so2 = mean24(Pollutant::So2);
        let no2 = mean24(Pollutant::No2);
        let pm10 = mean24(Pollutant::Pm10);
        let co = mean24(Pollutant::Co);
        let pm25 = mean24(Pollutant::Pm25);
        // O3: the hourly means of the day, then its maximum 1-hour mean and its maximum
        // 8-hour moving mean with HJ 663's validity rule.
        let start = crate::describe::day_start(date);
        let first_hour = hour_index(start);
        let o3: Vec<Option<f64>> = (0..24)
            .map(|k| {
                param(Pollutant::O3)
                    .and_then(|p| self.agg.hourly.get(&(self.index, p, first_hour + k)))
                    .map(|m| m.mean)
            })
            .collect();
        let std = in_force(date);
        let o3_day = hj663::o3_daily(
            &o3,
            O3Validity {
                min_hours_per_window: c.min_hours_o3_8h,
                min_windows: c.min_o3_8h_windows,
            },
            std.ambient
                .limit(Pollutant::O3, Averaging::DailyMax8h, Grade::II),
        );
        let o3_8h = o3_day.max_8h_counted();
        let any_o3 = o3.iter().any(Option::is_some);
        if o3_8h.is_none() && any_o3 {
            insufficient.push("O3_8H".to_string());
        }
        let o3_1h_max = o3_day.max_1h_ug_m3;
        let sample = DailySample {
            so2_ug_m3: so2,
            no2_ug_m3: no2,
            co_mg_m3: co,
            pm25_ug_m3: pm25,
            pm10_ug_m3: pm10,
            o3_8h_max_ug_m3: o3_8h,
            o3_1h_max_ug_m3: o3_1h_max,
        };
        let result = std.aqi.daily_aqi(&sample);
        let mut concentrations: Vec<(Pollutant, f64)> = [
            (Pollutant::So2, so2),
            (Pollutant::No2, no2),
            (Pollutant::Pm10, pm10),
            (Pollutant::Co, co),
            (Pollutant::Pm25, pm25),
        ]
        .into_iter()
        .filter_map(|(p, v)| Some((p, v?)))
        .collect();
        let mut over = Vec::new();
        for &(p, v) in &concentrations {
            if std.ambient.complies(p, Averaging::Mean24h, Grade::II, v) == Some(false) {
                over.push(p.code().to_string());
            }
        }
        if let Some(v) = o3_8h
            && std
                .ambient
                .complies(Pollutant::O3, Averaging::DailyMax8h, Grade::II, v)
                == Some(false)
        {
            over.push("O3_8H".to_string());
        }
        concentrations.sort_by_key(|(p, _)| *p);
        let mut rec = AqiRecord::from_result(
            self.station.id.as_str(),
            WindowPeriod::Day,
            start,
            &result,
            concentrations,
            self.ctx.now,
        );
        if let Some(v) = o3_8h {
            rec.concentrations.insert("O3_8H".into(), round(v));
        }
        if let Some(v) = o3_1h_max {
            rec.concentrations.insert("O3_1H_MAX".into(), round(v));
        }
        for v in rec.concentrations.values_mut() {
            *v = round(*v);
        }
        rec.insufficient = insufficient;
        rec.o3_8h_windows = any_o3.then_some(o3_day.valid_8h_windows);
        rec.over_gb3095 = over;
        rec
    }

    fn month(&self, m: Month, out: &mut Results) {
        let mi = month_of_date(m.first_day());
        let means: Vec<(&str, Mean)> = self
            .params
            .iter()
            .filter_map(|&(c, p)| Some((c, *self.agg.monthly.get(&(self.index, p, mi))?)))
            .collect();
        let per_param = self.per_day_expected();
        let first = day_of_date(m.first_day());
        let days = m.days() as i32;
        let valid: u32 = self
            .params
            .iter()
            .map(|&(_, p)| {
                (first..first + days)
                    .map(|d| {
                        self.agg
                            .daily_readings
                            .get(&(self.index, p, d))
                            .copied()
                            .unwrap_or(0)
                            .min(per_param)
                    })
                    .sum::<u32>()
            })
            .sum();
        let expected = per_param * self.params.len() as u32 * m.days();
        out.monthly
            .push(self.evaluation(WindowPeriod::Month, m.start(), means, valid, expected));
    }
}

fn plain(means: &[(&str, Mean)]) -> Vec<ParameterMean> {
    means
        .iter()
        .map(|(c, m)| ParameterMean {
            code: (*c).to_string(),
            mean: round(m.mean),
            count: m.count,
            class: None,
            exceedance_multiple: None,
            in_section_class: false,
        })
        .collect()
}

/// Rounds a stored mean to 6 decimals, so equal data give equal evaluations whatever the
/// order of the floating-point sums.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The CST date of a day index (re-exported for the engine).
pub fn date_of(day: i32) -> NaiveDate {
    date_of_day(day)
}

/// Whether a class counts for compliance: sufficient data and a class.
pub fn counted_class(e: &WindowEvaluation) -> Option<WaterClass> {
    e.sufficient.then_some(e.class).flatten()
}

#[cfg(test)]
mod tests;
