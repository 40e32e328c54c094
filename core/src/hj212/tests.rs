//! Tests of the HJ 212 codec against the reference sheet's vectors and rules.

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use super::crc::crc16;
use super::*;

/// The standard's own example data segment (reference §6.2), CRC 1C80.
const STANDARD_SEGMENT: &str = "QN=20160801085857223;ST=32;CN=1062;PW=100000;\
MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&";

/// A real-world data segment from public code (reference §6.2), CRC D581.
const D581_SEGMENT: &str = "QN=20180519013039400;ST=32;CN=2061;PW=123456;MN=88888880000020;\
Flag=3;CP=&&BeginTime=20180518070000,EndTime=20180518070000&&";

/// The standard's example as a complete frame.
const STANDARD_FRAME: &str = "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;\
MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";

/// An hourly (CN 2061) surface-water upload as a Lalin River section would send it.
const HOURLY_SEGMENT: &str = "QN=20250610080000123;ST=21;CN=2061;PW=123456;\
MN=LLH0000CJG000001;Flag=4;CP=&&DataTime=20250610070000;\
w01010-Avg=18.6,w01010-Min=18.2,w01010-Max=19.1,w01010-Flag=N;\
w01001-Avg=7.42,w01001-Min=7.35,w01001-Max=7.51,w01001-Flag=N;\
w01009-Avg=8.15,w01009-Min=7.90,w01009-Max=8.40,w01009-Flag=N;\
w21003-Avg=0.412,w21003-Min=0.388,w21003-Max=0.437,w21003-Flag=N;\
w21011-Avg=0.082,w21011-Min=0.075,w21011-Max=0.091,w21011-Flag=M&&";

/// Frames `segment` with a correct length and CRC; the CRC itself is checked against the
/// reference vectors in `crc_matches_reference_vectors`.
fn wrap(segment: &str) -> Vec<u8> {
    wrap_bytes(segment.as_bytes())
}

fn wrap_bytes(segment: &[u8]) -> Vec<u8> {
    let mut frame = format!("##{:04}", segment.len()).into_bytes();
    frame.extend_from_slice(segment);
    frame.extend_from_slice(format!("{:04X}\r\n", crc16(segment)).as_bytes());
    frame
}

fn decode_segment(segment: &str) -> Result<Frame, FrameError> {
    Frame::decode(&wrap(segment))
}

fn with_flag(flag: &str) -> String {
    format!("QN=20250610080000123;ST=21;CN=2011;PW=123456;MN=LLH0000CJG000001;{flag}CP=&&&&")
}

fn time(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|date| date.and_hms_opt(h, mi, s))
        .expect("valid test time")
}

fn sample_frame(flag: Flag) -> Frame {
    Frame {
        qn: Some("20250610080000123".into()),
        st: "21".into(),
        cn: "2011".into(),
        pw: "123456".into(),
        mn: "LLH0000CJG000001".into(),
        flag,
        pnum: None,
        pno: None,
        cp: "DataTime=20250610075900;w01010-Rtd=18.6,w01010-Flag=N".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// CRC

/// CRC-16/MODBUS, the algorithm some public parsers wrongly use: `crc ^= byte`.
fn crc16_modbus(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte);
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

#[test]
fn crc_matches_reference_vectors() {
    assert_eq!(STANDARD_SEGMENT.len(), 101);
    assert_eq!(crc16(STANDARD_SEGMENT.as_bytes()), 0x1C80);
    assert_eq!(D581_SEGMENT.len(), 124);
    assert_eq!(crc16(D581_SEGMENT.as_bytes()), 0xD581);
}

#[test]
fn crc_is_not_modbus() {
    assert_eq!(crc16_modbus(STANDARD_SEGMENT.as_bytes()), 0x0759);
    assert_ne!(crc16(STANDARD_SEGMENT.as_bytes()), 0x0759);
}

#[test]
fn crc_of_nothing_is_the_initial_value() {
    assert_eq!(crc16(b""), 0xFFFF);
}

// ---------------------------------------------------------------------------------------------
// Flag and Version

#[test]
fn flag_bits_follow_the_reference_layout() {
    let cases = [
        (0, Ok(Version::Hj212_2005), false, false),
        (1, Ok(Version::Hj212_2005), true, false),
        (3, Ok(Version::Hj212_2005), true, true),
        (4, Ok(Version::Hj212_2017), false, false),
        (5, Ok(Version::Hj212_2017), true, false),
        (6, Ok(Version::Hj212_2017), false, true),
        (8, Ok(Version::Hj212_2025), false, false),
        (9, Ok(Version::Hj212_2025), true, false),
        (12, Err(3), false, false),
        (255, Err(63), true, true),
    ];
    for (bits, version, ack, packetized) in cases {
        let flag = Flag(bits);
        assert_eq!(flag.version(), version, "Flag={bits}");
        assert_eq!(flag.ack_required(), ack, "Flag={bits}");
        assert_eq!(flag.packetized(), packetized, "Flag={bits}");
    }
}

#[test]
fn flag_new_builds_the_field_value() {
    assert_eq!(Flag::new(Version::Hj212_2005, false, false), Flag(0));
    assert_eq!(Flag::new(Version::Hj212_2005, true, false), Flag(1));
    assert_eq!(Flag::new(Version::Hj212_2017, false, false), Flag(4));
    assert_eq!(Flag::new(Version::Hj212_2017, true, false), Flag(5));
    assert_eq!(Flag::new(Version::Hj212_2017, false, true), Flag(6));
    assert_eq!(Flag::new(Version::Hj212_2025, false, false), Flag(8));
    assert_eq!(Flag::new(Version::Hj212_2025, true, true), Flag(11));
    assert_eq!(Flag(5).with_packetized(true), Flag(7));
    assert_eq!(Flag(7).with_packetized(false), Flag(5));
}

#[test]
fn versions_have_codes_and_names() {
    for version in Version::ALL {
        assert_eq!(Version::from_code(version.code()), Some(version));
        assert_eq!(Flag::new(version, false, false).version(), Ok(version));
    }
    assert_eq!(Version::from_code(3), None);
    assert_eq!(Version::Hj212_2005.to_string(), "HJ/T 212-2005");
    assert_eq!(Version::Hj212_2017.to_string(), "HJ 212-2017");
    assert_eq!(Version::Hj212_2025.to_string(), "HJ 212-2025");
}

// ---------------------------------------------------------------------------------------------
// Decoding: the standard's example and framing tolerance

#[test]
fn decodes_the_standard_example() {
    let frame = Frame::decode(STANDARD_FRAME.as_bytes()).expect("standard example decodes");
    assert_eq!(frame.qn.as_deref(), Some("20160801085857223"));
    assert_eq!(frame.st, "32");
    assert_eq!(frame.cn, "1062");
    assert_eq!(frame.pw, "100000");
    assert_eq!(frame.mn, "010000A8900016F000169DC0");
    assert_eq!(frame.flag, Flag(5));
    assert_eq!(frame.flag.version(), Ok(Version::Hj212_2017));
    assert!(frame.flag.ack_required());
    assert_eq!((frame.pnum, frame.pno), (None, None));
    assert_eq!(frame.cp, "RtdInterval=30");
    assert_eq!(frame.data_segment(), STANDARD_SEGMENT);
    assert_eq!(frame.encode(), STANDARD_FRAME);
}

#[test]
fn real_world_d581_frame_passes_crc_but_lacks_packet_numbers() {
    // Flag=3 sets the packet-split bit, yet the frame has no PNUM/PNO.
    let frame = format!("##0124{D581_SEGMENT}D581\r\n");
    assert_eq!(
        Frame::decode(frame.as_bytes()),
        Err(FrameError::MissingField("PNUM"))
    );
}

#[test]
fn lower_case_crc_is_accepted() {
    let frame = STANDARD_FRAME.replace("1C80", "1c80");
    assert!(Frame::decode(frame.as_bytes()).is_ok());
}

#[test]
fn missing_trailer_is_accepted() {
    let frame = STANDARD_FRAME.trim_end_matches("\r\n");
    let decoded = Frame::decode(frame.as_bytes()).expect("frame without CR LF decodes");
    assert_eq!(decoded.mn, "010000A8900016F000169DC0");
}

#[test]
fn trailing_garbage_is_rejected() {
    let after_trailer = format!("{STANDARD_FRAME}xyz");
    let err = Frame::decode(after_trailer.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        FrameError::BadTrailer {
            found: "xyz".into()
        }
    );
    assert_eq!(err.reason_code(), "malformed_frame");

    let doubled = format!("{STANDARD_FRAME}\r\n");
    assert!(matches!(
        Frame::decode(doubled.as_bytes()),
        Err(FrameError::BadTrailer { .. })
    ));

    // Without a CR LF the extra bytes cannot be told from the segment: the length is wrong.
    let unterminated = format!("{}xyz", STANDARD_FRAME.trim_end_matches("\r\n"));
    assert_eq!(
        Frame::decode(unterminated.as_bytes()),
        Err(FrameError::LengthMismatch {
            declared: 101,
            actual: 104
        })
    );
}

#[test]
fn declared_length_off_by_one_is_a_length_mismatch() {
    for (declared, field) in [(100, "0100"), (102, "0102")] {
        let frame = STANDARD_FRAME.replace("##0101", &format!("##{field}"));
        let err = Frame::decode(frame.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            FrameError::LengthMismatch {
                declared,
                actual: 101
            }
        );
        assert_eq!(err.reason_code(), "length_mismatch");
    }
}

/// A data segment of exactly `len` bytes, padded inside CP.
fn segment_of_len(len: usize) -> String {
    let head = "QN=20250610080000123;ST=21;CN=2011;PW=123456;MN=LLH0000CJG000001;Flag=4;\
                CP=&&RtdInterval=";
    let pad = len - head.len() - "&&".len();
    format!("{head}{}&&", "3".repeat(pad))
}

#[test]
fn segment_over_1024_bytes_is_rejected_as_length_mismatch() {
    let at_limit = segment_of_len(1024);
    assert_eq!(at_limit.len(), 1024);
    assert!(decode_segment(&at_limit).is_ok());

    let over = segment_of_len(1025);
    assert_eq!(over.len(), 1025);
    let err = decode_segment(&over).unwrap_err();
    assert_eq!(
        err,
        FrameError::SegmentTooLong {
            length: 1025,
            max: 1024
        }
    );
    assert_eq!(err.reason_code(), "length_mismatch");

    assert!(Frame::decode_with_limit(&wrap(&over), 2048).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Decoding: versions and header fields

#[test]
fn flag_values_decode_to_their_versions() {
    let cases = [
        ("Flag=0;", Version::Hj212_2005, false),
        ("Flag=1;", Version::Hj212_2005, true),
        ("Flag=4;", Version::Hj212_2017, false),
        ("Flag=5;", Version::Hj212_2017, true),
        ("Flag=8;", Version::Hj212_2025, false),
        ("Flag=9;", Version::Hj212_2025, true),
    ];
    for (flag, version, ack) in cases {
        let frame = decode_segment(&with_flag(flag)).expect(flag);
        assert_eq!(frame.flag.version(), Ok(version), "{flag}");
        assert_eq!(frame.flag.ack_required(), ack, "{flag}");
    }
}

#[test]
fn version_3_is_unsupported() {
    let err = decode_segment(&with_flag("Flag=12;")).unwrap_err();
    assert_eq!(err, FrameError::UnsupportedVersion(3));
    assert_eq!(err.reason_code(), "unsupported_version");
    assert!(err.to_string().contains("version 3"));
}

#[test]
fn frame_without_flag_is_hjt_212_2005() {
    let frame = decode_segment(&with_flag("")).expect("frame without Flag decodes");
    assert_eq!(frame.flag, Flag(0));
    assert_eq!(frame.flag.version(), Ok(Version::Hj212_2005));
    assert!(!frame.flag.ack_required());
}

#[test]
fn header_fields_in_any_order_and_unknown_ones_are_read() {
    let frame =
        decode_segment("MN=LLH0000CJG000001;Flag=4;Vendor=acme;CN=2011;ST=21;CP=&&&&").unwrap();
    assert_eq!(frame.qn, None);
    assert_eq!(frame.st, "21");
    assert_eq!(frame.cn, "2011");
    assert_eq!(frame.pw, "", "absent PW reads as empty");
    assert_eq!(frame.mn, "LLH0000CJG000001");
    assert_eq!(frame.cp, "");
}

#[test]
fn packetized_frames_need_valid_packet_numbers() {
    let frame = decode_segment(&with_flag("Flag=6;PNUM=3;PNO=2;")).unwrap();
    assert_eq!((frame.pnum, frame.pno), (Some(3), Some(2)));

    assert_eq!(
        decode_segment(&with_flag("Flag=6;PNUM=3;")),
        Err(FrameError::MissingField("PNO"))
    );
    for (fields, name) in [
        ("Flag=6;PNUM=3;PNO=4;", "PNO"),
        ("Flag=6;PNUM=3;PNO=0;", "PNO"),
        ("Flag=6;PNUM=0;PNO=0;", "PNUM"),
        ("Flag=6;PNUM=10000;PNO=1;", "PNUM"),
        ("Flag=6;PNUM=+3;PNO=1;", "PNUM"),
    ] {
        let err = decode_segment(&with_flag(fields)).unwrap_err();
        assert!(
            matches!(&err, FrameError::BadField { name: n, .. } if n == name),
            "{fields}: {err:?}"
        );
        assert_eq!(err.reason_code(), "malformed_frame");
    }

    // Without the split bit the packet fields carry no meaning.
    let frame = decode_segment(&with_flag("Flag=4;PNUM=3;PNO=2;")).unwrap();
    assert_eq!((frame.pnum, frame.pno), (None, None));
}

#[test]
fn mn_is_limited_to_24_characters() {
    let ok = with_flag("Flag=4;").replace("LLH0000CJG000001", &"M".repeat(24));
    assert!(decode_segment(&ok).is_ok());
    let long = with_flag("Flag=4;").replace("LLH0000CJG000001", &"M".repeat(25));
    assert!(matches!(
        decode_segment(&long),
        Err(FrameError::BadField { name, .. }) if name == "MN"
    ));
}

#[test]
fn utf8_is_allowed_in_cp_only() {
    let frame =
        decode_segment("ST=21;CN=2011;MN=LLH0000CJG000001;Flag=4;CP=&&i11001-Info=设备正常&&")
            .unwrap();
    assert_eq!(frame.cp, "i11001-Info=设备正常");

    let err = decode_segment("ST=21;CN=2011;MN=拉林河;Flag=4;CP=&&&&").unwrap_err();
    assert!(matches!(&err, FrameError::BadField { name, .. } if name == "MN"));
    assert_eq!(err.reason_code(), "malformed_frame");

    let mut bytes = b"ST=21;CN=2011;MN=LLH0000CJG000001;Flag=4;CP=&&i11001-Info=".to_vec();
    let offset = bytes.len();
    bytes.extend_from_slice(&[0xC9, 0xE8, 0xB1, 0xB8]); // GBK, not UTF-8
    bytes.extend_from_slice(b"&&");
    assert_eq!(
        Frame::decode(&wrap_bytes(&bytes)),
        Err(FrameError::NotUtf8 { offset })
    );
}

// ---------------------------------------------------------------------------------------------
// Errors: one frame per kind, and the order in which they are reported

#[test]
fn each_error_kind_has_its_reason_code() {
    let standard = STANDARD_FRAME;
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            standard.replacen("##", "#", 1).into_bytes(),
            "MissingHeader",
            "malformed_frame",
        ),
        (
            standard.replacen("0101", "01a1", 1).into_bytes(),
            "BadLengthDigits",
            "malformed_frame",
        ),
        (b"##01".to_vec(), "BadLengthDigits", "malformed_frame"),
        (
            standard.replacen("0101", "0099", 1).into_bytes(),
            "LengthMismatch",
            "length_mismatch",
        ),
        (
            wrap(&segment_of_len(1100)),
            "SegmentTooLong",
            "length_mismatch",
        ),
        (
            standard.replace("1C80", "1G80").into_bytes(),
            "BadCrcDigits",
            "malformed_frame",
        ),
        (b"##0000".to_vec(), "BadCrcDigits", "malformed_frame"),
        (
            standard.replace("1C80", "1C81").into_bytes(),
            "CrcMismatch",
            "crc_mismatch",
        ),
        (
            format!("{standard}##").into_bytes(),
            "BadTrailer",
            "malformed_frame",
        ),
        (
            wrap("ST=21;CN=2011;Flag=4;CP=&&&&"),
            "MissingField",
            "malformed_frame",
        ),
        (
            wrap("ST=21;CN=2011;MN=X;Flag=4"),
            "MissingField",
            "malformed_frame",
        ),
        (
            wrap("ST=2;CN=2011;MN=X;Flag=4;CP=&&&&"),
            "BadField",
            "malformed_frame",
        ),
        (
            wrap("ST=21;CN=2011;MN=X;Flag=99x;CP=&&&&"),
            "BadField",
            "malformed_frame",
        ),
        (
            wrap("ST=21;CN=2011;MN=X;Flag=256;CP=&&&&"),
            "BadField",
            "malformed_frame",
        ),
        (
            wrap("QN=2025;ST=21;CN=2011;MN=X;CP=&&&&"),
            "BadField",
            "malformed_frame",
        ),
        (
            wrap("ST=21;ST=22;CN=2011;MN=X;CP=&&&&"),
            "BadField",
            "malformed_frame",
        ),
        (
            wrap("ST=21;junk;CN=2011;MN=X;CP=&&&&"),
            "BadField",
            "malformed_frame",
        ),
        (
            wrap("ST=21;CN=2011;MN=X;Flag=16;CP=&&&&"),
            "UnsupportedVersion",
            "unsupported_version",
        ),
        (
            wrap_bytes(b"ST=21;CN=2011;MN=X;CP=&&\xFF&&"),
            "NotUtf8",
            "malformed_frame",
        ),
        (
            wrap("ST=21;CN=2011;MN=X;CP=&&w01010-Rtd=1"),
            "MalformedCp",
            "malformed_frame",
        ),
        (
            wrap("ST=21;CN=2011;MN=X;CP=w01010-Rtd=1&&"),
            "MalformedCp",
            "malformed_frame",
        ),
    ];
    for (bytes, kind, reason) in cases {
        let err = Frame::decode(&bytes).unwrap_err();
        let variant = format!("{err:?}");
        assert!(
            variant.starts_with(kind),
            "{}: expected {kind}, got {variant}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(err.reason_code(), reason, "{variant}");
        assert!(FrameError::REASON_CODES.contains(&err.reason_code()));
        assert!(!err.is_retryable());
    }

    let cp_err = parse_cp("w01010-Avg").unwrap_err();
    assert!(matches!(cp_err, FrameError::MalformedCp { .. }));
    assert_eq!(cp_err.reason_code(), "malformed_frame");

    let join_err = join_packets(&[]).unwrap_err();
    assert!(matches!(join_err, FrameError::BadPacketSet { .. }));
    assert_eq!(join_err.reason_code(), "malformed_frame");
}

#[test]
fn errors_are_reported_in_check_order() {
    // Wrong length and wrong CRC: the length is reported.
    let frame = STANDARD_FRAME
        .replace("##0101", "##0100")
        .replace("1C80", "0000");
    assert_eq!(
        Frame::decode(frame.as_bytes()).unwrap_err().reason_code(),
        "length_mismatch"
    );
    // Wrong CRC and a missing field: the CRC is reported.
    let segment = "ST=21;CN=2011;Flag=4;CP=&&&&";
    let frame = format!("##{:04}{segment}0000\r\n", segment.len());
    assert_eq!(
        Frame::decode(frame.as_bytes()).unwrap_err().reason_code(),
        "crc_mismatch"
    );
    // A bad field and an unsupported version: the field is reported.
    let err = decode_segment("ST=21;CN=20;MN=X;Flag=12;CP=&&&&").unwrap_err();
    assert!(matches!(err, FrameError::BadField { .. }), "{err:?}");
    // A missing header beats everything.
    assert!(matches!(
        Frame::decode(b"xx9999garbage"),
        Err(FrameError::MissingHeader { .. })
    ));
}

#[test]
fn error_messages_show_offending_values() {
    let err = Frame::decode(STANDARD_FRAME.replace("1C80", "1C81").as_bytes()).unwrap_err();
    assert_eq!(
        err,
        FrameError::CrcMismatch {
            declared: 0x1C81,
            computed: 0x1C80
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("1C81") && message.contains("1C80"),
        "{message}"
    );

    let message = Frame::decode(STANDARD_FRAME.replace("##0101", "##0100").as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("100") && message.contains("101"),
        "{message}"
    );

    let long_mn = "M".repeat(500);
    let err = decode_segment(&format!("ST=21;CN=2011;MN={long_mn};CP=&&&&")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("MN") && message.contains('…'), "{message}");
    assert!(message.len() < 200, "{message}");
}

// ---------------------------------------------------------------------------------------------
// Encoding

#[test]
fn encode_decode_round_trips_for_every_version() {
    for version in Version::ALL {
        for ack in [false, true] {
            let frame = sample_frame(Flag::new(version, ack, false));
            let encoded = frame.encode();
            assert!(encoded.starts_with("##") && encoded.ends_with("\r\n"));
            assert_eq!(
                Frame::decode(encoded.as_bytes()),
                Ok(frame.clone()),
                "{encoded}"
            );

            let packet = Frame {
                flag: Flag::new(version, ack, true),
                pnum: Some(12),
                pno: Some(7),
                ..frame
            };
            assert_eq!(Frame::decode(packet.encode().as_bytes()), Ok(packet));
        }
    }
}

#[test]
fn encode_writes_the_standard_field_order() {
    let frame = Frame {
        flag: Flag::new(Version::Hj212_2025, false, true),
        pnum: Some(2),
        pno: Some(1),
        ..sample_frame(Flag::default())
    };
    let segment = "QN=20250610080000123;ST=21;CN=2011;PW=123456;MN=LLH0000CJG000001;Flag=10;\
                   PNUM=2;PNO=1;CP=&&DataTime=20250610075900;w01010-Rtd=18.6,w01010-Flag=N&&";
    assert_eq!(frame.data_segment(), segment);
    let encoded = frame.encode();
    assert_eq!(&encoded[..6], format!("##{:04}", segment.len()));
    let crc = &encoded[encoded.len() - 6..encoded.len() - 2];
    assert_eq!(u16::from_str_radix(crc, 16), Ok(crc16(segment.as_bytes())));
    assert_eq!(crc, crc.to_uppercase());
}

#[test]
fn old_2005_frames_carry_their_own_codes() {
    let frame = Frame {
        qn: None,
        st: "32".into(),
        cn: "2011".into(),
        pw: "123456".into(),
        mn: "88888880000001".into(),
        flag: Flag::new(Version::Hj212_2005, false, false),
        pnum: None,
        pno: None,
        cp: "DataTime=20051113140000;011-Rtd=35.2,011-Flag=N;060-Rtd=1.26,060-Flag=N".into(),
    };
    let decoded = Frame::decode(frame.encode().as_bytes()).unwrap();
    assert_eq!(decoded, frame);
    let data = decoded.cp_data().unwrap();
    assert_eq!(data.items[0].code, "011");
    assert_eq!(data.items[0].value_for_cn("2011"), Some(("Rtd", "35.2")));
    assert_eq!(data.items[1].code, "060");
    assert_eq!(data.items[1].rtd.as_deref(), Some("1.26"));
}

#[test]
fn validate_rejects_inconsistent_hand_built_frames() {
    let stray_pnum = Frame {
        pnum: Some(2),
        pno: Some(1),
        ..sample_frame(Flag(4))
    };
    assert!(matches!(
        stray_pnum.validate(),
        Err(FrameError::BadField { name, .. }) if name == "PNUM"
    ));
    let semicolon_pw = Frame {
        pw: "12;456".into(),
        ..sample_frame(Flag(4))
    };
    assert!(semicolon_pw.validate().is_err());
    let broken_cp = Frame {
        cp: "a=1\r\nb=2".into(),
        ..sample_frame(Flag(4))
    };
    assert!(matches!(
        broken_cp.validate(),
        Err(FrameError::MalformedCp { .. })
    ));
    assert_eq!(sample_frame(Flag(4)).validate(), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// CP

#[test]
fn hourly_surface_water_frame_is_read_field_by_field() {
    let frame = decode_segment(HOURLY_SEGMENT).expect("hourly frame decodes");
    assert_eq!(frame.st, "21");
    assert_eq!(frame.cn, "2061");
    assert_eq!(frame.mn, "LLH0000CJG000001");
    assert_eq!(frame.flag.version(), Ok(Version::Hj212_2017));
    assert!(!frame.flag.ack_required());

    let data = frame.cp_data().expect("CP parses");
    assert_eq!(data.data_time, Some(time(2025, 6, 10, 7, 0, 0)));
    assert!(data.extra.is_empty());
    let expected = [
        ("w01010", "18.6", "18.2", "19.1", "N"),
        ("w01001", "7.42", "7.35", "7.51", "N"),
        ("w01009", "8.15", "7.90", "8.40", "N"),
        ("w21003", "0.412", "0.388", "0.437", "N"),
        ("w21011", "0.082", "0.075", "0.091", "M"),
    ];
    assert_eq!(data.items.len(), expected.len());
    for (item, (code, avg, min, max, flag)) in data.items.iter().zip(expected) {
        assert_eq!(item.code, code);
        assert_eq!(item.avg.as_deref(), Some(avg), "{code}");
        assert_eq!(item.min.as_deref(), Some(min), "{code}");
        assert_eq!(item.max.as_deref(), Some(max), "{code}");
        assert_eq!(item.flag.as_deref(), Some(flag), "{code}");
        assert_eq!(item.rtd, None, "{code}");
        assert_eq!(item.cou, None, "{code}");
        assert!(item.extra.is_empty(), "{code}");
        assert_eq!(item.value_for_cn(&frame.cn), Some(("Avg", avg)));
    }
    assert_eq!(frame.encode().into_bytes(), wrap(HOURLY_SEGMENT));
}

#[test]
fn empty_cp_is_empty_data() {
    assert_eq!(parse_cp(""), Ok(CpData::default()));
    assert_eq!(CpData::default().render(), "");
}

#[test]
fn cp_keeps_extra_fields_and_suffixes() {
    let data = parse_cp(
        "DataTime=20250610070000;RtdInterval=30;a34004-Rtd=35,a34004-ZsRtd=36,a34004-Flag=N;",
    )
    .unwrap();
    assert_eq!(data.extra, vec![("RtdInterval".into(), "30".into())]);
    assert_eq!(data.items.len(), 1);
    let item = &data.items[0];
    assert_eq!(item.code, "a34004");
    assert_eq!(item.rtd.as_deref(), Some("35"));
    assert_eq!(item.flag.as_deref(), Some("N"));
    assert_eq!(item.extra, vec![("ZsRtd".into(), "36".into())]);

    let request = parse_cp("BeginTime=20180518070000,EndTime=20180518070000").unwrap();
    assert_eq!(request.data_time, None);
    assert_eq!(
        request.extra,
        vec![
            ("BeginTime".into(), "20180518070000".into()),
            ("EndTime".into(), "20180518070000".into())
        ]
    );
}

#[test]
fn cp_values_are_kept_as_sent() {
    let data = parse_cp("w01001-Rtd=abc;w01009-Rtd=;w21003-Rtd=-0.5").unwrap();
    let rtd: Vec<_> = data.items.iter().map(|item| item.rtd.as_deref()).collect();
    assert_eq!(rtd, [Some("abc"), Some(""), Some("-0.5")]);
}

#[test]
fn fields_of_one_code_are_gathered() {
    let data = parse_cp("w01010-Rtd=18.6;w01001-Rtd=7.4;w01010-Flag=N").unwrap();
    assert_eq!(data.items.len(), 2);
    assert_eq!(data.items[0].rtd.as_deref(), Some("18.6"));
    assert_eq!(data.items[0].flag.as_deref(), Some("N"));
}

#[test]
fn malformed_cp_is_rejected() {
    for cp in [
        "DataTime=2025061007000",
        "DataTime=20251310070000",
        "DataTime=20250610250000",
        "DataTime=2025O610070000",
        "DataTime=20250610070000;DataTime=20250610070000",
        "w01010-Rtd",
        "w01010-Rtd=1,w01010",
        "=5",
        "-Rtd=5",
        "w01010-=5",
        "w01010-Rtd=1,w01010-Rtd=2",
        "w01010-ZsRtd=1,w01010-ZsRtd=2",
    ] {
        let err = parse_cp(cp).unwrap_err();
        assert!(
            matches!(err, FrameError::MalformedCp { .. }),
            "{cp}: {err:?}"
        );
        assert_eq!(err.reason_code(), "malformed_frame");
    }
}

#[test]
fn value_for_cn_picks_the_suffix_of_the_command() {
    let both = CpItem {
        rtd: Some("1.0".into()),
        avg: Some("2.0".into()),
        ..CpItem::new("w21003")
    };
    assert_eq!(both.value_for_cn("2011"), Some(("Rtd", "1.0")));
    for cn in ["2051", "2061", "2031"] {
        assert_eq!(both.value_for_cn(cn), Some(("Avg", "2.0")), "{cn}");
    }
    assert_eq!(both.value_for_cn("9014"), None);

    let rtd_only = CpItem {
        rtd: Some("1.0".into()),
        ..CpItem::new("w21003")
    };
    assert_eq!(rtd_only.value_for_cn("2061"), Some(("Rtd", "1.0")));

    let avg_only = CpItem {
        avg: Some("2.0".into()),
        ..CpItem::new("w21003")
    };
    assert_eq!(avg_only.value_for_cn("2011"), None);
}

#[test]
fn render_uses_the_stable_order() {
    let data = CpData {
        data_time: Some(time(2025, 6, 10, 7, 0, 0)),
        items: vec![
            CpItem {
                flag: Some("N".into()),
                cou: Some("5".into()),
                max: Some("4".into()),
                min: Some("3".into()),
                avg: Some("2".into()),
                rtd: Some("1".into()),
                extra: vec![("ZsRtd".into(), "9".into())],
                ..CpItem::new("w01018")
            },
            CpItem::new("w00000"),
            CpItem {
                avg: Some("0.4".into()),
                ..CpItem::new("w21003")
            },
        ],
        extra: vec![("RtdInterval".into(), "30".into())],
    };
    assert_eq!(
        data.render(),
        "DataTime=20250610070000;RtdInterval=30;w01018-Rtd=1,w01018-Avg=2,w01018-Min=3,\
         w01018-Max=4,w01018-Cou=5,w01018-Flag=N,w01018-ZsRtd=9;w21003-Avg=0.4"
    );
    let reparsed = parse_cp(&data.render()).unwrap();
    let without_empty = CpData {
        items: data
            .items
            .iter()
            .filter(|item| item.fields().next().is_some())
            .cloned()
            .collect(),
        ..data
    };
    assert_eq!(reparsed, without_empty);
}

// ---------------------------------------------------------------------------------------------
// Packets

fn ten_item_data() -> CpData {
    let codes = [
        "w01010", "w01001", "w01009", "w01014", "w01003", "w01019", "w01018", "w21003", "w21011",
        "w21001",
    ];
    CpData {
        data_time: Some(time(2025, 6, 10, 7, 0, 0)),
        items: codes
            .iter()
            .enumerate()
            .map(|(i, code)| CpItem {
                avg: Some(format!("{i}.25")),
                min: Some(format!("{i}.10")),
                max: Some(format!("{i}.40")),
                flag: Some("N".into()),
                ..CpItem::new(*code)
            })
            .collect(),
        extra: Vec::new(),
    }
}

fn hourly_template() -> Frame {
    Frame {
        cn: "2061".into(),
        cp: String::new(),
        ..sample_frame(Flag::new(Version::Hj212_2017, true, false))
    }
}

#[test]
fn split_and_join_round_trip() {
    let data = ten_item_data();
    let template = hourly_template();
    let max = 250;
    let packets = split_packets(&template, &data, max);
    assert!(packets.len() > 1, "{} packets", packets.len());

    let pnum = u32::try_from(packets.len()).unwrap();
    let mut received = Vec::new();
    for (packet, pno) in packets.iter().zip(1..) {
        assert!(
            packet.data_segment().len() <= max,
            "{}",
            packet.data_segment()
        );
        assert!(packet.flag.packetized());
        assert!(packet.flag.ack_required(), "ack bit is kept");
        assert_eq!(packet.flag.version(), Ok(Version::Hj212_2017));
        assert_eq!((packet.pnum, packet.pno), (Some(pnum), Some(pno)));
        assert_eq!((&packet.mn, &packet.qn), (&template.mn, &template.qn));
        let part = packet.cp_data().unwrap();
        assert_eq!(part.data_time, data.data_time, "PNO {pno} repeats DataTime");
        assert!(!part.items.is_empty());
        received.push(Frame::decode(packet.encode().as_bytes()).expect("packet decodes"));
    }
    assert_eq!(join_packets(&received), Ok(data.clone()));

    received.reverse();
    assert_eq!(join_packets(&received), Ok(data));
}

#[test]
fn split_keeps_a_small_message_in_one_frame() {
    let data = ten_item_data();
    let packets = split_packets(&hourly_template(), &data, MAX_SEGMENT_LEN);
    assert_eq!(packets.len(), 1);
    let frame = &packets[0];
    assert!(!frame.flag.packetized());
    assert_eq!((frame.pnum, frame.pno), (None, None));
    assert_eq!(frame.cp, data.render());
    assert_eq!(join_packets(&packets), Ok(data));
}

#[test]
fn split_gives_an_item_too_large_for_any_packet_its_own_packet() {
    let data = ten_item_data();
    let packets = split_packets(&hourly_template(), &data, 0);
    assert_eq!(packets.len(), 10);
    assert!(packets.iter().all(|packet| packet.pnum == Some(10)));
    assert!(
        packets
            .iter()
            .all(|packet| packet.cp_data().unwrap().items.len() == 1)
    );
    assert_eq!(join_packets(&packets), Ok(data));
}

#[test]
fn split_puts_extra_fields_in_the_first_packet() {
    let data = CpData {
        extra: vec![("RtdInterval".into(), "30".into())],
        ..ten_item_data()
    };
    let packets = split_packets(&hourly_template(), &data, 250);
    assert!(packets.len() > 1);
    assert_eq!(packets[0].cp_data().unwrap().extra, data.extra);
    assert!(
        packets[1..]
            .iter()
            .all(|p| p.cp_data().unwrap().extra.is_empty())
    );
    assert_eq!(join_packets(&packets), Ok(data));
}

#[test]
fn join_rejects_incomplete_or_mixed_sets() {
    let packets = split_packets(&hourly_template(), &ten_item_data(), 250);
    assert!(packets.len() >= 3);

    let missing: Vec<_> = packets
        .iter()
        .filter(|p| p.pno != Some(2))
        .cloned()
        .collect();
    assert_eq!(
        join_packets(&missing),
        Err(FrameError::BadPacketSet {
            why: "packet missing",
            pno: Some(2)
        })
    );

    let mut doubled = packets.clone();
    doubled[1] = doubled[0].clone();
    assert!(matches!(
        join_packets(&doubled),
        Err(FrameError::BadPacketSet { pno: Some(1), .. })
    ));

    let truncated = &packets[..packets.len() - 1];
    assert!(matches!(
        join_packets(truncated),
        Err(FrameError::BadPacketSet { .. })
    ));

    let mut other_station = packets.clone();
    other_station[1].mn = "LLH0000WCH000002".into();
    assert!(matches!(
        join_packets(&other_station),
        Err(FrameError::BadPacketSet { .. })
    ));

    let mut other_time = packets.clone();
    let mut part = other_time[1].cp_data().unwrap();
    part.data_time = Some(time(2025, 6, 10, 8, 0, 0));
    other_time[1].cp = part.render();
    let err = join_packets(&other_time).unwrap_err();
    assert!(
        matches!(err, FrameError::BadPacketSet { pno: Some(2), .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("PNO 2"), "{err}");

    let mut unpacketized = packets;
    unpacketized[0] = sample_frame(Flag(4));
    assert!(matches!(
        join_packets(&unpacketized),
        Err(FrameError::BadPacketSet { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Characters that make up frames, so random text reaches past the first checks.
const FRAME_ALPHABET: &str = "[#0-9A-Fa-f;=&,CPQNSTMWlagPNUOR\\-\r\n]";

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match *mutation {
        Mutation::Replace(at, b) => {
            if let Some(slot) = bytes.get_mut(at % len) {
                *slot = b;
            }
        }
        Mutation::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
        Mutation::Remove(at) => {
            if !bytes.is_empty() {
                bytes.remove(at % len);
            }
        }
        Mutation::Truncate(at) => bytes.truncate(at % len),
    }
}

fn cp_item() -> impl Strategy<Value = CpItem> {
    let value = || proptest::option::of("[0-9.\\-]{0,8}");
    (
        "[a-z][0-9]{5}",
        (value(), value(), value(), value(), value()),
        proptest::option::of("[NFMSDCTB]"),
        proptest::collection::btree_map("Zs[A-Z][a-z]{1,4}", "[0-9.]{1,6}", 0..2),
    )
        .prop_map(|(code, (rtd, avg, min, max, cou), flag, extra)| CpItem {
            code,
            rtd,
            avg,
            min,
            max,
            cou,
            flag,
            extra: extra.into_iter().collect(),
        })
        .prop_filter("item has a field", |item| item.fields().next().is_some())
}

fn cp_data() -> impl Strategy<Value = CpData> {
    (
        proptest::option::of((0i64..4_000_000_000).prop_map(|secs| {
            chrono::DateTime::from_timestamp(secs, 0)
                .expect("in range")
                .naive_utc()
        })),
        proptest::collection::vec(cp_item(), 0..25),
        proptest::collection::vec(("[A-Z][a-z]{2,10}", "[0-9]{1,6}"), 0..3),
    )
        .prop_map(|(data_time, items, extra)| {
            let mut unique: Vec<CpItem> = Vec::new();
            for item in items {
                if !unique.iter().any(|known| known.code == item.code) {
                    unique.push(item);
                }
            }
            CpData {
                data_time,
                items: unique,
                extra,
            }
        })
}

fn valid_frame() -> impl Strategy<Value = Frame> {
    (
        proptest::option::of("[0-9]{17}"),
        "[0-9]{2}",
        "[0-9]{4}",
        "[ -:<-~]{0,8}",
        "[A-Za-z0-9_]{1,24}",
        (0u8..3, any::<bool>(), any::<bool>()),
        (1u32..=9999).prop_flat_map(|pnum| (Just(pnum), 1..=pnum)),
        cp_data(),
    )
        .prop_map(
            |(qn, st, cn, pw, mn, (version, ack, split), (pnum, pno), data)| {
                let version = Version::from_code(version).expect("codes 0-2 are supported");
                Frame {
                    qn,
                    st,
                    cn,
                    pw,
                    mn,
                    flag: Flag::new(version, ack, split),
                    pnum: split.then_some(pnum),
                    pno: split.then_some(pno),
                    cp: data.render(),
                }
            },
        )
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_frame_like_text(text in proptest::string::string_regex(&format!("##[0-9]{{4}}{FRAME_ALPHABET}{{0,200}}")).unwrap()) {
        let _ = Frame::decode(text.as_bytes());
    }

    #[test]
    fn decode_never_panics_on_mutated_frames(
        base in prop_oneof![Just(STANDARD_FRAME.as_bytes().to_vec()), Just(wrap(HOURLY_SEGMENT))],
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let mut bytes = base;
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        if let Ok(frame) = Frame::decode(&bytes) {
            let _ = frame.cp_data();
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_segments_with_a_valid_crc(
        base in prop_oneof![Just(STANDARD_SEGMENT), Just(HOURLY_SEGMENT), Just(D581_SEGMENT)],
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let mut segment = base.as_bytes().to_vec();
        for mutation in &mutations {
            apply(&mut segment, mutation);
        }
        if let Ok(frame) = Frame::decode(&wrap_bytes(&segment)) {
            let _ = frame.cp_data();
        }
    }

    #[test]
    fn decode_never_panics_on_segment_like_text_with_a_valid_crc(
        segment in proptest::string::string_regex(&format!("{FRAME_ALPHABET}{{0,300}}")).unwrap(),
    ) {
        if let Ok(frame) = Frame::decode(&wrap(&segment)) {
            let _ = frame.cp_data();
        }
    }

    #[test]
    fn parse_cp_never_panics(text in any::<String>()) {
        let _ = parse_cp(&text);
    }

    #[test]
    fn parse_cp_never_panics_on_cp_like_text(text in "[A-Za-z0-9=,;.\\-]{0,200}") {
        let _ = parse_cp(&text);
    }

    #[test]
    fn valid_frames_round_trip(frame in valid_frame()) {
        prop_assert_eq!(frame.validate(), Ok(()));
        let encoded = frame.encode();
        let decoded = Frame::decode_with_limit(encoded.as_bytes(), 9999);
        prop_assert_eq!(decoded, Ok(frame));
    }

    #[test]
    fn cp_data_round_trips_through_render(data in cp_data()) {
        prop_assert_eq!(parse_cp(&data.render()), Ok(data));
    }

    #[test]
    fn split_then_join_gives_the_data_back(data in cp_data(), max in 80usize..600) {
        let packets = split_packets(&hourly_template(), &data, max);
        for packet in &packets {
            let items = packet.cp_data().map(|part| part.items.len()).unwrap_or(0);
            prop_assert!(packet.data_segment().len() <= max || items <= 1, "{}", packet.data_segment());
            prop_assert_eq!(packet.validate(), Ok(()));
        }
        prop_assert_eq!(join_packets(&packets), Ok(data));
    }
}
