//! Cross-border attribution and incidents (pure; the service fetches the upstream readings).
//!
//! **Where is upstream.** [`Topology`] orders the water sections of each river by river
//! kilometre. The upstream neighbours of a section are the nearest section above it on the
//! same river, plus, for every tributary joining between that section and this one, the
//! most downstream section of the tributary (across a confluence: the Lalin's mouth section
//! `LLH-HK` is upstream of the Songhua main-stem section below km 130, the Second Songhua's
//! `SH2-SY` of `SHJ-ZY`). A section with no neighbour is at the head of the monitored river;
//! its exceedances are *undetermined*. The downstream neighbour is the nearest section
//! below, following `flows_into` at the river's mouth.
//!
//! **Travel time** is the river distance divided by the flow velocity of each reach
//! ([`crate::config::AttributionConfig`]), summed along the path.
//!
//! **The verdict** ([`attribute`]): for each upstream neighbour, the valid readings within
//! ± tolerance of (exceedance time − travel time) are examined:
//! - any neighbour has a reading beyond the *same limit* (the downstream section's) →
//!   arrived from upstream (naming the neighbour with the worst multiple, its province,
//!   its worst value);
//! - every neighbour has readings and all are within the limit → arisen between (the value
//!   of the reading nearest the expected time of the same-river neighbour);
//! - otherwise (no neighbour, or a neighbour without data in the window) → undetermined.
//!
//! Looking at the worst reading in the window, not only the nearest one, keeps a front
//! that has spread out on its way (dispersion) from being mistaken for a new source.
//!
//! **Incidents** ([`Incidents`]) link successive exceedances moving downstream: an
//! exceedance that arrived from a section of an open incident joins it; one that arose at a
//! section already in an open incident (another parameter) joins that; any other starts a
//! new incident. Each link carries the expected arrival at the next section downstream.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use riverwatch_core::events::{Attribution, ExpectedArrival};
use riverwatch_core::registry::{Registry, StationKind};
use serde::{Deserialize, Serialize};

use crate::config::AttributionConfig;
use crate::live::Bound;
use crate::model::{Incident, IncidentSection};

/// One stretch of a river path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    /// River id.
    pub river: String,
    /// Upstream kilometre.
    pub from_km: f64,
    /// Downstream kilometre.
    pub to_km: f64,
}

/// A neighbouring section along the river.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Section id.
    pub station: String,
    /// Its province.
    pub province: Province,
    /// Whether it is a provincial-boundary section.
    pub boundary: bool,
    /// River distance, km.
    pub distance_km: f64,
    /// Travel time at the configured velocities, hours.
    pub travel_hours: f64,
    /// The path.
    pub legs: Vec<Leg>,
}

#[derive(Debug, Clone)]
struct Pos {
    id: String,
    river: String,
    km: f64,
    province: Province,
    boundary: bool,
}

/// The sections of the network in river order, with their neighbours.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    upstream: HashMap<String, Vec<Neighbour>>,
    downstream: HashMap<String, Neighbour>,
}

/// Travel time along legs, hours, integrating the velocity of each reach.
pub fn travel_hours(legs: &[Leg], cfg: &AttributionConfig) -> f64 {
    let mut hours = 0.0;
    for leg in legs {
        let (a, b) = (leg.from_km.min(leg.to_km), leg.from_km.max(leg.to_km));
        let mut cuts = vec![a, b];
        for r in cfg.reaches.iter().filter(|r| r.river == leg.river) {
            for k in [r.from_km, r.to_km] {
                if a < k && k < b {
                    cuts.push(k);
                }
            }
        }
        cuts.sort_by(f64::total_cmp);
        for w in cuts.windows(2) {
            let v = cfg.velocity_at(&leg.river, (w[0] + w[1]) / 2.0);
            if v > 0.0 {
                hours += (w[1] - w[0]) / v;
            }
        }
    }
    hours
}

impl Topology {
    /// Builds the neighbours of every water section of the registry.
    pub fn new(registry: &Registry, cfg: &AttributionConfig) -> Self {
        let sections: Vec<Pos> = registry
            .stations()
            .iter()
            .filter(|s| s.kind == StationKind::Water)
            .filter_map(|s| {
                Some(Pos {
                    id: s.id.to_string(),
                    river: s.river.clone()?,
                    km: s.river_km?,
                    province: s.province,
                    boundary: s.boundary,
                })
            })
            .collect();
        let mut topo = Topology::default();
        for s in &sections {
            let ups = upstream_of(registry, &sections, &s.river, s.km, Vec::new(), 0);
            let ups = ups
                .into_iter()
                .map(|(p, legs)| neighbour(p, legs, cfg))
                .collect();
            topo.upstream.insert(s.id.clone(), ups);
            if let Some((p, legs)) =
                downstream_of(registry, &sections, &s.river, s.km, false, Vec::new(), 0)
            {
                topo.downstream
                    .insert(s.id.clone(), neighbour(p, legs, cfg));
            }
        }
        topo
    }

    /// The upstream neighbours of a section (empty at the head of a monitored river).
    pub fn upstream(&self, station: &str) -> &[Neighbour] {
        self.upstream.get(station).map_or(&[], Vec::as_slice)
    }

    /// The downstream neighbour of a section.
    pub fn downstream(&self, station: &str) -> Option<&Neighbour> {
        self.downstream.get(station)
    }

    /// The nearest section upstream that is not itself a boundary section (searching
    /// through boundary sections), for the ledger's default upstream province.
    pub fn nearest_inland_upstream(&self, station: &str) -> Option<&Neighbour> {
        let mut current = station;
        for _ in 0..64 {
            let first = self.upstream(current).first()?;
            if !first.boundary {
                return Some(first);
            }
            current = &first.station;
        }
        None
    }
}

fn neighbour(p: &Pos, legs: Vec<Leg>, cfg: &AttributionConfig) -> Neighbour {
    Neighbour {
        station: p.id.clone(),
        province: p.province,
        boundary: p.boundary,
        distance_km: legs.iter().map(|l| (l.to_km - l.from_km).abs()).sum(),
        travel_hours: travel_hours(&legs, cfg),
        legs,
    }
}

/// Sections upstream of `km` on `river`: the nearest above on the river, and the last
/// section of each tributary joining in between (recursively through tributaries without
/// sections). `below` are the legs from the point to the section asking.
fn upstream_of<'a>(
    registry: &Registry,
    sections: &'a [Pos],
    river: &str,
    km: f64,
    below: Vec<Leg>,
    depth: usize,
) -> Vec<(&'a Pos, Vec<Leg>)> {
    let mut out = Vec::new();
    if depth > 16 {
        return out;
    }
    let same = sections
        .iter()
        .filter(|s| s.river == river && s.km < km)
        .max_by(|a, b| a.km.total_cmp(&b.km));
    let lower = same.map_or(f64::NEG_INFINITY, |s| s.km);
    if let Some(s) = same {
        let mut legs = vec![Leg {
            river: river.to_string(),
            from_km: s.km,
            to_km: km,
        }];
        legs.extend(below.iter().cloned());
        out.push((s, legs));
    }
    for trib in registry
        .rivers()
        .iter()
        .filter(|r| r.flows_into.as_deref() == Some(river))
    {
        let Some(conf) = trib.confluence_km else {
            continue;
        };
        if !(conf >= lower && conf <= km) || (same.is_some() && conf == lower) {
            continue;
        }
        let mut legs = vec![Leg {
            river: river.to_string(),
            from_km: conf,
            to_km: km,
        }];
        legs.extend(below.iter().cloned());
        out.extend(upstream_of(
            registry,
            sections,
            &trib.id,
            trib.length_km,
            legs,
            depth + 1,
        ));
    }
    out
}

/// The nearest section downstream of `km` on `river` (at `km` too when `inclusive`),
/// following the river's mouth.
fn downstream_of<'a>(
    registry: &Registry,
    sections: &'a [Pos],
    river: &str,
    km: f64,
    inclusive: bool,
    above: Vec<Leg>,
    depth: usize,
) -> Option<(&'a Pos, Vec<Leg>)> {
    if depth > 16 {
        return None;
    }
    let next = sections
        .iter()
        .filter(|s| s.river == river && (s.km > km || (inclusive && s.km == km)))
        .min_by(|a, b| a.km.total_cmp(&b.km));
    if let Some(s) = next {
        let mut legs = above;
        legs.push(Leg {
            river: river.to_string(),
            from_km: km,
            to_km: s.km,
        });
        return Some((s, legs));
    }
    let r = registry.river(river)?;
    let parent = r.flows_into.as_deref()?;
    let conf = r.confluence_km?;
    let mut legs = above;
    legs.push(Leg {
        river: river.to_string(),
        from_km: km,
        to_km: r.length_km,
    });
    // A section exactly at the confluence is downstream of the tributary.
    downstream_of(registry, sections, parent, conf, true, legs, depth + 1)
}

/// An exceedance to attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceedanceAt<'a> {
    /// Section id.
    pub station: &'a str,
    /// Parameter code.
    pub parameter: &'a str,
    /// Observation time.
    pub at: DateTime<Utc>,
    /// Value.
    pub value: f64,
    /// The limit it was judged against (the section's target-class limit).
    pub limit: f64,
    /// Which side is bad.
    pub bound: Bound,
}

/// What an upstream neighbour measured around the expected time.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamEvidence {
    /// The neighbour.
    pub neighbour: Neighbour,
    /// Its valid readings of the parameter within the tolerance window: (time, value).
    pub readings: Vec<(DateTime<Utc>, f64)>,
}

/// The time window in which an upstream neighbour's readings are looked at.
pub fn evidence_window(
    at: DateTime<Utc>,
    n: &Neighbour,
    tolerance_hours: f64,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let expected = at - hours(n.travel_hours);
    let tol = hours(tolerance_hours);
    (expected - tol, expected + tol)
}

fn hours(h: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((h * 3_600_000.0).round() as i64)
}

fn beyond(v: f64, limit: f64, bound: Bound) -> bool {
    match bound {
        Bound::Max => v > limit,
        Bound::Min => v < limit,
    }
}

/// Attributes an exceedance from the upstream evidence (see the module docs).
pub fn attribute(
    ex: &ExceedanceAt<'_>,
    evidence: &[UpstreamEvidence],
    tolerance_hours: f64,
) -> Attribution {
    if evidence.is_empty() {
        return Attribution::Undetermined {
            reason: format!(
                "{} 上游无监测断面（河流源头） / no monitored section upstream of {} (head of the river)",
                ex.station, ex.station
            ),
        };
    }
    let severity = |v: f64| match ex.bound {
        Bound::Max => v / ex.limit.max(f64::MIN_POSITIVE),
        Bound::Min => ex.limit / v.max(f64::MIN_POSITIVE),
    };
    let mut arrived: Option<(&UpstreamEvidence, f64)> = None;
    let mut missing = Vec::new();
    for e in evidence {
        if e.readings.is_empty() {
            missing.push(e);
            continue;
        }
        for &(_, v) in &e.readings {
            if beyond(v, ex.limit, ex.bound)
                && arrived.is_none_or(|(_, best)| severity(v) > severity(best))
            {
                arrived = Some((e, v));
            }
        }
    }
    if let Some((e, v)) = arrived {
        return Attribution::ArrivedFromUpstream {
            upstream_station: e.neighbour.station.clone(),
            upstream_province: e.neighbour.province,
            upstream_value: v,
            travel_hours: round2(e.neighbour.travel_hours),
        };
    }
    if !missing.is_empty() {
        let ids: Vec<&str> = missing
            .iter()
            .map(|e| e.neighbour.station.as_str())
            .collect();
        let expected = missing
            .first()
            .map(|e| ex.at - hours(e.neighbour.travel_hours))
            .unwrap_or(ex.at);
        return Attribution::Undetermined {
            reason: format!(
                "上游 {} 在 {} ±{} 小时内无有效数据 / no valid data at {} within ±{} h of {} UTC+8",
                ids.join("、"),
                riverwatch_core::time::fmt_cst_minutes(expected),
                tolerance_hours,
                ids.join(", "),
                tolerance_hours,
                riverwatch_core::time::fmt_cst_minutes(expected)
            ),
        };
    }
    // Every neighbour measured and all within the limit: the same-river neighbour (first)
    // names the reach, with its reading nearest the expected time.
    let e = &evidence[0];
    let expected = ex.at - hours(e.neighbour.travel_hours);
    let value = e
        .readings
        .iter()
        .min_by_key(|(t, _)| (*t - expected).num_milliseconds().abs())
        .map_or(f64::NAN, |(_, v)| *v);
    Attribution::ArisenBetween {
        upstream_station: e.neighbour.station.clone(),
        upstream_province: e.neighbour.province,
        upstream_value: value,
        travel_hours: round2(e.neighbour.travel_hours),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The clean section above an exceedance that arose between the two.
fn clean_upstream(attribution: &Attribution) -> Option<String> {
    match attribution {
        Attribution::ArisenBetween {
            upstream_station, ..
        } => Some(upstream_station.clone()),
        _ => None,
    }
}

/// An exceedance at a section, as incidents record it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    /// Section id.
    pub station: &'a str,
    /// Its province.
    pub province: Province,
    /// Parameter code.
    pub parameter: &'a str,
    /// Observation time.
    pub at: DateTime<Utc>,
    /// Value.
    pub value: f64,
    /// Attribution.
    pub attribution: &'a Attribution,
}

/// The open incidents. Serializable for the evaluation store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Incidents {
    open: Vec<Incident>,
}

impl Incidents {
    /// Incidents restored from the store.
    pub fn restore(open: Vec<Incident>) -> Self {
        Self { open }
    }

    /// The open incidents.
    pub fn open(&self) -> &[Incident] {
        &self.open
    }

    /// The open incident that reached `station` with `parameter`, if any.
    pub fn of(&self, station: &str, parameter: &str) -> Option<&Incident> {
        self.open.iter().rev().find(|i| {
            i.sections
                .iter()
                .any(|s| s.station == station && s.parameter == parameter)
        })
    }

    /// Records an exceedance start; returns the incident it belongs to (new or joined)
    /// after the update. `next` is the expected arrival at the next section downstream.
    pub fn record(
        &mut self,
        hit: &Hit<'_>,
        next: Option<ExpectedArrival>,
        idle_hours: f64,
    ) -> Incident {
        let idle = hours(idle_hours);
        self.open.retain(|i| i.last_at + idle >= hit.at);
        let at_station = |i: &Incident, s: &str| {
            i.sections
                .iter()
                .any(|x| x.station == s && x.first_at <= hit.at)
        };
        let joined = match hit.attribution {
            Attribution::ArrivedFromUpstream {
                upstream_station, ..
            } => self
                .open
                .iter()
                .rposition(|i| at_station(i, upstream_station))
                .or_else(|| self.open.iter().rposition(|i| at_station(i, hit.station))),
            _ => self.open.iter().rposition(|i| at_station(i, hit.station)),
        }
        // Hits can be judged out of order (a station's data arrives late, or a replay sends
        // one station's day before another's): an exceedance downstream that arrived from
        // this section may already have opened the incident this hit starts.
        .or_else(|| {
            self.open.iter().rposition(|i| {
                i.sections.iter().any(|x| {
                    x.first_at >= hit.at
                        && matches!(&x.attribution, Attribution::ArrivedFromUpstream {
                            upstream_station, ..
                        } if upstream_station == hit.station)
                })
            })
        });
        let section = IncidentSection {
            station: hit.station.to_string(),
            province: hit.province,
            parameter: hit.parameter.to_string(),
            first_at: hit.at,
            value: hit.value,
            attribution: hit.attribution.clone(),
        };
        match joined {
            Some(index) => {
                let inc = &mut self.open[index];
                let new_station = !inc.sections.iter().any(|s| s.station == hit.station);
                if !inc
                    .sections
                    .iter()
                    .any(|s| s.station == hit.station && s.parameter == hit.parameter)
                {
                    inc.sections.push(section);
                }
                // The newest section says where the front goes next; an earlier hit judged
                // late becomes the origin instead.
                if new_station && next.is_some() && hit.at >= inc.last_at {
                    inc.expected_next = next;
                }
                inc.last_at = inc.last_at.max(hit.at);
                if hit.at < inc.started_at {
                    inc.started_at = hit.at;
                    inc.origin_station = hit.station.to_string();
                    inc.origin_province = hit.province;
                    inc.clean_upstream = clean_upstream(hit.attribution);
                }
                inc.sections.sort_by_key(|s| s.first_at);
                inc.clone()
            }
            None => {
                let inc = Incident {
                    id: format!(
                        "inc-{}-{}-{}",
                        hit.station,
                        hit.parameter,
                        hit.at.format("%Y%m%dT%H%MZ")
                    ),
                    origin_station: hit.station.to_string(),
                    origin_province: hit.province,
                    clean_upstream: clean_upstream(hit.attribution),
                    started_at: hit.at,
                    last_at: hit.at,
                    sections: vec![section],
                    expected_next: next,
                };
                self.open.push(inc.clone());
                inc
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn topo() -> Topology {
        Topology::new(&Registry::builtin().unwrap(), &AttributionConfig::default())
    }

    fn t(h: f64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, 10, 0, 0, 0).unwrap() + hours(h)
    }

    fn ex(station: &str, at: DateTime<Utc>, value: f64) -> ExceedanceAt<'_> {
        ExceedanceAt {
            station,
            parameter: "NH3N",
            at,
            value,
            limit: 1.0,
            bound: Bound::Max,
        }
    }

    fn evidence(n: &Neighbour, readings: &[(f64, f64)]) -> UpstreamEvidence {
        UpstreamEvidence {
            neighbour: n.clone(),
            readings: readings.iter().map(|&(h, v)| (t(h), v)).collect(),
        }
    }

    #[test]
    fn neighbours_along_the_lalin_and_across_confluences() {
        let topo = topo();
        let up = topo.upstream("LLH-NTS");
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].station, "LLH-WC");
        assert_eq!(up[0].province, Province::Heilongjiang);
        assert_eq!(up[0].distance_km, 70.0);
        assert_eq!(up[0].travel_hours, 35.0);
        // Below the Lalin confluence (km 130) the main stem has two upstream neighbours.
        let up: Vec<(&str, f64)> = topo
            .upstream("SHJ-LLK")
            .iter()
            .map(|n| (n.station.as_str(), n.distance_km))
            .collect();
        assert_eq!(up, vec![("SHJ-ZY", 100.0), ("LLH-HK", 18.0)]);
        // The head of the Songhua main stem takes the Second Songhua's last section.
        let up = topo.upstream("SHJ-ZY");
        assert_eq!(up[0].station, "SH2-SY");
        assert_eq!(up[0].distance_km, 70.0);
        // The head of the monitored Lalin has none.
        assert!(topo.upstream("LLH-MPS").is_empty());
        assert_eq!(topo.downstream("LLH-NTS").unwrap().station, "LLH-LLZ");
        let mouth = topo.downstream("LLH-HK").unwrap();
        assert_eq!(
            (mouth.station.as_str(), mouth.distance_km),
            ("SHJ-LLK", 18.0)
        );
        assert!(topo.downstream("SHJ-JMS").is_none());
        assert_eq!(
            topo.nearest_inland_upstream("LLH-YS").unwrap().station,
            "LLH-WC"
        );
        assert_eq!(
            topo.nearest_inland_upstream("SHJ-ZY").unwrap().province,
            Province::Jilin
        );
    }

    #[test]
    fn travel_time_integrates_reach_velocities() {
        let mut cfg = AttributionConfig::default();
        cfg.reaches.push(crate::config::ReachVelocity {
            river: "lalin".into(),
            from_km: 200.0,
            to_km: 230.0,
            velocity_kmh: 1.0,
        });
        let legs = [Leg {
            river: "lalin".into(),
            from_km: 160.0,
            to_km: 230.0,
        }];
        // 40 km at 2 km/h + 30 km at 1 km/h.
        assert_eq!(travel_hours(&legs, &cfg), 50.0);
    }

    #[test]
    fn arisen_between_when_upstream_was_clean_one_travel_time_earlier() {
        let topo = topo();
        let n = &topo.upstream("LLH-NTS")[0];
        let at = t(36.0);
        // Expected upstream time: 36 − 35 = 1 h; readings at 0 h and 4 h are within ±3 h.
        let a = attribute(
            &ex("LLH-NTS", at, 2.3),
            &[evidence(n, &[(0.0, 0.31), (4.0, 0.35)])],
            3.0,
        );
        assert_eq!(
            a,
            Attribution::ArisenBetween {
                upstream_station: "LLH-WC".into(),
                upstream_province: Province::Heilongjiang,
                upstream_value: 0.31,
                travel_hours: 35.0,
            }
        );
    }

    #[test]
    fn arrived_from_upstream_across_the_provincial_boundary() {
        let topo = topo();
        let n = &topo.upstream("LLH-LLZ")[0];
        assert_eq!(
            (n.station.as_str(), n.province),
            ("LLH-NTS", Province::Jilin)
        );
        let a = attribute(
            &ex("LLH-LLZ", t(17.0), 1.6),
            &[evidence(n, &[(0.0, 0.9), (1.0, 1.4), (2.0, 2.2)])],
            3.0,
        );
        let Attribution::ArrivedFromUpstream {
            upstream_station,
            upstream_province,
            upstream_value,
            travel_hours,
        } = a
        else {
            panic!("{a:?}")
        };
        assert_eq!(upstream_station, "LLH-NTS");
        assert_eq!(upstream_province, Province::Jilin);
        assert_eq!(upstream_value, 2.2);
        assert_eq!(travel_hours, 16.0);
    }

    #[test]
    fn undetermined_without_upstream_data_or_section() {
        let topo = topo();
        let n = &topo.upstream("LLH-NTS")[0];
        let a = attribute(&ex("LLH-NTS", t(36.0), 2.3), &[evidence(n, &[])], 3.0);
        let Attribution::Undetermined { reason } = a else {
            panic!()
        };
        assert!(reason.contains("LLH-WC"), "{reason}");
        let a = attribute(&ex("LLH-MPS", t(0.0), 0.2), &[], 3.0);
        assert!(matches!(a, Attribution::Undetermined { .. }));
    }

    #[test]
    fn a_clean_tributary_does_not_hide_missing_main_stem_data() {
        let topo = topo();
        let ups = topo.upstream("SHJ-LLK");
        let a = attribute(
            &ex("SHJ-LLK", t(80.0), 1.5),
            &[evidence(&ups[0], &[]), evidence(&ups[1], &[(71.0, 0.4)])],
            3.0,
        );
        assert!(matches!(a, Attribution::Undetermined { .. }), "{a:?}");
        // The tributary carrying it decides even when the main stem is clean.
        let a = attribute(
            &ex("SHJ-LLK", t(80.0), 1.5),
            &[
                evidence(&ups[0], &[(13.0, 0.4)]),
                evidence(&ups[1], &[(71.0, 1.3)]),
            ],
            3.0,
        );
        assert!(
            matches!(&a, Attribution::ArrivedFromUpstream { upstream_station, .. } if upstream_station == "LLH-HK"),
            "{a:?}"
        );
    }

    #[test]
    fn dissolved_oxygen_is_beyond_when_below() {
        let topo = topo();
        let n = &topo.upstream("LLH-LLZ")[0];
        let e = ExceedanceAt {
            station: "LLH-LLZ",
            parameter: "DO",
            at: t(17.0),
            value: 4.0,
            limit: 5.0,
            bound: Bound::Min,
        };
        let a = attribute(&e, &[evidence(n, &[(1.0, 3.5)])], 3.0);
        assert!(matches!(a, Attribution::ArrivedFromUpstream { .. }));
    }

    #[test]
    fn successive_exceedances_downstream_form_one_incident() {
        let mut inc = Incidents::default();
        let arisen = Attribution::ArisenBetween {
            upstream_station: "LLH-WC".into(),
            upstream_province: Province::Heilongjiang,
            upstream_value: 0.3,
            travel_hours: 35.0,
        };
        let first = inc.record(
            &Hit {
                station: "LLH-NTS",
                province: Province::Jilin,
                parameter: "NH3N",
                at: t(4.0),
                value: 1.2,
                attribution: &arisen,
            },
            Some(ExpectedArrival {
                station: "LLH-LLZ".into(),
                at: t(20.0),
            }),
            72.0,
        );
        assert_eq!(first.id, "inc-LLH-NTS-NH3N-20260910T0400Z");
        assert_eq!(first.clean_upstream.as_deref(), Some("LLH-WC"));
        // TP arising at the same section joins.
        let tp = inc.record(
            &Hit {
                station: "LLH-NTS",
                province: Province::Jilin,
                parameter: "TP",
                at: t(5.0),
                value: 0.25,
                attribution: &arisen,
            },
            None,
            72.0,
        );
        assert_eq!(tp.id, first.id);
        let arrived = Attribution::ArrivedFromUpstream {
            upstream_station: "LLH-NTS".into(),
            upstream_province: Province::Jilin,
            upstream_value: 1.4,
            travel_hours: 16.0,
        };
        let next = inc.record(
            &Hit {
                station: "LLH-LLZ",
                province: Province::Heilongjiang,
                parameter: "NH3N",
                at: t(21.0),
                value: 1.1,
                attribution: &arrived,
            },
            Some(ExpectedArrival {
                station: "LLH-YS".into(),
                at: t(50.0),
            }),
            72.0,
        );
        assert_eq!(next.id, first.id);
        assert_eq!(next.sections.len(), 3);
        assert_eq!(next.expected_next.as_ref().unwrap().station, "LLH-YS");
        assert_eq!(inc.of("LLH-LLZ", "NH3N").unwrap().id, first.id);
        // Long after, the same section starts a new incident.
        let later = inc.record(
            &Hit {
                station: "LLH-NTS",
                province: Province::Jilin,
                parameter: "NH3N",
                at: t(24.0 * 10.0),
                value: 1.2,
                attribution: &arisen,
            },
            None,
            72.0,
        );
        assert_ne!(later.id, first.id);
    }

    #[test]
    fn an_upstream_start_judged_after_the_downstream_one_joins_its_incident() {
        let mut inc = Incidents::default();
        let arrived = Attribution::ArrivedFromUpstream {
            upstream_station: "LLH-NTS".into(),
            upstream_province: Province::Jilin,
            upstream_value: 1.4,
            travel_hours: 16.0,
        };
        let arisen = Attribution::ArisenBetween {
            upstream_station: "LLH-WC".into(),
            upstream_province: Province::Heilongjiang,
            upstream_value: 0.3,
            travel_hours: 35.0,
        };
        // The downstream section's start is judged first.
        let down = inc.record(
            &Hit {
                station: "LLH-LLZ",
                province: Province::Heilongjiang,
                parameter: "NH3N",
                at: t(21.0),
                value: 1.1,
                attribution: &arrived,
            },
            Some(ExpectedArrival {
                station: "LLH-YS".into(),
                at: t(50.0),
            }),
            72.0,
        );
        let up = inc.record(
            &Hit {
                station: "LLH-NTS",
                province: Province::Jilin,
                parameter: "NH3N",
                at: t(4.0),
                value: 1.2,
                attribution: &arisen,
            },
            Some(ExpectedArrival {
                station: "LLH-LLZ".into(),
                at: t(20.0),
            }),
            72.0,
        );
        assert_eq!(up.id, down.id);
        assert_eq!(inc.open().len(), 1);
        assert_eq!(up.origin_station, "LLH-NTS");
        assert_eq!(up.started_at, t(4.0));
        assert_eq!(up.clean_upstream.as_deref(), Some("LLH-WC"));
        assert_eq!(up.expected_next.as_ref().unwrap().station, "LLH-YS");
        let order: Vec<&str> = up.sections.iter().map(|s| s.station.as_str()).collect();
        assert_eq!(order, ["LLH-NTS", "LLH-LLZ"]);
        // A start at a section the front has not come from stays its own incident.
        let other = inc.record(
            &Hit {
                station: "LLH-WC",
                province: Province::Heilongjiang,
                parameter: "NH3N",
                at: t(3.0),
                value: 1.3,
                attribution: &arisen,
            },
            None,
            72.0,
        );
        assert_ne!(other.id, down.id);
    }
}
