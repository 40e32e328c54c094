//! HJ 212 over TCP: the data loggers (数采仪) that speak HJ 212 on a plain TCP connection,
//! as they do to every provincial platform, connect to ingest unchanged.
//!
//! [`listen`] accepts connections (at most `max_connections`; one task each,
//! [`connection`]). A connection cuts frames out of the byte stream with core's
//! [`riverwatch_core::hj212::stream::Deframer`] and hands them to the pipeline's batcher as
//! [`StreamInput`]s: the same decoding, validation, split-packet reassembly and dead
//! letters as the MQTT path, into the same store. The station is the frame's MN; a
//! connection whose MN changes is refused. The 9014 a frame asks for travels with it as a
//! [`Reply`] and is written on the connection only after the committer has made the
//! frame's readings and dead letters durable: a logger drops a frame from its resend queue
//! when the 9014 arrives, so an early one would lose data on a crash.
//!
//! [`backfill`]: gaps in a logger's hourly data are requested again (CN 2061 with
//! `BeginTime`/`EndTime`) and the logger's answers tracked.

pub mod backfill;
pub mod connection;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::registry::Registry;
use riverwatch_core::time::Clock;
use riverwatch_core::topics::Topics;
use riverwatch_core::{DeadLetter, StationId};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::ConfigError;
use crate::decode::password::StationPasswords;

/// `[ingest.hj212_tcp]`: the HJ 212 TCP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hj212TcpConfig {
    /// Address to listen on, e.g. `0.0.0.0:9212`. Default: none (no listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Most loggers connected at once; a connection beyond is closed at once (and logged).
    /// Default 2000.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed, seconds. Default 600
    /// (loggers send at least hourly data and usually a real-time frame every minute).
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// A frame once begun must be complete within this long, seconds; a logger holding half
    /// a frame is disconnected and the partial bytes dead-lettered. Default 30.
    #[serde(default = "default_frame_timeout_secs")]
    pub frame_timeout_secs: u64,
    /// Longest accepted data segment, bytes (HJ 212 says 1024; some loggers send more).
    /// Longer frames are skipped and dead-lettered (`frame_too_long`). Default 4096.
    #[serde(default = "default_max_segment_len")]
    pub max_segment_len: usize,
    /// Frames one connection may send per second (and in a burst); beyond it the
    /// connection is read more slowly (nothing is dropped). Default 50.
    #[serde(default = "default_max_frames_per_sec")]
    pub max_frames_per_sec: u32,
    /// Request the missing hours (CN 2061 with `BeginTime`/`EndTime`) when a connected
    /// logger's hourly data has a gap. Default true.
    #[serde(default = "default_true")]
    pub backfill_requests: bool,
    /// Longest a reply may take to be written before the connection is given up, seconds.
    /// Default 10.
    #[serde(default = "default_write_timeout_secs")]
    pub write_timeout_secs: u64,
}

const fn default_max_connections() -> usize {
    2000
}
const fn default_idle_timeout_secs() -> u64 {
    600
}
const fn default_frame_timeout_secs() -> u64 {
    30
}
const fn default_max_segment_len() -> usize {
    4096
}
const fn default_max_frames_per_sec() -> u32 {
    50
}
const fn default_true() -> bool {
    true
}
const fn default_write_timeout_secs() -> u64 {
    10
}

impl Default for Hj212TcpConfig {
    fn default() -> Self {
        Self {
            listen: None,
            max_connections: default_max_connections(),
            idle_timeout_secs: default_idle_timeout_secs(),
            frame_timeout_secs: default_frame_timeout_secs(),
            max_segment_len: default_max_segment_len(),
            max_frames_per_sec: default_max_frames_per_sec(),
            backfill_requests: true,
            write_timeout_secs: default_write_timeout_secs(),
        }
    }
}

impl Hj212TcpConfig {
    /// Pure checks.
    ///
    /// # Errors
    /// The first setting out of its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |field, expected, got: u64, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Range {
                    field,
                    expected,
                    got: got.to_string(),
                })
            }
        };
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        check(
            "hj212_tcp.max_connections",
            "between 1 and 100000",
            n(self.max_connections),
            (1..=100_000).contains(&self.max_connections),
        )?;
        check(
            "hj212_tcp.max_segment_len",
            "between 1024 and 1048576",
            n(self.max_segment_len),
            (1024..=1024 * 1024).contains(&self.max_segment_len),
        )?;
        check(
            "hj212_tcp.idle_timeout_secs",
            "at least 1",
            self.idle_timeout_secs,
            self.idle_timeout_secs >= 1,
        )?;
        check(
            "hj212_tcp.frame_timeout_secs",
            "at least 1",
            self.frame_timeout_secs,
            self.frame_timeout_secs >= 1,
        )?;
        check(
            "hj212_tcp.max_frames_per_sec",
            "at least 1",
            u64::from(self.max_frames_per_sec),
            self.max_frames_per_sec >= 1,
        )?;
        check(
            "hj212_tcp.write_timeout_secs",
            "at least 1",
            self.write_timeout_secs,
            self.write_timeout_secs >= 1,
        )
    }
}

/// Replies one connection may have waiting to be written; beyond, a reply is dropped (the
/// logger sends its frame again and the store ignores the copy).
pub const REPLY_QUEUE: usize = 256;

/// A reply to write on a logger's connection once the commit holding its frame is durable
/// (a 9014), handed to the committer with the frame.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The connection's writer.
    pub to: mpsc::Sender<Bytes>,
    /// The encoded reply frame.
    pub bytes: Bytes,
}

impl Reply {
    /// Queues the reply on its connection without waiting: a connection that is gone or
    /// does not read its replies costs the logger a resend, never the committer a wait.
    pub fn send(self) {
        if let Err(e) = self.to.try_send(self.bytes) {
            match e {
                mpsc::error::TrySendError::Full(_) => {
                    warn!(
                        "A logger does not read its replies; a 9014 was dropped (the logger resends)."
                    );
                }
                mpsc::error::TrySendError::Closed(_) => {}
            }
        }
    }
}

/// What a connection hands to the batcher.
#[derive(Debug)]
pub enum StreamInput {
    /// A frame of a connection whose station is known (by its MN).
    Frame(StreamFrame),
    /// Something the connection rejected itself: bytes outside any frame, a frame that
    /// does not decode (CRC, length, …), an unknown or changed MN.
    Dead(Box<DeadLetter>),
}

/// A frame of a logger's connection, not yet decoded by the batcher.
#[derive(Debug)]
pub struct StreamFrame {
    /// The station its MN names (the connection's).
    pub station: StationId,
    /// The topic the same frame would have over MQTT (`{prefix}/hj212/{station}`), for its
    /// dead letters (so they can be replayed like those of the MQTT path).
    pub topic: String,
    /// The frame as received, `##` to `\r\n`.
    pub bytes: Bytes,
    /// When the connection read its last byte.
    pub received_at: DateTime<Utc>,
    /// The segment limit it was cut with.
    pub max_segment_len: usize,
    /// The 9014 to send once it is committed, when its `Flag` asks for one.
    pub reply: Option<Reply>,
}

/// What every connection shares.
pub struct Shared {
    /// Settings.
    pub config: Hj212TcpConfig,
    /// The registry (MN → station).
    pub registry: Arc<Registry>,
    /// The topic layout (for dead letters).
    pub topics: Topics,
    /// Into the batcher.
    pub frames: mpsc::Sender<StreamInput>,
    /// Access passwords (checked here only for requests and notices; data frames are
    /// checked by the batcher's validator).
    pub passwords: StationPasswords,
    /// Reception times.
    pub clock: Arc<dyn Clock>,
    /// Hourly gaps and the requests for them.
    pub backfill: backfill::Backfill,
}

/// Binds the listener.
///
/// # Errors
/// The address does not parse or cannot be bound.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listen = async {
        let at = tokio::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
        let socket = if at.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(at)?;
        // A network's loggers reconnect together after an outage: a long accept queue (the
        // kernel caps it at net.core.somaxconn) keeps them from being turned away.
        socket.listen(BACKLOG)
    };
    listen.await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen for HJ 212 loggers on {addr}: {e}"),
        )
    })
}

/// Connections the kernel may hold before they are accepted.
const BACKLOG: u32 = 4096;

/// Accepts loggers until `token` fires; each connection runs in its own task and ends with
/// the token too.
pub async fn listen(listener: TcpListener, shared: Arc<Shared>, token: CancellationToken) {
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    info!(address = %local, max_connections = shared.config.max_connections, "Listening for HJ 212 data loggers.");
    let mut tasks = tokio::task::JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            () = token.cancelled() => break,
            a = listener.accept() => a,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(10);
                a
            }
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                warn!(%error, "Accepting an HJ 212 connection failed.");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            warn!(%peer, max_connections = shared.config.max_connections, "HJ 212 connection refused: too many loggers connected.");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let token = token.clone();
        tasks.spawn(async move {
            connection::serve(stream, peer, &shared, token).await;
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    info!("HJ 212 listener stopped.");
}
