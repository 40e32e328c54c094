//! The HJ 212 checksum: the CRC16 every frame carries over its data segment.
//!
//! The standard's algorithm looks like CRC-16/MODBUS (same reflected polynomial 0xA001, same
//! 0xFFFF start) but folds each byte in as `(crc >> 8) ^ byte` instead of `crc ^ byte`. The two
//! give different results, and some public parsers use MODBUS by mistake, so the difference is
//! pinned by tests against the standard's own example.

/// Computes the HJ 212 CRC16 of `data`, the bytes of a frame's data segment.
///
/// The frame carries the result as 4 hexadecimal digits. Bytes are taken as unsigned, so
/// non-ASCII text in CP (UTF-8) gives the same value as implementations that use `u8`; the C
/// reference that uses `signed char` would differ on such bytes.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc = (crc >> 8) ^ u16::from(byte);
        for _ in 0..8 {
            let lsb = crc & 1;
            crc >>= 1;
            if lsb != 0 {
                crc ^= 0xA001;
            }
        }
    }
    crc
}
