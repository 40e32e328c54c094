//! Readings as InfluxDB line protocol: one point per reading, the same text for InfluxDB 2.x
//! and 1.x.
//!
//! A point is `reading,<tags> value=<float>,flag="<letter>",valid=<bool> <ms>`, written with
//! `precision=ms`. Tags, sorted by key as InfluxDB recommends: `kind`, `name_pinyin`,
//! `name_zh`, `parameter`, `period`, `province`, `river` (omitted when the station has none),
//! `river_zh`, `station`. A reading of a station the registry does not know carries only
//! what the reading itself says: `parameter`, `period` and `station`. Empty tag values are
//! omitted, because line protocol has no empty tag value.
//!
//! The reception time is not written, so a redelivered reading produces a byte-identical
//! point and a rewrite replaces the point with itself (InfluxDB keys a point by
//! measurement, tag set and time).
//!
//! Escaping follows the line-protocol reference: commas and spaces in the measurement;
//! commas, equals signs and spaces in tag keys, tag values and field keys; double quotes and
//! backslashes in string field values. Text is UTF-8 and needs no other escaping. Two cases
//! the format cannot carry are handled here and nowhere else:
//! - Line protocol has no newline inside a point. Every control character (newline,
//!   carriage return, tab, NUL, ...) in a name, key or string value is replaced by a space
//!   (which is then escaped where spaces are), so a value can never split a point.
//! - In names, keys and tag values a backslash is taken literally (`C:\data` is stored as
//!   written), but InfluxDB's parser has no escape for a backslash itself: one that ends
//!   the element or stands before a character that gets escaped would swallow the
//!   separator, and doubling it does not help (InfluxDB 1.6.7 refuses
//!   `station=end\\ value=1.0` as "invalid tag format"). Such a backslash is written as
//!   `＼` (U+FF3C, fullwidth reverse solidus), so the point still parses and the text
//!   still reads the same.

use std::fmt::Write as _;

use riverwatch_core::Reading;
use riverwatch_core::registry::Registry;

/// The measurement every reading is written to.
pub const MEASUREMENT: &str = "reading";

/// Tag: station kind (`water`, `air`, `outfall`, `hydrology`).
pub const TAG_KIND: &str = "kind";
/// Tag: the station's pinyin name.
pub const TAG_NAME_PINYIN: &str = "name_pinyin";
/// Tag: the station's Chinese name.
pub const TAG_NAME_ZH: &str = "name_zh";
/// Tag: the parameter code.
pub const TAG_PARAMETER: &str = "parameter";
/// Tag: the period (`sample`, `minute`, `hour`, `day`).
pub const TAG_PERIOD: &str = "period";
/// Tag: the operating province (`HLJ`, `JL`).
pub const TAG_PROVINCE: &str = "province";
/// Tag: the river id.
pub const TAG_RIVER: &str = "river";
/// Tag: the river's Chinese name.
pub const TAG_RIVER_ZH: &str = "river_zh";
/// Tag: the station id.
pub const TAG_STATION: &str = "station";

/// Field: the value (always a float).
pub const FIELD_VALUE: &str = "value";
/// Field: the one-letter data flag (a string).
pub const FIELD_FLAG: &str = "flag";
/// Field: whether the value counts for evaluation (a boolean).
pub const FIELD_VALID: &str = "valid";

/// Earliest and latest instants InfluxDB stores (nanoseconds in an `i64`, less the two
/// values it reserves), in milliseconds.
const MIN_TIME_MS: i64 = i64::MIN / 1_000_000 + 1;
const MAX_TIME_MS: i64 = i64::MAX / 1_000_000 - 1;

/// A reading that line protocol cannot carry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// NaN or an infinity: line protocol has no spelling for them.
    #[error("value {0} is not finite; line protocol cannot carry it")]
    NotFinite(f64),
    /// The time lies outside the years 1677–2262 that InfluxDB's nanosecond clock covers.
    #[error("time {0} ms is outside the range InfluxDB can store")]
    TimeOutOfRange(i64),
}

/// Which characters an element escapes with a backslash.
#[derive(Clone, Copy)]
enum Element {
    /// Measurement names: comma and space.
    Measurement,
    /// Tag keys, tag values and field keys: comma, equals sign and space.
    KeyOrTagValue,
}

impl Element {
    fn escapes(self, c: char) -> bool {
        match self {
            Element::Measurement => c == ',' || c == ' ',
            Element::KeyOrTagValue => c == ',' || c == '=' || c == ' ',
        }
    }
}

/// Written instead of a backslash that line protocol cannot carry (see the module docs).
pub const BACKSLASH_STAND_IN: char = '＼';

fn escape_element(s: &str, element: Element, out: &mut String) {
    // Control characters become spaces first, so the backslash rule sees the final text.
    let mut chars = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next_is_special = chars.peek().is_none_or(|&n| element.escapes(n));
            out.push(if next_is_special {
                BACKSLASH_STAND_IN
            } else {
                '\\'
            });
        } else {
            if element.escapes(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
}

/// Appends a measurement name, escaped.
pub fn escape_measurement(s: &str, out: &mut String) {
    escape_element(s, Element::Measurement, out);
}

/// Appends a tag key, tag value or field key, escaped.
pub fn escape_tag(s: &str, out: &mut String) {
    escape_element(s, Element::KeyOrTagValue, out);
}

/// Appends a string field value with its surrounding double quotes.
pub fn escape_string_field(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a float field value that InfluxDB types as a float: always with a decimal point
/// or an exponent (`7.0`, `0.38`, `1e21`), never as a bare integer such as `7`, which
/// InfluxDB 2 and some 1.x tools would take as an integer and then refuse later floats
/// of the same field.
///
/// # Errors
/// [`EncodeError::NotFinite`] for NaN and infinities.
pub fn push_float(value: f64, out: &mut String) -> Result<(), EncodeError> {
    if !value.is_finite() {
        return Err(EncodeError::NotFinite(value));
    }
    // `{:?}` is Rust's shortest round-trip form and always has a `.` or an exponent
    // (`7.0`, `1e21`, `1e-7`), both of which line protocol reads as a float.
    let _ = write!(out, "{value:?}");
    Ok(())
}

fn push_tag(key: &str, value: &str, out: &mut String) {
    if value.is_empty() {
        return;
    }
    out.push(',');
    escape_tag(key, out);
    out.push('=');
    escape_tag(value, out);
}

/// Appends one reading as a point (no trailing newline). Nothing is appended on error.
///
/// # Errors
/// [`EncodeError`] when the value or the time cannot be carried.
pub fn encode_reading(
    registry: &Registry,
    reading: &Reading,
    out: &mut String,
) -> Result<(), EncodeError> {
    let ms = reading.observed_at.timestamp_millis();
    if !(MIN_TIME_MS..=MAX_TIME_MS).contains(&ms) {
        return Err(EncodeError::TimeOutOfRange(ms));
    }
    if !reading.value.is_finite() {
        return Err(EncodeError::NotFinite(reading.value));
    }
    escape_measurement(MEASUREMENT, out);
    let station = registry.station(reading.station.as_str());
    // Keys in byte order, as written in the module docs.
    if let Some(s) = station {
        push_tag(TAG_KIND, s.kind.as_str(), out);
        push_tag(TAG_NAME_PINYIN, &s.name_pinyin, out);
        push_tag(TAG_NAME_ZH, &s.name_zh, out);
    }
    push_tag(TAG_PARAMETER, reading.parameter.as_str(), out);
    push_tag(TAG_PERIOD, reading.period.as_str(), out);
    if let Some(s) = station {
        push_tag(TAG_PROVINCE, s.province.code(), out);
        if let Some(river) = &s.river {
            push_tag(TAG_RIVER, river, out);
            if let Some(r) = registry.river(river) {
                push_tag(TAG_RIVER_ZH, &r.name_zh, out);
            }
        }
    }
    push_tag(TAG_STATION, reading.station.as_str(), out);
    out.push(' ');
    escape_tag(FIELD_VALUE, out);
    out.push('=');
    push_float(reading.value, out)?;
    out.push(',');
    escape_tag(FIELD_FLAG, out);
    out.push('=');
    let mut letter = [0u8; 4];
    escape_string_field(reading.flag.letter().encode_utf8(&mut letter), out);
    out.push(',');
    escape_tag(FIELD_VALID, out);
    out.push('=');
    out.push_str(if reading.is_valid() { "true" } else { "false" });
    let _ = write!(out, " {ms}");
    Ok(())
}

/// A batch as one line-protocol body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedBatch {
    /// The points, one per line, each line ending in `\n`.
    pub body: String,
    /// Number of points in `body`.
    pub points: usize,
    /// Readings that could not be encoded: their index in the batch and why.
    pub unencodable: Vec<(usize, EncodeError)>,
}

/// Encodes every reading of a batch, in order.
pub fn encode_batch(registry: &Registry, readings: &[Reading]) -> EncodedBatch {
    let mut out = EncodedBatch {
        body: String::with_capacity(readings.len() * 200),
        ..EncodedBatch::default()
    };
    for (i, r) in readings.iter().enumerate() {
        let start = out.body.len();
        match encode_reading(registry, r, &mut out.body) {
            Ok(()) => {
                out.body.push('\n');
                out.points += 1;
            }
            Err(e) => {
                out.body.truncate(start);
                out.unencodable.push((i, e));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use riverwatch_core::{DataFlag, ParamCode, Period, StationId};

    use super::*;

    fn tag(s: &str) -> String {
        let mut out = String::new();
        escape_tag(s, &mut out);
        out
    }

    fn measurement(s: &str) -> String {
        let mut out = String::new();
        escape_measurement(s, &mut out);
        out
    }

    fn string_field(s: &str) -> String {
        let mut out = String::new();
        escape_string_field(s, &mut out);
        out
    }

    fn float(v: f64) -> String {
        let mut out = String::new();
        push_float(v, &mut out).unwrap();
        out
    }

    /// A point assembled from the escape functions, to compare with the reference's lines.
    fn point(m: &str, tags: &[(&str, &str)], field: (&str, &str)) -> String {
        let mut out = measurement(m);
        for (k, v) in tags {
            out.push(',');
            out.push_str(&tag(k));
            out.push('=');
            out.push_str(&tag(v));
        }
        out.push(' ');
        out.push_str(&tag(field.0));
        out.push('=');
        out.push_str(field.1);
        out
    }

    #[test]
    fn escaping_matches_the_reference_examples() {
        // "Examples of special characters in line protocol" of the reference.
        assert_eq!(
            point(
                "my Measurement",
                &[],
                ("fieldKey", &string_field("string value"))
            ),
            r#"my\ Measurement fieldKey="string value""#
        );
        assert_eq!(
            point(
                "myMeasurement",
                &[],
                ("fieldKey", &string_field(r#""string" within a string"#))
            ),
            r#"myMeasurement fieldKey="\"string\" within a string""#
        );
        assert_eq!(
            point(
                "myMeasurement",
                &[("tag Key1", "tag Value1"), ("tag Key2", "tag Value2")],
                ("fieldKey", "100")
            ),
            r"myMeasurement,tag\ Key1=tag\ Value1,tag\ Key2=tag\ Value2 fieldKey=100"
        );
        assert_eq!(
            point(
                "myMeasurement",
                &[("tagKey", "🍭")],
                ("fieldKey", &string_field("Launch 🚀"))
            ),
            r#"myMeasurement,tagKey=🍭 fieldKey="Launch 🚀""#
        );
    }

    #[test]
    fn each_element_escapes_exactly_its_characters() {
        // Measurement: comma and space, not the equals sign.
        assert_eq!(measurement("a,b c=d"), r"a\,b\ c=d");
        // Tag keys, tag values, field keys: comma, equals, space.
        assert_eq!(tag("a,b c=d"), r"a\,b\ c\=d");
        // Quotes are part of a tag value and need no escape there.
        assert_eq!(tag(r#"say "hi""#), r#"say\ "hi""#);
        // String fields: double quote and backslash, nothing else.
        assert_eq!(string_field(r#"a "b" c\d, e=f"#), r#""a \"b\" c\\d, e=f""#);
        // Chinese passes through as UTF-8.
        assert_eq!(tag("拉林河 蔡家沟"), r"拉林河\ 蔡家沟");
        assert_eq!(string_field("松花江"), "\"松花江\"");
    }

    #[test]
    fn backslashes_are_literal_unless_they_would_escape() {
        assert_eq!(tag(r"C:\data\\x"), r"C:\data\\x");
        // Before an escaped character or at the end, a backslash would swallow the
        // separator; it is replaced so that the point parses.
        assert_eq!(tag(r"a\ b"), r"a＼\ b");
        assert_eq!(tag(r"a\=b"), r"a＼\=b");
        assert_eq!(tag(r"end\"), "end＼");
        assert_eq!(measurement(r"m\,x"), r"m＼\,x");
        // The equals sign is not special in a measurement.
        assert_eq!(measurement(r"m\=x"), r"m\=x");
    }

    #[test]
    fn newlines_never_reach_the_body() {
        assert_eq!(tag("two\nlines\r\tend"), r"two\ lines\ \ end");
        assert_eq!(string_field("a\nb"), "\"a b\"");
        assert_eq!(measurement("m\n"), r"m\ ");
    }

    #[test]
    fn floats_always_carry_a_point_or_an_exponent() {
        assert_eq!(float(7.0), "7.0");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(-3.0), "-3.0");
        assert_eq!(float(0.38), "0.38");
        assert_eq!(float(312.0), "312.0");
        assert_eq!(float(1e21), "1e21");
        assert_eq!(float(1.5e-7), "1.5e-7");
        for v in [7.0, 0.1, 1e21, 1.5e-7, -12.25, f64::MAX, f64::MIN_POSITIVE] {
            let text = float(v);
            assert!(text.contains('.') || text.contains('e'), "{text}");
            assert_eq!(text.parse::<f64>().unwrap(), v, "round trip of {text}");
        }
        let mut out = String::new();
        assert!(matches!(
            push_float(f64::NAN, &mut out),
            Err(EncodeError::NotFinite(_))
        ));
        assert!(push_float(f64::NEG_INFINITY, &mut out).is_err());
        assert!(out.is_empty());
    }

    fn registry() -> Registry {
        Registry::builtin().unwrap()
    }

    fn reading(station: &str, parameter: &str, value: f64) -> Reading {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        Reading {
            station: StationId::new(station),
            parameter: ParamCode::new(parameter),
            observed_at: t,
            received_at: t + chrono::Duration::seconds(3),
            value,
            flag: DataFlag::N,
            period: Period::Sample,
        }
    }

    #[test]
    fn a_known_station_gets_every_tag_in_key_order() {
        let reg = registry();
        let mut out = String::new();
        encode_reading(&reg, &reading("LLH-MPS", "NH3N", 7.0), &mut out).unwrap();
        assert_eq!(
            out,
            "reading,kind=water,name_pinyin=Mopanshan\\ Shuiku,name_zh=磨盘山水库,\
             parameter=NH3N,period=sample,province=HLJ,river=lalin,river_zh=拉林河,\
             station=LLH-MPS value=7.0,flag=\"N\",valid=true 1795305600000"
        );
        let keys: Vec<&str> = out
            .split(' ')
            .next()
            .unwrap()
            .split(',')
            .skip(1)
            .map(|kv| kv.split('=').next().unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn an_air_station_has_no_river_tags() {
        let reg = registry();
        let air = reg
            .stations()
            .iter()
            .find(|s| s.river.is_none())
            .expect("the built-in network has stations without a river");
        let mut out = String::new();
        encode_reading(&reg, &reading(air.id.as_str(), "PM25", 35.0), &mut out).unwrap();
        assert!(!out.contains(",river="), "{out}");
        assert!(!out.contains(",river_zh="), "{out}");
        assert!(out.contains(",province="), "{out}");
    }

    #[test]
    fn an_unknown_station_gets_only_the_readings_own_tags() {
        let reg = registry();
        let mut r = reading("NOT IN=REGISTRY", "pH", 7.25);
        r.flag = DataFlag::M;
        r.period = Period::Hour;
        let mut out = String::new();
        encode_reading(&reg, &r, &mut out).unwrap();
        assert_eq!(
            out,
            "reading,parameter=pH,period=hour,station=NOT\\ IN\\=REGISTRY \
             value=7.25,flag=\"M\",valid=false 1795305600000"
        );
    }

    #[test]
    fn a_redelivered_reading_produces_an_identical_point() {
        let reg = registry();
        let first = reading("LLH-CJG", "pH", 7.62);
        let mut again = first.clone();
        again.received_at = first.received_at + chrono::Duration::hours(5);
        let a = encode_batch(&reg, std::slice::from_ref(&first));
        let b = encode_batch(&reg, std::slice::from_ref(&again));
        assert_eq!(a.body, b.body);
        assert_eq!(a.points, 1);
        // Neither the reception time nor any other varying value is in the point.
        let received_ms = again.received_at.timestamp_millis().to_string();
        assert!(!b.body.contains(&received_ms));
    }

    #[test]
    fn unencodable_readings_are_reported_and_the_rest_encoded() {
        let reg = registry();
        let mut far = reading("LLH-CJG", "pH", 7.0);
        far.observed_at = Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).unwrap();
        let batch = [
            reading("LLH-CJG", "pH", 7.0),
            reading("LLH-CJG", "DO", f64::INFINITY),
            far,
            reading("LLH-CJG", "WT", 2.5),
        ];
        let enc = encode_batch(&reg, &batch);
        assert_eq!(enc.points, 2);
        assert_eq!(enc.body.lines().count(), 2);
        assert!(enc.body.ends_with('\n'));
        let bad: Vec<usize> = enc.unencodable.iter().map(|(i, _)| *i).collect();
        assert_eq!(bad, vec![1, 2]);
        assert!(matches!(enc.unencodable[0].1, EncodeError::NotFinite(_)));
        assert!(matches!(
            enc.unencodable[1].1,
            EncodeError::TimeOutOfRange(_)
        ));
    }
}
