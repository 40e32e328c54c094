//! The durable alert store: `alerts.db` (SQLite, WAL) in the data directory.
//!
//! Tables: `alerts` (one row per alert, the typed record as JSON plus indexed columns),
//! `events` (every applied event id, for redelivery), `acks` (one per alert and province),
//! `silences`, `groups` (grouping state), `notifications` (the outbox and notification log:
//! one row per recipient and channel with its delivery state, attempts and the last SMTP or
//! HTTP reply), `attachments` (a file sent with a notification, e.g. a report's workbook),
//! `report_mail` (which report, recipient and digest each report notification carries, so one
//! report is queued once), `audit` (the hash chain, see [`crate::audit`]) and
//! `rejected_messages` (event messages refused: no valid MAC, not an event, or dated too far
//! from the clock; core's table). The two side tables are created when a file without them is
//! opened, so older files keep working at the same schema version.
//!
//! **Outbox.** A notification is inserted as `queued` in the same transaction as the state
//! change that caused it (with the grouping state and the audit rows), and a sender marks it
//! `sent` in its own transaction after the relay accepted it. So a crash between "decided"
//! and "sent" loses nothing (the row is still queued) and re-sends nothing that was recorded
//! as sent. The one remaining window is between the relay's acceptance and the commit of
//! `sent` (a few milliseconds): a crash exactly there sends that message again, with the same
//! `Message-ID`, so a receiver can drop the copy.
//!
//! Every write transaction is `BEGIN IMMEDIATE`, so the service and the command line (which
//! writes acknowledgements and silences into the same file) never deadlock on a lock upgrade;
//! a busy timeout makes one wait for the other.
//!
//! This file holds the connection, the errors and the write transaction; the tables' reads
//! and writes are in its modules: `schema` (the tables), `rows` (row decoders), `alerts`
//! (alerts, applied events, grouping state), `outbox` (notifications, attachments, report
//! mail, delivery outcomes) and `operator` (acknowledgements and silences).

mod alerts;
mod operator;
mod outbox;
mod rows;
mod schema;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use riverwatch_core::mqtt::auth::{self, Rejected};
use riverwatch_core::sqlite::{self, OpenError, Synchronous};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::de::DeserializeOwned;

use crate::audit::{self, Entry};
use crate::model::{Acknowledgement, Alert};
pub use outbox::{Attachment, Delivery, NewNotification, Outgoing};
use rows::ack_row;
pub(crate) use rows::{AUDIT_COLUMNS, NOTIFICATION_COLUMNS, audit_row, notification_row};
use schema::SCHEMA;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("alert store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A stored record cannot be read back.
    #[error("alert store {path}: corrupt record: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The file cannot be opened as the alert store: another schema version, not WAL, not
    /// creatable, damaged (the message names the file and says what to do).
    #[error(transparent)]
    Open(OpenError),
    /// The file does not exist (nothing was recorded yet).
    #[error("alert store {0} does not exist yet (the alert service creates it)")]
    Missing(PathBuf),
    /// The province already acknowledged the alert.
    #[error("{province} already acknowledged alert {alert_id}: {by} at {at}")]
    AlreadyAcknowledged {
        /// The alert.
        alert_id: String,
        /// The province.
        province: Province,
        /// Who did.
        by: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// No such alert or silence.
    #[error("no {what} `{id}`")]
    NotFound {
        /// `alert` or `silence`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// An id prefix matches several alerts.
    #[error("`{0}` matches several alerts; give more digits")]
    Ambiguous(String),
}

impl StoreError {
    /// Whether trying again later may succeed (a locked or busy database).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Open(e) => e.is_busy(),
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

impl From<OpenError> for StoreError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Missing { path, .. } => StoreError::Missing(path),
            other => StoreError::Open(other),
        }
    }
}

/// Store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The alert store file in a data directory.
pub fn path_in(data_dir: &Path, file: &str) -> PathBuf {
    data_dir.join(file)
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

/// A connection to `alerts.db` and the file's path (errors name it): what the store and
/// the reader share.
#[derive(Debug)]
pub(crate) struct Db {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

/// An SQLite failure on the file at `path`.
fn sql_error(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// A record of the file at `path` that cannot be read back.
fn corrupt_error(path: &Path, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

impl Db {
    pub(crate) fn sql(&self, source: rusqlite::Error) -> StoreError {
        sql_error(&self.path, source)
    }

    pub(crate) fn corrupt(&self, detail: impl std::fmt::Display) -> StoreError {
        corrupt_error(&self.path, detail)
    }

    /// A record stored as JSON.
    pub(crate) fn decode<T: DeserializeOwned>(&self, body: &str) -> Result<T> {
        serde_json::from_str(body).map_err(|e| self.corrupt(e))
    }

    /// The records a query of one JSON `body` column returns, in its order.
    pub(crate) fn bodies<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.sql(e))?;
        let bodies: Vec<String> = stmt
            .query_map(params, |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.sql(e))?;
        bodies.iter().map(|b| self.decode(b)).collect()
    }

    /// One alert.
    pub(crate) fn alert(&self, id: &str) -> Result<Option<Alert>> {
        let body: Option<String> = self
            .conn
            .query_row("SELECT body FROM alerts WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))?;
        body.map(|b| self.decode(&b)).transpose()
    }

    /// The provinces' acknowledgements of an alert, in the order they came.
    pub(crate) fn acks_of(&self, alert_id: &str) -> Result<Vec<Acknowledgement>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT alert_id, province, by_name, at_ms, comment FROM acks WHERE alert_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.sql(e))?;
        stmt.query_map([alert_id], ack_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.sql(e))
    }

    /// Resolves an alert id or unique prefix (at least 4 hex digits) to the full id.
    pub(crate) fn resolve_alert_id(&self, prefix: &str) -> Result<String> {
        let prefix = prefix.trim().to_ascii_lowercase();
        let not_found = || StoreError::NotFound {
            what: "alert",
            id: prefix.clone(),
        };
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM alerts WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2",
            )
            .map_err(|e| self.sql(e))?;
        let ids: Vec<String> = stmt
            .query_map([&prefix], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.sql(e))?;
        match ids.as_slice() {
            [] => Err(not_found()),
            [one] => Ok(one.clone()),
            _ => Err(StoreError::Ambiguous(prefix)),
        }
    }
}

/// A connection to the alert store.
#[derive(Debug)]
pub struct Store {
    db: Db,
}

/// Opens a read-only connection (the reader's): the file must exist and be of this
/// schema version.
pub(crate) fn connect_read_only(path: &Path) -> Result<Db> {
    Ok(Db {
        conn: sqlite::open_reader(path, &SCHEMA)?,
        path: path.to_path_buf(),
    })
}

impl Store {
    /// Opens (creating if needed) the store at `path`: WAL, `synchronous=FULL` (a commit
    /// survives power loss, so "sent" is never forgotten), schema checked.
    ///
    /// # Errors
    /// The file cannot be opened or has another schema version.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = sqlite::open_writer(path, &SCHEMA, Synchronous::Full)?;
        conn.execute_batch("PRAGMA foreign_keys=ON;")
            .and_then(|()| conn.execute_batch(audit::SCHEMA))
            .and_then(|()| conn.execute_batch(auth::REJECTED_TABLE))
            .map_err(|e| sql_error(path, e))?;
        Ok(Self {
            db: Db {
                conn,
                path: path.to_path_buf(),
            },
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`).
    ///
    /// # Errors
    /// The database is locked past the busy timeout, or fails.
    pub fn write(&mut self) -> Result<WriteTx<'_>> {
        let path = self.db.path.clone();
        let tx = self
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, e))?;
        Ok(WriteTx { tx, path })
    }
}

/// One write transaction (`BEGIN IMMEDIATE`).
pub struct WriteTx<'a> {
    tx: Transaction<'a>,
    path: PathBuf,
}

impl WriteTx<'_> {
    fn sql(&self, source: rusqlite::Error) -> StoreError {
        sql_error(&self.path, source)
    }

    /// Keeps refused event messages with their reasons (`rejected_messages`).
    ///
    /// # Errors
    /// A database error.
    pub fn keep_rejected(&self, rows: &[Rejected]) -> Result<()> {
        auth::keep_rejected(&self.tx, rows)
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    fn corrupt(&self, detail: impl std::fmt::Display) -> StoreError {
        corrupt_error(&self.path, detail)
    }

    /// Appends an audit row.
    ///
    /// # Errors
    /// A database error.
    pub fn audit(&self, at: DateTime<Utc>, entry: &Entry<'_>) -> Result<()> {
        audit::append(&self.tx, at, entry)
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Commits.
    ///
    /// # Errors
    /// A database error; nothing of the transaction is kept.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tx
            .commit()
            .map_err(|source| StoreError::Sqlite { path, source })
    }
}

#[cfg(test)]
mod tests;
