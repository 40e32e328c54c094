//! What duty officers write: the `acks` table (one acknowledgement per alert and
//! province) and the `silences` table, each change with its audit row.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::rows::ack_row;
use super::{Result, Store, StoreError, ms};
use crate::audit::Entry;
use crate::model::{Acknowledgement, Silence};

impl Store {
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
}
