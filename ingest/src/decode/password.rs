//! The HJ 212 access password (`PW`) of each station: which stations have one, the check of
//! a frame's `PW` against it, and the masking of `PW` values in bytes that are kept as dead
//! letters, so that a station's password never lands in the dead-letter table.
//!
//! Only a SHA-256 digest of each password is held, and a frame's `PW` is compared through
//! its digest in constant time: neither the time a check takes nor the process's memory tells
//! the password or its length. Loading the passwords (file, environment) is
//! [`crate::secrets`]'s job; nothing here does I/O.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use riverwatch_core::StationId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What replaces a `PW` value in stored bytes. Its length is fixed, so the stored bytes do
/// not tell the password's length either.
pub const MASK: &str = "******";

/// The header field that carries the access password.
const PW: &[u8] = b"PW";
/// The header field that names the data logger.
const MN: &[u8] = b"MN";
/// Where the CP field starts; its `;`-separated items are not header fields.
const CP_OPEN: &[u8] = b"CP=&&";
/// Where the CP field ends.
const CP_CLOSE: &[u8] = b"&&";
/// Where a frame starts (then four length digits).
const FRAME_START: &[u8] = b"##";

/// The access passwords of the stations that have one. Stations without one are not checked.
#[derive(Clone, Default)]
pub struct StationPasswords {
    digests: HashMap<StationId, [u8; 32]>,
}

impl fmt::Debug for StationPasswords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stations: Vec<&str> = self.digests.keys().map(StationId::as_str).collect();
        stations.sort_unstable();
        f.debug_struct("StationPasswords")
            .field("stations", &stations)
            .finish()
    }
}

/// The result of checking a frame's `PW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The station has no password configured: any `PW` (or none) is accepted.
    NotRequired,
    /// The `PW` is the station's password.
    Accepted,
    /// The station has a password but the frame carries no `PW`, or an empty one.
    Missing,
    /// The `PW` differs from the station's password.
    Wrong,
}

fn digest(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

impl StationPasswords {
    /// No passwords: every frame is accepted as before.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a station's password; returns whether it replaced one.
    pub fn insert(&mut self, station: StationId, password: &str) -> bool {
        self.digests
            .insert(station, digest(password.as_bytes()))
            .is_some()
    }

    /// Whether no station has a password.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Number of stations with a password.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether `station` has a password.
    pub fn requires(&self, station: &str) -> bool {
        self.digests.contains_key(station)
    }

    /// Checks the `PW` of a frame from `station` (empty when the frame has none).
    pub fn check(&self, station: &str, pw: &str) -> PasswordCheck {
        let Some(expected) = self.digests.get(station) else {
            return PasswordCheck::NotRequired;
        };
        if pw.is_empty() {
            return PasswordCheck::Missing;
        }
        if bool::from(digest(pw.as_bytes()).ct_eq(expected)) {
            PasswordCheck::Accepted
        } else {
            PasswordCheck::Wrong
        }
    }
}

/// The header fields of every HJ 212 frame in `bytes`, as (name, value) byte ranges: the
/// `NAME=value` fields separated by `;`, outside `CP=&&…&&`.
///
/// Lenient on purpose: it reads frames that failed to decode (wrong CRC or length, missing
/// fields) and packets stored one after another, because their bytes must be masked too.
fn header_fields(bytes: &[u8]) -> Vec<(Range<usize>, Range<usize>)> {
    let mut fields = Vec::new();
    let push = |fields: &mut Vec<(Range<usize>, Range<usize>)>, field: Range<usize>| {
        let Some(text) = bytes.get(field.clone()) else {
            return;
        };
        if let Some(eq) = text.iter().position(|&b| b == b'=') {
            let at = field.start + eq;
            fields.push((field.start..at, at + 1..field.end));
        }
    };
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        let rest = bytes.get(i..).unwrap_or_default();
        if rest.starts_with(CP_OPEN) {
            push(&mut fields, start..i);
            let body = i + CP_OPEN.len();
            let close = bytes
                .get(body..)
                .and_then(|b| b.windows(CP_CLOSE.len()).position(|w| w == CP_CLOSE));
            match close {
                Some(k) => {
                    i = body + k + CP_CLOSE.len();
                    start = i;
                }
                None => return fields,
            }
        } else if rest.starts_with(FRAME_START) {
            // `##` and the length digits, then the first field.
            i += FRAME_START.len();
            let digits = bytes
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take(4)
                .take_while(|b| b.is_ascii_digit())
                .count();
            i += digits;
            start = i;
        } else if matches!(rest.first(), Some(b';' | b'\r' | b'\n')) {
            push(&mut fields, start..i);
            i += 1;
            start = i;
        } else {
            i += 1;
        }
    }
    push(&mut fields, start..bytes.len());
    fields
}

/// The values of the `MN` fields of the frames in `bytes`.
pub fn mns(bytes: &[u8]) -> Vec<&str> {
    header_fields(bytes)
        .into_iter()
        .filter(|(name, _)| bytes.get(name.clone()) == Some(MN))
        .filter_map(|(_, value)| std::str::from_utf8(bytes.get(value)?).ok())
        .collect()
}

/// `bytes` with the value of every non-empty `PW` header field replaced by [`MASK`], or
/// `None` when there is nothing to mask. The length field and the CRC are left as they were:
/// the stored bytes are what arrived, with the password blanked out, not a new frame.
pub fn mask_pw(bytes: &[u8]) -> Option<Bytes> {
    let values: Vec<Range<usize>> = header_fields(bytes)
        .into_iter()
        .filter(|(name, value)| {
            bytes.get(name.clone()) == Some(PW)
                && !value.is_empty()
                && bytes.get(value.clone()) != Some(MASK.as_bytes())
        })
        .map(|(_, value)| value)
        .collect();
    if values.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + MASK.len() * values.len());
    let mut copied = 0;
    for value in values {
        out.extend_from_slice(bytes.get(copied..value.start).unwrap_or_default());
        out.extend_from_slice(MASK.as_bytes());
        copied = value.end;
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords() -> StationPasswords {
        let mut p = StationPasswords::new();
        p.insert(StationId::new("LLH-CJG"), "s3cret");
        p
    }

    #[test]
    fn a_station_without_a_password_accepts_any_pw() {
        let p = passwords();
        assert_eq!(p.check("LLH-HK", ""), PasswordCheck::NotRequired);
        assert_eq!(p.check("LLH-HK", "123456"), PasswordCheck::NotRequired);
        assert_eq!(
            StationPasswords::new().check("LLH-CJG", "x"),
            PasswordCheck::NotRequired
        );
    }

    #[test]
    fn the_configured_password_is_accepted_and_anything_else_refused() {
        let p = passwords();
        assert_eq!(p.check("LLH-CJG", "s3cret"), PasswordCheck::Accepted);
        assert_eq!(p.check("LLH-CJG", ""), PasswordCheck::Missing);
        for wrong in ["s3cre", "s3crett", "S3cret", "s3cret ", "123456"] {
            assert_eq!(p.check("LLH-CJG", wrong), PasswordCheck::Wrong, "{wrong}");
        }
    }

    #[test]
    fn debug_output_names_stations_not_passwords() {
        let shown = format!("{:?}", passwords());
        assert!(shown.contains("LLH-CJG"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn the_pw_value_is_masked_with_a_fixed_length_and_nothing_else_changes() {
        let frame = b"##0083QN=20261122080000000;ST=21;CN=2061;PW=s3cret;MN=2301;Flag=5;CP=&&DataTime=20261122080000;w21003-Avg=0.5&&1C80\r\n";
        let masked = mask_pw(frame).unwrap();
        let want = b"##0083QN=20261122080000000;ST=21;CN=2061;PW=******;MN=2301;Flag=5;CP=&&DataTime=20261122080000;w21003-Avg=0.5&&1C80\r\n";
        assert_eq!(&masked[..], &want[..]);
        // A long password and a one-letter one both become six asterisks.
        let long = mask_pw(b"##0000ST=21;PW=a-much-longer-password;MN=1;CP=&&&&").unwrap();
        assert_eq!(&long[..], b"##0000ST=21;PW=******;MN=1;CP=&&&&");
        let short = mask_pw(b"PW=x;MN=1;CP=&&&&").unwrap();
        assert_eq!(&short[..], b"PW=******;MN=1;CP=&&&&");
    }

    #[test]
    fn frames_without_a_pw_value_are_left_alone() {
        assert_eq!(mask_pw(b"##0000ST=21;MN=1;CP=&&a=1&&"), None);
        assert_eq!(mask_pw(b"##0000ST=21;PW=;MN=1;CP=&&a=1&&"), None);
        assert_eq!(mask_pw(b"##0000ST=21;PW=******;MN=1;CP=&&a=1&&"), None);
        assert_eq!(mask_pw(b""), None);
        assert_eq!(mask_pw(b"{\"values\":{}}"), None);
    }

    #[test]
    fn every_packet_of_joined_packets_is_masked_and_cp_is_not_touched() {
        // Two packets one after another, the second without CR LF before the next `##`, and
        // a CP item that happens to be called PW.
        let joined = b"##0050ST=21;PW=abc;MN=1;Flag=5;PNUM=2;PNO=1;CP=&&x=1;PW=7&&AAAA\r\n##0050ST=21;PW=abcd;MN=1;Flag=5;PNUM=2;PNO=2;CP=&&PW=8&&BBBB##0001PW=z";
        let masked = mask_pw(joined).unwrap();
        let want = b"##0050ST=21;PW=******;MN=1;Flag=5;PNUM=2;PNO=1;CP=&&x=1;PW=7&&AAAA\r\n##0050ST=21;PW=******;MN=1;Flag=5;PNUM=2;PNO=2;CP=&&PW=8&&BBBB##0001PW=******";
        assert_eq!(&masked[..], &want[..]);
    }

    #[test]
    fn broken_frames_are_masked_too() {
        // Wrong length digits, no CP at all, an unterminated CP.
        let m = mask_pw(b"##01a1QN=1;PW=secret;MN=9").unwrap();
        assert_eq!(&m[..], b"##01a1QN=1;PW=******;MN=9");
        let m = mask_pw(b"QN=1;ST=21;PW=secret;CP=&&DataTime=2026").unwrap();
        assert_eq!(&m[..], b"QN=1;ST=21;PW=******;CP=&&DataTime=2026");
    }

    #[test]
    fn mns_are_read_from_every_frame() {
        let joined = b"##0050ST=21;PW=abc;MN=111;CP=&&MN=x&&AAAA\r\n##0050MN=222;CP=&&&&";
        assert_eq!(mns(joined), vec!["111", "222"]);
        assert!(mns(b"garbage").is_empty());
    }
}
