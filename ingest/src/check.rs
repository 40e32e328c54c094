//! `riverwatch hj212 check`: what ingest would make of a byte stream of HJ 212 frames, frame
//! by frame, without storing anything — the tool an integrator uses when a logger's data
//! does not arrive. The stream is cut as a TCP connection's is
//! ([`riverwatch_core::hj212::stream::Deframer`], the listener's segment limit) and every
//! frame goes through the same validation as on the TCP listener (station by MN, access
//! password, registry, ranges, times), so the reason codes are the ones the dead-letter
//! table would show.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::hj212::stream::{Deframer, Piece};
use riverwatch_core::hj212::{Frame, FrameError};
use riverwatch_core::registry::Registry;
use riverwatch_core::{DataFlag, Period, ReasonCode};
use serde::Serialize;

use crate::decode::hj212::reason_code;
use crate::decode::password::StationPasswords;
use crate::decode::{Decoded, Message, Validator};

/// The checks' settings.
#[derive(Debug, Clone, Copy)]
pub struct CheckSettings<'a> {
    /// The registry.
    pub registry: &'a Registry,
    /// Access passwords (empty: none checked).
    pub passwords: &'a StationPasswords,
    /// Stations sending mg/m³ for µg/m³ parameters.
    pub mg_m3_stations: &'a std::collections::HashSet<String>,
    /// The listener's segment limit.
    pub max_segment_len: usize,
    /// Clock-skew tolerance.
    pub future_tolerance: chrono::Duration,
    /// "Now", for the time checks.
    pub now: DateTime<Utc>,
}

/// One value a frame would store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedReading {
    /// Registry parameter code.
    pub parameter: String,
    /// Value, in the registry's unit.
    pub value: f64,
    /// The unit.
    pub unit: String,
    /// Observation time (UTC).
    pub observed_at: DateTime<Utc>,
    /// Data flag.
    pub flag: DataFlag,
    /// Period.
    pub period: Period,
}

/// A value or a whole frame that would be rejected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// Stable reason code.
    pub reason_code: ReasonCode,
    /// The parameter, when only one value is rejected.
    pub parameter: Option<String>,
    /// Why.
    pub reason: String,
}

/// What one frame (or one run of bytes outside any frame) would give.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameCheck {
    /// Position in the stream, from 1.
    pub index: usize,
    /// Accepted whole: readings and no rejection.
    pub ok: bool,
    /// The first rejection's code.
    pub reason_code: Option<ReasonCode>,
    /// The frame's MN.
    pub mn: Option<String>,
    /// The station of the MN.
    pub station: Option<String>,
    /// The frame's CN.
    pub cn: Option<String>,
    /// The frame's QN.
    pub qn: Option<String>,
    /// The edition (`HJ 212-2017` …).
    pub version: Option<String>,
    /// Packet `PNO` of `PNUM`, for a packet of a split message (its readings come with the
    /// last packet, once reassembled).
    pub packet: Option<(u32, u32)>,
    /// Whether the frame asks for a 9014.
    pub ack_requested: bool,
    /// The readings it would store.
    pub readings: Vec<CheckedReading>,
    /// What would be dead-lettered.
    pub rejections: Vec<Rejection>,
    /// Bytes of the piece.
    pub bytes: usize,
}

impl FrameCheck {
    fn new(index: usize, bytes: usize) -> Self {
        Self {
            index,
            ok: false,
            reason_code: None,
            mn: None,
            station: None,
            cn: None,
            qn: None,
            version: None,
            packet: None,
            ack_requested: false,
            readings: Vec::new(),
            rejections: Vec::new(),
            bytes,
        }
    }

    fn reject(&mut self, code: ReasonCode, parameter: Option<String>, reason: String) {
        self.reason_code.get_or_insert(code);
        self.rejections.push(Rejection {
            reason_code: code,
            parameter,
            reason,
        });
    }
}

/// Checks every frame of `input`.
pub fn check(input: &[u8], s: &CheckSettings<'_>) -> Vec<FrameCheck> {
    let validator = Validator {
        registry: s.registry,
        future_tolerance: s.future_tolerance,
        max_payload_bytes: usize::MAX,
        passwords: s.passwords,
        mg_m3_stations: s.mg_m3_stations,
    };
    let mut deframer = Deframer::new(s.max_segment_len);
    deframer.push(input);
    let mut pieces: Vec<Piece> = std::iter::from_fn(|| deframer.next_piece()).collect();
    pieces.extend(deframer.finish());
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| one(&validator, s, i + 1, piece))
        .collect()
}

fn one(v: &Validator<'_>, s: &CheckSettings<'_>, index: usize, piece: Piece) -> FrameCheck {
    let bytes = match piece {
        Piece::Garbage { total, reason, .. } => {
            let mut c = FrameCheck::new(index, total);
            let code = if reason == "frame_too_long" {
                ReasonCode::LengthMismatch
            } else {
                ReasonCode::MalformedFrame
            };
            c.reject(
                code,
                None,
                format!("{total} bytes outside any HJ 212 frame ({reason})"),
            );
            return c;
        }
        Piece::Frame(b) => b,
    };
    let mut c = FrameCheck::new(index, bytes.len());
    let frame = match Frame::decode_with_limit(&bytes, s.max_segment_len) {
        Ok(f) => f,
        Err(e) => {
            c.reject(reason_code(&e), None, e.to_string());
            if let FrameError::CrcMismatch { .. } = e {
                c.rejections[0]
                    .reason
                    .push_str(" (no 9014: the logger sends it again)");
            }
            return c;
        }
    };
    c.mn = Some(frame.mn.clone());
    c.cn = Some(frame.cn.clone());
    c.qn = frame.qn.clone();
    c.version = Some(match frame.flag.version() {
        Ok(v) => v.name().to_string(),
        Err(code) => format!("version code {code}"),
    });
    c.ack_requested = frame.flag.ack_required();
    if frame.flag.packetized() {
        c.packet = frame.pno.zip(frame.pnum);
    }
    let Some(station) = s.registry.station_by_mn(&frame.mn) else {
        c.reject(
            ReasonCode::UnknownStation,
            None,
            format!("MN `{}` is not in the registry", frame.mn),
        );
        return c;
    };
    c.station = Some(station.id.to_string());
    let topic = format!("hj212 check #{index}");
    let payload = Bytes::from(bytes);
    let msg = Message {
        topic: &topic,
        payload: &payload,
        received_at: s.now,
    };
    match v.decode_stream(&msg, station.id.as_str(), s.max_segment_len) {
        Decoded::Done(outcome) => {
            for d in outcome.dead_letters {
                c.reject(d.reason_code, d.parameter, d.reason);
            }
            c.readings = outcome
                .readings
                .into_iter()
                .map(|r| CheckedReading {
                    unit: s
                        .registry
                        .parameter(r.parameter.as_str())
                        .map_or_else(String::new, |p| p.unit.clone()),
                    parameter: r.parameter.to_string(),
                    value: r.value,
                    observed_at: r.observed_at,
                    flag: r.flag,
                    period: r.period,
                })
                .collect();
            c.ok = c.rejections.is_empty();
        }
        // A packet of a split message passed the checks a packet gets; its values are read
        // once all packets are there.
        Decoded::Partial(_) => c.ok = true,
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn settings<'a>(
        registry: &'a Registry,
        passwords: &'a StationPasswords,
        mg: &'a std::collections::HashSet<String>,
    ) -> CheckSettings<'a> {
        CheckSettings {
            registry,
            passwords,
            mg_m3_stations: mg,
            max_segment_len: 4096,
            future_tolerance: chrono::Duration::minutes(10),
            now: Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap(),
        }
    }

    /// `##`, length, segment, CRC (the reference CRC of the reference sheet: bitwise,
    /// 0xFFFF start, `(crc >> 8) ^ byte`, polynomial 0xA001), CR LF.
    fn wrap(segment: &str) -> Vec<u8> {
        let mut crc: u32 = 0xFFFF;
        for b in segment.bytes() {
            crc = (crc >> 8) ^ u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xA001
                } else {
                    crc >> 1
                };
            }
        }
        format!("##{:04}{segment}{:04X}\r\n", segment.len(), crc).into_bytes()
    }

    #[test]
    fn each_frame_gets_its_readings_or_its_precise_reason() {
        let registry = Registry::builtin().unwrap();
        let none = StationPasswords::new();
        let mg = std::collections::HashSet::new();
        let mn = registry.station("LLH-CJG").unwrap().mn.clone();
        // 2026-05-01 18:00 China Standard Time is 10:00 UTC.
        let good = format!(
            "QN=20260501180000000;ST=21;CN=2061;PW=123456;MN={mn};Flag=5;CP=&&DataTime=20260501180000;w21003-Avg=0.41,w21003-Flag=N;w01001-Avg=7.2,w01001-Flag=N&&"
        );
        let mut bad_crc = wrap(&good);
        let n = bad_crc.len();
        bad_crc[n - 3] = if bad_crc[n - 3] == b'0' { b'1' } else { b'0' };
        let unknown = good.replace(&mn, "99999999999999");
        let mut input = wrap(&good);
        input.extend(b"noise");
        input.extend(bad_crc);
        input.extend(wrap(&unknown));
        let checks = check(&input, &settings(&registry, &none, &mg));
        assert_eq!(checks.len(), 4, "{checks:#?}");
        let first = &checks[0];
        assert!(first.ok);
        assert_eq!(first.station.as_deref(), Some("LLH-CJG"));
        assert_eq!(first.version.as_deref(), Some("HJ 212-2017"));
        assert_eq!(first.cn.as_deref(), Some("2061"));
        assert!(first.ack_requested);
        let mut got: Vec<(&str, f64, Period)> = first
            .readings
            .iter()
            .map(|r| (r.parameter.as_str(), r.value, r.period))
            .collect();
        got.sort_by(|a, b| a.0.cmp(b.0));
        assert_eq!(
            got,
            vec![("NH3N", 0.41, Period::Hour), ("pH", 7.2, Period::Hour)]
        );
        assert_eq!(
            first.readings[0].observed_at,
            Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap()
        );
        assert_eq!(checks[1].reason_code, Some(ReasonCode::MalformedFrame));
        assert_eq!(checks[2].reason_code, Some(ReasonCode::CrcMismatch));
        assert_eq!(checks[3].reason_code, Some(ReasonCode::UnknownStation));
        assert!(checks[1..].iter().all(|c| !c.ok && c.readings.is_empty()));
    }
}
