//! Water-quality sections.
//!
//! Temperature follows the season (≈24 °C at the end of July) and sits at 0.2–0.65 °C under
//! the ice from about late November to early April; the Second Songhua within 60 km of the
//! Fengman dam stays open in winter (reservoir release, the Jilin rime reach). DO follows
//! saturation at that temperature (Benson & Krause), with a photosynthetic cycle peaking in
//! the afternoon in open water and a lower saturation ratio under ice. Nutrients and organics
//! follow a reach profile per river (cleaner upstream, highest below Jilin City and Harbin),
//! raised under ice for NH3-N and in the summer flood for CODMn and TP.
//!
//! Bounds (worst case of baseline × season × (1 + noise amplitudes)): CODMn ≤ 5.7, NH3-N ≤
//! 0.84, TP ≤ 0.17 mg/L, DO ≥ 6.5 mg/L, pH 7.1–8.1: inside Class III everywhere, and inside
//! Class II at the Mopanshan reservoir (lake limits: TP ≤ 0.025, TN ≤ 0.5).

use riverwatch_core::registry::{Station, WaterBody};

use super::{Code, Jitter, When};

/// Reach quality at a point of a river: (km, CODMn, NH3-N, TP, TN mg/L, conductivity µS/cm,
/// pH).
type ProfilePoint = (f64, f64, f64, f64, f64, f64, f64);

const SECOND_SONGHUA: &[ProfilePoint] = &[
    (0.0, 2.8, 0.25, 0.035, 0.9, 180.0, 7.6),
    (40.0, 3.9, 0.50, 0.090, 1.5, 230.0, 7.5),
    (300.0, 3.8, 0.45, 0.080, 1.4, 250.0, 7.6),
];
const SONGHUA: &[ProfilePoint] = &[
    (0.0, 4.2, 0.50, 0.100, 1.5, 300.0, 7.7),
    (250.0, 4.4, 0.55, 0.110, 1.6, 290.0, 7.6),
    (320.0, 4.7, 0.62, 0.130, 1.7, 300.0, 7.5),
    (939.0, 4.3, 0.50, 0.100, 1.5, 260.0, 7.5),
];
const LALIN: &[ProfilePoint] = &[
    (0.0, 2.2, 0.15, 0.015, 0.35, 120.0, 7.4),
    (75.0, 2.4, 0.18, 0.018, 0.40, 130.0, 7.5),
    (160.0, 3.4, 0.35, 0.070, 1.1, 190.0, 7.5),
    (448.0, 4.2, 0.50, 0.100, 1.4, 240.0, 7.6),
];
const OTHER_RIVER: ProfilePoint = (0.0, 3.5, 0.40, 0.080, 1.2, 220.0, 7.5);

fn profile(river: Option<&str>, km: f64) -> ProfilePoint {
    let table = match river {
        Some("second-songhua") => SECOND_SONGHUA,
        Some("songhua") => SONGHUA,
        Some("lalin") => LALIN,
        _ => return OTHER_RIVER,
    };
    let first = table[0];
    let mut prev = first;
    for &p in table {
        if km <= p.0 {
            if p.0 <= prev.0 {
                return p;
            }
            let f = (km - prev.0) / (p.0 - prev.0);
            let lerp = |a: f64, b: f64| a + (b - a) * f;
            return (
                km,
                lerp(prev.1, p.1),
                lerp(prev.2, p.2),
                lerp(prev.3, p.3),
                lerp(prev.4, p.4),
                lerp(prev.5, p.5),
                lerp(prev.6, p.6),
            );
        }
        prev = p;
    }
    prev
}

/// Saturation DO (mg/L) at temperature `t` °C, fresh water at sea level (Benson & Krause,
/// as in APHA 4500-O).
pub fn do_saturation(t: f64) -> f64 {
    let k = t + 273.15;
    (-139.344_11 + 1.575_701e5 / k - 6.642_308e7 / k.powi(2) + 1.243_800e10 / k.powi(3)
        - 8.621_949e11 / k.powi(4))
    .exp()
}

/// The fixed traits of a section.
#[derive(Debug, Clone)]
pub struct WaterSite {
    codmn: f64,
    nh3n: f64,
    tp: f64,
    tn: f64,
    cond: f64,
    ph: f64,
    /// Below the Fengman dam: never freezes, cold in summer.
    below_dam: bool,
    /// Just below a large city: slightly lower DO.
    below_city: bool,
    lake: bool,
}

impl WaterSite {
    /// The site of a registry section.
    pub fn new(station: &Station) -> Self {
        let km = station.river_km.unwrap_or(0.0);
        let river = station.river.as_deref();
        let p = profile(river, km);
        Self {
            codmn: p.1,
            nh3n: p.2,
            tp: p.3,
            tn: p.4,
            cond: p.5,
            ph: p.6,
            below_dam: river == Some("second-songhua") && km < 60.0,
            below_city: river == Some("songhua") && (250.0..=360.0).contains(&km),
            lake: station.water_body == WaterBody::Lake,
        }
    }

    /// Water temperature, °C.
    pub fn temperature(&self, w: &When, j: Jitter) -> f64 {
        if self.below_dam {
            // Reservoir release: 1.5–15.5 °C, never frozen.
            return 8.5 + 6.5 * w.yearly(230.0) + 0.3 * w.daily(15.0) + 0.4 * j.fast;
        }
        let open = (9.0 + 15.0 * w.yearly(210.0) + 0.6 * w.daily(15.0) + 0.4 * j.fast).max(0.3);
        let under_ice = 0.4 + 0.2 * j.fast + 0.05 * j.white;
        (1.0 - w.ice) * open + w.ice * under_ice
    }

    /// One parameter's value; `wt` is the section's water temperature.
    pub fn value(&self, code: Code, w: &When, wt: f64, j: Jitter) -> f64 {
        let ice = if self.below_dam { 0.0 } else { w.ice };
        let flood = w.bump(210.0, 30.0);
        let melt = w.bump(105.0, 12.0);
        match code {
            Code::Wt => wt,
            Code::Do => {
                let ratio_open = 0.93 + 0.05 * w.daily(15.0) + 0.02 * j.fast
                    - if self.below_city { 0.04 } else { 0.0 };
                let ratio_ice = 0.78 + 0.03 * j.fast;
                let ratio = (1.0 - ice) * ratio_open + ice * ratio_ice;
                do_saturation(wt) * ratio + 0.05 * j.white
            }
            Code::Ph => {
                self.ph + 0.15 * (1.0 - ice) * w.daily(15.0) + 0.1 * j.fast + 0.02 * j.white
            }
            Code::Cond => {
                self.cond
                    * (1.0 + 0.15 * ice - 0.1 * flood)
                    * (1.0 + 0.06 * j.slow + 0.01 * j.white)
            }
            Code::Turb => {
                let open = 15.0 * (1.0 + 1.5 * flood + 1.0 * melt);
                let base = (1.0 - ice) * open + ice * 4.0;
                base * (1.0 + 0.25 * j.fast + 0.05 * j.white)
            }
            Code::CodMn => self.codmn_at(ice, flood, j),
            Code::Cod => {
                3.2 * self.codmn_at(ice, flood, Jitter::default()) * (1.0 + 0.03 * j.white)
            }
            Code::Bod5 => {
                0.6 * self.codmn_at(ice, flood, Jitter::default()) * (1.0 + 0.05 * j.white)
            }
            Code::Nh3n => {
                let season = 1.0 + 0.2 * ice - 0.1 * w.bump(200.0, 45.0) * (1.0 - ice);
                self.nh3n * season * (1.0 + 0.12 * j.slow + 0.04 * j.white)
            }
            Code::Tp => {
                let season = 1.0 + if self.lake { 0.1 } else { 0.15 } * flood;
                let (a, b) = if self.lake { (0.08, 0.03) } else { (0.1, 0.04) };
                self.tp * season * (1.0 + a * j.slow + b * j.white)
            }
            Code::Tn => self.tn * (1.0 + 0.08 * j.slow + 0.02 * j.white),
            Code::Ss => {
                let turb = self.value(Code::Turb, w, wt, j);
                1.5 * turb
            }
            Code::Nb | Code::Other => 0.0,
            // Parameters of other station kinds do not occur at a section (the registry
            // checks the medium); report them as not detected.
            _ => 0.0,
        }
    }

    fn codmn_at(&self, ice: f64, flood: f64, j: Jitter) -> f64 {
        let season = 1.0 + 0.08 * flood - 0.05 * ice;
        self.codmn * season * (1.0 + 0.08 * j.slow + 0.03 * j.white)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_matches_tabulated_values() {
        // APHA table: 14.62 mg/L at 0 °C, 9.09 at 20 °C, 7.56 at 30 °C.
        assert!((do_saturation(0.0) - 14.62).abs() < 0.05);
        assert!((do_saturation(20.0) - 9.09).abs() < 0.05);
        assert!((do_saturation(30.0) - 7.56).abs() < 0.05);
    }

    #[test]
    fn the_profile_is_cleaner_upstream() {
        let up = profile(Some("lalin"), 100.0);
        let down = profile(Some("lalin"), 400.0);
        assert!(up.2 < down.2 && up.1 < down.1);
        assert_eq!(profile(Some("songhua"), 2000.0).0, 939.0);
    }
}
