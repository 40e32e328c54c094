//! Where ingest's input comes from: the MQTT subscription.

pub mod mqtt;

pub use mqtt::{Ack, Inbound, MqttSource};
