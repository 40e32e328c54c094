//! The InfluxDB stores: readings go to InfluxDB 2.x ([`Influx2Store`], through the
//! `influxdb2` crate) or 1.x ([`Influx1Store`], through its v1 HTTP API), as line protocol
//! with millisecond timestamps; [`Influx2Reader`] and [`Influx1Reader`] read them back.
//!
//! # Layout
//! - [`line_protocol`]: readings as points (tags from the registry, escaping, floats).
//! - `spool`: the writer core both versions share: the send path, the on-disk spool and its
//!   drain task, and the table of refused data. The versions differ only in the transport.
//! - [`v2`]: the InfluxDB 2.x transport, store and Flux reader.
//! - [`v1`]: the InfluxDB 1.x transport, store and InfluxQL reader.
//!
//! # Delivery
//! `write` returns once the batch is durable somewhere: accepted by InfluxDB, or committed
//! to the `influx_spool` table of the local SQLite database (at most `spool_max_bytes`;
//! beyond it the write fails as unavailable and ingest retries it) when InfluxDB is unavailable
//! (connection failure, timeout, 5xx, 408, 429, or any other answer that is neither a
//! success nor a 4xx); the report then says `spooled` and ingest may acknowledge the
//! messages. A background task owned by the store
//! sends spooled batches oldest first with jittered exponential backoff and deletes each
//! only after InfluxDB accepted it; while anything is spooled, new batches queue behind it,
//! so InfluxDB sees batches in the order they were written. One HTTP write is in flight per
//! store at a time.
//!
//! Data InfluxDB refuses (any other 4xx: a field-type conflict, a missing bucket, a bad
//! token) is not dropped and not retried: the batch goes to the local table
//! `influx_rejected` with the status and the server's message, an ERROR is logged and
//! `influx_rejected_points_total` rises, and `write` succeeds (every reading reported as
//! inserted) so ingest is not stuck behind data that will never be accepted. Replaying the
//! table once the cause is fixed is an operator's step. InfluxDB 1.x answers 400 to a
//! "partial write" after storing the points it could; the whole body is kept all the
//! same, and replaying it rewrites those points as identical ones. Readings line protocol
//! cannot carry (NaN, times beyond 2262) are kept in the same table as JSON.
//!
//! Dead letters never go to InfluxDB: they are committed to the local SQLite database, as
//! are the held packets of split HJ 212 messages.
//!
//! InfluxDB cannot tell a new point from a rewrite of the same point, and a rewrite with
//! another value silently replaces the stored one. So the store keeps, in the same
//! transaction as the dead letters, a local index of the readings it wrote (table
//! `influx_index`, the SQLite store's layout) for `influx_index_hours` of observation time:
//! [`WriteReport::inserted`](riverwatch_core::store_api::WriteReport::inserted),
//! `duplicates` and `conflicts` come from it. A conflicting reading is not sent (the caller
//! dead-letters it); every other one is, identical resends included, so a batch
//! redelivered after a crash between the index commit and the send still reaches InfluxDB,
//! which stores an identical point once. The limit: a resend of a reading observed longer
//! ago than the index keeps, or of a point written to InfluxDB by another writer (another
//! ingest instance with its own local file, a manual import), cannot be checked and
//! replaces the stored value.
//!
//! The index commit is what accepts a batch's readings: it happens before the send or the
//! spool, and in the same transaction it appends the readings it stored (not the resends,
//! not the conflicting ones) to the local database's commit log, as the SQLite store does.
//! Analytics reads that log through [`Influx2Reader::with_commit_log`] or
//! [`Influx1Reader::with_commit_log`], with the values the index keeps, so it judges every
//! accepted reading once even when ingest died before announcing it. A reading the index
//! has dropped by the time analytics reads its commit (analytics more than
//! `influx_index_hours` behind) is left out: it is in InfluxDB but not judged live. The
//! index drops old observations before inserting a batch, so a backfilled reading older than
//! the index window stays until the next batch.
//!
//! # Reading
//! The readers return readings in the contract's order (station, parameter, time,
//! period). InfluxDB keeps no reception time, so `received_at` equals `observed_at`. With the
//! local database's commit log attached, `commits_after` reads it; without it (analytics on
//! a host without ingest's local file) it returns `None`.

/// What both InfluxDB stores share: they wrap the spooling writer (`inner`) and differ only
/// in its transport.
macro_rules! spooling_store {
    ($store:ident) => {
        impl $store {
            /// Batches waiting in the local spool for InfluxDB.
            pub fn spool_len(&self) -> usize {
                self.inner.spool_len()
            }

            /// Batches (or groups of unencodable readings) kept in `influx_rejected`.
            pub fn rejected_len(&self) -> usize {
                self.inner.rejected_len()
            }
        }

        impl riverwatch_core::store_api::StoreWriter for $store {
            async fn write(
                &mut self,
                batch: std::sync::Arc<riverwatch_core::store_api::WriteBatch>,
            ) -> Result<
                riverwatch_core::store_api::WriteReport,
                riverwatch_core::store_api::StoreError,
            > {
                self.inner.write(batch).await
            }

            async fn held_packets(
                &mut self,
            ) -> Result<
                Vec<riverwatch_core::store_api::HeldPacket>,
                riverwatch_core::store_api::StoreError,
            > {
                self.inner.held_packets().await
            }

            async fn close(&mut self) -> Result<(), riverwatch_core::store_api::StoreError> {
                self.inner.close().await
            }
        }
    };
}

pub mod line_protocol;
mod spool;
pub mod v1;
pub mod v2;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use riverwatch_core::backoff::Backoff;
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::StoreError;
use riverwatch_core::time::Clock;
use riverwatch_core::{DataFlag, ParamCode, Period, Reading, StationId};

use crate::config::SqliteConfig;

pub use v1::{Influx1Reader, Influx1Store, Influx1StoreArgs};
pub use v2::{Influx2Reader, Influx2Store, Influx2StoreArgs};

/// The inputs of an InfluxDB store: the version's settings, the registry the tags come
/// from, and the local SQLite database that holds the spool, refused data and dead letters.
#[derive(Debug, Clone)]
pub struct InfluxStoreArgs<C> {
    /// The server settings ([`Influx2Config`](crate::config::Influx2Config) or
    /// [`Influx1Config`](crate::config::Influx1Config)).
    pub config: C,
    /// Station names, kinds, provinces and rivers for the tags.
    pub registry: Arc<Registry>,
    /// The local SQLite database file (the one [`SqliteStore`](super::SqliteStore) uses).
    pub sqlite_path: PathBuf,
    /// Settings of that database.
    pub sqlite: SqliteConfig,
    /// Delays between attempts while InfluxDB is unavailable. Default
    /// [`Backoff::network`]: 100 ms doubling to 10 s, jittered.
    pub backoff: Backoff,
    /// The clock of the creation times of spooled and refused data.
    pub clock: Arc<dyn Clock>,
    /// The most bytes of line protocol the spool holds; beyond it, writes are refused as
    /// unavailable (retried, the broker keeps the messages). Default
    /// [`DEFAULT_SPOOL_MAX_BYTES`](crate::config::DEFAULT_SPOOL_MAX_BYTES).
    pub spool_max_bytes: u64,
}

impl<C> InfluxStoreArgs<C> {
    /// Arguments with the default backoff.
    pub fn new(
        config: C,
        registry: Arc<Registry>,
        sqlite_path: PathBuf,
        sqlite: SqliteConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            registry,
            sqlite_path,
            sqlite,
            backoff: Backoff::network(),
            clock,
            spool_max_bytes: crate::config::DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

/// Why an InfluxDB store or reader could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InfluxError {
    /// The settings cannot work (bad URL, missing token); fix the configuration.
    #[error("{backend} configuration: {detail}")]
    Config {
        /// Backend name.
        backend: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The local database (spool, refused data, dead letters) cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one attempt to send a line-protocol body ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// Try again later: connection failure, timeout, 5xx, 408 or 429.
    Unavailable {
        /// What happened, with the server's status and message when there was an answer.
        detail: String,
    },
    /// The server refused the data (any other 4xx); sending it again will not help.
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
}

/// A way to send line protocol to one InfluxDB server. The two versions differ only here.
pub(crate) trait Transport: Send + Sync + 'static {
    /// Backend name for errors, logs and metric labels.
    const BACKEND: &'static str;

    /// The server and database or bucket, for logs (no secrets).
    fn target(&self) -> &str;

    /// Sends one body of points at millisecond precision.
    fn send(&self, body: &str) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// Classifies a non-success HTTP answer. 408 and 429, every 5xx, and the answers that mean
/// the *setup* is wrong rather than the data — 401 and 403 (token or password), 404 (no
/// such bucket or database) — are worth retrying: the data waits in the spool until an
/// operator fixes the setting, instead of being set aside batch after batch. Any other 4xx
/// means the server refused the data itself.
pub(crate) fn classify_status(status: u16, body: &str) -> SendError {
    let message = server_message(body);
    if (400..500).contains(&status) && !matches!(status, 401 | 403 | 404 | 408 | 429) {
        SendError::Refused { status, message }
    } else {
        SendError::Unavailable {
            detail: format!("HTTP {status}: {message}"),
        }
    }
}

/// Longest excerpt of a server's answer kept in errors and logs, in characters.
const MESSAGE_EXCERPT_CHARS: usize = 500;

/// The server's own message from an error answer: the `message` (2.x) or `error` (1.x)
/// member of a JSON body, else the body itself; trimmed to an excerpt.
pub(crate) fn server_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["message", "error"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_string))
        });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    let text = if text.is_empty() {
        "(empty answer)".to_string()
    } else {
        text
    };
    excerpt(&text, MESSAGE_EXCERPT_CHARS)
}

/// At most `max` characters of `s`, marked when cut.
pub(crate) fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// An error and its causes on one line (`reqwest` hides "connection refused" in a cause).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// Checks a configured base URL: it must parse and be `http` or `https` with a host.
pub(crate) fn parse_base_url(
    backend: &'static str,
    url: &str,
) -> Result<reqwest::Url, InfluxError> {
    let config = |detail: String| InfluxError::Config { backend, detail };
    let parsed =
        reqwest::Url::parse(url).map_err(|e| config(format!("url `{url}` does not parse: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(config(format!(
            "url `{url}` must be http:// or https:// with a host"
        )));
    }
    Ok(parsed)
}

/// `base` with `endpoint` appended to its path (keeping a path prefix such as a proxy's).
pub(crate) fn endpoint_url(base: &reqwest::Url, endpoint: &str) -> reqwest::Url {
    let mut url = base.clone();
    let path = format!("{}/{endpoint}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url
}

/// How a reader classifies a failed query: transport problems and 5xx are retryable,
/// anything else is not.
pub(crate) fn query_error(backend: &'static str, error: SendError) -> StoreError {
    match error {
        SendError::Unavailable { detail } => StoreError::Unavailable { backend, detail },
        SendError::Refused { status, message } => StoreError::Rejected {
            backend,
            detail: format!("query refused with HTTP {status}: {message}"),
        },
    }
}

/// A point read back, as a reading. InfluxDB keeps no reception time, so `received_at` is
/// the observation time.
pub(crate) fn point_reading(
    station: StationId,
    parameter: ParamCode,
    observed_at: DateTime<Utc>,
    value: f64,
    flag: DataFlag,
    period: Period,
) -> Reading {
    Reading {
        station,
        parameter,
        observed_at,
        received_at: observed_at,
        value,
        flag,
        period,
    }
}

/// The commits after `after` from the commit log of the store's local database, when the
/// reader has it; `None` (no log: judge the announced messages) otherwise.
pub(crate) async fn index_commits(
    index: Option<&crate::store::SqliteReader>,
    after: u64,
    max: usize,
) -> Result<Option<Vec<riverwatch_core::store_api::Committed>>, StoreError> {
    let Some(index) = index.cloned() else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || {
        index
            .influx_index_commits_after_blocking(after, max)
            .map(Some)
    })
    .await
    .map_err(|e| StoreError::Local {
        backend: "sqlite",
        detail: format!("reader thread failed: {e}"),
    })?
}

/// The period whose tag value is `s`.
pub(crate) fn period_from_str(s: &str) -> Option<Period> {
    Period::ALL.into_iter().find(|p| p.as_str() == s)
}

/// Puts readings from a query answer in the contract's order (station, parameter, time,
/// period), keeps one reading per (station, parameter, time, period) — points of one
/// reading can sit in two series when a station's name tags changed between writes — and
/// applies the limit.
pub(crate) fn finish_readings(mut readings: Vec<Reading>, limit: Option<usize>) -> Vec<Reading> {
    readings.sort_by(|a, b| {
        (&a.station, &a.parameter, a.observed_at, a.period).cmp(&(
            &b.station,
            &b.parameter,
            b.observed_at,
            b.period,
        ))
    });
    readings.dedup_by(|a, b| {
        a.station == b.station
            && a.parameter == b.parameter
            && a.observed_at == b.observed_at
            && a.period == b.period
    });
    if let Some(limit) = limit {
        readings.truncate(limit);
    }
    readings
}

#[cfg(test)]
mod tests;
