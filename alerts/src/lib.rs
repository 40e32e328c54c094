//! riverwatch-alerts: turns analytics' evaluation events into alerts and notifies the duty
//! officers of Heilongjiang and Jilin — both provinces as equals for provincial-boundary
//! sections and regional air events, the owning province with an information copy to the
//! other for internal stations — with grouping, silences, inhibition, acknowledgement and
//! escalation per province, durable delivery with retries, and an audit trail both provinces
//! can verify.
//!
//! Data flow: [`source`] (`{prefix}/events/+`, QoS 1, persistent session, manual acks) →
//! [`service`] processor ([`lifecycle`] → [`inhibit`] → [`routing`] → [`grouping`], with
//! [`silence`] and [`escalation`] on the clock; due groups become notifications) → one
//! [`store`] transaction per run of events (alerts, grouping state, [`audit`] rows, the
//! notifications queued in the store's outbox), then the broker acks → [`notify`] senders
//! (email, webhook) deliver and record the outcomes; [`notify::mqtt`] keeps the retained state on `{prefix}/alerts/{id}`. The console
//! and reports read everything through [`reader::AlertReader`].
//!
//! # Layout
//! - [`config`]: `[alerts]`: recipients per province with escalation levels (the defaults
//!   embedded from `core/network/recipients.toml`), grouping, inhibit rules, retries, SMTP
//!   relay or outbox, sender, console link, language. The recipients in `config/routing.rs`,
//!   the checks in `config/validate.rs`.
//! - [`model`]: the typed records (alerts, acknowledgements, notifications, silences, audit).
//! - [`lifecycle`]: pure state machine from events to alert state (event time, redelivery).
//! - [`routing`]: pure: which recipients of which province get an alert, in which role.
//! - [`grouping`]: pure, clock-driven grouping with Alertmanager's semantics.
//! - [`silence`]: time-bounded matchers.
//! - [`inhibit`]: pure: downstream alerts of an incident attach to its source, and the
//!   inhibit rules attach more (by default a section's class alert to a parameter alert of
//!   the same section), so one problem makes one notification.
//! - [`escalation`]: per-province escalation while unacknowledged.
//! - [`notify`]: templates (one alert's labelled lines in `notify/templates/fields.rs`), email (lettre; `smtp://` and `smtps://` relays over
//!   TCP_NODELAY sockets of its own, `notify::relay`), webhooks, retained MQTT state (on core's output connection).
//! - [`store`]: SQLite `alerts.db`: alerts, acks, silences, groups, outbox (with attachments
//!   and the report emails queued), audit. `store.rs` holds the connection, the errors and the
//!   write transaction; `store/schema.rs` the tables, `store/rows.rs` the row decoders,
//!   `store/alerts.rs` alerts, applied events and grouping state, `store/outbox.rs` the
//!   notifications and their delivery outcomes, `store/operator.rs` acknowledgements and
//!   silences.
//! - [`audit`]: the append-only hash chain, its verification and the anchors (`#seq hash`)
//!   every notification carries.
//! - [`reader`]: the public read API.
//! - [`views`]: typed rows the command line and the console show (an alert with its
//!   notifications and audit trail, each province's side, a silence's state).
//! - [`operator`]: what a duty officer changes: acknowledgements and silences; report emails
//!   queued once per report, recipient and digest.
//! - [`source`]: the event subscription (core's acking subscriber) and its counters.
//! - [`service`]: [`run`], the processor and the wiring; the processor's event path in
//!   `service/processor.rs`, its clock-driven work (command-line changes, escalation) in
//!   `service/timers.rs`, due groups turned into notifications in `service/flush.rs`.
//! - [`telemetry`]: typed counters (events, alerts, deliveries by channel).
#![deny(missing_docs)]

pub mod audit;
pub mod config;
pub mod escalation;
pub mod grouping;
pub mod inhibit;
pub mod lifecycle;
pub mod model;
pub mod notify;
pub mod operator;
pub mod reader;
pub mod routing;
pub mod service;
pub mod silence;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod views;

pub use config::AlertsConfig;
pub use reader::AlertReader;
pub use service::{AlertsArgs, run};

/// An alert-service failure that stops it before it runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad `[alerts]` settings.
    #[error("alerts configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// Bad broker settings.
    #[error("broker configuration: {0}")]
    Mqtt(#[from] riverwatch_core::mqtt::MqttConfigError),
    /// The alert store cannot be opened.
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// The email transport cannot be built.
    #[error("email: {0}")]
    Email(#[from] notify::email::EmailError),
    /// The webhook client cannot be built.
    #[error("webhook client: {0}")]
    Webhook(String),
    /// A task of the service failed.
    #[error("alert task failed: {0}")]
    Task(String),
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
