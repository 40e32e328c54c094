//! The evaluation engine: one step per batch of readings messages, with no MQTT in it (the
//! service feeds it; tests drive it directly).
//!
//! A step:
//! 1. **live** — [`LiveEvaluator`] judges every new reading; starts of water exceedances
//!    are attributed ([`crate::attribution`], reading the upstream section from the store)
//!    and linked into incidents;
//! 2. **windows** — each station's [`Cursor`] closes the hours, days and months its new
//!    readings passed; late readings (older than the station's latest) reopen the closed
//!    windows they fall in. The windows are read from the readings store and computed with
//!    polars ([`crate::windows::compute`]) on a blocking thread, checking the shutdown token
//!    between stages;
//! 3. **settle** — each result is compared with the latest stored revision: new windows are
//!    stored as revision 0, changed ones as the next revision (a changed class or AQI level
//!    also raises a revision event), unchanged ones not at all. Daily AQI feeds the city
//!    warning levels and, once every air station has closed the day, the joint-control
//!    state; monthly classes of boundary sections feed the ledger; daily valid-data rates
//!    raise `data_completeness`;
//! 4. **commit** — events, evaluations and the engine's state go to the evaluation store in
//!    one transaction. Only then does the service acknowledge the messages and publish
//!    the events.
//!
//! Everything is decided on observation time. The wall clock only stamps `emitted_at` and
//! `computed_at`, and closes the open day of a station that has been silent for
//! `idle_close_secs` ([`Engine::tick`]); [`Engine::close_through`] closes windows when told
//! that observation time has passed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::events::{Event, EventStatus, ExpectedArrival, WindowPeriod};
use riverwatch_core::reading::ReadingsMessage;
use riverwatch_core::registry::{Registry, StationKind};
use riverwatch_core::store_api::{ReadingQuery, StoreReader};
use riverwatch_core::time::Clock;
use riverwatch_core::{Period, Reading};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::attribution::{
    ExceedanceAt, Hit, Incidents, Topology, UpstreamEvidence, attribute, evidence_window,
};
use crate::config::AnalyticsConfig;
use crate::describe::EventBuilder;
use crate::live::{FindingKind, LiveEvaluator, LiveState};
use crate::model::{AqiRecord, JointControlRecord, WarningRecord, WindowEvaluation};
use crate::store::{AnalyticsStore, Commit};
use crate::telemetry::Metrics;
use crate::windows::{self, Closed, Context, Cursor, Month, Request, Results};
use crate::{Error, air_warning, ledger};

/// What the engine needs.
pub struct EngineArgs<R> {
    /// The network.
    pub registry: Arc<Registry>,
    /// `[analytics]` settings.
    pub config: Arc<AnalyticsConfig>,
    /// The readings store (SQLite or InfluxDB).
    pub reader: R,
    /// The evaluation store.
    pub store: AnalyticsStore,
    /// The wall clock (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: Metrics,
}

/// A station's saved state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StationState {
    live: Option<LiveState>,
    cursor: Cursor,
    /// Whether `data_completeness` is firing, and the last day judged.
    completeness_firing: bool,
    completeness_day: Option<NaiveDate>,
}

/// The region's saved state: which air stations closed which days, how far the joint
/// control is judged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RegionState {
    closed: BTreeMap<NaiveDate, BTreeSet<String>>,
    judged_through: Option<NaiveDate>,
    active: bool,
    rejudge: BTreeSet<NaiveDate>,
}

const REGION_KEY: &str = "region";
/// The last commit of the readings store's commit log that was judged.
const CURSOR_KEY: &str = "readings_cursor";
/// Commits of the readings store read and judged in one step.
pub const CATCH_UP_COMMITS: usize = 256;
const STATION_PREFIX: &str = "station:";

/// Windows one station must (re)evaluate in a step.
#[derive(Debug, Clone, Default)]
struct Job {
    hours: Option<(DateTime<Utc>, DateTime<Utc>)>,
    days: BTreeSet<NaiveDate>,
    months: BTreeSet<Month>,
}

impl Job {
    fn add_hours(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.hours = Some(match self.hours {
            Some((a, b)) => (a.min(from), b.max(to)),
            None => (from, to),
        });
    }

    fn add(&mut self, closed: Closed) {
        if let Some((a, b)) = closed.hours {
            self.add_hours(a, b);
        }
        self.days.extend(closed.days);
        self.months.extend(closed.months);
    }

    fn request(&self, station: &str) -> Request {
        Request {
            station: station.to_string(),
            hours: self.hours,
            days: self.days.iter().copied().collect(),
            months: self.months.iter().copied().collect(),
        }
    }
}

/// The evaluation engine (see the module docs).
pub struct Engine<R> {
    registry: Arc<Registry>,
    config: Arc<AnalyticsConfig>,
    reader: R,
    store: AnalyticsStore,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    live: LiveEvaluator,
    topology: Arc<Topology>,
    incidents: Incidents,
    stations: HashMap<String, StationState>,
    last_arrival: HashMap<String, DateTime<Utc>>,
    region: RegionState,
    /// The last commit of the readings store judged (its commit log), once known.
    cursor: Option<u64>,
    token: CancellationToken,
}

async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

impl<R> Engine<R>
where
    R: StoreReader + Clone + 'static,
{
    /// Builds the engine and restores its state from the evaluation store.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn load(args: EngineArgs<R>, token: CancellationToken) -> Result<Self, Error> {
        let EngineArgs {
            registry,
            config,
            reader,
            store,
            clock,
            metrics,
        } = args;
        let s = store.clone();
        let saved = blocking(move || Ok(s.states()?)).await?;
        let mut live = LiveEvaluator::new(registry.clone(), config.clone());
        let mut stations = HashMap::new();
        let mut region = RegionState::default();
        let now = clock.now();
        let mut last_arrival = HashMap::new();
        let mut latest_obs: Option<DateTime<Utc>> = None;
        let mut cursor = None;
        for (key, body) in saved {
            if key == REGION_KEY {
                region = serde_json::from_str(&body)?;
            } else if key == CURSOR_KEY {
                cursor = Some(serde_json::from_str(&body)?);
            } else if let Some(id) = key.strip_prefix(STATION_PREFIX) {
                let mut st: StationState = serde_json::from_str(&body)?;
                if let Some(l) = st.live.take() {
                    latest_obs = latest_obs.max(l.watermark);
                    live.restore(id, l);
                }
                last_arrival.insert(id.to_string(), now);
                stations.insert(id.to_string(), st);
            }
        }
        let topology = Arc::new(Topology::new(&registry, &config.attribution));
        let since = latest_obs.map_or(DateTime::<Utc>::MIN_UTC, |t| {
            t - chrono::Duration::hours(config.attribution.incident_idle_hours.ceil() as i64)
        });
        let s = store.clone();
        let open = blocking(move || Ok(s.incidents_since(since)?)).await?;
        Ok(Self {
            registry,
            config,
            reader,
            store,
            clock,
            metrics,
            live,
            topology,
            incidents: Incidents::restore(open),
            stations,
            last_arrival,
            region,
            cursor,
            token,
        })
    }

    /// The evaluation store.
    pub fn store(&self) -> &AnalyticsStore {
        &self.store
    }

    /// Evaluates a batch of readings messages and commits the results; returns the events
    /// to publish (already stored).
    ///
    /// # Errors
    /// A store failure ([`Error::is_retryable`] says whether to try again), or shutdown.
    pub async fn handle(&mut self, messages: Vec<ReadingsMessage>) -> Result<Vec<Event>, Error> {
        let batches = messages.into_iter().map(|m| m.into_readings()).collect();
        self.evaluate(batches, None).await
    }

    /// Judges the next commits of the readings store after the engine's cursor (up to
    /// [`CATCH_UP_COMMITS`]) and commits the results together with the new cursor, so every
    /// stored reading is judged once, whether or not it was announced on `readings/`.
    /// Returns the events and whether more commits wait; `None` when the readings reader
    /// offers no commit log (InfluxDB without ingest's local database at hand: the announced
    /// messages are judged instead).
    ///
    /// # Errors
    /// As [`Engine::handle`].
    pub async fn catch_up(&mut self) -> Result<Option<(Vec<Event>, bool)>, Error> {
        let after = self.cursor.unwrap_or(0);
        let Some(commits) = self.reader.commits_after(after, CATCH_UP_COMMITS).await? else {
            return Ok(None);
        };
        let Some(last) = commits.last().map(|c| c.seq) else {
            return Ok(Some((Vec::new(), false)));
        };
        let more = commits.len() == CATCH_UP_COMMITS;
        self.metrics.commits_read.add(commits.len() as u64);
        let batches = commits.into_iter().map(|c| c.readings).collect();
        let events = self.evaluate(batches, Some(last)).await?;
        Ok(Some((events, more)))
    }

    /// The last commit of the readings store judged.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    async fn evaluate(
        &mut self,
        batches: Vec<Vec<Reading>>,
        cursor: Option<u64>,
    ) -> Result<Vec<Event>, Error> {
        let now = self.clock.now();
        let mut commit = Commit::default();
        let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for readings in batches {
            self.metrics.messages.inc();
            // One station at a time, as a readings message carries them: the live step
            // reports one current status per call. A commit holds many stations.
            let mut by_station: BTreeMap<String, Vec<Reading>> = BTreeMap::new();
            for r in readings {
                by_station
                    .entry(r.station.as_str().to_string())
                    .or_default()
                    .push(r);
            }
            for readings in by_station.into_values() {
                self.live_step(&readings, now, &mut commit, &mut jobs, &mut touched)
                    .await;
            }
        }
        if let Some(c) = cursor {
            commit
                .states
                .push((CURSOR_KEY.to_string(), serde_json::to_string(&c)?));
        }
        let events = self.finish(commit, jobs, touched, now).await?;
        if cursor.is_some() {
            self.cursor = cursor;
        }
        Ok(events)
    }

    /// Closes the open day of every station silent for `idle_close_secs` of wall-clock
    /// time (an outage, or the end of a replay) and evaluates it.
    ///
    /// # Errors
    /// As [`Engine::handle`].
    pub async fn tick(&mut self) -> Result<Vec<Event>, Error> {
        let now = self.clock.now();
        let idle = chrono::Duration::seconds(
            i64::try_from(self.config.idle_close_secs).unwrap_or(i64::MAX / 2_000),
        );
        let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
        let mut touched = BTreeSet::new();
        for (id, st) in &mut self.stations {
            let silent = self.last_arrival.get(id).is_none_or(|t| now - *t >= idle);
            let Some(through) = st.cursor.closed_through else {
                continue;
            };
            let last = self
                .live
                .state(id)
                .and_then(|l| l.watermark)
                .unwrap_or(through);
            let end = Cursor::end_of_day(last);
            if silent && through < end {
                let closed = st.cursor.close_through(end);
                if !closed.is_empty() {
                    debug!(station = %id, "Closing the day of a silent station.");
                    jobs.entry(id.clone()).or_default().add(closed);
                    touched.insert(id.clone());
                }
            }
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.finish(Commit::default(), jobs, touched, now).await
    }

    /// Closes every station's windows ending at or before `t` (observation time): the way
    /// to tell the engine that time has passed, e.g. at the end of a replay.
    ///
    /// # Errors
    /// As [`Engine::handle`].
    pub async fn close_through(&mut self, t: DateTime<Utc>) -> Result<Vec<Event>, Error> {
        let now = self.clock.now();
        let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
        let mut touched = BTreeSet::new();
        for (id, st) in &mut self.stations {
            let closed = st.cursor.close_through(t);
            if !closed.is_empty() {
                jobs.entry(id.clone()).or_default().add(closed);
                touched.insert(id.clone());
            }
        }
        self.finish(Commit::default(), jobs, touched, now).await
    }

    async fn live_step(
        &mut self,
        readings: &[Reading],
        now: DateTime<Utc>,
        commit: &mut Commit,
        jobs: &mut BTreeMap<String, Job>,
        touched: &mut BTreeSet<String>,
    ) {
        if readings.is_empty() {
            return;
        }
        let out = self.live.evaluate(readings, now);
        self.metrics.readings_judged.add(out.judged as u64);
        let mut earliest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        for r in readings {
            let t = earliest.entry(r.station.as_str()).or_insert(r.observed_at);
            *t = (*t).min(r.observed_at);
        }
        for (id, first) in earliest {
            if self.registry.station(id).is_none() {
                continue;
            }
            touched.insert(id.to_string());
            self.last_arrival.insert(id.to_string(), now);
            let watermark = self.live.state(id).and_then(|l| l.watermark);
            let st = self.stations.entry(id.to_string()).or_default();
            if let Some(w) = watermark {
                st.cursor.open(first);
                let closed = st.cursor.observe(w);
                if !closed.is_empty() {
                    jobs.entry(id.to_string()).or_default().add(closed);
                }
            }
        }
        for r in &out.late {
            self.metrics.readings_late.inc();
            let id = r.station.as_str();
            let Some(st) = self.stations.get(id) else {
                continue;
            };
            if !st.cursor.is_closed(r.observed_at) {
                continue;
            }
            let Some(through) = st.cursor.closed_through else {
                continue;
            };
            let job = jobs.entry(id.to_string()).or_default();
            let hour = crate::live::air::hour_of(r.observed_at);
            job.add_hours(hour, hour + chrono::Duration::hours(1));
            let date = riverwatch_core::time::cst_date(r.observed_at);
            if crate::describe::day_start(date) + chrono::Duration::days(1) <= through {
                job.days.insert(date);
            }
            let month = Month::of(date);
            if month.end() <= through {
                job.months.insert(month);
            }
        }
        let registry = self.registry.clone();
        let builder = EventBuilder::new(&registry, now);
        for f in &out.findings {
            let mut e = builder.finding(f);
            if let FindingKind::ParameterExceedance(p) = &f.kind {
                if p.started && p.status == EventStatus::Firing {
                    self.attribute_start(f.station.as_str(), p, f.observed_at, &mut e, commit)
                        .await;
                } else if let Some(inc) = self.incidents.of(&f.station, &p.parameter) {
                    e.incident = Some(inc.id.clone());
                }
            }
            self.metrics.event(e.rule);
            commit.events.push(e);
        }
        commit.current.extend(out.current);
        commit.aqi.extend(out.hours);
    }

    /// Attributes the start of a water exceedance and links it into an incident.
    async fn attribute_start(
        &mut self,
        station: &str,
        p: &crate::live::ParamFinding,
        at: DateTime<Utc>,
        e: &mut Event,
        commit: &mut Commit,
    ) {
        let tol = self.config.attribution.upstream_tolerance_hours;
        let mut evidence = Vec::new();
        for n in self.topology.upstream(station) {
            let (from, to) = evidence_window(at, n, tol);
            let q = ReadingQuery {
                station: Some(n.station.clone()),
                parameters: vec![p.parameter.clone()],
                from: Some(from),
                to: Some(to + chrono::Duration::milliseconds(1)),
                periods: vec![Period::Sample, Period::Minute, Period::Hour],
                limit: None,
            };
            let readings = match self.reader.query(&q).await {
                Ok(rs) => rs
                    .into_iter()
                    .filter(Reading::is_valid)
                    .map(|r| (r.observed_at, r.value))
                    .collect(),
                Err(error) => {
                    warn!(%error, station = %n.station, "Upstream readings unavailable; attribution undetermined.");
                    Vec::new()
                }
            };
            evidence.push(UpstreamEvidence {
                neighbour: n.clone(),
                readings,
            });
        }
        let ex = ExceedanceAt {
            station,
            parameter: &p.parameter,
            at,
            value: p.value,
            limit: p.limit,
            bound: p.bound,
        };
        let attribution = attribute(&ex, &evidence, tol);
        let province = self
            .registry
            .station(station)
            .map_or(riverwatch_core::Province::Heilongjiang, |s| s.province);
        let next = self.topology.downstream(station).map(|n| ExpectedArrival {
            station: n.station.clone(),
            at: at + chrono::Duration::milliseconds((n.travel_hours * 3_600_000.0) as i64),
        });
        let incident = self.incidents.record(
            &Hit {
                station,
                province,
                parameter: &p.parameter,
                at,
                value: p.value,
                attribution: &attribution,
            },
            next.clone(),
            self.config.attribution.incident_idle_hours,
        );
        e.attribution = Some(attribution);
        e.incident = Some(incident.id.clone());
        e.expected_next = next;
        commit.incidents.retain(|i| i.id != incident.id);
        commit.incidents.push(incident);
    }

    async fn finish(
        &mut self,
        mut commit: Commit,
        jobs: BTreeMap<String, Job>,
        mut touched: BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Error> {
        if !jobs.is_empty() {
            touched.extend(jobs.keys().cloned());
            self.run_jobs(jobs, &mut commit, now).await?;
        }
        for id in &touched {
            let Some(st) = self.stations.get(id) else {
                continue;
            };
            let mut saved = st.clone();
            saved.live = self.live.state(id).cloned();
            commit.states.push((
                format!("{STATION_PREFIX}{id}"),
                serde_json::to_string(&saved)?,
            ));
        }
        commit
            .states
            .push((REGION_KEY.to_string(), serde_json::to_string(&self.region)?));
        let events = commit.events.clone();
        let store = self.store.clone();
        blocking(move || Ok(store.commit(&commit)?)).await?;
        Ok(events)
    }

    async fn run_jobs(
        &mut self,
        jobs: BTreeMap<String, Job>,
        commit: &mut Commit,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut requests = Vec::new();
        let mut readings = Vec::new();
        for (id, job) in &jobs {
            let req = job.request(id);
            let Some((from, to)) = req.span() else {
                continue;
            };
            let q = ReadingQuery {
                station: Some(id.clone()),
                parameters: Vec::new(),
                from: Some(from),
                to: Some(to),
                periods: vec![Period::Sample, Period::Minute, Period::Hour],
                limit: None,
            };
            readings.extend(self.reader.query(&q).await?);
            requests.push(req);
            self.metrics.window_jobs.inc();
        }
        if self.token.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let known_air: BTreeSet<String> = self
            .stations
            .keys()
            .filter(|id| {
                self.registry
                    .station(id)
                    .is_some_and(|s| s.kind == StationKind::Air)
            })
            .filter(|id| {
                let idle = chrono::Duration::seconds(
                    i64::try_from(self.config.idle_close_secs).unwrap_or(i64::MAX / 2_000),
                );
                self.last_arrival.get(*id).is_some_and(|t| now - *t < idle)
            })
            .cloned()
            .collect();
        let mut settle = Settle {
            registry: self.registry.clone(),
            config: self.config.clone(),
            store: self.store.clone(),
            topology: self.topology.clone(),
            now,
            commit: std::mem::take(commit),
            completeness: self
                .stations
                .iter()
                .map(|(id, s)| (id.clone(), (s.completeness_firing, s.completeness_day)))
                .collect(),
            region: std::mem::take(&mut self.region),
            known_air,
            revisions: 0,
            events: Vec::new(),
        };
        let token = self.token.clone();
        let (registry, config) = (self.registry.clone(), self.config.clone());
        let settled = blocking(move || {
            let ctx = Context {
                registry: &registry,
                config: &config,
                now: settle.now,
            };
            let results = windows::compute(&ctx, &readings, &requests, &|| token.is_cancelled())?;
            if token.is_cancelled() {
                return Err(Error::Cancelled);
            }
            settle.run(results)?;
            Ok(settle)
        })
        .await;
        let settle = match settled {
            Ok(s) => s,
            Err(e) => return Err(e),
        };
        *commit = settle.commit;
        for e in &settle.events {
            self.metrics.event(e.rule);
        }
        commit.events.extend(settle.events);
        self.metrics.revisions.add(settle.revisions);
        self.region = settle.region;
        for (id, (firing, day)) in settle.completeness {
            if let Some(st) = self.stations.get_mut(&id) {
                st.completeness_firing = firing;
                st.completeness_day = day;
            }
        }
        Ok(())
    }
}

/// The settle stage (blocking): compare results with the stored revisions, decide
/// revisions and window events, warnings, joint control and the ledger.
struct Settle {
    registry: Arc<Registry>,
    config: Arc<AnalyticsConfig>,
    store: AnalyticsStore,
    topology: Arc<Topology>,
    now: DateTime<Utc>,
    commit: Commit,
    completeness: HashMap<String, (bool, Option<NaiveDate>)>,
    region: RegionState,
    known_air: BTreeSet<String>,
    revisions: u64,
    events: Vec<Event>,
}

fn one_ms() -> chrono::Duration {
    chrono::Duration::milliseconds(1)
}

impl Settle {
    fn builder(&self) -> EventBuilder<'_> {
        EventBuilder::new(&self.registry, self.now)
    }

    fn latest_eval(&self, e: &WindowEvaluation) -> Result<Option<WindowEvaluation>, Error> {
        if let Some(p) = self
            .commit
            .evaluations
            .iter()
            .rev()
            .find(|x| x.station == e.station && x.period == e.period && x.start == e.start)
        {
            return Ok(Some(p.clone()));
        }
        Ok(self
            .store
            .latest_evaluations(&e.station, e.period, e.start, e.start + one_ms())?
            .remove(&e.start.timestamp_millis()))
    }

    fn latest_aqi(
        &self,
        station: &str,
        period: WindowPeriod,
        start: DateTime<Utc>,
    ) -> Result<Option<AqiRecord>, Error> {
        if let Some(p) = self
            .commit
            .aqi
            .iter()
            .rev()
            .find(|x| x.station == station && x.period == period && x.start == start)
        {
            return Ok(Some(p.clone()));
        }
        Ok(self
            .store
            .latest_aqi(station, period, start, start + one_ms())?
            .remove(&start.timestamp_millis()))
    }

    fn latest_warning(
        &self,
        station: &str,
        date: NaiveDate,
    ) -> Result<Option<WarningRecord>, Error> {
        if let Some(p) = self
            .commit
            .warnings
            .iter()
            .rev()
            .find(|x| x.station == station && x.date == date)
        {
            return Ok(Some(p.clone()));
        }
        Ok(self.store.latest_warning(station, date)?)
    }

    fn latest_joint(&self, date: NaiveDate) -> Result<Option<JointControlRecord>, Error> {
        if let Some(p) = self.commit.joint.iter().rev().find(|x| x.date == date) {
            return Ok(Some(p.clone()));
        }
        Ok(self.store.latest_joint(date)?)
    }

    fn daily_aqi(&self, station: &str, date: NaiveDate) -> Result<Option<AqiRecord>, Error> {
        self.latest_aqi(station, WindowPeriod::Day, crate::describe::day_start(date))
    }

    fn run(&mut self, results: Results) -> Result<(), Error> {
        let Results {
            hourly,
            daily,
            monthly,
            aqi_hourly,
            mut aqi_daily,
        } = results;
        for e in hourly {
            self.evaluation(e)?;
        }
        for e in daily {
            let stored = self.evaluation(e)?;
            if let Some(e) = stored {
                self.completeness_event(&e);
            }
        }
        let mut months = Vec::new();
        for e in monthly {
            if let Some(e) = self.evaluation(e)? {
                months.push(e);
            }
        }
        for a in aqi_hourly {
            self.aqi(a)?;
        }
        aqi_daily.sort_by_key(|a| a.start);
        for a in aqi_daily {
            let date = riverwatch_core::time::cst_date(a.start);
            let station = a.station.clone();
            let revised = match self.aqi(a)? {
                AqiOutcome::New => false,
                AqiOutcome::Revised => true,
                AqiOutcome::Same => continue,
            };
            self.warnings(&station, date, revised)?;
            if revised {
                self.region.rejudge.insert(date);
            } else {
                self.region.closed.entry(date).or_default().insert(station);
            }
        }
        self.judge_region()?;
        for m in months {
            self.ledger(&m)?;
        }
        Ok(())
    }

    /// Stores an evaluation as revision 0 or the next revision; returns what was stored.
    fn evaluation(&mut self, mut e: WindowEvaluation) -> Result<Option<WindowEvaluation>, Error> {
        match self.latest_eval(&e)? {
            None => {
                e.revision = 0;
            }
            Some(prev) if prev.same_content(&e) => return Ok(None),
            Some(prev) => {
                e.revision = prev.revision + 1;
                self.revisions += 1;
                if prev.class != e.class {
                    let ev = self.builder().class_revision(&prev, &e);
                    self.events.push(ev);
                }
            }
        }
        self.commit.evaluations.push(e.clone());
        Ok(Some(e))
    }

    fn completeness_event(&mut self, e: &WindowEvaluation) {
        if e.period != WindowPeriod::Day {
            return;
        }
        let date = riverwatch_core::time::cst_date(e.start);
        let state = self.completeness.entry(e.station.clone()).or_default();
        if state.1.is_some_and(|d| date < d) {
            return;
        }
        state.1 = Some(date);
        let fire = !e.sufficient && !state.0;
        let resolve = e.sufficient && state.0;
        if fire || resolve {
            state.0 = fire;
            let ev = self
                .builder()
                .completeness(e, self.config.completeness.min_valid_rate);
            self.events.push(ev);
        }
    }

    fn aqi(&mut self, mut a: AqiRecord) -> Result<AqiOutcome, Error> {
        let outcome = match self.latest_aqi(&a.station, a.period, a.start)? {
            None => {
                a.revision = 0;
                AqiOutcome::New
            }
            Some(prev) if prev.same_content(&a) => return Ok(AqiOutcome::Same),
            Some(prev) => {
                a.revision = prev.revision + 1;
                self.revisions += 1;
                if prev.level != a.level {
                    let ev = self.builder().aqi_revision(&prev, &a);
                    self.events.push(ev);
                }
                AqiOutcome::Revised
            }
        };
        self.commit.aqi.push(a);
        Ok(outcome)
    }

    /// The warning level of a city on `date` (and, after a revision, on the following
    /// days already judged).
    fn warnings(&mut self, station: &str, date: NaiveDate, revised: bool) -> Result<(), Error> {
        let Some(st) = self.registry.station(station) else {
            return Ok(());
        };
        let (city_zh, province) = (st.city_zh.clone(), st.province);
        let rules = self.config.warning.clone();
        let rules_name = air_warning::rules_name(&rules);
        let mut day = date;
        for _ in 0..31 {
            let mut history = Vec::new();
            for k in 0..=14 {
                let d = day - chrono::Duration::days(k);
                if let Some(a) = self.daily_aqi(station, d)? {
                    history.push((d, a.aqi));
                }
            }
            let w = air_warning::city_warning(&rules, &history, day);
            let record = WarningRecord {
                station: station.to_string(),
                city_zh: city_zh.clone(),
                province,
                date: day,
                revision: 0,
                level: w.level,
                daily_aqi: history
                    .iter()
                    .find(|(d, _)| *d == day)
                    .and_then(|(_, a)| *a),
                run_days: w.run_days,
                severe_days: w.severe_days,
                computed_at: self.now,
            };
            let previous_day = match day.pred_opt() {
                Some(p) => self.latest_warning(station, p)?.map(|r| r.level),
                None => None,
            }
            .unwrap_or_default();
            let changed = match self.latest_warning(station, day)? {
                None => {
                    if record.level != previous_day {
                        let ev = self.builder().warning(&record, previous_day, &rules_name);
                        self.events.push(ev);
                    }
                    self.commit.warnings.push(record);
                    true
                }
                Some(prev)
                    if prev.level == record.level
                        && prev.daily_aqi == record.daily_aqi
                        && prev.run_days == record.run_days
                        && prev.severe_days == record.severe_days =>
                {
                    false
                }
                Some(prev) => {
                    let record = WarningRecord {
                        revision: prev.revision + 1,
                        ..record
                    };
                    self.revisions += 1;
                    if prev.level != record.level {
                        let ev = self.builder().warning(&record, prev.level, &rules_name);
                        self.events.push(ev);
                    }
                    self.commit.warnings.push(record);
                    true
                }
            };
            if !revised || !changed {
                break;
            }
            // A revised day can change the runs of the days after it.
            let Some(next) = day.succ_opt() else { break };
            if self.latest_warning(station, next)?.is_none() {
                break;
            }
            day = next;
        }
        Ok(())
    }

    fn judge_region(&mut self) -> Result<(), Error> {
        if self.known_air.is_empty() {
            return Ok(());
        }
        let rejudge: Vec<NaiveDate> = std::mem::take(&mut self.region.rejudge)
            .into_iter()
            .filter(|d| self.region.judged_through.is_some_and(|t| *d <= t))
            .collect();
        for d in rejudge {
            self.judge_day(d, true)?;
        }
        let ready: Vec<NaiveDate> = self
            .region
            .closed
            .iter()
            .take_while(|(_, done)| self.known_air.is_subset(done))
            .map(|(d, _)| *d)
            .collect();
        for d in ready {
            self.region.closed.remove(&d);
            if self.region.judged_through.is_some_and(|t| d <= t) {
                continue;
            }
            self.judge_day(d, false)?;
            self.region.judged_through = Some(d);
        }
        Ok(())
    }

    fn judge_day(&mut self, date: NaiveDate, revision: bool) -> Result<(), Error> {
        let mut cities = Vec::new();
        for id in &self.known_air {
            let Some(st) = self.registry.station(id) else {
                continue;
            };
            let aqi = self.daily_aqi(id, date)?.and_then(|a| a.aqi);
            cities.push((id.clone(), st.province, aqi));
        }
        let rule = self.config.joint_control;
        let state = air_warning::joint_control(&rule, &cities);
        let mut record = JointControlRecord {
            date,
            revision: 0,
            active: state.active,
            heavy_hlj: state.heavy_hlj,
            heavy_jl: state.heavy_jl,
            cities_known: cities.iter().filter(|c| c.2.is_some()).count() as u32,
            rule: air_warning::rule_text(&rule),
            computed_at: self.now,
        };
        match self.latest_joint(date)? {
            None => {
                if record.active != self.region.active {
                    let ev = self.builder().joint_control(&record);
                    self.events.push(ev);
                }
                self.commit.joint.push(record.clone());
            }
            Some(prev)
                if prev.active == record.active
                    && prev.heavy_hlj == record.heavy_hlj
                    && prev.heavy_jl == record.heavy_jl =>
            {
                return Ok(());
            }
            Some(prev) => {
                record.revision = prev.revision + 1;
                self.revisions += 1;
                if prev.active != record.active {
                    let ev = self.builder().joint_control(&record);
                    self.events.push(ev);
                }
                self.commit.joint.push(record.clone());
            }
        }
        if !revision || self.region.judged_through == Some(date) {
            self.region.active = record.active;
        }
        Ok(())
    }

    fn ledger(&mut self, month: &WindowEvaluation) -> Result<(), Error> {
        let Some(st) = self.registry.station(&month.station) else {
            return Ok(());
        };
        let (true, StationKind::Water, Some(target)) = (st.boundary, st.kind, st.target_class)
        else {
            return Ok(());
        };
        let Some(pair) =
            ledger::boundary_pair(&month.station, &self.topology, &self.config.compensation)
        else {
            return Ok(());
        };
        let mut entry = ledger::entry(month, target, pair, &self.config.compensation, self.now);
        let prev = match self
            .commit
            .ledger
            .iter()
            .rev()
            .find(|l| l.station == entry.station && l.month == entry.month)
        {
            Some(p) => Some(p.clone()),
            None => self.store.latest_ledger(&entry.station, &entry.month)?,
        };
        match prev {
            None => {}
            Some(p) if ledger::same_content(&p, &entry) => return Ok(()),
            Some(p) => {
                entry.revision = p.revision + 1;
                self.revisions += 1;
            }
        }
        self.commit.ledger.push(entry);
        Ok(())
    }
}

enum AqiOutcome {
    New,
    Revised,
    Same,
}

#[cfg(test)]
mod tests;
