//! The live state of one water-quality section: each parameter against the limit of the
//! section's target class, the section's single-factor class, and its changes.
//!
//! Per observation (the values a station sent for one time) the section is judged with the
//! tables in force on the observation date: each parameter's class (GB 3838-2002), the
//! section's class from the latest value of every class item of the 2011 method (values
//! older than [`FRESH_HOURS`] are left out), and whether each parameter and the section
//! meet the target. Each condition goes through a [`Leveled`] so a value hovering at a
//! limit does not flap.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use riverwatch_core::WaterClass;
use riverwatch_core::events::EventStatus;
use serde::{Deserialize, Serialize};

use super::debounce::{Leveled, Streaks};
use super::{Bound, Finding, FindingKind, ParamFinding, ParameterStatus, SectionFinding};
use crate::config::Debounce;
use crate::standards::InForce;
use crate::standards::gb3838::{Criterion, Item, WaterBody};

/// Values older than this (hours before the observation) no longer count toward the
/// section's class: a parameter the station stopped reporting does not keep a section
/// polluted.
pub const FRESH_HOURS: i64 = 24;

/// The section a state belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    /// Station id.
    pub id: &'a str,
    /// Target class.
    pub target: WaterClass,
    /// River or lake/reservoir.
    pub body: WaterBody,
}

/// One parameter's judgement against the section's target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// The limit crossed (the bound nearer the value for a range).
    pub limit: f64,
    /// Which side is bad.
    pub bound: Bound,
    /// Beyond the limit.
    pub raw: bool,
    /// Beyond the limit moved by the hysteresis margin (≥ `raw`).
    pub sticky: bool,
}

/// Judges a value against the limit of `target` (or an item's single limit).
///
/// `None` for items without limits (water temperature).
pub fn judge(
    item: &Item,
    body: WaterBody,
    target: WaterClass,
    value: f64,
    h: f64,
) -> Option<Judgement> {
    let index = usize::from(target.number().clamp(1, 5)) - 1;
    Some(match item.criterion_for(body) {
        Criterion::AtMost(limits) => {
            let l = limits[index];
            Judgement {
                limit: l,
                bound: Bound::Max,
                raw: value > l,
                sticky: value > l * (1.0 - h),
            }
        }
        Criterion::SingleLimit(l) => Judgement {
            limit: *l,
            bound: Bound::Max,
            raw: value > *l,
            sticky: value > *l * (1.0 - h),
        },
        Criterion::AtLeast(limits) => {
            let l = limits[index];
            Judgement {
                limit: l,
                bound: Bound::Min,
                raw: value < l,
                sticky: value < l * (1.0 + h),
            }
        }
        Criterion::Range { min, max } => {
            let low = value < (min + max) / 2.0;
            Judgement {
                limit: if low { *min } else { *max },
                bound: if low { Bound::Min } else { Bound::Max },
                raw: value < *min || value > *max,
                sticky: value < min * (1.0 + h) || value > max * (1.0 - h),
            }
        }
        Criterion::TemperatureChange { .. } => return None,
    })
}

/// The class of a value pushed toward the worse side by the hysteresis margin.
fn sticky_class(
    std: &InForce,
    item: &Item,
    body: WaterBody,
    value: f64,
    h: f64,
) -> Option<WaterClass> {
    match item.criterion_for(body) {
        Criterion::AtMost(_) => std.water.classify(&item.code, value / (1.0 - h), body),
        Criterion::AtLeast(_) => std.water.classify(&item.code, value / (1.0 + h), body),
        Criterion::Range { min, max } => {
            Some(if value < min * (1.0 + h) || value > max * (1.0 - h) {
                WaterClass::WorseThanV
            } else {
                WaterClass::I
            })
        }
        Criterion::TemperatureChange { .. } | Criterion::SingleLimit(_) => None,
    }
}

/// One parameter's conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ParamState {
    exceedance: Leveled<bool>,
    /// Class last reported while the exceedance holds, so a worsening class updates it.
    reported_class: Option<WaterClass>,
}

/// The live state of one section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WaterState {
    /// Latest valid value per parameter: (observation time, value).
    latest: BTreeMap<String, (DateTime<Utc>, f64)>,
    params: BTreeMap<String, ParamState>,
    below_target: Option<Leveled<bool>>,
    class: Option<Leveled<WaterClass>>,
}

/// What one observation of a section gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaterOutcome {
    /// Events to raise.
    pub findings: Vec<Finding>,
    /// Every parameter of the observation with its class.
    pub parameters: Vec<ParameterStatus>,
    /// The section's class from its latest values, if any class item has one.
    pub class: Option<WaterClass>,
    /// The class items deciding it.
    pub deciding: Vec<String>,
}

impl WaterState {
    /// Judges one observation: `values` are the valid `(code, value, unit)` of the section
    /// at `at`, in the station's units.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        section: Section<'_>,
        at: DateTime<Utc>,
        values: &[(&str, f64, &str)],
        std: &InForce,
        param_debounce: &Debounce,
        section_debounce: &Debounce,
    ) -> WaterOutcome {
        let mut out = WaterOutcome::default();
        let standard = std.water.edition.code.to_string();
        let p_streaks = Streaks {
            fire_after: param_debounce.fire_after_readings,
            clear_after: param_debounce.clear_after_readings,
        };
        for &(code, value, unit) in values {
            self.latest.insert(code.to_string(), (at, value));
            let class = std.water.classify(code, value, section.body);
            let multiple = std.water.exceedance_multiple(code, value, section.body);
            let decides = std.method.class_items.iter().any(|c| c == code);
            out.parameters.push(ParameterStatus {
                code: code.to_string(),
                value,
                unit: unit.to_string(),
                class,
                exceedance_multiple: multiple,
            });
            let Some(item) = std.water.item(code) else {
                continue;
            };
            // Class items of the 2011 method and the single-limit Table 3 items raise
            // exceedances; reference items (TN, fecal coliform) are reported only.
            let single = matches!(item.criterion, Criterion::SingleLimit(_));
            if !decides && !single {
                continue;
            }
            let Some(j) = judge(
                item,
                section.body,
                section.target,
                value,
                param_debounce.hysteresis_fraction,
            ) else {
                continue;
            };
            let state = self
                .params
                .entry(code.to_string())
                .or_insert_with(|| ParamState {
                    exceedance: Leveled::new(false),
                    reported_class: None,
                });
            let moved = state.exceedance.observe(j.raw, j.sticky, p_streaks);
            let status = match moved {
                Some(t) if t.to => {
                    state.reported_class = class;
                    Some(EventStatus::Firing)
                }
                Some(_) => {
                    state.reported_class = None;
                    Some(EventStatus::Resolved)
                }
                None if state.exceedance.current()
                    && j.raw
                    && class.is_some()
                    && class > state.reported_class =>
                {
                    // Still exceeding and one class worse: an update while it holds.
                    state.reported_class = class;
                    Some(EventStatus::Firing)
                }
                None => None,
            };
            if let Some(status) = status {
                out.findings.push(Finding {
                    station: section.id.to_string(),
                    observed_at: at,
                    kind: FindingKind::ParameterExceedance(ParamFinding {
                        status,
                        started: matches!(moved, Some(t) if t.to),
                        parameter: code.to_string(),
                        value,
                        unit: unit.to_string(),
                        limit: j.limit,
                        bound: j.bound,
                        class,
                        target: section.target,
                        exceedance_multiple: multiple,
                        standard: standard.clone(),
                    }),
                });
            }
        }
        self.judge_section(section, at, std, section_debounce, &standard, &mut out);
        out
    }

    fn judge_section(
        &mut self,
        section: Section<'_>,
        at: DateTime<Utc>,
        std: &InForce,
        debounce: &Debounce,
        standard: &str,
        out: &mut WaterOutcome,
    ) {
        let fresh_from = at - chrono::Duration::hours(FRESH_HOURS);
        self.latest.retain(|_, (t, _)| *t >= fresh_from);
        let values: Vec<(&str, f64)> = self
            .latest
            .iter()
            .map(|(code, (_, v))| (code.as_str(), *v))
            .collect();
        let Some(sc) = std.method.section_class(std.water, &values, section.body) else {
            return;
        };
        let h = debounce.hysteresis_fraction;
        let sticky = values
            .iter()
            .filter(|(code, _)| std.method.class_items.iter().any(|c| c == code))
            .filter_map(|&(code, v)| {
                let item = std.water.item(code)?;
                sticky_class(std, item, section.body, v, h)
            })
            .max()
            .unwrap_or(sc.class)
            .max(sc.class);
        let streaks = Streaks {
            fire_after: debounce.fire_after_readings,
            clear_after: debounce.clear_after_readings,
        };
        out.class = Some(sc.class);
        out.deciding = sc.deciding.clone();
        match &mut self.class {
            None => self.class = Some(Leveled::new(sc.class)),
            Some(level) => {
                if let Some(t) = level.observe(sc.class, sticky, streaks) {
                    out.findings.push(Finding {
                        station: section.id.to_string(),
                        observed_at: at,
                        kind: FindingKind::ClassChange {
                            from: t.from,
                            to: t.to,
                            target: section.target,
                            standard: standard.to_string(),
                        },
                    });
                }
            }
        }
        let below = self.below_target.get_or_insert_with(|| Leveled::new(false));
        if let Some(t) = below.observe(sc.class > section.target, sticky > section.target, streaks)
        {
            let worst = sc
                .parameters
                .iter()
                .filter(|p| p.in_section_class && p.class == sc.class)
                .max_by(|a, b| {
                    a.exceedance_multiple
                        .unwrap_or(0.0)
                        .total_cmp(&b.exceedance_multiple.unwrap_or(0.0))
                })
                .map(|p| (p.code.clone(), p.value, p.exceedance_multiple));
            out.findings.push(Finding {
                station: section.id.to_string(),
                observed_at: at,
                kind: FindingKind::SectionBelowTarget(SectionFinding {
                    status: if t.to {
                        EventStatus::Firing
                    } else {
                        EventStatus::Resolved
                    },
                    class: sc.class,
                    target: section.target,
                    deciding: sc.deciding.clone(),
                    main_pollutants: sc.main_pollutants.clone(),
                    worst,
                    standard: standard.to_string(),
                }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::standards::in_force;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, 10, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn section() -> Section<'static> {
        Section {
            id: "LLH-NTS",
            target: WaterClass::III,
            body: WaterBody::River,
        }
    }

    fn observe(s: &mut WaterState, h: i64, values: &[(&str, f64)]) -> WaterOutcome {
        let std = in_force(t(h).date_naive());
        let v: Vec<(&str, f64, &str)> = values.iter().map(|&(c, x)| (c, x, "mg/L")).collect();
        s.observe(
            section(),
            t(h),
            &v,
            &std,
            &Debounce::WATER,
            &Debounce::WATER,
        )
    }

    fn kinds(o: &WaterOutcome) -> Vec<String> {
        o.findings
            .iter()
            .map(|f| match &f.kind {
                FindingKind::ParameterExceedance(p) => format!("{}:{:?}", p.parameter, p.status),
                FindingKind::SectionBelowTarget(s) => format!("section:{:?}", s.status),
                FindingKind::ClassChange { from, to, .. } => format!("class:{from}->{to}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_exceedance_starts_worsens_and_ends_with_the_section() {
        let mut s = WaterState::default();
        let o = observe(&mut s, 0, &[("NH3N", 0.3), ("DO", 7.0), ("TP", 0.05)]);
        assert_eq!(o.class, Some(WaterClass::II));
        assert!(o.findings.is_empty());
        let o = observe(&mut s, 1, &[("NH3N", 1.2), ("DO", 7.0), ("TP", 0.05)]);
        assert_eq!(
            kinds(&o),
            vec!["NH3N:Firing", "class:II->IV", "section:Firing"]
        );
        let FindingKind::ParameterExceedance(p) = &o.findings[0].kind else {
            panic!()
        };
        assert_eq!(
            (p.limit, p.class, p.started),
            (1.0, Some(WaterClass::IV), true)
        );
        assert!((p.exceedance_multiple.unwrap() - 0.2).abs() < 1e-9);
        // Worse class while it holds: an update, not a new start.
        let o = observe(&mut s, 2, &[("NH3N", 2.4), ("DO", 7.0), ("TP", 0.05)]);
        assert_eq!(kinds(&o), vec!["NH3N:Firing", "class:IV->劣V"]);
        let FindingKind::ParameterExceedance(p) = &o.findings[0].kind else {
            panic!()
        };
        assert!(!p.started);
        observe(&mut s, 3, &[("NH3N", 0.3), ("DO", 7.0), ("TP", 0.05)]);
        let o = observe(&mut s, 4, &[("NH3N", 0.3), ("DO", 7.0), ("TP", 0.05)]);
        assert_eq!(
            kinds(&o),
            vec!["NH3N:Resolved", "class:劣V->II", "section:Resolved"]
        );
    }

    #[test]
    fn ammonia_hovering_at_the_class_iii_limit_fires_once() {
        let mut s = WaterState::default();
        let mut all = Vec::new();
        for (h, v) in [0.98, 1.01, 0.99, 1.02, 0.97, 1.0, 1.01, 0.99]
            .into_iter()
            .enumerate()
        {
            all.extend(kinds(&observe(&mut s, h as i64, &[("NH3N", v)])));
        }
        assert_eq!(
            all.iter().filter(|k| k.starts_with("NH3N")).count(),
            1,
            "{all:?}"
        );
        assert_eq!(all.iter().filter(|k| k.starts_with("section")).count(), 1);
    }

    #[test]
    fn dissolved_oxygen_is_judged_from_below() {
        let mut s = WaterState::default();
        let o = observe(&mut s, 0, &[("DO", 4.9)]);
        let FindingKind::ParameterExceedance(p) = &o.findings[0].kind else {
            panic!("{o:?}")
        };
        assert_eq!(
            (p.limit, p.bound, p.class),
            (5.0, Bound::Min, Some(WaterClass::IV))
        );
        // No exceedance multiple for DO (2011 method).
        assert_eq!(p.exceedance_multiple, None);
        // 5.1 is within the limit but not by 5 %: still exceeding.
        observe(&mut s, 1, &[("DO", 5.1)]);
        let o = observe(&mut s, 2, &[("DO", 5.1)]);
        assert!(o.findings.iter().all(|f| !matches!(
            f.kind,
            FindingKind::ParameterExceedance(ParamFinding {
                status: EventStatus::Resolved,
                ..
            })
        )));
    }

    #[test]
    fn reference_items_and_temperature_never_raise_exceedances() {
        let mut s = WaterState::default();
        let o = observe(&mut s, 0, &[("TN", 5.0), ("WT", 30.0), ("FCOLI", 90000.0)]);
        assert!(o.findings.is_empty(), "{o:?}");
        assert_eq!(o.class, None);
        assert_eq!(o.parameters.len(), 3);
    }

    #[test]
    fn nitrobenzene_is_judged_against_its_single_limit() {
        let mut s = WaterState::default();
        let o = observe(&mut s, 0, &[("NB", 0.5805)]);
        let FindingKind::ParameterExceedance(p) = &o.findings[0].kind else {
            panic!("{o:?}")
        };
        assert_eq!((p.limit, p.class), (0.017, None));
        // 2005 bulletin: 0.5805 mg/L is 33.15 times over.
        assert!((p.exceedance_multiple.unwrap() - 33.15).abs() < 0.01);
    }

    #[test]
    fn stale_values_stop_counting_toward_the_section_class() {
        let mut s = WaterState::default();
        observe(&mut s, 0, &[("TP", 0.5), ("NH3N", 0.3)]);
        let o = observe(&mut s, 30, &[("NH3N", 0.3)]);
        assert_eq!(o.class, Some(WaterClass::II));
    }

    #[test]
    fn judge_uses_the_target_class_limit_and_the_lake_tp() {
        let std = in_force(t(0).date_naive());
        let tp = std.water.item("TP").unwrap();
        let j = judge(tp, WaterBody::Lake, WaterClass::II, 0.03, 0.05).unwrap();
        assert_eq!((j.limit, j.raw), (0.025, true));
        let j = judge(tp, WaterBody::River, WaterClass::II, 0.03, 0.05).unwrap();
        assert_eq!((j.limit, j.raw), (0.1, false));
        let ph = std.water.item("pH").unwrap();
        let j = judge(ph, WaterBody::River, WaterClass::III, 9.2, 0.05).unwrap();
        assert_eq!((j.limit, j.bound, j.raw), (9.0, Bound::Max, true));
        let j = judge(ph, WaterBody::River, WaterClass::III, 5.8, 0.05).unwrap();
        assert_eq!((j.limit, j.bound, j.raw), (6.0, Bound::Min, true));
        assert!(
            judge(
                std.water.item("WT").unwrap(),
                WaterBody::River,
                WaterClass::III,
                9.0,
                0.0
            )
            .is_none()
        );
    }
}
