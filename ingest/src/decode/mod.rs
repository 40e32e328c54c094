//! From raw MQTT payloads to readings and dead letters.
//!
//! [`json`] and [`hj212`] parse their formats; [`Validator`] applies the checks both share
//! (station and parameter known, finite value within the physical range, known data flag,
//! plausible time, the HJ 212 access password of a station that has one) and turns every
//! problem into a dead letter with a stable reason code. A message with some good and some bad
//! values yields both. Nothing here does I/O, and nothing panics on input.

pub mod hj212;
pub mod json;
pub mod password;
pub mod reassembly;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use riverwatch_core::registry::Registry;
use riverwatch_core::store_api::Conflict;
use riverwatch_core::topics::TopicKind;
use riverwatch_core::{DataFlag, DeadLetter, Period, Reading, ReasonCode, Station};

use self::password::{MASK, PasswordCheck, StationPasswords};

/// What one message produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Accepted readings.
    pub readings: Vec<Reading>,
    /// Rejections (the whole message, or single values).
    pub dead_letters: Vec<DeadLetter>,
}

/// The message being decoded, for dead letters and context.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// MQTT topic.
    pub topic: &'a str,
    /// Raw payload.
    pub payload: &'a Bytes,
    /// When ingest received it.
    pub received_at: DateTime<Utc>,
}

/// Checks values against the registry and turns problems into dead letters.
#[derive(Debug, Clone, Copy)]
pub struct Validator<'r> {
    /// The station and parameter registry.
    pub registry: &'r Registry,
    /// How far in the future a time may lie.
    pub future_tolerance: chrono::Duration,
    /// Largest accepted payload, bytes.
    pub max_payload_bytes: usize,
    /// The HJ 212 access passwords of the stations that have one.
    pub passwords: &'r StationPasswords,
    /// Stations (ids) whose HJ 212 values of µg/m³ parameters arrive in mg/m³
    /// (`hj212_mg_m3_stations`).
    pub mg_m3_stations: &'r std::collections::HashSet<String>,
}

/// Added to the reason of a dead letter whose stored payload had its password masked.
pub const MASKED_NOTE: &str = "; the PW value is replaced by ****** in the stored payload";

/// Earliest time accepted: older values are clock errors, not history.
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Keeps reasons readable when they quote input.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

impl<'r> Validator<'r> {
    /// A dead letter for the whole message.
    pub fn reject(
        &self,
        msg: &Message<'_>,
        code: ReasonCode,
        reason: String,
        station: Option<&str>,
    ) -> DeadLetter {
        DeadLetter {
            received_at: msg.received_at,
            topic: msg.topic.to_string(),
            payload: msg.payload.clone(),
            reason_code: code,
            reason,
            station: station.map(str::to_string),
            parameter: None,
        }
    }

    /// Decodes one message of either format. HJ 212 messages split into packets are
    /// returned as [`Decoded::Partial`] for the reassembler.
    ///
    /// The dead letters of HJ 212 messages have their `PW` masked ([`Validator::redact`]).
    pub fn decode(&self, msg: &Message<'_>, kind: TopicKind, topic_station: &str) -> Decoded {
        let decoded = if msg.payload.len() > self.max_payload_bytes {
            Decoded::Done(Outcome {
                readings: vec![],
                dead_letters: vec![self.reject(
                    msg,
                    ReasonCode::PayloadTooLarge,
                    format!(
                        "payload is {} bytes; the limit is {} bytes",
                        msg.payload.len(),
                        self.max_payload_bytes
                    ),
                    Some(topic_station),
                )],
            })
        } else if kind == TopicKind::Hj212 {
            hj212::decode(self, msg, topic_station)
        } else {
            Decoded::Done(json::decode(self, msg, topic_station))
        };
        match decoded {
            Decoded::Done(mut outcome) if kind == TopicKind::Hj212 => {
                self.redact(&mut outcome.dead_letters);
                Decoded::Done(outcome)
            }
            other => other,
        }
    }

    /// Decodes one HJ 212 frame of a logger's TCP connection, whose station is known by its
    /// MN, with the listener's segment limit; otherwise as [`Validator::decode`] (dead
    /// letters with the `PW` masked).
    pub fn decode_stream(
        &self,
        msg: &Message<'_>,
        station: &str,
        max_segment_len: usize,
    ) -> Decoded {
        match hj212::decode_with_limit(self, msg, station, max_segment_len) {
            Decoded::Done(mut outcome) => {
                self.redact(&mut outcome.dead_letters);
                Decoded::Done(outcome)
            }
            other => other,
        }
    }

    /// Checks the access password of an HJ 212 frame from `station` (`pw` is empty when the
    /// frame has none). A station without a configured password accepts any.
    ///
    /// # Errors
    /// A `bad_password` dead letter for the whole message, its `PW` value masked.
    pub fn check_password(
        &self,
        msg: &Message<'_>,
        station: &Station,
        pw: &str,
    ) -> Result<(), Box<DeadLetter>> {
        let reason = match self.passwords.check(station.id.as_str(), pw) {
            PasswordCheck::NotRequired | PasswordCheck::Accepted => return Ok(()),
            PasswordCheck::Missing => format!(
                "the frame carries no access password (PW) but station {} requires one; \
                 readings not stored",
                station.id
            ),
            PasswordCheck::Wrong => format!(
                "the access password (PW) differs from the one configured for station {}; \
                 readings not stored; the PW value is replaced by {MASK} in the stored payload \
                 (its length and CRC fields are left as received)",
                station.id
            ),
        };
        let mut dead = self.reject(
            msg,
            ReasonCode::BadPassword,
            reason,
            Some(station.id.as_str()),
        );
        if let Some(masked) = password::mask_pw(&dead.payload) {
            dead.payload = masked;
        }
        Err(Box::new(dead))
    }

    /// Masks the `PW` values in the stored payloads of HJ 212 dead letters that concern a
    /// station with a password (by the dead letter's station or an MN in the bytes), and says
    /// so in their reasons: a password must not end up in the dead-letter table, whichever
    /// way its frame was rejected.
    pub fn redact(&self, dead_letters: &mut [DeadLetter]) {
        if self.passwords.is_empty() {
            return;
        }
        // The dead letters of one message share its payload: mask it once.
        let mut last: Option<(Bytes, Option<Bytes>)> = None;
        for d in dead_letters {
            let masked = match &last {
                Some((original, masked)) if *original == d.payload => masked.clone(),
                _ => {
                    let masked = self
                        .protects(d)
                        .then(|| password::mask_pw(&d.payload))
                        .flatten();
                    last = Some((d.payload.clone(), masked.clone()));
                    masked
                }
            };
            if let Some(m) = masked {
                d.payload = m;
                d.reason.push_str(MASKED_NOTE);
            }
        }
    }

    /// The bytes of a packet from `station` as they may be kept: with the `PW` value masked
    /// when the station has a password (it was checked on arrival and is not needed again).
    pub fn storable(&self, station: &riverwatch_core::StationId, payload: &Bytes) -> Bytes {
        if self.passwords.requires(station.as_str()) {
            password::mask_pw(payload).unwrap_or_else(|| payload.clone())
        } else {
            payload.clone()
        }
    }

    /// Whether a dead letter concerns a station that has a password.
    fn protects(&self, d: &DeadLetter) -> bool {
        d.station
            .as_deref()
            .is_some_and(|s| self.passwords.requires(s))
            || password::mns(&d.payload).into_iter().any(|mn| {
                self.registry
                    .station_by_mn(mn)
                    .is_some_and(|s| self.passwords.requires(s.id.as_str()))
            })
    }

    /// Looks up the station named by a topic.
    ///
    /// # Errors
    /// An `unknown_station` dead letter.
    pub fn station_of_topic(
        &self,
        msg: &Message<'_>,
        topic_station: &str,
    ) -> Result<&'r Station, Box<DeadLetter>> {
        self.registry.station(topic_station).ok_or_else(|| {
            Box::new(self.reject(
                msg,
                ReasonCode::UnknownStation,
                format!(
                    "station `{}` is not in the registry",
                    excerpt(topic_station)
                ),
                None,
            ))
        })
    }

    /// Checks a message time.
    ///
    /// # Errors
    /// A `timestamp_out_of_range` dead letter for the whole message.
    pub fn check_time(
        &self,
        msg: &Message<'_>,
        station: &Station,
        at: DateTime<Utc>,
    ) -> Result<(), Box<DeadLetter>> {
        let latest = msg.received_at + self.future_tolerance;
        if at > latest {
            return Err(Box::new(self.reject(
                msg,
                ReasonCode::TimestampOutOfRange,
                format!(
                    "time {} is {} s ahead of reception (tolerance {} s)",
                    at.to_rfc3339(),
                    (at - msg.received_at).num_seconds(),
                    self.future_tolerance.num_seconds()
                ),
                Some(station.id.as_str()),
            )));
        }
        if at < earliest() {
            return Err(Box::new(self.reject(
                msg,
                ReasonCode::TimestampOutOfRange,
                format!("time {} is before 2000-01-01", at.to_rfc3339()),
                Some(station.id.as_str()),
            )));
        }
        Ok(())
    }

    /// Checks one value and adds a reading or a dead letter to `out`.
    ///
    /// `code` is a registry parameter code; `raw` is the value as sent (already a number,
    /// or the text that failed to parse as one); `flag` the data flag letter if any.
    #[allow(clippy::too_many_arguments)]
    pub fn value(
        &self,
        msg: &Message<'_>,
        station: &Station,
        code: &str,
        raw: RawValue<'_>,
        flag: Option<&str>,
        at: DateTime<Utc>,
        period: Period,
        out: &mut Outcome,
    ) {
        let dead = |reason_code, reason: String| DeadLetter {
            received_at: msg.received_at,
            topic: msg.topic.to_string(),
            payload: msg.payload.clone(),
            reason_code,
            reason,
            station: Some(station.id.to_string()),
            parameter: Some(code.to_string()),
        };
        let Some((param, param_code)) = self.registry.parameter_with_code(code) else {
            out.dead_letters.push(dead(
                ReasonCode::UnknownParameter,
                format!("parameter `{}` is not in the registry", excerpt(code)),
            ));
            return;
        };
        if !station.reports(code) {
            out.dead_letters.push(dead(
                ReasonCode::UnknownParameter,
                format!(
                    "parameter `{code}` is not configured for station {}",
                    station.id
                ),
            ));
            return;
        }
        let value = match raw {
            RawValue::Number(v) if v.is_finite() => v,
            RawValue::Number(v) => {
                out.dead_letters.push(dead(
                    ReasonCode::InvalidValue,
                    format!("{code} value {v} is not a finite number"),
                ));
                return;
            }
            RawValue::Text(t) => {
                out.dead_letters.push(dead(
                    ReasonCode::InvalidValue,
                    format!("{code} value `{}` is not a number", excerpt(t)),
                ));
                return;
            }
        };
        let flag = match flag {
            None => DataFlag::N,
            Some(letter) => match DataFlag::from_letter(letter.trim()) {
                Some(f) => f,
                None => {
                    out.dead_letters.push(dead(
                        ReasonCode::InvalidValue,
                        format!(
                            "{code} data flag `{}` is not one of N F M S D C T B",
                            excerpt(letter)
                        ),
                    ));
                    return;
                }
            },
        };
        if value < param.min || value > param.max {
            out.dead_letters.push(dead(
                ReasonCode::OutOfRange,
                format!(
                    "{code} value {value} {} is outside the physical range {}–{}",
                    param.unit, param.min, param.max
                ),
            ));
            return;
        }
        out.readings.push(Reading {
            station: station.id.clone(),
            parameter: param_code.clone(),
            observed_at: at,
            received_at: msg.received_at,
            value,
            flag,
            period,
        });
    }
}

/// The `conflicting_value` dead letter of `reading` (from the message `msg`), refused by
/// the store because its (station, parameter, time, period) is stored with another value
/// or flag.
pub fn conflict_dead_letter(msg: &Message<'_>, reading: &Reading, c: &Conflict) -> DeadLetter {
    DeadLetter {
        received_at: msg.received_at,
        topic: msg.topic.to_string(),
        payload: msg.payload.clone(),
        reason_code: ReasonCode::ConflictingValue,
        reason: format!(
            "{} at {} ({}) is stored as {} (flag {}); this message gives {} (flag {}); \
             the stored value is kept",
            reading.parameter,
            reading.observed_at.to_rfc3339(),
            reading.period.as_str(),
            c.stored_value,
            c.stored_flag,
            reading.value,
            reading.flag
        ),
        station: Some(reading.station.to_string()),
        parameter: Some(reading.parameter.to_string()),
    }
}

/// A value as it arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue<'a> {
    /// Parsed as a number (possibly not finite).
    Number(f64),
    /// Could not be read as a number.
    Text(&'a str),
}

impl<'a> RawValue<'a> {
    /// Reads decimal text such as `7.62` or `-1.5e-3`.
    pub fn parse(text: &'a str) -> Self {
        let t = text.trim();
        // Rust's parser also takes "inf" and "NaN"; a station sending those sends no value.
        let numeric = !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
        match t.parse::<f64>() {
            Ok(v) if numeric => RawValue::Number(v),
            _ => RawValue::Text(text),
        }
    }
}

/// The result of decoding one message.
#[derive(Debug)]
pub enum Decoded {
    /// Everything the message produced.
    Done(Outcome),
    /// One packet of a multi-packet HJ 212 message; the rest is still to come.
    Partial(Box<hj212::Packet>),
}

#[cfg(test)]
mod tests;
