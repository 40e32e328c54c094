//! riverwatch-core: the vocabulary every riverwatch service shares.
//!
//! Stations on the Lalin and Songhua rivers publish observations; `ingest` validates and
//! stores them, `analytics` judges them, `alerts` notifies both provinces. This crate holds
//! what those services must agree on, and the infrastructure they all use the same way
//! (broker connections, SQLite files, clocks), so it is written once.
//!
//! # Layout
//! - [`class`]: GB 3838 water classes and the two provinces.
//! - [`events`]: evaluation events from analytics to the alert service.
//! - [`hj212`]: the HJ 212 frame codec (framing, CRC, CP values, packets), pure and I/O-free.
//! - [`registry`]: parameters, rivers and stations, loaded from TOML and validated.
//! - [`reading`]: the reading, its data flag and period; the canonical readings message.
//! - [`deadletter`]: rejected input and its stable reason codes.
//! - [`store_api`]: the store writer and reader contracts (readings and dead letters).
//! - [`topics`]: the MQTT topic layout.
//! - [`mqtt`]: broker connection settings and their validation; the acking subscriber
//!   ([`mqtt::subscriber`] over [`mqtt::session`]), the output connection with the
//!   service status ([`mqtt::publisher`]), and the MAC of internal messages
//!   ([`mqtt::auth`]).
//! - [`keys`]: the deployment key ring that signs and checks internal messages (environment
//!   or a 0600 key file).
//! - [`files`]: private folders (0700) and files (0600) in the data directory, whatever the
//!   umask.
//! - [`sqlite`]: the one opener of the SQLite stores (0600 files, WAL verified, busy timeout,
//!   durability, schema version).
//! - [`backoff`]: jittered exponential backoff for reconnects and retries.
//! - [`time`]: clocks, China Standard Time display, operator time and duration parsing.
//! - [`i18n`]: the language of operator-facing text.
//! - [`shutdown`]: cancellation, task tracking and the bounded shutdown wait.
//! - [`telemetry`]: tracing set-up and the metrics registry.
#![deny(missing_docs)]

pub mod backoff;
pub mod class;
pub mod deadletter;
pub mod events;
pub mod files;
pub mod hj212;
pub mod i18n;
pub mod keys;
pub mod mqtt;
pub mod reading;
pub mod registry;
pub mod shutdown;
pub mod sqlite;
pub mod store_api;
pub mod telemetry;
pub mod time;
pub mod topics;

pub use class::{Province, WaterClass};
pub use deadletter::{DeadLetter, ReasonCode};
pub use i18n::Lang;
pub use reading::{DataFlag, ParamCode, Period, Reading, StationId};
pub use registry::{Registry, Station, StationKind};
