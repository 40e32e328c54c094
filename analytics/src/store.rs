//! The evaluation store: `analytics.db` (SQLite, WAL) in the data directory.
//!
//! It keeps every window evaluation with its revision number (hourly, daily, monthly
//! classes and means, valid-data rates), hourly and daily AQI, city warning levels, the
//! joint-control state per day, incidents, the compensation ledger, the events emitted
//! (with whether they were published), each station's current status, and the service's
//! own state (live state machines, window cursors, open incidents) so a restart resumes
//! where it stopped, and the readings messages it refused (`rejected_messages`: no valid
//! MAC, or readings from beyond the clock) with their reasons.
//!
//! **Revisions are never overwritten**: a re-evaluation after late data that changes a
//! result adds a row with the next revision; readers get the latest revision unless they ask
//! for all.
//!
//! **Reading evaluations** — the console and the river-chief reports use
//! [`EvaluationReader`] and the typed records of [`crate::model`]; no other crate needs
//! this file's SQL:
//!
//! ```no_run
//! # async fn f() -> Result<(), riverwatch_analytics::store::StoreError> {
//! use riverwatch_analytics::store::{EvaluationQuery, EvaluationReader};
//! use riverwatch_core::events::WindowPeriod;
//! let reader = EvaluationReader::open(std::path::Path::new("data/analytics.db"))?;
//! let q = EvaluationQuery {
//!     station: Some("LLH-NTS".into()),
//!     period: Some(WindowPeriod::Day),
//!     ..EvaluationQuery::default()
//! };
//! let days = reader.run(move |r| r.evaluations(&q)).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use riverwatch_core::events::{Event, Rule, WindowPeriod};
use riverwatch_core::mqtt::auth::{self, Rejected};
use riverwatch_core::sqlite::{self, OpenError, Schema, Synchronous};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{
    AqiRecord, CurrentStatus, Incident, JointControlRecord, LedgerEntry, WarningRecord,
    WindowEvaluation,
};

/// `analytics.db`: one version so far.
const SCHEMA: Schema = Schema {
    store: "evaluation store",
    owner: "`riverwatch analytics` or `riverwatch up`",
    version: 1,
    upgradable: &[],
    migrate: None,
    tables: TABLES,
};

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS evaluations (
    station     TEXT    NOT NULL,
    period      TEXT    NOT NULL,
    start_ms    INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    computed_ms INTEGER NOT NULL,
    class       TEXT,
    target      TEXT,
    compliant   INTEGER,
    completeness REAL   NOT NULL,
    sufficient  INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    PRIMARY KEY (station, period, start_ms, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aqi (
    station     TEXT    NOT NULL,
    period      TEXT    NOT NULL,
    start_ms    INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    computed_ms INTEGER NOT NULL,
    aqi         INTEGER,
    level       INTEGER,
    body        TEXT    NOT NULL,
    PRIMARY KEY (station, period, start_ms, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS warnings (
    station  TEXT    NOT NULL,
    day      TEXT    NOT NULL,
    revision INTEGER NOT NULL,
    level    TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    PRIMARY KEY (station, day, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS joint_control (
    day      TEXT    NOT NULL,
    revision INTEGER NOT NULL,
    active   INTEGER NOT NULL,
    body     TEXT    NOT NULL,
    PRIMARY KEY (day, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incidents (
    id         TEXT PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    body       TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    station  TEXT    NOT NULL,
    month    TEXT    NOT NULL,
    revision INTEGER NOT NULL,
    amount   REAL    NOT NULL,
    body     TEXT    NOT NULL,
    PRIMARY KEY (station, month, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    rule        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    parameter   TEXT,
    status      TEXT    NOT NULL,
    observed_ms INTEGER NOT NULL,
    emitted_ms  INTEGER NOT NULL,
    published   INTEGER NOT NULL DEFAULT 0,
    body        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_subject ON events (subject, observed_ms);
CREATE INDEX IF NOT EXISTS events_unpublished ON events (published, seq);
CREATE TABLE IF NOT EXISTS current (
    station     TEXT PRIMARY KEY,
    observed_ms INTEGER NOT NULL,
    body        TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key  TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
";

/// An evaluation-store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file cannot be opened as the evaluation store (the message names it and says
    /// what to do).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// SQLite failed.
    #[error("analytics store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored body does not parse (a newer or damaged file).
    #[error("analytics store: bad stored record: {0}")]
    Json(#[from] serde_json::Error),
    /// The file or its folder cannot be used.
    #[error("analytics store: {0}")]
    File(String),
    /// The blocking thread failed.
    #[error("analytics store: reader thread failed: {0}")]
    Thread(String),
}

impl StoreError {
    /// Whether trying again may help (a busy or locked database).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Open(e) => e.is_busy(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

/// A result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?)
}

fn parse<T: DeserializeOwned>(s: &str) -> Result<T> {
    Ok(serde_json::from_str(s)?)
}

fn period_name(p: WindowPeriod) -> &'static str {
    p.as_str()
}

/// Everything one evaluation step stores, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Events emitted (inserted once by id).
    pub events: Vec<Event>,
    /// Service state: (key, JSON).
    pub states: Vec<(String, String)>,
    /// Current status per station (replaced).
    pub current: Vec<CurrentStatus>,
    /// Window evaluations, each with its revision.
    pub evaluations: Vec<WindowEvaluation>,
    /// AQI records, each with its revision.
    pub aqi: Vec<AqiRecord>,
    /// Warning levels, each with its revision.
    pub warnings: Vec<WarningRecord>,
    /// Joint-control states, each with its revision.
    pub joint: Vec<JointControlRecord>,
    /// Incidents (replaced by id).
    pub incidents: Vec<Incident>,
    /// Ledger entries, each with its revision.
    pub ledger: Vec<LedgerEntry>,
}

impl Commit {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.states.is_empty()
            && self.current.is_empty()
            && self.evaluations.is_empty()
            && self.aqi.is_empty()
            && self.warnings.is_empty()
            && self.joint.is_empty()
            && self.incidents.is_empty()
            && self.ledger.is_empty()
    }

    /// Adds another commit's content.
    pub fn extend(&mut self, other: Commit) {
        self.events.extend(other.events);
        self.states.extend(other.states);
        self.current.extend(other.current);
        self.evaluations.extend(other.evaluations);
        self.aqi.extend(other.aqi);
        self.warnings.extend(other.warnings);
        self.joint.extend(other.joint);
        self.incidents.extend(other.incidents);
        self.ledger.extend(other.ledger);
    }
}

/// The writer: one connection, used from blocking threads.
#[derive(Debug, Clone)]
pub struct AnalyticsStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn open_rw(path: &Path) -> Result<Connection> {
    // FULL: an evaluation, and the ack that follows it, survive power loss.
    let conn = sqlite::open_writer(path, &SCHEMA, Synchronous::Full)?;
    conn.execute_batch("PRAGMA temp_store=MEMORY;")?;
    // Refused readings messages (core's table; added to files of this version as needed).
    conn.execute_batch(auth::REJECTED_TABLE)?;
    Ok(conn)
}

impl AnalyticsStore {
    /// Opens or creates the store.
    ///
    /// # Errors
    /// When the file cannot be opened or has another schema version.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            conn: Arc::new(Mutex::new(open_rw(path)?)),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        // std Mutex: only blocking threads take it, never across an await.
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::File("connection lock poisoned".into()))?;
        f(&mut conn)
    }

    /// Writes a commit in one transaction (synced before returning). Re-writing the same
    /// rows is harmless: revisions and events are inserted once.
    ///
    /// # Errors
    /// Any SQLite failure; nothing of the commit is written then.
    pub fn commit(&self, c: &Commit) -> Result<()> {
        if c.is_empty() {
            return Ok(());
        }
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO events \
                     (id, rule, subject, parameter, status, observed_ms, emitted_ms, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for e in &c.events {
                    st.execute(params![
                        e.id,
                        e.rule.as_str(),
                        e.subject,
                        e.parameter,
                        json(&e.status)?.trim_matches('"'),
                        ms(e.observed_at),
                        ms(e.emitted_at),
                        json(e)?
                    ])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT INTO state (key, body) VALUES (?1, ?2) \
                     ON CONFLICT(key) DO UPDATE SET body = excluded.body",
                )?;
                for (k, v) in &c.states {
                    st.execute(params![k, v])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT INTO current (station, observed_ms, body) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(station) DO UPDATE SET observed_ms = excluded.observed_ms, \
                     body = excluded.body WHERE excluded.observed_ms >= current.observed_ms",
                )?;
                for s in &c.current {
                    st.execute(params![s.station, ms(s.observed_at), json(s)?])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO evaluations \
                     (station, period, start_ms, revision, computed_ms, class, target, compliant, \
                      completeness, sufficient, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?;
                for e in &c.evaluations {
                    st.execute(params![
                        e.station,
                        period_name(e.period),
                        ms(e.start),
                        e.revision,
                        ms(e.computed_at),
                        e.class.map(|c| c.as_str()),
                        e.target.map(|c| c.as_str()),
                        e.compliant,
                        e.completeness,
                        e.sufficient,
                        json(e)?
                    ])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO aqi \
                     (station, period, start_ms, revision, computed_ms, aqi, level, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for a in &c.aqi {
                    st.execute(params![
                        a.station,
                        period_name(a.period),
                        ms(a.start),
                        a.revision,
                        ms(a.computed_at),
                        a.aqi,
                        a.level,
                        json(a)?
                    ])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO warnings (station, day, revision, level, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for w in &c.warnings {
                    st.execute(params![
                        w.station,
                        w.date.to_string(),
                        w.revision,
                        crate::describe::level_name(w.level),
                        json(w)?
                    ])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO joint_control (day, revision, active, body) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for j in &c.joint {
                    st.execute(params![j.date.to_string(), j.revision, j.active, json(j)?])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT INTO incidents (id, started_ms, last_ms, body) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(id) DO UPDATE SET last_ms = excluded.last_ms, body = excluded.body",
                )?;
                for i in &c.incidents {
                    st.execute(params![i.id, ms(i.started_at), ms(i.last_at), json(i)?])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO ledger (station, month, revision, amount, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for l in &c.ledger {
                    st.execute(params![l.station, l.month, l.revision, l.amount_yuan, json(l)?])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The saved service state: (key, JSON).
    ///
    /// # Errors
    /// Any SQLite failure.
    pub fn states(&self) -> Result<Vec<(String, String)>> {
        self.with(|conn| {
            let mut st = conn.prepare("SELECT key, body FROM state ORDER BY key")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The latest revision of each window of a station and period starting in
    /// `[from, to)`, keyed by start (ms).
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn latest_evaluations(
        &self,
        station: &str,
        period: WindowPeriod,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, WindowEvaluation>> {
        self.with(|conn| {
            latest_by_start(
                conn,
                "evaluations",
                station,
                period_name(period),
                ms(from),
                ms(to),
            )
        })
    }

    /// The latest revision of each AQI record of a station and period starting in
    /// `[from, to)`, keyed by start (ms).
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn latest_aqi(
        &self,
        station: &str,
        period: WindowPeriod,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, AqiRecord>> {
        self.with(|conn| {
            latest_by_start(conn, "aqi", station, period_name(period), ms(from), ms(to))
        })
    }

    /// The latest warning record of a city and day.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn latest_warning(&self, station: &str, date: NaiveDate) -> Result<Option<WarningRecord>> {
        self.with(|conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM warnings WHERE station = ?1 AND day = ?2 \
                     ORDER BY revision DESC LIMIT 1",
                    params![station, date.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            body.as_deref().map(parse).transpose()
        })
    }

    /// The latest joint-control record of a day.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn latest_joint(&self, date: NaiveDate) -> Result<Option<JointControlRecord>> {
        self.with(|conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM joint_control WHERE day = ?1 ORDER BY revision DESC LIMIT 1",
                    [date.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            body.as_deref().map(parse).transpose()
        })
    }

    /// The latest ledger entry of a section and month.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn latest_ledger(&self, station: &str, month: &str) -> Result<Option<LedgerEntry>> {
        self.with(|conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM ledger WHERE station = ?1 AND month = ?2 \
                     ORDER BY revision DESC LIMIT 1",
                    params![station, month],
                    |r| r.get(0),
                )
                .optional()?;
            body.as_deref().map(parse).transpose()
        })
    }

    /// Incidents whose latest exceedance is at or after `since`.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn incidents_since(&self, since: DateTime<Utc>) -> Result<Vec<Incident>> {
        self.with(|conn| {
            let mut st =
                conn.prepare("SELECT body FROM incidents WHERE last_ms >= ?1 ORDER BY started_ms")?;
            let rows = st.query_map([ms(since)], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for body in rows {
                out.push(parse(&body?)?);
            }
            Ok(out)
        })
    }

    /// Events not yet confirmed by the broker, oldest first.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn unpublished_events(&self, limit: usize) -> Result<Vec<Event>> {
        self.with(|conn| {
            let mut st =
                conn.prepare("SELECT body FROM events WHERE published = 0 ORDER BY seq LIMIT ?1")?;
            let rows = st.query_map([limit as i64], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for body in rows {
                out.push(parse(&body?)?);
            }
            Ok(out)
        })
    }

    /// Keeps refused readings messages with their reasons (`rejected_messages`).
    ///
    /// # Errors
    /// Any SQLite failure.
    pub fn keep_rejected(&self, rows: &[Rejected]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.with(|conn| {
            let tx = conn.transaction()?;
            auth::keep_rejected(&tx, rows)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Marks events as confirmed by the broker.
    ///
    /// # Errors
    /// Any SQLite failure.
    pub fn mark_published(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut st = tx.prepare_cached("UPDATE events SET published = 1 WHERE id = ?1")?;
                for id in ids {
                    st.execute([id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

fn latest_by_start<T: DeserializeOwned>(
    conn: &Connection,
    table: &str,
    station: &str,
    period: &str,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, T>> {
    let sql = format!(
        "SELECT start_ms, body FROM {table} e WHERE station = ?1 AND period = ?2 \
         AND start_ms >= ?3 AND start_ms < ?4 AND revision = \
         (SELECT MAX(revision) FROM {table} x WHERE x.station = e.station \
          AND x.period = e.period AND x.start_ms = e.start_ms)"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params![station, period, from, to], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (start, body) = row?;
        out.insert(start, parse(&body)?);
    }
    Ok(out)
}

/// Which window evaluations to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationQuery {
    /// Only this station.
    pub station: Option<String>,
    /// Only this period.
    pub period: Option<WindowPeriod>,
    /// Windows starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Windows starting before.
    pub to: Option<DateTime<Utc>>,
    /// Every revision instead of the latest of each window.
    pub all_revisions: bool,
    /// At most this many, the latest windows.
    pub limit: Option<usize>,
}

/// Which CST days to read (warnings, joint control).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayQuery {
    /// Only this station (warnings).
    pub station: Option<String>,
    /// From this day.
    pub from: Option<NaiveDate>,
    /// Through this day.
    pub to: Option<NaiveDate>,
    /// Every revision instead of the latest.
    pub all_revisions: bool,
}

/// Which ledger entries to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerQuery {
    /// Only this section.
    pub station: Option<String>,
    /// From this month, `YYYY-MM`.
    pub from_month: Option<String>,
    /// Through this month.
    pub to_month: Option<String>,
    /// Every revision instead of the latest.
    pub all_revisions: bool,
}

/// Which events to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    /// Only this subject (station id or `REGION`).
    pub subject: Option<String>,
    /// Only this rule.
    pub rule: Option<Rule>,
    /// Observed at or after.
    pub since: Option<DateTime<Utc>>,
    /// Observed before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, the latest.
    pub limit: Option<usize>,
}

/// Read-only access to the evaluation store: the API of the console and the river-chief
/// reports. Each query opens a short-lived read-only connection, so readers never block
/// the service; call the blocking methods from a blocking thread, or through
/// [`EvaluationReader::run`] from async code.
#[derive(Debug, Clone)]
pub struct EvaluationReader {
    path: PathBuf,
}

/// Latest-revision filter for a table keyed by `keys`.
fn latest_clause(table: &str, keys: &[&str]) -> String {
    let join = keys
        .iter()
        .map(|k| format!("x.{k} = e.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(" AND e.revision = (SELECT MAX(revision) FROM {table} x WHERE {join})")
}

impl EvaluationReader {
    /// A reader of the store at `path`.
    ///
    /// # Errors
    /// When the file does not exist.
    pub fn open(path: &Path) -> Result<Self> {
        sqlite::require_exists(path, &SCHEMA)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The reader of a data directory's store (`store_file` of the configuration).
    ///
    /// # Errors
    /// When the file does not exist.
    pub fn open_in(data_dir: &Path, config: &crate::AnalyticsConfig) -> Result<Self> {
        Self::open(&data_dir.join(&config.store_file))
    }

    /// Runs blocking queries on a blocking thread.
    ///
    /// # Errors
    /// The query's error, or a failed thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&EvaluationReader) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| StoreError::Thread(e.to_string()))?
    }

    fn connect(&self) -> Result<Connection> {
        Ok(sqlite::open_reader(&self.path, &SCHEMA)?)
    }

    fn bodies<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<T>> {
        let conn = self.connect()?;
        let mut st = conn.prepare(sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(parse(&body?)?);
        }
        Ok(out)
    }

    /// Window evaluations (hourly, daily, monthly classes, means, valid-data rates), by
    /// station, period and start; the latest revision of each window unless
    /// `all_revisions`.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn evaluations(&self, q: &EvaluationQuery) -> Result<Vec<WindowEvaluation>> {
        self.windowed("evaluations", q)
    }

    /// Every revision of one window, oldest first.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn revisions(
        &self,
        station: &str,
        period: WindowPeriod,
        start: DateTime<Utc>,
    ) -> Result<Vec<WindowEvaluation>> {
        self.bodies(
            "SELECT body FROM evaluations WHERE station = ? AND period = ? AND start_ms = ? \
             ORDER BY revision",
            vec![
                station.to_string().into(),
                period_name(period).to_string().into(),
                ms(start).into(),
            ],
        )
    }

    /// The current (latest live) status of every station, or of one.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn current(&self, station: Option<&str>) -> Result<Vec<CurrentStatus>> {
        match station {
            Some(s) => self.bodies(
                "SELECT body FROM current WHERE station = ?",
                vec![s.to_string().into()],
            ),
            None => self.bodies("SELECT body FROM current ORDER BY station", Vec::new()),
        }
    }

    /// Hourly or daily AQI records; the latest revision unless `all_revisions`.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn aqi(&self, q: &EvaluationQuery) -> Result<Vec<AqiRecord>> {
        self.windowed("aqi", q)
    }

    /// Records of a table keyed by (station, period, start_ms, revision), filtered by `q`.
    fn windowed<T: DeserializeOwned>(&self, table: &str, q: &EvaluationQuery) -> Result<Vec<T>> {
        let mut sql = format!("SELECT body FROM {table} e WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = &q.station {
            sql.push_str(" AND e.station = ?");
            args.push(s.clone().into());
        }
        if let Some(p) = q.period {
            sql.push_str(" AND e.period = ?");
            args.push(period_name(p).to_string().into());
        }
        if let Some(f) = q.from {
            sql.push_str(" AND e.start_ms >= ?");
            args.push(ms(f).into());
        }
        if let Some(t) = q.to {
            sql.push_str(" AND e.start_ms < ?");
            args.push(ms(t).into());
        }
        if !q.all_revisions {
            sql.push_str(&latest_clause(table, &["station", "period", "start_ms"]));
        }
        let reverse = limited(
            &mut sql,
            "e.start_ms, e.station, e.period, e.revision",
            q.limit,
        );
        let mut out = self.bodies(&sql, args)?;
        if reverse {
            out.reverse();
        }
        Ok(out)
    }

    /// City warning levels per day.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn warnings(&self, q: &DayQuery) -> Result<Vec<WarningRecord>> {
        let mut sql = String::from("SELECT body FROM warnings e WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = &q.station {
            sql.push_str(" AND e.station = ?");
            args.push(s.clone().into());
        }
        day_range(&mut sql, &mut args, q);
        if !q.all_revisions {
            sql.push_str(&latest_clause("warnings", &["station", "day"]));
        }
        sql.push_str(" ORDER BY e.day, e.station, e.revision");
        self.bodies(&sql, args)
    }

    /// The regional joint-control state per day.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn joint_control(&self, q: &DayQuery) -> Result<Vec<JointControlRecord>> {
        let mut sql = String::from("SELECT body FROM joint_control e WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        day_range(&mut sql, &mut args, q);
        if !q.all_revisions {
            sql.push_str(&latest_clause("joint_control", &["day"]));
        }
        sql.push_str(" ORDER BY e.day, e.revision");
        self.bodies(&sql, args)
    }

    /// Incidents that reached `station` (or all), started at or after `since`.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn incidents(
        &self,
        station: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Incident>> {
        let all: Vec<Incident> = self.bodies(
            "SELECT body FROM incidents WHERE started_ms >= ? ORDER BY started_ms",
            vec![since.map_or(i64::MIN, ms).into()],
        )?;
        Ok(all
            .into_iter()
            .filter(|i| station.is_none_or(|s| i.sections.iter().any(|x| x.station == s)))
            .collect())
    }

    /// The compensation ledger.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn ledger(&self, q: &LedgerQuery) -> Result<Vec<LedgerEntry>> {
        let mut sql = String::from("SELECT body FROM ledger e WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = &q.station {
            sql.push_str(" AND e.station = ?");
            args.push(s.clone().into());
        }
        if let Some(m) = &q.from_month {
            sql.push_str(" AND e.month >= ?");
            args.push(m.clone().into());
        }
        if let Some(m) = &q.to_month {
            sql.push_str(" AND e.month <= ?");
            args.push(m.clone().into());
        }
        if !q.all_revisions {
            sql.push_str(&latest_clause("ledger", &["station", "month"]));
        }
        sql.push_str(" ORDER BY e.month, e.station, e.revision");
        self.bodies(&sql, args)
    }

    /// Events emitted, oldest first.
    ///
    /// # Errors
    /// Any SQLite or parse failure.
    pub fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let mut sql = String::from("SELECT body FROM events e WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = &q.subject {
            sql.push_str(" AND e.subject = ?");
            args.push(s.clone().into());
        }
        if let Some(r) = q.rule {
            sql.push_str(" AND e.rule = ?");
            args.push(r.as_str().to_string().into());
        }
        if let Some(t) = q.since {
            sql.push_str(" AND e.observed_ms >= ?");
            args.push(ms(t).into());
        }
        if let Some(t) = q.until {
            sql.push_str(" AND e.observed_ms < ?");
            args.push(ms(t).into());
        }
        let reverse = limited(&mut sql, "e.seq", q.limit);
        let mut out = self.bodies(&sql, args)?;
        if reverse {
            out.reverse();
        }
        Ok(out)
    }
}

/// Orders by `order`; with a limit, takes the last `limit` rows (newest first) and says
/// so, for the caller to reverse them back into order.
fn limited(sql: &mut String, order: &str, limit: Option<usize>) -> bool {
    match limit {
        Some(n) => {
            let desc = order
                .split(", ")
                .map(|c| format!("{c} DESC"))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push_str(&format!(" ORDER BY {desc} LIMIT {n}"));
            true
        }
        None => {
            sql.push_str(" ORDER BY ");
            sql.push_str(order);
            false
        }
    }
}

fn day_range(sql: &mut String, args: &mut Vec<rusqlite::types::Value>, q: &DayQuery) {
    if let Some(d) = q.from {
        sql.push_str(" AND e.day >= ?");
        args.push(d.to_string().into());
    }
    if let Some(d) = q.to {
        sql.push_str(" AND e.day <= ?");
        args.push(d.to_string().into());
    }
}

#[cfg(test)]
mod tests;
