//! The SQLite store: the embedded default for readings, and always the home of dead letters
//! (and of the InfluxDB spool).
//!
//! Layout for speed with the dedup key in force: one row per observation (a station's values
//! for one time and period, [`layout`]) in a `WITHOUT ROWID` table whose primary key is
//! (ts_ms, station_id, period) with small integer ids. A message of eight readings is one
//! B-tree insert; the key is the table itself (no second index to maintain); observations
//! arriving in time order append at the right edge of the B-tree, where SQLite splits pages
//! cheaply. A redelivered observation is ignored, a later one for the same key adds only the
//! parameters not stored yet, so redelivery is idempotent per (station, parameter, time,
//! period). WAL mode lets readers run beside the writer; each batch is one transaction,
//! synced per `synchronous` before `write` returns.
//!
//! The packets of split HJ 212 messages still waiting for the rest of their message live in
//! `held_packets`, changed in the same transaction as the readings and dead letters of the
//! batch (and by the InfluxDB stores through this one).
//!
//! The **commit log** (`commit_log`) numbers the commits that stored readings and lists, per
//! commit, the keys of the readings it stored (21 bytes each: time, station id, period,
//! parameter id), in the same transaction. Analytics keeps a cursor on it
//! ([`SqliteReader::commits_after`]), so it judges every stored reading once even when ingest
//! died between the commit and the announcement on `readings/`. The newest
//! [`COMMIT_LOG_KEEP`] commits are kept. The table is created when missing, so files of
//! this schema version written before it existed simply start their log empty.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::sqlite::{self, Schema};
use riverwatch_core::store_api::{
    Committed, DeadLetterQuery, DeadLetterReader, HeldChange, HeldPacket, ReadingQuery, StoreError,
    StoreReader, StoreWriter, WriteBatch, WriteReport,
};
use riverwatch_core::{DataFlag, DeadLetter, ParamCode, Period, Reading, ReasonCode, StationId};
use rusqlite::{Connection, OptionalExtension as _, Transaction, params};
use tracing::info;

use crate::config::{SqliteConfig, Synchronous};

mod layout;

use layout::{Entry, Group, Grouped, ObsKey, Row};

const BACKEND: &str = "sqlite";

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS station_ids (
    id      INTEGER PRIMARY KEY,
    station TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS param_ids (
    id   INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS observations (
    ts_ms      INTEGER NOT NULL,
    station_id INTEGER NOT NULL,
    period     INTEGER NOT NULL,
    vals       BLOB    NOT NULL,
    PRIMARY KEY (ts_ms, station_id, period)
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
CREATE TABLE IF NOT EXISTS held_packets (
    mn          TEXT    NOT NULL,
    qn          TEXT    NOT NULL,
    pno         INTEGER NOT NULL,
    pnum        INTEGER NOT NULL,
    station     TEXT    NOT NULL,
    st          TEXT    NOT NULL,
    cn          TEXT    NOT NULL,
    flag        INTEGER NOT NULL,
    cp          TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    received_ms INTEGER NOT NULL,
    payload     BLOB    NOT NULL,
    PRIMARY KEY (mn, qn, pno)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commit_log (
    seq  INTEGER PRIMARY KEY,
    keys BLOB NOT NULL
);
";

/// The local database file: version 1 had one row per reading in `readings`, version 2 has
/// one row per observation in `observations`.
pub(crate) const SCHEMA: Schema = Schema {
    store: "readings store",
    owner: "`riverwatch ingest` or `riverwatch up`",
    version: 2,
    upgradable: &[1],
    migrate: Some(migrate_from_v1),
    tables: TABLES,
};

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
    let conn = sqlite::open_writer(path, &SCHEMA, cfg.synchronous).map_err(local)?;
    conn.execute_batch(&format!(
        "PRAGMA cache_size=-{}; PRAGMA temp_store=MEMORY;",
        u64::from(cfg.cache_mib) * 1024
    ))
    .map_err(local)?;
    Ok(conn)
}

/// Moves the readings of a schema-1 file (one row per reading) into observations, inside the
/// opener's transaction: a crash leaves the file as it was.
fn migrate_from_v1(tx: &Transaction<'_>, path: &Path, _from: i64) -> Result<(), String> {
    move_readings(tx, path).map_err(|e| e.to_string())
}

fn move_readings(tx: &Transaction<'_>, path: &Path) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let mut moved: u64 = 0;
    {
        let mut select = tx
            .prepare(
                "SELECT ts_ms, station_id, period, param_id, flag, value, received_ms \
                 FROM readings ORDER BY ts_ms, station_id, period, param_id",
            )
            .map_err(local)?;
        let mut insert = tx.prepare(&insert_sql(1)).map_err(local)?;
        let mut write = |key: ObsKey, blob: &[u8]| -> Result<(), StoreError> {
            insert
                .execute(params![key.0, key.1, key.2, blob])
                .map_err(local)
                .map(|_| ())
        };
        let mut rows = select.query([]).map_err(local)?;
        let mut current: Option<ObsKey> = None;
        let mut blob = Vec::new();
        while let Some(row) = rows.next().map_err(local)? {
            let key: ObsKey = (
                row.get(0).map_err(local)?,
                row.get(1).map_err(local)?,
                row.get(2).map_err(local)?,
            );
            if current != Some(key) {
                if let Some(done) = current {
                    write(done, &blob)?;
                }
                blob.clear();
                blob.push(layout::FORMAT);
                current = Some(key);
            }
            let param_id: i64 = row.get(3).map_err(local)?;
            let flag: i64 = row.get(4).map_err(local)?;
            Entry {
                param_id: u32::try_from(param_id)
                    .map_err(|_| local(format!("parameter id {param_id} is out of range")))?,
                flag: u8::try_from(flag)
                    .map_err(|_| local(format!("stored flag {flag} is not a data flag")))?,
                value: row.get(5).map_err(local)?,
                received_ms: row.get(6).map_err(local)?,
            }
            .write(&mut blob);
            moved += 1;
        }
        if let Some(done) = current {
            write(done, &blob)?;
        }
    }
    tx.execute_batch("DROP TABLE readings;").map_err(local)?;
    info!(
        file = %path.display(),
        readings = moved,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Moved the readings of a schema-1 store into observations (schema 2)."
    );
    Ok(())
}

/// The rows (id, name) of one of the id tables (`station_ids`, `param_ids`).
fn id_table(conn: &Connection, table: &str, name: &str) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn
        .prepare(&format!("SELECT id, {name} FROM {table}"))
        .map_err(local)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .map_err(local)?;
    rows.map(|row| row.map_err(local)).collect()
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
    /// The rows of the batch being written and their grouping into observations, kept
    /// between batches for their capacity.
    rows: Vec<Row>,
    grouped: Grouped,
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
            grouped,
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
                let param_id = u32::try_from(pid)
                    .map_err(|_| local(format!("parameter id {pid} is out of range")))?;
                rows.push(Row {
                    key: (
                        r.observed_at.timestamp_millis(),
                        sid,
                        i64::from(r.period.code()),
                    ),
                    entry: Entry {
                        param_id,
                        flag: r.flag.letter() as u8,
                        value: r.value,
                        received_ms: r.received_at.timestamp_millis(),
                    },
                });
            }
        }
        grouped.build(rows);
        report.inserted.resize(rows.len(), false);
        insert_observations(&tx, rows, grouped, &mut report.inserted)?;
        report.duplicates = report.inserted.iter().filter(|&&new| !new).count();
        log_commit(&tx, rows, &report.inserted)?;
        if !batch.dead_letters.is_empty() {
            insert_dead_letters(&tx, &batch.dead_letters)?;
        }
        if !batch.held.is_empty() {
            apply_held(&tx, &batch.held)?;
        }
        tx.commit().map_err(local)?;
        station_ids.extend(new_stations);
        param_ids.extend(new_params);
        Ok(report)
    }
}

/// Commits kept in the commit log (older ones are dropped as new ones come).
pub const COMMIT_LOG_KEEP: i64 = 1_000_000;

/// Bytes per reading in a commit log entry: ts_ms (i64), station id (i64), period (u8),
/// parameter id (u32), little-endian.
const LOG_KEY: usize = 21;

/// Appends this commit's stored readings to the commit log (nothing when it stored none)
/// and drops the entries older than the newest [`COMMIT_LOG_KEEP`].
fn log_commit(
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

/// Observations per multi-row `INSERT`: one statement step per chunk instead of per row
/// cuts the virtual-machine overhead that dominated row-by-row inserts.
const CHUNK: usize = 64;

fn insert_sql(rows: usize) -> String {
    let values = vec!["(?,?,?,?)"; rows].join(",");
    format!("INSERT OR IGNORE INTO observations (ts_ms, station_id, period, vals) VALUES {values}")
}

fn bind_groups(
    stmt: &mut rusqlite::CachedStatement<'_>,
    groups: &[Group],
    blobs: &[u8],
) -> Result<(), StoreError> {
    for (i, g) in groups.iter().enumerate() {
        let base = i * 4;
        let (ts, sid, period) = g.key;
        stmt.raw_bind_parameter(base + 1, ts).map_err(local)?;
        stmt.raw_bind_parameter(base + 2, sid).map_err(local)?;
        stmt.raw_bind_parameter(base + 3, period).map_err(local)?;
        stmt.raw_bind_parameter(base + 4, &blobs[g.blob.clone()])
            .map_err(local)?;
    }
    Ok(())
}

/// Writes the observations of a batch, recording for each reading whether it was new.
///
/// Full chunks go through one 64-row statement inside a savepoint. When the statement
/// stored every row (the usual case: no observation was there before), the chunk is done.
/// When it stored fewer, the chunk is rolled back to the savepoint and written observation
/// by observation; one whose key is already stored is merged: parameters it did not have
/// are added, parameters it had are duplicates and keep their stored value.
fn insert_observations(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Row],
    grouped: &Grouped,
    inserted: &mut [bool],
) -> Result<(), StoreError> {
    let mut full = tx.prepare_cached(&insert_sql(CHUNK)).map_err(local)?;
    let mut single = tx.prepare_cached(&insert_sql(1)).map_err(local)?;
    let mut savepoint = tx.prepare_cached("SAVEPOINT chunk").map_err(local)?;
    let mut release = tx.prepare_cached("RELEASE chunk").map_err(local)?;
    let mut rollback = tx.prepare_cached("ROLLBACK TO chunk").map_err(local)?;
    let members = |g: &Group| &grouped.members[g.members.clone()];
    for chunk in grouped.groups.chunks(CHUNK) {
        if chunk.len() == CHUNK {
            savepoint.raw_execute().map_err(local)?;
            bind_groups(&mut full, chunk, &grouped.blobs)?;
            let changed = full.raw_execute().map_err(local)?;
            if changed == CHUNK {
                release.raw_execute().map_err(local)?;
                for g in chunk {
                    for &i in members(g) {
                        inserted[i] = true;
                    }
                }
                continue;
            }
            rollback.raw_execute().map_err(local)?;
            release.raw_execute().map_err(local)?;
        }
        for g in chunk {
            bind_groups(&mut single, std::slice::from_ref(g), &grouped.blobs)?;
            if single.raw_execute().map_err(local)? == 1 {
                for &i in members(g) {
                    inserted[i] = true;
                }
            } else {
                merge(tx, g.key, members(g), rows, inserted)?;
            }
        }
    }
    Ok(())
}

/// Adds to a stored observation the parameters it does not have yet.
fn merge(
    tx: &rusqlite::Transaction<'_>,
    key: ObsKey,
    members: &[usize],
    rows: &[Row],
    inserted: &mut [bool],
) -> Result<(), StoreError> {
    let (ts, sid, period) = key;
    let mut stored: Vec<u8> = tx
        .prepare_cached(
            "SELECT vals FROM observations WHERE ts_ms = ?1 AND station_id = ?2 AND period = ?3",
        )
        .map_err(local)?
        .query_row(params![ts, sid, period], |r| r.get(0))
        .map_err(local)?;
    let present: Vec<u32> = layout::decode(&stored)
        .map_err(|e| local(format!("observation at {ts} of station id {sid}: {e}")))?
        .map(|e| e.param_id)
        .collect();
    let before = stored.len();
    for &i in members {
        let entry = rows[i].entry;
        if !present.contains(&entry.param_id) {
            entry.write(&mut stored);
            inserted[i] = true;
        }
    }
    if stored.len() > before {
        tx.prepare_cached(
            "UPDATE observations SET vals = ?4 WHERE ts_ms = ?1 AND station_id = ?2 AND period = ?3",
        )
        .map_err(local)?
        .execute(params![ts, sid, period, stored])
        .map_err(local)?;
    }
    Ok(())
}

/// Applies changes to the held packets in an open transaction, in order.
fn apply_held(tx: &rusqlite::Transaction<'_>, changes: &[HeldChange]) -> Result<(), StoreError> {
    let mut keep = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO held_packets \
             (mn, qn, pno, pnum, station, st, cn, flag, cp, topic, received_ms, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(local)?;
    let mut release = tx
        .prepare_cached("DELETE FROM held_packets WHERE mn = ?1 AND qn = ?2")
        .map_err(local)?;
    for change in changes {
        match change {
            HeldChange::Keep(p) => keep
                .execute(params![
                    p.mn,
                    p.qn,
                    p.pno,
                    p.pnum,
                    p.station,
                    p.st,
                    p.cn,
                    p.flag,
                    p.cp,
                    p.topic,
                    p.received_at.timestamp_millis(),
                    p.payload.as_ref(),
                ])
                .map_err(local)?,
            HeldChange::Release { mn, qn } => release.execute(params![mn, qn]).map_err(local)?,
        };
    }
    Ok(())
}

/// Every held packet, by MN, QN and PNO.
fn load_held(conn: &Connection) -> Result<Vec<HeldPacket>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT mn, qn, pno, pnum, station, st, cn, flag, cp, topic, received_ms, payload \
             FROM held_packets ORDER BY mn, qn, pno",
        )
        .map_err(local)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, u32>(3)?,
                ),
                (
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, u8>(7)?,
                    r.get::<_, String>(8)?,
                ),
                (
                    r.get::<_, String>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, Vec<u8>>(11)?,
                ),
            ))
        })
        .map_err(local)?;
    let mut out = Vec::new();
    for row in rows {
        let ((mn, qn, pno, pnum), (station, st, cn, flag, cp), (topic, received_ms, payload)) =
            row.map_err(local)?;
        out.push(HeldPacket {
            station,
            mn,
            qn,
            pno,
            pnum,
            st,
            cn,
            flag,
            cp,
            topic,
            received_at: millis(received_ms)?,
            payload: Bytes::from(payload),
        });
    }
    Ok(out)
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
        let station_ids = id_table(&conn, "station_ids", "station")?
            .into_iter()
            .map(|(id, name)| (StationId::new(&name), id))
            .collect();
        let param_ids = id_table(&conn, "param_ids", "code")?
            .into_iter()
            .map(|(id, code)| (ParamCode::new(&code), id))
            .collect();
        Ok(Self {
            inner: Arc::new(Mutex::new(Writer {
                conn,
                station_ids,
                param_ids,
                rows: Vec::new(),
                grouped: Grouped::default(),
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

    async fn held_packets(&mut self) -> Result<Vec<HeldPacket>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let w = this
                .inner
                .lock()
                .map_err(|_| local("writer lock poisoned"))?;
            load_held(&w.conn)
        })
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
        sqlite::require_exists(path, &SCHEMA).map_err(local)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// A read-only connection; a file of another schema version is refused by name, not
    /// with a missing-table error.
    fn connect(&self) -> Result<Connection, StoreError> {
        sqlite::open_reader(&self.path, &SCHEMA).map_err(local)
    }

    /// Runs a reading query on the calling thread.
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn query_blocking(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        let conn = self.connect()?;
        // Parameter ids to codes, and the ids the query asks for.
        let params: HashMap<u32, ParamCode> = id_table(&conn, "param_ids", "code")?
            .into_iter()
            .filter_map(|(id, code)| Some((u32::try_from(id).ok()?, ParamCode::new(&code))))
            .collect();
        let wanted: Option<Vec<u32>> = (!q.parameters.is_empty()).then(|| {
            params
                .iter()
                .filter(|(_, code)| q.parameters.iter().any(|p| p == code.as_str()))
                .map(|(&id, _)| id)
                .collect()
        });
        let mut sql = String::from(
            "SELECT s.station, o.period, o.ts_ms, o.vals \
             FROM observations o \
             JOIN station_ids s ON s.id = o.station_id WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(st) = &q.station {
            sql.push_str(" AND s.station = ?");
            args.push(st.clone().into());
        }
        if !q.periods.is_empty() {
            sql.push_str(" AND o.period IN (");
            sql.push_str(&vec!["?"; q.periods.len()].join(","));
            sql.push(')');
            args.extend(q.periods.iter().map(|p| i64::from(p.code()).into()));
        }
        if let Some(from) = q.from {
            sql.push_str(" AND o.ts_ms >= ?");
            args.push(from.timestamp_millis().into());
        }
        if let Some(to) = q.to {
            sql.push_str(" AND o.ts_ms < ?");
            args.push(to.timestamp_millis().into());
        }
        let mut stmt = conn.prepare(&sql).map_err(local)?;
        let mut stations: HashMap<String, StationId> = HashMap::new();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(local)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(local)? {
            let station: String = row.get(0).map_err(local)?;
            let period: i64 = row.get(1).map_err(local)?;
            let ts: i64 = row.get(2).map_err(local)?;
            let blob = row.get_ref(3).map_err(local)?.as_blob().map_err(local)?;
            let station = stations
                .entry(station)
                .or_insert_with_key(|k| StationId::new(k))
                .clone();
            let observed_at = millis(ts)?;
            let period = u8::try_from(period)
                .ok()
                .and_then(Period::from_code)
                .ok_or_else(|| local(format!("stored period {period} is unknown")))?;
            let entries = layout::decode(blob)
                .map_err(|e| local(format!("observation of {station} at {ts}: {e}")))?;
            for e in entries {
                if wanted.as_ref().is_some_and(|w| !w.contains(&e.param_id)) {
                    continue;
                }
                let parameter = params.get(&e.param_id).cloned().ok_or_else(|| {
                    local(format!("stored parameter id {} is unknown", e.param_id))
                })?;
                out.push(Reading {
                    station: station.clone(),
                    parameter,
                    observed_at,
                    received_at: millis(e.received_ms)?,
                    value: e.value,
                    flag: DataFlag::from_byte(e.flag).ok_or_else(|| {
                        local(format!("stored flag {} is not a data flag", e.flag))
                    })?,
                    period,
                });
            }
        }
        // (station, parameter, time, period) is unique, so an unstable sort gives one order.
        out.sort_unstable_by(|a, b| {
            (
                a.station.as_str(),
                a.parameter.as_str(),
                a.observed_at,
                a.period,
            )
                .cmp(&(
                    b.station.as_str(),
                    b.parameter.as_str(),
                    b.observed_at,
                    b.period,
                ))
        });
        if let Some(limit) = q.limit {
            out.truncate(limit);
        }
        Ok(out)
    }

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
            .prepare(
                "SELECT vals FROM observations WHERE ts_ms = ?1 AND station_id = ?2 AND period = ?3",
            )
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
                // Gone only if someone deleted it; nothing to judge then.
                let Some(blob) = blob else { continue };
                let entry = layout::decode(&blob)
                    .map_err(|e| bad(&e))?
                    .find(|e| e.param_id == param_id)
                    .ok_or_else(|| bad("parameter missing from its observation"))?;
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
            .query_row(
                &format!(
                    "SELECT coalesce(sum((length(vals) - 1) / {}), 0) FROM observations",
                    layout::ENTRY
                ),
                [],
                |r| r.get(0),
            )
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

    async fn commits_after(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Option<Vec<Committed>>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.commits_after_blocking(after, max).map(Some))
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
