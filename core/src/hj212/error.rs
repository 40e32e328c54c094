//! Why a frame, its CP or a set of packets was rejected.
//!
//! Every variant maps to one of four reason codes that the ingest stores with a dead-lettered
//! frame and uses as a bounded metric label; the Display text, with the offending values, is
//! what an operator reads.

use thiserror::Error;

/// Longest excerpt of offending input kept in an error, in characters.
const EXCERPT_CHARS: usize = 32;

/// A frame that could not be decoded, a CP that could not be parsed, or packets that do not
/// make one message.
///
/// The enum stays small and unboxed because it is returned once per received frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame does not start with `##`.
    #[error("frame starts with {found:?} instead of the \"##\" header")]
    MissingHeader {
        /// The first bytes received (lossy UTF-8, truncated).
        found: String,
    },
    /// The 4 characters after `##` are not decimal digits.
    #[error("length field {found:?} is not 4 decimal digits")]
    BadLengthDigits {
        /// The length field as received (lossy UTF-8, truncated).
        found: String,
    },
    /// The length field does not match the data segment actually received.
    #[error(
        "length field declares a {declared}-byte data segment but {actual} bytes were received"
    )]
    LengthMismatch {
        /// The length the frame declares, in bytes.
        declared: usize,
        /// The length of the data segment found between the length field and the CRC, in bytes.
        actual: usize,
    },
    /// The declared data segment is longer than the protocol allows.
    #[error("data segment of {length} bytes exceeds the maximum of {max} bytes")]
    SegmentTooLong {
        /// The declared length, in bytes.
        length: usize,
        /// The limit in force, in bytes.
        max: usize,
    },
    /// The 4 characters before the trailer are not hexadecimal digits.
    #[error("CRC field {found:?} is not 4 hexadecimal digits")]
    BadCrcDigits {
        /// The CRC field as received (lossy UTF-8, truncated).
        found: String,
    },
    /// The CRC carried by the frame differs from the CRC of its data segment.
    #[error(
        "CRC mismatch: the frame carries {declared:04X} but its data segment gives {computed:04X}"
    )]
    CrcMismatch {
        /// The CRC the frame carries.
        declared: u16,
        /// The CRC computed over the data segment received.
        computed: u16,
    },
    /// Bytes follow the `\r\n` that ends the frame.
    #[error("unexpected bytes {found:?} after the CR LF that ends the frame")]
    BadTrailer {
        /// The extra bytes (lossy UTF-8, truncated).
        found: String,
    },
    /// A required header field is absent.
    #[error("required field {0} is missing")]
    MissingField(
        /// The field's name as the standard spells it (`ST`, `CN`, `MN`, `CP`, `PNUM`, `PNO`).
        &'static str,
    ),
    /// A header field is present but its value breaks the protocol's rules.
    #[error("field {name} has invalid value {value:?}: {why}")]
    BadField {
        /// The field's name (truncated if the field itself is garbage).
        name: String,
        /// The offending value (truncated).
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// `Flag` carries a version code of no supported edition.
    #[error(
        "unsupported protocol version {0} in Flag; supported are 0 (HJ/T 212-2005), \
         1 (HJ 212-2017) and 2 (HJ 212-2025)"
    )]
    UnsupportedVersion(
        /// The version code from bits 2–7 of `Flag` (3–63).
        u8,
    ),
    /// The data segment is neither ASCII nor valid UTF-8.
    #[error("data segment is not valid UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte within the data segment.
        offset: usize,
    },
    /// The CP part is not a list of `key=value` fields the codec can read.
    #[error("malformed CP: {why} (at {near:?})")]
    MalformedCp {
        /// What is wrong.
        why: &'static str,
        /// The offending CP field or text (truncated).
        near: String,
    },
    /// Frames handed to [`join_packets`](super::join_packets) are not the complete packets
    /// of one message.
    #[error("cannot join packets: {why}{}", at_packet(.pno))]
    BadPacketSet {
        /// What is wrong with the set.
        why: &'static str,
        /// The packet number concerned, when one is.
        pno: Option<u32>,
    },
}

impl FrameError {
    /// Every value [`reason_code`](Self::reason_code) can return, e.g. to pre-register metric
    /// labels.
    pub const REASON_CODES: [&'static str; 4] = [
        "malformed_frame",
        "crc_mismatch",
        "length_mismatch",
        "unsupported_version",
    ];

    /// The short, stable reason stored with a rejected frame and used as a metric label:
    /// `malformed_frame`, `crc_mismatch`, `length_mismatch` (declared length differs from the
    /// actual one, or the segment is over the limit) or `unsupported_version`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            FrameError::LengthMismatch { .. } | FrameError::SegmentTooLong { .. } => {
                "length_mismatch"
            }
            FrameError::CrcMismatch { .. } => "crc_mismatch",
            FrameError::UnsupportedVersion(_) => "unsupported_version",
            FrameError::MissingHeader { .. }
            | FrameError::BadLengthDigits { .. }
            | FrameError::BadCrcDigits { .. }
            | FrameError::BadTrailer { .. }
            | FrameError::MissingField(_)
            | FrameError::BadField { .. }
            | FrameError::NotUtf8 { .. }
            | FrameError::MalformedCp { .. }
            | FrameError::BadPacketSet { .. } => "malformed_frame",
        }
    }

    /// Always `false`: the same bytes fail the same way on redelivery, so a caller rejects the
    /// message rather than retrying it.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

fn at_packet(pno: &Option<u32>) -> String {
    pno.map(|pno| format!(" (PNO {pno})")).unwrap_or_default()
}

/// A bounded, printable copy of offending input, so one huge or binary frame cannot blow up an
/// error message or a log line.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    excerpt_str(&String::from_utf8_lossy(bytes))
}

/// [`excerpt`] for text that is already UTF-8.
pub(crate) fn excerpt_str(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}
