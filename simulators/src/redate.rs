//! Re-dating scenarios: a scenario's events keep their offsets from its start wherever a run
//! starts, and a live run replays a scenario so that it ends in the present.
//!
//! A scenario file dates its events (a release at 2005-11-13 13:40, an episode from
//! 2025-10-23); its own `start` is the default start of a run. A run that starts elsewhere
//! moves every dated event by the same offset ([`Scenario::starting_at`]): releases, episode
//! days, upsets, flood rises and fault windows. What belongs to the calendar stays with the
//! calendar: the seasons (ice cover, heating) follow the run's own dates, and the standards
//! in force follow them too, since the manifest picks each table by date. An air episode is
//! written in CST calendar days, and a day of smoke must stay a calendar day for its daily
//! AQI to mean anything, so it moves by whole days: the offset rounded to the nearest day.
//!
//! [`Scenario::events`] and [`timeline`] say what a scenario does when, in both languages.
//!
//! [`LivePlan`] re-dates a scenario for a live run (`riverwatch up --scenario`,
//! `riverwatch simulate --wall-clock`). The simulated clock never runs ahead of the wall
//! clock. At speed N the run starts in the past and replays it N times faster than real
//! time until the simulated clock meets the wall clock, then follows the wall clock; the
//! scenario is moved so that its first event is replayed [`LIVE_LEAD`] after start-up
//! (its lead-in shortened to that) and its default end is reached just when the replay meets
//! the present. Every reading therefore carries the simulated time it describes, which is
//! never later than the moment it is sent. At speed 1 nothing is compressed: one reporting
//! interval is back-filled at start-up and the first event comes [`LIVE_LEAD`] later.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use riverwatch_core::registry::Registry;

use crate::episodes::{AirEpisode, RAIN_HOURS_BEFORE_RISE};
use crate::error::{Error, Result};
use crate::plume::Plume;
use crate::scenario::{FaultDef, Scenario};

/// The speed the documentation recommends for a live scenario run, and the default of
/// `riverwatch up --scenario`: one simulated hour per second, so the Lalin plume crosses the
/// boundary about 20 s after start-up and the whole scenario plays in about three minutes.
pub const RECOMMENDED_SPEED: f64 = 3600.0;

/// How long after start-up a live run replays the scenario's first event (wall-clock time):
/// the scenario's lead-in is shortened to what the replay covers in this time.
pub const LIVE_LEAD: Duration = Duration::from_secs(5);

const DAY_SECS: i64 = 86_400;

/// What a milestone of a scenario is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilestoneKind {
    /// A plume's release starts.
    Release,
    /// A plume's front reaches a section (its increment first above a tenth of its peak).
    Arrival,
    /// An air episode's smoke starts to rise.
    AirEpisode,
    /// A treatment-plant upset starts.
    Upset,
    /// The rain before a flood starts.
    Rain,
    /// A flood's rise starts.
    FloodRise,
    /// A sensor or communication fault starts.
    Fault,
}

/// One dated thing a scenario does.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestone {
    /// When.
    pub at: DateTime<Utc>,
    /// What kind of thing.
    pub kind: MilestoneKind,
    /// The station it concerns, if one.
    pub station: Option<String>,
    /// What happens, in Chinese.
    pub what_zh: String,
    /// What happens, in English.
    pub what_en: String,
}

fn out_of_range() -> Error {
    Error::Config("a date of the scenario moved out of the representable range".into())
}

fn move_time(t: &mut DateTime<Utc>, by: chrono::Duration) -> Result<()> {
    *t = t.checked_add_signed(by).ok_or_else(out_of_range)?;
    Ok(())
}

/// `by` rounded to whole days, to the nearest (half a day rounds up).
fn nearest_days(by: chrono::Duration) -> i64 {
    (by.num_seconds() + DAY_SECS / 2).div_euclid(DAY_SECS)
}

/// `by` rounded down to whole days.
fn floor_days(by: chrono::Duration) -> chrono::Duration {
    chrono::Duration::days(by.num_seconds().div_euclid(DAY_SECS))
}

impl Scenario {
    /// The scenario with every dated event moved by `by`: the default start, plume
    /// releases, outfall upsets, flood rises and fault windows by exactly `by`; air episodes
    /// by `by` rounded to the nearest whole day (their days are CST calendar days). Seasons,
    /// written as month and day, stay where they are.
    ///
    /// # Errors
    /// [`Error::Config`] when a date leaves the representable range.
    pub fn shifted(&self, by: chrono::Duration) -> Result<Scenario> {
        let mut s = self.clone();
        move_time(&mut s.start, by)?;
        for p in &mut s.plumes {
            move_time(&mut p.release_at, by)?;
        }
        let days = chrono::Duration::days(nearest_days(by));
        for e in &mut s.air_episodes {
            e.first_day = e
                .first_day
                .checked_add_signed(days)
                .ok_or_else(out_of_range)?;
        }
        for u in &mut s.upsets {
            move_time(&mut u.start, by)?;
        }
        for f in &mut s.floods {
            move_time(&mut f.start, by)?;
        }
        for f in &mut s.faults {
            match f {
                FaultDef::Stuck { from, to, .. }
                | FaultDef::Drift { from, to, .. }
                | FaultDef::OutOfRange { from, to, .. }
                | FaultDef::Flag { from, to, .. }
                | FaultDef::Dropout { from, to, .. }
                | FaultDef::ClockSkew { from, to, .. }
                | FaultDef::Duplicate { from, to, .. }
                | FaultDef::Outage { from, to, .. } => {
                    move_time(from, by)?;
                    move_time(to, by)?;
                }
                FaultDef::Spike { at, .. } => {
                    for t in at {
                        move_time(t, by)?;
                    }
                }
            }
        }
        Ok(s)
    }

    /// The scenario re-dated to start at `start`: every event keeps its offset from the
    /// start (see [`Scenario::shifted`]).
    ///
    /// # Errors
    /// As [`Scenario::shifted`].
    pub fn starting_at(&self, start: DateTime<Utc>) -> Result<Scenario> {
        if start == self.start {
            return Ok(self.clone());
        }
        let mut s = self.shifted(start - self.start)?;
        s.start = start;
        Ok(s)
    }

    /// The scenario's end: its start plus its default duration.
    pub fn end(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.duration)
            .ok()
            .and_then(|d| self.start.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The scenario's events, earliest first: releases, the onset of air episodes (the
    /// evening before their first day), upsets, the rain before a flood and its rise, and
    /// faults. Plume arrivals need the station network: see [`timeline`].
    pub fn events(&self) -> Vec<Milestone> {
        self.events_named(|river| (river.to_string(), river.to_string()))
    }

    /// [`Scenario::events`] with rivers named by `river_name` (id → Chinese, English).
    fn events_named(&self, river_name: impl Fn(&str) -> (String, String)) -> Vec<Milestone> {
        let mut out = Vec::new();
        for p in &self.plumes {
            let (zh, en) = river_name(&p.river);
            out.push(Milestone {
                at: p.release_at,
                kind: MilestoneKind::Release,
                station: None,
                what_zh: format!("排放开始（{zh} {} 公里处）：{}", p.km, p.cause_zh),
                what_en: format!("release starts (km {} of the {en}): {}", p.km, p.cause_en),
            });
        }
        for e in &self.air_episodes {
            let ep = AirEpisode::new(e);
            out.push(Milestone {
                at: DateTime::from_timestamp(ep.onset_secs(), 0).unwrap_or(self.start),
                kind: MilestoneKind::AirEpisode,
                station: None,
                what_zh: format!(
                    "空气污染过程开始（首个污染日 {}）：{}",
                    e.first_day, e.cause_zh
                ),
                what_en: format!(
                    "air-pollution episode starts (first day {}): {}",
                    e.first_day, e.cause_en
                ),
            });
        }
        for u in &self.upsets {
            out.push(Milestone {
                at: u.start,
                kind: MilestoneKind::Upset,
                station: Some(u.station.clone()),
                what_zh: format!("{} 出水水质开始恶化：{}", u.station, u.cause_zh),
                what_en: format!(
                    "{} effluent starts to deteriorate: {}",
                    u.station, u.cause_en
                ),
            });
        }
        for f in &self.floods {
            if f.rain_mm > 0.0 {
                let rain = chrono::Duration::seconds((RAIN_HOURS_BEFORE_RISE * 3600.0) as i64);
                out.push(Milestone {
                    at: f.start.checked_sub_signed(rain).unwrap_or(f.start),
                    kind: MilestoneKind::Rain,
                    station: Some(f.station.clone()),
                    what_zh: format!("{} 降雨开始（共 {} 毫米）", f.station, f.rain_mm),
                    what_en: format!("rain starts at {} ({} mm in all)", f.station, f.rain_mm),
                });
            }
            out.push(Milestone {
                at: f.start,
                kind: MilestoneKind::FloodRise,
                station: Some(f.station.clone()),
                what_zh: format!("{} 水位开始上涨：{}", f.station, f.cause_zh),
                what_en: format!("the level at {} starts to rise: {}", f.station, f.cause_en),
            });
        }
        for f in &self.faults {
            let at = match f {
                FaultDef::Stuck { from, .. }
                | FaultDef::Drift { from, .. }
                | FaultDef::OutOfRange { from, .. }
                | FaultDef::Flag { from, .. }
                | FaultDef::Dropout { from, .. }
                | FaultDef::ClockSkew { from, .. }
                | FaultDef::Duplicate { from, .. }
                | FaultDef::Outage { from, .. } => Some(*from),
                FaultDef::Spike { at, .. } => at.iter().min().copied(),
            };
            if let Some(at) = at {
                out.push(Milestone {
                    at,
                    kind: MilestoneKind::Fault,
                    station: Some(f.station().to_string()),
                    what_zh: format!("{} 故障（{}）开始", f.station(), f.kind()),
                    what_en: format!("{} fault ({}) starts", f.station(), f.kind()),
                });
            }
        }
        out.sort_by_key(|m| m.at);
        out
    }

    /// When the scenario's first event happens, if it has any.
    pub fn first_event(&self) -> Option<DateTime<Utc>> {
        self.events().first().map(|m| m.at)
    }
}

/// What a scenario does when, on `registry`'s network: its [`Scenario::events`] and, for
/// each plume, the arrival of its front at every section it reaches (the increment of its
/// first substance first above a tenth of the peak there, as in the manifest), earliest
/// first.
pub fn timeline(scenario: &Scenario, registry: &Registry) -> Vec<Milestone> {
    let mut out = scenario.events_named(|id| {
        registry.river(id).map_or_else(
            || (id.to_string(), id.to_string()),
            |r| (r.name_zh.clone(), r.name_pinyin.clone()),
        )
    });
    let selected = scenario.selected(registry);
    for def in &scenario.plumes {
        let plume = Plume::new(def, registry, &selected);
        for section in &plume.sections {
            let peak = plume.peak_increment(section, 0);
            let Some((front, _)) = plume.span_above(section, 0, peak * 0.1) else {
                continue;
            };
            let Some(at) = DateTime::from_timestamp(front, 0) else {
                continue;
            };
            let (name_zh, name_en) = registry
                .station(&section.station)
                .map(|s| (s.name_zh.clone(), s.name_pinyin.clone()))
                .unwrap_or_default();
            out.push(Milestone {
                at,
                kind: MilestoneKind::Arrival,
                station: Some(section.station.clone()),
                what_zh: format!("污染团前锋到达 {name_zh}（{}）", section.station),
                what_en: format!("the plume front reaches {name_en} ({})", section.station),
            });
        }
    }
    out.sort_by_key(|m| m.at);
    out
}

/// A scenario re-dated for a live run (see the module docs): where the run starts, how far
/// the events moved, and when the replay reaches a simulated time.
#[derive(Debug, Clone)]
pub struct LivePlan {
    /// The re-dated scenario; its `start` is the run's start.
    pub scenario: Scenario,
    /// The wall-clock time the plan was made for (whole seconds).
    pub now: DateTime<Utc>,
    /// Simulated seconds per wall-clock second while the run replays the past (≥ 1; at 1
    /// the back-filled interval is sent at once).
    pub speed: f64,
    /// The run's simulated start (at or before `now`).
    pub run_start: DateTime<Utc>,
    /// How far every dated event moved.
    pub shift: chrono::Duration,
}

impl LivePlan {
    /// Plans a live run of `scenario` that starts at wall-clock time `now` and replays the
    /// past at `speed`; `backfill_secs` of baseline before `now` are sent at once at least
    /// (one reporting interval less a second, so every station's latest sample goes out at
    /// start-up).
    ///
    /// A scenario without events simply starts `backfill_secs` before `now`. Otherwise the
    /// scenario is moved so that the replay reaches its first event [`LIVE_LEAD`] after
    /// `now` (sooner when its own lead-in is shorter) and reaches its default end when it
    /// meets the present. A scenario with an air episode moves by whole days, rounded down,
    /// and its run starts earlier to keep the lead-in, so its first event comes no later.
    ///
    /// # Errors
    /// [`Error::Config`] for a speed below 1 or not finite, or dates out of range.
    pub fn new(
        scenario: &Scenario,
        now: DateTime<Utc>,
        speed: f64,
        backfill_secs: u32,
    ) -> Result<Self> {
        if !(speed.is_finite() && speed >= 1.0) {
            return Err(Error::Config(
                "the speed of a live run must be a number of at least 1".into(),
            ));
        }
        let now = now.trunc_subsecs(0);
        let backfill = chrono::Duration::seconds(i64::from(backfill_secs));
        let Some(first) = scenario.first_event() else {
            let run_start = now - backfill;
            return Ok(Self {
                scenario: scenario.starting_at(run_start)?,
                now,
                speed,
                run_start,
                shift: run_start - scenario.start,
            });
        };
        let secs = |s: f64| chrono::Duration::milliseconds((s * 1000.0).round() as i64);
        let lead_wall = LIVE_LEAD.as_secs_f64();
        let own_lead = (first - scenario.start).max(chrono::Duration::zero());
        let (lead, past) = if speed > 1.0 {
            let lead = own_lead.min(secs(lead_wall * speed));
            let span = (scenario.end() - first) + lead;
            let past = secs(span.num_milliseconds() as f64 / 1000.0 * (speed - 1.0) / speed);
            (lead, past.max(backfill))
        } else {
            (own_lead.min(backfill + secs(lead_wall)), backfill)
        };
        let mut run_start = now
            .checked_sub_signed(past)
            .ok_or_else(out_of_range)?
            .trunc_subsecs(0);
        let mut shift = run_start + lead - first;
        if !scenario.air_episodes.is_empty() {
            shift = floor_days(shift);
        }
        let mut redated = scenario.shifted(shift)?;
        if let Some(first) = redated.first_event() {
            run_start = run_start.min(first - lead);
        }
        let end = redated.end();
        redated.start = run_start;
        redated.duration = (end - run_start).to_std().unwrap_or_default();
        Ok(Self {
            scenario: redated,
            now,
            speed,
            run_start,
            shift,
        })
    }

    /// The first event of the re-dated scenario.
    pub fn first_event(&self) -> Option<Milestone> {
        self.scenario.events().into_iter().next()
    }

    /// The wall-clock time at which the run reaches simulated time `t`: during the replay
    /// of the past `now + (t − run_start) / speed`, never before `t` itself.
    pub fn sent_at(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.speed > 1.0 {
            let replayed = (t - self.run_start).num_milliseconds() as f64 / self.speed;
            (self.now + chrono::Duration::milliseconds(replayed.round() as i64)).max(t)
        } else {
            self.now.max(t)
        }
    }

    /// When the replay meets the wall clock (from then on the run follows it).
    pub fn caught_up_at(&self) -> DateTime<Utc> {
        if self.speed > 1.0 {
            let behind = (self.now - self.run_start).num_milliseconds() as f64;
            self.now + chrono::Duration::milliseconds((behind / (self.speed - 1.0)).round() as i64)
        } else {
            self.now
        }
    }
}

#[cfg(test)]
mod tests;
