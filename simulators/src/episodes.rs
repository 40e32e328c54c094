//! Episodes other than plumes: air-pollution episodes, treatment-plant upsets and floods. Each
//! is a pure function of the time, applied on top of the station models.

use chrono::{DateTime, NaiveTime, Utc};

use crate::scenario::{AirEpisodeDef, FloodDef, UpsetDef, matches_any};

const HOUR: f64 = 3600.0;

/// An air episode's daily levels are cross-faded over this many hours around each CST
/// midnight, so the first day's smoke starts rising half of it before the first midnight.
pub const EPISODE_CROSS_FADE_HOURS: f64 = 4.0;

/// A flood's rain falls over this many hours before the rise starts.
pub const RAIN_HOURS_BEFORE_RISE: f64 = 48.0;

/// Smoothstep on [0, 1].
fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// An air episode ready to evaluate.
#[derive(Debug, Clone)]
pub struct AirEpisode {
    /// The definition.
    pub def: AirEpisodeDef,
    /// Midnight (China Standard Time) of the first day, unix seconds.
    pub first_midnight: i64,
}

/// What an episode adds at one station and time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AirIncrement {
    /// PM2.5 added, µg/m³.
    pub pm25: f64,
    /// PM10 added, µg/m³.
    pub pm10: f64,
    /// CO added, mg/m³.
    pub co: f64,
    /// Factor on O3 (haze and smoke suppress photochemistry).
    pub o3_factor: f64,
}

impl AirEpisode {
    /// Prepares an episode.
    pub fn new(def: &AirEpisodeDef) -> Self {
        let midnight = riverwatch_core::time::from_cst(def.first_day.and_time(NaiveTime::MIN));
        Self {
            def: def.clone(),
            first_midnight: midnight.timestamp(),
        }
    }

    /// When the episode first adds anything: half the cross-fade before the first midnight.
    pub fn onset_secs(&self) -> i64 {
        self.first_midnight - (EPISODE_CROSS_FADE_HOURS / 2.0 * HOUR) as i64
    }

    /// Whether the episode covers a station.
    pub fn covers(&self, station: &str) -> bool {
        matches_any(&self.def.stations, station)
    }

    /// The station's factor on the added pollution.
    pub fn scale(&self, station: &str) -> f64 {
        self.def.scale.get(station).copied().unwrap_or(1.0)
    }

    fn day_value(&self, day: i64) -> f64 {
        usize::try_from(day)
            .ok()
            .and_then(|d| self.def.daily_pm25.get(d))
            .copied()
            .unwrap_or(0.0)
    }

    /// The added PM2.5 level before the diurnal shape: the day's value, cross-faded over
    /// four hours around midnight so the level does not jump.
    fn level(&self, t: i64) -> f64 {
        let hours = (t - self.first_midnight) as f64 / HOUR;
        let day = hours.div_euclid(24.0) as i64;
        let in_day = hours.rem_euclid(24.0);
        let half = EPISODE_CROSS_FADE_HOURS / 2.0;
        let (a, b, w) = if in_day >= 24.0 - half {
            (
                self.day_value(day),
                self.day_value(day + 1),
                (in_day - (24.0 - half)) / EPISODE_CROSS_FADE_HOURS,
            )
        } else if in_day < half {
            (
                self.day_value(day - 1),
                self.day_value(day),
                (in_day + half) / EPISODE_CROSS_FADE_HOURS,
            )
        } else {
            (self.day_value(day), self.day_value(day), 0.0)
        };
        a + (b - a) * w
    }

    /// What the episode adds at `station` at unix time `t`; `hour` is the CST hour and
    /// `white` the sample's noise in [-1, 1].
    pub fn increment(&self, station: &str, t: i64, hour: f64, white: f64) -> AirIncrement {
        let level = self.level(t);
        if level <= 0.0 || !self.covers(station) {
            return AirIncrement {
                o3_factor: 1.0,
                ..AirIncrement::default()
            };
        }
        // Smoke accumulates in the evening inversion (fields burnt in the afternoon); the
        // shape averages 1 over a day of hourly samples.
        let shape = 1.0 + 0.25 * (std::f64::consts::TAU * (hour - 22.0) / 24.0).cos();
        let pm25 = self.scale(station) * level * shape * (1.0 + 0.06 * white);
        AirIncrement {
            pm25,
            pm10: pm25 / self.def.pm25_fraction_of_pm10,
            co: pm25 * self.def.co_per_pm25,
            o3_factor: 1.0 - 0.3 * (level / 200.0).min(1.0),
        }
    }
}

/// A treatment-plant upset ready to evaluate.
#[derive(Debug, Clone)]
pub struct Upset {
    /// The definition.
    pub def: UpsetDef,
}

impl Upset {
    /// The weight of the upset at unix time `t`: 0 before and after, 1 on the plateau.
    pub fn weight(&self, t: i64) -> f64 {
        let h = (t - self.def.start.timestamp()) as f64 / HOUR;
        let (up, flat, down) = (
            self.def.ramp_up_hours,
            self.def.plateau_hours,
            self.def.ramp_down_hours,
        );
        if h < 0.0 {
            0.0
        } else if h < up {
            smoothstep(h / up)
        } else if h < up + flat {
            1.0
        } else if h < up + flat + down {
            1.0 - smoothstep((h - up - flat) / down)
        } else {
            0.0
        }
    }

    /// When the plateau starts and ends.
    pub fn plateau(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let s = self.def.start;
        let secs = |h: f64| chrono::Duration::seconds((h * HOUR) as i64);
        (
            s + secs(self.def.ramp_up_hours),
            s + secs(self.def.ramp_up_hours + self.def.plateau_hours),
        )
    }
}

/// A flood ready to evaluate.
#[derive(Debug, Clone)]
pub struct Flood {
    /// The definition.
    pub def: FloodDef,
    /// Rise at the peak needed to reach the planned level from the undisturbed level, m.
    pub amplitude_m: f64,
}

impl Flood {
    /// Unix time of the peak.
    pub fn peak_secs(&self) -> i64 {
        self.def.start.timestamp() + (self.def.rise_hours * HOUR) as i64
    }

    /// The weight of the flood wave at unix time `t`: smooth rise to 1, exponential
    /// recession.
    pub fn weight(&self, t: i64) -> f64 {
        let h = (t - self.def.start.timestamp()) as f64 / HOUR;
        if h < 0.0 {
            0.0
        } else if h < self.def.rise_hours {
            smoothstep(h / self.def.rise_hours)
        } else {
            (-(h - self.def.rise_hours) / self.def.recession_hours).exp()
        }
    }

    /// Level added at `t`, m.
    pub fn level_add(&self, t: i64) -> f64 {
        self.amplitude_m * self.weight(t)
    }

    /// Rain intensity at `t`, mm/h: `rain_mm` over the [`RAIN_HOURS_BEFORE_RISE`] before the
    /// rise, as a sin² bump.
    pub fn rain_mm_h(&self, t: i64) -> f64 {
        let window = RAIN_HOURS_BEFORE_RISE;
        let h = (t - self.def.start.timestamp()) as f64 / HOUR + window;
        if !(0.0..window).contains(&h) {
            return 0.0;
        }
        let s = (std::f64::consts::PI * h / window).sin();
        self.def.rain_mm / window * 2.0 * s * s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_shape_averages_one_over_hourly_samples() {
        let mean: f64 = (0..24)
            .map(|h| 1.0 + 0.25 * (std::f64::consts::TAU * (f64::from(h) - 22.0) / 24.0).cos())
            .sum::<f64>()
            / 24.0;
        assert!((mean - 1.0).abs() < 1e-12);
    }

    #[test]
    fn flood_rain_adds_up_to_the_planned_total() {
        let def = FloodDef {
            station: "HYD-CJG".into(),
            cause_zh: String::new(),
            cause_en: String::new(),
            start: chrono::DateTime::from_timestamp(1_000_000_000, 0).unwrap(),
            rise_hours: 48.0,
            peak_above_warning_m: 0.5,
            recession_hours: 60.0,
            rain_mm: 80.0,
        };
        let f = Flood {
            def,
            amplitude_m: 1.0,
        };
        let start = f.def.start.timestamp();
        let total: f64 = (0..48 * 60)
            .map(|m| f.rain_mm_h(start - 48 * 3600 + m * 60) / 60.0)
            .sum();
        assert!((total - 80.0).abs() < 0.1, "{total}");
        assert_eq!(f.weight(f.peak_secs()), 1.0);
    }
}
