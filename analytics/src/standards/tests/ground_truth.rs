//! The simulator's ground-truth tables against the analytics tables, value for value.
//!
//! `riverwatch_simulators::manifest::tables` is a second transcription of the reference
//! sheet, kept independent on purpose: the end-to-end tests check analytics against the
//! manifests computed from it (`docs/design/0005-independent-ground-truth.md`). Two
//! transcriptions that disagree make those tests fail for the wrong reason, or pass for
//! one; this test keeps them equal.

use riverwatch_simulators::manifest::tables as truth;

use super::date;
use crate::standards::discharge::{DischargeLimit, GB_18918_2002_GRADE_1A};
use crate::standards::gb3095::{Averaging, GB_3095_2012, GB_3095_2026, GB_3095_2026_PHASE1, Grade};
use crate::standards::gb3838::{Criterion, GB_3838_2002, WaterBody};
use crate::standards::hj633::{AqiLevel, HJ_633_2012, HJ_633_2026, IAQI_POINTS, Metric, Pollutant};
use crate::standards::warning::WarningRules;

fn ymd((y, m, d): (i32, u32, u32)) -> chrono::NaiveDate {
    date(y, m, d)
}

#[test]
fn gb3838_class_limits_agree() {
    let tables = [
        (WaterBody::River, &truth::GB3838_RIVER[..]),
        (WaterBody::Lake, &truth::GB3838_LAKE[..]),
    ];
    let mut compared = 0;
    for (body, items) in tables {
        for &(code, limits, at_most) in items {
            let item = GB_3838_2002
                .item(code)
                .unwrap_or_else(|| panic!("{code} missing from GB 3838-2002"));
            match (item.criterion_for(body), at_most) {
                (Criterion::AtMost(l), true) | (Criterion::AtLeast(l), false) => {
                    assert_eq!(*l, limits, "{code} {body:?}");
                }
                (other, _) => panic!("{code} {body:?}: {other:?} vs at_most = {at_most}"),
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 8);
    // The simulator's river items other than TP hold for lakes too.
    for &(code, limits, _) in &truth::GB3838_RIVER {
        if truth::GB3838_LAKE.iter().all(|(c, _, _)| *c != code) {
            let item = GB_3838_2002.item(code).unwrap();
            assert_eq!(
                item.criterion_for(WaterBody::Lake),
                item.criterion_for(WaterBody::River),
                "{code}"
            );
            let (Criterion::AtMost(l) | Criterion::AtLeast(l)) =
                item.criterion_for(WaterBody::Lake)
            else {
                panic!("{code}");
            };
            assert_eq!(*l, limits);
        }
    }
    let (min, max) = truth::GB3838_PH;
    assert_eq!(
        GB_3838_2002.item("pH").unwrap().criterion,
        Criterion::Range { min, max }
    );
    assert_eq!(
        GB_3838_2002.item("NB").unwrap().criterion,
        Criterion::SingleLimit(truth::GB3838_NITROBENZENE_MG_L)
    );
}

#[test]
fn gb18918_grade_1a_limits_agree() {
    for &(code, limit) in &truth::GB18918_GRADE_1A {
        match GB_18918_2002_GRADE_1A.limit(code) {
            Some(DischargeLimit::Max(l)) => assert_eq!(*l, limit, "{code}"),
            Some(&DischargeLimit::MaxByTemperature {
                max,
                cold_max,
                cold_at_or_below_c,
            }) => {
                assert_eq!(max, limit, "{code}");
                assert_eq!(cold_max, truth::GB18918_NH3N_COLD_MG_L, "{code}");
                assert_eq!(cold_at_or_below_c, truth::GB18918_COLD_AT_OR_BELOW_C);
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    assert!(matches!(
        GB_18918_2002_GRADE_1A.limit("NH3N"),
        Some(DischargeLimit::MaxByTemperature { .. })
    ));
    let (min, max) = truth::GB18918_PH;
    assert_eq!(
        GB_18918_2002_GRADE_1A.limit("pH"),
        Some(&DischargeLimit::Range { min, max })
    );
}

#[test]
fn hj633_particulate_breakpoints_and_dates_agree() {
    let iaqi: Vec<f64> = IAQI_POINTS.iter().map(|&i| f64::from(i)).collect();
    assert_eq!(iaqi, truth::HJ633_IAQI);
    let editions = [
        (&HJ_633_2012, truth::HJ633_2012_PM25, truth::HJ633_2012_PM10),
        (&HJ_633_2026, truth::HJ633_2026_PM25, truth::HJ633_2026_PM10),
    ];
    for (standard, pm25, pm10) in editions {
        let code = &standard.edition.code;
        let column = |m: Metric| standard.column(m).unwrap().breakpoints.to_vec();
        assert_eq!(column(Metric::Pm25Mean24h), pm25, "{code}");
        assert_eq!(column(Metric::Pm10Mean24h), pm10, "{code}");
    }
    let from = ymd(truth::EDITIONS_2026_FROM);
    assert_eq!(HJ_633_2026.edition.in_force_from, from);
    assert_eq!(HJ_633_2012.edition.in_force_until, from.pred_opt());
}

#[test]
fn gb3095_grade_ii_24_hour_limits_and_phases_agree() {
    // Each phase: the 2012 limits, PM2.5 replaced from 2026-03-01.
    let phases = [
        (&GB_3095_2012, None),
        (
            &GB_3095_2026_PHASE1,
            Some(truth::GB3095_II_24H_PM25_2026_PHASE1),
        ),
        (&GB_3095_2026, Some(truth::GB3095_II_24H_PM25_2026_FINAL)),
    ];
    for (table, pm25) in phases {
        for &(code, limit) in &truth::GB3095_II_24H_2012 {
            let pollutant = Pollutant::from_code(code).unwrap();
            let expected = match pm25 {
                Some(pm25) if pollutant == Pollutant::Pm25 => pm25,
                _ => limit,
            };
            assert_eq!(
                table.limit(pollutant, Averaging::Mean24h, Grade::II),
                Some(expected),
                "{} {code}",
                table.phase
            );
        }
    }
    assert_eq!(
        GB_3095_2026_PHASE1.edition.in_force_from,
        ymd(truth::EDITIONS_2026_FROM)
    );
    assert_eq!(
        GB_3095_2026.edition.in_force_from,
        ymd(truth::GB3095_2026_FINAL_FROM)
    );
}

#[test]
fn aqi_categories_agree() {
    let mut low = 0;
    for (top, name) in truth::AQI_CATEGORIES {
        assert_eq!(AqiLevel::from_aqi(low).category_zh(), name, "AQI {low}");
        assert_eq!(AqiLevel::from_aqi(top).category_zh(), name, "AQI {top}");
        low = top.saturating_add(1);
    }
}

#[test]
fn warning_rules_agree() {
    let w = truth::WARNING;
    let r = WarningRules::default();
    let days = |d: u32| usize::try_from(d).unwrap();
    assert_eq!(
        (r.heavy_above_aqi, r.severe_above_aqi, r.red_any_day_aqi),
        (w.heavy_above_aqi, w.severe_above_aqi, w.red_any_day_aqi)
    );
    assert!(r.include_blue);
    assert_eq!(
        (
            r.blue_min_days,
            r.yellow_min_days,
            r.orange_min_days,
            r.orange_min_severe_days,
            r.red_min_days,
            r.red_min_severe_days
        ),
        (
            days(w.blue_days),
            days(w.yellow_days),
            days(w.orange_days),
            days(w.orange_severe_days),
            days(w.red_days),
            days(w.red_severe_days)
        )
    );
}
