//! The live state of one outfall: each parameter against its discharge limit (GB 18918-2002
//! Grade 1A by default, with the registry's and the configuration's overrides).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use riverwatch_core::events::EventStatus;
use serde::{Deserialize, Serialize};

use super::debounce::{Leveled, Streaks};
use super::{DischargeFinding, Finding, FindingKind, ParameterStatus};
use crate::config::Debounce;
use crate::standards::code;
use crate::standards::discharge::{DischargeLimit, DischargeLimits};

/// The live state of one outfall.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutfallState {
    /// Latest effluent temperature, which selects the NH3-N limit.
    water_temp_c: Option<f64>,
    exceedances: BTreeMap<String, Leveled<bool>>,
}

/// What one observation of an outfall gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutfallOutcome {
    /// Events to raise.
    pub findings: Vec<Finding>,
    /// The values judged.
    pub parameters: Vec<ParameterStatus>,
}

/// The limit of a parameter moved toward the safe side by the hysteresis margin, for the
/// "clearly within" test.
fn strict(limit: &DischargeLimit, h: f64) -> DischargeLimit {
    match *limit {
        DischargeLimit::Max(m) => DischargeLimit::Max(m * (1.0 - h)),
        DischargeLimit::MaxByTemperature {
            max,
            cold_max,
            cold_at_or_below_c,
        } => DischargeLimit::MaxByTemperature {
            max: max * (1.0 - h),
            cold_max: cold_max * (1.0 - h),
            cold_at_or_below_c,
        },
        DischargeLimit::Range { min, max } => DischargeLimit::Range {
            min: min * (1.0 + h),
            max: max * (1.0 - h),
        },
    }
}

impl OutfallState {
    /// Judges one observation: the valid `(code, value, unit)` of the outfall at `at`.
    pub fn observe(
        &mut self,
        station: &str,
        at: DateTime<Utc>,
        values: &[(&str, f64, &str)],
        limits: &DischargeLimits,
        debounce: &Debounce,
    ) -> OutfallOutcome {
        let mut out = OutfallOutcome::default();
        if let Some(&(_, wt, _)) = values.iter().find(|(c, _, _)| *c == code::WT) {
            self.water_temp_c = Some(wt);
        }
        let streaks = Streaks {
            fire_after: debounce.fire_after_readings,
            clear_after: debounce.clear_after_readings,
        };
        let standard = format!(
            "{} {}",
            limits.edition().code,
            crate::standards::discharge::GB_18918_2002_GRADE_1A.grade
        );
        for &(code, value, unit) in values {
            let Some(limit) = limits.limit_for(code) else {
                continue;
            };
            let raw = limits.judge(code, value, self.water_temp_c).ok().flatten();
            let mut strict_limits = DischargeLimits::default();
            strict_limits.overrides.insert(
                code.to_string(),
                strict(limit, debounce.hysteresis_fraction),
            );
            let sticky = strict_limits
                .judge(code, value, self.water_temp_c)
                .ok()
                .flatten()
                .is_some();
            out.parameters.push(ParameterStatus {
                code: code.to_string(),
                value,
                unit: unit.to_string(),
                class: None,
                exceedance_multiple: raw.and_then(|e| e.multiple),
            });
            let state = self
                .exceedances
                .entry(code.to_string())
                .or_insert_with(|| Leveled::new(false));
            if let Some(t) = state.observe(raw.is_some(), sticky, streaks) {
                let judged_limit = raw.map(|e| e.limit).or(Some(match limit {
                    DischargeLimit::Max(m) => *m,
                    DischargeLimit::MaxByTemperature { max, .. } => *max,
                    DischargeLimit::Range { max, .. } => *max,
                }));
                out.findings.push(Finding {
                    station: station.to_string(),
                    observed_at: at,
                    kind: FindingKind::Discharge(DischargeFinding {
                        status: if t.to {
                            EventStatus::Firing
                        } else {
                            EventStatus::Resolved
                        },
                        parameter: code.to_string(),
                        value,
                        unit: unit.to_string(),
                        limit: judged_limit.unwrap_or(f64::NAN),
                        exceedance_multiple: raw.and_then(|e| e.multiple),
                        standard: standard.clone(),
                    }),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn run(
        s: &mut OutfallState,
        h: i64,
        values: &[(&str, f64)],
    ) -> Vec<(String, EventStatus, f64)> {
        let v: Vec<(&str, f64, &str)> = values.iter().map(|&(c, x)| (c, x, "mg/L")).collect();
        s.observe(
            "WWTP-HRB",
            t(h),
            &v,
            &DischargeLimits::grade_1a(),
            &Debounce::WATER,
        )
        .findings
        .into_iter()
        .map(|f| match f.kind {
            FindingKind::Discharge(d) => (d.parameter, d.status, d.limit),
            other => panic!("{other:?}"),
        })
        .collect()
    }

    #[test]
    fn ammonia_limit_follows_the_effluent_temperature() {
        let mut s = OutfallState::default();
        // 6 mg/L at 19 °C exceeds 5; at 10 °C the cold limit 8 applies.
        assert_eq!(
            run(&mut s, 0, &[("WT", 19.0), ("NH3N", 6.0)]),
            vec![("NH3N".to_string(), EventStatus::Firing, 5.0)]
        );
        let mut cold = OutfallState::default();
        assert!(run(&mut cold, 0, &[("WT", 10.0), ("NH3N", 6.0)]).is_empty());
    }

    #[test]
    fn an_upset_fires_once_and_ends_after_clear_readings() {
        let mut s = OutfallState::default();
        let mut all = Vec::new();
        for (h, cod) in [40.0, 88.0, 49.0, 51.0, 48.0, 30.0, 30.0]
            .into_iter()
            .enumerate()
        {
            all.extend(run(&mut s, h as i64, &[("COD", cod)]));
        }
        assert_eq!(
            all,
            vec![
                ("COD".to_string(), EventStatus::Firing, 50.0),
                ("COD".to_string(), EventStatus::Resolved, 50.0)
            ]
        );
    }
}
