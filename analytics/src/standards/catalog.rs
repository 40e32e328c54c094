//! Which edition of each standard applies on an observation date.
//!
//! Every evaluation goes through [`in_force`] with the observation's date in China Standard
//! Time, so a re-evaluation of 2005 or 2025 data uses the tables that applied then: HJ 633
//! and GB 3095 change on 2026-03-01 (and GB 3095 again on 2031-01-01). GB 3838-2002 and the
//! 2011 evaluation method have no successor; an observation dated before them is judged by
//! them too (no earlier table is modelled), and [`InForce::water_in_force`] says so.

use chrono::NaiveDate;

use super::gb3095::{self, AmbientStandard};
use super::gb3838::{EvaluationMethod, GB_3838_2002, METHOD_2011, SurfaceWaterStandard};
use super::hj633::{self, AqiStandard};

/// The tables in force on one date.
#[derive(Debug, Clone, Copy)]
pub struct InForce {
    /// Surface-water quality standard (GB 3838-2002).
    pub water: &'static SurfaceWaterStandard,
    /// Surface-water evaluation method (环办〔2011〕22号).
    pub method: &'static EvaluationMethod,
    /// AQI technical regulation (HJ 633-2012 or HJ 633-2026).
    pub aqi: &'static AqiStandard,
    /// Ambient air quality standard (GB 3095-2012, GB 3095-2026 phase 1 or final).
    pub ambient: &'static AmbientStandard,
    /// Whether the date lies within GB 3838-2002's validity (false before 2002-06-01).
    pub water_in_force: bool,
}

/// The tables in force on `date` (China Standard Time).
pub fn in_force(date: NaiveDate) -> InForce {
    InForce {
        water: &GB_3838_2002,
        method: &METHOD_2011,
        aqi: hj633::edition_for(date),
        ambient: gb3095::edition_for(date),
        water_in_force: GB_3838_2002.edition.in_force_on(date),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_observation_date_picks_the_editions() {
        let before = in_force(d(2026, 2, 28));
        let after = in_force(d(2026, 3, 1));
        assert_eq!(before.aqi.edition.code, "HJ 633-2012");
        assert_eq!(after.aqi.edition.code, "HJ 633-2026");
        assert_eq!(before.ambient.edition.code, "GB 3095-2012");
        assert_eq!(after.ambient.edition.code, "GB 3095-2026");
        assert_eq!(before.water.edition.code, "GB 3838-2002");
        assert!(in_force(d(2005, 11, 24)).water_in_force);
        assert!(!in_force(d(2001, 1, 1)).water_in_force);
        assert_eq!(in_force(d(2031, 1, 1)).ambient.phase, "2026 final");
    }
}
