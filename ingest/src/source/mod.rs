//! Where ingest's input comes from: the MQTT subscription.

pub mod mqtt;
pub mod session;

pub use mqtt::{Ack, Inbound, MqttSource, RUN};
pub use session::SessionOptions;
