//! River grades, written from the bands of `reference/standards.md` §2 ("River/basin grade")
//! and GB 3838 Table 1 limits: every expected grade is worked out from those rules by hand.

use riverwatch_core::WaterClass::{self, I, II, III, IV, V, WorseThanV as X};

use crate::standards::gb3838::{GB_3838_2002, METHOD_2011, QualityGrade, WaterBody};
use crate::standards::river_grade::{
    ClassShares, GradeMethod, SectionPeriod, change_in_points, compliance_rate,
};

fn section(
    id: &str,
    class: WaterClass,
    means: &[(&str, f64)],
    exceeding: &[&str],
) -> SectionPeriod {
    SectionPeriod {
        station: id.to_string(),
        class,
        means: means.iter().map(|(c, v)| (c.to_string(), *v)).collect(),
        exceeding: exceeding.iter().map(|c| c.to_string()).collect(),
    }
}

fn grade_of(classes: &[WaterClass]) -> QualityGrade {
    ClassShares::of(classes).map(|s| s.grade()).unwrap()
}

#[test]
fn class_proportion_bands_at_their_edges() {
    use QualityGrade::*;
    // 9 of 10 in Ⅰ–Ⅲ is exactly 90 %: 优. 8 of 10 (80 %): 良好.
    assert_eq!(
        grade_of(&[II, II, III, III, III, III, III, III, I, IV]),
        Excellent
    );
    assert_eq!(
        grade_of(&[II, II, III, III, III, III, III, III, IV, IV]),
        Good
    );
    // 3 of 4 is exactly 75 %: 良好 (with 4 classes; the band does not depend on the count).
    assert_eq!(grade_of(&[III, III, III, IV]), Good);
    // 7 of 10 in Ⅰ–Ⅲ, 1 劣Ⅴ (10 % < 20 %): 轻度污染.
    assert_eq!(
        grade_of(&[III, III, III, III, III, III, III, IV, V, X]),
        LightlyPolluted
    );
    // 5 of 10 in Ⅰ–Ⅲ, 2 劣Ⅴ (exactly 20 %): 中度污染.
    assert_eq!(
        grade_of(&[III, III, III, III, III, IV, IV, V, X, X]),
        ModeratelyPolluted
    );
    // 5 of 10 in Ⅰ–Ⅲ, 3 劣Ⅴ (30 %, inside 20–40 %): 中度污染.
    assert_eq!(
        grade_of(&[III, III, III, III, III, IV, V, X, X, X]),
        ModeratelyPolluted
    );
    // 5 of 10 in Ⅰ–Ⅲ, 4 劣Ⅴ (exactly 40 %): 重度污染.
    assert_eq!(
        grade_of(&[III, III, III, III, III, V, X, X, X, X]),
        HeavilyPolluted
    );
    // The corner both readings of the band must place: 60 % Ⅰ–Ⅲ and 40 % 劣Ⅴ.
    assert_eq!(grade_of(&[III, III, III, X, X]), HeavilyPolluted);
}

#[test]
fn shares_are_fractions_of_the_sections() {
    let s = ClassShares::of(&[I, III, IV, V, X]).unwrap();
    assert_eq!(s.sections, 5);
    assert!((s.i_to_iii - 0.4).abs() < 1e-12);
    assert!((s.iv_to_v - 0.4).abs() < 1e-12);
    assert!((s.worse_than_v - 0.2).abs() < 1e-12);
    assert_eq!(ClassShares::of(&[]), None);
}

#[test]
fn five_sections_use_class_proportions() {
    // 4 of 5 in Ⅰ–Ⅲ (80 %): 良好, whatever the means say.
    let sections = [
        section("A", II, &[("NH3N", 0.3)], &[]),
        section("B", III, &[("NH3N", 0.9)], &[]),
        section("C", III, &[("NH3N", 0.9)], &[]),
        section("D", III, &[("NH3N", 0.9)], &[]),
        section("E", X, &[("NH3N", 2.6)], &["NH3N"]),
    ];
    let g = METHOD_2011
        .river_grade(&GB_3838_2002, &sections, WaterBody::River)
        .unwrap();
    assert_eq!(g.method, GradeMethod::ClassProportions);
    assert_eq!(g.grade, QualityGrade::Good);
    assert_eq!(g.mean_class, None);
    assert_eq!(g.main_pollutants.len(), 1);
    assert_eq!(g.main_pollutants[0].code, "NH3N");
    assert!((g.main_pollutants[0].share - 0.2).abs() < 1e-12);
}

#[test]
fn fewer_than_five_sections_use_the_mean_of_each_item() {
    // NH3N means 0.8, 1.2 and 2.0 average 1.333…: Class Ⅳ by GB 3838 Table 1 (1.0 < x ≤ 1.5)
    // → 轻度污染, although one section alone is Class Ⅴ and one Class Ⅲ. DO averages 6.0
    // (Class Ⅱ: ≥ 6), so NH3N decides.
    let sections = [
        section("A", III, &[("NH3N", 0.8), ("DO", 7.0)], &[]),
        section("B", IV, &[("NH3N", 1.2), ("DO", 6.0)], &["NH3N"]),
        section("C", V, &[("NH3N", 2.0), ("DO", 5.0)], &["NH3N"]),
    ];
    let g = METHOD_2011
        .river_grade(&GB_3838_2002, &sections, WaterBody::River)
        .unwrap();
    assert_eq!(g.method, GradeMethod::MeanValues);
    assert_eq!(g.mean_class, Some(IV));
    assert_eq!(g.grade, QualityGrade::LightlyPolluted);
    // The shares are still reported: 1 of 3 in Ⅰ–Ⅲ.
    assert_eq!(g.shares.i_to_iii_sections, 1);
    // NH3N exceeds Class Ⅲ in 2 of 3 sections.
    assert_eq!(g.main_pollutants[0].code, "NH3N");
    assert!((g.main_pollutants[0].share - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn main_pollutants_are_the_three_largest_shares() {
    // Four items exceed; TP in 3 of 5 sections, NH3N in 2, CODMn in 2, COD in 1. NH3N and
    // CODMn tie: the method's item order (CODMn before NH3N) decides. COD is fourth: left out.
    let sections = [
        section("A", IV, &[], &["TP", "NH3N"]),
        section("B", IV, &[], &["TP", "CODMn"]),
        section("C", V, &[], &["TP", "NH3N", "CODMn", "COD"]),
        section("D", III, &[], &[]),
        section("E", III, &[], &[]),
    ];
    let main = METHOD_2011.main_pollutants_of(&sections);
    let codes: Vec<&str> = main.iter().map(|m| m.code.as_str()).collect();
    assert_eq!(codes, ["TP", "CODMn", "NH3N"]);
    assert!((main[0].share - 0.6).abs() < 1e-12);
    // A river where nothing exceeds has none.
    let clean = [section("A", II, &[], &[]), section("B", III, &[], &[])];
    assert!(METHOD_2011.main_pollutants_of(&clean).is_empty());
}

#[test]
fn compliance_rate_and_changes_in_points() {
    assert_eq!(compliance_rate(&[]), None);
    assert_eq!(compliance_rate(&[true, true, false, true]), Some(0.75));
    // 75 % now against 50 % a year earlier: +25 percentage points.
    assert_eq!(change_in_points(Some(0.75), Some(0.5)), Some(25.0));
    assert_eq!(change_in_points(Some(0.75), None), None);
}

#[test]
fn no_sections_no_grade() {
    assert_eq!(
        METHOD_2011.river_grade(&GB_3838_2002, &[], WaterBody::River),
        None
    );
}
