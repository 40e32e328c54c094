//! River plumes: a release carried downstream, spreading and decaying.
//!
//! The model is the 1-D advection–dispersion solution written in travel time. The centroid
//! reaches a section after θ = Σ (reach length ÷ reach velocity) along the river path from
//! the release (down the release river, through confluences into the river it joins). At a
//! section the passage is Gaussian in time with standard deviation σ(θ) = σ₀ + r·θ: a
//! longitudinal dispersion coefficient growing with travel time (D = u²σ²/2θ grows ∝ θ), as
//! in the shear-dispersion regime of large rivers. Mass conservation fixes the area under the
//! passage: ∫C dt = M·e^(−kθ) / Q, with Q the river flow at the section (dilution) and k a
//! first-order loss. A release lasting T hours is the same pulse integrated over T:
//! C = ∫C dt / T · [Φ((τ−θ)/σ) − Φ((τ−θ−T)/σ)].
//!
//! The peak therefore arrives after distance ÷ velocity (plus T/2), and peaks fall downstream
//! as σ grows and mass is lost.

use riverwatch_core::registry::{Registry, Station, StationKind};

use crate::scenario::PlumeDef;

const SECS_PER_HOUR: f64 = 3600.0;
/// kg/m³ → mg/L.
const MG_L_PER_KG_M3: f64 = 1000.0;

/// One stretch of the path from the release downstream.
#[derive(Debug, Clone)]
struct PathSegment {
    river: String,
    from_km: f64,
    to_km: f64,
    /// Path distance at `from_km`.
    offset_km: f64,
}

/// The river path below (river, km): the release river to its end, then each river it flows
/// into, from the confluence down.
fn path_below(registry: &Registry, river: &str, km: f64) -> Vec<PathSegment> {
    let mut out = Vec::new();
    let mut current = registry.river(river);
    let mut from = km;
    let mut offset = 0.0;
    while let Some(r) = current {
        if out.len() > 16 || out.iter().any(|s: &PathSegment| s.river == r.id) {
            break;
        }
        out.push(PathSegment {
            river: r.id.clone(),
            from_km: from,
            to_km: r.length_km.max(from),
            offset_km: offset,
        });
        offset += (r.length_km - from).max(0.0);
        from = r.confluence_km.unwrap_or(0.0);
        current = r.flows_into.as_deref().and_then(|id| registry.river(id));
    }
    out
}

/// A section the plume reaches, with the travel-time quantities of its passage.
#[derive(Debug, Clone)]
pub struct PlumeSection {
    /// Station id.
    pub station: String,
    /// River of the section.
    pub river: String,
    /// River kilometre of the section.
    pub km: f64,
    /// Distance along the rivers from the release, km.
    pub distance_km: f64,
    /// Travel time of the centroid, hours (θ).
    pub travel_hours: f64,
    /// Standard deviation of the passage, hours (σ).
    pub spread_hours: f64,
    /// River flow at the section, m³/s.
    pub flow_m3s: f64,
    /// Per load (in [`PlumeDef::loads`] order): ∫C dt at the section, mg·s/L.
    pub dose_mg_s_l: Vec<f64>,
}

/// A plume ready to evaluate.
#[derive(Debug, Clone)]
pub struct Plume {
    /// The definition.
    pub def: PlumeDef,
    /// Release time, unix seconds.
    pub release_secs: i64,
    /// Sections on the path, upstream first.
    pub sections: Vec<PlumeSection>,
    /// Water sections on the release river upstream of the release (they stay clean).
    pub upstream_clean: Vec<String>,
}

impl Plume {
    /// Lays the plume out over the water sections of `stations` that lie on the path and
    /// within the reaches.
    pub fn new(def: &PlumeDef, registry: &Registry, stations: &[&Station]) -> Self {
        let path = path_below(registry, &def.river, def.km);
        let mut sections = Vec::new();
        let mut upstream_clean = Vec::new();
        for s in stations.iter().filter(|s| s.kind == StationKind::Water) {
            let (Some(river), Some(km)) = (s.river.as_deref(), s.river_km) else {
                continue;
            };
            if river == def.river && km < def.km {
                upstream_clean.push(s.id.to_string());
                continue;
            }
            let Some(seg) = path
                .iter()
                .find(|seg| seg.river == river && km >= seg.from_km && km <= seg.to_km)
            else {
                continue;
            };
            let distance = seg.offset_km + (km - seg.from_km);
            let Some((travel_hours, flow)) = travel(def, &path, distance) else {
                continue;
            };
            let spread = def.spread_initial_hours + def.spread_per_hour * travel_hours;
            let dose = def
                .loads
                .iter()
                .map(|l| {
                    let remaining = l.mass_kg * (-l.decay_per_day * travel_hours / 24.0).exp();
                    remaining / flow * MG_L_PER_KG_M3
                })
                .collect();
            sections.push(PlumeSection {
                station: s.id.to_string(),
                river: river.to_string(),
                km,
                distance_km: distance,
                travel_hours,
                spread_hours: spread,
                flow_m3s: flow,
                dose_mg_s_l: dose,
            });
        }
        sections.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
        Self {
            def: def.clone(),
            release_secs: def.release_at.timestamp(),
            sections,
            upstream_clean,
        }
    }

    /// The section of a station, if the plume reaches it.
    pub fn section(&self, station: &str) -> Option<&PlumeSection> {
        self.sections.iter().find(|s| s.station == station)
    }

    /// The concentration increment (mg/L) of load `load` at a section at unix time `t`.
    pub fn increment(&self, section: &PlumeSection, load: usize, t: i64) -> f64 {
        let Some(&dose) = section.dose_mg_s_l.get(load) else {
            return 0.0;
        };
        let tau = (t - self.release_secs) as f64 / SECS_PER_HOUR;
        let sigma = section.spread_hours;
        let release = self.def.release_hours;
        if release <= 0.0 {
            let z = (tau - section.travel_hours) / sigma;
            if z.abs() > 12.0 {
                return 0.0;
            }
            dose / ((std::f64::consts::TAU).sqrt() * sigma * SECS_PER_HOUR) * (-0.5 * z * z).exp()
        } else {
            let a = (tau - section.travel_hours) / sigma;
            let b = (tau - section.travel_hours - release) / sigma;
            dose / (release * SECS_PER_HOUR) * (normal_cdf(a) - normal_cdf(b)).max(0.0)
        }
    }

    /// Hours from the release to the peak at a section: θ, plus half the release.
    pub fn peak_hours(&self, section: &PlumeSection) -> f64 {
        section.travel_hours + self.def.release_hours / 2.0
    }

    /// The peak increment (mg/L) of load `load` at a section.
    pub fn peak_increment(&self, section: &PlumeSection, load: usize) -> f64 {
        let t = self.release_secs + (self.peak_hours(section) * SECS_PER_HOUR).round() as i64;
        self.increment(section, load, t)
    }

    /// The span (unix s, start inclusive, end exclusive) during which the increment of load
    /// `load` exceeds `threshold`, found by scanning in 6-minute steps; `None` if never.
    pub fn span_above(
        &self,
        section: &PlumeSection,
        load: usize,
        threshold: f64,
    ) -> Option<(i64, i64)> {
        let step = 360;
        let reach_secs = |h: f64| (h * SECS_PER_HOUR) as i64;
        let from = self.release_secs
            + reach_secs((section.travel_hours - 8.0 * section.spread_hours).max(0.0));
        let to = self.release_secs
            + reach_secs(
                section.travel_hours + self.def.release_hours + 8.0 * section.spread_hours,
            );
        let mut first = None;
        let mut last = None;
        let mut t = from;
        while t <= to {
            if self.increment(section, load, t) > threshold {
                first.get_or_insert(t);
                last = Some(t);
            }
            t += step;
        }
        Some((first?, last? + step))
    }

    /// Emergency-sampling windows per section (unix s), from the loads' `emergency_above`
    /// thresholds widened by the lead and tail.
    pub fn emergency_window(&self, section: &PlumeSection) -> Option<(i64, i64)> {
        let lead = (self.def.emergency_lead_hours * SECS_PER_HOUR) as i64;
        let tail = (self.def.emergency_tail_hours * SECS_PER_HOUR) as i64;
        let mut window: Option<(i64, i64)> = None;
        for (i, load) in self.def.loads.iter().enumerate() {
            let Some(threshold) = load.emergency_above else {
                continue;
            };
            if let Some((a, b)) = self.span_above(section, i, threshold) {
                let (a, b) = (a - lead, b + tail);
                window = Some(match window {
                    Some((x, y)) => (x.min(a), y.max(b)),
                    None => (a, b),
                });
            }
        }
        window
    }
}

/// Travel time (hours) to path distance `distance_km` and the flow there, or `None` when
/// the reaches do not cover the path that far.
fn travel(def: &PlumeDef, path: &[PathSegment], distance_km: f64) -> Option<(f64, f64)> {
    let mut hours = 0.0;
    let mut flow = None;
    for seg in path {
        let seg_len = seg.to_km - seg.from_km;
        if seg.offset_km >= distance_km && seg_len > 0.0 {
            break;
        }
        let end_km = seg.from_km + (distance_km - seg.offset_km).min(seg_len);
        // Walk the reaches of this river between seg.from_km and end_km.
        let mut covered = 0.0;
        for r in def.reaches.iter().filter(|r| r.river == seg.river) {
            let a = r.from_km.max(seg.from_km);
            let b = r.to_km.min(end_km);
            if b > a {
                hours += (b - a) / r.velocity_kmh;
                covered += b - a;
            }
            if r.from_km <= end_km && end_km <= r.to_km {
                flow = Some(r.flow_m3s);
            }
        }
        if covered + 1e-6 < end_km - seg.from_km {
            return None;
        }
        if seg.offset_km + seg_len >= distance_km {
            break;
        }
    }
    Some((hours, flow?))
}

/// The standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

/// The error function (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7).
pub fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 2e-7);
        assert!((erf(-1.0) + 0.842_700_792_9).abs() < 2e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }

    #[test]
    fn the_path_follows_confluences() {
        let registry = Registry::builtin().unwrap();
        let path = path_below(&registry, "second-songhua", 32.0);
        assert_eq!(path.len(), 2);
        assert_eq!(path[1].river, "songhua");
        assert!((path[1].offset_km - 268.0).abs() < 1e-9);
    }
}
