//! riverwatch-analytics: every stored reading judged the way the standards and the
//! evaluation method say, live and over hours, days and months.
//!
//! Data flow: `{prefix}/readings/{station}` (committed readings from ingest) →
//! [`source`] (persistent QoS 1 subscription, manual acks) → [`engine`]:
//! [`live`] state machines (classes, exceedances, AQI level, outfalls, floods) →
//! [`attribution`] of water exceedances and incidents → [`windows`] with polars over the
//! readings store (hourly/daily/monthly means and classes, valid-data rate, hourly and daily
//! AQI) → [`air_warning`] levels and joint control → [`ledger`] → [`store`] (one transaction)
//! → acks → [`publish`] events on `{prefix}/events/{subject}`. With the SQLite readings
//! store, and with the InfluxDB stores when ingest's local database is in the data
//! directory, the readings judged are the store's commit log after the engine's cursor, and
//! a readings message only says that new commits wait ([`service`]).
//!
//! # Layout
//! - [`config`]: `[analytics]` settings (debounce, velocities, completeness, joint control,
//!   compensation) and their validation.
//! - [`standards`]: the standards as data (GB 3838 and the 2011 method, HJ 633 2012/2026,
//!   GB 3095, warning levels, GB 18918, hydrology) and the edition in force on a date.
//! - [`live`]: pure per-station state machines with debounce and hysteresis.
//! - [`attribution`]: river topology, travel times, upstream attribution, incidents (pure).
//! - [`windows`]: the polars window computations and when windows close.
//! - [`air_warning`]: city heavy-pollution warning levels and regional joint control.
//! - [`ledger`]: the cross-border ecological compensation ledger.
//! - [`model`]: the typed records of evaluations.
//! - [`describe`]: findings and window results described as events: ids, severities and
//!   the summaries in Chinese and English.
//! - [`store`]: the evaluation store and its public read API ([`store::EvaluationReader`]).
//! - [`views`]: what the command line, the console and the reports show: a quick check of
//!   values against the standards, the stored evaluations by view and filter.
//! - [`engine`]: one evaluation step per batch, on observation time.
//! - [`source`]: the MQTT input (core's acking subscriber).
//! - [`publish`]: the MQTT output (core's output connection; events marked published once
//!   the broker confirmed them).
//! - [`service`]: [`run`], the wiring of the engine and the two connections.
//! - [`telemetry`]: the service's counters.
#![deny(missing_docs)]

pub mod air_warning;
pub mod attribution;
pub mod config;
pub mod describe;
pub mod engine;
pub mod ledger;
pub mod live;
pub mod model;
pub mod publish;
pub mod service;
pub mod source;
pub mod standards;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod windows;

pub use config::AnalyticsConfig;
pub use service::{AnalyticsArgs, Control, run};

/// An analytics failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad `[analytics]` settings.
    #[error("analytics configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// Bad broker settings.
    #[error("broker configuration: {0}")]
    Mqtt(#[from] riverwatch_core::mqtt::MqttConfigError),
    /// The evaluation store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The readings store failed.
    #[error("readings store: {0}")]
    Readings(#[from] riverwatch_core::store_api::StoreError),
    /// A window computation failed.
    #[error("window computation: {0}")]
    Window(#[from] windows::WindowError),
    /// Saved state does not parse.
    #[error("saved state: {0}")]
    State(#[from] serde_json::Error),
    /// A task failed.
    #[error("analytics task failed: {0}")]
    Task(String),
    /// Shutdown interrupted a step.
    #[error("cancelled by shutdown")]
    Cancelled,
}

impl Error {
    /// Whether the same step may succeed later (a store that is busy or unreachable).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable() || matches!(e, store::StoreError::Sqlite(_)),
            Error::Readings(e) => e.is_retryable(),
            Error::Task(_) => true,
            _ => false,
        }
    }
}
