//! Reassembly of HJ 212 messages split into packets (Flag bit D, PNUM/PNO).
//!
//! Packets are held, keyed by (MN, QN), until all PNO 1..=PNUM have arrived or the message
//! times out. The broker acknowledgement of every packet is held with it (the generic
//! handle `H`), so an incomplete message is redelivered after a crash instead of lost; a
//! timed-out message becomes one dead letter holding every packet's bytes.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::hj212::{CpData, Frame, join_packets};
use riverwatch_core::{DeadLetter, ReasonCode, StationId};

use super::hj212::{Packet, joined_payload};

/// A message whose packets have all arrived.
#[derive(Debug)]
pub struct Complete<H> {
    /// Station of the MN.
    pub station: StationId,
    /// The first packet's frame (header fields of the message).
    pub frame: Frame,
    /// The joined CP data, or why the packets do not fit together.
    pub cp: Result<CpData, String>,
    /// Every packet's bytes, in PNO order.
    pub payload: Bytes,
    /// Topic of the first packet.
    pub topic: String,
    /// Reception time of the last packet.
    pub received_at: DateTime<Utc>,
    /// Acknowledgement handles of every packet received (including redelivered copies).
    pub handles: Vec<H>,
}

/// A message given up on.
#[derive(Debug)]
pub struct Expired<H> {
    /// The dead letter recording it.
    pub dead_letter: DeadLetter,
    /// Acknowledgement handles of its packets.
    pub handles: Vec<H>,
}

#[derive(Debug)]
struct Pending<H> {
    station: StationId,
    pnum: u32,
    frames: BTreeMap<u32, (Frame, Bytes)>,
    topic: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    handles: Vec<H>,
}

/// Holds packets until their message is complete.
#[derive(Debug)]
pub struct Reassembler<H> {
    pending: HashMap<(String, String), Pending<H>>,
    timeout: chrono::Duration,
}

impl<H> Reassembler<H> {
    /// A reassembler that gives up on a message `timeout` after its first packet.
    pub fn new(timeout: std::time::Duration) -> Self {
        Self {
            pending: HashMap::new(),
            timeout: chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Number of messages waiting for packets.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Adds a packet; returns the message when this packet completes it.
    pub fn offer(
        &mut self,
        packet: Packet,
        topic: &str,
        payload: Bytes,
        received_at: DateTime<Utc>,
        handle: H,
    ) -> Option<Complete<H>> {
        let key = packet.key();
        let pnum = packet.frame.pnum.unwrap_or(1);
        let pno = packet.frame.pno.unwrap_or(1);
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            station: packet.station.clone(),
            pnum,
            frames: BTreeMap::new(),
            topic: topic.to_string(),
            first_seen: received_at,
            last_seen: received_at,
            handles: Vec::new(),
        });
        entry.handles.push(handle);
        entry.last_seen = received_at;
        // A redelivered packet adds only its handle: the first copy's bytes are kept.
        entry.frames.entry(pno).or_insert((packet.frame, payload));
        let complete = entry.frames.len() as u64 >= u64::from(entry.pnum)
            || entry.frames.keys().any(|&n| n > entry.pnum);
        if !complete {
            return None;
        }
        let p = self.pending.remove(&key)?;
        let frames: Vec<Frame> = p.frames.values().map(|(f, _)| f.clone()).collect();
        let parts: Vec<Bytes> = p.frames.values().map(|(_, b)| b.clone()).collect();
        let cp = join_packets(&frames).map_err(|e| e.to_string());
        let frame = frames.into_iter().next()?;
        Some(Complete {
            station: p.station,
            frame,
            cp,
            payload: joined_payload(&parts),
            topic: p.topic,
            received_at: p.last_seen,
            handles: p.handles,
        })
    }

    /// Gives up on messages whose first packet is older than the timeout.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<Expired<H>> {
        let timeout = self.timeout;
        let stale: Vec<(String, String)> = self
            .pending
            .iter()
            .filter(|(_, p)| now - p.first_seen >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(stale.len());
        for key in stale {
            let Some(p) = self.pending.remove(&key) else {
                continue;
            };
            let got: Vec<String> = p.frames.keys().map(u32::to_string).collect();
            let parts: Vec<Bytes> = p.frames.values().map(|(_, b)| b.clone()).collect();
            out.push(Expired {
                dead_letter: DeadLetter {
                    received_at: p.last_seen,
                    topic: p.topic,
                    payload: joined_payload(&parts),
                    reason_code: ReasonCode::MalformedFrame,
                    reason: format!(
                        "incomplete multi-packet message MN {} QN {}: got PNO {} of {} within {} s",
                        key.0,
                        key.1,
                        got.join(","),
                        p.pnum,
                        timeout.num_seconds()
                    ),
                    station: Some(p.station.to_string()),
                    parameter: None,
                },
                handles: p.handles,
            });
        }
        out
    }

    /// Every handle still held (their messages will be redelivered by the broker).
    pub fn drain_handles(&mut self) -> Vec<H> {
        self.pending.drain().flat_map(|(_, p)| p.handles).collect()
    }
}
