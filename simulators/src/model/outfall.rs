//! Wastewater outfalls (municipal treatment plants, online monitoring).
//!
//! Flow follows the daily pattern of sewage inflow around the plant's design capacity;
//! effluent quality sits well inside GB 18918-2002 Grade 1A (COD 50, BOD5 10, SS 10, TN 15,
//! NH3-N 5, TP 0.5 mg/L, pH 6–9), with NH3-N and TN higher in the cold months when
//! nitrification slows. Bounds: COD ≤ 31, NH3-N ≤ 2.4, TP ≤ 0.31, TN ≤ 12.7, SS ≤ 7.6.

use riverwatch_core::registry::Station;

use super::{Code, Jitter, When};

/// Design flow, m³/s, of the plants of the built-in network (daily capacity / 86 400).
fn design_flow_m3s(id: &str) -> f64 {
    match id {
        "WWTP-HRB" => 3.76, // Taiping, 325 000 m³/d
        "WWTP-JL" => 3.47,  // 300 000 m³/d
        "WWTP-WC" => 0.58,  // 50 000 m³/d
        "WWTP-YS" => 0.46,  // 40 000 m³/d
        _ => 1.0,
    }
}

/// The fixed traits of an outfall.
#[derive(Debug, Clone)]
pub struct OutfallSite {
    flow_m3s: f64,
}

impl OutfallSite {
    /// The site of a registry outfall.
    pub fn new(station: &Station) -> Self {
        Self {
            flow_m3s: design_flow_m3s(station.id.as_str()),
        }
    }

    /// Effluent temperature, °C: 9–21 over the year.
    pub fn temperature(&self, w: &When, j: Jitter) -> f64 {
        15.0 + 5.5 * w.yearly(220.0) + 0.3 * j.fast + 0.05 * j.white
    }

    /// One parameter's value; `wt` is the effluent temperature.
    pub fn value(&self, code: Code, w: &When, wt: f64, j: Jitter) -> f64 {
        let cold = ((14.0 - wt) / 5.0).clamp(0.0, 1.0);
        match code {
            Code::Wt => wt,
            Code::Flow => {
                self.flow_m3s
                    * (1.0 + 0.25 * w.daily(11.0))
                    * (1.0 + 0.05 * j.fast + 0.02 * j.white)
            }
            Code::Cod => 26.0 * (1.0 + 0.15 * j.fast + 0.05 * j.white),
            Code::Bod5 => 5.0 * (1.0 + 0.2 * j.fast + 0.05 * j.white),
            Code::Nh3n => 1.2 * (1.0 + 0.6 * cold) * (1.0 + 0.2 * j.fast + 0.05 * j.white),
            Code::Tp => 0.25 * (1.0 + 0.2 * j.fast + 0.05 * j.white),
            Code::Tn => 10.0 * (1.0 + 0.1 * cold) * (1.0 + 0.12 * j.fast + 0.03 * j.white),
            Code::Ss => 6.0 * (1.0 + 0.2 * j.fast + 0.06 * j.white),
            Code::Ph => 7.1 + 0.2 * j.fast + 0.03 * j.white,
            Code::CodMn => 6.0 * (1.0 + 0.15 * j.fast + 0.05 * j.white),
            _ => 0.0,
        }
    }
}
