//! The analytics service: readings in from MQTT, the engine, events out.
//!
//! [`run`] subscribes to `{prefix}/readings/+` with a persistent QoS 1 session under a
//! stable client id (core's acking subscriber, [`crate::source`]), evaluates batches of
//! messages with the
//! [`Engine`], and acknowledges the messages only after the engine committed what they
//! produced to the evaluation store; then the events go out on `{prefix}/events/{subject}`
//! ([`crate::publish`]). A periodic tick closes the open day of stations that went silent;
//! a [`Control`] channel lets the caller say that observation time has passed.
//!
//! Every readings message must carry ingest's MAC (core's [`riverwatch_core::mqtt::auth`]);
//! one without a valid MAC, that does not parse, or with a reading from beyond the clock's
//! window is not evaluated: it is kept in the evaluation store's `rejected_messages` with its
//! reason, counted, and acknowledged.
//!
//! With the SQLite readings store, what is judged is the store's commit log after the
//! engine's cursor (kept in the evaluation store in the same transaction as the results):
//! at start, on every readings message and on every tick. So a reading committed but never
//! announced (ingest died in between) is judged, and none is judged twice. The InfluxDB
//! stores log their commits the same way in ingest's local database (the `influx_index`
//! file), and the InfluxDB readers read that log when the file is in analytics' data
//! directory; when it is not (analytics on another host), the reader offers no log, this is
//! logged at start, and the messages' readings are judged instead.
//!
//! A step that fails on a temporary store problem is retried with backoff on an engine
//! reloaded from the store (the failed step left nothing behind), so nothing is skipped.
//! Shutdown: the source stops taking messages, the batch in hand is finished and
//! acknowledged, the publisher sends what is queued, both connections close.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use riverwatch_core::backoff::Backoff;
use riverwatch_core::mqtt::auth::{Refusal, RefusalCode, Rejected, Verifier};
use riverwatch_core::mqtt::subscriber::runs_for;
use riverwatch_core::mqtt::{MqttConfig, SessionOptions};
use riverwatch_core::reading::ReadingsMessage;
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::StoreReader;
use riverwatch_core::time::Clock;
use riverwatch_core::topics::{TopicKind, valid_filter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, error, info, info_span, warn};

use crate::Error;
use crate::config::AnalyticsConfig;
use crate::engine::{Engine, EngineArgs};
use crate::publish::{EventPublisher, publisher};
use crate::source::{BrokerMessage, PacketAck, Subscriber};
use crate::store::AnalyticsStore;
use crate::telemetry::Metrics;

/// Instructions to a running service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Observation time has passed `t`: close every station's windows ending by then.
    CloseThrough(DateTime<Utc>),
}

/// Everything the analytics service needs.
pub struct AnalyticsArgs<R> {
    /// `[analytics]` settings.
    pub config: AnalyticsConfig,
    /// Broker connection.
    pub mqtt: MqttConfig,
    /// The readings store (SQLite or InfluxDB reader).
    pub reader: R,
    /// The network.
    pub registry: Arc<Registry>,
    /// Data directory: the evaluation store is `{data_dir}/{store_file}`.
    pub data_dir: PathBuf,
    /// The wall clock (a `ManualClock` in tests).
    pub clock: Arc<dyn Clock>,
    /// Instructions while running; none when `None`.
    pub control: Option<mpsc::Receiver<Control>>,
}

/// The subscription filter: `{prefix}/readings/+`.
///
/// # Errors
/// A prefix that does not make a valid MQTT filter.
pub fn filter(mqtt: &MqttConfig) -> Result<String, Error> {
    let f = mqtt.topics().filter(TopicKind::Readings);
    if valid_filter(&f) {
        Ok(f)
    } else {
        Err(Error::Config(crate::config::ConfigError::Unknown {
            field: "mqtt.topic_prefix".into(),
            message: format!("`{f}` is not a valid MQTT filter"),
        }))
    }
}

/// Runs the analytics service until `shutdown` fires, then drains.
///
/// # Errors
/// Configuration problems found before starting, an evaluation store that cannot be
/// opened, or a task that panicked.
pub async fn run<R>(args: AnalyticsArgs<R>, shutdown: CancellationToken) -> Result<(), Error>
where
    R: StoreReader + Clone + 'static,
{
    let AnalyticsArgs {
        config,
        mqtt,
        reader,
        registry,
        data_dir,
        clock,
        mut control,
    } = args;
    config.validate()?;
    config.validate_against(&registry)?;
    let filter = filter(&mqtt)?;
    let path = data_dir.join(&config.store_file);
    let store = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || AnalyticsStore::open(&path))
            .await
            .map_err(|e| Error::Task(e.to_string()))??
    };
    let metrics = Metrics::new();
    let config = Arc::new(config);
    let engine_args = {
        let (registry, config, reader, store, clock, metrics) = (
            registry.clone(),
            config.clone(),
            reader.clone(),
            store.clone(),
            clock.clone(),
            metrics.clone(),
        );
        move || EngineArgs {
            registry: registry.clone(),
            config: config.clone(),
            reader: reader.clone(),
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
        }
    };
    let mut engine = Engine::load(engine_args(), shutdown.clone()).await?;

    let verifier = mqtt.verifier("analytics")?;
    let session = SessionOptions::new(&mqtt, &config.client_id)?;
    let out_id = format!("{}-out", config.client_id);
    let (events_out, driver) = publisher(
        &mqtt,
        &out_id,
        store.clone(),
        metrics.clone(),
        clock.clone(),
    )?;
    info!(client_id = %config.client_id, %filter, store = %path.display(), broker = %mqtt.url, "Analytics starting.");

    // Runs of messages: at most `channel_capacity` messages wait in the channel.
    let (in_tx, mut in_rx) = mpsc::channel::<Vec<BrokerMessage>>(runs_for(config.channel_capacity));
    let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Vec<PacketAck>>();
    let publisher_done = CancellationToken::new();
    let driver_task = tokio::spawn(
        driver
            .run(publisher_done.clone())
            .instrument(info_span!("analytics_publisher")),
    );
    // Judge what the readings store holds beyond the cursor (readings committed while
    // analytics was down, or never announced) before taking new messages.
    let log = match catch_up(&mut engine, &events_out).await {
        Ok(log) => log,
        Err(error) => {
            warn!(%error, "Catching up with the readings store failed; trying again on the next tick.");
            engine = Engine::load(engine_args(), shutdown.clone()).await?;
            true
        }
    };
    if log {
        info!(
            cursor = engine.cursor().unwrap_or(0),
            "Judging the readings store's commits in order; readings messages only signal new ones."
        );
    } else {
        info!(
            "The readings store offers no commit log here (InfluxDB without ingest's local \
             database in this data directory): judging the readings messages as they arrive; \
             readings committed but never announced are not judged."
        );
    }
    let source = Subscriber::new(session, vec![filter], clock.clone(), ());
    let source_task = tokio::spawn(
        source
            .run(in_tx, ack_rx, shutdown.clone())
            .instrument(info_span!("analytics_source")),
    );

    let mut tick = tokio::time::interval(Duration::from_millis(config.tick_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failure = None;
    // Messages received and not yet in a batch (a run may hold more than a batch takes).
    let mut held: VecDeque<BrokerMessage> = VecDeque::new();
    loop {
        let batch = tokio::select! {
            // Cancel-safe: mpsc receives.
            first = in_rx.recv(), if held.is_empty() => match first {
                Some(run) => {
                    held.extend(run);
                    next_batch(&mut held, &mut in_rx, config.max_batch_messages)
                }
                // The source stopped (shutdown).
                None => break,
            },
            () = std::future::ready(()), if !held.is_empty() => {
                next_batch(&mut held, &mut in_rx, config.max_batch_messages)
            }
            _ = tick.tick() => {
                // A commit that was never announced is judged by the next tick at the latest.
                if log && let Err(error) = catch_up(&mut engine, &events_out).await {
                    warn!(%error, "Catching up with the readings store failed; trying again on the next tick.");
                    match Engine::load(engine_args(), shutdown.clone()).await {
                        Ok(fresh) => engine = fresh,
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    }
                    continue;
                }
                let events = engine.tick().await;
                publish_or_log(&events_out, events).await;
                continue;
            }
            c = async {
                match control.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match c {
                    Some(Control::CloseThrough(t)) => {
                        let events = engine.close_through(t).await;
                        publish_or_log(&events_out, events).await;
                    }
                    None => control = None,
                }
                continue;
            }
        };
        let (messages, refused) = open_batch(&verifier, &batch, clock.now());
        if !refused.is_empty() {
            metrics.bad_messages.add(refused.len() as u64);
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.keep_rejected(&refused)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!(error = %e, "Cannot keep refused readings messages."),
                Err(e) => error!(error = %e, "Cannot keep refused readings messages."),
            }
        }
        let mut backoff = Backoff::network();
        let committed = loop {
            // With a commit log the store, not the message, says what to judge: the
            // message's readings are among the commits after the cursor.
            let step = if log {
                catch_up(&mut engine, &events_out).await.map(|_| Vec::new())
            } else {
                engine.handle(messages.clone()).await
            };
            match step {
                Ok(events) => break Some(events),
                Err(e) if shutdown.is_cancelled() => {
                    info!(error = %e, "Shutting down in the middle of a step; the broker keeps those readings.");
                    break None;
                }
                Err(e) if e.is_retryable() => {
                    metrics.retries.inc();
                    let delay = backoff.next_delay();
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Evaluation step failed; retrying.");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => {}
                    }
                    match Engine::load(engine_args(), shutdown.clone()).await {
                        Ok(fresh) => engine = fresh,
                        Err(e) => {
                            failure = Some(e.to_string());
                            break None;
                        }
                    }
                }
                Err(e) => {
                    error!(error = %e, messages = batch.len(), "Evaluation step failed and cannot succeed; the readings are acknowledged without evaluation.");
                    match Engine::load(engine_args(), shutdown.clone()).await {
                        Ok(fresh) => engine = fresh,
                        Err(e) => failure = Some(e.to_string()),
                    }
                    break Some(Vec::new());
                }
            }
        };
        let Some(events) = committed else { break };
        let _ = ack_tx.send(batch.iter().map(PacketAck::from).collect());
        events_out.publish(events).await;
        if failure.is_some() {
            break;
        }
    }
    // Closing the ack channel lets the source disconnect once its acks are written.
    drop(ack_tx);
    drop(in_rx);
    if let Err(e) = source_task.await {
        failure.get_or_insert(e.to_string());
    }
    drop(events_out);
    publisher_done.cancel();
    if let Err(e) = driver_task.await {
        failure.get_or_insert(e.to_string());
    }
    info!("Analytics stopped.");
    match failure {
        Some(f) => Err(Error::Task(f)),
        None => Ok(()),
    }
}

/// The readings messages of a batch that carry a valid MAC, parse, and hold no reading
/// from beyond the clock's window; the others, refused with their reasons (logged and
/// counted in `internal_messages_refused_total{service="analytics"}`).
fn open_batch(
    verifier: &Verifier,
    batch: &[BrokerMessage],
    now: DateTime<Utc>,
) -> (Vec<ReadingsMessage>, Vec<Rejected>) {
    let mut messages = Vec::with_capacity(batch.len());
    let mut refused = Vec::new();
    for m in batch {
        let topic = &m.publish.topic;
        let opened = verifier.open(topic, &m.publish.payload).and_then(|signed| {
            let msg = serde_json::from_slice::<ReadingsMessage>(&signed)
                .map_err(|e| Refusal::new(RefusalCode::Malformed, e.to_string()))?;
            for r in &msg.readings {
                verifier
                    .window
                    .check_ahead("reading time", r.observed_at, now)?;
            }
            Ok(msg)
        });
        match opened {
            Ok(msg) => messages.push(msg),
            Err(refusal) => {
                verifier.count(refusal.code);
                warn!(%topic, reason = %refusal, "Readings message refused; kept in rejected_messages, not evaluated.");
                refused.push(Rejected {
                    received_at: m.received_at,
                    topic: topic.clone(),
                    refusal,
                    payload: m.publish.payload.to_vec(),
                });
            }
        }
    }
    (messages, refused)
}

/// Judges the readings store's commits after the engine's cursor until none wait,
/// publishing each step's events; `false` when the store keeps no commit log.
async fn catch_up<R>(engine: &mut Engine<R>, out: &EventPublisher) -> Result<bool, Error>
where
    R: StoreReader + Clone + 'static,
{
    loop {
        match engine.catch_up().await? {
            None => return Ok(false),
            Some((events, more)) => {
                out.publish(events).await;
                if !more {
                    return Ok(true);
                }
            }
        }
    }
}

/// Up to `max` messages: those held, topped up with what is waiting in the channel.
fn next_batch(
    held: &mut VecDeque<BrokerMessage>,
    rx: &mut mpsc::Receiver<Vec<BrokerMessage>>,
    max: usize,
) -> Vec<BrokerMessage> {
    while held.len() < max {
        match rx.try_recv() {
            Ok(run) => held.extend(run),
            Err(_) => break,
        }
    }
    let n = held.len().min(max);
    held.drain(..n).collect()
}

async fn publish_or_log(
    out: &EventPublisher,
    events: Result<Vec<riverwatch_core::events::Event>, Error>,
) {
    match events {
        Ok(events) => out.publish(events).await,
        Err(error) => {
            warn!(%error, "Closing windows failed; they close again on the next tick or reading.")
        }
    }
}
