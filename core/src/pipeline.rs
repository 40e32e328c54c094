//! The store contracts between ingest (the writer) and analytics, the console and reports
//! (the readers). Writer and reader are separate traits so a reader never links writer code.
//!
//! `StoreWriter::write` returns only when the batch is durable (committed, or spooled to
//! disk for a remote store) and is idempotent on (station, parameter, time, period): a
//! redelivered reading is reported as a duplicate and stored once.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::deadletter::{DeadLetter, ReasonCode};
use crate::reading::{Period, Reading};

/// What one durable write carries: accepted readings and the dead letters of the same
/// messages, committed together so an ack never runs ahead of either.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// Accepted readings.
    pub readings: Vec<Reading>,
    /// Rejections.
    pub dead_letters: Vec<DeadLetter>,
}

impl WriteBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty() && self.dead_letters.is_empty()
    }
}

/// The outcome of a durable write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// For each reading of the batch, in order: whether it was new (false: a duplicate of a
    /// stored reading, or of an earlier one in the same batch).
    pub inserted: Vec<bool>,
    /// Number of duplicates.
    pub duplicates: usize,
    /// Whether the batch went to the local spool because the remote store was unavailable.
    pub spooled: bool,
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
    /// store keeps no commit log (the InfluxDB backends).
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
