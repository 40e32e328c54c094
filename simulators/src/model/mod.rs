//! Station models: the undisturbed value of every parameter at a station at a time, from
//! the season, the time of day, the river reach or city, and seeded noise.
//!
//! - [`water`]: water-quality sections (temperature with ice cover, DO from saturation,
//!   nutrients per river reach, within Class III).
//! - [`air`]: air stations (PM, SO2, CO raised in the heating season; NO2 rush hours; O3
//!   afternoons in summer).
//! - [`outfall`]: treatment-plant effluent within GB 18918-2002 Grade 1A, daily flow pattern.
//! - [`hydrology`]: level (seasonal, below the warning level), flow from a rating curve, rain.
//!
//! Each model is bounded by construction (noise in [-1, 1] times documented amplitudes), so
//! the baseline stays inside its standard; the bounds are stated next to the numbers.

pub mod air;
pub mod hydrology;
pub mod outfall;
pub mod water;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use riverwatch_core::registry::{Station, StationKind};

use crate::scenario::{Seasons, parse_month_day};

/// The parameters the models know, by registry code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Code {
    Wt,
    Ph,
    Do,
    Cond,
    Turb,
    CodMn,
    Cod,
    Bod5,
    Nh3n,
    Tp,
    Tn,
    Nb,
    Ss,
    Pm25,
    Pm10,
    So2,
    No2,
    Co,
    O3,
    Level,
    Flow,
    Rain,
    /// Any other parameter: reported at its registry minimum (below detection).
    Other,
}

impl Code {
    /// The model code of a registry parameter code.
    pub fn of(code: &str) -> Code {
        match code {
            "WT" => Code::Wt,
            "pH" => Code::Ph,
            "DO" => Code::Do,
            "COND" => Code::Cond,
            "TURB" => Code::Turb,
            "CODMn" => Code::CodMn,
            "COD" => Code::Cod,
            "BOD5" => Code::Bod5,
            "NH3N" => Code::Nh3n,
            "TP" => Code::Tp,
            "TN" => Code::Tn,
            "NB" => Code::Nb,
            "SS" => Code::Ss,
            "PM25" => Code::Pm25,
            "PM10" => Code::Pm10,
            "SO2" => Code::So2,
            "NO2" => Code::No2,
            "CO" => Code::Co,
            "O3" => Code::O3,
            "LEVEL" => Code::Level,
            "FLOW" => Code::Flow,
            "RAIN" => Code::Rain,
            _ => Code::Other,
        }
    }

    /// Decimals a station reports for this parameter (as real analysers do); values are
    /// rounded to them before they are sent, so every encoding carries the same number.
    pub fn decimals(self, kind: StationKind) -> u32 {
        match self {
            Code::Ph | Code::Do | Code::CodMn | Code::Tn | Code::Co | Code::Level => 2,
            Code::Nh3n | Code::Tp => 3,
            Code::Nb => 4,
            Code::Flow if kind == StationKind::Outfall => 3,
            Code::Wt | Code::Turb | Code::Cod | Code::Bod5 | Code::Ss | Code::Flow => 1,
            Code::Rain => 1,
            Code::Cond | Code::Pm25 | Code::Pm10 | Code::So2 | Code::No2 | Code::O3 => 0,
            Code::Other => 4,
        }
    }
}

/// Rounds to `decimals` places.
pub fn round_to(value: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(i32::try_from(decimals).unwrap_or(4));
    (value * f).round() / f
}

/// Season boundaries as days of the year (0-based, non-leap).
#[derive(Debug, Clone, Copy)]
pub struct SeasonDays {
    ice_on: f64,
    ice_off: f64,
    heating_start: f64,
    heating_end: f64,
}

fn day_of(md: &str, fallback: (u32, u32)) -> f64 {
    let (m, d) = parse_month_day(md).unwrap_or(fallback);
    NaiveDate::from_ymd_opt(2001, m, d).map_or(0.0, |date| f64::from(date.ordinal0()))
}

impl SeasonDays {
    /// Resolves `MM-DD` boundaries (validated by the scenario).
    pub fn new(s: &Seasons) -> Self {
        Self {
            ice_on: day_of(&s.ice_on, (11, 25)),
            ice_off: day_of(&s.ice_off, (4, 5)),
            heating_start: day_of(&s.heating_start, (10, 15)),
            heating_end: day_of(&s.heating_end, (4, 15)),
        }
    }
}

/// The time of one sample as the models see it.
#[derive(Debug, Clone, Copy)]
pub struct When {
    /// Unix seconds.
    pub t: i64,
    /// Hour of the day in China Standard Time, fractional.
    pub hour: f64,
    /// Day of the year (0-based) in China Standard Time, fractional.
    pub doy: f64,
    /// Ice cover, 0 (open water) to 1 (frozen), with a week's transition.
    pub ice: f64,
    /// Heating season, 0 to 1, with ten days' transition.
    pub heating: f64,
}

const YEAR_DAYS: f64 = 365.25;

impl When {
    /// The model time of `t`.
    pub fn new(t: DateTime<Utc>, seasons: &SeasonDays) -> Self {
        let local = t.with_timezone(&riverwatch_core::time::cst());
        let hour = f64::from(local.hour())
            + f64::from(local.minute()) / 60.0
            + f64::from(local.second()) / 3600.0;
        let doy = f64::from(local.ordinal0()) + hour / 24.0;
        Self {
            t: t.timestamp(),
            hour,
            doy,
            ice: window(doy, seasons.ice_on, seasons.ice_off, 7.0),
            heating: window(doy, seasons.heating_start, seasons.heating_end, 10.0),
        }
    }

    /// A cosine cycle over the day peaking at `peak_hour` (1 there, −1 twelve hours away).
    pub fn daily(&self, peak_hour: f64) -> f64 {
        (std::f64::consts::TAU * (self.hour - peak_hour) / 24.0).cos()
    }

    /// A cosine cycle over the year peaking on day `peak_doy`.
    pub fn yearly(&self, peak_doy: f64) -> f64 {
        (std::f64::consts::TAU * (self.doy - peak_doy) / YEAR_DAYS).cos()
    }

    /// A Gaussian bump over the year centred on `centre_doy` with width `width_days`.
    pub fn bump(&self, centre_doy: f64, width_days: f64) -> f64 {
        let d = circular(self.doy - centre_doy) / width_days;
        (-d * d).exp()
    }
}

/// A day difference wrapped into (-182.6, 182.6].
fn circular(d: f64) -> f64 {
    let x = d.rem_euclid(YEAR_DAYS);
    if x > YEAR_DAYS / 2.0 {
        x - YEAR_DAYS
    } else {
        x
    }
}

/// 1 inside the season from `start` to `end` (wrapping over the new year), 0 outside, with
/// linear transitions `ramp_days` wide centred on the boundaries.
fn window(doy: f64, start: f64, end: f64, ramp_days: f64) -> f64 {
    let half = ramp_days / 2.0;
    let up = circular(doy - start);
    if up.abs() < half {
        return (up + half) / ramp_days;
    }
    let down = circular(doy - end);
    if down.abs() < half {
        return (half - down) / ramp_days;
    }
    let length = (end - start).rem_euclid(YEAR_DAYS);
    if (doy - start).rem_euclid(YEAR_DAYS) < length {
        1.0
    } else {
        0.0
    }
}

/// Noise for one parameter of one sample: each in [-1, 1].
#[derive(Debug, Clone, Copy, Default)]
pub struct Jitter {
    /// Smooth, 6-hourly knots.
    pub fast: f64,
    /// Smooth, 2-daily knots.
    pub slow: f64,
    /// Independent per sample.
    pub white: f64,
}

/// The fixed traits of one station that its model needs.
#[derive(Debug, Clone)]
pub enum StationModel {
    /// A water-quality section.
    Water(water::WaterSite),
    /// An air station.
    Air(air::AirSite),
    /// An outfall.
    Outfall(outfall::OutfallSite),
    /// A hydrological gauge.
    Hydrology(hydrology::GaugeSite),
}

impl StationModel {
    /// The model of a registry station.
    pub fn new(station: &Station) -> Self {
        match station.kind {
            StationKind::Water => StationModel::Water(water::WaterSite::new(station)),
            StationKind::Air => StationModel::Air(air::AirSite::new(station)),
            StationKind::Outfall => StationModel::Outfall(outfall::OutfallSite::new(station)),
            StationKind::Hydrology => StationModel::Hydrology(hydrology::GaugeSite::new(station)),
        }
    }

    /// Values of `codes` at `when`, with one [`Jitter`] per code, into `out`.
    /// `interval_secs` is the station's reporting interval (rain accumulates over it);
    /// `level_add_m` raises a gauge's level (a flood) before flow is derived from it.
    pub fn values(
        &self,
        codes: &[Code],
        when: &When,
        jitter: &[Jitter],
        interval_secs: u32,
        level_add_m: f64,
        out: &mut Vec<f64>,
    ) {
        let find = |c: Code| {
            codes
                .iter()
                .position(|&x| x == c)
                .and_then(|i| jitter.get(i).copied())
                .unwrap_or_default()
        };
        out.clear();
        match self {
            StationModel::Water(site) => {
                let wt = site.temperature(when, find(Code::Wt));
                out.extend(
                    codes
                        .iter()
                        .zip(jitter)
                        .map(|(&c, j)| site.value(c, when, wt, *j)),
                );
            }
            StationModel::Air(site) => {
                let pm25 = site.pm25(when, find(Code::Pm25));
                out.extend(
                    codes
                        .iter()
                        .zip(jitter)
                        .map(|(&c, j)| site.value(c, when, pm25, *j)),
                );
            }
            StationModel::Outfall(site) => {
                let wt = site.temperature(when, find(Code::Wt));
                out.extend(
                    codes
                        .iter()
                        .zip(jitter)
                        .map(|(&c, j)| site.value(c, when, wt, *j)),
                );
            }
            StationModel::Hydrology(site) => {
                let level = site.level(when, find(Code::Level)) + level_add_m;
                out.extend(
                    codes
                        .iter()
                        .zip(jitter)
                        .map(|(&c, j)| site.value(c, when, level, *j, interval_secs)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasons_wrap_over_the_new_year() {
        let s = SeasonDays::new(&Seasons::default());
        let at = |y, m, d| {
            let t = riverwatch_core::time::from_cst(
                NaiveDate::from_ymd_opt(y, m, d)
                    .unwrap()
                    .and_hms_opt(12, 0, 0)
                    .unwrap(),
            );
            When::new(t, &s)
        };
        assert_eq!(at(2026, 1, 15).ice, 1.0);
        assert_eq!(at(2026, 7, 15).ice, 0.0);
        assert_eq!(at(2026, 12, 20).heating, 1.0);
        assert_eq!(at(2026, 6, 1).heating, 0.0);
        let edge = at(2026, 11, 25).ice;
        assert!(edge > 0.3 && edge < 0.7, "{edge}");
    }
}
