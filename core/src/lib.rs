//! riverwatch-core: the vocabulary every riverwatch service shares.
//!
//! Stations on the Lalin and Songhua rivers publish observations; `ingest` validates and
//! stores them, `analytics` judges them, `alerts` notifies both provinces. This crate holds
//! what those services must agree on, and nothing that does heavy I/O.
//!
//! # Layout
//! - [`class`]: GB 3838 water classes and the two provinces.
//! - [`hj212`]: the HJ 212 frame codec (framing, CRC, CP values, packets), pure and I/O-free.
#![deny(missing_docs)]

pub mod class;
pub mod hj212;

pub use class::{Province, WaterClass};
