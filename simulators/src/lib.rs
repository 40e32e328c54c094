//! riverwatch-simulators: realistic, deterministic stations and pollution scenarios for
//! developers and drills, and the recording and replay of live data.
//!
//! Station models produce every parameter of every station kind of the registry (water
//! sections, air stations, outfalls, hydrological gauges) from the season, the time of day,
//! the river reach and seeded noise; scenarios add events (a spill carried down the river, a
//! boundary-river discharge, a straw-burning episode, a treatment-plant upset, a flood) and
//! sensor faults. A run publishes JSON observations or HJ 212 frames at QoS 1, or records
//! them (CSV or Parquet, the columns of `riverwatch query`) with a manifest of the ground
//! truth.
//!
//! # Layout
//! - [`scenario`]: the scenario file format and the built-in scenarios; the events'
//!   definitions in `scenario/events.rs`, the checks against the registry in
//!   `scenario/validate.rs`.
//! - [`redate`]: events that keep their offsets from a run's start; the timeline of a
//!   scenario; the live plan that replays a scenario into the present.
//! - [`model`]: the undisturbed station models, per kind.
//! - [`noise`]: seeded random-access noise (one ChaCha8 stream per station).
//! - [`plume`]: river plumes (advection–dispersion in travel time).
//! - [`episodes`]: air episodes, outfall upsets, floods (everything a scenario adds besides
//!   plumes).
//! - [`fault`]: sensor and communication faults.
//! - [`generate`]: the pure generator of observations, in send order.
//! - [`encode`]: JSON observations and HJ 212 frames.
//! - [`recording`]: CSV / Parquet recordings.
//! - [`manifest`]: the ground truth written beside a recording; its limit tables in
//!   [`manifest::tables`], which limits apply to a reading in `manifest/limits.rs`, the
//!   scenario events' expectations in `manifest/expectations.rs`.
//! - [`simulate`]: [`run`] — re-dating to the run's start, pacing, publishing, recording.
//! - [`publish`]: the QoS 1 publisher that waits for every PUBACK.
//! - [`hj212_tcp`]: the stations' data loggers as HJ 212 TCP clients (`--hj212-tcp`).
//! - [`recorder`]: recording a live broker (the `record` command).
//! - [`replay`]: re-publishing a recording.
//! - [`error`]: the simulator's error type.
//!
//! Data flow: scenario (re-dated to the run's start) + registry + seed →
//! [`generate::Generator`] → observations →
//! [`encode`] → MQTT ([`publish`]) or loggers' TCP connections ([`hj212_tcp`]) and/or rows ([`recording`]) + [`manifest`].

pub mod encode;
pub mod episodes;
pub mod error;
pub mod fault;
pub mod generate;
pub mod hj212_tcp;
pub mod manifest;
pub mod model;
pub mod noise;
pub mod plume;
pub mod publish;
pub mod recorder;
pub mod recording;
pub mod redate;
pub mod replay;
pub mod scenario;
pub mod simulate;

pub use encode::OutputFormat;
pub use error::{Error, Result};
pub use manifest::Manifest;
pub use recorder::{RecordConfig, RecordSummary, Recorder, record};
pub use redate::{LivePlan, Milestone, MilestoneKind, RECOMMENDED_SPEED};
pub use replay::{ReplayConfig, ReplaySummary, replay};
pub use scenario::Scenario;
pub use simulate::{Pacing, SimulateConfig, Summary, run};
