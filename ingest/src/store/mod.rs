//! Where readings and dead letters go: the SQLite store (embedded default, and always the
//! home of dead letters) and the InfluxDB adapters.

pub mod influx;
pub mod sqlite;

pub use influx::{Influx1Reader, Influx1Store, Influx2Reader, Influx2Store, InfluxError};
pub use sqlite::{SqliteReader, SqliteStore};

use std::path::Path;

use riverwatch_core::Reading;
use riverwatch_core::pipeline::{ReadingQuery, StoreError, StoreReader};
use riverwatch_core::registry::Registry;

use crate::config::{Backend, StoreConfig};

/// The reader of whichever backend the configuration names.
#[derive(Debug, Clone)]
pub enum AnyReader {
    /// SQLite.
    Sqlite(SqliteReader),
}

impl StoreReader for AnyReader {
    async fn query(&self, q: &ReadingQuery) -> Result<Vec<Reading>, StoreError> {
        match self {
            AnyReader::Sqlite(r) => r.query(q).await,
        }
    }
}

/// The local SQLite database of a data directory.
pub fn sqlite_path(cfg: &StoreConfig, data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(&cfg.sqlite.file)
}

/// Opens the reader of the configured backend.
///
/// # Errors
/// When the store cannot be opened.
pub fn open_reader(
    cfg: &StoreConfig,
    data_dir: &Path,
    _registry: &Registry,
) -> Result<AnyReader, StoreError> {
    match cfg.backend {
        Backend::Sqlite => Ok(AnyReader::Sqlite(SqliteReader::open(&sqlite_path(
            cfg, data_dir,
        ))?)),
        other => Err(StoreError::Local {
            backend: "config",
            detail: format!("reading from {other:?} is not available in this build"),
        }),
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
#[derive(Debug, Clone)]
pub enum AnyWriter {
    /// SQLite.
    Sqlite(SqliteStore),
}

impl riverwatch_core::pipeline::StoreWriter for AnyWriter {
    async fn write(
        &mut self,
        batch: std::sync::Arc<riverwatch_core::pipeline::WriteBatch>,
    ) -> Result<riverwatch_core::pipeline::WriteReport, StoreError> {
        match self {
            AnyWriter::Sqlite(s) => s.write(batch).await,
        }
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        match self {
            AnyWriter::Sqlite(s) => s.close().await,
        }
    }
}

/// Opens the writer of the configured backend.
///
/// # Errors
/// When the store cannot be opened.
pub fn open_writer(
    cfg: &StoreConfig,
    data_dir: &Path,
    _registry: &std::sync::Arc<Registry>,
) -> Result<AnyWriter, StoreError> {
    match cfg.backend {
        Backend::Sqlite => Ok(AnyWriter::Sqlite(SqliteStore::open(
            &sqlite_path(cfg, data_dir),
            &cfg.sqlite,
        )?)),
        other => Err(StoreError::Local {
            backend: "config",
            detail: format!("writing to {other:?} is not available in this build"),
        }),
    }
}
