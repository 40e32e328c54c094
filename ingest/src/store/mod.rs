//! Where readings and dead letters go: the SQLite store (embedded default, and always the
//! home of dead letters) and the InfluxDB adapters.

pub mod influx;
pub mod sqlite;

pub use influx::{Influx1Reader, Influx1Store, Influx2Reader, Influx2Store, InfluxError};
pub use sqlite::{SqliteReader, SqliteStore, StoredDeadLetter};

use std::path::Path;
use std::sync::Arc;

use riverwatch_core::Reading;
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::{
    Committed, HeldPacket, ReadingQuery, StoreError, StoreReader, StoreWriter, WriteBatch,
    WriteReport,
};
use riverwatch_core::time::Clock;

use crate::config::{Backend, StoreConfig};

/// The local SQLite database of a data directory: readings (SQLite backend), dead letters
/// and the InfluxDB spool.
pub fn sqlite_path(cfg: &StoreConfig, data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(&cfg.sqlite.file)
}

fn missing(section: &str) -> StoreError {
    StoreError::Local {
        backend: "config",
        detail: format!("the configured backend needs a [store.{section}] section"),
    }
}

fn influx_error(e: InfluxError) -> StoreError {
    match e {
        InfluxError::Store(s) => s,
        other => StoreError::Local {
            backend: "config",
            detail: other.to_string(),
        },
    }
}

/// The reader of whichever backend the configuration names.
#[derive(Debug, Clone)]
pub enum AnyReader {
    /// SQLite.
    Sqlite(SqliteReader),
    /// InfluxDB 2.x.
    Influx2(Influx2Reader),
    /// InfluxDB 1.x.
    Influx1(Influx1Reader),
}

impl StoreReader for AnyReader {
    async fn query(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        match self {
            AnyReader::Sqlite(r) => r.query(q).await,
            AnyReader::Influx2(r) => r.query(q).await,
            AnyReader::Influx1(r) => r.query(q).await,
        }
    }

    async fn commits_after(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Option<Vec<Committed>>, StoreError> {
        match self {
            AnyReader::Sqlite(r) => r.commits_after(after, max).await,
            AnyReader::Influx2(r) => r.commits_after(after, max).await,
            AnyReader::Influx1(r) => r.commits_after(after, max).await,
        }
    }
}

/// Opens the reader of the configured backend. The InfluxDB readers also read the commit
/// log of the store's local database when that file is in `data_dir` (ingest writes it
/// there); without it they offer no commit log.
///
/// # Errors
/// When the store cannot be opened.
pub fn open_reader(
    cfg: &StoreConfig,
    data_dir: &Path,
    _registry: &Registry,
) -> Result<AnyReader, StoreError> {
    let local = sqlite_path(cfg, data_dir);
    let index = || {
        local
            .exists()
            .then(|| SqliteReader::open(&local))
            .transpose()
    };
    match cfg.backend {
        Backend::Sqlite => Ok(AnyReader::Sqlite(SqliteReader::open(&local)?)),
        Backend::Influxdb2 => {
            let c = cfg.influxdb2.as_ref().ok_or_else(|| missing("influxdb2"))?;
            let mut reader = Influx2Reader::new(c).map_err(influx_error)?;
            if let Some(index) = index()? {
                reader = reader.with_commit_log(index);
            }
            Ok(AnyReader::Influx2(reader))
        }
        Backend::Influxdb1 => {
            let c = cfg.influxdb1.as_ref().ok_or_else(|| missing("influxdb1"))?;
            let mut reader = Influx1Reader::new(c).map_err(influx_error)?;
            if let Some(index) = index()? {
                reader = reader.with_commit_log(index);
            }
            Ok(AnyReader::Influx1(reader))
        }
    }
}

/// Opens the dead-letter reader (always the local SQLite database).
///
/// # Errors
/// When the database does not exist.
pub fn open_dead_letter_reader(
    cfg: &StoreConfig,
    data_dir: &Path,
) -> Result<SqliteReader, StoreError> {
    SqliteReader::open(&sqlite_path(cfg, data_dir))
}

/// The writer of whichever backend the configuration names.
pub enum AnyWriter {
    /// SQLite.
    Sqlite(SqliteStore),
    /// InfluxDB 2.x, spooling to the local database during outages.
    Influx2(Influx2Store),
    /// InfluxDB 1.x, spooling to the local database during outages.
    Influx1(Influx1Store),
}

impl StoreWriter for AnyWriter {
    async fn write(&mut self, batch: Arc<WriteBatch>) -> Result<WriteReport, StoreError> {
        match self {
            AnyWriter::Sqlite(s) => s.write(batch).await,
            AnyWriter::Influx2(s) => s.write(batch).await,
            AnyWriter::Influx1(s) => s.write(batch).await,
        }
    }

    async fn held_packets(&mut self) -> Result<Vec<HeldPacket>, StoreError> {
        match self {
            AnyWriter::Sqlite(s) => s.held_packets().await,
            AnyWriter::Influx2(s) => s.held_packets().await,
            AnyWriter::Influx1(s) => s.held_packets().await,
        }
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        match self {
            AnyWriter::Sqlite(s) => s.close().await,
            AnyWriter::Influx2(s) => s.close().await,
            AnyWriter::Influx1(s) => s.close().await,
        }
    }
}

/// Opens the writer of the configured backend. The InfluxDB writers start their spool
/// drain on the current runtime and date spooled data with `clock`.
///
/// # Errors
/// When the store cannot be opened.
pub async fn open_writer(
    cfg: &StoreConfig,
    data_dir: &Path,
    registry: &Arc<Registry>,
    clock: Arc<dyn Clock>,
) -> Result<AnyWriter, StoreError> {
    let local = sqlite_path(cfg, data_dir);
    match cfg.backend {
        Backend::Sqlite => Ok(AnyWriter::Sqlite(SqliteStore::open(&local, &cfg.sqlite)?)),
        Backend::Influxdb2 => {
            let c = cfg.influxdb2.clone().ok_or_else(|| missing("influxdb2"))?;
            let mut args =
                influx::InfluxStoreArgs::new(c, registry.clone(), local, cfg.sqlite.clone(), clock);
            args.spool_max_bytes = cfg.spool_max_bytes;
            Ok(AnyWriter::Influx2(
                Influx2Store::open(args).await.map_err(influx_error)?,
            ))
        }
        Backend::Influxdb1 => {
            let c = cfg.influxdb1.clone().ok_or_else(|| missing("influxdb1"))?;
            let mut args =
                influx::InfluxStoreArgs::new(c, registry.clone(), local, cfg.sqlite.clone(), clock);
            args.spool_max_bytes = cfg.spool_max_bytes;
            Ok(AnyWriter::Influx1(
                Influx1Store::open(args).await.map_err(influx_error)?,
            ))
        }
    }
}
