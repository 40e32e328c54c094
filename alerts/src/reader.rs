//! The public read API of the alert store: how the console, the river-chief reports and the
//! command line read alerts. It opens `alerts.db` read-only (WAL lets it read while the
//! service writes) and returns typed records — alerts with both provinces' acknowledgement
//! state, the notification log, silences and audit rows — so no other crate needs the SQL.
//!
//! What is in effect "now" (silences muting an alert, active silences) is decided by the
//! clock the reader is given: the system clock in production, a manual clock in tests.
//!
//! ```no_run
//! use std::sync::Arc;
//! use riverwatch_alerts::reader::{AlertQuery, AlertReader, StateFilter};
//! use riverwatch_core::time::SystemClock;
//! # fn main() -> Result<(), riverwatch_alerts::store::StoreError> {
//! let reader = AlertReader::open(std::path::Path::new("data/alerts.db"), Arc::new(SystemClock))?;
//! for view in reader.alerts(&AlertQuery { state: StateFilter::Firing, ..AlertQuery::default() })? {
//!     let hlj = view.ack(riverwatch_core::Province::Heilongjiang);
//!     println!("{} {} HLJ acknowledged: {}", view.alert.id, view.alert.fingerprint, hlj.is_some());
//! }
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use riverwatch_core::Province;
use riverwatch_core::time::Clock;
use rusqlite::{OptionalExtension, params};

use crate::audit::{self, Anchor, Verification};
use crate::model::{
    Acknowledgement, Alert, AlertStatus, AlertView, AuditRow, Notification, ProvinceState, Silence,
};
use crate::routing::acting_provinces;
use crate::store::{
    AUDIT_COLUMNS, Db, NOTIFICATION_COLUMNS, Result, StoreError, audit_row, connect_read_only, ms,
    notification_row,
};

/// Which alerts to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    /// Firing only (the default).
    #[default]
    Firing,
    /// Resolved only.
    Resolved,
    /// Notices only.
    Notice,
    /// Everything.
    All,
}

/// An alert listing query.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Which states.
    pub state: StateFilter,
    /// Only alerts this province acts on (as owner or equal; information copies left out).
    pub province: Option<Province>,
    /// Only alerts of this station (or `REGION`).
    pub subject: Option<String>,
    /// Only alerts changed at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, most recently changed first (all when `None`).
    pub limit: Option<usize>,
}

/// A notification-log query.
#[derive(Debug, Clone, Default)]
pub struct NotificationQuery {
    /// Only notifications carrying this alert.
    pub alert_id: Option<String>,
    /// Only this recipient.
    pub recipient_id: Option<String>,
    /// Only notifications queued at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, newest first (all when `None`).
    pub limit: Option<usize>,
}

/// An audit query.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only rows about this alert.
    pub alert_id: Option<String>,
    /// Only rows after this sequence number.
    pub after_seq: Option<i64>,
    /// At most this many, in chain order.
    pub limit: Option<usize>,
}

/// Read-only access to the alert store.
#[derive(Debug)]
pub struct AlertReader {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl AlertReader {
    /// Opens the store read-only; `clock` says what is in effect now.
    ///
    /// # Errors
    /// [`StoreError::Missing`] when the service has not created it yet (no file, or a file
    /// whose tables the service is still creating), or a database error.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        let db = connect_read_only(path)?;
        let created: bool = db
            .conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'alerts'",
                [],
                |r| r.get(0),
            )
            .map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        if !created {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Ok(Self { db, clock })
    }

    /// Alerts with their provinces' state, most recently changed first.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn alerts(&self, q: &AlertQuery) -> Result<Vec<AlertView>> {
        let status = match q.state {
            StateFilter::Firing => Some("firing"),
            StateFilter::Resolved => Some("resolved"),
            StateFilter::Notice => Some("notice"),
            StateFilter::All => None,
        };
        let since = q.since.map(ms).unwrap_or(i64::MIN);
        let alerts: Vec<Alert> = self.db.bodies(
            "SELECT body FROM alerts WHERE (?1 IS NULL OR status = ?1) AND updated_ms >= ?2 \
             ORDER BY updated_ms DESC, id",
            params![status, since],
        )?;
        let silences = self.silences(false)?;
        let now = self.clock.now();
        let mut out = Vec::new();
        for alert in alerts {
            if q.province
                .is_some_and(|p| alert.role_of(p) == crate::model::Role::InfoCopy)
            {
                continue;
            }
            if q.subject.as_deref().is_some_and(|s| s != alert.subject) {
                continue;
            }
            out.push(self.view(alert, &silences, now)?);
            if q.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    /// How many alerts are in each state (firing, resolved, notice), every state listed;
    /// the console's `alerts{state=…}` gauges.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn status_counts(&self) -> Result<Vec<(AlertStatus, u64)>> {
        let mut stmt = self
            .db
            .conn
            .prepare_cached("SELECT status, COUNT(*) FROM alerts GROUP BY status")
            .map_err(|e| self.db.sql(e))?;
        let rows: Vec<(String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.db.sql(e))?;
        let mut out: Vec<(AlertStatus, u64)> = [
            AlertStatus::Firing,
            AlertStatus::Resolved,
            AlertStatus::Notice,
        ]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
        for (status, n) in rows {
            let status: AlertStatus = status.parse().map_err(|detail| StoreError::Corrupt {
                path: self.db.path.clone(),
                detail,
            })?;
            if let Some(slot) = out.iter_mut().find(|(s, _)| *s == status) {
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(out)
    }

    /// One alert by id or unique prefix (at least 4 hex digits).
    ///
    /// # Errors
    /// No match, several matches, or a database error.
    pub fn alert(&self, id_or_prefix: &str) -> Result<AlertView> {
        let id = self.db.resolve_alert_id(id_or_prefix)?;
        let Some(alert) = self.db.alert(&id)? else {
            return Err(StoreError::NotFound { what: "alert", id });
        };
        let silences = self.silences(false)?;
        self.view(alert, &silences, self.clock.now())
    }

    fn view(&self, alert: Alert, silences: &[Silence], now: DateTime<Utc>) -> Result<AlertView> {
        let acks = self.acks(&alert.id)?;
        let acting = acting_provinces(&alert);
        let provinces_state = Province::ALL
            .into_iter()
            .map(|p| ProvinceState {
                province: p,
                role: alert.role_of(p),
                ack: acks.iter().find(|a| a.province == p).cloned(),
                escalation_level: if acting.contains(&p) {
                    alert.escalation_of(p).map(|e| e.level).unwrap_or(0)
                } else {
                    0
                },
            })
            .collect();
        let silenced_by = crate::silence::silencing(silences, &alert, now)
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut attached = Vec::new();
        if alert.is_firing() {
            // Attached directly: downstream alerts of its incident, alerts an inhibit rule
            // holds behind it.
            let mut stmt = self
                .db
                .conn
                .prepare_cached(
                    "SELECT id FROM alerts WHERE status = 'firing' AND id != ?1 \
                     AND json_extract(body, '$.inhibited_by') = ?1 ORDER BY first_seen_ms, id",
                )
                .map_err(|e| self.db.sql(e))?;
            attached = stmt
                .query_map(params![alert.id], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(|e| self.db.sql(e))?;
        }
        Ok(AlertView {
            alert,
            provinces_state,
            silenced_by,
            attached,
        })
    }

    /// The acknowledgements of an alert.
    ///
    /// # Errors
    /// A database error.
    pub fn acks(&self, alert_id: &str) -> Result<Vec<Acknowledgement>> {
        self.db.acks_of(alert_id)
    }

    /// The notification log, newest first.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn notifications(&self, q: &NotificationQuery) -> Result<Vec<Notification>> {
        let mut stmt = self
            .db
            .conn
            .prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
                 WHERE (?1 IS NULL OR recipient_id = ?1) AND created_ms >= ?2 \
                 AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(alert_ids) WHERE value = ?3)) \
                 ORDER BY id DESC LIMIT ?4"
            ))
            .map_err(|e| self.db.sql(e))?;
        let limit = q.limit.map(|l| l as i64).unwrap_or(-1);
        stmt.query_map(
            params![
                q.recipient_id,
                q.since.map(ms).unwrap_or(i64::MIN),
                q.alert_id,
                limit
            ],
            notification_row,
        )
        .and_then(Iterator::collect)
        .map_err(|e| self.db.sql(e))
    }

    /// The bodies of one notification (plain text, HTML) as queued.
    ///
    /// # Errors
    /// No such notification, or a database error.
    pub fn notification_bodies(&self, id: i64) -> Result<(String, String)> {
        self.db
            .conn
            .query_row(
                "SELECT body_text, body_html FROM notifications WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.db.sql(e))?
            .ok_or(StoreError::NotFound {
                what: "notification",
                id: id.to_string(),
            })
    }

    /// Silences, oldest first: active and future ones, or all including ended ones.
    ///
    /// # Errors
    /// A database or decoding error.
    pub fn silences(&self, include_ended: bool) -> Result<Vec<Silence>> {
        self.db.bodies(
            "SELECT body FROM silences WHERE ?1 OR (expired_ms IS NULL AND ends_ms > ?2) ORDER BY seq",
            params![include_ended, ms(self.clock.now())],
        )
    }

    /// Audit rows in chain order.
    ///
    /// # Errors
    /// A database error.
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>> {
        let mut stmt = self.db.conn
            .prepare_cached(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit WHERE (?1 IS NULL OR alert_id = ?1) AND seq > ?2 \
                 ORDER BY seq LIMIT ?3"
            ))
            .map_err(|e| self.db.sql(e))?;
        stmt.query_map(
            params![
                q.alert_id,
                q.after_seq.unwrap_or(0),
                q.limit.map(|l| l as i64).unwrap_or(-1)
            ],
            audit_row,
        )
        .and_then(Iterator::collect)
        .map_err(|e| self.db.sql(e))
    }

    /// Walks the whole audit chain and reports the first broken link.
    ///
    /// # Errors
    /// A database error (a row that cannot even be read counts as one).
    pub fn verify_audit(&self) -> Result<Verification> {
        self.verify_audit_with(&[])
    }

    /// Walks the whole audit chain, reports the first broken link and checks that it still
    /// holds each anchor (a head someone kept, e.g. from a notification).
    ///
    /// # Errors
    /// A database error (a row that cannot even be read counts as one).
    pub fn verify_audit_with(&self, anchors: &[Anchor]) -> Result<Verification> {
        let mut stmt = self
            .db
            .conn
            .prepare(&format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq"))
            .map_err(|e| self.db.sql(e))?;
        let rows: Vec<AuditRow> = stmt
            .query_map([], audit_row)
            .and_then(Iterator::collect)
            .map_err(|e| self.db.sql(e))?;
        Ok(audit::verify_with(rows, anchors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riverwatch_core::time::SystemClock;

    #[test]
    fn a_file_whose_tables_are_not_created_yet_reads_as_not_there_yet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.db");
        // The service has created the file but not yet its tables.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        let err = AlertReader::open(&path, Arc::new(SystemClock))
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::Missing(ref p) if p == &path),
            "{err}"
        );
        drop(conn);
        // Once the store exists, the reader opens it.
        drop(crate::store::Store::open(&path).unwrap());
        let reader = AlertReader::open(&path, Arc::new(SystemClock)).unwrap();
        assert!(reader.alerts(&AlertQuery::default()).unwrap().is_empty());
    }
}
