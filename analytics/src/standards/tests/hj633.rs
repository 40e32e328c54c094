//! HJ 633-2012 and HJ 633-2026: breakpoints, rounding, the "above 800" rules, AQI,
//! primary and exceeding pollutants, levels, and choosing the edition by date.

use super::{AWKWARD_F64, date};
use crate::standards::hj633::*;

const IAQI: [u32; 8] = [0, 50, 100, 150, 200, 300, 400, 500];

/// Reference sheet §3.1 (2012) with §3.4 (2026 PM2.5 and PM10).
fn table(edition: u16) -> Vec<(Metric, Vec<f64>)> {
    let (pm10, pm25) = if edition == 2012 {
        (
            vec![0.0, 50.0, 150.0, 250.0, 350.0, 420.0, 500.0, 600.0],
            vec![0.0, 35.0, 75.0, 115.0, 150.0, 250.0, 350.0, 500.0],
        )
    } else {
        (
            vec![0.0, 50.0, 120.0, 250.0, 350.0, 420.0, 500.0, 600.0],
            vec![0.0, 35.0, 60.0, 115.0, 150.0, 250.0, 350.0, 500.0],
        )
    };
    vec![
        (
            Metric::So2Mean24h,
            vec![0.0, 50.0, 150.0, 475.0, 800.0, 1600.0, 2100.0, 2620.0],
        ),
        (Metric::So2Mean1h, vec![0.0, 150.0, 500.0, 650.0, 800.0]),
        (
            Metric::No2Mean24h,
            vec![0.0, 40.0, 80.0, 180.0, 280.0, 565.0, 750.0, 940.0],
        ),
        (
            Metric::No2Mean1h,
            vec![0.0, 100.0, 200.0, 700.0, 1200.0, 2340.0, 3090.0, 3840.0],
        ),
        (Metric::Pm10Mean24h, pm10),
        (
            Metric::CoMean24h,
            vec![0.0, 2.0, 4.0, 14.0, 24.0, 36.0, 48.0, 60.0],
        ),
        (
            Metric::CoMean1h,
            vec![0.0, 5.0, 10.0, 35.0, 60.0, 90.0, 120.0, 150.0],
        ),
        (
            Metric::O3Mean1h,
            vec![0.0, 160.0, 200.0, 300.0, 400.0, 800.0, 1000.0, 1200.0],
        ),
        (
            Metric::O3Mean8h,
            vec![0.0, 100.0, 160.0, 215.0, 265.0, 800.0],
        ),
        (Metric::Pm25Mean24h, pm25),
    ]
}

fn editions() -> [(u16, &'static AqiStandard); 2] {
    [(2012, &HJ_633_2012), (2026, &HJ_633_2026)]
}

#[test]
fn every_breakpoint_of_every_table_gives_its_iaqi() {
    for (year, standard) in editions() {
        for (metric, points) in table(year) {
            for (k, &c) in points.iter().enumerate() {
                assert_eq!(
                    standard.iaqi(metric, c),
                    Some(IaqiOutcome::Value(IAQI[k])),
                    "{year} {metric:?} at {c}"
                );
            }
        }
    }
}

#[test]
fn segment_midpoints_interpolate_linearly() {
    for (year, standard) in editions() {
        for (metric, points) in table(year) {
            for k in 1..points.len() {
                let mid = (points[k - 1] + points[k]) / 2.0;
                let expected = (IAQI[k - 1] + IAQI[k]) / 2;
                assert_eq!(
                    standard.iaqi(metric, mid),
                    Some(IaqiOutcome::Value(expected)),
                    "{year} {metric:?} at {mid}"
                );
            }
        }
    }
}

#[test]
fn worked_example_pm25_86() {
    // Reference sheet §3.4: PM2.5 = 86 → 114 (2012), 124 (2026).
    assert_eq!(
        HJ_633_2012.iaqi(Metric::Pm25Mean24h, 86.0),
        Some(IaqiOutcome::Value(114))
    );
    assert_eq!(
        HJ_633_2026.iaqi(Metric::Pm25Mean24h, 86.0),
        Some(IaqiOutcome::Value(124))
    );
}

#[test]
fn iaqi_rounds_up() {
    // PM2.5 36: 50 + 50 × 1/40 = 51.25 → 52.
    assert_eq!(
        HJ_633_2012.iaqi(Metric::Pm25Mean24h, 36.0),
        Some(IaqiOutcome::Value(52))
    );
    // PM2.5 35.01 → 50.0125 → 51.
    assert_eq!(
        HJ_633_2012.iaqi(Metric::Pm25Mean24h, 35.01),
        Some(IaqiOutcome::Value(51))
    );
    // CO 2.2 mg/m³: 50 + 50 × 0.2/2 = 55 exactly, not 56 from float error.
    assert_eq!(
        HJ_633_2012.iaqi(Metric::CoMean24h, 2.2),
        Some(IaqiOutcome::Value(55))
    );
    // NO2 24h 0.1: 0.125 → 1.
    assert_eq!(
        HJ_633_2012.iaqi(Metric::No2Mean24h, 0.1),
        Some(IaqiOutcome::Value(1))
    );
}

#[test]
fn above_the_top_breakpoint_is_500() {
    for (_, standard) in editions() {
        assert_eq!(
            standard.iaqi(Metric::Pm25Mean24h, 500.1),
            Some(IaqiOutcome::Value(500))
        );
        assert_eq!(
            standard.iaqi(Metric::Pm25Mean24h, 900.0),
            Some(IaqiOutcome::Value(500))
        );
        assert_eq!(
            standard.iaqi(Metric::Pm10Mean24h, 700.0),
            Some(IaqiOutcome::Value(500))
        );
        assert_eq!(
            standard.iaqi(Metric::CoMean1h, 200.0),
            Some(IaqiOutcome::Value(500))
        );
        assert_eq!(
            standard.iaqi(Metric::So2Mean24h, 3000.0),
            Some(IaqiOutcome::Value(500))
        );
        assert_eq!(
            standard.iaqi(Metric::O3Mean1h, f64::MAX),
            Some(IaqiOutcome::Value(500))
        );
    }
}

#[test]
fn so2_1h_above_800() {
    // 2026: IAQI 200.
    assert_eq!(
        HJ_633_2026.iaqi(Metric::So2Mean1h, 900.0),
        Some(IaqiOutcome::Value(200))
    );
    let sample = HourlySample {
        so2_ug_m3: Some(900.0),
        ..HourlySample::default()
    };
    let result = HJ_633_2026.hourly_aqi(&sample);
    assert_eq!(result.iaqi, [(Pollutant::So2, 200)]);
    // 2012: use the SO2 24-h IAQI instead.
    assert_eq!(
        HJ_633_2012.iaqi(Metric::So2Mean1h, 900.0),
        Some(IaqiOutcome::UseInstead(Metric::So2Mean24h))
    );
    // SO2 24h 100: 50 + 50 × 50/100 = 75.
    let sample = HourlySample {
        so2_ug_m3: Some(900.0),
        so2_24h_ug_m3: Some(100.0),
        ..sample
    };
    let result = HJ_633_2012.hourly_aqi(&sample);
    assert_eq!(result.iaqi, [(Pollutant::So2, 75)]);
    assert!(result.unresolved.is_empty());
    // 2012 without the 24-h mean: no SO2 IAQI, reported as unresolved.
    let sample = HourlySample {
        so2_24h_ug_m3: None,
        ..sample
    };
    let result = HJ_633_2012.hourly_aqi(&sample);
    assert!(result.iaqi.is_empty());
    assert_eq!(result.aqi, None);
    assert_eq!(result.unresolved, [Pollutant::So2]);
    // Exactly 800 is still in the table: 200 in both editions.
    for (_, standard) in editions() {
        assert_eq!(
            standard.iaqi(Metric::So2Mean1h, 800.0),
            Some(IaqiOutcome::Value(200))
        );
    }
}

#[test]
fn o3_8h_above_800() {
    // 2026: IAQI 300.
    assert_eq!(
        HJ_633_2026.iaqi(Metric::O3Mean8h, 900.0),
        Some(IaqiOutcome::Value(300))
    );
    let sample = DailySample {
        o3_8h_max_ug_m3: Some(900.0),
        o3_1h_max_ug_m3: Some(500.0),
        ..DailySample::default()
    };
    assert_eq!(HJ_633_2026.daily_aqi(&sample).iaqi, [(Pollutant::O3, 300)]);
    // 2012: use the O3 1-h IAQI; 500 → 200 + 100 × 100/400 = 225.
    assert_eq!(
        HJ_633_2012.iaqi(Metric::O3Mean8h, 900.0),
        Some(IaqiOutcome::UseInstead(Metric::O3Mean1h))
    );
    assert_eq!(HJ_633_2012.daily_aqi(&sample).iaqi, [(Pollutant::O3, 225)]);
    let without_1h = DailySample {
        o3_1h_max_ug_m3: None,
        ..sample
    };
    assert_eq!(
        HJ_633_2012.daily_aqi(&without_1h).unresolved,
        [Pollutant::O3]
    );
    for (_, standard) in editions() {
        assert_eq!(
            standard.iaqi(Metric::O3Mean8h, 800.0),
            Some(IaqiOutcome::Value(300))
        );
    }
}

#[test]
fn hourly_uses_1h_tables_for_gases_and_24h_tables_for_pm() {
    let sample = HourlySample {
        no2_ug_m3: Some(200.0), // NO2 1h → 100 (the 24-h table would give 160)
        co_mg_m3: Some(10.0),   // CO 1h → 100 (24h: 130)
        o3_ug_m3: Some(160.0),  // O3 1h → 50
        so2_ug_m3: Some(150.0), // SO2 1h → 50 (24h: 100)
        pm25_ug_m3: Some(75.0), // PM2.5 24h table → 100 (2012)
        pm10_ug_m3: Some(50.0), // → 50
        so2_24h_ug_m3: None,
    };
    let result = HJ_633_2012.hourly_aqi(&sample);
    assert_eq!(
        result.iaqi,
        [
            (Pollutant::So2, 50),
            (Pollutant::No2, 100),
            (Pollutant::Pm10, 50),
            (Pollutant::Co, 100),
            (Pollutant::O3, 50),
            (Pollutant::Pm25, 100),
        ]
    );
    assert_eq!(result.aqi, Some(100));
    assert_eq!(
        result.primary,
        [Pollutant::No2, Pollutant::Co, Pollutant::Pm25]
    );
    assert!(result.exceeding.is_empty(), "100 is not above 100");

    let daily = DailySample {
        no2_ug_m3: Some(200.0),
        co_mg_m3: Some(10.0),
        so2_ug_m3: Some(150.0),
        ..DailySample::default()
    };
    let result = HJ_633_2012.daily_aqi(&daily);
    assert_eq!(
        result.iaqi,
        [
            (Pollutant::So2, 100),
            (Pollutant::No2, 160),
            (Pollutant::Co, 130)
        ]
    );
    assert_eq!(result.primary, [Pollutant::No2]);
    assert_eq!(result.exceeding, [Pollutant::No2, Pollutant::Co]);
}

#[test]
fn primary_pollutant_rules() {
    // AQI ≤ 50: no primary pollutant.
    let sample = DailySample {
        pm25_ug_m3: Some(35.0),
        pm10_ug_m3: Some(20.0),
        ..DailySample::default()
    };
    let result = HJ_633_2012.daily_aqi(&sample);
    assert_eq!(result.aqi, Some(50));
    assert!(result.primary.is_empty());
    // AQI 51: named.
    let sample = DailySample {
        pm25_ug_m3: Some(35.01),
        ..sample
    };
    let result = HJ_633_2012.daily_aqi(&sample);
    assert_eq!(result.aqi, Some(51));
    assert_eq!(result.primary, [Pollutant::Pm25]);
    // Ties: both are primary. PM2.5 75 → 100, PM10 150 → 100 (2012).
    let sample = DailySample {
        pm25_ug_m3: Some(75.0),
        pm10_ug_m3: Some(150.0),
        ..DailySample::default()
    };
    let result = HJ_633_2012.daily_aqi(&sample);
    assert_eq!(result.aqi, Some(100));
    assert_eq!(result.primary, [Pollutant::Pm10, Pollutant::Pm25]);
}

#[test]
fn exceeding_pollutants_only_in_2012() {
    let sample = DailySample {
        pm25_ug_m3: Some(115.0),
        pm10_ug_m3: Some(150.0),
        ..DailySample::default()
    };
    let result = HJ_633_2012.daily_aqi(&sample);
    assert_eq!(result.aqi, Some(150));
    assert_eq!(
        result.exceeding,
        [Pollutant::Pm25],
        "PM10 at exactly 100 is not exceeding"
    );
    let result = HJ_633_2026.daily_aqi(&sample);
    // 2026: PM10 150 → 100 + 50 × 30/130 = 111.5 → 112; PM2.5 115 → 150.
    assert_eq!(
        result.iaqi,
        [(Pollutant::Pm10, 112), (Pollutant::Pm25, 150)]
    );
    assert!(result.exceeding.is_empty());
}

#[test]
fn the_edition_follows_the_observation_date() {
    assert_eq!(edition_for(date(2026, 2, 28)).edition.code, "HJ 633-2012");
    assert_eq!(edition_for(date(2026, 3, 1)).edition.code, "HJ 633-2026");
    assert_eq!(edition_for(date(2005, 11, 25)).edition.code, "HJ 633-2012");
    assert_eq!(edition_for(date(2040, 1, 1)).edition.code, "HJ 633-2026");
    let sample = DailySample {
        pm25_ug_m3: Some(86.0),
        ..DailySample::default()
    };
    let before = daily_aqi(date(2026, 2, 28), &sample);
    let after = daily_aqi(date(2026, 3, 1), &sample);
    assert_eq!(
        (before.edition.code.as_ref(), before.aqi),
        ("HJ 633-2012", Some(114))
    );
    assert_eq!(
        (after.edition.code.as_ref(), after.aqi),
        ("HJ 633-2026", Some(124))
    );
    let hourly = HourlySample {
        pm25_ug_m3: Some(86.0),
        ..HourlySample::default()
    };
    assert_eq!(hourly_aqi(date(2026, 2, 28), &hourly).aqi, Some(114));
    assert_eq!(hourly_aqi(date(2026, 3, 1), &hourly).aqi, Some(124));
    assert!(HJ_633_2012.edition.in_force_on(date(2026, 2, 28)));
    assert!(!HJ_633_2012.edition.in_force_on(date(2026, 3, 1)));
    assert!(!HJ_633_2026.edition.in_force_on(date(2026, 2, 28)));
    assert!(HJ_633_2026.edition.in_force_on(date(2026, 3, 1)));
}

#[test]
fn levels_and_categories() {
    let expected = [
        (0, 1, "优", "Excellent", "green"),
        (50, 1, "优", "Excellent", "green"),
        (51, 2, "良", "Good", "yellow"),
        (100, 2, "良", "Good", "yellow"),
        (101, 3, "轻度污染", "Lightly polluted", "orange"),
        (150, 3, "轻度污染", "Lightly polluted", "orange"),
        (151, 4, "中度污染", "Moderately polluted", "red"),
        (200, 4, "中度污染", "Moderately polluted", "red"),
        (201, 5, "重度污染", "Heavily polluted", "purple"),
        (300, 5, "重度污染", "Heavily polluted", "purple"),
        (301, 6, "严重污染", "Severely polluted", "maroon"),
        (500, 6, "严重污染", "Severely polluted", "maroon"),
    ];
    for (aqi, number, zh, en, colour) in expected {
        let level = AqiLevel::from_aqi(aqi);
        assert_eq!(
            (
                level.number(),
                level.category_zh(),
                level.category_en(),
                level.colour_en()
            ),
            (number, zh, en, colour),
            "AQI {aqi}"
        );
    }
    assert_eq!(AqiLevel::from_aqi(120).rgb(), [255, 126, 0]);
    assert_eq!(AqiLevel::from_aqi(120).hex(), "#FF7E00");
    assert_eq!(AqiLevel::from_aqi(250).rgb(), [153, 0, 76]);
    assert_eq!(AqiLevel::from_aqi(350).hex(), "#7E0023");
    assert_eq!(AqiLevel::from_aqi(10).colour_zh(), "绿色");
    assert_eq!(AqiLevel::from_aqi(400).colour_zh(), "褐红色");
    assert_eq!(AqiLevel::from_aqi(160).level_zh(), "四级");
    let sample = DailySample {
        pm25_ug_m3: Some(86.0),
        ..DailySample::default()
    };
    assert_eq!(
        HJ_633_2012.daily_aqi(&sample).level,
        Some(AqiLevel::LightlyPolluted)
    );
}

#[test]
fn pollutant_codes_and_names() {
    let expected = [
        (Pollutant::So2, "SO2", "二氧化硫"),
        (Pollutant::No2, "NO2", "二氧化氮"),
        (Pollutant::Pm10, "PM10", "可吸入颗粒物"),
        (Pollutant::Co, "CO", "一氧化碳"),
        (Pollutant::O3, "O3", "臭氧"),
        (Pollutant::Pm25, "PM25", "细颗粒物"),
    ];
    for (pollutant, code, zh) in expected {
        assert_eq!((pollutant.code(), pollutant.name_zh()), (code, zh));
        assert_eq!(Pollutant::from_code(code), Some(pollutant));
    }
    assert_eq!(Pollutant::from_code("PM2.5"), None);
    assert_eq!(Pollutant::Pm25.label(), "PM2.5");
    assert_eq!(Pollutant::Co.unit(), "mg/m³");
    assert_eq!(serde_json::to_string(&Pollutant::Pm25).unwrap(), "\"PM25\"");
}

#[test]
fn bad_concentrations_have_no_iaqi() {
    for (_, standard) in editions() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
            assert_eq!(standard.iaqi(Metric::Pm25Mean24h, bad), None, "{bad}");
        }
        let sample = HourlySample {
            pm25_ug_m3: Some(f64::NAN),
            pm10_ug_m3: Some(-3.0),
            no2_ug_m3: Some(40.0),
            ..HourlySample::default()
        };
        let result = standard.hourly_aqi(&sample);
        assert_eq!(result.iaqi, [(Pollutant::No2, 20)]);
        assert_eq!(result.unresolved, [Pollutant::Pm10, Pollutant::Pm25]);
        let empty = standard.daily_aqi(&DailySample::default());
        assert_eq!((empty.aqi, empty.level), (None, None));
        assert!(empty.primary.is_empty() && empty.iaqi.is_empty());
    }
}

#[test]
fn no_panic_on_awkward_values() {
    for (year, standard) in editions() {
        for (metric, _) in table(year) {
            for value in AWKWARD_F64 {
                let _ = standard.iaqi(metric, value);
                let _ = standard.iaqi_resolved(metric, value, |_| Some(value));
            }
        }
        for value in AWKWARD_F64 {
            let v = Some(value);
            let hourly = HourlySample {
                so2_ug_m3: v,
                no2_ug_m3: v,
                co_mg_m3: v,
                o3_ug_m3: v,
                pm25_ug_m3: v,
                pm10_ug_m3: v,
                so2_24h_ug_m3: v,
            };
            let _ = standard.hourly_aqi(&hourly);
            let daily = DailySample {
                so2_ug_m3: v,
                no2_ug_m3: v,
                co_mg_m3: v,
                pm25_ug_m3: v,
                pm10_ug_m3: v,
                o3_8h_max_ug_m3: v,
                o3_1h_max_ug_m3: v,
            };
            let _ = standard.daily_aqi(&daily);
        }
    }
}

#[test]
fn a_malformed_table_gives_no_iaqi_instead_of_panicking() {
    let mut standard = HJ_633_2026.clone();
    standard.columns.to_mut()[0].breakpoints = vec![0.0, 50.0, 50.0, 10.0].into();
    assert_eq!(standard.iaqi(Metric::So2Mean24h, 5.0), None);
    assert_eq!(standard.iaqi(Metric::So2Mean24h, 50.0), None);
    standard.columns.to_mut()[0].breakpoints = vec![0.0, f64::NAN, 100.0].into();
    assert_eq!(standard.iaqi(Metric::So2Mean24h, 5.0), None);
    standard.columns.to_mut()[0].breakpoints = vec![10.0, 50.0].into();
    assert_eq!(
        standard.iaqi(Metric::So2Mean24h, 5.0),
        None,
        "below the first breakpoint"
    );
    assert_eq!(
        standard.iaqi(Metric::So2Mean24h, 30.0),
        Some(IaqiOutcome::Value(25))
    );
    standard.columns.to_mut()[0].breakpoints = vec![].into();
    assert_eq!(standard.iaqi(Metric::So2Mean24h, 5.0), None);
    standard.columns.to_mut()[0].breakpoints = vec![10.0].into();
    assert_eq!(standard.iaqi(Metric::So2Mean24h, 5.0), None);
    // A loop of "use another column" rules stops after one hop.
    let cols = standard.columns.to_mut();
    cols[1].above_top = AboveTop::UseMetric(Metric::So2Mean1h);
    assert_eq!(
        standard.iaqi_resolved(Metric::So2Mean1h, 900.0, |_| Some(900.0)),
        None
    );
}

#[test]
fn tables_round_trip_through_serde() {
    for (_, standard) in editions() {
        let json = serde_json::to_string(standard).unwrap();
        let back: AqiStandard = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, standard);
    }
}

// HJ 633-2012 §5.1: the daily report has seven indicators, O3's daily maximum 1-hour mean
// and daily maximum 8-hour moving mean among them; O3's IAQI is the larger of the two.

#[test]
fn the_daily_indicators_are_the_seven_of_section_5_1() {
    for (_, standard) in editions() {
        let mut indicators = standard.daily_indicators.to_vec();
        indicators.sort();
        assert_eq!(
            indicators,
            [
                Metric::So2Mean24h,
                Metric::No2Mean24h,
                Metric::Pm10Mean24h,
                Metric::CoMean24h,
                Metric::O3Mean1h,
                Metric::O3Mean8h,
                Metric::Pm25Mean24h,
            ]
        );
    }
}

/// A summer day: PM2.5 24-h mean 50, O3 daily maximum 8-hour mean 150 and daily maximum
/// 1-hour mean 350 µg/m³.
fn ozone_day() -> DailySample {
    DailySample {
        pm25_ug_m3: Some(50.0),
        o3_8h_max_ug_m3: Some(150.0),
        o3_1h_max_ug_m3: Some(350.0),
        ..DailySample::default()
    }
}

#[test]
fn a_day_where_the_o3_1_hour_maximum_dominates_2012() {
    let result = HJ_633_2012.daily_aqi(&ozone_day());
    // PM2.5 50: 50 + (100 − 50) / (75 − 35) × (50 − 35) = 68.75 → 69.
    // O3 8 h 150: 50 + (100 − 50) / (160 − 100) × (150 − 100) = 91.67 → 92.
    // O3 1 h 350: 150 + (200 − 150) / (400 − 300) × (350 − 300) = 175.
    assert_eq!(result.iaqi, [(Pollutant::O3, 175), (Pollutant::Pm25, 69)]);
    assert_eq!(
        result.iaqi_columns,
        [
            (Pollutant::O3, Metric::O3Mean1h),
            (Pollutant::Pm25, Metric::Pm25Mean24h)
        ]
    );
    assert_eq!(result.aqi, Some(175));
    assert_eq!(result.level, Some(AqiLevel::ModeratelyPolluted));
    assert_eq!(result.primary, [Pollutant::O3], "named once, as O3");
    assert_eq!(result.exceeding, [Pollutant::O3]);
    assert!(result.unresolved.is_empty());
}

#[test]
fn a_day_where_the_o3_1_hour_maximum_dominates_2026() {
    let result = HJ_633_2026.daily_aqi(&ozone_day());
    // PM2.5 50 (2026 table): 50 + (100 − 50) / (60 − 35) × (50 − 35) = 80.
    // O3 unchanged: 8 h 150 → 92, 1 h 350 → 175.
    assert_eq!(result.iaqi, [(Pollutant::O3, 175), (Pollutant::Pm25, 80)]);
    assert_eq!(result.iaqi_columns[0], (Pollutant::O3, Metric::O3Mean1h));
    assert_eq!(result.aqi, Some(175));
    assert_eq!(result.primary, [Pollutant::O3]);
    assert!(
        result.exceeding.is_empty(),
        "2026 names no exceeding pollutants"
    );
}

#[test]
fn the_o3_8_hour_maximum_still_counts_when_its_iaqi_is_the_larger() {
    for (year, standard) in editions() {
        let sample = DailySample {
            o3_8h_max_ug_m3: Some(200.0),
            o3_1h_max_ug_m3: Some(210.0),
            ..DailySample::default()
        };
        let result = standard.daily_aqi(&sample);
        // 8 h 200: 100 + (150 − 100) / (215 − 160) × (200 − 160) = 136.36 → 137.
        // 1 h 210: 100 + (150 − 100) / (300 − 200) × (210 − 200) = 105.
        assert_eq!(result.iaqi, [(Pollutant::O3, 137)], "{year}");
        assert_eq!(result.iaqi_columns, [(Pollutant::O3, Metric::O3Mean8h)]);
        // A tie names the 8-hour column: 8 h 160 → 100, 1 h 200 → 100.
        let tie = DailySample {
            o3_8h_max_ug_m3: Some(160.0),
            o3_1h_max_ug_m3: Some(200.0),
            ..DailySample::default()
        };
        let result = standard.daily_aqi(&tie);
        assert_eq!(result.iaqi, [(Pollutant::O3, 100)]);
        assert_eq!(result.iaqi_columns, [(Pollutant::O3, Metric::O3Mean8h)]);
        // Only the 1-hour maximum known: it alone gives O3's IAQI (1 h 350 → 175).
        let only_1h = DailySample {
            o3_1h_max_ug_m3: Some(350.0),
            ..DailySample::default()
        };
        let result = standard.daily_aqi(&only_1h);
        assert_eq!(result.iaqi, [(Pollutant::O3, 175)]);
        assert_eq!(result.iaqi_columns, [(Pollutant::O3, Metric::O3Mean1h)]);
    }
}

#[test]
fn o3_8_hour_maximum_above_800_with_the_1_hour_maximum_in_the_daily_aqi() {
    let sample = DailySample {
        o3_8h_max_ug_m3: Some(850.0),
        o3_1h_max_ug_m3: Some(1100.0),
        ..DailySample::default()
    };
    // 1 h 1100: 400 + (500 − 400) / (1200 − 1000) × (1100 − 1000) = 450.
    // 2012 (note (3)): the 8-hour mean gives no IAQI, O3 is reported by the 1-hour one: 450.
    let result = HJ_633_2012.daily_aqi(&sample);
    assert_eq!(result.iaqi, [(Pollutant::O3, 450)]);
    assert_eq!(result.iaqi_columns, [(Pollutant::O3, Metric::O3Mean1h)]);
    assert_eq!(result.level, Some(AqiLevel::SeverelyPolluted));
    // 2026: the 8-hour mean gives 300, the 1-hour maximum 450: the larger, 450.
    let result = HJ_633_2026.daily_aqi(&sample);
    assert_eq!(result.iaqi, [(Pollutant::O3, 450)]);
    assert_eq!(result.iaqi_columns, [(Pollutant::O3, Metric::O3Mean1h)]);
    // 2026 with a 1-hour maximum whose IAQI is below 300 (1 h 700: 200 + 100 / 400 × 300 =
    // 275): the 8-hour rule's 300 wins.
    let low_1h = DailySample {
        o3_1h_max_ug_m3: Some(700.0),
        ..sample
    };
    let result = HJ_633_2026.daily_aqi(&low_1h);
    assert_eq!(result.iaqi, [(Pollutant::O3, 300)]);
    assert_eq!(result.iaqi_columns, [(Pollutant::O3, Metric::O3Mean8h)]);
    // 2012 takes the 1-hour IAQI whatever it is: 275.
    let result = HJ_633_2012.daily_aqi(&low_1h);
    assert_eq!(result.iaqi, [(Pollutant::O3, 275)]);
    assert_eq!(result.iaqi_columns, [(Pollutant::O3, Metric::O3Mean1h)]);
    // Without the 1-hour maximum: 2012 cannot report O3, 2026 gives 300.
    let no_1h = DailySample {
        o3_1h_max_ug_m3: None,
        ..sample
    };
    let result = HJ_633_2012.daily_aqi(&no_1h);
    assert!(result.iaqi.is_empty());
    assert_eq!(result.unresolved, [Pollutant::O3]);
    let result = HJ_633_2026.daily_aqi(&no_1h);
    assert_eq!(result.iaqi, [(Pollutant::O3, 300)]);
    assert!(result.unresolved.is_empty());
}

#[test]
fn a_bad_o3_value_leaves_the_other_o3_indicator() {
    for (_, standard) in editions() {
        let sample = DailySample {
            o3_8h_max_ug_m3: Some(150.0),
            o3_1h_max_ug_m3: Some(f64::NAN),
            ..DailySample::default()
        };
        let result = standard.daily_aqi(&sample);
        assert_eq!(result.iaqi, [(Pollutant::O3, 92)]);
        assert!(result.unresolved.is_empty());
        let both_bad = DailySample {
            o3_8h_max_ug_m3: Some(-1.0),
            ..sample
        };
        let result = standard.daily_aqi(&both_bad);
        assert!(result.iaqi.is_empty());
        assert_eq!(result.unresolved, [Pollutant::O3], "listed once");
    }
}

#[test]
fn hourly_records_name_the_so2_24_hour_column_when_2012_sends_them_there() {
    let sample = HourlySample {
        so2_ug_m3: Some(900.0),
        so2_24h_ug_m3: Some(100.0),
        no2_ug_m3: Some(40.0),
        ..HourlySample::default()
    };
    let result = HJ_633_2012.hourly_aqi(&sample);
    assert_eq!(
        result.iaqi_columns,
        [
            (Pollutant::So2, Metric::So2Mean24h),
            (Pollutant::No2, Metric::No2Mean1h)
        ]
    );
    let result = HJ_633_2026.hourly_aqi(&sample);
    assert_eq!(result.iaqi_columns[0], (Pollutant::So2, Metric::So2Mean1h));
}
