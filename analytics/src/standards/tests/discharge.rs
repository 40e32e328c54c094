//! GB 18918-2002 Grade 1A outfall limits, the NH3-N temperature rule and overrides.

use super::AWKWARD_F64;
use crate::standards::StandardsError;
use crate::standards::discharge::*;

fn judge(code: &str, value: f64, wt: Option<f64>) -> Option<Exceedance> {
    DischargeLimits::grade_1a().judge(code, value, wt).unwrap()
}

#[test]
fn grade_1a_limits_at_and_above() {
    // Reference sheet §9 (UNVERIFIED defaults): mg/L, FCOLI count/L.
    for (code, limit) in [
        ("COD", 50.0),
        ("BOD5", 10.0),
        ("SS", 10.0),
        ("TN", 15.0),
        ("TP", 0.5),
        ("FCOLI", 1000.0),
    ] {
        assert_eq!(judge(code, limit, None), None, "{code} at its limit");
        assert_eq!(judge(code, 0.0, None), None);
        let over = judge(code, limit * 2.0, None).unwrap();
        assert_eq!(over.limit, limit, "{code}");
        assert_eq!(over.multiple, Some(1.0), "{code}: (2L − L)/L");
    }
    let cod = judge("COD", 60.0, None).unwrap();
    assert_eq!((cod.limit, cod.multiple), (50.0, Some(0.2)));
}

#[test]
fn ammonia_limit_depends_on_water_temperature() {
    let warm = judge("NH3N", 6.0, Some(15.0)).unwrap();
    assert_eq!(warm.limit, 5.0);
    assert!((warm.multiple.unwrap() - 0.2).abs() < 1e-12);
    assert_eq!(judge("NH3N", 6.0, Some(10.0)), None, "within 8 at 10 °C");
    assert_eq!(
        judge("NH3N", 8.0, Some(12.0)),
        None,
        "12 °C is cold: limit 8"
    );
    assert_eq!(judge("NH3N", 8.5, Some(12.0)).map(|e| e.limit), Some(8.0));
    assert_eq!(judge("NH3N", 6.0, Some(12.1)).map(|e| e.limit), Some(5.0));
    assert_eq!(judge("NH3N", 5.0, Some(20.0)), None);
    // Unknown or unusable temperature: the stricter warm limit.
    assert_eq!(judge("NH3N", 6.0, None).map(|e| e.limit), Some(5.0));
    assert_eq!(
        judge("NH3N", 6.0, Some(f64::NAN)).map(|e| e.limit),
        Some(5.0)
    );
    assert_eq!(
        judge("NH3N", 6.0, Some(-0.5)),
        None,
        "near-freezing water is cold"
    );
}

#[test]
fn ph_range() {
    assert_eq!(judge("pH", 6.0, None), None);
    assert_eq!(judge("pH", 9.0, None), None);
    assert_eq!(
        judge("pH", 5.99, None),
        Some(Exceedance {
            limit: 6.0,
            multiple: None
        })
    );
    assert_eq!(
        judge("pH", 9.01, None),
        Some(Exceedance {
            limit: 9.0,
            multiple: None
        })
    );
}

#[test]
fn overrides_replace_or_add_limits() {
    let mut limits = DischargeLimits::grade_1a();
    limits
        .overrides
        .insert("TP".into(), DischargeLimit::Max(1.0));
    limits
        .overrides
        .insert("CODMn".into(), DischargeLimit::Max(20.0));
    assert_eq!(limits.judge("TP", 0.8, None).unwrap(), None);
    assert_eq!(
        limits.judge("TP", 1.5, None).unwrap().map(|e| e.limit),
        Some(1.0)
    );
    assert_eq!(
        limits.judge("CODMn", 30.0, None).unwrap().map(|e| e.limit),
        Some(20.0)
    );
    assert_eq!(
        limits.judge("COD", 60.0, None).unwrap().map(|e| e.limit),
        Some(50.0)
    );
    assert_eq!(limits.edition().code, "GB 18918-2002");

    let json = r#"{"overrides": {"NH3N": {"max_by_temperature":
        {"max": 3.0, "cold_max": 5.0, "cold_at_or_below_c": 12.0}}, "COD": {"max": 40.0}}}"#;
    let limits: DischargeLimits = serde_json::from_str(json).unwrap();
    assert_eq!(
        limits
            .judge("NH3N", 4.0, Some(20.0))
            .unwrap()
            .map(|e| e.limit),
        Some(3.0)
    );
    assert_eq!(limits.judge("NH3N", 4.0, Some(5.0)).unwrap(), None);
    assert_eq!(
        limits.judge("COD", 45.0, None).unwrap().map(|e| e.limit),
        Some(40.0)
    );
    assert_eq!(
        serde_json::from_str::<DischargeLimits>("{}").unwrap(),
        DischargeLimits::default()
    );
}

#[test]
fn no_limit_and_invalid_input() {
    assert_eq!(judge("WT", 30.0, None), None);
    assert_eq!(judge("FLOW", 3.0, None), None);
    assert!(DischargeLimits::grade_1a().limit_for("WT").is_none());
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        let err = DischargeLimits::grade_1a()
            .judge("COD", bad, None)
            .unwrap_err();
        assert!(matches!(err, StandardsError::InvalidValue { ref code, .. } if code == "COD"));
        assert!(!err.is_retryable());
    }
    let mut limits = DischargeLimits::grade_1a();
    limits
        .overrides
        .insert("COD".into(), DischargeLimit::Max(0.0));
    limits
        .overrides
        .insert("pH".into(), DischargeLimit::Range { min: 9.0, max: 6.0 });
    limits
        .overrides
        .insert("TP".into(), DischargeLimit::Max(f64::NAN));
    for code in ["COD", "pH", "TP"] {
        assert!(matches!(
            limits.judge(code, 1.0, None),
            Err(StandardsError::InvalidLimit { .. })
        ));
    }
}

#[test]
fn no_panic_on_awkward_values() {
    let limits = DischargeLimits::grade_1a();
    for code in [
        "COD", "BOD5", "SS", "TN", "NH3N", "TP", "pH", "FCOLI", "WT", "",
    ] {
        for value in AWKWARD_F64 {
            for wt in AWKWARD_F64 {
                let _ = limits.judge(code, value, Some(wt));
            }
            let _ = limits.judge(code, value, None);
        }
    }
}
