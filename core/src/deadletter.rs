//! Dead letters: messages, or parts of messages, that ingest could not accept. Nothing is
//! dropped silently: each rejection is kept with its raw bytes, topic, time and reason.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why something was rejected. The codes are stable: operators filter and count by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The JSON observation does not parse or lacks required fields.
    MalformedJson,
    /// The HJ 212 frame is not well formed.
    MalformedFrame,
    /// The HJ 212 CRC does not match the data segment.
    CrcMismatch,
    /// The HJ 212 length field does not match the data segment, or the segment is too long.
    LengthMismatch,
    /// The HJ 212 Flag names a protocol version riverwatch does not accept.
    UnsupportedVersion,
    /// The station (topic, `station` field or MN) is not in the registry.
    UnknownStation,
    /// The parameter code is not in the registry or not reported by the station.
    UnknownParameter,
    /// The value is not a finite number, or its flag is unknown.
    InvalidValue,
    /// The value is outside the parameter's physical range.
    OutOfRange,
    /// The time is too far in the future or before the year 2000.
    TimestampOutOfRange,
    /// The payload is larger than the accepted maximum.
    PayloadTooLarge,
    /// The HJ 212 access password (`PW`) is missing or differs from the one configured for
    /// the station; the stored payload has the password masked.
    BadPassword,
    /// A packet of a split HJ 212 message contradicts the packets held for the same (MN,
    /// QN): another CN, ST or PNUM, or the same PNO with other contents. The held packets
    /// are kept; this one is not used.
    PacketConflict,
    /// A packet that would open another split HJ 212 message while the station, or ingest
    /// as a whole, already holds as many open messages (or packets) as configured.
    ReassemblyOverflow,
    /// A split HJ 212 message whose packets did not all arrive within the reassembly
    /// timeout.
    ReassemblyTimeout,
    /// One message gives a parameter more than one value (a JSON key repeated, or two HJ 212
    /// codes of one parameter); none of them is stored.
    DuplicateKey,
    /// A resend of a stored (station, parameter, time, period) with a different value or
    /// flag; the stored reading is kept, and the reason names both.
    ConflictingValue,
}

impl ReasonCode {
    /// Every code.
    pub const ALL: [ReasonCode; 17] = [
        ReasonCode::MalformedJson,
        ReasonCode::MalformedFrame,
        ReasonCode::CrcMismatch,
        ReasonCode::LengthMismatch,
        ReasonCode::UnsupportedVersion,
        ReasonCode::UnknownStation,
        ReasonCode::UnknownParameter,
        ReasonCode::InvalidValue,
        ReasonCode::OutOfRange,
        ReasonCode::TimestampOutOfRange,
        ReasonCode::PayloadTooLarge,
        ReasonCode::BadPassword,
        ReasonCode::PacketConflict,
        ReasonCode::ReassemblyOverflow,
        ReasonCode::ReassemblyTimeout,
        ReasonCode::DuplicateKey,
        ReasonCode::ConflictingValue,
    ];

    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasonCode::MalformedJson => "malformed_json",
            ReasonCode::MalformedFrame => "malformed_frame",
            ReasonCode::CrcMismatch => "crc_mismatch",
            ReasonCode::LengthMismatch => "length_mismatch",
            ReasonCode::UnsupportedVersion => "unsupported_version",
            ReasonCode::UnknownStation => "unknown_station",
            ReasonCode::UnknownParameter => "unknown_parameter",
            ReasonCode::InvalidValue => "invalid_value",
            ReasonCode::OutOfRange => "out_of_range",
            ReasonCode::TimestampOutOfRange => "timestamp_out_of_range",
            ReasonCode::PayloadTooLarge => "payload_too_large",
            ReasonCode::BadPassword => "bad_password",
            ReasonCode::PacketConflict => "packet_conflict",
            ReasonCode::ReassemblyOverflow => "reassembly_overflow",
            ReasonCode::ReassemblyTimeout => "reassembly_timeout",
            ReasonCode::DuplicateKey => "duplicate_key",
            ReasonCode::ConflictingValue => "conflicting_value",
        }
    }

    /// A short Chinese description for operators.
    pub const fn label_zh(self) -> &'static str {
        match self {
            ReasonCode::MalformedJson => "JSON 格式错误",
            ReasonCode::MalformedFrame => "HJ 212 报文格式错误",
            ReasonCode::CrcMismatch => "CRC 校验失败",
            ReasonCode::LengthMismatch => "报文长度错误",
            ReasonCode::UnsupportedVersion => "协议版本不支持",
            ReasonCode::UnknownStation => "未知站点",
            ReasonCode::UnknownParameter => "未知参数",
            ReasonCode::InvalidValue => "数值无效",
            ReasonCode::OutOfRange => "超出物理量程",
            ReasonCode::TimestampOutOfRange => "时间超出允许范围",
            ReasonCode::PayloadTooLarge => "消息过大",
            ReasonCode::BadPassword => "访问密码错误",
            ReasonCode::PacketConflict => "分包报文冲突",
            ReasonCode::ReassemblyOverflow => "未完成的分包报文过多",
            ReasonCode::ReassemblyTimeout => "分包报文重组超时",
            ReasonCode::DuplicateKey => "同一参数重复给值",
            ReasonCode::ConflictingValue => "重发数值与已存不一致",
        }
    }

    /// A short English description for operators.
    pub const fn label_en(self) -> &'static str {
        match self {
            ReasonCode::MalformedJson => "malformed JSON",
            ReasonCode::MalformedFrame => "malformed HJ 212 frame",
            ReasonCode::CrcMismatch => "CRC mismatch",
            ReasonCode::LengthMismatch => "wrong frame length",
            ReasonCode::UnsupportedVersion => "unsupported protocol version",
            ReasonCode::UnknownStation => "unknown station",
            ReasonCode::UnknownParameter => "unknown parameter",
            ReasonCode::InvalidValue => "invalid value",
            ReasonCode::OutOfRange => "outside the physical range",
            ReasonCode::TimestampOutOfRange => "time out of range",
            ReasonCode::PayloadTooLarge => "payload too large",
            ReasonCode::BadPassword => "wrong access password",
            ReasonCode::DuplicateKey => "parameter given twice",
            ReasonCode::ConflictingValue => "resend differs from the stored value",
            ReasonCode::PacketConflict => "split-message packet conflicts with the held packets",
            ReasonCode::ReassemblyOverflow => "too many open split messages",
            ReasonCode::ReassemblyTimeout => "split message not completed in time",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReasonCode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown reason code `{s}`"))
    }
}

/// One rejected message or part of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// When ingest received the message (UTC).
    pub received_at: DateTime<Utc>,
    /// MQTT topic it came on.
    pub topic: String,
    /// The raw payload, exactly as received, except that the HJ 212 access password of a
    /// station that has one configured is masked (the reason then says so).
    pub payload: Bytes,
    /// Stable reason code.
    pub reason_code: ReasonCode,
    /// Human-readable reason with the offending values (English technical detail).
    pub reason: String,
    /// Station concerned, when known.
    pub station: Option<String>,
    /// Parameter concerned, when the rejection is of one value.
    pub parameter: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip() {
        for code in ReasonCode::ALL {
            assert_eq!(code.as_str().parse::<ReasonCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
