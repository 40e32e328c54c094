//! The store contracts between ingest (the writer) and analytics, the console and reports
//! (the readers). Writer and reader are separate traits so a reader never links writer code.
//!
//! `StoreWriter::write` returns only when the batch is durable (committed, or spooled to
//! disk for a remote store) and is idempotent on (station, parameter, time, period): a
//! redelivered reading is reported as a duplicate and stored once; one that differs from
//! the stored reading is reported as a conflict and not stored.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::deadletter::{DeadLetter, ReasonCode};
use crate::reading::{DataFlag, Period, Reading};

/// What one durable write carries: accepted readings, the dead letters of the same
/// messages, and the changes to the held packets of split HJ 212 messages, committed
/// together so an ack never runs ahead of any of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// Accepted readings.
    pub readings: Vec<Reading>,
    /// Rejections.
    pub dead_letters: Vec<DeadLetter>,
    /// Packets to keep and messages whose packets are no longer needed, applied in order.
    pub held: Vec<HeldChange>,
}

impl WriteBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty() && self.dead_letters.is_empty() && self.held.is_empty()
    }
}

/// One packet of a split HJ 212 message (Flag bit D, PNUM/PNO), kept by the store until its
/// message is complete, expires or is given up, so that its broker message can be
/// acknowledged at once and a restart does not lose it.
///
/// The decoded header fields are kept beside the bytes because the bytes may have the
/// station's access password masked (and then no longer match their CRC).
#[derive(Debug, Clone, PartialEq)]
pub struct HeldPacket {
    /// Station of the MN.
    pub station: String,
    /// The data logger (MN).
    pub mn: String,
    /// The request number (QN); empty when the packet has none.
    pub qn: String,
    /// This packet's number, 1 to `pnum`.
    pub pno: u32,
    /// The message's number of packets.
    pub pnum: u32,
    /// System code (ST).
    pub st: String,
    /// Command code (CN).
    pub cn: String,
    /// The Flag field's value.
    pub flag: u8,
    /// The packet's CP text.
    pub cp: String,
    /// The MQTT topic it came on.
    pub topic: String,
    /// When ingest received it.
    pub received_at: DateTime<Utc>,
    /// Its bytes as received, with the `PW` value masked for a station that has an access
    /// password.
    pub payload: Bytes,
}

/// A change to the held packets.
#[derive(Debug, Clone, PartialEq)]
pub enum HeldChange {
    /// Keep a packet (replacing one held under the same MN, QN and PNO).
    Keep(HeldPacket),
    /// Forget every packet of the message (MN, QN): it was completed, or dead-lettered.
    Release {
        /// The data logger.
        mn: String,
        /// The request number.
        qn: String,
    },
}

/// The outcome of a durable write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteReport {
    /// For each reading of the batch, in order: whether it was new (false: a duplicate of a
    /// stored reading, or of an earlier one in the same batch).
    pub inserted: Vec<bool>,
    /// Number of duplicates (identical resends; conflicts are not counted here).
    pub duplicates: usize,
    /// Readings of the batch whose (station, parameter, time, period) was already stored,
    /// or given earlier in the same batch, with another value or flag: the stored reading is
    /// kept, the new one is not stored (its `inserted` is false) and the caller dead-letters
    /// it as `conflicting_value`.
    pub conflicts: Vec<Conflict>,
    /// Whether the batch went to the local spool because the remote store was unavailable.
    pub spooled: bool,
}

/// A reading that contradicts a stored one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conflict {
    /// Index of the refused reading in the batch.
    pub index: usize,
    /// The value kept.
    pub stored_value: f64,
    /// The flag kept.
    pub stored_flag: DataFlag,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or answered with a temporary failure; retry later.
    #[error("{backend} is unavailable: {detail}")]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        detail: String,
    },
    /// The store refused the data; retrying the same data will not help.
    #[error("{backend} rejected the write: {detail}")]
    Rejected {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        detail: String,
    },
    /// A local file or database problem.
    #[error("{backend}: {detail}")]
    Local {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        detail: String,
    },
    /// The store was closed.
    #[error("the store is shut down")]
    Shutdown,
}

impl StoreError {
    /// Whether the same write may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Local { .. }
        )
    }
}

/// Writes batches durably.
pub trait StoreWriter: Send {
    /// Writes a batch and returns once it is durable.
    ///
    /// # Errors
    /// [`StoreError`]; [`StoreError::is_retryable`] tells whether to try again.
    fn write(
        &mut self,
        batch: Arc<WriteBatch>,
    ) -> impl Future<Output = Result<WriteReport, StoreError>> + Send;

    /// The packets of split HJ 212 messages kept by earlier writes and not yet released,
    /// ordered by MN, QN and PNO; ingest picks its unfinished messages up from them.
    ///
    /// # Errors
    /// [`StoreError`].
    fn held_packets(&mut self) -> impl Future<Output = Result<Vec<HeldPacket>, StoreError>> + Send;

    /// Flushes whatever is buffered and releases the store.
    ///
    /// # Errors
    /// When the final flush fails.
    fn close(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Which readings to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadingQuery {
    /// Only this station (all stations when `None`).
    pub station: Option<String>,
    /// Only these parameters (all when empty).
    pub parameters: Vec<String>,
    /// Observed at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Observed before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only these periods (all when empty).
    pub periods: Vec<Period>,
    /// At most this many readings.
    pub limit: Option<usize>,
}

impl ReadingQuery {
    /// Whether a reading matches.
    pub fn matches(&self, r: &Reading) -> bool {
        self.station.as_deref().is_none_or(|s| r.station == s)
            && (self.parameters.is_empty()
                || self.parameters.iter().any(|p| r.parameter == p.as_str()))
            && self.from.is_none_or(|f| r.observed_at >= f)
            && self.to.is_none_or(|t| r.observed_at < t)
            && (self.periods.is_empty() || self.periods.contains(&r.period))
    }
}

/// The readings one commit of the store added, in the store's commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The commit's place in the store's commit order (increasing, never reused).
    pub seq: u64,
    /// The readings it stored (not those it found stored already).
    pub readings: Vec<Reading>,
}

/// Reads stored readings, ordered by station, parameter and time.
pub trait StoreReader: Send + Sync {
    /// The readings matching `q`.
    ///
    /// # Errors
    /// [`StoreError`].
    fn query(
        &self,
        q: &ReadingQuery,
    ) -> impl Future<Output = Result<Vec<Reading>, StoreError>> + Send;

    /// Up to `max` commits after commit `after`, oldest first, for a consumer that must see
    /// every stored reading exactly once (a cursor kept by the consumer). `None` when the
    /// reader has no commit log (an InfluxDB reader without the writer's local database).
    ///
    /// # Errors
    /// [`StoreError`].
    fn commits_after(
        &self,
        after: u64,
        max: usize,
    ) -> impl Future<Output = Result<Option<Vec<Committed>>, StoreError>> + Send {
        let _ = (after, max);
        async { Ok(None) }
    }
}

/// Which dead letters to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeadLetterQuery {
    /// Received at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only this reason.
    pub reason: Option<ReasonCode>,
    /// At most this many, newest last.
    pub limit: Option<usize>,
}

/// Reads dead letters, oldest first.
pub trait DeadLetterReader: Send + Sync {
    /// The dead letters matching `q`.
    ///
    /// # Errors
    /// [`StoreError`].
    fn dead_letters(
        &self,
        q: &DeadLetterQuery,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;
}
