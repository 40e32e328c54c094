//! The two stages between the sources (the MQTT subscriber, the HJ 212 TCP connections) and
//! their acknowledgements: the batcher decodes and validates messages as they arrive; the
//! committer pulls whatever the batcher has gathered, writes it durably in one transaction,
//! then acknowledges the messages (broker acks to the subscriber, 9014 replies on the
//! loggers' connections) and publishes the new readings.
//!
//! The committer *pulls* (it asks for a batch when it is free), so batches grow with load:
//! one message per commit when quiet, thousands when a backlog drains, with no timer to
//! tune. Messages are acknowledged only after their readings and dead letters are
//! committed; nothing that was not committed is ever acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use riverwatch_core::backoff::Backoff;
use riverwatch_core::mqtt::{BrokerMessage, PacketAck};
use riverwatch_core::reading::{Reading, ReadingRef, ReadingsJson};
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::{
    Conflict, HeldChange, HeldPacket, StoreWriter, WriteBatch, WriteReport,
};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::{TopicKind, Topics};
use riverwatch_core::{DeadLetter, ReasonCode, StationId};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, trace, warn};

use crate::decode::password::StationPasswords;
use crate::decode::reassembly::{self, Limits, Offer, Reassembler};
use crate::decode::{Decoded, Message, Outcome, Validator, conflict_dead_letter, hj212};
use crate::publish::ReadingsPublisher;
use crate::tcp::{Reply, StreamFrame, StreamInput};
use crate::telemetry::Metrics;

/// What the committer writes and then acknowledges.
#[derive(Debug, Default)]
pub struct Commit {
    /// Readings and dead letters.
    pub write: WriteBatch,
    /// The broker messages to acknowledge after the commit.
    pub acks: Vec<PacketAck>,
    /// The replies (9014) to write on loggers' connections after the commit.
    pub replies: Vec<Reply>,
    /// Stream inputs taken that produced nothing to write (counted for the batch size).
    pub stream_inputs: usize,
    /// The message each reading came from, for the dead letter of a reading the store
    /// refuses as a conflict: message `i` gave the readings before `origins[i].end`.
    pub origins: Vec<Origin>,
}

/// A message that gave readings to a batch.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The batch's reading count after this message's readings.
    pub end: usize,
    /// Its topic.
    pub topic: String,
    /// Its raw payload (the joined packets of a split HJ 212 message).
    pub payload: bytes::Bytes,
    /// When it was received.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl Commit {
    fn is_empty(&self) -> bool {
        self.acks.is_empty()
            && self.write.is_empty()
            && self.replies.is_empty()
            && self.stream_inputs == 0
    }

    /// Messages of either source in the batch.
    fn messages(&self) -> usize {
        self.acks.len() + self.stream_inputs
    }

    fn add(&mut self, msg: &Message<'_>, outcome: Outcome) {
        if !outcome.readings.is_empty() {
            self.origins.push(Origin {
                end: self.write.readings.len() + outcome.readings.len(),
                topic: msg.topic.to_string(),
                payload: msg.payload.clone(),
                received_at: msg.received_at,
            });
        }
        self.write.readings.extend(outcome.readings);
        self.write.dead_letters.extend(outcome.dead_letters);
    }
}

/// The `conflicting_value` dead letters of the readings a store refused (`conflicts`),
/// each with the message it came from.
pub fn conflict_dead_letters(
    write: &WriteBatch,
    origins: &[Origin],
    conflicts: &[Conflict],
) -> Vec<DeadLetter> {
    let none = bytes::Bytes::new();
    conflicts
        .iter()
        .filter_map(|c| {
            let reading = write.readings.get(c.index)?;
            let origin = origins[origins.partition_point(|o| o.end <= c.index)..].first();
            // Without its message (a caller that kept none) the conflict is still kept,
            // with an empty payload: never dropped.
            let msg = match origin {
                Some(o) => Message {
                    topic: &o.topic,
                    payload: &o.payload,
                    received_at: o.received_at,
                },
                None => Message {
                    topic: "",
                    payload: &none,
                    received_at: reading.received_at,
                },
            };
            Some(conflict_dead_letter(&msg, reading, c))
        })
        .collect()
}

/// The committer's request for the next batch. It hands back the emptied vectors of the
/// batch it finished, so a steady stream reuses two batches' worth of memory instead of
/// growing fresh vectors (and faulting in fresh pages) for every commit.
#[derive(Debug)]
pub struct Demand {
    /// Where the batch goes.
    pub reply: oneshot::Sender<Commit>,
    /// An empty batch with capacity, for the batcher to fill next.
    pub spare: Option<Commit>,
}

impl Commit {
    /// Empties the batch, keeping its capacity.
    fn clear(&mut self) {
        self.write.readings.clear();
        self.write.dead_letters.clear();
        self.write.held.clear();
        self.acks.clear();
        self.replies.clear();
        self.stream_inputs = 0;
        self.origins.clear();
    }
}

/// Batcher settings.
#[derive(Debug, Clone)]
pub struct BatcherSettings {
    /// Stop taking messages once a batch holds this many readings.
    pub max_readings: usize,
    /// Largest accepted payload.
    pub max_payload_bytes: usize,
    /// Clock-skew tolerance.
    pub future_tolerance: chrono::Duration,
    /// How long and how many packets of incomplete HJ 212 messages are held.
    pub reassembly: Limits,
    /// Longest a batch that is not full is held for more messages once the committer asks.
    pub linger: Duration,
    /// The HJ 212 access passwords of the stations that have one.
    pub passwords: StationPasswords,
    /// Stations whose HJ 212 µg/m³ values arrive in mg/m³.
    pub mg_m3_stations: std::collections::HashSet<String>,
}

/// A held batch goes to the committer once no message has arrived for this long: the
/// stream has paused (or the broker waits for acks before it sends more).
const QUIET: Duration = Duration::from_millis(2);

/// The inputs of the [`batcher`].
pub struct BatcherArgs {
    /// Station and parameter registry.
    pub registry: Arc<Registry>,
    /// The topic layout.
    pub topics: Topics,
    /// Settings.
    pub settings: BatcherSettings,
    /// The packets of split messages the store kept (unfinished messages of an earlier run).
    pub held: Vec<HeldPacket>,
    /// Dates the expiry of split messages.
    pub clock: Arc<dyn Clock>,
    /// Frames of the HJ 212 TCP connections, when ingest listens for loggers.
    pub frames: Option<mpsc::Receiver<StreamInput>>,
}

/// Decodes messages into a batch until the committer asks for it.
pub async fn batcher(
    args: BatcherArgs,
    mut input: mpsc::Receiver<Vec<BrokerMessage>>,
    mut demand: mpsc::Receiver<Demand>,
) {
    let BatcherArgs {
        registry,
        topics,
        settings,
        held,
        clock,
        mut frames,
    } = args;
    let validator = Validator {
        registry: &registry,
        future_tolerance: settings.future_tolerance,
        max_payload_bytes: settings.max_payload_bytes,
        passwords: &settings.passwords,
        mg_m3_stations: &settings.mg_m3_stations,
    };
    let mut reassembler = Reassembler::new(settings.reassembly);
    if !held.is_empty() {
        info!(
            packets = held.len(),
            "Unfinished multi-packet messages of an earlier run taken up again."
        );
        reassembler.restore(held);
    }
    let mut pending = Commit::default();
    let mut waiting: Option<oneshot::Sender<Commit>> = None;
    let mut spare: Option<Commit> = None;
    let mut input_open = true;
    let mut frames_open = frames.is_some();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // While the committer waits and the batch is not full, the batch is held until the
    // stream pauses for QUIET or `linger` has passed since the committer asked.
    let mut hold_until: Option<tokio::time::Instant> = None;
    let mut last_arrival = tokio::time::Instant::now();
    loop {
        if !input_open && !frames_open && pending.is_empty() {
            break;
        }
        // Messages that produce only dead letters count too, so a flood of bad input
        // cannot grow a batch without bound.
        let room = pending.write.readings.len() < settings.max_readings
            && pending.messages() < settings.max_readings
            && pending.write.dead_letters.len() < settings.max_readings;
        if !pending.is_empty() && waiting.is_some() {
            let now = tokio::time::Instant::now();
            let until = *hold_until.get_or_insert(now + settings.linger);
            let release = !room || !input_open || now >= until || now >= last_arrival + QUIET;
            if release && let Some(tx) = waiting.take() {
                hold_until = None;
                let next = spare.take().unwrap_or_default();
                if tx.send(std::mem::replace(&mut pending, next)).is_err() {
                    break;
                }
                continue;
            }
        }
        let held = waiting.is_some() && !pending.is_empty();
        let wake = hold_until
            .map(|u| u.min(last_arrival + QUIET))
            .unwrap_or(last_arrival);
        tokio::select! {
            biased;
            request = demand.recv(), if waiting.is_none() => match request {
                Some(Demand { reply, spare: returned }) => {
                    waiting = Some(reply);
                    if let Some(mut b) = returned {
                        b.clear();
                        spare = Some(b);
                    }
                }
                None => break,
            },
            message = input.recv(), if input_open && room => match message {
                Some(run) => {
                    last_arrival = tokio::time::Instant::now();
                    for delivery in run {
                        decode_one(&validator, &topics, &mut reassembler, &mut pending, delivery);
                    }
                }
                None => input_open = false,
            },
            input = next_frame(&mut frames), if frames_open && room => match input {
                Some(input) => {
                    last_arrival = tokio::time::Instant::now();
                    decode_stream(&validator, &mut reassembler, &mut pending, input);
                }
                None => frames_open = false,
            },
            () = tokio::time::sleep_until(wake), if held => {}
            _ = tick.tick() => {
                for expired in reassembler.expire(clock.now()) {
                    let mut dead = [expired.dead_letter];
                    validator.redact(&mut dead);
                    pending.write.dead_letters.extend(dead);
                    pending.write.held.push(reassembly::release(&expired.key));
                }
            }
        }
    }
    if reassembler.waiting() > 0 {
        info!(
            messages = reassembler.waiting(),
            packets = reassembler.held(),
            "Unfinished multi-packet messages kept in the store for the next start."
        );
    }
}

/// The next input of the TCP connections (never, without a listener).
async fn next_frame(frames: &mut Option<mpsc::Receiver<StreamInput>>) -> Option<StreamInput> {
    match frames {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Decodes what a logger's connection handed over, exactly as an MQTT message of its
/// station; its 9014 joins the batch, to be sent after the commit. A frame refused as a
/// whole for its access password is not answered: the logger keeps it and sends it again
/// once the password is set right.
fn decode_stream(
    validator: &Validator<'_>,
    reassembler: &mut Reassembler,
    pending: &mut Commit,
    input: StreamInput,
) {
    pending.stream_inputs += 1;
    let StreamFrame {
        station,
        topic,
        bytes,
        received_at,
        max_segment_len,
        reply,
    } = match input {
        StreamInput::Dead(dead) => {
            let mut dead = [*dead];
            validator.redact(&mut dead);
            pending.write.dead_letters.extend(dead);
            return;
        }
        StreamInput::Frame(f) => f,
    };
    let msg = Message {
        topic: &topic,
        payload: &bytes,
        received_at,
    };
    match validator.decode_stream(&msg, station.as_str(), max_segment_len) {
        Decoded::Done(outcome) => {
            let refused = outcome.readings.is_empty()
                && outcome
                    .dead_letters
                    .iter()
                    .any(|d| d.reason_code == ReasonCode::BadPassword);
            pending.add(&msg, outcome);
            if let Some(r) = reply.filter(|_| !refused) {
                pending.replies.push(r);
            }
        }
        Decoded::Partial(packet) => {
            let payload = validator.storable(&packet.station, &bytes);
            let offered = reassembler.offer(*packet, &topic, payload, received_at);
            add_offer(validator, pending, offered);
            pending.replies.extend(reply);
        }
    }
}

fn decode_one(
    validator: &Validator<'_>,
    topics: &Topics,
    reassembler: &mut Reassembler,
    pending: &mut Commit,
    delivery: BrokerMessage,
) {
    let publish = &delivery.publish;
    let msg = Message {
        topic: &publish.topic,
        payload: &publish.payload,
        received_at: delivery.received_at,
    };
    let Some((kind, station)) = topics.parse(&publish.topic) else {
        pending.write.dead_letters.push(DeadLetter {
            received_at: delivery.received_at,
            topic: publish.topic.clone(),
            payload: publish.payload.clone(),
            reason_code: ReasonCode::UnknownStation,
            reason: "topic is not {prefix}/obs/{station} or {prefix}/hj212/{station}".to_string(),
            station: None,
            parameter: None,
        });
        pending.acks.push(delivery.into());
        return;
    };
    let kind = if kind == TopicKind::Hj212 {
        TopicKind::Hj212
    } else {
        TopicKind::Obs
    };
    match validator.decode(&msg, kind, station) {
        Decoded::Done(outcome) => {
            trace!(topic = %publish.topic, readings = outcome.readings.len(), rejected = outcome.dead_letters.len(), "Decoded.");
            pending.add(&msg, outcome);
            pending.acks.push(delivery.into());
        }
        Decoded::Partial(packet) => {
            // The packet is kept by the store with this batch, so it is acknowledged with it.
            let payload = validator.storable(&packet.station, &publish.payload);
            let offered = reassembler.offer(*packet, &publish.topic, payload, delivery.received_at);
            add_offer(validator, pending, offered);
            pending.acks.push(delivery.into());
        }
    }
}

/// Adds what a packet offered to the reassembler produced to the batch.
fn add_offer(validator: &Validator<'_>, pending: &mut Commit, offered: Offer) {
    match offered {
        Offer::Kept(held) => pending.write.held.push(HeldChange::Keep(*held)),
        Offer::Duplicate => {}
        Offer::Refused(dead) => {
            let mut dead = [*dead];
            validator.redact(&mut dead);
            pending.write.dead_letters.extend(dead);
        }
        Offer::Complete(done) => {
            pending.write.held.push(reassembly::release(&done.key));
            let joined = Message {
                topic: &done.topic,
                payload: &done.payload,
                received_at: done.received_at,
            };
            let mut outcome = match (&done.cp, validator.registry.station(done.station.as_str())) {
                (Ok(cp), Some(station)) => {
                    hj212::values(validator, &joined, station, &done.frame, cp)
                }
                (Err(why), _) => Outcome {
                    readings: vec![],
                    dead_letters: vec![validator.reject(
                        &joined,
                        ReasonCode::MalformedFrame,
                        why.clone(),
                        Some(done.station.as_str()),
                    )],
                },
                (Ok(_), None) => Outcome {
                    readings: vec![],
                    dead_letters: vec![validator.reject(
                        &joined,
                        ReasonCode::UnknownStation,
                        format!("station {} left the registry", done.station),
                        None,
                    )],
                },
            };
            validator.redact(&mut outcome.dead_letters);
            pending.add(&joined, outcome);
        }
    }
}

/// Writes batches durably, then acknowledges and publishes them.
#[allow(clippy::too_many_arguments)]
pub async fn committer<S: StoreWriter>(
    mut store: S,
    registry: Arc<Registry>,
    demand: mpsc::Sender<Demand>,
    acks: mpsc::Sender<Vec<PacketAck>>,
    publisher: Option<ReadingsPublisher>,
    metrics: Metrics,
    token: CancellationToken,
) {
    let mut backoff = Backoff::network();
    let mut spare: Option<Commit> = None;
    'batches: loop {
        let (reply, rx) = oneshot::channel();
        let request = Demand {
            reply,
            spare: spare.take(),
        };
        if demand.send(request).await.is_err() {
            break;
        }
        let Ok(batch) = rx.await else {
            break;
        };
        let Commit {
            write,
            acks: mut to_ack,
            mut replies,
            mut origins,
            ..
        } = batch;
        let write = Arc::new(write);
        let span = info_span!(
            "commit",
            readings = write.readings.len(),
            dead_letters = write.dead_letters.len(),
            messages = to_ack.len(),
            replies = replies.len()
        );
        let durable = write_durably(&mut store, &write, &mut backoff, &metrics, &token, &span);
        let Some(report) = durable.await else {
            warn!(
                messages = to_ack.len(),
                "Stopping with an uncommitted batch; the broker will redeliver it."
            );
            break 'batches;
        };
        if !report.conflicts.is_empty() {
            // Readings that contradict stored ones: their dead letters are committed before
            // the messages are acknowledged (a crash in between redelivers the messages, and
            // the store finds the same conflicts again).
            let dead = WriteBatch {
                readings: Vec::new(),
                dead_letters: conflict_dead_letters(&write, &origins, &report.conflicts),
                held: Vec::new(),
            };
            for d in &dead.dead_letters {
                metrics.dead_letter(d.reason_code);
            }
            let dead = Arc::new(dead);
            let durable = write_durably(&mut store, &dead, &mut backoff, &metrics, &token, &span);
            if durable.await.is_none() {
                warn!(
                    messages = to_ack.len(),
                    "Stopping before the conflicts of a batch were kept; the broker will redeliver it."
                );
                break 'batches;
            }
        }
        let new: usize = report.inserted.iter().filter(|&&b| b).count();
        metrics.commits.inc();
        metrics.stored.add(new as u64);
        metrics.duplicates.add(report.duplicates as u64);
        metrics.last_batch.set(write.readings.len() as u64);
        for d in &write.dead_letters {
            metrics.dead_letter(d.reason_code);
        }
        // The source may be gone at shutdown; the broker then redelivers and the store
        // ignores the copy.
        if !to_ack.is_empty() {
            let _ = acks.send(std::mem::take(&mut to_ack)).await;
        }
        for reply in replies.drain(..) {
            reply.send();
        }
        if let Some(p) = &publisher {
            for (station, body) in readings_payloads(&registry, &write, &report.inserted) {
                p.publish(&station, body).await;
            }
        }
        // The store keeps no copy once the write returned; if it did, a new batch is grown.
        if let Ok(write) = Arc::try_unwrap(write) {
            origins.clear();
            spare = Some(Commit {
                write,
                acks: to_ack,
                replies,
                stream_inputs: 0,
                origins,
            });
        }
    }
    store_close(&mut store).await;
}

/// Writes `write` until the store reports it durable, retrying with backoff; `None` when
/// `token` fires first. A failure episode is logged once when it starts (an error) and once
/// when it ends (with the number of failed attempts); every failed attempt is counted in
/// `ingest_store_errors_total`.
async fn write_durably<S: StoreWriter>(
    store: &mut S,
    write: &Arc<WriteBatch>,
    backoff: &mut Backoff,
    metrics: &Metrics,
    token: &CancellationToken,
    span: &tracing::Span,
) -> Option<WriteReport> {
    let mut failures: u32 = 0;
    loop {
        let started = std::time::Instant::now();
        match store.write(write.clone()).instrument(span.clone()).await {
            Ok(report) => {
                metrics.commit_seconds.observe_duration(started.elapsed());
                backoff.reset();
                if failures > 0 {
                    info!(
                        failed_attempts = failures,
                        "Store writable again; the held messages are committed."
                    );
                }
                return Some(report);
            }
            Err(error) => {
                metrics.store_errors.inc();
                failures += 1;
                let delay = backoff.next_delay();
                if failures == 1 {
                    error!(%error, retry_in_ms = delay.as_millis() as u64, "Store write failed; retrying with backoff, messages stay unacknowledged until it succeeds.");
                } else {
                    debug!(%error, attempt = failures, retry_in_ms = delay.as_millis() as u64, "Store write failed again.");
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = token.cancelled() => return None,
                }
            }
        }
    }
}

async fn store_close<S: StoreWriter>(store: &mut S) {
    if let Err(error) = store.close().await {
        error!(%error, "Closing the store failed.");
    }
}

/// The newly stored readings of a batch as one readings-out payload per station (JSON of
/// a [`riverwatch_core::reading::ReadingsMessage`]), stations in id order, readings in
/// arrival order.
pub fn readings_payloads(
    registry: &Registry,
    write: &WriteBatch,
    inserted: &[bool],
) -> Vec<(StationId, Vec<u8>)> {
    let mut by_station: BTreeMap<&StationId, Vec<&Reading>> = BTreeMap::new();
    for (r, &new) in write.readings.iter().zip(inserted) {
        if new {
            by_station.entry(&r.station).or_default().push(r);
        }
    }
    by_station
        .into_iter()
        .map(|(station, readings)| {
            let mut json = ReadingsJson::new(station, readings.len());
            for r in readings {
                let unit = registry
                    .parameter(r.parameter.as_str())
                    .map_or("", |p| p.unit.as_str());
                json.push(ReadingRef {
                    parameter: r.parameter.as_str(),
                    value: r.value,
                    unit,
                    observed_at: r.observed_at,
                    received_at: r.received_at,
                    flag: r.flag,
                    period: r.period,
                });
            }
            (station.clone(), json.finish())
        })
        .collect()
}
