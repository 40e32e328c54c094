//! The `Flag` header field: protocol version, acknowledgement and packet-split bits.
//!
//! Bit layout (HJ 212-2017 and HJ 212-2025): `V5 V4 V3 V2 V1 V0 D A`, where bit 0 (`A`) asks the
//! receiver to acknowledge, bit 1 (`D`) says the frame carries `PNUM`/`PNO`, and bits 2–7 hold the
//! version code. The ingest reads the version from here and never guesses it from the content.

use std::fmt;

/// An edition of the HJ 212 protocol, as coded in bits 2–7 of `Flag`.
///
/// All three editions share the `##`/length/CRC framing; they differ in codes and limits, which
/// this codec carries without interpreting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HJ/T 212-2005, version code 0. Also assumed for frames without a `Flag` field.
    Hj212_2005,
    /// HJ 212-2017, version code 1.
    Hj212_2017,
    /// HJ 212-2025, version code 2 (in force from 2026-01-01).
    Hj212_2025,
}

impl Version {
    /// All supported editions, oldest first.
    pub const ALL: [Version; 3] = [
        Version::Hj212_2005,
        Version::Hj212_2017,
        Version::Hj212_2025,
    ];

    /// The version code carried in bits 2–7 of `Flag`.
    pub const fn code(self) -> u8 {
        match self {
            Version::Hj212_2005 => 0,
            Version::Hj212_2017 => 1,
            Version::Hj212_2025 => 2,
        }
    }

    /// The edition for a version code, or `None` for a code this codec does not support.
    pub const fn from_code(code: u8) -> Option<Version> {
        match code {
            0 => Some(Version::Hj212_2005),
            1 => Some(Version::Hj212_2017),
            2 => Some(Version::Hj212_2025),
            _ => None,
        }
    }

    /// The standard's designation: `HJ/T 212-2005`, `HJ 212-2017` or `HJ 212-2025`.
    pub const fn name(self) -> &'static str {
        match self {
            Version::Hj212_2005 => "HJ/T 212-2005",
            Version::Hj212_2017 => "HJ 212-2017",
            Version::Hj212_2025 => "HJ 212-2025",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The numeric `Flag` header field of a frame.
///
/// Any value 0–255 can be held, including versions this codec does not support, so a decoder
/// can report what a station actually sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flag(
    /// The field's value as sent, e.g. `5` for HJ 212-2017 with acknowledgement.
    pub u8,
);

impl Flag {
    const ACK: u8 = 0b01;
    const PACKETIZED: u8 = 0b10;
    const VERSION_SHIFT: u32 = 2;

    /// Builds a flag from its parts.
    pub const fn new(version: Version, ack_required: bool, packetized: bool) -> Flag {
        let mut bits = version.code() << Self::VERSION_SHIFT;
        if ack_required {
            bits |= Self::ACK;
        }
        if packetized {
            bits |= Self::PACKETIZED;
        }
        Flag(bits)
    }

    /// The raw value of the field.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The protocol edition (bits 2–7).
    ///
    /// # Errors
    ///
    /// Returns the raw version code (3–63) when it names no supported edition.
    pub const fn version(self) -> Result<Version, u8> {
        let code = self.0 >> Self::VERSION_SHIFT;
        match Version::from_code(code) {
            Some(version) => Ok(version),
            None => Err(code),
        }
    }

    /// Whether the sender asks for an acknowledgement (bit 0, `A`).
    pub const fn ack_required(self) -> bool {
        self.0 & Self::ACK != 0
    }

    /// Whether the frame is one packet of a split message and carries `PNUM`/`PNO` (bit 1, `D`).
    pub const fn packetized(self) -> bool {
        self.0 & Self::PACKETIZED != 0
    }

    /// The same flag with the packet-split bit set or cleared.
    pub const fn with_packetized(self, packetized: bool) -> Flag {
        if packetized {
            Flag(self.0 | Self::PACKETIZED)
        } else {
            Flag(self.0 & !Self::PACKETIZED)
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
