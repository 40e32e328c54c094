//! The cross-border ecological compensation ledger (跨界生态补偿): per provincial-boundary
//! section and CST month, the monthly class against the target and who pays whom.
//!
//! The default rule is the class-step model of the Henan–Shandong Yellow River agreement
//! (reference sheet §9) scaled to months, **with example amounts** (no Heilongjiang–Jilin
//! agreement exists for the Lalin River; see [`CompensationConfig`]):
//! - monthly class equal to the target: no payment;
//! - each class better than the target: the downstream province pays the upstream one
//!   `per_class_step_yuan` (when `reward_better_than_target`);
//! - each class worse: the upstream province pays the downstream one `per_class_step_yuan`,
//!   plus `per_exceeding_parameter_yuan` per class item whose monthly mean exceeds the
//!   target limit.
//!
//! The alternative `compliance` model (the Xin'an River "bet") pays a fixed amount one way
//! for a compliant month and the other way for a non-compliant one. A month whose valid-data
//! rate is below the minimum is *not assessed* and pays nothing.
//!
//! The upstream province of a section is configured per section, or else the province of
//! the nearest upstream section that is not itself a boundary section (the Lalin's boundary
//! sections take Heilongjiang, whose Wuchang reach feeds the boundary reach; the Songhua's
//! `SHJ-ZY` takes Jilin, via the Second Songhua); the downstream province is the other one.

use chrono::{DateTime, Utc};
use riverwatch_core::WaterClass;

use crate::attribution::Topology;
use crate::config::{BoundaryPair, CompensationConfig, CompensationModel};
use crate::model::{LedgerEntry, WindowEvaluation};

/// The upstream and downstream provinces of a boundary section.
pub fn boundary_pair(
    station: &str,
    topology: &Topology,
    cfg: &CompensationConfig,
) -> Option<BoundaryPair> {
    if let Some(p) = cfg.sections.get(station) {
        return Some(*p);
    }
    let up = topology.nearest_inland_upstream(station)?;
    Some(BoundaryPair {
        upstream: up.province,
        downstream: up.province.other(),
    })
}

/// The rule in words.
pub fn rule_text(cfg: &CompensationConfig) -> String {
    let cap = cfg
        .monthly_cap_yuan
        .map_or(String::new(), |c| format!(", cap {c:.0}"));
    match cfg.model {
        CompensationModel::ClassStep => format!(
            "class_step: {:.0} yuan per class step{}, {:.0} per exceeding parameter{cap} (example amounts)",
            cfg.per_class_step_yuan,
            if cfg.reward_better_than_target {
                " both ways"
            } else {
                " when worse"
            },
            cfg.per_exceeding_parameter_yuan
        ),
        CompensationModel::Compliance => format!(
            "compliance: {:.0} yuan for a compliant month, {:.0} for a non-compliant one{cap} (example amounts)",
            cfg.compliant_month_yuan, cfg.non_compliant_month_yuan
        ),
    }
}

/// The ledger entry of one section and month from its monthly evaluation.
pub fn entry(
    month: &WindowEvaluation,
    target: WaterClass,
    pair: BoundaryPair,
    cfg: &CompensationConfig,
    now: DateTime<Utc>,
) -> LedgerEntry {
    let assessed = month.sufficient && month.class.is_some();
    let class = month.class;
    let exceeding: Vec<String> = month
        .parameters
        .iter()
        .filter(|p| p.in_section_class && p.class.is_some_and(|c| c > target))
        .map(|p| p.code.clone())
        .collect();
    let steps = class.map_or(0, |c| i32::from(target.number()) - i32::from(c.number()));
    let (mut amount, upstream_pays) = if !assessed {
        (0.0, false)
    } else {
        match cfg.model {
            CompensationModel::ClassStep => {
                if steps > 0 && cfg.reward_better_than_target {
                    (f64::from(steps) * cfg.per_class_step_yuan, false)
                } else if steps < 0 {
                    (
                        f64::from(-steps) * cfg.per_class_step_yuan
                            + exceeding.len() as f64 * cfg.per_exceeding_parameter_yuan,
                        true,
                    )
                } else {
                    (0.0, false)
                }
            }
            CompensationModel::Compliance => {
                if steps >= 0 {
                    (cfg.compliant_month_yuan, false)
                } else {
                    (cfg.non_compliant_month_yuan, true)
                }
            }
        }
    };
    if let Some(cap) = cfg.monthly_cap_yuan {
        amount = amount.min(cap);
    }
    let (payer, payee) = if amount > 0.0 {
        if upstream_pays {
            (Some(pair.upstream), Some(pair.downstream))
        } else {
            (Some(pair.downstream), Some(pair.upstream))
        }
    } else {
        (None, None)
    };
    LedgerEntry {
        station: month.station.clone(),
        month: crate::describe::window_label(month.period, month.start),
        revision: 0,
        class,
        target,
        compliant: assessed.then(|| class.is_some_and(|c| c.meets(target))),
        assessed,
        class_steps: steps,
        exceeding_parameters: exceeding,
        upstream: pair.upstream,
        downstream: pair.downstream,
        payer,
        payee,
        amount_yuan: amount,
        rule: rule_text(cfg),
        computed_at: now,
    }
}

/// Whether two entries say the same (everything but revision and computation time).
pub fn same_content(a: &LedgerEntry, b: &LedgerEntry) -> bool {
    let strip = |e: &LedgerEntry| LedgerEntry {
        revision: 0,
        computed_at: DateTime::<Utc>::MIN_UTC,
        ..e.clone()
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use riverwatch_core::Province;
    use riverwatch_core::events::WindowPeriod;
    use riverwatch_core::registry::Registry;

    use super::*;
    use crate::config::AttributionConfig;
    use crate::model::ParameterMean;

    /// When the entries are computed: a fixed time, as the engine's clock gives it.
    fn computed() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, 2, 0, 0).unwrap()
    }

    fn month(class: Option<WaterClass>, sufficient: bool, exceeding: &[&str]) -> WindowEvaluation {
        let start = Utc.with_ymd_and_hms(2026, 8, 31, 16, 0, 0).unwrap();
        WindowEvaluation {
            station: "LLH-NTS".into(),
            period: WindowPeriod::Month,
            start,
            revision: 0,
            computed_at: start,
            standard: "GB 3838-2002".into(),
            class,
            target: Some(WaterClass::III),
            compliant: class.map(|c| c.meets(WaterClass::III)),
            deciding: vec![],
            main_pollutants: vec![],
            completeness: if sufficient { 1.0 } else { 0.3 },
            valid_readings: 0,
            expected_readings: 0,
            sufficient,
            parameters: exceeding
                .iter()
                .map(|c| ParameterMean {
                    code: (*c).into(),
                    mean: 9.0,
                    count: 10,
                    class,
                    exceedance_multiple: Some(1.0),
                    in_section_class: true,
                })
                .collect(),
        }
    }

    const PAIR: BoundaryPair = BoundaryPair {
        upstream: Province::Heilongjiang,
        downstream: Province::Jilin,
    };

    #[test]
    fn class_steps_decide_who_pays_whom() {
        let cfg = CompensationConfig::default();
        let now = computed();
        let e = entry(
            &month(Some(WaterClass::III), true, &[]),
            WaterClass::III,
            PAIR,
            &cfg,
            now,
        );
        assert_eq!((e.amount_yuan, e.payer), (0.0, None));
        assert_eq!(e.month, "2026-09");
        assert_eq!(e.computed_at, now);
        let e = entry(
            &month(Some(WaterClass::II), true, &[]),
            WaterClass::III,
            PAIR,
            &cfg,
            now,
        );
        assert_eq!(e.amount_yuan, 5_000_000.0);
        assert_eq!(
            (e.payer, e.payee),
            (Some(Province::Jilin), Some(Province::Heilongjiang))
        );
        let e = entry(
            &month(Some(WaterClass::WorseThanV), true, &["NH3N", "TP"]),
            WaterClass::III,
            PAIR,
            &cfg,
            now,
        );
        // Three steps worse and two parameters: 3 × 5 M + 2 × 1 M, upstream pays.
        assert_eq!(e.class_steps, -3);
        assert_eq!(e.amount_yuan, 17_000_000.0);
        assert_eq!(
            (e.payer, e.payee),
            (Some(Province::Heilongjiang), Some(Province::Jilin))
        );
        assert_eq!(e.compliant, Some(false));
    }

    #[test]
    fn months_without_enough_data_are_not_assessed() {
        let e = entry(
            &month(Some(WaterClass::V), false, &["NH3N"]),
            WaterClass::III,
            PAIR,
            &CompensationConfig::default(),
            computed(),
        );
        assert!(!e.assessed);
        assert_eq!((e.amount_yuan, e.payer, e.compliant), (0.0, None, None));
    }

    #[test]
    fn compliance_model_and_cap() {
        let cfg = CompensationConfig {
            model: CompensationModel::Compliance,
            monthly_cap_yuan: Some(1_000_000.0),
            ..CompensationConfig::default()
        };
        let e = entry(
            &month(Some(WaterClass::IV), true, &["TP"]),
            WaterClass::III,
            PAIR,
            &cfg,
            computed(),
        );
        assert_eq!(
            (e.amount_yuan, e.payer),
            (1_000_000.0, Some(Province::Heilongjiang))
        );
        let e = entry(
            &month(Some(WaterClass::II), true, &[]),
            WaterClass::III,
            PAIR,
            &cfg,
            computed(),
        );
        assert_eq!(e.payer, Some(Province::Jilin));
    }

    #[test]
    fn default_pairs_follow_the_water() {
        let reg = Registry::builtin().unwrap();
        let topo = Topology::new(&reg, &AttributionConfig::default());
        let cfg = CompensationConfig::default();
        let nts = boundary_pair("LLH-NTS", &topo, &cfg).unwrap();
        assert_eq!(
            (nts.upstream, nts.downstream),
            (Province::Heilongjiang, Province::Jilin)
        );
        let zy = boundary_pair("SHJ-ZY", &topo, &cfg).unwrap();
        assert_eq!(zy.upstream, Province::Jilin);
        let mut cfg = cfg;
        cfg.sections.insert(
            "LLH-NTS".into(),
            BoundaryPair {
                upstream: Province::Jilin,
                downstream: Province::Heilongjiang,
            },
        );
        assert_eq!(
            boundary_pair("LLH-NTS", &topo, &cfg).unwrap().upstream,
            Province::Jilin
        );
    }
}
