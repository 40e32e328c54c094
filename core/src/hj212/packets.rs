//! Splitting a message too long for one frame into packets (`PNUM`/`PNO`), and joining them.
//!
//! Senders (the simulators) split; receivers join once every packet of a message has arrived.
//! Buffering packets until then is the receiver's business, not the codec's.

use super::cp::{CpData, parse_cp};
use super::error::FrameError;
use super::frame::Frame;

/// Splits `data` into frames whose data segments are at most `max_segment_len` bytes.
///
/// The frames copy `frame_template`'s header fields (QN, ST, CN, PW, MN and the version and
/// acknowledgement bits of its Flag); its `cp`, `pnum` and `pno` are ignored. If the whole
/// message fits, the result is one frame with the packet-split bit cleared. Otherwise items are
/// packed in order, greedily, into frames with the packet-split bit set and `PNUM`/`PNO`
/// numbered from 1; every packet repeats `DataTime`, and the [`CpData::extra`] fields go into
/// the first packet only.
///
/// An item that does not fit into a packet on its own is never dropped or cut: it gets a
/// packet of its own whose data segment exceeds `max_segment_len`. Callers that must respect
/// the limit check [`Frame::data_segment`] lengths. Likewise a message needing more than 9999
/// packets produces frames that receivers reject.
pub fn split_packets(frame_template: &Frame, data: &CpData, max_segment_len: usize) -> Vec<Frame> {
    let whole = Frame {
        flag: frame_template.flag.with_packetized(false),
        pnum: None,
        pno: None,
        cp: data.render(),
        ..frame_template.clone()
    };
    if whole.data_segment().len() <= max_segment_len {
        return vec![whole];
    }

    // PNUM's width changes the packet size, and the packet count decides PNUM: pack assuming a
    // width, and pack again with a wider one until the count fits it.
    let mut pnum_digits = 1;
    let packets = loop {
        let packets = pack(frame_template, data, max_segment_len, pnum_digits);
        let needed = decimal_digits(packets.len());
        if needed <= pnum_digits {
            break packets;
        }
        pnum_digits = needed;
    };
    if packets.len() <= 1 {
        return vec![whole];
    }

    let pnum = u32::try_from(packets.len()).unwrap_or(u32::MAX);
    packets
        .iter()
        .zip(1..=pnum)
        .map(|(packet, pno)| packet_frame(frame_template, packet, pnum, pno))
        .collect()
}

/// Packs items greedily into packets, sized as if PNUM and PNO had `pnum_digits` digits.
fn pack(template: &Frame, data: &CpData, max_segment_len: usize, pnum_digits: u32) -> Vec<CpData> {
    let widest = 10u32
        .checked_pow(pnum_digits)
        .map_or(u32::MAX, |limit| limit - 1);
    let fits = |packet: &CpData| {
        packet_frame(template, packet, widest, widest)
            .data_segment()
            .len()
            <= max_segment_len
    };

    let mut packets = Vec::new();
    let mut current = CpData {
        data_time: data.data_time,
        items: Vec::new(),
        extra: data.extra.clone(),
    };
    for item in &data.items {
        current.items.push(item.clone());
        let alone = current.items.len() == 1 && current.extra.is_empty();
        if !alone && !fits(&current) {
            current.items.pop();
            let next = CpData {
                data_time: data.data_time,
                items: vec![item.clone()],
                extra: Vec::new(),
            };
            packets.push(std::mem::replace(&mut current, next));
        }
    }
    packets.push(current);
    packets
}

fn packet_frame(template: &Frame, packet: &CpData, pnum: u32, pno: u32) -> Frame {
    Frame {
        flag: template.flag.with_packetized(true),
        pnum: Some(pnum),
        pno: Some(pno),
        cp: packet.render(),
        ..template.clone()
    }
}

fn decimal_digits(n: usize) -> u32 {
    n.checked_ilog10().map_or(1, |log| log + 1)
}

/// Joins the packets of one message back into its CP data.
///
/// `frames` holds every packet of the message, PNO 1 to PNUM, in any order. Items are merged
/// in PNO order (fields of one code spread over several packets are gathered into one item)
/// and extra fields concatenated. A single frame that is not packetized is also accepted and
/// gives its own CP data, so a receiver can treat every message alike.
///
/// # Errors
///
/// [`FrameError::BadPacketSet`] if the frames are not all packets of one message (same MN, QN,
/// ST, CN and PNUM) or a PNO is missing or repeated, or if their `DataTime`s differ;
/// [`FrameError::MalformedCp`] if a packet's CP cannot be parsed or the packets give one field
/// twice.
pub fn join_packets(frames: &[Frame]) -> Result<CpData, FrameError> {
    let bad = |why, pno| FrameError::BadPacketSet { why, pno };
    let Some(first) = frames.first() else {
        return Err(bad("no packets given", None));
    };
    if let [only] = frames
        && !only.flag.packetized()
    {
        return parse_cp(&only.cp);
    }

    let mut ordered = Vec::with_capacity(frames.len());
    for frame in frames {
        let (Some(pnum), Some(pno)) = (frame.pnum, frame.pno) else {
            return Err(bad("a frame is not a packet (no PNUM/PNO)", None));
        };
        let same_message = frame.mn == first.mn
            && frame.qn == first.qn
            && frame.st == first.st
            && frame.cn == first.cn
            && Some(pnum) == first.pnum;
        if !same_message {
            return Err(bad("packets differ in MN, QN, ST, CN or PNUM", Some(pno)));
        }
        if pno == 0 || pno > pnum {
            return Err(bad("PNO is outside 1 to PNUM", Some(pno)));
        }
        ordered.push((pno, frame));
    }
    ordered.sort_by_key(|(pno, _)| *pno);

    let mut data = CpData::default();
    let mut expected_pno = 1;
    for (pno, frame) in ordered {
        if pno != expected_pno {
            let why = if pno < expected_pno {
                "PNO appears more than once"
            } else {
                "packet missing"
            };
            return Err(bad(why, Some(pno.min(expected_pno))));
        }
        let part = parse_cp(&frame.cp)?;
        if pno == 1 {
            data.data_time = part.data_time;
        } else if part.data_time != data.data_time {
            return Err(bad("DataTime differs from that of packet 1", Some(pno)));
        }
        data.extra.extend(part.extra);
        for item in &part.items {
            for (suffix, value) in item.fields() {
                data.insert(&item.code, suffix, value)
                    .map_err(|why| FrameError::MalformedCp {
                        why,
                        near: format!("{}-{suffix} in PNO {pno}", item.code),
                    })?;
            }
        }
        expected_pno += 1;
    }
    if Some(expected_pno - 1) != first.pnum {
        return Err(bad("packet missing", Some(expected_pno)));
    }
    Ok(data)
}
