//! The readings store's commit log (`commit_log`): each commit that stored readings appends
//! the keys of what it stored (21 bytes each: time, station id, period, parameter id) in the
//! same transaction, and analytics reads the log after its cursor
//! ([`SqliteReader::commits_after_blocking`]) so it judges every stored reading once. The
//! InfluxDB stores' local index file keeps the same log beside its `influx_index` table.

use std::collections::HashMap;

use riverwatch_core::store_api::Committed;
use riverwatch_core::{DataFlag, ParamCode, Period, Reading, StationId};
use rusqlite::{OptionalExtension as _, params};

use super::layout::Row;
use super::{INFLUX_INDEX, OBSERVATIONS, SqliteReader, id_table, layout, local, millis};
use crate::store::StoreError;

/// Commits kept in the commit log (older ones are dropped as new ones come).
pub const COMMIT_LOG_KEEP: i64 = 1_000_000;

/// Bytes per reading in a commit log entry: ts_ms (i64), station id (i64), period (u8),
/// parameter id (u32), little-endian.
const LOG_KEY: usize = 21;

/// Appends this commit's stored readings to the commit log (nothing when it stored none)
/// and drops the entries older than the newest [`COMMIT_LOG_KEEP`].
pub(super) fn log_commit(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Row],
    inserted: &[bool],
) -> Result<(), StoreError> {
    let new = inserted.iter().filter(|&&n| n).count();
    if new == 0 {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(new * LOG_KEY);
    for (row, _) in rows.iter().zip(inserted).filter(|(_, n)| **n) {
        let (ts, sid, period) = row.key;
        keys.extend_from_slice(&ts.to_le_bytes());
        keys.extend_from_slice(&sid.to_le_bytes());
        keys.push(u8::try_from(period).unwrap_or(u8::MAX));
        keys.extend_from_slice(&row.entry.param_id.to_le_bytes());
    }
    tx.prepare_cached("INSERT INTO commit_log (keys) VALUES (?1)")
        .map_err(local)?
        .execute([&keys])
        .map_err(local)?;
    let seq = tx.last_insert_rowid();
    if seq > COMMIT_LOG_KEEP {
        tx.prepare_cached("DELETE FROM commit_log WHERE seq <= ?1")
            .map_err(local)?
            .execute([seq - COMMIT_LOG_KEEP])
            .map_err(local)?;
    }
    Ok(())
}

impl SqliteReader {
    /// Up to `max` commits of the commit log after `after`, with their readings, on the
    /// calling thread. A file whose log does not exist yet has no commits.
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure or a log entry that does not decode.
    pub fn commits_after_blocking(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Vec<Committed>, StoreError> {
        self.logged_commits(OBSERVATIONS, after, max)
    }

    /// As [`SqliteReader::commits_after_blocking`], for the local database of an InfluxDB
    /// store: the values come from its `influx_index` table. A reading the index has
    /// already dropped (observed more than `influx_index_hours` before newer readings
    /// arrived) is left out of its commit: analytics that far behind does not judge it live
    /// (it is still in InfluxDB).
    ///
    /// # Errors
    /// As [`SqliteReader::commits_after_blocking`].
    pub fn influx_index_commits_after_blocking(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Vec<Committed>, StoreError> {
        self.logged_commits(INFLUX_INDEX, after, max)
    }

    /// The commits of the log after `after`, with the values of their readings from `table`.
    fn logged_commits(
        &self,
        table: &str,
        after: u64,
        max: usize,
    ) -> Result<Vec<Committed>, StoreError> {
        // The index drops old observations whole, and a key dropped and written again may
        // hold fewer parameters: there a reading missing from its row was dropped.
        let evicts = table == INFLUX_INDEX;
        let conn = self.connect()?;
        let has_log: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'commit_log'",
                [],
                |r| r.get(0),
            )
            .map_err(local)?;
        if !has_log {
            return Ok(Vec::new());
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let mut log = conn
            .prepare("SELECT seq, keys FROM commit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(local)?;
        let entries: Vec<(i64, Vec<u8>)> = log
            .query_map(params![after, max], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(local)?
            .collect::<Result<_, _>>()
            .map_err(local)?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let params: HashMap<i64, ParamCode> = id_table(&conn, "param_ids", "code")?
            .into_iter()
            .map(|(id, code)| (id, ParamCode::new(&code)))
            .collect();
        let stations: HashMap<i64, StationId> = id_table(&conn, "station_ids", "station")?
            .into_iter()
            .map(|(id, s)| (id, StationId::new(&s)))
            .collect();
        let mut obs = conn
            .prepare(&format!(
                "SELECT vals FROM {table} WHERE ts_ms = ?1 AND station_id = ?2 AND period = ?3"
            ))
            .map_err(local)?;
        let mut out = Vec::with_capacity(entries.len());
        for (seq, keys) in entries {
            let bad = |what: &str| local(format!("commit log entry {seq}: {what}"));
            if keys.len() % LOG_KEY != 0 {
                return Err(bad("length is not a multiple of a key"));
            }
            let mut readings = Vec::with_capacity(keys.len() / LOG_KEY);
            for k in keys.chunks_exact(LOG_KEY) {
                let int = |r: std::ops::Range<usize>| -> [u8; 8] {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&k[r]);
                    b
                };
                let ts = i64::from_le_bytes(int(0..8));
                let sid = i64::from_le_bytes(int(8..16));
                let period_code = k[16];
                let mut p = [0u8; 4];
                p.copy_from_slice(&k[17..21]);
                let param_id = u32::from_le_bytes(p);
                let blob: Option<Vec<u8>> = obs
                    .query_row(params![ts, sid, i64::from(period_code)], |r| r.get(0))
                    .optional()
                    .map_err(local)?;
                // Gone only if someone deleted it or the index dropped it; nothing to judge.
                let Some(blob) = blob else { continue };
                let entry = layout::decode(&blob)
                    .map_err(|e| bad(&e))?
                    .find(|e| e.param_id == param_id);
                let entry = match entry {
                    Some(entry) => entry,
                    None if evicts => continue,
                    None => return Err(bad("parameter missing from its observation")),
                };
                readings.push(Reading {
                    station: stations
                        .get(&sid)
                        .cloned()
                        .ok_or_else(|| bad("unknown station id"))?,
                    parameter: params
                        .get(&i64::from(param_id))
                        .cloned()
                        .ok_or_else(|| bad("unknown parameter id"))?,
                    observed_at: millis(ts)?,
                    received_at: millis(entry.received_ms)?,
                    value: entry.value,
                    flag: DataFlag::from_byte(entry.flag)
                        .ok_or_else(|| bad("stored flag is not a data flag"))?,
                    period: Period::from_code(period_code).ok_or_else(|| bad("unknown period"))?,
                });
            }
            out.push(Committed {
                seq: u64::try_from(seq).unwrap_or(0),
                readings,
            });
        }
        Ok(out)
    }
}
