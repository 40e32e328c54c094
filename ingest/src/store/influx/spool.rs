//! The writer core shared by both InfluxDB versions: send a batch, or spool it to the local
//! SQLite database when InfluxDB is unavailable, and drain the spool in order from a
//! background task once it is back. Refused data is kept in a table of its own.
//!
//! Tables, in the local database file the SQLite store uses:
//! - `influx_spool (seq, created_ms, points, body)`: line-protocol bodies not yet accepted,
//!   oldest first by `seq`. A row is deleted only after InfluxDB accepted it.
//! - `influx_rejected (id, created_ms, backend, status, message, points, body)`: data
//!   InfluxDB refused (`status` is its HTTP status), or readings line protocol cannot carry
//!   (`status` NULL; `body` then holds the readings as JSON lines). Kept for an operator.
//!
//! Ordering: every send and every spool change happens under one async mutex, and while
//! the spool has rows a new batch is appended behind them instead of being sent, so
//! InfluxDB receives batches in the order `write` was called.
//!
//! Size: the spool holds at most `spool_max_bytes` of line protocol. From
//! [`NEAR_CAP_PERCENT`] of it on, an ERROR is logged (once per episode) and the gauge
//! `influx_spool_near_cap` is 1; a batch that would go beyond it is refused with
//! [`StoreError::Unavailable`], so ingest keeps retrying it and leaves its messages
//! unacknowledged with the broker (backpressure) instead of dropping anything, until
//! InfluxDB takes the spooled data (`influx_spool_refused_batches_total` counts the refusals).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use riverwatch_core::backoff::Backoff;
use riverwatch_core::registry::Registry;
use riverwatch_core::sqlite::{self, Schema};
use riverwatch_core::store_api::{HeldPacket, StoreError, StoreWriter, WriteBatch, WriteReport};
use riverwatch_core::telemetry::{self, Counter, Gauge};
use riverwatch_core::time::Clock;
use rusqlite::{Connection, params};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{debug, error, info, warn};

use super::line_protocol::encode_batch;
use super::{InfluxStoreArgs, SendError, Transport};
use crate::config::SqliteConfig;
use crate::store::SqliteStore;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS influx_spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    body       TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS influx_rejected (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    backend    TEXT    NOT NULL,
    status     INTEGER,
    message    TEXT    NOT NULL,
    points     INTEGER NOT NULL,
    body       TEXT    NOT NULL
);
";

/// A drain request carries at most this many bytes of line protocol (several spooled
/// batches merged), so a long outage is caught up in few requests without huge ones.
const DRAIN_MAX_BYTES: usize = 4 * 1024 * 1024;
/// ... and at most this many points.
const DRAIN_MAX_POINTS: usize = 20_000;
/// Rows read from the spool per drain request, before the byte and point limits apply.
const DRAIN_MAX_ROWS: i64 = 512;

/// The share of `spool_max_bytes` from which the spool is reported as nearly full.
pub(crate) const NEAR_CAP_PERCENT: u64 = 80;
/// ... and below which that report ends.
const NEAR_CAP_CLEAR_PERCENT: u64 = 50;

fn local(backend: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Local {
        backend,
        detail: format!("InfluxDB spool: {detail}"),
    }
}

/// One spooled batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpoolRow {
    /// Position in the spool.
    pub seq: i64,
    /// Points in `body`.
    pub points: usize,
    /// Line protocol, each line ending in `\n`.
    pub body: String,
}

/// The spool and refused-data tables, on their own connection to the local database.
#[derive(Debug)]
pub(crate) struct Spool {
    backend: &'static str,
    // std Mutex: taken only on blocking threads, never across an await.
    conn: Mutex<Connection>,
    /// Creation times of spooled and refused rows.
    clock: Arc<dyn Clock>,
}

impl Spool {
    /// Opens the tables in the database at `path` (the readings store's file), creating
    /// them if needed, with the readings store's durability.
    pub fn open(
        backend: &'static str,
        path: &Path,
        cfg: &SqliteConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        // The readings store's file: its schema version, the spool's tables.
        let schema = Schema {
            tables: TABLES,
            ..crate::store::sqlite::SCHEMA
        };
        let conn =
            sqlite::open_writer(path, &schema, cfg.synchronous).map_err(|e| local(backend, e))?;
        Ok(Self {
            backend,
            conn: Mutex::new(conn),
            clock,
        })
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| local(self.backend, "connection lock poisoned"))?;
        f(&mut conn).map_err(|e| local(self.backend, e))
    }

    /// Number of spooled batches.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            c.query_row("SELECT count(*) FROM influx_spool", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map(|n| usize::try_from(n).unwrap_or(0))
    }

    /// Bytes of line protocol spooled.
    pub fn bytes(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT coalesce(sum(length(CAST(body AS BLOB))), 0) FROM influx_spool",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| u64::try_from(n).unwrap_or(0))
    }

    /// Number of rows of refused data.
    pub fn rejected_len(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            c.query_row("SELECT count(*) FROM influx_rejected", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map(|n| usize::try_from(n).unwrap_or(0))
    }

    /// Appends a batch at the end of the spool, committed before returning.
    pub fn append(&self, points: usize, body: &str) -> Result<(), StoreError> {
        let now = self.clock.now().timestamp_millis();
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO influx_spool (created_ms, points, body) VALUES (?1, ?2, ?3)",
                params![now, points as i64, body],
            )?;
            tx.commit()
        })
    }

    /// The oldest batches, as many as fit one drain request (at least one when any).
    pub fn oldest(&self) -> Result<Vec<SpoolRow>, StoreError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, points, body FROM influx_spool ORDER BY seq LIMIT ?1",
            )?;
            let rows = stmt.query_map([DRAIN_MAX_ROWS], |r| {
                Ok(SpoolRow {
                    seq: r.get(0)?,
                    points: usize::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    body: r.get(2)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let mut bytes = 0;
        let mut points = 0;
        let mut out = Vec::new();
        for row in rows {
            if !out.is_empty()
                && (bytes + row.body.len() > DRAIN_MAX_BYTES
                    || points + row.points > DRAIN_MAX_POINTS)
            {
                break;
            }
            bytes += row.body.len();
            points += row.points;
            out.push(row);
        }
        Ok(out)
    }

    /// Deletes spooled batches `first..=last` (accepted by InfluxDB).
    pub fn delete(&self, first: i64, last: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM influx_spool WHERE seq BETWEEN ?1 AND ?2",
                params![first, last],
            )
            .map(|_| ())
        })
    }

    /// Keeps refused data; when it came from the spool (`spooled`), removes it from there
    /// in the same transaction.
    pub fn reject(
        &self,
        status: Option<u16>,
        message: &str,
        points: usize,
        body: &str,
        spooled: Option<i64>,
    ) -> Result<(), StoreError> {
        let backend = self.backend;
        let now = self.clock.now().timestamp_millis();
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO influx_rejected (created_ms, backend, status, message, points, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    now,
                    backend,
                    status.map(i64::from),
                    message,
                    points as i64,
                    body
                ],
            )?;
            if let Some(seq) = spooled {
                tx.execute("DELETE FROM influx_spool WHERE seq = ?1", [seq])?;
            }
            tx.commit()
        })
    }
}

/// Runs a spool operation on a blocking thread.
async fn blocking<R: Send + 'static>(
    spool: &Arc<Spool>,
    f: impl FnOnce(&Spool) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    let spool = Arc::clone(spool);
    let backend = spool.backend;
    tokio::task::spawn_blocking(move || f(&spool))
        .await
        .map_err(|e| local(backend, format!("spool thread failed: {e}")))?
}

/// The metric handles of one store, labelled by backend.
#[derive(Debug)]
struct Metrics {
    written_points: Counter,
    spooled_batches: Counter,
    spooled_points: Counter,
    drained_batches: Counter,
    rejected_points: Counter,
    unavailable: Counter,
    spool_batches: Gauge,
    spool_bytes: Gauge,
    spool_max_bytes: Gauge,
    spool_near_cap: Gauge,
    spool_refused: Counter,
}

impl Metrics {
    fn new(backend: &str) -> Self {
        let labels = [("backend", backend)];
        Self {
            written_points: telemetry::counter("influx_written_points_total", &labels),
            spooled_batches: telemetry::counter("influx_spooled_batches_total", &labels),
            spooled_points: telemetry::counter("influx_spooled_points_total", &labels),
            drained_batches: telemetry::counter("influx_drained_batches_total", &labels),
            rejected_points: telemetry::counter("influx_rejected_points_total", &labels),
            unavailable: telemetry::counter("influx_unavailable_total", &labels),
            spool_batches: telemetry::gauge("influx_spool_batches", &labels),
            spool_bytes: telemetry::gauge("influx_spool_bytes", &labels),
            spool_max_bytes: telemetry::gauge("influx_spool_max_bytes", &labels),
            spool_near_cap: telemetry::gauge("influx_spool_near_cap", &labels),
            spool_refused: telemetry::counter("influx_spool_refused_batches_total", &labels),
        }
    }
}

/// When the next attempt may be made after a failure.
#[derive(Debug)]
struct Retry {
    backoff: Backoff,
    not_before: Option<Instant>,
}

/// What one drain step did.
#[derive(Debug, PartialEq)]
enum DrainStep {
    /// The spool is empty.
    Empty,
    /// Spooled batches were delivered or moved to the refused-data table.
    Progress,
    /// InfluxDB is unavailable; nothing changed.
    Unavailable(String),
}

/// State shared by the store and its drain task.
#[derive(Debug)]
struct Shared<T> {
    transport: T,
    spool: Arc<Spool>,
    /// Held for every send and every spool change: one HTTP write in flight, in order.
    send_lock: tokio::sync::Mutex<()>,
    /// Spooled batches (a cache of the row count, changed only under `send_lock`).
    spooled: AtomicUsize,
    /// Spooled bytes of line protocol (a cache, changed only under `send_lock`).
    spooled_bytes: AtomicU64,
    /// The most bytes the spool may hold.
    max_bytes: u64,
    /// Whether the spool was last reported nearly full, and whether a batch was last refused
    /// (to log each episode once).
    near_cap: AtomicBool,
    full: AtomicBool,
    /// Rows of refused data (a cache of the row count).
    rejected: AtomicUsize,
    /// Wakes the drain task when a batch is spooled.
    wake: Notify,
    // std Mutex: a few field updates, never held across an await.
    retry: Mutex<Retry>,
    /// Whether InfluxDB was last seen unavailable (to log the start and end of an outage once).
    outage: AtomicBool,
    metrics: Metrics,
}

impl<T: Transport> Shared<T> {
    fn spool_len(&self) -> usize {
        self.spooled.load(Ordering::SeqCst)
    }

    fn set_spool_len(&self, n: usize) {
        self.spooled.store(n, Ordering::SeqCst);
        self.metrics.spool_batches.set(n as u64);
    }

    fn spool_bytes(&self) -> u64 {
        self.spooled_bytes.load(Ordering::SeqCst)
    }

    /// Records the spool's size in bytes, and reports (once per episode) when it comes near
    /// its cap and when it is well below again.
    fn set_spool_bytes(&self, bytes: u64) {
        self.spooled_bytes.store(bytes, Ordering::SeqCst);
        self.metrics.spool_bytes.set(bytes);
        let percent = bytes.saturating_mul(100) / self.max_bytes.max(1);
        if percent >= NEAR_CAP_PERCENT {
            self.metrics.spool_near_cap.set(1);
            if !self.near_cap.swap(true, Ordering::SeqCst) {
                error!(
                    backend = T::BACKEND,
                    server = self.transport.target(),
                    spool_bytes = bytes,
                    spool_max_bytes = self.max_bytes,
                    "The InfluxDB spool is nearly full; once full, ingest stops acknowledging \
                     messages and the broker keeps them. Bring InfluxDB back or raise \
                     [store] spool_max_bytes."
                );
            }
        } else if percent < NEAR_CAP_CLEAR_PERCENT && self.near_cap.swap(false, Ordering::SeqCst) {
            self.metrics.spool_near_cap.set(0);
            self.full.store(false, Ordering::SeqCst);
            info!(
                backend = T::BACKEND,
                spool_bytes = bytes,
                "The InfluxDB spool is no longer nearly full."
            );
        }
    }

    /// Refuses a batch that would take the spool beyond its cap: the caller retries it
    /// later and its messages stay unacknowledged. Call with `send_lock` held.
    fn refuse_when_full(&self, points: usize, body_bytes: usize) -> Result<(), StoreError> {
        let after = self.spool_bytes().saturating_add(body_bytes as u64);
        if after <= self.max_bytes || self.spool_len() == 0 {
            // An empty spool takes any one batch, so a batch larger than the cap is not
            // refused forever.
            return Ok(());
        }
        self.metrics.spool_refused.inc();
        if !self.full.swap(true, Ordering::SeqCst) {
            error!(
                backend = T::BACKEND,
                server = self.transport.target(),
                spool_bytes = self.spool_bytes(),
                spool_max_bytes = self.max_bytes,
                points,
                "The InfluxDB spool is full: new batches are refused and their messages stay \
                 unacknowledged with the broker until InfluxDB takes the spooled data."
            );
        }
        Err(StoreError::Unavailable {
            backend: T::BACKEND,
            detail: format!(
                "InfluxDB is unavailable and the local spool is full ({} of {} bytes, \
                 [store] spool_max_bytes); the batch waits",
                self.spool_bytes(),
                self.max_bytes
            ),
        })
    }

    /// How long to wait before the next attempt, if a failure asked for a pause.
    fn retry_wait(&self) -> Option<Duration> {
        let retry = self.retry.lock().ok()?;
        let wait = retry.not_before?.saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }

    /// Starts the next backoff delay; no attempt is made before it ends.
    fn pause(&self) -> Duration {
        match self.retry.lock() {
            Ok(mut retry) => {
                let delay = retry.backoff.next_delay();
                retry.not_before = Some(Instant::now() + delay);
                delay
            }
            Err(_) => Duration::ZERO,
        }
    }

    fn note_failure(&self, detail: &str) {
        self.metrics.unavailable.inc();
        let delay = self.pause();
        if !self.outage.swap(true, Ordering::SeqCst) {
            warn!(
                backend = T::BACKEND,
                server = self.transport.target(),
                error = %detail,
                "InfluxDB unavailable; spooling batches to the local database."
            );
        } else {
            debug!(
                backend = T::BACKEND,
                error = %detail,
                retry_in_ms = delay.as_millis() as u64,
                "InfluxDB still unavailable."
            );
        }
    }

    fn note_success(&self) {
        if let Ok(mut retry) = self.retry.lock() {
            retry.backoff.reset();
            retry.not_before = None;
        }
    }

    /// Logs the end of an outage once the spool is empty again.
    fn note_caught_up(&self) {
        if self.outage.swap(false, Ordering::SeqCst) {
            info!(
                backend = T::BACKEND,
                server = self.transport.target(),
                "InfluxDB available again; spool drained."
            );
        }
    }

    fn log_refused(&self, status: u16, message: &str, points: usize) {
        self.metrics.rejected_points.add(points as u64);
        error!(
            backend = T::BACKEND,
            server = self.transport.target(),
            status,
            points,
            server_message = %message,
            "InfluxDB refused the data; kept in table influx_rejected, not retried."
        );
    }

    /// Spools a batch behind the ones already waiting. Call with `send_lock` held.
    async fn append_locked(&self, points: usize, body: String) -> Result<(), StoreError> {
        self.refuse_when_full(points, body.len())?;
        let len = body.len() as u64;
        blocking(&self.spool, move |s| s.append(points, &body)).await?;
        self.set_spool_len(self.spool_len() + 1);
        self.set_spool_bytes(self.spool_bytes().saturating_add(len));
        self.metrics.spooled_batches.inc();
        self.metrics.spooled_points.add(points as u64);
        self.wake.notify_one();
        Ok(())
    }

    /// Keeps refused data. Call with `send_lock` held when `spooled` is set.
    async fn reject(
        &self,
        status: Option<u16>,
        message: String,
        points: usize,
        body: String,
        spooled: Option<i64>,
    ) -> Result<(), StoreError> {
        let len = body.len() as u64;
        blocking(&self.spool, move |s| {
            s.reject(status, &message, points, &body, spooled)
        })
        .await?;
        self.rejected.fetch_add(1, Ordering::SeqCst);
        if spooled.is_some() {
            self.set_spool_len(self.spool_len().saturating_sub(1));
            self.set_spool_bytes(self.spool_bytes().saturating_sub(len));
        }
        Ok(())
    }

    /// Sends the oldest spooled batches (merged into one request). Call with `send_lock`
    /// held.
    async fn drain_step_locked(&self) -> Result<DrainStep, StoreError> {
        let rows = blocking(&self.spool, |s| s.oldest()).await?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            self.set_spool_len(0);
            self.set_spool_bytes(0);
            return Ok(DrainStep::Empty);
        };
        let (first, last) = (first.seq, last.seq);
        let body: String = rows.iter().map(|r| r.body.as_str()).collect();
        let points: usize = rows.iter().map(|r| r.points).sum();
        match self.transport.send(&body).await {
            Ok(()) => {
                blocking(&self.spool, move |s| s.delete(first, last)).await?;
                self.note_success();
                self.set_spool_len(self.spool_len().saturating_sub(rows.len()));
                let sent: u64 = rows.iter().map(|r| r.body.len() as u64).sum();
                self.set_spool_bytes(self.spool_bytes().saturating_sub(sent));
                self.metrics.written_points.add(points as u64);
                self.metrics.drained_batches.add(rows.len() as u64);
                Ok(DrainStep::Progress)
            }
            Err(SendError::Unavailable { detail }) => {
                self.note_failure(&detail);
                Ok(DrainStep::Unavailable(detail))
            }
            Err(SendError::Refused { status, message }) if rows.len() == 1 => {
                self.note_success();
                self.log_refused(status, &message, points);
                self.reject(Some(status), message, points, body, Some(first))
                    .await?;
                Ok(DrainStep::Progress)
            }
            Err(SendError::Refused { .. }) => {
                // One of the merged batches is refused; send them one by one to keep the
                // others. Points already written by a partial write are rewritten as
                // identical points, which is harmless.
                self.note_success();
                for row in rows {
                    match self.transport.send(&row.body).await {
                        Ok(()) => {
                            let len = row.body.len() as u64;
                            blocking(&self.spool, move |s| s.delete(row.seq, row.seq)).await?;
                            self.set_spool_len(self.spool_len().saturating_sub(1));
                            self.set_spool_bytes(self.spool_bytes().saturating_sub(len));
                            self.metrics.written_points.add(row.points as u64);
                            self.metrics.drained_batches.inc();
                        }
                        Err(SendError::Refused { status, message }) => {
                            self.log_refused(status, &message, row.points);
                            self.reject(Some(status), message, row.points, row.body, Some(row.seq))
                                .await?;
                        }
                        Err(SendError::Unavailable { detail }) => {
                            self.note_failure(&detail);
                            return Ok(DrainStep::Unavailable(detail));
                        }
                    }
                }
                Ok(DrainStep::Progress)
            }
        }
    }

    /// One drain step under the lock.
    ///
    /// # Cancel safety
    /// Cancelling may drop a request InfluxDB already applied, or skip the deletion of a
    /// delivered batch; the batch is then sent again later as identical points, which
    /// InfluxDB stores once.
    async fn drain_step(&self) -> Result<DrainStep, StoreError> {
        let _guard = self.send_lock.lock().await;
        self.drain_step_locked().await
    }

    /// Delivers one batch: sends it, or spools it. Returns whether it was spooled.
    async fn deliver(&self, points: usize, body: String) -> Result<bool, StoreError> {
        let _guard = self.send_lock.lock().await;
        if self.spool_len() > 0 {
            // Older batches wait in the spool; try to move them on first (one request, so
            // the write's latency stays bounded), unless InfluxDB just failed and the
            // backoff is still running.
            if self.retry_wait().is_none() {
                self.drain_step_locked().await?;
            }
            if self.spool_len() > 0 {
                self.append_locked(points, body).await?;
                debug!(
                    backend = T::BACKEND,
                    points,
                    spooled_batches = self.spool_len(),
                    "Batch queued behind the spool."
                );
                return Ok(true);
            }
            self.note_caught_up();
        }
        match self.transport.send(&body).await {
            Ok(()) => {
                self.note_success();
                self.note_caught_up();
                self.metrics.written_points.add(points as u64);
                Ok(false)
            }
            Err(SendError::Unavailable { detail }) => {
                self.note_failure(&detail);
                self.append_locked(points, body).await?;
                Ok(true)
            }
            Err(SendError::Refused { status, message }) => {
                self.log_refused(status, &message, points);
                self.reject(Some(status), message, points, body, None)
                    .await?;
                Ok(false)
            }
        }
    }
}

/// The background task: drains the spool whenever it has rows and the backoff allows.
async fn drain_loop<T: Transport>(shared: Arc<Shared<T>>, cancel: CancellationToken) {
    loop {
        if shared.spool_len() == 0 {
            // Notify keeps a permit, so a batch spooled between the check and the wait
            // still wakes us.
            tokio::select! {
                () = cancel.cancelled() => return,
                () = shared.wake.notified() => continue,
            }
        }
        if let Some(wait) = shared.retry_wait() {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => continue,
            }
        }
        // See `drain_step` for why cancelling here is harmless.
        let step = tokio::select! {
            () = cancel.cancelled() => return,
            step = shared.drain_step() => step,
        };
        match step {
            Ok(DrainStep::Empty) => shared.note_caught_up(),
            Ok(DrainStep::Progress) => {
                if shared.spool_len() == 0 {
                    shared.note_caught_up();
                }
            }
            Ok(DrainStep::Unavailable(_)) => {}
            Err(error) => {
                shared.pause();
                error!(
                    backend = T::BACKEND,
                    %error,
                    "Cannot read or update the InfluxDB spool; retrying."
                );
            }
        }
    }
}

/// The store both InfluxDB versions wrap: encodes batches, sends or spools them, keeps
/// refused data, and owns the drain task.
#[derive(Debug)]
pub(crate) struct SpoolingWriter<T: Transport> {
    shared: Arc<Shared<T>>,
    dead_letters: SqliteStore,
    registry: Arc<Registry>,
    cancel: CancellationToken,
    /// Stops the drain task when the writer is dropped without `close`.
    _stop_on_drop: DropGuard,
    drain: Option<JoinHandle<()>>,
    closed: bool,
}

impl<T: Transport> SpoolingWriter<T> {
    /// Opens the local tables and starts the drain task on the current runtime. A spool
    /// left by an earlier run is drained first.
    pub async fn open<C>(transport: T, args: InfluxStoreArgs<C>) -> Result<Self, StoreError> {
        let InfluxStoreArgs {
            registry,
            sqlite_path,
            sqlite,
            backoff,
            clock,
            spool_max_bytes,
            ..
        } = args;
        let backend = T::BACKEND;
        let (dead_letters, spool, spooled, rejected) = tokio::task::spawn_blocking(move || {
            // The SQLite store first: it creates the file and turns WAL mode on.
            let dead_letters = SqliteStore::open_influx_index(&sqlite_path, &sqlite)?;
            let spool = Spool::open(backend, &sqlite_path, &sqlite, clock)?;
            let spooled = (spool.len()?, spool.bytes()?);
            let rejected = spool.rejected_len()?;
            Ok::<_, StoreError>((dead_letters, spool, spooled, rejected))
        })
        .await
        .map_err(|e| local(backend, format!("open thread failed: {e}")))??;
        let shared = Arc::new(Shared {
            transport,
            spool: Arc::new(spool),
            send_lock: tokio::sync::Mutex::new(()),
            spooled: AtomicUsize::new(0),
            spooled_bytes: AtomicU64::new(0),
            max_bytes: spool_max_bytes,
            near_cap: AtomicBool::new(false),
            full: AtomicBool::new(false),
            rejected: AtomicUsize::new(rejected),
            wake: Notify::new(),
            retry: Mutex::new(Retry {
                backoff,
                not_before: None,
            }),
            outage: AtomicBool::new(false),
            metrics: Metrics::new(backend),
        });
        let (spooled, spooled_bytes) = spooled;
        shared.metrics.spool_max_bytes.set(spool_max_bytes);
        shared.set_spool_len(spooled);
        shared.set_spool_bytes(spooled_bytes);
        if spooled > 0 {
            info!(
                backend,
                server = shared.transport.target(),
                spooled_batches = spooled,
                "Spooled batches from an earlier run; sending them first."
            );
        }
        let cancel = CancellationToken::new();
        let drain = tokio::spawn(drain_loop(Arc::clone(&shared), cancel.clone()));
        Ok(Self {
            shared,
            dead_letters,
            registry,
            _stop_on_drop: cancel.clone().drop_guard(),
            cancel,
            drain: Some(drain),
            closed: false,
        })
    }

    /// Batches waiting in the spool.
    pub fn spool_len(&self) -> usize {
        self.shared.spool_len()
    }

    /// Rows kept in `influx_rejected`.
    pub fn rejected_len(&self) -> usize {
        self.shared.rejected.load(Ordering::SeqCst)
    }

    /// A weak handle on the shared state, for tests that check the drain task ended.
    #[cfg(test)]
    pub fn shared_weak(&self) -> std::sync::Weak<impl Send + Sync + use<T>> {
        Arc::downgrade(&self.shared)
    }

    /// Keeps readings that line protocol cannot carry, as JSON lines.
    async fn keep_unencodable(
        &self,
        readings: &[riverwatch_core::Reading],
        unencodable: &[(usize, super::line_protocol::EncodeError)],
    ) -> Result<(), StoreError> {
        let mut body = String::new();
        let mut reasons = Vec::new();
        for (i, why) in unencodable {
            if let Some(r) = readings.get(*i) {
                body.push_str(
                    &serde_json::to_string(r)
                        .map_err(|e| local(T::BACKEND, format!("cannot keep a reading: {e}")))?,
                );
                body.push('\n');
                reasons.push(format!("{} {}: {why}", r.station, r.parameter));
            }
        }
        let message = format!("not encodable as line protocol: {}", reasons.join("; "));
        self.shared
            .metrics
            .rejected_points
            .add(unencodable.len() as u64);
        error!(
            backend = T::BACKEND,
            points = unencodable.len(),
            reason = %message,
            "Readings cannot be written to InfluxDB; kept in table influx_rejected."
        );
        self.shared
            .reject(None, message, unencodable.len(), body, None)
            .await
    }
}

impl<T: Transport> StoreWriter for SpoolingWriter<T> {
    async fn write(&mut self, batch: Arc<WriteBatch>) -> Result<WriteReport, StoreError> {
        if self.closed {
            return Err(StoreError::Shutdown);
        }
        // Dead letters and held packets stay local, and the readings go to the local index
        // of recent readings, in one transaction before anything is sent; a retried batch
        // stores the dead letters once (the SQLite store ignores a redelivered rejection, and
        // applying the same held changes again changes nothing). The index
        // tells new readings, identical resends and conflicting ones apart.
        let mut report = self.dead_letters.write(Arc::clone(&batch)).await?;
        if batch.readings.is_empty() {
            return Ok(report);
        }
        // Every reading but the conflicting ones is sent, identical resends too: after a
        // crash between the index commit and the send, the redelivered batch must still
        // reach InfluxDB, which stores an identical point once.
        let send: std::borrow::Cow<'_, [riverwatch_core::Reading]> = if report.conflicts.is_empty()
        {
            std::borrow::Cow::Borrowed(&batch.readings)
        } else {
            std::borrow::Cow::Owned(
                batch
                    .readings
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| report.conflicts.iter().all(|c| c.index != *i))
                    .map(|(_, r)| r.clone())
                    .collect(),
            )
        };
        let encoded = encode_batch(&self.registry, &send);
        if !encoded.unencodable.is_empty() {
            self.keep_unencodable(&send, &encoded.unencodable).await?;
        }
        if encoded.points > 0 {
            report.spooled = self.shared.deliver(encoded.points, encoded.body).await?;
        }
        Ok(report)
    }

    async fn held_packets(&mut self) -> Result<Vec<HeldPacket>, StoreError> {
        self.dead_letters.held_packets().await
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.cancel.cancel();
        if let Some(drain) = self.drain.take()
            && let Err(e) = drain.await
        {
            warn!(backend = T::BACKEND, error = %e, "InfluxDB drain task failed.");
        }
        // The count may be stale if the drain task was stopped mid-step.
        let spooled = blocking(&self.shared.spool, |s| s.len()).await?;
        self.shared.set_spool_len(spooled);
        if spooled > 0 {
            info!(
                backend = T::BACKEND,
                spooled_batches = spooled,
                "InfluxDB store closed with batches spooled; they are sent at the next start."
            );
        }
        self.dead_letters.close().await
    }
}
