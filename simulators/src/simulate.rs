//! Running a simulation: generate, encode, pace, publish and/or record, and write the
//! manifest. [`run`] is what `riverwatch simulate` and `riverwatch up` call.
//!
//! A run's start is the scenario's start: a run started elsewhere re-dates the scenario so
//! that its events keep their offsets from the start ([`crate::redate`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::registry::Registry;
use riverwatch_core::topics::Topics;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::encode::{OutputFormat, encode};
use crate::error::{Error, Result};
use crate::generate::{GenOptions, Generator, Observation};
use crate::manifest::{Manifest, ManifestBuilder};
use crate::publish::{Publisher, client_id};
use crate::recording::{FileKind, Row, manifest_path, rows_of, write_rows};
use crate::redate::LivePlan;
use crate::scenario::Scenario;

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// As fast as generation (and the broker) go.
    Fast,
    /// This many simulated seconds per wall-clock second.
    Speed(f64),
    /// Simulated time is the wall clock: what lies before now (the run's start, one
    /// interval back by default) is sent at once, the rest in real time.
    WallClock,
    /// Live with a replay of the past: simulated time starts at the run's start, in the
    /// past, and runs this many times faster than the wall clock (more than 1) until it
    /// reaches the wall clock, then follows it. No message is sent before its simulated time
    /// (see [`crate::redate::LivePlan`]).
    CatchUp(f64),
}

/// Everything one simulation needs.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// The station network.
    pub registry: Arc<Registry>,
    /// Seed; one seed gives one output, byte for byte.
    pub seed: u64,
    /// Simulated start; the scenario's default when `None` (under [`Pacing::WallClock`] and
    /// [`Pacing::CatchUp`], one interval before now). The scenario's events move with it,
    /// keeping their offsets from the start ([`Scenario::starting_at`]).
    pub start: Option<DateTime<Utc>>,
    /// Simulated duration; the scenario's default when `None`.
    pub duration: Option<Duration>,
    /// Run until the shutdown token fires instead of for a duration.
    pub until_shutdown: bool,
    /// Pacing.
    pub pacing: Pacing,
    /// JSON, HJ 212 or mixed.
    pub format: OutputFormat,
    /// One reporting interval for every station, seconds.
    pub interval_override_secs: Option<u32>,
    /// Broker to publish to (QoS 1); none: do not publish.
    pub mqtt: Option<MqttConfig>,
    /// Send the HJ 212 stations' frames as data loggers over TCP to this address
    /// (`HOST:PORT`) instead of MQTT ([`crate::hj212_tcp`]); JSON stations still publish.
    pub hj212_tcp: Option<String>,
    /// MQTT client id; `rw-sim-{scenario}-{seed}-{pid}` when `None`.
    pub client_id: Option<String>,
    /// Recording to write (`.csv` or `.parquet`), with its manifest beside it.
    pub out: Option<PathBuf>,
    /// Interval of the progress log line.
    pub progress_every: Duration,
}

impl SimulateConfig {
    /// A run of `scenario` with its defaults: seed 1, as fast as possible, JSON, nothing
    /// published or recorded until `mqtt` or `out` is set.
    pub fn new(scenario: Scenario, registry: Arc<Registry>) -> Self {
        Self {
            scenario,
            registry,
            seed: 1,
            start: None,
            duration: None,
            until_shutdown: false,
            pacing: Pacing::Fast,
            format: OutputFormat::Json,
            interval_override_secs: None,
            mqtt: None,
            hj212_tcp: None,
            client_id: None,
            out: None,
            progress_every: Duration::from_secs(5),
        }
    }

    /// The live demo of `riverwatch up`: the `baseline` scenario on the wall clock, every
    /// station reporting each minute, published to `mqtt` until shutdown.
    ///
    /// # Errors
    /// Only if the built-in baseline scenario is broken (ruled out by tests).
    pub fn wall_clock(registry: Arc<Registry>, mqtt: MqttConfig) -> Result<Self> {
        let mut config = Self::new(Scenario::builtin("baseline")?, registry);
        config.pacing = Pacing::WallClock;
        config.until_shutdown = true;
        config.interval_override_secs = Some(LIVE_INTERVAL_SECS);
        config.mqtt = Some(mqtt);
        Ok(config)
    }

    /// A live run of a re-dated scenario (`riverwatch up --scenario`): the plan's scenario
    /// from the plan's start, replayed at its speed until it meets the wall clock, every
    /// station reporting each minute, published to `mqtt` until shutdown.
    pub fn live(plan: &LivePlan, registry: Arc<Registry>, mqtt: MqttConfig) -> Self {
        let mut config = Self::new(plan.scenario.clone(), registry);
        config.interval_override_secs = Some(LIVE_INTERVAL_SECS);
        config.mqtt = Some(mqtt);
        config.play_live(plan);
        config
    }

    /// Plays `plan` (made for this configuration's scenario and [`backfill_secs`]): its
    /// re-dated scenario from its start, at its speed, until shutdown.
    pub fn play_live(&mut self, plan: &LivePlan) {
        self.scenario = plan.scenario.clone();
        self.start = Some(plan.run_start);
        self.duration = None;
        self.until_shutdown = true;
        self.pacing = if plan.speed > 1.0 {
            Pacing::CatchUp(plan.speed)
        } else {
            Pacing::WallClock
        };
    }
}

/// The reporting interval of every station in a live run, seconds.
pub const LIVE_INTERVAL_SECS: u32 = 60;

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Simulated start.
    pub start: DateTime<Utc>,
    /// Simulated time reached.
    pub end: DateTime<Utc>,
    /// Observations generated.
    pub observations: u64,
    /// MQTT messages produced.
    pub messages: u64,
    /// Readings (recording rows).
    pub readings: u64,
    /// Payload bytes produced.
    pub bytes: u64,
    /// Messages the broker acknowledged.
    pub acked: u64,
    /// Messages lost with a dropped broker session.
    pub lost: u64,
    /// Wall-clock time taken.
    pub elapsed: Duration,
    /// Whether the shutdown token ended the run early.
    pub interrupted: bool,
    /// The recording written.
    pub out: Option<PathBuf>,
    /// The manifest written.
    pub manifest: Option<PathBuf>,
}

impl Summary {
    /// Messages per wall-clock second.
    pub fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Resolves the start and end of a run.
fn span(config: &SimulateConfig) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let start = match (config.pacing, config.start) {
        (_, Some(start)) => start,
        // Start one interval back, so every station's latest sample goes out at once and a
        // new user sees data immediately.
        (Pacing::WallClock | Pacing::CatchUp(_), None) => {
            Utc::now().trunc_subsecs(0) - chrono::Duration::seconds(backfill_secs(config).into())
        }
        (_, None) => config.scenario.start,
    };
    if config.until_shutdown {
        if config.out.is_some() {
            return Err(Error::Config(
                "a recording needs a duration, not a run until shutdown".into(),
            ));
        }
        return Ok((start, None));
    }
    let duration = config.duration.unwrap_or(config.scenario.duration);
    let duration = chrono::Duration::from_std(duration)
        .map_err(|_| Error::Config("duration out of range".into()))?;
    let end = start
        .checked_add_signed(duration)
        .ok_or_else(|| Error::Config("duration out of range".into()))?;
    Ok((start, Some(end)))
}

/// Seconds of a live run sent at once at start-up: one reporting interval less a second
/// (the live interval unless the configuration sets one).
pub fn backfill_secs(config: &SimulateConfig) -> u32 {
    config
        .interval_override_secs
        .unwrap_or(LIVE_INTERVAL_SECS)
        .max(1)
        - 1
}

/// Builds the generator of a configuration: the scenario re-dated to the run's start.
///
/// # Errors
/// As [`Generator::new`], and for settings that do not fit together.
pub fn generator(config: &SimulateConfig) -> Result<Generator> {
    if let Pacing::Speed(x) = config.pacing
        && !(x.is_finite() && x > 0.0)
    {
        return Err(Error::Config("--speed must be a positive number".into()));
    }
    if let Pacing::CatchUp(x) = config.pacing
        && !(x.is_finite() && x > 1.0)
    {
        return Err(Error::Config(
            "the catch-up speed must be a number above 1".into(),
        ));
    }
    if let Some(out) = &config.out {
        FileKind::of(out)?;
    }
    let (start, end) = span(config)?;
    let scenario = config.scenario.starting_at(start)?;
    Generator::new(
        &scenario,
        &config.registry,
        GenOptions {
            seed: config.seed,
            start,
            end,
            interval_override_secs: config.interval_override_secs,
            format: config.format,
        },
    )
}

/// Accumulates the recording and the manifest of a run.
struct Sink {
    rows: Option<Vec<Row>>,
    manifest: Option<ManifestBuilder>,
    observations: u64,
    messages: u64,
    readings: u64,
    bytes: u64,
}

impl Sink {
    fn new(recording: bool) -> Self {
        Self {
            rows: recording.then(Vec::new),
            manifest: recording.then(ManifestBuilder::new),
            observations: 0,
            messages: 0,
            readings: 0,
            bytes: 0,
        }
    }

    fn take(&mut self, generator: &Generator, obs: &Observation, messages: u64, bytes: u64) {
        let st = &generator.stations()[obs.station];
        let rows = rows_of(st, obs);
        let n_rows = rows.len() as u64;
        self.observations += 1;
        self.messages += messages;
        self.readings += n_rows;
        self.bytes += bytes;
        if let Some(all) = &mut self.rows {
            all.extend(rows);
        }
        if let Some(m) = &mut self.manifest {
            m.observe(generator, obs, messages, n_rows);
        }
    }
}

/// Writes the recording and its manifest (blocking).
fn write_outputs(out: &std::path::Path, rows: &[Row], manifest: &Manifest) -> Result<PathBuf> {
    write_rows(out, rows)?;
    let path = manifest_path(out);
    let text = serde_json::to_string_pretty(manifest)?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// Runs a simulation until its end or until `shutdown` fires.
///
/// Without a broker the run is CPU work and goes to a blocking thread; with one, messages
/// are paced and published, and the run waits for the broker's acknowledgement of every
/// message before it returns.
///
/// # Errors
/// Invalid settings or scenario, a broker client that stopped, or a file that cannot be
/// written.
pub async fn run(config: SimulateConfig, shutdown: CancellationToken) -> Result<Summary> {
    let span =
        tracing::info_span!("simulate", scenario = %config.scenario.name, seed = config.seed);
    run_inner(config, shutdown).instrument(span).await
}

async fn run_inner(config: SimulateConfig, shutdown: CancellationToken) -> Result<Summary> {
    let topics = config
        .mqtt
        .as_ref()
        .map_or_else(Topics::default, MqttConfig::topics);
    let mut generator = generator(&config)?;
    let start = generator.options().start;
    let end = generator.options().end;
    let wall = Instant::now();
    tracing::info!(
        scenario = %config.scenario.name,
        start = %riverwatch_core::time::fmt_cst(start),
        stations = generator.stations().len(),
        "Simulation started."
    );
    let Some(mqtt) = config.mqtt.clone() else {
        // No broker: pure generation and a file, on a blocking thread.
        let out = config.out.clone();
        let token = shutdown.clone();
        let progress_every = config.progress_every;
        let (sink, generator, reached, interrupted) = tokio::task::spawn_blocking(move || {
            let mut sink = Sink::new(out.is_some());
            let mut reached = start;
            let mut last_log = Instant::now();
            let mut interrupted = false;
            while let Some(obs) = generator.next() {
                let st = &generator.stations()[obs.station];
                let msgs = encode(st, &obs, &topics);
                let bytes = msgs.iter().map(|m| m.payload.len() as u64).sum();
                reached = reached.max(obs.sent_at);
                sink.take(&generator, &obs, msgs.len() as u64, bytes);
                if sink.observations.is_multiple_of(1024) {
                    if token.is_cancelled() {
                        interrupted = true;
                        break;
                    }
                    if last_log.elapsed() >= progress_every {
                        last_log = Instant::now();
                        log_progress(reached, sink.messages, 0, wall);
                    }
                }
            }
            (sink, generator, reached, interrupted)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
        return finish(
            config,
            generator,
            sink,
            start,
            end,
            reached,
            interrupted,
            0,
            0,
            wall,
        )
        .await;
    };

    let id = config
        .client_id
        .clone()
        .unwrap_or_else(|| client_id(&format!("rw-sim-{}-{}", config.scenario.name, config.seed)));
    let publisher = Publisher::start(&mqtt, &id)?;
    let mut loggers = config
        .hj212_tcp
        .as_deref()
        .map(crate::hj212_tcp::Loggers::new);
    let mut sink = Sink::new(config.out.is_some());
    let mut reached = start;
    let mut last_log = Instant::now();
    let mut interrupted = false;
    let tokio_start = tokio::time::Instant::now();
    let mut publish_error = None;
    'run: while let Some(obs) = generator.next() {
        let target = match config.pacing {
            Pacing::Fast => None,
            Pacing::Speed(x) => {
                let sim = (obs.sent_at - start).to_std().unwrap_or_default();
                Some(tokio_start + sim.div_f64(x))
            }
            Pacing::WallClock => {
                let ahead = (obs.sent_at - Utc::now()).to_std().unwrap_or_default();
                Some(tokio::time::Instant::now() + ahead)
            }
            Pacing::CatchUp(x) => {
                // The replay's schedule, but never before the simulated time is reached.
                let sim = (obs.sent_at - start).to_std().unwrap_or_default();
                let ahead = (obs.sent_at - Utc::now()).to_std().unwrap_or_default();
                Some((tokio_start + sim.div_f64(x)).max(tokio::time::Instant::now() + ahead))
            }
        };
        if let Some(target) = target {
            tokio::select! {
                () = shutdown.cancelled() => { interrupted = true; break 'run; }
                () = tokio::time::sleep_until(target) => {}
            }
        } else if shutdown.is_cancelled() {
            interrupted = true;
            break;
        }
        let st = &generator.stations()[obs.station];
        let msgs = encode(st, &obs, &topics);
        let bytes = msgs.iter().map(|m| m.payload.len() as u64).sum();
        let n = msgs.len() as u64;
        for m in msgs {
            if let Some(l) = loggers.as_mut()
                && m.channel == crate::encode::Channel::Hj212
            {
                l.send(&m.payload);
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => { interrupted = true; break 'run; }
                r = publisher.publish(&m.topic, m.payload) => {
                    if let Err(e) = r {
                        publish_error = Some(e);
                        break 'run;
                    }
                }
            }
        }
        reached = reached.max(obs.sent_at);
        sink.take(&generator, &obs, n, bytes);
        if last_log.elapsed() >= config.progress_every {
            last_log = Instant::now();
            log_progress(reached, sink.messages, publisher.counts().acked, wall);
        }
    }
    let mut counts = publisher.finish(&shutdown).await?;
    if let Some(l) = loggers {
        let (acked, unacked) = l.finish(&shutdown, Duration::from_secs(10)).await;
        counts.acked += acked;
        counts.lost += unacked;
    }
    if let Some(e) = publish_error {
        return Err(e);
    }
    finish(
        config,
        generator,
        sink,
        start,
        end,
        reached,
        interrupted,
        counts.acked,
        counts.lost,
        wall,
    )
    .await
}

fn log_progress(reached: DateTime<Utc>, messages: u64, acked: u64, wall: Instant) {
    let rate = messages as f64 / wall.elapsed().as_secs_f64().max(1e-9);
    tracing::info!(
        sim_time = %riverwatch_core::time::fmt_cst(reached),
        messages,
        acked,
        rate_msg_s = rate.round(),
        "Simulating."
    );
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    config: SimulateConfig,
    generator: Generator,
    mut sink: Sink,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    reached: DateTime<Utc>,
    interrupted: bool,
    acked: u64,
    lost: u64,
    wall: Instant,
) -> Result<Summary> {
    let end_time = if interrupted {
        reached
    } else {
        end.unwrap_or(reached)
    };
    let mut manifest_file = None;
    if let (Some(out), Some(rows), Some(builder)) =
        (config.out.clone(), sink.rows.take(), sink.manifest.take())
    {
        let manifest = builder.finish(&generator, end_time);
        manifest_file = Some(
            tokio::task::spawn_blocking(move || write_outputs(&out, &rows, &manifest))
                .await
                .map_err(|e| Error::Task(e.to_string()))??,
        );
    }
    let summary = Summary {
        scenario: config.scenario.name.clone(),
        start,
        end: end_time,
        observations: sink.observations,
        messages: sink.messages,
        readings: sink.readings,
        bytes: sink.bytes,
        acked,
        lost,
        elapsed: wall.elapsed(),
        interrupted,
        out: config.out.clone(),
        manifest: manifest_file,
    };
    tracing::info!(
        messages = summary.messages,
        acked = summary.acked,
        readings = summary.readings,
        elapsed_ms = summary.elapsed.as_millis() as u64,
        interrupted,
        "Simulation finished."
    );
    Ok(summary)
}

/// Generates a whole run in memory (no I/O): the observations with their messages, and the
/// manifest. For tests and tools that inspect a run.
///
/// # Errors
/// As [`generator`].
pub fn generate_all(
    config: &SimulateConfig,
) -> Result<(Vec<Row>, Vec<crate::encode::OutMessage>, Manifest)> {
    let topics = config
        .mqtt
        .as_ref()
        .map_or_else(Topics::default, MqttConfig::topics);
    let mut generator = generator(config)?;
    let mut rows = Vec::new();
    let mut messages = Vec::new();
    let mut builder = ManifestBuilder::new();
    let mut reached = generator.options().start;
    while let Some(obs) = generator.next() {
        let st = &generator.stations()[obs.station];
        let msgs = encode(st, &obs, &topics);
        let r = rows_of(st, &obs);
        builder.observe(&generator, &obs, msgs.len() as u64, r.len() as u64);
        reached = reached.max(obs.sent_at);
        rows.extend(r);
        messages.extend(msgs);
    }
    let end = generator.options().end.unwrap_or(reached);
    let manifest = builder.finish(&generator, end);
    Ok((rows, messages, manifest))
}
