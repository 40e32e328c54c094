//! HJ 212 frames (`{prefix}/hj212/{station}`): one frame per message, any of the 2005, 2017
//! and 2025 editions (the version is read from `Flag`; other versions are rejected, never
//! guessed). Data uploads CN 2011 (real-time, `-Rtd`), 2051 (minute), 2061 (hourly) and 2031
//! (daily, `-Avg`) become readings; `DataTime` is China Standard Time. The MN names the
//! station and must belong to the station of the topic; a station with an access password
//! configured must send it as `PW` (each packet of a split message too).

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use riverwatch_core::hj212::{CpData, Frame, FrameError, Version};
use riverwatch_core::{DeadLetter, Period, ReasonCode, Station, StationId};

use super::{Decoded, Message, Outcome, RawValue, Validator, excerpt};

/// One packet of a multi-packet message, waiting for the others.
#[derive(Debug, Clone)]
pub struct Packet {
    /// The station its MN belongs to.
    pub station: StationId,
    /// The decoded frame.
    pub frame: Frame,
}

impl Packet {
    /// The key that ties the packets of one message together: (MN, QN).
    pub fn key(&self) -> (String, String) {
        (
            self.frame.mn.clone(),
            self.frame.qn.clone().unwrap_or_default(),
        )
    }
}

/// The period of the values a data CN carries, or `None` for commands that carry none.
pub fn period_of_cn(cn: &str) -> Option<Period> {
    match cn {
        "2011" => Some(Period::Sample),
        "2051" => Some(Period::Minute),
        "2061" => Some(Period::Hour),
        "2031" => Some(Period::Day),
        _ => None,
    }
}

/// The dead-letter reason code of a frame that does not decode.
pub fn reason_code(e: &FrameError) -> ReasonCode {
    e.reason_code()
        .parse()
        .unwrap_or(ReasonCode::MalformedFrame)
}

/// Decodes one frame. Packets of a split message come back as [`Decoded::Partial`].
pub fn decode(v: &Validator<'_>, msg: &Message<'_>, topic_station: &str) -> Decoded {
    decode_with_limit(
        v,
        msg,
        topic_station,
        riverwatch_core::hj212::MAX_SEGMENT_LEN,
    )
}

/// [`decode`] with a data segment limit of `max_segment_len` bytes (a TCP listener's).
pub fn decode_with_limit(
    v: &Validator<'_>,
    msg: &Message<'_>,
    topic_station: &str,
    max_segment_len: usize,
) -> Decoded {
    let done = |d: DeadLetter| {
        Decoded::Done(Outcome {
            readings: vec![],
            dead_letters: vec![d],
        })
    };
    let frame = match Frame::decode_with_limit(msg.payload, max_segment_len) {
        Ok(f) => f,
        Err(e) => return done(v.reject(msg, reason_code(&e), e.to_string(), Some(topic_station))),
    };
    let station = match v.registry.station_by_mn(&frame.mn) {
        Some(s) => s,
        None => {
            return done(v.reject(
                msg,
                ReasonCode::UnknownStation,
                format!("MN `{}` is not in the registry", excerpt(&frame.mn)),
                Some(topic_station),
            ));
        }
    };
    if station.id.as_str() != topic_station {
        return done(v.reject(
            msg,
            ReasonCode::UnknownStation,
            format!(
                "MN `{}` belongs to station {} but arrived on the topic of `{}`",
                frame.mn,
                station.id,
                excerpt(topic_station)
            ),
            Some(topic_station),
        ));
    }
    if let Err(d) = v.check_password(msg, station, &frame.pw) {
        return done(*d);
    }
    if period_of_cn(&frame.cn).is_none() {
        return done(v.reject(
            msg,
            ReasonCode::MalformedFrame,
            format!(
                "CN {} is not a data upload (2011, 2051, 2061 or 2031); nothing stored",
                frame.cn
            ),
            Some(station.id.as_str()),
        ));
    }
    if frame.flag.packetized() {
        return Decoded::Partial(Box::new(Packet {
            station: station.id.clone(),
            frame,
        }));
    }
    let cp = match frame.cp_data() {
        Ok(cp) => cp,
        Err(e) => {
            return done(v.reject(
                msg,
                reason_code(&e),
                e.to_string(),
                Some(&station.id.to_string()),
            ));
        }
    };
    Decoded::Done(values(v, msg, station, &frame, &cp))
}

/// The registry unit that stations listed in `hj212_mg_m3_stations` send in mg/m³.
pub const MICROGRAMS: &str = "µg/m³";

/// Turns the joined CP data of a complete message into readings and dead letters.
pub fn values(
    v: &Validator<'_>,
    msg: &Message<'_>,
    station: &Station,
    frame: &Frame,
    cp: &CpData,
) -> Outcome {
    let mut out = Outcome::default();
    let sid = Some(station.id.as_str());
    let Some(period) = period_of_cn(&frame.cn) else {
        out.dead_letters.push(v.reject(
            msg,
            ReasonCode::MalformedFrame,
            format!("CN {} is not a data upload", frame.cn),
            sid,
        ));
        return out;
    };
    let Some(local) = cp.data_time else {
        out.dead_letters.push(v.reject(
            msg,
            ReasonCode::MalformedFrame,
            "CP has no DataTime".to_string(),
            sid,
        ));
        return out;
    };
    if cp.items.is_empty() {
        out.dead_letters.push(v.reject(
            msg,
            ReasonCode::MalformedFrame,
            "CP carries no pollutant values".to_string(),
            sid,
        ));
        return out;
    }
    let at: DateTime<Utc> = riverwatch_core::time::from_cst(local);
    if let Err(d) = v.check_time(msg, station, at) {
        out.dead_letters.push(*d);
        return out;
    }
    let legacy = matches!(frame.flag.version(), Ok(Version::Hj212_2005));
    // Old loggers on the 2005 edition often already send 2017 codes: try both tables.
    let params: Vec<_> = cp
        .items
        .iter()
        .map(|item| {
            v.registry
                .parameter_by_hj212(&item.code, legacy)
                .or_else(|| v.registry.parameter_by_hj212(&item.code, !legacy))
        })
        .collect();
    let mut by_param: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, p) in params.iter().enumerate() {
        if let Some(p) = p {
            by_param.entry(p.code.as_str()).or_default().push(j);
        }
    }
    for (i, (item, param)) in cp.items.iter().zip(&params).enumerate() {
        // Two codes of one parameter (`060` and `w21003`): which value is meant cannot be
        // known, so neither is stored.
        if let Some(param) = param {
            let same = by_param
                .get(param.code.as_str())
                .map_or(&[][..], Vec::as_slice);
            if same.len() > 1 {
                if same[0] == i {
                    let given: Vec<String> = same
                        .iter()
                        .map(|&j| {
                            let it = &cp.items[j];
                            let value = it.value_for_cn(&frame.cn).map_or("", |(_, t)| t);
                            format!("{}={}", excerpt(&it.code), excerpt(value))
                        })
                        .collect();
                    let mut dead = v.reject(
                        msg,
                        ReasonCode::DuplicateKey,
                        format!(
                            "the frame gives {} {} times, under codes {}; none is stored",
                            param.code,
                            same.len(),
                            given.join(", ")
                        ),
                        sid,
                    );
                    dead.parameter = Some(param.code.to_string());
                    out.dead_letters.push(dead);
                }
                continue;
            }
        }
        let Some(param) = param else {
            out.dead_letters.push(DeadLetter {
                received_at: msg.received_at,
                topic: msg.topic.to_string(),
                payload: msg.payload.clone(),
                reason_code: ReasonCode::UnknownParameter,
                reason: format!(
                    "HJ 212 code `{}` is not in the registry",
                    excerpt(&item.code)
                ),
                station: Some(station.id.to_string()),
                parameter: Some(item.code.clone()),
            });
            continue;
        };
        let raw = match item.value_for_cn(&frame.cn) {
            Some((_, text)) => RawValue::parse(text),
            None => RawValue::Text(""),
        };
        // A logger that sends mg/m³ where the registry keeps µg/m³ (1 mg/m³ = 1000 µg/m³).
        let raw = match raw {
            RawValue::Number(x)
                if param.unit == MICROGRAMS && v.mg_m3_stations.contains(station.id.as_str()) =>
            {
                RawValue::Number(x * 1000.0)
            }
            other => other,
        };
        v.value(
            msg,
            station,
            &param.code,
            raw,
            item.flag.as_deref(),
            at,
            period,
            &mut out,
        );
    }
    out
}

/// The raw bytes of a reassembled message: its packets one after another, as received.
pub fn joined_payload(parts: &[Bytes]) -> Bytes {
    let mut all = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
    for p in parts {
        all.extend_from_slice(p);
    }
    Bytes::from(all)
}
