//! riverwatch-ingest: every station reading from MQTT to durable storage, nothing lost.
//!
//! # Layout
//! - [`config`]: `[ingest]` and `[store]` settings.
//! - [`store`]: the SQLite store and the InfluxDB adapters behind the core store traits.

pub mod config;
pub mod store;
