//! The dead-letter tables of the local database: each rejected message's raw bytes once in
//! `raw_messages`, and one small row per rejection in `dead_letters` pointing at it, so a
//! message with 3 000 bad values keeps its payload once, not 3 000 times.
//!
//! Retention: dead letters older than `dead_letter_max_age_days` (counted back from the
//! newest reception time written) and, past `dead_letter_max_mib`, the oldest ones are
//! deleted together with raw messages no longer referenced; every drop is logged and counted
//! in `ingest_dead_letters_dropped_total{cause}`. Replayed dead letters are marked
//! (`replayed_ms`), never deleted by the replay.

use std::collections::HashSet;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::store_api::{DeadLetterQuery, StoreError};
use riverwatch_core::telemetry::counter;
use riverwatch_core::{DeadLetter, ReasonCode};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tracing::warn;

use super::{local, millis};
use crate::config::SqliteConfig;

/// Bytes a dead-letter row is counted for besides its reason (ids, times, codes, index
/// entries), for the size retention.
const ROW_BYTES: u64 = 64;

/// The metric of dead letters dropped by retention.
const DROPPED: &str = "ingest_dead_letters_dropped_total";

/// FNV-1a, 64 bit: a stable hash (unlike std's) to find a message already kept.
fn payload_hash(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Schema 2 kept the payload in every dead-letter row: move each distinct (topic, payload)
/// into `raw_messages` once and point the rows at it. Runs inside the opener's transaction,
/// after the store's tables were created (`raw_messages` new, an old `dead_letters` left as
/// it was).
pub(super) fn migrate_from_v2(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let old_layout: i64 = tx
        .query_row(
            "SELECT count(*) FROM pragma_table_info('dead_letters') WHERE name = 'payload'",
            [],
            |r| r.get(0),
        )
        .map_err(local)?;
    if old_layout == 0 {
        // A file without dead letters of the old layout: `TABLES` made the new one.
        return Ok(());
    }
    tx.execute_batch(
        "INSERT INTO raw_messages (hash, topic, payload)
             SELECT payload_hash, topic, payload FROM dead_letters
             GROUP BY payload_hash, topic, payload ORDER BY min(id);
         CREATE TABLE dead_letters_v3 (
             id          INTEGER PRIMARY KEY AUTOINCREMENT,
             received_ms INTEGER NOT NULL,
             message_id  INTEGER NOT NULL,
             reason_code TEXT    NOT NULL,
             reason      TEXT    NOT NULL,
             station     TEXT,
             parameter   TEXT,
             replayed_ms INTEGER
         );
         INSERT INTO dead_letters_v3
             (id, received_ms, message_id, reason_code, reason, station, parameter)
             SELECT d.id, d.received_ms, m.id, d.reason_code, d.reason, d.station, d.parameter
             FROM dead_letters d JOIN raw_messages m
               ON m.hash = d.payload_hash AND m.topic = d.topic AND m.payload = d.payload;
         DROP TABLE dead_letters;
         ALTER TABLE dead_letters_v3 RENAME TO dead_letters;
         CREATE UNIQUE INDEX dead_letters_once
             ON dead_letters (message_id, reason_code, ifnull(parameter, ''));
         CREATE INDEX dead_letters_received ON dead_letters (received_ms);",
    )
    .map_err(local)
}

/// The dead-letter side of the writer: the size kept and the retention limits.
#[derive(Debug)]
pub(super) struct Retention {
    /// Bytes the dead letters take by the retention's measure (raw payloads, reasons and
    /// [`ROW_BYTES`] per row).
    bytes: u64,
    max_bytes: u64,
    max_age_ms: i64,
}

impl Retention {
    /// Reads the current size.
    pub(super) fn open(conn: &Connection, cfg: &SqliteConfig) -> Result<Self, StoreError> {
        Ok(Self {
            bytes: measure(conn)?,
            max_bytes: u64::from(cfg.dead_letter_max_mib) * 1024 * 1024,
            max_age_ms: i64::from(cfg.dead_letter_max_age_days) * 86_400_000,
        })
    }

    /// Inserts dead letters in an open transaction, each message's raw bytes once; a
    /// redelivered rejection is kept once. Then applies the retention, counted back from
    /// the newest reception time of `dead`.
    pub(super) fn insert(
        &mut self,
        tx: &Transaction<'_>,
        dead: &[DeadLetter],
    ) -> Result<(), StoreError> {
        let mut row = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO dead_letters \
                 (received_ms, message_id, reason_code, reason, station, parameter) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(local)?;
        // The dead letters of one message are contiguous and share its bytes.
        let mut last: Option<(&str, &Bytes, i64)> = None;
        for d in dead {
            let message_id = match last {
                Some((topic, payload, id)) if topic == d.topic && *payload == d.payload => id,
                _ => {
                    let id = self.message_id(tx, &d.topic, &d.payload)?;
                    last = Some((&d.topic, &d.payload, id));
                    id
                }
            };
            let added = row
                .execute(params![
                    d.received_at.timestamp_millis(),
                    message_id,
                    d.reason_code.as_str(),
                    d.reason,
                    d.station,
                    d.parameter,
                ])
                .map_err(local)?;
            if added > 0 {
                self.bytes += d.reason.len() as u64 + ROW_BYTES;
            }
        }
        if let Some(newest) = dead.iter().map(|d| d.received_at).max() {
            self.retain(tx, newest.timestamp_millis())?;
        }
        Ok(())
    }

    /// The id of the kept (topic, payload), inserting it if new.
    fn message_id(
        &mut self,
        tx: &Transaction<'_>,
        topic: &str,
        payload: &[u8],
    ) -> Result<i64, StoreError> {
        let hash = payload_hash(payload);
        let found: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM raw_messages WHERE hash = ?1 AND topic = ?2 AND payload = ?3",
            )
            .map_err(local)?
            .query_row(params![hash, topic, payload], |r| r.get(0))
            .optional()
            .map_err(local)?;
        if let Some(id) = found {
            return Ok(id);
        }
        tx.prepare_cached("INSERT INTO raw_messages (hash, topic, payload) VALUES (?1, ?2, ?3)")
            .map_err(local)?
            .execute(params![hash, topic, payload])
            .map_err(local)?;
        self.bytes += payload.len() as u64;
        Ok(tx.last_insert_rowid())
    }

    /// Drops dead letters past the age or size limit, oldest first, with the raw messages
    /// nothing refers to any more; logs and counts what it dropped.
    fn retain(&mut self, tx: &Transaction<'_>, newest_ms: i64) -> Result<(), StoreError> {
        let cutoff = newest_ms.saturating_sub(self.max_age_ms);
        let old: Option<i64> = tx
            .prepare_cached("SELECT max(id) FROM dead_letters WHERE received_ms < ?1")
            .map_err(local)?
            .query_row([cutoff], |r| r.get(0))
            .map_err(local)?;
        if let Some(upto) = old {
            self.drop_upto(tx, upto, "age")?;
        }
        if self.bytes > self.max_bytes {
            // Down to 90 % of the limit, so that a full table does not trim on every batch.
            let target = self.max_bytes / 10 * 9;
            let mut freed: u64 = 0;
            let mut upto = None;
            let mut seen = HashSet::new();
            let mut rows = tx
                .prepare(
                    "SELECT d.id, d.message_id, length(d.reason), length(m.payload) \
                     FROM dead_letters d JOIN raw_messages m ON m.id = d.message_id \
                     ORDER BY d.id",
                )
                .map_err(local)?;
            let mut it = rows.query([]).map_err(local)?;
            while let Some(r) = it.next().map_err(local)? {
                let id: i64 = r.get(0).map_err(local)?;
                let message: i64 = r.get(1).map_err(local)?;
                let reason: i64 = r.get(2).map_err(local)?;
                let payload: i64 = r.get(3).map_err(local)?;
                freed += u64::try_from(reason).unwrap_or(0) + ROW_BYTES;
                if seen.insert(message) {
                    freed += u64::try_from(payload).unwrap_or(0);
                }
                upto = Some(id);
                if self.bytes.saturating_sub(freed) <= target {
                    break;
                }
            }
            drop(it);
            drop(rows);
            if let Some(upto) = upto {
                self.drop_upto(tx, upto, "size")?;
            }
        }
        Ok(())
    }

    /// Deletes the dead letters with ids up to `upto` and the raw messages left without
    /// one, then measures the tables again.
    fn drop_upto(
        &mut self,
        tx: &Transaction<'_>,
        upto: i64,
        cause: &'static str,
    ) -> Result<(), StoreError> {
        let dropped = tx
            .execute("DELETE FROM dead_letters WHERE id <= ?1", [upto])
            .map_err(local)?;
        let messages = tx
            .execute(
                "DELETE FROM raw_messages WHERE NOT EXISTS \
                 (SELECT 1 FROM dead_letters d WHERE d.message_id = raw_messages.id)",
                [],
            )
            .map_err(local)?;
        self.bytes = measure(tx)?;
        if dropped > 0 {
            counter(DROPPED, &[("cause", cause)]).add(dropped as u64);
            warn!(
                dropped,
                messages,
                cause,
                kept_bytes = self.bytes,
                max_bytes = self.max_bytes,
                max_age_days = self.max_age_ms / 86_400_000,
                "Dead letters dropped by the retention limits."
            );
        }
        Ok(())
    }
}

/// The retention's measure of the dead-letter tables.
fn measure(conn: &Connection) -> Result<u64, StoreError> {
    let (payloads, rows): (i64, i64) = conn
        .query_row(
            &format!(
                "SELECT (SELECT coalesce(sum(length(payload)), 0) FROM raw_messages), \
                        (SELECT coalesce(sum(length(reason) + {ROW_BYTES}), 0) FROM dead_letters)"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(local)?;
    Ok(u64::try_from(payloads + rows).unwrap_or(0))
}

/// A dead letter as stored, with its row id, the id of its raw message and whether it was
/// replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeadLetter {
    /// Row id (order of arrival).
    pub id: i64,
    /// Id of its raw message, shared by the dead letters of one message.
    pub message_id: i64,
    /// When `riverwatch dead-letters replay` re-decoded it, if it did.
    pub replayed_at: Option<DateTime<Utc>>,
    /// The dead letter.
    pub letter: DeadLetter,
}

/// Reads stored dead letters, oldest first (the newest `limit` when set); replayed ones
/// only with `include_replayed`.
pub(super) fn read(
    conn: &Connection,
    q: &DeadLetterQuery,
    include_replayed: bool,
) -> Result<Vec<StoredDeadLetter>, StoreError> {
    let mut sql = String::from(
        "SELECT d.id, d.received_ms, m.topic, d.reason_code, d.reason, d.station, \
                d.parameter, m.payload, d.message_id, d.replayed_ms \
         FROM dead_letters d JOIN raw_messages m ON m.id = d.message_id WHERE 1=1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(since) = q.since {
        sql.push_str(" AND d.received_ms >= ?");
        args.push(since.timestamp_millis().into());
    }
    if let Some(reason) = q.reason {
        sql.push_str(" AND d.reason_code = ?");
        args.push(reason.as_str().to_string().into());
    }
    if !include_replayed {
        sql.push_str(" AND d.replayed_ms IS NULL");
    }
    match q.limit {
        // The newest `limit`, still returned oldest first.
        Some(limit) => {
            sql = format!("SELECT * FROM ({sql} ORDER BY d.id DESC LIMIT {limit}) ORDER BY 1");
        }
        None => sql.push_str(" ORDER BY d.id"),
    }
    let mut stmt = conn.prepare(&sql).map_err(local)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args))
        .map_err(local)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(local)? {
        let code: String = row.get(3).map_err(local)?;
        let replayed: Option<i64> = row.get(9).map_err(local)?;
        out.push(StoredDeadLetter {
            id: row.get(0).map_err(local)?,
            message_id: row.get(8).map_err(local)?,
            replayed_at: replayed.map(millis).transpose()?,
            letter: DeadLetter {
                received_at: millis(row.get(1).map_err(local)?)?,
                topic: row.get(2).map_err(local)?,
                payload: Bytes::from(row.get::<_, Vec<u8>>(7).map_err(local)?),
                reason_code: code.parse::<ReasonCode>().map_err(local)?,
                reason: row.get(4).map_err(local)?,
                station: row.get(5).map_err(local)?,
                parameter: row.get(6).map_err(local)?,
            },
        });
    }
    Ok(out)
}

/// Marks dead letters as replayed at `at`.
pub(super) fn mark_replayed(
    conn: &mut Connection,
    ids: &[i64],
    at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let tx = conn.transaction().map_err(local)?;
    let mut n = 0;
    {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE dead_letters SET replayed_ms = ?2 WHERE id = ?1 AND replayed_ms IS NULL",
            )
            .map_err(local)?;
        for id in ids {
            n += stmt
                .execute(params![id, at.timestamp_millis()])
                .map_err(local)?;
        }
    }
    tx.commit().map_err(local)?;
    Ok(n)
}

/// Bytes of raw payload kept in `raw_messages`, for tests and reports.
pub(super) fn raw_bytes(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_row(
            "SELECT coalesce(sum(length(payload)), 0) FROM raw_messages",
            [],
            |r| r.get(0),
        )
        .map_err(local)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
