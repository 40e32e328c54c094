//! GB 3095-2012 limits and the GB 3095-2026 PM2.5 phases.

use super::{AWKWARD_F64, date};
use crate::standards::gb3095::*;
use crate::standards::hj633::Pollutant::{self, Co, No2, O3, Pm10, Pm25, So2};

/// Reference sheet §4.1: (pollutant, averaging, Grade I, Grade II).
const TABLE_1_2012: [(Pollutant, Averaging, f64, f64); 14] = [
    (So2, Averaging::Annual, 20.0, 60.0),
    (So2, Averaging::Mean24h, 50.0, 150.0),
    (So2, Averaging::Mean1h, 150.0, 500.0),
    (No2, Averaging::Annual, 40.0, 40.0),
    (No2, Averaging::Mean24h, 80.0, 80.0),
    (No2, Averaging::Mean1h, 200.0, 200.0),
    (Co, Averaging::Mean24h, 4.0, 4.0),
    (Co, Averaging::Mean1h, 10.0, 10.0),
    (O3, Averaging::DailyMax8h, 100.0, 160.0),
    (O3, Averaging::Mean1h, 160.0, 200.0),
    (Pm10, Averaging::Annual, 40.0, 70.0),
    (Pm10, Averaging::Mean24h, 50.0, 150.0),
    (Pm25, Averaging::Annual, 15.0, 35.0),
    (Pm25, Averaging::Mean24h, 35.0, 75.0),
];

#[test]
fn gb_3095_2012_table_1() {
    assert_eq!(GB_3095_2012.limits.len(), TABLE_1_2012.len());
    for (pollutant, averaging, grade_i, grade_ii) in TABLE_1_2012 {
        assert_eq!(
            GB_3095_2012.limit(pollutant, averaging, Grade::I),
            Some(grade_i)
        );
        assert_eq!(
            GB_3095_2012.limit(pollutant, averaging, Grade::II),
            Some(grade_ii)
        );
    }
    assert_eq!(GB_3095_2012.limit(Co, Averaging::Annual, Grade::II), None);
    assert_eq!(GB_3095_2012.limit(Pm25, Averaging::Mean1h, Grade::II), None);
}

#[test]
fn the_2026_phases_change_pm25_only() {
    let pm25 = |s: &AmbientStandard, a, g| s.limit(Pm25, a, g);
    // Phase 1: transitional Grade II 30 / 60.
    assert_eq!(
        pm25(&GB_3095_2026_PHASE1, Averaging::Annual, Grade::II),
        Some(30.0)
    );
    assert_eq!(
        pm25(&GB_3095_2026_PHASE1, Averaging::Mean24h, Grade::II),
        Some(60.0)
    );
    // Final: Grade I 10 / 25, Grade II 25 / 50.
    assert_eq!(pm25(&GB_3095_2026, Averaging::Annual, Grade::I), Some(10.0));
    assert_eq!(
        pm25(&GB_3095_2026, Averaging::Mean24h, Grade::I),
        Some(25.0)
    );
    assert_eq!(
        pm25(&GB_3095_2026, Averaging::Annual, Grade::II),
        Some(25.0)
    );
    assert_eq!(
        pm25(&GB_3095_2026, Averaging::Mean24h, Grade::II),
        Some(50.0)
    );
    // PM10, SO2, NO2 (UNVERIFIED new values) and CO, O3 keep the 2012 limits.
    for standard in [&GB_3095_2026_PHASE1, &GB_3095_2026] {
        for (pollutant, averaging, grade_i, grade_ii) in TABLE_1_2012 {
            if pollutant == Pm25 {
                continue;
            }
            assert_eq!(
                standard.limit(pollutant, averaging, Grade::I),
                Some(grade_i)
            );
            assert_eq!(
                standard.limit(pollutant, averaging, Grade::II),
                Some(grade_ii)
            );
        }
    }
}

#[test]
fn the_table_follows_the_observation_date() {
    let pm25_24h_ii = |d| edition_for(d).limit(Pm25, Averaging::Mean24h, Grade::II);
    assert_eq!(pm25_24h_ii(date(2026, 2, 28)), Some(75.0));
    assert_eq!(pm25_24h_ii(date(2026, 3, 1)), Some(60.0));
    assert_eq!(pm25_24h_ii(date(2030, 12, 31)), Some(60.0));
    assert_eq!(pm25_24h_ii(date(2031, 1, 1)), Some(50.0));
    assert_eq!(pm25_24h_ii(date(2010, 1, 1)), Some(75.0));
    assert_eq!(edition_for(date(2026, 2, 28)).edition.code, "GB 3095-2012");
    assert_eq!(edition_for(date(2026, 3, 1)).edition.code, "GB 3095-2026");
    assert_eq!(
        GB_3095_2026_PHASE1.edition.in_force_until,
        Some(date(2030, 12, 31))
    );
    for (d, standard) in [
        (date(2026, 2, 28), &GB_3095_2012),
        (date(2026, 3, 1), &GB_3095_2026_PHASE1),
        (date(2031, 1, 1), &GB_3095_2026),
    ] {
        assert!(standard.edition.in_force_on(d));
    }
}

#[test]
fn compliance_and_multiples() {
    let s = &GB_3095_2012;
    assert_eq!(
        s.complies(Pm25, Averaging::Mean24h, Grade::II, 75.0),
        Some(true)
    );
    assert_eq!(
        s.complies(Pm25, Averaging::Mean24h, Grade::II, 75.1),
        Some(false)
    );
    assert_eq!(
        s.exceedance_multiple(Pm25, Averaging::Mean24h, Grade::II, 150.0),
        Some(1.0)
    );
    assert_eq!(
        s.exceedance_multiple(Pm25, Averaging::Mean24h, Grade::II, 75.0),
        None
    );
    assert_eq!(
        s.complies(Pm25, Averaging::Mean1h, Grade::II, 10.0),
        None,
        "no such limit"
    );
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        assert_eq!(s.complies(Pm25, Averaging::Mean24h, Grade::II, bad), None);
        assert_eq!(
            s.exceedance_multiple(Pm25, Averaging::Mean24h, Grade::II, bad),
            None
        );
    }
    for value in AWKWARD_F64 {
        for (pollutant, averaging, _, _) in TABLE_1_2012 {
            let _ = s.exceedance_multiple(pollutant, averaging, Grade::I, value);
        }
    }
}
