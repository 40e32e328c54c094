//! Reassembly of HJ 212 messages split into packets (Flag bit D, PNUM/PNO).
//!
//! Packets are held, keyed by (MN, QN), until all PNO 1..=PNUM have arrived or the message
//! times out. Every packet held here is also kept by the store ([`HeldChange::Keep`], in
//! the same commit as the rest of its batch), so its broker message is acknowledged at once
//! and a restart picks the message up again ([`Reassembler::restore`]); a message completed
//! or given up is released from the store ([`HeldChange::Release`]).
//!
//! Nothing here overwrites silently or grows without bound. A packet that contradicts the
//! packets held for its (MN, QN) (another CN, ST or PNUM, or a PNO already held with other
//! contents) becomes a `packet_conflict` dead letter, and the held packets stay; an
//! identical copy (a redelivery) is recognised and ignored. A packet that would open a
//! message beyond the configured number of open messages per station or in all, or hold
//! more packets than configured, becomes a `reassembly_overflow` dead letter; a message
//! incomplete after the timeout becomes one `reassembly_timeout` dead letter holding every
//! packet's bytes. So every packet offered ends in exactly one of: a completed message, a
//! dead letter, or a recognised duplicate of a packet that does.
//!
//! Pure logic: no I/O, no clock of its own.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::hj212::{CpData, Flag, Frame, join_packets};
use riverwatch_core::store_api::{HeldChange, HeldPacket};
use riverwatch_core::{DeadLetter, ReasonCode, StationId};

use super::hj212::{Packet, joined_payload};

/// How long and how much the reassembler holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A message is given up this long after its first packet arrived.
    pub timeout: std::time::Duration,
    /// Most messages open at once for one station.
    pub max_open_per_station: usize,
    /// Most messages open at once in all.
    pub max_open: usize,
    /// Most packets held at once in all.
    pub max_packets: usize,
}

impl Limits {
    /// Only a timeout; no bound on the number of messages or packets.
    pub fn timeout_only(timeout: std::time::Duration) -> Self {
        Self {
            timeout,
            max_open_per_station: usize::MAX,
            max_open: usize::MAX,
            max_packets: usize::MAX,
        }
    }
}

/// A message whose packets have all arrived.
#[derive(Debug)]
pub struct Complete {
    /// Station of the MN.
    pub station: StationId,
    /// The (MN, QN) of the message, to release its held packets.
    pub key: (String, String),
    /// The first packet's frame (header fields of the message; `PW` empty).
    pub frame: Frame,
    /// The joined CP data, or why the packets do not fit together.
    pub cp: Result<CpData, String>,
    /// Every packet's bytes, in PNO order (`PW` masked where the station has a password).
    pub payload: Bytes,
    /// Topic of the first packet.
    pub topic: String,
    /// Reception time of the last packet.
    pub received_at: DateTime<Utc>,
    /// Number of packets.
    pub packets: usize,
}

/// What became of an offered packet.
#[derive(Debug)]
pub enum Offer {
    /// Held, waiting for the rest of its message; the store must keep it.
    Kept(Box<HeldPacket>),
    /// An identical copy of a packet already held: nothing to do.
    Duplicate,
    /// It completed its message; the store must release the message's packets.
    Complete(Box<Complete>),
    /// Not used: a conflict or an overflow, recorded in this dead letter.
    Refused(Box<DeadLetter>),
}

/// A message given up on.
#[derive(Debug)]
pub struct Expired {
    /// The (MN, QN) of the message, to release its held packets.
    pub key: (String, String),
    /// The dead letter recording it.
    pub dead_letter: DeadLetter,
    /// Number of packets it held.
    pub packets: usize,
}

/// One held packet: its frame (`PW` empty) and bytes.
#[derive(Debug, Clone)]
struct Part {
    frame: Frame,
    payload: Bytes,
    received_at: DateTime<Utc>,
}

#[derive(Debug)]
struct Pending {
    station: StationId,
    pnum: u32,
    st: String,
    cn: String,
    parts: BTreeMap<u32, Part>,
    topic: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// Holds packets until their message is complete.
#[derive(Debug)]
pub struct Reassembler {
    pending: HashMap<(String, String), Pending>,
    open_per_station: HashMap<StationId, usize>,
    packets: usize,
    limits: Limits,
}

/// The frame of a packet as held: its access password dropped (it was checked on arrival).
fn without_pw(mut frame: Frame) -> Frame {
    frame.pw.clear();
    frame
}

fn held_packet(station: &StationId, frame: &Frame, topic: &str, part: &Part) -> HeldPacket {
    HeldPacket {
        station: station.to_string(),
        mn: frame.mn.clone(),
        qn: frame.qn.clone().unwrap_or_default(),
        pno: frame.pno.unwrap_or(1),
        pnum: frame.pnum.unwrap_or(1),
        st: frame.st.clone(),
        cn: frame.cn.clone(),
        flag: frame.flag.bits(),
        cp: frame.cp.clone(),
        topic: topic.to_string(),
        received_at: part.received_at,
        payload: part.payload.clone(),
    }
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: Limits) -> Self {
        Self {
            pending: HashMap::new(),
            open_per_station: HashMap::new(),
            packets: 0,
            limits,
        }
    }

    /// Number of messages waiting for packets.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Number of packets held.
    pub fn held(&self) -> usize {
        self.packets
    }

    /// Takes back the packets the store kept (after a restart). Limits are not applied:
    /// what was accepted stays accepted, and expires as usual.
    pub fn restore(&mut self, packets: Vec<HeldPacket>) {
        for p in packets {
            let frame = Frame {
                qn: (!p.qn.is_empty()).then(|| p.qn.clone()),
                st: p.st,
                cn: p.cn,
                pw: String::new(),
                mn: p.mn.clone(),
                flag: Flag(p.flag),
                pnum: Some(p.pnum),
                pno: Some(p.pno),
                cp: p.cp,
            };
            let key = (p.mn, p.qn);
            let station = StationId::new(&p.station);
            let entry = match self.pending.entry(key) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    *self.open_per_station.entry(station.clone()).or_default() += 1;
                    v.insert(Pending {
                        station,
                        pnum: p.pnum,
                        st: frame.st.clone(),
                        cn: frame.cn.clone(),
                        parts: BTreeMap::new(),
                        topic: p.topic,
                        first_seen: p.received_at,
                        last_seen: p.received_at,
                    })
                }
            };
            entry.first_seen = entry.first_seen.min(p.received_at);
            entry.last_seen = entry.last_seen.max(p.received_at);
            let part = Part {
                frame,
                payload: p.payload,
                received_at: p.received_at,
            };
            if entry.parts.insert(p.pno, part).is_none() {
                self.packets += 1;
            }
        }
    }

    /// Offers a packet; `payload` is its bytes as they may be stored (`PW` masked where the
    /// station has a password).
    pub fn offer(
        &mut self,
        packet: Packet,
        topic: &str,
        payload: Bytes,
        received_at: DateTime<Utc>,
    ) -> Offer {
        let key = packet.key();
        let frame = without_pw(packet.frame);
        let pnum = frame.pnum.unwrap_or(1);
        let pno = frame.pno.unwrap_or(1);
        let refuse = |code: ReasonCode, reason: String| {
            Offer::Refused(Box::new(DeadLetter {
                received_at,
                topic: topic.to_string(),
                payload: payload.clone(),
                reason_code: code,
                reason,
                station: Some(packet.station.to_string()),
                parameter: None,
            }))
        };
        let what = || format!("packet PNO {pno} of MN {} QN {}", key.0, key.1);
        if pno == 0 || pno > pnum {
            return refuse(
                ReasonCode::MalformedFrame,
                format!("{}: PNO is outside 1 to PNUM {pnum}", what()),
            );
        }
        if self.packets >= self.limits.max_packets && !self.holds(&key, pno) {
            return refuse(
                ReasonCode::ReassemblyOverflow,
                format!(
                    "{}: ingest already holds {} packets of unfinished messages \
                     (reassembly_max_held_packets); not kept",
                    what(),
                    self.packets
                ),
            );
        }
        let part = Part {
            frame,
            payload: payload.clone(),
            received_at,
        };
        if let Some(entry) = self.pending.get_mut(&key) {
            if entry.cn != part.frame.cn || entry.st != part.frame.st || entry.pnum != pnum {
                return refuse(
                    ReasonCode::PacketConflict,
                    format!(
                        "{}: CN {} ST {} PNUM {pnum} differ from the held packets' \
                         (CN {} ST {} PNUM {}) of the same MN and QN; the held packets are \
                         kept, this one is not used",
                        what(),
                        part.frame.cn,
                        part.frame.st,
                        entry.cn,
                        entry.st,
                        entry.pnum
                    ),
                );
            }
            if let Some(held) = entry.parts.get(&pno) {
                if held.frame == part.frame {
                    return Offer::Duplicate;
                }
                return refuse(
                    ReasonCode::PacketConflict,
                    format!(
                        "{}: a packet with this PNO and other contents is already held; the \
                         held one is kept, this one is not used",
                        what()
                    ),
                );
            }
            entry.last_seen = entry.last_seen.max(received_at);
            let held = held_packet(&entry.station, &part.frame, topic, &part);
            entry.parts.insert(pno, part);
            self.packets += 1;
            if entry.parts.len() as u64 >= u64::from(entry.pnum) {
                return self.complete(key);
            }
            return Offer::Kept(Box::new(held));
        }
        // A new message.
        let open = self
            .open_per_station
            .get(&packet.station)
            .copied()
            .unwrap_or(0);
        if open >= self.limits.max_open_per_station {
            return refuse(
                ReasonCode::ReassemblyOverflow,
                format!(
                    "{}: station {} already has {open} unfinished split messages \
                     (reassembly_max_open_per_station); not kept",
                    what(),
                    packet.station
                ),
            );
        }
        if self.pending.len() >= self.limits.max_open {
            return refuse(
                ReasonCode::ReassemblyOverflow,
                format!(
                    "{}: ingest already holds {} unfinished split messages \
                     (reassembly_max_open); not kept",
                    what(),
                    self.pending.len()
                ),
            );
        }
        let held = held_packet(&packet.station, &part.frame, topic, &part);
        *self
            .open_per_station
            .entry(packet.station.clone())
            .or_default() += 1;
        let mut parts = BTreeMap::new();
        let (st, cn) = (part.frame.st.clone(), part.frame.cn.clone());
        parts.insert(pno, part);
        self.packets += 1;
        self.pending.insert(
            key.clone(),
            Pending {
                station: packet.station,
                pnum,
                st,
                cn,
                parts,
                topic: topic.to_string(),
                first_seen: received_at,
                last_seen: received_at,
            },
        );
        if pnum <= 1 {
            return self.complete(key);
        }
        Offer::Kept(Box::new(held))
    }

    /// Whether the packet (MN, QN, PNO) is held (a copy of it takes no more room).
    fn holds(&self, key: &(String, String), pno: u32) -> bool {
        self.pending
            .get(key)
            .is_some_and(|p| p.parts.contains_key(&pno))
    }

    /// Removes a message, keeping the counts right.
    fn remove(&mut self, key: &(String, String)) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.packets = self.packets.saturating_sub(p.parts.len());
        if let Some(n) = self.open_per_station.get_mut(&p.station) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.open_per_station.remove(&p.station);
            }
        }
        Some(p)
    }

    fn complete(&mut self, key: (String, String)) -> Offer {
        let Some(p) = self.remove(&key) else {
            return Offer::Duplicate;
        };
        let packets = p.parts.len();
        let frames: Vec<Frame> = p.parts.values().map(|part| part.frame.clone()).collect();
        let parts: Vec<Bytes> = p.parts.values().map(|part| part.payload.clone()).collect();
        let cp = join_packets(&frames).map_err(|e| e.to_string());
        let Some(frame) = frames.into_iter().next() else {
            return Offer::Duplicate;
        };
        Offer::Complete(Box::new(Complete {
            station: p.station,
            key,
            frame,
            cp,
            payload: joined_payload(&parts),
            topic: p.topic,
            received_at: p.last_seen,
            packets,
        }))
    }

    /// Gives up on messages whose first packet is `timeout` or more before `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<Expired> {
        let timeout =
            chrono::Duration::from_std(self.limits.timeout).unwrap_or(chrono::Duration::MAX);
        let stale: Vec<(String, String)> = self
            .pending
            .iter()
            .filter(|(_, p)| now.signed_duration_since(p.first_seen) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(stale.len());
        for key in stale {
            let Some(p) = self.remove(&key) else {
                continue;
            };
            let got: Vec<String> = p.parts.keys().map(u32::to_string).collect();
            let parts: Vec<Bytes> = p.parts.values().map(|part| part.payload.clone()).collect();
            out.push(Expired {
                dead_letter: DeadLetter {
                    received_at: p.last_seen,
                    topic: p.topic,
                    payload: joined_payload(&parts),
                    reason_code: ReasonCode::ReassemblyTimeout,
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
                packets: p.parts.len(),
                key,
            });
        }
        out
    }
}

/// The store change that releases a finished message.
pub fn release(key: &(String, String)) -> HeldChange {
    HeldChange::Release {
        mn: key.0.clone(),
        qn: key.1.clone(),
    }
}

#[cfg(test)]
#[path = "reassembly_tests.rs"]
mod tests;
