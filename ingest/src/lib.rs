//! riverwatch-ingest: every station reading from MQTT to durable storage, nothing lost.
//!
//! # Layout
//! - [`config`]: `[ingest]` and `[store]` settings.
//! - [`decode`]: JSON and HJ 212 payloads to readings and dead letters; packet reassembly.
//! - [`store`]: the SQLite store and the InfluxDB adapters behind the core store traits.

pub mod config;
pub mod decode;
pub mod store;
