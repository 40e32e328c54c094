//! The input connection: one persistent-session QoS 1 subscription to
//! `{prefix}/readings/+`, whose messages are acknowledged to the broker only after the
//! evaluations and events they produced are committed to the evaluation store. The
//! subscription itself is core's acking subscriber; this module names what analytics uses.

pub use riverwatch_core::mqtt::{BrokerMessage, PacketAck, Subscriber};
