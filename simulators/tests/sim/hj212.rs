use riverwatch_simulators::OutputFormat;

use super::util::{config, generate, registry};

/// The HJ 212 CRC written from the standard's description: start 0xFFFF; per byte
/// crc = (crc >> 8) ^ b, then 8 × { lsb = crc & 1; crc >>= 1; if lsb { crc ^= 0xA001 } }.
fn crc(data: &[u8]) -> u16 {
    let mut c: u16 = 0xFFFF;
    for &b in data {
        c = (c >> 8) ^ u16::from(b);
        for _ in 0..8 {
            let lsb = c & 1;
            c >>= 1;
            if lsb != 0 {
                c ^= 0xA001;
            }
        }
    }
    c
}

#[test]
fn the_crc_matches_the_standards_example() {
    let seg = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&";
    assert_eq!(crc(seg), 0x1C80);
}

#[test]
fn every_frame_has_a_correct_length_crc_flag_mn_and_data_time() {
    let reg = registry();
    let mut frames = 0;
    for (scenario, format) in [
        ("baseline", OutputFormat::Hj212),
        ("baseline", OutputFormat::Mixed),
        ("sensor-faults", OutputFormat::Mixed),
        ("wwtp-upset", OutputFormat::Mixed),
    ] {
        let (_, messages, _) = generate(&config(scenario, 4, format));
        for m in messages
            .iter()
            .filter(|m| m.topic.starts_with("rw/v1/hj212/"))
        {
            frames += 1;
            let text = std::str::from_utf8(&m.payload).unwrap();
            assert!(text.starts_with("##") && text.ends_with("\r\n"), "{text}");
            let body = &text[2..text.len() - 2];
            let (len, rest) = body.split_at(4);
            let (segment, crc_hex) = rest.split_at(rest.len() - 4);
            assert_eq!(len.parse::<usize>().unwrap(), segment.len(), "{text}");
            assert!(segment.len() <= 1024);
            assert_eq!(
                u16::from_str_radix(crc_hex, 16).unwrap(),
                crc(segment.as_bytes()),
                "{text}"
            );
            let field = |name: &str| {
                segment
                    .split(';')
                    .find_map(|f| f.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("no {name} in {segment}"))
                    .to_string()
            };
            let station = m.topic.rsplit('/').next().unwrap();
            let st = reg.station(station).unwrap();
            assert_eq!(field("MN"), st.mn);
            // Flag: version in bits 2–7 (0 = 2005, 1 = 2017, 2 = 2025).
            let version = field("Flag").parse::<u8>().unwrap() >> 2;
            let expected = match (scenario, station) {
                ("baseline", "WWTP-YS") => 0,
                ("baseline", "AIR-CC") => 2,
                _ => 1,
            };
            assert_eq!(version, expected, "{station} in {scenario}");
            let cn = field("CN");
            assert!(cn == "2011" || cn == "2061");
            let dt = segment.split("DataTime=").nth(1).unwrap();
            assert!(dt[..14].bytes().all(|b| b.is_ascii_digit()), "{dt}");
        }
    }
    assert!(frames > 1000, "{frames} frames checked");
}

#[test]
fn data_time_is_china_standard_time() {
    let (rows, messages, _) = generate(&config("wwtp-upset", 4, OutputFormat::Mixed));
    let m = messages
        .iter()
        .find(|m| m.topic.ends_with("/WWTP-HRB"))
        .unwrap();
    let text = std::str::from_utf8(&m.payload).unwrap();
    let dt = &text.split("DataTime=").nth(1).unwrap()[..14];
    let first = rows.iter().find(|r| r.station == "WWTP-HRB").unwrap();
    let local = (first.time + chrono::Duration::hours(8))
        .format("%Y%m%d%H%M%S")
        .to_string();
    assert_eq!(dt, local);
}
