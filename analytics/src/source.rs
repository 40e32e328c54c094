//! The input connection: one persistent-session QoS 1 subscription to
//! `{prefix}/readings/+`, whose messages are acknowledged to the broker only after the
//! evaluations and events they produced are committed to the evaluation store. The
//! subscription itself is core's [`Subscriber`]; this module names what analytics uses.

pub use riverwatch_core::subscriber::{Inbound, Subscriber};

/// Room for acknowledgements waiting to be written (see the ingest source for why this is
/// generous: rumqttc writes one request per turn but reads up to ten packets).
pub const ACK_ROOM: usize = 100_000;
