//! Test modules.

/// Shared helpers.
pub mod util;

/// The straw-burning episode: daily AQI from the test's own HJ 633 table, in its own year
/// and a year later (the 2026 tables).
mod air;
/// The baseline stays within Class III and the physical ranges.
mod baseline;
/// Through a real broker: simulate, record, replay.
mod broker;
/// Same seed, same bytes; another seed, other bytes; values depend on time, not on the start.
mod determinism;
/// Each fault of the manifest shows in the recording.
mod faults;
/// Every HJ 212 frame: an independent CRC, the length field, Flag, MN and DataTime.
mod hj212;
/// The nitrobenzene and Lalin plumes: arrival after distance ÷ velocity, falling peaks.
mod plume;
