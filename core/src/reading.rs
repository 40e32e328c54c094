//! The reading: one value of one parameter at one station at one time. It is the only
//! data type that crosses crate lines between ingest, the stores and analytics.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

macro_rules! shared_str_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a string.
            pub fn new(s: &str) -> Self {
                Self(Arc::from(s))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::new(s)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }
    };
}

shared_str_id!(
    /// A station id such as `LLH-CJG`: cheap to clone, shared by every reading of a station.
    StationId
);
shared_str_id!(
    /// A parameter code such as `NH3N`.
    ParamCode
);

/// The data flag a station attaches to a value (HJ 212 `-Flag`; the `flags` map of a JSON
/// observation). Only `N` and `S` count toward classes and means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DataFlag {
    /// N: normal.
    #[default]
    N,
    /// F: instrument stopped.
    F,
    /// M: maintenance.
    M,
    /// S: manually set value.
    S,
    /// D: instrument fault.
    D,
    /// C: calibration.
    C,
    /// T: above the instrument's upper measurement limit.
    T,
    /// B: communication error between instrument and data logger.
    B,
}

impl DataFlag {
    /// Every flag.
    pub const ALL: [DataFlag; 8] = [
        DataFlag::N,
        DataFlag::F,
        DataFlag::M,
        DataFlag::S,
        DataFlag::D,
        DataFlag::C,
        DataFlag::T,
        DataFlag::B,
    ];

    /// Parses the one-letter flag.
    pub fn from_letter(s: &str) -> Option<Self> {
        match s {
            "N" => Some(DataFlag::N),
            "F" => Some(DataFlag::F),
            "M" => Some(DataFlag::M),
            "S" => Some(DataFlag::S),
            "D" => Some(DataFlag::D),
            "C" => Some(DataFlag::C),
            "T" => Some(DataFlag::T),
            "B" => Some(DataFlag::B),
            _ => None,
        }
    }

    /// The one-letter flag.
    pub const fn letter(self) -> char {
        match self {
            DataFlag::N => 'N',
            DataFlag::F => 'F',
            DataFlag::M => 'M',
            DataFlag::S => 'S',
            DataFlag::D => 'D',
            DataFlag::C => 'C',
            DataFlag::T => 'T',
            DataFlag::B => 'B',
        }
    }

    /// The flag for a stored letter code.
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.letter() as u32 == u32::from(b))
    }

    /// Whether the value counts for evaluation (only N and S do).
    pub const fn is_valid(self) -> bool {
        matches!(self, DataFlag::N | DataFlag::S)
    }

    /// Chinese meaning of the flag.
    pub const fn label_zh(self) -> &'static str {
        match self {
            DataFlag::N => "正常",
            DataFlag::F => "停运",
            DataFlag::M => "维护",
            DataFlag::S => "手工输入",
            DataFlag::D => "故障",
            DataFlag::C => "校准",
            DataFlag::T => "超测量上限",
            DataFlag::B => "通讯异常",
        }
    }
}

impl fmt::Display for DataFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// What span of time a value stands for. Values of different periods at the same instant
/// are different measurements (an hourly mean and a daily mean both stamped 00:00), so the
/// period is part of a reading's identity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A sample or real-time value (JSON observations, HJ 212 CN 2011).
    #[default]
    Sample,
    /// A minute mean (HJ 212 CN 2051).
    Minute,
    /// An hourly mean (HJ 212 CN 2061).
    Hour,
    /// A daily mean (HJ 212 CN 2031).
    Day,
}

impl Period {
    /// Every period.
    pub const ALL: [Period; 4] = [Period::Sample, Period::Minute, Period::Hour, Period::Day];

    /// Stable small integer used by the stores.
    pub const fn code(self) -> u8 {
        match self {
            Period::Sample => 0,
            Period::Minute => 1,
            Period::Hour => 2,
            Period::Day => 3,
        }
    }

    /// The period for a stored code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Sample => "sample",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }
}

/// One accepted value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Station id.
    pub station: StationId,
    /// Parameter code.
    pub parameter: ParamCode,
    /// When the value was observed (UTC).
    pub observed_at: DateTime<Utc>,
    /// When ingest received it (UTC).
    pub received_at: DateTime<Utc>,
    /// The value, in the registry's unit for the parameter.
    pub value: f64,
    /// The station's data flag.
    pub flag: DataFlag,
    /// What span of time the value stands for.
    #[serde(default)]
    pub period: Period,
}

impl Reading {
    /// Whether the value counts for evaluation.
    pub fn is_valid(&self) -> bool {
        self.flag.is_valid()
    }
}

/// One value inside a [`ReadingsMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingOut {
    /// Parameter code.
    pub parameter: ParamCode,
    /// The value.
    pub value: f64,
    /// Unit from the registry.
    pub unit: String,
    /// Observation time, RFC 3339 UTC.
    pub observed_at: DateTime<Utc>,
    /// Reception time, RFC 3339 UTC.
    pub received_at: DateTime<Utc>,
    /// Data flag letter.
    pub flag: DataFlag,
    /// Whether the value counts for evaluation.
    pub valid: bool,
    /// What span of time the value stands for.
    pub period: Period,
}

/// The payload of `rw/v1/readings/{station}`: newly stored readings of one station,
/// published only after they are durably committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingsMessage {
    /// Station id.
    pub station: StationId,
    /// The readings.
    pub readings: Vec<ReadingOut>,
}

impl ReadingsMessage {
    /// The message as JSON, written directly: ingest publishes one per station and batch,
    /// and the generic serializer (timestamps through `Display`, every string escaped) cost
    /// a fifth of ingest's CPU at full load. Parses back with serde into the same message;
    /// `valid` is written from the flag (only N and S are valid), as ingest sets it.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = ReadingsJson::new(&self.station, self.readings.len());
        for r in &self.readings {
            json.push(ReadingRef {
                parameter: r.parameter.as_str(),
                value: r.value,
                unit: &r.unit,
                observed_at: r.observed_at,
                received_at: r.received_at,
                flag: r.flag,
                period: r.period,
            });
        }
        json.finish()
    }

    /// The readings as [`Reading`] values.
    pub fn into_readings(self) -> Vec<Reading> {
        let station = self.station;
        self.readings
            .into_iter()
            .map(|r| Reading {
                station: station.clone(),
                parameter: r.parameter,
                observed_at: r.observed_at,
                received_at: r.received_at,
                value: r.value,
                flag: r.flag,
                period: r.period,
            })
            .collect()
    }
}

/// One reading as [`ReadingsJson`] writes it, borrowed from wherever it lives (ingest writes
/// straight from its stored [`Reading`]s, with the unit from the registry).
#[derive(Debug, Clone, Copy)]
pub struct ReadingRef<'a> {
    /// Parameter code.
    pub parameter: &'a str,
    /// The value.
    pub value: f64,
    /// Unit from the registry.
    pub unit: &'a str,
    /// Observation time.
    pub observed_at: DateTime<Utc>,
    /// Reception time.
    pub received_at: DateTime<Utc>,
    /// Data flag.
    pub flag: DataFlag,
    /// What span of time the value stands for.
    pub period: Period,
}

/// Writes the JSON of a [`ReadingsMessage`] reading by reading, without building the
/// message first (no per-reading allocation).
pub struct ReadingsJson {
    out: Vec<u8>,
    count: usize,
    // The readings of one observation share both times: each distinct one is formatted once.
    observed: Stamp,
    received: Stamp,
}

impl ReadingsJson {
    /// Starts the message of `station`, sized for about `readings` readings.
    pub fn new(station: &StationId, readings: usize) -> Self {
        let mut out = Vec::with_capacity(64 + readings * 180);
        out.extend_from_slice(b"{\"station\":");
        push_json_str(&mut out, station.as_str());
        out.extend_from_slice(b",\"readings\":[");
        Self {
            out,
            count: 0,
            observed: Stamp::default(),
            received: Stamp::default(),
        }
    }

    /// Appends one reading.
    pub fn push(&mut self, r: ReadingRef<'_>) {
        let out = &mut self.out;
        if self.count > 0 {
            out.push(b',');
        }
        self.count += 1;
        out.extend_from_slice(b"{\"parameter\":");
        push_json_str(out, r.parameter);
        out.extend_from_slice(b",\"value\":");
        push_f64(out, r.value);
        out.extend_from_slice(b",\"unit\":");
        push_json_str(out, r.unit);
        out.extend_from_slice(b",\"observed_at\":\"");
        self.observed.push(out, r.observed_at);
        out.extend_from_slice(b"\",\"received_at\":\"");
        self.received.push(out, r.received_at);
        out.extend_from_slice(b"\",\"flag\":\"");
        out.push(r.flag.letter() as u8);
        out.extend_from_slice(b"\",\"valid\":");
        out.extend_from_slice(if r.flag.is_valid() { b"true" } else { b"false" });
        out.extend_from_slice(b",\"period\":\"");
        out.extend_from_slice(r.period.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
    }

    /// Readings appended so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no reading was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The finished JSON.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b"]}");
        self.out
    }
}

/// Appends a JSON string, escaping only when the text needs it.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        match serde_json::to_vec(s) {
            Ok(v) => out.extend_from_slice(&v),
            Err(_) => out.extend_from_slice(b"\"\""),
        }
    }
}

/// Appends a number; non-finite values (never accepted by ingest) become `null`.
fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn push_digits(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut n = n;
    for d in digits.iter_mut().rev().take(width) {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[10 - width..]);
}

/// The last time formatted, reused while the next one is the same.
#[derive(Default)]
struct Stamp {
    last: Option<DateTime<Utc>>,
    text: Vec<u8>,
}

impl Stamp {
    fn push(&mut self, out: &mut Vec<u8>, t: DateTime<Utc>) {
        if self.last != Some(t) {
            self.text.clear();
            push_rfc3339_millis(&mut self.text, t);
            self.last = Some(t);
        }
        out.extend_from_slice(&self.text);
    }
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn push_rfc3339_millis(out: &mut Vec<u8>, t: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).unwrap_or(0).min(9999);
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, t.month(), 2);
    out.push(b'-');
    push_digits(out, t.day(), 2);
    out.push(b'T');
    push_digits(out, t.hour(), 2);
    out.push(b':');
    push_digits(out, t.minute(), 2);
    out.push(b':');
    push_digits(out, t.second(), 2);
    out.push(b'.');
    push_digits(out, t.timestamp_subsec_millis().min(999), 3);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_json_parses_back_to_the_same_message() {
        let t = DateTime::from_timestamp_millis(1_795_305_600_123).unwrap();
        let m = ReadingsMessage {
            station: StationId::new("LLH-CJG"),
            readings: vec![
                ReadingOut {
                    parameter: ParamCode::new("COND"),
                    value: 312.5,
                    unit: "µS/cm".into(),
                    observed_at: t,
                    received_at: t + chrono::Duration::milliseconds(877),
                    flag: DataFlag::M,
                    valid: false,
                    period: Period::Hour,
                },
                ReadingOut {
                    parameter: ParamCode::new("we\"ird"),
                    value: 1e-7,
                    unit: "个/L".into(),
                    observed_at: t,
                    received_at: t,
                    flag: DataFlag::N,
                    valid: true,
                    period: Period::Sample,
                },
                // A later observation after two of the same time: the times change.
                ReadingOut {
                    parameter: ParamCode::new("NH3N"),
                    value: 0.5,
                    unit: "mg/L".into(),
                    observed_at: t + chrono::Duration::hours(1),
                    received_at: t + chrono::Duration::hours(1),
                    flag: DataFlag::N,
                    valid: true,
                    period: Period::Sample,
                },
            ],
        };
        let direct = m.to_json();
        let back: ReadingsMessage = serde_json::from_slice(&direct).unwrap();
        assert_eq!(back, m);
        let text = String::from_utf8(direct).unwrap();
        assert!(
            text.contains("\"observed_at\":\"2026-11-22T00:00:00.123Z\""),
            "{text}"
        );
    }

    #[test]
    fn only_n_and_s_are_valid() {
        let valid: Vec<char> = DataFlag::ALL
            .iter()
            .filter(|f| f.is_valid())
            .map(|f| f.letter())
            .collect();
        assert_eq!(valid, vec!['N', 'S']);
    }

    #[test]
    fn flags_round_trip_through_letters_and_bytes() {
        for flag in DataFlag::ALL {
            let letter = flag.letter().to_string();
            assert_eq!(DataFlag::from_letter(&letter), Some(flag));
            assert_eq!(DataFlag::from_byte(flag.letter() as u8), Some(flag));
        }
        assert_eq!(DataFlag::from_letter("X"), None);
        assert_eq!(DataFlag::from_letter("n"), None);
    }

    #[test]
    fn periods_round_trip_through_codes() {
        for p in Period::ALL {
            assert_eq!(Period::from_code(p.code()), Some(p));
        }
        assert_eq!(Period::from_code(9), None);
    }
}
