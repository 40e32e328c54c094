//! riverwatch-ingest: every station reading from MQTT, or from a data logger's HJ 212 TCP
//! connection, to durable storage, nothing lost.
//!
//! Data flow: [`source`] (core's acking subscriber: QoS 1, persistent session, acks after
//! the commit) and [`tcp`] (the loggers' connections, 9014 after the commit) → [`pipeline`]
//! batcher ([`decode`]: JSON or HJ 212, validation, dead letters, packet reassembly) →
//! [`pipeline`] committer ([`store`]: one durable transaction per batch, idempotent on
//! station, parameter, time and period) → acks back to the broker, then the new readings
//! out on `{prefix}/readings/{station}` ([`publish`]), signed with the deployment key.
//!
//! # Layout
//! - [`config`]: `[ingest]` and `[store]` settings.
//! - [`check`]: `riverwatch hj212 check` — what ingest would make of a stream of frames.
//! - [`source`]: the subscription filters and the subscriber's counters (the subscriber itself
//!   is [`riverwatch_core::mqtt::subscriber`]).
//! - [`decode`]: JSON and HJ 212 payloads to readings and dead letters; packet reassembly;
//!   the stations' HJ 212 access passwords (`decode::password`).
//! - [`secrets`]: loading those passwords from the secrets file and the environment.
//! - [`pipeline`]: the batcher and the committer.
//! - [`tcp`]: the HJ 212 TCP listener (`[ingest.hj212_tcp]`): one task per logger
//!   connection (`tcp::connection`), backfill requests for missing hours (`tcp::backfill`).
//! - [`store`]: the SQLite store and the InfluxDB adapters behind the core store traits.
//! - [`publish`]: readings out and the broker drop watch on core's output connection
//!   ([`riverwatch_core::mqtt::publisher`]).
//! - [`replay`]: re-decoding dead letters from their stored raw bytes
//!   (`riverwatch dead-letters replay`).
//! - [`telemetry`]: the service counters.

pub mod check;
pub mod config;
pub mod decode;
pub mod pipeline;
pub mod publish;
pub mod replay;
pub mod secrets;
pub mod source;
pub mod store;
pub mod tcp;
pub mod telemetry;

use std::sync::Arc;

use riverwatch_core::mqtt::subscriber::runs_for;
use riverwatch_core::mqtt::{MqttConfig, MqttConfigError, SessionOptions, Subscriber, ack_channel};
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::StoreWriter;
use riverwatch_core::time::Clock;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{ConfigError, IngestConfig};
use crate::decode::reassembly::Limits;
use crate::pipeline::{BatcherArgs, BatcherSettings, batcher, committer};
use crate::publish::ReadingsPublisher;
use crate::secrets::SecretsError;
use crate::telemetry::Metrics;

pub use source::filters;

/// An ingest failure that stops the service before it runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad `[ingest]` settings.
    #[error("ingest configuration: {0}")]
    Config(#[from] ConfigError),
    /// Bad broker settings.
    #[error("broker configuration: {0}")]
    Mqtt(#[from] MqttConfigError),
    /// The stations' access passwords cannot be loaded.
    #[error("station access passwords: {0}")]
    Secrets(#[from] SecretsError),
    /// The store cannot give back the packets of unfinished split messages.
    #[error("reading the held HJ 212 packets: {0}")]
    Store(#[from] riverwatch_core::store_api::StoreError),
    /// The HJ 212 TCP listener cannot start.
    #[error("HJ 212 listener: {0}")]
    Listen(#[from] std::io::Error),
    /// A task of the service failed.
    #[error("ingest task failed: {0}")]
    Task(String),
}

/// Everything the ingest service needs.
pub struct IngestArgs<S> {
    /// `[ingest]` settings.
    pub config: IngestConfig,
    /// Broker connection.
    pub mqtt: MqttConfig,
    /// The store readings and dead letters go to.
    pub store: S,
    /// Station and parameter registry.
    pub registry: Arc<Registry>,
    /// Clock for reception times.
    pub clock: Arc<dyn Clock>,
}

/// Runs the ingest service until `shutdown` fires, then drains: messages already received
/// are committed and acknowledged, the rest stay with the broker for next time.
///
/// The stations' HJ 212 access passwords are loaded here, from `config.station_secrets`
/// and the environment ([`secrets::load_configured`]).
///
/// # Errors
/// Configuration problems found before starting (the station secrets among them), or a
/// task that panicked.
pub async fn run<S>(args: IngestArgs<S>, shutdown: CancellationToken) -> Result<(), Error>
where
    S: StoreWriter + 'static,
{
    let IngestArgs {
        config,
        mqtt,
        store,
        registry,
        clock,
    } = args;
    config.validate()?;
    if config.publish_readings && mqtt.keys.is_none() {
        // Unsigned readings would be refused by analytics.
        return Err(Error::Mqtt(MqttConfigError::NoKey));
    }
    let filters = filters(&config, &mqtt)?;
    let session = SessionOptions::new(&mqtt, &config.client_id)?;
    let passwords = secrets::load_configured(&config, &registry)?;
    if !passwords.is_empty() {
        info!(
            stations = passwords.len(),
            "HJ 212 access passwords are checked."
        );
    }
    let mg_m3_stations = mg_m3_stations(&config, &registry)?;
    let metrics = Metrics::new();
    // Packets of split messages kept by an earlier run: taken up again before reading on.
    let mut store = store;
    let held = store.held_packets().await?;

    // Runs of up to RUN messages: at most `channel_capacity` messages wait in the channel.
    let (input_tx, input_rx) = mpsc::channel(runs_for(config.channel_capacity));
    let (demand_tx, demand_rx) = mpsc::channel(1);
    // Bounded: a subscriber that cannot write acks as fast as commits make them slows the
    // committer down instead of letting them pile up.
    let (ack_tx, ack_rx) = ack_channel();
    let publisher_done = CancellationToken::new();
    let (publisher, driver) = if config.publish_readings || config.watch_broker_drops {
        let out_id = format!("{}-out", config.client_id);
        let watch = config.watch_broker_drops.then(|| metrics.clone());
        let (p, d) = ReadingsPublisher::new(&mqtt, &out_id, watch, clock.clone())?;
        (config.publish_readings.then_some(p), Some(d))
    } else {
        (None, None)
    };

    info!(client_id = %config.client_id, filters = ?filters, broker = %mqtt.url, "Ingest starting.");
    let source = Subscriber::new(session, filters, clock.clone(), metrics.clone());
    let settings = BatcherSettings {
        max_readings: config.max_batch_readings,
        max_payload_bytes: config.max_payload_bytes,
        future_tolerance: chrono::Duration::from_std(config.future_tolerance())
            .unwrap_or(chrono::Duration::minutes(10)),
        reassembly: Limits {
            timeout: std::time::Duration::from_secs(config.reassembly_timeout_secs),
            max_open_per_station: config.reassembly_max_open_per_station,
            max_open: config.reassembly_max_open,
            max_packets: config.reassembly_max_held_packets,
        },
        linger: std::time::Duration::from_millis(config.commit_linger_ms),
        passwords: passwords.clone(),
        mg_m3_stations,
    };
    // The loggers' listener, bound before anything starts so a taken port stops the service.
    let (frames, listener) = match &config.hj212_tcp.listen {
        Some(addr) => {
            let listener = tcp::bind(addr).await?;
            let (tx, rx) = mpsc::channel(runs_for(config.channel_capacity).max(64));
            let shared = Arc::new(tcp::Shared {
                config: config.hj212_tcp.clone(),
                registry: registry.clone(),
                topics: mqtt.topics(),
                frames: tx,
                passwords,
                clock: clock.clone(),
                backfill: tcp::backfill::Backfill::new(config.hj212_tcp.backfill_requests),
            });
            (Some(rx), Some((listener, shared)))
        }
        None => (None, None),
    };
    let mut tasks = tokio::task::JoinSet::new();
    let driver_task = driver.map(|d| tokio::spawn(d.run(publisher_done.clone())));
    tasks.spawn(source.run(input_tx, ack_rx, shutdown.clone()));
    if let Some((listener, shared)) = listener {
        tasks.spawn(tcp::listen(listener, shared, shutdown.clone()));
    }
    let batcher_args = BatcherArgs {
        registry: registry.clone(),
        topics: mqtt.topics(),
        settings,
        held,
        clock,
        frames,
    };
    tasks.spawn(batcher(batcher_args, input_rx, demand_rx));
    let committed = tokio::spawn(committer(
        store, registry, demand_tx, ack_tx, publisher, metrics, shutdown,
    ));
    let mut failure = None;
    if let Err(e) = committed.await {
        failure = Some(e.to_string());
    }
    publisher_done.cancel();
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            failure.get_or_insert(e.to_string());
        }
    }
    if let Some(d) = driver_task
        && let Err(e) = d.await
    {
        failure.get_or_insert(e.to_string());
    }
    info!("Ingest stopped.");
    match failure {
        Some(f) => Err(Error::Task(f)),
        None => Ok(()),
    }
}

/// The station ids of `hj212_mg_m3_stations` (given as ids or MNs).
///
/// # Errors
/// A name that is neither a station id nor an MN of the registry.
pub fn mg_m3_stations(
    config: &IngestConfig,
    registry: &Registry,
) -> Result<std::collections::HashSet<String>, ConfigError> {
    config
        .hj212_mg_m3_stations
        .iter()
        .map(|s| {
            registry
                .station(s)
                .or_else(|| registry.station_by_mn(s))
                .map(|st| st.id.to_string())
                .ok_or_else(|| {
                    ConfigError::Missing(format!(
                        "hj212_mg_m3_stations: `{s}` is neither a station id nor an MN of the registry"
                    ))
                })
        })
        .collect()
}
