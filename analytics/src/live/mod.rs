//! Live evaluation: every valid reading judged as it arrives, by pure per-station state
//! machines (no I/O).
//!
//! [`LiveEvaluator::evaluate`] takes the readings of one message, groups them by
//! observation time and feeds each group to the station's state machine for its kind:
//! [`water`] (classes, exceedance of the target, the section's class), [`air`] (hourly AQI
//! and its level), [`outfall`] (discharge limits), [`hydrology`] (warning and guaranteed
//! levels). Each machine debounces its conditions ([`debounce`]). The result is a list of
//! [`Finding`]s (turned into events by [`crate::events`]), the station's current status, the
//! hourly AQI records judged, and the readings that arrived late (for the window jobs).
//!
//! Readings are taken in observation order per station: a reading older than the station's
//! watermark is *late* and is left to the window jobs, and a reading already seen (a
//! redelivery) is skipped, so replaying the same messages changes nothing.
//!
//! The watermark advances to a reading's observation time, but never past its reception
//! time (ingest's host clock): a station whose clock runs fast sends readings "from the
//! future" (ingest accepts up to 10 minutes ahead), and one such reading must not make every
//! later real reading of the station late. Readings observed after their reception are
//! judged and remembered by time ([`LiveState::ahead`]) until the watermark passes them.

pub mod air;
pub mod debounce;
pub mod hydrology;
pub mod outfall;
pub mod water;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use riverwatch_core::events::EventStatus;
use riverwatch_core::registry::{Registry, Station, StationKind};
use riverwatch_core::{Period, Reading, WaterClass};
use serde::{Deserialize, Serialize};

use crate::config::AnalyticsConfig;
pub use crate::model::ParameterStatus;
use crate::model::{AqiRecord, CurrentStatus};
use crate::standards::discharge::{DischargeLimit, DischargeLimits};
use crate::standards::hj633::{AqiLevel, Pollutant};
use crate::standards::hydrology::{LevelState, StationLevels};
use crate::standards::{code, in_force};

/// Which side of a limit is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Values above the limit are bad.
    Max,
    /// Values below the limit are bad (dissolved oxygen, the low end of pH).
    Min,
}

/// Something a state machine found: a condition started, changed or ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Station id.
    pub station: String,
    /// Observation time that decided it (the hour's start for an hourly AQI).
    pub observed_at: DateTime<Utc>,
    /// What.
    pub kind: FindingKind,
}

/// The kinds of findings, one per live rule.
#[derive(Debug, Clone, PartialEq)]
pub enum FindingKind {
    /// A water parameter beyond the limit of the section's target class.
    ParameterExceedance(ParamFinding),
    /// A section's class worse than its target.
    SectionBelowTarget(SectionFinding),
    /// A section's class changed.
    ClassChange {
        /// Class before.
        from: WaterClass,
        /// Class after.
        to: WaterClass,
        /// Target class.
        target: WaterClass,
        /// Standard edition.
        standard: String,
    },
    /// A city's hourly AQI level changed.
    AqiLevel(AqiFinding),
    /// An outfall beyond a discharge limit.
    Discharge(DischargeFinding),
    /// A gauge's flood state changed.
    Flood(FloodFinding),
}

/// A water parameter's exceedance.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamFinding {
    /// Firing (start or worse class) or resolved.
    pub status: EventStatus,
    /// Whether this is the start of the exceedance (attribution runs on starts).
    pub started: bool,
    /// Parameter code.
    pub parameter: String,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// The limit of the target class (or the single limit of a Table 3 item).
    pub limit: f64,
    /// Which side is bad.
    pub bound: Bound,
    /// Class of the value (`None` for Table 3 items).
    pub class: Option<WaterClass>,
    /// Target class.
    pub target: WaterClass,
    /// Exceedance multiple over Class III (or the single limit); none for pH, DO.
    pub exceedance_multiple: Option<f64>,
    /// Standard edition.
    pub standard: String,
}

/// A section's class against its target.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionFinding {
    /// Firing or resolved.
    pub status: EventStatus,
    /// Section class.
    pub class: WaterClass,
    /// Target.
    pub target: WaterClass,
    /// Class items at the section's class.
    pub deciding: Vec<String>,
    /// Main pollutants.
    pub main_pollutants: Vec<String>,
    /// The worst deciding item: code, value, exceedance multiple.
    pub worst: Option<(String, f64, Option<f64>)>,
    /// Standard edition.
    pub standard: String,
}

/// A change of a city's hourly AQI level.
#[derive(Debug, Clone, PartialEq)]
pub struct AqiFinding {
    /// Level before.
    pub from: AqiLevel,
    /// Level after.
    pub to: AqiLevel,
    /// The hour's AQI.
    pub aqi: u32,
    /// Primary pollutants.
    pub primary: Vec<Pollutant>,
    /// HJ 633 edition.
    pub edition: String,
}

/// An outfall's exceedance.
#[derive(Debug, Clone, PartialEq)]
pub struct DischargeFinding {
    /// Firing or resolved.
    pub status: EventStatus,
    /// Parameter code.
    pub parameter: String,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// The discharge limit.
    pub limit: f64,
    /// (C − L) / L; none for pH.
    pub exceedance_multiple: Option<f64>,
    /// Standard and grade.
    pub standard: String,
}

/// A gauge's flood state.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodFinding {
    /// Firing (above warning or guaranteed) or resolved.
    pub status: EventStatus,
    /// State before.
    pub from: LevelState,
    /// State after.
    pub state: LevelState,
    /// Water level, m.
    pub level_m: f64,
    /// The level that decided, m.
    pub limit_m: f64,
}

/// The kind-specific part of a station's live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KindState {
    /// A water section.
    Water(water::WaterState),
    /// An air station.
    Air(air::AirState),
    /// An outfall.
    Outfall(outfall::OutfallState),
    /// A gauge.
    Hydrology(hydrology::HydrologyState),
}

/// One station's live state: its machines and how far in observation time it has been
/// judged. Serializable, so the service keeps it in the evaluation store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveState {
    /// Latest observation time judged.
    pub watermark: Option<DateTime<Utc>>,
    /// Parameters judged at `watermark` (a second message with the same time and other
    /// parameters is still judged; the same parameter again is a redelivery).
    pub seen: BTreeSet<String>,
    /// Readings judged whose observation time is past the watermark (observed later than
    /// they were received: a station clock running fast), by time; dropped once the
    /// watermark passes them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ahead: BTreeMap<DateTime<Utc>, BTreeSet<String>>,
    /// The machines.
    pub machines: KindState,
}

impl LiveState {
    fn new(kind: StationKind) -> Self {
        Self {
            watermark: None,
            seen: BTreeSet::new(),
            ahead: BTreeMap::new(),
            machines: match kind {
                StationKind::Water => KindState::Water(water::WaterState::default()),
                StationKind::Air => KindState::Air(air::AirState::default()),
                StationKind::Outfall => KindState::Outfall(outfall::OutfallState::default()),
                StationKind::Hydrology => {
                    KindState::Hydrology(hydrology::HydrologyState::default())
                }
            },
        }
    }
}

/// What one message gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveOutput {
    /// Findings, in observation order.
    pub findings: Vec<Finding>,
    /// The station's status after the message, when something was judged.
    pub current: Option<CurrentStatus>,
    /// Hourly AQI records judged.
    pub hours: Vec<AqiRecord>,
    /// Readings older than the station's latest judged observation.
    pub late: Vec<Reading>,
    /// Readings judged.
    pub judged: usize,
    /// Readings skipped: invalid flag, daily means, redeliveries, unknown parameters.
    pub skipped: usize,
}

/// The live evaluator: the registry, the settings and every station's live state.
#[derive(Debug, Clone)]
pub struct LiveEvaluator {
    registry: Arc<Registry>,
    config: Arc<AnalyticsConfig>,
    states: HashMap<String, LiveState>,
    /// Outfall limits per station, resolved once.
    discharge: HashMap<String, DischargeLimits>,
}

impl LiveEvaluator {
    /// An evaluator with no state yet.
    pub fn new(registry: Arc<Registry>, config: Arc<AnalyticsConfig>) -> Self {
        let discharge = registry
            .stations()
            .iter()
            .filter(|s| s.kind == StationKind::Outfall)
            .map(|s| (s.id.to_string(), discharge_limits(s, &config)))
            .collect();
        Self {
            registry,
            config,
            states: HashMap::new(),
            discharge,
        }
    }

    /// Restores a station's state (from the evaluation store).
    pub fn restore(&mut self, station: &str, state: LiveState) {
        self.states.insert(station.to_string(), state);
    }

    /// A station's state, if it has one.
    pub fn state(&self, station: &str) -> Option<&LiveState> {
        self.states.get(station)
    }

    /// Judges the readings of one message (all of one station). `now` is the wall-clock
    /// time, recorded as the computation time of AQI records.
    pub fn evaluate(&mut self, readings: &[Reading], now: DateTime<Utc>) -> LiveOutput {
        let mut out = LiveOutput::default();
        let mut by_station: BTreeMap<&str, Vec<&Reading>> = BTreeMap::new();
        for r in readings {
            by_station.entry(r.station.as_str()).or_default().push(r);
        }
        for (id, mut rs) in by_station {
            let Some(station) = self.registry.station(id) else {
                out.skipped += rs.len();
                continue;
            };
            rs.sort_by_key(|r| r.observed_at);
            let station = station.clone();
            let mut i = 0;
            while i < rs.len() {
                let at = rs[i].observed_at;
                let j = rs[i..]
                    .iter()
                    .position(|r| r.observed_at != at)
                    .map_or(rs.len(), |k| i + k);
                self.group(&station, at, &rs[i..j], now, &mut out);
                i = j;
            }
        }
        out
    }

    fn group(
        &mut self,
        station: &Station,
        at: DateTime<Utc>,
        group: &[&Reading],
        now: DateTime<Utc>,
        out: &mut LiveOutput,
    ) {
        let id = station.id.as_str();
        let state = self
            .states
            .entry(id.to_string())
            .or_insert_with(|| LiveState::new(station.kind));
        if state.watermark.is_some_and(|w| at < w) {
            out.late.extend(group.iter().map(|r| (*r).clone()));
            return;
        }
        let seen = if state.watermark == Some(at) {
            &mut state.seen
        } else {
            state.ahead.entry(at).or_default()
        };
        let mut taken = Vec::new();
        for r in group {
            let p = r.parameter.as_str();
            if seen.contains(p) {
                out.skipped += 1;
                continue;
            }
            seen.insert(p.to_string());
            taken.push(*r);
        }
        // The watermark follows observation time, bounded by the reception time.
        let received = group.iter().map(|r| r.received_at).max().unwrap_or(at);
        let to = at.min(received);
        if state.watermark.is_none_or(|w| to > w) {
            state.watermark = Some(to);
            state.seen = state.ahead.remove(&to).unwrap_or_default();
            state.ahead.retain(|t, _| *t > to);
        }
        let mut fresh = Vec::new();
        for r in taken {
            let p = r.parameter.as_str();
            if !r.is_valid() || r.period == Period::Day {
                out.skipped += 1;
                continue;
            }
            let Some(param) = self.registry.parameter(p) else {
                out.skipped += 1;
                continue;
            };
            fresh.push((p, r.value, param.unit.as_str(), r.period));
        }
        if fresh.is_empty() {
            return;
        }
        out.judged += fresh.len();
        let date = riverwatch_core::time::cst_date(at);
        let std = in_force(date);
        let cfg = &self.config;
        match &mut state.machines {
            KindState::Water(w) => {
                let Some(target) = station.target_class else {
                    return;
                };
                let body = station.water_body;
                let values: Vec<(&str, f64, &str)> =
                    fresh.iter().map(|&(c, v, u, _)| (c, v, u)).collect();
                let o = w.observe(
                    water::Section { id, target, body },
                    at,
                    &values,
                    &std,
                    &cfg.debounce.parameter,
                    &cfg.debounce.section,
                );
                out.findings.extend(o.findings);
                out.current = Some(CurrentStatus {
                    class: o.class,
                    target: Some(target),
                    compliant: o.class.map(|c| c.meets(target)),
                    deciding: o.deciding,
                    ..CurrentStatus::measured(
                        id,
                        station.kind,
                        at,
                        o.parameters,
                        format!("{}; {}", std.water.edition.code, std.method.edition.code),
                    )
                });
            }
            KindState::Air(a) => {
                let values: Vec<(Pollutant, f64, Period)> = fresh
                    .iter()
                    .filter_map(|&(c, v, _, period)| Some((Pollutant::from_code(c)?, v, period)))
                    .collect();
                let reports: Vec<Pollutant> = station
                    .parameters
                    .iter()
                    .filter_map(|c| Pollutant::from_code(c))
                    .collect();
                let o = a.observe(id, at, &values, &reports, &cfg.debounce.aqi_level, now);
                out.findings.extend(o.findings);
                let last = o.hours.last().cloned();
                out.hours.extend(o.hours);
                out.current = Some(CurrentStatus {
                    aqi: last.as_ref().and_then(|h| h.aqi),
                    aqi_level: last.as_ref().and_then(|h| h.level),
                    ..CurrentStatus::measured(
                        id,
                        station.kind,
                        at,
                        unjudged(&fresh),
                        last.map_or_else(|| std.aqi.edition.code.to_string(), |h| h.edition),
                    )
                });
            }
            KindState::Outfall(o) => {
                let default = DischargeLimits::grade_1a();
                let limits = self.discharge.get(id).unwrap_or(&default);
                let values: Vec<(&str, f64, &str)> =
                    fresh.iter().map(|&(c, v, u, _)| (c, v, u)).collect();
                let r = o.observe(id, at, &values, limits, &cfg.debounce.discharge);
                out.findings.extend(r.findings);
                out.current = Some(CurrentStatus::measured(
                    id,
                    station.kind,
                    at,
                    r.parameters,
                    limits.edition().code.to_string(),
                ));
            }
            KindState::Hydrology(h) => {
                let mut flood_state = None;
                if let (Some(levels), Some(&(_, level, _, _))) = (
                    station_levels(station, cfg),
                    fresh.iter().find(|(c, ..)| *c == code::LEVEL),
                ) {
                    out.findings
                        .extend(h.observe(id, at, level, &levels, &cfg.debounce.flood));
                    flood_state = crate::standards::hydrology::level_state(level, &levels)
                        .map(|s| flood_state_name(s).to_string());
                }
                out.current = Some(CurrentStatus {
                    flood_state,
                    ..CurrentStatus::measured(
                        id,
                        station.kind,
                        at,
                        unjudged(&fresh),
                        "station levels".to_string(),
                    )
                });
            }
        }
    }
}

/// The fresh values as they are, for stations whose parameters have no water class.
fn unjudged(fresh: &[(&str, f64, &str, Period)]) -> Vec<ParameterStatus> {
    fresh
        .iter()
        .map(|&(c, v, u, _)| ParameterStatus {
            code: c.to_string(),
            value: v,
            unit: u.to_string(),
            class: None,
            exceedance_multiple: None,
        })
        .collect()
}

/// The stable name of a flood state: `normal`, `above_warning`, `above_guaranteed`.
pub const fn flood_state_name(s: LevelState) -> &'static str {
    match s {
        LevelState::Normal => "normal",
        LevelState::AboveWarning => "above_warning",
        LevelState::AboveGuaranteed => "above_guaranteed",
    }
}

/// A gauge's levels: the configuration's override, else the registry's.
pub fn station_levels(station: &Station, config: &AnalyticsConfig) -> Option<StationLevels> {
    if let Some(l) = config.hydrology_levels.get(station.id.as_str()) {
        return Some(*l);
    }
    let levels = StationLevels {
        warning_level_m: station.warning_level_m?,
        guaranteed_level_m: station
            .guaranteed_level_m
            .unwrap_or(f64::INFINITY)
            .min(f64::MAX),
    };
    levels.is_valid().then_some(levels)
}

/// An outfall's limits: Grade 1A, then the registry's per-parameter maxima, then the
/// configuration's overrides.
pub fn discharge_limits(station: &Station, config: &AnalyticsConfig) -> DischargeLimits {
    let mut limits = DischargeLimits::grade_1a();
    for (code, max) in &station.discharge_limits {
        limits
            .overrides
            .insert(code.clone(), DischargeLimit::Max(*max));
    }
    if let Some(extra) = config.discharge_limits.get(station.id.as_str()) {
        limits
            .overrides
            .extend(extra.overrides.iter().map(|(k, v)| (k.clone(), *v)));
    }
    limits
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use riverwatch_core::{DataFlag, ParamCode, StationId};

    use super::*;

    fn reading(station: &str, p: &str, t: DateTime<Utc>, v: f64) -> Reading {
        Reading {
            station: StationId::new(station),
            parameter: ParamCode::new(p),
            observed_at: t,
            received_at: t,
            value: v,
            flag: DataFlag::N,
            period: Period::Sample,
        }
    }

    fn evaluator() -> LiveEvaluator {
        LiveEvaluator::new(
            Arc::new(Registry::builtin().unwrap()),
            Arc::new(AnalyticsConfig::default()),
        )
    }

    #[test]
    fn redeliveries_are_skipped_and_older_readings_are_late() {
        let mut e = evaluator();
        let t0 = Utc.with_ymd_and_hms(2026, 9, 10, 0, 0, 0).unwrap();
        let msg = vec![
            reading("LLH-NTS", "NH3N", t0, 1.6),
            reading("LLH-NTS", "DO", t0, 7.0),
        ];
        let first = e.evaluate(&msg, t0);
        assert_eq!(first.judged, 2);
        // NH3N above the Class III limit, and the section below its target (the first
        // class of a section is its starting point, not a change).
        assert_eq!(first.findings.len(), 2, "{:?}", first.findings);
        let again = e.evaluate(&msg, t0);
        assert_eq!((again.judged, again.skipped), (0, 2));
        assert!(again.findings.is_empty());
        // Same time, another parameter (a second message of the same observation).
        let more = e.evaluate(&[reading("LLH-NTS", "TP", t0, 0.1)], t0);
        assert_eq!(more.judged, 1);
        let late = e.evaluate(
            &[reading(
                "LLH-NTS",
                "NH3N",
                t0 - chrono::Duration::hours(4),
                0.3,
            )],
            t0,
        );
        assert_eq!(late.late.len(), 1);
        assert_eq!(late.judged, 0);
    }

    #[test]
    fn a_reading_from_a_fast_station_clock_leaves_later_readings_live() {
        let mut e = evaluator();
        let t0 = Utc.with_ymd_and_hms(2026, 9, 10, 0, 0, 0).unwrap();
        let min = chrono::Duration::minutes;
        let at = |obs, rx, v| Reading {
            received_at: rx,
            ..reading("LLH-NTS", "NH3N", obs, v)
        };
        assert_eq!(e.evaluate(&[at(t0, t0, 0.3)], t0).judged, 1);
        // The station's clock runs 9 minutes fast once: observed 00:10, received 00:01.
        let ahead = e.evaluate(&[at(t0 + min(10), t0 + min(1), 0.3)], t0);
        assert_eq!(ahead.judged, 1);
        // The next real reading (00:02) is above the Class III limit of NH3-N (1.0 mg/L,
        // GB 3838-2002 Table 1): judged live, and the exceedance fires.
        let next = e.evaluate(&[at(t0 + min(2), t0 + min(2), 1.6)], t0);
        assert!(next.late.is_empty(), "{:?}", next.late);
        assert_eq!(next.judged, 1);
        assert!(
            next.findings.iter().any(|f| matches!(
                &f.kind,
                FindingKind::ParameterExceedance(p)
                    if p.started && p.status == EventStatus::Firing && p.parameter == "NH3N"
            )),
            "{:?}",
            next.findings
        );
        // The reading from the future redelivered is recognised, not judged again.
        let again = e.evaluate(&[at(t0 + min(10), t0 + min(1), 0.3)], t0);
        assert_eq!((again.judged, again.skipped), (0, 1));
        // Once real time passes it, it is behind the watermark like any older reading.
        assert_eq!(
            e.evaluate(&[at(t0 + min(11), t0 + min(11), 1.6)], t0)
                .judged,
            1
        );
        let old = e.evaluate(&[at(t0 + min(10), t0 + min(1), 0.3)], t0);
        assert_eq!((old.judged, old.late.len()), (0, 1));
        assert!(e.state("LLH-NTS").unwrap().ahead.is_empty());
    }

    #[test]
    fn flagged_values_do_not_count() {
        let mut e = evaluator();
        let t0 = Utc.with_ymd_and_hms(2026, 9, 10, 0, 0, 0).unwrap();
        let mut r = reading("LLH-NTS", "NH3N", t0, 5.0);
        r.flag = DataFlag::M;
        let o = e.evaluate(&[r], t0);
        assert_eq!((o.judged, o.skipped), (0, 1));
        assert!(o.findings.is_empty());
        let mut s = reading("LLH-NTS", "NH3N", t0 + chrono::Duration::hours(1), 5.0);
        s.flag = DataFlag::S;
        assert_eq!(e.evaluate(&[s], t0).judged, 1);
    }

    #[test]
    fn registry_discharge_overrides_and_levels_are_used() {
        let reg = Registry::builtin().unwrap();
        let mut cfg = AnalyticsConfig::default();
        let gauge = reg.station("HYD-CJG").unwrap();
        assert_eq!(station_levels(gauge, &cfg).unwrap().warning_level_m, 131.5);
        cfg.hydrology_levels.insert(
            "HYD-CJG".into(),
            StationLevels {
                warning_level_m: 130.0,
                guaranteed_level_m: 132.0,
            },
        );
        assert_eq!(station_levels(gauge, &cfg).unwrap().warning_level_m, 130.0);
        let mut outfall = reg.station("WWTP-HRB").unwrap().clone();
        outfall.discharge_limits.insert("TP".into(), 0.3);
        let limits = discharge_limits(&outfall, &cfg);
        assert_eq!(limits.limit_for("TP"), Some(&DischargeLimit::Max(0.3)));
        assert_eq!(limits.limit_for("COD"), Some(&DischargeLimit::Max(50.0)));
    }
}
