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

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use riverwatch_core::mqtt::auth::{self, Rejected};
use riverwatch_core::sqlite::{self, OpenError, Schema, Synchronous};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde::de::DeserializeOwned;

use crate::audit::{self, Entry};
use crate::grouping::{Changes, Group};
use crate::model::{
    Acknowledgement, Alert, AlertStatus, AuditRow, Channel, DeliveryStatus, Notification,
    NotificationKind, Role, Silence,
};

/// `alerts.db`: one version so far (the audit table is [`audit::SCHEMA`]).
const SCHEMA: Schema = Schema {
    store: "alert store",
    owner: "the alert service (`riverwatch alerts` or `riverwatch up`)",
    version: 1,
    upgradable: &[],
    migrate: None,
    tables: TABLES,
};

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id                TEXT PRIMARY KEY,
    fingerprint       TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    first_seen_ms     INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL,
    resolved_ms       INTEGER,
    incident          TEXT,
    version           INTEGER NOT NULL,
    published_version INTEGER NOT NULL DEFAULT 0,
    body              TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts (fingerprint, status);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, updated_ms);
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    alert_id    TEXT,
    outcome     TEXT    NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT    NOT NULL,
    province TEXT    NOT NULL,
    by_name  TEXT    NOT NULL,
    at_ms    INTEGER NOT NULL,
    comment  TEXT,
    UNIQUE (alert_id, province)
);
CREATE TABLE IF NOT EXISTS silences (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    body        TEXT    NOT NULL,
    starts_ms   INTEGER NOT NULL,
    ends_ms     INTEGER NOT NULL,
    expired_ms  INTEGER
);
CREATE TABLE IF NOT EXISTS groups (
    recipient_id TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (recipient_id, group_key)
);
CREATE TABLE IF NOT EXISTS notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms      INTEGER NOT NULL,
    recipient_id    TEXT    NOT NULL,
    recipient_name  TEXT    NOT NULL,
    province        TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body_text       TEXT    NOT NULL,
    body_html       TEXT    NOT NULL,
    alert_ids       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER,
    last_attempt_ms INTEGER,
    sent_ms         INTEGER,
    expires_ms      INTEGER NOT NULL,
    last_reply      TEXT,
    message_id      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (channel, status, next_attempt_ms);
CREATE TABLE IF NOT EXISTS attachments (
    notification_id INTEGER PRIMARY KEY REFERENCES notifications (id),
    file_name       TEXT    NOT NULL,
    content_type    TEXT    NOT NULL,
    bytes           BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS report_mail (
    report_key      TEXT    NOT NULL,
    recipient_id    TEXT    NOT NULL,
    digest          TEXT    NOT NULL,
    notification_id INTEGER NOT NULL,
    PRIMARY KEY (report_key, recipient_id, digest)
);
";

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

/// A new notification to queue.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Recipient id.
    pub recipient_id: String,
    /// Recipient name.
    pub recipient_name: String,
    /// The recipient's province.
    pub province: Province,
    /// Its role.
    pub role: Role,
    /// Channel.
    pub channel: Channel,
    /// Why.
    pub kind: NotificationKind,
    /// Addresses or the redacted URL.
    pub target: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body (email) or the request body (webhook).
    pub body_text: String,
    /// HTML body (email).
    pub body_html: String,
    /// The alerts.
    pub alert_ids: Vec<String>,
    /// Not delivered by then: expired.
    pub expires_at: DateTime<Utc>,
    /// Domain for the Message-ID.
    pub message_domain: String,
}

/// A file sent with an email notification.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the reader, e.g. `riverwatch-month-2026-11-01-lalin.xlsx`.
    pub file_name: String,
    /// MIME type, e.g. `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`.
    pub content_type: String,
    /// The file.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A queued notification with its bodies, as a sender takes it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The record.
    pub notification: Notification,
    /// Plain-text body (email) or the request body (webhook).
    pub body_text: String,
    /// HTML body.
    pub body_html: String,
    /// A file to attach (email only).
    pub attachment: Option<Attachment>,
}

pub(crate) const NOTIFICATION_COLUMNS: &str = "id, created_ms, recipient_id, recipient_name, province, role, \
     channel, kind, target, subject, alert_ids, status, attempts, next_attempt_ms, \
     last_attempt_ms, sent_ms, expires_ms, last_reply, message_id";

fn parse<T: std::str::FromStr<Err = String>>(s: String) -> rusqlite::Result<T> {
    s.parse::<T>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Equal => "equal",
        Role::Owner => "owner",
        Role::InfoCopy => "info_copy",
    }
}

fn parse_role(s: String) -> rusqlite::Result<Role> {
    match s.as_str() {
        "equal" => Ok(Role::Equal),
        "owner" => Ok(Role::Owner),
        "info_copy" => Ok(Role::InfoCopy),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role `{other}`").into(),
        )),
    }
}

/// Reads a notification row selected with [`NOTIFICATION_COLUMNS`].
pub(crate) fn notification_row(r: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get(0)?,
        created_at: from_ms(r.get(1)?),
        recipient_id: r.get(2)?,
        recipient_name: r.get(3)?,
        province: parse(r.get(4)?)?,
        role: parse_role(r.get(5)?)?,
        channel: parse(r.get(6)?)?,
        kind: parse(r.get(7)?)?,
        target: r.get(8)?,
        subject: r.get(9)?,
        alert_ids: json(&r.get::<_, String>(10)?)?,
        status: parse(r.get(11)?)?,
        attempts: r.get(12)?,
        next_attempt_at: r.get::<_, Option<i64>>(13)?.map(from_ms),
        last_attempt_at: r.get::<_, Option<i64>>(14)?.map(from_ms),
        sent_at: r.get::<_, Option<i64>>(15)?.map(from_ms),
        expires_at: from_ms(r.get(16)?),
        last_reply: r.get(17)?,
        message_id: r.get(18)?,
    })
}

pub(crate) fn ack_row(r: &Row<'_>) -> rusqlite::Result<Acknowledgement> {
    Ok(Acknowledgement {
        alert_id: r.get(0)?,
        province: parse(r.get(1)?)?,
        by: r.get(2)?,
        at: from_ms(r.get(3)?),
        comment: r.get(4)?,
    })
}

pub(crate) fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        seq: r.get(0)?,
        at: from_ms(r.get(1)?),
        actor: r.get(2)?,
        kind: r.get(3)?,
        alert_id: r.get(4)?,
        province: r.get::<_, Option<String>>(5)?.map(parse).transpose()?,
        detail: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}

pub(crate) const AUDIT_COLUMNS: &str =
    "seq, at_ms, actor, kind, alert_id, province, detail, prev_hash, hash";

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

    /// Whether an event id was applied before.
    ///
    /// # Errors
    /// A database error.
    pub fn event_seen(&self, id: &str) -> Result<bool> {
        self.db
            .conn
            .query_row("SELECT 1 FROM events WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.db.sql(e))
    }

    /// Event time of a fingerprint's last resolution.
    ///
    /// # Errors
    /// A database error.
    pub fn last_resolved_at(&self, fingerprint: &str) -> Result<Option<DateTime<Utc>>> {
        self.db.conn
            .query_row(
                "SELECT max(resolved_ms) FROM alerts WHERE fingerprint = ?1 AND status = 'resolved'",
                [fingerprint],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|o| o.map(from_ms))
            .map_err(|e| self.db.sql(e))
    }

    /// Alerts by status.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn alerts_with_status(&self, status: AlertStatus) -> Result<Vec<Alert>> {
        self.db.bodies(
            "SELECT body FROM alerts WHERE status = ?1 ORDER BY first_seen_ms",
            [status.as_str()],
        )
    }

    /// One alert.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn alert(&self, id: &str) -> Result<Option<Alert>> {
        self.db.alert(id)
    }

    /// Alerts whose retained MQTT state is behind.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn unpublished(&self, limit: usize) -> Result<Vec<Alert>> {
        self.db.bodies(
            "SELECT body FROM alerts WHERE published_version < version ORDER BY updated_ms LIMIT ?1",
            [limit as i64],
        )
    }

    /// Records that an alert's state up to `version` is published.
    ///
    /// # Errors
    /// A database error.
    pub fn mark_published(&mut self, id: &str, version: u64) -> Result<()> {
        self.mark_published_all(&[(id.to_string(), version)])
    }

    /// Records several published alert states in one transaction (one durable commit for a
    /// pass of the state publisher, rather than one per alert competing with the processor's
    /// and the senders' commits).
    ///
    /// # Errors
    /// A database error; none of them is recorded.
    pub fn mark_published_all(&mut self, published: &[(String, u64)]) -> Result<()> {
        if published.is_empty() {
            return Ok(());
        }
        let tx = self.write()?;
        for (id, version) in published {
            tx.tx
                .execute(
                    "UPDATE alerts SET published_version = max(published_version, ?2) WHERE id = ?1",
                    params![id, *version as i64],
                )
                .map_err(|e| tx.sql(e))?;
        }
        tx.commit()
    }

    /// Schedules firing alerts and those changed in the day before `now` for republishing
    /// (the retained state may have been lost with a broker that keeps nothing).
    ///
    /// # Errors
    /// A database error.
    pub fn republish_recent(&mut self, now: DateTime<Utc>) -> Result<()> {
        let since = ms(now) - 24 * 3600 * 1000;
        self.db.conn
            .execute(
                "UPDATE alerts SET published_version = 0 WHERE status = 'firing' OR updated_ms >= ?1",
                [since],
            )
            .map(|_| ())
            .map_err(|e| self.db.sql(e))
    }

    /// Every persisted group.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn groups(&self) -> Result<Vec<Group>> {
        self.db.bodies("SELECT body FROM groups", [])
    }

    /// Acknowledgements recorded after sequence number `after`, with their sequence numbers.
    ///
    /// # Errors
    /// A database error.
    pub fn acks_after(&self, after: i64) -> Result<Vec<(i64, Acknowledgement)>> {
        let mut stmt = self.db.conn
            .prepare_cached(
                "SELECT alert_id, province, by_name, at_ms, comment, seq FROM acks WHERE seq > ?1 ORDER BY seq",
            )
            .map_err(|e| self.db.sql(e))?;
        stmt.query_map([after], |r| Ok((r.get(5)?, ack_row(r)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.db.sql(e))
    }

    /// The provinces that acknowledged an alert.
    ///
    /// # Errors
    /// A database error.
    pub fn acks_of(&self, alert_id: &str) -> Result<Vec<Acknowledgement>> {
        self.db.acks_of(alert_id)
    }

    /// Every silence (active, future, ended).
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn silences(&self) -> Result<Vec<Silence>> {
        self.db.bodies("SELECT body FROM silences ORDER BY seq", [])
    }

    /// A change counter for silences (rows and early ends), to notice the command line's
    /// writes cheaply.
    ///
    /// # Errors
    /// A database error.
    pub fn silences_stamp(&self) -> Result<(i64, i64)> {
        self.db
            .conn
            .query_row(
                "SELECT ifnull(max(seq), 0), count(expired_ms) FROM silences",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.db.sql(e))
    }

    /// Pending notifications of a channel whose next attempt is due, oldest first.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn due_notifications(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Outgoing>> {
        let mut stmt = self
            .db
            .conn
            .prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS}, body_text, body_html, \
                 a.file_name, a.content_type, a.bytes FROM notifications \
                 LEFT JOIN attachments a ON a.notification_id = notifications.id \
                 WHERE channel = ?1 AND status IN ('queued', 'retrying') AND next_attempt_ms <= ?2 \
                 ORDER BY next_attempt_ms, id LIMIT ?3"
            ))
            .map_err(|e| self.db.sql(e))?;
        stmt.query_map(params![channel.as_str(), ms(now), limit as i64], |r| {
            Ok(Outgoing {
                notification: notification_row(r)?,
                body_text: r.get(19)?,
                body_html: r.get(20)?,
                attachment: match r.get::<_, Option<String>>(21)? {
                    Some(file_name) => Some(Attachment {
                        file_name,
                        content_type: r.get(22)?,
                        bytes: r.get(23)?,
                    }),
                    None => None,
                },
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.db.sql(e))
    }

    /// When the next pending notification of a channel is due.
    ///
    /// # Errors
    /// A database error.
    pub fn next_attempt(&self, channel: Channel) -> Result<Option<DateTime<Utc>>> {
        self.db
            .conn
            .query_row(
                "SELECT min(next_attempt_ms) FROM notifications \
                 WHERE channel = ?1 AND status IN ('queued', 'retrying')",
                [channel.as_str()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|o| o.map(from_ms))
            .map_err(|e| self.db.sql(e))
    }

    /// How many notifications of a channel are pending.
    ///
    /// # Errors
    /// A database error.
    pub fn pending_count(&self, channel: Channel) -> Result<u64> {
        self.db.conn
            .query_row(
                "SELECT count(*) FROM notifications WHERE channel = ?1 AND status IN ('queued', 'retrying')",
                [channel.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.db.sql(e))
    }

    /// Records a delivery outcome (and its audit row) in one transaction.
    ///
    /// # Errors
    /// A database error.
    pub fn record_delivery(
        &mut self,
        n: &Notification,
        outcome: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.record_deliveries(&[(n, outcome)], now)
    }

    /// Records several delivery outcomes (each with its audit row) in one transaction.
    ///
    /// # Errors
    /// A database error; none of them is recorded.
    pub fn record_deliveries(
        &mut self,
        outcomes: &[(&Notification, &Delivery)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.write()?;
        for (n, outcome) in outcomes {
            tx.record_delivery(n, outcome, now)?;
        }
        tx.commit()
    }

    /// Records an acknowledgement and its audit row.
    ///
    /// # Errors
    /// The province already acknowledged, the alert does not exist, or a database error.
    pub fn acknowledge(&mut self, ack: &Acknowledgement) -> Result<()> {
        let tx = self.write()?;
        let exists = tx
            .tx
            .query_row(
                "SELECT 1 FROM alerts WHERE id = ?1",
                [&ack.alert_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| tx.sql(e))?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound {
                what: "alert",
                id: ack.alert_id.clone(),
            });
        }
        let previous: Option<Acknowledgement> = tx
            .tx
            .query_row(
                "SELECT alert_id, province, by_name, at_ms, comment FROM acks WHERE alert_id = ?1 AND province = ?2",
                params![ack.alert_id, ack.province.code()],
                ack_row,
            )
            .optional()
            .map_err(|e| tx.sql(e))?;
        if let Some(p) = previous {
            return Err(StoreError::AlreadyAcknowledged {
                alert_id: p.alert_id,
                province: p.province,
                by: p.by,
                at: p.at,
            });
        }
        tx.tx
            .execute(
                "INSERT INTO acks (alert_id, province, by_name, at_ms, comment) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ack.alert_id, ack.province.code(), ack.by, ms(ack.at), ack.comment],
            )
            .map_err(|e| tx.sql(e))?;
        tx.audit(
            ack.at,
            &Entry {
                actor: &ack.by,
                kind: "ack",
                alert_id: Some(&ack.alert_id),
                province: Some(ack.province),
                detail: serde_json::json!({ "comment": ack.comment }),
            },
        )?;
        tx.commit()
    }

    /// Records a new silence and its audit row.
    ///
    /// # Errors
    /// A database error.
    pub fn add_silence(&mut self, s: &Silence) -> Result<()> {
        let tx = self.write()?;
        let body = serde_json::to_string(s).map_err(|e| tx.corrupt(e))?;
        tx.tx
            .execute(
                "INSERT INTO silences (id, body, starts_ms, ends_ms) VALUES (?1, ?2, ?3, ?4)",
                params![s.id, body, ms(s.starts_at), ms(s.ends_at)],
            )
            .map_err(|e| tx.sql(e))?;
        tx.audit(
            s.created_at,
            &Entry {
                actor: &s.created_by,
                kind: "silence_created",
                alert_id: None,
                province: None,
                detail: serde_json::json!({
                    "silence": s.id,
                    "matchers": s.matchers_text(),
                    "starts_at": s.starts_at.to_rfc3339(),
                    "ends_at": s.ends_at.to_rfc3339(),
                    "reason": s.reason,
                }),
            },
        )?;
        tx.commit()
    }

    /// Ends a silence early and records it.
    ///
    /// # Errors
    /// No such silence, or a database error.
    pub fn expire_silence(&mut self, id: &str, by: &str, now: DateTime<Utc>) -> Result<Silence> {
        let tx = self.write()?;
        let body: Option<String> = tx
            .tx
            .query_row("SELECT body FROM silences WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| tx.sql(e))?;
        let Some(body) = body else {
            return Err(StoreError::NotFound {
                what: "silence",
                id: id.to_string(),
            });
        };
        let mut s: Silence = serde_json::from_str(&body).map_err(|e| tx.corrupt(e))?;
        if s.expired_at.is_none() {
            s.expired_at = Some(now);
            s.expired_by = Some(by.to_string());
            let body = serde_json::to_string(&s).map_err(|e| tx.corrupt(e))?;
            tx.tx
                .execute(
                    "UPDATE silences SET body = ?2, expired_ms = ?3 WHERE id = ?1",
                    params![id, body, ms(now)],
                )
                .map_err(|e| tx.sql(e))?;
            tx.audit(
                now,
                &Entry {
                    actor: by,
                    kind: "silence_expired",
                    alert_id: None,
                    province: None,
                    detail: serde_json::json!({ "silence": id }),
                },
            )?;
        }
        tx.commit()?;
        Ok(s)
    }

    /// Resolves an alert id or unique prefix (at least 4 hex digits) to the full id.
    ///
    /// # Errors
    /// No match, several matches, or a database error.
    pub fn resolve_alert_id(&self, prefix: &str) -> Result<String> {
        self.db.resolve_alert_id(prefix)
    }
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Accepted; the reply.
    Sent(String),
    /// Failed for now; try again at the time given.
    Retry {
        /// The reply or error.
        reply: String,
        /// Next attempt.
        at: DateTime<Utc>,
    },
    /// Refused for good.
    Failed(String),
    /// Past its expiry without delivery.
    Expired(String),
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

    /// Records an applied event id.
    ///
    /// # Errors
    /// A database error.
    pub fn mark_event(
        &self,
        id: &str,
        fingerprint: &str,
        alert_id: Option<&str>,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO events (id, fingerprint, alert_id, outcome, received_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, fingerprint, alert_id, outcome, ms(now)],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Inserts or replaces an alert.
    ///
    /// # Errors
    /// A database error.
    pub fn put_alert(&self, a: &Alert) -> Result<()> {
        let body = serde_json::to_string(a).map_err(|e| self.corrupt(e))?;
        self.tx
            .execute(
                "INSERT INTO alerts (id, fingerprint, status, first_seen_ms, updated_ms, resolved_ms, incident, version, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, first_seen_ms = excluded.first_seen_ms, \
                 updated_ms = excluded.updated_ms, resolved_ms = excluded.resolved_ms, incident = excluded.incident, \
                 version = excluded.version, body = excluded.body",
                params![
                    a.id,
                    a.fingerprint,
                    a.status.as_str(),
                    ms(a.first_seen),
                    ms(a.updated_at),
                    a.resolved_at.map(ms),
                    a.event.incident,
                    a.version as i64,
                    body
                ],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Persists grouping changes.
    ///
    /// # Errors
    /// A database error.
    pub fn save_groups(&self, changes: &Changes) -> Result<()> {
        for g in &changes.upserts {
            let body = serde_json::to_string(g).map_err(|e| self.corrupt(e))?;
            self.tx
                .execute(
                    "INSERT INTO groups (recipient_id, group_key, body) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (recipient_id, group_key) DO UPDATE SET body = excluded.body",
                    params![g.recipient_id, g.key, body],
                )
                .map_err(|e| self.sql(e))?;
        }
        for (r, k) in &changes.deletes {
            self.tx
                .execute(
                    "DELETE FROM groups WHERE recipient_id = ?1 AND group_key = ?2",
                    params![r, k],
                )
                .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    /// Queues a notification (and records it in the audit trail); returns its id. The
    /// bodies' anchor placeholders ([`audit::ANCHOR_PLACEHOLDER`]) become the anchor of the
    /// audit row recording this notification, in the same transaction, so every notification
    /// carries a head of the chain that contains its own record.
    ///
    /// # Errors
    /// A database error.
    pub fn queue(&self, n: &NewNotification, now: DateTime<Utc>) -> Result<i64> {
        let ids = serde_json::to_string(&n.alert_ids).map_err(|e| self.corrupt(e))?;
        self.tx
            .execute(
                "INSERT INTO notifications (created_ms, recipient_id, recipient_name, province, role, channel, kind, \
                 target, subject, body_text, body_html, alert_ids, status, attempts, next_attempt_ms, expires_ms, message_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'queued', 0, ?1, ?13, '')",
                params![
                    ms(now),
                    n.recipient_id,
                    n.recipient_name,
                    n.province.code(),
                    role_str(n.role),
                    n.channel.as_str(),
                    n.kind.as_str(),
                    n.target,
                    n.subject,
                    n.body_text,
                    n.body_html,
                    ids,
                    ms(n.expires_at)
                ],
            )
            .map_err(|e| self.sql(e))?;
        let id = self.tx.last_insert_rowid();
        let message_id = format!("<rw-{id}-{}@{}>", ms(now), n.message_domain);
        let row = audit::append(
            &self.tx,
            now,
            &Entry {
                actor: audit::SERVICE,
                kind: "notification_queued",
                alert_id: n.alert_ids.first().map(String::as_str),
                province: Some(n.province),
                detail: serde_json::json!({
                    "notification": id,
                    "recipient": n.recipient_id,
                    "channel": n.channel.as_str(),
                    "kind": n.kind.as_str(),
                    "target": n.target,
                    "subject": n.subject,
                    "alerts": n.alert_ids,
                    "message_id": message_id,
                }),
            },
        )
        .map_err(|e| self.sql(e))?;
        let anchor = audit::Anchor::of(row.seq, &row.hash);
        self.tx
            .execute(
                "UPDATE notifications SET message_id = ?2, \
                 body_text = replace(replace(body_text, ?3, ?4), ?5, ?6), \
                 body_html = replace(replace(body_html, ?3, ?4), ?5, ?6) WHERE id = ?1",
                params![
                    id,
                    message_id,
                    audit::ANCHOR_PLACEHOLDER,
                    anchor.to_string(),
                    audit::ANCHOR_ARG_PLACEHOLDER,
                    anchor.arg()
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(id)
    }

    /// Stores `attachment` with the queued notification `id`.
    ///
    /// # Errors
    /// A database error (e.g. the notification already has an attachment).
    pub fn attach(&self, id: i64, attachment: &Attachment) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO attachments (notification_id, file_name, content_type, bytes) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    attachment.file_name,
                    attachment.content_type,
                    attachment.bytes
                ],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// The notification already queued for report `key` to `recipient_id` with `digest`.
    ///
    /// # Errors
    /// A database error.
    pub fn report_notification(
        &self,
        key: &str,
        recipient_id: &str,
        digest: &str,
    ) -> Result<Option<i64>> {
        self.tx
            .query_row(
                "SELECT notification_id FROM report_mail \
                 WHERE report_key = ?1 AND recipient_id = ?2 AND digest = ?3",
                params![key, recipient_id, digest],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Records that notification `id` carries report `key` with `digest` to `recipient_id`.
    ///
    /// # Errors
    /// A database error (the same report, recipient and digest already recorded among them).
    pub fn record_report(
        &self,
        key: &str,
        recipient_id: &str,
        digest: &str,
        id: i64,
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO report_mail (report_key, recipient_id, digest, notification_id) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![key, recipient_id, digest, id],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Records a delivery outcome and its audit row.
    ///
    /// # Errors
    /// A database error.
    pub fn record_delivery(
        &self,
        n: &Notification,
        outcome: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (status, reply, next, kind) = match outcome {
            Delivery::Sent(r) => (DeliveryStatus::Sent, r, None, "notification_sent"),
            Delivery::Retry { reply, at } => (
                DeliveryStatus::Retrying,
                reply,
                Some(ms(*at)),
                "notification_retrying",
            ),
            Delivery::Failed(r) => (DeliveryStatus::Failed, r, None, "notification_failed"),
            Delivery::Expired(r) => (DeliveryStatus::Expired, r, None, "notification_expired"),
        };
        let attempted = !matches!(outcome, Delivery::Expired(_));
        let attempts = n.attempts + u32::from(attempted);
        let sent = matches!(outcome, Delivery::Sent(_)).then(|| ms(now));
        self.tx
            .execute(
                "UPDATE notifications SET status = ?2, attempts = ?3, next_attempt_ms = ?4, \
                 last_attempt_ms = CASE WHEN ?7 THEN ?5 ELSE last_attempt_ms END, sent_ms = ?6, last_reply = ?8 \
                 WHERE id = ?1",
                params![n.id, status.as_str(), attempts, next, ms(now), sent, attempted, reply],
            )
            .map_err(|e| self.sql(e))?;
        self.audit(
            now,
            &Entry {
                actor: audit::SERVICE,
                kind,
                alert_id: n.alert_ids.first().map(String::as_str),
                province: Some(n.province),
                detail: serde_json::json!({
                    "notification": n.id,
                    "recipient": n.recipient_id,
                    "channel": n.channel.as_str(),
                    "attempts": attempts,
                    "reply": reply,
                    "message_id": n.message_id,
                }),
            },
        )
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
mod tests {
    use super::*;
    use crate::lifecycle::tests::{event, t};
    use crate::lifecycle::{Known, Outcome, apply};
    use riverwatch_core::Registry;
    use riverwatch_core::events::EventStatus;

    fn new_notification(alert: &str) -> NewNotification {
        NewNotification {
            recipient_id: "jl-duty".into(),
            recipient_name: "吉林省生态环境厅应急值班室".into(),
            province: Province::Jilin,
            role: Role::Equal,
            channel: Channel::Email,
            kind: NotificationKind::Firing,
            target: "duty@jl.example.org".into(),
            subject: "告警".into(),
            body_text: "正文".into(),
            body_html: "<p>正文</p>".into(),
            alert_ids: vec![alert.into()],
            expires_at: t(600),
            message_domain: "riverwatch.example.org".into(),
        }
    }

    #[test]
    fn outcomes_and_published_states_recorded_together_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.db");
        let reg = Registry::builtin().unwrap();
        let mut store = Store::open(&path).unwrap();
        let mut alerts = Vec::new();
        let tx = store.write().unwrap();
        for (i, station) in ["LLH-CJG", "LLH-YS"].into_iter().enumerate() {
            let e = event(&format!("e{i}"), EventStatus::Firing, station, "NH3N", 0);
            let Outcome::Opened(a) = apply(Known::default(), &e, &reg, t(1)) else {
                panic!()
            };
            tx.put_alert(&a).unwrap();
            tx.queue(&new_notification(&a.id), t(1)).unwrap();
            alerts.push(a);
        }
        tx.commit().unwrap();
        let due = store.due_notifications(Channel::Email, t(1), 10).unwrap();
        let sent = Delivery::Sent("250 OK".into());
        let retry = Delivery::Retry {
            reply: "421 later".into(),
            at: t(3),
        };
        store
            .record_deliveries(
                &[
                    (&due[0].notification, &sent),
                    (&due[1].notification, &retry),
                ],
                t(2),
            )
            .unwrap();
        assert_eq!(store.pending_count(Channel::Email).unwrap(), 1);
        let again = store.due_notifications(Channel::Email, t(3), 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].notification.id, due[1].notification.id);
        assert_eq!(again[0].notification.attempts, 1);

        assert_eq!(store.unpublished(10).unwrap().len(), 2);
        let published: Vec<(String, u64)> =
            alerts.iter().map(|a| (a.id.clone(), a.version)).collect();
        store.mark_published_all(&published).unwrap();
        assert!(store.unpublished(10).unwrap().is_empty());
    }

    #[test]
    fn the_outbox_keeps_what_was_decided_and_what_was_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.db");
        let reg = Registry::builtin().unwrap();
        let Outcome::Opened(a) = apply(
            Known::default(),
            &event("e1", EventStatus::Firing, "LLH-CJG", "NH3N", 0),
            &reg,
            t(1),
        ) else {
            panic!()
        };
        let mut store = Store::open(&path).unwrap();
        let tx = store.write().unwrap();
        tx.mark_event("e1", &a.fingerprint, Some(&a.id), "alert_opened", t(1))
            .unwrap();
        tx.put_alert(&a).unwrap();
        let id = tx.queue(&new_notification(&a.id), t(1)).unwrap();
        tx.commit().unwrap();
        drop(store);

        // "Restart": the queued row is still due, with a stable Message-ID.
        let mut store = Store::open(&path).unwrap();
        assert!(store.event_seen("e1").unwrap());
        let due = store.due_notifications(Channel::Email, t(1), 10).unwrap();
        assert_eq!(due.len(), 1);
        let n = due[0].notification.clone();
        assert_eq!((n.id, n.status), (id, DeliveryStatus::Queued));
        assert!(n.message_id.starts_with(&format!("<rw-{id}-")));
        store
            .record_delivery(
                &n,
                &Delivery::Retry {
                    reply: "421 try later".into(),
                    at: t(2),
                },
                t(1),
            )
            .unwrap();
        assert!(
            store
                .due_notifications(Channel::Email, t(1), 10)
                .unwrap()
                .is_empty()
        );
        let again = store.due_notifications(Channel::Email, t(2), 10).unwrap();
        assert_eq!(again[0].notification.attempts, 1);
        assert_eq!(again[0].notification.message_id, n.message_id);
        store
            .record_delivery(
                &again[0].notification,
                &Delivery::Sent("250 OK".into()),
                t(2),
            )
            .unwrap();
        assert!(
            store
                .due_notifications(Channel::Email, t(100), 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.pending_count(Channel::Email).unwrap(), 0);

        // Acknowledgements are per province and once.
        let ack = Acknowledgement {
            alert_id: a.id.clone(),
            province: Province::Jilin,
            by: "李娜".into(),
            at: t(3),
            comment: Some("已通知扶余市局".into()),
        };
        store.acknowledge(&ack).unwrap();
        assert!(matches!(
            store.acknowledge(&ack),
            Err(StoreError::AlreadyAcknowledged { .. })
        ));
        assert_eq!(store.acks_after(0).unwrap().len(), 1);
        let reader = crate::reader::AlertReader::open(
            &path,
            std::sync::Arc::new(riverwatch_core::time::SystemClock),
        )
        .unwrap();
        assert_eq!(
            reader.status_counts().unwrap(),
            vec![
                (AlertStatus::Firing, 1),
                (AlertStatus::Resolved, 0),
                (AlertStatus::Notice, 0)
            ]
        );
        assert_eq!(store.resolve_alert_id(&a.id[..6]).unwrap(), a.id);
        assert!(store.resolve_alert_id("ffff0000").is_err());
    }

    #[test]
    fn a_queued_notification_carries_the_anchor_of_its_own_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.db");
        let mut store = Store::open(&path).unwrap();
        let tx = store.write().unwrap();
        // State changes recorded before it in the same transaction.
        tx.audit(
            t(0),
            &Entry::service("alert_opened", Some("a1"), serde_json::json!({})),
        )
        .unwrap();
        let mut n = new_notification("a1");
        n.body_text = format!(
            "链头 {}，--head {}",
            audit::ANCHOR_PLACEHOLDER,
            audit::ANCHOR_ARG_PLACEHOLDER
        );
        n.body_html = format!("<p>{}</p>", audit::ANCHOR_PLACEHOLDER);
        let first = tx.queue(&n, t(0)).unwrap();
        let second = tx.queue(&n, t(0)).unwrap();
        tx.commit().unwrap();

        let reader = crate::reader::AlertReader::open(
            &path,
            std::sync::Arc::new(riverwatch_core::time::SystemClock),
        )
        .unwrap();
        let rows = reader.audit(&crate::reader::AuditQuery::default()).unwrap();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(
            kinds,
            vec!["alert_opened", "notification_queued", "notification_queued"]
        );
        for (id, row) in [(first, &rows[1]), (second, &rows[2])] {
            // The row that records this notification, by its id.
            let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap();
            assert_eq!(detail["notification"], id);
            let prefix: String = row.hash.chars().take(audit::ANCHOR_HEX_DIGITS).collect();
            let (text, html) = reader.notification_bodies(id).unwrap();
            assert_eq!(
                text,
                format!("链头 #{} {prefix}，--head {}:{prefix}", row.seq, row.seq)
            );
            assert_eq!(html, format!("<p>#{} {prefix}</p>", row.seq));
        }
        let v = reader
            .verify_audit_with(&[audit::Anchor::of(rows[2].seq, &rows[2].hash)])
            .unwrap();
        assert!(v.holds());
    }
}
