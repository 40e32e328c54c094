//! riverwatch-analytics: Standards (GB 3838, HJ 633, warning levels), live evaluation, windows, compliance and attribution.
//!
//! # Layout
//! - [`standards`]: the standards as data (GB 3838 water classes and the 2011 evaluation
//!   method, HJ 633 AQI 2012/2026, GB 3095 limits, heavy-pollution warning levels,
//!   GB 18918 discharge limits, hydrology thresholds) with pure evaluation functions.

pub mod standards;
