//! The `alerts`, `events` and `groups` tables: applied event ids, the alerts themselves
//! (with the version the retained MQTT state has reached) and the grouping state.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, WriteTx, from_ms, ms};
use crate::grouping::{Changes, Group};
use crate::model::{Alert, AlertStatus};

impl Store {
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

    /// Resolves an alert id or unique prefix (at least 4 hex digits) to the full id.
    ///
    /// # Errors
    /// No match, several matches, or a database error.
    pub fn resolve_alert_id(&self, prefix: &str) -> Result<String> {
        self.db.resolve_alert_id(prefix)
    }
}

impl WriteTx<'_> {
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
}
