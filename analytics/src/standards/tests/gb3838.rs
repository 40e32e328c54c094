//! GB 3838-2002 Table 1 classes, exceedance multiples and the 2011 evaluation method.

use riverwatch_core::WaterClass::{self, I, II, III, IV, V, WorseThanV};

use super::{AWKWARD_F64, date, round2};
use crate::standards::gb3838::*;

const X: WaterClass = WorseThanV;

const R: WaterBody = WaterBody::River;
const L: WaterBody = WaterBody::Lake;

/// (code, body, limits I..V from Table 1, class of a value exactly at each limit, class of
/// a value just above each limit). Equal limits give the better class.
#[allow(clippy::type_complexity)]
#[rustfmt::skip]
const AT_MOST: &[(&str, WaterBody, [f64; 5], [WaterClass; 5], [WaterClass; 5])] = &[
    ("CODMn", R, [2.0, 4.0, 6.0, 10.0, 15.0],              [I, II, III, IV, V],     [II, III, IV, V, X]),
    ("COD",   R, [15.0, 15.0, 20.0, 30.0, 40.0],           [I, I, III, IV, V],      [III, III, IV, V, X]),
    ("BOD5",  R, [3.0, 3.0, 4.0, 6.0, 10.0],               [I, I, III, IV, V],      [III, III, IV, V, X]),
    ("NH3N",  R, [0.15, 0.5, 1.0, 1.5, 2.0],               [I, II, III, IV, V],     [II, III, IV, V, X]),
    ("TP",    R, [0.02, 0.1, 0.2, 0.3, 0.4],               [I, II, III, IV, V],     [II, III, IV, V, X]),
    ("TP",    L, [0.01, 0.025, 0.05, 0.1, 0.2],            [I, II, III, IV, V],     [II, III, IV, V, X]),
    ("TN",    L, [0.2, 0.5, 1.0, 1.5, 2.0],                [I, II, III, IV, V],     [II, III, IV, V, X]),
    ("TN",    R, [0.2, 0.5, 1.0, 1.5, 2.0],                [I, II, III, IV, V],     [II, III, IV, V, X]),
    ("Cu",    R, [0.01, 1.0, 1.0, 1.0, 1.0],               [I, II, II, II, II],     [II, X, X, X, X]),
    ("Zn",    R, [0.05, 1.0, 1.0, 2.0, 2.0],               [I, II, II, IV, IV],     [II, IV, IV, X, X]),
    ("F",     R, [1.0, 1.0, 1.0, 1.5, 1.5],                [I, I, I, IV, IV],       [IV, IV, IV, X, X]),
    ("Se",    R, [0.01, 0.01, 0.01, 0.02, 0.02],           [I, I, I, IV, IV],       [IV, IV, IV, X, X]),
    ("As",    R, [0.05, 0.05, 0.05, 0.1, 0.1],             [I, I, I, IV, IV],       [IV, IV, IV, X, X]),
    ("Hg",    R, [0.00005, 0.00005, 0.0001, 0.001, 0.001], [I, I, III, IV, IV],     [III, III, IV, X, X]),
    ("Cd",    R, [0.001, 0.005, 0.005, 0.005, 0.01],       [I, II, II, II, V],      [II, V, V, V, X]),
    ("Cr6",   R, [0.01, 0.05, 0.05, 0.05, 0.1],            [I, II, II, II, V],      [II, V, V, V, X]),
    ("Pb",    R, [0.01, 0.01, 0.05, 0.05, 0.1],            [I, I, III, III, V],     [III, III, V, V, X]),
    ("CYN",   R, [0.005, 0.05, 0.2, 0.2, 0.2],             [I, II, III, III, III],  [II, III, X, X, X]),
    ("VPHEN", R, [0.002, 0.002, 0.005, 0.01, 0.1],         [I, I, III, IV, V],      [III, III, IV, V, X]),
    ("OIL",   R, [0.05, 0.05, 0.05, 0.5, 1.0],             [I, I, I, IV, V],        [IV, IV, IV, V, X]),
    ("LAS",   R, [0.2, 0.2, 0.2, 0.3, 0.3],                [I, I, I, IV, IV],       [IV, IV, IV, X, X]),
    ("SULF",  R, [0.05, 0.1, 0.2, 0.5, 1.0],               [I, II, III, IV, V],     [II, III, IV, V, X]),
    ("FCOLI", R, [200.0, 2000.0, 10000.0, 20000.0, 40000.0], [I, II, III, IV, V],   [II, III, IV, V, X]),
];

fn just_above(limit: f64) -> f64 {
    limit * (1.0 + 1e-6)
}

#[test]
fn every_upper_bound_item_at_and_just_above_each_limit() {
    for &(code, body, limits, at, above) in AT_MOST {
        for k in 0..5 {
            assert_eq!(
                classify(code, limits[k], body),
                Some(at[k]),
                "{code} {body:?} at {}",
                limits[k]
            );
            assert_eq!(
                classify(code, just_above(limits[k]), body),
                Some(above[k]),
                "{code} {body:?} just above {}",
                limits[k]
            );
        }
        assert_eq!(classify(code, 0.0, body), Some(I), "{code} at zero");
    }
}

#[test]
fn table_1_has_24_items_and_the_table_3_items() {
    let table_1 = [
        "WT", "pH", "DO", "CODMn", "COD", "BOD5", "NH3N", "TP", "TN", "Cu", "Zn", "F", "Se", "As",
        "Hg", "Cd", "Cr6", "Pb", "CYN", "VPHEN", "OIL", "LAS", "SULF", "FCOLI",
    ];
    assert_eq!(table_1.len(), 24);
    for code in table_1 {
        assert!(GB_3838_2002.item(code).is_some(), "{code}");
    }
    assert_eq!(GB_3838_2002.items.len(), 26);
    assert!(GB_3838_2002.item("NB").is_some());
    assert!(GB_3838_2002.item("BENZ").is_some());
    assert_eq!(
        GB_3838_2002.item("NH3N").map(|i| i.name_zh.as_ref()),
        Some("氨氮")
    );
    assert_eq!(
        GB_3838_2002.item("FCOLI").map(|i| i.unit.as_ref()),
        Some("count/L")
    );
}

#[test]
fn equal_limits_give_the_better_class() {
    assert_eq!(classify("COD", 15.0, WaterBody::River), Some(I));
    assert_eq!(classify("COD", 15.01, WaterBody::River), Some(III));
    assert_eq!(classify("COD", 20.0, WaterBody::River), Some(III));
    assert_eq!(classify("Cu", 0.01, WaterBody::River), Some(I));
    assert_eq!(classify("Cu", 0.011, WaterBody::River), Some(II));
    assert_eq!(classify("Cu", 1.0, WaterBody::River), Some(II));
    assert_eq!(classify("Cu", 1.01, WaterBody::River), Some(WorseThanV));
}

#[test]
fn dissolved_oxygen_is_a_lower_bound() {
    let body = WaterBody::River;
    assert_eq!(classify("DO", 9.0, body), Some(I));
    assert_eq!(classify("DO", 7.5, body), Some(I));
    assert_eq!(classify("DO", 7.49, body), Some(II));
    assert_eq!(classify("DO", 6.0, body), Some(II));
    assert_eq!(classify("DO", 5.99, body), Some(III));
    assert_eq!(classify("DO", 5.0, body), Some(III));
    assert_eq!(classify("DO", 4.99, body), Some(IV));
    assert_eq!(classify("DO", 3.0, body), Some(IV));
    assert_eq!(classify("DO", 2.99, body), Some(V));
    assert_eq!(classify("DO", 2.0, body), Some(V));
    assert_eq!(classify("DO", 1.99, body), Some(WorseThanV));
    assert_eq!(classify("DO", 0.0, body), Some(WorseThanV));
    assert_eq!(classify("DO", 7.5, WaterBody::Lake), Some(I));
}

#[test]
fn ph_must_lie_in_6_to_9() {
    for body in [WaterBody::River, WaterBody::Lake] {
        assert_eq!(classify("pH", 6.0, body), Some(I));
        assert_eq!(classify("pH", 7.0, body), Some(I));
        assert_eq!(classify("pH", 9.0, body), Some(I));
        assert_eq!(classify("pH", 5.99, body), Some(WorseThanV));
        assert_eq!(classify("pH", 9.01, body), Some(WorseThanV));
        assert_eq!(classify("pH", 0.0, body), Some(WorseThanV));
    }
}

#[test]
fn total_phosphorus_depends_on_the_water_body() {
    assert_eq!(classify("TP", 0.05, WaterBody::River), Some(II));
    assert_eq!(classify("TP", 0.05, WaterBody::Lake), Some(III));
    assert_eq!(classify("TP", 0.4, WaterBody::River), Some(V));
    assert_eq!(classify("TP", 0.4, WaterBody::Lake), Some(WorseThanV));
}

#[test]
fn no_class_for_water_temperature_table_3_unknown_and_bad_values() {
    assert_eq!(classify("WT", 12.0, WaterBody::River), None);
    assert_eq!(classify("NB", 0.001, WaterBody::River), None);
    assert_eq!(classify("BENZ", 0.001, WaterBody::River), None);
    assert_eq!(classify("XYZ", 1.0, WaterBody::River), None);
    assert_eq!(
        classify("nh3n", 1.0, WaterBody::River),
        None,
        "codes are case-sensitive"
    );
    for code in ["NH3N", "DO", "pH"] {
        assert_eq!(classify(code, f64::NAN, WaterBody::River), None);
        assert_eq!(classify(code, f64::INFINITY, WaterBody::River), None);
        assert_eq!(classify(code, -0.1, WaterBody::River), None);
    }
    assert!(matches!(
        GB_3838_2002.item("WT").map(|i| &i.criterion),
        Some(Criterion::TemperatureChange { max_weekly_mean_rise_c, max_weekly_mean_fall_c })
            if *max_weekly_mean_rise_c == 1.0 && *max_weekly_mean_fall_c == 2.0
    ));
}

#[test]
fn exceedance_multiples_of_the_2005_nitrobenzene_bulletins() {
    // (mg/L, multiple as published by SEPA), against the Table 3 limit 0.017 mg/L.
    let bulletins = [
        (0.5805, 33.15),
        (0.2660, 14.65),
        (0.3790, 21.29),
        (0.1420, 7.35),
        (0.0754, 3.44),
        (0.1932, 10.36),
        (0.2610, 14.35),
    ];
    for (value, published) in bulletins {
        let multiple = exceedance_multiple("NB", value, WaterBody::River).unwrap();
        assert_eq!(round2(multiple), published, "NB {value}");
    }
    assert_eq!(exceedance_multiple("NB", 0.017, WaterBody::River), None);
    assert_eq!(exceedance_multiple("NB", 0.005, WaterBody::River), None);
    assert_eq!(
        exceedance_multiple("BENZ", 0.02, WaterBody::River).map(round2),
        Some(1.0)
    );
}

#[test]
fn exceedance_multiple_is_against_class_iii() {
    let river = WaterBody::River;
    assert_eq!(
        exceedance_multiple("NH3N", 1.2, river).map(round2),
        Some(0.2)
    );
    assert_eq!(
        exceedance_multiple("NH3N", 1.0, river),
        None,
        "at Class III"
    );
    assert_eq!(exceedance_multiple("NH3N", 0.4, river), None);
    assert_eq!(
        exceedance_multiple("COD", 40.0, river).map(round2),
        Some(1.0)
    );
    assert_eq!(
        exceedance_multiple("FCOLI", 25000.0, river).map(round2),
        Some(1.5)
    );
    // TP: Class III is 0.2 in rivers, 0.05 in lakes.
    assert_eq!(exceedance_multiple("TP", 0.1, river), None);
    assert_eq!(
        exceedance_multiple("TP", 0.1, WaterBody::Lake).map(round2),
        Some(1.0)
    );
    // None for WT, pH and DO, whatever the value.
    assert_eq!(exceedance_multiple("WT", 35.0, river), None);
    assert_eq!(exceedance_multiple("pH", 10.5, river), None);
    assert_eq!(exceedance_multiple("DO", 0.5, river), None);
    assert_eq!(exceedance_multiple("XYZ", 5.0, river), None);
    assert_eq!(exceedance_multiple("NH3N", f64::NAN, river), None);
    assert_eq!(exceedance_multiple("NH3N", -2.0, river), None);
}

#[test]
fn the_2011_method_has_21_class_items() {
    assert_eq!(METHOD_2011.class_items.len(), 21);
    for excluded in ["WT", "TN", "FCOLI"] {
        assert!(
            !METHOD_2011.class_items.iter().any(|c| c == excluded),
            "{excluded}"
        );
    }
    for code in METHOD_2011
        .class_items
        .iter()
        .chain(METHOD_2011.reference_items.iter())
    {
        assert!(
            GB_3838_2002.item(code).is_some(),
            "{code} is in the standard"
        );
    }
    assert_eq!(METHOD_2011.edition.code, "环办〔2011〕22号");
    assert_eq!(METHOD_2011.edition.in_force_from, date(2011, 3, 9));
    assert_eq!(GB_3838_2002.edition.code, "GB 3838-2002");
    assert_eq!(GB_3838_2002.edition.in_force_from, date(2002, 6, 1));
}

#[test]
fn section_class_is_the_worst_class_item() {
    // The DESIGN.md sample observation.
    let values = [
        ("pH", 7.62),
        ("DO", 8.4),
        ("CODMn", 4.1),
        ("NH3N", 0.38),
        ("TP", 0.07),
        ("TN", 1.21),
        ("WT", 2.8),
        ("COND", 312.0),
    ];
    let section = section_class(&values, WaterBody::River).unwrap();
    assert_eq!(
        section.class, III,
        "CODMn 4.1 is Class III; TN 1.21 (IV) does not count"
    );
    assert_eq!(section.deciding, ["CODMn"]);
    assert!(section.main_pollutants.is_empty());
    let codes: Vec<&str> = section.parameters.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(
        codes,
        ["pH", "DO", "CODMn", "NH3N", "TP", "TN"],
        "WT and COND are not classed"
    );
    let tn = section.parameters.iter().find(|p| p.code == "TN").unwrap();
    assert_eq!((tn.class, tn.in_section_class), (IV, false));
    assert!(section.compliant(III));
    assert!(!section.compliant(II));
    assert_eq!(section.grade(), QualityGrade::Good);
}

#[test]
fn total_nitrogen_and_fecal_coliform_never_decide() {
    for body in [WaterBody::River, WaterBody::Lake] {
        let section =
            section_class(&[("NH3N", 0.3), ("TN", 5.0), ("FCOLI", 90000.0)], body).unwrap();
        assert_eq!(section.class, II, "{body:?}");
        assert_eq!(section.deciding, ["NH3N"]);
        assert!(section.main_pollutants.is_empty());
        assert_eq!(section.parameters.len(), 3, "TN and FCOLI are reported");
        assert!(
            section.parameters[1..]
                .iter()
                .all(|p| !p.in_section_class && p.class == WorseThanV)
        );
    }
    assert_eq!(section_class(&[("TN", 5.0)], WaterBody::River), None);
    assert_eq!(section_class(&[], WaterBody::River), None);
    assert_eq!(
        section_class(&[("WT", 5.0), ("NB", 0.5)], WaterBody::River),
        None
    );
    assert_eq!(section_class(&[("NH3N", f64::NAN)], WaterBody::River), None);
}

#[test]
fn worse_than_v_section_and_main_pollutants() {
    let values = [
        ("COD", 45.0),  // 劣V, (45 − 20)/20 = 1.25
        ("NH3N", 2.5),  // 劣V, (2.5 − 1)/1 = 1.5
        ("TP", 0.35),   // V, 0.75
        ("DO", 2.5),    // V, no multiple
        ("CODMn", 5.0), // III
        ("pH", 7.0),    // I
    ];
    let section = section_class(&values, WaterBody::River).unwrap();
    assert_eq!(section.class, WorseThanV);
    assert_eq!(section.deciding, ["COD", "NH3N"]);
    assert_eq!(section.main_pollutants, ["NH3N", "COD", "TP"]);
    assert_eq!(section.grade(), QualityGrade::HeavilyPolluted);
    assert!(!section.compliant(III));
    let cod = &section.parameters[0];
    assert_eq!(cod.exceedance_multiple.map(round2), Some(1.25));
}

#[test]
fn main_pollutants_only_above_class_iii_and_do_after_multiples() {
    let section = section_class(&[("NH3N", 1.2), ("COD", 18.0)], WaterBody::River).unwrap();
    assert_eq!(section.class, IV);
    assert_eq!(
        section.main_pollutants,
        ["NH3N"],
        "COD at Class III is not a main pollutant"
    );

    let section = section_class(&[("DO", 1.0), ("COD", 45.0)], WaterBody::River).unwrap();
    assert_eq!(section.deciding, ["DO", "COD"]);
    assert_eq!(section.main_pollutants, ["COD", "DO"]);

    let section = section_class(&[("pH", 10.0), ("DO", 1.0)], WaterBody::River).unwrap();
    assert_eq!(
        section.main_pollutants,
        ["pH", "DO"],
        "no multiples: input order"
    );

    let section = section_class(&[("NH3N", 3.0), ("NH3N", 1.2)], WaterBody::River).unwrap();
    assert_eq!(section.main_pollutants, ["NH3N"], "a code once");
    assert_eq!(section.parameters.len(), 2);
}

#[test]
fn lake_section_uses_lake_tp() {
    let section = section_class(&[("TP", 0.06), ("NH3N", 0.4)], WaterBody::Lake).unwrap();
    assert_eq!(section.class, IV);
    assert_eq!(section.main_pollutants, ["TP"]);
    let section = section_class(&[("TP", 0.06), ("NH3N", 0.4)], WaterBody::River).unwrap();
    assert_eq!(section.class, II);
}

#[test]
fn compliance_is_equal_or_better() {
    assert!(compliant(I, III));
    assert!(compliant(II, III));
    assert!(compliant(III, III));
    assert!(!compliant(IV, III));
    assert!(!compliant(WorseThanV, V));
    assert!(compliant(WorseThanV, WorseThanV));
}

#[test]
fn qualitative_grades() {
    let expected = [
        (I, "优", "excellent"),
        (II, "优", "excellent"),
        (III, "良好", "good"),
        (IV, "轻度污染", "lightly polluted"),
        (V, "中度污染", "moderately polluted"),
        (WorseThanV, "重度污染", "heavily polluted"),
    ];
    for (class, zh, en) in expected {
        let grade = QualityGrade::for_class(class);
        assert_eq!((grade.label_zh(), grade.label_en()), (zh, en), "{class}");
    }
    assert_eq!(QualityGrade::for_class(III).colour_en(), "green");
}

#[test]
fn no_panic_on_awkward_values() {
    let codes: Vec<&str> = GB_3838_2002.items.iter().map(|i| i.code.as_ref()).collect();
    for body in [WaterBody::River, WaterBody::Lake] {
        for &code in codes.iter().chain(&["", "??"]) {
            for value in AWKWARD_F64 {
                let _ = classify(code, value, body);
                let _ = exceedance_multiple(code, value, body);
            }
        }
        let values: Vec<(&str, f64)> = codes
            .iter()
            .zip(AWKWARD_F64.iter().cycle())
            .map(|(c, v)| (*c, *v))
            .collect();
        let _ = section_class(&values, body);
    }
}

#[test]
fn standard_round_trips_through_serde() {
    let json = serde_json::to_string(&GB_3838_2002).unwrap();
    let back: SurfaceWaterStandard = serde_json::from_str(&json).unwrap();
    assert_eq!(back, GB_3838_2002);
    let json = serde_json::to_string(&METHOD_2011).unwrap();
    let back: EvaluationMethod = serde_json::from_str(&json).unwrap();
    assert_eq!(back, METHOD_2011);
}
