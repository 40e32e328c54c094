use super::*;
use crate::class::{Province, WaterClass};

fn builtin() -> Registry {
    match Registry::builtin() {
        Ok(r) => r,
        Err(e) => panic!("{}", e.render(Lang::En)),
    }
}

#[test]
fn builtin_network_is_valid_and_complete() {
    let r = builtin();
    let lalin = r.sections_on("lalin");
    assert!(lalin.len() >= 5, "Lalin sections: {}", lalin.len());
    assert!(
        lalin.iter().any(|s| s.boundary),
        "Lalin needs provincial-boundary sections"
    );
    assert!(lalin.iter().all(|s| s.target_class.is_some()));
    let songhua = r.sections_on("second-songhua").len() + r.sections_on("songhua").len();
    assert!(songhua >= 8, "Songhua sections: {songhua}");
    for city in [
        "双城",
        "五常",
        "榆树",
        "德惠",
        "扶余",
        "舒兰",
        "哈尔滨",
        "长春",
    ] {
        assert!(
            r.stations()
                .iter()
                .any(|s| s.kind == StationKind::Air && s.name_zh == city),
            "no air station in {city}"
        );
    }
    let outfalls = r
        .stations()
        .iter()
        .filter(|s| s.kind == StationKind::Outfall)
        .count();
    let gauges = r
        .stations()
        .iter()
        .filter(|s| s.kind == StationKind::Hydrology)
        .count();
    assert!(outfalls >= 2 && gauges >= 2);
    assert!(
        r.stations()
            .iter()
            .any(|s| s.province == Province::Heilongjiang)
    );
    assert!(r.stations().iter().any(|s| s.province == Province::Jilin));
}

#[test]
fn sections_are_ordered_downstream_and_named_as_in_the_reference() {
    let r = builtin();
    let main: Vec<&str> = r
        .sections_on("songhua")
        .iter()
        .map(|s| s.name_zh.as_str())
        .collect();
    let pos = |name: &str| main.iter().position(|n| *n == name);
    // Order of the 2005 emergency sections along the main stem.
    let order = [
        "肇源",
        "苏家屯",
        "四方台",
        "巴彦港",
        "木兰摆渡河",
        "通河",
        "达连河",
        "佳木斯",
    ];
    let idx: Vec<usize> = order.iter().map(|n| pos(n).unwrap_or(usize::MAX)).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{main:?}");
    // Bayangang is 568.8 km above Tongjiang and Mulan 510.9: 57.9 km apart.
    let km = |id: &str| r.station(id).and_then(|s| s.river_km).unwrap_or(f64::NAN);
    assert!((km("SHJ-MLB") - km("SHJ-BYG") - 57.9).abs() < 1e-9);
    assert!((km("SHJ-BYG") - km("SHJ-SJT") - 142.8).abs() < 1e-9);
}

#[test]
fn every_parameter_of_design_is_registered_with_its_hj212_code() {
    let r = builtin();
    let expect = [
        ("WT", "w01010"),
        ("pH", "w01001"),
        ("DO", "w01009"),
        ("COND", "w01014"),
        ("TURB", "w01003"),
        ("CODMn", "w01019"),
        ("COD", "w01018"),
        ("BOD5", "w01017"),
        ("NH3N", "w21003"),
        ("TP", "w21011"),
        ("TN", "w21001"),
        ("PM25", "a34004"),
        ("PM10", "a34002"),
        ("SO2", "a21026"),
        ("NO2", "a21004"),
        ("CO", "a21005"),
        ("O3", "a05024"),
    ];
    for (code, hj) in expect {
        let p = r
            .parameter(code)
            .unwrap_or_else(|| panic!("missing {code}"));
        assert_eq!(p.hj212.as_deref(), Some(hj), "{code}");
        assert_eq!(
            r.parameter_by_hj212(hj, false).map(|p| p.code.as_str()),
            Some(code)
        );
    }
    for code in ["NB", "LEVEL", "FLOW", "RAIN", "SS"] {
        assert!(r.parameter(code).is_some(), "missing {code}");
    }
    // All 24 GB 3838 Table 1 items.
    let table1 = [
        "WT", "pH", "DO", "CODMn", "COD", "BOD5", "NH3N", "TP", "TN", "Cu", "Zn", "F", "Se", "As",
        "Hg", "Cd", "Cr6", "Pb", "CYN", "VPHEN", "OIL", "LAS", "SULF", "FCOLI",
    ];
    assert_eq!(table1.len(), 24);
    for code in table1 {
        assert!(r.parameter(code).is_some(), "missing GB 3838 item {code}");
    }
    assert_eq!(
        r.parameter_by_hj212("060", true).map(|p| p.code.as_str()),
        Some("NH3N")
    );
}

#[test]
fn lookups_by_id_and_mn_agree() {
    let r = builtin();
    for s in r.stations() {
        assert_eq!(r.station(s.id.as_str()).map(|x| &x.mn), Some(&s.mn));
        assert_eq!(
            r.station_by_mn(&s.mn).map(|x| x.id.as_str()),
            Some(s.id.as_str())
        );
    }
    let cjg = r.station("LLH-CJG").unwrap();
    assert_eq!(cjg.target_class, Some(WaterClass::III));
    assert!(cjg.boundary);
}

#[test]
fn a_file_with_only_stations_takes_builtin_parameters_and_rivers() {
    let text = r#"
[[station]]
id = "TEST-1"
name_zh = "测试"
name_pinyin = "Ceshi"
kind = "water"
province = "JL"
city_zh = "扶余市"
river = "lalin"
river_km = 12.0
target_class = "III"
mn = "T0001"
lat = 45.0
lon = 126.0
verified = false
parameters = ["pH", "NH3N"]
report_interval_secs = 600
"#;
    let r = Registry::from_toml(text, "mine.toml").unwrap();
    assert_eq!(r.stations().len(), 1);
    assert!(r.parameter("NH3N").is_some());
    assert!(r.river("lalin").is_some());
}

#[test]
fn errors_name_file_line_item_and_field() {
    let text = r#"
[[station]]
id = "BAD-1"
name_zh = "坏"
name_pinyin = "Huai"
kind = "water"
province = "JL"
city_zh = "扶余市"
river = "nile"
river_km = 12.0
mn = "T0001"
lat = 45.0
lon = 126.0
verified = false
parameters = ["pH", "XYZ"]
report_interval_secs = 600

[[station]]
id = "BAD-2"
name_zh = "坏"
name_pinyin = "Huai"
kind = "air"
province = "HLJ"
city_zh = "哈尔滨市"
mn = "T0001"
lat = 45.0
lon = 126.0
verified = false
parameters = ["PM25"]
report_interval_secs = 3600
"#;
    let err = Registry::from_toml(text, "bureau.toml").unwrap_err();
    let en = err.render(Lang::En);
    assert!(
        en.contains("bureau.toml:2: station BAD-1, field `river`: unknown river `nile`"),
        "{en}"
    );
    assert!(en.contains("field `target_class`"), "{en}");
    assert!(en.contains("unknown parameter `XYZ`"), "{en}");
    assert!(
        en.contains("bureau.toml:18: station BAD-2, field `mn`"),
        "{en}"
    );
    let zh = err.render(Lang::Zh);
    assert!(
        zh.contains("bureau.toml:2：station BAD-1，字段 `river`：未知河流 `nile`"),
        "{zh}"
    );
    assert_eq!(err.issues.len(), 4, "{en}");
}

#[test]
fn syntax_errors_carry_the_line() {
    let text = "[[station]]\nid = \"X-1\"\nkind = \"volcano\"\n";
    let err = Registry::from_toml(text, "net.toml").unwrap_err();
    let issue = &err.issues[0];
    assert_eq!(issue.origin, "net.toml");
    assert!(issue.line.is_some());
    assert!(
        issue.message_en.contains("volcano") || issue.message_en.contains("missing"),
        "{issue:?}"
    );
}
