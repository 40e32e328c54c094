//! The ground truth of a run, written beside its recording as `FILE.manifest.json`.
//!
//! Schema `riverwatch-simulator-manifest/1` (all times RFC 3339 UTC, values in registry
//! units):
//!
//! - `schema`, `scenario`, `description_zh`, `description_en`, `seed`, `format`,
//!   `start_utc`, `end_utc`;
//! - `counts`: `observations`, `messages`, `readings` (rows of the recording);
//! - `intervals`: reporting interval per station, seconds;
//! - `exceedances[]`: every run of consecutive valid readings (flag `N`, untouched by a
//!   fault, true timestamp) beyond a limit: `station`, `parameter`, `check` (`water_class`
//!   — the section's target class of GB 3838-2002 Table 1; `water_specific` — Table 3, e.g.
//!   nitrobenzene 0.017 mg/L; `discharge` — the outfall's limits, GB 18918-2002 Grade 1A by
//!   default, NH3-N 8 mg/L when the effluent is at or below 12 °C; `air_24h` — the CST-day mean
//!   of ≥ 20 hourly values against GB 3095 Grade II; `warning_level` / `guaranteed_level` —
//!   the gauge's levels), `standard`, `limit`, `bound` (`max`, `min`), `unit`, `from_utc` and
//!   `to_utc` (first and last reading of the run; for `air_24h` the day's start and end),
//!   `peak_value`, `peak_utc`, `readings`;
//! - `expectations[]`, one per scenario event, tagged by `kind`:
//!   `plume` (release, model settings, `origin` with the clean section above and the first
//!   section reached, per section the distance, travel time, expected front and peak time,
//!   peak increment per substance and the emergency-sampling window), `air_episode` (per city
//!   and CST day the 24-h means of PM2.5 and PM10, the particulate daily AQI of the edition in
//!   force — a lower bound of the daily AQI, which also takes SO2, NO2, CO and O3 — and its
//!   level, the counts of days above 200 and 300, the highest warning level the runs of days
//!   above 200 reach under the 2017 national guidance, and the days cities of both provinces
//!   are above 200 together), `outfall_upset` (the ramp, the plateau, the planned peaks and
//!   which exceed the limits), `flood` (warning and guaranteed levels, the planned and
//!   observed peak, the span above the warning level);
//! - `faults[]`: `id`, `kind`, `station`, `parameters`, `from_utc`, `to_utc`, `how`,
//!   `invalid_for_ingest` (the dead-letter reason ingest gives, or null), and `readings[]`
//!   with every reading the fault touched: `parameter`, `true_time_utc`, `time_utc` (as
//!   stamped), `sent_utc`, `value` and `flag` as sent (null and `sent: false` for a dropout),
//!   `resend`.
//!
//! The limits come from [`tables`], the simulator's own transcription of the standards,
//! independent of the analytics tables it is the check for
//! (`docs/design/0005-independent-ground-truth.md`).
//!
//! This file holds the manifest's types and [`ManifestBuilder`]; which limits apply to a
//! reading is in `manifest/limits.rs`, the scenario events' expectations in
//! `manifest/expectations.rs`.

mod expectations;
mod limits;
pub mod tables;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use riverwatch_core::DataFlag;
use riverwatch_core::registry::StationKind;
use serde::{Deserialize, Serialize};

use crate::generate::{Generator, Observation, SimStation};

use expectations::{air_expectations, flood_expectations, plume_expectations, upset_expectations};
use limits::{Limit, gb3095_24h, limits_for};

/// The manifest schema identifier.
pub const SCHEMA: &str = "riverwatch-simulator-manifest/1";

/// The manifest of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SCHEMA`].
    pub schema: String,
    /// Scenario name.
    pub scenario: String,
    /// Scenario description, Chinese.
    pub description_zh: String,
    /// Scenario description, English.
    pub description_en: String,
    /// Seed.
    pub seed: u64,
    /// `json`, `hj212` or `mixed`.
    pub format: String,
    /// Simulated start.
    pub start_utc: String,
    /// Simulated end.
    pub end_utc: String,
    /// Counts.
    pub counts: Counts,
    /// Reporting interval per station, seconds.
    pub intervals: BTreeMap<String, u32>,
    /// Exceedances found in the valid readings.
    pub exceedances: Vec<Exceedance>,
    /// What analytics should reproduce, per event.
    pub expectations: Vec<Expectation>,
    /// Faults and the readings they touched.
    pub faults: Vec<FaultRecord>,
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Observations generated (including resends).
    pub observations: u64,
    /// MQTT messages (JSON observations and HJ 212 frames).
    pub messages: u64,
    /// Readings (rows of the recording).
    pub readings: u64,
}

/// A run of readings beyond a limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exceedance {
    /// Station id.
    pub station: String,
    /// Parameter code.
    pub parameter: String,
    /// Which check: `water_class`, `water_specific`, `discharge`, `air_24h`,
    /// `warning_level`, `guaranteed_level`.
    pub check: String,
    /// The standard and the limit's place in it.
    pub standard: String,
    /// The limit.
    pub limit: f64,
    /// `max` (values above are beyond) or `min` (values below are).
    pub bound: String,
    /// Unit.
    pub unit: String,
    /// First reading beyond the limit (or the day's start).
    pub from_utc: String,
    /// Last reading beyond the limit (or the day's end).
    pub to_utc: String,
    /// Worst value.
    pub peak_value: f64,
    /// Time of the worst value.
    pub peak_utc: String,
    /// Readings in the run (days for `air_24h`).
    pub readings: u32,
}

/// What one event should produce downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expectation {
    /// A river plume.
    Plume(PlumeExpectation),
    /// An air episode.
    AirEpisode(AirExpectation),
    /// A treatment-plant upset.
    OutfallUpset(UpsetExpectation),
    /// A flood.
    Flood(FloodExpectation),
}

/// A plume's expected passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlumeExpectation {
    /// Plume id.
    pub id: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// River of the release.
    pub river: String,
    /// Kilometre of the release.
    pub km: f64,
    /// Province where the pollution enters.
    pub province: String,
    /// Start of the release.
    pub release_utc: String,
    /// Duration of the release, hours.
    pub release_hours: f64,
    /// σ₀, hours.
    pub spread_initial_hours: f64,
    /// Growth of σ per hour of travel.
    pub spread_per_hour: f64,
    /// Reaches: river, from_km, to_km, velocity_kmh, flow_m3s.
    pub reaches: Vec<crate::scenario::Reach>,
    /// Where the pollution arose: between the last clean section above and the first
    /// section reached.
    pub origin_between: (Option<String>, Option<String>),
    /// Sections upstream of the release (stay clean).
    pub clean_upstream: Vec<String>,
    /// Sections reached, upstream first.
    pub sections: Vec<PlumeSectionExpectation>,
}

/// A plume at one section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlumeSectionExpectation {
    /// Station id.
    pub station: String,
    /// Province of the station.
    pub province: String,
    /// River.
    pub river: String,
    /// Kilometre.
    pub km: f64,
    /// Distance from the release along the rivers, km.
    pub distance_km: f64,
    /// Travel time of the centroid (Σ distance ÷ velocity), hours.
    pub travel_hours: f64,
    /// σ of the passage, hours.
    pub spread_hours: f64,
    /// Flow, m³/s.
    pub flow_m3s: f64,
    /// Expected front: the increment first above 10 % of its peak.
    pub expected_arrival_utc: Option<String>,
    /// Expected peak time.
    pub expected_peak_utc: String,
    /// Per substance.
    pub loads: Vec<PlumeLoadExpectation>,
    /// Emergency sampling: (from, to, interval seconds).
    pub emergency: Option<(String, String, u32)>,
}

/// A substance at one section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlumeLoadExpectation {
    /// Parameter.
    pub parameter: String,
    /// Peak increment above the normal level, mg/L.
    pub peak_increment: f64,
}

/// An air episode's daily results per city.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirExpectation {
    /// Episode id.
    pub id: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// Per city.
    pub cities: Vec<CityDays>,
    /// CST days on which cities of both provinces have a daily AQI above 200.
    pub joint_heavy_days: Vec<NaiveDate>,
}

/// One city over the episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CityDays {
    /// Station id.
    pub station: String,
    /// City, Chinese.
    pub city_zh: String,
    /// Province code.
    pub province: String,
    /// Per CST day.
    pub days: Vec<AirDay>,
    /// Days with daily AQI > 200 (heavy or worse).
    pub days_above_200: u32,
    /// Days with daily AQI > 300 (severe).
    pub days_above_300: u32,
    /// Longest run of consecutive days above 200.
    pub longest_run_above_200: u32,
    /// The highest warning level these days reach under the 2017 national guidance, each run
    /// of consecutive days above 200 judged on its own days: `none`, `blue`, `yellow`,
    /// `orange`, `red`.
    pub warning_level: String,
}

/// One city-day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirDay {
    /// CST date.
    pub date: NaiveDate,
    /// 24-h mean PM2.5, µg/m³.
    pub pm25_24h: f64,
    /// 24-h mean PM10, µg/m³.
    pub pm10_24h: f64,
    /// Daily AQI from PM2.5 and PM10 (the edition in force that day): the particulate part
    /// of the daily AQI, a lower bound of the AQI of all seven daily indicators.
    pub aqi: u32,
    /// `HJ 633-2012` or `HJ 633-2026`.
    pub edition: String,
    /// AQI category (优/良/轻度污染/中度污染/重度污染/严重污染).
    pub category_zh: String,
}

/// A treatment-plant upset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsetExpectation {
    /// Outfall.
    pub station: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// Start of the ramp.
    pub start_utc: String,
    /// Plateau start.
    pub plateau_from_utc: String,
    /// Plateau end.
    pub plateau_to_utc: String,
    /// End of the recovery.
    pub end_utc: String,
    /// Planned plateau values.
    pub peak: BTreeMap<String, f64>,
    /// Limits those values exceed: parameter → limit.
    pub exceeding: BTreeMap<String, f64>,
    /// The standard.
    pub standard: String,
}

/// A flood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodExpectation {
    /// Gauge.
    pub station: String,
    /// Cause, Chinese.
    pub cause_zh: String,
    /// Cause, English.
    pub cause_en: String,
    /// Warning level, m.
    pub warning_level_m: f64,
    /// Guaranteed level, m.
    pub guaranteed_level_m: Option<f64>,
    /// Planned peak level, m.
    pub planned_peak_level_m: f64,
    /// Planned peak time.
    pub planned_peak_utc: String,
    /// Highest level recorded.
    pub observed_peak_level_m: Option<f64>,
    /// Its time.
    pub observed_peak_utc: Option<String>,
    /// First and last reading above the warning level.
    pub above_warning: Option<(String, String)>,
}

/// A fault and what it touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Index in the scenario's faults.
    pub id: usize,
    /// Kind, e.g. `stuck`.
    pub kind: String,
    /// Station.
    pub station: String,
    /// Parameters (empty: all / whole messages).
    pub parameters: Vec<String>,
    /// Window start.
    pub from_utc: String,
    /// Window end.
    pub to_utc: String,
    /// What the fault does.
    pub how: String,
    /// Dead-letter reason ingest gives these readings, if it rejects them.
    pub invalid_for_ingest: Option<String>,
    /// The readings touched.
    pub readings: Vec<FaultReading>,
}

/// One reading a fault touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReading {
    /// Parameter.
    pub parameter: String,
    /// True sample time.
    pub true_time_utc: String,
    /// Time stamped in the message.
    pub time_utc: String,
    /// When it was sent (simulated).
    pub sent_utc: Option<String>,
    /// Value sent.
    pub value: Option<f64>,
    /// Flag sent.
    pub flag: Option<String>,
    /// Whether it was sent at all.
    pub sent: bool,
    /// Whether this is a resend.
    pub resend: bool,
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Valid readings of one (station, parameter, limit) with the limit that applied to each.
type LimitSamples = BTreeMap<(usize, usize, usize), Vec<(DateTime<Utc>, f64, Limit)>>;

/// Collects what a run produced and writes the manifest at the end.
#[derive(Debug, Default)]
pub struct ManifestBuilder {
    counts: Counts,
    /// (station, param, limit index) → (time, value, limit)
    samples: LimitSamples,
    /// (station, param, CST date) → (sum, count)
    days: BTreeMap<(usize, usize, NaiveDate), (f64, u32)>,
    faults: HashMap<usize, Vec<FaultReading>>,
}

impl ManifestBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one observation and the number of messages and rows it made.
    pub fn observe(&mut self, generator: &Generator, obs: &Observation, messages: u64, rows: u64) {
        self.counts.observations += 1;
        self.counts.messages += messages;
        self.counts.readings += rows;
        let Some(st) = generator.stations().get(obs.station) else {
            return;
        };
        self.record_faults(st, obs);
        let skewed = obs.stamped_at != obs.observed_at;
        if obs.resend || skewed {
            return;
        }
        let wt = st
            .param_index("WT")
            .and_then(|i| obs.values.iter().find(|v| v.param == i))
            .map(|v| v.value);
        for v in &obs.values {
            if v.fault.is_some() || v.flag != DataFlag::N {
                continue;
            }
            let p = &st.params[v.param];
            if st.station.kind == StationKind::Air {
                let date = riverwatch_core::time::cst_date(obs.observed_at);
                let e = self.days.entry((obs.station, v.param, date)).or_default();
                e.0 += v.value;
                e.1 += 1;
                continue;
            }
            let _ = p;
            for (li, limit) in limits_for(st, v.param, wt).into_iter().enumerate() {
                self.samples
                    .entry((obs.station, v.param, li))
                    .or_default()
                    .push((obs.observed_at, v.value, limit));
            }
        }
    }

    fn record_faults(&mut self, st: &SimStation, obs: &Observation) {
        let mut push = |fault: usize, reading: FaultReading| {
            self.faults.entry(fault).or_default().push(reading);
        };
        for v in &obs.values {
            let fault = v.fault.or(obs.message_fault);
            if let Some(f) = fault {
                push(
                    f,
                    FaultReading {
                        parameter: st.params[v.param].code.clone(),
                        true_time_utc: utc(obs.observed_at),
                        time_utc: utc(obs.stamped_at),
                        sent_utc: Some(utc(obs.sent_at)),
                        value: Some(v.value),
                        flag: Some(v.flag.to_string()),
                        sent: true,
                        resend: obs.resend,
                    },
                );
            }
        }
        for &(p, f) in &obs.dropped {
            push(
                f,
                FaultReading {
                    parameter: st.params[p].code.clone(),
                    true_time_utc: utc(obs.observed_at),
                    time_utc: utc(obs.stamped_at),
                    sent_utc: None,
                    value: None,
                    flag: None,
                    sent: false,
                    resend: false,
                },
            );
        }
    }

    /// The manifest of the run that ended at `end`.
    pub fn finish(self, generator: &Generator, end: DateTime<Utc>) -> Manifest {
        let scenario = generator.scenario();
        let stations = generator.stations();
        let mut exceedances = self.sample_exceedances(generator);
        let air_means = self.air_means();
        for (&(s, p, date), &(mean, _)) in &air_means {
            let st = &stations[s];
            let param = &st.params[p];
            if let Some((limit, standard)) = gb3095_24h(param.model, date)
                && mean > limit
            {
                let day_start = riverwatch_core::time::from_cst(date.and_time(NaiveTime::MIN));
                exceedances.push(Exceedance {
                    station: st.station.id.to_string(),
                    parameter: param.code.clone(),
                    check: "air_24h".into(),
                    standard: standard.into(),
                    limit,
                    bound: "max".into(),
                    unit: param.unit.clone(),
                    from_utc: utc(day_start),
                    to_utc: utc(day_start + chrono::Duration::days(1)),
                    peak_value: (mean * 10.0).round() / 10.0,
                    peak_utc: utc(day_start),
                    readings: 1,
                });
            }
        }
        exceedances.sort_by(|a, b| {
            (
                a.from_utc.as_str(),
                a.station.as_str(),
                a.parameter.as_str(),
            )
                .cmp(&(
                    b.from_utc.as_str(),
                    b.station.as_str(),
                    b.parameter.as_str(),
                ))
        });
        let mut expectations = Vec::new();
        expectations.extend(plume_expectations(generator));
        expectations.extend(air_expectations(generator, &air_means));
        expectations.extend(upset_expectations(generator));
        expectations.extend(flood_expectations(generator, &exceedances));
        let faults = generator
            .faults()
            .iter()
            .map(|f| FaultRecord {
                id: f.id,
                kind: f.def.kind().into(),
                station: f.def.station().into(),
                parameters: f.def.parameters().iter().map(|s| s.to_string()).collect(),
                from_utc: utc(secs(f.from)),
                to_utc: utc(secs(f.to)),
                how: f.how(),
                invalid_for_ingest: f.invalid_for_ingest().map(str::to_string),
                readings: self.faults.get(&f.id).cloned().unwrap_or_default(),
            })
            .collect();
        let options = generator.options();
        Manifest {
            schema: SCHEMA.into(),
            scenario: scenario.name.clone(),
            description_zh: scenario.description_zh.clone(),
            description_en: scenario.description_en.clone(),
            seed: options.seed,
            format: options.format.as_str().into(),
            start_utc: utc(options.start),
            end_utc: utc(end),
            counts: self.counts.clone(),
            intervals: stations
                .iter()
                .map(|s| (s.station.id.to_string(), s.interval_secs))
                .collect(),
            exceedances,
            expectations,
            faults,
        }
    }

    fn sample_exceedances(&self, generator: &Generator) -> Vec<Exceedance> {
        let stations = generator.stations();
        let mut out = Vec::new();
        for (&(s, p, _), samples) in &self.samples {
            let st = &stations[s];
            let param = &st.params[p];
            let mut sorted = samples.clone();
            sorted.sort_by_key(|x| x.0);
            let mut run: Vec<(DateTime<Utc>, f64, Limit)> = Vec::new();
            let mut close = |run: &mut Vec<(DateTime<Utc>, f64, Limit)>| {
                let (Some(first), Some(last)) = (run.first(), run.last()) else {
                    return;
                };
                let limit = first.2.clone();
                let worst = run
                    .iter()
                    .max_by(|a, b| {
                        let (x, y) = if limit.max { (a.1, b.1) } else { (-a.1, -b.1) };
                        x.total_cmp(&y)
                    })
                    .map_or((first.0, first.1), |w| (w.0, w.1));
                out.push(Exceedance {
                    station: st.station.id.to_string(),
                    parameter: param.code.clone(),
                    check: limit.check.into(),
                    standard: limit.standard.clone(),
                    limit: limit.limit,
                    bound: if limit.max { "max" } else { "min" }.into(),
                    unit: param.unit.clone(),
                    from_utc: utc(first.0),
                    to_utc: utc(last.0),
                    peak_value: worst.1,
                    peak_utc: utc(worst.0),
                    readings: u32::try_from(run.len()).unwrap_or(u32::MAX),
                });
                run.clear();
            };
            for sample in sorted {
                let l = &sample.2;
                let beyond = if l.max {
                    sample.1 > l.limit
                } else {
                    sample.1 < l.limit
                };
                if beyond {
                    run.push(sample);
                } else {
                    close(&mut run);
                }
            }
            close(&mut run);
        }
        out
    }

    /// 24-h means of CST days with at least 20 hourly values: (station, param, date) →
    /// (mean, count).
    fn air_means(&self) -> BTreeMap<(usize, usize, NaiveDate), (f64, u32)> {
        self.days
            .iter()
            .filter(|(_, (_, n))| *n >= 20)
            .map(|(k, (sum, n))| (*k, (sum / f64::from(*n), *n)))
            .collect()
    }
}

fn secs(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests;
