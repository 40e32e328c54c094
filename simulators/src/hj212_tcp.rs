//! Simulated data loggers on TCP (`simulate --hj212-tcp HOST:PORT`): each HJ 212 station
//! of the network is one logger with its own connection to the platform, as in the field.
//!
//! A logger sends its frames asking for a 9014 (`Flag` acknowledgement bit set) and keeps
//! each until its 9014 arrives. When the connection fails it reconnects with backoff
//! (100 ms doubling to 5 s) and first sends again every frame not yet acknowledged, in
//! order — the frames of the outage included (补传 of what it could not deliver). It keeps
//! its last week of hourly frames and answers the platform's request for missing hours
//! (CN 2061 with `BeginTime`/`EndTime`): a 9011 `QnRtn=1`, the hours it has, then a 9012
//! (`ExeRtn=1`, or `100` when it has none of them).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDateTime;
use riverwatch_core::hj212::reply::{ExeRtn, QnRtn, execution_result, request_response};
use riverwatch_core::hj212::stream::{Deframer, Piece};
use riverwatch_core::hj212::{Flag, Frame, parse_cp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Hourly frames a logger keeps for requests (a week).
const HISTORY: usize = 24 * 7;

/// What the loggers did.
#[derive(Debug, Default)]
pub struct LoggerCounts {
    /// Frames handed to the loggers.
    pub sent: AtomicU64,
    /// Frames the platform acknowledged (9014).
    pub acked: AtomicU64,
    /// Connections opened (reconnections included).
    pub connections: AtomicU64,
    /// Connection attempts that failed (each followed by a backoff).
    pub connect_failures: AtomicU64,
    /// Requests for missing hours answered.
    pub requests: AtomicU64,
}

/// The network's loggers: one task and connection per MN, started at its first frame.
pub struct Loggers {
    addr: String,
    loggers: HashMap<String, mpsc::UnboundedSender<Vec<u8>>>,
    tasks: tokio::task::JoinSet<()>,
    counts: Arc<LoggerCounts>,
    stop: CancellationToken,
}

impl Loggers {
    /// Loggers connecting to `addr` (`HOST:PORT`).
    pub fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_string(),
            loggers: HashMap::new(),
            tasks: tokio::task::JoinSet::new(),
            counts: Arc::new(LoggerCounts::default()),
            stop: CancellationToken::new(),
        }
    }

    /// The counters.
    pub fn counts(&self) -> Arc<LoggerCounts> {
        self.counts.clone()
    }

    /// Hands an encoded frame to its logger (by MN), asking for a 9014. A frame that does
    /// not decode is not sent.
    pub fn send(&mut self, frame: &[u8]) {
        let Ok(mut f) = Frame::decode(frame) else {
            tracing::warn!("A simulated frame does not decode; not sent.");
            return;
        };
        let version = f
            .flag
            .version()
            .unwrap_or(riverwatch_core::hj212::Version::Hj212_2017);
        f.flag = Flag::new(version, true, f.flag.packetized());
        let bytes = f.encode().into_bytes();
        let tx = self.loggers.entry(f.mn.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let logger = Logger {
                addr: self.addr.clone(),
                counts: self.counts.clone(),
                stop: self.stop.clone(),
                unacked: VecDeque::new(),
                history: VecDeque::new(),
            };
            self.tasks.spawn(logger.run(rx));
            tx
        });
        if tx.send(bytes).is_ok() {
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every frame is acknowledged, or no acknowledgement has come for
    /// `timeout`, or `timeout` has passed once `shutdown` fired; then closes the
    /// connections. Returns (acknowledged, not acknowledged).
    pub async fn finish(mut self, shutdown: &CancellationToken, timeout: Duration) -> (u64, u64) {
        self.loggers.clear();
        let counts = self.counts.clone();
        let tasks = &mut self.tasks;
        let all = async { while tasks.join_next().await.is_some() {} };
        let stalled = async {
            let mut last = counts.acked.load(Ordering::Relaxed);
            let mut since = tokio::time::Instant::now();
            let mut stopping: Option<tokio::time::Instant> = None;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = tokio::time::Instant::now();
                let acked = counts.acked.load(Ordering::Relaxed);
                if acked != last {
                    last = acked;
                    since = now;
                }
                if shutdown.is_cancelled() {
                    stopping.get_or_insert(now);
                }
                if now >= since + timeout || stopping.is_some_and(|s| now >= s + timeout) {
                    break;
                }
            }
        };
        tokio::select! {
            () = all => {}
            () = stalled => {
                tracing::warn!("Simulated loggers stop with frames not acknowledged.");
            }
        }
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        let sent = self.counts.sent.load(Ordering::Relaxed);
        let acked = self.counts.acked.load(Ordering::Relaxed);
        (acked, sent.saturating_sub(acked))
    }
}

struct Logger {
    addr: String,
    counts: Arc<LoggerCounts>,
    stop: CancellationToken,
    /// Sent, not yet acknowledged: (QN, frame).
    unacked: VecDeque<(String, Vec<u8>)>,
    /// Hourly frames: (DataTime, frame).
    history: VecDeque<(NaiveDateTime, Vec<u8>)>,
}

/// Why a connection ended.
enum End {
    /// Everything is sent and acknowledged, or the run stops.
    Done,
    /// The connection failed: connect again.
    Lost,
}

impl Logger {
    async fn run(mut self, mut input: mpsc::UnboundedReceiver<Vec<u8>>) {
        let mut backoff = Duration::from_millis(100);
        let mut input_open = true;
        loop {
            if self.stop.is_cancelled() || (!input_open && self.unacked.is_empty()) {
                return;
            }
            let stream = tokio::select! {
                () = self.stop.cancelled() => return,
                s = TcpStream::connect(&self.addr) => s,
            };
            let stream = match stream {
                Ok(s) => s,
                Err(error) => {
                    self.counts.connect_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, addr = %self.addr, "A simulated logger cannot connect; retrying.");
                    tokio::select! {
                        () = self.stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            self.counts.connections.fetch_add(1, Ordering::Relaxed);
            match self.connected(stream, &mut input, &mut input_open).await {
                End::Done => return,
                End::Lost => {}
            }
        }
    }

    async fn connected(
        &mut self,
        stream: TcpStream,
        input: &mut mpsc::UnboundedReceiver<Vec<u8>>,
        input_open: &mut bool,
    ) -> End {
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        // First what is still unacknowledged, in order.
        for (_, f) in &self.unacked {
            if write.write_all(f).await.is_err() {
                return End::Lost;
            }
        }
        let mut deframer = Deframer::new(4096);
        let mut buf = vec![0u8; 4096];
        loop {
            if !*input_open && self.unacked.is_empty() {
                return End::Done;
            }
            tokio::select! {
                () = self.stop.cancelled() => return End::Done,
                frame = input.recv(), if *input_open => match frame {
                    Some(f) => {
                        self.keep(&f);
                        if write.write_all(&f).await.is_err() {
                            return End::Lost;
                        }
                    }
                    None => *input_open = false,
                },
                n = read.read(&mut buf) => match n {
                    Ok(0) | Err(_) => return End::Lost,
                    Ok(n) => {
                        deframer.push(&buf[..n]);
                        while let Some(piece) = deframer.next_piece() {
                            let Piece::Frame(bytes) = piece else { continue };
                            let Ok(frame) = Frame::decode(&bytes) else { continue };
                            if !self.platform_frame(&frame, &mut write).await {
                                return End::Lost;
                            }
                        }
                    }
                },
            }
        }
    }

    /// Keeps a frame until its 9014 (and an hourly one for requests).
    fn keep(&mut self, bytes: &[u8]) {
        let Ok(frame) = Frame::decode(bytes) else {
            return;
        };
        self.unacked
            .push_back((frame.qn.clone().unwrap_or_default(), bytes.to_vec()));
        if frame.cn == "2061"
            && let Ok(cp) = parse_cp(&frame.cp)
            && let Some(t) = cp.data_time
        {
            if self.history.len() >= HISTORY {
                self.history.pop_front();
            }
            self.history.push_back((t, bytes.to_vec()));
        }
    }

    /// A frame from the platform; false when writing the answer failed.
    async fn platform_frame(
        &mut self,
        frame: &Frame,
        write: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> bool {
        match frame.cn.as_str() {
            "9014" => {
                // 2005 replies carry the QN in CP.
                let qn = frame.qn.clone().or_else(|| {
                    frame
                        .cp
                        .split(';')
                        .find_map(|kv| kv.strip_prefix("QN=").map(str::to_string))
                });
                if let Some(qn) = qn
                    && let Some(at) = self.unacked.iter().position(|(q, _)| *q == qn)
                {
                    self.unacked.remove(at);
                    self.counts.acked.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            "2061" => {
                self.counts.requests.fetch_add(1, Ordering::Relaxed);
                let fields: HashMap<&str, &str> = frame
                    .cp
                    .split(';')
                    .filter_map(|kv| kv.split_once('='))
                    .collect();
                let parse = |k: &str| {
                    fields
                        .get(k)
                        .and_then(|v| NaiveDateTime::parse_from_str(v, "%Y%m%d%H%M%S").ok())
                };
                let mut out = request_response(frame, QnRtn::Ready).encode().into_bytes();
                let mut found = 0;
                if let (Some(begin), Some(end)) = (parse("BeginTime"), parse("EndTime")) {
                    for (t, f) in &self.history {
                        if (begin..=end).contains(t) {
                            out.extend_from_slice(f);
                            found += 1;
                        }
                    }
                }
                let rtn = if found > 0 {
                    ExeRtn::Success
                } else {
                    ExeRtn::NoData
                };
                out.extend(execution_result(frame, rtn).encode().into_bytes());
                write.write_all(&out).await.is_ok()
            }
            _ => true,
        }
    }
}
