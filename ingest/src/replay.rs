//! Replaying dead letters (`riverwatch dead-letters replay`): the raw bytes of the messages
//! behind the chosen dead letters are decoded again through the same validation as live
//! ingest, with the replay's time as the reception time, and what they give now is written
//! like a live batch.
//!
//! Typical use: a host clock that was wrong put valid data into `timestamp_out_of_range`;
//! a parameter added to the registry later makes `unknown_parameter` values acceptable.
//!
//! Idempotent: readings already stored are duplicates, a rejection that comes back is the
//! same dead letter (kept once), and every dead letter whose rejection did not come back is
//! marked replayed (`replayed_ms`), never deleted; a second replay skips marked ones and
//! stores nothing new. Messages whose stored bytes had the HJ 212 password masked cannot be
//! decoded again and are skipped and counted, as are the joined packets of a split HJ 212
//! message (one stored payload of several frames).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::{DeadLetterQuery, StoreError, StoreWriter, WriteBatch};
use riverwatch_core::time::Clock;
use riverwatch_core::topics::{TopicKind, Topics};
use riverwatch_core::{DeadLetter, ReasonCode};
use tracing::info;

use crate::decode::password::StationPasswords;
use crate::decode::{Decoded, MASKED_NOTE, Message, Validator};
use crate::pipeline::{Origin, conflict_dead_letters};
use crate::store::{SqliteReader, SqliteStore, StoredDeadLetter};

/// Messages decoded per write.
const MESSAGES_PER_WRITE: usize = 500;

/// What to replay and how to decode it.
pub struct ReplayArgs<'a> {
    /// Only dead letters with this reason.
    pub reason: ReasonCode,
    /// Only dead letters received at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Station and parameter registry.
    pub registry: &'a Registry,
    /// The topic layout, to tell JSON from HJ 212 and name the station.
    pub topics: &'a Topics,
    /// Clock-skew tolerance of the validation.
    pub future_tolerance: chrono::Duration,
    /// Largest accepted payload.
    pub max_payload_bytes: usize,
    /// The stations' HJ 212 access passwords.
    pub passwords: &'a StationPasswords,
    /// Stations whose HJ 212 µg/m³ values arrive in mg/m³ ([`crate::mg_m3_stations`]).
    pub mg_m3_stations: &'a std::collections::HashSet<String>,
    /// The reception time of the replay.
    pub clock: Arc<dyn Clock>,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters chosen (not replayed before).
    pub dead_letters: usize,
    /// Distinct messages behind them.
    pub messages: usize,
    /// Readings newly stored.
    pub stored: usize,
    /// Readings that were stored already.
    pub duplicates: usize,
    /// Dead letters marked replayed (their rejection did not come back).
    pub replayed: usize,
    /// Dead letters whose rejection came back (left unmarked, kept once).
    pub still_rejected: usize,
    /// Dead letters skipped because their stored bytes had a password masked.
    pub skipped_masked: usize,
    /// Dead letters skipped because their bytes are several joined HJ 212 packets.
    pub skipped_split: usize,
}

/// Whether the stored bytes of a dead letter are not those received.
fn masked(d: &DeadLetter) -> bool {
    d.reason_code == ReasonCode::BadPassword || d.reason.contains(MASKED_NOTE)
}

/// Whether the payload holds more than one HJ 212 frame (a reassembled split message).
fn joined_frames(payload: &[u8]) -> bool {
    payload.windows(4).any(|w| w == b"\r\n##")
}

/// Replays the dead letters `args` chooses from `dead` (the local database), writing what
/// they give now to `store` and marking the replayed dead letters through `marker`.
///
/// # Errors
/// A store failure; what was written before it stays written and marked.
pub async fn replay<S: StoreWriter>(
    args: &ReplayArgs<'_>,
    dead: &SqliteReader,
    marker: &SqliteStore,
    store: &mut S,
) -> Result<ReplayReport, StoreError> {
    let q = DeadLetterQuery {
        since: args.since,
        reason: Some(args.reason),
        limit: None,
    };
    let chosen = dead.stored_dead_letters_blocking(&q, false)?;
    let mut report = ReplayReport {
        dead_letters: chosen.len(),
        ..ReplayReport::default()
    };
    // The chosen dead letters by message, in order of arrival.
    let mut messages: Vec<(i64, Vec<StoredDeadLetter>)> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for d in chosen {
        match index.get(&d.message_id) {
            Some(&i) => messages[i].1.push(d),
            None => {
                index.insert(d.message_id, messages.len());
                messages.push((d.message_id, vec![d]));
            }
        }
    }
    report.messages = messages.len();
    let validator = Validator {
        registry: args.registry,
        future_tolerance: args.future_tolerance,
        max_payload_bytes: args.max_payload_bytes,
        passwords: args.passwords,
        mg_m3_stations: args.mg_m3_stations,
    };
    for chunk in messages.chunks(MESSAGES_PER_WRITE) {
        let now = args.clock.now();
        let mut write = WriteBatch::default();
        let mut origins: Vec<Origin> = Vec::new();
        let mut to_mark: Vec<i64> = Vec::new();
        for (_, letters) in chunk {
            let first = &letters[0].letter;
            if letters.iter().any(|d| masked(&d.letter)) {
                report.skipped_masked += letters.len();
                continue;
            }
            if joined_frames(&first.payload) {
                report.skipped_split += letters.len();
                continue;
            }
            let msg = Message {
                topic: &first.topic,
                payload: &first.payload,
                received_at: now,
            };
            let outcome = match args.topics.parse(&first.topic) {
                Some((kind, station)) => {
                    let kind = if kind == TopicKind::Hj212 {
                        TopicKind::Hj212
                    } else {
                        TopicKind::Obs
                    };
                    match validator.decode(&msg, kind, station) {
                        Decoded::Done(o) => o,
                        // A lone packet of a split message: it was never complete.
                        Decoded::Partial(_) => {
                            report.skipped_split += letters.len();
                            continue;
                        }
                    }
                }
                None => {
                    report.still_rejected += letters.len();
                    continue;
                }
            };
            let back: HashSet<(ReasonCode, Option<&str>)> = outcome
                .dead_letters
                .iter()
                .map(|d| (d.reason_code, d.parameter.as_deref()))
                .collect();
            for d in letters {
                if back.contains(&(d.letter.reason_code, d.letter.parameter.as_deref())) {
                    report.still_rejected += 1;
                } else {
                    to_mark.push(d.id);
                }
            }
            if !outcome.readings.is_empty() {
                origins.push(Origin {
                    end: write.readings.len() + outcome.readings.len(),
                    topic: first.topic.clone(),
                    payload: first.payload.clone(),
                    received_at: now,
                });
            }
            write.readings.extend(outcome.readings);
            write.dead_letters.extend(outcome.dead_letters);
        }
        if write.is_empty() && to_mark.is_empty() {
            continue;
        }
        let write = Arc::new(write);
        let result = store.write(Arc::clone(&write)).await?;
        if !result.conflicts.is_empty() {
            let conflicts = WriteBatch {
                readings: Vec::new(),
                dead_letters: conflict_dead_letters(&write, &origins, &result.conflicts),
                held: Vec::new(),
            };
            store.write(Arc::new(conflicts)).await?;
        }
        report.stored += result.inserted.iter().filter(|&&new| new).count();
        report.duplicates += result.duplicates;
        let marker = marker.clone();
        report.replayed +=
            tokio::task::spawn_blocking(move || marker.mark_replayed_blocking(&to_mark, now))
                .await
                .map_err(|e| StoreError::Local {
                    backend: "sqlite",
                    detail: format!("replay thread failed: {e}"),
                })??;
    }
    info!(
        reason = %args.reason,
        dead_letters = report.dead_letters,
        stored = report.stored,
        replayed = report.replayed,
        still_rejected = report.still_rejected,
        skipped_masked = report.skipped_masked,
        skipped_split = report.skipped_split,
        "Dead letters replayed."
    );
    Ok(report)
}
