//! The HJ 212 frame codec: pure encoding and decoding of the frames stations send, no I/O.
//!
//! HJ 212 (HJ/T 212-2005, HJ 212-2017, HJ 212-2025) is the Chinese protocol for environmental
//! monitoring data. A frame is `##`, a 4-digit length, a data segment of `;`-separated header
//! fields ending in `CP=&&…&&`, a CRC16 of the data segment and `\r\n`. The edition is read
//! from the `Flag` field, never guessed.
//!
//! - [`Frame::decode`] / [`Frame::encode`]: framing, CRC and header fields; CP stays raw text.
//! - [`parse_cp`] / [`CpData::render`]: `DataTime` and per-pollutant values, kept as text.
//! - [`split_packets`] / [`join_packets`]: messages spread over several frames (`PNUM`/`PNO`).
//! - [`FrameError::reason_code`]: the short reason a rejected frame is dead-lettered with.
//! - [`stream::Deframer`]: frames cut out of a byte stream (a logger's TCP connection).
//! - [`reply`]: the platform's responses (9014 data, 9013 notice, 9011 request, 9012 result).
//!
//! Codes (ST, CN, pollutant codes, data flags) are carried, not interpreted: mapping them to
//! stations and parameters is the registry's job.

pub mod crc;
pub mod reply;
pub mod stream;

mod cp;
mod error;
mod flag;
mod frame;
mod packets;

#[cfg(test)]
mod tests;

pub use cp::{CpData, CpItem, parse_cp};
pub use error::FrameError;
pub use flag::{Flag, Version};
pub use frame::{Frame, MAX_MN_LEN, MAX_PACKETS, MAX_SEGMENT_LEN};
pub use packets::{join_packets, split_packets};
