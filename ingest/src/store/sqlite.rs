//! The SQLite store: the embedded default for readings, and always the home of dead letters
//! (and of the InfluxDB spool).
//!
//! Layout for speed with the dedup key in force: readings live in a `WITHOUT ROWID` table
//! whose primary key is (ts_ms, station_id, param_id, period) with small integer ids, so the
//! key is the table itself (no second index to maintain) and readings arriving in time order
//! append at the right edge of the B-tree, where SQLite splits pages cheaply. `INSERT OR
//! IGNORE` makes redelivery idempotent. WAL mode lets readers run beside the writer; each
//! batch is one transaction, synced per `synchronous` before `write` returns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::pipeline::{
    DeadLetterQuery, DeadLetterReader, ReadingQuery, StoreError, StoreReader, StoreWriter,
    WriteBatch, WriteReport,
};
use riverwatch_core::{DataFlag, DeadLetter, ParamCode, Period, Reading, ReasonCode, StationId};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::config::{SqliteConfig, Synchronous};

const BACKEND: &str = "sqlite";
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS station_ids (
    id      INTEGER PRIMARY KEY,
    station TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS param_ids (
    id   INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS readings (
    station_id  INTEGER NOT NULL,
    param_id    INTEGER NOT NULL,
    period      INTEGER NOT NULL,
    ts_ms       INTEGER NOT NULL,
    value       REAL    NOT NULL,
    flag        INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (ts_ms, station_id, param_id, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms  INTEGER NOT NULL,
    topic        TEXT    NOT NULL,
    reason_code  TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    station      TEXT,
    parameter    TEXT,
    payload_hash INTEGER NOT NULL,
    payload      BLOB    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_once
    ON dead_letters (payload_hash, topic, reason_code, ifnull(parameter, ''));
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_ms);
";

fn local(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Local {
        backend: BACKEND,
        detail: detail.to_string(),
    }
}

/// FNV-1a, 64 bit: a stable hash (unlike std's) to recognise a redelivered bad payload.
fn payload_hash(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Opens (creating if needed) the database at `path` with the writer's settings.
fn open_rw(path: &Path, cfg: &SqliteConfig) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| local(format!("cannot create {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path)
        .map_err(|e| local(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(local)?;
    let journal: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(local)?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(local(format!(
            "{} cannot use WAL mode (got {journal})",
            path.display()
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous={}; PRAGMA cache_size=-{}; PRAGMA temp_store=MEMORY;",
        cfg.synchronous.pragma(),
        u64::from(cfg.cache_mib) * 1024
    ))
    .map_err(local)?;
    conn.execute_batch(SCHEMA).map_err(local)?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(local)?;
    match version.as_deref().map(str::parse::<i64>) {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )
            .map_err(local)?;
        }
        Some(Ok(v)) if v == SCHEMA_VERSION => {}
        Some(other) => {
            return Err(local(format!(
                "{} has schema version {other:?}; this riverwatch expects {SCHEMA_VERSION}",
                path.display()
            )));
        }
    }
    Ok(conn)
}

/// The writer side: one connection, used from blocking threads one batch at a time.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Mutex<Writer>>,
    path: PathBuf,
}

#[derive(Debug)]
struct Writer {
    conn: Connection,
    station_ids: HashMap<StationId, i64>,
    param_ids: HashMap<ParamCode, i64>,
    /// The rows of the batch being written, kept between batches for their capacity.
    rows: Vec<KeyedRow>,
    closed: bool,
}

impl Writer {
    fn id_of(
        tx: &rusqlite::Transaction<'_>,
        table: &str,
        column: &str,
        name: &str,
    ) -> rusqlite::Result<i64> {
        tx.execute(
            &format!("INSERT OR IGNORE INTO {table} ({column}) VALUES (?1)"),
            [name],
        )?;
        tx.query_row(
            &format!("SELECT id FROM {table} WHERE {column} = ?1"),
            [name],
            |r| r.get(0),
        )
    }

    fn write(&mut self, batch: &WriteBatch) -> Result<WriteReport, StoreError> {
        if self.closed {
            return Err(StoreError::Shutdown);
        }
        let mut report = WriteReport {
            inserted: Vec::with_capacity(batch.readings.len()),
            ..WriteReport::default()
        };
        let Writer {
            conn,
            station_ids,
            param_ids,
            rows,
            ..
        } = self;
        rows.clear();
        let tx = conn.transaction().map_err(local)?;
        // Ids first; the caches learn new ids only after the commit.
        let mut new_stations = Vec::new();
        let mut new_params = Vec::new();
        {
            let mut local_stations: HashMap<StationId, i64> = HashMap::new();
            let mut local_params: HashMap<ParamCode, i64> = HashMap::new();
            for r in &batch.readings {
                let sid = match station_ids
                    .get(&r.station)
                    .or(local_stations.get(&r.station))
                {
                    Some(&id) => id,
                    None => {
                        let id = Self::id_of(&tx, "station_ids", "station", r.station.as_str())
                            .map_err(local)?;
                        local_stations.insert(r.station.clone(), id);
                        new_stations.push((r.station.clone(), id));
                        id
                    }
                };
                let pid = match param_ids
                    .get(&r.parameter)
                    .or(local_params.get(&r.parameter))
                {
                    Some(&id) => id,
                    None => {
                        let id = Self::id_of(&tx, "param_ids", "code", r.parameter.as_str())
                            .map_err(local)?;
                        local_params.insert(r.parameter.clone(), id);
                        new_params.push((r.parameter.clone(), id));
                        id
                    }
                };
                rows.push(KeyedRow {
                    key: (
                        r.observed_at.timestamp_millis(),
                        sid,
                        pid,
                        i64::from(r.period.code()),
                    ),
                    value: r.value,
                    flag: i64::from(r.flag.letter() as u8),
                    received_ms: r.received_at.timestamp_millis(),
                });
            }
        }
        insert_readings(&tx, rows, &mut report)?;
        if !batch.dead_letters.is_empty() {
            insert_dead_letters(&tx, &batch.dead_letters)?;
        }
        tx.commit().map_err(local)?;
        station_ids.extend(new_stations);
        param_ids.extend(new_params);
        Ok(report)
    }
}

/// Rows per multi-row `INSERT`: one statement step per chunk instead of per row cuts the
/// virtual-machine overhead that dominated the per-row inserts.
const CHUNK: usize = 64;

fn insert_sql(rows: usize) -> String {
    let one = "(?,?,?,?,?,?,?)";
    let values = vec![one; rows].join(",");
    format!(
        "INSERT OR IGNORE INTO readings \
         (ts_ms, station_id, param_id, period, value, flag, received_ms) VALUES {values}"
    )
}

/// A reading as stored: the key (ts_ms, station_id, param_id, period) and the values.
#[derive(Debug)]
struct KeyedRow {
    key: (i64, i64, i64, i64),
    value: f64,
    flag: i64,
    received_ms: i64,
}

fn bind_rows(
    stmt: &mut rusqlite::CachedStatement<'_>,
    rows: &[KeyedRow],
) -> Result<(), StoreError> {
    for (i, row) in rows.iter().enumerate() {
        let base = i * 7;
        let (ts, sid, pid, period) = row.key;
        stmt.raw_bind_parameter(base + 1, ts).map_err(local)?;
        stmt.raw_bind_parameter(base + 2, sid).map_err(local)?;
        stmt.raw_bind_parameter(base + 3, pid).map_err(local)?;
        stmt.raw_bind_parameter(base + 4, period).map_err(local)?;
        stmt.raw_bind_parameter(base + 5, row.value)
            .map_err(local)?;
        stmt.raw_bind_parameter(base + 6, row.flag).map_err(local)?;
        stmt.raw_bind_parameter(base + 7, row.received_ms)
            .map_err(local)?;
    }
    Ok(())
}

/// Inserts readings, recording for each whether it was new.
///
/// Full chunks go through one 64-row statement inside a savepoint. When the statement
/// changed every row (the usual case: nothing was stored before), the chunk is done; when
/// it changed fewer, some rows were duplicates, so the chunk is rolled back to the savepoint
/// and inserted row by row, where each row's change count says whether it was new (a key
/// repeated within the batch is new only the first time). The tail goes row by row.
fn insert_readings(
    tx: &rusqlite::Transaction<'_>,
    rows: &[KeyedRow],
    report: &mut WriteReport,
) -> Result<(), StoreError> {
    let mut full = tx.prepare_cached(&insert_sql(CHUNK)).map_err(local)?;
    let mut single = tx.prepare_cached(&insert_sql(1)).map_err(local)?;
    let mut savepoint = tx.prepare_cached("SAVEPOINT chunk").map_err(local)?;
    let mut release = tx.prepare_cached("RELEASE chunk").map_err(local)?;
    let mut rollback = tx.prepare_cached("ROLLBACK TO chunk").map_err(local)?;
    for chunk in rows.chunks(CHUNK) {
        if chunk.len() == CHUNK {
            savepoint.raw_execute().map_err(local)?;
            bind_rows(&mut full, chunk)?;
            let changed = full.raw_execute().map_err(local)?;
            if changed == CHUNK {
                release.raw_execute().map_err(local)?;
                report.inserted.extend(std::iter::repeat_n(true, CHUNK));
                continue;
            }
            rollback.raw_execute().map_err(local)?;
            release.raw_execute().map_err(local)?;
        }
        for row in chunk {
            bind_rows(&mut single, std::slice::from_ref(row))?;
            let new = single.raw_execute().map_err(local)? == 1;
            if !new {
                report.duplicates += 1;
            }
            report.inserted.push(new);
        }
    }
    Ok(())
}

/// Inserts dead letters in an open transaction; a redelivered rejection is kept once.
pub(crate) fn insert_dead_letters(
    tx: &rusqlite::Transaction<'_>,
    dead: &[DeadLetter],
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO dead_letters \
             (received_ms, topic, reason_code, reason, station, parameter, payload_hash, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(local)?;
    for d in dead {
        stmt.execute(params![
            d.received_at.timestamp_millis(),
            d.topic,
            d.reason_code.as_str(),
            d.reason,
            d.station,
            d.parameter,
            payload_hash(&d.payload),
            d.payload.as_ref(),
        ])
        .map_err(local)?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens or creates the store at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened, WAL mode is unavailable, or the schema is of
    /// another version.
    pub fn open(path: &Path, cfg: &SqliteConfig) -> Result<Self, StoreError> {
        let conn = open_rw(path, cfg)?;
        let mut station_ids = HashMap::new();
        let mut param_ids = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT station, id FROM station_ids")
                .map_err(local)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(local)?;
            for row in rows {
                let (name, id) = row.map_err(local)?;
                station_ids.insert(StationId::new(&name), id);
            }
            let mut stmt = conn
                .prepare("SELECT code, id FROM param_ids")
                .map_err(local)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(local)?;
            for row in rows {
                let (code, id) = row.map_err(local)?;
                param_ids.insert(ParamCode::new(&code), id);
            }
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(Writer {
                conn,
                station_ids,
                param_ids,
                rows: Vec::new(),
                closed: false,
            })),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a batch on the calling thread (for callers already off the async runtime).
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure; nothing of the batch is committed then.
    pub fn write_blocking(&self, batch: &WriteBatch) -> Result<WriteReport, StoreError> {
        // std Mutex: only blocking threads take it, and never across an await.
        let mut w = self
            .inner
            .lock()
            .map_err(|_| local("writer lock poisoned"))?;
        w.write(batch)
    }
}

impl StoreWriter for SqliteStore {
    async fn write(&mut self, batch: Arc<WriteBatch>) -> Result<WriteReport, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.write_blocking(&batch))
            .await
            .map_err(|e| local(format!("writer thread failed: {e}")))?
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = this
                .inner
                .lock()
                .map_err(|_| local("writer lock poisoned"))?;
            if !w.closed {
                // Fold the WAL back into the main file so a copied data directory is whole.
                w.conn
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                    .map_err(local)?;
                w.closed = true;
            }
            Ok(())
        })
        .await
        .map_err(|e| local(format!("writer thread failed: {e}")))?
    }
}

/// A read-only view of the store, for queries, the console and reports. Each query opens
/// its own short-lived connection on a blocking thread.
#[derive(Debug, Clone)]
pub struct SqliteReader {
    path: PathBuf,
}

impl SqliteReader {
    /// A reader of the database at `path`.
    ///
    /// # Errors
    /// When the file does not exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(local(format!("{} does not exist", path.display())));
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| local(format!("cannot open {}: {e}", self.path.display())))?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(local)?;
        Ok(conn)
    }

    /// Runs a reading query on the calling thread.
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn query_blocking(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        let conn = self.connect()?;
        let mut sql = String::from(
            "SELECT s.station, p.code, r.period, r.ts_ms, r.value, r.flag, r.received_ms \
             FROM readings r \
             JOIN station_ids s ON s.id = r.station_id \
             JOIN param_ids p ON p.id = r.param_id WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(st) = &q.station {
            sql.push_str(" AND s.station = ?");
            args.push(st.clone().into());
        }
        if !q.parameters.is_empty() {
            sql.push_str(" AND p.code IN (");
            sql.push_str(&vec!["?"; q.parameters.len()].join(","));
            sql.push(')');
            args.extend(q.parameters.iter().map(|p| p.clone().into()));
        }
        if !q.periods.is_empty() {
            sql.push_str(" AND r.period IN (");
            sql.push_str(&vec!["?"; q.periods.len()].join(","));
            sql.push(')');
            args.extend(q.periods.iter().map(|p| i64::from(p.code()).into()));
        }
        if let Some(from) = q.from {
            sql.push_str(" AND r.ts_ms >= ?");
            args.push(from.timestamp_millis().into());
        }
        if let Some(to) = q.to {
            sql.push_str(" AND r.ts_ms < ?");
            args.push(to.timestamp_millis().into());
        }
        sql.push_str(" ORDER BY s.station, p.code, r.ts_ms, r.period");
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut stmt = conn.prepare(&sql).map_err(local)?;
        let mut stations: HashMap<String, StationId> = HashMap::new();
        let mut params_seen: HashMap<String, ParamCode> = HashMap::new();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, f64>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, i64>(6)?,
                ))
            })
            .map_err(local)?;
        let mut out = Vec::new();
        for row in rows {
            let (station, code, period, ts, value, flag, received) = row.map_err(local)?;
            let station = stations
                .entry(station)
                .or_insert_with_key(|k| StationId::new(k))
                .clone();
            let parameter = params_seen
                .entry(code)
                .or_insert_with_key(|k| ParamCode::new(k))
                .clone();
            out.push(Reading {
                station,
                parameter,
                observed_at: millis(ts)?,
                received_at: millis(received)?,
                value,
                flag: u8::try_from(flag)
                    .ok()
                    .and_then(DataFlag::from_byte)
                    .ok_or_else(|| local(format!("stored flag {flag} is not a data flag")))?,
                period: u8::try_from(period)
                    .ok()
                    .and_then(Period::from_code)
                    .ok_or_else(|| local(format!("stored period {period} is unknown")))?,
            });
        }
        Ok(out)
    }

    /// Reads dead letters on the calling thread, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn dead_letters_blocking(
        &self,
        q: &DeadLetterQuery,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let conn = self.connect()?;
        let mut sql = String::from(
            "SELECT id, received_ms, topic, reason_code, reason, station, parameter, payload \
             FROM dead_letters WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(since) = q.since {
            sql.push_str(" AND received_ms >= ?");
            args.push(since.timestamp_millis().into());
        }
        if let Some(reason) = q.reason {
            sql.push_str(" AND reason_code = ?");
            args.push(reason.as_str().to_string().into());
        }
        match q.limit {
            // The newest `limit`, still returned oldest first.
            Some(limit) => {
                sql = format!("SELECT * FROM ({sql} ORDER BY id DESC LIMIT {limit}) ORDER BY id");
            }
            None => sql.push_str(" ORDER BY id"),
        }
        let mut stmt = conn.prepare(&sql).map_err(local)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |row| {
                Ok((
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, Vec<u8>>(7)?,
                ))
            })
            .map_err(local)?;
        let mut out = Vec::new();
        for row in rows {
            let (received, topic, code, reason, station, parameter, payload) =
                row.map_err(local)?;
            out.push(DeadLetter {
                received_at: millis(received)?,
                topic,
                payload: Bytes::from(payload),
                reason_code: code.parse::<ReasonCode>().map_err(local)?,
                reason,
                station,
                parameter,
            });
        }
        Ok(out)
    }

    /// Number of stored readings (all stations).
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn count_blocking(&self) -> Result<u64, StoreError> {
        let conn = self.connect()?;
        let n: i64 = conn
            .query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
            .map_err(local)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| local(format!("bad stored time {ms}")))
}

impl StoreReader for SqliteReader {
    async fn query(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        let this = self.clone();
        let q = q.clone();
        tokio::task::spawn_blocking(move || this.query_blocking(&q))
            .await
            .map_err(|e| local(format!("reader thread failed: {e}")))?
    }
}

impl DeadLetterReader for SqliteReader {
    async fn dead_letters(&self, q: &DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        let this = self.clone();
        let q = q.clone();
        tokio::task::spawn_blocking(move || this.dead_letters_blocking(&q))
            .await
            .map_err(|e| local(format!("reader thread failed: {e}")))?
    }
}

/// Settings for a throw-away store in tests.
pub fn test_sqlite_config() -> SqliteConfig {
    SqliteConfig {
        synchronous: Synchronous::Normal,
        ..SqliteConfig::default()
    }
}

#[cfg(test)]
#[path = "sqlite/tests.rs"]
mod tests;
