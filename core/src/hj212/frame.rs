//! One HJ 212 frame: the `##` / length / data segment / CRC / `\r\n` framing and the header
//! fields of the data segment. The CP part is kept as raw text here; [`super::parse_cp`] reads it.
//!
//! Decoding checks in a fixed order (framing, length, CRC, fields, version) so the reason an
//! operator sees for a rejected frame names the first thing that is wrong with it.

use std::fmt;

use super::cp::{CpData, parse_cp};
use super::crc::crc16;
use super::error::{FrameError, excerpt, excerpt_str};
use super::flag::Flag;

/// Longest data segment [`Frame::decode`] accepts, in bytes.
///
/// The 1024 figure is commonly quoted for HJ 212-2017 but could not be verified in the text of
/// the standard, so [`Frame::decode_with_limit`] takes another limit where a deployment needs it.
pub const MAX_SEGMENT_LEN: usize = 1024;

/// Longest `MN` (device ID) accepted, in characters.
///
/// HJ 212-2017 allows 24; HJ/T 212-2005 allowed 14, but the longer limit is applied to every
/// edition so an old logger with a long ID is not turned away.
pub const MAX_MN_LEN: usize = 24;

/// Largest `PNUM` (number of packets of one message).
pub const MAX_PACKETS: u32 = 9999;

const HEADER: &str = "##";
const TRAILER: &[u8] = b"\r\n";
const LENGTH_DIGITS: usize = 4;
const CRC_DIGITS: usize = 4;
const QN_DIGITS: usize = 17;
const ST_DIGITS: usize = 2;
const CN_DIGITS: usize = 4;
const CP_OPEN: &str = "CP=&&";
const CP_CLOSE: &str = "&&";
const HEADER_TEXT_RULE: &str = "must be printable ASCII without ';'";

const QN: &str = "QN";
const ST: &str = "ST";
const CN: &str = "CN";
const PW: &str = "PW";
const MN: &str = "MN";
const FLAG: &str = "Flag";
const PNUM: &str = "PNUM";
const PNO: &str = "PNO";
const CP: &str = "CP";

/// One decoded HJ 212 frame, owning its text.
///
/// A frame without a `Flag` field decodes with `Flag(0)`: HJ/T 212-2005, no acknowledgement,
/// not packetized. Old loggers omit the field, and version 0 is what they speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Request number `YYYYMMDDhhmmsszzz` (17 digits, China Standard Time), if sent.
    pub qn: Option<String>,
    /// System code, 2 digits (e.g. `21` surface water, `22` air, `32` water pollution source).
    pub st: String,
    /// Command code, 4 digits (e.g. `2011` real-time data, `2061` hourly data).
    pub cn: String,
    /// Access password; empty when the frame has no `PW` field.
    pub pw: String,
    /// Device ID, at most [`MAX_MN_LEN`] characters; the registry maps it to a station.
    pub mn: String,
    /// Version, acknowledgement and packet-split bits.
    pub flag: Flag,
    /// Total number of packets of the message; present exactly when `flag.packetized()`.
    pub pnum: Option<u32>,
    /// This packet's number, 1 to `pnum`; present exactly when `flag.packetized()`.
    pub pno: Option<u32>,
    /// The text between `CP=&&` and the closing `&&`, unparsed (see [`Frame::cp_data`]).
    pub cp: String,
}

impl Frame {
    /// Decodes one complete frame with the default segment limit, [`MAX_SEGMENT_LEN`].
    ///
    /// Accepts a frame whose trailing `\r\n` is missing, since MQTT already delimits messages,
    /// and CRC digits in either case. Header fields may come in any order; unknown ones and
    /// empty ones (`;;`) are ignored. When `Flag` marks the frame as packetized, `PNUM` and `PNO` are required; when
    /// it does not, they are ignored.
    ///
    /// # Errors
    ///
    /// The first problem found, checking in this order: the `##` header, the length digits, the
    /// trailer, the length, the CRC, UTF-8, the header fields and CP delimiters, then the version.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        Self::decode_with_limit(bytes, MAX_SEGMENT_LEN)
    }

    /// [`Frame::decode`] with a data segment limit of `max_segment_len` bytes.
    ///
    /// # Errors
    ///
    /// As [`Frame::decode`].
    pub fn decode_with_limit(bytes: &[u8], max_segment_len: usize) -> Result<Frame, FrameError> {
        let Some(rest) = bytes.strip_prefix(HEADER.as_bytes()) else {
            return Err(FrameError::MissingHeader {
                found: excerpt(bytes),
            });
        };
        let (length_field, rest) = rest.split_at_checked(LENGTH_DIGITS).unwrap_or((rest, &[]));
        let declared = parse_digits(length_field)
            .filter(|_| length_field.len() == LENGTH_DIGITS)
            .ok_or_else(|| FrameError::BadLengthDigits {
                found: excerpt(length_field),
            })?;

        // The first CR LF ends the frame: the data segment is text without line breaks, so this
        // tells trailing garbage apart from a wrong length field.
        let (body, after_trailer) = match rest.windows(TRAILER.len()).position(|w| w == TRAILER) {
            Some(at) => {
                let (body, trailer) = rest.split_at_checked(at).unwrap_or((rest, &[]));
                (body, trailer.get(TRAILER.len()..).unwrap_or_default())
            }
            None => (rest, &[][..]),
        };
        if !after_trailer.is_empty() {
            return Err(FrameError::BadTrailer {
                found: excerpt(after_trailer),
            });
        }

        if declared > max_segment_len {
            return Err(FrameError::SegmentTooLong {
                length: declared,
                max: max_segment_len,
            });
        }
        let actual = body.len().saturating_sub(CRC_DIGITS);
        if actual != declared {
            return Err(FrameError::LengthMismatch { declared, actual });
        }
        let (segment, crc_field) = body.split_at_checked(actual).unwrap_or((body, &[]));

        let carried = parse_crc(crc_field).ok_or_else(|| FrameError::BadCrcDigits {
            found: excerpt(crc_field),
        })?;
        let computed = crc16(segment);
        if carried != computed {
            return Err(FrameError::CrcMismatch {
                declared: carried,
                computed,
            });
        }

        let text = std::str::from_utf8(segment).map_err(|error| FrameError::NotUtf8 {
            offset: error.valid_up_to(),
        })?;
        let frame = parse_segment(text)?;
        frame.validate()?;
        Ok(frame)
    }

    /// Checks the fields against the protocol's rules, the version last.
    ///
    /// [`Frame::decode`] applies the same checks, so a frame that passes encodes to bytes that
    /// decode back to it (as long as its data segment fits the limit).
    ///
    /// # Errors
    ///
    /// [`FrameError::BadField`] or [`FrameError::MissingField`] for a header field,
    /// [`FrameError::MalformedCp`] if `cp` contains a line break that would end the frame,
    /// [`FrameError::UnsupportedVersion`] for a version code other than 0–2.
    pub fn validate(&self) -> Result<(), FrameError> {
        if let Some(qn) = &self.qn {
            check(
                QN,
                qn,
                is_digits(qn, QN_DIGITS),
                "must be 17 digits YYYYMMDDhhmmsszzz",
            )?;
        }
        check(
            ST,
            &self.st,
            is_digits(&self.st, ST_DIGITS),
            "must be 2 digits",
        )?;
        check(
            CN,
            &self.cn,
            is_digits(&self.cn, CN_DIGITS),
            "must be 4 digits",
        )?;
        check(PW, &self.pw, is_header_text(&self.pw), HEADER_TEXT_RULE)?;
        check(MN, &self.mn, !self.mn.is_empty(), "must not be empty")?;
        check(
            MN,
            &self.mn,
            self.mn.chars().count() <= MAX_MN_LEN,
            "must be at most 24 characters",
        )?;
        check(MN, &self.mn, is_header_text(&self.mn), HEADER_TEXT_RULE)?;
        self.validate_packet_numbers()?;
        if self.cp.contains("\r\n") {
            return Err(FrameError::MalformedCp {
                why: "CP contains a CR LF, which would end the frame",
                near: excerpt_str(&self.cp),
            });
        }
        self.flag
            .version()
            .map_err(FrameError::UnsupportedVersion)?;
        Ok(())
    }

    fn validate_packet_numbers(&self) -> Result<(), FrameError> {
        match (self.flag.packetized(), self.pnum, self.pno) {
            (true, Some(pnum), Some(pno)) => {
                let pnum_text = pnum.to_string();
                check(
                    PNUM,
                    &pnum_text,
                    (1..=MAX_PACKETS).contains(&pnum),
                    "must be between 1 and 9999",
                )?;
                check(
                    PNO,
                    &pno.to_string(),
                    (1..=pnum).contains(&pno),
                    "must be between 1 and PNUM",
                )
            }
            (true, None, _) => Err(FrameError::MissingField(PNUM)),
            (true, _, None) => Err(FrameError::MissingField(PNO)),
            (false, None, None) => Ok(()),
            (false, Some(pnum), _) => Err(unflagged_packet_field(PNUM, pnum)),
            (false, None, Some(pno)) => Err(unflagged_packet_field(PNO, pno)),
        }
    }

    /// The data segment: the text the length field counts and the CRC covers, with fields in
    /// the standard order `QN;ST;CN;PW;MN;Flag;[PNUM;PNO;]CP=&&…&&`.
    pub fn data_segment(&self) -> String {
        DataSegment(self).to_string()
    }

    /// The complete frame: `##`, the zero-padded 4-digit length, the data segment, the
    /// upper-case 4-digit CRC and `\r\n`.
    ///
    /// The fields are written as they are; call [`Frame::validate`] first for a frame built by
    /// hand. A data segment over [`MAX_SEGMENT_LEN`] is written anyway and will be rejected by
    /// receivers; [`super::split_packets`] splits a message that is too long.
    pub fn encode(&self) -> String {
        let segment = self.data_segment();
        format!(
            "{HEADER}{:04}{segment}{:04X}\r\n",
            segment.len(),
            crc16(segment.as_bytes())
        )
    }

    /// Parses the CP text into values.
    ///
    /// # Errors
    ///
    /// As [`parse_cp`].
    pub fn cp_data(&self) -> Result<CpData, FrameError> {
        parse_cp(&self.cp)
    }
}

struct DataSegment<'a>(&'a Frame);

impl fmt::Display for DataSegment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.0;
        if let Some(qn) = &frame.qn {
            write!(f, "{QN}={qn};")?;
        }
        write!(
            f,
            "{ST}={};{CN}={};{PW}={};{MN}={};{FLAG}={};",
            frame.st, frame.cn, frame.pw, frame.mn, frame.flag
        )?;
        if let Some(pnum) = frame.pnum {
            write!(f, "{PNUM}={pnum};")?;
        }
        if let Some(pno) = frame.pno {
            write!(f, "{PNO}={pno};")?;
        }
        write!(f, "{CP_OPEN}{}{CP_CLOSE}", frame.cp)
    }
}

/// The header fields of one data segment, borrowed from it, before their values are checked.
#[derive(Default)]
struct HeaderFields<'a> {
    qn: Option<&'a str>,
    st: Option<&'a str>,
    cn: Option<&'a str>,
    pw: Option<&'a str>,
    mn: Option<&'a str>,
    flag: Option<&'a str>,
    pnum: Option<&'a str>,
    pno: Option<&'a str>,
}

/// Splits a data segment into its header fields and CP and builds the frame; value rules are
/// left to [`Frame::validate`].
fn parse_segment(text: &str) -> Result<Frame, FrameError> {
    let (header, cp) = split_cp(text)?;
    let mut fields = HeaderFields::default();
    for field in header.split(';').filter(|field| !field.is_empty()) {
        let Some((name, value)) = field.split_once('=') else {
            return Err(bad_field(field, "", "header field has no '='"));
        };
        if !field.is_ascii() {
            return Err(bad_field(
                name,
                value,
                "non-ASCII text is allowed only in CP",
            ));
        }
        let slot = match name {
            QN => &mut fields.qn,
            ST => &mut fields.st,
            CN => &mut fields.cn,
            PW => &mut fields.pw,
            MN => &mut fields.mn,
            FLAG => &mut fields.flag,
            PNUM => &mut fields.pnum,
            PNO => &mut fields.pno,
            CP => return Err(bad_field(name, value, "CP must be the last field")),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(bad_field(name, value, "field appears more than once"));
        }
    }

    let st = fields.st.ok_or(FrameError::MissingField(ST))?;
    let cn = fields.cn.ok_or(FrameError::MissingField(CN))?;
    let mn = fields.mn.ok_or(FrameError::MissingField(MN))?;
    let flag = match fields.flag {
        Some(value) => Flag(parse_field(FLAG, value, "must be a decimal number 0–255")?),
        None => Flag::default(),
    };
    let (pnum, pno) = if flag.packetized() {
        let pnum = fields.pnum.ok_or(FrameError::MissingField(PNUM))?;
        let pno = fields.pno.ok_or(FrameError::MissingField(PNO))?;
        (
            Some(parse_field(PNUM, pnum, "must be a decimal number 1–9999")?),
            Some(parse_field(PNO, pno, "must be a decimal number 1–9999")?),
        )
    } else {
        (None, None)
    };
    Ok(Frame {
        qn: fields.qn.map(str::to_owned),
        st: st.to_owned(),
        cn: cn.to_owned(),
        pw: fields.pw.unwrap_or_default().to_owned(),
        mn: mn.to_owned(),
        flag,
        pnum,
        pno,
        cp: cp.to_owned(),
    })
}

/// Splits a data segment at the `CP=&&` field into the header text (without its last `;`) and
/// the CP text between the `&&` delimiters.
fn split_cp(text: &str) -> Result<(&str, &str), FrameError> {
    let start = if text.starts_with(CP_OPEN) {
        Some(0)
    } else {
        text.find(";CP=&&").map(|at| at + 1)
    };
    let Some((header, cp_field)) = start.and_then(|at| text.split_at_checked(at)) else {
        return Err(
            match text.split(';').find(|field| field.starts_with("CP=")) {
                Some(field) => FrameError::MalformedCp {
                    why: "CP does not start with \"CP=&&\"",
                    near: excerpt_str(field),
                },
                None => FrameError::MissingField(CP),
            },
        );
    };
    let cp = cp_field
        .strip_prefix(CP_OPEN)
        .and_then(|cp| cp.strip_suffix(CP_CLOSE))
        .ok_or_else(|| FrameError::MalformedCp {
            why: "CP is not closed by \"&&\" at the end of the data segment",
            near: excerpt_str(cp_field),
        })?;
    Ok((header.strip_suffix(';').unwrap_or(header), cp))
}

fn is_header_text(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_control() && b != b';')
}

fn is_digits(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_digit())
}

fn check(name: &str, value: &str, ok: bool, why: &'static str) -> Result<(), FrameError> {
    if ok {
        Ok(())
    } else {
        Err(bad_field(name, value, why))
    }
}

fn bad_field(name: &str, value: &str, why: &'static str) -> FrameError {
    FrameError::BadField {
        name: excerpt_str(name),
        value: excerpt_str(value),
        why,
    }
}

fn unflagged_packet_field(name: &str, value: u32) -> FrameError {
    bad_field(
        name,
        &value.to_string(),
        "is set but Flag does not mark the frame as packetized",
    )
}

/// Parses a decimal header value.
fn parse_field<T: TryFrom<usize>>(
    name: &str,
    value: &str,
    why: &'static str,
) -> Result<T, FrameError> {
    parse_digits(value.as_bytes())
        .and_then(|number| T::try_from(number).ok())
        .ok_or_else(|| bad_field(name, value, why))
}

/// Parses unsigned decimal digits; unlike `FromStr`, takes no sign.
fn parse_digits(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0usize, |acc, &b| {
        let digit = char::from(b).to_digit(10)?;
        acc.checked_mul(10)?
            .checked_add(usize::try_from(digit).ok()?)
    })
}

fn parse_crc(digits: &[u8]) -> Option<u16> {
    if digits.len() != CRC_DIGITS || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}
