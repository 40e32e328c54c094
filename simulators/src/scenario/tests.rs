//! Tests of scenarios: every built-in one parses and fits the built-in network, station
//! patterns, unknown stations and parameters reported.

use super::*;

#[test]
fn every_builtin_scenario_parses_and_fits_the_builtin_network() {
    let registry = Registry::builtin().unwrap();
    for (name, _) in BUILTIN {
        let s = Scenario::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, name);
        assert!(!s.description_zh.is_empty() && !s.description_en.is_empty());
        s.validate(&registry)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn patterns_select_stations() {
    let p = vec!["SHJ-*".to_string(), "LLH-WC".to_string()];
    assert!(matches_any(&p, "SHJ-SFT"));
    assert!(matches_any(&p, "LLH-WC"));
    assert!(!matches_any(&p, "LLH-WCX"));
    assert!(matches_any(&["*".to_string()], "AIR-CC"));
}

#[test]
fn unknown_stations_and_parameters_are_reported() {
    let registry = Registry::builtin().unwrap();
    let mut s = Scenario::builtin("baseline").unwrap();
    s.faults.push(FaultDef::Stuck {
        station: "LLH-WC".into(),
        parameter: "PM25".into(),
        from: s.start,
        to: s.start,
    });
    let e = s.validate(&registry).unwrap_err().to_string();
    assert!(e.contains("PM25"), "{e}");
}
