//! One logger's connection: bytes in, frames to the batcher, replies out.
//!
//! Reading: the [`Deframer`] cuts frames out of whatever the reads bring; bytes outside any
//! frame become one dead letter per episode. A connection that sends nothing for
//! `idle_timeout_secs`, or holds a begun frame for `frame_timeout_secs`, is closed (the
//! partial frame dead-lettered); frames beyond `max_frames_per_sec` are read later, not
//! dropped. Each connection is its own task, so a slow one blocks nobody.
//!
//! What a logger sends, and what it gets back (HJ 212-2017 §6.6; the reply speaks the
//! frame's edition, [`riverwatch_core::hj212::reply`]):
//! - a frame that does not decode (CRC, length, framing): a dead letter, **no reply**, so
//!   the logger sends it again;
//! - uploads (data 2011/2051/2061/2031, and any other CN 2xxx/3xxx upload): through the
//!   batcher like an MQTT message; the 9014 its `Flag` asks for is sent once its readings
//!   and dead letters are committed. A frame refused as a whole for its access password
//!   gets none (the logger keeps it until the password is set right);
//! - notices (CN 1013, the logger's time-calibration request): a 9013 when its `Flag` asks
//!   (riverwatch does not set loggers' clocks, it only confirms receipt);
//! - requests (other CN 1xxx/3xxx commands addressed to the platform): a 9011 with
//!   `QnRtn=2` (rejected: riverwatch executes no commands for a logger), `QnRtn=3` when the
//!   access password is wrong; no 9012 follows a rejected request;
//! - responses (9011/9012/9013/9014): answers to the platform's backfill requests, tracked
//!   by [`super::backfill`]; never answered.
//!
//! The first frame that decodes names the station (its MN); a later frame with another MN
//! is dead-lettered and the connection closed, as is one whose MN is not in the registry.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use riverwatch_core::hj212::reply::{self, QnRtn};
use riverwatch_core::hj212::stream::{Deframer, Piece};
use riverwatch_core::hj212::{Frame, parse_cp};
use riverwatch_core::{DeadLetter, ReasonCode, StationId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{REPLY_QUEUE, Reply, Shared, StreamFrame, StreamInput};
use crate::decode::hj212::{period_of_cn, reason_code};
use crate::decode::password::PasswordCheck;

/// Bytes asked of one read.
const READ_BUF: usize = 8 * 1024;

/// Whether to go on after a piece.
enum Next {
    Continue,
    Close,
}

/// A token bucket: `rate` frames a second, bursts of `rate`.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            at: Instant::now(),
        }
    }

    /// Waits until a frame may be taken, then takes it.
    async fn take(&mut self) {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.rate);
            tokio::time::sleep(wait).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// A connection's state.
struct Conn<'s> {
    shared: &'s Shared,
    peer: SocketAddr,
    /// The MN and station of the first frame that decoded.
    station: Option<(String, StationId)>,
    replies: mpsc::Sender<Bytes>,
    bucket: Bucket,
}

/// Serves one connection until the logger leaves, it times out or is refused, or `token`
/// fires.
pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: &Shared, token: CancellationToken) {
    let config = &shared.config;
    let (mut read, write) = stream.into_split();
    let (replies, outgoing) = mpsc::channel(REPLY_QUEUE);
    let writer = tokio::spawn(write_replies(
        write,
        outgoing,
        Duration::from_secs(config.write_timeout_secs),
        peer,
    ));
    debug!(%peer, "HJ 212 logger connected.");
    let mut conn = Conn {
        shared,
        peer,
        station: None,
        replies,
        bucket: Bucket::new(config.max_frames_per_sec),
    };
    let idle = Duration::from_secs(config.idle_timeout_secs);
    let frame_timeout = Duration::from_secs(config.frame_timeout_secs);
    let mut deframer = Deframer::new(config.max_segment_len);
    let mut buf = vec![0u8; READ_BUF];
    let mut last_read = Instant::now();
    let mut partial_since: Option<Instant> = None;
    'read: loop {
        let deadline = match partial_since {
            Some(since) => (last_read + idle).min(since + frame_timeout),
            None => last_read + idle,
        };
        let read = tokio::select! {
            () = token.cancelled() => break,
            r = tokio::time::timeout_at(deadline, read.read(&mut buf)) => r,
        };
        match read {
            Err(_) => {
                if partial_since.is_some_and(|s| s + frame_timeout <= Instant::now()) {
                    warn!(%peer, station = ?conn.station.as_ref().map(|s| &s.1), bytes = deframer.pending(), timeout_s = config.frame_timeout_secs, "An HJ 212 frame stayed incomplete; connection closed.");
                } else {
                    info!(%peer, station = ?conn.station.as_ref().map(|s| &s.1), timeout_s = config.idle_timeout_secs, "HJ 212 connection idle; closed.");
                }
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Err(error)) => {
                debug!(%peer, %error, "HJ 212 connection failed.");
                break;
            }
            Ok(Ok(n)) => {
                last_read = Instant::now();
                deframer.push(&buf[..n]);
                while let Some(piece) = deframer.next_piece() {
                    if let Next::Close = conn.piece(piece).await {
                        break 'read;
                    }
                }
                partial_since = match (deframer.pending(), partial_since) {
                    (0, _) => None,
                    (_, Some(s)) => Some(s),
                    (_, None) => Some(last_read),
                };
            }
        }
    }
    if let Some(rest) = deframer.finish() {
        conn.piece(rest).await;
    }
    debug!(%peer, "HJ 212 logger disconnected.");
    // The writer ends once the replies still on their way through the committer are
    // written (or the connection turns out to be gone).
    drop(conn);
    let _ = writer.await;
}

impl Conn<'_> {
    fn topic(&self) -> String {
        match &self.station {
            Some((_, s)) => self.shared.topics.hj212(s.as_str()),
            None => format!("tcp://{}", self.peer),
        }
    }

    async fn dead(&self, payload: Vec<u8>, code: ReasonCode, reason: String) {
        let dead = DeadLetter {
            received_at: self.shared.clock.now(),
            topic: self.topic(),
            payload: Bytes::from(payload),
            reason_code: code,
            reason,
            station: self.station.as_ref().map(|s| s.1.to_string()),
            parameter: None,
        };
        let _ = self
            .shared
            .frames
            .send(StreamInput::Dead(Box::new(dead)))
            .await;
    }

    fn send_now(&self, frame: &Frame) {
        Reply {
            to: self.replies.clone(),
            bytes: Bytes::from(frame.encode()),
        }
        .send();
    }

    async fn piece(&mut self, piece: Piece) -> Next {
        match piece {
            Piece::Garbage {
                bytes,
                total,
                reason,
            } => {
                warn!(peer = %self.peer, bytes = total, reason, "Bytes outside any HJ 212 frame skipped.");
                let text = format!(
                    "{total} bytes outside any HJ 212 frame skipped ({reason}); {} of them kept here",
                    bytes.len()
                );
                let code = if reason == "frame_too_long" {
                    ReasonCode::LengthMismatch
                } else {
                    ReasonCode::MalformedFrame
                };
                self.dead(bytes, code, text).await;
                Next::Continue
            }
            Piece::Frame(bytes) => {
                self.bucket.take().await;
                self.frame(bytes).await
            }
        }
    }

    async fn frame(&mut self, bytes: Vec<u8>) -> Next {
        let max = self.shared.config.max_segment_len;
        let frame = match Frame::decode_with_limit(&bytes, max) {
            Ok(f) => f,
            Err(e) => {
                // No reply: the logger sends it again.
                debug!(peer = %self.peer, error = %e, "HJ 212 frame rejected.");
                self.dead(bytes, reason_code(&e), e.to_string()).await;
                return Next::Continue;
            }
        };
        let Some(station) = self.shared.registry.station_by_mn(&frame.mn) else {
            warn!(peer = %self.peer, mn = %frame.mn, "HJ 212 frame from an MN not in the registry; connection closed.");
            self.dead(
                bytes,
                ReasonCode::UnknownStation,
                format!(
                    "MN `{}` is not in the registry; the connection is closed",
                    crate::decode::excerpt(&frame.mn)
                ),
            )
            .await;
            return Next::Close;
        };
        match &self.station {
            Some((mn, id)) if *mn != frame.mn => {
                warn!(peer = %self.peer, station = %id, mn, other = %frame.mn, "The MN changed on one HJ 212 connection; frame refused and connection closed.");
                self.dead(
                    bytes,
                    ReasonCode::UnknownStation,
                    format!(
                        "MN `{}` arrived on the connection of MN {mn} (station {id}); one connection \
                         serves one logger: frame refused, connection closed",
                        frame.mn
                    ),
                )
                .await;
                return Next::Close;
            }
            Some(_) => {}
            None => {
                info!(peer = %self.peer, station = %station.id, mn = %frame.mn, "HJ 212 logger identified.");
                self.station = Some((frame.mn.clone(), station.id.clone()));
            }
        }
        let id = station.id.clone();
        match frame.cn.as_str() {
            "9011" | "9012" | "9013" | "9014" => {
                if !self.shared.backfill.answer(&frame) {
                    debug!(station = %id, cn = %frame.cn, "A response to nothing asked; ignored.");
                }
                Next::Continue
            }
            "1013" => {
                if self.password_ok(&id, &frame.pw)
                    && let Some(r) = reply::notice_response(&frame)
                {
                    self.send_now(&r);
                }
                Next::Continue
            }
            cn if cn.starts_with('1') || (cn.starts_with('3') && frame.st == "91") => {
                let rtn = if self.password_ok(&id, &frame.pw) {
                    QnRtn::Rejected
                } else {
                    QnRtn::BadPassword
                };
                info!(station = %id, cn, "A request from a logger; answered 9011 (riverwatch executes no commands).");
                self.send_now(&reply::request_response(&frame, rtn));
                Next::Continue
            }
            _ => {
                self.upload(id, frame, bytes).await;
                Next::Continue
            }
        }
    }

    fn password_ok(&self, station: &StationId, pw: &str) -> bool {
        matches!(
            self.shared.passwords.check(station.as_str(), pw),
            PasswordCheck::NotRequired | PasswordCheck::Accepted
        )
    }

    /// An upload: to the batcher with its 9014; an hourly one may reveal a gap to request.
    async fn upload(&mut self, station: StationId, frame: Frame, bytes: Vec<u8>) {
        let reply = reply::data_response(&frame).map(|r| Reply {
            to: self.replies.clone(),
            bytes: Bytes::from(r.encode()),
        });
        let now = self.shared.clock.now();
        let input = StreamInput::Frame(StreamFrame {
            topic: self.shared.topics.hj212(station.as_str()),
            station: station.clone(),
            bytes: Bytes::from(bytes),
            received_at: now,
            max_segment_len: self.shared.config.max_segment_len,
            reply,
        });
        if self.shared.frames.send(input).await.is_err() {
            return;
        }
        // Only whole hourly frames move the watch (a packet of a split one carries its
        // DataTime too).
        if period_of_cn(&frame.cn) == Some(riverwatch_core::Period::Hour)
            && self.password_ok(&station, &frame.pw)
            && let Ok(cp) = parse_cp(&frame.cp)
            && let Some(local) = cp.data_time
        {
            let at = riverwatch_core::time::from_cst(local);
            if let Some((first, last)) = self.shared.backfill.observe_hour(&station, at) {
                let request = self
                    .shared
                    .backfill
                    .request(&station, &frame, first, last, now);
                self.send_now(&request);
            }
        }
    }
}

/// Writes replies in order until every sender is gone or a write fails or times out.
async fn write_replies(
    mut write: OwnedWriteHalf,
    mut outgoing: mpsc::Receiver<Bytes>,
    timeout: Duration,
    peer: SocketAddr,
) {
    while let Some(bytes) = outgoing.recv().await {
        match tokio::time::timeout(timeout, write.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                debug!(%peer, %error, "Writing a reply failed.");
                break;
            }
            Err(_) => {
                warn!(%peer, "A logger did not take its replies in time; connection given up.");
                break;
            }
        }
    }
    let _ = write.shutdown().await;
}
