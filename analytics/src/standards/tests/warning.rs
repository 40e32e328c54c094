//! Heavy-pollution warning levels from daily AQI sequences (MEP 2017 rules).

use crate::standards::warning::*;

fn at_end(days: &[u32]) -> WarningLevel {
    level(&WarningRules::default(), days)
}

#[test]
fn every_level_from_day_sequences() {
    assert_eq!(at_end(&[]), WarningLevel::None);
    assert_eq!(
        at_end(&[150, 180, 200]),
        WarningLevel::None,
        "200 is not above 200"
    );
    assert_eq!(at_end(&[210]), WarningLevel::Blue);
    assert_eq!(at_end(&[210, 220]), WarningLevel::Yellow);
    assert_eq!(at_end(&[180, 215, 260, 310]), WarningLevel::Orange);
    assert_eq!(at_end(&[210, 310, 220]), WarningLevel::Orange);
    assert_eq!(at_end(&[210, 310, 320, 250]), WarningLevel::Red);
    assert_eq!(at_end(&[150, 500]), WarningLevel::Red);
    assert_eq!(at_end(&[500]), WarningLevel::Red);
    assert_eq!(
        at_end(&[250, 250, 250]),
        WarningLevel::Yellow,
        "no day above 300"
    );
}

#[test]
fn threshold_edges() {
    assert_eq!(at_end(&[201]), WarningLevel::Blue);
    assert_eq!(
        at_end(&[301]),
        WarningLevel::Blue,
        "one severe day is still a one-day run"
    );
    assert_eq!(
        at_end(&[301, 301]),
        WarningLevel::Yellow,
        "orange needs three days"
    );
    assert_eq!(
        at_end(&[210, 300, 220]),
        WarningLevel::Yellow,
        "300 is not above 300"
    );
    assert_eq!(at_end(&[210, 301, 220]), WarningLevel::Orange);
    assert_eq!(at_end(&[210, 210, 210, 210]), WarningLevel::Yellow);
    assert_eq!(
        at_end(&[210, 310, 210, 210]),
        WarningLevel::Orange,
        "red needs two severe days"
    );
    assert_eq!(
        at_end(&[310, 310, 310]),
        WarningLevel::Orange,
        "red needs four days"
    );
    assert_eq!(at_end(&[499]), WarningLevel::Blue);
}

#[test]
fn only_the_run_ending_on_the_last_day_is_judged() {
    assert_eq!(at_end(&[210, 310, 320, 250, 150]), WarningLevel::None);
    assert_eq!(at_end(&[500, 150]), WarningLevel::None);
    assert_eq!(at_end(&[310, 310, 310, 310, 200, 210]), WarningLevel::Blue);
    assert_eq!(at_end(&[310, 310, 150, 310, 310]), WarningLevel::Yellow);
}

#[test]
fn without_blue() {
    let rules = WarningRules {
        include_blue: false,
        ..WarningRules::default()
    };
    assert_eq!(level(&rules, &[210]), WarningLevel::None);
    assert_eq!(level(&rules, &[301]), WarningLevel::None);
    assert_eq!(level(&rules, &[210, 220]), WarningLevel::Yellow);
    assert_eq!(level(&rules, &[500]), WarningLevel::Red);
}

#[test]
fn level_of_every_day() {
    let rules = WarningRules::default();
    let days = [180, 215, 260, 310, 150, 205, 305, 320, 330, 250, 100];
    let history = level_over_history(&rules, &days);
    use WarningLevel::*;
    assert_eq!(
        history,
        [
            None, Blue, Yellow, Orange, None, Blue, Yellow, Orange, Red, Red, None
        ]
    );
    for i in 0..days.len() {
        assert_eq!(history[i], level(&rules, &days[..=i]), "day {i}");
    }
    assert!(level_over_history(&rules, &[]).is_empty());
}

#[test]
fn names_and_order() {
    use WarningLevel::*;
    assert!(None < Blue && Blue < Yellow && Yellow < Orange && Orange < Red);
    let expected = [
        (Blue, "蓝色预警", Some("Ⅳ")),
        (Yellow, "黄色预警", Some("Ⅲ")),
        (Orange, "橙色预警", Some("Ⅱ")),
        (Red, "红色预警", Some("Ⅰ")),
        (None, "无预警", Option::None),
    ];
    for (level, zh, roman) in expected {
        assert_eq!((level.name_zh(), level.roman()), (zh, roman));
    }
    assert_eq!(Orange.name_en(), "orange warning");
}

#[test]
fn rules_default_and_round_trip_through_serde() {
    let rules: WarningRules = serde_json::from_str("{}").unwrap();
    assert_eq!(rules, WarningRules::default());
    assert_eq!(
        (
            rules.heavy_above_aqi,
            rules.severe_above_aqi,
            rules.red_any_day_aqi
        ),
        (200, 300, 500)
    );
    assert_eq!(
        (
            rules.yellow_min_days,
            rules.orange_min_days,
            rules.red_min_days
        ),
        (2, 3, 4)
    );
    assert!(rules.include_blue);
    let custom: WarningRules = serde_json::from_str(r#"{"include_blue": false}"#).unwrap();
    assert_eq!(
        custom,
        WarningRules {
            include_blue: false,
            ..WarningRules::default()
        }
    );
    let json = serde_json::to_string(&custom).unwrap();
    assert_eq!(serde_json::from_str::<WarningRules>(&json).unwrap(), custom);
    assert!(serde_json::from_str::<WarningRules>(r#"{"blue": 1}"#).is_err());
}
