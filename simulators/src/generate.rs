//! The generator: observations of every station of a scenario, in the order they are sent.
//!
//! Generation is pure: no I/O and no wall clock. Each value is a function of the scenario,
//! the seed and the simulated time (see [`crate::noise`]), so two runs with one seed give the
//! same observations, and a run started later gives the same values for the times it shares.
//! Stations report on a grid aligned to midnight China Standard Time at their interval, and
//! at the emergency interval while a plume passes; observations come out ordered by the
//! simulated time they are sent (a backfill after an outage is sent late with old times).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use riverwatch_core::registry::{Registry, Station, StationKind};
use riverwatch_core::{DataFlag, StationId};

use crate::encode::{OutputFormat, StationFormat};
use crate::episodes::{AirEpisode, Flood, Upset};
use crate::error::{Error, Result};
use crate::fault::Fault;
use crate::model::hydrology::MEAN_BELOW_WARNING_M;
use crate::model::{Code, Jitter, SeasonDays, StationModel, When, round_to};
use crate::noise::{Noise, SmoothNoise, station_stream};
use crate::plume::Plume;
use crate::scenario::{FaultDef, Scenario, matches_any};

/// China Standard Time offset, seconds (sampling grids are aligned to local midnight).
const CST_OFFSET_SECS: i64 = 8 * 3600;

/// Settings of one generation.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Seed of all noise.
    pub seed: u64,
    /// First simulated time.
    pub start: DateTime<Utc>,
    /// End of the simulated time (exclusive); `None` runs forever.
    pub end: Option<DateTime<Utc>>,
    /// One reporting interval for every station (e.g. 60 s for a live demo).
    pub interval_override_secs: Option<u32>,
    /// JSON, HJ 212 or the scenario's per-station choice.
    pub format: OutputFormat,
}

/// One parameter of a simulated station.
#[derive(Debug, Clone)]
pub struct SimParam {
    /// Registry code, e.g. `NH3N`.
    pub code: String,
    /// Model code.
    pub model: Code,
    /// Decimals reported.
    pub decimals: u32,
    /// Registry physical minimum.
    pub min: f64,
    /// Registry physical maximum.
    pub max: f64,
    /// Unit.
    pub unit: String,
    /// HJ 212-2017/2025 code.
    pub hj212: Option<String>,
    /// HJ/T 212-2005 code.
    pub hj212_2005: Option<String>,
}

/// A station of the run.
#[derive(Debug, Clone)]
pub struct SimStation {
    /// The registry entry.
    pub station: Station,
    /// Its parameters, in registry order.
    pub params: Vec<SimParam>,
    /// Normal reporting interval, seconds.
    pub interval_secs: u32,
    /// Emergency sampling windows (unix s, end exclusive).
    pub emergency: Vec<(i64, i64)>,
    /// Emergency sampling interval, seconds.
    pub emergency_interval_secs: u32,
    /// How the station publishes.
    pub format: StationFormat,
    codes: Vec<Code>,
    model: StationModel,
    stream: u64,
    seq: u64,
    plume_links: Vec<PlumeLink>,
    episodes: Vec<usize>,
    upsets: Vec<usize>,
    floods: Vec<usize>,
    faults: Vec<usize>,
}

#[derive(Debug, Clone)]
struct PlumeLink {
    plume: usize,
    section: usize,
    /// (load index, parameter index)
    loads: Vec<(usize, usize)>,
}

impl SimStation {
    /// The index of a parameter code in [`SimStation::params`].
    pub fn param_index(&self, code: &str) -> Option<usize> {
        self.params.iter().position(|p| p.code == code)
    }

    /// The station id.
    pub fn id(&self) -> &StationId {
        &self.station.id
    }

    /// The first sample time at or after unix time `t`.
    pub fn next_sample_at_or_after(&self, t: i64) -> i64 {
        let mut best = align_up(t, i64::from(self.interval_secs));
        for &(a, b) in &self.emergency {
            let c = align_up(t.max(a), i64::from(self.emergency_interval_secs));
            if c < b && c < best {
                best = c;
            }
        }
        best
    }
}

/// The smallest time ≥ `t` on the grid of `interval` seconds aligned to CST midnight.
fn align_up(t: i64, interval: i64) -> i64 {
    let interval = interval.max(1);
    (t + CST_OFFSET_SECS + interval - 1).div_euclid(interval) * interval - CST_OFFSET_SECS
}

/// One value of an observation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimValue {
    /// Index in the station's parameters.
    pub param: usize,
    /// The value sent, rounded to the parameter's decimals.
    pub value: f64,
    /// The data flag sent.
    pub flag: DataFlag,
    /// The fault that changed this value, if any (index in the scenario's faults).
    pub fault: Option<usize>,
}

/// One observation of one station: what one JSON message (or HJ 212 frame) carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Index of the station in the run.
    pub station: usize,
    /// The station's message counter.
    pub seq: u64,
    /// The true sample time.
    pub observed_at: DateTime<Utc>,
    /// The time written in the message (differs under a clock-skew fault).
    pub stamped_at: DateTime<Utc>,
    /// The simulated time it is sent (later for a backfill or a resend).
    pub sent_at: DateTime<Utc>,
    /// The values sent.
    pub values: Vec<SimValue>,
    /// Values a dropout fault withheld: (parameter index, fault).
    pub dropped: Vec<(usize, usize)>,
    /// Whether this is a duplicate resend of an earlier message.
    pub resend: bool,
    /// The fault that delayed or skewed the message, if any.
    pub message_fault: Option<usize>,
}

/// Shared, immutable context of the models.
#[derive(Debug, Clone)]
pub struct World {
    /// The run's noise.
    pub noise: Noise,
    /// Season boundaries.
    pub seasons: SeasonDays,
    /// Plumes.
    pub plumes: Vec<Plume>,
    /// Air episodes.
    pub episodes: Vec<AirEpisode>,
    /// Upsets.
    pub upsets: Vec<Upset>,
    /// Floods.
    pub floods: Vec<Flood>,
}

struct Entry {
    send: i64,
    time: i64,
    station: usize,
    resend: bool,
    obs: Option<Box<Observation>>,
}

impl Entry {
    fn key(&self) -> (i64, i64, usize, bool) {
        (self.send, self.time, self.station, self.resend)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// The generator; an iterator of [`Observation`]s in send order.
pub struct Generator {
    world: World,
    stations: Vec<SimStation>,
    noise_state: Vec<(SmoothNoise, SmoothNoise)>,
    faults: Vec<Fault>,
    heap: BinaryHeap<Reverse<Entry>>,
    end: Option<i64>,
    stuck: HashMap<(usize, usize), f64>,
    scenario: Scenario,
    options: GenOptions,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("scenario", &self.scenario.name)
            .field("stations", &self.stations.len())
            .field("pending", &self.heap.len())
            .finish()
    }
}

impl Generator {
    /// Prepares a generation of `scenario` over `registry`.
    ///
    /// # Errors
    /// [`Error::InvalidScenario`] when the scenario does not fit the registry,
    /// [`Error::Config`] for an empty or inverted time span or a zero interval.
    pub fn new(scenario: &Scenario, registry: &Registry, options: GenOptions) -> Result<Self> {
        scenario.validate(registry)?;
        if let Some(end) = options.end
            && end <= options.start
        {
            return Err(Error::Config("the end must lie after the start".into()));
        }
        if options.interval_override_secs == Some(0) {
            return Err(Error::Config("the interval must be at least 1 s".into()));
        }
        let selected = scenario.selected(registry);
        let noise = Noise::new(options.seed);
        let seasons = SeasonDays::new(&scenario.seasons);
        let plumes: Vec<Plume> = scenario
            .plumes
            .iter()
            .map(|p| Plume::new(p, registry, &selected))
            .collect();
        let episodes: Vec<AirEpisode> = scenario.air_episodes.iter().map(AirEpisode::new).collect();
        let upsets: Vec<Upset> = scenario
            .upsets
            .iter()
            .map(|u| Upset { def: u.clone() })
            .collect();

        let mut stations: Vec<SimStation> = selected
            .iter()
            .map(|s| build_station(s, registry, scenario, &options))
            .collect();

        // Plumes: link loads to sections, and open emergency windows.
        for (pi, plume) in plumes.iter().enumerate() {
            for (si, section) in plume.sections.iter().enumerate() {
                let Some(st) = stations
                    .iter_mut()
                    .find(|s| s.station.id.as_str() == section.station)
                else {
                    continue;
                };
                let loads: Vec<(usize, usize)> = plume
                    .def
                    .loads
                    .iter()
                    .enumerate()
                    .filter_map(|(li, l)| st.param_index(&l.parameter).map(|p| (li, p)))
                    .collect();
                if loads.is_empty() {
                    continue;
                }
                st.plume_links.push(PlumeLink {
                    plume: pi,
                    section: si,
                    loads,
                });
                if let (Some(interval), Some(window)) = (
                    plume.def.emergency_interval_secs,
                    plume.emergency_window(section),
                ) && options.interval_override_secs.is_none()
                    && interval < st.interval_secs
                {
                    st.emergency.push(window);
                    st.emergency_interval_secs = interval;
                }
            }
        }
        for (i, e) in episodes.iter().enumerate() {
            for st in stations.iter_mut() {
                if st.station.kind == StationKind::Air && e.covers(st.station.id.as_str()) {
                    st.episodes.push(i);
                }
            }
        }
        for (i, u) in upsets.iter().enumerate() {
            if let Some(st) = stations
                .iter_mut()
                .find(|s| s.station.id == u.def.station.as_str())
            {
                st.upsets.push(i);
            }
        }
        let mut world = World {
            noise,
            seasons,
            plumes,
            episodes,
            upsets,
            floods: Vec::new(),
        };
        // Floods: the amplitude that brings the undisturbed level at the peak to the plan.
        for (i, def) in scenario.floods.iter().enumerate() {
            let Some(si) = stations
                .iter()
                .position(|s| s.station.id == def.station.as_str())
            else {
                continue;
            };
            let st = &stations[si];
            let warning = st.station.warning_level_m.unwrap_or(MEAN_BELOW_WARNING_M);
            let mut flood = Flood {
                def: def.clone(),
                amplitude_m: 0.0,
            };
            let peak = st.next_sample_at_or_after(flood.peak_secs());
            let level_idx = st.param_index("LEVEL");
            let undisturbed = level_idx
                .and_then(|p| {
                    let (mut fast, mut slow) = fresh_noise(st);
                    evaluate(&world, st, peak, &mut fast, &mut slow)
                        .get(p)
                        .copied()
                })
                .unwrap_or(warning - MEAN_BELOW_WARNING_M);
            flood.amplitude_m = (warning + def.peak_above_warning_m - undisturbed).max(0.0);
            world.floods.push(flood);
            stations[si].floods.push(i);
        }
        let mut faults = Vec::new();
        for (id, def) in scenario.faults.iter().enumerate() {
            let Some(si) = stations.iter().position(|s| s.station.id == def.station()) else {
                continue;
            };
            let fault = Fault::new(id, def, si, |code| stations[si].param_index(code));
            stations[si].faults.push(faults.len());
            faults.push(fault);
        }
        let noise_state = stations.iter().map(fresh_noise).collect();
        let mut generator = Self {
            world,
            stations,
            noise_state,
            faults,
            heap: BinaryHeap::new(),
            end: options.end.map(|e| e.timestamp()),
            stuck: HashMap::new(),
            scenario: scenario.clone(),
            options,
        };
        let start = generator.options.start.timestamp();
        for s in 0..generator.stations.len() {
            let t = generator.stations[s].next_sample_at_or_after(start);
            generator.schedule(s, t);
        }
        Ok(generator)
    }

    /// The stations of the run.
    pub fn stations(&self) -> &[SimStation] {
        &self.stations
    }

    /// The models' shared context (plumes, episodes, upsets, floods).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The faults of the run.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The settings.
    pub fn options(&self) -> &GenOptions {
        &self.options
    }

    /// The undisturbed value (events included, faults not) of one parameter at one time,
    /// rounded as it would be sent; for checks and expectations.
    pub fn truth(&self, station: usize, param: usize, t: DateTime<Utc>) -> Option<f64> {
        let st = self.stations.get(station)?;
        let (mut fast, mut slow) = fresh_noise(st);
        evaluate(&self.world, st, t.timestamp(), &mut fast, &mut slow)
            .get(param)
            .copied()
    }

    fn schedule(&mut self, s: usize, t: i64) {
        if self.end.is_some_and(|end| t >= end) {
            return;
        }
        let send = self.send_time(s, t);
        self.heap.push(Reverse(Entry {
            send,
            time: t,
            station: s,
            resend: false,
            obs: None,
        }));
    }

    fn send_time(&self, s: usize, t: i64) -> i64 {
        for &fi in &self.stations[s].faults {
            let f = &self.faults[fi];
            if let FaultDef::Outage { backfill_delay, .. } = &f.def
                && f.active(t)
            {
                return f.to + i64::try_from(backfill_delay.as_secs()).unwrap_or(0);
            }
        }
        t
    }

    fn stuck_value(&mut self, fault: usize, param: usize) -> f64 {
        let f = &self.faults[fault];
        let key = (f.id, param);
        if let Some(&v) = self.stuck.get(&key) {
            return v;
        }
        let st = &self.stations[f.station];
        let t0 = st.next_sample_at_or_after(f.from);
        let (mut fast, mut slow) = fresh_noise(st);
        let v = evaluate(&self.world, st, t0, &mut fast, &mut slow)
            .get(param)
            .copied()
            .unwrap_or(0.0);
        self.stuck.insert(key, v);
        v
    }

    fn observe(&mut self, s: usize, t: i64, send: i64) -> Observation {
        let values = {
            let (fast, slow) = &mut self.noise_state[s];
            evaluate(&self.world, &self.stations[s], t, fast, slow)
        };
        let st = &self.stations[s];
        let n = st.params.len();
        let mut values = values;
        let mut flags = vec![DataFlag::N; n];
        let mut fault_of: Vec<Option<usize>> = vec![None; n];
        let mut keep = vec![true; n];
        let mut dropped = Vec::new();
        let mut stamped = t;
        let mut message_fault = None;
        let fault_ids = st.faults.clone();
        for fi in fault_ids {
            let f = self.faults[fi].clone();
            let st = &self.stations[s];
            let touched: Vec<usize> = (0..n).filter(|&p| f.touches(p)).collect();
            match &f.def {
                FaultDef::Stuck { .. } if f.active(t) => {
                    for &p in &touched {
                        values[p] = self.stuck_value(fi, p);
                        fault_of[p] = Some(f.id);
                    }
                }
                FaultDef::Drift { per_day, .. } if f.active(t) => {
                    for &p in &touched {
                        values[p] += per_day * (t - f.from) as f64 / 86_400.0;
                        fault_of[p] = Some(f.id);
                    }
                }
                FaultDef::Spike { at, value, .. }
                    if at
                        .iter()
                        .any(|a| st.next_sample_at_or_after(a.timestamp()) == t) =>
                {
                    for &p in &touched {
                        values[p] = *value;
                        fault_of[p] = Some(f.id);
                    }
                }
                FaultDef::OutOfRange { value, .. } if f.active(t) => {
                    for &p in &touched {
                        values[p] = *value;
                        fault_of[p] = Some(f.id);
                    }
                }
                FaultDef::Flag {
                    flag,
                    values: shown,
                    ..
                } if f.active(t) => {
                    for &p in &touched {
                        flags[p] = *flag;
                        if let Some(v) = shown.get(&st.params[p].code) {
                            values[p] = *v;
                        }
                        fault_of[p] = Some(f.id);
                    }
                }
                FaultDef::Dropout { .. } if f.active(t) => {
                    for &p in &touched {
                        if keep[p] {
                            keep[p] = false;
                            dropped.push((p, f.id));
                        }
                    }
                }
                FaultDef::ClockSkew { skew, .. } if f.active(t) => {
                    stamped = t + i64::try_from(skew.as_secs()).unwrap_or(0);
                    message_fault = Some(f.id);
                }
                FaultDef::Outage { .. } if f.active(t) => {
                    message_fault = Some(f.id);
                }
                _ => {}
            }
        }
        let st = &mut self.stations[s];
        st.seq += 1;
        let values = (0..n)
            .filter(|&p| keep[p])
            .map(|p| SimValue {
                param: p,
                value: round_to(values[p], st.params[p].decimals),
                flag: flags[p],
                fault: fault_of[p],
            })
            .collect();
        Observation {
            station: s,
            seq: st.seq,
            observed_at: secs(t),
            stamped_at: secs(stamped),
            sent_at: secs(send),
            values,
            dropped,
            resend: false,
            message_fault,
        }
    }

    fn duplicate_delay(&self, s: usize, t: i64) -> Option<(i64, usize)> {
        self.stations[s].faults.iter().find_map(|&fi| {
            let f = &self.faults[fi];
            match &f.def {
                FaultDef::Duplicate { delay, .. } if f.active(t) => {
                    Some((i64::try_from(delay.as_secs()).unwrap_or(0), f.id))
                }
                _ => None,
            }
        })
    }
}

impl Iterator for Generator {
    type Item = Observation;

    fn next(&mut self) -> Option<Observation> {
        let Reverse(entry) = self.heap.pop()?;
        if let Some(obs) = entry.obs {
            return Some(*obs);
        }
        let (s, t) = (entry.station, entry.time);
        let next = self.stations[s].next_sample_at_or_after(t + 1);
        self.schedule(s, next);
        let obs = self.observe(s, t, entry.send);
        if let Some((delay, fault)) = self.duplicate_delay(s, t)
            && !obs.values.is_empty()
        {
            let mut copy = obs.clone();
            copy.resend = true;
            copy.message_fault = Some(fault);
            copy.sent_at = secs(entry.send + delay);
            self.heap.push(Reverse(Entry {
                send: entry.send + delay,
                time: t,
                station: s,
                resend: true,
                obs: Some(Box::new(copy)),
            }));
        }
        Some(obs)
    }
}

fn secs(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn fresh_noise(st: &SimStation) -> (SmoothNoise, SmoothNoise) {
    let n = st.params.len();
    (
        SmoothNoise::fast(st.stream, n),
        SmoothNoise::slow(st.stream, n),
    )
}

fn build_station(
    s: &Station,
    registry: &Registry,
    scenario: &Scenario,
    options: &GenOptions,
) -> SimStation {
    let params: Vec<SimParam> = s
        .parameters
        .iter()
        .filter_map(|code| registry.parameter(code))
        .map(|p| {
            let model = Code::of(&p.code);
            SimParam {
                code: p.code.clone(),
                model,
                decimals: model.decimals(s.kind),
                min: p.min,
                max: p.max,
                unit: p.unit.clone(),
                hj212: p.hj212.clone(),
                hj212_2005: p.hj212_2005.clone(),
            }
        })
        .collect();
    let interval = options
        .interval_override_secs
        .unwrap_or_else(|| scenario.intervals.of(s))
        .max(1);
    let hj212 = match options.format {
        OutputFormat::Json => false,
        OutputFormat::Hj212 => true,
        OutputFormat::Mixed => matches_any(&scenario.publish.hj212_stations, s.id.as_str()),
    };
    let format = StationFormat::new(s, hj212, &scenario.publish);
    SimStation {
        codes: params.iter().map(|p| p.model).collect(),
        model: StationModel::new(s),
        stream: station_stream(s.id.as_str()),
        station: s.clone(),
        params,
        interval_secs: interval,
        emergency: Vec::new(),
        emergency_interval_secs: interval,
        format,
        seq: 0,
        plume_links: Vec::new(),
        episodes: Vec::new(),
        upsets: Vec::new(),
        floods: Vec::new(),
        faults: Vec::new(),
    }
}

/// Values of a station at `t` with events, clamped to the physical range and rounded.
fn evaluate(
    world: &World,
    st: &SimStation,
    t: i64,
    fast: &mut SmoothNoise,
    slow: &mut SmoothNoise,
) -> Vec<f64> {
    let when = When::new(secs(t), &world.seasons);
    let n = st.params.len();
    let (mut f, mut sl, mut w) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    fast.at(&world.noise, t, &mut f);
    slow.at(&world.noise, t, &mut sl);
    world.noise.white(st.stream, t, &mut w, n);
    let jitter: Vec<Jitter> = (0..n)
        .map(|i| Jitter {
            fast: f.get(i).copied().unwrap_or(0.0),
            slow: sl.get(i).copied().unwrap_or(0.0),
            white: w.get(i).copied().unwrap_or(0.0),
        })
        .collect();
    let level_add: f64 = st
        .floods
        .iter()
        .map(|&i| world.floods[i].level_add(t))
        .sum();
    let mut values = Vec::with_capacity(n);
    st.model.values(
        &st.codes,
        &when,
        &jitter,
        st.interval_secs,
        level_add,
        &mut values,
    );
    let idx = |c: Code| st.codes.iter().position(|&x| x == c);
    if let Some(p) = idx(Code::Rain) {
        let hours = f64::from(st.interval_secs) / 3600.0;
        for &i in &st.floods {
            values[p] += world.floods[i].rain_mm_h(t) * hours;
        }
    }
    for link in &st.plume_links {
        let plume = &world.plumes[link.plume];
        let section = &plume.sections[link.section];
        for &(load, p) in &link.loads {
            // Analyser noise of ±3 % on the plume's contribution.
            values[p] += plume.increment(section, load, t) * (1.0 + 0.03 * jitter[p].white);
        }
    }
    for &i in &st.episodes {
        let white = idx(Code::Pm25).map_or(0.0, |p| jitter[p].white);
        let inc = world.episodes[i].increment(st.station.id.as_str(), t, when.hour, white);
        if let Some(p) = idx(Code::Pm25) {
            values[p] += inc.pm25;
        }
        if let Some(p) = idx(Code::Pm10) {
            values[p] += inc.pm10;
        }
        if let Some(p) = idx(Code::Co) {
            values[p] += inc.co;
        }
        if let Some(p) = idx(Code::O3) {
            values[p] *= inc.o3_factor;
        }
    }
    for &i in &st.upsets {
        let upset = &world.upsets[i];
        let weight = upset.weight(t);
        if weight <= 0.0 {
            continue;
        }
        for (code, peak) in &upset.def.peak {
            if let Some(p) = st.param_index(code) {
                let target = peak * (1.0 + 0.05 * jitter[p].white);
                values[p] += (target - values[p]) * weight;
            }
        }
    }
    for (v, p) in values.iter_mut().zip(&st.params) {
        *v = round_to(v.clamp(p.min, p.max), p.decimals);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn grids_align_to_cst_midnight() {
        // 2026-11-22 00:00 CST = 2026-11-21 16:00 UTC.
        let midnight = Utc
            .with_ymd_and_hms(2026, 11, 21, 16, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(align_up(midnight, 14_400), midnight);
        assert_eq!(align_up(midnight + 1, 14_400), midnight + 14_400);
        assert_eq!(align_up(midnight - 1, 3_600), midnight);
    }
}
