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
//! period); a stored parameter resent with another value or flag is reported as a conflict.
//! Dead letters keep each message's raw bytes once (`sqlite/dead_letters.rs`). WAL mode lets
//! readers run beside the writer; each batch is one transaction,
//! synced per `synchronous` before `write` returns.
//!
//! The packets of split HJ 212 messages still waiting for the rest of their message live in
//! `held_packets`, changed in the same transaction as the readings and dead letters of the
//! batch (and by the InfluxDB stores through this one): `sqlite/held.rs`.
//!
//! The **commit log** (`commit_log`) numbers the commits that stored readings and lists, per
//! commit, the keys of the readings it stored (21 bytes each: time, station id, period,
//! parameter id), in the same transaction. Analytics keeps a cursor on it
//! ([`SqliteReader::commits_after`]), so it judges every stored reading once even when ingest
//! died between the commit and the announcement on `readings/`. The newest
//! [`COMMIT_LOG_KEEP`] commits are kept. The table is created when missing, so files of
//! this schema version written before it existed simply start their log empty. The local
//! database of an InfluxDB store logs the commits of its `influx_index` table the same way
//! ([`SqliteReader::influx_index_commits_after_blocking`] reads them with the index's
//! values). Both live in `sqlite/commit_log.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use riverwatch_core::sqlite::{self, Schema};
use riverwatch_core::store_api::{
    Committed, Conflict, DeadLetterQuery, DeadLetterReader, HeldPacket, ReadingQuery, StoreError,
    StoreReader, StoreWriter, WriteBatch, WriteReport,
};
use riverwatch_core::{DataFlag, DeadLetter, ParamCode, Period, Reading, StationId};
use rusqlite::{Connection, Transaction, params};
use tracing::info;

use crate::config::{SqliteConfig, Synchronous};

mod commit_log;
mod dead_letters;
mod held;
mod layout;

pub use commit_log::COMMIT_LOG_KEEP;
use commit_log::log_commit;
pub use dead_letters::StoredDeadLetter;
use held::{apply_held, load_held};

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
CREATE TABLE IF NOT EXISTS influx_index (
    ts_ms      INTEGER NOT NULL,
    station_id INTEGER NOT NULL,
    period     INTEGER NOT NULL,
    vals       BLOB    NOT NULL,
    PRIMARY KEY (ts_ms, station_id, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raw_messages (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    hash    INTEGER NOT NULL,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_messages_hash ON raw_messages (hash);
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    reason_code TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    station     TEXT,
    parameter   TEXT,
    replayed_ms INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_once
    ON dead_letters (message_id, reason_code, ifnull(parameter, ''));
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
/// one row per observation in `observations`, version 3 keeps a rejected message's raw
/// bytes once in `raw_messages` instead of in each of its dead letters.
pub(crate) const SCHEMA: Schema = Schema {
    store: "readings store",
    owner: "`riverwatch ingest` or `riverwatch up`",
    version: 3,
    upgradable: &[1, 2],
    migrate: Some(migrate),
    tables: TABLES,
};

fn local(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Local {
        backend: BACKEND,
        detail: detail.to_string(),
    }
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

/// Upgrades an older file inside the opener's transaction (a crash leaves it as it was):
/// from schema 1 the readings move into observations; from schemas 1 and 2 the dead letters'
/// payloads move into `raw_messages`.
fn migrate(tx: &Transaction<'_>, path: &Path, from: i64) -> Result<(), String> {
    if from < 2 {
        move_readings(tx, path).map_err(|e| e.to_string())?;
    }
    dead_letters::migrate_from_v2(tx).map_err(|e| e.to_string())
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
        let mut insert = tx.prepare(&insert_sql(OBSERVATIONS, 1)).map_err(local)?;
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

/// The table of the readings store.
const OBSERVATIONS: &str = "observations";
/// The table of the readings an InfluxDB store sent recently (same layout), to tell a
/// conflicting resend from an identical one.
const INFLUX_INDEX: &str = "influx_index";

#[derive(Debug)]
struct Writer {
    conn: Connection,
    /// Where readings go: [`OBSERVATIONS`] or [`INFLUX_INDEX`].
    table: &'static str,
    /// For [`INFLUX_INDEX`]: observations older than this before the newest reception time
    /// of a batch are dropped from the table.
    keep_ms: Option<i64>,
    station_ids: HashMap<StationId, i64>,
    param_ids: HashMap<ParamCode, i64>,
    /// The rows of the batch being written and their grouping into observations, kept
    /// between batches for their capacity.
    rows: Vec<Row>,
    grouped: Grouped,
    /// The dead letters' size and retention limits.
    retention: dead_letters::Retention,
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
            table,
            keep_ms,
            station_ids,
            param_ids,
            rows,
            grouped,
            retention,
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
        if let Some(keep_ms) = *keep_ms
            && let Some(newest) = batch.readings.iter().map(|r| r.received_at).max()
        {
            // The left edge of the key: a range delete, not a scan. Before the insert, so a
            // backfilled reading older than the window stays until the next batch, long
            // enough for analytics to read its value through the commit log.
            tx.prepare_cached(&format!("DELETE FROM {table} WHERE ts_ms < ?1"))
                .map_err(local)?
                .execute([newest.timestamp_millis().saturating_sub(keep_ms)])
                .map_err(local)?;
        }
        insert_observations(&tx, table, rows, grouped, &mut report)?;
        // A repeat inside the batch is judged against the reading its key keeps.
        for &(i, first) in &grouped.repeats {
            let kept = report
                .conflicts
                .iter()
                .find(|c| c.index == first)
                .map(|c| (c.stored_value, c.stored_flag.letter() as u8))
                .unwrap_or((rows[first].entry.value, rows[first].entry.flag));
            if let Some(c) = conflict(i, &rows[i].entry, kept)? {
                report.conflicts.push(c);
            }
        }
        report.conflicts.sort_by_key(|c| c.index);
        report.duplicates =
            report.inserted.iter().filter(|&&new| !new).count() - report.conflicts.len();
        // The readings this commit stored, in either table: analytics judges them from the
        // log, and reads their values from the same table.
        log_commit(&tx, rows, &report.inserted)?;
        if !batch.dead_letters.is_empty() {
            retention.insert(&tx, &batch.dead_letters)?;
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

/// Observations per multi-row `INSERT`: one statement step per chunk instead of per row
/// cuts the virtual-machine overhead that dominated row-by-row inserts.
const CHUNK: usize = 64;

fn insert_sql(table: &str, rows: usize) -> String {
    let values = vec!["(?,?,?,?)"; rows].join(",");
    format!("INSERT OR IGNORE INTO {table} (ts_ms, station_id, period, vals) VALUES {values}")
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
/// are added, parameters it had keep their stored value (a duplicate when the new reading
/// is identical, a conflict when its value or flag differs).
fn insert_observations(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    rows: &[Row],
    grouped: &Grouped,
    report: &mut WriteReport,
) -> Result<(), StoreError> {
    let WriteReport {
        inserted,
        conflicts,
        ..
    } = report;
    let mut full = tx
        .prepare_cached(&insert_sql(table, CHUNK))
        .map_err(local)?;
    let mut single = tx.prepare_cached(&insert_sql(table, 1)).map_err(local)?;
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
                merge(tx, table, g.key, members(g), rows, inserted, conflicts)?;
            }
        }
    }
    Ok(())
}

/// The conflict of reading `index` (`entry`) with the (value, flag letter) its key keeps,
/// if they differ.
fn conflict(index: usize, entry: &Entry, kept: (f64, u8)) -> Result<Option<Conflict>, StoreError> {
    if entry.value == kept.0 && entry.flag == kept.1 {
        return Ok(None);
    }
    let stored_flag = DataFlag::from_byte(kept.1)
        .ok_or_else(|| local(format!("stored flag {} is not a data flag", kept.1)))?;
    Ok(Some(Conflict {
        index,
        stored_value: kept.0,
        stored_flag,
    }))
}

/// Adds to a stored observation the parameters it does not have yet; a parameter it has
/// with another value or flag is a conflict (the stored one is kept).
fn merge(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    key: ObsKey,
    members: &[usize],
    rows: &[Row],
    inserted: &mut [bool],
    conflicts: &mut Vec<Conflict>,
) -> Result<(), StoreError> {
    let (ts, sid, period) = key;
    let mut stored: Vec<u8> = tx
        .prepare_cached(&format!(
            "SELECT vals FROM {table} WHERE ts_ms = ?1 AND station_id = ?2 AND period = ?3"
        ))
        .map_err(local)?
        .query_row(params![ts, sid, period], |r| r.get(0))
        .map_err(local)?;
    let present: Vec<Entry> = layout::decode(&stored)
        .map_err(|e| local(format!("observation at {ts} of station id {sid}: {e}")))?
        .collect();
    let before = stored.len();
    for &i in members {
        let entry = rows[i].entry;
        match present.iter().find(|p| p.param_id == entry.param_id) {
            None => {
                entry.write(&mut stored);
                inserted[i] = true;
            }
            Some(p) => conflicts.extend(conflict(i, &entry, (p.value, p.flag))?),
        }
    }
    if stored.len() > before {
        tx.prepare_cached(&format!(
            "UPDATE {table} SET vals = ?4 WHERE ts_ms = ?1 AND station_id = ?2 AND period = ?3"
        ))
        .map_err(local)?
        .execute(params![ts, sid, period, stored])
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
        Self::open_table(path, cfg, OBSERVATIONS, None)
    }

    /// Opens the local database of an InfluxDB store: dead letters as [`SqliteStore::open`],
    /// and readings into the `influx_index` table, which keeps those observed within
    /// `influx_index_hours` of the newest reception time, so that the InfluxDB store can tell
    /// an identical resend from a conflicting one without asking InfluxDB.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_influx_index(path: &Path, cfg: &SqliteConfig) -> Result<Self, StoreError> {
        let keep_ms = i64::from(cfg.influx_index_hours) * 3_600_000;
        Self::open_table(path, cfg, INFLUX_INDEX, Some(keep_ms))
    }

    fn open_table(
        path: &Path,
        cfg: &SqliteConfig,
        table: &'static str,
        keep_ms: Option<i64>,
    ) -> Result<Self, StoreError> {
        let conn = open_rw(path, cfg)?;
        let station_ids = id_table(&conn, "station_ids", "station")?
            .into_iter()
            .map(|(id, name)| (StationId::new(&name), id))
            .collect();
        let param_ids = id_table(&conn, "param_ids", "code")?
            .into_iter()
            .map(|(id, code)| (ParamCode::new(&code), id))
            .collect();
        let retention = dead_letters::Retention::open(&conn, cfg)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Writer {
                conn,
                table,
                keep_ms,
                retention,
                station_ids,
                param_ids,
                rows: Vec::new(),
                grouped: Grouped::default(),
                closed: false,
            })),
            path: path.to_path_buf(),
        })
    }

    /// Marks dead letters as replayed at `at` (by `riverwatch dead-letters replay`); returns
    /// how many were not marked before.
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn mark_replayed_blocking(
        &self,
        ids: &[i64],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut w = self
            .inner
            .lock()
            .map_err(|_| local("writer lock poisoned"))?;
        dead_letters::mark_replayed(&mut w.conn, ids, at)
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
        Ok(self.query_counted(q)?.0)
    }

    /// Runs a reading query, also returning how many observation rows SQLite handed over.
    fn query_counted(&self, q: &ReadingQuery) -> Result<(Vec<Reading>, u64), StoreError> {
        let conn = self.connect()?;
        if let Some(limit) = q.limit {
            return limited(&conn, q, limit);
        }
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
        let fetched = out.len() as u64;
        Ok((out, fetched))
    }

    /// Reads dead letters on the calling thread, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn dead_letters_blocking(
        &self,
        q: &DeadLetterQuery,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .stored_dead_letters_blocking(q, true)?
            .into_iter()
            .map(|d| d.letter)
            .collect())
    }

    /// Reads dead letters with their ids and replay marks, oldest first; replayed ones only
    /// with `include_replayed`.
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn stored_dead_letters_blocking(
        &self,
        q: &DeadLetterQuery,
        include_replayed: bool,
    ) -> Result<Vec<StoredDeadLetter>, StoreError> {
        dead_letters::read(&self.connect()?, q, include_replayed)
    }

    /// Bytes of raw payload kept for dead letters (each message once).
    ///
    /// # Errors
    /// [`StoreError::Local`] on any SQLite failure.
    pub fn dead_letter_payload_bytes(&self) -> Result<u64, StoreError> {
        dead_letters::raw_bytes(&self.connect()?)
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

/// The SQL of a limited query: one station's observations in time order, straight from
/// the primary key (ts_ms, station_id, period), the station fixed by equality so SQLite
/// needs no sort.
fn limited_sql(q: &ReadingQuery) -> String {
    let mut sql = String::from(
        // `+station_id`: a plain filter, so that SQLite walks the key in order; as an index
        // term it makes the planner add a sort (`USE TEMP B-TREE FOR RIGHT PART OF ORDER BY`).
        "SELECT ts_ms, period, vals FROM observations WHERE +station_id = ?1",
    );
    if !q.periods.is_empty() {
        let codes: Vec<String> = q.periods.iter().map(|p| p.code().to_string()).collect();
        sql.push_str(&format!(" AND period IN ({})", codes.join(",")));
    }
    if let Some(from) = q.from {
        sql.push_str(&format!(" AND ts_ms >= {}", from.timestamp_millis()));
    }
    if let Some(to) = q.to {
        sql.push_str(&format!(" AND ts_ms < {}", to.timestamp_millis()));
    }
    // station_id is fixed: this is the key order (time, then period).
    sql.push_str(" ORDER BY ts_ms, station_id, period");
    sql
}

/// A query with a limit, in the contract's order (station, parameter, time, period)
/// without loading what lies past the limit: station after station and parameter after
/// parameter (both in name order), each read in time order from the primary key, stopping
/// as soon as `limit` readings are found. Returns the readings and the observation rows
/// read.
fn limited(
    conn: &Connection,
    q: &ReadingQuery,
    limit: usize,
) -> Result<(Vec<Reading>, u64), StoreError> {
    let mut stations = id_table(conn, "station_ids", "station")?;
    stations.retain(|(_, name)| q.station.as_deref().is_none_or(|s| s == name));
    stations.sort_by(|a, b| a.1.cmp(&b.1));
    let mut params: Vec<(u32, ParamCode)> = id_table(conn, "param_ids", "code")?
        .into_iter()
        .filter(|(_, code)| q.parameters.is_empty() || q.parameters.iter().any(|p| p == code))
        .filter_map(|(id, code)| Some((u32::try_from(id).ok()?, ParamCode::new(&code))))
        .collect();
    params.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()));
    let mut stmt = conn.prepare(&limited_sql(q)).map_err(local)?;
    let mut out = Vec::with_capacity(limit.min(4096));
    let mut fetched: u64 = 0;
    'all: for (sid, name) in &stations {
        let station = StationId::new(name);
        for (pid, code) in &params {
            if out.len() >= limit {
                break 'all;
            }
            let mut rows = stmt.query([sid]).map_err(local)?;
            while let Some(row) = rows.next().map_err(local)? {
                fetched += 1;
                let ts: i64 = row.get(0).map_err(local)?;
                let period: i64 = row.get(1).map_err(local)?;
                let blob = row.get_ref(2).map_err(local)?.as_blob().map_err(local)?;
                let entry = layout::decode(blob)
                    .map_err(|e| local(format!("observation of {name} at {ts}: {e}")))?
                    .find(|e| e.param_id == *pid);
                let Some(e) = entry else { continue };
                out.push(Reading {
                    station: station.clone(),
                    parameter: code.clone(),
                    observed_at: millis(ts)?,
                    received_at: millis(e.received_ms)?,
                    value: e.value,
                    flag: DataFlag::from_byte(e.flag).ok_or_else(|| {
                        local(format!("stored flag {} is not a data flag", e.flag))
                    })?,
                    period: u8::try_from(period)
                        .ok()
                        .and_then(Period::from_code)
                        .ok_or_else(|| local(format!("stored period {period} is unknown")))?,
                });
                if out.len() >= limit {
                    break 'all;
                }
            }
        }
    }
    Ok((out, fetched))
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
