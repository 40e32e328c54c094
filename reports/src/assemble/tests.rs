//! A week of the Lalin River written into a real evaluation store, and the report's numbers
//! worked out by hand from GB 3838-2002 Table 1 and the 2011 method's bands
//! (`reference/standards.md` §2), not from riverwatch's output.

use chrono::{NaiveDate, TimeZone, Utc};
use riverwatch_analytics::describe::day_start;
use riverwatch_analytics::model::{
    AqiRecord, JointControlRecord, LedgerEntry, ParameterMean, WarningRecord,
};
use riverwatch_analytics::standards::gb3838::QualityGrade;
use riverwatch_analytics::standards::hydrology::LevelState;
use riverwatch_analytics::standards::river_grade::GradeMethod;
use riverwatch_analytics::store::{AnalyticsStore, Commit};
use riverwatch_core::{Lang, Province, WaterClass};

use super::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A stored day of `station` with these NH3N and CODMn means, every reading delivered.
fn day(
    registry: &Registry,
    station: &str,
    d: NaiveDate,
    nh3n: f64,
    codmn: f64,
    compliant: bool,
) -> WindowEvaluation {
    let s = registry.station(station).unwrap();
    let per_day = 86_400 / s.report_interval_secs;
    let param = |code: &str, mean: f64| ParameterMean {
        code: code.into(),
        mean,
        count: per_day,
        class: None,
        exceedance_multiple: None,
        in_section_class: true,
    };
    WindowEvaluation {
        station: station.into(),
        period: WindowPeriod::Day,
        start: day_start(d),
        revision: 0,
        computed_at: day_start(d),
        standard: "GB 3838-2002; 环办〔2011〕22号".into(),
        class: None,
        target: Some(WaterClass::III),
        compliant: Some(compliant),
        deciding: vec![],
        main_pollutants: vec![],
        completeness: 1.0,
        valid_readings: per_day * s.parameters.len() as u32,
        expected_readings: per_day * s.parameters.len() as u32,
        sufficient: true,
        parameters: vec![param("NH3N", nh3n), param("CODMn", codmn)],
    }
}

fn aqi_day(station: &str, d: NaiveDate, level: u8) -> AqiRecord {
    serde_json::from_value(serde_json::json!({
        "station": station, "period": "day", "start": day_start(d), "revision": 0,
        "computed_at": day_start(d), "edition": "HJ 633-2026", "aqi": 40 * u32::from(level),
        "level": level, "category_zh": null, "primary": [], "iaqi": {}, "concentrations": {},
        "insufficient": [], "over_gb3095": []
    }))
    .unwrap()
}

#[test]
fn a_week_of_the_lalin_river_read_back_and_graded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analytics.db");
    let store = AnalyticsStore::open(&path).unwrap();
    let registry = Registry::builtin().unwrap();
    let config = AnalyticsConfig::default();

    // Week 2026-W48: Monday 23 to Sunday 29 November. The seven Lalin sections, the same
    // means every day:
    //   LLH-MPS NH3N 0.4 (Ⅱ: 0.15 < 0.4 ≤ 0.5), CODMn 3.0 (Ⅱ: 2 < 3 ≤ 4)  → Ⅱ
    //   LLH-WC  NH3N 0.8 (Ⅲ: 0.5 < 0.8 ≤ 1.0)                            → Ⅲ
    //   LLH-NTS NH3N 1.3 (Ⅳ: 1.0 < 1.3 ≤ 1.5), multiple (1.3 − 1.0)/1.0 = 0.3 → Ⅳ
    //   LLH-LLZ NH3N 2.5 (劣Ⅴ: > 2.0), multiple (2.5 − 1.0)/1.0 = 1.5     → 劣Ⅴ
    //   LLH-YS  CODMn 7.0 (Ⅳ: 6 < 7 ≤ 10), multiple (7 − 6)/6 = 0.1667    → Ⅳ
    //   LLH-CJG NH3N 0.9, LLH-HK NH3N 0.6                                   → Ⅲ
    let week: Vec<(&str, f64, f64)> = vec![
        ("LLH-MPS", 0.4, 3.0),
        ("LLH-WC", 0.8, 3.0),
        ("LLH-NTS", 1.3, 3.0),
        ("LLH-LLZ", 2.5, 3.0),
        ("LLH-YS", 0.8, 7.0),
        ("LLH-CJG", 0.9, 3.0),
        ("LLH-HK", 0.6, 3.0),
    ];
    let mut evaluations = Vec::new();
    for d in 23..=29 {
        for (id, nh3n, codmn) in &week {
            let ok = *nh3n <= 1.0 && *codmn <= 6.0;
            evaluations.push(day(&registry, id, date(2026, 11, d), *nh3n, *codmn, ok));
        }
    }
    // The week before: every section Ⅲ, which misses the Class Ⅱ target of the 磨盘山
    // reservoir (LLH-MPS) and meets the others' Class Ⅲ: 6 of 7 compliant.
    for d in 16..=22 {
        for (id, _, _) in &week {
            evaluations.push(day(&registry, id, date(2026, 11, d), 0.8, 3.0, true));
        }
    }
    // A year earlier (2025-W48, Monday 24 to Sunday 30 November 2025): only 牛头山大桥,
    // Ⅱ, compliant: 1 of 1. One stored day alone would be too few valid data to judge.
    for d in 24..=30 {
        evaluations.push(day(&registry, "LLH-NTS", date(2025, 11, d), 0.4, 3.0, true));
    }
    // Three hours of 牛头山大桥 on the 23rd, two of them out of target.
    for (h, ok) in [(0, false), (1, false), (2, true)] {
        let mut e = day(&registry, "LLH-NTS", date(2026, 11, 23), 1.3, 3.0, ok);
        e.period = WindowPeriod::Hour;
        e.start += chrono::Duration::hours(h);
        evaluations.push(e);
    }
    // 双城: AQI levels 2, 2, 2, 5, 5, 6 on six days (three heavy: level 5 and 6), a blue
    // warning on two days; joint control on one day.
    let aqi = [2, 2, 2, 5, 5, 6]
        .iter()
        .zip(23..)
        .map(|(l, d)| aqi_day("AIR-SC", date(2026, 11, d), *l))
        .collect();
    let warning = |d: u32, level| WarningRecord {
        station: "AIR-SC".into(),
        city_zh: "双城区".into(),
        province: Province::Heilongjiang,
        date: date(2026, 11, d),
        revision: 0,
        level,
        daily_aqi: None,
        run_days: 0,
        severe_days: 0,
        computed_at: Utc::now(),
    };
    let warnings = vec![
        warning(26, WarningLevel::Blue),
        warning(27, WarningLevel::Blue),
        warning(28, WarningLevel::None),
    ];
    let joint = vec![JointControlRecord {
        date: date(2026, 11, 27),
        revision: 0,
        active: true,
        heavy_hlj: vec!["AIR-SC".into()],
        heavy_jl: vec!["AIR-YS".into()],
        cities_known: 8,
        rule: String::new(),
        computed_at: Utc::now(),
    }];
    let ledger_entry = |month: &str| LedgerEntry {
        station: "LLH-CJG".into(),
        month: month.into(),
        revision: 0,
        class: Some(WaterClass::III),
        target: WaterClass::III,
        compliant: Some(true),
        assessed: true,
        class_steps: 0,
        exceeding_parameters: vec![],
        upstream: Province::Heilongjiang,
        downstream: Province::Jilin,
        payer: None,
        payee: None,
        amount_yuan: 0.0,
        rule: String::new(),
        computed_at: Utc::now(),
    };
    store
        .commit(&Commit {
            evaluations,
            aqi,
            warnings,
            joint,
            ledger: vec![ledger_entry("2026-10"), ledger_entry("2026-11")],
            ..Commit::default()
        })
        .unwrap();

    let reader = EvaluationReader::open(&path).unwrap();
    let src = Sources {
        registry: &registry,
        analytics: &config,
        evaluations: &reader,
        alerts: None,
    };
    let report = assemble(
        &src,
        &Request {
            period: WindowPeriod::Week,
            date: date(2026, 11, 25),
            river: Some("lalin".into()),
            now: Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap(),
        },
    )
    .unwrap();

    assert_eq!(
        (report.first_day, report.last_day),
        (date(2026, 11, 23), date(2026, 11, 29))
    );
    assert_eq!(report.sections.len(), 7);
    let row = |id: &str| report.sections.iter().find(|s| s.station == id).unwrap();
    use WaterClass::*;
    let classes: Vec<Option<WaterClass>> = report.sections.iter().map(|s| s.class).collect();
    assert_eq!(
        classes,
        vec![
            Some(II),
            Some(III),
            Some(IV),
            Some(WorseThanV),
            Some(IV),
            Some(III),
            Some(III)
        ]
    );
    let nts = row("LLH-NTS");
    assert_eq!(nts.compliant, Some(false));
    assert_eq!(nts.exceeding.len(), 1);
    assert_eq!(
        (
            nts.exceeding[0].name_zh.as_str(),
            nts.exceeding[0].code.as_str()
        ),
        ("氨氮", "NH3N")
    );
    assert!((nts.exceeding[0].multiple - 0.3).abs() < 1e-9);
    assert!((row("LLH-LLZ").exceeding[0].multiple - 1.5).abs() < 1e-9);
    // Stored multiples carry six decimals.
    assert!((row("LLH-YS").exceeding[0].multiple - 1.0 / 6.0).abs() < 1e-6);
    assert_eq!(nts.class_last_year, Some(II));
    assert_eq!(row("LLH-WC").class_last_year, None);
    assert_eq!((nts.hours_out, nts.days_out), (2, 7));
    assert_eq!(row("LLH-WC").days_out, 0);
    assert!((nts.valid_rate - 1.0).abs() < 1e-9);
    // 牛头山大桥 is a boundary section fed from Heilongjiang (the ledger's rule): 黑→吉.
    let relation = nts.boundary.unwrap();
    assert_eq!(relation.label(riverwatch_core::Lang::Zh), "黑→吉");
    assert_eq!(row("LLH-WC").boundary, None);

    // Seven sections: class proportions. Ⅰ–Ⅲ 4/7 < 75 %, 劣Ⅴ 1/7 < 20 %: 轻度污染.
    assert_eq!(report.rivers.len(), 1);
    let lalin = &report.rivers[0];
    let grade = lalin.grade.as_ref().unwrap();
    assert_eq!(grade.method, GradeMethod::ClassProportions);
    assert_eq!(grade.grade, QualityGrade::LightlyPolluted);
    assert!((grade.shares.i_to_iii - 4.0 / 7.0).abs() < 1e-9);
    assert!((grade.shares.worse_than_v - 1.0 / 7.0).abs() < 1e-9);
    // Main pollutants: NH3N above Ⅲ at 2 of 7 sections, CODMn at 1 of 7.
    let main: Vec<&str> = grade
        .main_pollutants
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert_eq!(main, ["NH3N", "CODMn"]);
    // Named as GB 3838's Table 1 names them, in the rivers table too.
    let named: Vec<&str> = lalin
        .main_pollutants
        .iter()
        .map(|p| p.name_zh.as_str())
        .collect();
    assert_eq!(named, ["氨氮", "高锰酸盐指数"]);
    let tables = crate::tables::tables(&report, Lang::Zh);
    let rivers = tables.iter().find(|t| t.title == "河流水质").unwrap();
    assert!(
        rivers.rows[0]
            .iter()
            .any(|c| matches!(c, crate::tables::Cell::Text(t) if t == "氨氮、高锰酸盐指数")),
        "{:?}",
        rivers.rows[0]
    );
    // 达标率 4/7 (Ⅱ meets the reservoir's Ⅱ; three Ⅲ meet Ⅲ); the week before 6/7 (环比
    // −28.57 points); a year earlier 1/1 (同比 −42.86 points).
    assert!((lalin.compliance_rate.unwrap() - 4.0 / 7.0).abs() < 1e-9);
    let previous = (4.0 / 7.0 - 6.0 / 7.0) * 100.0;
    assert!((lalin.change_previous_points.unwrap() - previous).abs() < 1e-9);
    let year = (4.0 / 7.0 - 1.0) * 100.0;
    assert!((lalin.change_year_points.unwrap() - year).abs() < 1e-9);

    // Boundary sections of the Lalin in river order, each against the section above it.
    let boundary: Vec<&str> = report.boundary.iter().map(|b| b.station.as_str()).collect();
    assert_eq!(
        boundary,
        ["LLH-NTS", "LLH-LLZ", "LLH-YS", "LLH-CJG", "LLH-HK"]
    );
    assert_eq!(
        report.boundary[0].upstream_station.as_deref(),
        Some("LLH-WC")
    );
    assert_eq!(report.boundary[0].upstream_class, Some(III));
    // The chart: one class per day for each boundary section.
    assert_eq!(report.trend.starts.len(), 7);
    assert_eq!(
        report.trend.series[1].classes,
        vec![None; 7],
        "days hold no stored class"
    );

    // The ledger of the month the week lies in, not the month before.
    assert_eq!(report.ledger.len(), 1);
    assert_eq!(report.ledger[0].month, "2026-11");

    let sc = report.air.iter().find(|a| a.station == "AIR-SC").unwrap();
    assert_eq!(sc.days_per_level, [0, 3, 0, 0, 2, 1]);
    assert_eq!((sc.days_known, sc.heavy_days, sc.warning_days), (6, 3, 2));
    assert_eq!(sc.highest_warning, WarningLevel::Blue);
    assert_eq!(report.joint_control_days, 1);
    assert_eq!(report.alerts, None);

    // The programs' view carries the same numbers.
    let v = crate::json::view(&report);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["period"]["start"], "2026-11-23");
    assert_eq!(json["sections"][2]["id"], "LLH-NTS");
    assert_eq!(json["sections"][2]["class"], "IV");
    assert_eq!(json["sections"][2]["target_class"], "III");
    assert_eq!(json["sections"][2]["exceeding"][0]["code"], "NH3N");
    assert_eq!(json["rivers"][0]["grade"], "lightly_polluted");
    assert_eq!(json["rivers"][0]["main_pollutants"][0], "NH3N");
    assert_eq!(json["air"][0]["days_per_level"]["5"], 2);
    // A changed number changes the digest.
    let mut changed = report.clone();
    changed.sections[0].valid_rate = 0.5;
    assert_ne!(crate::json::digest(&report), crate::json::digest(&changed));
    assert_eq!(
        crate::json::digest(&report),
        crate::json::digest(&report.clone())
    );

    workbook_read_back(&report);
}

/// The workbook of that week, read back with calamine: the sheets, the written-out classes,
/// numbers stored as numbers, the units in the headers, the chart part.
fn workbook_read_back(report: &Report) {
    use calamine::{Data, Reader, Xlsx};
    let bytes = crate::xlsx::workbook(report, riverwatch_core::Lang::Zh, false).unwrap();
    let mut wb: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    let names = wb.sheet_names();
    assert_eq!(names[0], "汇总");
    assert!(names.iter().any(|n| n == "断面水质"), "{names:?}");
    assert!(names.iter().any(|n| n == "跨界断面类别变化"), "{names:?}");
    let summary = wb.worksheet_range("汇总").unwrap();
    let title = summary.get_value((0, 0)).unwrap().to_string();
    assert!(
        title.contains("拉林河") && title.contains("周报"),
        "{title}"
    );

    let sections = wb.worksheet_range("断面水质").unwrap();
    let header: Vec<String> = (0..14)
        .map(|c| sections.get_value((0, c)).unwrap().to_string())
        .collect();
    assert_eq!(header[7], "本期类别");
    assert_eq!(header[13], "有效数据率 (%)");
    // Row 3 (after the header): 牛头山大桥, Ⅳ类, not compliant, 氨氮(0.3), 2 h, 7 d, 100 %.
    let row = |c: u32| sections.get_value((3, c)).unwrap().clone();
    assert_eq!(row(2), Data::String("牛头山大桥".into()));
    assert_eq!(row(5), Data::String("黑→吉".into()));
    assert_eq!(row(7), Data::String("Ⅳ类".into()));
    assert_eq!(row(8), Data::String("Ⅱ类".into()));
    assert_eq!(row(9), Data::String("否".into()));
    assert_eq!(row(10), Data::String("氨氮(0.3)".into()));
    assert_eq!(row(11), Data::Float(2.0));
    assert_eq!(row(12), Data::Float(7.0));
    assert_eq!(row(13), Data::Float(100.0));

    let rivers = wb.worksheet_range("河流水质").unwrap();
    assert_eq!(
        rivers.get_value((1, 3)),
        Some(&Data::String("轻度污染".into()))
    );
    let Some(Data::Float(rate)) = rivers.get_value((1, 7)) else {
        panic!("达标率 is a number");
    };
    assert!((rate - 400.0 / 7.0).abs() < 1e-9);

    let air = wb.worksheet_range("空气质量").unwrap();
    let sc: Vec<Data> = (3..11)
        .map(|c| air.get_value((1, c)).unwrap().clone())
        .collect();
    assert_eq!(
        sc,
        [0.0, 3.0, 0.0, 0.0, 2.0, 1.0, 3.0, 2.0]
            .map(Data::Float)
            .to_vec()
    );
    // The native chart is a part of the package (calamine does not read charts).
    let needle = b"xl/charts/chart1.xml";
    assert!(bytes.windows(needle.len()).any(|w| w == needle));
}

/// A live event of `rule` as analytics stores it.
fn event(
    id: &str,
    rule: &str,
    status: &str,
    subject: &str,
    parameter: Option<&str>,
    level: Option<&str>,
    at: chrono::DateTime<Utc>,
) -> riverwatch_core::events::Event {
    serde_json::from_value(serde_json::json!({
        "id": id, "rule": rule, "status": status, "severity": "warning", "subject": subject,
        "parameter": parameter, "provinces": ["JL"], "cross_border": false,
        "observed_at": at, "emitted_at": at, "level": level, "standard": "",
        "summary_zh": "", "summary_en": ""
    }))
    .unwrap()
}

#[test]
fn outfalls_and_gauges_come_from_the_stored_events_and_hourly_levels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analytics.db");
    let store = AnalyticsStore::open(&path).unwrap();
    let registry = Registry::builtin().unwrap();
    let config = AnalyticsConfig::default();
    // CST times of week 2026-W48 (23 to 29 November).
    let cst = |d: u32, h: u32| {
        riverwatch_core::time::from_cst(date(2026, 11, d).and_hms_opt(h, 0, 0).unwrap())
    };
    let events = vec![
        // 榆树 plant: NH3N beyond from the 22nd 22:00 (before the week) to the 23rd 04:00,
        // COD from 02:00 to 06:00: 6 hours of the week beyond a limit, one exceedance
        // started in the week.
        event(
            "d1",
            "discharge_exceedance",
            "firing",
            "WWTP-YS",
            Some("NH3N"),
            None,
            cst(22, 22),
        ),
        event(
            "d2",
            "discharge_exceedance",
            "firing",
            "WWTP-YS",
            Some("COD"),
            None,
            cst(23, 2),
        ),
        event(
            "d3",
            "discharge_exceedance",
            "resolved",
            "WWTP-YS",
            Some("NH3N"),
            None,
            cst(23, 4),
        ),
        event(
            "d4",
            "discharge_exceedance",
            "resolved",
            "WWTP-YS",
            Some("COD"),
            None,
            cst(23, 6),
        ),
        // Harbin plant (Songhua): not in a Lalin report.
        event(
            "d5",
            "discharge_exceedance",
            "firing",
            "WWTP-HRB",
            Some("COD"),
            None,
            cst(24, 0),
        ),
        // 蔡家沟 gauge: above warning from the 25th 10:00, above guaranteed from the 26th
        // 10:00, still above at the end of the week (30th 00:00): 4 days 14 hours.
        event(
            "f1",
            "flood_level",
            "firing",
            "HYD-CJG",
            None,
            Some("above_warning"),
            cst(25, 10),
        ),
        event(
            "f2",
            "flood_level",
            "firing",
            "HYD-CJG",
            None,
            Some("above_guaranteed"),
            cst(26, 10),
        ),
    ];
    let hour = |d: u32, h: u32, level: f64| {
        let mut e = day(&registry, "LLH-NTS", date(2026, 11, d), 0.5, 3.0, true);
        e.station = "HYD-CJG".into();
        e.period = WindowPeriod::Hour;
        e.start = cst(d, h);
        e.parameters = vec![ParameterMean {
            code: "LEVEL".into(),
            mean: level,
            count: 1,
            class: None,
            exceedance_multiple: None,
            in_section_class: false,
        }];
        e
    };
    store
        .commit(&Commit {
            events,
            evaluations: vec![hour(25, 9, 131.2), hour(26, 12, 133.4), hour(30, 1, 134.0)],
            ..Commit::default()
        })
        .unwrap();
    let reader = EvaluationReader::open(&path).unwrap();
    let src = Sources {
        registry: &registry,
        analytics: &config,
        evaluations: &reader,
        alerts: None,
    };
    let report = assemble(
        &src,
        &Request {
            period: WindowPeriod::Week,
            date: date(2026, 11, 25),
            river: Some("lalin".into()),
            now: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        },
    )
    .unwrap();

    // The Lalin's plants (五常, 榆树) and its gauge (蔡家沟) only.
    let outfalls: Vec<&str> = report.outfalls.iter().map(|o| o.station.as_str()).collect();
    assert_eq!(outfalls, ["WWTP-WC", "WWTP-YS"]);
    let ys = &report.outfalls[1];
    assert!((ys.hours_beyond - 6.0).abs() < 1e-9, "{}", ys.hours_beyond);
    assert_eq!(ys.exceedances, 1);
    assert_eq!(ys.parameters, ["COD", "NH3N"]);
    assert!(!ys.beyond_at_end);
    assert_eq!(report.outfalls[0].hours_beyond, 0.0);
    let gauges: Vec<&str> = report.gauges.iter().map(|g| g.station.as_str()).collect();
    assert_eq!(gauges, ["HYD-CJG"]);
    let g = &report.gauges[0];
    assert!((g.hours_above_warning - (4.0 * 24.0 + 14.0)).abs() < 1e-9);
    assert_eq!(g.highest_state, LevelState::AboveGuaranteed);
    // The registry's levels: warning 131.5 m, guaranteed 133.0 m; the highest hourly mean of
    // the week 133.4 m (the 30th is the next week), 1.9 m above warning.
    assert_eq!(
        (g.warning_level_m, g.guaranteed_level_m),
        (Some(131.5), Some(133.0))
    );
    assert_eq!(g.max_level_m, Some(133.4));
    assert_eq!(g.max_at, Some(cst(26, 12)));
    assert!((g.max_above_warning_m.unwrap() - 1.9).abs() < 1e-9);
    // The cities along the Lalin: 双城, 五常, 榆树, 扶余 (not Harbin, Changchun, 德惠, 舒兰).
    let air: Vec<&str> = report.air.iter().map(|a| a.station.as_str()).collect();
    assert_eq!(air, ["AIR-SC", "AIR-WC", "AIR-YS", "AIR-FY"]);

    // The zone's report has every plant, gauge and city; Harbin's exceedance is still going
    // on at the end of the week, from Tuesday 00:00: 6 days.
    let zone = assemble(
        &src,
        &Request {
            period: WindowPeriod::Week,
            date: date(2026, 11, 25),
            river: None,
            now: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        },
    )
    .unwrap();
    assert_eq!(
        (zone.outfalls.len(), zone.gauges.len(), zone.air.len()),
        (4, 3, 8)
    );
    let hrb = zone
        .outfalls
        .iter()
        .find(|o| o.station == "WWTP-HRB")
        .unwrap();
    assert!((hrb.hours_beyond - 6.0 * 24.0).abs() < 1e-9);
    assert!(hrb.beyond_at_end);

    // The tables and the programs' view carry them.
    let tables = crate::tables::tables(&report, riverwatch_core::Lang::Zh);
    let t = tables.iter().find(|t| t.key == "outfalls").unwrap();
    assert_eq!(t.rows[1][5], crate::tables::Cell::Number(6.0, 1));
    assert_eq!(
        t.rows[1][7].text(riverwatch_core::Lang::Zh),
        "化学需氧量、氨氮"
    );
    let json = serde_json::to_value(crate::json::view(&report)).unwrap();
    assert_eq!(json["outfalls"][1]["hours_beyond"], 6.0);
    assert_eq!(json["gauges"][0]["max_level_m"], 133.4);
    assert_eq!(json["gauges"][0]["hours_above_warning"], 110.0);
}
