//! Air-quality stations.
//!
//! PM2.5, SO2 and CO rise in the heating season (coal-fired district heating, mid-October to
//! April) and peak in the evening inversion; PM10 follows PM2.5 with a coarser share in the
//! spring dust season; NO2 has morning and evening rush hours; O3 peaks in summer afternoons.
//! Larger cities (Harbin, Changchun) run higher than the county-level cities.
//!
//! Bounds: daily means stay within GB 3095 Grade II (PM2.5 ≤ 60 — the 2026 transitional
//! limit, below the 2012 limit of 75 — PM10 ≤ 150, SO2 ≤ 150, NO2 ≤ 80 µg/m³, CO ≤ 4 mg/m³)
//! and the O3 8-h maximum below 160 µg/m³, so the baseline daily AQI stays at or below 100
//! under both HJ 633 editions.

use riverwatch_core::registry::Station;

use super::{Code, Jitter, When};

/// Relative level of pollution per city (larger cities, more traffic and heating).
fn city_scale(id: &str) -> f64 {
    match id {
        "AIR-HRB" => 1.15,
        "AIR-CC" => 1.12,
        "AIR-SC" | "AIR-YS" | "AIR-DH" => 0.95,
        "AIR-FY" => 0.9,
        "AIR-WC" | "AIR-SL" => 0.85,
        _ => 1.0,
    }
}

/// The fixed traits of an air station.
#[derive(Debug, Clone)]
pub struct AirSite {
    scale: f64,
}

impl AirSite {
    /// The site of a registry station.
    pub fn new(station: &Station) -> Self {
        Self {
            scale: city_scale(station.id.as_str()),
        }
    }

    /// PM2.5, µg/m³: 16 outside and 38 inside the heating season, times the city scale, an
    /// evening peak and noise (daily mean ≤ 1.15 × 38 × 1.35 ≈ 59, inside the 2026
    /// transitional limit of 60 as well as the 2012 limit of 75).
    pub fn pm25(&self, w: &When, j: Jitter) -> f64 {
        let base = 16.0 + 22.0 * w.heating;
        let diurnal = 1.0
            + 0.2 * w.daily(21.0)
            + 0.08 * (2.0 * (w.hour - 8.0) / 24.0 * std::f64::consts::TAU).cos();
        self.scale * base * diurnal * (1.0 + 0.2 * j.slow + 0.1 * j.fast + 0.05 * j.white)
    }

    /// One parameter's value; `pm25` is the station's PM2.5.
    pub fn value(&self, code: Code, w: &When, pm25: f64, j: Jitter) -> f64 {
        match code {
            Code::Pm25 => pm25,
            Code::Pm10 => {
                let dust = w.bump(120.0, 20.0) * (1.0 - w.heating);
                let ratio = 1.55 * w.heating + (1.0 - w.heating) * (1.8 + 0.4 * dust);
                pm25 * ratio * (1.0 + 0.05 * j.white)
            }
            Code::So2 => {
                self.scale
                    * (7.0 + 28.0 * w.heating)
                    * (1.0 + 0.15 * w.daily(9.0))
                    * (1.0 + 0.25 * j.slow + 0.05 * j.white)
            }
            Code::No2 => {
                let rush = (std::f64::consts::TAU * (w.hour - 8.0) / 12.0).cos();
                self.scale
                    * (20.0 + 10.0 * w.heating)
                    * (1.0 + 0.2 * rush)
                    * (1.0 + 0.2 * j.fast + 0.05 * j.white)
            }
            Code::Co => {
                self.scale
                    * (0.45 + 0.65 * w.heating)
                    * (1.0 + 0.15 * w.daily(21.0))
                    * (1.0 + 0.2 * j.slow + 0.04 * j.white)
            }
            Code::O3 => {
                let summer = 0.5 + 0.5 * w.yearly(170.0);
                (40.0 + 40.0 * summer)
                    * (1.0 + 0.5 * w.daily(15.0))
                    * (1.0 + 0.15 * j.fast + 0.05 * j.white)
            }
            // Water or hydrology codes do not occur at an air station.
            _ => 0.0,
        }
    }
}
